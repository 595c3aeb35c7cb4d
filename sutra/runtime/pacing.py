"""Sending at a number's pace: WhatsApp gives each number a messaging limit (80 msg/s by
default, up to 1,000), and answers 130429 to a sender that goes faster.

One :class:`Pacer` per channel grants sends at that rate, replies first: a contact who wrote
in never waits behind a broadcast. When the provider says slow down, the pacer stops granting
for as long as it asked.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque


class Pacer:
    def __init__(self, per_second: float, *, tick: float = 0.01) -> None:
        self.per_second = per_second
        self.tick = tick
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._bulk: deque[asyncio.Future[None]] = deque()
        self._wake = asyncio.Event()
        self._paused_until = 0.0
        self._task: asyncio.Task[None] | None = None
        self.granted = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._grant_forever(), name="sutra-pacer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait(self, *, urgent: bool) -> None:
        """Return when this send may go."""
        if self._task is None:  # not started (tests without a pipeline): no pacing
            return
        future = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._bulk).append(future)
        self._wake.set()
        await future

    def pause(self, seconds: float) -> None:
        """The provider asked for a pause (Retry-After, 130429): grant nothing for a while."""
        loop = asyncio.get_running_loop()
        self._paused_until = max(self._paused_until, loop.time() + seconds)

    async def _grant_forever(self) -> None:
        loop = asyncio.get_running_loop()
        allowance = 0.0
        last = loop.time()
        while True:
            if not (self._urgent or self._bulk):
                self._wake.clear()
                await self._wake.wait()
                last = loop.time()
                allowance = max(allowance, 1.0)  # the first send after a quiet spell goes now
            now = loop.time()
            if now < self._paused_until:
                await asyncio.sleep(self._paused_until - now)
                last = loop.time()
                continue
            # At most one second's worth saved up: a quiet minute is no licence for a burst.
            allowance = min(allowance + (now - last) * self.per_second, self.per_second)
            last = now
            while allowance >= 1 and (self._urgent or self._bulk):
                future = (self._urgent or self._bulk).popleft()
                if not future.done():
                    future.set_result(None)
                    allowance -= 1
                    self.granted += 1
            await asyncio.sleep(self.tick)
