"""Tickets in a real browser (Debian's headless Chromium driven by Playwright) against the real
app under uvicorn with a WhatsApp number: Glific's "Ticketing_Help" flow, started through the
API, takes the contact's question from a signed webhook and opens a ticket; staff find it on the
tickets page and on the contact's chat, close it there, and find it among the closed ones.
With ``SUTRA_UPDATE_SCREENSHOTS=1`` the test refreshes ``docs/console-tickets.png`` and
``docs/console-chat-ticket.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from sutra.flows import read_flow_file
from sutra.testing.graph_api import (
    DEFAULT_PHONE_NUMBER_ID,
    DEFAULT_TOKEN,
    GraphAPIStubServer,
    signed_webhook,
    whatsapp_text_payload,
)
from sutra.testing.live import LiveServer, require_browser
from tests.server.conftest import wait_for
from tests.web.consolekit import (
    live_server,
    no_sideways_scroll,
    on_a_phone,
    picture,
    signed_in_page,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

TICKETING = Path(__file__).resolve().parents[2].parent / "shared" / "real-flows" / "glific"
TICKETING = TICKETING / "ticketing_help.json"
APP_SECRET = "tickets-browser-app-secret"
TOKEN = "tickets-browser-api-token"
ASHA = "919812345678"
QUESTION = "My ration card was refused at the shop. What do I do?"
RECEIVED = "We have received your query. Our team will get back to you within *1 working day*"


@pytest.fixture(scope="module", autouse=True)
def browser_present() -> None:
    require_browser()
    if not TICKETING.exists():
        pytest.skip("../shared/real-flows is not here")


@pytest.fixture(scope="module")
def graph() -> Iterator[GraphAPIStubServer]:
    with GraphAPIStubServer() as server:
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
        "sutra_api_token": TOKEN,
    }
    with live_server(tmp_path_factory.mktemp("tickets") / "sutra.db", settings=settings) as server:
        yield server


def _texts_to(graph: GraphAPIStubServer, phone: str) -> list[str]:
    return [b.get("text", {}).get("body", "") for b in graph.sent if b.get("to") == phone]


def _ticket_opened_by_the_flow(live: LiveServer, graph: GraphAPIStubServer) -> dict[str, str]:
    [flow] = live.call(live.state.repo.import_flow_file(read_flow_file(TICKETING)))
    api = httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {TOKEN}"})
    with api:
        started = api.post(f"/api/v1/flows/{flow.uuid}/start", json={"urns": [f"whatsapp:{ASHA}"]})
        assert started.status_code == 202, started.text
        wait_for(lambda: len(_texts_to(graph, ASHA)) == 1, what="the flow's first question")
        raw, headers = signed_webhook(
            APP_SECRET, whatsapp_text_payload(ASHA, QUESTION, name="Asha")
        )
        assert api.post("/webhooks/whatsapp", content=raw, headers=headers).status_code == 200
        wait_for(lambda: RECEIVED in _texts_to(graph, ASHA), what="the flow's confirmation")
        [ticket] = api.get("/api/v1/tickets").json()["results"]
    return {"uuid": ticket["uuid"], "contact": ticket["contact"]["uuid"]}


def test_a_ticket_a_flow_opened_shows_on_the_chat_and_staff_close_it(
    browser: Browser, live: LiveServer, graph: GraphAPIStubServer
) -> None:
    from playwright.sync_api import expect

    ticket = _ticket_opened_by_the_flow(live, graph)
    with signed_in_page(browser, live, "/tickets") as page:
        [item] = page.locator("#ticket-list .ticket").all()
        expect(item.locator(".ticket-topic")).to_have_text("Query")
        expect(item.locator(".ticket-body")).to_have_text(QUESTION)
        expect(item.locator(".badge")).to_have_text("Open")
        picture(page, "console-tickets.png")
        on_a_phone(page, ["/tickets", f"/chats/{ticket['contact']}"], live.url)

        page.goto(f"{live.url}/tickets")
        page.locator("#ticket-list .ticket").get_by_role("link", name="Asha").click()
        page.wait_for_url(f"{live.url}/chats/{ticket['contact']}")
        shown = page.locator("#chat-tickets .ticket")
        expect(shown).to_have_count(1)
        expect(shown.locator(".ticket-body")).to_have_text(QUESTION)
        # The conversation that led to it is right below.
        expect(page.locator("#history")).to_contain_text(QUESTION)
        expect(page.locator("#history")).to_contain_text("We have received your query.")
        page.set_viewport_size({"width": 390, "height": 844})
        no_sideways_scroll(page)
        picture(page, "console-chat-ticket.png")

        shown.get_by_role("button", name="Close ticket").click()
        expect(page.locator("#ticket-notice")).to_have_text("Ticket “Query” closed.")
        expect(page.locator("#chat-tickets")).to_be_hidden()
        page.reload()
        expect(page.locator("#chat-tickets")).to_be_hidden()

        page.goto(f"{live.url}/tickets")
        expect(page.locator(".empty")).to_have_text("No open tickets.")
        page.get_by_role("link", name="Closed").click()
        closed = page.locator("#ticket-list .ticket")
        expect(closed).to_have_count(1)
        expect(closed.locator(".badge")).to_have_text("Closed")
        expect(closed).to_contain_text("closed")
        expect(closed.get_by_role("button", name="Close ticket")).to_have_count(0)
