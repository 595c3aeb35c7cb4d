"""Full-text search over an assistant's passages: SQLite FTS5 or PostgreSQL text search.

Both rank the passages that share words with the question (BM25 on SQLite, ``ts_rank_cd`` on
PostgreSQL; both stem English words), and both say, for each word of the question, which
passages hold it. From that comes a passage's *coverage*: the share of the question's words it
holds, each word weighted by how rare it is among the assistant's passages, so that "What is
the capital of France?" against a health FAQ covers nothing even though "what" is everywhere.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

MAX_TERMS = 16

# Words that carry no subject: dropped from questions before searching.
STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    get got had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own please same she should so some such tell than that the their theirs
    them themselves then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours yourself
    yourselves know want need much many way""".split()  # noqa: SIM905
)


def terms(question: str) -> list[str]:
    """The words to search for: lower case, stop words and single letters dropped, in order.

    >>> terms("How is malaria spread? Is malaria contagious?")
    ['malaria', 'spread', 'contagious']
    """
    seen: list[str] = []
    for word in re.findall(r"\w+", question.lower()):
        if len(word) > 1 and word not in STOPWORDS and word not in seen and word != "_":
            seen.append(word)
    return seen[:MAX_TERMS]


@dataclass(frozen=True)
class LexicalHit:
    chunk_id: int
    # The passage's place in the ranking, from 0.
    rank: int
    coverage: float


async def search(
    session: AsyncSession, assistant_id: int, question: str, *, limit: int = 20
) -> list[LexicalHit]:
    """The best ``limit`` passages for ``question``, best first, with their coverage."""
    words = terms(question)
    if not words:
        return []
    postgres = session.get_bind().dialect.name == "postgresql"
    ranked = await (_rank_postgres if postgres else _rank_sqlite)(
        session, assistant_id, words, limit
    )
    if not ranked:
        return []
    total = await session.scalar(
        text(
            "SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE d.assistant_id = :a"
        ),
        {"a": assistant_id},
    )
    weights: dict[str, float] = {}
    holders: dict[str, set[int]] = {}
    for word in words:
        found = await (_holders_postgres if postgres else _holders_sqlite)(
            session, assistant_id, word
        )
        holders[word] = found
        # BM25's inverse document frequency: a word in every passage weighs almost nothing,
        # one in none (the question's subject is not in the documents) weighs most.
        weights[word] = math.log(1 + ((total or 0) - len(found) + 0.5) / (len(found) + 0.5))
    whole = sum(weights.values()) or 1.0
    return [
        LexicalHit(
            chunk_id=chunk_id,
            rank=rank,
            coverage=sum(weights[w] for w in words if chunk_id in holders[w]) / whole,
        )
        for rank, chunk_id in enumerate(ranked)
    ]


def _fts_phrase(word: str) -> str:
    # A quoted FTS5 string: the word is data, never query syntax.
    return '"' + word.replace('"', '""') + '"'


async def _rank_sqlite(
    session: AsyncSession, assistant_id: int, words: list[str], limit: int
) -> list[int]:
    rows = await session.execute(
        text(
            "SELECT c.id FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid "
            "JOIN documents d ON d.id = c.document_id "
            "WHERE chunks_fts MATCH :q AND d.assistant_id = :a "
            "ORDER BY bm25(chunks_fts), c.id LIMIT :n"
        ),
        {"q": " OR ".join(_fts_phrase(w) for w in words), "a": assistant_id, "n": limit},
    )
    return [int(row[0]) for row in rows]


async def _holders_sqlite(session: AsyncSession, assistant_id: int, word: str) -> set[int]:
    rows = await session.execute(
        text(
            "SELECT c.id FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid "
            "JOIN documents d ON d.id = c.document_id "
            "WHERE chunks_fts MATCH :q AND d.assistant_id = :a"
        ),
        {"q": _fts_phrase(word), "a": assistant_id},
    )
    return {int(row[0]) for row in rows}


# The expression of the GIN index made by migration 0009: the planner uses the index only for
# this exact expression.
_PG_VECTOR = "to_tsvector('english', c.text)"


async def _rank_postgres(
    session: AsyncSession, assistant_id: int, words: list[str], limit: int
) -> list[int]:
    # Each word goes through plainto_tsquery, which takes any text as data; || ORs them.
    params: dict[str, object] = {f"w{i}": w for i, w in enumerate(words)}
    query = " || ".join(f"plainto_tsquery('english', :w{i})" for i in range(len(words)))
    rows = await session.execute(
        text(
            f"SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id, "
            f"(SELECT {query}) AS q(query) "
            f"WHERE {_PG_VECTOR} @@ q.query AND d.assistant_id = :a "
            f"ORDER BY ts_rank_cd({_PG_VECTOR}, q.query) DESC, c.id LIMIT :n"
        ),
        {**params, "a": assistant_id, "n": limit},
    )
    return [int(row[0]) for row in rows]


async def _holders_postgres(session: AsyncSession, assistant_id: int, word: str) -> set[int]:
    rows = await session.execute(
        text(
            f"SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id "
            f"WHERE {_PG_VECTOR} @@ plainto_tsquery('english', :w) AND d.assistant_id = :a"
        ),
        {"w": word, "a": assistant_id},
    )
    return {int(row[0]) for row in rows}
