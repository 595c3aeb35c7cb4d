"""Leases and claims: a worker takes a contact with all its work, renews, lets go.

A contact is worked by one owner at a time under a lease (``contacts.busy_owner`` /
``busy_until``), which keeps its messages strictly in order across any number of processes;
a lease that is not renewed (its process died) runs out and another worker takes over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sutra.engine.session import Contact, Group, Input, Session
from sutra.store.hotdb import Tx
from sutra.store.work.common import now_utc
from sutra.store.work.sending import Sent, record_sent


@dataclass
class Pending:
    """An inbound message no flow has seen yet (``attempts``: how often handling it failed
    before, with nothing of it stored)."""

    uuid: str
    message: Input
    channel: str
    attempts: int = 0


@dataclass
class Queued:
    """An outbound message waiting to be sent (a retry after a rate limit), or one whose
    send was under way when its worker died (``in_doubt_since``: the provider may have it)."""

    uuid: str
    channel: str
    text: str
    quick_replies: list[str]
    attachments: list[str]
    interactive: dict[str, Any] | None
    in_doubt_since: datetime | None = None
    # A WhatsApp template message (staff's, outside the 24-hour window).
    template: dict[str, Any] | None = None


@dataclass
class Claim:
    """A contact and everything it has to do, handed to the worker that holds its lease."""

    contact: Contact
    session: Session | None
    inbound: list[Pending] = field(default_factory=list)
    outbound: list[Queued] = field(default_factory=list)
    # Flow starts asked for (API, broadcasts), in order: (start id, flow uuid).
    starts: list[tuple[int, str]] = field(default_factory=list)
    # Staff took the chat over (the console): its messages are kept from the flows.
    taken_over: bool = False
    # The contact's first send still to go out (our uuid) and when it is due: its later
    # messages go after it, whichever process sends them.
    first_unsent: tuple[str, datetime] | None = None
    # Whose contact this is: its flows, channels and keys are that organisation's.
    organization_id: int = 1

    def session_due(self, now: datetime) -> bool:
        """The waiting session has something to do now: a webhook to (re)do, a timeout."""
        wait = self.session.wait if self.session else None
        if wait is None or (wait.kind == "msg" and wait.timeout_on is None):
            return False
        if wait.kind == "webhook":
            return True
        due = wait.timeout_on or wait.resume_on
        return due is not None and due <= now


_FREE = "(busy_until IS NULL OR busy_until < :now OR busy_owner = :owner)"
# Outbound work: a send that is due, or one a worker began and never recorded (it is only
# ever seen under a new lease, so that worker is gone).
_OUT_DUE = (
    "(direction = 'out' AND (status = 'sending' OR (status = 'queued' AND "
    "(next_attempt_at IS NULL OR next_attempt_at <= :now))))"
)
# An inbound message to handle now (not one whose failed handling is tried again later).
_IN_DUE = (
    "(direction = 'in' AND status = 'received' AND "
    "(next_attempt_at IS NULL OR next_attempt_at <= :now))"
)
_CONTACT_COLUMNS = (
    "id, uuid, name, urn, channel, phone, language, fields, taken_over_at, organization_id, status"
)


def take_lease(
    tx: Tx, contact_id: int, owner: str, until: datetime, now: datetime
) -> tuple[Any, ...] | None:
    """The contact's row, leased to ``owner``; None when another owner holds it."""
    return tx.one(
        f"UPDATE contacts SET busy_owner = :owner, busy_until = :until WHERE id = :id AND {_FREE} "
        f"RETURNING {_CONTACT_COLUMNS}",
        {"owner": owner, "until": tx.ts(until), "now": tx.ts(now), "id": contact_id},
    )


def claim(tx: Tx, contact_id: int, owner: str, until: datetime, now: datetime) -> Claim | None:
    """Take the contact's lease and read its work; None when another worker holds it."""
    row = take_lease(tx, contact_id, owner, until, now)
    return None if row is None else _read_work(tx, row, now)


def _read_work(tx: Tx, row: tuple[Any, ...], now: datetime) -> Claim:
    contact_id = int(row[0])
    groups, urns, ticket = _belongings(tx, contact_id)
    fields = tx.read_json(row[7]) or {}
    contact = Contact(
        id=contact_id,
        uuid=row[1],
        name=row[2],
        urn=row[3],
        channel=row[4],
        phone=row[5],
        language=row[6],
        fields={str(k): str(v) for k, v in fields.items()},
        groups=[Group(uuid=u, name=n) for u, n in groups],
        urns=urns,
        ticket=ticket,
    )
    session = waiting_session(tx, contact_id, contact)
    # Held messages and due sends in one read: each is a round trip on PostgreSQL.
    inbound: list[Pending] = []
    outbound: list[Queued] = []
    held_back = False
    first_unsent: tuple[str, datetime] | None = None
    for (
        u,
        direction,
        status,
        text,
        attachments,
        channel,
        created,
        replies,
        payload,
        attempts,
        updated,
        not_before,
    ) in tx.execute(
        "SELECT uuid, direction, status, text, attachments, channel, created_at, quick_replies, "
        "payload, attempts, updated_at, next_attempt_at FROM messages WHERE contact_id = :id "
        "AND ((direction = 'in' AND status = 'received') "
        "OR (direction = 'out' AND status IN ('sending', 'queued'))) ORDER BY id",
        {"id": contact_id},
    ):
        if direction == "in":
            if held_back:
                continue
            retry_at = tx.read_ts(not_before)
            if retry_at is not None and retry_at > now:
                # Handling it failed and is tried again later; the contact's later messages
                # wait behind it, to stay in order.
                held_back = True
                continue
            message = Input(
                uuid=u,
                text=text or "",
                attachments=tx.read_json(attachments) or [],
                created_on=tx.read_ts(created),
            )
            inbound.append(Pending(u, message, channel, attempts or 0))
        else:
            retry_at = tx.read_ts(not_before) if status == "queued" else None
            due = retry_at is None or retry_at <= now
            if first_unsent is None:
                first_unsent = (u, now if due else retry_at)
            if not due:
                continue
            stored = tx.read_json(payload) or {}
            outbound.append(
                Queued(
                    uuid=u,
                    channel=channel,
                    text=text or "",
                    quick_replies=tx.read_json(replies) or [],
                    attachments=tx.read_json(attachments) or [],
                    interactive=stored.get("interactive"),
                    in_doubt_since=tx.read_ts(updated) if status == "sending" else None,
                    template=stored.get("template"),
                )
            )
    if row[10] != "active":
        # Opted out (stopped), blocked or archived: no flow start or broadcast reaches them,
        # however it was asked for; the start says so in its broadcast's progress.
        tx.execute(
            "UPDATE flow_starts SET status = 'skipped' WHERE contact_id = :id "
            "AND status = 'pending'",
            {"id": contact_id},
        )
    starts = [
        (int(i), str(flow))
        for i, flow in tx.execute(
            "SELECT id, flow_uuid FROM flow_starts WHERE contact_id = :id AND status = 'pending' "
            "ORDER BY id",
            {"id": contact_id},
        )
    ]
    return Claim(
        contact,
        session,
        inbound,
        outbound,
        starts,
        taken_over=row[8] is not None,
        first_unsent=first_unsent,
        organization_id=int(row[9]),
    )


@dataclass(frozen=True)
class LeaseRequest:
    """Who asks for leases, until when, and how many contacts it has room for now; contacts it
    already works on are skipped (their running worker picks the new work up)."""

    owner: str
    until: datetime
    now: datetime
    room: int
    busy: frozenset[int] = frozenset()


def claim_some(tx: Tx, contact_ids: list[int], lease: LeaseRequest) -> dict[int, Claim]:
    """Claim those of the contacts there is room for; the others wait for a worker."""
    claims: dict[int, Claim] = {}
    for contact_id in contact_ids:
        if len(claims) >= lease.room:
            break
        if contact_id in lease.busy:
            continue
        found = claim(tx, contact_id, lease.owner, lease.until, lease.now)
        if found is not None:
            claims[contact_id] = found
    return claims


def waiting_session(tx: Tx, contact_id: int, contact: Contact | None = None) -> Session | None:
    """The contact's session that waits (the newest, should there be more). Its contact's
    addresses and open ticket are as the rows have them now (``contact``'s, when the caller
    just read them): staff may have closed the ticket, or another contact taken an address,
    while the session waited."""
    row = tx.one(
        "SELECT state FROM sessions WHERE contact_id = :id AND status = 'waiting' "
        "ORDER BY id DESC LIMIT 1",
        {"id": contact_id},
    )
    if row is None:
        return None
    session = Session.model_validate(tx.read_json(row[0]))
    if contact is None:
        _, urns, ticket = _belongings(tx, contact_id, groups=False)
    else:
        urns, ticket = contact.urns, contact.ticket
    session.contact.urns = list(urns)
    session.contact.ticket = ticket
    return session


def _belongings(
    tx: Tx, contact_id: int, *, groups: bool = True
) -> tuple[list[tuple[str, str]], list[str], str | None]:
    """The contact's groups (uuid, name), extra URNs and open ticket, in one read: each read
    is a round trip on PostgreSQL."""
    found: list[tuple[str, str]] = []
    urns: list[str] = []
    ticket: str | None = None
    parts = [
        "SELECT 'u', scheme, path, id FROM contact_urns WHERE contact_id = :id",
        "SELECT 't', uuid, '', id FROM tickets WHERE contact_id = :id AND status = 'open'",
    ]
    if groups:
        parts.insert(
            0,
            "SELECT 'g', g.uuid, g.name, g.id FROM groups g JOIN contact_groups cg "
            "ON cg.group_id = g.id WHERE cg.contact_id = :id",
        )
    for kind, first, second, _ in tx.execute(
        " UNION ALL ".join(parts) + " ORDER BY 1, 4", {"id": contact_id}
    ):
        if kind == "g":
            found.append((str(first), str(second)))
        elif kind == "u":
            urns.append(f"{first}:{second}")
        else:
            ticket = str(first)
    return found, urns, ticket


def claim_many(
    tx: Tx, owner: str, until: datetime, now: datetime, limit: int
) -> list[tuple[int, int]]:
    """The sweeper's batch: take up to ``limit`` free contacts that have work, in one statement
    (on PostgreSQL skipping rows another worker is taking at the same moment); each with its
    organisation.

    Taken in turns across organisations (each one's first waiting contact, then each one's
    second, ...): one organisation's backlog of thousands does not fill the batch ahead of
    another's single message.
    """
    skip = " FOR UPDATE OF c SKIP LOCKED" if tx.postgres else ""
    rows = tx.execute(
        "UPDATE contacts SET busy_owner = :owner, busy_until = :until WHERE id IN ("
        "SELECT c.id FROM contacts c JOIN (SELECT id, row_number() OVER "
        "(PARTITION BY organization_id ORDER BY id) AS turn FROM contacts "
        "WHERE (busy_until IS NULL OR busy_until < :now) AND id IN ("
        f"SELECT contact_id FROM messages WHERE {_IN_DUE} "
        f"UNION SELECT contact_id FROM messages WHERE {_OUT_DUE} "
        "UNION SELECT contact_id FROM sessions WHERE status = 'waiting' "
        "AND (wait_kind = 'webhook' OR wait_timeout_at <= :now) "
        "UNION SELECT contact_id FROM flow_starts WHERE status = 'pending')) w ON w.id = c.id "
        f"ORDER BY w.turn, c.id LIMIT :limit{skip}) RETURNING id, organization_id",
        {"owner": owner, "until": tx.ts(until), "now": tx.ts(now), "limit": limit},
    )
    return [(int(r[0]), int(r[1])) for r in rows]


def renew(tx: Tx, owner: str, until: datetime) -> int:
    """Extend every lease this owner holds: one statement however many contacts it works."""
    rows = tx.execute(
        "UPDATE contacts SET busy_until = :until WHERE busy_owner = :owner RETURNING id",
        {"owner": owner, "until": tx.ts(until)},
    )
    return len(rows)


def release(tx: Tx, contact_id: int, owner: str) -> None:
    tx.execute(
        "UPDATE contacts SET busy_owner = NULL, busy_until = NULL "
        "WHERE id = :id AND busy_owner = :owner",
        {"id": contact_id, "owner": owner},
    )


def finish(
    tx: Tx, contact_id: int, owner: str, outcomes: list[Sent], until: datetime, now: datetime
) -> Claim | None:
    """Record send outcomes; then let the lease go when the contact has nothing more to do
    (None), or hand back its next work under a renewed lease."""
    record_sent(tx, outcomes)
    # The common case, in one statement: nothing arrived meanwhile, let go.
    released = tx.one(
        "UPDATE contacts SET busy_owner = NULL, busy_until = NULL "
        "WHERE id = :id AND busy_owner = :owner "
        f"AND NOT EXISTS (SELECT 1 FROM messages WHERE contact_id = :id AND {_IN_DUE}) "
        f"AND NOT EXISTS (SELECT 1 FROM messages WHERE contact_id = :id AND {_OUT_DUE}) "
        "AND NOT EXISTS (SELECT 1 FROM flow_starts WHERE contact_id = :id "
        "AND status = 'pending') RETURNING id",
        {"id": contact_id, "owner": owner, "now": tx.ts(now)},
    )
    if released is not None:
        return None
    row = tx.one(
        "UPDATE contacts SET busy_until = :until WHERE id = :id AND busy_owner = :owner "
        f"RETURNING {_CONTACT_COLUMNS}",
        {"until": tx.ts(until), "id": contact_id, "owner": owner},
    )
    if row is None:
        return None  # the lease ran out and another worker has the contact: its work now
    work = _read_work(tx, row, now)
    if work.inbound or work.outbound or work.starts:
        return work
    release(tx, contact_id, owner)  # only a retry that is not due yet: the sweeper has it
    return None


def fail_unit(
    tx: Tx,
    contact_id: int,
    reason: str,
    message_uuid: str | None,
    start_id: int | None,
    sent: list[Sent],
    retry_at: datetime | None = None,
) -> None:
    """A unit of work that raised: keep what was sent. With ``retry_at`` (nothing of the unit
    was stored, so running it again repeats no side effect) the message is tried again then.
    Otherwise it is a dead letter: what set it off is marked failed with the reason, and the
    contact's waiting sessions end, so its next message starts afresh."""
    record_sent(tx, sent)
    now = tx.ts(now_utc())
    if message_uuid is not None and retry_at is not None:
        tx.execute(
            "UPDATE messages SET attempts = attempts + 1, error = :reason, "
            "next_attempt_at = :at, updated_at = :now WHERE uuid = :uuid",
            {"reason": reason, "at": tx.ts(retry_at), "now": now, "uuid": message_uuid},
        )
        return
    if message_uuid is not None:
        tx.execute(
            "UPDATE messages SET status = 'failed', error = :reason, attempts = attempts + 1, "
            "updated_at = :now WHERE uuid = :uuid",
            {"reason": reason, "now": now, "uuid": message_uuid},
        )
    if start_id is not None:
        tx.execute("UPDATE flow_starts SET status = 'failed' WHERE id = :id", {"id": start_id})
    tx.execute(
        "UPDATE sessions SET status = 'failed', wait_kind = NULL, wait_timeout_at = NULL, "
        "ended_at = :now, updated_at = :now WHERE contact_id = :id AND status = 'waiting'",
        {"now": now, "id": contact_id},
    )
