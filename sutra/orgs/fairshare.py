"""Fair shares of concurrent work between organisations (LLM calls, HTTP webhooks).

Each organisation may always have ``guaranteed`` calls running at once, whatever the others
do: a burst of one organisation never makes another's first calls wait. Above that, an
organisation bursts up to ``burst`` calls (None: no limit of its own) while the process has
room (``total``); when room frees up, the waiting organisation with the fewest calls running
goes first, so bursting organisations share what is left evenly. Glific's numbers are 3 and 20.

>>> import asyncio
>>> async def demo():
...     share = FairShare(guaranteed=1, burst=2, total=2)
...     await share.acquire(1); await share.acquire(1)   # organisation 1 bursts to 2
...     waiting = asyncio.ensure_future(share.acquire(1))  # the process is full for it...
...     await share.acquire(2)                             # ...not for organisation 2's first
...     await asyncio.sleep(0)
...     return waiting.done(), share.running(1), share.running(2)
>>> asyncio.run(demo())
(False, 2, 1)
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class FairShare:
    def __init__(self, *, guaranteed: int, burst: int | None, total: int | None) -> None:
        self.guaranteed = guaranteed
        self.burst = burst
        self.total = total
        self._running: dict[int, int] = {}
        self._waiting: dict[int, deque[asyncio.Future[None]]] = {}

    def running(self, org: int) -> int:
        return self._running.get(org, 0)

    def set_total(self, total: int | None) -> None:
        """Change the room for all (those above a lower one keep theirs until they release)."""
        self.total = total
        self._grant()

    def _all(self) -> int:
        return sum(self._running.values())

    def _may_start(self, org: int) -> bool:
        here = self.running(org)
        if here < self.guaranteed:
            return True
        if self.burst is not None and here >= self.burst:
            return False
        return self.total is None or self._all() < self.total

    async def acquire(self, org: int) -> None:
        if not self._waiting.get(org) and self._may_start(org):
            self._running[org] = self.running(org) + 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(org, deque()).append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(org)  # granted just as it was cancelled: hand the slot on
            else:
                self._forget(org, future)
            raise

    def release(self, org: int) -> None:
        left = self.running(org) - 1
        if left > 0:
            self._running[org] = left
        else:
            self._running.pop(org, None)
        self._grant()

    def _forget(self, org: int, future: asyncio.Future[None]) -> None:
        queue = self._waiting.get(org)
        if queue is not None and future in queue:
            queue.remove(future)
            if not queue:
                del self._waiting[org]

    def _grant(self) -> None:
        while True:
            ready = [org for org in self._waiting if self._may_start(org)]
            if not ready:
                return
            org = min(ready, key=self.running)
            queue = self._waiting[org]
            future = queue.popleft()
            if not queue:
                del self._waiting[org]
            if future.done():
                continue
            self._running[org] = self.running(org) + 1
            future.set_result(None)

    @asynccontextmanager
    async def slot(self, org: int) -> AsyncIterator[None]:
        await self.acquire(org)
        try:
            yield
        finally:
            self.release(org)


# Per event loop: its futures belong to it (tests run many loops in one process).
_shares: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, int, int | None, int | None], FairShare]
] = weakref.WeakKeyDictionary()


def fair_share(kind: str, guaranteed: int, burst: int | None, total: int | None) -> FairShare:
    """This process's share of ``kind`` of work ("llm", "webhooks") under these limits."""
    per_loop = _shares.setdefault(asyncio.get_running_loop(), {})
    key = (kind, guaranteed, burst, total)
    found = per_loop.get(key)
    if found is None:
        found = per_loop[key] = FairShare(guaranteed=guaranteed, burst=burst, total=total)
    return found
