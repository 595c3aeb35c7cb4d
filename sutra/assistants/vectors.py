"""Nearest passages by vector: a brute-force cosine over the stored vectors, in numpy.

``sqlite-vec`` installs from PyPI, but loading it needs ``sqlite3`` built with extension
loading, which Python builds (this machine's pyenv one included) often are not; and an NGO's
knowledge base is thousands of passages, not millions: a 5,000 x 1,536 matrix is searched in
about a millisecond. Each assistant's matrix is kept in memory and read again when its passages
change (their count or newest id differs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from sutra.assistants.embeddings import from_bytes


@dataclass(frozen=True)
class VectorHit:
    chunk_id: int
    rank: int
    similarity: float


@dataclass(frozen=True)
class _Matrix:
    signature: tuple[int, int]
    ids: np.ndarray
    rows: np.ndarray


_MATRICES: dict[tuple[int, str], _Matrix] = {}


async def search(
    session: AsyncSession, assistant_id: int, model: str, query: np.ndarray, *, limit: int = 20
) -> list[VectorHit]:
    """The ``limit`` passages whose vectors (of ``model``) are closest to ``query``."""
    matrix = await _matrix(session, assistant_id, model)
    if matrix is None or matrix.rows.shape[1] != query.shape[0]:
        return []
    scores = matrix.rows @ query
    best = np.argsort(-scores, kind="stable")[:limit]
    return [
        VectorHit(chunk_id=int(matrix.ids[i]), rank=rank, similarity=float(scores[i]))
        for rank, i in enumerate(best)
    ]


async def _matrix(session: AsyncSession, assistant_id: int, model: str) -> _Matrix | None:
    where = (
        "FROM chunks c JOIN documents d ON d.id = c.document_id "
        "WHERE d.assistant_id = :a AND c.embedding_model = :m AND c.embedding IS NOT NULL"
    )
    params = {"a": assistant_id, "m": model}
    signed = await session.execute(text(f"SELECT count(*), max(c.id) {where}"), params)
    count, newest = signed.one()
    if not count:
        return None
    signature = (int(count), int(newest))
    key = (assistant_id, model)
    cached = _MATRICES.get(key)
    if cached is not None and cached.signature == signature:
        return cached
    # Two questions arriving together may both read it: the same matrix, twice, once.
    rows = (await session.execute(text(f"SELECT c.id, c.embedding {where}"), params)).all()
    ids = np.array([row[0] for row in rows], dtype=np.int64)
    vectors = [from_bytes(row[1]) for row in rows]
    width = max(len(v) for v in vectors)
    # A vector of another width (the model's dimensions changed) is left out, not guessed at.
    kept = [i for i, v in enumerate(vectors) if len(v) == width]
    matrix = _Matrix(signature, ids[kept], np.stack([vectors[i] for i in kept]))
    _MATRICES[key] = matrix
    return matrix
