"""Turns on this process's CPU: how many contacts may use it at once, in fair shares.

A contact in hand alternates between work on this process's CPU (its engine steps, its
database writes, the code between) and waiting on others (a model's answer, a webhook, the
provider taking a send). Hundreds in hand keep a burst's throughput up, since most of them
wait on a model; but if every one of them may use the CPU as soon as its answer is back, all
their steps queue together on the event loop, and a quiet organisation's one message waits
behind a busy one's thousands at every step.

So a contact at work holds a *turn* (``turn``), and gives it back while it waits on the
network (``away``). While more than one organisation has asked for turns within the last
``QUIET_AFTER`` seconds, turns are few (the CPU is one core under the GIL: more would only
queue), each organisation may always have ``guaranteed`` of them, and a turn given back goes
to the waiting organisation that holds fewest. A quiet organisation's message then waits for
at most the steps of the few contacts at work, never for a burst. An organisation alone takes
as many turns as it likes: fewer would cost it throughput (smaller group commits) for nobody.

>>> import asyncio
>>> async def demo():
...     working, order = Working(turns=1, guaranteed=0), []
...     async def contact(org, name):
...         async with working.turn(org):
...             order.append(f"{name} works")
...             async with away():                 # its model's answer: the turn is free
...                 await asyncio.sleep(0.01)
...             order.append(f"{name} again")
...     await asyncio.gather(contact(1, "a1"), contact(1, "a2"), contact(2, "b1"))
...     return order
>>> asyncio.run(demo())
['a1 works', 'a2 works', 'b1 works', 'a1 again', 'a2 again', 'b1 again']

Alone, an organisation's turns have no limit; with another asking too, they are few:

>>> async def limits():
...     working, seen = Working(turns=2), []
...     async with working.turn(1):
...         seen.append(working.share.total)
...     async with working.turn(2):
...         seen.append(working.share.total)
...     return seen
>>> asyncio.run(limits())
[None, 2]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from sutra.orgs.fairshare import FairShare


@dataclass
class _Held:
    share: FairShare
    org: int
    task: asyncio.Task[object] | None
    held: bool = True


# The turn the running task holds. Tasks started meanwhile copy the context, hence the task
# check: a child task holds no turn of its parent's.
_current: ContextVar[_Held | None] = ContextVar("sutra_working_turn", default=None)


def _mine() -> _Held | None:
    held = _current.get()
    if held is None or held.task is not asyncio.current_task():
        return None
    return held


# An organisation that asked for no turn for this long is quiet. Longer than the gaps in a
# quiet organisation's steady trickle (its contacts wait on models between their turns), so
# that a burst elsewhere does not take the whole process in each gap.
QUIET_AFTER = 5.0


class Working:
    def __init__(self, *, turns: int, guaranteed: int = 1) -> None:
        self.turns = turns
        self.share = FairShare(guaranteed=guaranteed, burst=None, total=None)
        self._asked: dict[int, float] = {}  # organisation -> when it last asked for a turn

    def _asking(self, org: int) -> None:
        now = time.monotonic()
        self._asked[org] = now
        if len(self._asked) > 1:
            for other, at in list(self._asked.items()):
                if now - at > QUIET_AFTER:
                    del self._asked[other]
        total = self.turns if len(self._asked) > 1 else None
        if total != self.share.total:
            self.share.set_total(total)

    @asynccontextmanager
    async def turn(self, org: int) -> AsyncIterator[None]:
        """Work for organisation ``org`` with a turn (at once when this task holds one)."""
        if _mine() is not None:
            yield
            return
        self._asking(org)
        await self.share.acquire(org)
        held = _Held(self.share, org, asyncio.current_task())
        token = _current.set(held)
        try:
            yield
        finally:
            _current.reset(token)
            if held.held:
                self.share.release(org)


@asynccontextmanager
async def away() -> AsyncIterator[None]:
    """Wait on someone else (a model, a webhook, a provider) without holding a turn."""
    held = _mine()
    if held is None or not held.held:
        yield
        return
    held.held = False
    held.share.release(held.org)
    try:
        yield
    finally:
        # Cancelled while waiting for it: nothing is held, and ``turn`` releases nothing.
        await held.share.acquire(held.org)
        held.held = True


@asynccontextmanager
async def slot(share: FairShare, org: int) -> AsyncIterator[None]:
    """A slot of another fair share (LLM calls, webhooks) for ``org``, waited for away from
    the CPU turn: waiting for one uses no CPU."""
    async with away():
        await share.acquire(org)
    try:
        yield
    finally:
        share.release(org)
