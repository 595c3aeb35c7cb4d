"""A flow's results and the AI usage page in a real browser (Debian's headless Chromium driven
by Playwright) against the real app under uvicorn, with the OpenAI stub as the model.

Contacts answer a quick-reply flow in the simulator; the flow list shows its runs and
completion, the results page its counts per category and the runs, filtered by category and
date, and both downloads hold what the page shows. A GPT conversation in the simulator then
appears on the usage page: calls, tokens, the flow and the model. Every page fits 390 px. With
``SUTRA_UPDATE_SCREENSHOTS=1`` it refreshes ``docs/console-results.png`` and
``docs/console-usage.png``.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from openpyxl import load_workbook

from sutra.flows import parse_flow_file
from sutra.functions.services import Services
from sutra.llm.openai_provider import OpenAIProvider
from sutra.testing.live import LiveServer, require_browser
from sutra.testing.openai_server import OpenAIStubServer, Reply
from tests.web.consolekit import (
    REPO_ROOT,
    live_server,
    on_a_phone,
    picture,
    signed_in_page,
    staff_client,
)
from tests.web.test_simulator_api import tea_flow

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

API_KEY = "sk-results-browser-0123456789"
ASK_GPT = "5b8e4d3a-6f0e-4c1d-9a55-2f4a1e0c9b10"
TEA = "c0ffee00-0000-4000-8000-000000000001"
# Who answers the tea question, and how: two yes, one no, one answer no case matches, and one
# contact who has not answered yet.
ANSWERS = {"asha": "yes", "ravi": "no", "meena": "Yes!", "tomas": "coffee", "lena": None}


@pytest.fixture(scope="module", autouse=True)
def browser_present() -> None:
    require_browser()


@pytest.fixture(scope="module")
def stub() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, stub: OpenAIStubServer) -> Iterator[LiveServer]:
    services = Services(llm=OpenAIProvider(api_key=API_KEY, base_url=stub.base_url))
    with live_server(tmp_path_factory.mktemp("results") / "sutra.db", services) as server:
        for data in (json.loads((REPO_ROOT / "examples" / "ask_gpt.json").read_text()), tea_flow()):
            server.call(server.state.repo.import_flow_file(parse_flow_file(data)))
        _answer_tea(server)
        yield server


def _answer_tea(live: LiveServer) -> None:
    with staff_client(live) as staff:
        for contact, answer in ANSWERS.items():
            started = staff.post(
                "/simulator/api/start", json={"flow_uuid": TEA, "contact": contact}
            )
            assert started.is_success, started.text
            if answer:
                said = staff.post(
                    "/simulator/api/messages", json={"contact": contact, "text": answer}
                )
                assert said.is_success, said.text
        for _ in range(200):
            summary = staff.get(f"/console/api/flows/{TEA}/results/summary").json()
            if summary["runs"] == 5 and summary["completed"] == 4:
                return
            time.sleep(0.05)
    raise AssertionError(f"the contacts did not finish: {summary}")


@pytest.fixture
def page(browser: Browser, live: LiveServer) -> Iterator[Page]:
    with signed_in_page(browser, live, "/flows") as opened:
        yield opened


def test_read_a_flows_results_and_download_them(
    page: Page, live: LiveServer, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    # The flow list: runs and completion per flow.
    tea = page.locator("tr[data-uuid]", has_text="Tea")
    expect(tea.locator("td[data-label=Runs] a")).to_have_text("5 runs")
    expect(tea.locator("td[data-label=Runs]")).to_contain_text("80% completed")
    expect(tea.locator("td[data-label=Runs]")).to_contain_text("last ")
    gpt = page.locator("tr[data-uuid]", has_text="Ask GPT")
    expect(gpt.locator("td[data-label=Runs]")).to_have_text("none yet")
    tea.locator("a", has_text="Results").click()
    page.wait_for_url(f"{live.url}/flows/{TEA}/results")

    stats = page.locator("#stats .stat .value")
    expect(stats.nth(0)).to_have_text("5")
    expect(stats.nth(1)).to_have_text("80%")
    expect(stats.nth(2)).to_have_text("1")
    chart = page.locator("figure.chart[data-result=likes_tea]")
    expect(chart.locator("h3")).to_have_text("Likes Tea 4")
    expect(chart.locator(".bar-row .name")).to_have_text(["Yes", "No", "Other"])
    expect(chart.locator(".bar-row .count")).to_have_text(["2 · 50%", "1 · 25%", "1 · 25%"])
    expect(chart.locator(".bar span").first).to_have_attribute("style", "width: 50.0%")
    runs = page.locator("#runs tbody tr")
    expect(runs).to_have_count(5)
    expect(page.locator("#run-count")).to_have_text("1–5 of 5")
    # Newest first; a run still waiting shows no answer yet.
    expect(runs.first.locator("td[data-label=Contact]")).to_have_text("lena")
    expect(runs.first.locator("td[data-label=Status]")).to_have_text("waiting")
    expect(runs.filter(has_text="tomas").locator("td[data-label='Likes Tea']")).to_have_text(
        "coffeeOther"
    )
    picture(page, "console-results.png", full_page=True)

    # Only the runs that said Yes: the bar links to that filter, the select shows it.
    chart.locator(".bar-row .name", has_text="Yes").click()
    expect(page.locator("select[name=category]")).to_have_value("likes_tea:Yes")
    expect(runs).to_have_count(2)
    expect(runs.locator("td[data-label=Contact]")).to_have_text(["meena", "asha"])
    # The counts still show every category, for the period.
    expect(chart.locator(".bar-row")).to_have_count(3)

    # The downloads are what the page shows, filter included.
    with page.expect_download() as download_csv:
        page.click("#download-csv")
    saved = tmp_path / download_csv.value.suggested_filename
    download_csv.value.save_as(saved)
    assert saved.name == "tea-results.csv"
    lines = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert [(r["urn"], r["Likes Tea"], r["Likes Tea (category)"]) for r in lines] == [
        ("sim:meena", "Yes", "Yes"),
        ("sim:asha", "yes", "Yes"),
    ]
    assert all(r["status"] == "completed" for r in lines)

    page.select_option("select[name=category]", "")
    page.click("button:text('Filter')")
    expect(runs).to_have_count(5)
    with page.expect_download() as download_xlsx:
        page.click("#download-xlsx")
    book = tmp_path / "tea.xlsx"
    download_xlsx.value.save_as(book)
    sheet = load_workbook(book).active
    assert sheet is not None
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    header, body = rows[0], rows[1:]
    assert header[:7] == ["run", "contact", "name", "urn", "started", "status", "ended"]
    assert header[7:] == ["Likes Tea", "Likes Tea (category)"]
    by_urn = {row[3]: row for row in body}
    assert sorted(by_urn) == ["sim:asha", "sim:lena", "sim:meena", "sim:ravi", "sim:tomas"]
    assert by_urn["sim:ravi"][7:] == ["no", "No"]
    assert by_urn["sim:tomas"][7:] == ["coffee", "Other"]
    assert by_urn["sim:lena"][5] == "waiting"
    assert isinstance(by_urn["sim:asha"][4], datetime)

    # A date range after today has no runs, and says so.
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    page.goto(f"{live.url}/flows/{TEA}/results?since={tomorrow}")
    expect(page.locator("#runs")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("No runs match these filters.")


def test_the_usage_page_shows_a_gpt_conversations_calls(
    page: Page, live: LiveServer, stub: OpenAIStubServer
) -> None:
    from playwright.sync_api import expect

    stub.reset()
    answers = ["Plants make food from light.", "Mostly nitrogen."]
    stub.plan(*(Reply(text) for text in answers))
    page.goto(f"{live.url}/usage")
    expect(page.locator("#total-calls")).to_have_text("0")

    # A conversation in the simulator: two questions, two GPT calls.
    page.goto(f"{live.url}/simulator?contact=priya")
    page.select_option("#flow-select", ASK_GPT)
    page.click("#start-button")
    bot = page.locator(".row.bot .text")
    expect(bot).to_have_count(1)
    page.fill("#message-input", "What is photosynthesis?")
    page.press("#message-input", "Enter")
    expect(bot).to_have_count(2)
    expect(bot.last).to_have_text("Plants make food from light.")
    page.click("#start-button")
    expect(bot).to_have_count(3)
    page.fill("#message-input", "What is air made of?")
    page.press("#message-input", "Enter")
    expect(bot.last).to_have_text("Mostly nitrogen.")

    # The stub counts a token a word, of the prompt it got and of its answer.
    asked = [" ".join(str(m.get("content")) for m in r["messages"]) for r in stub.requests]
    tokens = sum(len(text.split()) for text in [*asked, *answers])
    page.goto(f"{live.url}/usage")
    expect(page.locator("#total-calls")).to_have_text("2")
    expect(page.locator("#total-tokens")).to_have_text(f"{tokens:,}")
    flow = page.locator("#by-flow tbody tr")
    expect(flow).to_have_count(1)
    expect(flow.locator("td[data-label=Flow]")).to_have_text("Ask GPT")
    expect(flow.locator("td[data-label=Calls]")).to_have_text("2")
    expect(page.locator("#by-model td[data-label=Model]")).to_contain_text("gpt-4o")
    expect(page.locator("#by-contact td[data-label=Contact]")).to_have_text(["priya"])
    # Today's bar is the only one, and says what it stands for.
    today = datetime.now(UTC).date().isoformat()
    bars = page.locator("svg.days").first.locator("rect.day")
    expect(bars).to_have_count(30)
    expect(bars.last.locator("title")).to_contain_text(f"{today}: 2 calls, {tokens:,} tokens")
    expect(page.locator("#budget")).to_contain_text("No monthly budget")
    picture(page, "console-usage.png", full_page=True)


def test_every_report_page_fits_a_phone(page: Page, live: LiveServer) -> None:
    on_a_phone(
        page,
        [
            "/flows",
            f"/flows/{TEA}/results",
            f"/flows/{TEA}/results?category=likes_tea:No",
            "/usage",
        ],
        live.url,
    )
