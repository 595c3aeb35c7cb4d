"""The Triggers page in a real browser (Debian's headless Chromium driven by Playwright)
against the real app under uvicorn: staff see each flow's keywords, choose the catch-all flow
(and the next unmatched message gets it), make a weekly schedule and read its next run in the
organisation's time zone, disable and delete it; the page fits 390 px. With
``SUTRA_UPDATE_SCREENSHOTS=1`` it refreshes ``docs/console-triggers.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from sutra.engine import events as ev
from sutra.engine.session import Input
from sutra.flows import parse_flow_file
from sutra.recurrence import Recurrence, next_run
from sutra.store import models as m
from sutra.testing.live import LiveServer, require_browser
from tests.triggers.test_triggers_api import HELP, help_flow, sorry
from tests.web.consolekit import live_server, on_a_phone, picture, signed_in_page, staff_client
from tests.web.test_simulator_api import tea_flow

if TYPE_CHECKING:
    from playwright.sync_api import Browser

TEA = "c0ffee00-0000-4000-8000-000000000001"
ZONE = "Asia/Kolkata"


@pytest.fixture(scope="module", autouse=True)
def browser_present() -> None:
    require_browser()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("triggers")
    with live_server(folder / "sutra.db") as server:
        repo = server.state.repo
        server.call(repo.import_flow_file(parse_flow_file(tea_flow())))
        server.call(repo.import_flow_file(parse_flow_file(help_flow())))

        async def prepare() -> None:
            async with repo.sessions.begin() as db:
                await db.execute(
                    update(m.Flow).where(m.Flow.uuid == TEA).values(keywords=["tea", "chai"])
                )
                await db.execute(
                    update(m.Organization)
                    .where(m.Organization.id == repo.org)
                    .values(timezone=ZONE)
                )

        server.call(prepare())
        uuids = [server.call(repo.contact(f"sim:{name}", name=name)).uuid for name in ("a", "b")]
        with staff_client(server) as staff:
            group = staff.post("/console/api/groups", json={"name": "Mothers"}).json()
            added = staff.post(f"/console/api/groups/{group['uuid']}/contacts", json={"add": uuids})
            assert added.is_success, added.text
        yield server


def test_set_the_catch_all_and_make_a_weekly_schedule(browser: Browser, live: LiveServer) -> None:
    with signed_in_page(browser, live, "/flows") as page:
        page.click("nav >> text=Triggers")
        page.wait_for_url(f"{live.url}/triggers")
        keywords = page.inner_text("#keywords")
        assert "Tea" in keywords and "tea" in keywords and "chai" in keywords
        assert page.inner_text("#catch-all-now") == "Now: none"

        page.select_option("#catch-all", label="Help")
        page.click("#save-catch-all")
        page.wait_for_selector("#notice:not([hidden])")
        assert "now start Help" in page.inner_text("#notice")
        assert page.inner_text("#catch-all-now") == "Now: Help"
        # A message no keyword or flow takes now gets the Help flow.
        contact = live.call(live.state.repo.contact("sim:a"))
        outcome = live.call(live.state.runner.receive(contact, Input(text="what now?")))
        assert outcome is not None and outcome.started_flow == HELP
        assert [e.text for e in outcome.events if isinstance(e, ev.MsgOut)] == [sorry("what now?")]

        assert "No schedules yet" in page.inner_text("#schedules-card")
        assert page.inner_text("#timezone") == ZONE
        page.select_option("#schedule-flow", label="Tea")
        page.select_option("#schedule-group", label="Mothers (2)")
        page.check("input[name=day][value=mon]")
        page.check("input[name=day][value=thu]")
        assert page.is_checked("input[name=frequency][value=weekly]")
        page.fill("#schedule-time", "09:30")
        page.fill("#schedule-end", "2099-12-31")
        page.click("#create-schedule")
        page.wait_for_selector("#schedules tbody tr")
        assert "Schedule made" in page.inner_text("#notice")
        row = page.locator("#schedules tbody tr").first
        text = row.inner_text()
        assert "Tea" in text and "group Mothers" in text
        assert "Every Monday and Thursday at 09:30, until 31 Dec 2099" in text
        # The next run, in Kolkata time: the next Monday or Thursday at 09:30.
        expected = next_run(
            Recurrence(frequency="weekly", at="09:30", days=("mon", "thu")),
            datetime.now(UTC),
            ZONE,
        )
        assert expected is not None
        shown = row.locator("[data-next] time")
        local = expected.astimezone(ZoneInfo(ZONE))
        assert shown.inner_text() == local.strftime("%a %d %b %Y, %H:%M")
        assert datetime.fromisoformat(str(shown.get_attribute("datetime"))) == expected
        picture(page, "console-triggers.png", full_page=True)
        on_a_phone(page, ["/triggers"], live.url)

        row.locator("[data-toggle]").click()
        page.wait_for_function(
            "() => document.querySelector('#schedules [data-toggle]')?.textContent === 'Enable'"
        )
        assert "none" in page.locator("#schedules [data-next]").inner_text()
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("#schedules [data-delete]").click()
        page.wait_for_selector("text=No schedules yet")
