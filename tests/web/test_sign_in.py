"""Sign-in hardening: throttled guessing, and sessions that end when they should.

The real app on SQLite, through httpx's ASGI transport; the throttle's clock is moved by hand
(``auth.now``) rather than waited for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from sutra.store import models as m
from sutra.store.users import set_active, set_password
from sutra.testing.accounts import TEST_EMAIL, TEST_PASSWORD, ensure_user
from sutra.testing.openai_server import OpenAIStubServer
from sutra.web import auth
from tests.editor.conftest import Site, open_site

WRONG = {"email": TEST_EMAIL, "password": "not-the-password"}
RIGHT = {"email": TEST_EMAIL, "password": TEST_PASSWORD}


def client(app: FastAPI, address: str = "198.51.100.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://t")


class Clock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = m.utcnow()
        monkeypatch.setattr(auth, "now", lambda: self.now)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def site(tmp_path: Path, stub: OpenAIStubServer, clean_env: None) -> AsyncIterator[Site]:
    async with open_site(tmp_path / "sutra.db", stub) as opened:
        yield opened


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


async def signed_in(browser: httpx.AsyncClient) -> bool:
    return (await browser.get("/flows")).status_code == 200


async def test_guessing_locks_the_account_with_a_doubling_wait(site: Site, clock: Clock) -> None:
    async with client(site.app) as guesser:
        for _ in range(4):
            assert (await guesser.post("/login", data=WRONG)).status_code == 401
        fifth = await guesser.post("/login", data=WRONG)
        assert fifth.status_code == 429
        assert fifth.headers["retry-after"] == "60"
        assert "Too many attempts, try again in 1 minute." in fifth.text

        # The right password during the lock-out signs nobody in.
        during = await guesser.post("/login", data=RIGHT)
        assert during.status_code == 429
        assert "Too many attempts, try again in 1 minute." in during.text
        assert "sutra_session" not in guesser.cookies
        assert not await signed_in(guesser)

        # Trying again while locked does not make the wait longer...
        clock.advance(30)
        assert (await guesser.post("/login", data=WRONG)).headers["retry-after"] == "30"
        # ...but the next failure after it ends locks for twice as long, then twice again.
        clock.advance(31)
        sixth = await guesser.post("/login", data=WRONG)
        assert (sixth.status_code, sixth.headers["retry-after"]) == (429, "120")
        assert "try again in 2 minutes" in sixth.text
        clock.advance(121)
        seventh = await guesser.post("/login", data=WRONG)
        assert (seventh.status_code, seventh.headers["retry-after"]) == (429, "240")

    # The owner, from another address, waits out the lock like anybody and then signs in.
    async with client(site.app, "192.0.2.44") as owner:
        assert (await owner.post("/login", data=RIGHT)).status_code == 429
        clock.advance(241)
        assert (await owner.post("/login", data=RIGHT)).status_code == 303
        assert await signed_in(owner)
        # Signing in wiped the slate: one typo is a typo again, not another lock.
        assert (await owner.post("/login", data=WRONG)).status_code == 401


async def test_unknown_emails_lock_like_real_ones(site: Site, clock: Clock) -> None:
    nobody = {"email": "nobody@example.org", "password": "whatever-1"}
    async with client(site.app) as guesser:
        codes = [(await guesser.post("/login", data=nobody)).status_code for _ in range(6)]
    # Otherwise being locked out (or not) would tell which addresses have accounts.
    assert codes == [401, 401, 401, 401, 429, 429]


async def test_one_address_guessing_many_accounts_is_locked(site: Site, clock: Clock) -> None:
    sessions = site.state.repo.sessions
    await ensure_user(sessions, "asha@example.org", "asha-password-1")
    async with client(site.app, "203.0.113.9") as sprayer:
        codes = [
            (
                await sprayer.post(
                    "/login", data={"email": f"staff{i}@example.org", "password": "Summer2024!"}
                )
            ).status_code
            for i in range(21)
        ]
        assert codes[:19] == [401] * 19 and codes[19:] == [429, 429]
        # Every account is shut to that address, even with its right password.
        asha = {"email": "asha@example.org", "password": "asha-password-1"}
        assert (await sprayer.post("/login", data=asha)).status_code == 429
    # Asha's own account was not the one guessed: from her address she signs in.
    async with client(site.app, "192.0.2.80") as browser:
        assert (await browser.post("/login", data=asha)).status_code == 303


async def test_the_lock_holds_across_restarts_and_a_new_password_lifts_it(
    tmp_path: Path, stub: OpenAIStubServer, clean_env: None, clock: Clock
) -> None:
    database = tmp_path / "sutra.db"
    async with open_site(database, stub) as first, client(first.app) as guesser:
        for _ in range(5):
            await guesser.post("/login", data=WRONG)
    # Another process (here: the next one) on the same database sees the same lock.
    async with (
        open_site(database, stub, signed_in=False) as second,
        client(second.app, "192.0.2.1") as owner,
    ):
        assert (await owner.post("/login", data=RIGHT)).status_code == 429
        await set_password(second.state.repo.sessions, TEST_EMAIL, "a-fresh-password")
        fresh = {"email": TEST_EMAIL, "password": "a-fresh-password"}
        assert (await owner.post("/login", data=fresh)).status_code == 303


async def test_a_cookie_stops_working_once_signed_out(site: Site) -> None:
    cookie = site.http.cookies["sutra_session"]
    assert await signed_in(site.http)
    out = await site.http.post("/logout")
    assert out.status_code == 303
    # A copy of the cookie (another tab, a stolen one) is refused too, not just the deleted one.
    async with client(site.app) as copy:
        copy.cookies.set("sutra_session", cookie)
        page = await copy.get("/flows")
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        assert (await copy.get("/flow-editor/groups")).status_code == 401


async def test_disabling_a_user_ends_their_sessions_for_good(site: Site) -> None:
    cookie = site.http.cookies["sutra_session"]
    sessions = site.state.repo.sessions
    await set_active(sessions, TEST_EMAIL, False)
    assert not await signed_in(site.http)
    # Enabling the account again does not bring the old browser back: it must sign in anew.
    await set_active(sessions, TEST_EMAIL, True)
    async with client(site.app) as copy:
        copy.cookies.set("sutra_session", cookie)
        assert not await signed_in(copy)
        assert (await copy.post("/login", data=RIGHT)).status_code == 303
        assert await signed_in(copy)


async def test_a_new_password_ends_the_other_sessions(site: Site) -> None:
    sessions = site.state.repo.sessions
    async with client(site.app) as laptop, client(site.app, "192.0.2.9") as phone:
        assert (await laptop.post("/login", data=RIGHT)).status_code == 303
        assert (await phone.post("/login", data=RIGHT)).status_code == 303
        async with sessions() as db:
            newest = await db.scalar(select(func.max(m.WebSession.id)))
        # The phone (signed in last) changes the password: it stays in, the others are out.
        await set_password(sessions, TEST_EMAIL, "changed-on-the-phone", keep_session=newest)
        assert await signed_in(phone)
        assert not await signed_in(laptop)
        assert not await signed_in(site.http)


async def test_the_database_keeps_no_usable_token(site: Site) -> None:
    async with site.state.repo.sessions() as db:
        [row] = list(await db.scalars(select(m.WebSession)))
    cookie = site.http.cookies["sutra_session"]
    # Only a digest is stored: neither the cookie nor its token appears in the table.
    assert row.token_hash not in cookie and len(row.token_hash) == 64
    assert isinstance(row.expires_at, datetime)
    assert row.expires_at - row.created_at == timedelta(days=14)
