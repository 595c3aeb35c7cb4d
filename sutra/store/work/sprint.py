"""``save``: one transaction per sprint — consumed mark, session, runs, results, contact
changes, outgoing messages, input labels, webhook log and LLM usage."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sutra.engine import events as ev
from sutra.engine.session import Contact, Session
from sutra.store.hotdb import Tx
from sutra.store.work.common import announce, new_uuid, now_utc
from sutra.store.work.starts import new_broadcast

log = logging.getLogger(__name__)


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
    audio_seconds: float = 0.0


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
    now = tx.ts(now_utc())
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
        tx.execute(
            "UPDATE flow_starts SET status = 'done', session_uuid = :session WHERE id = :id",
            {"id": w.start_id, "session": session.uuid},
        )
    _save_results(tx, org, session, w.events, now)
    if any(e.type.startswith("contact_") for e in w.events):
        _save_contact(tx, org, contact, now)
        _save_contact_status(tx, contact, w.events, now)
    for event in w.events:
        if isinstance(event, ev.SessionsStartRequested):
            _save_start_request(tx, org, session, event)
        elif isinstance(event, ev.BroadcastCreated):
            _save_broadcast(tx, org, session, event, w.channel, now)
        elif isinstance(event, ev.ContactURNsChanged):
            _save_urn(tx, org, session, event.added, now)
        elif isinstance(event, ev.TicketOpened):
            _save_ticket(tx, org, contact, event, now)
    out: list[str] = []
    for event in w.events:
        if isinstance(event, ev.MsgOut):
            uuid = new_uuid()
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
        "model, prompt_tokens, completion_tokens, latency_ms, audio_seconds, cost, created_at) "
        "VALUES (:org, :contact, :flow, :function, :provider, :model, :prompt, :completion, "
        ":latency, :audio, :cost, :now)",
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
                "audio": u.audio_seconds,
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


def _save_start_request(
    tx: Tx, org: int, session: Session, event: ev.SessionsStartRequested
) -> None:
    """``start_session`` as broadcasts due now, written with the sprint so that a crash loses
    neither; the broadcast scheduler writes their starts (a group's in batches) within a
    second, and the broadcasts page shows them. One broadcast per group: a broadcast has one."""
    now = now_utc()
    by_urn = _urn_contacts(tx, org, event.urns, now)
    groups = []
    for ref in event.groups:
        found = _group_uuid(tx, org, ref)
        if found is None:
            log.warning("session %s: start_session names no group %r", session.uuid, ref.name)
        else:
            groups.append(found)
    contacts = list(dict.fromkeys([*event.contacts, *by_urn]))
    targets: list[dict[str, Any]] = [{"group": g} for g in dict.fromkeys(groups)]
    if contacts:
        targets.append({"contacts": contacts})
    by = f"flow: {session.runs[0].flow_name}" if session.runs else "flow"
    for target in targets:
        new_broadcast(tx, org, event.flow, target=target, send_at=now, created_by=by)


def _save_urn(tx: Tx, org: int, session: Session, urn: str, now: Any) -> None:
    """An address is one contact's in an organisation: one another contact had moves to this
    one, as RapidPro moves it (the flow just heard the contact give it as theirs)."""
    scheme, _, path = urn.partition(":")
    tx.execute(
        "INSERT INTO contact_urns (organization_id, contact_id, scheme, path, created_at) "
        "VALUES (:org, :contact, :scheme, :path, :now) ON CONFLICT (organization_id, scheme, "
        "path) DO UPDATE SET contact_id = excluded.contact_id",
        {"org": org, "contact": session.contact.id, "scheme": scheme, "path": path, "now": now},
    )


def _save_ticket(tx: Tx, org: int, contact: Contact, event: ev.TicketOpened, now: Any) -> None:
    # The uuid comes from the step: a step done again after a crash opens no second ticket.
    tx.execute(
        "INSERT INTO tickets (uuid, organization_id, contact_id, topic, body, assignee, status, "
        "flow_uuid, opened_at) VALUES (:uuid, :org, :contact, :topic, :body, :assignee, 'open', "
        ":flow, :now) ON CONFLICT (uuid) DO NOTHING",
        {
            "uuid": event.uuid,
            "org": org,
            "contact": contact.id,
            "topic": event.topic,
            "body": event.body,
            "assignee": event.assignee,
            "flow": event.flow_uuid,
            "now": now,
        },
    )


def _urn_contacts(tx: Tx, org: int, urns: list[str], now: Any) -> list[str]:
    """The uuids of the contacts with these urns (their own, or one a flow added); one nobody
    has written from yet becomes a contact now, as a message from it would make one."""
    uuids = []
    for urn in urns:
        scheme, _, path = urn.partition(":")
        added = tx.one(
            "SELECT c.uuid FROM contact_urns u JOIN contacts c ON c.id = u.contact_id "
            "WHERE u.organization_id = :org AND u.scheme = :scheme AND u.path = :path",
            {"org": org, "scheme": scheme, "path": path},
        )
        if added is not None:
            uuids.append(str(added[0]))
            continue
        tx.execute(
            "INSERT INTO contacts (uuid, organization_id, urn, fields, status, created_at, "
            "updated_at) VALUES (:uuid, :org, :urn, :fields, 'active', :now, :now) "
            "ON CONFLICT (organization_id, urn) DO NOTHING",
            {"uuid": new_uuid(), "org": org, "urn": urn, "fields": tx.json({}), "now": tx.ts(now)},
        )
        row = tx.one(
            "SELECT uuid FROM contacts WHERE organization_id = :org AND urn = :urn",
            {"org": org, "urn": urn},
        )
        if row is not None:
            uuids.append(str(row[0]))
    return uuids


def _save_broadcast(
    tx: Tx, org: int, session: Session, event: ev.BroadcastCreated, channel: str, now: Any
) -> None:
    """``send_broadcast`` as one queued message per opted-in recipient, written with the
    sprint; the pipeline sends them in turn with each contact's other messages. A recipient
    with no channel of its own gets the sender's."""
    uuids = list(dict.fromkeys([*event.contacts, *_urn_contacts(tx, org, event.urns, now_utc())]))
    groups = []
    for ref in event.groups:
        found = _group_uuid(tx, org, ref)
        if found is None:
            log.warning("session %s: send_broadcast names no group %r", session.uuid, ref.name)
        else:
            groups.append(found)
    if not uuids and not groups:
        return
    params: dict[str, Any] = {f"c{i}": u for i, u in enumerate(uuids)}
    params |= {f"g{i}": g for i, g in enumerate(groups)}
    wanted = []
    if uuids:
        wanted.append(f"c.uuid IN ({', '.join(f':c{i}' for i in range(len(uuids)))})")
    if groups:
        listed = ", ".join(f":g{i}" for i in range(len(groups)))
        wanted.append(
            "c.id IN (SELECT cg.contact_id FROM contact_groups cg JOIN groups g ON "
            f"g.id = cg.group_id WHERE g.uuid IN ({listed}))"
        )
    rows = tx.execute(
        "SELECT c.id, COALESCE(c.channel, :channel) FROM contacts c WHERE "
        f"c.organization_id = :org AND c.status = 'active' AND ({' OR '.join(wanted)})",
        {"org": org, "channel": channel, **params},
    )
    tx.executemany(
        "INSERT INTO messages (uuid, organization_id, contact_id, direction, text, attachments, "
        "quick_replies, labels, channel, status, attempts, created_at, updated_at) VALUES "
        "(:uuid, :org, :contact, 'out', :text, :attachments, :replies, :empty, :channel, "
        "'queued', 0, :now, :now)",
        [
            {
                "uuid": new_uuid(),
                "org": org,
                "contact": int(contact_id),
                "text": event.text,
                "attachments": tx.json(event.attachments),
                "replies": tx.json(event.quick_replies),
                "empty": tx.json([]),
                "channel": str(contact_channel),
                "now": now,
            }
            for contact_id, contact_channel in rows
        ],
    )
    # Another process may be the one with room for these contacts (PostgreSQL).
    announce(tx)


def _group_uuid(tx: Tx, org: int, ref: ev.GroupRef) -> str | None:
    """The organisation's group a flow names: by uuid, else by name (imports keep names)."""
    for column, value in (("uuid", ref.uuid), ("name", ref.name)):
        if value:
            row = tx.one(
                f"SELECT uuid FROM groups WHERE organization_id = :org AND {column} = :value",
                {"org": org, "value": value},
            )
            if row is not None:
                return str(row[0])
    return None


def _save_contact_status(tx: Tx, contact: Contact, events: list[ev.Event], now: Any) -> None:
    """Status and channel are kept from their events: the engine's contact carries neither
    status nor a chosen channel apart from the one a message last came by."""
    status = [e.status for e in events if isinstance(e, ev.ContactStatusChanged)]
    if status:
        tx.execute(
            "UPDATE contacts SET status = :status, updated_at = :now WHERE id = :id",
            {"status": status[-1], "now": now, "id": contact.id},
        )
    channel = [e.channel for e in events if isinstance(e, ev.ContactChannelChanged)]
    if channel:
        tx.execute(
            "UPDATE contacts SET channel = :channel, updated_at = :now WHERE id = :id",
            {"channel": channel[-1], "now": now, "id": contact.id},
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
            {"uuid": g.uuid or new_uuid(), "org": org, "name": g.name, "now": now}
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
