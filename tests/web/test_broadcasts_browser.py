"""Broadcasts in a real browser (Debian's headless Chromium driven by Playwright) against the
real app under uvicorn, with a WhatsApp number at the Graph API stand-in.

Staff start the tea flow for a group from the page and watch its progress fill in without a
reload as Meta's delivery statuses come in (sent, delivered, read) and a contact answers; the
opted-out member is skipped. A broadcast set for later shows its time and is cancelled; the
contact list hands picked contacts to the form. Every page fits 390 px. With
``SUTRA_UPDATE_SCREENSHOTS=1`` it refreshes ``docs/console-broadcast.png``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from sqlalchemy import select

from sutra.flows import parse_flow_file
from sutra.store import models as m
from sutra.testing.graph_api import (
    DEFAULT_PHONE_NUMBER_ID,
    DEFAULT_TOKEN,
    GraphAPIStubServer,
    signed_webhook,
    whatsapp_status_payload,
    whatsapp_text_payload,
)
from sutra.testing.live import LiveServer, require_browser
from tests.server.conftest import wait_for
from tests.web.consolekit import live_server, on_a_phone, picture, signed_in_page, staff_client
from tests.web.test_simulator_api import tea_flow

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

APP_SECRET = "broadcast-app-secret"
TEA = "c0ffee00-0000-4000-8000-000000000001"
MOTHERS = {"919800000001": "Asha", "919800000002": "Ravi", "919800000003": "Meena"}
OPTED_OUT = "919800000004"
ONE_BROADCAST = re.compile(r".*/broadcasts/\d+$")


@pytest.fixture(scope="module", autouse=True)
def browser_present() -> None:
    require_browser()


@pytest.fixture(scope="module")
def graph() -> Iterator[GraphAPIStubServer]:
    with GraphAPIStubServer() as server:
        yield server


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, graph: GraphAPIStubServer
) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("broadcasts")
    settings = {
        "whatsapp_access_token": DEFAULT_TOKEN,
        "whatsapp_phone_number_id": DEFAULT_PHONE_NUMBER_ID,
        "whatsapp_api_url": graph.api_url,
        "whatsapp_app_secret": APP_SECRET,
        "sutra_media_dir": str(folder / "media"),
    }
    with live_server(folder / "sutra.db", settings=settings) as server:
        server.call(server.state.repo.import_flow_file(parse_flow_file(tea_flow())))
        repo = server.state.repo
        uuids = [
            server.call(repo.contact(f"whatsapp:{phone}", name=name, phone=phone)).uuid
            for phone, name in [*MOTHERS.items(), (OPTED_OUT, "Tomas")]
        ]
        with staff_client(server) as staff:
            group = staff.post("/console/api/groups", json={"name": "Mothers"}).json()
            added = staff.post(f"/console/api/groups/{group['uuid']}/contacts", json={"add": uuids})
            assert added.is_success, added.text
            stopped = staff.patch(f"/console/api/contacts/{uuids[-1]}", json={"status": "stopped"})
            assert stopped.is_success, stopped.text
        yield server


def _webhook(live: LiveServer, payload: dict) -> None:
    raw, headers = signed_webhook(APP_SECRET, payload)
    response = httpx.post(f"{live.url}/webhooks/whatsapp", content=raw, headers=headers)
    assert response.status_code == 200, response.text


def _wamids(live: LiveServer) -> dict[str, str]:
    """The provider's id of the question sent to each phone."""

    async def find() -> dict[str, str]:
        async with live.state.repo.sessions() as db:
            rows = await db.execute(
                select(m.Contact.phone, m.Message.external_id)
                .join(m.Contact, m.Contact.id == m.Message.contact_id)
                .where(m.Message.direction == "out", m.Message.external_id.is_not(None))
            )
            return {str(phone): str(wamid) for phone, wamid in rows}

    return dict(
        wait_for(lambda: (found := live.call(find())) and len(found) == 3 and found, what="sends")
    )


def _count(page: Page, key: str, value: int) -> None:
    page.wait_for_function(
        "([key, value]) => document.querySelector(`[data-count=${key}]`).textContent === value",
        arg=[key, f"{value:,}"],
    )


def test_start_a_flow_for_a_group_and_watch_it_arrive(
    browser: Browser, live: LiveServer, graph: GraphAPIStubServer
) -> None:
    with signed_in_page(browser, live, "/broadcasts") as page:
        assert "No broadcasts yet" in page.inner_text("main")
        page.click("#new-broadcast")
        page.wait_for_url(f"{live.url}/broadcasts/new")
        page.select_option("#flow", label="Tea")
        page.select_option("#group", label="Mothers (4)")
        page.check("input[name=who][value=group]")
        page.click("#start")
        page.wait_for_url(ONE_BROADCAST)
        assert page.inner_text("h1") == "Tea"
        assert "group Mothers" in page.inner_text("#broadcast")
        _count(page, "total", 4)
        _count(page, "started", 3)
        _count(page, "skipped", 1)
        # The Graph API took the three questions; Tomas (opted out) got nothing.
        assert sorted(s["to"] for s in graph.sent) == sorted(MOTHERS)
        _count(page, "sent", 3)
        assert page.inner_text("[data-count=delivered]") == "0"

        # Meta reports deliveries and a read; Asha answers. The page follows without a reload.
        wamids = _wamids(live)
        phones = list(MOTHERS)
        for phone in phones[:2]:
            _webhook(live, whatsapp_status_payload(wamids[phone], "delivered", recipient_id=phone))
        _count(page, "delivered", 2)
        _webhook(live, whatsapp_status_payload(wamids[phones[0]], "read", recipient_id=phone))
        _count(page, "read", 1)
        _webhook(live, whatsapp_text_payload(phones[0], "Yes", name="Asha"))
        _count(page, "replied", 1)
        assert page.inner_text("[data-status]") == "started"
        picture(page, "console-broadcast.png", full_page=True)

        page.goto(f"{live.url}/broadcasts")
        row = page.locator("#broadcasts tbody tr").first
        assert "Tea" in row.inner_text() and "started" in row.inner_text()


def test_set_for_later_then_cancelled(browser: Browser, live: LiveServer) -> None:
    with signed_in_page(browser, live, "/broadcasts/new") as page:
        page.select_option("#flow", label="Tea")
        page.fill("#send-at", "2099-06-01T09:30")
        assert page.is_checked("input[name=when][value=later]")
        page.click("#start")
        page.wait_for_url(ONE_BROADCAST)
        assert page.inner_text("[data-status]") == "scheduled"
        assert "Starts at" in page.inner_text("#state-text")
        assert "2099" in page.inner_text("#state-text")
        _count(page, "total", 0)
        page.click("#cancel")
        page.wait_for_function(
            "() => document.querySelector('[data-status]').textContent === 'cancelled'"
        )
        assert page.is_hidden("#cancel")


def test_a_past_time_and_no_flow_are_refused_on_the_page(
    browser: Browser, live: LiveServer
) -> None:
    with signed_in_page(browser, live, "/broadcasts/new") as page:
        page.fill("#send-at", "2001-01-01T09:30")
        page.click("#start")
        # The browser asks for a flow first.
        assert page.url.endswith("/broadcasts/new")
        page.select_option("#flow", label="Tea")
        page.click("#start")
        assert "That time has passed" in page.inner_text("#notice")


def test_picked_contacts_and_a_filter_from_the_contact_list(
    browser: Browser, live: LiveServer
) -> None:
    with signed_in_page(browser, live, "/contacts") as page:
        page.locator("#contacts tbody tr", has_text="Ravi").locator(".pick-one").check()
        page.click("#bulk-start")
        page.wait_for_url(f"{live.url}/broadcasts/new?contacts=*")
        assert page.is_checked("input[name=who][value=chosen]")
        assert "The 1 contact picked" in page.inner_text("#who")

        page.goto(f"{live.url}/contacts?q=Meena")
        page.click("#start-flow")
        page.wait_for_url(f"{live.url}/broadcasts/new?q=Meena*")
        assert page.is_checked("input[name=who][value=filter]")
        assert 'name or phone contains "Meena"' in page.inner_text("#who")
        assert "(1 now, 1 opted in)" in page.inner_text("#audience")

        on_a_phone(page, ["/broadcasts", "/broadcasts/new", "/broadcasts/1"], live.url)
