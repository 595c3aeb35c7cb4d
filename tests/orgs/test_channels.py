"""Channels per organisation on one app: WhatsApp changes routed by their phone number id
(several numbers of one Meta app in one batched webhook), Gupshup callbacks by their token;
a number or token nobody has is refused and stored nowhere; a number is one organisation's."""

from __future__ import annotations

import copy

from fastapi import FastAPI
from sqlalchemy import select

from sutra.orgs import store as org_store
from sutra.orgs.settings import SettingsUpdate
from sutra.store import models as m
from sutra.testing.graph_api import signed_webhook, whatsapp_text_payload
from sutra.testing.gupshup_api import gupshup_text_payload
from tests.orgs.conftest import client, ok, state

SECRET = "one-meta-app-secret"


async def _org_with(app: FastAPI, name: str, **settings: str) -> int:
    sessions = state(app).repo.sessions
    org = await org_store.create_org(sessions, name)
    await org_store.update_settings(sessions, org.id, SettingsUpdate(**settings))
    # As the settings page does after a change (another process's change shows within 1 s).
    directory = state(app).directory
    assert directory is not None
    directory.invalidate()
    return org.id


async def _stored(app: FastAPI) -> list[tuple[int, str, str]]:
    async with state(app).repo.sessions() as db:
        rows = await db.execute(
            select(m.Message.organization_id, m.Message.channel, m.Message.text)
            .where(m.Message.direction == "in")
            .order_by(m.Message.id)
        )
        return [(int(o), str(c), str(t)) for o, c, t in rows]


async def test_one_meta_webhook_routes_each_number_to_its_organisation(app: FastAPI) -> None:
    north = await _org_with(
        app,
        "North",
        whatsapp_phone_number_id="111000111000111",
        whatsapp_access_token="north-token",
        whatsapp_app_secret=SECRET,
    )
    south = await _org_with(
        app,
        "South",
        whatsapp_phone_number_id="222000222000222",
        whatsapp_access_token="south-token",
        whatsapp_app_secret=SECRET,
    )
    # One Meta app, three numbers in one batched delivery; the third is nobody's.
    payload = whatsapp_text_payload("919800000001", "to north", phone_number_id="111000111000111")
    for text, number in (("to south", "222000222000222"), ("to nobody", "333000333000333")):
        other = whatsapp_text_payload("919800000002", text, phone_number_id=number)
        payload["entry"].append(copy.deepcopy(other["entry"][0]))
    raw, headers = signed_webhook(SECRET, payload)
    async with client(app) as meta:
        answer = ok(await meta.post("/webhooks/whatsapp", content=raw, headers=headers))
    assert (answer["stored"], answer["refused"]) == (2, 1)
    assert await _stored(app) == [(north, "whatsapp", "to north"), (south, "whatsapp", "to south")]

    # Signed with another secret: refused, nothing stored.
    raw, headers = signed_webhook("not-the-secret", payload)
    async with client(app) as meta:
        assert (
            await meta.post("/webhooks/whatsapp", content=raw, headers=headers)
        ).status_code == 401
    # Only nobody's number: refused as not found.
    stray = whatsapp_text_payload("919800000003", "hello", phone_number_id="333000333000333")
    raw, headers = signed_webhook(SECRET, stray)
    async with client(app) as meta:
        assert (
            await meta.post("/webhooks/whatsapp", content=raw, headers=headers)
        ).status_code == 404
    assert len(await _stored(app)) == 2

    # A disabled organisation's number is nobody's.
    await org_store.set_active(state(app).repo.sessions, south, False)
    directory = state(app).directory
    assert directory is not None
    directory.invalidate()
    again = whatsapp_text_payload("919800000002", "again", phone_number_id="222000222000222")
    raw, headers = signed_webhook(SECRET, again)
    async with client(app) as meta:
        assert (
            await meta.post("/webhooks/whatsapp", content=raw, headers=headers)
        ).status_code == 404


async def test_a_number_belongs_to_one_organisation(app: FastAPI) -> None:
    await _org_with(app, "North", whatsapp_phone_number_id="111000111000111")
    sessions = state(app).repo.sessions
    other = await org_store.create_org(sessions, "South")
    try:
        update = SettingsUpdate(whatsapp_phone_number_id="111000111000111")
        await org_store.update_settings(sessions, other.id, update)
    except org_store.OrgError as exc:
        assert exc.status == 409 and "another organisation" in str(exc)
    else:
        raise AssertionError("a second organisation took the same number")


async def test_gupshup_callbacks_go_by_their_token(app: FastAPI) -> None:
    east = await _org_with(
        app,
        "East",
        gupshup_app_name="EastApp",
        gupshup_api_key="east-key",
        gupshup_source_number="15550000001",
        gupshup_webhook_token="east-callback-token",
    )
    async with client(app) as gupshup:
        body = gupshup_text_payload("919800000009", "namaste", app="EastApp")
        ok(await gupshup.post("/webhooks/gupshup?token=east-callback-token", json=body))
        wrong = await gupshup.post("/webhooks/gupshup?token=guessed", json=body)
        assert wrong.status_code == 401
        # The token is East's, the app in the body someone else's: refused.
        other = gupshup_text_payload("919800000009", "hi", app="WestApp")
        refused = await gupshup.post("/webhooks/gupshup?token=east-callback-token", json=other)
        assert refused.status_code == 403
    assert await _stored(app) == [(east, "gupshup", "namaste")]
