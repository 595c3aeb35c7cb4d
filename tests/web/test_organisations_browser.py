"""The organisations page in a real browser (Debian's Chromium via Playwright) on the real app:
the platform administrator creates an organisation with its first administrator, sees it
listed, is told why a bad time zone or the default organisation's disabling is refused,
disables and enables it, and opens it; an organisation's own administrator finds no such
page. It fits a 390 px phone. With ``SUTRA_UPDATE_SCREENSHOTS=1`` it refreshes
``docs/console-organisations.png``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from sutra.store.users import create_user
from sutra.testing.accounts import TEST_PASSWORD
from sutra.testing.live import LiveServer, require_browser
from tests.web.consolekit import (
    live_server,
    no_sideways_scroll,
    picture,
    signed_in_page,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

HOST = "host@platform.example"


@pytest.fixture(scope="module", autouse=True)
def browser_present() -> None:
    require_browser()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("organisations") / "sutra.db") as server:
        server.call(
            create_user(server.state.repo.sessions, HOST, TEST_PASSWORD, platform_admin=True)
        )
        yield server


def test_the_platform_administrator_creates_disables_and_enables_an_organisation(
    browser: Browser, live: LiveServer
) -> None:
    from playwright.sync_api import expect

    with signed_in_page(browser, live, "/organisations", email=HOST) as page:
        page.on("dialog", lambda dialog: dialog.accept())
        notice = page.locator("#notice")
        expect(page.locator("nav a[href='/organisations']")).to_be_visible()
        expect(page.locator("#organisations tr[data-id='1']")).to_contain_text("Active")

        form = page.locator("#organisation-form")
        form.locator("input[name=name]").fill("Asha Trust")
        form.locator("input[name=timezone]").fill("Mars/Olympus")
        form.locator("button[type=submit]").click()
        expect(notice).to_have_class("notice error")
        expect(notice).to_contain_text("timezone: ")
        expect(notice).to_contain_text("unknown time zone 'Mars/Olympus'")
        expect(form.locator("input[name=timezone]")).to_have_attribute("aria-invalid", "")

        form.locator("input[name=timezone]").fill("Asia/Kolkata")
        form.locator("input[name=admin_email]").fill("bina@asha.example")
        form.locator("input[name=admin_password]").fill("short")
        form.locator("button[type=submit]").click()
        expect(notice).to_contain_text("admin_password: the password must have at least 8")
        form.locator("input[name=admin_password]").fill(TEST_PASSWORD)
        form.locator("button[type=submit]").click()
        expect(notice).to_have_text(
            "Organisation 2 (Asha Trust) created, administrator bina@asha.example."
        )
        row = page.locator("#organisations tr[data-id='2']")
        expect(row).to_contain_text("Asha Trust")
        expect(row).to_contain_text("Asia/Kolkata")
        expect(row.locator("td[data-label=Staff]")).to_have_text("1")
        expect(row.locator("[data-status]")).to_have_attribute("data-status", "active")

        # The default organisation stays: the page says why.
        page.locator("#organisations tr[data-id='1'] [data-disable]").click()
        expect(notice).to_have_text("the default organisation cannot be disabled")
        expect(notice).to_have_class("notice error")

        row.locator("[data-disable]").click()
        expect(notice).to_have_text("Organisation 2 (Asha Trust) disabled.")
        expect(row.locator("[data-status]")).to_have_attribute("data-status", "disabled")
        # Nobody can sign in to it meanwhile: its administrator is in no active organisation.
        login = httpx.post(
            f"{live.url}/login", data={"email": "bina@asha.example", "password": TEST_PASSWORD}
        )
        assert login.status_code == 403 and "no organisation" in login.text
        page.set_viewport_size({"width": 390, "height": 844})
        no_sideways_scroll(page)
        page.set_viewport_size({"width": 1280, "height": 900})

        row.locator("[data-enable]").click()
        expect(notice).to_have_text("Organisation 2 (Asha Trust) enabled.")
        expect(row.locator("[data-status]")).to_have_attribute("data-status", "active")
        picture(page, "console-organisations.png", full_page=True)

        # Open: this browser works in it, as its administrator.
        row.locator("[data-open]").click()
        page.wait_for_url(f"{live.url}/settings")
        expect(page.locator("main h1")).to_have_text("Asha Trust")
        expect(page.locator("#org-switch")).to_have_value("2")


def test_an_organisations_administrator_finds_no_such_page(
    browser: Browser, live: LiveServer
) -> None:
    from playwright.sync_api import expect

    with signed_in_page(browser, live, "/flows") as page:
        expect(page.locator("nav a[href='/settings']")).to_be_visible()
        expect(page.locator("nav a[href='/organisations']")).to_have_count(0)
        answer = page.goto(f"{live.url}/organisations")
        assert answer is not None and answer.status == 404
        assert "Asha Trust" not in page.content()
