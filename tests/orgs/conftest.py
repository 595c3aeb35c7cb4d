"""Two organisations on one in-process app: the default one (the environment's token) and a
second made as ``sutra org create`` makes it, each with staff of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from sutra.config import ServerSettings
from sutra.orgs import store as org_store
from sutra.web.app import create_app
from sutra.web.state import AppState

TOKEN = "platform-api-token"
PASSWORD = "correct-horse-battery"


@pytest.fixture
async def app(tmp_path: Path, clean_env: None) -> AsyncIterator[FastAPI]:
    made = create_app(
        f"sqlite:///{tmp_path / 'orgs.db'}",
        settings=ServerSettings(sutra_api_token=TOKEN),
        sweep_every=0.2,
    )
    async with made.router.lifespan_context(made):
        yield made


def state(app: FastAPI) -> AppState:
    found: AppState = app.state.sutra
    return found


def client(app: FastAPI, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sutra", headers=headers
    )


async def browser_as(app: FastAPI, email: str) -> httpx.AsyncClient:
    """A client signed in as ``email`` (which must exist), with the CSRF header set."""
    http = client(app)
    response = await http.post("/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 303, response.text
    http.headers["X-CSRFToken"] = http.cookies["csrftoken"]
    return http


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


@pytest.fixture
async def second_org(app: FastAPI) -> int:
    sessions = state(app).repo.sessions
    org = await org_store.create_org(sessions, "Second NGO", timezone="Asia/Kolkata")
    await org_store.add_member(sessions, org.id, "bina@second.org", "admin", password=PASSWORD)
    await org_store.add_member(sessions, 1, "asha@first.org", "admin", password=PASSWORD)
    return org.id
