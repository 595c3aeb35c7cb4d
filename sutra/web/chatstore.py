"""What the chats pages and their API read and write: the inbox, one contact's history, staff
replies, taking a chat over and handing it back, labels, what staff have read.

Reads go through the ORM (as the other pages do); writes are units of work on the hot path's
database thread (:mod:`sutra.store.hotdb`), so they share its group commits and its ordering
with the pipeline: a reply is an outbound message in state ``queued``, which the pipeline sends
like any retry (paced, recorded, its delivery statuses stored); taking over is a flag on the
contact's row, which every claim reads anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, not_, or_, select

from sutra.store import models as m
from sutra.store import work
from sutra.store.repository import Repository
from sutra.store.work.common import new_uuid, now_utc

# WhatsApp lets a business send free text only within 24 hours of the contact's last message;
# after that only an approved template may be sent.
WINDOW = timedelta(hours=24)
# The schemes whose contacts are on WhatsApp (Cloud API or Gupshup): the window applies.
WINDOW_SCHEMES = frozenset({"whatsapp"})
# Simulator contacts are staff testing flows, not conversations to answer.
TEST_SCHEME = "sim"
SNIPPET = 120


@dataclass(frozen=True)
class ChatRow:
    """One conversation in the inbox."""

    contact: m.Contact
    last: m.Message | None
    unread: int


@dataclass
class Entry:
    """One item of a contact's history: a message with the calls that produced it, or a
    call that no message followed (a webhook whose flow then waited, a step that failed)."""

    at: datetime
    message: m.Message | None = None
    calls: list[m.WebhookLog] = field(default_factory=list)

    @property
    def key(self) -> str:
        if self.message is not None:
            return f"m-{self.message.uuid}"
        return f"w-{self.calls[0].id}"


@dataclass(frozen=True)
class History:
    contact: m.Contact
    entries: list[Entry]
    flows: dict[str, str]
    # Older messages than these exist (the page offers them).
    more: bool


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


_PHONEISH = re.compile(r"^[+\d][\d\s().-]*$")


async def inbox(
    repo: Repository, *, q: str = "", limit: int = 50, offset: int = 0
) -> list[ChatRow]:
    """Contacts who have written in, the most recent first; ``q`` matches the name, the phone
    number (spaces and dashes ignored) or the text of any message in or out."""
    c = m.Contact
    query = select(c).where(
        c.organization_id == repo.org,
        c.last_message_at.is_not(None),
        not_(c.urn.startswith(f"{TEST_SCHEME}:")),
    )
    q = q.strip()
    text_match = None
    if q:
        pattern = _like(q)
        text_match = m.Message.text.ilike(pattern, escape="\\")
        wanted = [
            c.name.ilike(pattern, escape="\\"),
            exists().where(m.Message.contact_id == c.id, text_match),
        ]
        if _PHONEISH.match(q):
            digits = re.sub(r"\D", "", q)
            if digits:
                wanted.append(c.urn.like(f"%{digits}%"))
                wanted.append(c.phone.like(f"%{digits}%"))
        query = query.where(or_(*wanted))
    query = query.order_by(c.last_message_at.desc(), c.id.desc()).limit(limit).offset(offset)
    async with repo.sessions() as db:
        contacts = list(await db.scalars(query))
        ids = [contact.id for contact in contacts]
        if not ids:
            return []
        last = await _newest(db, ids, None)
        if text_match is not None:
            # A text search shows the message that matched, not merely the latest.
            last.update(await _newest(db, ids, text_match))
        counted = await db.execute(
            select(m.Message.contact_id, func.count())
            .join(c, c.id == m.Message.contact_id)
            .where(
                m.Message.contact_id.in_(ids),
                m.Message.direction == m.MessageDirection.IN.value,
                m.Message.id > func.coalesce(c.chat_read_id, 0),
            )
            .group_by(m.Message.contact_id)
        )
        unread = {int(contact_id): int(n) for contact_id, n in counted}
    return [
        ChatRow(contact, last.get(contact.id), unread.get(contact.id, 0)) for contact in contacts
    ]


async def _newest(db: Any, ids: list[int], where: Any) -> dict[int, m.Message]:
    newest = select(func.max(m.Message.id)).where(m.Message.contact_id.in_(ids))
    if where is not None:
        newest = newest.where(where)
    rows = await db.scalars(
        select(m.Message).where(m.Message.id.in_(newest.group_by(m.Message.contact_id)))
    )
    return {row.contact_id: row for row in rows}


async def contact(repo: Repository, uuid: str) -> m.Contact | None:
    async with repo.sessions() as db:
        found: m.Contact | None = await db.scalar(
            select(m.Contact).where(m.Contact.uuid == uuid, m.Contact.organization_id == repo.org)
        )
        return found


async def history(
    repo: Repository, who: m.Contact, *, before: int | None = None, limit: int = 200
) -> History:
    """The contact's latest ``limit`` messages (before message id ``before``), oldest first,
    each outbound one with the webhook calls of its step, and the calls no message followed."""
    async with repo.sessions() as db:
        query = select(m.Message).where(m.Message.contact_id == who.id)
        if before is not None:
            query = query.where(m.Message.id < before)
        rows = list(await db.scalars(query.order_by(m.Message.id.desc()).limit(limit + 1)))
        more = len(rows) > limit
        messages = rows[:limit][::-1]
        calls_query = select(m.WebhookLog).where(m.WebhookLog.contact_id == who.id)
        if messages and more:
            calls_query = calls_query.where(m.WebhookLog.created_at >= messages[0].created_at)
        if before is not None:
            if not messages:
                return History(who, [], {}, False)
            calls_query = calls_query.where(m.WebhookLog.created_at <= messages[-1].created_at)
        calls = list(await db.scalars(calls_query.order_by(m.WebhookLog.id.desc()).limit(limit)))[
            ::-1
        ]
    entries = _timeline(messages, calls)
    flows = await _flow_names(repo, {msg.flow_uuid for msg in messages if msg.flow_uuid})
    flows.update(await _flow_names(repo, {c.flow_uuid for c in calls if c.flow_uuid} - set(flows)))
    return History(who, entries, flows, more)


def _timeline(messages: list[m.Message], calls: list[m.WebhookLog]) -> list[Entry]:
    """Messages in order, each call attached to the first outbound message of its session at
    or after it: the step after a call writes its log and its messages in one transaction, at
    one time, so a GPT answer finds the call that produced it."""
    entries = [Entry(msg.created_at, msg) for msg in messages]
    by_session: dict[str, list[Entry]] = {}
    for entry in entries:
        msg = entry.message
        assert msg is not None
        if msg.direction == m.MessageDirection.OUT.value and msg.session_uuid:
            by_session.setdefault(msg.session_uuid, []).append(entry)
    loose: list[Entry] = []
    for call in calls:
        candidates = by_session.get(call.session_uuid or "", [])
        target = next((e for e in candidates if e.at >= call.created_at), None)
        if target is not None:
            target.calls.append(call)
        else:
            loose.append(Entry(call.created_at, calls=[call]))
    if not loose:
        return entries
    # Stable: a loose call goes after the messages of its own moment.
    merged = sorted(
        [(e.at, 0, i, e) for i, e in enumerate(entries)]
        + [(e.at, 1, i, e) for i, e in enumerate(loose)],
        key=lambda t: (t[0], t[1], t[2]),
    )
    return [t[3] for t in merged]


async def _flow_names(repo: Repository, uuids: set[str]) -> dict[str, str]:
    if not uuids:
        return {}
    async with repo.sessions() as db:
        rows = await db.execute(
            select(m.Flow.uuid, m.Flow.name).where(
                m.Flow.organization_id == repo.org, m.Flow.uuid.in_(uuids)
            )
        )
        return {str(uuid): str(name) for uuid, name in rows}


def changed(history: History, *, after: int, since: datetime | None) -> list[Entry]:
    """The entries a page showing messages up to id ``after`` (and every change before
    ``since``) has not seen: new messages, and messages whose status or labels moved."""
    out = []
    for entry in history.entries:
        msg = entry.message
        if msg is not None:
            fresh = msg.id > after or (since is not None and msg.updated_at >= since)
        else:
            fresh = since is not None and entry.at >= since
        if fresh:
            out.append(entry)
    return out


# --- the 24-hour window ------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Whether free text may be sent to the contact now."""

    applies: bool
    open: bool
    last_inbound_at: datetime | None
    closes_at: datetime | None


def window(who: m.Contact, now: datetime) -> Window:
    scheme = who.urn.partition(":")[0]
    last = who.last_message_at
    if scheme not in WINDOW_SCHEMES:
        return Window(False, True, last, None)
    closes = last + WINDOW if last is not None else None
    return Window(True, closes is not None and closes > now, last, closes)


def phone_of(who: m.Contact) -> str:
    """The number to show: the stored phone, else the urn's path (``+`` for WhatsApp ids)."""
    scheme, _, path = who.urn.partition(":")
    number = who.phone or path
    if scheme == "whatsapp" and number.isdigit():
        return f"+{number}"
    return number


def title_of(who: m.Contact) -> str:
    return who.name or phone_of(who)


def snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET else flat[: SNIPPET - 1] + "…"


# --- units of work -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Handover:
    """A contact's takeover state after a take-over or hand-back."""

    contact_id: int
    taken_over_at: datetime | None
    taken_over_by: str | None
    # Messages that came in meanwhile and were marked handled by the hand-back.
    settled: int = 0


def take_over(tx: work.Tx, org: int, uuid: str, by: str) -> Handover | None:
    """Pause the flows for the contact; whoever took it over first keeps it."""
    tx.execute(
        "UPDATE contacts SET taken_over_at = :now, taken_over_by = :by "
        "WHERE uuid = :uuid AND organization_id = :org AND taken_over_at IS NULL",
        {"now": tx.ts(now_utc()), "by": by, "uuid": uuid, "org": org},
    )
    row = tx.one(
        "SELECT id, taken_over_at, taken_over_by FROM contacts "
        "WHERE uuid = :uuid AND organization_id = :org",
        {"uuid": uuid, "org": org},
    )
    return None if row is None else Handover(int(row[0]), tx.read_ts(row[1]), row[2])


def hand_back(tx: work.Tx, org: int, uuid: str) -> Handover | None:
    """Let the flows answer again. Whatever the contact sent meanwhile and no worker took yet is
    marked handled in the same transaction: the flow must not get it late, out of context."""
    row = tx.one(
        "SELECT id, taken_over_at FROM contacts WHERE uuid = :uuid AND organization_id = :org",
        {"uuid": uuid, "org": org},
    )
    if row is None:
        return None
    contact_id = int(row[0])
    if row[1] is None:
        return Handover(contact_id, None, None)
    now = tx.ts(now_utc())
    settled = tx.execute(
        "UPDATE messages SET status = 'handled', next_attempt_at = NULL, updated_at = :now "
        "WHERE contact_id = :id AND direction = 'in' AND status = 'received' RETURNING id",
        {"id": contact_id, "now": now},
    )
    tx.execute(
        "UPDATE contacts SET taken_over_at = NULL, taken_over_by = NULL WHERE id = :id",
        {"id": contact_id},
    )
    return Handover(contact_id, None, None, len(settled))


def queue_reply(
    tx: work.Tx,
    org: int,
    contact_id: int,
    text: str,
    channel: str,
    sent_by: dict[str, Any],
    template: dict[str, Any] | None = None,
) -> str:
    """Store a staff reply as an outbound message waiting to be sent; the pipeline sends it
    as it sends a retry, in order with the contact's other messages. Returns its uuid.

    A template message (``template``: the send's template object) is stored with its text
    as the contact reads it; the template is what goes out."""
    uuid = new_uuid()
    now = tx.ts(now_utc())
    tx.execute(
        "INSERT INTO messages (uuid, organization_id, contact_id, direction, text, attachments, "
        "quick_replies, labels, channel, status, payload, attempts, created_at, updated_at) "
        "VALUES (:uuid, :org, :contact, 'out', :text, :empty, :empty, :empty, :channel, "
        "'queued', :payload, 0, :now, :now)",
        {
            "uuid": uuid,
            "org": org,
            "contact": contact_id,
            "text": text,
            "empty": tx.json([]),
            "channel": channel,
            "payload": tx.json(
                {"sent_by": sent_by, **({"template": template} if template else {})}
            ),
            "now": now,
        },
    )
    # Another process may be the one with room for this contact (PostgreSQL).
    work.announce(tx)
    return uuid


def change_label(
    tx: work.Tx, org: int, message_uuid: str, label: str, add: bool
) -> tuple[int, list[str]] | None:
    """Add or remove one label on a message; (contact id, its labels now), None when the
    message is not the organisation's."""
    row = tx.one(
        "SELECT contact_id, labels FROM messages WHERE uuid = :uuid AND organization_id = :org",
        {"uuid": message_uuid, "org": org},
    )
    if row is None:
        return None
    labels = {str(x) for x in (tx.read_json(row[1]) or [])}
    labels = labels | {label} if add else labels - {label}
    ordered = sorted(labels, key=str.casefold)
    tx.execute(
        "UPDATE messages SET labels = :labels, updated_at = :now WHERE uuid = :uuid",
        {"labels": tx.json(ordered), "now": tx.ts(now_utc()), "uuid": message_uuid},
    )
    return int(row[0]), ordered


def mark_read(tx: work.Tx, contact_id: int) -> None:
    """Everything the contact sent so far has been seen by staff."""
    tx.execute(
        "UPDATE contacts SET chat_read_id = (SELECT MAX(id) FROM messages WHERE contact_id = :id) "
        "WHERE id = :id",
        {"id": contact_id},
    )


def unread(tx: work.Tx, contact_id: int) -> int:
    row = tx.one(
        "SELECT COUNT(*) FROM messages m JOIN contacts c ON c.id = m.contact_id "
        "WHERE m.contact_id = :id AND m.direction = 'in' AND m.id > COALESCE(c.chat_read_id, 0)",
        {"id": contact_id},
    )
    return int(row[0]) if row else 0
