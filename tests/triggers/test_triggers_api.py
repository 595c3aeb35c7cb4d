"""Triggers on the real app, on SQLite and (when given) PostgreSQL: the catch-all flow starts
for a message nothing else takes and for no other (a keyword, a waiting session, staff having
the chat, an opted-out contact); a due schedule launches exactly one broadcast however many
schedulers look at once, and moves on to its next run; the REST API refuses bad schedules by
name."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from sutra.config import ServerSettings
from sutra.engine.session import Input
from sutra.flows import parse_flow_file
from sutra.recurrence import Recurrence, next_run
from sutra.runtime import runner as runner_module
from sutra.store import models as m
from sutra.store import work
from sutra.store.hotdb import HotDB
from sutra.web.app import create_app
from sutra.web.state import AppState
from tests.support import eventually
from tests.web.test_broadcasts_api import TEA, TOKEN, client, ok, progress, setup

# Read before ``clean_env`` clears every SUTRA_ variable.
POSTGRES_URL = os.environ.get("SUTRA_TEST_POSTGRES_URL")
HELP = "5e1f0000-0000-4000-8000-000000000001"


def sorry(text: str) -> str:
    """The Help flow's answer: it quotes the message that started it."""
    return f"Sorry, I did not get: {text}. Send TEA for a question about tea."


@pytest.fixture
async def app(each_database: str, clean_env: None) -> AsyncIterator[FastAPI]:
    """The tea flow (keyword "tea"), a Help flow that answers and ends, four contacts in the
    group Mothers, Tomas opted out."""
    made = create_app(
        each_database, settings=ServerSettings(sutra_api_token=TOKEN), sweep_every=0.1
    )
    async with made.router.lifespan_context(made):
        await setup(made)
        state: AppState = made.state.sutra
        await state.repo.import_flow_file(parse_flow_file(help_flow()))
        async with state.repo.sessions.begin() as db:
            await db.execute(update(m.Flow).where(m.Flow.uuid == TEA).values(keywords=["tea"]))
        state.runner.invalidate()
        yield made


def help_flow() -> dict[str, Any]:
    return {
        "uuid": HELP,
        "name": "Help",
        "spec_version": "13.2.0",
        "language": "base",
        "type": "messaging",
        "nodes": [
            {
                "uuid": "5e1f0000-0000-4000-8000-000000000002",
                "actions": [
                    {
                        "uuid": "5e1f0000-0000-4000-8000-000000000003",
                        "type": "send_msg",
                        "text": "Sorry, I did not get: @input.text. Send TEA for a question "
                        "about tea.",
                    }
                ],
                "exits": [{"uuid": "5e1f0000-0000-4000-8000-000000000004"}],
            }
        ],
    }


async def send(app: FastAPI, name: str, text: str) -> str:
    """A message from the contact into the pipeline, as a channel's webhook stores it; waits
    until the contact's worker is done with it."""
    state: AppState = app.state.sutra
    message = Input(text=text)
    arrival = work.Arrival(
        organization_id=state.repo.org, urn=f"sim:{name}", channel="sim", message=message
    )
    await state.runner.db.run(work.ingest, [arrival])
    state.pipeline.notify((await state.repo.contact(f"sim:{name}")).id or 0)

    async def handled() -> bool:
        async with state.repo.sessions() as db:
            status = await db.scalar(select(m.Message.status).where(m.Message.uuid == message.uuid))
        return status == "handled"

    await eventually(handled)
    return message.uuid


async def replies(app: FastAPI, name: str) -> list[str]:
    state: AppState = app.state.sutra
    async with state.repo.sessions() as db:
        return list(
            await db.scalars(
                select(m.Message.text)
                .join(m.Contact, m.Contact.id == m.Message.contact_id)
                .where(m.Contact.urn == f"sim:{name}", m.Message.direction == "out")
                .order_by(m.Message.id)
            )
        )


async def test_the_catch_all_takes_only_what_nothing_else_takes(app: FastAPI) -> None:
    async with client(app) as api:
        assert ok(await api.get("/api/v1/triggers"))["catch_all"] is None
        # Nothing set: an unmatched message stays for staff.
        await send(app, "asha", "hello")
        assert await replies(app, "asha") == []

        chosen = ok(await api.put("/api/v1/triggers/catch-all", json={"flow": HELP}))
        assert chosen["catch_all"] == {"flow": HELP, "flow_name": "Help"}
        listed = ok(await api.get("/api/v1/triggers"))
        assert listed["catch_all"]["flow_name"] == "Help"
        assert listed["keywords"] == [{"flow": TEA, "flow_name": "Tea", "keywords": ["tea"]}]

        # No keyword, no session waiting: the catch-all answers.
        await send(app, "asha", "hello")
        assert await replies(app, "asha") == [sorry("hello")]
        # A keyword starts its own flow, not the catch-all.
        await send(app, "asha", "tea")
        assert (await replies(app, "asha"))[-1] == "Do you like tea?"
        # Tea waits for her answer: "maybe" is Tea's, and the catch-all stays out of it.
        await send(app, "asha", "maybe")
        assert sorry("maybe") not in await replies(app, "asha")

        # Tomas opted out: nothing starts for him.
        await send(app, "tomas", "hello")
        assert await replies(app, "tomas") == []

        # Staff took Ravi's chat over: his messages are theirs.
        ravi = await app.state.sutra.repo.contact("sim:ravi")
        ok(await api.post(f"/api/v1/chats/{ravi.uuid}/takeover"))
        await send(app, "ravi", "hello")
        assert await replies(app, "ravi") == []
        ok(await api.post(f"/api/v1/chats/{ravi.uuid}/handback"))
        await send(app, "ravi", "hello again")
        assert await replies(app, "ravi") == [sorry("hello again")]

        # Set back to none: Meena's message waits for staff.
        assert ok(await api.put("/api/v1/triggers/catch-all", json={"flow": None})) == {
            "catch_all": None
        }
        await send(app, "meena", "hello")
        assert await replies(app, "meena") == []

        missing = await api.put("/api/v1/triggers/catch-all", json={"flow": "no-such-flow"})
        assert missing.status_code == 404
        assert "no-such-flow" in missing.json()["detail"]


async def test_the_catch_all_stops_answering_a_contact_that_never_stops(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another bot answering ours: past the limit its messages wait for staff."""
    monkeypatch.setattr(runner_module, "CATCH_ALL_LIMIT", 2)
    async with client(app) as api:
        ok(await api.put("/api/v1/triggers/catch-all", json={"flow": HELP}))
    for text in ("one", "two", "three"):
        await send(app, "asha", text)
    assert await replies(app, "asha") == [sorry("one"), sorry("two")]
    # A keyword still works for them.
    await send(app, "asha", "tea")
    assert (await replies(app, "asha"))[-1] == "Do you like tea?"


async def test_two_unmatched_messages_are_answered_in_order(app: FastAPI) -> None:
    async with client(app) as api:
        ok(await api.put("/api/v1/triggers/catch-all", json={"flow": HELP}))
    state: AppState = app.state.sutra
    first, second = Input(text="one"), Input(text="two")
    arrivals = [
        work.Arrival(state.repo.org, "sim:asha", "sim", first),
        work.Arrival(state.repo.org, "sim:asha", "sim", second),
    ]
    await state.runner.db.run(work.ingest, arrivals)
    asha = await state.repo.contact("sim:asha")
    state.pipeline.notify(asha.id or 0)

    async def answered() -> list[str] | None:
        found = await replies(app, "asha")
        return found if len(found) == 2 else None

    assert await eventually(answered) == [sorry("one"), sorry("two")]


async def test_a_due_schedule_launches_one_broadcast_and_moves_on(app: FastAPI) -> None:
    state: AppState = app.state.sutra
    async with state.repo.sessions.begin() as db:
        org = await db.get(m.Organization, state.repo.org)
        assert org is not None
        org.timezone = "Asia/Kolkata"
    async with client(app) as api:
        made = ok(
            await api.post(
                "/api/v1/triggers/schedules",
                json={
                    "flow": TEA,
                    "group": "Mothers",
                    "frequency": "weekly",
                    "days": ["thu", "mon"],
                    "time": "9:30",
                },
            ),
            201,
        )
        assert made["description"] == "Every Monday and Thursday at 09:30"
        assert made["days"] == ["mon", "thu"]
        assert made["timezone"] == "Asia/Kolkata"
        first = datetime.fromisoformat(made["next_run_at"])
        assert first > datetime.now(UTC)
        assert made["next_run_local"].endswith("09:30")
        assert made["next_run_local"][:3] in ("Mon", "Thu")

        # Its time comes (as if the week had gone by): the row says it is due.
        due = datetime.now(UTC) - timedelta(minutes=1)
        async with state.repo.sessions.begin() as db:
            await db.execute(
                update(m.Schedule).where(m.Schedule.id == made["id"]).values(next_run_at=due)
            )
        # Schedulers of three "processes" look at once: this app's own, and two more database
        # connections. One broadcast comes of it.
        others = [HotDB(state.runner.db.url).start() for _ in range(2)]
        try:
            now = datetime.now(UTC)
            results = await asyncio.gather(
                *(db.run(work.launch_due_schedules, now) for db in others)
            )
        finally:
            for db in others:
                db.close()

        async def launched() -> dict[str, Any] | None:
            found = ok(await api.get(f"/api/v1/triggers/schedules/{made['id']}"))
            return found if found["last_broadcast_id"] else None

        after = await eventually(launched)
        broadcasts = ok(await api.get("/api/v1/broadcasts"))
        assert broadcasts["total"] == 1
        assert broadcasts["results"][0]["created_by"] == f"schedule {made['id']}"
        assert sum(len(r) for r in results) <= 1
        await progress(api, after["last_broadcast_id"], started=3, skipped=1, sent=3, pending=0)

        # The next run: the first Monday or Thursday 09:30 in Kolkata after now.
        expected = next_run(
            Recurrence(frequency="weekly", at="09:30", days=("mon", "thu")),
            datetime.now(UTC),
            "Asia/Kolkata",
        )
        assert datetime.fromisoformat(after["next_run_at"]) == expected
        assert datetime.fromisoformat(after["last_run_at"]) == due

        # Another round of every scheduler launches nothing more.
        await asyncio.sleep(0.3)
        assert ok(await api.get("/api/v1/broadcasts"))["total"] == 1


async def test_schedules_through_the_api(app: FastAPI) -> None:
    async with client(app) as api:
        base = {"flow": TEA, "group": "Mothers", "frequency": "daily", "time": "18:00"}

        def problem(response: httpx.Response) -> str:
            assert response.status_code in (404, 422), response.text
            return response.text

        assert "days" in problem(
            await api.post("/api/v1/triggers/schedules", json={**base, "frequency": "weekly"})
        )
        assert "time" in problem(
            await api.post("/api/v1/triggers/schedules", json={**base, "time": "25:00"})
        )
        assert "end_date" in problem(
            await api.post("/api/v1/triggers/schedules", json={**base, "end_date": "2020-01-01"})
        )
        assert "group" in problem(
            await api.post("/api/v1/triggers/schedules", json={**base, "group": "Nobody"})
        )
        assert "flow" in problem(
            await api.post("/api/v1/triggers/schedules", json={**base, "flow": "gone"})
        )

        made = ok(await api.post("/api/v1/triggers/schedules", json=base), 201)
        assert made["enabled"] and made["next_run_at"]
        assert made["who"] == "group Mothers"
        one = f"/api/v1/triggers/schedules/{made['id']}"
        off = ok(await api.patch(one, json={"enabled": False}))
        assert (off["enabled"], off["next_run_at"]) == (False, None)
        on = ok(await api.patch(one, json={"enabled": True}))
        assert on["next_run_at"] == made["next_run_at"]
        assert [s["id"] for s in ok(await api.get("/api/v1/triggers/schedules"))["results"]] == [
            made["id"]
        ]
        # The organisation moves to Kolkata: 18:00 is Kolkata's 18:00 from the next run on.
        ok(await api.patch("/api/v1/settings", json={"timezone": "Asia/Kolkata"}))
        moved = ok(await api.get(one))
        assert moved["timezone"] == "Asia/Kolkata"
        assert moved["next_run_local"].endswith("18:00")
        kolkata = datetime.fromisoformat(moved["next_run_at"]).astimezone(ZoneInfo("Asia/Kolkata"))
        assert (kolkata.hour, kolkata.minute) == (18, 0)
        gone = await api.delete(f"/api/v1/triggers/schedules/{made['id']}")
        assert gone.status_code == 204
        assert (await api.get(f"/api/v1/triggers/schedules/{made['id']}")).status_code == 404
        assert ok(await api.get("/api/v1/triggers"))["schedules"] == []
