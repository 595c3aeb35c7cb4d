"""Passages to search: a document's paragraphs grouped under their headings, with overlap.

A passage never crosses a heading, so a FAQ's answer stays with its question and the heading
path is written at the top of each passage (what a question most often shares with its answer).
Within a section, paragraphs are packed up to ``target`` characters; the next passage repeats
the end of the previous one (``overlap``), so a sentence cut at a boundary is whole in one of
them. A paragraph longer than ``target`` is cut between sentences.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sutra.assistants.extract import Block

TARGET = 900
OVERLAP = 200

_SENTENCE = re.compile(r"(?<=[.!?।])\s+")


@dataclass(frozen=True)
class Passage:
    text: str
    section: str
    page: int | None


def passages(
    blocks: Iterable[Block], *, target: int = TARGET, overlap: int = OVERLAP
) -> Iterator[Passage]:
    """The passages of a document's blocks.

    >>> from sutra.assistants.extract import Block
    >>> found = list(passages([Block("FAQ", heading=1), Block("Is it safe?", heading=2),
    ...     Block("Yes."), Block("Why?", heading=2), Block("Tested.")]))
    >>> [(p.section, p.text) for p in found]
    [('FAQ › Is it safe?', 'FAQ › Is it safe?\\nYes.'), ('FAQ › Why?', 'FAQ › Why?\\nTested.')]
    """
    path: list[tuple[int, str]] = []
    pending: list[str] = []
    page: int | None = None
    size = 0

    def section() -> str:
        return " › ".join(text for _, text in path)

    def flush() -> Passage | None:
        nonlocal size, page
        if not pending:
            return None
        title = section()
        body = "\n".join(pending)
        passage = Passage(f"{title}\n{body}" if title else body, title, page)
        pending.clear()
        size = 0
        return passage

    for block in blocks:
        if block.alone is not None:
            done = flush()
            if done:
                yield done
            yield Passage(block.text, block.alone, block.page)
            continue
        if block.heading:
            done = flush()
            if done:
                yield done
            path = [(level, text) for level, text in path if level < block.heading]
            path.append((block.heading, block.text))
            page = block.page
            continue
        for piece in _pieces(block.text, target):
            if pending and size + len(piece) > target:
                done = flush()
                assert done is not None
                yield done
                tail = _tail(done.text.split("\n", 1)[-1] if done.section else done.text, overlap)
                if tail:
                    pending.append(tail)
                    size = len(tail)
            if not pending:
                page = block.page
            pending.append(piece)
            size += len(piece) + 1
    done = flush()
    if done:
        yield done


def _pieces(text: str, target: int) -> Iterator[str]:
    """The paragraph, or its sentences packed up to ``target`` characters when it is longer."""
    if len(text) <= target:
        yield text
        return
    piece = ""
    for sentence in _SENTENCE.split(text):
        while len(sentence) > target:  # a "sentence" with no end in sight: cut at a space
            cut = sentence.rfind(" ", 0, target)
            cut = cut if cut > target // 2 else target
            if piece:
                yield piece
                piece = ""
            yield sentence[:cut].strip()
            sentence = sentence[cut:].strip()
        if piece and len(piece) + 1 + len(sentence) > target:
            yield piece
            piece = sentence
        else:
            piece = f"{piece} {sentence}".strip()
    if piece:
        yield piece


def _tail(text: str, overlap: int) -> str:
    """The last whole sentences of ``text`` that fit in ``overlap`` characters.

    >>> _tail("One. Two two. Three three three.", 20)
    'Three three three.'
    """
    if overlap <= 0:
        return ""
    kept: list[str] = []
    size = 0
    for sentence in reversed(_SENTENCE.split(text.replace("\n", " "))):
        if size + len(sentence) > overlap:
            break
        kept.insert(0, sentence)
        size += len(sentence) + 1
    return " ".join(kept)
