"""The platform administrator's organisations API (``/api/v1/organisations`` with the platform
token, ``/console/api/organisations`` from its browser), on SQLite and (when given)
PostgreSQL: list, create with a first administrator, disable and enable, each refusal naming
its field; nobody else even learns the routes exist (404)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from sutra.config import ServerSettings
from sutra.orgs import store as org_store
from sutra.orgs.settings import SettingsUpdate
from sutra.store import models as m
from sutra.store.users import create_user
from sutra.testing.graph_api import signed_webhook, whatsapp_text_payload
from sutra.web.app import create_app
from tests.orgs.conftest import PASSWORD, TOKEN, browser_as, client, ok, state

POSTGRES_URL = os.environ.get("SUTRA_TEST_POSTGRES_URL")
PLATFORM = "the-platform-token-of-the-host"
NUMBER = "106540352242922"
APP_SECRET = "asha-trust-meta-app-secret"


@pytest.fixture
async def app(each_database: str, clean_env: None) -> AsyncIterator[FastAPI]:
    made = create_app(
        each_database,
        settings=ServerSettings(
            sutra_api_token=TOKEN,
            sutra_platform_token=PLATFORM,
            # The default organisation's own number: another organisation's is routed by it.
            whatsapp_phone_number_id="100000000000001",
        ),
        sweep_every=0.2,
    )
    async with made.router.lifespan_context(made):
        sessions = state(made).repo.sessions
        await create_user(sessions, "host@platform.org", PASSWORD, platform_admin=True)
        await org_store.add_member(sessions, 1, "asha@first.org", "admin", password=PASSWORD)
        yield made


def platform(app: FastAPI) -> httpx.AsyncClient:
    return client(app, Authorization=f"Bearer {PLATFORM}")


def _detail(response: httpx.Response) -> str:
    """The refusal as a person reads it: the message, or each field with its problem."""
    detail = response.json()["detail"]
    if isinstance(detail, str):
        return detail
    return "; ".join(f"{'.'.join(map(str, d['loc'][1:]))}: {d['msg']}" for d in detail)


async def _whatsapp(app: FastAPI, text: str) -> httpx.Response:
    payload = whatsapp_text_payload("919800000001", text, phone_number_id=NUMBER)
    raw, headers = signed_webhook(APP_SECRET, payload)
    async with client(app) as meta:
        return await meta.post("/webhooks/whatsapp", content=raw, headers=headers)


async def test_the_platform_creates_an_organisation_with_its_first_administrator(
    app: FastAPI,
) -> None:
    async with platform(app) as api:
        listed = ok(await api.get("/api/v1/organisations"))["results"]
        assert [(o["id"], o["active"], o["staff"]) for o in listed] == [(1, True, 2)]
        made = ok(
            await api.post(
                "/api/v1/organisations",
                json={
                    "name": "  Asha Trust ",
                    "timezone": "Asia/Kolkata",
                    "admin_email": "Bina@Asha.org",
                    "admin_password": PASSWORD,
                },
            ),
            201,
        )
        assert (made["name"], made["timezone"], made["active"], made["staff"]) == (
            "Asha Trust",
            "Asia/Kolkata",
            True,
            1,
        )
        assert made["admin"]["email"] == "bina@asha.org" and made["admin"]["role"] == "admin"
        listed = ok(await api.get("/api/v1/organisations"))["results"]
        assert [o["name"] for o in listed][1:] == ["Asha Trust"]
        # Without an administrator: the time zone defaults to UTC.
        bare = ok(await api.post("/api/v1/organisations", json={"name": "Bare NGO"}), 201)
        assert (bare["timezone"], bare["staff"], bare["admin"]) == ("UTC", 0, None)
    # The first administrator signs in to the new organisation and runs it.
    bina = await browser_as(app, "bina@asha.org")
    here = ok(await bina.get("/console/api/settings"))
    assert (here["organization"]["id"], here["role"]) == (made["id"], "admin")
    await bina.aclose()


async def test_refusals_name_the_field_and_leave_nothing_half_made(app: FastAPI) -> None:
    async with platform(app) as api:
        for body, field, words in [
            ({"name": "X", "timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
            ({"name": "   "}, "name", "at least 1 character"),
            ({"timezone": "UTC"}, "name", "Field required"),
            ({"name": "X", "colour": "red"}, "colour", "Extra inputs"),
            ({"name": "X", "admin_email": "not-an-address"}, "admin_email", "not an email"),
            ({"name": "X", "admin_email": "new@x.org"}, "admin_password", "first password"),
            (
                {"name": "X", "admin_email": "new@x.org", "admin_password": "short"},
                "admin_password",
                "at least 8 characters",
            ),
            ({"name": "X", "admin_password": PASSWORD}, "admin_email", "give the"),
        ]:
            refused = await api.post("/api/v1/organisations", json=body)
            assert refused.status_code == 422, (body, refused.text)
            said = _detail(refused)
            assert said.startswith(f"{field}: ") and words in said, (body, said)
        # None of them made an organisation.
        assert len(ok(await api.get("/api/v1/organisations"))["results"]) == 1
        # An existing account is given the role; it keeps its own password.
        asha = ok(
            await api.post(
                "/api/v1/organisations", json={"name": "Two", "admin_email": "asha@first.org"}
            ),
            201,
        )
        assert asha["admin"]["email"] == "asha@first.org"

        refused = await api.post("/api/v1/organisations/1/disable")
        assert refused.status_code == 409
        assert _detail(refused) == "the default organisation cannot be disabled"
        missing = await api.post("/api/v1/organisations/999/disable")
        assert (missing.status_code, _detail(missing)) == (404, "no organisation 999")
        zero = await api.post("/api/v1/organisations/0/enable")
        assert zero.status_code == 422 and _detail(zero).startswith("organization_id: ")
        huge = await api.post(f"/api/v1/organisations/{2**64}/disable")
        assert huge.status_code == 422


async def test_a_disabled_organisation_stops_and_comes_back(app: FastAPI) -> None:
    async with platform(app) as api:
        made = ok(
            await api.post(
                "/api/v1/organisations",
                json={
                    "name": "Asha Trust",
                    "admin_email": "bina@asha.org",
                    "admin_password": PASSWORD,
                },
            ),
            201,
        )
    org = made["id"]
    sessions = state(app).repo.sessions
    await org_store.update_settings(
        sessions,
        org,
        SettingsUpdate(
            whatsapp_phone_number_id=NUMBER,
            whatsapp_access_token="asha-access-token",
            whatsapp_app_secret=APP_SECRET,
        ),
    )
    state(app).directory.invalidate()  # type: ignore[union-attr]
    token, _ = await org_store.create_token(sessions, org, "crm", role="admin")
    bina = await browser_as(app, "bina@asha.org")
    assert ok(await _whatsapp(app, "before"))["stored"] == 1

    host = await browser_as(app, "host@platform.org")
    ok(await host.post("/orgs/switch", json={"organization_id": org}))
    disabled = ok(await host.post(f"/console/api/organisations/{org}/disable"))
    assert disabled["active"] is False
    # Its staff's browser is signed out, its sign-in, token and number refused...
    assert (await bina.get("/console/api/settings")).status_code == 401
    login = await client(app).post("/login", data={"email": "bina@asha.org", "password": PASSWORD})
    assert login.status_code == 403 and "no organisation" in login.text
    async with client(app, Authorization=f"Bearer {token}") as crm:
        assert (await crm.get("/api/v1/flows")).status_code == 401
    assert (await _whatsapp(app, "while disabled")).status_code == 404
    async with sessions() as db:
        texts = list(await db.scalars(select(m.Message.text).where(m.Message.direction == "in")))
    assert texts == ["before"]
    # ...while the platform administrator, who disabled it from inside, goes on elsewhere.
    elsewhere = ok(await host.get("/console/api/settings"))
    assert elsewhere["organization"]["id"] == 1
    assert (await host.post("/orgs/switch", json={"organization_id": org})).status_code == 404

    enabled = ok(await host.post(f"/console/api/organisations/{org}/enable"))
    assert enabled["active"] is True
    assert ok(await _whatsapp(app, "after"))["stored"] == 1
    async with sessions() as db:
        stored = await db.execute(
            select(m.Message.organization_id, m.Message.text).where(m.Message.direction == "in")
        )
        assert sorted(stored.all()) == [(org, "after"), (org, "before")]
    async with client(app, Authorization=f"Bearer {token}") as crm:
        assert (await crm.get("/api/v1/flows")).status_code == 200
    bina_again = await browser_as(app, "bina@asha.org")
    assert ok(await bina_again.get("/console/api/settings"))["organization"]["id"] == org
    for opened in (bina, host, bina_again):
        await opened.aclose()


async def test_nobody_but_the_platform_finds_the_organisations(app: FastAPI) -> None:
    sessions = state(app).repo.sessions
    org_token, _ = await org_store.create_token(sessions, 1, "ops", role="admin")
    routes = [
        ("GET", "/organisations", None),
        ("POST", "/organisations", {"name": "Mine"}),
        ("POST", "/organisations/1/enable", None),
        ("POST", "/organisations/1/disable", None),
    ]
    # The default organisation's administrator: its browser and both kinds of its tokens.
    asha = await browser_as(app, "asha@first.org")
    assert (await asha.get("/organisations")).status_code == 404
    assert 'href="/organisations"' not in (await asha.get("/flows")).text
    for method, path, body in routes:
        answer = await asha.request(method, "/console/api" + path, json=body)
        assert answer.status_code == 404, (method, path, answer.text)
    for bearer in (TOKEN, org_token):
        async with client(app, Authorization=f"Bearer {bearer}") as api:
            for method, path, body in routes:
                answer = await api.request(method, "/api/v1" + path, json=body)
                assert answer.status_code == 404, (bearer, method, path, answer.text)
    await asha.aclose()
    # No token, a wrong one, no session: as anywhere else.
    async with client(app) as anonymous:
        assert (await anonymous.get("/api/v1/organisations")).status_code == 401
        wrong = await anonymous.get("/api/v1/organisations", headers={"Authorization": "Bearer x"})
        assert wrong.status_code == 401
        assert (await anonymous.get("/console/api/organisations")).status_code == 401
        page = await anonymous.get("/organisations")
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
    # Only organisations are the platform token's: the rest of the API is not.
    async with platform(app) as api:
        assert (await api.get("/api/v1/flows")).status_code == 401

    host = await browser_as(app, "host@platform.org")
    shown = await host.get("/organisations")
    assert shown.status_code == 200 and 'id="organisations"' in shown.text
    assert 'href="/organisations"' in (await host.get("/flows")).text
    # Its changes need the CSRF header like every other page's.
    forged = await host.post(
        "/console/api/organisations", json={"name": "Forged"}, headers={"X-CSRFToken": "no"}
    )
    assert forged.status_code == 403
    ok(await host.post("/console/api/organisations", json={"name": "Real"}), 201)
    await host.aclose()
