"""AI usage (``/usage`` and ``GET /api/v1/usage``): LLM calls, tokens, cost and latency per day,
flow, model and contact, the budget left this month, and the latest failed LLM calls.

The numbers are ``sutra usage``'s (:meth:`sutra.llm.usage.UsageStore.report`) over the chosen
UTC days; the budget is the one the calls are checked against (:class:`sutra.llm.usage.Limits`:
``SUTRA_LLM_MONTHLY_BUDGET``, or the organisation's ``llm_monthly_budget``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import and_, or_, select

from sutra.config import get_settings
from sutra.llm.usage import Limits, UsageStore, month_start
from sutra.store import models as m
from sutra.web.auth import PageUser, render
from sutra.web.console import Mirror
from sutra.web.pages import page
from sutra.web.state import AppState, app_state

State = Annotated[AppState, Depends(app_state)]
pages = APIRouter(include_in_schema=False)
routes = Mirror("usage")
# The functions that ask an LLM: their failures (a budget refusal included, which makes no
# call and so has no provider) are the ones this page lists.
LLM_FUNCTIONS = ("parse_via_chat_gpt", "parse_via_gpt_vision")
DEFAULT_DAYS = 30
MAX_DAYS = 400
TOP_CONTACTS = 20
FAILURES = 20


class Period(BaseModel):
    since: date | None = Field(default=None, description="First UTC day; default 29 days ago")
    until: date | None = Field(default=None, description="Last UTC day (included); default today")

    @field_validator("since", "until", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        # A form's empty date field sends "": no date.
        return None if value == "" else value

    @model_validator(mode="after")
    def _check(self) -> Period:
        first, last = self.days
        if last < first:
            raise ValueError("until: the period ends before it starts (since)")
        if (last - first).days >= MAX_DAYS:
            raise ValueError(f"since: at most {MAX_DAYS} days at once")
        return self

    @property
    def days(self) -> tuple[date, date]:
        last = self.until or datetime.now(UTC).date()
        return self.since or last - timedelta(days=DEFAULT_DAYS - 1), last


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


async def report(state: AppState, period: Period) -> dict[str, Any]:
    repo = state.repo
    store = UsageStore(repo.sessions)
    first, last = period.days
    window = {
        "since": _midnight(first),
        "until": _midnight(last + timedelta(days=1)),
        "organization_id": repo.org,
    }
    total = (await store.report(**window))["total"]
    by_day = {row["day"]: row for row in (await store.report(**window, by="day"))["groups"]}
    empty = {k: 0 for k in total if k != "day"}
    days = []
    day = first
    while day <= last:
        days.append({**empty, **by_day.get(day.isoformat(), {}), "day": day.isoformat()})
        day += timedelta(days=1)
    flows = (await store.report(**window, by="flow"))["groups"]
    models = (await store.report(**window, by="model"))["groups"]
    contacts = (await store.report(**window, by="contact", limit=TOP_CONTACTS))["groups"]
    await _contact_uuids(state, contacts)
    return {
        "since": first.isoformat(),
        "until": last.isoformat(),
        "total": total,
        "days": days,
        "flows": flows,
        "models": models,
        "contacts": contacts,
        "budget": await budget(state, store),
        "failures": await failures(state),
    }


async def _contact_uuids(state: AppState, rows: list[dict[str, Any]]) -> None:
    ids = [row["contact_id"] for row in rows if row.get("contact_id")]
    found: dict[int, str] = {}
    if ids:
        async with state.repo.sessions() as db:
            rows_found = await db.execute(
                select(m.Contact.id, m.Contact.uuid).where(m.Contact.id.in_(ids))
            )
            found = {id_: uuid for id_, uuid in rows_found}
    for row in rows:
        row["contact"] = found.get(row.get("contact_id") or 0)


async def budget(state: AppState, store: UsageStore) -> dict[str, Any]:
    """The monthly budget as the calls are checked against it, and what is left of it."""
    config = get_settings()
    async with state.repo.sessions() as db:
        org = await db.get(m.Organization, state.repo.org)
        settings = dict(org.settings or {}) if org is not None else {}
    limits = Limits.of(
        settings, monthly=config.llm_monthly_budget, daily=config.llm_contact_daily_tokens
    )
    now = datetime.now(UTC)
    spent = (await store.report(since=month_start(now), organization_id=state.repo.org))["total"]
    monthly = limits.monthly_budget
    return {
        "month": now.strftime("%Y-%m"),
        "monthly_budget": monthly,
        "spent_this_month": spent["cost"],
        "calls_this_month": spent["calls"],
        "left": None if monthly is None else round(max(0.0, monthly - spent["cost"]), 6),
        "used_percent": None
        if not monthly
        else round(min(100.0, 100 * spent["cost"] / monthly), 1),
        "contact_daily_tokens": limits.contact_daily_tokens,
        "source": "organisation"
        if "llm_monthly_budget" in settings
        else "SUTRA_LLM_MONTHLY_BUDGET",
    }


async def failures(state: AppState, limit: int = FAILURES) -> list[dict[str, Any]]:
    """The latest LLM calls that failed, newest first."""
    log = m.WebhookLog
    query = (
        select(log, m.Contact.uuid, m.Contact.urn, m.Flow.name)
        .outerjoin(m.Contact, m.Contact.id == log.contact_id)
        .outerjoin(
            m.Flow,
            and_(m.Flow.uuid == log.flow_uuid, m.Flow.organization_id == log.organization_id),
        )
        .where(
            log.organization_id == state.repo.org,
            log.error.is_not(None),
            or_(
                log.llm_provider.is_not(None),
                and_(log.method == "FUNCTION", log.url.in_(LLM_FUNCTIONS)),
            ),
        )
        .order_by(log.id.desc())
        .limit(limit)
    )
    async with state.repo.sessions() as db:
        rows = await db.execute(query)
        return [
            {
                "created_at": row.created_at.isoformat() if row.created_at else None,
                "function": row.url if row.method == "FUNCTION" else f"{row.method} {row.url}",
                "flow": row.flow_uuid,
                "flow_name": flow_name,
                "contact": contact_uuid,
                "urn": urn,
                "result_name": row.result_name,
                "model": row.llm_model,
                "status_code": row.status_code,
                "error": row.error,
                "duration_ms": row.duration_ms,
            }
            for row, contact_uuid, urn, flow_name in rows
        ]


@routes.route("GET", "/usage")
async def usage_json(state: State, period: Annotated[Period, Query()]) -> dict[str, Any]:
    """LLM calls, tokens, cost (USD) and average latency over UTC days: in total, per day, per
    flow, per model and for the top contacts; the budget left this month; the latest failures."""
    return await report(state, period)


def chart(days: list[dict[str, Any]], measure: str) -> dict[str, Any]:
    """Bars for an inline SVG: one per day, scaled to the busiest day."""
    # Room above the busiest day's bar.
    width, height, headroom = 600.0, 150.0, 10.0
    top = max((float(d[measure]) for d in days), default=0.0)
    peak = top or 1.0
    step = width / max(1, len(days))
    bars = []
    for index, day in enumerate(days):
        value = float(day[measure])
        tall = (height - headroom) * value / peak
        bars.append(
            {
                "x": round(index * step + step * 0.15, 2),
                "y": round(height - tall, 2),
                "width": round(step * 0.7, 2),
                "height": round(tall, 2),
                "day": day,
            }
        )
    labels = [bars[0], bars[len(bars) // 2], bars[-1]] if bars else []
    return {"bars": bars, "width": width, "height": height, "top": top, "labels": labels}


@pages.get("/usage")
async def usage_page(
    user: PageUser, state: State, period: Annotated[Period, Query()]
) -> HTMLResponse:
    data = await report(state, period)
    html = render(
        "usage.html",
        user=user,
        data=data,
        calls=chart(data["days"], "calls"),
        cost=chart(data["days"], "cost"),
        top_cost=max((row["cost"] for row in data["flows"]), default=0.0) or 1.0,
    )
    return page(html)


def install(app: FastAPI) -> None:
    routes.install(app)
    app.include_router(pages)
