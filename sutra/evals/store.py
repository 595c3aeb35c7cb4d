"""Reading and writing golden sets, runs and results (the pages, the API and the CLI share it)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sutra.evals.golden import GoldenRow
from sutra.evals.models import EvalGoldenRow, EvalGoldenSet, EvalResult, EvalRun
from sutra.store import models as m

Sessions = async_sessionmaker[AsyncSession]
ACTIVE = ("queued", "running")
FINISHED = ("completed", "failed", "cancelled")


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# --- golden sets -------------------------------------------------------------------------------


async def add_golden_set(
    sessions: Sessions,
    organization_id: int,
    name: str,
    rows: Sequence[GoldenRow],
    *,
    filename: str | None = None,
    created_by: str | None = None,
) -> EvalGoldenSet:
    """Store ``rows`` as the next version of the set ``name`` (version 1 if it is new)."""
    for _ in range(3):
        try:
            async with sessions.begin() as db:
                latest = await db.scalar(
                    select(func.max(EvalGoldenSet.version)).where(
                        EvalGoldenSet.organization_id == organization_id,
                        EvalGoldenSet.name == name,
                    )
                )
                golden = EvalGoldenSet(
                    organization_id=organization_id,
                    name=name,
                    version=(latest or 0) + 1,
                    filename=filename,
                    row_count=len(rows),
                    created_by=created_by,
                )
                db.add(golden)
                await db.flush()
                db.add_all(
                    EvalGoldenRow(
                        golden_set_id=golden.id,
                        position=row.position,
                        question=row.question,
                        expected=row.expected,
                        category=row.category,
                        tags=list(row.tags),
                    )
                    for row in rows
                )
            return golden
        except IntegrityError:
            continue  # two uploads of the same name at once: take the next version
    raise RuntimeError(f"could not store a new version of {name!r}")


def golden_json(golden: EvalGoldenSet) -> dict[str, Any]:
    return {
        "id": golden.id,
        "name": golden.name,
        "version": golden.version,
        "label": f"{golden.name} v{golden.version}",
        "filename": golden.filename,
        "rows": golden.row_count,
        "created_by": golden.created_by,
        "created_at": _time(golden.created_at),
    }


async def golden_sets(sessions: Sessions, organization_id: int) -> list[EvalGoldenSet]:
    async with sessions() as db:
        found = await db.scalars(
            select(EvalGoldenSet)
            .where(EvalGoldenSet.organization_id == organization_id)
            .order_by(EvalGoldenSet.name, EvalGoldenSet.version.desc())
        )
        return list(found)


async def golden_set(
    sessions: Sessions, organization_id: int, ref: int | str
) -> EvalGoldenSet | None:
    """A set by id, by ``name`` (its latest version) or by ``name@version``."""
    query = select(EvalGoldenSet).where(EvalGoldenSet.organization_id == organization_id)
    if isinstance(ref, int) or str(ref).isdigit():
        query = query.where(EvalGoldenSet.id == int(ref))
    else:
        name, _, version = str(ref).rpartition("@") if "@" in str(ref) else (str(ref), "", "")
        query = query.where(EvalGoldenSet.name == name)
        if version.isdigit():
            query = query.where(EvalGoldenSet.version == int(version))
        query = query.order_by(EvalGoldenSet.version.desc()).limit(1)
    async with sessions() as db:
        found: EvalGoldenSet | None = await db.scalar(query)
        return found


async def golden_rows(sessions: Sessions, golden_set_id: int) -> list[EvalGoldenRow]:
    async with sessions() as db:
        found = await db.scalars(
            select(EvalGoldenRow)
            .where(EvalGoldenRow.golden_set_id == golden_set_id)
            .order_by(EvalGoldenRow.position)
        )
        return list(found)


# --- runs --------------------------------------------------------------------------------------


async def add_run(sessions: Sessions, run: EvalRun) -> EvalRun:
    async with sessions.begin() as db:
        db.add(run)
    return run


async def get_run(sessions: Sessions, organization_id: int, run_id: int) -> EvalRun | None:
    async with sessions() as db:
        run = await db.get(EvalRun, run_id)
        return run if run is not None and run.organization_id == organization_id else None


async def runs(sessions: Sessions, organization_id: int, limit: int = 100) -> list[EvalRun]:
    async with sessions() as db:
        found = await db.scalars(
            select(EvalRun)
            .where(EvalRun.organization_id == organization_id)
            .order_by(EvalRun.id.desc())
            .limit(limit)
        )
        return list(found)


async def results(sessions: Sessions, run_id: int) -> list[EvalResult]:
    async with sessions() as db:
        found = await db.scalars(
            select(EvalResult)
            .where(EvalResult.run_id == run_id)
            .order_by(EvalResult.position, EvalResult.repeat)
        )
        return list(found)


async def done_keys(sessions: Sessions, run_id: int) -> set[tuple[int, int]]:
    async with sessions() as db:
        found = await db.execute(
            select(EvalResult.position, EvalResult.repeat).where(EvalResult.run_id == run_id)
        )
        return {(position, repeat) for position, repeat in found}


async def save_result(sessions: Sessions, result: EvalResult, usage: Sequence[m.LLMUsage]) -> bool:
    """Store one finished answer with its usage, and count it on the run; False when that
    answer was already stored (a resumed run racing the one it took over)."""
    try:
        async with sessions.begin() as db:
            db.add(result)
            db.add_all(usage)
            await db.flush()
            failed = 1 if result.score is None else 0
            await db.execute(
                update(EvalRun)
                .where(EvalRun.id == result.run_id)
                .values(done=EvalRun.done + 1, failed=EvalRun.failed + failed)
            )
    except IntegrityError:
        return False
    return True


class ResultWriter:
    """Stores finished answers in group commits: every answer that finished while a commit was
    under way goes into the next one. Each caller still waits for its own commit, so an answer
    is durable when :meth:`save` returns; SQLite takes one writer at a time, and a commit per
    answer made the workers queue behind each other."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self._pending: list[tuple[EvalResult, Sequence[m.LLMUsage], asyncio.Future[bool]]] = []
        self._lock = asyncio.Lock()

    async def save(self, result: EvalResult, usage: Sequence[m.LLMUsage]) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((result, usage, future))
        async with self._lock:
            batch, self._pending = self._pending, []
            if batch:
                await self._commit(batch)
        return await future

    async def _commit(
        self, batch: list[tuple[EvalResult, Sequence[m.LLMUsage], asyncio.Future[bool]]]
    ) -> None:
        try:
            async with self.sessions.begin() as db:
                for result, usage, _ in batch:
                    db.add(result)
                    db.add_all(usage)
                failed = sum(1 for result, _, _ in batch if result.score is None)
                await db.execute(
                    update(EvalRun)
                    .where(EvalRun.id == batch[0][0].run_id)
                    .values(done=EvalRun.done + len(batch), failed=EvalRun.failed + failed)
                )
        except IntegrityError:
            # One of them was stored already (a resumed run racing): one at a time, then.
            for result, usage, future in batch:
                future.set_result(await save_result(self.sessions, _copy(result), usage))
            return
        except BaseException as exc:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            raise
        for _, _, future in batch:
            future.set_result(True)


def _copy(result: EvalResult) -> EvalResult:
    # The failed transaction left the objects attached to a closed session.
    columns = [c.key for c in EvalResult.__table__.columns if c.key not in ("id", "created_at")]
    return EvalResult(**{key: getattr(result, key) for key in columns})


async def set_status(sessions: Sessions, run_id: int, status: str, **values: Any) -> None:
    async with sessions.begin() as db:
        await db.execute(
            update(EvalRun).where(EvalRun.id == run_id).values(status=status, **values)
        )


async def claim(sessions: Sessions, run_id: int, owner: str, lease: float, now: datetime) -> bool:
    """Take (or keep) the run for ``owner`` for ``lease`` seconds, unless another process holds
    a lease that has not run out; only unfinished runs can be taken."""
    async with sessions.begin() as db:
        done = await db.execute(
            update(EvalRun)
            .where(
                EvalRun.id == run_id,
                EvalRun.status.in_(ACTIVE),
                or_(
                    EvalRun.owner.is_(None),
                    EvalRun.owner == owner,
                    EvalRun.lease_until.is_(None),
                    EvalRun.lease_until < now,
                ),
            )
            .values(owner=owner, lease_until=now + timedelta(seconds=lease))
        )
        return bool(getattr(done, "rowcount", 0))


async def release(sessions: Sessions, run_id: int, owner: str) -> None:
    async with sessions.begin() as db:
        await db.execute(
            update(EvalRun)
            .where(EvalRun.id == run_id, EvalRun.owner == owner)
            .values(owner=None, lease_until=None)
        )


async def cancel_requested(sessions: Sessions, run_id: int) -> bool:
    async with sessions() as db:
        return bool(await db.scalar(select(EvalRun.cancel_requested).where(EvalRun.id == run_id)))


async def request_cancel(sessions: Sessions, run_id: int) -> None:
    """Ask the run to stop; a run nobody works on stops at once."""
    async with sessions.begin() as db:
        await db.execute(
            update(EvalRun)
            .where(EvalRun.id == run_id, EvalRun.status.in_(ACTIVE))
            .values(cancel_requested=True)
        )
        await db.execute(
            update(EvalRun)
            .where(EvalRun.id == run_id, EvalRun.status == "queued", EvalRun.owner.is_(None))
            .values(status="cancelled", finished_at=m.utcnow())
        )


async def orphaned(sessions: Sessions, now: datetime) -> list[int]:
    """Unfinished runs no live process holds: a restart's, or a dead process's."""
    async with sessions() as db:
        found = await db.scalars(
            select(EvalRun.id).where(
                EvalRun.status.in_(ACTIVE),
                or_(EvalRun.lease_until.is_(None), EvalRun.lease_until < now),
            )
        )
        return list(found)


@dataclass(frozen=True)
class RunData:
    """A run with its golden rows and results: what reports and comparisons read."""

    run: EvalRun
    golden: EvalGoldenSet | None
    rows: list[EvalGoldenRow]
    results: list[EvalResult]


async def run_data(sessions: Sessions, organization_id: int, run_id: int) -> RunData | None:
    run = await get_run(sessions, organization_id, run_id)
    if run is None:
        return None
    async with sessions() as db:
        golden = await db.get(EvalGoldenSet, run.golden_set_id)
    return RunData(
        run, golden, await golden_rows(sessions, run.golden_set_id), await results(sessions, run.id)
    )
