"""How close an answer is to the expected one: embeddings' cosine, or lexical offline.

``embedding`` asks an OpenAI-compatible ``/embeddings`` endpoint (the organisation's key and
base URL, else ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``) and takes the cosine, as Glific and
Kaapi grade. ``lexical`` needs nothing: TF-IDF cosine over words (:class:`scoring.Lexical`).
Each expected answer is embedded once per run, however many repeats ask for it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from sutra.evals import metering
from sutra.evals.scoring import Lexical, cosine
from sutra.llm.base import LLMError, Usage

METHODS = ("auto", "embedding", "lexical")


class Similarity(Protocol):
    # Shown with every score: "embedding (text-embedding-3-small)", "lexical (TF-IDF cosine)".
    name: str

    async def score(self, answer: str, expected: str) -> float: ...

    async def close(self) -> None: ...


class LexicalSimilarity:
    def __init__(self, corpus: Iterable[str]) -> None:
        self._lexical = Lexical(corpus)
        self.name = Lexical.name

    async def score(self, answer: str, expected: str) -> float:
        return self._lexical.similarity(answer, expected)

    async def close(self) -> None:
        return None


class EmbeddingSimilarity:
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
        self.name = f"embedding ({model})"
        self._api_key = api_key
        self._base_url = base_url
        self._timeout = timeout
        self._max_retries = max_retries
        self._client: Any = None
        self._expected: dict[str, asyncio.Future[list[float]]] = {}

    def _get_client(self) -> Any:
        if self._client is None:
            import openai

            from sutra.http import async_client

            try:
                self._client = openai.AsyncOpenAI(
                    api_key=self._api_key,
                    base_url=self._base_url,
                    timeout=self._timeout,
                    max_retries=self._max_retries,
                    http_client=async_client(timeout=self._timeout, follow_redirects=True),
                )
            except openai.OpenAIError as exc:
                raise LLMError(
                    "embeddings need an OpenAI API key (set OPENAI_API_KEY) or --similarity lexical"
                ) from exc
        return self._client

    async def embed(self, texts: list[str]) -> list[list[float]]:
        import openai

        client = self._get_client()
        started = time.perf_counter()
        try:
            response = await client.embeddings.create(model=self.model, input=texts)
        except openai.APIStatusError as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            message = body.get("message") or f"HTTP {exc.status_code}"
            raise LLMError(f"embeddings failed: {message}", status=exc.status_code) from exc
        except openai.OpenAIError as exc:
            raise LLMError(f"embeddings failed: {type(exc).__name__}") from exc
        usage = response.usage
        metering.record(
            "eval_embedding",
            Usage(
                provider="openai",
                model=response.model or self.model,
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=0,
                latency_ms=(time.perf_counter() - started) * 1000,
            ),
        )
        ordered = sorted(response.data, key=lambda item: item.index)
        if len(ordered) != len(texts):
            raise LLMError(f"embeddings: {len(texts)} texts sent, {len(ordered)} vectors back")
        return [list(item.embedding) for item in ordered]

    async def score(self, answer: str, expected: str) -> float:
        if not answer.strip():
            return 0.0  # the API refuses empty input; an empty answer is as far as can be
        # The expected answer's vector is asked for once and shared by the question's repeats
        # (a failed request is asked again by the next one).
        task = self._expected.get(expected)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = self._expected[expected] = asyncio.ensure_future(self._embed_one(expected))
        expected_vector, answer_vector = await asyncio.gather(
            asyncio.shield(task), self._embed_one(answer)
        )
        return cosine(expected_vector, answer_vector)

    async def _embed_one(self, text: str) -> list[float]:
        return (await self.embed([text]))[0]

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def openai_key(org_settings: Mapping[str, Any]) -> tuple[str | None, str | None]:
    import os

    platform = (
        os.environ.get("OPENAI_API_KEY", "") if org_settings.get("platform_key", True) else ""
    )
    key = str(org_settings.get("openai_api_key") or "").strip() or platform.strip()
    base = str(org_settings.get("openai_base_url") or "").strip() or None
    return key or None, base
