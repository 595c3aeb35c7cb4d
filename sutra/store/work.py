"""The pipeline's units of work: each is one function run inside a group commit (``HotDB``).

A message costs four of them: ``ingest`` (the webhook stores it), ``claim`` (a worker takes the
contact and everything it needs in one go), ``save`` (one transaction per sprint: the consumed
mark, session, runs, results, contact changes, outgoing messages, webhook log and LLM usage),
and ``finish`` (send outcomes recorded, then either the lease let go or the next work handed
back). Everything here is plain SQL on the tables SQLAlchemy defines in ``models.py``.

A contact is worked by one owner at a time under a lease (``contacts.busy_owner`` /
``busy_until``), which keeps its messages strictly in order across any number of processes;
a lease that is not renewed (its process died) runs out and another worker takes over.
"""

from __future__ import annotations

import uuid as uuid_module
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sutra.engine import events as ev
from sutra.engine.session import Contact, Group, Input, Session
from sutra.store.hotdb import Tx


def _now() -> datetime:
    return datetime.now(UTC)


def _uuid() -> str:
    return str(uuid_module.uuid4())


# --- ingest --------------------------------------------------------------------------------------


@dataclass
class Arrival:
    """One inbound message as a channel webhook hands it over."""

    organization_id: int
    urn: str
    channel: str
    message: Input
    name: str | None = None
    phone: str | None = None
    external_id: str | None = None
    payload: dict[str, Any] | None = None


def ingest(tx: Tx, arrivals: list[Arrival]) -> list[tuple[int, bool]]:
    """Store messages (creating their contacts); per message ``(contact_id, stored)``, where
    ``stored`` is False for a repeated delivery (same channel and provider id)."""
    out = []
    now = tx.ts(_now())
    for a in arrivals:
        row = tx.one(
            "INSERT INTO contacts (uuid, organization_id, urn, name, phone, fields, status, "
            "last_message_at, channel, created_at, updated_at) "
            "VALUES (:uuid, :org, :urn, :name, :phone, :fields, 'active', :now, :channel, "
            ":now, :now) "
            "ON CONFLICT (organization_id, urn) DO UPDATE SET last_message_at = :now, "
            "channel = :channel, name = COALESCE(contacts.name, excluded.name) RETURNING id",
            {
                "uuid": _uuid(),
                "org": a.organization_id,
                "urn": a.urn,
                "name": a.name,
                "phone": a.phone,
                "fields": tx.json({}),
                "now": now,
                "channel": a.channel,
            },
        )
        assert row is not None
        contact_id = int(row[0])
        m = a.message
        stored = tx.one(
            "INSERT INTO messages (uuid, organization_id, contact_id, direction, text, "
            "attachments, quick_replies, labels, channel, external_id, status, payload, "
            "attempts, created_at, updated_at) VALUES (:uuid, :org, :contact, 'in', :text, "
            ":attachments, :empty, :empty, :channel, :external_id, 'received', :payload, 0, "
            ":created, :now) ON CONFLICT (channel, external_id) DO NOTHING RETURNING id",
            {
                "uuid": m.uuid,
                "org": a.organization_id,
                "contact": contact_id,
                "text": m.text,
                "attachments": tx.json(m.attachments),
                "empty": tx.json([]),
                "channel": a.channel,
                "external_id": a.external_id,
                "payload": tx.json(a.payload),
                "created": tx.ts(m.created_on) if m.created_on else now,
                "now": now,
            },
        )
        out.append((contact_id, stored is not None))
    return out


# --- claim ---------------------------------------------------------------------------------------


@dataclass
class Pending:
    """An inbound message no flow has seen yet."""

    uuid: str
    message: Input
    channel: str


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
    attempts: int
    in_doubt_since: datetime | None = None


@dataclass
class Claim:
    """A contact and everything it has to do, handed to the worker that holds its lease."""

    contact: Contact
    session: Session | None
    inbound: list[Pending] = field(default_factory=list)
    outbound: list[Queued] = field(default_factory=list)
    # Flow starts asked for (API, broadcasts), in order: (start id, flow uuid).
    starts: list[tuple[int, str]] = field(default_factory=list)

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
_CONTACT_COLUMNS = "id, uuid, name, urn, channel, phone, language, fields"


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
    groups = tx.execute(
        "SELECT g.uuid, g.name FROM groups g JOIN contact_groups cg ON cg.group_id = g.id "
        "WHERE cg.contact_id = :id ORDER BY g.id",
        {"id": contact_id},
    )
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
    )
    session = waiting_session(tx, contact_id)
    # Held messages and due sends in one read: each is a round trip on PostgreSQL.
    inbound: list[Pending] = []
    outbound: list[Queued] = []
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
    ) in tx.execute(
        "SELECT uuid, direction, status, text, attachments, channel, created_at, quick_replies, "
        "payload, attempts, updated_at FROM messages WHERE contact_id = :id AND ("
        f"(direction = 'in' AND status = 'received') OR {_OUT_DUE}) ORDER BY id",
        {"id": contact_id, "now": tx.ts(now)},
    ):
        if direction == "in":
            message = Input(
                uuid=u,
                text=text or "",
                attachments=tx.read_json(attachments) or [],
                created_on=tx.read_ts(created),
            )
            inbound.append(Pending(uuid=u, channel=channel, message=message))
        else:
            outbound.append(
                Queued(
                    uuid=u,
                    channel=channel,
                    text=text or "",
                    quick_replies=tx.read_json(replies) or [],
                    attachments=tx.read_json(attachments) or [],
                    interactive=(tx.read_json(payload) or {}).get("interactive"),
                    attempts=attempts or 0,
                    in_doubt_since=tx.read_ts(updated) if status == "sending" else None,
                )
            )
    starts = [
        (int(i), str(flow))
        for i, flow in tx.execute(
            "SELECT id, flow_uuid FROM flow_starts WHERE contact_id = :id AND status = 'pending' "
            "ORDER BY id",
            {"id": contact_id},
        )
    ]
    return Claim(contact, session, inbound, outbound, starts)


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


def waiting_session(tx: Tx, contact_id: int) -> Session | None:
    """The contact's session that waits (the newest, should there be more)."""
    row = tx.one(
        "SELECT state FROM sessions WHERE contact_id = :id AND status = 'waiting' "
        "ORDER BY id DESC LIMIT 1",
        {"id": contact_id},
    )
    return Session.model_validate(tx.read_json(row[0])) if row else None


def claim_many(tx: Tx, owner: str, until: datetime, now: datetime, limit: int) -> list[int]:
    """The sweeper's batch: take up to ``limit`` free contacts that have work, in one statement
    (on PostgreSQL skipping rows another worker is taking at the same moment)."""
    skip = " FOR UPDATE SKIP LOCKED" if tx.postgres else ""
    rows = tx.execute(
        "UPDATE contacts SET busy_owner = :owner, busy_until = :until WHERE id IN ("
        "SELECT id FROM contacts WHERE (busy_until IS NULL OR busy_until < :now) AND id IN ("
        "SELECT contact_id FROM messages WHERE direction = 'in' AND status = 'received' "
        f"UNION SELECT contact_id FROM messages WHERE {_OUT_DUE} "
        "UNION SELECT contact_id FROM sessions WHERE status = 'waiting' "
        "AND (wait_kind = 'webhook' OR wait_timeout_at <= :now) "
        "UNION SELECT contact_id FROM flow_starts WHERE status = 'pending') "
        f"ORDER BY id LIMIT :limit{skip}) RETURNING id",
        {"owner": owner, "until": tx.ts(until), "now": tx.ts(now), "limit": limit},
    )
    return [int(r[0]) for r in rows]


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


# --- save: one transaction per sprint ------------------------------------------------------------


@dataclass
class WebhookRow:
    method: str
    url: str
    request: Any
    response: Any
    status_code: int | None
    error: str | None
    duration_ms: float
    result_name: str | None
    flow_uuid: str
    llm_provider: str | None = None
    llm_model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass
class UsageRow:
    function: str | None
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    cost: float
    flow_uuid: str | None


@dataclass
class SprintWrite:
    """What one engine sprint changed, and what was done around it, for one transaction."""

    session: Session
    events: list[ev.Event]
    channel: str
    consumed: str | None = None
    start_id: int | None = None
    webhooks: list[WebhookRow] = field(default_factory=list)
    usage: list[UsageRow] = field(default_factory=list)


def save(
    tx: Tx, organization_id: int, writes: list[SprintWrite], *, sending: bool = False
) -> list[list[str]]:
    """Store sprints in order; per sprint, the uuids of its outgoing messages. With
    ``sending`` the caller sends them right after the commit: they are stored as attempts
    under way ('sending'), so a worker that dies before recording the outcome leaves them in
    doubt rather than plainly queued; otherwise they are queued."""
    status = "sending" if sending else "queued"
    return [_save_one(tx, organization_id, w, status) for w in writes]


def _save_one(tx: Tx, org: int, w: SprintWrite, out_status: str) -> list[str]:
    session, contact = w.session, w.session.contact
    now = tx.ts(_now())
    wait = session.wait
    ended = session.status not in ("waiting", "active")
    row = tx.one(
        "INSERT INTO sessions (uuid, organization_id, contact_id, status, state, wait_kind, "
        "wait_timeout_at, expires_at, current_flow_uuid, ended_at, created_at, updated_at) "
        "VALUES (:uuid, :org, :contact, :status, :state, :wait_kind, :timeout, :expires, "
        ":flow, :ended, :now, :now) ON CONFLICT (uuid) DO UPDATE SET status = excluded.status, "
        "state = excluded.state, wait_kind = excluded.wait_kind, "
        "wait_timeout_at = excluded.wait_timeout_at, expires_at = excluded.expires_at, "
        "current_flow_uuid = excluded.current_flow_uuid, ended_at = excluded.ended_at, "
        "updated_at = excluded.updated_at RETURNING id",
        {
            "uuid": session.uuid,
            "org": org,
            "contact": contact.id,
            "status": session.status,
            "state": tx.json(session.model_dump(mode="json")),
            "wait_kind": wait.kind if wait else None,
            "timeout": tx.ts((wait.timeout_on or wait.resume_on) if wait else None),
            "expires": tx.ts(session.expires_on),
            "flow": session.active_run.flow_uuid if session.active_run else None,
            "ended": now if ended else None,
            "now": now,
        },
    )
    assert row is not None
    session_id = row[0]
    tx.executemany(
        "INSERT INTO runs (uuid, session_id, flow_uuid, contact_id, status, results, path, "
        "exited_at, created_at, updated_at) VALUES (:uuid, :session, :flow, :contact, :status, "
        ":results, :path, :exited, :now, :now) ON CONFLICT (uuid) DO UPDATE SET "
        "status = excluded.status, results = excluded.results, path = excluded.path, "
        "exited_at = excluded.exited_at, updated_at = excluded.updated_at",
        [
            {
                "uuid": run.uuid,
                "session": session_id,
                "flow": run.flow_uuid,
                "contact": contact.id,
                "status": run.status,
                "results": tx.json(run.results),
                "path": tx.json([step.model_dump(mode="json") for step in run.path]),
                "exited": tx.ts(run.exited_on),
                "now": now,
            }
            for run in session.runs
        ],
    )
    if w.consumed is not None:
        tx.execute(
            "UPDATE messages SET status = 'handled', updated_at = :now WHERE uuid = :uuid",
            {"uuid": w.consumed, "now": now},
        )
    if w.start_id is not None:
        tx.execute("UPDATE flow_starts SET status = 'done' WHERE id = :id", {"id": w.start_id})
    _save_results(tx, org, session, w.events, now)
    if any(e.type.startswith("contact_") for e in w.events):
        _save_contact(tx, org, contact, now)
    out: list[str] = []
    for event in w.events:
        if isinstance(event, ev.MsgOut):
            uuid = _uuid()
            tx.execute(
                "INSERT INTO messages (uuid, organization_id, contact_id, direction, text, "
                "attachments, quick_replies, labels, channel, status, session_uuid, flow_uuid, "
                "payload, attempts, created_at, updated_at) VALUES (:uuid, :org, :contact, "
                "'out', :text, :attachments, :replies, :empty, :channel, :status, :session, "
                ":flow, :payload, :attempts, :now, :now)",
                {
                    "uuid": uuid,
                    "org": org,
                    "contact": contact.id,
                    "text": event.text,
                    "attachments": tx.json(event.attachments),
                    "replies": tx.json(event.quick_replies),
                    "empty": tx.json([]),
                    "channel": w.channel,
                    "status": out_status,
                    # A message sent right away is on its first attempt already.
                    "attempts": 1 if out_status == "sending" else 0,
                    "session": session.uuid,
                    "flow": event.flow_uuid,
                    "payload": tx.json({"interactive": event.interactive})
                    if event.interactive
                    else None,
                    "now": now,
                },
            )
            out.append(uuid)
        elif isinstance(event, ev.InputLabelsAdded) and event.input_uuid:
            found = tx.one("SELECT labels FROM messages WHERE uuid = :u", {"u": event.input_uuid})
            if found is not None:
                labels = sorted({*(tx.read_json(found[0]) or []), *event.labels})
                tx.execute(
                    "UPDATE messages SET labels = :l WHERE uuid = :u",
                    {"l": tx.json(labels), "u": event.input_uuid},
                )
    tx.executemany(
        "INSERT INTO webhook_logs (organization_id, contact_id, flow_uuid, session_uuid, "
        "result_name, method, url, request, response, status_code, error, duration_ms, "
        "llm_provider, llm_model, prompt_tokens, completion_tokens, created_at) VALUES (:org, "
        ":contact, :flow, :session, :result_name, :method, :url, :request, :response, :status, "
        ":error, :duration, :provider, :model, :prompt, :completion, :now)",
        [
            {
                "org": org,
                "contact": contact.id,
                "flow": h.flow_uuid,
                "session": session.uuid,
                "result_name": h.result_name,
                "method": h.method,
                "url": h.url,
                "request": tx.json(h.request),
                "response": tx.json(h.response),
                "status": h.status_code,
                "error": h.error,
                "duration": h.duration_ms,
                "provider": h.llm_provider,
                "model": h.llm_model,
                "prompt": h.prompt_tokens,
                "completion": h.completion_tokens,
                "now": now,
            }
            for h in w.webhooks
        ],
    )
    tx.executemany(
        "INSERT INTO llm_usage (organization_id, contact_id, flow_uuid, function, provider, "
        "model, prompt_tokens, completion_tokens, latency_ms, cost, created_at) VALUES (:org, "
        ":contact, :flow, :function, :provider, :model, :prompt, :completion, :latency, :cost, "
        ":now)",
        [
            {
                "org": org,
                "contact": contact.id,
                "flow": u.flow_uuid,
                "function": u.function,
                "provider": u.provider,
                "model": u.model,
                "prompt": u.prompt_tokens,
                "completion": u.completion_tokens,
                "latency": u.latency_ms,
                "cost": u.cost,
                "now": now,
            }
            for u in w.usage
        ],
    )
    return out


def _save_results(tx: Tx, org: int, session: Session, events: list[ev.Event], now: Any) -> None:
    for event in events:
        if not isinstance(event, ev.RunResultChanged):
            continue
        run = next(
            (
                r
                for r in reversed(session.runs)
                if r.flow_uuid == event.flow_uuid and event.key in r.results
            ),
            None,
        )
        if run is None:
            continue
        data = run.results[event.key]
        tx.execute(
            "INSERT INTO flow_results (organization_id, flow_uuid, run_uuid, session_uuid, "
            "contact_id, key, name, input, value, category, data, created_at, updated_at) "
            "VALUES (:org, :flow, :run, :session, :contact, :key, :name, :input, :value, "
            ":category, :data, :now, :now) ON CONFLICT (run_uuid, key) DO UPDATE SET "
            "name = excluded.name, input = excluded.input, value = excluded.value, "
            "category = excluded.category, data = excluded.data, updated_at = excluded.updated_at",
            {
                "org": org,
                "flow": run.flow_uuid,
                "run": run.uuid,
                "session": session.uuid,
                "contact": session.contact.id,
                "key": event.key,
                "name": event.name,
                "input": event.input,
                "value": "" if event.value is None else str(event.value),
                "category": data.get("category"),
                "data": tx.json(data),
                "now": now,
            },
        )


def _save_contact(tx: Tx, org: int, contact: Contact, now: Any) -> None:
    tx.execute(
        "UPDATE contacts SET name = :name, language = :language, fields = :fields, "
        "updated_at = :now WHERE id = :id",
        {
            "name": contact.name,
            "language": contact.language,
            "fields": tx.json(dict(contact.fields)),
            "now": now,
            "id": contact.id,
        },
    )
    groups = [g for g in contact.groups if g.name]
    names = list(dict.fromkeys(g.name for g in groups))
    tx.executemany(
        "INSERT INTO groups (uuid, organization_id, name, created_at, updated_at) "
        "VALUES (:uuid, :org, :name, :now, :now) ON CONFLICT DO NOTHING",
        [
            {"uuid": g.uuid or _uuid(), "org": org, "name": g.name, "now": now}
            for g in contact.groups
        ],
    )
    tx.execute("DELETE FROM contact_groups WHERE contact_id = :id", {"id": contact.id})
    if names:
        placeholders = ", ".join(f":n{i}" for i in range(len(names)))
        tx.execute(
            "INSERT INTO contact_groups (contact_id, group_id) SELECT :id, id FROM groups "
            f"WHERE organization_id = :org AND name IN ({placeholders})",
            {"id": contact.id, "org": org, **{f"n{i}": n for i, n in enumerate(names)}},
        )


# --- finish: send outcomes, then let go or carry on ---------------------------------------------


@dataclass
class Sent:
    """What a channel said about one outbound message."""

    uuid: str
    status: str  # sent | failed | retry
    external_id: str | None = None
    error: str | None = None
    retry_at: datetime | None = None


def record_sent(tx: Tx, outcomes: list[Sent]) -> None:
    now = tx.ts(_now())
    for s in outcomes:
        if s.status == "retry":
            tx.execute(
                "UPDATE messages SET status = 'queued', error = :error, "
                "next_attempt_at = :at, updated_at = :now WHERE uuid = :uuid "
                "AND status IN ('queued', 'sending')",
                {"error": s.error, "at": tx.ts(s.retry_at), "now": now, "uuid": s.uuid},
            )
        else:
            # Forward only: the provider's "delivered" may have come in before this answer.
            tx.execute(
                f"UPDATE messages SET status = CASE WHEN {_RANK_SQL} < :rank THEN :status "
                "ELSE status END, error = COALESCE(:error, error), "
                "external_id = COALESCE(:external_id, external_id), "
                "sent_at = COALESCE(sent_at, :sent_at), updated_at = :now WHERE uuid = :uuid",
                {
                    "status": s.status,
                    "rank": _RANK[s.status],
                    "error": s.error,
                    "external_id": s.external_id,
                    "sent_at": now if s.status == "sent" else None,
                    "now": now,
                    "uuid": s.uuid,
                },
            )


def begin_resend(tx: Tx, uuid: str) -> int | None:
    """Mark a queued or in-doubt message as being sent again, before the call; its attempts
    so far, or None when it needs no send any more (a status came in, another worker sent
    it)."""
    row = tx.one(
        "UPDATE messages SET status = 'sending', attempts = attempts + 1, updated_at = :now "
        "WHERE uuid = :uuid AND status IN ('queued', 'sending') RETURNING attempts",
        {"uuid": uuid, "now": tx.ts(_now())},
    )
    return None if row is None else int(row[0]) - 1


def message_status(tx: Tx, uuid: str) -> str | None:
    row = tx.one("SELECT status FROM messages WHERE uuid = :uuid", {"uuid": uuid})
    return None if row is None else str(row[0])


# A delivery status only moves a message forward: a late "sent" never undoes "read".
_RANK = {"queued": 0, "sending": 0, "sent": 1, "failed": 2, "delivered": 3, "read": 4}
_RANK_SQL = "CASE status " + " ".join(f"WHEN '{s}' THEN {r}" for s, r in _RANK.items()) + " END"


@dataclass(frozen=True)
class StatusNews:
    """A provider's delivery status: its id of the message, and ours when it echoes it."""

    external_id: str
    status: str
    error: str | None = None
    reference: str | None = None


def update_statuses(tx: Tx, channel: str, updates: list[StatusNews]) -> None:
    """Provider news about sent messages; unknown ids are ignored (a message sent by another
    system on the same number). A status that names our id also settles a send whose answer
    was never recorded: the provider has the message, it must not go out again."""
    now = tx.ts(_now())
    for news in updates:
        if news.status not in _RANK:
            continue
        params = {
            "status": news.status,
            "error": news.error,
            "now": now,
            "channel": channel,
            "external_id": news.external_id,
            "reference": news.reference,
            "rank": _RANK[news.status],
        }
        where = (
            "uuid = :reference AND (external_id IS NULL OR external_id = :external_id)"
            if news.reference
            else "external_id = :external_id"
        )
        tx.execute(
            "UPDATE messages SET status = :status, error = COALESCE(:error, error), "
            "external_id = COALESCE(external_id, :external_id), "
            "sent_at = COALESCE(sent_at, :now), updated_at = :now "
            f"WHERE channel = :channel AND direction = 'out' AND {where} AND {_RANK_SQL} < :rank",
            params,
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
        "AND NOT EXISTS (SELECT 1 FROM messages WHERE contact_id = :id AND direction = 'in' "
        "AND status = 'received') "
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
) -> None:
    """A unit of work that raised: keep what was sent, mark what set it off as failed with the
    reason, and end the contact's waiting sessions, so its next message starts afresh."""
    record_sent(tx, sent)
    now = tx.ts(_now())
    if message_uuid is not None:
        tx.execute(
            "UPDATE messages SET status = 'failed', error = :reason, updated_at = :now "
            "WHERE uuid = :uuid",
            {"reason": reason, "now": now, "uuid": message_uuid},
        )
    if start_id is not None:
        tx.execute("UPDATE flow_starts SET status = 'failed' WHERE id = :id", {"id": start_id})
    tx.execute(
        "UPDATE sessions SET status = 'failed', wait_kind = NULL, wait_timeout_at = NULL, "
        "ended_at = :now, updated_at = :now WHERE contact_id = :id AND status = 'waiting'",
        {"now": now, "id": contact_id},
    )


# --- flow starts ---------------------------------------------------------------------------------

# Contacts per transaction when a flow is started for a whole group: replies keep flowing
# between the batches of a 100,000-contact broadcast.
START_BATCH = 5000


def new_broadcast(tx: Tx, organization_id: int, flow_uuid: str) -> int:
    row = tx.one(
        "INSERT INTO broadcasts (organization_id, flow_uuid, total, created_at) "
        "VALUES (:org, :flow, 0, :now) RETURNING id",
        {"org": organization_id, "flow": flow_uuid, "now": tx.ts(_now())},
    )
    assert row is not None
    return int(row[0])


def add_starts(
    tx: Tx, organization_id: int, flow_uuid: str, contact_ids: list[int], broadcast_id: int
) -> list[int]:
    """Start the flow for these contacts (those of the organisation); returns their ids."""
    now = tx.ts(_now())
    added = []
    for contact_id in contact_ids:
        row = tx.one(
            "INSERT INTO flow_starts (organization_id, contact_id, flow_uuid, broadcast_id, "
            "status, created_at) SELECT :org, id, :flow, :broadcast, 'pending', :now "
            "FROM contacts WHERE id = :contact AND organization_id = :org RETURNING contact_id",
            {
                "org": organization_id,
                "contact": contact_id,
                "flow": flow_uuid,
                "broadcast": broadcast_id,
                "now": now,
            },
        )
        if row is not None:
            added.append(int(row[0]))
    _count(tx, broadcast_id, len(added))
    return added


def add_group_starts(
    tx: Tx, organization_id: int, flow_uuid: str, group_id: int, broadcast_id: int, after: int
) -> tuple[int, int]:
    """Start the flow for the next :data:`START_BATCH` members of the group with ids above
    ``after`` (and not started by this broadcast already); returns (how many, the last id)."""
    now = tx.ts(_now())
    rows = tx.execute(
        "INSERT INTO flow_starts (organization_id, contact_id, flow_uuid, broadcast_id, status, "
        "created_at) SELECT :org, cg.contact_id, :flow, :broadcast, 'pending', :now "
        "FROM contact_groups cg WHERE cg.group_id = :group AND cg.contact_id > :after "
        "AND NOT EXISTS (SELECT 1 FROM flow_starts s WHERE s.broadcast_id = :broadcast "
        "AND s.contact_id = cg.contact_id) ORDER BY cg.contact_id LIMIT :limit "
        "RETURNING contact_id",
        {
            "org": organization_id,
            "flow": flow_uuid,
            "broadcast": broadcast_id,
            "group": group_id,
            "after": after,
            "now": now,
            "limit": START_BATCH,
        },
    )
    _count(tx, broadcast_id, len(rows))
    return len(rows), max((int(r[0]) for r in rows), default=after)


def _count(tx: Tx, broadcast_id: int, added: int) -> None:
    tx.execute(
        "UPDATE broadcasts SET total = total + :n WHERE id = :id", {"n": added, "id": broadcast_id}
    )


def broadcast_progress(tx: Tx, organization_id: int, broadcast_id: int) -> dict[str, Any] | None:
    row = tx.one(
        "SELECT flow_uuid, total, created_at FROM broadcasts WHERE id = :id AND "
        "organization_id = :org",
        {"id": broadcast_id, "org": organization_id},
    )
    if row is None:
        return None
    counts = dict(
        tx.execute(
            "SELECT status, COUNT(*) FROM flow_starts WHERE broadcast_id = :id GROUP BY status",
            {"id": broadcast_id},
        )
    )
    return {
        "id": broadcast_id,
        "flow": row[0],
        "total": int(row[1]),
        "started": int(counts.get("done", 0)),
        "pending": int(counts.get("pending", 0)),
        "created_at": str(tx.read_ts(row[2])),
    }
