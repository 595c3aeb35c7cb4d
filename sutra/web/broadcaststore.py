"""Starting a flow for many contacts: chosen ones, a group, or everyone matching a filter, now
or at a set time; what the broadcasts page and ``/api/v1/broadcasts`` share.

A broadcast is stored before anything else (:mod:`sutra.store.work.starts`); its starts are
then written in batches. A scheduled one waits in the database for :class:`Scheduler`, which
every process runs, so a restart loses nothing: whichever process looks first after its time
takes it. The starts themselves run in turn with each contact's messages (the pipeline), and
a contact who has opted out when their turn comes is skipped there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import func, select

from sutra.store import models as m
from sutra.store import work
from sutra.web.contactstore import ContactError, ContactFilter, _conditions
from sutra.web.state import AppState

log = logging.getLogger(__name__)

# How long a process may take to write a broadcast's next batch of starts before another
# process takes the broadcast over (it resumes where the first stopped).
LEASE = timedelta(seconds=60)
# Contact uuids (or urns) in one request; a larger audience is a group or a filter.
MAX_CHOSEN = 10_000


class BroadcastRequest(BaseModel):
    """Who gets the flow (any of contacts, urns, group, filter; a filter with nothing set is
    every contact) and when (``send_at``, with its time zone; none or past: now)."""

    flow: str = Field(max_length=200, description="The flow's uuid")
    contacts: list[str] = Field(default=[], max_length=MAX_CHOSEN, description="Contact uuids")
    urns: list[str] = Field(
        default=[], max_length=MAX_CHOSEN, description='Contact urns, e.g. "whatsapp:9198..."'
    )
    group: str | None = Field(default=None, max_length=200, description="A group's uuid or name")
    filter: ContactFilter | None = Field(
        default=None, description="The contact list's filters; {} is every contact"
    )
    send_at: AwareDatetime | None = Field(
        default=None, description="When to start, e.g. 2026-12-01T09:00:00+05:30"
    )


async def create(state: AppState, wanted: BroadcastRequest, created_by: str) -> int:
    """Store the broadcast; unless it is for later, write its starts before returning."""
    if not (wanted.contacts or wanted.urns or wanted.group or wanted.filter is not None):
        raise ContactError("choose contacts, a group or a filter")
    repo, hot = state.repo, state.runner.db
    async with repo.sessions() as db:
        flow = await db.scalar(
            select(m.Flow).where(m.Flow.uuid == wanted.flow, m.Flow.organization_id == repo.org)
        )
        if flow is None or flow.archived:
            raise ContactError(f"flow: no flow {wanted.flow}", status=404)
        group_uuid = None
        if wanted.group:
            group_uuid = await db.scalar(
                select(m.Group.uuid).where(
                    m.Group.organization_id == repo.org,
                    (m.Group.uuid == wanted.group) | (m.Group.name == wanted.group),
                )
            )
            if group_uuid is None:
                raise ContactError(f"group: no group {wanted.group}", status=404)
    contacts = list(wanted.contacts)
    # A urn not seen yet becomes a contact now, as a message from it would make one.
    contacts += [(await repo.contact(urn)).uuid for urn in wanted.urns]
    target: dict[str, Any] = {}
    if contacts:
        target["contacts"] = list(dict.fromkeys(contacts))
    if group_uuid:
        target["group"] = group_uuid
    if wanted.filter is not None:
        target["filter"] = wanted.filter.model_dump()
    now = state.runner.now()
    later = wanted.send_at is not None and wanted.send_at > now
    broadcast = await hot.run(
        _new,
        repo.org,
        flow.uuid,
        target,
        wanted.send_at.astimezone(UTC) if later and wanted.send_at else None,
        created_by,
        now + LEASE,
    )
    if not later:
        await write_starts(state, work.DueBroadcast(broadcast, repo.org, flow.uuid, target))
    return broadcast


def _new(
    tx: work.Tx,
    org: int,
    flow: str,
    target: dict[str, Any],
    send_at: datetime | None,
    by: str,
    lease: datetime,
) -> int:
    return work.new_broadcast(
        tx, org, flow, target=target, send_at=send_at, created_by=by, lease_until=lease
    )


async def write_starts(state: AppState, due: work.DueBroadcast) -> int:
    """Write the broadcast's starts in batches (again where a dead process left off: a
    contact gets one start per broadcast), mark it started and wake the workers."""
    hot, target, org, flow = state.runner.db, due.target, due.organization_id, due.flow_uuid
    woken: list[int] = []
    total = 0

    async def starts_for(ids: list[int]) -> None:
        nonlocal total
        added = await hot.run(work.add_starts, org, flow, ids, due.id)
        total += len(added)
        if len(woken) <= state.pipeline.max_in_flight:
            woken.extend(added)
        await hot.run(work.renew_broadcast, due.id, state.runner.now() + LEASE)

    async with state.repo.sessions() as db:
        uuids = list(target.get("contacts") or [])
        chosen: list[int] = []
        for i in range(0, len(uuids), 1000):
            chosen += await db.scalars(
                select(m.Contact.id).where(
                    m.Contact.organization_id == org, m.Contact.uuid.in_(uuids[i : i + 1000])
                )
            )
        group_id = None
        if target.get("group"):
            group_id = await db.scalar(
                select(m.Group.id).where(
                    m.Group.organization_id == org, m.Group.uuid == target["group"]
                )
            )
            if group_id is None:
                await hot.run(work.end_broadcast, due.id, "its group was deleted before it began")
                return 0
    for i in range(0, len(chosen), work.START_BATCH):
        await starts_for(chosen[i : i + work.START_BATCH])
    after = 0
    while group_id is not None:
        added, after = await hot.run(work.add_group_starts, org, flow, group_id, due.id, after)
        total += added
        await hot.run(work.renew_broadcast, due.id, state.runner.now() + LEASE)
        if added < work.START_BATCH:
            break
    if target.get("filter") is not None:
        wanted = ContactFilter.model_validate(target["filter"])
        conditions = _conditions(org, wanted, datetime.now(UTC))
        after = 0
        while True:
            async with state.repo.sessions() as db:
                ids = list(
                    await db.scalars(
                        select(m.Contact.id)
                        .where(*conditions, m.Contact.id > after)
                        .order_by(m.Contact.id)
                        .limit(work.START_BATCH)
                    )
                )
            if not ids:
                break
            await starts_for(ids)
            after = ids[-1]
    await hot.run(work.end_broadcast, due.id, None)
    pipeline = state.pipeline
    if len(woken) <= pipeline.max_in_flight:
        for contact_id in woken:
            pipeline.notify(contact_id)
    # The rest (a group, a large audience) is claimed by every process's sweeper, in batches.
    await pipeline.sweep()
    return total


async def audience(state: AppState, wanted: ContactFilter) -> int:
    """How many contacts a filter matches now (the page says so before it starts)."""
    conditions = _conditions(state.repo.org, wanted, datetime.now(UTC))
    async with state.repo.sessions() as db:
        return int(await db.scalar(select(func.count(m.Contact.id)).where(*conditions)) or 0)


@dataclass
class Listed:
    progress: dict[str, Any]
    flow_name: str


async def recent(state: AppState, *, limit: int = 20, offset: int = 0) -> tuple[int, list[Listed]]:
    """The organisation's broadcasts, newest first, each with its progress."""
    repo = state.repo
    async with repo.sessions() as db:
        total = await db.scalar(
            select(func.count(m.Broadcast.id)).where(m.Broadcast.organization_id == repo.org)
        )
        rows = list(
            await db.execute(
                select(m.Broadcast.id, m.Flow.name)
                .outerjoin(
                    m.Flow,
                    (m.Flow.uuid == m.Broadcast.flow_uuid)
                    & (m.Flow.organization_id == m.Broadcast.organization_id),
                )
                .where(m.Broadcast.organization_id == repo.org)
                .order_by(m.Broadcast.id.desc())
                .limit(limit)
                .offset(offset)
            )
        )
    listed = []
    for broadcast_id, name in rows:
        progress = await progress_of(state, broadcast_id)
        if progress is not None:
            listed.append(Listed(progress, name or progress["flow"]))
    return int(total or 0), listed


async def progress_of(state: AppState, broadcast_id: int) -> dict[str, Any] | None:
    return await state.runner.db.run(work.broadcast_progress, state.repo.org, broadcast_id)


async def cancel(state: AppState, broadcast_id: int) -> None:
    if not await state.runner.db.run(work.cancel_broadcast, state.repo.org, broadcast_id):
        found = await progress_of(state, broadcast_id)
        if found is None:
            raise ContactError(f"no broadcast {broadcast_id}", status=404)
        raise ContactError(
            f"broadcast {broadcast_id} is {found['status']}: too late to cancel", status=409
        )


class Scheduler:
    """Starts scheduled broadcasts when their time comes (and the scheduled triggers' runs,
    each a broadcast: :mod:`sutra.store.work.schedules`), and finishes those a dead process
    left half written; every process runs one, the database lease keeps them apart."""

    def __init__(self, state: AppState, *, every: float = 1.0) -> None:
        self.state = state
        self.every = every
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._forever(), name="sutra-broadcasts")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run_due(self) -> int:
        """Launch the scheduled triggers due now (each occurrence a broadcast), then write the
        starts of every broadcast due now; how many broadcasts there were."""
        now = self.state.runner.now()
        for launched in await self.state.runner.db.run(work.launch_due_schedules, now):
            log.info(
                "schedule %s: broadcast %s; next run %s",
                launched.schedule_id,
                launched.broadcast_id,
                launched.next_run_at.isoformat() if launched.next_run_at else "none",
            )
        due = await self.state.runner.db.run(work.take_due_broadcasts, now, now + LEASE, 10)
        for broadcast in due:
            log.info("broadcast %s: starting flow %s", broadcast.id, broadcast.flow_uuid)
            await write_starts(self.state, broadcast)
        return len(due)

    async def _forever(self) -> None:
        while True:
            try:
                await self.run_due()
            except Exception:  # its lease runs out and the next round takes it up again
                log.exception("starting scheduled broadcasts failed")
            await asyncio.sleep(self.every)
