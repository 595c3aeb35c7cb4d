"""Evaluation runs inside ``sutra serve``: started from the page or the API, resumed after a
restart, stopped on request.

Each process runs the runs it starts and looks every few seconds for unfinished runs whose
lease ran out (their process stopped or died) to take them over; at start-up it looks at once.
A process shutting down lets go of its runs' leases, so the next one resumes them straight
away rather than after the lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sutra.evals import runner, store
from sutra.evals.settings import EvalSettings, eval_settings
from sutra.store import models as m

log = logging.getLogger(__name__)


class EvalService:
    def __init__(self, sessions: store.Sessions, evals: EvalSettings | None = None) -> None:
        self.sessions = sessions
        self.evals = evals or eval_settings()
        self.owner = runner.new_owner()
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._stops: dict[int, asyncio.Event] = {}
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        for event in self._stops.values():
            event.set()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    def running(self, run_id: int) -> bool:
        return run_id in self._tasks

    async def launch(self, run_id: int) -> bool:
        """Work on the run here, if no other process does; False when it is taken."""
        if run_id in self._tasks:
            return True
        if not await store.claim(
            self.sessions, run_id, self.owner, self.evals.lease_seconds, m.utcnow()
        ):
            return False
        stop = self._stops[run_id] = asyncio.Event()
        self._tasks[run_id] = asyncio.create_task(self._work(run_id, stop))
        return True

    async def cancel(self, run_id: int) -> None:
        await store.request_cancel(self.sessions, run_id)
        if run_id in self._stops:
            self._stops[run_id].set()

    async def _work(self, run_id: int, stop: asyncio.Event) -> None:
        try:
            status = await runner.execute(
                self.sessions, run_id, owner=self.owner, evals=self.evals, stop=stop
            )
            log.info("evaluation run %s: %s", run_id, status)
        except Exception as exc:
            log.exception("evaluation run %s failed", run_id)
            await store.set_status(
                self.sessions,
                run_id,
                "failed",
                error=f"{type(exc).__name__}: {exc}",
                finished_at=m.utcnow(),
            )
        finally:
            self._tasks.pop(run_id, None)
            self._stops.pop(run_id, None)
            with contextlib.suppress(Exception):
                await store.release(self.sessions, run_id, self.owner)

    async def sweep(self) -> list[int]:
        """Take up the unfinished runs no live process holds; the ids taken."""
        taken = []
        for run_id in await store.orphaned(self.sessions, m.utcnow()):
            if run_id not in self._tasks and await self.launch(run_id):
                log.info("evaluation run %s: resumed", run_id)
                taken.append(run_id)
        return taken

    async def _sweep_forever(self) -> None:
        every = max(0.2, self.evals.lease_seconds / 2)
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("evaluation sweep failed")
            await asyncio.sleep(every)
