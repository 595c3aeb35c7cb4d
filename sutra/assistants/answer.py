"""A question answered from an assistant's documents, with the sources it used.

The relevant passages go to the assistant's model with its instructions, numbered, and the
model is told to cite them as [n]; the answer then lists each cited passage's document and
page. When no passage is relevant the model is not asked at all and the answer is the
version's "don't know" text: a model given nothing to go on guesses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sutra.assistants import models as am
from sutra.assistants.embeddings import embedder_for
from sutra.assistants.retrieval import Hit, Mode, Thresholds, retrieve
from sutra.assistants.settings import assistant_settings
from sutra.assistants.store import Assistants
from sutra.functions.llmcall import check_budget, complete, spent
from sutra.functions.registry import FunctionCall
from sutra.llm.memory import Thread

_CITATION = re.compile(r"\s?\[(\d{1,2}(?:\s*,\s*\d{1,2})*)\]")
# OpenAI's file search marks, 【4:0†source】: Glific's remove_citation strips these.
_OPENAI_MARK = re.compile(r"\s?【[^】]*】")

RULES = (
    "Answer the question using only the numbered passages below, which come from the "
    "organisation's documents. Cite the passage of each fact in square brackets, like [1]. "
    "If the passages do not answer the question, reply exactly: {dont_know}"
)


@dataclass
class Answer:
    message: str
    # False when the documents had nothing relevant (or the model said it did not know).
    knew: bool
    passages: list[Hit]
    # The passages the answer cites (all it was given, when it cites none).
    cited: list[Hit]
    mode: Mode
    version: int
    usage: list[Any] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        return {
            "answer": self.message,
            "knew": self.knew,
            "version": self.version,
            "retrieval": self.mode,
            "passages": [
                {
                    "n": n,
                    "chunk_id": hit.chunk_id,
                    "document": hit.document,
                    "page": hit.page,
                    "section": hit.section,
                    "text": hit.text,
                    "score": round(hit.score, 5),
                    "coverage": None if hit.coverage is None else round(hit.coverage, 3),
                    "similarity": None if hit.similarity is None else round(hit.similarity, 3),
                    "cited": hit in self.cited,
                }
                for n, hit in enumerate(self.passages, start=1)
            ],
        }


def prompt(instructions: str, dont_know: str, passages: list[Hit]) -> str:
    """The system message: the assistant's instructions, the rules, the numbered passages."""
    parts = [instructions.strip()] if instructions.strip() else []
    parts.append(RULES.format(dont_know=dont_know))
    for n, hit in enumerate(passages, start=1):
        parts.append(f"[{n}] (from {hit.source})\n{hit.text}")
    return "\n\n".join(parts)


async def ask(
    call: FunctionCall,
    assistants: Assistants,
    key: str,
    question: str,
    *,
    function: str,
    thread: Thread | None = None,
    version: int | None = None,
    mode: Mode = "hybrid",
    remove_citation: bool = False,
    max_tokens: int | None = None,
) -> Answer:
    """Answer ``question`` with assistant ``key`` (its live version unless ``version``)."""
    assistant, chosen = await assistants.resolve(key, version)
    config = assistant_settings()
    settings = await check_budget(call, function=function)
    embedder = embedder_for(settings, config) if mode != "lexical" else None
    history = await thread.history() if thread is not None else []
    thresholds = Thresholds(config.assistant_min_coverage, config.assistant_min_similarity)
    found = await retrieve(
        assistants.db,
        assistant.id,
        question,
        embedder=embedder,
        k=config.assistant_passages,
        thresholds=thresholds,
        mode=mode,
    )
    previous = [m["content"] for m in history if m["role"] == "user"]
    if not found.passages and previous:
        # A follow-up ("and for children?") names its subject in the question before it.
        again = await retrieve(
            assistants.db,
            assistant.id,
            f"{previous[-1]} {question}",
            embedder=embedder,
            k=config.assistant_passages,
            thresholds=thresholds,
            mode=mode,
        )
        again.usage[:0] = found.usage
        found = again
    for usage in found.usage:
        await spent(call, usage, function=function)
    if not found.passages:
        answer = Answer(chosen.dont_know, False, [], [], found.mode, chosen.number)
        if thread is not None:
            await thread.append(question, answer.message)
        return answer
    messages: list[dict[str, Any]] = [
        {
            "role": "system",
            "content": prompt(chosen.instructions, chosen.dont_know, found.passages),
        },
        *history,
        {"role": "user", "content": question},
    ]
    completion = await complete(
        call,
        messages,
        function=function,
        model=chosen.model,
        temperature=chosen.temperature,
        max_tokens=max_tokens,
    )
    answer = compose(
        completion.text, found.passages, chosen, mode=found.mode, remove_citation=remove_citation
    )
    if thread is not None:
        await thread.append(question, answer.message)
    return answer


def compose(
    reply: str,
    passages: list[Hit],
    version: am.AssistantVersion,
    *,
    mode: Mode,
    remove_citation: bool,
) -> Answer:
    """The model's reply with its sources: the passages it cited, listed by document and page.

    With ``remove_citation`` (Glific's flag) the [n] marks leave the text and the sources are
    listed without numbers.
    """
    text = _OPENAI_MARK.sub("", reply).strip()
    if not text or _says_dont_know(text, version.dont_know):
        return Answer(text or version.dont_know, False, passages, [], mode, version.number)
    numbers: list[int] = []
    for match in _CITATION.finditer(text):
        for number in re.findall(r"\d+", match.group(1)):
            n = int(number)
            if 1 <= n <= len(passages) and n not in numbers:
                numbers.append(n)
    # A reply that cites nothing was still written from these passages: they are its sources.
    cited_numbers = numbers or list(range(1, len(passages) + 1))
    cited = [passages[n - 1] for n in cited_numbers]
    if remove_citation or not numbers:
        # Without marks in the text, numbers would point at nothing: the places alone.
        text = _CITATION.sub("", text).strip()
        sources = list(dict.fromkeys(hit.source for hit in cited))
        label = "Source" if len(sources) == 1 else "Sources"
        footer = f"{label}: {'; '.join(sources)}"
    else:
        footer = "Sources:\n" + "\n".join(f"[{n}] {passages[n - 1].source}" for n in cited_numbers)
    return Answer(f"{text}\n\n{footer}", True, passages, cited, mode, version.number)


def _says_dont_know(reply: str, dont_know: str) -> bool:
    """Whether the model answered with the "don't know" text (give or take punctuation)."""

    def bare(text: str) -> str:
        return " ".join(re.findall(r"\w+", text.lower()))

    said, expected = bare(reply), bare(dont_know)
    return bool(expected) and (said == expected or said.startswith(expected))
