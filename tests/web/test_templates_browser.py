"""WhatsApp message templates in a real browser (Debian's Chromium via Playwright) on the real
app under uvicorn, with the Graph API stand-in as Meta: a staff member sets the Business
Account id on the settings page, syncs the templates on the Templates page, opens a chat whose
24-hour window has closed, fills in an approved template's variable, sees the preview, sends
it, and sees it in the history — and the stand-in receives exactly that template. Every page
fits a 390 px phone. With ``SUTRA_UPDATE_SCREENSHOTS=1`` it refreshes
``docs/console-templates.png`` and ``docs/console-chat-template.png``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import update

from sutra.store import models as m
from sutra.testing.graph_api import (
    DEFAULT_PHONE_NUMBER_ID,
    DEFAULT_TOKEN,
    DEFAULT_WABA_ID,
    GraphAPIStubServer,
    signed_webhook,
    whatsapp_text_payload,
)
from sutra.testing.live import LiveServer, require_browser
from tests.server.conftest import wait_for
from tests.web.consolekit import (
    PHONE,
    live_server,
    no_sideways_scroll,
    picture,
    signed_in_page,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

APP_SECRET = "templates-browser-app-secret"
ASHA = "919812345678"
VISIT = "Hello {{1}}, your child's next vaccination is due this week at the health centre."


@pytest.fixture(scope="module", autouse=True)
def browser_present() -> None:
    require_browser()


@pytest.fixture(scope="module")
def graph() -> Iterator[GraphAPIStubServer]:
    with GraphAPIStubServer() as server:
        server.add_template(
            "vaccination_reminder", VISIT, category="UTILITY", footer="Asha Health Trust"
        )
        server.add_template("welcome_back", "Welcome back! Reply HI to continue.")
        server.add_template("survey_invite", "Would you answer {{1}} questions?", status="PENDING")
        server.add_template("old_offer", "Buy now {{1}}", status="REJECTED", category="MARKETING")
        server.add_template("health_poster", "This week: {{1}}", header_format="IMAGE")
        yield server


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, graph: GraphAPIStubServer
) -> Iterator[LiveServer]:
    settings = {
        "whatsapp_access_token": DEFAULT_TOKEN,
        "whatsapp_phone_number_id": DEFAULT_PHONE_NUMBER_ID,
        "whatsapp_api_url": graph.api_url,
        "whatsapp_app_secret": APP_SECRET,
    }
    with live_server(tmp_path_factory.mktemp("templates") / "sutra.db", settings=settings) as s:
        yield s


def _asha_wrote_yesterday(live: LiveServer) -> str:
    """Asha wrote in, 30 hours ago: her 24-hour window is closed."""
    raw, headers = signed_webhook(APP_SECRET, whatsapp_text_payload(ASHA, "Thank you", name="Asha"))
    response = httpx.post(f"{live.url}/webhooks/whatsapp", content=raw, headers=headers)
    assert response.status_code == 200, response.text

    async def uuid() -> str | None:
        from sqlalchemy import select

        async with live.state.repo.sessions() as db:
            found: str | None = await db.scalar(
                select(m.Contact.uuid).where(m.Contact.urn == f"whatsapp:{ASHA}")
            )
            return found

    found = str(wait_for(lambda: live.call(uuid()), what="Asha's contact"))

    async def age() -> None:
        async with live.state.repo.sessions.begin() as db:
            await db.execute(
                update(m.Contact)
                .where(m.Contact.uuid == found)
                .values(last_message_at=m.utcnow() - timedelta(hours=30))
            )

    live.call(age())
    return found


def _template_sends(graph: GraphAPIStubServer) -> list[dict[str, Any]]:
    return [b for b in graph.delivered if b.get("type") == "template"]


def test_sync_templates_and_send_one_outside_the_24_hour_window(
    browser: Browser, live: LiveServer, graph: GraphAPIStubServer
) -> None:
    with signed_in_page(browser, live, "/templates") as page:
        # Nothing synced yet, and the page says where the missing setting goes.
        assert page.locator("#no-templates").is_visible()
        page.click("#sync-templates")
        notice = page.locator("#notice")
        notice.filter(has_text="whatsapp_business_account_id").wait_for()
        assert "error" in (notice.get_attribute("class") or "")

        # The WhatsApp card of the settings page takes the Business Account id.
        page.goto(f"{live.url}/settings#whatsapp")
        page.fill("input[name=whatsapp_business_account_id]", DEFAULT_WABA_ID)
        page.click("#whatsapp-form button[type=submit]")
        page.locator("#notice", has_text="Saved").wait_for()
        field = page.locator("input[name=whatsapp_business_account_id]")
        assert field.input_value() == DEFAULT_WABA_ID

        # The Templates page is a link away from the chats.
        page.goto(f"{live.url}/chats")
        page.click("#templates-link")
        page.wait_for_url(f"{live.url}/templates")
        page.click("#sync-templates")
        page.locator("#notice", has_text="Synced 5 templates (3 approved)").wait_for()
        rows = page.locator("#templates tbody tr")
        assert rows.count() == 5
        visit = page.locator('#templates tr[data-name="vaccination_reminder"]')
        assert "approved" in visit.locator("td[data-label=Status]").inner_text()
        assert visit.locator("td[data-label=Body]").inner_text() == VISIT
        assert visit.locator("td[data-label=Variables]").inner_text() == "1"
        pending = page.locator('#templates tr[data-name="survey_invite"]')
        assert "pending" in pending.locator("td[data-label=Status]").inner_text()
        poster = page.locator('#templates tr[data-name="health_poster"]')
        assert "not sendable from Sutra" in poster.inner_text()
        picture(page, "console-templates.png", full_page=True)

        uuid = _asha_wrote_yesterday(live)
        page.goto(f"{live.url}/chats/{uuid}")
        page.locator("#window-closed").wait_for()
        assert page.locator("#composer").is_hidden()
        form = page.locator("#template-form")
        assert form.is_visible()
        # Only approved templates Sutra can fill in are offered.
        offered = page.locator("#template-choice option").all_inner_texts()
        assert offered == ["vaccination_reminder (en)", "welcome_back (en)"]
        page.select_option("#template-choice", label="vaccination_reminder (en)")
        page.fill("#template-variables input >> nth=0", "Asha")
        expected = VISIT.replace("{{1}}", "Asha")
        preview = page.locator("#template-preview").inner_text()
        assert preview == f"{expected}\n\nAsha Health Trust"
        page.click("#send-template")

        sent = page.locator(".item.msg.out.staff", has_text=expected)
        sent.wait_for()
        assert "Template: vaccination_reminder" in sent.inner_text()
        # The history shows what the contact reads, the footer too.
        assert sent.locator(".text").inner_text() == preview
        wait_for(lambda: _template_sends(graph), what="the template at the Graph API")
        assert _template_sends(graph)[0] == {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": ASHA,
            "type": "template",
            "template": {
                "name": "vaccination_reminder",
                "language": {"code": "en"},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": "Asha"}]}],
            },
            "biz_opaque_callback_data": _template_sends(graph)[0]["biz_opaque_callback_data"],
        }
        page.locator(".item.msg.out.staff .status", has_text="sent").wait_for()
        picture(page, "console-chat-template.png")

        # A reload shows it in the history as stored.
        page.reload()
        assert page.locator(".item.msg.out.staff", has_text=expected).count() == 1

        page.set_viewport_size(PHONE)
        for path in ("/templates", f"/chats/{uuid}", "/settings", "/chats", "/broadcasts"):
            page.goto(f"{live.url}{path}")
            no_sideways_scroll(page)
