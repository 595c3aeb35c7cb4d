"""A flow's runs and results for reporting: the table, counts per category, CSV and XLSX.

Runs are the unit: one row per run of the flow, one column per result it saved. The date range
is the runs' start (UTC days, both ends included); the category filter keeps the runs whose
result has that category. Counts per category follow the date range only, so the chart of the
result being filtered on still shows every category.

Two layouts are downloaded: ``runs`` (what the page shows) and ``results`` (one line per saved
result, the REST API's long-standing CSV).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import aliased

from sutra.store import models as m
from sutra.store.repository import Repository
from sutra.web.spreadsheet import csv_text, xlsx_bytes

Layout = Literal["runs", "results"]
PAGE_SIZE = 50
# Statuses of a run that has not ended yet.
RUNNING = ("active", "waiting")
RESULT_COLUMNS = [
    "contact",
    "urn",
    "run",
    "key",
    "name",
    "input",
    "value",
    "category",
    "updated_at",
]


class ResultFilter(BaseModel):
    category: str = Field(
        default="",
        max_length=400,
        description='"<result key>:<category>", e.g. "likes_tea:Yes": runs with that category',
    )
    since: date | None = Field(default=None, description="Runs started on this day (UTC) or later")
    until: date | None = Field(default=None, description="Runs started on this day (UTC) or before")

    @field_validator("since", "until", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        # A form's empty date field sends "": no date.
        return None if value == "" else value

    @model_validator(mode="after")
    def _check(self) -> ResultFilter:
        if self.category and ":" not in self.category:
            raise ValueError('category: expected "<result key>:<category>"')
        if self.since and self.until and self.until < self.since:
            raise ValueError("until: the range ends before it starts (since)")
        return self

    @property
    def category_pair(self) -> tuple[str, str] | None:
        if not self.category:
            return None
        key, _, name = self.category.partition(":")
        return key, name

    def query_string(self, **extra: Any) -> str:
        """The filter as URL parameters, for links that keep it (pages, downloads)."""
        pairs = {k: str(v) for k, v in self.model_dump().items() if v}
        pairs.update({k: str(v) for k, v in extra.items() if v})
        return urlencode(pairs)


def _start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _dates(wanted: ResultFilter) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if wanted.since:
        found.append(m.Run.created_at >= _start(wanted.since))
    if wanted.until:
        found.append(m.Run.created_at < _start(wanted.until + timedelta(days=1)))
    return found


def _run_conditions(org: int, flow_uuid: str, wanted: ResultFilter) -> list[ColumnElement[bool]]:
    # Runs carry no organisation; their contact does.
    return [m.Run.flow_uuid == flow_uuid, m.Contact.organization_id == org, *_dates(wanted)]


def _category_condition(wanted: ResultFilter) -> list[ColumnElement[bool]]:
    pair = wanted.category_pair
    if pair is None:
        return []
    key, name = pair
    # An alias: the downloads' outer query reads flow_results too.
    fr = aliased(m.FlowResult)
    # "key:" picks results saved without a category.
    category = fr.category.is_(None) if name == "" else fr.category == name
    return [exists().where(fr.run_uuid == m.Run.uuid, fr.key == key, category).correlate(m.Run)]


@dataclass
class ResultKey:
    key: str
    name: str


@dataclass
class RunRow:
    uuid: str
    status: str
    created_at: datetime
    exited_at: datetime | None
    contact_uuid: str
    contact_name: str | None
    urn: str
    results: dict[str, m.FlowResult] = field(default_factory=dict)


@dataclass
class CategoryCount:
    name: str | None
    count: int
    percent: float


@dataclass
class Chart:
    key: ResultKey
    total: int
    categories: list[CategoryCount]


@dataclass
class FlowStats:
    runs: int = 0
    completed: int = 0
    running: int = 0
    last_activity: datetime | None = None

    @property
    def completion(self) -> float | None:
        return self.completed / self.runs if self.runs else None

    def json(self) -> dict[str, Any]:
        rate = self.completion
        return {
            "runs": self.runs,
            "completed": self.completed,
            "running": self.running,
            "completion_rate": None if rate is None else round(rate, 4),
            "last_activity": self.last_activity.isoformat() if self.last_activity else None,
        }


async def flow_stats(repo: Repository, flow_uuid: str | None = None) -> dict[str, FlowStats]:
    """Runs, completed runs and the last activity of each flow (or of one)."""
    r = m.Run
    query = (
        select(
            r.flow_uuid,
            func.count(r.id),
            func.count(r.id).filter(r.status == "completed"),
            func.count(r.id).filter(r.status.in_(RUNNING)),
            func.max(r.updated_at),
        )
        .join(m.Contact, m.Contact.id == r.contact_id)
        .where(m.Contact.organization_id == repo.org)
        .group_by(r.flow_uuid)
    )
    if flow_uuid is not None:
        query = query.where(r.flow_uuid == flow_uuid)
    async with repo.sessions() as db:
        rows = await db.execute(query)
        found = {}
        for uuid, runs, completed, running, last in rows:
            if isinstance(last, str):  # SQLite's max() of a timestamp is its text
                last = datetime.fromisoformat(last)
            if last is not None and last.tzinfo is None:
                last = last.replace(tzinfo=UTC)
            found[uuid] = FlowStats(int(runs), int(completed), int(running), last)
        return found


async def result_keys(repo: Repository, flow_uuid: str) -> list[ResultKey]:
    """The results the flow's runs saved, in the order they were first saved."""
    fr = m.FlowResult
    async with repo.sessions() as db:
        rows = await db.execute(
            select(fr.key, func.max(fr.name), func.min(fr.id))
            .where(fr.organization_id == repo.org, fr.flow_uuid == flow_uuid)
            .group_by(fr.key)
            .order_by(func.min(fr.id))
        )
        return [ResultKey(key, name or key) for key, name, _ in rows]


async def charts(
    repo: Repository, flow_uuid: str, wanted: ResultFilter, keys: Sequence[ResultKey]
) -> list[Chart]:
    """How many runs got each category of each result, in the date range."""
    fr = m.FlowResult
    query = (
        select(fr.key, fr.category, func.count(fr.id))
        .join(m.Run, m.Run.uuid == fr.run_uuid)
        .join(m.Contact, m.Contact.id == m.Run.contact_id)
        .where(fr.organization_id == repo.org, *_run_conditions(repo.org, flow_uuid, wanted))
        .group_by(fr.key, fr.category)
    )
    counts: dict[str, list[tuple[str | None, int]]] = {}
    async with repo.sessions() as db:
        for key, category, count in await db.execute(query):
            counts.setdefault(key, []).append((category, int(count)))
    found = []
    for item in keys:
        pairs = sorted(counts.get(item.key, []), key=lambda p: (-p[1], p[0] or ""))
        total = sum(c for _, c in pairs)
        found.append(
            Chart(
                item,
                total,
                [CategoryCount(name, count, 100 * count / total) for name, count in pairs],
            )
        )
    return found


async def runs(
    repo: Repository,
    flow_uuid: str,
    wanted: ResultFilter,
    *,
    limit: int | None = PAGE_SIZE,
    offset: int = 0,
) -> tuple[int, list[RunRow]]:
    """The matching runs, newest first, with their results; and how many match in all."""
    conditions = [*_run_conditions(repo.org, flow_uuid, wanted), *_category_condition(wanted)]
    base = select(m.Run.id).join(m.Contact, m.Contact.id == m.Run.contact_id).where(*conditions)
    async with repo.sessions() as db:
        total = await db.scalar(select(func.count()).select_from(base.subquery()))
        rows = await db.execute(
            select(m.Run, m.Contact.uuid, m.Contact.name, m.Contact.urn)
            .join(m.Contact, m.Contact.id == m.Run.contact_id)
            .where(*conditions)
            .order_by(m.Run.id.desc())
            .limit(limit)
            .offset(offset)
        )
        found = [
            RunRow(run.uuid, run.status, run.created_at, run.exited_at, uuid, name, urn)
            for run, uuid, name, urn in rows
        ]
        by_uuid = {row.uuid: row for row in found}
        uuids = list(by_uuid)
        # In slices: a database takes only so many parameters in one statement.
        for begin in range(0, len(uuids), 500):
            for result in await db.scalars(
                select(m.FlowResult).where(m.FlowResult.run_uuid.in_(uuids[begin : begin + 500]))
            ):
                by_uuid[result.run_uuid].results[result.key] = result
    return int(total or 0), found


async def result_rows(
    repo: Repository, flow_uuid: str, wanted: ResultFilter
) -> list[dict[str, Any]]:
    """One line per saved result (the ``results`` layout), oldest first."""
    fr = m.FlowResult
    query = (
        select(fr, m.Contact.uuid, m.Contact.urn)
        .join(m.Contact, m.Contact.id == fr.contact_id)
        .where(fr.flow_uuid == flow_uuid, fr.organization_id == repo.org)
        .order_by(fr.id)
    )
    if wanted.since or wanted.until or wanted.category:
        # Filtered by their run; unfiltered, results whose run is gone are listed too.
        query = query.join(m.Run, m.Run.uuid == fr.run_uuid).where(
            *_dates(wanted), *_category_condition(wanted)
        )
    async with repo.sessions() as db:
        rows = await db.execute(query)
        return [
            {
                "contact": contact_uuid,
                "urn": urn,
                "run": result.run_uuid,
                "key": result.key,
                "name": result.name,
                "input": result.input,
                "value": result.value,
                "category": result.category,
                "data": result.data,
                "created_at": result.created_at.isoformat() if result.created_at else None,
                "updated_at": result.updated_at.isoformat() if result.updated_at else None,
            }
            for result, contact_uuid, urn in rows
        ]


def run_columns(keys: Sequence[ResultKey]) -> list[str]:
    columns = ["run", "contact", "name", "urn", "started", "status", "ended"]
    for item in keys:
        columns += [item.name, f"{item.name} (category)"]
    return columns


def run_lines(
    keys: Sequence[ResultKey], rows: Sequence[RunRow], *, typed: bool
) -> list[dict[str, Any]]:
    """The runs as spreadsheet lines; ``typed`` keeps date-times as such (XLSX)."""

    def when(value: datetime | None) -> Any:
        if value is None:
            return ""
        return value if typed else value.isoformat()

    lines = []
    for row in rows:
        line: dict[str, Any] = {
            "run": row.uuid,
            "contact": row.contact_uuid,
            "name": row.contact_name or "",
            "urn": row.urn,
            "started": when(row.created_at),
            "status": row.status,
            "ended": when(row.exited_at),
        }
        for item in keys:
            result = row.results.get(item.key)
            line[item.name] = result.value if result else ""
            line[f"{item.name} (category)"] = (result.category or "") if result else ""
        lines.append(line)
    return lines


async def download(
    repo: Repository, flow_uuid: str, wanted: ResultFilter, *, kind: str, layout: Layout
) -> tuple[bytes | str, str]:
    """The file's content and media type: ``kind`` is csv or xlsx."""
    if layout == "results":
        columns, lines = RESULT_COLUMNS, await result_rows(repo, flow_uuid, wanted)
    else:
        keys = await result_keys(repo, flow_uuid)
        _, found = await runs(repo, flow_uuid, wanted, limit=None)
        columns, lines = run_columns(keys), run_lines(keys, found, typed=kind == "xlsx")
    if kind == "xlsx":
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return xlsx_bytes("Runs" if layout == "runs" else "Results", columns, lines), media
    return csv_text(columns, lines), "text/csv; charset=utf-8"


async def summary(repo: Repository, flow_uuid: str, wanted: ResultFilter) -> dict[str, Any]:
    """What the page's header and charts show, as JSON."""
    keys = await result_keys(repo, flow_uuid)
    stats = (await flow_stats(repo, flow_uuid)).get(flow_uuid, FlowStats())
    total, _ = await runs(repo, flow_uuid, wanted, limit=0)
    return {
        "flow": flow_uuid,
        **stats.json(),
        "matching_runs": total,
        "results": [
            {
                "key": chart.key.key,
                "name": chart.key.name,
                "total": chart.total,
                "categories": [
                    {"name": c.name, "count": c.count, "percent": round(c.percent, 1)}
                    for c in chart.categories
                ],
            }
            for chart in await charts(repo, flow_uuid, wanted, keys)
        ],
    }
