"""Scores that need no model: matches, lexical similarity, and the statistics of a run.

The lexical similarity is the offline stand-in for embedding similarity: the cosine of TF-IDF
vectors of the two texts' words, with word weights taken from the golden set itself. It sees
shared words, not meaning: a paraphrase in other words scores lower than it would by
embeddings, and it is named ``lexical (TF-IDF cosine)`` wherever it is shown so that nobody
mistakes one for the other.
"""

from __future__ import annotations

import math
import re
import statistics
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Glific's reading guide for its similarity scores.
ALIGNED = 0.7
DRIFTED = 0.3
BUCKETS = 10
# Smaller moves than this between two runs are noise (a judge's or a model's wobble).
DEFAULT_CHANGE = 0.05

_WORD = re.compile(r"\w+", re.UNICODE)


def normalize(text: str) -> str:
    """What the match scores compare: case, accents' composed forms, spacing and punctuation
    at the ends do not count.

    >>> normalize("  Paris.  ") == normalize("paris")
    True
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = " ".join(text.split())
    return text.strip(" .!?,;:\"'()[]")


def exact_match(answer: str, expected: str) -> bool:
    return normalize(answer) == normalize(expected)


def contains_match(answer: str, expected: str) -> bool:
    """The expected answer appears, word for word, inside the answer.

    >>> contains_match("The capital of France is Paris.", "Paris")
    True
    """
    wanted = normalize(expected)
    return bool(wanted) and wanted in normalize(answer)


def words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


class Lexical:
    """TF-IDF cosine with document frequencies from a fixed corpus (the golden set's questions
    and answers), so a score does not depend on which answers came in first.

    >>> lex = Lexical(["wash hands with soap", "drink clean water", "sleep under a net"])
    >>> round(lex.similarity("wash your hands with soap", "wash hands with soap"), 2)
    0.82
    >>> lex.similarity("drink clean water", "wash hands with soap")
    0.0
    """

    name = "lexical (TF-IDF cosine)"

    def __init__(self, corpus: Iterable[str]) -> None:
        documents = [set(words(text)) for text in corpus]
        self._count = len(documents)
        self._df: Counter[str] = Counter(word for doc in documents for word in doc)

    def _idf(self, word: str) -> float:
        return math.log((1 + self._count) / (1 + self._df.get(word, 0))) + 1

    def _vector(self, text: str) -> dict[str, float]:
        return {word: n * self._idf(word) for word, n in Counter(words(text)).items()}

    def similarity(self, a: str, b: str) -> float:
        return sparse_cosine(self._vector(a), self._vector(b))


def sparse_cosine(a: dict[str, float], b: dict[str, float]) -> float:
    dot = sum(value * b.get(key, 0.0) for key, value in a.items())
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return max(0.0, min(1.0, dot / norm)) if norm else 0.0


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two dense vectors, clipped to 0..1 (opposite meanings are as bad as
    unrelated ones for a score).

    >>> cosine([1.0, 0.0], [1.0, 0.0]), cosine([1.0, 0.0], [0.0, 1.0])
    (1.0, 0.0)
    """
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return max(0.0, min(1.0, dot / norm)) if norm else 0.0


# --- a run's statistics ------------------------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    count: int
    mean: float | None
    std: float | None
    minimum: float | None
    maximum: float | None
    buckets: list[int]
    aligned: int
    drifted: int

    def as_json(self) -> dict[str, object]:
        return {
            "count": self.count,
            "mean": _round(self.mean),
            "std": _round(self.std),
            "min": _round(self.minimum),
            "max": _round(self.maximum),
            "buckets": self.buckets,
            "aligned": self.aligned,
            "drifted": self.drifted,
        }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def bucket(score: float) -> int:
    """Which tenth of 0..1 a score falls in (1.0 goes in the top one).

    >>> bucket(0.0), bucket(0.35), bucket(1.0)
    (0, 3, 9)
    """
    return min(BUCKETS - 1, max(0, int(score * BUCKETS)))


def stats(scores: Iterable[float | None]) -> Stats:
    """Mean, population standard deviation, the ten-bucket distribution, and how many are
    aligned (above 0.7) or drifted (below 0.3), as Glific's guide reads them.

    >>> stats([0.9, 0.1, 0.5]).as_json()["aligned"], stats([]).mean
    (1, None)
    """
    values = [s for s in scores if s is not None]
    buckets = [0] * BUCKETS
    for value in values:
        buckets[bucket(value)] += 1
    if not values:
        return Stats(0, None, None, None, None, buckets, 0, 0)
    return Stats(
        count=len(values),
        mean=statistics.fmean(values),
        std=statistics.pstdev(values),
        minimum=min(values),
        maximum=max(values),
        buckets=buckets,
        aligned=sum(1 for v in values if v > ALIGNED),
        drifted=sum(1 for v in values if v < DRIFTED),
    )


def spread(scores: Sequence[float | None]) -> float | None:
    """How far one question's repeated answers scored apart (max - min): 0 is consistent.

    >>> spread([0.8, 0.5, 0.7]), spread([0.8]), spread([])
    (0.3, 0.0, None)
    """
    values = [s for s in scores if s is not None]
    return round(max(values) - min(values), 6) if values else None


def verdict(score: float | None) -> str:
    """Glific's words for a score.

    >>> verdict(0.8), verdict(0.5), verdict(0.1), verdict(None)
    ('aligned', 'partial', 'drifted', 'error')
    """
    if score is None:
        return "error"
    if score > ALIGNED:
        return "aligned"
    return "drifted" if score < DRIFTED else "partial"
