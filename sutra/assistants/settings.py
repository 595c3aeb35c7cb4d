"""Settings of the assistants (``SUTRA_`` variables), apart from the LLM's own."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AssistantSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SUTRA_", extra="ignore")

    # auto: vectors through the OpenAI-compatible /embeddings when a key or a base URL is
    # configured (the platform's or the organisation's), none otherwise; off: never.
    embeddings: Literal["auto", "off"] = "auto"
    embedding_model: str = "text-embedding-3-small"
    # Texts per /embeddings request (OpenAI takes up to 2,048).
    embedding_batch: int = Field(default=64, ge=1, le=2048)
    # Passages given to the model with a question.
    assistant_passages: int = Field(default=4, ge=1, le=20)
    # A passage is relevant when its words cover this share of the question's (weighted by how
    # rare each word is in the documents), or its vector is this close to the question's.
    # Below both for every passage, the assistant says it does not know. On the health FAQ
    # bench the questions it does not cover reach 0.16 at most, and 29 of the 32 it covers
    # reach 0.3 (the other three are worded far from the text).
    assistant_min_coverage: float = Field(default=0.3, ge=0, le=1)
    assistant_min_similarity: float = Field(default=0.4, ge=-1, le=1)


def assistant_settings() -> AssistantSettings:
    # Read each time (microseconds): tests and operators change the environment.
    return AssistantSettings()
