"""Signing a test client in: a staff user, the session cookie and the CSRF header."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sutra.store.users import UserError, create_user

TEST_EMAIL = "tester@example.org"
TEST_PASSWORD = "correct-horse-battery"


async def ensure_user(
    sessions: async_sessionmaker[AsyncSession],
    email: str = TEST_EMAIL,
    password: str = TEST_PASSWORD,
) -> None:
    """Create the user unless it exists (with that password, as tests create it)."""
    try:
        await create_user(sessions, email, password, name="Test Staff")
    except UserError as exc:
        if "exists already" not in str(exc):
            raise


async def sign_in(
    http: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    email: str = TEST_EMAIL,
    password: str = TEST_PASSWORD,
) -> str:
    """Sign ``http`` in as a browser would; later requests carry the CSRF header too.

    Returns the CSRF token.
    """
    await ensure_user(sessions, email, password)
    response = await http.post("/login", data={"email": email, "password": password})
    if response.status_code != 303:
        raise AssertionError(f"sign-in failed: {response.status_code} {response.text[:200]}")
    token = http.cookies.get("csrftoken")
    if not token:
        raise AssertionError("sign-in set no csrftoken cookie")
    http.headers["X-CSRFToken"] = token
    return token
