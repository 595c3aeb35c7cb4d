"""Sign-in: argon2 passwords, the signed session cookie, CSRF, and what ends a session."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import select

from sutra.config import ServerSettings
from sutra.store import models as m
from sutra.store.users import set_active, set_password
from sutra.testing.accounts import TEST_EMAIL, TEST_PASSWORD, ensure_user
from sutra.testing.openai_server import OpenAIStubServer

from .conftest import Site, open_site


def _client(site: Site) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=site.app), base_url="http://t")


async def test_sign_in_sets_a_signed_session_and_a_csrf_cookie(
    tmp_path: Path, stub: OpenAIStubServer, clean_env: None
) -> None:
    async with open_site(tmp_path / "sutra.db", stub, signed_in=False) as site:
        await ensure_user(site.state.repo.sessions)
        async with _client(site) as browser:
            wrong = await browser.post("/login", data={"email": TEST_EMAIL, "password": "nope"})
            assert wrong.status_code == 401
            assert "Wrong email or password" in wrong.text
            assert not browser.cookies
            unknown = await browser.post(
                "/login", data={"email": "who@example.org", "password": TEST_PASSWORD}
            )
            assert unknown.status_code == 401
            assert "Wrong email or password" in unknown.text

            # Any case and stray spaces in the address are fine.
            ok = await browser.post(
                "/login",
                data={
                    "email": f"  {TEST_EMAIL.upper()} ",
                    "password": TEST_PASSWORD,
                    "next": "/flows/help",
                },
            )
            assert ok.status_code == 303
            assert ok.headers["location"] == "/flows/help"
            cookies = ok.headers.get_list("set-cookie")
            session = next(c for c in cookies if c.startswith("sutra_session="))
            csrf = next(c for c in cookies if c.startswith("csrftoken="))
            assert "HttpOnly" in session and "samesite=lax" in session.lower()
            # Scripts must read this one: the editor copies it into X-CSRFToken.
            assert "HttpOnly" not in csrf
            assert TEST_PASSWORD not in session
            assert (await browser.get("/flows")).status_code == 200
            # Signed in already: the form sends you on.
            assert (await browser.get("/login")).status_code == 303

            token = browser.cookies["csrftoken"]
            refused = await browser.post("/logout")
            assert refused.status_code == 403
            out = await browser.post("/logout", headers={"X-CSRFToken": token})
            assert out.status_code == 303
            assert (await browser.get("/flows")).status_code == 303

        async with site.state.repo.sessions() as db:
            user = await db.scalar(select(m.User).where(m.User.email == TEST_EMAIL))
        assert user is not None and user.last_login_at is not None
        assert user.password_hash.startswith("$argon2id$")
        assert TEST_PASSWORD not in user.password_hash


async def test_no_redirect_off_site_and_no_sign_in_from_another_site(site: Site) -> None:
    async with _client(site) as browser:
        for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
            response = await browser.post(
                "/login", data={"email": TEST_EMAIL, "password": TEST_PASSWORD, "next": target}
            )
            assert response.headers["location"] == "/flows", target
    async with _client(site) as browser:
        response = await browser.post(
            "/login",
            data={"email": TEST_EMAIL, "password": TEST_PASSWORD},
            headers={"Origin": "https://evil.example"},
        )
        assert response.status_code == 403
        same = await browser.post(
            "/login",
            data={"email": TEST_EMAIL, "password": TEST_PASSWORD},
            headers={"Origin": "http://t"},
        )
        assert same.status_code == 303


async def test_a_tampered_or_foreign_cookie_is_not_a_session(site: Site) -> None:
    cookie = site.http.cookies["sutra_session"]
    async with _client(site) as other:
        other.cookies.set("sutra_session", cookie[:-2] + ("AA" if cookie[-2:] != "AA" else "BB"))
        assert (await other.get("/flows")).status_code == 303
        # A cookie signed with another key (another Sutra) is refused the same way.
        from itsdangerous import URLSafeTimedSerializer

        forged = URLSafeTimedSerializer("another-key", salt="sutra.session").dumps(
            {"u": 1, "p": "x", "c": "y"}
        )
        other.cookies.set("sutra_session", forged)
        assert (await other.get("/flows")).status_code == 303


async def test_a_new_password_or_a_disabled_account_ends_sessions(site: Site) -> None:
    sessions = site.state.repo.sessions
    assert (await site.http.get("/flows")).status_code == 200
    await set_password(sessions, TEST_EMAIL, "a-brand-new-password")
    assert (await site.http.get("/flows")).status_code == 303
    assert (await site.http.get("/flow-editor/groups")).status_code == 401

    async with _client(site) as browser:
        data = {"email": TEST_EMAIL, "password": "a-brand-new-password"}
        assert (await browser.post("/login", data=data)).status_code == 303
        assert (await browser.get("/flows")).status_code == 200
        await set_active(sessions, TEST_EMAIL, False)
        assert (await browser.get("/flows")).status_code == 303
        assert (await browser.post("/login", data=data)).status_code == 401


async def test_sessions_survive_a_restart(
    tmp_path: Path, stub: OpenAIStubServer, clean_env: None
) -> None:
    database = tmp_path / "sutra.db"
    async with open_site(database, stub) as first:
        cookie = first.http.cookies["sutra_session"]
    # The signing key was made once and kept in the database, so a new process accepts it.
    async with open_site(database, stub, signed_in=False) as second, _client(second) as browser:
        browser.cookies.set("sutra_session", cookie)
        assert (await browser.get("/flows")).status_code == 200
        async with second.state.repo.sessions() as db:
            secrets = list(await db.scalars(select(m.ServerSecret.name)))
        assert secrets == ["session_key"]


async def test_a_configured_secret_key_is_used(
    tmp_path: Path, stub: OpenAIStubServer, clean_env: None
) -> None:
    database = tmp_path / "sutra.db"
    keyed = ServerSettings(sutra_secret_key="one-key-for-all-servers")
    async with open_site(database, stub, keyed) as first:
        cookie = first.http.cookies["sutra_session"]
    async with open_site(database, stub, keyed, signed_in=False) as same, _client(same) as b:
        b.cookies.set("sutra_session", cookie)
        assert (await b.get("/flows")).status_code == 200
    # Changing the key signs everybody out.
    rekeyed = ServerSettings(sutra_secret_key="a-different-key")
    async with open_site(database, stub, rekeyed, signed_in=False) as other, _client(other) as b:
        b.cookies.set("sutra_session", cookie)
        assert (await b.get("/flows")).status_code == 303
