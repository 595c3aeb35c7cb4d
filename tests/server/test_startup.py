"""What ``sutra serve`` says at start-up: the channels, LLM and database in use with no secret
shown, and a half-configured WhatsApp (a token without its phone number id) as an error,
whose messages are still stored as WhatsApp's, never as Gupshup's."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from sutra.config import ServerSettings, Settings
from sutra.store import models as m
from sutra.testing.graph_api import signed_webhook, whatsapp_text_payload
from sutra.web import startup
from sutra.web.app import create_app
from sutra.web.state import AppState
from tests.support import eventually

TOKEN = "EAAG-secret-access-token-1234"
APP_SECRET = "meta-app-secret-5678"
GUPSHUP_KEY = "gupshup-secret-key-9012"


async def _started(
    database: Path, settings: ServerSettings, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[FastAPI]:
    app = create_app(f"sqlite:///{database}", settings=settings, sweep_every=0.1)
    with caplog.at_level(logging.INFO, logger="sutra.startup"):
        async with app.router.lifespan_context(app):
            yield app


@pytest.fixture
async def half_configured(
    tmp_path: Path, clean_env: None, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[FastAPI]:
    settings = ServerSettings(
        whatsapp_access_token=TOKEN,
        whatsapp_app_secret=APP_SECRET,
        gupshup_api_key=GUPSHUP_KEY,
        gupshup_app_name="ngo-app",
        gupshup_source_number="917834811114",
        gupshup_webhook_token="gupshup-hook-token",
    )
    async for app in _started(tmp_path / "half.db", settings, caplog):
        yield app


async def test_a_token_without_its_number_id_is_an_error_at_start_up(
    half_configured: FastAPI, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    records = caplog.get_records("setup")
    said = {r.levelname: r.getMessage() for r in records if r.name == "sutra.startup"}
    assert said["ERROR"] == (
        "WhatsApp Cloud is half configured: WHATSAPP_ACCESS_TOKEN set but "
        "WHATSAPP_PHONE_NUMBER_ID missing, so WhatsApp Cloud is off (nothing is sent through it)"
    )
    summary = said["INFO"]
    assert "channels: Gupshup;" in summary
    assert f"database: sqlite:///{tmp_path / 'half.db'}" in summary
    assert "LLM: local model smollm2" in summary
    everything = "\n".join(r.getMessage() for r in records)
    for secret in (TOKEN, APP_SECRET, GUPSHUP_KEY):
        assert secret not in everything


async def test_its_messages_are_stored_as_whatsapp_not_gupshup(half_configured: FastAPI) -> None:
    payload = whatsapp_text_payload("919812345678", "hello", name="Asha")
    raw, headers = signed_webhook(APP_SECRET, payload)
    transport = httpx.ASGITransport(app=half_configured)
    async with httpx.AsyncClient(transport=transport, base_url="http://sutra") as http:
        response = await http.post("/webhooks/whatsapp", content=raw, headers=headers)
    assert response.status_code == 200, response.text
    state: AppState = half_configured.state.sutra

    async def stored() -> list[tuple[str, str]]:
        async with state.repo.sessions() as db:
            rows = await db.execute(select(m.Message.channel, m.Message.text))
            return [(str(c), str(t)) for c, t in rows]

    assert await eventually(stored) == [("whatsapp", "hello")]
    async with state.repo.sessions() as db:
        contact = await db.scalar(select(m.Contact))
    assert contact is not None and contact.channel == "whatsapp"


def test_the_summary_hides_the_database_password_and_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-abcdef")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://llm.internal:8080/v1")
    line = startup.summary(
        ServerSettings(whatsapp_access_token=TOKEN, whatsapp_phone_number_id="1065403"),
        Settings(),
        "postgresql://sutra:hunter2@db.internal/sutra",
        "1.43.0-10 at /srv/editor",
    )
    assert line == (
        "sutra serve: channels: WhatsApp Cloud (number id 1065403); "
        "LLM: openai at http://llm.internal:8080/v1 (a key is set); "
        "database: postgresql://sutra:[redacted]@db.internal/sutra; "
        "flow editor: 1.43.0-10 at /srv/editor"
    )
    problems = [
        p
        for c in startup.channel_setups(
            ServerSettings(whatsapp_access_token=TOKEN, whatsapp_phone_number_id="1065403")
        )
        for p in c.problems()
    ]
    assert problems == [
        "WhatsApp Cloud: WHATSAPP_APP_SECRET is not set, so its webhook refuses every message"
    ]
