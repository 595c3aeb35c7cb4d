"""The passages that answer a question: words and vectors, fused by reciprocal rank.

Each search ranks its candidates; a passage's fused score is the sum of 1 / (60 + rank) over
the searches that found it (Cormack et al., 2009: robust without tuning weights between
scores of different kinds). Ranking says nothing about whether a passage is relevant at all,
so each passage is also judged on its own: enough of the question's words (coverage), or a
vector close enough (similarity). Only relevant passages are used; when there are none, the
assistant does not know.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sutra.assistants import lexical, vectors
from sutra.assistants import models as am
from sutra.assistants.embeddings import OpenAIEmbedder
from sutra.llm.base import LLMError, Usage

log = logging.getLogger(__name__)

Mode = Literal["lexical", "vector", "hybrid"]
MODES: tuple[Mode, ...] = ("lexical", "vector", "hybrid")
RRF_K = 60
CANDIDATES = 20


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    text: str
    document: str
    page: int | None
    section: str
    score: float
    coverage: float | None
    similarity: float | None
    relevant: bool

    @property
    def source(self) -> str:
        """Where the passage is, as an answer cites it: "faq.pdf, page 2"."""
        if self.page is not None:
            return f"{self.document}, page {self.page}"
        if self.section and ", row " in self.section:
            return f"{self.document}, {self.section}"
        return self.document


@dataclass
class Retrieval:
    # The relevant passages to answer from, best first, at most ``k``.
    passages: list[Hit]
    # Every candidate, relevant or not, best first (for evaluation and the API's answer).
    candidates: list[Hit]
    # "lexical" when vectors were asked for but could not be had.
    mode: Mode
    usage: list[Usage] = field(default_factory=list)


@dataclass(frozen=True)
class Thresholds:
    coverage: float
    similarity: float


async def retrieve(
    db: async_sessionmaker[AsyncSession],
    assistant_id: int,
    question: str,
    *,
    embedder: OpenAIEmbedder | None,
    k: int,
    thresholds: Thresholds,
    mode: Mode = "hybrid",
) -> Retrieval:
    usage: list[Usage] = []
    query_vector = None
    if mode != "lexical" and embedder is not None:
        try:
            embedded = await embedder.embed([question])
            usage.append(embedded.usage)
            query_vector = embedded.vectors[0]
        except LLMError as exc:
            # Offline or failing: the words alone still find the passages.
            log.warning("question searched by its words only: %s", exc.reason)
    used: Mode = mode if query_vector is not None or mode == "lexical" else "lexical"
    async with db() as session:
        by_words = (
            await lexical.search(session, assistant_id, question, limit=CANDIDATES)
            if used != "vector"
            else []
        )
        by_vector = (
            await vectors.search(
                session, assistant_id, embedder.model, query_vector, limit=CANDIDATES
            )
            if query_vector is not None and embedder is not None and used != "lexical"
            else []
        )
        scores: dict[int, float] = {}
        coverage = {hit.chunk_id: hit.coverage for hit in by_words}
        similarity = {hit.chunk_id: hit.similarity for hit in by_vector}
        for ranked in (by_words, by_vector):
            for hit in ranked:
                scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + 1 / (RRF_K + hit.rank + 1)
        rows = {
            row.id: row
            for row in (
                await session.execute(
                    select(
                        am.Chunk.id,
                        am.Chunk.text,
                        am.Chunk.page,
                        am.Chunk.section,
                        am.Document.name,
                    )
                    .join(am.Document, am.Document.id == am.Chunk.document_id)
                    .where(am.Chunk.id.in_(list(scores)))
                )
            )
        }
    candidates = []
    for chunk_id in sorted(scores, key=lambda c: (-scores[c], c)):
        row = rows.get(chunk_id)
        if row is None:  # deleted since it was ranked
            continue
        cov, sim = coverage.get(chunk_id), similarity.get(chunk_id)
        relevant = (cov is not None and cov >= thresholds.coverage) or (
            sim is not None and sim >= thresholds.similarity
        )
        candidates.append(
            Hit(
                chunk_id=chunk_id,
                text=row.text,
                document=row.name,
                page=row.page,
                section=row.section,
                score=scores[chunk_id],
                coverage=cov,
                similarity=sim,
                relevant=relevant,
            )
        )
    passages = [hit for hit in candidates if hit.relevant][:k]
    return Retrieval(passages=passages, candidates=candidates, mode=used, usage=usage)
