"""Broadcasts through the REST API on the real app: a flow started for a group, for contacts
matching a filter and for picked contacts; opted-out contacts skipped, never sent anything;
progress counted from the messages (sent, replied); a broadcast set for later that survives a
restart, and one cancelled before its time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from sutra.config import ServerSettings
from sutra.flows import parse_flow_file
from sutra.store import models as m
from sutra.web.app import create_app
from sutra.web.state import AppState
from tests.support import eventually
from tests.web.test_simulator_api import tea_flow

TOKEN = "broadcast-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TEA = "c0ffee00-0000-4000-8000-000000000001"
PEOPLE = ["asha", "ravi", "meena", "tomas"]


def make_app(database: Path) -> FastAPI:
    return create_app(
        f"sqlite:///{database}", settings=ServerSettings(sutra_api_token=TOKEN), sweep_every=0.1
    )


def client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://api", headers=AUTH)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


@pytest.fixture
async def app(tmp_path: Path, clean_env: None) -> AsyncIterator[FastAPI]:
    made = make_app(tmp_path / "broadcasts.db")
    async with made.router.lifespan_context(made):
        await setup(made)
        yield made


async def setup(app: FastAPI) -> None:
    """The tea flow, four simulator contacts in the group Mothers, Tomas opted out."""
    state: AppState = app.state.sutra
    await state.repo.import_flow_file(parse_flow_file(tea_flow()))
    async with client(app) as api:
        group = ok(await api.post("/api/v1/groups", json={"name": "Mothers"}), 201)
        uuids = [(await state.repo.contact(f"sim:{name}", name=name)).uuid for name in PEOPLE]
        ok(await api.post(f"/api/v1/groups/{group['uuid']}/contacts", json={"add": uuids}))
        tomas = uuids[-1]
        ok(await api.patch(f"/api/v1/contacts/{tomas}", json={"status": "stopped"}))


async def messages_to(app: FastAPI, name: str) -> int:
    state: AppState = app.state.sutra
    async with state.repo.sessions() as db:
        return int(
            await db.scalar(
                select(func.count(m.Message.id))
                .join(m.Contact, m.Contact.id == m.Message.contact_id)
                .where(m.Contact.urn == f"sim:{name}", m.Message.direction == "out")
            )
            or 0
        )


async def progress(api: httpx.AsyncClient, broadcast: int, **expected: int) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        now = ok(await api.get(f"/api/v1/broadcasts/{broadcast}"))
        return now if all(now[k] == v for k, v in expected.items()) else None

    return await eventually(reached)


async def test_a_group_broadcast_skips_the_opted_out_and_counts_replies(app: FastAPI) -> None:
    async with client(app) as api:
        started = ok(
            await api.post("/api/v1/broadcasts", json={"flow": TEA, "group": "Mothers"}), 202
        )
        assert (started["status"], started["total"]) == ("started", 4)
        assert started["created_by"] == "api"
        done = await progress(api, started["id"], started=3, skipped=1, sent=3, pending=0)
        assert done["replied"] == 0
        # Tomas opted out: his start was skipped and nothing was sent to him.
        assert await messages_to(app, "tomas") == 0
        assert await messages_to(app, "asha") == 1

        # Asha answers the question: she replied.
        state: AppState = app.state.sutra
        asha = await state.repo.contact("sim:asha")
        from sutra.engine.session import Input

        await state.runner.receive(asha, Input(text="yes"))
        done = await progress(api, started["id"], replied=1)
        assert done["failed"] == 0

        listed = ok(await api.get("/api/v1/broadcasts"))
        assert listed["total"] == 1
        assert listed["results"][0]["flow_name"] == "Tea"


async def test_a_filter_and_picked_contacts(app: FastAPI) -> None:
    async with client(app) as api:
        everyone = ok(await api.get("/api/v1/broadcasts/audience"))
        assert everyone == {"contacts": 4, "opted_in": 3}
        found = ok(await api.get("/api/v1/contacts", params={"q": "ravi"}))["results"]
        started = ok(
            await api.post("/api/v1/broadcasts", json={"flow": TEA, "filter": {"q": "a"}}), 202
        )
        # asha, ravi, meena and tomas all have an "a"; tomas is skipped when his turn comes.
        await progress(api, started["id"], total=4, started=3, skipped=1)
        picked = ok(
            await api.post(
                "/api/v1/broadcasts", json={"flow": TEA, "contacts": [found[0]["uuid"]]}
            ),
            202,
        )
        await progress(api, picked["id"], total=1, started=1, sent=1)
        assert await messages_to(app, "ravi") == 2


async def test_bad_requests_name_what_is_wrong(app: FastAPI) -> None:
    async with client(app) as api:
        nobody = await api.post("/api/v1/broadcasts", json={"flow": TEA})
        assert nobody.status_code == 422
        assert nobody.json()["detail"] == "choose contacts, a group or a filter"
        no_group = await api.post("/api/v1/broadcasts", json={"flow": TEA, "group": "Nobody"})
        assert (no_group.status_code, no_group.json()["detail"]) == (404, "group: no group Nobody")
        no_flow = await api.post("/api/v1/broadcasts", json={"flow": "x", "group": "Mothers"})
        assert no_flow.status_code == 404
        naive = await api.post(
            "/api/v1/broadcasts",
            json={"flow": TEA, "group": "Mothers", "send_at": "2030-01-01T09:00:00"},
        )
        assert naive.status_code == 422
        assert naive.json()["detail"][0]["loc"] == ["body", "send_at"]
        assert (await api.get("/api/v1/broadcasts/99")).status_code == 404


async def test_a_broadcast_set_for_later_survives_a_restart(
    tmp_path: Path, clean_env: None
) -> None:
    database = tmp_path / "later.db"
    first = make_app(database)
    async with first.router.lifespan_context(first):
        await setup(first)
        async with client(first) as api:
            at = datetime.now(UTC) + timedelta(seconds=3)
            later = ok(
                await api.post(
                    "/api/v1/broadcasts",
                    json={"flow": TEA, "group": "Mothers", "send_at": at.isoformat()},
                ),
                202,
            )
            assert (later["status"], later["total"]) == ("scheduled", 0)
            cancelled = ok(
                await api.post(
                    "/api/v1/broadcasts",
                    json={"flow": TEA, "group": "Mothers", "send_at": at.isoformat()},
                ),
                202,
            )
            gone = ok(await api.post(f"/api/v1/broadcasts/{cancelled['id']}/cancel"))
            assert gone["status"] == "cancelled"
    # The server is down when the time comes; the next one to start sends it.
    await asyncio.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()) + 0.2)
    assert await messages_to_file(database) == 0
    second = make_app(database)
    async with second.router.lifespan_context(second), client(second) as api:
        done = await progress(api, later["id"], status="started", started=3, skipped=1, sent=3)
        assert done["send_at"].startswith(at.astimezone(UTC).isoformat()[:19])
        still = ok(await api.get(f"/api/v1/broadcasts/{cancelled['id']}"))
        assert (still["status"], still["total"]) == ("cancelled", 0)
        too_late = await api.post(f"/api/v1/broadcasts/{later['id']}/cancel")
        assert too_late.status_code == 409
        assert "too late" in too_late.json()["detail"]


async def messages_to_file(database: Path) -> int:
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            return int(
                conn.scalar(select(func.count(m.Message.id)).where(m.Message.direction == "out"))
                or 0
            )
    finally:
        engine.dispose()
