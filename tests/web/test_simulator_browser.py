"""The simulator page in a real browser: Debian's headless Chromium driven by Playwright,
against the real app served by uvicorn on a loopback port, with the OpenAI stub as the model.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``) and the ``playwright`` package; never
``playwright install``, which downloads a browser. Without them the tests fail when ``CI`` is
set, and are skipped otherwise (sutra.testing.live). Each page signs in first: the simulator is
for staff only. With ``SUTRA_UPDATE_SCREENSHOTS=1`` the GPT test refreshes
``docs/simulator.png``.
"""

from __future__ import annotations

import json
import os
import re
import struct
import tempfile
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sutra.config import ServerSettings, get_settings
from sutra.flows import parse_flow_file
from sutra.functions.services import Services
from sutra.llm.openai_provider import OpenAIProvider
from sutra.testing.accounts import TEST_EMAIL, TEST_PASSWORD, ensure_user
from sutra.testing.live import LiveServer, require_browser
from sutra.testing.openai_server import OpenAIStubServer, Reply
from sutra.web import simulator
from sutra.web.app import create_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

REPO_ROOT = Path(__file__).resolve().parents[2]
# The README's picture is refreshed on request only, so a test run leaves the tree clean.
SCREENSHOT = (
    REPO_ROOT / "docs" / "simulator.png"
    if os.environ.get("SUTRA_UPDATE_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "sutra-simulator.png"
)
ASK_GPT = "5b8e4d3a-6f0e-4c1d-9a55-2f4a1e0c9b10"
TEA = "7ea00000-0000-4000-8000-000000000001"
API_KEY = "sk-simulator-browser-0123456789"
ANSWER = (
    "Photosynthesis is how green plants make their own food: they use sunlight to turn "
    "water and carbon dioxide into sugar, and give off oxygen."
)
# Stands in for a media server: the browser's request is answered by the test, not the web.
MEDIA_URL = "https://media.example.org/tea.png"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module", autouse=True)
def browser_present() -> None:
    require_browser()


@pytest.fixture(scope="module")
def stub() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, stub: OpenAIStubServer) -> Iterator[LiveServer]:
    with pytest.MonkeyPatch.context() as env:
        # Nothing from this machine's environment (a real key, a database) reaches the app.
        for key in list(os.environ):
            if key.startswith(("SUTRA_", "OPENAI_", "OPEN_AI_", "WHATSAPP_", "GUPSHUP_")):
                env.delenv(key)
        get_settings.cache_clear()
        database = tmp_path_factory.mktemp("simulator") / "sutra.db"
        app = create_app(
            f"sqlite:///{database}",
            settings=ServerSettings(),
            services=Services(llm=OpenAIProvider(api_key=API_KEY, base_url=stub.base_url)),
            sweep_every=0.2,
        )
        simulator.install(app)
        server = LiveServer(app)
        server.start()
        try:
            for data in (
                json.loads((REPO_ROOT / "examples" / "ask_gpt.json").read_text()),
                TEA_FLOW,
            ):
                server.call(server.state.repo.import_flow_file(parse_flow_file(data)))
            # The simulator is for signed-in staff only.
            server.call(ensure_user(server.state.repo.sessions))
            yield server
        finally:
            server.stop()
            get_settings.cache_clear()


@pytest.fixture
def page(browser: Browser, live: LiveServer) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    opened = context.new_page()
    problems: list[str] = []
    outside: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    opened.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}")
            if message.type == "error"
            else None
        ),
    )

    def watch(request: Any) -> None:
        if not request.url.startswith((live.url, "data:")) and request.url != MEDIA_URL:
            outside.append(request.url)

    opened.on("request", watch)
    opened.route(MEDIA_URL, _serve_png)
    _sign_in(opened, live)
    yield opened
    context.close()
    assert problems == [], problems
    # The page works offline: it asks nothing of the internet.
    assert outside == [], outside


def _sign_in(page: Page, live: LiveServer) -> None:
    page.goto(f"{live.url}/simulator")
    # Not signed in yet: the simulator sends the browser to the sign-in form first.
    page.wait_for_url(f"{live.url}/login?next=/simulator")
    page.fill("input[name=email]", TEST_EMAIL)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.url}/simulator")


def _serve_png(route: Route) -> None:
    route.fulfill(status=200, content_type="image/png", body=_png(160, 100, (46, 125, 50)))


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG, written by hand so the test needs no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


# --- flows -------------------------------------------------------------------------------------


def _uid() -> str:
    return str(uuid.uuid4())


def _tea_flow() -> dict[str, Any]:
    """A photo, then a Glific quick-reply message, a wait, and an answer that uses the result."""
    photo, ask, wait, done = _uid(), _uid(), _uid(), _uid()
    yes, no, other = _uid(), _uid(), _uid()
    exits = [_uid(), _uid(), _uid()]
    question = {
        "type": "quick_reply",
        "content": {"type": "text", "text": "Would you like a cup of tea?"},
        "options": [{"type": "text", "title": "Yes"}, {"type": "text", "title": "No"}],
    }
    return {
        "uuid": TEA,
        "name": "Tea time",
        "spec_version": "13.2.0",
        "language": "base",
        "type": "messaging",
        "expire_after_minutes": 60,
        "vars": [],
        "localization": {},
        "nodes": [
            {
                "uuid": photo,
                "actions": [
                    {
                        "uuid": _uid(),
                        "type": "send_msg",
                        "text": "Fresh from the garden.",
                        "attachments": [f"image/png:{MEDIA_URL}"],
                    }
                ],
                "exits": [{"uuid": _uid(), "destination_uuid": ask}],
            },
            {
                "uuid": ask,
                "actions": [
                    {
                        "uuid": _uid(),
                        "type": "send_interactive_msg",
                        "name": "Tea question",
                        "text": json.dumps(question),
                    }
                ],
                "exits": [{"uuid": _uid(), "destination_uuid": wait}],
            },
            {
                "uuid": wait,
                "actions": [],
                "router": {
                    "type": "switch",
                    "operand": "@input.text",
                    "wait": {"type": "msg"},
                    "result_name": "Wants Tea",
                    "cases": [
                        {
                            "uuid": _uid(),
                            "type": "has_any_word",
                            "arguments": ["yes"],
                            "category_uuid": yes,
                        },
                        {
                            "uuid": _uid(),
                            "type": "has_any_word",
                            "arguments": ["no"],
                            "category_uuid": no,
                        },
                    ],
                    "categories": [
                        {"uuid": yes, "name": "Yes", "exit_uuid": exits[0]},
                        {"uuid": no, "name": "No", "exit_uuid": exits[1]},
                        {"uuid": other, "name": "Other", "exit_uuid": exits[2]},
                    ],
                    "default_category_uuid": other,
                },
                "exits": [{"uuid": e, "destination_uuid": done} for e in exits],
            },
            {
                "uuid": done,
                "actions": [
                    {
                        "uuid": _uid(),
                        "type": "send_msg",
                        "text": "You said @results.wants_tea.category. Enjoy!",
                    }
                ],
                "exits": [{"uuid": _uid(), "destination_uuid": None}],
            },
        ],
    }


TEA_FLOW = _tea_flow()


def _start(page: Page, live: LiveServer, contact: str, flow_uuid: str) -> None:
    page.goto(f"{live.url}/simulator?contact={contact}")
    page.select_option("#flow-select", flow_uuid)
    page.click("#start-button")


# --- tests -------------------------------------------------------------------------------------


def test_chat_with_gpt_shows_typing_answer_results_and_log(
    page: Page, live: LiveServer, stub: OpenAIStubServer
) -> None:
    from playwright.sync_api import expect

    stub.reset()
    # A model that takes its time, so that "typing…" is on screen long enough to be seen.
    stub.plan(Reply(ANSWER, delay=1.5))
    _start(page, live, "asha", ASK_GPT)

    bot = page.locator(".row.bot .text")
    expect(bot.first).to_have_text(
        "Hi asha! Ask me a question and I will ask GPT.", timeout=TIMEOUT_MS
    )
    expect(page.locator(".divider")).to_have_text("Ask GPT started")
    expect(page.locator("#chat-sub")).to_have_text("Ask GPT · waiting for a reply")
    expect(page.locator("#typing")).to_be_hidden()

    page.fill("#message-input", "What is photosynthesis?")
    page.press("#message-input", "Enter")
    expect(page.locator(".row.contact .text")).to_have_text("What is photosynthesis?")
    expect(page.locator("#message-input")).to_have_value("")
    expect(page.locator("#typing")).to_be_visible()
    expect(page.locator("#chat-sub")).to_have_text(
        "Ask GPT · waiting for a webhook", timeout=TIMEOUT_MS
    )

    expect(bot).to_have_count(2, timeout=TIMEOUT_MS)
    expect(bot.last).to_have_text(ANSWER)
    expect(page.locator("#typing")).to_be_hidden(timeout=TIMEOUT_MS)
    expect(page.locator("#chat-sub")).to_have_text("Ask GPT · completed", timeout=TIMEOUT_MS)
    assert stub.requests[-1]["messages"][-1]["content"] == "What is photosynthesis?"

    results = page.locator("#results-body tr")
    expect(results).to_have_count(2, timeout=TIMEOUT_MS)
    expect(results.nth(0)).to_contain_text("question")
    expect(results.nth(0)).to_contain_text("What is photosynthesis?")
    expect(results.nth(0)).to_contain_text("All Responses")
    expect(results.nth(1)).to_contain_text("gpt_response")
    expect(results.nth(1)).to_contain_text("Success")
    expect(results.nth(1)).to_contain_text(".parsed_msg Photosynthesis is how")

    call = page.locator("#webhook-log .webhook")
    expect(call).to_have_count(1)
    expect(call.locator(".method")).to_have_text("FUNCTION")
    expect(call.locator(".target")).to_have_text("parse_via_chat_gpt")
    expect(call.locator(".badge")).to_have_text("200")
    expect(call.locator(".webhook-meta")).to_contain_text("gpt-4o")
    expect(call.locator(".webhook-meta")).to_contain_text(f"+ {len(ANSWER.split())} tokens")
    expect(page.locator("#contact-facts")).to_contain_text("sim:asha")

    # The picture for the README: the conversation, its results and the call log.
    page.locator("#results-card").scroll_into_view_if_needed()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_quick_reply_buttons_send_their_text(page: Page, live: LiveServer) -> None:
    from playwright.sync_api import expect

    _start(page, live, "ravi", TEA)

    image = page.locator(".row.bot .attachment img")
    expect(image).to_be_visible(timeout=TIMEOUT_MS)
    expect(image).to_have_attribute("src", MEDIA_URL)
    page.wait_for_function("() => document.querySelector('.attachment img').naturalWidth === 160")
    expect(page.locator(".row.bot .text").nth(1)).to_have_text("Would you like a cup of tea?")
    buttons = page.locator(".quick-reply")
    expect(buttons).to_have_text(["Yes", "No"])
    expect(buttons.first).to_be_enabled()

    buttons.first.click()
    expect(page.locator(".row.contact .text")).to_have_text("Yes", timeout=TIMEOUT_MS)
    expect(page.locator(".row.bot .text").last).to_have_text(
        "You said Yes. Enjoy!", timeout=TIMEOUT_MS
    )
    # Answered: the question's buttons are spent, as on a phone.
    expect(buttons.first).to_be_disabled()
    expect(buttons.last).to_be_disabled()

    result = page.locator("#results-body tr")
    expect(result).to_have_count(1, timeout=TIMEOUT_MS)
    expect(result.locator("td")).to_have_text(["Wants Tea", "Yes", "Yes"])
    expect(page.locator("#webhooks-none")).to_be_visible()
    expect(page.locator("#chat-sub")).to_have_text("Tea time · completed", timeout=TIMEOUT_MS)


def test_switching_contact_shows_that_contacts_history(page: Page, live: LiveServer) -> None:
    from playwright.sync_api import expect

    _start(page, live, "lena", TEA)
    expect(page.locator(".quick-reply")).to_have_count(2, timeout=TIMEOUT_MS)

    # A brand-new contact starts with an empty chat and panel.
    page.click("#new-contact")
    expect(page.locator("#contact-input")).to_have_value(re.compile(r"^tester-\w+$"))
    expect(page.locator(".row[data-id]")).to_have_count(0)
    expect(page.locator("#chat-empty")).to_be_visible()
    expect(page.locator("#session-none")).to_be_visible()

    # Back to the first contact: its conversation comes back from the server.
    page.fill("#contact-input", "lena")
    page.press("#contact-input", "Tab")
    expect(page.locator(".quick-reply")).to_have_count(2, timeout=TIMEOUT_MS)
    expect(page.locator("#chat-sub")).to_have_text("Tea time · waiting for a reply")

    # A name the server would refuse is caught on the page.
    page.fill("#contact-input", "two words")
    page.press("#contact-input", "Tab")
    expect(page.locator("#notice")).to_contain_text("contact name")
    expect(page.locator("#contact-input")).to_have_value("lena")


def test_the_way_back_to_the_flow_and_the_flow_list(page: Page, live: LiveServer) -> None:
    from playwright.sync_api import expect

    from tests.web.consolekit import no_sideways_scroll

    page.goto(f"{live.url}/simulator?flow={TEA}")
    edit = page.locator("#edit-flow")
    expect(edit).to_be_visible()
    expect(edit).to_have_attribute("href", f"/flows/{TEA}/edit")
    page.set_viewport_size({"width": 390, "height": 844})
    no_sideways_scroll(page)
    expect(page.locator("#back")).to_be_visible()
    page.click("#back")
    page.wait_for_url(f"{live.url}/flows")
