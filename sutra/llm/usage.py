"""What LLM calls cost, who made them, and whether a budget allows the next one.

Every call is one :class:`~sutra.store.models.LLMUsage` row: organisation, flow, contact,
provider, model, tokens, latency and cost (USD, from the price table at the time of the call).
Budgets are checked before a call against what is stored: an organisation's spend this calendar
month and a contact's tokens today (both UTC). Calls running at the same moment each see the
total before the others finish, so a cap can be overrun by the calls already in flight.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import String, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from sutra.config import LLMPrice
from sutra.llm.base import Usage
from sutra.store import models as m

GroupBy = Literal["flow", "contact", "model", "day"]
GROUPS: tuple[GroupBy, ...] = ("flow", "contact", "model", "day")


class utc_day(FunctionElement[str]):
    """A stored timestamp's UTC day as ``YYYY-MM-DD``, on both back ends (budgets count UTC
    days and months, so the report does too)."""

    type = String()
    inherit_cache = True


@compiles(utc_day)
def _utc_day_sqlite(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps UTC timestamps as text, "YYYY-MM-DD HH:MM:SS...".
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 10)"


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    # Not the session's time zone, whatever the server is set to.
    inner = compiler.process(element.clauses, **kw)
    return f"to_char(({inner}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


def price_for(model: str, prices: Mapping[str, LLMPrice]) -> LLMPrice | None:
    """The price of ``model``: its own entry, else that of its longest listed prefix.

    Servers answer with dated names (``gpt-4o-2024-08-06``), and ``gpt-4o-mini`` must not be
    billed as ``gpt-4o``.

    >>> prices = {"gpt-4o": LLMPrice(prompt=2.5, completion=10), "gpt-4o-mini": LLMPrice(
    ...     prompt=0.15, completion=0.6)}
    >>> price_for("gpt-4o-mini-2024-07-18", prices).prompt
    0.15
    >>> price_for("gpt-4o-2024-08-06", prices).completion
    10.0
    >>> price_for("llama3", prices) is None
    True
    """
    if model in prices:
        return prices[model]
    matches = [name for name in prices if model.startswith(name)]
    return prices[max(matches, key=len)] if matches else None


def cost_of(usage: Usage, prices: Mapping[str, LLMPrice]) -> float:
    """USD for one call; models missing from the table (local ones included) cost 0.

    >>> u = Usage("openai", "gpt-4o", prompt_tokens=1000, completion_tokens=500, latency_ms=1)
    >>> cost_of(u, {"gpt-4o": LLMPrice(prompt=2.5, completion=10)})
    0.0075
    """
    price = price_for(usage.model, prices)
    if price is None:
        return 0.0
    tokens = (usage.prompt_tokens * price.prompt + usage.completion_tokens * price.completion) / 1e6
    return tokens + usage.audio_seconds / 60 * price.audio_minute


@dataclass(frozen=True)
class Limits:
    # USD per organisation and calendar month (UTC).
    monthly_budget: float | None = None
    # Prompt + completion tokens per contact and day (UTC).
    contact_daily_tokens: int | None = None

    @classmethod
    def of(cls, org_settings: Mapping[str, Any], *, monthly: Any, daily: Any) -> Limits:
        """The platform limits, overridden by the organisation's ``llm_monthly_budget`` and
        ``llm_contact_daily_tokens`` settings (``null`` there lifts the limit)."""
        if "llm_monthly_budget" in org_settings:
            monthly = org_settings["llm_monthly_budget"]
        if "llm_contact_daily_tokens" in org_settings:
            daily = org_settings["llm_contact_daily_tokens"]
        return cls(
            monthly_budget=None if monthly is None else float(monthly),
            contact_daily_tokens=None if daily is None else int(daily),
        )


def month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


class UsageStore:
    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self.db = db

    async def record(
        self,
        usage: Usage,
        *,
        organization_id: int,
        contact_id: int | None,
        flow_uuid: str | None,
        function: str | None,
        cost: float,
    ) -> None:
        async with self.db.begin() as session:
            session.add(
                m.LLMUsage(
                    organization_id=organization_id,
                    contact_id=contact_id,
                    flow_uuid=flow_uuid,
                    function=function,
                    provider=usage.provider,
                    model=usage.model,
                    prompt_tokens=usage.prompt_tokens,
                    completion_tokens=usage.completion_tokens,
                    latency_ms=usage.latency_ms,
                    audio_seconds=usage.audio_seconds,
                    cost=cost,
                )
            )

    async def exceeded(
        self,
        limits: Limits,
        *,
        organization_id: int,
        contact_id: int | None,
        now: datetime | None = None,
    ) -> str | None:
        """Which limit is used up (a sentence for the logs), or ``None``."""
        now = now or datetime.now(UTC)
        async with self.db() as session:
            if limits.monthly_budget is not None:
                spent = await session.scalar(
                    select(func.coalesce(func.sum(m.LLMUsage.cost), 0.0)).where(
                        m.LLMUsage.organization_id == organization_id,
                        m.LLMUsage.created_at >= month_start(now),
                    )
                )
                if float(spent or 0) >= limits.monthly_budget:
                    return (
                        f"organisation {organization_id} spent ${float(spent or 0):.4f} this "
                        f"month, budget ${limits.monthly_budget:g}"
                    )
            if limits.contact_daily_tokens is not None and contact_id is not None:
                used = await session.scalar(
                    select(
                        func.coalesce(
                            func.sum(m.LLMUsage.prompt_tokens + m.LLMUsage.completion_tokens), 0
                        )
                    ).where(
                        m.LLMUsage.organization_id == organization_id,
                        m.LLMUsage.contact_id == contact_id,
                        m.LLMUsage.created_at >= day_start(now),
                    )
                )
                if int(used or 0) >= limits.contact_daily_tokens:
                    return (
                        f"contact {contact_id} used {int(used or 0)} tokens today, "
                        f"cap {limits.contact_daily_tokens}"
                    )
        return None

    async def report(
        self,
        *,
        since: datetime | None = None,
        by: GroupBy | None = None,
        organization_id: int | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """Totals (and per-group totals) of the stored calls, as plain JSON-ready data.

        Groups come most expensive first (by day: in date order); ``limit`` keeps the first.
        ``until`` is exclusive.
        """
        u = m.LLMUsage
        measures = (
            func.count(u.id).label("calls"),
            func.coalesce(func.sum(u.prompt_tokens), 0).label("prompt_tokens"),
            func.coalesce(func.sum(u.completion_tokens), 0).label("completion_tokens"),
            func.coalesce(func.sum(u.cost), 0.0).label("cost"),
            func.coalesce(func.avg(u.latency_ms), 0.0).label("avg_latency_ms"),
            func.coalesce(func.sum(u.audio_seconds), 0.0).label("audio_seconds"),
        )
        conditions = []
        if since is not None:
            conditions.append(u.created_at >= since)
        if until is not None:
            conditions.append(u.created_at < until)
        if organization_id is not None:
            conditions.append(u.organization_id == organization_id)
        async with self.db() as session:
            total = (await session.execute(select(*measures).where(*conditions))).one()
            groups: list[dict[str, Any]] = []
            if by is not None:
                keys, joined = _group(by)
                query = select(*keys, *measures).select_from(joined).where(*conditions)
                order = keys if by == "day" else [func.sum(u.cost).desc(), *keys]
                query = query.group_by(*keys).order_by(*order).limit(limit)
                for row in (await session.execute(query)).mappings():
                    groups.append(_totals(row, keys=[k.name for k in keys]))
        return {
            "since": since.isoformat() if since else None,
            "organization_id": organization_id,
            "by": by,
            "total": _totals(total._mapping, keys=[]),
            "groups": groups,
        }


def _group(by: GroupBy) -> tuple[list[Any], Any]:
    u = m.LLMUsage
    if by == "day":
        return [utc_day(u.created_at).label("day")], u
    if by == "model":
        return [u.provider.label("provider"), u.model.label("model")], u
    if by == "flow":
        joined = u.__table__.outerjoin(
            m.Flow.__table__,
            (m.Flow.uuid == u.flow_uuid) & (m.Flow.organization_id == u.organization_id),
        )
        return [u.flow_uuid.label("flow_uuid"), m.Flow.name.label("flow")], joined
    if by == "contact":
        joined = u.__table__.outerjoin(m.Contact.__table__, m.Contact.id == u.contact_id)
        return [
            u.contact_id.label("contact_id"),
            m.Contact.urn.label("urn"),
            m.Contact.name.label("name"),
        ], joined
    raise ValueError(f"cannot group usage by {by!r}: use one of {', '.join(GROUPS)}")


def _totals(row: Mapping[Any, Any], *, keys: list[str]) -> dict[str, Any]:
    prompt, completion = int(row["prompt_tokens"]), int(row["completion_tokens"])
    return {
        **{key: row[key] for key in keys},
        "calls": int(row["calls"]),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "cost": round(float(row["cost"]), 6),
        "avg_latency_ms": round(float(row["avg_latency_ms"]), 1),
        "audio_seconds": round(float(row["audio_seconds"]), 1),
    }
