"""Read-only queries the web pages need and the runtime's :class:`Repository` does not offer.

They take the repository for its session factory and organization, so they see exactly the
rows the runtime writes, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import exists, select
from sqlalchemy.orm import selectinload

from sutra.store import models as m
from sutra.store.repository import Repository


async def active_flows(repo: Repository) -> list[m.Flow]:
    """Every flow that can be started, by name."""
    async with repo.sessions() as db:
        rows = await db.scalars(
            select(m.Flow)
            .where(m.Flow.organization_id == repo.org, m.Flow.archived.is_(False))
            .order_by(m.Flow.name, m.Flow.id)
        )
        return list(rows)


async def flow_names(repo: Repository, uuids: Iterable[str]) -> dict[str, str]:
    wanted = {u for u in uuids if u}
    if not wanted:
        return {}
    async with repo.sessions() as db:
        rows = await db.execute(
            select(m.Flow.uuid, m.Flow.name).where(
                m.Flow.organization_id == repo.org, m.Flow.uuid.in_(wanted)
            )
        )
        return {uuid: name for uuid, name in rows}


async def contact_by_urn(repo: Repository, urn: str) -> m.Contact | None:
    """The stored contact, or None: a read must not create contacts as a side effect."""
    async with repo.sessions() as db:
        row: m.Contact | None = await db.scalar(
            select(m.Contact)
            .where(m.Contact.organization_id == repo.org, m.Contact.urn == urn)
            # Loaded now: lazy loading cannot happen once the session is closed.
            .options(selectinload(m.Contact.groups))
        )
        return row


async def message_id(repo: Repository, uuid: str) -> int | None:
    async with repo.sessions() as db:
        found: int | None = await db.scalar(select(m.Message.id).where(m.Message.uuid == uuid))
        return found


async def messages_after(
    repo: Repository, contact_id: int, after: int, limit: int = 200
) -> list[m.Message]:
    """The contact's messages, in and out, with an id above ``after``, oldest first.

    Ordered by id rather than time: ids only grow, so ``after=<last id seen>`` never skips a
    message that two writers stored within the same clock tick.
    """
    async with repo.sessions() as db:
        rows = await db.scalars(
            select(m.Message)
            .where(m.Message.contact_id == contact_id, m.Message.id > after)
            .order_by(m.Message.id)
            .limit(limit)
        )
        return list(rows)


async def has_unhandled_inbound(repo: Repository, contact_id: int) -> bool:
    """Whether a message from the contact still waits for the pipeline."""
    async with repo.sessions() as db:
        found = await db.scalar(
            select(
                exists().where(
                    m.Message.contact_id == contact_id,
                    m.Message.direction == m.MessageDirection.IN.value,
                    m.Message.status == m.MessageStatus.RECEIVED.value,
                )
            )
        )
        return bool(found)


async def latest_session(repo: Repository, contact_id: int) -> m.FlowSession | None:
    async with repo.sessions() as db:
        row: m.FlowSession | None = await db.scalar(
            select(m.FlowSession)
            .where(m.FlowSession.contact_id == contact_id)
            .order_by(m.FlowSession.id.desc())
            .limit(1)
        )
        return row


async def session_results(repo: Repository, session_uuid: str) -> list[m.FlowResult]:
    """The results one session saved, in the order they were first saved."""
    async with repo.sessions() as db:
        rows = await db.scalars(
            select(m.FlowResult)
            .where(m.FlowResult.session_uuid == session_uuid)
            .order_by(m.FlowResult.id)
        )
        return list(rows)


async def webhook_logs(repo: Repository, contact_id: int, limit: int = 50) -> list[m.WebhookLog]:
    """The contact's most recent webhook and LLM calls, newest first."""
    async with repo.sessions() as db:
        rows = await db.scalars(
            select(m.WebhookLog)
            .where(m.WebhookLog.contact_id == contact_id)
            .order_by(m.WebhookLog.id.desc())
            .limit(limit)
        )
        return list(rows)
