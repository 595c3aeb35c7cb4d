"""The chats and alerts pages in a real browser (Debian's headless Chromium driven by Playwright)
against the real app under uvicorn, with a WhatsApp number: signed webhooks in, the Graph API
stand-in taking what is sent out, and the OpenAI stub as the model.

A staff member signs in, reads a conversation with its GPT call, takes it over, answers the
contact (the stand-in receives the reply), sees the contact's next message arrive without a
reload and without reaching the flow, and hands back. With ``SUTRA_UPDATE_SCREENSHOTS=1`` the
tests refresh ``docs/console-chats.png`` and ``docs/console-chat.png``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import select

from sutra.config import ServerSettings, get_settings
from sutra.flows import parse_flow_file
from sutra.functions.services import Services
from sutra.llm.openai_provider import OpenAIProvider
from sutra.store import models as m
from sutra.testing.accounts import TEST_EMAIL, TEST_PASSWORD, ensure_user
from sutra.testing.graph_api import (
    DEFAULT_PHONE_NUMBER_ID,
    DEFAULT_TOKEN,
    GraphAPIStubServer,
    signed_webhook,
    whatsapp_media_payload,
    whatsapp_status_payload,
    whatsapp_text_payload,
)
from sutra.testing.live import LiveServer, require_browser
from sutra.testing.openai_server import OpenAIStubServer, Reply
from sutra.web.app import create_app
from tests.server.conftest import wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO_ROOT = Path(__file__).resolve().parents[2]
# The README's pictures are refreshed on request only, so a test run leaves the tree clean.
PICTURES = (
    REPO_ROOT / "docs"
    if os.environ.get("SUTRA_UPDATE_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "sutra-console"
)
API_KEY = "sk-chats-browser-0123456789"
APP_SECRET = "chats-browser-app-secret"
ASHA = "919812345678"
RAVI = "919800000002"
MEENA = "919800000003"
GREETING = "Hi Asha! Ask me a question and I will ask GPT."
QUESTION = "What should I feed a baby with a fever?"
ANSWER = (
    "Keep giving breast milk or the usual milk, and offer water often. If the fever is high, "
    "lasts more than two days, or the baby is under 3 months, see a health worker today."
)
REPLY = "Hello Asha, this is the helpline team. How old is your baby?"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module", autouse=True)
def browser_present() -> None:
    require_browser()


@pytest.fixture(scope="module")
def stub() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture(scope="module")
def graph() -> Iterator[GraphAPIStubServer]:
    with GraphAPIStubServer() as server:
        yield server


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, stub: OpenAIStubServer, graph: GraphAPIStubServer
) -> Iterator[LiveServer]:
    with pytest.MonkeyPatch.context() as env:
        # Nothing from this machine's environment (a real key, a database) reaches the app.
        for key in list(os.environ):
            if key.startswith(("SUTRA_", "OPENAI_", "OPEN_AI_", "WHATSAPP_", "GUPSHUP_")):
                env.delenv(key)
        get_settings.cache_clear()
        folder = tmp_path_factory.mktemp("chats")
        app = create_app(
            f"sqlite:///{folder / 'sutra.db'}",
            settings=ServerSettings(
                whatsapp_access_token=DEFAULT_TOKEN,
                whatsapp_phone_number_id=DEFAULT_PHONE_NUMBER_ID,
                whatsapp_api_url=graph.api_url,
                whatsapp_app_secret=APP_SECRET,
                sutra_media_dir=str(folder / "media"),
            ),
            services=Services(llm=OpenAIProvider(api_key=API_KEY, base_url=stub.base_url)),
            sweep_every=0.2,
        )
        server = LiveServer(app)
        server.start()
        try:
            data = json.loads((REPO_ROOT / "examples" / "ask_gpt.json").read_text())
            server.call(server.state.repo.import_flow_file(parse_flow_file(data)))
            server.call(ensure_user(server.state.repo.sessions))
            yield server
        finally:
            server.stop()
            get_settings.cache_clear()


def _write(live: LiveServer, phone: str, text: str, name: str) -> None:
    """The contact sends a WhatsApp message: Meta's signed webhook reaches Sutra."""
    raw, headers = signed_webhook(APP_SECRET, whatsapp_text_payload(phone, text, name=name))
    response = httpx.post(f"{live.url}/webhooks/whatsapp", content=raw, headers=headers)
    assert response.status_code == 200, response.text


def _status(live: LiveServer, wamid: str, status: str, phone: str) -> None:
    payload = whatsapp_status_payload(wamid, status, recipient_id=phone)
    raw, headers = signed_webhook(APP_SECRET, payload)
    response = httpx.post(f"{live.url}/webhooks/whatsapp", content=raw, headers=headers)
    assert response.status_code == 200, response.text


def _texts_to(graph: GraphAPIStubServer, phone: str) -> list[str]:
    return [b.get("text", {}).get("body", "") for b in graph.sent if b.get("to") == phone]


def _external_id(live: LiveServer, text: str) -> str:
    async def find() -> str | None:
        async with live.state.repo.sessions() as db:
            found: str | None = await db.scalar(
                select(m.Message.external_id).where(m.Message.text == text)
            )
            return found

    return str(wait_for(lambda: live.call(find()), what=f"the provider's id of {text!r}"))


@pytest.fixture(scope="module")
def conversations(live: LiveServer, stub: OpenAIStubServer, graph: GraphAPIStubServer) -> None:
    """Three contacts have written in; Asha has asked GPT a question and got its answer."""
    stub.plan(Reply(ANSWER))
    _write(live, ASHA, "askgpt", "Asha")
    wait_for(lambda: _texts_to(graph, ASHA) == [GREETING], what="the greeting")
    _write(live, ASHA, QUESTION, "Asha")
    wait_for(lambda: len(_texts_to(graph, ASHA)) == 2, what="the GPT answer")
    _write(live, RAVI, "My ration card is lost. Whom do I ask for a new one?", "Ravi Kumar")
    _write(live, MEENA, "Thank you for the vaccination reminder!", "Meena")
    wait_for(lambda: len(_chats(live)) == 3, what="three chats")


def _chats(live: LiveServer) -> list[Any]:
    async def rows() -> list[Any]:
        from sutra.web import chatstore

        return await chatstore.inbox(live.state.repo)

    return live.call(rows())


@pytest.fixture
def page(browser: Browser, live: LiveServer, conversations: None) -> Iterator[Page]:
    yield from _page(browser, live, {"width": 1280, "height": 860})


@pytest.fixture
def phone(browser: Browser, live: LiveServer, conversations: None) -> Iterator[Page]:
    yield from _page(browser, live, {"width": 390, "height": 844})


def _page(browser: Browser, live: LiveServer, viewport: Any) -> Iterator[Page]:
    context = browser.new_context(viewport=viewport)
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
    opened.on(
        "request",
        lambda request: (
            outside.append(request.url) if not request.url.startswith((live.url, "data:")) else None
        ),
    )
    opened.goto(f"{live.url}/chats")
    # Not signed in yet: the inbox sends the browser to the sign-in form first.
    opened.wait_for_url(f"{live.url}/login?next=/chats")
    opened.fill("input[name=email]", TEST_EMAIL)
    opened.fill("input[name=password]", TEST_PASSWORD)
    opened.click("button[type=submit]")
    opened.wait_for_url(f"{live.url}/chats")
    yield opened
    context.close()
    assert problems == [], problems
    # The pages work offline: they ask nothing of the internet.
    assert outside == [], outside


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    viewport = page.evaluate("() => window.innerWidth")
    assert width <= viewport, f"the page is {width} px wide in a {viewport} px window"


def _picture(page: Page, name: str) -> None:
    PICTURES.mkdir(parents=True, exist_ok=True)
    path = PICTURES / name
    page.screenshot(path=str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- tests -------------------------------------------------------------------------------------


def test_staff_read_take_over_reply_and_hand_back(
    page: Page, live: LiveServer, graph: GraphAPIStubServer, stub: OpenAIStubServer
) -> None:
    from playwright.sync_api import expect

    rows = page.locator(".chat-row")
    expect(rows).to_have_count(3)
    # Newest first, with the last message, and how many messages nobody has read yet.
    expect(rows.locator(".chat-name")).to_have_text(["Meena", "Ravi Kumar", "Asha"])
    asha = rows.filter(has_text="Asha")
    expect(asha.locator(".snippet")).to_have_text(f"Bot: {ANSWER[:119]}…")
    expect(asha.locator(".unread-count")).to_have_text("2")
    expect(rows.first.locator(".unread-count")).to_have_text("1")
    _picture(page, "console-chats.png")

    asha.locator("a").click()
    expect(page.locator(".chat-head h1")).to_have_text("Asha")
    expect(page.locator(".chat-head")).to_contain_text(f"+{ASHA}")
    items = page.locator(".item.msg")
    expect(items.locator(".text")).to_have_text(["askgpt", GREETING, QUESTION, ANSWER])
    answer = items.nth(3)
    expect(answer.locator(".by")).to_have_text("Ask GPT")
    expect(answer.locator(".status")).to_have_text("✓ sent")
    # The GPT call that produced the answer is folded under it, request and response inside.
    call = answer.locator("details.call")
    expect(call.locator("summary")).to_contain_text("parse_via_chat_gpt")
    expect(call.locator("pre").first).to_be_hidden()
    call.locator("summary").click()
    expect(call.locator("pre").first).to_contain_text(QUESTION)
    expect(call.locator("pre").last).to_contain_text("Keep giving breast milk")

    # Take over: the flows pause for Asha.
    page.click("#take-over")
    expect(page.locator("#taken-over")).to_be_visible()
    expect(page.locator("#taken-over-by")).to_have_text("Test Staff")
    expect(page.locator("#hand-back")).to_be_visible()
    expect(page.locator("#take-over")).to_be_hidden()
    asked = len(stub.requests)

    # Asha writes; the message shows up without a reload, and no flow answers it — not even
    # a keyword.
    _write(live, ASHA, "Can I talk to a person please?", "Asha")
    expect(items.last.locator(".text")).to_have_text(
        "Can I talk to a person please?", timeout=TIMEOUT_MS
    )
    _write(live, ASHA, "askgpt", "Asha")
    expect(items.last.locator(".text")).to_have_text("askgpt", timeout=TIMEOUT_MS)

    # The reply goes out through WhatsApp, and its delivery status follows it.
    page.fill("#reply-text", REPLY)
    page.press("#reply-text", "Enter")
    mine = page.locator(".item.msg.staff")
    expect(mine.locator(".text")).to_have_text(REPLY)
    expect(mine.locator(".by")).to_have_text("Test Staff (staff)")
    expect(page.locator("#reply-text")).to_have_value("")
    wait_for(lambda: REPLY in _texts_to(graph, ASHA), what="the reply at the Graph API")
    expect(mine.locator(".status")).to_have_text("✓ sent", timeout=TIMEOUT_MS)
    _status(live, _external_id(live, REPLY), "read", ASHA)
    expect(mine.locator(".status")).to_have_text("✓✓ read", timeout=TIMEOUT_MS)
    assert _texts_to(graph, ASHA) == [GREETING, ANSWER, REPLY]
    assert len(stub.requests) == asked

    # A label on the contact's message.
    question = items.filter(has_text="Can I talk to a person please?")
    question.locator(".add-label").click()
    page.fill(".label-form input", "needs a person")
    page.press(".label-form input", "Enter")
    expect(question.locator(".chip.label")).to_have_text("needs a person×", timeout=TIMEOUT_MS)
    # The picture for the README: the call folded again, the latest messages in view.
    call.locator("summary").click()
    expect(call.locator("pre").first).to_be_hidden()
    page.locator("#history").evaluate("el => el.scrollTop = el.scrollHeight")
    _picture(page, "console-chat.png")

    # Hand back: what came meanwhile is not replayed; the next message goes to the flow.
    page.click("#hand-back")
    expect(page.locator("#taken-over")).to_be_hidden()
    expect(page.locator("#take-over")).to_be_visible()
    live.call(live.state.pipeline.idle())
    assert _texts_to(graph, ASHA) == [GREETING, ANSWER, REPLY]
    _write(live, ASHA, "askgpt", "Asha")
    wait_for(lambda: len(_texts_to(graph, ASHA)) == 4, what="the flow answering again")
    assert _texts_to(graph, ASHA)[-1] == GREETING
    expect(items.last.locator(".text")).to_have_text(GREETING, timeout=TIMEOUT_MS)
    expect(items.last.locator(".by")).to_have_text("Ask GPT")

    # Back in the inbox, Asha's chat is read.
    page.click(".back")
    expect(
        page.locator(".chat-row").filter(has_text="Asha").locator(".unread-count")
    ).to_have_count(0)


def test_search_finds_a_contact_by_what_they_wrote(page: Page) -> None:
    from playwright.sync_api import expect

    page.fill("#chat-search", "ration card")
    page.press("#chat-search", "Enter")
    rows = page.locator(".chat-row")
    expect(rows).to_have_count(1)
    expect(rows.locator(".chat-name")).to_have_text("Ravi Kumar")
    expect(rows.locator(".snippet")).to_contain_text("ration card is lost")
    # By number, as people write it.
    page.fill("#chat-search", "+91 98000 00003")
    page.press("#chat-search", "Enter")
    expect(rows.locator(".chat-name")).to_have_text(["Meena"])
    page.fill("#chat-search", "no such words anywhere")
    page.press("#chat-search", "Enter")
    expect(page.locator(".chat-list .empty")).to_contain_text("No chat matches")


def test_at_390_px_the_inbox_and_a_chat_are_usable(phone: Page, live: LiveServer) -> None:
    from playwright.sync_api import expect

    expect(phone.locator(".chat-row")).to_have_count(3)
    _no_sideways_scroll(phone)
    phone.locator(".chat-row").filter(has_text="Ravi Kumar").locator("a").click()
    expect(phone.locator(".chat-head h1")).to_have_text("Ravi Kumar")
    _no_sideways_scroll(phone)
    # The reply box and the take-over button are on the screen, not below or beside it.
    for selector in ("#reply-text", "#send-reply", "#take-over"):
        box = phone.locator(selector).bounding_box()
        assert box is not None, selector
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, selector
        assert box["y"] + box["height"] <= 844, selector
    phone.fill("#reply-text", "We will call you today, Ravi.")
    phone.click("#send-reply")
    expect(phone.locator(".item.msg.staff .text")).to_have_text("We will call you today, Ravi.")
    _no_sideways_scroll(phone)
    phone.goto(f"{live.url}/alerts")
    expect(phone.locator("h1")).to_have_text("Alerts")
    _no_sideways_scroll(phone)


def test_a_failed_send_shows_in_the_chat_and_in_alerts(
    page: Page, live: LiveServer, graph: GraphAPIStubServer
) -> None:
    from playwright.sync_api import expect

    graph.plan_error(400, 131026, "(#131026) Message undeliverable")
    page.locator(".chat-row").filter(has_text="Meena").locator("a").click()
    page.fill("#reply-text", "Your next visit is on Monday.")
    page.click("#send-reply")
    failed = page.locator(".item.msg.staff")
    expect(failed.locator(".status")).to_have_text("failed", timeout=TIMEOUT_MS)
    expect(failed.locator(".msg-error")).to_contain_text("131026")
    # The nav counts it (on the next page load, or within 30 s); the alerts page names the
    # contact and the provider's reason.
    page.reload()
    expect(page.locator("#alerts-count")).to_have_text("1")
    page.click("nav >> text=Alerts")
    alert = page.locator(".alert").first
    expect(alert.locator(".badge")).to_have_text("Not sent")
    expect(alert).to_contain_text("Meena")
    expect(alert.locator(".alert-error")).to_contain_text("131026")
    expect(page.locator("#alerts-count")).to_be_hidden()


def test_a_voice_note_plays_in_the_chat(
    page: Page, live: LiveServer, graph: GraphAPIStubServer
) -> None:
    from playwright.sync_api import expect

    from sutra.testing.voice import have_audio_tools, spoken

    if not have_audio_tools():
        pytest.skip("espeak-ng and ffmpeg are needed to make a voice note")
    voice = graph.add_media(spoken("When is the next vaccination camp?"), "audio/ogg")
    payload = whatsapp_media_payload(MEENA, "audio", voice, "audio/ogg", voice=True, name="Meena")
    raw, headers = signed_webhook(APP_SECRET, payload)
    response = httpx.post(f"{live.url}/webhooks/whatsapp", content=raw, headers=headers)
    assert response.status_code == 200, response.text

    page.locator(".chat-row").filter(has_text="Meena").click()
    audio = page.locator(".bubble audio")
    expect(audio).to_have_count(1, timeout=15_000)
    # The browser loads and decodes what Sutra stored (WhatsApp's OGG/Opus), from Sutra itself.
    audio.evaluate("a => { a.preload = 'auto'; a.load(); }")
    page.wait_for_function(
        "() => { const a = document.querySelector('.bubble audio'); "
        "return a && a.readyState >= 1 && a.duration > 1; }",
        timeout=15_000,
    )
    assert audio.get_attribute("src").startswith("/media/")
