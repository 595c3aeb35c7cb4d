"""The settings page in a real browser (Debian's Chromium via Playwright) on the real app:
set the OpenAI key and see the next GPT answer made with it; configure WhatsApp and see its
status turn to configured, the secrets never shown back; make an API token (shown once),
add a viewer; every part fits a 390 px phone. With ``SUTRA_UPDATE_SCREENSHOTS=1`` it
refreshes ``docs/console-settings.png``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sutra.flows import parse_flow_file
from sutra.testing.live import LiveServer, require_browser
from sutra.testing.openai_server import OpenAIStubServer
from tests.web.consolekit import (
    live_server,
    no_sideways_scroll,
    picture,
    signed_in_page,
    staff_client,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-set-on-the-settings-page-7f3a"
ACCESS_TOKEN = "EAAG-whatsapp-access-token-91b2"
APP_SECRET = "meta-app-secret-from-the-page-55c1"


@pytest.fixture(scope="module", autouse=True)
def browser_present() -> None:
    require_browser()


@pytest.fixture(scope="module")
def llm() -> Iterator[OpenAIStubServer]:
    # Refuses any other key: an answer proves the page's key was used.
    with OpenAIStubServer(api_key=KEY) as server:
        yield server


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("settings") / "sutra.db") as server:
        flow = json.loads((ROOT / "examples" / "ask_gpt.json").read_text())
        server.call(server.state.repo.import_flow_file(parse_flow_file(flow), created_by="test"))
        yield server


@pytest.fixture
def page(browser: Browser, live: LiveServer) -> Iterator[Page]:
    with signed_in_page(browser, live, "/settings") as opened:
        yield opened


def _ask(live: LiveServer, contact: str, texts: list[str]) -> list[str]:
    """Chat with the GPT flow in the simulator; the bot's messages."""
    with staff_client(live) as staff:
        for text in texts:
            sent = staff.post("/simulator/api/messages", json={"contact": contact, "text": text})
            assert sent.status_code == 202, sent.text
            time.sleep(0.3)
        for _ in range(100):
            data = staff.get("/simulator/api/messages", params={"contact": contact}).json()
            out = [m["text"] for m in data["messages"] if m["direction"] == "out"]
            if len(out) >= 2 and not data["pending"]:
                return out
            time.sleep(0.1)
    raise AssertionError(f"no GPT answer: {out}")


def test_the_openai_key_set_here_makes_the_next_gpt_answer(
    page: Page, live: LiveServer, llm: OpenAIStubServer
) -> None:
    from playwright.sync_api import expect

    form = page.locator("#llm-form")
    form.locator("select[name=llm]").select_option("openai")
    form.locator("input[name=openai_api_key]").fill(KEY)
    form.locator("input[name=openai_base_url]").fill(llm.base_url)
    form.locator("button[type=submit]").click()
    expect(page.locator("#notice")).to_have_text("Saved.")
    key_field = page.locator("#llm-form input[name=openai_api_key]")
    # Write-only: the field is empty, its placeholder tells the last 4 characters.
    expect(key_field).to_have_value("")
    expect(key_field).to_have_attribute("placeholder", "set, ends …7f3a")
    assert KEY not in page.content()

    answers = _ask(live, "asha", ["askgpt", "What is photosynthesis?"])
    assert answers[-1] == "echo: What is photosynthesis?"
    assert llm.headers[-1]["authorization"] == f"Bearer {KEY}"


def test_whatsapp_configured_here_turns_its_status_green(page: Page, live: LiveServer) -> None:
    from playwright.sync_api import expect

    section = page.locator("#whatsapp")
    expect(section.locator("[data-status]")).to_have_attribute("data-status", "missing")
    form = page.locator("#whatsapp-form")
    form.locator("input[name=whatsapp_phone_number_id]").fill("106540352242922")
    form.locator("input[name=whatsapp_access_token]").fill(ACCESS_TOKEN)
    form.locator("button[type=submit]").click()
    expect(page.locator("#notice")).to_have_text("Saved.")
    # Still missing the app secret, and the page says which setting that is.
    expect(section.locator("[data-status]")).to_contain_text("whatsapp_app_secret")
    page.locator("#whatsapp-form input[name=whatsapp_app_secret]").fill(APP_SECRET)
    page.locator("#whatsapp-form button[type=submit]").click()
    expect(section.locator("[data-status]")).to_have_attribute("data-status", "configured")
    expect(section).to_contain_text(f"{live.url}/webhooks/whatsapp")
    html = page.content()
    assert ACCESS_TOKEN not in html and APP_SECRET not in html
    # A bad value is named, not stored.
    page.locator("#whatsapp-form input[name=whatsapp_phone_number_id]").fill("not-a-number")
    page.locator("#whatsapp-form button[type=submit]").click()
    expect(page.locator("#notice")).to_have_class("notice error")
    expect(page.locator("#notice")).to_contain_text("whatsapp_phone_number_id")


def test_a_token_is_shown_once_and_a_viewer_is_added(page: Page, live: LiveServer) -> None:
    from playwright.sync_api import expect

    page.locator("#token-form input[name=name]").fill("CRM sync")
    page.locator("#token-form button[type=submit]").click()
    shown = page.locator("#new-token-value")
    expect(shown).to_contain_text("sutra_")
    token = shown.inner_text()
    with staff_client(live) as staff:
        staff.headers["Authorization"] = f"Bearer {token}"
        assert staff.get("/api/v1/flows").status_code == 200
    page.reload()
    expect(page.locator("#tokens-table")).to_contain_text("CRM sync")
    assert token not in page.content()

    page.locator("#staff-form input[name=email]").fill("viewer@example.org")
    page.locator("#staff-form select[name=role]").select_option("viewer")
    page.locator("#staff-form input[name=password]").fill("a-long-first-password")
    page.locator("#staff-form button[type=submit]").click()
    expect(page.locator("#notice")).to_have_text("viewer@example.org added as viewer.")
    expect(page.locator("#staff-table")).to_contain_text("viewer@example.org")

    page.set_viewport_size({"width": 390, "height": 844})
    no_sideways_scroll(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    picture(page, "console-settings.png", full_page=True)
