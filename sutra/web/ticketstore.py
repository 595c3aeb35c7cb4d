"""What the tickets pages, the chat page and their API read and write.

Reads go through the ORM, as the other pages do; closing is a unit of work on the hot path's
database thread (:mod:`sutra.store.hotdb`), like the chat's other writes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException
from sqlalchemy import select

from sutra.store import models as m
from sutra.store.hotdb import Tx
from sutra.store.repository import Repository
from sutra.store.work.common import now_utc
from sutra.web import chatstore
from sutra.web.state import AppState

# What the page lists at once; the API pages on with offset.
PAGE_SIZE = 200


# --- reads -------------------------------------------------------------------------------------


async def tickets(
    repo: Repository,
    *,
    status: str = "open",
    contact_uuid: str | None = None,
    limit: int = PAGE_SIZE,
    offset: int = 0,
) -> list[tuple[m.Ticket, m.Contact]]:
    """The organisation's tickets of ``status`` (of one contact), the newest first."""
    query = (
        select(m.Ticket, m.Contact)
        .join(m.Contact, m.Contact.id == m.Ticket.contact_id)
        .where(m.Ticket.organization_id == repo.org, m.Ticket.status == status)
        .order_by(m.Ticket.opened_at.desc(), m.Ticket.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if contact_uuid is not None:
        query = query.where(m.Contact.uuid == contact_uuid)
    async with repo.sessions() as db:
        return [(t, c) for t, c in await db.execute(query)]


async def open_tickets(repo: Repository, contact_id: int) -> list[m.Ticket]:
    """The contact's open tickets, newest first (for their chat page)."""
    async with repo.sessions() as db:
        found = await db.scalars(
            select(m.Ticket)
            .where(
                m.Ticket.organization_id == repo.org,
                m.Ticket.contact_id == contact_id,
                m.Ticket.status == "open",
            )
            .order_by(m.Ticket.id.desc())
        )
        return list(found)


async def _one(repo: Repository, uuid: str) -> tuple[m.Ticket, m.Contact]:
    async with repo.sessions() as db:
        row = (
            await db.execute(
                select(m.Ticket, m.Contact)
                .join(m.Contact, m.Contact.id == m.Ticket.contact_id)
                .where(m.Ticket.organization_id == repo.org, m.Ticket.uuid == uuid)
            )
        ).first()
    if row is None:
        raise HTTPException(404, f"no ticket {uuid}")
    return row[0], row[1]


# --- writes ------------------------------------------------------------------------------------


def close_ticket(tx: Tx, org: int, uuid: str, by: str) -> bool:
    """Close the organisation's ticket; False when it has no such ticket."""
    found = tx.one(
        "SELECT status FROM tickets WHERE uuid = :uuid AND organization_id = :org",
        {"uuid": uuid, "org": org},
    )
    if found is None:
        return False
    tx.execute(
        "UPDATE tickets SET status = 'closed', closed_at = :now, closed_by = :by "
        "WHERE uuid = :uuid AND organization_id = :org AND status = 'open'",
        {"uuid": uuid, "org": org, "now": tx.ts(now_utc()), "by": by},
    )
    return True


async def close(state: AppState, uuid: str, by: str) -> tuple[m.Ticket, m.Contact]:
    if not await state.runner.db.run(close_ticket, state.repo.org, uuid, by):
        raise HTTPException(404, f"no ticket {uuid}")
    return await _one(state.repo, uuid)


# --- the wire format and the views -------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC") if value else ""


def ticket_json(ticket: m.Ticket, who: m.Contact) -> dict[str, Any]:
    return {
        "uuid": ticket.uuid,
        "topic": ticket.topic,
        "body": ticket.body,
        "assignee": ticket.assignee,
        "status": ticket.status,
        "flow_uuid": ticket.flow_uuid,
        "opened_at": _iso(ticket.opened_at),
        "closed_at": _iso(ticket.closed_at),
        "closed_by": ticket.closed_by,
        "contact": {
            "uuid": who.uuid,
            "name": who.name,
            "urn": who.urn,
            "phone": chatstore.phone_of(who),
        },
    }


def ticket_view(ticket: m.Ticket, who: m.Contact | None = None) -> dict[str, Any]:
    """What the tickets list and the chat page show of a ticket."""
    return {
        "uuid": ticket.uuid,
        "topic": ticket.topic,
        "body": ticket.body,
        "assignee": ticket.assignee,
        "open": ticket.status == "open",
        "opened_iso": _iso(ticket.opened_at),
        "opened_text": _when(ticket.opened_at),
        "closed_text": _when(ticket.closed_at),
        "closed_by": ticket.closed_by,
        "contact": {"uuid": who.uuid, "title": chatstore.title_of(who)} if who else None,
    }
