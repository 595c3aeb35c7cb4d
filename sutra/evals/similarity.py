"""How close an answer is to the expected one: embeddings' cosine, or lexical offline.

``embedding`` asks an OpenAI-compatible ``/embeddings`` endpoint (the organisation's key and
base URL, else ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``) and takes the cosine, as Glific and
Kaapi grade. ``lexical`` needs nothing: TF-IDF cosine over words (:class:`scoring.Lexical`).
Each expected answer is embedded once per run, however many repeats ask for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from sutra.evals import metering
from sutra.evals.scoring import Lexical, cosine

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
    """Cosine of the answer's and the expected answer's vectors, from the assistants'
    :class:`~sutra.assistants.embeddings.OpenAIEmbedder` (one ``/embeddings`` client)."""

    def __init__(
        self,
        *,
        model: str,
        api_key: str | None,
        base_url: str | None,
        timeout: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        from sutra.assistants.embeddings import OpenAIEmbedder

        self.model = model
        self.name = f"embedding ({model})"
        self._embedder = OpenAIEmbedder(
            model=model,
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
        )
        self._expected: dict[str, asyncio.Future[list[float]]] = {}

    async def embed(self, texts: list[str]) -> list[list[float]]:
        embedded = await self._embedder.embed(texts)
        metering.record("eval_embedding", embedded.usage)
        return [row.tolist() for row in embedded.vectors]

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
        await self._embedder.aclose()


def openai_key(org_settings: Mapping[str, Any]) -> tuple[str | None, str | None]:
    import os

    platform = (
        os.environ.get("OPENAI_API_KEY", "") if org_settings.get("platform_key", True) else ""
    )
    key = str(org_settings.get("openai_api_key") or "").strip() or platform.strip()
    base = str(org_settings.get("openai_base_url") or "").strip() or None
    return key or None, base
