"""``add_contact_urn`` and ``open_ticket`` on the real app, on SQLite and (when given)
PostgreSQL: real corpus flows run, the rows they leave, what the next claim of the contact
reads, and the tickets' REST API."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from sutra.config import ServerSettings
from sutra.engine.session import Input
from sutra.flows import parse_flow_file, read_flow_file
from sutra.store import models as m
from sutra.store import work
from sutra.store.hotdb import Tx
from sutra.store.work.claim import _CONTACT_COLUMNS, _read_work
from sutra.web.app import create_app
from sutra.web.state import AppState
from tests.web.test_broadcasts_api import TOKEN, client, ok

POSTGRES_URL = os.environ.get("SUTRA_TEST_POSTGRES_URL")
REAL_FLOWS = Path(__file__).resolve().parents[2].parent / "shared" / "real-flows"
# Glific's "Ticketing_Help": ask the question, open a ticket with it, route on the result.
TICKETING = REAL_FLOWS / "glific" / "ticketing_help.json"
# goflow's "Phone Numbers": ask for a backup number, add_contact_urn it, read it back.
PHONES = REAL_FLOWS / "goflow" / "phone_number.json"

real_files = pytest.mark.skipif(
    not (TICKETING.exists() and PHONES.exists()), reason="../shared/real-flows is not here"
)


@pytest.fixture
async def app(each_database: str, clean_env: None) -> AsyncIterator[FastAPI]:
    made = create_app(
        each_database, settings=ServerSettings(sutra_api_token=TOKEN), sweep_every=0.1
    )
    async with made.router.lifespan_context(made):
        yield made


async def _say(state: AppState, urn: str, flow_uuid: str, *says: str) -> list[str]:
    contact = await state.repo.contact(urn, name=urn.partition(":")[2].title())
    outcome = await state.runner.start(contact, flow_uuid)
    sent = [e.text for e in outcome.events if e.type == "msg_out"]
    for text in says:
        reply = await state.runner.receive(contact, Input(text=text))
        assert reply is not None
        sent += [e.text for e in reply.events if e.type == "msg_out"]
    return sent


def _unleased(tx: Tx, contact_id: int) -> work.Claim:
    # What a claim reads, without its lease: the pipeline may be holding this contact.
    row = tx.one(f"SELECT {_CONTACT_COLUMNS} FROM contacts WHERE id = :id", {"id": contact_id})
    assert row is not None
    return _read_work(tx, row, m.utcnow())


async def _claimed(state: AppState, urn: str) -> work.Claim:
    """The contact as the pipeline's next claim reads it."""
    contact = await state.repo.contact(urn)
    assert contact.id is not None
    return await state.runner.db.run(_unleased, contact.id)


def _one_node(uuid: str, *actions: dict[str, Any]) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "name": f"Flow {uuid[:4]}",
        "spec_version": "14.3.0",
        "language": "eng",
        "type": "messaging",
        "nodes": [
            {
                "uuid": f"{uuid[:-2]}aa",
                "actions": list(actions),
                "exits": [{"uuid": f"{uuid[:-2]}ee"}],
            }
        ],
    }


@real_files
async def test_glific_ticketing_flow_opens_a_ticket_staff_list_and_close(app: FastAPI) -> None:
    state: AppState = app.state.sutra
    [imported] = await state.repo.import_flow_file(read_flow_file(TICKETING))

    sent = await _say(state, "sim:asha", imported.uuid, "My ration card was refused")

    assert sent[-1].startswith("We have received your query.")
    async with client(app) as api:
        [ticket] = ok(await api.get("/api/v1/tickets"))["results"]
        assert (ticket["topic"], ticket["body"], ticket["status"]) == (
            "Query",
            "My ration card was refused",
            "open",
        )
        assert ticket["contact"]["urn"] == "sim:asha"
        claim = await _claimed(state, "sim:asha")
        assert claim.contact.ticket == ticket["uuid"]

        closed = ok(await api.post(f"/api/v1/tickets/{ticket['uuid']}/close"))
        assert (closed["status"], closed["closed_by"]) == ("closed", "API")
        assert closed["closed_at"] is not None
        # Closing again changes nothing.
        assert ok(await api.post(f"/api/v1/tickets/{ticket['uuid']}/close")) == closed
        assert ok(await api.get("/api/v1/tickets"))["results"] == []
        [kept] = ok(await api.get("/api/v1/tickets", params={"status": "closed"}))["results"]
        assert kept["uuid"] == ticket["uuid"]
        assert (await _claimed(state, "sim:asha")).contact.ticket is None

        missing = await api.post("/api/v1/tickets/00000000-0000-4000-8000-000000000000/close")
        assert missing.status_code == 404
        assert (await api.get("/api/v1/tickets", params={"status": "pending"})).status_code == 422


async def test_a_rapidpro_flow_opens_a_second_ticket_only_once_the_first_is_closed(
    app: FastAPI,
) -> None:
    state: AppState = app.state.sutra
    flow = _one_node(
        "7a1c0000-0000-4000-8000-000000000001",
        {
            "uuid": "7a1c0000-0000-4000-8000-0000000000a1",
            "type": "open_ticket",
            "topic": {"uuid": "7a1c0000-0000-4000-8000-0000000000b1", "name": "Weather"},
            "note": "Asked about @contact.name",
            "assignee": {"email": "bob@ngo.org", "name": "Bob"},
            "result_name": "Ticket",
        },
        {
            "uuid": "7a1c0000-0000-4000-8000-0000000000a2",
            "type": "send_msg",
            "text": "@results.ticket.category",
        },
    )
    await state.repo.import_flow_file(parse_flow_file(flow))

    assert await _say(state, "sim:ravi", flow["uuid"]) == ["Success"]
    assert await _say(state, "sim:ravi", flow["uuid"]) == ["Failure"]
    async with client(app) as api:
        [ticket] = ok(await api.get("/api/v1/tickets"))["results"]
        assert (ticket["body"], ticket["assignee"]) == ("Asked about Ravi", "bob@ngo.org")
        ok(await api.post(f"/api/v1/tickets/{ticket['uuid']}/close"))
    assert await _say(state, "sim:ravi", flow["uuid"]) == ["Success"]
    async with client(app) as api:
        assert len(ok(await api.get("/api/v1/tickets"))["results"]) == 1
        contact = (await state.repo.contact("sim:ravi")).uuid
        listed = ok(await api.get("/api/v1/tickets", params={"contact": contact}))["results"]
        assert len(listed) == 1
        assert ok(await api.get("/api/v1/tickets", params={"contact": "someone-else"})) == {
            "results": []
        }


@real_files
async def test_goflow_phone_flow_adds_the_backup_number_in_the_org_country(app: FastAPI) -> None:
    state: AppState = app.state.sutra
    async with client(app) as api:
        ok(await api.patch("/api/v1/settings", json={"default_country": "us"}))
    [imported] = await state.repo.import_flow_file(read_flow_file(PHONES))
    state.runner.invalidate()

    sent = await _say(state, "sim:meena", imported.uuid, "hello", "2015550123")

    # Not a phone number: asked again; then added in the organisation's country, in E.164.
    assert sent[1] == "Sorry that doesn't look like a phone number. Try again."
    assert sent[-1] == "Ok you've added 2015550123"
    async with state.repo.sessions() as db:
        rows = (await db.execute(select(m.ContactURN.scheme, m.ContactURN.path))).all()
    assert [tuple(r) for r in rows] == [("tel", "+12015550123")]
    claim = await _claimed(state, "sim:meena")
    assert claim.contact.urns == ["tel:+12015550123"]

    # A new flow reads it from the store, in @urns and @contact.urns.
    reader = _one_node(
        "7a1c0000-0000-4000-8000-000000000002",
        {
            "uuid": "7a1c0000-0000-4000-8000-0000000000a3",
            "type": "send_msg",
            "text": '@urns.tel / @(join(contact.urns, " "))',
        },
    )
    await state.repo.import_flow_file(parse_flow_file(reader))
    state.runner.invalidate()
    assert await _say(state, "sim:meena", reader["uuid"]) == [
        "tel:+12015550123 / sim:meena tel:+12015550123"
    ]

    # The same number given by another contact is theirs now: one contact per address.
    assert (await _say(state, "sim:tomas", imported.uuid, "+1 201 555 0123"))[-1].startswith(
        "Ok you've added"
    )
    assert (await _claimed(state, "sim:tomas")).contact.urns == ["tel:+12015550123"]
    assert (await _claimed(state, "sim:meena")).contact.urns == []


async def test_an_invalid_urn_is_an_error_event_and_stores_nothing(app: FastAPI) -> None:
    state: AppState = app.state.sutra
    flow = _one_node(
        "7a1c0000-0000-4000-8000-000000000003",
        {
            "uuid": "7a1c0000-0000-4000-8000-0000000000a4",
            "type": "add_contact_urn",
            "scheme": "mailto",
            "path": "@contact.name at home",
        },
        {"uuid": "7a1c0000-0000-4000-8000-0000000000a5", "type": "send_msg", "text": "Done"},
    )
    await state.repo.import_flow_file(parse_flow_file(flow))
    contact = await state.repo.contact("sim:lee", name="Lee")
    outcome = await state.runner.start(contact, flow["uuid"])

    assert [e.text for e in outcome.events if e.type == "msg_out"] == ["Done"]
    [error] = [e for e in outcome.events if e.type == "error"]
    assert error.as_json() == {
        "type": "error",
        "action_type": "add_contact_urn",
        "action_uuid": "7a1c0000-0000-4000-8000-0000000000a4",
        "text": "unable to add URN 'mailto:Lee at home': not an email address",
    }
    async with state.repo.sessions() as db:
        assert (await db.execute(select(m.ContactURN))).all() == []


async def test_a_session_waiting_while_staff_closed_the_ticket_may_open_another(
    app: FastAPI,
) -> None:
    """The waiting session's copy of the contact is not what counts: the tickets table is."""
    state: AppState = app.state.sutra
    opener = _one_node(
        "7a1c0000-0000-4000-8000-000000000004",
        {"uuid": "7a1c0000-0000-4000-8000-0000000000a6", "type": "open_ticket", "note": "first"},
    )
    asker = {
        **_one_node("7a1c0000-0000-4000-8000-000000000005"),
        "nodes": [
            {
                "uuid": "7a1c0000-0000-4000-8000-0000000000c1",
                "actions": [],
                "router": {
                    "type": "switch",
                    "operand": "@input.text",
                    "wait": {"type": "msg"},
                    "categories": [
                        {
                            "uuid": "7a1c0000-0000-4000-8000-0000000000c2",
                            "name": "All Responses",
                            "exit_uuid": "7a1c0000-0000-4000-8000-0000000000c3",
                        }
                    ],
                    "default_category_uuid": "7a1c0000-0000-4000-8000-0000000000c2",
                    "cases": [],
                },
                "exits": [
                    {
                        "uuid": "7a1c0000-0000-4000-8000-0000000000c3",
                        "destination_uuid": "7a1c0000-0000-4000-8000-0000000000d1",
                    }
                ],
            },
            {
                "uuid": "7a1c0000-0000-4000-8000-0000000000d1",
                "actions": [
                    {
                        "uuid": "7a1c0000-0000-4000-8000-0000000000d2",
                        "type": "open_ticket",
                        "note": "@input.text",
                        "result_name": "Ticket",
                    },
                    {
                        "uuid": "7a1c0000-0000-4000-8000-0000000000d3",
                        "type": "send_msg",
                        "text": "@results.ticket.category",
                    },
                ],
                "exits": [{"uuid": "7a1c0000-0000-4000-8000-0000000000d4"}],
            },
        ],
    }
    for flow in (opener, asker):
        await state.repo.import_flow_file(parse_flow_file(flow))
    await _say(state, "sim:juma", opener["uuid"])
    contact = await state.repo.contact("sim:juma")
    await state.runner.start(contact, asker["uuid"])
    async with client(app) as api:
        [first] = ok(await api.get("/api/v1/tickets"))["results"]
        ok(await api.post(f"/api/v1/tickets/{first['uuid']}/close"))

    reply = await state.runner.receive(contact, Input(text="second question"))

    assert reply is not None
    assert [e.text for e in reply.events if e.type == "msg_out"] == ["Success"]
    async with client(app) as api:
        [second] = ok(await api.get("/api/v1/tickets"))["results"]
    assert second["body"] == "second question"
