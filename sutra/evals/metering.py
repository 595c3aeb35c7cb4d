"""What a row of a run spent: every LLM and embedding call made for it, whatever made it.

A row's work (the target, which may be a whole flow run by the runtime, the judge, the
embeddings) runs in one task; a context variable holds that row's list, and the providers the
run hands out append to it. Tasks started inside the row copy the context, and with it the
same list.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sutra.llm.base import Completion, LLMProvider, Usage


@dataclass(frozen=True)
class Spent:
    # What the call was for: "eval_target", "eval_judge", "eval_embedding".
    purpose: str
    usage: Usage


_spent: ContextVar[list[Spent] | None] = ContextVar("sutra_eval_spent", default=None)


@contextmanager
def metering() -> Iterator[list[Spent]]:
    """Collect the calls made inside the block (in this task and the tasks it starts)."""
    spent: list[Spent] = []
    token = _spent.set(spent)
    try:
        yield spent
    finally:
        _spent.reset(token)


def record(purpose: str, usage: Usage) -> None:
    spent = _spent.get()
    if spent is not None:
        spent.append(Spent(purpose, usage))


class Metered:
    """An LLM provider that notes each call's usage for the row being evaluated."""

    def __init__(self, inner: LLMProvider, purpose: str) -> None:
        self.inner = inner
        self.purpose = purpose
        self.name = inner.name

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        model: str,
        temperature: float = 0.0,
        response_format: dict[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> Completion:
        completion = await self.inner.complete(
            messages,
            model=model,
            temperature=temperature,
            response_format=response_format,
            max_tokens=max_tokens,
        )
        record(self.purpose, completion.usage)
        return completion
