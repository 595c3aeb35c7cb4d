"""Chats: the inbox staff answer contacts from, one contact's history, replies, take-over.

Pages (signed-in staff; the JSON routes behind them check the CSRF header):

* ``GET /chats[?q=]`` the inbox: one row per contact who wrote in, newest first, with the
  last message, its time and the unread count (inbound messages after staff last opened the
  chat); ``q`` searches names, phone numbers and message text. ``GET /chats/inbox`` is the
  list again, for the page to poll.
* ``GET /chats/{contact uuid}`` the whole history, in and out: delivery status, the flow (or
  the staff member) that sent each message, and under a GPT answer the call that produced it,
  folded. ``GET /chats/{uuid}/poll?after=&since=`` gives what changed, every 2.5 s.
* ``POST /chats/{uuid}/messages`` a reply; ``POST /chats/{uuid}/templates`` an approved
  WhatsApp template with its variables; ``POST /chats/{uuid}/takeover`` and ``/handback``;
  ``POST /chats/messages/{message uuid}/labels`` and ``DELETE …/labels/{label}``.

The same actions under ``/api/v1`` (bearer token): ``GET /api/v1/chats``, ``GET
/api/v1/chats/{uuid}``, ``POST /api/v1/chats/{uuid}/messages|templates|takeover|handback|read``,
``POST /api/v1/messages/{uuid}/labels`` and ``DELETE /api/v1/messages/{uuid}/labels/{label}``.

A reply is stored first, as an outbound message ``queued``, and sent by the pipeline through
the contact's channel as it sends any message, so it is durable, in order with the flow's
messages, and its delivery statuses arrive as theirs do. WhatsApp takes free text only within
24 hours of the contact's last message: after that a reply is refused (409) and the page says
so, offering the organisation's approved templates (:mod:`sutra.web.templatestore`) instead.
Taking over pauses the flows for the contact (:meth:`sutra.runtime.runner.Runner.handle`):
its messages are stored and shown, never given to a flow, keywords included; handing back marks
what came meanwhile as handled, so nothing is replayed into the flow.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query
from fastapi.responses import HTMLResponse
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import select

from sutra.channels import templates
from sutra.engine.session import Contact as EngineContact
from sutra.redact import redact_url
from sutra.store import models as m
from sutra.web import chatstore, templatestore, ticketstore
from sutra.web.api import require_token
from sutra.web.attachments import typed
from sutra.web.auth import TEMPLATES, ApiUser, PageUser, render
from sutra.web.pages import page
from sutra.web.state import AppState, app_state

router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_token)], tags=["chats"])
State = Annotated[AppState, Depends(app_state)]

# What a page shows of a history at once; older messages are a link away.
PAGE_SIZE = 200
# A poll's "since" goes back this far: a change is stamped when its transaction began, and may
# commit a little later. Seeing a change twice is harmless (the page replaces the message).
SINCE_MARGIN = timedelta(seconds=5)
# What a call's request or response shows, folded, before it is cut.
CALL_CHARS = 20_000
MAX_ID = 2**63 - 1


def install(app: FastAPI) -> None:
    app.include_router(api_router)
    app.include_router(router)


# --- input -------------------------------------------------------------------------------------


def _text(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode text") from None
    return value


def _label(value: str) -> str:
    return " ".join(_text(value).split())


class ReplyIn(BaseModel):
    # WhatsApp's own limit on a text message.
    text: Annotated[str, Field(max_length=4096), AfterValidator(_text)]


class TemplateIn(BaseModel):
    """A template message: an approved template of the organisation's, by name (and language,
    when it has several), with a value for each of its body's variables, in order."""

    template: Annotated[str, Field(min_length=1, max_length=512), AfterValidator(_text)]
    language: Annotated[str, Field(max_length=32)] | None = None
    variables: Annotated[list[Annotated[str, Field(max_length=4096)]], Field(max_length=100)] = (
        Field(default_factory=list)
    )


class LabelIn(BaseModel):
    label: Annotated[str, Field(max_length=64), AfterValidator(_label)]


def _query(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Search = Annotated[
    str,
    Query(max_length=200, description="name, phone number or message text"),
    AfterValidator(_query),
]
# Our ids are uuid4s: anything else names nothing, and is refused before it reaches the database
# (PostgreSQL cannot even compare a text holding NUL).
Uuid = Annotated[str, Path(pattern=r"^[0-9A-Za-z-]{1,64}$", description="a uuid")]
Before = Annotated[int | None, Query(ge=1, le=MAX_ID, description="only messages older than id")]


# --- shared actions ----------------------------------------------------------------------------


async def _contact(state: AppState, uuid: str) -> m.Contact:
    found = await chatstore.contact(state.repo, uuid)
    if found is None:
        raise HTTPException(404, f"no contact {uuid}")
    return found


def _now() -> datetime:
    return m.utcnow()


async def send_reply(
    state: AppState, who: m.Contact, text: str, sent_by: dict[str, Any]
) -> m.Message:
    """Store the reply and hand it to the pipeline; the stored message, ``queued``."""
    window = chatstore.window(who, _now())
    if not window.open:
        last = _when(window.last_inbound_at) if window.last_inbound_at else "never"
        raise HTTPException(
            409,
            "outside WhatsApp's 24-hour window (the contact last wrote: "
            f"{last}): free text cannot be sent, only a template message",
        )
    channel = state.runner.channel_for(
        EngineContact(uuid=who.uuid, id=who.id, urn=who.urn, channel=who.channel)
    )
    uuid = await state.runner.db.run(
        chatstore.queue_reply, state.repo.org, who.id, text, channel, sent_by
    )
    state.pipeline.notify(who.id)
    async with state.repo.sessions() as db:
        stored = await db.scalar(select(m.Message).where(m.Message.uuid == uuid))
    assert stored is not None
    return stored


async def send_template(
    state: AppState, who: m.Contact, body: TemplateIn, sent_by: dict[str, Any]
) -> m.Message:
    """Store a template message (its text as the contact reads it) and hand it to the
    pipeline; the stored message, ``queued``. Allowed in or out of the 24-hour window."""
    try:
        found = await templatestore.find(
            state.repo.sessions, state.org, body.template, body.language or None
        )
        variables = templates.placeholders(found.body)
        values = templates.check_values(variables, body.variables)
    except templates.TemplateError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    channel = state.runner.channel_for(
        EngineContact(uuid=who.uuid, id=who.id, urn=who.urn, channel=who.channel)
    )
    if channel != "whatsapp":
        raise HTTPException(
            409,
            f"template: templates are sent on WhatsApp Cloud; this contact's channel is "
            f"{channel!r}",
        )
    template = templates.send_object(found.name, found.language, variables, values)
    text = templates.full_text(found.components, values)
    uuid = await state.runner.db.run(
        chatstore.queue_reply, state.repo.org, who.id, text, channel, sent_by, template
    )
    state.pipeline.notify(who.id)
    async with state.repo.sessions() as db:
        stored = await db.scalar(select(m.Message).where(m.Message.uuid == uuid))
    assert stored is not None
    return stored


async def take_over(state: AppState, uuid: str, by: str) -> chatstore.Handover:
    done = await state.runner.db.run(chatstore.take_over, state.repo.org, uuid, by)
    if done is None:
        raise HTTPException(404, f"no contact {uuid}")
    return done


async def hand_back(state: AppState, uuid: str) -> chatstore.Handover:
    done = await state.runner.db.run(chatstore.hand_back, state.repo.org, uuid)
    if done is None:
        raise HTTPException(404, f"no contact {uuid}")
    return done


async def change_label(
    state: AppState, message_uuid: str, label: str, *, add: bool
) -> tuple[int, list[str]]:
    done = await state.runner.db.run(
        chatstore.change_label, state.repo.org, message_uuid, label, add
    )
    if done is None:
        raise HTTPException(404, f"no message {message_uuid}")
    return done


async def _read_if_new(state: AppState, history: chatstore.History) -> None:
    """Mark the chat read when it holds inbound messages staff had not seen (no write else)."""
    seen = history.contact.chat_read_id or 0
    if any(
        e.message is not None and e.message.direction == "in" and e.message.id > seen
        for e in history.entries
    ):
        await state.runner.db.run(chatstore.mark_read, history.contact.id)


# --- the wire format ---------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _when(value: datetime | None) -> str:
    """A time as the page shows it before its script puts it in the reader's own zone."""
    return value.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC") if value else ""


def state_json(who: m.Contact, now: datetime) -> dict[str, Any]:
    window = chatstore.window(who, now)
    return {
        "taken_over": {"at": _iso(who.taken_over_at), "by": who.taken_over_by}
        if who.taken_over_at
        else None,
        "window": {
            "applies": window.applies,
            "open": window.open,
            "last_inbound_at": _iso(window.last_inbound_at),
            "closes_at": _iso(window.closes_at),
        },
    }


def contact_json(who: m.Contact, now: datetime) -> dict[str, Any]:
    return {
        "uuid": who.uuid,
        "name": who.name,
        "urn": who.urn,
        "phone": chatstore.phone_of(who),
        "last_message_at": _iso(who.last_message_at),
        **state_json(who, now),
    }


def call_json(log: m.WebhookLog) -> dict[str, Any]:
    return {
        "id": log.id,
        "method": log.method,
        "url": redact_url(log.url),
        "result_name": log.result_name,
        "status_code": log.status_code,
        "error": log.error,
        "duration_ms": log.duration_ms,
        "llm": {
            "provider": log.llm_provider,
            "model": log.llm_model,
            "prompt_tokens": log.prompt_tokens,
            "completion_tokens": log.completion_tokens,
        }
        if log.llm_provider
        else None,
        "request": log.request,
        "response": log.response,
        "created_at": _iso(log.created_at),
    }


def _sent_by(msg: m.Message) -> dict[str, Any] | None:
    payload = msg.payload if isinstance(msg.payload, dict) else {}
    found = payload.get("sent_by") if msg.direction == "out" else None
    return found if isinstance(found, dict) else None


def _template_of(msg: m.Message) -> dict[str, Any] | None:
    payload = msg.payload if isinstance(msg.payload, dict) else {}
    found = payload.get("template") if msg.direction == "out" else None
    return found if isinstance(found, dict) else None


def message_json(
    msg: m.Message, calls: list[m.WebhookLog], flows: dict[str, str]
) -> dict[str, Any]:
    return {
        "id": msg.id,
        "uuid": msg.uuid,
        "direction": msg.direction,
        "text": msg.text,
        "attachments": msg.attachments or [],
        "quick_replies": msg.quick_replies or [],
        "labels": msg.labels or [],
        "channel": msg.channel,
        "status": msg.status,
        "error": msg.error,
        "flow": {"uuid": msg.flow_uuid, "name": flows.get(msg.flow_uuid)}
        if msg.flow_uuid
        else None,
        "sent_by": _sent_by(msg),
        "template": _template_of(msg),
        "created_at": _iso(msg.created_at),
        "sent_at": _iso(msg.sent_at),
        "calls": [call_json(c) for c in calls],
    }


def history_json(history: chatstore.History, now: datetime) -> dict[str, Any]:
    loose = [c for e in history.entries if e.message is None for c in e.calls]
    return {
        "contact": contact_json(history.contact, now),
        "messages": [
            message_json(e.message, e.calls, history.flows)
            for e in history.entries
            if e.message is not None
        ],
        "other_calls": [call_json(c) for c in loose],
        "more": history.more,
    }


# --- what the pages show -----------------------------------------------------------------------

_OUT_STATUS = {
    "queued": "queued",
    "sending": "sending",
    "sent": "✓ sent",
    "delivered": "✓✓ delivered",
    "read": "✓✓ read",
    "failed": "failed",
}


def _pretty(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    return text if len(text) <= CALL_CHARS else text[:CALL_CHARS] + "\n… (cut)"


def _call_view(log: m.WebhookLog) -> dict[str, Any]:
    tokens = None
    if log.prompt_tokens is not None or log.completion_tokens is not None:
        tokens = f"{log.prompt_tokens or 0} + {log.completion_tokens or 0} tokens"
    return {
        "method": log.method,
        "target": redact_url(log.url),
        "status_code": log.status_code,
        "error": log.error,
        "ok": log.error is None,
        "duration": f"{log.duration_ms / 1000:.1f} s" if log.duration_ms is not None else "",
        "model": log.llm_model,
        "tokens": tokens,
        "request": _pretty(log.request),
        "response": _pretty(log.response),
    }


def _attachment(value: Any) -> dict[str, str]:
    text = typed(str(value))
    kind, _, url = text.partition(":")
    if not url or "/" not in kind:
        return {"kind": "file", "url": "", "label": text}
    major = kind.split("/")[0]
    safe = url if url.startswith(("https://", "http://", "/")) else ""
    return {"kind": major, "url": safe, "label": kind}


def entry_view(entry: chatstore.Entry, flows: dict[str, str]) -> dict[str, Any]:
    calls = [_call_view(c) for c in entry.calls]
    msg = entry.message
    if msg is None:
        return {"key": entry.key, "message": None, "calls": calls, **_time_view(entry.at)}
    out = msg.direction == "out"
    sent_by = _sent_by(msg)
    if sent_by is not None:
        by = str(sent_by.get("name") or sent_by.get("email") or "Staff")
    elif msg.flow_uuid:
        by = flows.get(msg.flow_uuid) or "a flow no longer here"
    else:
        by = ""
    if out:
        status_text = _OUT_STATUS.get(msg.status, msg.status)
    else:
        status_text = "could not be handled" if msg.status == "failed" else ""
    return {
        "key": entry.key,
        "message": {
            "uuid": msg.uuid,
            "out": out,
            "text": msg.text,
            "attachments": [_attachment(a) for a in msg.attachments or []],
            "quick_replies": [str(q) for q in msg.quick_replies or []],
            "labels": [str(label) for label in msg.labels or []],
            "status": msg.status,
            "status_text": status_text,
            "error": msg.error if msg.status == "failed" else None,
            "by": by,
            "staff": sent_by is not None,
            "template": str((_template_of(msg) or {}).get("name") or ""),
        },
        "calls": calls,
        **_time_view(entry.at),
    }


def _time_view(at: datetime) -> dict[str, str]:
    return {"time_iso": at.isoformat(), "time_text": _when(at)}


def render_entry(entry: chatstore.Entry, flows: dict[str, str]) -> str:
    return TEMPLATES.get_template("_chat_item.html").render(item=entry_view(entry, flows))


def row_view(row: chatstore.ChatRow) -> dict[str, Any]:
    who, last = row.contact, row.last
    prefix = ""
    if last is not None and last.direction == "out":
        prefix = "You: " if _sent_by(last) else "Bot: "
    at = last.created_at if last is not None else who.last_message_at
    title = chatstore.title_of(who)
    return {
        "uuid": who.uuid,
        "title": title,
        "initial": (title[:1] or "?").upper(),
        "phone": chatstore.phone_of(who),
        "named": bool(who.name),
        "snippet": chatstore.snippet(last.text) if last is not None else "",
        "prefix": prefix,
        "unread": row.unread,
        "taken_over": bool(who.taken_over_at),
        "time_iso": _iso(at) or "",
        "time_text": _when(at),
    }


def _rows_html(rows: list[chatstore.ChatRow], q: str) -> str:
    return TEMPLATES.get_template("_chat_rows.html").render(chats=[row_view(r) for r in rows], q=q)


# --- pages -------------------------------------------------------------------------------------


@router.get("/chats")
async def inbox_page(user: PageUser, state: State, q: Search = "") -> HTMLResponse:
    rows = await chatstore.inbox(state.repo, q=q)
    return page(render("chats.html", user=user, q=q.strip(), rows_html=_rows_html(rows, q)))


@router.get("/chats/inbox")
async def inbox_fragment(user: ApiUser, state: State, q: Search = "") -> dict[str, Any]:
    rows = await chatstore.inbox(state.repo, q=q)
    return {"html": _rows_html(rows, q), "unread": sum(1 for r in rows if r.unread)}


@router.get("/chats/{uuid}")
async def chat_page(uuid: Uuid, user: PageUser, state: State, before: Before = None) -> Any:
    who = await _contact(state, uuid)
    history = await chatstore.history(state.repo, who, before=before, limit=PAGE_SIZE)
    now = _now()
    if before is None:
        await _read_if_new(state, history)
    ids = [e.message.id for e in history.entries if e.message is not None]
    window = chatstore.window(who, now)
    approved = [
        {
            "name": t.name,
            "language": t.language,
            "header": templates.header_text(t.components),
            "body": t.body,
            "footer": templates.footer_text(t.components),
            "variables": placeholders,
        }
        for t in await templatestore.list_templates(state.repo.sessions, state.org)
        if templatestore.sendable(t)
        for placeholders in [templates.placeholders(t.body)]
    ]
    opened = await ticketstore.open_tickets(state.repo, who.id)
    html = render(
        "chat.html",
        tickets=[ticketstore.ticket_view(t) for t in opened],
        user=user,
        contact={
            "uuid": who.uuid,
            "title": chatstore.title_of(who),
            "initial": (chatstore.title_of(who)[:1] or "?").upper(),
            "phone": chatstore.phone_of(who),
            "named": bool(who.name),
            "taken_over_by": who.taken_over_by if who.taken_over_at else None,
        },
        window={
            "applies": window.applies,
            "open": window.open,
            "last": _when(window.last_inbound_at) if window.last_inbound_at else "",
        },
        templates=approved,
        # In a <script type="application/json">: "<" escaped so that no value can close the tag.
        templates_json=json.dumps(approved, ensure_ascii=False).replace("<", "\\u003c"),
        items="".join(render_entry(e, history.flows) for e in history.entries),
        after=max(ids, default=0),
        since=(now - SINCE_MARGIN).timestamp(),
        older=min(ids) if history.more and ids else None,
        live=before is None,
    )
    return page(html)


@router.get("/chats/{uuid}/poll")
async def chat_poll(
    uuid: Uuid,
    user: ApiUser,
    state: State,
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    since: Annotated[float | None, Query(ge=0, le=1e11, description="epoch seconds")] = None,
    seen: bool = False,
) -> dict[str, Any]:
    """What changed in the chat since the page last asked: new and updated messages as HTML,
    the take-over and window state, and the cursors to send next time."""
    who = await _contact(state, uuid)
    now = _now()
    history = await chatstore.history(state.repo, who, limit=PAGE_SIZE)
    moment = datetime.fromtimestamp(since, UTC) if since is not None else None
    fresh = chatstore.changed(history, after=after, since=moment)
    if seen:
        await _read_if_new(state, history)
    ids = [e.message.id for e in history.entries if e.message is not None]
    return {
        "items": [{"key": e.key, "html": render_entry(e, history.flows)} for e in fresh],
        "after": max([after, *ids]),
        "since": (now - SINCE_MARGIN).timestamp(),
        "state": state_json(who, now),
    }


@router.post("/chats/{uuid}/messages", status_code=202)
async def reply_from_page(uuid: Uuid, body: ReplyIn, user: ApiUser, state: State) -> dict[str, Any]:
    who = await _contact(state, uuid)
    sent_by = {"name": user.display_name, "email": user.email}
    stored = await send_reply(state, who, body.text, sent_by)
    entry = chatstore.Entry(stored.created_at, stored)
    return {"uuid": stored.uuid, "key": entry.key, "html": render_entry(entry, {})}


@router.post("/chats/{uuid}/templates", status_code=202)
async def template_from_page(
    uuid: Uuid, body: TemplateIn, user: ApiUser, state: State
) -> dict[str, Any]:
    who = await _contact(state, uuid)
    sent_by = {"name": user.display_name, "email": user.email}
    stored = await send_template(state, who, body, sent_by)
    entry = chatstore.Entry(stored.created_at, stored)
    return {"uuid": stored.uuid, "key": entry.key, "html": render_entry(entry, {})}


@router.post("/chats/{uuid}/takeover")
async def takeover_from_page(uuid: Uuid, user: ApiUser, state: State) -> dict[str, Any]:
    await take_over(state, uuid, user.display_name)
    return state_json(await _contact(state, uuid), _now())


@router.post("/chats/{uuid}/handback")
async def handback_from_page(uuid: Uuid, user: ApiUser, state: State) -> dict[str, Any]:
    done = await hand_back(state, uuid)
    return {**state_json(await _contact(state, uuid), _now()), "settled": done.settled}


@router.post("/chats/messages/{message}/labels")
async def label_from_page(
    message: Uuid, body: LabelIn, user: ApiUser, state: State
) -> dict[str, Any]:
    _, labels = await change_label(state, message, body.label, add=True)
    return {"uuid": message, "labels": labels}


@router.delete("/chats/messages/{message}/labels/{label}")
async def unlabel_from_page(
    message: Uuid, label: Annotated[str, Path(max_length=64)], user: ApiUser, state: State
) -> dict[str, Any]:
    _, labels = await change_label(state, message, _label_path(label), add=False)
    return {"uuid": message, "labels": labels}


def _label_path(label: str) -> str:
    try:
        return _label(label)
    except ValueError as exc:
        raise HTTPException(422, f"label: {exc}") from None


# --- REST --------------------------------------------------------------------------------------


@api_router.get("/chats")
async def list_chats(
    state: State,
    q: Search = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> dict[str, Any]:
    """Conversations, newest first: the contact, the last message (the newest matching one
    when ``q`` matched message text) and how many inbound messages are unread."""
    rows = await chatstore.inbox(state.repo, q=q, limit=limit, offset=offset)
    now = _now()
    return {
        "results": [
            {
                "contact": contact_json(r.contact, now),
                "last_message": message_json(r.last, [], {}) if r.last else None,
                "unread": r.unread,
            }
            for r in rows
        ]
    }


@api_router.get("/chats/{uuid}")
async def get_chat(
    uuid: Uuid,
    state: State,
    before: Before = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = PAGE_SIZE,
) -> dict[str, Any]:
    """The contact's history, oldest first (the latest ``limit`` messages, or those before
    message id ``before``), each with the webhook calls of the step that sent it."""
    who = await _contact(state, uuid)
    history = await chatstore.history(state.repo, who, before=before, limit=limit)
    data = history_json(history, _now())
    data["unread"] = await state.runner.db.run(chatstore.unread, who.id)
    return data


@api_router.post("/chats/{uuid}/messages", status_code=202)
async def reply(uuid: Uuid, body: ReplyIn, state: State) -> dict[str, Any]:
    """Send the contact a text (stored first, then sent through their channel); 409 outside
    WhatsApp's 24-hour window."""
    who = await _contact(state, uuid)
    stored = await send_reply(state, who, body.text, {"name": "API"})
    return message_json(stored, [], {})


@api_router.post("/chats/{uuid}/templates", status_code=202)
async def send_template_api(uuid: Uuid, body: TemplateIn, state: State) -> dict[str, Any]:
    """Send the contact an approved WhatsApp template, with a value for each body variable
    (in or out of the 24-hour window); stored with its text as the contact reads it."""
    who = await _contact(state, uuid)
    stored = await send_template(state, who, body, {"name": "API"})
    return message_json(stored, [], {})


@api_router.post("/chats/{uuid}/takeover")
async def takeover(uuid: Uuid, state: State) -> dict[str, Any]:
    """Pause the flows for the contact: their messages are kept for staff, keywords too."""
    await take_over(state, uuid, "API")
    return contact_json(await _contact(state, uuid), _now())


@api_router.post("/chats/{uuid}/handback")
async def handback(uuid: Uuid, state: State) -> dict[str, Any]:
    """Let the flows answer again; what came meanwhile stays handled (``settled`` of them)."""
    done = await hand_back(state, uuid)
    return {**contact_json(await _contact(state, uuid), _now()), "settled": done.settled}


@api_router.post("/chats/{uuid}/read")
async def mark_read(uuid: Uuid, state: State) -> dict[str, Any]:
    who = await _contact(state, uuid)
    await state.runner.db.run(chatstore.mark_read, who.id)
    return {"uuid": uuid, "unread": 0}


@api_router.post("/messages/{uuid}/labels")
async def add_label(uuid: Uuid, body: LabelIn, state: State) -> dict[str, Any]:
    _, labels = await change_label(state, uuid, body.label, add=True)
    return {"uuid": uuid, "labels": labels}


@api_router.delete("/messages/{uuid}/labels/{label}")
async def remove_label(
    uuid: Uuid, label: Annotated[str, Path(max_length=64)], state: State
) -> dict[str, Any]:
    _, labels = await change_label(state, uuid, _label_path(label), add=False)
    return {"uuid": uuid, "labels": labels}
