"""Reads and writes the runtime needs, in engine terms (flows, contacts, sessions, events)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from sutra.engine import events as ev
from sutra.engine.session import Contact, Group, Input, Session
from sutra.flows.load import FlowFile
from sutra.flows.models import Flow
from sutra.store import models as m


@dataclass(frozen=True)
class ImportedFlow:
    uuid: str
    name: str
    revision: int
    changed: bool
    keywords: list[str]


def _now() -> datetime:
    return datetime.now(UTC)


class Repository:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], organization_id: int = 1
    ) -> None:
        self.sessions = sessions
        self.org = organization_id

    # --- flows -------------------------------------------------------------------------------

    async def import_flow_file(
        self, flow_file: FlowFile, *, created_by: str | None = None
    ) -> list[ImportedFlow]:
        """Store every flow of the file; a changed definition becomes a new revision."""
        imported = []
        async with self.sessions.begin() as db:
            for loaded in flow_file.flows:
                flow = loaded.flow
                row = await db.scalar(
                    select(m.Flow)
                    .where(m.Flow.organization_id == self.org, m.Flow.uuid == flow.uuid)
                    .options(selectinload(m.Flow.current_revision))
                )
                if row is None:
                    row = m.Flow(
                        organization_id=self.org, uuid=flow.uuid, name=flow.name, keywords=[]
                    )
                    db.add(row)
                    await db.flush()
                current = row.current_revision
                changed = current is None or current.definition != loaded.definition
                row.name = flow.name
                row.archived = False
                if flow_file.format == "glific":
                    row.keywords = loaded.keywords
                if changed:
                    number = (current.revision + 1) if current else 1
                    revision = m.FlowRevision(
                        flow_id=row.id,
                        revision=number,
                        definition=loaded.definition,
                        spec_version=flow.spec_version,
                        issues=[],
                        created_by=created_by,
                    )
                    db.add(revision)
                    await db.flush()
                    row.current_revision_id = revision.id
                    number_now = number
                else:
                    number_now = current.revision if current else 1
                imported.append(
                    ImportedFlow(
                        flow.uuid, flow.name, number_now, changed, list(row.keywords or [])
                    )
                )
            await self._ensure_fields(db, flow_file.fields)
            await self._ensure_groups(db, flow_file.groups)
        return imported

    async def _ensure_fields(self, db: AsyncSession, fields: list[dict[str, str]]) -> None:
        if not fields:
            return
        existing = set(
            await db.scalars(
                select(m.ContactField.key).where(m.ContactField.organization_id == self.org)
            )
        )
        for item in fields:
            if item["key"] not in existing:
                db.add(
                    m.ContactField(
                        organization_id=self.org,
                        key=item["key"],
                        name=item.get("name") or item["key"],
                    )
                )
                existing.add(item["key"])

    async def _ensure_groups(self, db: AsyncSession, names: Iterable[str]) -> dict[str, m.Group]:
        wanted = [name for name in dict.fromkeys(names) if name]
        if not wanted:
            return {}
        rows = {
            g.name: g
            for g in await db.scalars(
                select(m.Group).where(m.Group.organization_id == self.org, m.Group.name.in_(wanted))
            )
        }
        for name in wanted:
            if name not in rows:
                rows[name] = m.Group(organization_id=self.org, name=name)
                db.add(rows[name])
        await db.flush()
        return rows

    async def load_flows(self) -> dict[str, Flow]:
        """Every active flow's current definition, by uuid."""
        async with self.sessions() as db:
            rows = await db.execute(
                select(m.Flow.uuid, m.FlowRevision.definition)
                .join(m.FlowRevision, m.FlowRevision.id == m.Flow.current_revision_id)
                .where(m.Flow.organization_id == self.org, m.Flow.archived.is_(False))
            )
            return {uuid: Flow.model_validate(definition) for uuid, definition in rows}

    async def flows_version(self) -> tuple[int, int]:
        """Changes whenever a flow or revision is added: tells a cache to reload."""
        async with self.sessions() as db:
            count = await db.scalar(
                select(func.count()).select_from(m.Flow).where(m.Flow.archived.is_(False))
            )
            newest = await db.scalar(select(func.max(m.FlowRevision.id)))
            return int(count or 0), int(newest or 0)

    async def find_flow(self, name_or_uuid: str) -> tuple[str, str] | None:
        async with self.sessions() as db:
            wanted = name_or_uuid.strip()
            row = await db.execute(
                select(m.Flow.uuid, m.Flow.name).where(
                    m.Flow.organization_id == self.org,
                    m.Flow.archived.is_(False),
                    (m.Flow.uuid == wanted) | (func.lower(m.Flow.name) == wanted.lower()),
                )
            )
            found = row.first()
            return (found[0], found[1]) if found else None

    async def keywords(self) -> dict[str, str]:
        """Each active flow's keywords (lower case, trimmed) -> the flow's uuid."""
        found: dict[str, str] = {}
        async with self.sessions() as db:
            rows = await db.execute(
                select(m.Flow.uuid, m.Flow.keywords)
                .where(m.Flow.organization_id == self.org, m.Flow.archived.is_(False))
                .order_by(m.Flow.id)
            )
            for uuid, keywords in rows:
                for keyword in keywords or []:
                    found.setdefault(str(keyword).strip().lower(), uuid)
        found.pop("", None)
        return found

    async def globals(self) -> dict[str, str]:
        async with self.sessions() as db:
            rows = await db.execute(
                select(m.Global.key, m.Global.value).where(m.Global.organization_id == self.org)
            )
            return {key: value for key, value in rows}

    # --- contacts ----------------------------------------------------------------------------

    async def contact(
        self, urn: str, *, name: str | None = None, phone: str | None = None
    ) -> Contact:
        """The contact with ``urn``, created on first sight."""
        try:
            async with self.sessions.begin() as db:
                row = await self._contact_row(db, urn)
                if row is None:
                    row = m.Contact(
                        organization_id=self.org, urn=urn, name=name, phone=phone, fields={}
                    )
                    db.add(row)
                    await db.flush()
                    await db.refresh(row, ["groups"])
                elif name and not row.name:
                    row.name = name
                return _contact(row)
        except IntegrityError:
            # Another worker created it a moment ago; this session is closed, look again.
            return await self.contact(urn, name=name, phone=phone)

    async def contact_by_id(self, contact_id: int) -> Contact:
        async with self.sessions() as db:
            row = await db.scalar(
                select(m.Contact)
                .where(m.Contact.id == contact_id)
                .options(selectinload(m.Contact.groups))
            )
            if row is None:
                raise LookupError(f"no contact {contact_id}")
            return _contact(row)

    async def _contact_row(self, db: AsyncSession, urn: str) -> m.Contact | None:
        return await db.scalar(
            select(m.Contact)
            .where(m.Contact.organization_id == self.org, m.Contact.urn == urn)
            .options(selectinload(m.Contact.groups))
        )

    # --- sessions ----------------------------------------------------------------------------

    async def waiting_session(self, contact_id: int) -> Session | None:
        async with self.sessions() as db:
            row = await db.scalar(
                select(m.FlowSession)
                .where(m.FlowSession.contact_id == contact_id, m.FlowSession.status == "waiting")
                .order_by(m.FlowSession.id.desc())
                .limit(1)
            )
            return Session.model_validate(row.state) if row else None

    async def save_sprint(
        self,
        session: Session,
        events: list[ev.Event],
        *,
        channel: str,
        consumed: str | None = None,
    ) -> list[str]:
        """Persist a session after a step and what it did; returns the new outgoing msg uuids.

        ``consumed`` is the inbound message this step handled: it is marked handled in the same
        transaction, so after a crash a message is either fully handled or still to do.
        """
        contact = session.contact
        assert contact.id is not None, "contacts are stored before they run flows"
        out: list[str] = []
        async with self.sessions.begin() as db:
            row = await db.scalar(select(m.FlowSession).where(m.FlowSession.uuid == session.uuid))
            wait = session.wait
            values = {
                "status": session.status,
                "state": session.model_dump(mode="json"),
                "wait_kind": wait.kind if wait else None,
                "wait_timeout_at": (wait.timeout_on or wait.resume_on) if wait else None,
                "expires_at": session.expires_on,
                "current_flow_uuid": session.active_run.flow_uuid if session.active_run else None,
                "ended_at": None if session.status in ("waiting", "active") else _now(),
            }
            if row is None:
                row = m.FlowSession(
                    uuid=session.uuid, organization_id=self.org, contact_id=contact.id, **values
                )
                db.add(row)
                await db.flush()
            else:
                for key, value in values.items():
                    setattr(row, key, value)
            if consumed is not None:
                await db.execute(
                    update(m.Message).where(m.Message.uuid == consumed).values(status="handled")
                )
            await self._save_runs(db, row.id, session)
            await self._save_results(db, session, events)
            if any(e.type.startswith("contact_") for e in events):
                await self._save_contact(db, contact)
            for event in events:
                if isinstance(event, ev.MsgOut):
                    message = m.Message(
                        organization_id=self.org,
                        contact_id=contact.id,
                        direction="out",
                        text=event.text,
                        attachments=event.attachments,
                        quick_replies=event.quick_replies,
                        channel=channel,
                        status="queued",
                        session_uuid=session.uuid,
                        flow_uuid=event.flow_uuid,
                        payload={"interactive": event.interactive} if event.interactive else None,
                    )
                    db.add(message)
                    await db.flush()
                    out.append(message.uuid)
                elif isinstance(event, ev.InputLabelsAdded) and event.input_uuid:
                    incoming = await db.scalar(
                        select(m.Message).where(m.Message.uuid == event.input_uuid)
                    )
                    if incoming is not None:
                        incoming.labels = sorted({*(incoming.labels or []), *event.labels})
        return out

    async def _save_runs(self, db: AsyncSession, session_id: int, session: Session) -> None:
        existing = {
            r.uuid: r for r in await db.scalars(select(m.Run).where(m.Run.session_id == session_id))
        }
        for run in session.runs:
            row = existing.get(run.uuid)
            if row is None:
                row = m.Run(
                    uuid=run.uuid,
                    session_id=session_id,
                    flow_uuid=run.flow_uuid,
                    contact_id=session.contact.id,
                )
                db.add(row)
            row.status = run.status
            row.results = run.results
            row.path = [step.model_dump(mode="json") for step in run.path]
            row.exited_at = run.exited_on

    async def _save_results(
        self, db: AsyncSession, session: Session, events: list[ev.Event]
    ) -> None:
        changed = [e for e in events if isinstance(e, ev.RunResultChanged)]
        if not changed:
            return
        runs_by_flow: dict[str, list[Any]] = {}
        for run in session.runs:
            runs_by_flow.setdefault(run.flow_uuid, []).append(run)
        for event in changed:
            run = next(
                (
                    r
                    for r in reversed(runs_by_flow.get(event.flow_uuid, []))
                    if event.key in r.results
                ),
                None,
            )
            if run is None:
                continue
            data = run.results[event.key]
            row = await db.scalar(
                select(m.FlowResult).where(
                    m.FlowResult.run_uuid == run.uuid, m.FlowResult.key == event.key
                )
            )
            if row is None:
                row = m.FlowResult(
                    organization_id=self.org,
                    flow_uuid=run.flow_uuid,
                    run_uuid=run.uuid,
                    session_uuid=session.uuid,
                    contact_id=session.contact.id,
                    key=event.key,
                )
                db.add(row)
            row.name = event.name
            row.input = event.input
            row.value = "" if event.value is None else str(event.value)
            row.category = data.get("category")
            row.data = data

    async def save_contact(self, contact: Contact) -> None:
        """Store the contact's name, language, fields and groups as they are now."""
        async with self.sessions.begin() as db:
            await self._save_contact(db, contact)

    async def _save_contact(self, db: AsyncSession, contact: Contact) -> None:
        row = await db.scalar(
            select(m.Contact)
            .where(m.Contact.id == contact.id)
            .options(selectinload(m.Contact.groups))
        )
        if row is None:
            return
        row.name = contact.name
        row.language = contact.language
        row.fields = dict(contact.fields)
        groups = await self._ensure_groups(db, [g.name for g in contact.groups])
        row.groups = [groups[g.name] for g in contact.groups if g.name in groups]

    # --- messages and logs -------------------------------------------------------------------

    async def add_incoming(
        self,
        contact: Contact,
        message: Input,
        *,
        channel: str,
        external_id: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> bool:
        """Store an inbound message; False when the channel delivered it before."""
        try:
            async with self.sessions.begin() as db:
                db.add(
                    m.Message(
                        uuid=message.uuid,
                        organization_id=self.org,
                        contact_id=contact.id,
                        direction="in",
                        text=message.text,
                        attachments=message.attachments,
                        channel=channel,
                        external_id=external_id,
                        status="received",
                        payload=payload,
                    )
                )
                row = await db.scalar(select(m.Contact).where(m.Contact.id == contact.id))
                if row is not None:
                    row.last_message_at = _now()
                    row.channel = channel
        except IntegrityError:
            return False
        return True

    async def set_attachments(self, uuid: str, attachments: list[str]) -> None:
        async with self.sessions.begin() as db:
            await db.execute(
                update(m.Message).where(m.Message.uuid == uuid).values(attachments=attachments)
            )

    async def mark_message(
        self, uuid: str, status: str, *, error: str | None = None, external_id: str | None = None
    ) -> None:
        async with self.sessions.begin() as db:
            row = await db.scalar(select(m.Message).where(m.Message.uuid == uuid))
            if row is None:
                return
            row.status = status
            row.error = error
            if external_id:
                row.external_id = external_id
            if status == "sent":
                row.sent_at = _now()

    async def add_webhook_log(
        self, log: Any, *, contact_id: int | None, flow_uuid: str, session_uuid: str
    ) -> None:
        usage = log.usage[0] if log.usage else None
        response = (
            log.response
            if isinstance(log.response, dict) or log.response is None
            else {"body": log.response}
        )
        async with self.sessions.begin() as db:
            db.add(
                m.WebhookLog(
                    organization_id=self.org,
                    contact_id=contact_id,
                    flow_uuid=flow_uuid,
                    session_uuid=session_uuid,
                    result_name=log.result_name,
                    method=log.method,
                    url=log.url,
                    request=log.request,
                    response=response,
                    status_code=log.status_code,
                    error=log.error,
                    duration_ms=log.duration_ms,
                    llm_provider=usage.provider if usage else None,
                    llm_model=usage.model if usage else None,
                    prompt_tokens=sum(u.prompt_tokens for u in log.usage) if usage else None,
                    completion_tokens=sum(u.completion_tokens for u in log.usage)
                    if usage
                    else None,
                )
            )


def _contact(row: m.Contact) -> Contact:
    return Contact(
        uuid=row.uuid,
        id=row.id,
        name=row.name,
        urn=row.urn,
        channel=row.channel,
        phone=row.phone,
        language=row.language,
        fields={str(k): str(v) for k, v in (row.fields or {}).items()},
        groups=[Group(uuid=g.uuid, name=g.name) for g in row.groups],
    )


class WorkQueue:
    """The durable work of the inbound pipeline, kept in the database and nowhere else.

    A contact is claimed with a lease (``contacts.busy_owner`` / ``busy_until``) by one worker
    at a time, which keeps that contact's messages strictly in order while other contacts run
    concurrently — across any number of processes sharing the database. A lease that is not
    renewed (its process died) simply runs out and another worker takes over.
    """

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.sessions = repo.sessions

    async def claim(self, contact_id: int, owner: str, seconds: float) -> bool:
        now = _now()
        async with self.sessions.begin() as db:
            result = await db.execute(
                update(m.Contact)
                .where(
                    m.Contact.id == contact_id,
                    or_(
                        m.Contact.busy_until.is_(None),
                        m.Contact.busy_until < now,
                        m.Contact.busy_owner == owner,
                    ),
                )
                .values(busy_owner=owner, busy_until=now + timedelta(seconds=seconds))
                .execution_options(synchronize_session=False)
            )
            return bool(getattr(result, "rowcount", 0))

    async def release(self, contact_id: int, owner: str) -> None:
        async with self.sessions.begin() as db:
            await db.execute(
                update(m.Contact)
                .where(m.Contact.id == contact_id, m.Contact.busy_owner == owner)
                .values(busy_owner=None, busy_until=None)
                .execution_options(synchronize_session=False)
            )

    async def next_inbound(self, contact_id: int) -> tuple[str, Input, str] | None:
        """The oldest message from the contact that no flow has seen yet."""
        async with self.sessions() as db:
            row = await db.scalar(
                select(m.Message)
                .where(
                    m.Message.contact_id == contact_id,
                    m.Message.direction == "in",
                    m.Message.status == "received",
                )
                .order_by(m.Message.id)
                .limit(1)
            )
            if row is None:
                return None
            message = Input(
                uuid=row.uuid,
                text=row.text,
                attachments=row.attachments or [],
                created_on=row.created_at,
            )
            return row.uuid, message, row.channel

    async def mark_handled(self, message_uuid: str) -> None:
        await self.repo.mark_message(message_uuid, "handled")

    async def due_outbound(self, contact_id: int, now: datetime) -> list[m.Message]:
        async with self.sessions() as db:
            rows = await db.scalars(
                select(m.Message)
                .where(
                    m.Message.contact_id == contact_id,
                    m.Message.direction == "out",
                    m.Message.status == "queued",
                    or_(m.Message.next_attempt_at.is_(None), m.Message.next_attempt_at <= now),
                )
                .order_by(m.Message.id)
            )
            return list(rows)

    async def retry_later(self, message_uuid: str, seconds: float, error: str) -> None:
        async with self.sessions.begin() as db:
            row = await db.scalar(select(m.Message).where(m.Message.uuid == message_uuid))
            if row is not None:
                row.attempts = (row.attempts or 0) + 1
                row.error = error
                row.next_attempt_at = _now() + timedelta(seconds=seconds)

    async def session_needing_work(self, contact_id: int, now: datetime) -> Session | None:
        """A session that waits on something due now: a webhook to (re)do, a timeout."""
        async with self.sessions() as db:
            row = await db.scalar(
                select(m.FlowSession)
                .where(
                    m.FlowSession.contact_id == contact_id,
                    m.FlowSession.status == "waiting",
                    or_(
                        m.FlowSession.wait_kind == "webhook",
                        m.FlowSession.wait_timeout_at <= now,
                    ),
                )
                .order_by(m.FlowSession.id.desc())
                .limit(1)
            )
            return Session.model_validate(row.state) if row else None

    async def contacts_with_work(self, now: datetime, limit: int = 500) -> list[int]:
        """Unleased contacts that have something to do: the sweeper's list."""
        free = or_(m.Contact.busy_until.is_(None), m.Contact.busy_until < now)
        async with self.sessions() as db:
            inbound = select(m.Message.contact_id).where(
                m.Message.direction == "in", m.Message.status == "received"
            )
            outbound = select(m.Message.contact_id).where(
                m.Message.direction == "out",
                m.Message.status == "queued",
                or_(m.Message.next_attempt_at.is_(None), m.Message.next_attempt_at <= now),
            )
            waiting = select(m.FlowSession.contact_id).where(
                m.FlowSession.status == "waiting",
                or_(m.FlowSession.wait_kind == "webhook", m.FlowSession.wait_timeout_at <= now),
            )
            rows = await db.scalars(
                select(m.Contact.id)
                .where(m.Contact.id.in_(inbound.union(outbound, waiting)), free)
                .limit(limit)
            )
            return list(rows)
