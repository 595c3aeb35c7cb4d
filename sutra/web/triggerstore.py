"""Triggers: what starts a flow without a broadcast being asked for. Keywords (each flow's
own, edited with the flow), the organisation's "no flow matched" catch-all (the runner starts
it, :mod:`sutra.runtime.runner`), and schedules, each occurrence of which the broadcast
scheduler launches as a broadcast (:mod:`sutra.store.work.schedules`). What the Triggers page
and ``/api/v1/triggers`` share.
"""

from __future__ import annotations

from datetime import UTC, date
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import select

from sutra.recurrence import DAYS, Recurrence, next_run, parse_time
from sutra.store import models as m
from sutra.web.broadcaststore import MAX_CHOSEN
from sutra.web.contactstore import ContactError
from sutra.web.state import AppState

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DAY_NAMES = dict(zip(DAYS, NAMES, strict=True))


class CatchAllRequest(BaseModel):
    flow: str | None = Field(
        default=None, max_length=200, description="The flow's uuid; null for none"
    )


class ScheduleRequest(BaseModel):
    """A flow for a group (or chosen contacts), daily or weekly on ``days``, at ``time`` in the
    organisation's time zone, until ``end_date`` (inclusive; none: for ever)."""

    flow: str = Field(max_length=200, description="The flow's uuid")
    group: str | None = Field(default=None, max_length=200, description="A group's uuid or name")
    contacts: list[str] = Field(default=[], max_length=MAX_CHOSEN, description="Contact uuids")
    frequency: Literal["daily", "weekly"]
    days: list[Day] = Field(default=[], max_length=7, description="For weekly: mon ... sun")
    time: str = Field(max_length=10, description="The local time of day, e.g. 09:30")
    end_date: date | None = Field(default=None, description="The last day, e.g. 2027-03-31")
    enabled: bool = True

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        return parse_time(value)

    @model_validator(mode="after")
    def _whole(self) -> ScheduleRequest:
        if self.frequency == "weekly" and not self.days:
            raise ValueError("days: choose at least one day of the week")
        if not self.group and not self.contacts:
            raise ValueError("choose a group or contacts")
        return self


class ScheduleChange(BaseModel):
    enabled: bool


def describe(frequency: str, days: list[str], at: str, end_date: date | None) -> str:
    """The rule in words.

    >>> describe("weekly", ["thu", "mon"], "09:30", None)
    'Every Monday and Thursday at 09:30'
    >>> describe("daily", [], "18:00", date(2027, 1, 31))
    'Every day at 18:00, until 31 Jan 2027'
    """
    if frequency == "daily":
        when = "Every day"
    else:
        names = [DAY_NAMES[d] for d in DAYS if d in days]
        when = "Every " + (
            names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        )
    until = f", until {end_date.day} {end_date:%b %Y}" if end_date else ""
    return f"{when} at {at}{until}"


async def org_timezone(state: AppState) -> str:
    async with state.repo.sessions() as db:
        zone = await db.scalar(
            select(m.Organization.timezone).where(m.Organization.id == state.repo.org)
        )
    return zone or "UTC"


async def _flow(db: Any, org: int, uuid: str) -> m.Flow:
    flow = await db.scalar(select(m.Flow).where(m.Flow.uuid == uuid, m.Flow.organization_id == org))
    if flow is None or flow.archived:
        raise ContactError(f"flow: no flow {uuid}", status=404)
    return flow  # type: ignore[no-any-return]


# --- keywords and the catch-all ------------------------------------------------------------


async def keyword_triggers(state: AppState) -> list[dict[str, Any]]:
    """Each active flow that has keywords, by name."""
    async with state.repo.sessions() as db:
        rows = await db.execute(
            select(m.Flow.uuid, m.Flow.name, m.Flow.keywords)
            .where(m.Flow.organization_id == state.repo.org, m.Flow.archived.is_(False))
            .order_by(m.Flow.name)
        )
        return [
            {"flow": uuid, "flow_name": name, "keywords": list(keywords)}
            for uuid, name, keywords in rows
            if keywords
        ]


async def catch_all(state: AppState) -> dict[str, Any] | None:
    async with state.repo.sessions() as db:
        row = (
            await db.execute(
                select(m.Flow.uuid, m.Flow.name)
                .join(m.Organization, m.Organization.catch_all_flow_uuid == m.Flow.uuid)
                .where(
                    m.Organization.id == state.repo.org,
                    m.Flow.organization_id == state.repo.org,
                    m.Flow.archived.is_(False),
                )
            )
        ).first()
    return {"flow": row[0], "flow_name": row[1]} if row else None


async def set_catch_all(state: AppState, wanted: CatchAllRequest) -> dict[str, Any] | None:
    org = state.repo.org
    async with state.repo.sessions.begin() as db:
        if wanted.flow:
            await _flow(db, org, wanted.flow)
        row = await db.get(m.Organization, org)
        assert row is not None
        row.catch_all_flow_uuid = wanted.flow or None
    # This process's runner sees it at once; the others within their next refresh (a second).
    state.runner.invalidate()
    return await catch_all(state)


# --- schedules -----------------------------------------------------------------------------


def _rule(row: m.Schedule) -> Recurrence:
    return Recurrence(
        frequency="weekly" if row.frequency == "weekly" else "daily",
        at=row.at_time,
        days=tuple(row.days or ()),
        end_date=row.end_date,
    )


async def create_schedule(state: AppState, wanted: ScheduleRequest, created_by: str) -> int:
    org = state.repo.org
    zone = await org_timezone(state)
    async with state.repo.sessions.begin() as db:
        flow = await _flow(db, org, wanted.flow)
        target: dict[str, Any] = {}
        if wanted.group:
            group = await db.scalar(
                select(m.Group.uuid).where(
                    m.Group.organization_id == org,
                    (m.Group.uuid == wanted.group) | (m.Group.name == wanted.group),
                )
            )
            if group is None:
                raise ContactError(f"group: no group {wanted.group}", status=404)
            target["group"] = group
        if wanted.contacts:
            target["contacts"] = list(dict.fromkeys(wanted.contacts))
        days = [d for d in DAYS if d in wanted.days] if wanted.frequency == "weekly" else []
        row = m.Schedule(
            organization_id=org,
            flow_uuid=flow.uuid,
            target=target,
            frequency=wanted.frequency,
            days=days,
            at_time=wanted.time,
            end_date=wanted.end_date,
            enabled=wanted.enabled,
            created_by=created_by,
        )
        row.next_run_at = next_run(_rule(row), state.runner.now(), zone) if row.enabled else None
        if row.enabled and row.next_run_at is None:
            raise ContactError("end_date: the schedule would never run (it ends before its time)")
        db.add(row)
        await db.flush()
        return row.id


async def change_schedule(state: AppState, schedule_id: int, change: ScheduleChange) -> None:
    """Disable (no more occurrences) or enable again (the next one from now)."""
    zone = await org_timezone(state)
    async with state.repo.sessions.begin() as db:
        row = await _schedule(db, state, schedule_id)
        row.enabled = change.enabled
        row.next_run_at = next_run(_rule(row), state.runner.now(), zone) if change.enabled else None


async def delete_schedule(state: AppState, schedule_id: int) -> None:
    """The schedule goes; the broadcasts it launched stay, with their progress."""
    async with state.repo.sessions.begin() as db:
        await db.delete(await _schedule(db, state, schedule_id))


async def _schedule(db: Any, state: AppState, schedule_id: int) -> m.Schedule:
    row = await db.scalar(
        select(m.Schedule).where(
            m.Schedule.id == schedule_id, m.Schedule.organization_id == state.repo.org
        )
    )
    if row is None:
        raise ContactError(f"no schedule {schedule_id}", status=404)
    return row  # type: ignore[no-any-return]


async def schedules(state: AppState, schedule_id: int | None = None) -> list[dict[str, Any]]:
    """The organisation's schedules (or the one asked for), with the next run in UTC and in
    the organisation's time zone."""
    org = state.repo.org
    zone = await org_timezone(state)
    local = ZoneInfo(zone)
    query = (
        select(m.Schedule, m.Flow.name)
        .outerjoin(
            m.Flow,
            (m.Flow.uuid == m.Schedule.flow_uuid) & (m.Flow.organization_id == org),
        )
        .where(m.Schedule.organization_id == org)
        .order_by(m.Schedule.id)
    )
    if schedule_id is not None:
        query = query.where(m.Schedule.id == schedule_id)
    async with state.repo.sessions() as db:
        rows = list(await db.execute(query))
        group_names = dict(
            (
                await db.execute(
                    select(m.Group.uuid, m.Group.name).where(m.Group.organization_id == org)
                )
            ).all()
        )
    found = []
    for row, flow_name in rows:
        upcoming = row.next_run_at
        group_name = group_names.get(row.target.get("group"))
        contacts = len(row.target.get("contacts") or [])
        who = [f"group {group_name or row.target.get('group')}"] if row.target.get("group") else []
        if contacts:
            who.append(f"{contacts} contact{'s' if contacts != 1 else ''}")
        found.append(
            {
                "id": row.id,
                "flow": row.flow_uuid,
                "flow_name": flow_name or row.flow_uuid,
                "target": row.target,
                "who": ", ".join(who),
                "frequency": row.frequency,
                "days": list(row.days or []),
                "time": row.at_time,
                "end_date": row.end_date.isoformat() if row.end_date else None,
                "enabled": row.enabled,
                "description": describe(row.frequency, row.days, row.at_time, row.end_date),
                "timezone": zone,
                "next_run_at": upcoming.astimezone(UTC).isoformat() if upcoming else None,
                "next_run_local": (
                    upcoming.astimezone(local).strftime("%a %d %b %Y, %H:%M") if upcoming else None
                ),
                "last_run_at": row.last_run_at.isoformat() if row.last_run_at else None,
                "last_broadcast_id": row.last_broadcast_id,
                "created_by": row.created_by,
            }
        )
    return found
