"""Organisations, their settings, staff memberships and API tokens, in the database.

Every function takes the organisation it works in and touches nothing of another one: a
membership, a token or a number of another organisation is "not found".
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sutra.orgs import DEFAULT_ORG, ROLES
from sutra.orgs.settings import SettingsUpdate, shown
from sutra.recurrence import next_run
from sutra.store import models as m
from sutra.store import users
from sutra.store.work import recurrence_of

Sessions = async_sessionmaker[AsyncSession]
TOKEN_PREFIX = "sutra_"


class OrgError(ValueError):
    """A change refused; the message says why, for a person to read; ``status`` the HTTP one."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


# --- organisations -----------------------------------------------------------------------------


async def create_org(sessions: Sessions, name: str, *, timezone: str = "UTC") -> m.Organization:
    update = SettingsUpdate(name=name.strip(), timezone=timezone)
    async with sessions.begin() as db:
        org = m.Organization(name=update.name, timezone=update.timezone, settings={})
        db.add(org)
    return org


async def list_orgs(sessions: Sessions) -> list[dict[str, Any]]:
    async with sessions() as db:
        orgs = list(await db.scalars(select(m.Organization).order_by(m.Organization.id)))
        staff = dict(
            (
                await db.execute(
                    select(m.Membership.organization_id, func.count()).group_by(
                        m.Membership.organization_id
                    )
                )
            ).all()
        )
        contacts = dict(
            (
                await db.execute(
                    select(m.Contact.organization_id, func.count()).group_by(
                        m.Contact.organization_id
                    )
                )
            ).all()
        )
    return [
        {
            "id": org.id,
            "name": org.name,
            "timezone": org.timezone,
            "active": org.is_active,
            "staff": int(staff.get(org.id, 0)),
            "contacts": int(contacts.get(org.id, 0)),
            "whatsapp_phone_number_id": (org.settings or {}).get("whatsapp_phone_number_id"),
        }
        for org in orgs
    ]


async def set_active(sessions: Sessions, organization_id: int, active: bool) -> m.Organization:
    if organization_id == DEFAULT_ORG and not active:
        raise OrgError("the default organisation cannot be disabled", 409)
    async with sessions.begin() as db:
        org = await db.get(m.Organization, organization_id)
        if org is None:
            raise OrgError(f"no organisation {organization_id}", 404)
        org.is_active = active
        if not active:
            # Its numbers are free for nobody else, but no longer routed to it. Its staff's
            # browsers stop; the platform administrator's (who may have disabled it from
            # inside) go on in another organisation.
            platform = select(m.User.id).where(m.User.is_platform_admin.is_(True))
            await db.execute(
                delete(m.WebSession).where(
                    m.WebSession.organization_id == organization_id,
                    m.WebSession.user_id.not_in(platform),
                )
            )
    return org


async def get_org(sessions: Sessions, organization_id: int) -> m.Organization:
    async with sessions() as db:
        org = await db.get(m.Organization, organization_id)
    if org is None:
        raise OrgError(f"no organisation {organization_id}", 404)
    return org


def org_json(org: m.Organization) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "timezone": org.timezone,
        "active": org.is_active,
        "settings": shown(dict(org.settings or {})),
    }


async def _reschedule(db: AsyncSession, organization_id: int, zone: str) -> None:
    """Schedules keep their local time of day: in the new time zone from the next run on."""
    now = datetime.now(UTC)
    for row in await db.scalars(
        select(m.Schedule).where(
            m.Schedule.organization_id == organization_id, m.Schedule.enabled.is_(True)
        )
    ):
        rule = recurrence_of(row.frequency, row.days, row.at_time, row.end_date)
        row.next_run_at = next_run(rule, now, zone)


async def update_settings(
    sessions: Sessions,
    organization_id: int,
    update: SettingsUpdate,
    *,
    reserved_whatsapp: str | None = None,
) -> m.Organization:
    """Apply ``update``; a number or app another organisation has is refused (409).
    ``reserved_whatsapp``: the environment's number, the default organisation's."""
    changes = update.changes()
    async with sessions.begin() as db:
        org = await db.get(m.Organization, organization_id)
        if org is None:
            raise OrgError(f"no organisation {organization_id}", 404)
        if update.name is not None:
            org.name = update.name.strip()
        if update.timezone is not None and update.timezone != org.timezone:
            org.timezone = update.timezone
            await _reschedule(db, organization_id, update.timezone)
        settings = dict(org.settings or {})
        for key, value in changes.items():
            if value is None:
                settings.pop(key, None)
            else:
                settings[key] = value
        org.settings = settings
        number = settings.get("whatsapp_phone_number_id")
        if number and organization_id != DEFAULT_ORG and number == reserved_whatsapp:
            raise OrgError(
                f"whatsapp_phone_number_id: {number} belongs to another organisation", 409
            )
        await db.execute(
            delete(m.ChannelNumber).where(m.ChannelNumber.organization_id == organization_id)
        )
        for kind, address in (
            ("whatsapp", number),
            ("gupshup", settings.get("gupshup_app_name")),
        ):
            if address:
                db.add(m.ChannelNumber(organization_id=organization_id, kind=kind, address=address))
        try:
            await db.flush()
        except IntegrityError:
            raise OrgError(
                "whatsapp_phone_number_id / gupshup_app_name: already used by another organisation",
                409,
            ) from None
    return org


# --- staff -------------------------------------------------------------------------------------


def _role(role: str) -> str:
    if role not in ROLES:
        raise OrgError(f"role: {role!r} is not one of {', '.join(ROLES)}")
    return role


async def check_first_admin(
    sessions: Sessions,
    email: str,
    password: str | None,
    *,
    fields: tuple[str, str] = ("admin_email", "admin_password"),
) -> str:
    """A new organisation's first administrator's address, checked before the organisation
    is made, so that a refused one leaves no organisation without an administrator behind.
    ``fields`` name where the address and the password came from, for the error."""
    address = users.normalize_email(email)
    problem = users.email_problem(address)
    if problem:
        raise OrgError(f"{fields[0]}: {problem}")
    async with sessions() as db:
        exists = await db.scalar(select(m.User.id).where(m.User.email == address))
    if exists is None:
        if not password:
            raise OrgError(f"{fields[1]}: {address} has no account yet; give a first password")
        problem = users.password_problem(password)
        if problem:
            raise OrgError(f"{fields[1]}: {problem}")
    return address


async def add_member(
    sessions: Sessions,
    organization_id: int,
    email: str,
    role: str,
    *,
    password: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Give a user a role here, creating the account when ``password`` is given and the email
    has none yet. An existing account keeps its password (it is someone's in another
    organisation too)."""
    _role(role)
    address = users.normalize_email(email)
    problem = users.email_problem(address)
    if problem:
        raise OrgError(f"email: {problem}")
    async with sessions() as db:
        user = await db.scalar(select(m.User).where(m.User.email == address))
    if user is None:
        if not password:
            raise OrgError(f"password: {address} has no account yet; give a first password")
        try:
            user = await users.create_user(
                sessions, address, password, name=name, organization_id=organization_id
            )
        except users.UserError as exc:
            raise OrgError(str(exc)) from None
    async with sessions.begin() as db:
        found = await db.scalar(
            select(m.Membership).where(
                m.Membership.user_id == user.id, m.Membership.organization_id == organization_id
            )
        )
        if found is None:
            db.add(m.Membership(user_id=user.id, organization_id=organization_id, role=role))
        else:
            found.role = role
    return {"email": user.email, "name": user.name, "role": role, "active": user.is_active}


async def list_members(sessions: Sessions, organization_id: int) -> list[dict[str, Any]]:
    async with sessions() as db:
        rows = await db.execute(
            select(m.User, m.Membership.role)
            .join(m.Membership, m.Membership.user_id == m.User.id)
            .where(m.Membership.organization_id == organization_id)
            .order_by(m.User.email)
        )
        return [
            {
                "email": user.email,
                "name": user.name,
                "role": role,
                "active": user.is_active,
                "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
            }
            for user, role in rows
        ]


async def remove_member(sessions: Sessions, organization_id: int, email: str) -> None:
    address = users.normalize_email(email)
    async with sessions.begin() as db:
        user = await db.scalar(select(m.User).where(m.User.email == address))
        membership = (
            None
            if user is None
            else await db.scalar(
                select(m.Membership).where(
                    m.Membership.user_id == user.id,
                    m.Membership.organization_id == organization_id,
                )
            )
        )
        if user is None or membership is None:
            raise OrgError(f"no staff member {address} here", 404)
        if membership.role == "admin":
            admins = await db.scalar(
                select(func.count()).where(
                    m.Membership.organization_id == organization_id, m.Membership.role == "admin"
                )
            )
            if int(admins or 0) <= 1:
                raise OrgError("the last administrator cannot be removed", 409)
        await db.delete(membership)
        # Browsers working in this organisation as that user stop at once.
        await db.execute(
            delete(m.WebSession).where(
                m.WebSession.user_id == user.id, m.WebSession.organization_id == organization_id
            )
        )


# A platform administrator's role in an organisation it is not a member of.
PLATFORM_ROLE = "platform"


@dataclass(frozen=True)
class Place:
    organization_id: int
    name: str
    role: str


async def memberships(sessions: Sessions, user_id: int) -> list[Place]:
    """The active organisations a user works in, with the role, in id order; a platform
    administrator's are all of them (as administrator where not a member)."""
    async with sessions() as db:
        platform = await db.scalar(select(m.User.is_platform_admin).where(m.User.id == user_id))
        if platform:
            everything = await db.execute(
                select(m.Organization.id, m.Organization.name, m.Membership.role)
                .outerjoin(
                    m.Membership,
                    (m.Membership.organization_id == m.Organization.id)
                    & (m.Membership.user_id == user_id),
                )
                .where(m.Organization.is_active.is_(True))
                .order_by(m.Organization.id)
            )
            return [Place(int(i), str(n), str(r) if r else PLATFORM_ROLE) for i, n, r in everything]
        rows = await db.execute(
            select(m.Organization.id, m.Organization.name, m.Membership.role)
            .join(m.Membership, m.Membership.organization_id == m.Organization.id)
            .where(m.Membership.user_id == user_id, m.Organization.is_active.is_(True))
            .order_by(m.Organization.id)
        )
        return [Place(int(i), str(n), str(r)) for i, n, r in rows]


async def switch(sessions: Sessions, session_id: int, user_id: int, organization_id: int) -> None:
    if organization_id not in {p.organization_id for p in await memberships(sessions, user_id)}:
        raise OrgError(f"no organisation {organization_id} of yours", 404)
    async with sessions.begin() as db:
        row = await db.get(m.WebSession, session_id)
        if row is not None:
            row.organization_id = organization_id


# --- API tokens --------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(
    sessions: Sessions,
    organization_id: int,
    name: str,
    *,
    role: str = "staff",
    created_by: str | None = None,
) -> tuple[str, m.ApiToken]:
    """A new token: the value (shown this once, never stored) and its row."""
    _role(role)
    label = name.strip()
    if not label or len(label) > 200:
        raise OrgError("name: give the token a name (up to 200 characters)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with sessions.begin() as db:
        row = m.ApiToken(
            uuid=m.new_uuid(),
            organization_id=organization_id,
            name=label,
            token_hash=token_hash(token),
            last4=token[-4:],
            role=role,
            created_by=created_by,
        )
        db.add(row)
    return token, row


def token_json(row: m.ApiToken) -> dict[str, Any]:
    def at(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "uuid": row.uuid,
        "name": row.name,
        "role": row.role,
        "last4": row.last4,
        "created_by": row.created_by,
        "created_at": at(row.created_at),
        "last_used_at": at(row.last_used_at),
        "revoked_at": at(row.revoked_at),
    }


async def list_tokens(sessions: Sessions, organization_id: int) -> list[dict[str, Any]]:
    async with sessions() as db:
        rows = await db.scalars(
            select(m.ApiToken)
            .where(m.ApiToken.organization_id == organization_id)
            .order_by(m.ApiToken.id.desc())
        )
        return [token_json(row) for row in rows]


async def revoke_token(sessions: Sessions, organization_id: int, uuid: str) -> None:
    async with sessions.begin() as db:
        row = await db.scalar(
            select(m.ApiToken).where(
                m.ApiToken.organization_id == organization_id, m.ApiToken.uuid == uuid
            )
        )
        if row is None:
            raise OrgError(f"no token {uuid}", 404)
        if row.revoked_at is None:
            row.revoked_at = m.utcnow()


async def token_scope(sessions: Sessions, token: str) -> tuple[int, str] | None:
    """The organisation and role of a live token of an active organisation, else None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    async with sessions() as db:
        row = (
            await db.execute(
                select(m.ApiToken.organization_id, m.ApiToken.role)
                .join(m.Organization, m.Organization.id == m.ApiToken.organization_id)
                .where(
                    m.ApiToken.token_hash == token_hash(token),
                    m.ApiToken.revoked_at.is_(None),
                    m.Organization.is_active.is_(True),
                )
            )
        ).first()
    return None if row is None else (int(row[0]), str(row[1]))
