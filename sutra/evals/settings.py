"""Evaluation settings (``SUTRA_EVAL_*``), kept apart from the server's own."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EvalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SUTRA_EVAL_", extra="ignore")

    # The judge when a run does not name one; small and cheap, it only has to compare texts.
    judge_model: str = "gpt-4o-mini"
    embedding_model: str = "text-embedding-3-small"
    # Questions answered at once per run: an OpenAI key's rate limit is the usual bound.
    concurrency: int = Field(default=8, ge=1, le=64)
    max_rows: int = Field(default=10_000, ge=1)
    # A process renews the lease of the runs it works on this often; a run whose lease ran out
    # (its process died) is resumed by another process, or by this one after a restart.
    lease_seconds: float = Field(default=20.0, gt=0)


@lru_cache
def eval_settings() -> EvalSettings:
    return EvalSettings()
