"""Isolation: every API route and page, called as organisation A (its administrator's token
and its administrator's browser), with the ids of organisation B's flows, contacts, messages,
groups, fields, imports, assistants, golden sets, tokens and staff, answers 404 and never
shows B's data; lists show none of it; and B's data is unchanged afterwards.

The routes are read from the app itself, so a route added later is walked too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import select

from sutra.engine.session import Input
from sutra.orgs import store as org_store
from sutra.store import models as m
from sutra.store import work
from tests.orgs.conftest import TOKEN, browser_as, client, ok, state

B_FLOW = {
    "uuid": "b0b00000-0000-4000-8000-000000000001",
    "name": "Bee secret flow",
    "language": "eng",
    "type": "messaging",
    "spec_version": "13.1.0",
    "nodes": [],
}
B_MARKERS = ("Bee secret", "bee-group", "919800000042", "Bee Contact")


def _routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every route, through included routers."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            yield from _routes(original.routes, prefix + (route.include_context.prefix or ""))
        elif isinstance(route, APIRoute):
            for method in sorted(route.methods):
                yield method, prefix + route.path


async def _make_b(app: FastAPI, b_org: int) -> dict[str, str]:
    """Organisation B's things, made through its own token; their ids by kind."""
    sessions = state(app).repo.sessions
    token, row = await org_store.create_token(sessions, b_org, "b", role="admin")
    # The organisations routes are the platform's: A's token and browser get 404 there too.
    ids: dict[str, str] = {"token": row.uuid, "flow": B_FLOW["uuid"], "organization": str(b_org)}
    async with client(app, Authorization=f"Bearer {token}") as b:
        ok(await b.post("/api/v1/flows/import", json=B_FLOW), 201)
        ids["group"] = ok(await b.post("/api/v1/groups", json={"name": "bee-group"}), 201)["uuid"]
        schedule = {"flow": B_FLOW["uuid"], "group": "bee-group", "frequency": "daily"}
        made = await b.post("/api/v1/triggers/schedules", json={**schedule, "time": "07:00"})
        ids["schedule"] = str(ok(made, 201)["id"])
        field = await b.post("/api/v1/fields", json={"name": "Bee secret field"})
        ids["field"] = ok(field, 201)["key"]
        csv = b"Name,Mobile\nBee Import,+919800000043\n"
        files = {"file": ("b.csv", csv, "text/csv")}
        ids["import"] = ok(
            await b.post("/api/v1/contacts/imports", files=files, data={"country": "IN"}), 202
        )["uuid"]
        ids["assistant"] = ok(
            await b.post("/api/v1/assistants", json={"name": "Bee secret helper"}), 201
        )["id"]
        golden = await b.post(
            "/api/v1/evals/golden-sets",
            params={"name": "Bee secret set", "filename": "b.csv"},
            content=b"question,answer\nBee secret question?,Bee secret answer\n",
            headers={"Content-Type": "text/csv"},
        )
        ids["golden_set"] = str(ok(golden, 201)["id"])
    arrival = work.Arrival(
        organization_id=b_org,
        urn="whatsapp:919800000042",
        channel="whatsapp",
        message=Input(text="Bee secret message"),
        name="Bee Contact",
        external_id="wamid.bee-1",
    )
    await state(app).runner.db.run(work.ingest, [arrival])
    async with sessions() as db:
        contact = await db.scalar(select(m.Contact).where(m.Contact.organization_id == b_org))
        message = await db.scalar(select(m.Message).where(m.Message.organization_id == b_org))
    assert contact is not None and message is not None
    ids["contact"], ids["message"] = contact.uuid, message.uuid
    broadcast = await state(app).runner.db.run(work.new_broadcast, b_org, B_FLOW["uuid"])
    ids["broadcast"] = str(broadcast)
    async with sessions.begin() as db:
        ticket = m.Ticket(
            organization_id=b_org, contact_id=contact.id, topic="Bee secret topic", body="Help"
        )
        db.add(ticket)
        db.add(m.ContactURN(organization_id=b_org, contact_id=contact.id, scheme="tel", path="+1"))
    ids["ticket"] = ticket.uuid
    return ids


# Which of B's ids a path parameter gets: by the parameter's name, then by the path's noun.
_BY_NOUN = (
    ("/settings/tokens/", "token"),
    ("/organisations/", "organization"),
    ("/broadcasts/", "broadcast"),
    ("/schedules/", "schedule"),
    ("/groups/", "group"),
    ("/fields/", "field"),
    ("/imports/", "import"),
    ("/assistants/", "assistant"),
    ("/golden-sets/", "golden_set"),
    ("/runs/", "golden_set"),  # a guessed id: B's golden set's number
    ("/messages/", "message"),
    ("/alerts/", "message"),
    ("/tickets/", "ticket"),
    ("/chats/", "contact"),
    ("/contacts/", "contact"),
    ("/flows/", "flow"),
)


def _fill(path: str, ids: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        before = path[: match.start()]
        if name == "email":
            return "bina@second.org"
        if name in ("number", "document_id"):
            return "1"
        if name == "label":
            return "bee-label"
        if name == "message":
            return ids["message"]
        for noun, kind in _BY_NOUN:
            if before.endswith(noun):
                return ids[kind]
        for noun, kind in _BY_NOUN:
            if noun in before:
                return ids[kind]
        raise AssertionError(f"no id of B for {{{name}}} in {path}")

    return re.sub(r"{(\w+)(?::\w+)?}", value, path)


async def test_organisation_a_reaches_nothing_of_organisation_b(
    app: FastAPI, second_org: int
) -> None:
    ids = await _make_b(app, second_org)
    routes = sorted(set(_routes(app.routes)))
    with_ids = [(method, path) for method, path in routes if "{" in path]
    assert len(with_ids) > 50  # the walk sees the whole app, not a handful of routes
    asha = await browser_as(app, "asha@first.org")
    walked = []
    async with client(app, Authorization=f"Bearer {TOKEN}") as api:
        for method, template in with_ids:
            if template.startswith("/flow-editor/"):
                continue  # walked below, by the editor's own endpoints
            path = _fill(template, ids)
            caller = api if path.startswith("/api/") else asha
            kwargs: dict[str, Any] = {}
            if template.endswith("/documents") and method == "POST":
                kwargs = {"params": {"name": "notes.md"}, "content": b"# Notes\nhello"}
            elif method in ("POST", "PATCH", "PUT"):
                kwargs["json"] = _body(template)
            response = await caller.request(method, path, **kwargs)
            walked.append((method, path, response.status_code))
            assert response.status_code == 404, (method, path, response.text[:300])
            for marker in B_MARKERS:
                assert marker not in response.text, (method, path, marker)
        # The flow editor's endpoints under /flow-editor/, with B's flow.
        for method, path in [
            ("GET", f"/flow-editor/revisions/{ids['flow']}"),
            ("GET", f"/flow-editor/revisions/{ids['flow']}/1"),
            ("POST", f"/flow-editor/revisions/{ids['flow']}"),
        ]:
            kwargs = {"json": {**B_FLOW, "name": "Overwritten"}} if method == "POST" else {}
            response = await asha.request(method, path, **kwargs)
            assert response.status_code == 404, (method, path, response.text[:300])
            assert "Bee secret" not in response.text
        # Lists and pages without ids show none of B's things.
        for method, path in routes:
            if method != "GET" or "{" in path or path.startswith(("/webhooks", "/metrics")):
                continue
            caller = api if path.startswith("/api/") else asha
            response = await caller.get(path)
            for marker in B_MARKERS:
                assert marker not in response.text, (path, marker)
    await asha.aclose()

    # B's things are as they were.
    async with state(app).repo.sessions() as db:
        flow = await db.scalar(select(m.Flow).where(m.Flow.uuid == ids["flow"]))
        group = await db.scalar(select(m.Group).where(m.Group.uuid == ids["group"]))
        contact = await db.scalar(select(m.Contact).where(m.Contact.uuid == ids["contact"]))
        token = await db.scalar(select(m.ApiToken).where(m.ApiToken.uuid == ids["token"]))
    assert flow is not None and not flow.archived and flow.organization_id == second_org
    assert group is not None and group.name == "bee-group"
    assert contact is not None and contact.taken_over_at is None
    assert token is not None and token.revoked_at is None
    async with state(app).repo.sessions() as db:
        schedule = await db.get(m.Schedule, int(ids["schedule"]))
        ticket = await db.scalar(select(m.Ticket).where(m.Ticket.uuid == ids["ticket"]))
    assert schedule is not None and schedule.enabled
    assert ticket is not None and ticket.status == "open"
    assert len(walked) > 50


def _body(template: str) -> dict[str, Any]:
    """A body each route would accept, so the answer is about the id, not the body."""
    bodies = {
        "/groups/{uuid}/contacts": {"add": [], "remove": []},
        "/groups/{uuid}": {"name": "renamed"},
        "/triggers/schedules/{schedule_id}": {"enabled": False},
        "/fields/{key}": {"name": "renamed"},
        "/contacts/{uuid}": {"name": "Renamed"},
        "/flows/{uuid}/start": {"contacts": []},
        "/flows/{uuid}": {"name": "Renamed"},
        "/chats/{uuid}/messages": {"text": "hello"},
        "/chats/{uuid}/templates": {"template": "visit", "variables": []},
        "/messages/{uuid}/labels": {"label": "bee-label"},
        "/chats/messages/{message}/labels": {"label": "bee-label"},
        "/assistants/{key}/ask": {"question": "hello?"},
        "/assistants/{key}": {"name": "renamed"},
    }
    for tail, body in bodies.items():
        if template.endswith(tail):
            return body
    return {}
