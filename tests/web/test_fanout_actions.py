"""``start_session`` and ``send_broadcast`` in a flow, on the real app: the flow is started
for the group and urns listed, as a broadcast (opted-out members skipped) by the scheduler; the
message is queued for each opted-in recipient and sent by the pipeline."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from sutra.config import ServerSettings
from sutra.flows import parse_flow_file
from sutra.store import models as m
from sutra.web.app import create_app
from sutra.web.state import AppState
from tests.support import eventually
from tests.web.test_broadcasts_api import TEA, TOKEN, client, messages_to, ok, progress, setup

# Read before ``clean_env`` clears every SUTRA_ variable.
POSTGRES_URL = os.environ.get("SUTRA_TEST_POSTGRES_URL")


@pytest.fixture
async def app(each_database: str, clean_env: None) -> AsyncIterator[FastAPI]:
    """The broadcasts tests' app and contacts, on SQLite and (when given) PostgreSQL: the
    fan-out is written in raw SQL inside the sprint's transaction."""
    made = create_app(
        each_database, settings=ServerSettings(sutra_api_token=TOKEN), sweep_every=0.1
    )
    async with made.router.lifespan_context(made):
        await setup(made)
        yield made


INVITER = "1a2b3c4d-0000-4000-8000-00000000000a"


def inviter_flow(action: dict[str, Any]) -> dict[str, Any]:
    return {
        "uuid": INVITER,
        "name": "Inviter",
        "spec_version": "14.3.0",
        "language": "base",
        "type": "messaging",
        "nodes": [
            {
                "uuid": "1a2b3c4d-0000-4000-8000-00000000000b",
                "actions": [
                    action,
                    {
                        "uuid": "1a2b3c4d-0000-4000-8000-00000000000c",
                        "type": "send_msg",
                        "text": "Invitations are on their way.",
                    },
                ],
                "exits": [{"uuid": "1a2b3c4d-0000-4000-8000-00000000000d"}],
            }
        ],
    }


async def test_start_session_starts_tea_for_the_group_and_a_new_urn(app: FastAPI) -> None:
    state: AppState = app.state.sutra
    action = {
        "uuid": "1a2b3c4d-0000-4000-8000-00000000000e",
        "type": "start_session",
        "flow": {"uuid": TEA, "name": "Tea"},
        "groups": [{"uuid": "not-the-stored-uuid", "name": "Mothers"}],
        "urns": ["sim:@fields.friend"],
    }
    await state.repo.import_flow_file(parse_flow_file(inviter_flow(action)))
    host = await state.repo.contact("sim:host", name="Host")
    host.fields["friend"] = "newcomer"

    outcome = await state.runner.start(host, INVITER)

    assert [e.text for e in outcome.events if e.type == "msg_out"] == [
        "Invitations are on their way."
    ]
    async with client(app) as api:
        listed = ok(await api.get("/api/v1/broadcasts"))
        assert listed["total"] == 2, [b["target"] for b in listed["results"]]
        by_target = {
            ("group" if "group" in b["target"] else "urns"): b["id"] for b in listed["results"]
        }
        assert all(b["created_by"] == "flow: Inviter" for b in listed["results"])
        # Four Mothers, Tomas opted out: three get Tea's question.
        await progress(api, by_target["group"], started=3, skipped=1, sent=3, pending=0)
        await progress(api, by_target["urns"], started=1, sent=1, pending=0)
    assert await messages_to(app, "asha") == 1
    assert await messages_to(app, "tomas") == 0
    assert await messages_to(app, "newcomer") == 1
    assert await messages_to(app, "host") == 1


async def test_start_session_of_an_unknown_group_starts_nothing(app: FastAPI) -> None:
    state: AppState = app.state.sutra
    action = {
        "uuid": "1a2b3c4d-0000-4000-8000-00000000000f",
        "type": "start_session",
        "flow": {"uuid": TEA, "name": "Tea"},
        "groups": [{"uuid": "0f0f", "name": "Nobody Here"}],
    }
    await state.repo.import_flow_file(parse_flow_file(inviter_flow(action)))
    await state.runner.start(await state.repo.contact("sim:host"), INVITER)
    async with client(app) as api:
        assert ok(await api.get("/api/v1/broadcasts"))["total"] == 0


async def test_send_broadcast_reaches_the_opted_in_and_a_new_urn(app: FastAPI) -> None:
    state: AppState = app.state.sutra
    action = {
        "uuid": "1a2b3c4d-0000-4000-8000-000000000010",
        "type": "send_broadcast",
        "text": "@contact.name says: the clinic opens at 9",
        "groups": [{"uuid": "not-the-stored-uuid", "name": "Mothers"}],
        "urns": ["sim:@fields.friend"],
    }
    await state.repo.import_flow_file(parse_flow_file(inviter_flow(action)))
    host = await state.repo.contact("sim:host", name="Host")
    host.fields["friend"] = "newcomer"

    await state.runner.start(host, INVITER)

    async def sent_to_all() -> dict[str, tuple[str, str]] | None:
        async with state.repo.sessions() as db:
            rows = (
                await db.execute(
                    select(m.Contact.urn, m.Message.text, m.Message.status)
                    .join(m.Contact, m.Contact.id == m.Message.contact_id)
                    .where(m.Message.direction == "out", m.Contact.urn != "sim:host")
                )
            ).all()
        done = {urn: (text, status) for urn, text, status in rows}
        return done if len(done) == 4 and all(s == "sent" for _, s in done.values()) else None

    sent = await eventually(sent_to_all)
    # Four Mothers but Tomas (opted out), and the newcomer: the text in the host's words.
    assert set(sent) == {"sim:asha", "sim:ravi", "sim:meena", "sim:newcomer"}
    assert {text for text, _ in sent.values()} == {"Host says: the clinic opens at 9"}
    assert await messages_to(app, "tomas") == 0
    assert await messages_to(app, "host") == 1
