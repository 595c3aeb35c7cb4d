"""Flows, contacts and their settings in engine terms, through the ORM (the per-message writes
are in :mod:`sutra.store.work`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from sutra.engine.session import Contact, Group
from sutra.flows.load import FlowFile, LoadedFlow
from sutra.flows.models import Flow
from sutra.flows.validate import issue_json
from sutra.store import models as m

_IMPORT_ATTEMPTS = 5


@dataclass(frozen=True)
class ImportedFlow:
    uuid: str
    name: str
    revision: int
    changed: bool
    keywords: list[str]


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
        """Store every flow of the file; a changed definition becomes a new revision.

        Two imports of the same file at once (two staff, a retried upload) race for the same
        new rows; the one that loses sees the other's rows when it runs again.
        """
        for attempt in range(_IMPORT_ATTEMPTS):
            try:
                return await self._import_flow_file(flow_file, created_by)
            except IntegrityError:
                if attempt == _IMPORT_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def _import_flow_file(
        self, flow_file: FlowFile, created_by: str | None
    ) -> list[ImportedFlow]:
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
                # Kept with the revision, so the flow list shows them after the import too.
                issues = _warnings_of(flow_file, loaded)
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
                        issues=issues,
                        created_by=created_by,
                    )
                    db.add(revision)
                    await db.flush()
                    row.current_revision_id = revision.id
                    number_now = number
                else:
                    number_now = current.revision if current else 1
                    if current is not None and current.issues != issues:
                        # The same flow, seen again: a sub-flow it starts may be here now.
                        current.issues = issues
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

    async def flows_version(self) -> tuple[object, ...]:
        """Changes whenever a flow or revision is added, or a flow renamed, archived or given
        other keywords: tells a cache to reload."""
        async with self.sessions() as db:
            row = (
                await db.execute(
                    select(
                        func.count(m.Flow.id).filter(m.Flow.archived.is_(False)),
                        func.max(m.Flow.updated_at),
                        select(func.max(m.FlowRevision.id)).scalar_subquery(),
                    ).where(m.Flow.organization_id == self.org)
                )
            ).one()
            return tuple(row)

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

    async def catch_all(self) -> str | None:
        """The organisation's "no flow matched" flow, when set and still active."""
        async with self.sessions() as db:
            return await db.scalar(
                select(m.Flow.uuid)
                .join(m.Organization, m.Organization.catch_all_flow_uuid == m.Flow.uuid)
                .where(
                    m.Organization.id == self.org,
                    m.Flow.organization_id == self.org,
                    m.Flow.archived.is_(False),
                )
            )

    async def default_country(self) -> str | None:
        """The organisation's own default country (its settings), None when it chose none."""
        async with self.sessions() as db:
            settings = await db.scalar(
                select(m.Organization.settings).where(m.Organization.id == self.org)
            )
        found = (settings or {}).get("default_country")
        return str(found).upper() if found else None

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
                contact = _contact(row)
                contact.urns = [
                    f"{scheme}:{path}"
                    for scheme, path in await db.execute(
                        select(m.ContactURN.scheme, m.ContactURN.path)
                        .where(m.ContactURN.contact_id == row.id)
                        .order_by(m.ContactURN.id)
                    )
                ]
                contact.ticket = await db.scalar(
                    select(m.Ticket.uuid)
                    .where(m.Ticket.contact_id == row.id, m.Ticket.status == "open")
                    .order_by(m.Ticket.id.desc())
                    .limit(1)
                )
                return contact
        except IntegrityError:
            # Another worker created it a moment ago; this session is closed, look again.
            return await self.contact(urn, name=name, phone=phone)

    async def _contact_row(self, db: AsyncSession, urn: str) -> m.Contact | None:
        return await db.scalar(
            select(m.Contact)
            .where(m.Contact.organization_id == self.org, m.Contact.urn == urn)
            .options(selectinload(m.Contact.groups))
        )

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


def _warnings_of(flow_file: FlowFile, loaded: LoadedFlow) -> list[dict[str, Any]]:
    """The file's warnings about this flow, as its revision stores them."""
    prefix = loaded.path
    mine = [
        w
        for w in flow_file.warnings
        if not prefix or w.path == prefix or w.path.startswith(f"{prefix}.")
    ]
    return [
        issue_json(loaded.definition, w._replace(path=w.path[len(prefix) :].lstrip(".")), "warning")
        for w in mine
    ]
