"""Helpers for tests, benchmarks and demos; nothing here runs in production."""

from sutra.testing.openai_server import (
    EmptyChoices,
    ErrorReply,
    OpenAIStubServer,
    Received,
    Refusal,
    Reply,
)

__all__ = ["EmptyChoices", "ErrorReply", "OpenAIStubServer", "Received", "Refusal", "Reply"]
