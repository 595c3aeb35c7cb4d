"""Throttling failed sign-ins, per account and per client address, in the database.

Each key (an account, a client address) counts its failed sign-ins. At ``limit`` failures the
key is locked for a minute; every failure after a lock has ended locks it again for twice as
long, up to an hour. While a key is locked every sign-in through it is refused, the right
password too, without checking the password (no argon2 work for a guesser to cause). Failures
short of a lock are forgotten after a quiet quarter of an hour; once a key has been locked, only
after a quiet day (else waiting a quarter of an hour would buy a guesser 5 fresh tries). A
successful sign-in forgets the account's failures (not the address's, or a guesser with an
account of their own could reset it at will).

A guesser thus gets 5 tries, then one more per doubling lock: some 35 a day for one account,
whichever processes or addresses the tries come through. The price is that anybody
can lock an account out for a while by failing on purpose; the lock is short at first, and
``sutra user password`` lifts it.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sutra.store import models as m

# Typos happen; 5 in a row, within a quarter of an hour, are rarely typos.
ACCOUNT_LIMIT = 5
# One address may be a whole office behind NAT: more room before it locks everybody there.
ADDRESS_LIMIT = 20
FIRST_LOCK = timedelta(minutes=1)
MAX_LOCK = timedelta(hours=1)
FORGET_AFTER = timedelta(minutes=15)
FORGET_LOCKED_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class Key:
    name: str
    limit: int


def address_key(host: str | None) -> Key:
    """The key of a client address; IPv6 by its /64, which one subscriber gets whole.

    >>> address_key("2001:db8:1:2:3:4:5:6").name, address_key("192.0.2.7").name
    ('address:2001:db8:1:2::/64', 'address:192.0.2.7')
    """
    try:
        ip = ipaddress.ip_address(host or "")
    except ValueError:
        return Key(f"address:{host or 'unknown'}", ADDRESS_LIMIT)
    if ip.version == 6:
        return Key(f"address:{ipaddress.ip_network(f'{ip}/64', strict=False)}", ADDRESS_LIMIT)
    return Key(f"address:{ip}", ADDRESS_LIMIT)


def lock_for(failures: int, limit: int) -> timedelta:
    """How long the ``failures``-th failure locks a key: doubling from the limit on, capped.

    >>> [int(lock_for(n, 5).total_seconds()) for n in (4, 5, 6, 7, 12, 40)]
    [0, 60, 120, 240, 3600, 3600]
    """
    if failures < limit:
        return timedelta(0)
    doublings = failures - limit
    if doublings >= 12:  # past the cap long before; keeps 2**n small
        return MAX_LOCK
    return min(FIRST_LOCK * 2**doublings, MAX_LOCK)


def _seconds(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


async def locked(
    sessions: async_sessionmaker[AsyncSession], keys: Iterable[Key], now: datetime
) -> int | None:
    """Seconds until the latest lock on any of ``keys`` ends, or None when none is locked."""
    names = [key.name for key in keys]
    async with sessions() as db:
        until = await db.scalar(
            select(m.SignInThrottle.locked_until)
            .where(m.SignInThrottle.key.in_(names), m.SignInThrottle.locked_until > now)
            .order_by(m.SignInThrottle.locked_until.desc())
            .limit(1)
        )
    return _seconds(until - now) if until is not None else None


async def failed(
    sessions: async_sessionmaker[AsyncSession], keys: Iterable[Key], now: datetime
) -> int | None:
    """Count a failed sign-in against each key; seconds of the lock it set off, if any."""
    longest: timedelta | None = None
    for key in keys:
        lock = await _fail(sessions, key, now)
        if lock and (longest is None or lock > longest):
            longest = lock
    return _seconds(longest) if longest else None


async def _fail(sessions: async_sessionmaker[AsyncSession], key: Key, now: datetime) -> timedelta:
    for attempt in range(2):
        try:
            async with sessions.begin() as db:
                await db.execute(delete(m.SignInThrottle).where(m.SignInThrottle.forget_at <= now))
                # FOR UPDATE (PostgreSQL): two processes failing on one key at once must both
                # count. SQLite has one writer at a time anyway.
                row = await db.scalar(
                    select(m.SignInThrottle)
                    .where(m.SignInThrottle.key == key.name)
                    .with_for_update()
                )
                if row is None:
                    row = m.SignInThrottle(key=key.name, failures=0, forget_at=now)
                    db.add(row)
                row.failures += 1
                lock = lock_for(row.failures, key.limit)
                if lock:
                    row.locked_until = now + lock
                if row.locked_until is None:
                    row.forget_at = now + FORGET_AFTER
                else:
                    row.forget_at = max(now, row.locked_until) + FORGET_LOCKED_AFTER
                return lock
        except IntegrityError:
            # Another process inserted the key first: count on its row.
            if attempt:
                raise
    raise AssertionError("unreachable")


async def forget(sessions: async_sessionmaker[AsyncSession], key: Key) -> None:
    async with sessions.begin() as db:
        await db.execute(delete(m.SignInThrottle).where(m.SignInThrottle.key == key.name))
