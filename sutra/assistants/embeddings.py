"""Vectors for passages and questions, from an OpenAI-compatible ``/embeddings`` endpoint.

Used only when a key or a base URL is configured (the organisation's, else the platform's
``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``); without either there are no vectors and retrieval is
lexical. No embedding model ships with Sutra: none installs from PyPI without a model hub, and
the embedded chat model (SmolLM2-135M, mean-pooled through llama.cpp) ranked passages barely
better than chance in a check (cosine gaps of 0.01-0.05 between the right and wrong passage).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from sutra.assistants.settings import AssistantSettings
from sutra.llm.base import LLMError, Usage


@dataclass(frozen=True)
class Embedded:
    # One unit-length float32 row per text.
    vectors: np.ndarray
    usage: Usage


class OpenAIEmbedder:
    """``/embeddings`` through the official SDK (its retries, its wire format)."""

    provider = "openai"

    def __init__(
        self,
        *,
        model: str,
        api_key: str | None,
        base_url: str | None,
        timeout: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        self.model = model
        # Local servers (Ollama, llama.cpp, vLLM) take no key, but the SDK wants one.
        self._api_key = api_key or "unused"
        self._base_url = base_url
        self._timeout = timeout
        self._max_retries = max_retries
        self._client_of: tuple[asyncio.AbstractEventLoop, Any] | None = None

    def _client(self) -> Any:
        # Connections belong to the event loop that opened them (as in the chat provider).
        loop = asyncio.get_running_loop()
        if self._client_of is None or self._client_of[0] is not loop:
            from openai import AsyncOpenAI

            from sutra.http import async_client

            client = AsyncOpenAI(
                api_key=self._api_key,
                base_url=self._base_url,
                timeout=self._timeout,
                max_retries=self._max_retries,
                http_client=async_client(timeout=self._timeout, follow_redirects=True),
            )
            self._client_of = (loop, client)
        return self._client_of[1]

    async def embed(self, texts: Sequence[str]) -> Embedded:
        import openai

        started = time.perf_counter()
        try:
            response = await self._client().embeddings.create(model=self.model, input=list(texts))
        except openai.APIStatusError as exc:
            raise LLMError(f"embeddings failed: HTTP {exc.status_code}", status=502) from exc
        except openai.OpenAIError as exc:
            raise LLMError(f"embeddings failed: {type(exc).__name__}", status=502) from exc
        rows = sorted(response.data, key=lambda item: item.index)
        if len(rows) != len(texts):
            raise LLMError(f"embeddings failed: {len(rows)} vectors for {len(texts)} texts")
        vectors = unit(np.array([row.embedding for row in rows], dtype=np.float32))
        tokens = response.usage.prompt_tokens if response.usage else 0
        usage = Usage(
            provider=self.provider,
            model=response.model or self.model,
            prompt_tokens=int(tokens or 0),
            completion_tokens=0,
            latency_ms=(time.perf_counter() - started) * 1000,
        )
        return Embedded(vectors, usage)

    async def aclose(self) -> None:
        """Close the pooled connections (optional: a process may simply exit)."""
        if self._client_of is not None:
            await self._client_of[1].close()
            self._client_of = None


def unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (a zero row stays zero), so a dot product is the cosine."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def to_bytes(vector: np.ndarray) -> bytes:
    return vector.astype("<f4").tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4")


def embedder_for(settings: Mapping[str, Any], config: AssistantSettings) -> OpenAIEmbedder | None:
    """The embedder for an organisation's settings, or None when no service is configured."""
    if config.embeddings == "off" or str(settings.get("embeddings") or "") == "off":
        return None
    # The environment's key is the default organisation's (``platform_key`` False elsewhere).
    platform = os.environ.get("OPENAI_API_KEY") if settings.get("platform_key", True) else None
    key = str(settings.get("openai_api_key") or platform or "").strip()
    base = str(settings.get("openai_base_url") or os.environ.get("OPENAI_BASE_URL") or "").strip()
    if not key and not base:
        return None
    model = str(settings.get("embedding_model") or config.embedding_model)
    return _embedder(model, key or None, base or None)


# One per configuration, so that calls share a connection pool.
@cache
def _embedder(model: str, api_key: str | None, base_url: str | None) -> OpenAIEmbedder:
    return OpenAIEmbedder(model=model, api_key=api_key, base_url=base_url)
