"""SQLAlchemy models for everything Sutra persists.

The same models run on SQLite (the default, one file next to the bot) and on
PostgreSQL. Two rules keep the two back ends behaving the same:

* strings are unbounded ``VARCHAR``/``TEXT``: SQLite never enforces a length,
  so a bounded column would only ever fail in production on PostgreSQL;
* timestamps go through :class:`UTCDateTime`, which stores UTC and always hands
  back timezone-aware values, because SQLite keeps no offset of its own.

Every change here needs a migration under ``migrations/versions``; a test
(tests/test_store.py) upgrades an empty database and compares it with these models.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.ext.mutable import MutableDict
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeEngine

from sutra.text import clean_text

__all__ = [
    "ID_TYPE",
    "NAMING_CONVENTION",
    "ApiToken",
    "Base",
    "Broadcast",
    "ChannelNumber",
    "Contact",
    "ContactField",
    "ContactImport",
    "ContactStatus",
    "ContactURN",
    "Flow",
    "FlowResult",
    "FlowRevision",
    "FlowSession",
    "FlowStart",
    "Global",
    "Group",
    "LLMTurn",
    "LLMUsage",
    "Membership",
    "Message",
    "MessageDirection",
    "MessageStatus",
    "Organization",
    "Run",
    "ServerSecret",
    "SessionStatus",
    "SignInThrottle",
    "Ticket",
    "UTCDateTime",
    "User",
    "WaitKind",
    "WebSession",
    "WebhookLog",
    "contact_groups",
    "json_type",
    "new_uuid",
    "utcnow",
]

# Constraint names are spelled out by convention rather than left to each
# database: PostgreSQL and SQLite would otherwise pick different names, and a
# later migration could not drop or alter a constraint by name on both.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL so that messages and logs never run out of ids; SQLite
# only makes a column an auto-incrementing rowid alias when it is spelled
# exactly INTEGER (which is 64-bit there anyway).
ID_TYPE: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")


def json_type(*, none_as_null: bool = False) -> TypeEngine[Any]:
    """JSON everywhere, JSONB on PostgreSQL (indexable, compact, deduplicated keys).

    ``none_as_null=True`` stores Python ``None`` as SQL NULL rather than the JSON
    literal ``null``, which is what an optional column wants.
    """
    return JSON(none_as_null=none_as_null).with_variant(
        JSONB(none_as_null=none_as_null), "postgresql"
    )


class CleanString(TypeDecorator[str]):
    """Text with NUL and lone surrogates taken out on the way in (:func:`sutra.text.clean_text`):
    PostgreSQL refuses the one, UTF-8 cannot spell the other, and a name or a reply typed into
    a page or the API may hold either."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return clean_text(value) if isinstance(value, str) else value


class CleanText(CleanString):
    impl = Text
    cache_ok = True


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_uuid() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every back end.

    SQLite stores datetimes as text without an offset, so an aware value in
    another zone would silently be stored as its wall-clock time. Values are
    converted to UTC on the way in and tagged UTC on the way out. Naive values
    are refused: guessing their zone is how timeouts end up hours off.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware value (UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class SessionStatus(StrEnum):
    WAITING = "waiting"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    FAILED = "failed"
    EXPIRED = "expired"


class WaitKind(StrEnum):
    MSG = "msg"
    WEBHOOK = "webhook"
    TIME = "time"


class MessageDirection(StrEnum):
    IN = "in"
    OUT = "out"


class MessageStatus(StrEnum):
    RECEIVED = "received"
    HANDLED = "handled"
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class ContactStatus(StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"
    STOPPED = "stopped"
    ARCHIVED = "archived"


class Base(AsyncAttrs, DeclarativeBase):
    """Declarative base; ``AsyncAttrs`` gives ``await obj.awaitable_attrs.rel``
    because lazy loading cannot happen implicitly under asyncio."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _id() -> Mapped[int]:
    return mapped_column(ID_TYPE, primary_key=True)


def _fk(target: str, *, ondelete: str | None = None, nullable: bool = False) -> Mapped[Any]:
    return mapped_column(ID_TYPE, ForeignKey(target, ondelete=ondelete), nullable=nullable)


def _created_at() -> Mapped[datetime]:
    # The server default covers rows written by raw SQL (the migration's seed
    # row, manual fixes); the Python default gives ORM rows microseconds.
    return mapped_column(UTCDateTime(), default=utcnow, server_default=func.now())


def _updated_at() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, server_default=func.now())


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = _id()
    name: Mapped[str] = mapped_column(CleanString())
    timezone: Mapped[str] = mapped_column(CleanString(), default="UTC", server_default="UTC")
    # Mutable so that ``org.settings["x"] = 1`` is noticed (top level only).
    settings: Mapped[dict[str, Any]] = mapped_column(
        MutableDict.as_mutable(json_type()), default=dict
    )
    # A disabled organisation's webhooks are refused and its staff cannot sign in to it.
    is_active: Mapped[bool] = mapped_column(Boolean(), default=True, server_default=true())
    # The "no flow matched" trigger: the flow a message starts when no keyword matches and no
    # session waits for it (none: such a message stays stored, for staff to read).
    catch_all_flow_uuid: Mapped[str | None] = mapped_column(CleanString())
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


contact_groups = Table(
    "contact_groups",
    Base.metadata,
    Column(
        "contact_id",
        ID_TYPE,
        ForeignKey("contacts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "group_id",
        ID_TYPE,
        ForeignKey("groups.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # The primary key serves "groups of a contact"; this serves "members of a group".
    Index("ix_contact_groups_group_id", "group_id"),
)


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("organization_id", "urn"),
        # A worker renews all of its leases in one statement.
        Index("ix_contacts_busy_owner", "busy_owner"),
        # The contact list's default order: the most recently seen first.
        Index("ix_contacts_organization_id_last_message_at", "organization_id", "last_message_at"),
    )

    id: Mapped[int] = _id()
    uuid: Mapped[str] = mapped_column(CleanString(), unique=True, default=new_uuid)
    organization_id: Mapped[int] = _fk("organizations.id")
    name: Mapped[str | None] = mapped_column(CleanString())
    # Scheme-prefixed address, e.g. "whatsapp:919812345678" or "sim:alice".
    urn: Mapped[str] = mapped_column(CleanString())
    phone: Mapped[str | None] = mapped_column(CleanString())
    language: Mapped[str | None] = mapped_column(CleanString())
    # Mutable so that ``contact.fields["age"] = "30"`` is noticed (top level only).
    fields: Mapped[dict[str, Any]] = mapped_column(
        MutableDict.as_mutable(json_type()), default=dict
    )
    status: Mapped[str] = mapped_column(
        String(), default=ContactStatus.ACTIVE.value, server_default=ContactStatus.ACTIVE.value
    )
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The channel the contact last wrote from: replies go back the same way.
    channel: Mapped[str | None] = mapped_column(CleanString())
    # The inbound pipeline's lease: which worker handles this contact's messages, until when.
    busy_owner: Mapped[str | None] = mapped_column(CleanString())
    busy_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Staff took the chat over (the console): while set, flows get none of the contact's
    # messages. On the contact's row because the claim reads that row anyway: no extra read.
    taken_over_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    taken_over_by: Mapped[str | None] = mapped_column(CleanString())
    # The newest message id staff had seen when they last opened the chat: later inbound
    # messages are unread. An id, not a time, so two writers in one clock tick cannot hide one.
    chat_read_id: Mapped[int | None] = mapped_column(ID_TYPE)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()

    groups: Mapped[list[Group]] = relationship(
        secondary=contact_groups, back_populates="contacts", passive_deletes=True
    )


class Group(Base):
    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[int] = _id()
    uuid: Mapped[str] = mapped_column(CleanString(), unique=True, default=new_uuid)
    organization_id: Mapped[int] = _fk("organizations.id")
    name: Mapped[str] = mapped_column(CleanString())
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()

    contacts: Mapped[list[Contact]] = relationship(
        secondary=contact_groups, back_populates="groups", passive_deletes=True
    )


class ContactURN(Base):
    """A contact's addresses beyond ``Contact.urn`` (``add_contact_urn``): a backup phone, an
    email. Normalised (tel in E.164) and unique in the organisation, as RapidPro keeps URNs:
    an address is one contact's."""

    __tablename__ = "contact_urns"
    __table_args__ = (
        UniqueConstraint("organization_id", "scheme", "path"),
        Index("ix_contact_urns_contact_id", "contact_id"),
    )

    id: Mapped[int] = _id()
    organization_id: Mapped[int] = _fk("organizations.id")
    contact_id: Mapped[int] = _fk("contacts.id", ondelete="CASCADE")
    scheme: Mapped[str] = mapped_column(CleanString())
    path: Mapped[str] = mapped_column(CleanString())
    created_at: Mapped[datetime] = _created_at()


class Ticket(Base):
    """A contact's request for a person (``open_ticket``), open until staff close it."""

    __tablename__ = "tickets"
    __table_args__ = (
        # The tickets page: an organisation's open (or closed) tickets, newest first.
        Index(
            "ix_tickets_organization_id_status_opened_at", "organization_id", "status", "opened_at"
        ),
        # The chat page and the engine's "already has an open ticket".
        Index("ix_tickets_contact_id_status", "contact_id", "status"),
    )

    id: Mapped[int] = _id()
    uuid: Mapped[str] = mapped_column(CleanString(), unique=True, default=new_uuid)
    organization_id: Mapped[int] = _fk("organizations.id")
    contact_id: Mapped[int] = _fk("contacts.id", ondelete="CASCADE")
    topic: Mapped[str] = mapped_column(CleanString(), default="General", server_default="General")
    body: Mapped[str] = mapped_column(CleanText(), default="")
    # The staff member it is for, as the flow names them; None: anyone.
    assignee: Mapped[str | None] = mapped_column(CleanString())
    # open -> closed
    status: Mapped[str] = mapped_column(String(), default="open", server_default="open")
    flow_uuid: Mapped[str | None] = mapped_column(CleanString())
    opened_at: Mapped[datetime] = _created_at()
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_by: Mapped[str | None] = mapped_column(CleanString())


class ContactField(Base):
    """Definition of a custom contact field; values live in ``Contact.fields``."""

    __tablename__ = "contact_fields"
    __table_args__ = (UniqueConstraint("organization_id", "key"),)

    id: Mapped[int] = _id()
    organization_id: Mapped[int] = _fk("organizations.id")
    key: Mapped[str] = mapped_column(CleanString())
    name: Mapped[str] = mapped_column(CleanString())
    value_type: Mapped[str] = mapped_column(CleanString(), default="text", server_default="text")
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class ContactImport(Base):
    """A CSV file of contacts being imported: how far it is and the rows it refused.

    In the database, not in the importing process, so that any process can answer the page
    that polls its progress (``sutra serve --workers N``).
    """

    __tablename__ = "contact_imports"

    id: Mapped[int] = _id()
    uuid: Mapped[str] = mapped_column(CleanString(), unique=True, default=new_uuid)
    organization_id: Mapped[int] = _fk("organizations.id")
    file_name: Mapped[str] = mapped_column(CleanString(), default="")
    # running -> done | failed
    status: Mapped[str] = mapped_column(CleanString(), default="running", server_default="running")
    total: Mapped[int] = mapped_column(Integer(), default=0, server_default="0")
    processed: Mapped[int] = mapped_column(Integer(), default=0, server_default="0")
    created: Mapped[int] = mapped_column(Integer(), default=0, server_default="0")
    updated: Mapped[int] = mapped_column(Integer(), default=0, server_default="0")
    refused: Mapped[int] = mapped_column(Integer(), default=0, server_default="0")
    # [{"row": 7, "message": "..."}], the first ones only (``refused`` counts them all).
    errors: Mapped[list[Any]] = mapped_column(json_type(), default=list)
    # Why the whole import stopped, when it did.
    error: Mapped[str | None] = mapped_column(CleanText())
    created_by: Mapped[str | None] = mapped_column(CleanString())
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class Global(Base):
    __tablename__ = "globals"
    __table_args__ = (UniqueConstraint("organization_id", "key"),)

    id: Mapped[int] = _id()
    organization_id: Mapped[int] = _fk("organizations.id")
    key: Mapped[str] = mapped_column(CleanString())
    name: Mapped[str] = mapped_column(CleanString())
    value: Mapped[str] = mapped_column(CleanText(), default="")
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class Flow(Base):
    __tablename__ = "flows"
    # Flow UUIDs come from the imported file, so two organizations may hold the
    # same flow; unique per organization only.
    __table_args__ = (UniqueConstraint("organization_id", "uuid"),)

    id: Mapped[int] = _id()
    uuid: Mapped[str] = mapped_column(CleanString(), default=new_uuid)
    organization_id: Mapped[int] = _fk("organizations.id")
    name: Mapped[str] = mapped_column(CleanString())
    keywords: Mapped[list[str]] = mapped_column(json_type(), default=list)
    archived: Mapped[bool] = mapped_column(Boolean(), default=False, server_default=false())
    # flows <-> flow_revisions reference each other; use_alter adds this key
    # after both tables exist, and post_update below breaks the insert cycle.
    current_revision_id: Mapped[int | None] = mapped_column(
        ID_TYPE,
        ForeignKey("flow_revisions.id", use_alter=True, ondelete="SET NULL"),
    )
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()

    revisions: Mapped[list[FlowRevision]] = relationship(
        back_populates="flow",
        foreign_keys="FlowRevision.flow_id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="FlowRevision.revision",
    )
    current_revision: Mapped[FlowRevision | None] = relationship(
        foreign_keys=[current_revision_id], post_update=True
    )


class FlowRevision(Base):
    __tablename__ = "flow_revisions"
    __table_args__ = (UniqueConstraint("flow_id", "revision"),)

    id: Mapped[int] = _id()
    flow_id: Mapped[int] = _fk("flows.id", ondelete="CASCADE")
    revision: Mapped[int] = mapped_column(Integer())
    definition: Mapped[dict[str, Any]] = mapped_column(json_type())
    spec_version: Mapped[str] = mapped_column(CleanString())
    issues: Mapped[list[Any]] = mapped_column(json_type(), default=list)
    created_by: Mapped[str | None] = mapped_column(CleanString())
    created_at: Mapped[datetime] = _created_at()

    flow: Mapped[Flow] = relationship(back_populates="revisions", foreign_keys=[flow_id])


class FlowSession(Base):
    """One engine session for one contact; ``state`` is the engine's whole
    serialized session, the other columns are copies kept for querying."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_contact_id_status", "contact_id", "status"),
        # The sweeper scans these two for sessions whose wait or life ran out.
        Index("ix_sessions_wait_timeout_at", "wait_timeout_at"),
        Index("ix_sessions_expires_at", "expires_at"),
    )

    id: Mapped[int] = _id()
    uuid: Mapped[str] = mapped_column(CleanString(), unique=True, default=new_uuid)
    organization_id: Mapped[int] = _fk("organizations.id")
    contact_id: Mapped[int] = _fk("contacts.id", ondelete="CASCADE")
    status: Mapped[str] = mapped_column(CleanString(), default=SessionStatus.WAITING.value)
    state: Mapped[dict[str, Any]] = mapped_column(json_type())
    wait_kind: Mapped[str | None] = mapped_column(CleanString())
    wait_timeout_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    current_flow_uuid: Mapped[str | None] = mapped_column(CleanString())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()

    contact: Mapped[Contact] = relationship()
    runs: Mapped[list[Run]] = relationship(
        back_populates="session", cascade="all, delete-orphan", passive_deletes=True
    )


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_session_id", "session_id"),
        Index("ix_runs_contact_id", "contact_id"),
        # A flow's results page and the flow list's counts: one flow's runs, by start.
        Index("ix_runs_flow_uuid_created_at", "flow_uuid", "created_at"),
    )

    id: Mapped[int] = _id()
    uuid: Mapped[str] = mapped_column(CleanString(), unique=True, default=new_uuid)
    session_id: Mapped[int] = _fk("sessions.id", ondelete="CASCADE")
    flow_uuid: Mapped[str] = mapped_column(CleanString())
    contact_id: Mapped[int] = _fk("contacts.id", ondelete="CASCADE")
    status: Mapped[str] = mapped_column(CleanString())
    results: Mapped[dict[str, Any]] = mapped_column(json_type(), default=dict)
    path: Mapped[list[Any]] = mapped_column(json_type(), default=list)
    exited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()

    session: Mapped[FlowSession] = relationship(back_populates="runs")


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        # A channel that delivers the same inbound message twice gets an
        # IntegrityError on the second insert. NULLs never collide, so outgoing
        # messages without a provider id yet are unaffected.
        UniqueConstraint("channel", "external_id"),
        Index("ix_messages_contact_id_created_at", "contact_id", "created_at"),
        Index("ix_messages_organization_id_created_at", "organization_id", "created_at"),
        Index("ix_messages_direction_status", "direction", "status"),
        # A contact's messages still to handle or send, read at every claim and release: without
        # it SQLite's planner takes the index above and walks every outbound message ever sent.
        Index("ix_messages_contact_id_direction_status", "contact_id", "direction", "status"),
        # A broadcast's progress reads its sessions' messages.
        Index("ix_messages_session_uuid", "session_uuid"),
    )

    id: Mapped[int] = _id()
    uuid: Mapped[str] = mapped_column(CleanString(), unique=True, default=new_uuid)
    organization_id: Mapped[int] = _fk("organizations.id")
    contact_id: Mapped[int] = _fk("contacts.id", ondelete="CASCADE")
    direction: Mapped[str] = mapped_column(CleanString())
    text: Mapped[str] = mapped_column(CleanText(), default="")
    attachments: Mapped[list[Any]] = mapped_column(json_type(), default=list)
    quick_replies: Mapped[list[Any]] = mapped_column(json_type(), default=list)
    labels: Mapped[list[Any]] = mapped_column(json_type(), default=list)
    channel: Mapped[str] = mapped_column(CleanString())
    external_id: Mapped[str | None] = mapped_column(CleanString())
    status: Mapped[str] = mapped_column(CleanString())
    error: Mapped[str | None] = mapped_column(CleanText())
    session_uuid: Mapped[str | None] = mapped_column(CleanString())
    flow_uuid: Mapped[str | None] = mapped_column(CleanString())
    payload: Mapped[dict[str, Any] | None] = mapped_column(json_type(none_as_null=True))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Outbound retries after a provider's rate limit.
    attempts: Mapped[int] = mapped_column(Integer(), default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()

    contact: Mapped[Contact] = relationship()


class Broadcast(Base):
    """A flow started for many contacts at once (a group, a list, a filter), now or at a set
    time; its starts say how far it is."""

    __tablename__ = "broadcasts"
    __table_args__ = (Index("ix_broadcasts_status_send_at", "status", "send_at"),)

    id: Mapped[int] = _id()
    organization_id: Mapped[int] = _fk("organizations.id")
    flow_uuid: Mapped[str] = mapped_column(CleanString())
    total: Mapped[int] = mapped_column(Integer(), default=0, server_default="0")
    # scheduled -> starting (its starts being written, under ``lease_until``) -> started;
    # or cancelled (before its time), failed (its group went away: ``error``).
    status: Mapped[str] = mapped_column(String(), default="started", server_default="started")
    # Who gets it: {"contacts": [uuid...], "group": uuid, "filter": {...}} (the console's).
    target: Mapped[dict[str, Any] | None] = mapped_column(json_type(none_as_null=True))
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String())
    error: Mapped[str | None] = mapped_column(Text())
    created_at: Mapped[datetime] = _created_at()


class Schedule(Base):
    """A scheduled trigger: a flow started for a group (or chosen contacts) daily or on some
    days of the week, at a time of day in the organisation's time zone, until ``end_date``.
    Each occurrence becomes a broadcast; ``next_run_at`` is the next one (None: disabled, or
    past its end date)."""

    __tablename__ = "schedules"
    __table_args__ = (
        Index("ix_schedules_next_run_at", "next_run_at"),
        Index("ix_schedules_organization_id", "organization_id"),
    )

    id: Mapped[int] = _id()
    organization_id: Mapped[int] = _fk("organizations.id", ondelete="CASCADE")
    flow_uuid: Mapped[str] = mapped_column(CleanString())
    # Who gets it, as a broadcast's target: {"group": uuid} or {"contacts": [uuid...]}.
    target: Mapped[dict[str, Any]] = mapped_column(json_type())
    # "daily", or "weekly" on ``days`` (mon, tue, ... sun).
    frequency: Mapped[str] = mapped_column(String())
    days: Mapped[list[str]] = mapped_column(json_type(), default=list)
    # "HH:MM", the organisation's local time.
    at_time: Mapped[str] = mapped_column(String())
    # The last day (the organisation's) with an occurrence; none: for ever.
    end_date: Mapped[date | None] = mapped_column(Date())
    enabled: Mapped[bool] = mapped_column(Boolean(), default=True, server_default=true())
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_broadcast_id: Mapped[int | None] = _fk("broadcasts.id", ondelete="SET NULL", nullable=True)
    created_by: Mapped[str | None] = mapped_column(String())
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class FlowStart(Base):
    """A flow to start for one contact, in turn with the contact's messages (durable: a start
    asked for survives a restart, and a broadcast is 100,000 of these)."""

    __tablename__ = "flow_starts"
    __table_args__ = (
        Index("ix_flow_starts_contact_id_status", "contact_id", "status"),
        Index("ix_flow_starts_broadcast_id_contact_id", "broadcast_id", "contact_id"),
    )

    id: Mapped[int] = _id()
    organization_id: Mapped[int] = _fk("organizations.id")
    contact_id: Mapped[int] = _fk("contacts.id", ondelete="CASCADE")
    flow_uuid: Mapped[str] = mapped_column(CleanString())
    broadcast_id: Mapped[int | None] = _fk("broadcasts.id", ondelete="CASCADE", nullable=True)
    # pending -> done, failed, or skipped (the contact opted out, or is blocked or archived)
    status: Mapped[str] = mapped_column(CleanString(), default="pending", server_default="pending")
    # The session the start opened: its messages are the broadcast's, for its progress.
    session_uuid: Mapped[str | None] = mapped_column(CleanString())
    created_at: Mapped[datetime] = _created_at()


class FlowResult(Base):
    """One row per saved flow result, for reporting and export.

    Keyed by ``run_uuid`` rather than a foreign key to ``runs`` so that results
    outlive pruned sessions and runs. Re-saving a result is an upsert on
    ``(run_uuid, key)`` (``insert().on_conflict_do_update`` on both back ends).
    """

    __tablename__ = "flow_results"
    __table_args__ = (
        UniqueConstraint("run_uuid", "key"),
        Index("ix_flow_results_organization_id_flow_uuid", "organization_id", "flow_uuid"),
        Index("ix_flow_results_contact_id", "contact_id"),
    )

    id: Mapped[int] = _id()
    organization_id: Mapped[int] = _fk("organizations.id")
    flow_uuid: Mapped[str] = mapped_column(CleanString())
    run_uuid: Mapped[str] = mapped_column(CleanString())
    session_uuid: Mapped[str] = mapped_column(CleanString())
    contact_id: Mapped[int] = _fk("contacts.id", ondelete="CASCADE")
    key: Mapped[str] = mapped_column(CleanString())
    name: Mapped[str] = mapped_column(CleanString())
    input: Mapped[str | None] = mapped_column(CleanText())
    value: Mapped[str] = mapped_column(CleanText(), default="")
    category: Mapped[str | None] = mapped_column(CleanString())
    data: Mapped[dict[str, Any] | None] = mapped_column(json_type(none_as_null=True))
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class WebhookLog(Base):
    """One outgoing HTTP call (webhook or LLM) made from a flow."""

    __tablename__ = "webhook_logs"
    __table_args__ = (
        Index("ix_webhook_logs_organization_id_created_at", "organization_id", "created_at"),
        Index("ix_webhook_logs_contact_id", "contact_id"),
    )

    id: Mapped[int] = _id()
    organization_id: Mapped[int] = _fk("organizations.id")
    # The log is kept when its contact is deleted, only unlinked.
    contact_id: Mapped[int | None] = _fk("contacts.id", ondelete="SET NULL", nullable=True)
    flow_uuid: Mapped[str | None] = mapped_column(CleanString())
    session_uuid: Mapped[str | None] = mapped_column(CleanString())
    result_name: Mapped[str | None] = mapped_column(CleanString())
    method: Mapped[str] = mapped_column(CleanString())
    url: Mapped[str] = mapped_column(CleanText())
    request: Mapped[dict[str, Any] | None] = mapped_column(json_type(none_as_null=True))
    response: Mapped[dict[str, Any] | None] = mapped_column(json_type(none_as_null=True))
    status_code: Mapped[int | None] = mapped_column(Integer())
    error: Mapped[str | None] = mapped_column(CleanText())
    duration_ms: Mapped[float | None] = mapped_column(Float())
    llm_provider: Mapped[str | None] = mapped_column(CleanString())
    llm_model: Mapped[str | None] = mapped_column(CleanString())
    prompt_tokens: Mapped[int | None] = mapped_column(Integer())
    completion_tokens: Mapped[int | None] = mapped_column(Integer())
    created_at: Mapped[datetime] = _created_at()


class LLMUsage(Base):
    """One LLM call's tokens, latency and cost, for ``sutra usage`` and the budgets."""

    __tablename__ = "llm_usage"
    __table_args__ = (
        # The monthly budget sums an organisation's month; the daily cap a contact's day.
        Index("ix_llm_usage_organization_id_created_at", "organization_id", "created_at"),
        Index("ix_llm_usage_contact_id_created_at", "contact_id", "created_at"),
    )

    id: Mapped[int] = _id()
    organization_id: Mapped[int] = _fk("organizations.id")
    # Usage is billed whoever asked: a deleted contact's calls stay counted, only unlinked.
    contact_id: Mapped[int | None] = _fk("contacts.id", ondelete="SET NULL", nullable=True)
    flow_uuid: Mapped[str | None] = mapped_column(CleanString())
    function: Mapped[str | None] = mapped_column(CleanString())
    provider: Mapped[str] = mapped_column(CleanString())
    model: Mapped[str] = mapped_column(CleanString())
    prompt_tokens: Mapped[int] = mapped_column(Integer(), default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer(), default=0)
    latency_ms: Mapped[float] = mapped_column(Float(), default=0.0)
    # Speech transcribed or synthesised (voice notes in, audio replies out).
    audio_seconds: Mapped[float] = mapped_column(Float(), default=0.0, server_default="0")
    # USD, from the price table at the time of the call.
    cost: Mapped[float] = mapped_column(Float(), default=0.0)
    created_at: Mapped[datetime] = _created_at()


class LLMTurn(Base):
    """One question and answer of a conversation the LLM remembers (``thread_id``)."""

    __tablename__ = "llm_turns"
    __table_args__ = (
        Index("ix_llm_turns_organization_id_thread_id", "organization_id", "thread_id"),
    )

    id: Mapped[int] = _id()
    organization_id: Mapped[int] = _fk("organizations.id")
    # A contact's conversations are their data: deleting the contact deletes them.
    contact_id: Mapped[int | None] = _fk("contacts.id", ondelete="CASCADE", nullable=True)
    thread_id: Mapped[str] = mapped_column(CleanString())
    question: Mapped[str] = mapped_column(CleanText())
    answer: Mapped[str] = mapped_column(CleanText())
    # Estimated (about 4 characters a token): the memory is trimmed to a token budget.
    tokens: Mapped[int] = mapped_column(Integer())
    created_at: Mapped[datetime] = _created_at()


class User(Base):
    """A staff account: signs in to the flow editor, the flow list and the simulator."""

    __tablename__ = "users"

    id: Mapped[int] = _id()
    organization_id: Mapped[int] = _fk("organizations.id")
    # Stored lower-cased: people type their address in whatever case; sign-in is by email alone,
    # so it is unique across organisations.
    email: Mapped[str] = mapped_column(CleanString(), unique=True)
    name: Mapped[str | None] = mapped_column(CleanString())
    # argon2id, in the PHC string format ("$argon2id$v=19$m=...").
    password_hash: Mapped[str] = mapped_column(CleanString())
    is_active: Mapped[bool] = mapped_column(Boolean(), default=True, server_default=true())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When this person last opened the alerts page: newer alerts make the nav's count.
    alerts_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # May work in every organisation as its administrator (`sutra user create --platform-admin`);
    # each request made so in an organisation the user is not a member of is logged.
    is_platform_admin: Mapped[bool] = mapped_column(
        Boolean(), default=False, server_default=false()
    )
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class ServerSecret(Base):
    """Secrets the server makes for itself, e.g. the key that signs session cookies.

    Kept in the database rather than a file so that every process sharing the database signs
    and checks cookies with the same key, and sign-ins survive restarts and redeployments.
    """

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(CleanString(), primary_key=True)
    value: Mapped[str] = mapped_column(CleanText())
    created_at: Mapped[datetime] = _created_at()


class WebSession(Base):
    """A signed-in browser: its cookie carries a random token, the database keeps its hash.

    Server-side so that signing out, a disabled account or a new password ends a session at
    once, on every process; the hash means a copy of the database signs nobody in.
    """

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_expires_at", "expires_at"),)

    id: Mapped[int] = _id()
    # SHA-256 of the cookie's token, hex.
    token_hash: Mapped[str] = mapped_column(CleanString(), unique=True)
    user_id: Mapped[int] = mapped_column(
        ID_TYPE, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # The CSRF token the pages must echo in X-CSRFToken.
    csrf: Mapped[str] = mapped_column(CleanString())
    created_at: Mapped[datetime] = _created_at()
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The organisation the browser works in (the header's switcher); None: the user's first.
    organization_id: Mapped[int | None] = mapped_column(ID_TYPE)


class Membership(Base):
    """A user's place in an organisation: ``admin`` (settings, staff, tokens), ``staff``
    (the daily work) or ``viewer`` (reads only)."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("user_id", "organization_id"),
        Index("ix_memberships_organization_id", "organization_id"),
    )

    id: Mapped[int] = _id()
    user_id: Mapped[int] = _fk("users.id", ondelete="CASCADE")
    organization_id: Mapped[int] = _fk("organizations.id", ondelete="CASCADE")
    role: Mapped[str] = mapped_column(String())
    created_at: Mapped[datetime] = _created_at()


class ApiToken(Base):
    """A REST API token of one organisation: only its SHA-256 is kept, and its last 4
    characters, so a list can tell tokens apart without showing them."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_organization_id", "organization_id"),)

    id: Mapped[int] = _id()
    uuid: Mapped[str] = mapped_column(String(), unique=True, default=new_uuid)
    organization_id: Mapped[int] = _fk("organizations.id", ondelete="CASCADE")
    name: Mapped[str] = mapped_column(String())
    token_hash: Mapped[str] = mapped_column(String(), unique=True)
    last4: Mapped[str] = mapped_column(String())
    role: Mapped[str] = mapped_column(String())
    created_by: Mapped[str | None] = mapped_column(String())
    created_at: Mapped[datetime] = _created_at()
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ChannelNumber(Base):
    """Which organisation a channel address belongs to: a WhatsApp phone number id, a Gupshup
    app name. Unique, so one number can never be routed to two organisations."""

    __tablename__ = "channel_numbers"
    __table_args__ = (
        UniqueConstraint("kind", "address"),
        Index("ix_channel_numbers_organization_id", "organization_id"),
    )

    id: Mapped[int] = _id()
    organization_id: Mapped[int] = _fk("organizations.id", ondelete="CASCADE")
    kind: Mapped[str] = mapped_column(String())
    address: Mapped[str] = mapped_column(String())
    created_at: Mapped[datetime] = _created_at()


class WhatsAppTemplate(Base):
    """A message template (HSM) of the organisation's WhatsApp Business Account, as last
    synced from Meta: what may be sent outside the 24-hour window (when ``APPROVED``)."""

    __tablename__ = "whatsapp_templates"
    __table_args__ = (UniqueConstraint("organization_id", "name", "language"),)

    id: Mapped[int] = _id()
    organization_id: Mapped[int] = _fk("organizations.id", ondelete="CASCADE")
    # Meta's id of the template (one per name and language).
    external_id: Mapped[str | None] = mapped_column(CleanString())
    name: Mapped[str] = mapped_column(CleanString())
    language: Mapped[str] = mapped_column(CleanString())
    # APPROVED, PENDING, REJECTED, PAUSED, DISABLED... as Meta says.
    status: Mapped[str] = mapped_column(CleanString())
    category: Mapped[str | None] = mapped_column(CleanString())
    components: Mapped[list[Any]] = mapped_column(json_type(), default=list)
    # The BODY component's text, with its {{1}}, {{2}}... placeholders.
    body: Mapped[str] = mapped_column(CleanText(), default="")
    variables: Mapped[int] = mapped_column(Integer(), default=0, server_default="0")
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SignInThrottle(Base):
    """Recent failed sign-ins of one account or one client address, and its lock-out.

    In the database rather than in memory so that every process of a deployment counts the
    same failures: a guesser spread over ``--workers N`` processes gets no N times more tries.
    """

    __tablename__ = "sign_in_throttles"
    __table_args__ = (Index("ix_sign_in_throttles_forget_at", "forget_at"),)

    # "account:<digest of the email>" or "address:<client IP or IPv6 /64>".
    key: Mapped[str] = mapped_column(CleanString(), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer(), default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # After this the failures are forgotten (a quiet spell after the last failure or lock).
    forget_at: Mapped[datetime] = mapped_column(UTCDateTime())


# Defined with their feature, registered on the same metadata (migrations and schema checks).
from sutra.assistants import models as _assistants  # noqa: E402, F401
from sutra.evals import models as _evals  # noqa: E402, F401
