"""Contacts as staff manage them: search, edit, groups, typed fields, CSV export.

Pages (``/contacts``) and the REST API (``/api/v1/contacts``, ``/groups``, ``/fields``) both
go through these functions, so a change made in one is the change made in the other. Problems
a person can fix are :class:`ContactError`, whose message names the field; the routes answer
them with a 4xx.

Flows write contacts too, through the hot path (``sutra.store.work``), which stores the whole
contact a step ends with; an edit made here while that contact's step runs may be overwritten
by the step. Groups are linked by name there, so a flow that adds contacts to a group a person
renamed here creates the old name again.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import urlencode

import phonenumbers
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, delete, exists, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from sutra.engine.languages import normalize_language
from sutra.expressions import snakify
from sutra.store import models as m
from sutra.store.repository import Repository
from sutra.web.spreadsheet import csv_text

FieldType = Literal["text", "number", "date"]
FIELD_TYPES: tuple[FieldType, ...] = ("text", "number", "date")
# What the pages call each status; "stopped" is how Sutra stores an opt-out.
STATUS_LABELS = {
    m.ContactStatus.ACTIVE.value: "Opted in",
    m.ContactStatus.STOPPED.value: "Opted out",
    m.ContactStatus.BLOCKED.value: "Blocked",
    m.ContactStatus.ARCHIVED.value: "Archived",
}
Status = Literal["active", "stopped", "blocked", "archived"]
Seen = Literal["", "1d", "7d", "30d", "90d", "over30d", "never"]
SEEN_LABELS = {
    "1d": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "over30d": "Not in 30 days",
    "never": "Never wrote",
}
PAGE_SIZE = 50
_LANGUAGE = re.compile(r"[a-z]{2,8}([-_][a-z0-9]{1,8})*")
_DAY_FIRST = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


class ContactError(ValueError):
    """A change or an input a person can correct; the message names what is wrong."""

    def __init__(self, message: str, *, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


# --- values ------------------------------------------------------------------------------------


def normalise_phone(text: str, country: str | None) -> str:
    """``text`` as an E.164 number (``+919812345678``), or :class:`ContactError` saying why not.

    A number without ``+`` (or ``00``) is read as a number of ``country``.

    >>> normalise_phone("098123 45678", "IN"), normalise_phone("+44 20 7946 0958", None)
    ('+919812345678', '+442079460958')
    >>> normalise_phone("whatsapp:919812345678", None)
    '+919812345678'
    >>> normalise_phone("12345", "IN")
    Traceback (most recent call last):
    ...
    sutra.web.contactstore.ContactError: "12345" is not a valid phone number in IN
    """
    value = text.strip()
    if value.lower().startswith("whatsapp:"):
        # An address as Sutra writes it (an export): the country code is already there.
        value = "+" + value.partition(":")[2].strip().lstrip("+")
    if not value:
        raise ContactError("no phone number")
    region = (country or "").upper() or None
    if region is None and value.startswith("00"):
        # The international prefix most of the world dials; without a country it means "+".
        value = "+" + value[2:]
    if region is None and not value.startswith("+"):
        raise ContactError(
            f'"{value}" has no country code: start it with + or choose a default country'
        )
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise ContactError(f'"{value}" is not a phone number') from None
    if not phonenumbers.is_valid_number(number):
        where = f" in {region}" if region and not value.startswith("+") else ""
        raise ContactError(f'"{value}" is not a valid phone number{where}')
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def country_problem(country: str | None) -> str | None:
    """Why ``country`` is not a region phone numbers can default to, or None.

    >>> country_problem("in"), country_problem("XX") is not None, country_problem(None)
    (None, True, None)
    """
    if not country:
        return None
    if country.upper() not in phonenumbers.SUPPORTED_REGIONS:
        return f'country "{country}": use a two-letter country code such as IN, KE or BR'
    return None


def countries() -> list[tuple[str, int]]:
    """Every region phonenumbers knows, with its calling code, for the import form."""
    return sorted(
        (region, phonenumbers.country_code_for_region(region))
        for region in phonenumbers.SUPPORTED_REGIONS
    )


def urn_of(e164: str) -> str:
    """The address WhatsApp contacts have (``whatsapp:`` and the digits), as the channels write
    it, so that an imported contact is the one who later writes in."""
    return "whatsapp:" + e164.lstrip("+")


def shown_phone(contact: m.Contact) -> str:
    """The number in E.164 (the channels store it without its +)."""
    phone = contact.phone or (
        contact.urn.partition(":")[2] if contact.urn.startswith("whatsapp:") else ""
    )
    return f"+{phone.lstrip('+')}" if phone and phone.lstrip("+").isdigit() else phone


def normalise_language(text: str) -> str:
    """A language as flows look it up (``hi`` for Hindi, ``hin`` or ``hi``), or an error.

    >>> normalise_language(" Hindi "), normalise_language("eng"), normalise_language("pt-BR")
    ('hi', 'en', 'pt-br')
    """
    value = normalize_language(text)
    if not _LANGUAGE.fullmatch(value):
        raise ContactError(f'language "{text.strip()}": use a code such as en, hi or hin')
    return value


_STATUS_WORDS = {
    "active": "active",
    "opted in": "active",
    "opted_in": "active",
    "in": "active",
    "yes": "active",
    "stopped": "stopped",
    "opted out": "stopped",
    "opted_out": "stopped",
    "out": "stopped",
    "no": "stopped",
    "blocked": "blocked",
    "archived": "archived",
}


def normalise_status(text: str) -> str:
    """A status as stored, from what a spreadsheet may say.

    >>> normalise_status("Opted out"), normalise_status("ACTIVE")
    ('stopped', 'active')
    """
    found = _STATUS_WORDS.get(" ".join(text.lower().split()))
    if found is None:
        raise ContactError(
            f'status "{text.strip()}": one of opted in (active), opted out (stopped), '
            "blocked, archived"
        )
    return found


def normalise_value(value: str, value_type: str, label: str) -> str:
    """A field's value as stored for its type; :class:`ContactError` names ``label``.

    Numbers are plain decimals; dates are ``YYYY-MM-DD`` (also read: ``DD/MM/YYYY``, day
    first, and ISO date-times, kept whole).

    >>> normalise_value(" 42 ", "number", "age"), normalise_value("7/3/2024", "date", "dob")
    ('42', '2024-03-07')
    >>> normalise_value("many", "number", "age")
    Traceback (most recent call last):
    ...
    sutra.web.contactstore.ContactError: age: "many" is not a number
    """
    text = value.strip()
    if value_type == "number":
        if not _NUMBER.fullmatch(text):
            raise ContactError(f'{label}: "{text}" is not a number')
        try:
            return str(Decimal(text).normalize()) if "." in text else str(int(text))
        except (InvalidOperation, ValueError):
            raise ContactError(f'{label}: "{text}" is not a number') from None
    if value_type == "date":
        day_first = _DAY_FIRST.fullmatch(text)
        try:
            if day_first:
                d, mo, y = (int(g) for g in day_first.groups())
                return date(y, mo, d).isoformat()
            if len(text) == 10:
                return date.fromisoformat(text).isoformat()
            return datetime.fromisoformat(text).isoformat()
        except ValueError:
            raise ContactError(
                f'{label}: "{text}" is not a date (use YYYY-MM-DD or DD/MM/YYYY)'
            ) from None
    return text


# --- search ------------------------------------------------------------------------------------


class ContactFilter(BaseModel):
    """What the contact list and ``GET /api/v1/contacts`` filter by; empty means any."""

    q: str = Field(default="", max_length=200, description="Part of the name or phone number")
    group: str = Field(default="", max_length=200, description="A group's uuid or name")
    language: str = Field(default="", max_length=40)
    status: Status | Literal[""] = Field(
        default="", description="active (opted in), stopped (opted out), blocked, archived"
    )
    field: str = Field(default="", max_length=200, description="A contact field's key")
    value: str = Field(
        default="", max_length=500, description="The field's value (any case); empty: any value"
    )
    seen: Seen = Field(
        default="", description="Last message: 1d, 7d, 30d, 90d, over30d (not since) or never"
    )

    def query_string(self, **extra: Any) -> str:
        """The filter as URL parameters, for links that keep it (pages, downloads)."""
        pairs = {k: v for k, v in self.model_dump().items() if v}
        pairs.update({k: v for k, v in extra.items() if v})
        return urlencode(pairs)

    @property
    def active(self) -> bool:
        return any(self.model_dump().values())


def _conditions(org: int, wanted: ContactFilter, now: datetime) -> list[ColumnElement[bool]]:
    c = m.Contact
    found: list[ColumnElement[bool]] = [c.organization_id == org]
    text = wanted.q.strip()
    if text:
        # LIKE's wildcards in what a person typed are meant literally.
        escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        either = [func.lower(c.name).like(f"%{escaped}%", escape="\\")]
        digits = re.sub(r"\D", "", text)
        if digits and len(digits) >= len(re.sub(r"[\s()+-]", "", text)):
            # A number as people write it ("+91 98123-45678"): match the digits.
            either += [c.phone.like(f"%{digits}%"), c.urn.like(f"%{digits}%")]
        else:
            either.append(func.lower(c.urn).like(f"%{escaped}%", escape="\\"))
        found.append(or_(*either))
    if wanted.group:
        g = m.Group
        found.append(
            exists().where(
                m.contact_groups.c.contact_id == c.id,
                m.contact_groups.c.group_id == g.id,
                g.organization_id == org,
                or_(g.uuid == wanted.group, g.name == wanted.group),
            )
        )
    if wanted.language:
        found.append(func.lower(c.language) == wanted.language.strip().lower())
    if wanted.status:
        found.append(c.status == wanted.status)
    if wanted.field:
        stored = c.fields[wanted.field].as_string()
        if wanted.value.strip():
            found.append(func.lower(stored) == wanted.value.strip().lower())
        else:
            found.append(func.coalesce(stored, "") != "")
    if wanted.seen == "never":
        found.append(c.last_message_at.is_(None))
    elif wanted.seen == "over30d":
        found.append(or_(c.last_message_at.is_(None), c.last_message_at < now - timedelta(30)))
    elif wanted.seen:
        days = int(wanted.seen.removesuffix("d"))
        found.append(c.last_message_at >= now - timedelta(days))
    return found


@dataclass
class Found:
    total: int
    contacts: list[m.Contact]


async def search(
    repo: Repository, wanted: ContactFilter, *, limit: int = PAGE_SIZE, offset: int = 0
) -> Found:
    """The contacts matching ``wanted``, most recently seen first, and how many match in all."""
    conditions = _conditions(repo.org, wanted, datetime.now(UTC))
    async with repo.sessions() as db:
        total = await db.scalar(select(func.count(m.Contact.id)).where(*conditions))
        rows = await db.scalars(
            select(m.Contact)
            .where(*conditions)
            .options(selectinload(m.Contact.groups))
            .order_by(m.Contact.last_message_at.desc().nulls_last(), m.Contact.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return Found(int(total or 0), list(rows))


async def contact(repo: Repository, uuid: str) -> m.Contact:
    async with repo.sessions() as db:
        row = await db.scalar(
            select(m.Contact)
            .where(m.Contact.uuid == uuid, m.Contact.organization_id == repo.org)
            .options(selectinload(m.Contact.groups))
        )
    if row is None:
        raise ContactError(f"no contact {uuid}", status=404)
    return row


async def languages(repo: Repository) -> list[str]:
    """The languages contacts have, for the list's filter."""
    async with repo.sessions() as db:
        rows = await db.scalars(
            select(m.Contact.language)
            .where(m.Contact.organization_id == repo.org, m.Contact.language.is_not(None))
            .distinct()
            .order_by(m.Contact.language)
        )
        return [r for r in rows if r]


def contact_json(row: m.Contact) -> dict[str, Any]:
    """A contact as the API and the pages' scripts see it."""
    return {
        "uuid": row.uuid,
        "name": row.name,
        "urn": row.urn,
        "phone": row.phone,
        "language": row.language,
        "status": row.status,
        "fields": row.fields or {},
        "groups": [{"uuid": g.uuid, "name": g.name} for g in row.groups],
        "last_message_at": row.last_message_at.isoformat() if row.last_message_at else None,
        "created_at": row.created_at.isoformat() if row.created_at else None,
    }


# --- edits -------------------------------------------------------------------------------------


class ContactUpdate(BaseModel):
    """A change to a contact; what is left out stays as it is."""

    name: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, max_length=40, description='"" clears it')
    status: Status | None = Field(
        default=None, description="active (opted in), stopped (opted out), blocked, archived"
    )
    fields: dict[str, str | None] | None = Field(
        default=None,
        description='Merged into the fields; "" or null removes one. Typed fields are checked',
    )


async def field_types(db: AsyncSession, org: int) -> dict[str, m.ContactField]:
    rows = await db.scalars(select(m.ContactField).where(m.ContactField.organization_id == org))
    return {row.key: row for row in rows}


async def update_contact(repo: Repository, uuid: str, change: ContactUpdate) -> m.Contact:
    async with repo.sessions.begin() as db:
        row = await db.scalar(
            select(m.Contact)
            .where(m.Contact.uuid == uuid, m.Contact.organization_id == repo.org)
            .options(selectinload(m.Contact.groups))
        )
        if row is None:
            raise ContactError(f"no contact {uuid}", status=404)
        if change.name is not None:
            row.name = change.name.strip() or None
        if change.language is not None:
            row.language = normalise_language(change.language) if change.language.strip() else None
        if change.status is not None:
            row.status = change.status
        if change.fields:
            defined = await field_types(db, repo.org)
            merged = dict(row.fields or {})
            for key, value in change.fields.items():
                if value is None or not value.strip():
                    merged.pop(key, None)
                    continue
                kind = defined[key].value_type if key in defined else "text"
                merged[key] = normalise_value(value, kind, f"fields.{key}")
            row.fields = merged
        return row


# --- groups ------------------------------------------------------------------------------------


@dataclass
class GroupCount:
    group: m.Group
    contacts: int


def group_json(item: GroupCount) -> dict[str, Any]:
    return {"uuid": item.group.uuid, "name": item.group.name, "contacts": item.contacts}


async def groups(repo: Repository) -> list[GroupCount]:
    """Every group with its number of members, by name."""
    async with repo.sessions() as db:
        members = (
            select(func.count())
            .where(m.contact_groups.c.group_id == m.Group.id)
            .correlate(m.Group)
            .scalar_subquery()
        )
        rows = await db.execute(
            select(m.Group, members)
            .where(m.Group.organization_id == repo.org)
            .order_by(func.lower(m.Group.name), m.Group.id)
        )
        return [GroupCount(group, int(count)) for group, count in rows]


def _group_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ContactError("name: a group needs a name")
    if len(cleaned) > 100:
        raise ContactError("name: at most 100 characters")
    return cleaned


async def _group_row(db: AsyncSession, org: int, uuid: str) -> m.Group:
    row = await db.scalar(
        select(m.Group).where(m.Group.organization_id == org, m.Group.uuid == uuid)
    )
    if row is None:
        raise ContactError(f"no group {uuid}", status=404)
    return row


async def create_group(repo: Repository, name: str) -> m.Group:
    cleaned = _group_name(name)
    try:
        async with repo.sessions.begin() as db:
            row = m.Group(organization_id=repo.org, name=cleaned)
            db.add(row)
            await db.flush()
            return row
    except IntegrityError:
        raise ContactError(f'name: a group "{cleaned}" exists already', status=409) from None


async def rename_group(repo: Repository, uuid: str, name: str) -> m.Group:
    cleaned = _group_name(name)
    try:
        async with repo.sessions.begin() as db:
            row = await _group_row(db, repo.org, uuid)
            row.name = cleaned
            await db.flush()
            return row
    except IntegrityError:
        raise ContactError(f'name: a group "{cleaned}" exists already', status=409) from None


async def delete_group(repo: Repository, uuid: str) -> None:
    """Delete the group; its members stay, they are only no longer in it."""
    async with repo.sessions.begin() as db:
        row = await _group_row(db, repo.org, uuid)
        await db.execute(delete(m.contact_groups).where(m.contact_groups.c.group_id == row.id))
        await db.delete(row)


async def _contact_ids(db: AsyncSession, org: int, uuids: Sequence[str]) -> list[int]:
    wanted = list(dict.fromkeys(uuids))
    ids: list[int] = []
    # In slices: a database takes only so many parameters in one statement.
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        rows = await db.execute(
            select(m.Contact.uuid, m.Contact.id).where(
                m.Contact.organization_id == org, m.Contact.uuid.in_(part)
            )
        )
        found = {uuid: id_ for uuid, id_ in rows}
        missing = [u for u in part if u not in found]
        if missing:
            raise ContactError(f"contacts: no contact {missing[0]}", status=404)
        ids += [found[u] for u in part]
    return ids


async def add_members(repo: Repository, uuid: str, contacts: Sequence[str]) -> int:
    """Add contacts (by uuid) to the group; returns how many were not in it yet."""
    async with repo.sessions.begin() as db:
        group = await _group_row(db, repo.org, uuid)
        ids = await _contact_ids(db, repo.org, contacts)
        present = (
            set(
                await db.scalars(
                    select(m.contact_groups.c.contact_id).where(
                        m.contact_groups.c.group_id == group.id,
                        m.contact_groups.c.contact_id.in_(ids),
                    )
                )
            )
            if ids
            else set()
        )
        new = [i for i in ids if i not in present]
        if new:
            await db.execute(
                insert(m.contact_groups), [{"contact_id": i, "group_id": group.id} for i in new]
            )
        return len(new)


async def remove_members(repo: Repository, uuid: str, contacts: Sequence[str]) -> int:
    """Take contacts (by uuid) out of the group; returns how many were in it."""
    async with repo.sessions.begin() as db:
        group = await _group_row(db, repo.org, uuid)
        ids = await _contact_ids(db, repo.org, contacts)
        if not ids:
            return 0
        result = await db.execute(
            delete(m.contact_groups).where(
                m.contact_groups.c.group_id == group.id, m.contact_groups.c.contact_id.in_(ids)
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)


# --- fields ------------------------------------------------------------------------------------


def field_json(row: m.ContactField) -> dict[str, Any]:
    return {"key": row.key, "name": row.name, "value_type": row.value_type}


async def fields(repo: Repository) -> list[m.ContactField]:
    async with repo.sessions() as db:
        rows = await db.scalars(
            select(m.ContactField)
            .where(m.ContactField.organization_id == repo.org)
            .order_by(func.lower(m.ContactField.name), m.ContactField.key)
        )
        return list(rows)


def _field_type(value_type: str) -> str:
    # Fields flows or the editor made before types were chosen here may say anything else:
    # they read as text.
    if value_type not in FIELD_TYPES:
        raise ContactError(f'value_type "{value_type}": one of {", ".join(FIELD_TYPES)}')
    return value_type


# Keys the contact list and the engine use for a contact's own attributes.
_RESERVED = {"name", "phone", "language", "groups", "urn", "uuid", "status", "id"}


async def create_field(
    repo: Repository, name: str, value_type: str = "text", key: str | None = None
) -> m.ContactField:
    label = " ".join(name.split())
    if not label:
        raise ContactError("name: a field needs a name")
    made = snakify(key or label)
    if not made:
        raise ContactError("name: a field needs letters or digits in its name")
    if made in _RESERVED:
        raise ContactError(f'key "{made}": a contact has that already; choose another name')
    kind = _field_type(value_type)
    try:
        async with repo.sessions.begin() as db:
            row = m.ContactField(organization_id=repo.org, key=made, name=label, value_type=kind)
            db.add(row)
            await db.flush()
            return row
    except IntegrityError:
        raise ContactError(
            f'key "{made}": a field with that key exists already', status=409
        ) from None


async def update_field(
    repo: Repository, key: str, *, name: str | None = None, value_type: str | None = None
) -> m.ContactField:
    """Rename a field or change its type (values already stored are kept as they are)."""
    async with repo.sessions.begin() as db:
        row = await db.scalar(
            select(m.ContactField).where(
                m.ContactField.organization_id == repo.org, m.ContactField.key == key
            )
        )
        if row is None:
            raise ContactError(f"no field {key}", status=404)
        if name is not None:
            label = " ".join(name.split())
            if not label:
                raise ContactError("name: a field needs a name")
            row.name = label
        if value_type is not None:
            row.value_type = _field_type(value_type)
        return row


async def delete_field(repo: Repository, key: str) -> None:
    """Forget the field's definition; contacts' values stay (flows may still read them)."""
    async with repo.sessions.begin() as db:
        result = await db.execute(
            delete(m.ContactField).where(
                m.ContactField.organization_id == repo.org, m.ContactField.key == key
            )
        )
        if not getattr(result, "rowcount", 0):
            raise ContactError(f"no field {key}", status=404)


# --- export ------------------------------------------------------------------------------------

EXPORT_COLUMNS = ["name", "phone", "language", "status", "groups", "last_seen", "created", "uuid"]
_EXPORT_BATCH = 1000


async def export_csv(repo: Repository, wanted: ContactFilter) -> AsyncIterator[str]:
    """The matching contacts as CSV, in pieces (a whole database need not fit in memory).

    Its columns are the ones an import maps by itself: exported, edited and imported again, a
    file updates the same contacts. Every cell is safe to open in a spreadsheet.
    """
    keys = [f.key for f in await fields(repo)]
    columns = EXPORT_COLUMNS + [k for k in keys if k not in EXPORT_COLUMNS]
    yield csv_text(columns, [])
    conditions = _conditions(repo.org, wanted, datetime.now(UTC))
    after = 0
    while True:
        async with repo.sessions() as db:
            rows = list(
                await db.scalars(
                    select(m.Contact)
                    .where(*conditions, m.Contact.id > after)
                    .options(selectinload(m.Contact.groups))
                    .order_by(m.Contact.id)
                    .limit(_EXPORT_BATCH)
                )
            )
        if not rows:
            return
        after = rows[-1].id
        lines = [
            {
                **{k: (c.fields or {}).get(k, "") for k in keys},
                "name": c.name or "",
                "phone": shown_phone(c),
                "language": c.language or "",
                "status": c.status,
                "groups": "; ".join(sorted(g.name for g in c.groups)),
                "last_seen": c.last_message_at.isoformat() if c.last_message_at else "",
                "created": c.created_at.isoformat() if c.created_at else "",
                "uuid": c.uuid,
            }
            for c in rows
        ]
        # The header once, at the top.
        yield csv_text(columns, lines).split("\r\n", 1)[1]
