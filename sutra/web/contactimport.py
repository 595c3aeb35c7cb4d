"""Contacts from a CSV file: read it, map its columns, preview, then import in the background.

A file is checked whole before anything is stored (the preview does the same check), and a
row that cannot be imported is refused on its own, named by its row number as a spreadsheet
shows it (the header is row 1), while the other rows are imported. Phone numbers are read with
``phonenumbers`` (a number without ``+`` belongs to the default country) and stored in E.164 as
the channels store them, so an imported contact is the same contact when they write in: the
address ``whatsapp:<digits>``. A phone number already stored updates that contact: fields are
merged, groups added, and empty cells change nothing.

The import runs in the process that got the file, in batches, each one transaction that also
moves the job's progress on (a :class:`~sutra.store.models.ContactImport` row), so any process
can tell a polling page how far it is, and a crash leaves whole batches only.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from sutra.expressions import snakify
from sutra.store import models as m
from sutra.store.repository import Repository
from sutra.web import contactstore as cs
from sutra.web.contactstore import ContactError

log = logging.getLogger(__name__)

BATCH = 500
PREVIEW_ROWS = 10
# The refusals a job keeps to show; it counts them all.
KEPT_ERRORS = 1000
# A running import whose progress has not moved for this long was in a process that stopped.
STALE_AFTER = timedelta(minutes=2)
ATTRIBUTES = ("name", "phone", "language", "groups", "status")
# Header names (snake case) each attribute is recognised by when a file is first read.
_GUESS = {
    "name": {"name", "full_name", "contact_name", "contact", "first_name"},
    "phone": {
        "phone",
        "phone_number",
        "mobile",
        "mobile_number",
        "number",
        "whatsapp",
        "whatsapp_number",
        "msisdn",
        "tel",
        "telephone",
        "urn",
    },
    "language": {"language", "lang", "preferred_language"},
    "groups": {"groups", "group", "collections", "collection"},
    "status": {"status", "opt_in", "opted_in"},
}
# What an export says about a contact that an import does not change.
_EXPORT_ONLY = {"uuid", "last_seen", "created", "created_at", "last_message_at"}
# Cells of a groups column hold one or several names.
_GROUP_SEPARATORS = (";", "|", ",")
_tasks: set[asyncio.Task[None]] = set()


@dataclass
class Sheet:
    header: list[str]
    # (row number as a spreadsheet shows it, cells)
    rows: list[tuple[int, list[str]]]


def read_csv(data: bytes) -> Sheet:
    """The header and the non-blank rows of a CSV file (comma, semicolon or tab separated)."""
    if not data.strip():
        raise ContactError("file: the file is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel's "CSV" on Windows: not UTF-8, and every byte means something in cp1252.
        text = data.decode("cp1252", errors="replace")
    sample = text[:20_000]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    rows: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    number = 0
    try:
        for record in reader:
            number += 1
            if header is None:
                header = [cell.strip() for cell in record]
                continue
            if any(cell.strip() for cell in record):
                rows.append((number, record))
    except csv.Error as exc:
        raise ContactError(f"file: row {number + 1}: {exc}") from None
    if not header or not any(header):
        raise ContactError("file: the first row should name the columns")
    return Sheet([h or f"Column {i + 1}" for i, h in enumerate(header)], rows)


def guess_targets(header: list[str], defined: dict[str, m.ContactField]) -> list[str]:
    """What each column most likely is: an attribute, a defined field, else a new field."""
    by_name = {snakify(f.name): key for key, f in defined.items()}
    taken: set[str] = set()
    targets = []
    for title in header:
        key = snakify(title)
        target = next((a for a, names in _GUESS.items() if key in names and a not in taken), "")
        if not target and key and key not in _EXPORT_ONLY:
            target = f"field:{key if key in defined else by_name.get(key, key)}"
        if target in taken:
            target = ""
        if target:
            taken.add(target)
        targets.append(target)
    return targets


def parse_columns(raw: str | None, header: list[str]) -> list[str] | None:
    """The mapping a person chose: a JSON list (a target per column, in order) or an object
    (column name -> target). Targets: name, phone, language, groups, status, field:<key>, or
    "" to leave the column out."""
    if raw is None or not raw.strip():
        return None
    try:
        given = json.loads(raw)
    except ValueError:
        raise ContactError("columns: not JSON (a list of targets, or column -> target)") from None
    if isinstance(given, dict):
        unknown = [name for name in given if name not in header]
        if unknown:
            raise ContactError(f'columns: the file has no column "{unknown[0]}"')
        given = [given.get(title, "") for title in header]
    if not isinstance(given, list) or len(given) != len(header):
        raise ContactError(f"columns: give one target for each of the {len(header)} columns")
    targets = []
    for index, target in enumerate(given):
        target = "" if target is None else str(target).strip()
        if target.startswith("field:"):
            key = snakify(target.removeprefix("field:"))
            if not key or key in ATTRIBUTES:
                raise ContactError(f'columns[{index}]: "{target}" is not a field key')
            target = f"field:{key}"
        elif target not in ATTRIBUTES and target not in ("", "ignore"):
            raise ContactError(
                f'columns[{index}] ("{header[index]}"): "{target}" is not one of name, phone, '
                "language, groups, status, field:<key> or empty"
            )
        targets.append("" if target == "ignore" else target)
    return targets


@dataclass
class Prepared:
    row: int
    urn: str
    phone: str
    name: str | None = None
    language: str | None = None
    status: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "phone": f"+{self.phone}",
            "name": self.name,
            "language": self.language,
            "status": self.status,
            "fields": self.fields,
            "groups": self.groups,
        }


@dataclass
class Plan:
    """A file checked against a mapping: what would be imported, and what refused."""

    sheet: Sheet
    targets: list[str]
    country: str | None
    ready: list[Prepared]
    errors: list[dict[str, Any]]
    # Fields the mapping names that are not defined yet: they are made as text fields.
    new_fields: dict[str, str]


def plan(
    sheet: Sheet, targets: list[str], country: str | None, defined: dict[str, m.ContactField]
) -> Plan:
    problem = cs.country_problem(country)
    if problem:
        raise ContactError(problem)
    country = country.upper() if country else None
    chosen = [t for t in targets if t]
    if "phone" not in chosen:
        raise ContactError("columns: choose the column that holds the phone numbers")
    for target in set(chosen):
        if target != "groups" and chosen.count(target) > 1:
            raise ContactError(f'columns: two columns are mapped to "{target}"')
    new_fields = {
        t.removeprefix("field:"): sheet.header[i]
        for i, t in enumerate(targets)
        if t.startswith("field:") and t.removeprefix("field:") not in defined
    }
    ready: list[Prepared] = []
    errors: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for number, cells in sheet.rows:
        try:
            prepared = _prepare(number, cells, sheet.header, targets, country, defined)
        except ContactError as exc:
            errors.append({"row": number, "message": str(exc)})
            continue
        first = seen.setdefault(prepared.urn, number)
        if first != number:
            errors.append(
                {"row": number, "message": f"+{prepared.phone} is on row {first} already"}
            )
            continue
        ready.append(prepared)
    return Plan(sheet, targets, country, ready, errors, new_fields)


def _prepare(
    number: int,
    cells: list[str],
    header: list[str],
    targets: list[str],
    country: str | None,
    defined: dict[str, m.ContactField],
) -> Prepared:
    values: dict[str, str] = {}
    groups: list[str] = []
    fields: dict[str, str] = {}
    for index, target in enumerate(targets):
        cell = cells[index].strip() if index < len(cells) else ""
        if not target or not cell:
            continue
        if target == "groups":
            parts = [cell]
            for separator in _GROUP_SEPARATORS:
                parts = [p for part in parts for p in part.split(separator)]
            groups += [" ".join(p.split()) for p in parts if p.strip()]
        elif target.startswith("field:"):
            key = target.removeprefix("field:")
            kind = defined[key].value_type if key in defined else "text"
            fields[key] = cs.normalise_value(cell, kind, header[index])
        else:
            values[target] = cell
    phone = values.get("phone")
    if not phone:
        raise ContactError("no phone number")
    e164 = cs.normalise_phone(phone, country)
    language = values.get("language")
    status = values.get("status")
    name = values.get("name")
    return Prepared(
        row=number,
        urn=cs.urn_of(e164),
        phone=e164.lstrip("+"),
        name=" ".join(name.split())[:200] if name else None,
        language=cs.normalise_language(language) if language else None,
        status=cs.normalise_status(status) if status else None,
        fields=fields,
        groups=[g[:100] for g in dict.fromkeys(groups)],
    )


def _new_field(title: str, defined: dict[str, m.ContactField]) -> str | None:
    key = snakify(title)
    return None if not key or key in defined or key in ATTRIBUTES else f"field:{key}"


async def check(
    repo: Repository, data: bytes, columns: str | None, country: str | None
) -> tuple[Plan, dict[str, m.ContactField]]:
    # Off the event loop: reading thousands of phone numbers takes a while, and the pipeline
    # shares the loop.
    sheet = await asyncio.to_thread(read_csv, data)
    async with repo.sessions() as db:
        defined = await cs.field_types(db, repo.org)
    targets = parse_columns(columns, sheet.header) or guess_targets(sheet.header, defined)
    return await asyncio.to_thread(plan, sheet, targets, country, defined), defined


async def preview(
    repo: Repository, data: bytes, columns: str | None, country: str | None
) -> dict[str, Any]:
    """What an import of the file would do, with nothing stored."""
    checked, defined = await check(repo, data, columns, country)
    sheet = checked.sheet
    urns = [p.urn for p in checked.ready]
    existing = 0
    async with repo.sessions() as db:
        for start in range(0, len(urns), BATCH):
            part = urns[start : start + BATCH]
            existing += len(
                list(
                    await db.scalars(
                        select(m.Contact.id).where(
                            m.Contact.organization_id == repo.org, m.Contact.urn.in_(part)
                        )
                    )
                )
            )
    return {
        "columns": [
            {
                "index": index,
                "header": title,
                "target": checked.targets[index],
                "samples": [cells[index] for _, cells in sheet.rows[:3] if index < len(cells)],
                # What "a new field from this column" would be called, for the page's choices.
                "new_field": _new_field(title, defined),
            }
            for index, title in enumerate(sheet.header)
        ],
        "fields": [cs.field_json(f) for f in defined.values()],
        "new_fields": checked.new_fields,
        "country": checked.country,
        "rows": len(sheet.rows),
        "valid": len(checked.ready),
        "new_contacts": len(checked.ready) - existing,
        "existing_contacts": existing,
        "refused": len(checked.errors),
        "errors": checked.errors[:100],
        "preview": [p.json() for p in checked.ready[:PREVIEW_ROWS]],
    }


# --- the job -----------------------------------------------------------------------------------


async def start(
    repo: Repository,
    data: bytes,
    columns: str | None,
    country: str | None,
    *,
    file_name: str = "",
    group: str | None = None,
    created_by: str | None = None,
) -> m.ContactImport:
    """Check the file, then import it in the background; the job tells how far it is."""
    checked, _ = await check(repo, data, columns, country)
    extra_group = " ".join((group or "").split())[:100] or None
    try:
        job = await _new_job(repo, checked, file_name=file_name, created_by=created_by)
    except IntegrityError:
        # A field of the file was made elsewhere a moment ago: the next try maps to it.
        raise ContactError(
            "columns: a new field was made meanwhile; try again", status=409
        ) from None
    task = asyncio.create_task(_run(repo, job.id, checked.ready, extra_group))
    # The loop keeps only a weak reference to a task.
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return job


async def _new_job(
    repo: Repository, checked: Plan, *, file_name: str, created_by: str | None
) -> m.ContactImport:
    refused = checked.errors
    async with repo.sessions.begin() as db:
        for key, title in checked.new_fields.items():
            db.add(
                m.ContactField(
                    organization_id=repo.org, key=key, name=title.strip() or key, value_type="text"
                )
            )
        job = m.ContactImport(
            organization_id=repo.org,
            file_name=file_name[:200],
            total=len(checked.sheet.rows),
            processed=len(refused),
            refused=len(refused),
            errors=refused[:KEPT_ERRORS],
            created_by=created_by,
        )
        db.add(job)
        await db.flush()
    return job


async def _run(repo: Repository, job_id: int, rows: list[Prepared], group: str | None) -> None:
    try:
        for begin in range(0, len(rows), BATCH):
            await _batch(repo, job_id, rows[begin : begin + BATCH], group)
        async with repo.sessions.begin() as db:
            await db.execute(
                update(m.ContactImport)
                .where(m.ContactImport.id == job_id)
                .values(status="done", updated_at=m.utcnow())
            )
    except Exception as exc:
        log.exception("contact import %s failed", job_id)
        async with repo.sessions.begin() as db:
            await db.execute(
                update(m.ContactImport)
                .where(m.ContactImport.id == job_id)
                .values(status="failed", error=str(exc)[:500] or type(exc).__name__)
            )


async def _batch(repo: Repository, job_id: int, rows: list[Prepared], group: str | None) -> None:
    # A contact who writes in while a batch is stored may be created by the pipeline first:
    # the batch is then stored again, finding them.
    for attempt in range(3):
        try:
            async with repo.sessions.begin() as db:
                created, updated = await _store(db, repo.org, rows, group)
                await db.execute(
                    update(m.ContactImport)
                    .where(m.ContactImport.id == job_id)
                    .values(
                        processed=m.ContactImport.processed + len(rows),
                        created=m.ContactImport.created + created,
                        updated=m.ContactImport.updated + updated,
                        updated_at=m.utcnow(),
                    )
                )
            return
        except IntegrityError:
            if attempt == 2:
                raise


async def _store(db: Any, org: int, rows: list[Prepared], group: str | None) -> tuple[int, int]:
    # Core statements, many rows each: the ORM's per-object work would hold the event loop,
    # which the pipeline shares, for a fifth of a second a batch.
    c = m.Contact.__table__.c
    urns = [r.urn for r in rows]
    found = {
        urn: (contact_id, name, language, status, fields, phone)
        for urn, contact_id, name, language, status, fields, phone in await db.execute(
            select(c.urn, c.id, c.name, c.language, c.status, c.fields, c.phone).where(
                c.organization_id == org, c.urn.in_(urns)
            )
        )
    }
    now = m.utcnow()
    fresh = [r for r in rows if r.urn not in found]
    if fresh:
        await db.execute(
            insert(m.Contact.__table__),
            [
                {
                    "uuid": m.new_uuid(),
                    "organization_id": org,
                    "urn": r.urn,
                    "phone": r.phone,
                    "name": r.name,
                    "language": r.language,
                    "status": r.status or m.ContactStatus.ACTIVE.value,
                    "fields": r.fields,
                    "created_at": now,
                    "updated_at": now,
                }
                for r in fresh
            ],
        )
    known = [r for r in rows if r.urn in found]
    if known:
        await db.execute(
            update(m.Contact.__table__).where(c.id == bindparam("contact_id")),
            [_changed(r, *found[r.urn], now) for r in known],
        )
    names = list(dict.fromkeys([g for r in rows for g in r.groups] + ([group] if group else [])))
    if names:
        ids = {
            urn: contact_id
            for urn, contact_id in await db.execute(
                select(c.urn, c.id).where(c.organization_id == org, c.urn.in_(urns))
            )
        }
        groups = {
            name: group_id
            for name, group_id in await db.execute(
                select(m.Group.name, m.Group.id).where(
                    m.Group.organization_id == org, m.Group.name.in_(names)
                )
            )
        }
        for name in names:
            if name not in groups:
                made = m.Group(organization_id=org, name=name)
                db.add(made)
                await db.flush()
                groups[name] = made.id
        pairs = {
            (ids[r.urn], groups[name])
            for r in rows
            for name in [*r.groups, *([group] if group else [])]
        }
        linked = await db.execute(
            select(m.contact_groups.c.contact_id, m.contact_groups.c.group_id).where(
                m.contact_groups.c.contact_id.in_(list(ids.values())),
                m.contact_groups.c.group_id.in_(list(groups.values())),
            )
        )
        present = {(contact_id, group_id) for contact_id, group_id in linked}
        new = [{"contact_id": c, "group_id": g} for c, g in pairs - present]
        if new:
            await db.execute(insert(m.contact_groups), new)
    return len(fresh), len(known)


def _changed(
    row: Prepared,
    contact_id: int,
    name: str | None,
    language: str | None,
    status: str,
    fields: dict[str, Any] | None,
    phone: str | None,
    now: datetime,
) -> dict[str, Any]:
    """A known contact's columns after the row: empty cells change nothing, fields merge."""
    return {
        "contact_id": contact_id,
        "name": row.name or name,
        "language": row.language or language,
        "status": row.status or status,
        "fields": {**(fields or {}), **row.fields},
        "phone": phone or row.phone,
        "updated_at": now,
    }


def job_json(job: m.ContactImport, now: datetime | None = None) -> dict[str, Any]:
    status = job.status
    if status == "running" and (now or datetime.now(UTC)) - job.updated_at > STALE_AFTER:
        # Its process stopped: the batches stored so far stay.
        status = "interrupted"
    return {
        "uuid": job.uuid,
        "file_name": job.file_name,
        "status": status,
        "total": job.total,
        "processed": job.processed,
        "created": job.created,
        "updated": job.updated,
        "refused": job.refused,
        "errors": job.errors or [],
        "error": job.error,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "updated_at": job.updated_at.isoformat() if job.updated_at else None,
    }


async def job(repo: Repository, uuid: str) -> m.ContactImport:
    async with repo.sessions() as db:
        row = await db.scalar(
            select(m.ContactImport).where(
                m.ContactImport.organization_id == repo.org, m.ContactImport.uuid == uuid
            )
        )
    if row is None:
        raise ContactError(f"no import {uuid}", status=404)
    return row


async def recent_jobs(repo: Repository, limit: int = 5) -> list[m.ContactImport]:
    async with repo.sessions() as db:
        rows = await db.scalars(
            select(m.ContactImport)
            .where(m.ContactImport.organization_id == repo.org)
            .order_by(m.ContactImport.id.desc())
            .limit(limit)
        )
        return list(rows)
