"""Staff accounts (argon2-hashed passwords) and the secrets the server makes for itself.

Used by ``sutra user ...`` and by the web sign-in. Hashing and checking a password take tens of
milliseconds of CPU on purpose (that is what makes a stolen hash slow to crack), so the async
functions do it in a worker thread rather than on the event loop.

A signed-in browser is a row of ``web_sessions``: signing out deletes it, and so do disabling
the account and setting a new password, so each takes effect on the next request everywhere.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sutra.store import models as m

MIN_PASSWORD_LENGTH = 8
# A fortnight: long enough not to interrupt a week of flow building, short enough that a
# forgotten browser does not stay signed in for good.
SESSION_LIFETIME = timedelta(days=14)
# last_seen_at is a hint for people, not a lock: refreshed at most this often, so the editor's
# polling does not turn every read into a write.
LAST_SEEN_EVERY = timedelta(minutes=1)

# argon2-cffi's defaults (argon2id, RFC 9106's low-memory profile): kept in one place so that a
# later change of parameters rehashes old passwords at their next sign-in.
_hasher = PasswordHasher()


# Checked against when the email is unknown, so that a wrong address takes as long to refuse as
# a wrong password and response times do not tell which addresses have accounts.
# Made at the first such check, not at import: every `sutra` command imports this module.
@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


class UserError(ValueError):
    """A user cannot be created or changed; the message says why, for a person to read."""


def normalize_email(email: str) -> str:
    """The address as stored: trimmed and lower-cased.

    >>> normalize_email("  Asha@Example.ORG ")
    'asha@example.org'
    """
    return email.strip().lower()


def email_problem(email: str) -> str | None:
    """Why ``email`` cannot name an account, or None.

    >>> email_problem("asha@example.org"), email_problem("asha"), email_problem("a b@c.d")
    (None, 'not an email address: "asha"', 'not an email address: "a b@c.d"')
    """
    local, at, domain = email.partition("@")
    if not at or not local or not domain or any(c.isspace() for c in email):
        return f'not an email address: "{email}"'
    return None


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def create_user(
    sessions: async_sessionmaker[AsyncSession],
    email: str,
    password: str,
    *,
    name: str | None = None,
    organization_id: int = 1,
    role: str = "admin",
    platform_admin: bool = False,
) -> m.User:
    """A new account, with ``role`` in ``organization_id``."""
    email = normalize_email(email)
    problem = email_problem(email) or password_problem(password)
    if problem:
        raise UserError(problem)
    password_hash = await asyncio.to_thread(hash_password, password)
    try:
        async with sessions.begin() as db:
            user = m.User(
                organization_id=organization_id,
                email=email,
                name=name,
                password_hash=password_hash,
                is_active=True,
                is_platform_admin=platform_admin,
            )
            db.add(user)
            await db.flush()
            db.add(m.Membership(user_id=user.id, organization_id=organization_id, role=role))
    except IntegrityError:
        raise UserError(f"a user with the email {email} exists already") from None
    return user


async def set_password(
    sessions: async_sessionmaker[AsyncSession],
    email: str,
    password: str,
    *,
    keep_session: int | None = None,
) -> None:
    """A new password; every session of the user ends but ``keep_session`` (the one that
    changed it, when a signed-in user changes their own), as an old one may be a thief's."""
    problem = password_problem(password)
    if problem:
        raise UserError(problem)
    password_hash = await asyncio.to_thread(hash_password, password)
    async with sessions.begin() as db:
        user = await db.scalar(select(m.User).where(m.User.email == normalize_email(email)))
        if user is None:
            raise UserError(f"no user with the email {normalize_email(email)}")
        user.password_hash = password_hash
        ended = delete(m.WebSession).where(m.WebSession.user_id == user.id)
        if keep_session is not None:
            ended = ended.where(m.WebSession.id != keep_session)
        await db.execute(ended)
        # An administrator resetting the password of a locked-out user lets them in at once.
        await db.execute(
            delete(m.SignInThrottle).where(m.SignInThrottle.key == account_key(user.email))
        )


async def set_active(sessions: async_sessionmaker[AsyncSession], email: str, active: bool) -> None:
    """Enable or disable an account; disabling ends its sessions."""
    async with sessions.begin() as db:
        user = await db.scalar(select(m.User).where(m.User.email == normalize_email(email)))
        if user is None:
            raise UserError(f"no user with the email {normalize_email(email)}")
        user.is_active = active
        if not active:
            await db.execute(delete(m.WebSession).where(m.WebSession.user_id == user.id))


async def list_users(sessions: async_sessionmaker[AsyncSession]) -> list[m.User]:
    async with sessions() as db:
        return list(await db.scalars(select(m.User).order_by(m.User.email)))


async def get_user(sessions: async_sessionmaker[AsyncSession], user_id: int) -> m.User | None:
    async with sessions() as db:
        user: m.User | None = await db.get(m.User, user_id)
        return user


async def authenticate(
    sessions: async_sessionmaker[AsyncSession], email: str, password: str
) -> m.User | None:
    """The active user with this email and password, else None (whichever of them was wrong)."""
    async with sessions() as db:
        user = await db.scalar(select(m.User).where(m.User.email == normalize_email(email)))
    stored = user.password_hash if user is not None else _dummy_hash()
    ok = await asyncio.to_thread(verify_password, stored, password)
    if user is None or not ok or not user.is_active:
        return None
    async with sessions.begin() as db:
        row = await db.get(m.User, user.id)
        if row is not None:
            row.last_login_at = m.utcnow()
            if _hasher.check_needs_rehash(row.password_hash):
                row.password_hash = await asyncio.to_thread(hash_password, password)
            user = row
    return user


def account_key(email: str) -> str:
    """The sign-in throttle's key for an address (a digest: people type passwords into the
    email field, and the table should not keep what they typed)."""
    digest = hashlib.sha256(normalize_email(email).encode()).hexdigest()[:32]
    return f"account:{digest}"


# --- web sessions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveSession:
    """A session that signs its browser in: who, and the CSRF token its pages must echo."""

    id: int
    user_id: int
    email: str
    name: str | None
    csrf: str
    # The organisation the browser last switched to (None: the user's first).
    organization_id: int | None = None
    is_platform_admin: bool = False


def _token_hash(token: str) -> str:
    # The token is 256 random bits, not a password: a fast hash loses nothing.
    return hashlib.sha256(token.encode()).hexdigest()


async def start_session(
    sessions: async_sessionmaker[AsyncSession], user_id: int, *, now: datetime | None = None
) -> tuple[str, str]:
    """A new session for the user: its token (for the cookie only) and its CSRF token."""
    now = now or m.utcnow()
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    async with sessions.begin() as db:
        # Expired sessions are swept here rather than by a timer: sign-ins are rare, and the
        # lookup refuses an expired one anyway.
        await db.execute(delete(m.WebSession).where(m.WebSession.expires_at <= now))
        db.add(
            m.WebSession(
                token_hash=_token_hash(token),
                user_id=user_id,
                csrf=csrf,
                created_at=now,
                last_seen_at=now,
                expires_at=now + SESSION_LIFETIME,
            )
        )
    return token, csrf


async def session_user(
    sessions: async_sessionmaker[AsyncSession], token: str, *, now: datetime | None = None
) -> LiveSession | None:
    """The live session with this token and its active user, else None."""
    now = now or m.utcnow()
    async with sessions() as db:
        row = (
            await db.execute(
                select(m.WebSession, m.User)
                .join(m.User, m.User.id == m.WebSession.user_id)
                .where(
                    m.WebSession.token_hash == _token_hash(token),
                    m.WebSession.expires_at > now,
                    m.User.is_active.is_(True),
                )
            )
        ).first()
    if row is None:
        return None
    web, user = row
    if now - web.last_seen_at >= LAST_SEEN_EVERY:
        async with sessions.begin() as db:
            await db.execute(
                update(m.WebSession).where(m.WebSession.id == web.id).values(last_seen_at=now)
            )
    return LiveSession(
        web.id,
        user.id,
        user.email,
        user.name,
        web.csrf,
        web.organization_id,
        bool(user.is_platform_admin),
    )


async def end_session(sessions: async_sessionmaker[AsyncSession], token: str) -> None:
    async with sessions.begin() as db:
        await db.execute(delete(m.WebSession).where(m.WebSession.token_hash == _token_hash(token)))


async def server_secret(
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    make: Callable[[], str] = lambda: secrets.token_urlsafe(48),
) -> str:
    """The secret called ``name``, made and stored on first use.

    Two processes starting together may both make one; the primary key lets only the first
    insert win, and the other reads the winner's.
    """
    async with sessions() as db:
        found = await db.get(m.ServerSecret, name)
        if found is not None:
            return found.value
    try:
        async with sessions.begin() as db:
            db.add(m.ServerSecret(name=name, value=make()))
    except IntegrityError:
        pass
    async with sessions() as db:
        stored = await db.get(m.ServerSecret, name)
        assert stored is not None
        return stored.value
