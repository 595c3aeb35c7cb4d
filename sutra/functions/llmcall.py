"""One LLM call from a webhook function: budgets, provider choice, the call, usage records.

Every LLM-backed function goes through :func:`complete`, so that none of them can skip the
budget check or forget to record what it spent.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from dataclasses import dataclass
from typing import Any

from sutra.config import get_settings
from sutra.functions.registry import FunctionCall, FunctionError
from sutra.llm.base import Completion, LLMError, Usage
from sutra.llm.usage import Limits, UsageStore, cost_of
from sutra.orgs import DEFAULT_ORG
from sutra.orgs.fairshare import fair_share
from sutra.runtime.working import slot
from sutra.store import models as m

log = logging.getLogger(__name__)

BUDGET_EXCEEDED = "budget exceeded"


@dataclass(frozen=True)
class Caller:
    """Who a call is made for, from the fields the platform adds to every function call."""

    organization_id: int | None
    contact_id: int | None
    flow_uuid: str | None

    @classmethod
    def of(cls, call: FunctionCall) -> Caller:
        flow = call.fields.get("flow_id")
        return cls(
            organization_id=_int(call.fields.get("organization_id")),
            contact_id=_int(call.fields.get("contact_id")),
            flow_uuid=str(flow) if flow else None,
        )


def _int(value: Any) -> int | None:
    """An id as stored: an int, or text of one; anything else is no id.

    >>> _int(3), _int("12"), _int("sim:x"), _int(None), _int(True)
    (3, 12, None, None, None)
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


# Organisation settings change rarely and every LLM call reads them: kept a second, like flows.
SETTINGS_TTL = 1.0
_cached: weakref.WeakKeyDictionary[Any, dict[int, tuple[float, asyncio.Task[dict[str, Any]]]]] = (
    weakref.WeakKeyDictionary()
)


async def org_settings(call: FunctionCall, caller: Caller) -> dict[str, Any]:
    """The organisation's stored settings, overridden by ``Services.settings``."""
    settings: dict[str, Any] = {}
    db = call.services.db
    if db is not None and caller.organization_id is not None:
        settings.update(await _stored_settings(db, caller.organization_id))
    settings.update(call.services.settings)
    if caller.organization_id is not None and caller.organization_id != DEFAULT_ORG:
        # The environment's key is the default organisation's, not everybody's.
        settings.setdefault("platform_key", False)
    return settings


async def _stored_settings(db: Any, organization_id: int) -> dict[str, Any]:
    # One read per second however many calls are in flight: they all wait for the same one.
    now = time.monotonic()
    per_org = _cached.setdefault(db, {})
    hit = per_org.get(organization_id)
    if hit is None or now - hit[0] >= SETTINGS_TTL:
        hit = (now, asyncio.ensure_future(_read_settings(db, organization_id)))
        per_org[organization_id] = hit
    try:
        return await asyncio.shield(hit[1])
    except Exception:
        per_org.pop(organization_id, None)
        raise


async def _read_settings(db: Any, organization_id: int) -> dict[str, Any]:
    async with db() as session:
        org = await session.get(m.Organization, organization_id)
        return dict(org.settings) if org is not None and isinstance(org.settings, dict) else {}


async def check_budget(call: FunctionCall, *, function: str) -> dict[str, Any]:
    """Failure ("budget exceeded") when the caller's budget is used up; else the organisation's
    settings, for choosing the provider."""
    config = get_settings()
    caller = Caller.of(call)
    settings = await org_settings(call, caller)
    db = call.services.db
    if db is not None and caller.organization_id is not None:
        limits = Limits.of(
            settings, monthly=config.llm_monthly_budget, daily=config.llm_contact_daily_tokens
        )
        why = await UsageStore(db).exceeded(
            limits, organization_id=caller.organization_id, contact_id=caller.contact_id
        )
        if why is not None:
            log.info("%s refused for flow %s: %s", function, caller.flow_uuid, why)
            raise FunctionError(BUDGET_EXCEEDED, status=429)
    return settings


async def spent(call: FunctionCall, usage: Usage, *, function: str) -> None:
    """Count a call's usage: in ``call.usage`` (the webhook log) and the usage table."""
    caller = Caller.of(call)
    call.usage.append(usage)
    db = call.services.db
    if db is not None and caller.organization_id is not None and not call.services.defer_usage:
        await UsageStore(db).record(
            usage,
            organization_id=caller.organization_id,
            contact_id=caller.contact_id,
            flow_uuid=caller.flow_uuid,
            function=function,
            cost=cost_of(usage, get_settings().llm_prices),
        )


async def complete(
    call: FunctionCall,
    messages: list[dict[str, Any]],
    *,
    function: str,
    model: str,
    temperature: float = 0.0,
    response_format: dict[str, Any] | None = None,
    max_tokens: int | None = None,
) -> Completion:
    """Ask the organisation's provider; Failure ("budget exceeded") without asking when a budget
    is used up. The usage goes to ``call.usage`` (the webhook log) and the usage table."""
    settings = await check_budget(call, function=function)
    try:
        provider = call.services.llm
        if provider is None:
            # Imported here so that loading the function registry never pulls in the SDKs.
            from sutra.llm.select import get_provider

            provider = get_provider(settings, get_settings())
        config = get_settings()
        share = fair_share(
            "llm", config.llm_org_concurrency, config.llm_org_burst, config.llm_max_concurrent
        )
        # A call with no organisation (a CLI tool) shares the default organisation's part.
        async with slot(share, Caller.of(call).organization_id or 1):
            completion = await provider.complete(
                messages,
                model=model,
                temperature=temperature,
                response_format=response_format,
                max_tokens=max_tokens,
            )
    except LLMError as exc:
        raise FunctionError(exc.reason, status=exc.status) from exc
    await spent(call, completion.usage, function=function)
    return completion
