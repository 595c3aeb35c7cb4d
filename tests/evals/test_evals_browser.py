"""The evaluations page in Debian's headless Chromium (Playwright), against the real app under
uvicorn with the OpenAI stub as model, judge and embeddings: upload a golden set (a bad row is
named), estimate and start a run, watch its progress, compare two runs, download the CSV.
With ``SUTRA_UPDATE_SCREENSHOTS=1`` it refreshes ``docs/evals.png``."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sutra.config import ServerSettings, get_settings
from sutra.evals.settings import eval_settings
from sutra.testing.accounts import TEST_EMAIL, TEST_PASSWORD, ensure_user
from sutra.testing.live import LiveServer, require_browser
from sutra.testing.openai_server import OpenAIStubServer
from sutra.web.app import create_app

from .conftest import Bot, csv_of

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = (
    REPO_ROOT / "docs" / "evals.png"
    if os.environ.get("SUTRA_UPDATE_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "sutra-evals.png"
)
API_KEY = "sk-evals-browser-0123456789"
TIMEOUT_MS = 20_000
QUESTIONS = [
    (
        f"How do I look after a child with fever, case {i}?",
        f"Give fluids and rest, case {i}.",
        "health" if i % 2 else "care",
    )
    for i in range(12)
]


@pytest.fixture(scope="module", autouse=True)
def browser_present() -> None:
    require_browser()


@pytest.fixture(scope="module")
def stub() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer(api_key=API_KEY, delay=0.15) as server:
        yield server


@pytest.fixture(scope="module")
def bot(stub: OpenAIStubServer) -> Bot:
    found = Bot()
    stub.respond(found)
    return found


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, stub: OpenAIStubServer, bot: Bot
) -> Iterator[LiveServer]:
    with pytest.MonkeyPatch.context() as env:
        for key in list(os.environ):
            if key.startswith(("SUTRA_", "OPENAI_", "OPEN_AI_", "WHATSAPP_", "GUPSHUP_")):
                env.delenv(key)
        env.setenv("OPENAI_API_KEY", API_KEY)
        env.setenv("OPENAI_BASE_URL", stub.base_url)
        # Two answers at once: slow enough to watch the progress bar move.
        env.setenv("SUTRA_EVAL_CONCURRENCY", "2")
        get_settings.cache_clear()
        eval_settings.cache_clear()
        database = tmp_path_factory.mktemp("evals") / "sutra.db"
        server = LiveServer(create_app(f"sqlite:///{database}", settings=ServerSettings()))
        server.start()
        try:
            server.call(ensure_user(server.state.repo.sessions))
            yield server
        finally:
            server.stop()
            get_settings.cache_clear()
            eval_settings.cache_clear()


@pytest.fixture
def page(browser: Browser, live: LiveServer) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    opened = context.new_page()
    problems: list[str] = []
    outside: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    # The refused upload's 422 is the one failed request the test makes on purpose.
    expected = "the server responded with a status of 422"
    opened.on(
        "console",
        lambda m: (
            problems.append(f"console: {m.text}")
            if m.type == "error" and expected not in m.text
            else None
        ),
    )
    opened.on(
        "request",
        lambda r: None if r.url.startswith((live.url, "data:")) else outside.append(r.url),
    )
    opened.goto(f"{live.url}/evals")
    opened.wait_for_url(f"{live.url}/login?next=/evals")
    opened.fill("input[name=email]", TEST_EMAIL)
    opened.fill("input[name=password]", TEST_PASSWORD)
    opened.click("button[type=submit]")
    opened.wait_for_url(f"{live.url}/evals")
    yield opened
    context.close()
    assert problems == [], problems
    assert outside == [], outside  # charts and scripts are all served by Sutra itself


def _upload(page: Page, csv: str, name: str) -> None:
    page.fill("#upload-name", name)
    page.set_input_files(
        "#upload-file", {"name": f"{name}.csv", "mimeType": "text/csv", "buffer": csv.encode()}
    )
    page.click("#upload-form button[type=submit]")


def _start_run(page: Page, live: LiveServer, name: str) -> int:
    page.goto(f"{live.url}/evals")
    page.fill("#run-name", name)
    page.fill("#gpt-prompt", "Answer parents' questions about child health.")
    page.fill("#gpt-model", "gpt-4o-mini")
    page.click("#start-run")
    page.wait_for_url(re.compile(r".*/evals/runs/\d+$"), timeout=TIMEOUT_MS)
    return int(page.url.rsplit("/", 1)[1])


def test_upload_run_watch_compare_and_download(
    page: Page, live: LiveServer, bot: Bot, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    bad = csv_of([QUESTIONS[0], (QUESTIONS[1][0], "", "health")])
    _upload(page, bad, "fever")
    expect(page.locator("#upload-error")).to_contain_text(
        "row 3, column answer: is empty", timeout=TIMEOUT_MS
    )

    _upload(page, csv_of(QUESTIONS), "fever")
    expect(page.locator("table.golden")).to_contain_text("fever v1", timeout=TIMEOUT_MS)

    # Before starting: what it will cost.
    page.fill("#gpt-model", "gpt-4o-mini")
    page.click("#estimate")
    expect(page.locator("#estimate-box")).to_contain_text(
        "12 answers: 48 calls", timeout=TIMEOUT_MS
    )

    # First run: the bot answers only half of the questions right.
    bot.answers = {q: (a if i % 2 else "I do not know.") for i, (q, a, _) in enumerate(QUESTIONS)}
    first = _start_run(page, live, "baseline")
    # Watched while it runs: the count moves before the run ends.
    expect(page.locator("#run-count")).to_have_text(
        re.compile(r"^([1-9]|1[01]) / 12$"), timeout=TIMEOUT_MS
    )
    expect(page.locator("#run-status")).to_have_text("completed", timeout=TIMEOUT_MS * 2)
    expect(page.locator("#distribution rect")).to_have_count(10)
    expect(page.locator("#categories g.bar")).to_have_count(2)
    expect(page.locator("#questions tbody tr")).to_have_count(12)
    expect(page.locator("#summary")).to_contain_text("questions aligned")

    # Second run: every answer right.
    bot.answers = {q: a for q, a, _ in QUESTIONS}
    second = _start_run(page, live, "better prompt")
    expect(page.locator("#run-status")).to_have_text("completed", timeout=TIMEOUT_MS * 2)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.select_option("#compare-with", str(first))
    page.click("#compare")
    page.wait_for_url(re.compile(rf".*/evals/compare\?b={second}&a={first}$"))
    expect(page.locator("#improved")).to_have_text("6")
    expect(page.locator("#regressed")).to_have_text("0")
    expect(page.locator("#by-category")).to_contain_text("care")

    page.goto(f"{live.url}/evals/runs/{second}")
    with page.expect_download() as download:
        page.click("#download-csv")
    saved = tmp_path / "run.csv"
    download.value.save_as(saved)
    lines = saved.read_text().splitlines()
    assert lines[0].startswith("position,repeat,category,tags,question,ground_truth_answer")
    assert len(lines) == 13
