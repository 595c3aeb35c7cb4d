"""The settings page's REST API: an organisation's settings (secrets write-only), its staff
and roles, its API tokens (shown once, scoped, revocable), and the organisation switcher."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from fastapi import FastAPI

from sutra.orgs import store as org_store
from tests.orgs.conftest import PASSWORD, TOKEN, browser_as, client, ok, state

FLOW = {
    "uuid": "5a1e0000-0000-4000-8000-000000000001",
    "name": "Second's welcome",
    "language": "eng",
    "type": "messaging",
    "spec_version": "13.1.0",
    "nodes": [],
}


async def test_settings_change_and_secrets_never_come_back(app: FastAPI) -> None:
    async with client(app, Authorization=f"Bearer {TOKEN}") as api:
        key = "sk-org-one-secret-key-1234"
        changed = ok(
            await api.patch(
                "/api/v1/settings",
                json={
                    "name": "Asha Trust",
                    "timezone": "Asia/Kolkata",
                    "default_country": "in",
                    "openai_api_key": key,
                    "llm_monthly_budget": 25,
                    "whatsapp_phone_number_id": "1234567",
                    "whatsapp_access_token": "EAAG-access-token-abcd",
                },
            )
        )
        assert changed["organization"]["name"] == "Asha Trust"
        assert changed["organization"]["timezone"] == "Asia/Kolkata"
        assert changed["settings"]["default_country"] == "IN"
        assert changed["settings"]["openai_api_key"] == "…1234"
        whatsapp = changed["channels"]["whatsapp"]
        # An app secret is still missing: the status says so, by setting name.
        assert (whatsapp["configured"], whatsapp["missing"]) == (False, ["whatsapp_app_secret"])
        assert whatsapp["access_token"] == "…abcd"
        read = await api.get("/api/v1/settings")
        assert key not in read.text and "EAAG-access-token" not in read.text
        # Stored, and used by the LLM calls (they read the organisation's settings).
        async with state(app).repo.sessions() as db:
            from sutra.store import models as m

            org = await db.get(m.Organization, 1)
            assert org is not None and org.settings["openai_api_key"] == key

        bad = await api.patch("/api/v1/settings", json={"timezone": "Mars/Olympus"})
        assert bad.status_code == 422 and "timezone" in bad.text and "Mars/Olympus" in bad.text
        unknown = await api.patch("/api/v1/settings", json={"colour": "red"})
        assert unknown.status_code == 422 and "colour" in unknown.text
        # Clearing a secret: an empty string.
        cleared = ok(await api.patch("/api/v1/settings", json={"openai_api_key": ""}))
        assert cleared["settings"]["openai_api_key"] is None


async def test_tokens_are_shown_once_scoped_to_their_organisation_and_revocable(
    app: FastAPI, second_org: int
) -> None:
    bina = await browser_as(app, "bina@second.org")
    made = ok(
        await bina.post("/console/api/settings/tokens", json={"name": "CRM", "role": "staff"}),
        201,
    )
    token = made["token"]
    assert token.startswith("sutra_") and made["last4"] == token[-4:]
    listed = ok(await bina.get("/console/api/settings/tokens"))
    assert [t["name"] for t in listed] == ["CRM"] and token not in json.dumps(listed)

    async with client(app, Authorization=f"Bearer {token}") as second:
        ok(await second.post("/api/v1/flows/import", json=FLOW), 201)
        assert [f["name"] for f in ok(await second.get("/api/v1/flows"))["results"]] == [
            "Second's welcome"
        ]
        # Staff may not change settings; only administrators.
        refused = await second.patch("/api/v1/settings", json={"name": "Mine now"})
        assert refused.status_code == 403
    async with client(app, Authorization=f"Bearer {TOKEN}") as first:
        # The default organisation does not see the second one's flow.
        assert ok(await first.get("/api/v1/flows"))["results"] == []
        assert (await first.get(f"/api/v1/flows/{FLOW['uuid']}")).status_code == 404
        # Nor its tokens.
        assert ok(await first.get("/api/v1/settings/tokens")) == []
        assert (await first.delete(f"/api/v1/settings/tokens/{made['uuid']}")).status_code == 404

    ok(await bina.delete(f"/console/api/settings/tokens/{made['uuid']}"), 204)
    async with client(app, Authorization=f"Bearer {token}") as second:
        assert (await second.get("/api/v1/flows")).status_code == 401
    await bina.aclose()


async def test_a_viewer_reads_but_changes_nothing(app: FastAPI, second_org: int) -> None:
    bina = await browser_as(app, "bina@second.org")
    added = ok(
        await bina.post(
            "/console/api/settings/staff",
            json={"email": "Vik@Second.org", "role": "viewer", "password": PASSWORD},
        ),
        201,
    )
    assert added == {"email": "vik@second.org", "name": None, "role": "viewer", "active": True}
    vik = await browser_as(app, "vik@second.org")
    assert ok(await vik.get("/console/api/settings"))["role"] == "viewer"
    for method, path, body in [
        ("PATCH", "/console/api/settings", {"name": "x"}),
        ("POST", "/console/api/settings/tokens", {"name": "x"}),
        ("POST", "/console/api/groups", {"name": "Teachers"}),
    ]:
        response = await vik.request(method, path, json=body)
        assert response.status_code == 403, (path, response.text)
    page = await vik.get("/settings")
    assert page.status_code == 200 and "read only (viewer)" in page.text
    # The last administrator stays.
    assert (await bina.delete("/console/api/settings/staff/bina@second.org")).status_code == 409
    ok(await bina.delete("/console/api/settings/staff/vik@second.org"), 204)
    # Taken out: the viewer's browser is signed out of the organisation at once.
    assert (await vik.get("/console/api/settings")).status_code == 401
    await bina.aclose()
    await vik.aclose()


async def test_a_user_of_two_organisations_switches_between_them(
    app: FastAPI, second_org: int
) -> None:
    sessions = state(app).repo.sessions
    await org_store.add_member(sessions, second_org, "asha@first.org", "staff")
    async with client(app, Authorization=f"Bearer {TOKEN}") as first:
        ok(await first.post("/api/v1/flows/import", json={**FLOW, "name": "First's flow"}), 201)
    asha = await browser_as(app, "asha@first.org")
    flows = await asha.get("/flows")
    assert "First&#39;s flow" in flows.text and 'id="org-switch"' in flows.text
    assert ok(await asha.get("/console/api/settings"))["organization"]["id"] == 1
    ok(await asha.post("/orgs/switch", json={"organization_id": second_org}))
    now = ok(await asha.get("/console/api/settings"))
    assert (now["organization"]["name"], now["role"]) == ("Second NGO", "staff")
    assert "First&#39;s flow" not in (await asha.get("/flows")).text
    # An organisation the user is not in cannot be switched to.
    other = await org_store.create_org(sessions, "Third")
    refused = await asha.post("/orgs/switch", json={"organization_id": other.id})
    assert refused.status_code == 404
    await asha.aclose()


async def test_a_disabled_organisation_is_refused(app: FastAPI, second_org: int) -> None:
    sessions = state(app).repo.sessions
    _, row = await org_store.create_token(sessions, second_org, "old", role="admin")
    token, _ = await org_store.create_token(sessions, second_org, "live", role="admin")
    await org_store.set_active(sessions, second_org, False)
    async with client(app, Authorization=f"Bearer {token}") as api:
        assert (await api.get("/api/v1/flows")).status_code == 401
    login = await client(app).post(
        "/login", data={"email": "bina@second.org", "password": PASSWORD}
    )
    assert login.status_code == 403 and "no organisation" in login.text
    assert isinstance(row.uuid, str)


async def test_unauthenticated_settings_are_refused(app: FastAPI) -> None:
    async with client(app) as anonymous:
        assert (await anonymous.get("/api/v1/settings")).status_code == 401
        assert (await anonymous.get("/console/api/settings")).status_code == 401
        page = await anonymous.get("/settings")
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert isinstance(httpx.Response(200), httpx.Response)


async def test_the_platform_administrator_works_in_any_organisation_on_the_record(
    app: FastAPI, second_org: int, caplog: pytest.LogCaptureFixture
) -> None:
    from sutra.store.users import create_user

    sessions = state(app).repo.sessions
    await create_user(sessions, "host@platform.org", PASSWORD, platform_admin=True)
    host = await browser_as(app, "host@platform.org")
    ok(await host.post("/orgs/switch", json={"organization_id": second_org}))
    with caplog.at_level(logging.INFO, logger="sutra.web.auth"):
        now = ok(await host.get("/console/api/settings"))
    assert (now["organization"]["name"], now["role"]) == ("Second NGO", "admin")
    assert any(
        "platform administrator host@platform.org" in r.getMessage()
        and f"organisation {second_org}" in r.getMessage()
        for r in caplog.records
    )
    # A plain administrator of the default organisation cannot do the same.
    asha = await browser_as(app, "asha@first.org")
    refused = await asha.post("/orgs/switch", json={"organization_id": second_org})
    assert refused.status_code == 404
    await host.aclose()
    await asha.aclose()
