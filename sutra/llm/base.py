"""The one interface every LLM provider implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Usage:
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    # Speech heard or spoken (speech to text, text to speech), billed per minute.
    audio_seconds: float = 0.0


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage
    finish_reason: str | None = None


class LLMError(Exception):
    """A provider call failed for good (after its retries); ``reason`` is safe to show a user."""

    def __init__(self, reason: str, *, status: int = 500) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class LLMProvider(Protocol):
    name: str

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        model: str,
        temperature: float = 0.0,
        response_format: dict[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> Completion:
        """Return the assistant's reply; raise :class:`LLMError` on failure."""
        ...
