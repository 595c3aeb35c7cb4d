"""Alerts: the failures staff must know about, newest first, in one list.

* **dead letters**: inbound messages Sutra could not handle (status ``failed``, with the
  reason; :mod:`sutra.web.failures`), which staff can hand back to the flow from here;
* **failed sends**: outbound messages the channel or the provider refused (status ``failed``
  with the provider's error);
* **LLM errors** and **webhook errors**: calls a flow made that failed (webhook logs with an
  error), the LLM's and the functions' apart from plain HTTP webhooks;
* **budget reached**: an LLM call refused because an organisation's or a contact's budget was
  used up.

The provider's words are for staff: the contact only ever gets what the flow sends on its
Failure branch. ``GET /alerts`` is the page; the nav shows how many came since the signed-in
person last opened it (``GET /alerts/count``). ``GET /api/v1/alerts`` is the same list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse
from sqlalchemy import func, or_, select, update

from sutra.functions.llmcall import BUDGET_EXCEEDED
from sutra.redact import redact_url
from sutra.store import models as m
from sutra.store.repository import Repository
from sutra.web import chatstore, failures
from sutra.web.api import require_token
from sutra.web.auth import ApiUser, PageUser, SignedIn, render
from sutra.web.chats import Uuid
from sutra.web.pages import page
from sutra.web.state import AppState, app_state

router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_token)], tags=["alerts"])
State = Annotated[AppState, Depends(app_state)]

Kind = Literal["dead_letter", "send_failed", "llm_error", "webhook_error", "budget"]
KINDS: dict[str, str] = {
    "dead_letter": "Not handled",
    "send_failed": "Not sent",
    "llm_error": "LLM error",
    "webhook_error": "Webhook error",
    "budget": "Budget reached",
}
# The nav's count stops here ("99+"): counting further costs a scan for nothing.
COUNT_CAP = 100


def install(app: FastAPI) -> None:
    app.include_router(api_router)
    app.include_router(router)


@dataclass(frozen=True)
class Alert:
    kind: str
    at: datetime
    title: str
    # What failed: the message's text, the call's target.
    text: str
    error: str
    contact: m.Contact | None
    message_uuid: str | None = None
    flow_uuid: str | None = None
    # A dead letter still failed can be handed back to the flow.
    replayable: bool = False


def _call_kind(log: m.WebhookLog) -> str:
    if log.error == BUDGET_EXCEEDED:
        return "budget"
    return "llm_error" if log.method == "FUNCTION" or log.llm_provider else "webhook_error"


_CALL_TITLES = {
    "budget": "An LLM call was refused: the budget is used up",
    "llm_error": "An LLM call failed",
    "webhook_error": "A webhook failed",
}


async def alerts(
    repo: Repository, *, limit: int = 100, kind: str | None = None, since: datetime | None = None
) -> list[Alert]:
    """The newest ``limit`` alerts (of one ``kind``), newest first."""
    out: list[Alert] = []
    async with repo.sessions() as db:
        if kind in (None, "dead_letter", "send_failed"):
            query = (
                select(m.Message, m.Contact)
                .join(m.Contact, m.Contact.id == m.Message.contact_id)
                .where(
                    m.Message.organization_id == repo.org,
                    m.Message.status == m.MessageStatus.FAILED.value,
                )
                .order_by(m.Message.updated_at.desc(), m.Message.id.desc())
                .limit(limit)
            )
            if kind is not None:
                direction = "in" if kind == "dead_letter" else "out"
                query = query.where(m.Message.direction == direction)
            if since is not None:
                query = query.where(m.Message.updated_at > since)
            for msg, who in await db.execute(query):
                inbound = msg.direction == m.MessageDirection.IN.value
                out.append(
                    Alert(
                        kind="dead_letter" if inbound else "send_failed",
                        at=msg.updated_at,
                        title="A message could not be handled"
                        if inbound
                        else "A message could not be sent",
                        text=msg.text,
                        error=msg.error or "no reason was given",
                        contact=who,
                        message_uuid=msg.uuid,
                        flow_uuid=msg.flow_uuid,
                        replayable=inbound,
                    )
                )
        if kind in (None, "llm_error", "webhook_error", "budget"):
            query = (
                select(m.WebhookLog, m.Contact)
                .outerjoin(m.Contact, m.Contact.id == m.WebhookLog.contact_id)
                .where(m.WebhookLog.organization_id == repo.org, m.WebhookLog.error.is_not(None))
                .order_by(m.WebhookLog.id.desc())
                .limit(limit)
            )
            if kind == "budget":
                query = query.where(m.WebhookLog.error == BUDGET_EXCEEDED)
            elif kind is not None:
                is_llm = or_(
                    m.WebhookLog.method == "FUNCTION", m.WebhookLog.llm_provider.is_not(None)
                )
                query = query.where(
                    m.WebhookLog.error != BUDGET_EXCEEDED,
                    is_llm if kind == "llm_error" else ~is_llm,
                )
            if since is not None:
                query = query.where(m.WebhookLog.created_at > since)
            for log, who in await db.execute(query):
                found = _call_kind(log)
                out.append(
                    Alert(
                        kind=found,
                        at=log.created_at,
                        title=_CALL_TITLES[found],
                        text=f"{log.method} {redact_url(log.url)}",
                        error=log.error or "",
                        contact=who,
                        flow_uuid=log.flow_uuid,
                    )
                )
    out.sort(key=lambda a: a.at, reverse=True)
    return out[:limit]


async def count_since(repo: Repository, since: datetime | None) -> int:
    """How many alerts came after ``since`` (all when None), up to :data:`COUNT_CAP`."""
    async with repo.sessions() as db:
        failed = select(m.Message.id).where(
            m.Message.organization_id == repo.org,
            m.Message.status == m.MessageStatus.FAILED.value,
        )
        calls = select(m.WebhookLog.id).where(
            m.WebhookLog.organization_id == repo.org, m.WebhookLog.error.is_not(None)
        )
        if since is not None:
            failed = failed.where(m.Message.updated_at > since)
            calls = calls.where(m.WebhookLog.created_at > since)
        total = 0
        for query in (failed, calls):
            capped = query.limit(COUNT_CAP).subquery()
            total += await db.scalar(select(func.count()).select_from(capped)) or 0
    return min(total, COUNT_CAP)


async def _seen_at(state: AppState, user: SignedIn) -> datetime | None:
    async with state.repo.sessions() as db:
        seen: datetime | None = await db.scalar(
            select(m.User.alerts_seen_at).where(m.User.id == user.user_id)
        )
        return seen


async def _mark_seen(state: AppState, user: SignedIn, at: datetime) -> None:
    async with state.repo.sessions.begin() as db:
        await db.execute(update(m.User).where(m.User.id == user.user_id).values(alerts_seen_at=at))


async def _flow_names(repo: Repository, found: list[Alert]) -> dict[str, str]:
    uuids = {a.flow_uuid for a in found if a.flow_uuid}
    if not uuids:
        return {}
    async with repo.sessions() as db:
        rows = await db.execute(
            select(m.Flow.uuid, m.Flow.name).where(
                m.Flow.organization_id == repo.org, m.Flow.uuid.in_(uuids)
            )
        )
        return {str(uuid): str(name) for uuid, name in rows}


def _contact_json(who: m.Contact | None) -> dict[str, Any] | None:
    if who is None:
        return None
    return {
        "uuid": who.uuid,
        "name": who.name,
        "urn": who.urn,
        "phone": chatstore.phone_of(who),
    }


def alert_json(alert: Alert, flows: dict[str, str]) -> dict[str, Any]:
    return {
        "kind": alert.kind,
        "title": alert.title,
        "at": alert.at.isoformat(),
        "text": alert.text,
        "error": alert.error,
        "contact": _contact_json(alert.contact),
        "message": alert.message_uuid,
        "flow": {"uuid": alert.flow_uuid, "name": flows.get(alert.flow_uuid)}
        if alert.flow_uuid
        else None,
    }


KindQuery = Annotated[
    Kind | None, Query(description="dead_letter, send_failed, llm_error, webhook_error, budget")
]


# --- pages -------------------------------------------------------------------------------------


@router.get("/alerts")
async def alerts_page(user: PageUser, state: State, kind: KindQuery = None) -> HTMLResponse:
    seen = await _seen_at(state, user)
    found = await alerts(state.repo, kind=kind)
    flows = await _flow_names(state.repo, found)
    await _mark_seen(state, user, m.utcnow())
    items = [
        {
            **alert_json(a, flows),
            "label": KINDS[a.kind],
            "time_text": a.at.strftime("%d %b %Y, %H:%M UTC"),
            "new": seen is None or a.at > seen,
            "who": chatstore.title_of(a.contact) if a.contact else None,
            "replayable": a.replayable,
            "snippet": chatstore.snippet(a.text),
        }
        for a in found
    ]
    html = render("alerts.html", user=user, items=items, kinds=KINDS, kind=kind)
    return page(html)


@router.get("/alerts/count")
async def alerts_count(user: ApiUser, state: State) -> dict[str, Any]:
    count = await count_since(state.repo, await _seen_at(state, user))
    return {"count": count, "more": count >= COUNT_CAP}


@router.post("/alerts/{message}/replay", status_code=202)
async def replay_from_page(message: Uuid, user: ApiUser, state: State) -> dict[str, Any]:
    """Hand a dead letter back to the flow (as ``POST /api/v1/messages/{uuid}/replay``)."""
    contact_id = await state.runner.db.run(failures._requeue, state.repo.org, message)
    if contact_id is None:
        raise HTTPException(404, f"no failed inbound message {message}")
    state.pipeline.notify(contact_id)
    return {"uuid": message, "status": "received"}


# --- REST --------------------------------------------------------------------------------------


@api_router.get("/alerts")
async def list_alerts(
    state: State,
    kind: KindQuery = None,
    since: Annotated[datetime | None, Query(description="only alerts after this time")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Dead letters, failed sends, LLM and webhook errors and budget refusals, newest first."""
    if since is not None and since.tzinfo is None:
        raise HTTPException(422, "since: give a time zone (e.g. 2025-01-31T09:00:00Z)")
    found = await alerts(state.repo, limit=limit, kind=kind, since=since)
    flows = await _flow_names(state.repo, found)
    return {"results": [alert_json(a, flows) for a in found]}
