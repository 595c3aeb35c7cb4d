"""Conversation memory: the last turns of a contact's thread, sent back to the model.

A thread is a name chosen by the flow (``thread_id``) or, with ``memory: true`` alone, the
contact's own thread. Turns are stored per organisation and contact, so a thread id from another
contact (guessed or copied) finds nothing. Only the newest ``max_turns`` turns are kept, and of
those only as many as fit ``max_tokens`` (newest first) are sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sutra.store import models as m


def estimate_tokens(text: str) -> int:
    """A provider-independent token estimate: about 4 characters a token, plus the message
    framing. Only used to trim memory, never billed.

    >>> estimate_tokens(""), estimate_tokens("What is the capital of France?")
    (4, 11)
    """
    return len(text) // 4 + 4


def default_thread(contact_id: int | str | None) -> str | None:
    """The contact's own thread, used by ``memory: true`` without a ``thread_id``."""
    return None if contact_id is None else f"contact-{contact_id}"


class Memory:
    """Where turns are kept, and how many of them are remembered."""

    def __init__(
        self, db: async_sessionmaker[AsyncSession], *, max_turns: int, max_tokens: int
    ) -> None:
        self.db = db
        self.max_turns = max_turns
        self.max_tokens = max_tokens

    def thread(self, *, organization_id: int, contact_id: int | None, thread_id: str) -> Thread:
        return Thread(self, organization_id, contact_id, thread_id)


@dataclass(frozen=True)
class Thread:
    memory: Memory
    organization_id: int
    contact_id: int | None
    thread_id: str

    async def history(self) -> list[dict[str, Any]]:
        """The remembered turns as chat messages, oldest first, within the token budget."""
        async with self.memory.db() as session:
            rows = (
                await session.execute(
                    select(m.LLMTurn.question, m.LLMTurn.answer, m.LLMTurn.tokens)
                    .where(*self._where())
                    .order_by(m.LLMTurn.id.desc())
                    .limit(self.memory.max_turns)
                )
            ).all()
        kept = []
        budget = self.memory.max_tokens
        for question, answer, tokens in rows:
            if tokens > budget:
                # Stop at the first turn that does not fit: skipping it and sending older ones
                # would hand the model a conversation with a hole in it.
                break
            budget -= tokens
            kept.append((question, answer))
        messages: list[dict[str, Any]] = []
        for question, answer in reversed(kept):
            messages.append({"role": "user", "content": question})
            messages.append({"role": "assistant", "content": answer})
        return messages

    async def append(self, question: str, answer: str) -> None:
        """Store a turn, and forget the thread's turns beyond the newest ``max_turns``."""
        where = self._where()
        async with self.memory.db.begin() as session:
            session.add(
                m.LLMTurn(
                    organization_id=self.organization_id,
                    contact_id=self.contact_id,
                    thread_id=self.thread_id,
                    question=question,
                    answer=answer,
                    tokens=estimate_tokens(question) + estimate_tokens(answer),
                )
            )
            await session.flush()
            oldest_kept = await session.scalar(
                select(m.LLMTurn.id)
                .where(*where)
                .order_by(m.LLMTurn.id.desc())
                .offset(self.memory.max_turns - 1)
                .limit(1)
            )
            if oldest_kept is not None:
                await session.execute(delete(m.LLMTurn).where(*where, m.LLMTurn.id < oldest_kept))

    def _where(self) -> list[Any]:
        return [
            m.LLMTurn.organization_id == self.organization_id,
            m.LLMTurn.contact_id.is_(None)
            if self.contact_id is None
            else m.LLMTurn.contact_id == self.contact_id,
            m.LLMTurn.thread_id == self.thread_id,
        ]
