"""Voice notes in the simulator, in a real browser: Glific's text-and-voice file-search flow
(``../shared/glific-flows/filesearch_GPT_textandvoice.json``, read in place) answers a voice note
from the health FAQ PDF, and its spoken answer plays in the conversation.

The app runs under uvicorn with its own services, the platform's OpenAI key and base URL pointing
at the stub (chat, embeddings, ``/audio/transcriptions``, ``/audio/speech``). The voice notes are
spoken by espeak-ng: one sent as a file (OGG/Opus, as a phone makes it), one recorded through
Chromium's MediaRecorder from a fake microphone that plays espeak-ng's WAV. With
``SUTRA_UPDATE_SCREENSHOTS=1`` the first test refreshes ``docs/simulator-voice.png`` (390 px).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sutra.assistants.indexing import add_document
from sutra.assistants.store import Assistants
from sutra.config import ServerSettings, get_settings
from sutra.flows import parse_flow_file
from sutra.testing.accounts import ensure_user
from sutra.testing.documents import markdown_pdf
from sutra.testing.live import CHROMIUM, CHROMIUM_ARGS, LiveServer, require_browser
from sutra.testing.openai_server import OpenAIStubServer, Reply
from sutra.testing.voice import have_audio_tools, spoken
from sutra.web.app import create_app
from tests.web.consolekit import PHONE, PICTURES, REPO_ROOT, no_sideways_scroll, signed_in_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

FLOW_FILE = REPO_ROOT.parent / "shared" / "glific-flows" / "filesearch_GPT_textandvoice.json"
FAQ = REPO_ROOT / "tests" / "assistants" / "health_faq.md"
# The assistant id the flow names.
ASSISTANT = "asst_sYY3vlpf2rHKuCzlk750fidn"
API_KEY = "sk-simulator-voice-0123456789"
ASK = "Please ask your question regarding Glific platform"
WAIT = "Generating your response, please wait for 15-20 seconds"
TIMEOUT_MS = 30_000

pytestmark = [
    pytest.mark.skipif(not FLOW_FILE.is_file(), reason=f"the shared flow is not at {FLOW_FILE}"),
    pytest.mark.skipif(not have_audio_tools(), reason="apt-get install espeak-ng ffmpeg"),
]


@pytest.fixture(scope="module", autouse=True)
def browser_present() -> None:
    require_browser()


@pytest.fixture(scope="module")
def stub() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture(scope="module")
def flow_uuid() -> str:
    definition = json.loads(FLOW_FILE.read_text(encoding="utf-8"))
    uuid: str = definition["flows"][0]["definition"]["uuid"]
    return uuid


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, stub: OpenAIStubServer) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("simulator-voice")
    with pytest.MonkeyPatch.context() as env:
        # Nothing from this machine's environment reaches the app; the platform's LLM is the stub.
        for key in list(os.environ):
            if key.startswith(("SUTRA_", "OPENAI_", "OPEN_AI_", "WHATSAPP_", "GUPSHUP_")):
                env.delenv(key)
        env.setenv("OPENAI_API_KEY", API_KEY)
        env.setenv("OPENAI_BASE_URL", stub.base_url)
        get_settings.cache_clear()
        app = create_app(
            f"sqlite:///{folder / 'sutra.db'}",
            settings=ServerSettings(sutra_media_dir=str(folder / "media")),
            sweep_every=0.2,
        )
        server = LiveServer(app)
        server.start()
        try:
            repo = server.state.repo
            server.call(repo.import_flow_file(parse_flow_file(json.loads(FLOW_FILE.read_text()))))
            server.call(ensure_user(repo.sessions))
            assistants = Assistants(repo.sessions, repo.org)
            server.call(assistants.create("Health FAQ", key=ASSISTANT, instructions="Be kind."))
            pdf = markdown_pdf(FAQ.read_text(encoding="utf-8"))
            server.call(add_document(assistants, ASSISTANT, "health-faq.pdf", pdf))
            yield server
        finally:
            server.stop()
            get_settings.cache_clear()


def _start(page: Page, live: LiveServer, contact: str, flow_uuid: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{live.url}/simulator?contact={contact}&flow={flow_uuid}")
    # The flows are listed once the script runs: a click before that would submit the bare form.
    expect(page.locator("#flow-select")).to_have_value(flow_uuid)
    page.click("#start-button")
    expect(page.locator(".row.bot .text").first).to_contain_text(ASK, timeout=TIMEOUT_MS)


def _spoken_answer_plays(page: Page, live: LiveServer) -> None:
    """The last bot bubble plays audio Sutra serves: fetched by the page, typed and decodable."""
    player = page.locator(".row.bot audio").last
    src = player.get_attribute("src")
    # Sutra's own media folder (the page makes the link absolute).
    assert src and src.startswith(f"{live.url}/media/") and src.endswith(".ogg"), src
    served = page.evaluate(
        """async (src) => {
            const response = await fetch(src);
            const bytes = new Uint8Array(await response.arrayBuffer());
            return {
                status: response.status,
                type: response.headers.get("content-type"),
                head: String.fromCharCode(...bytes.slice(0, 4)),
                size: bytes.length,
            };
        }""",
        src,
    )
    assert served["status"] == 200 and served["type"] == "audio/ogg", served
    assert served["head"] == "OggS" and served["size"] > 1000, served
    # The browser's own decoder reads it: it knows how long the answer plays.
    page.wait_for_function(
        "(audio) => audio.readyState >= 1 && audio.duration > 1",
        arg=player.element_handle(),
        timeout=TIMEOUT_MS,
    )


def test_a_voice_note_is_heard_answered_and_the_answer_plays(
    browser: Browser, live: LiveServer, stub: OpenAIStubServer, flow_uuid: str
) -> None:
    from playwright.sync_api import expect

    stub.reset()
    question = "How can my family avoid malaria?"
    note = spoken(question)
    stub.hears(note, question)
    stub.plan(Reply("Sleep under an insecticide-treated net every night [1]."))
    answer = "Sleep under an insecticide-treated net every night.\n\nSource: health-faq.pdf, page 2"

    with signed_in_page(browser, live, "/simulator") as page:
        page.set_viewport_size(PHONE)
        _start(page, live, "priya", flow_uuid)
        # The tester picks an audio file, as a phone would record it.
        page.set_input_files(
            "#audio-file", files=[{"name": "question.ogg", "mimeType": "audio/ogg", "buffer": note}]
        )

        # The voice note is in the chat at once, playable.
        sent = page.locator(".row.contact audio")
        expect(sent).to_have_count(1)
        expect(sent).to_have_attribute("src", re.compile(rf"^{live.url}/media/\w+\.ogg$"))
        bot = page.locator(".row.bot .text")
        expect(bot.nth(1)).to_have_text(WAIT, timeout=TIMEOUT_MS)
        # Heard by the stub's /audio/transcriptions, answered from the PDF, spoken back.
        expect(bot.nth(2)).to_have_text(answer, timeout=TIMEOUT_MS)
        expect(page.locator(".row.bot audio")).to_have_count(1, timeout=TIMEOUT_MS)
        _spoken_answer_plays(page, live)
        heard, said = stub.audio_requests
        assert heard.endpoint == "transcriptions" and heard.data == note
        assert said.endpoint == "speech" and said.fields["input"] == answer
        # Ready for a follow-up question, as the flow asks for one.
        expect(page.locator("#chat-sub")).to_contain_text("waiting for a reply", timeout=TIMEOUT_MS)
        # The voice function's call is in the log beside the chat.
        expect(page.locator("#webhook-log .target")).to_contain_text(["voice-filesearch-gpt"])

        no_sideways_scroll(page)
        # The README's picture: the phone, the note sent and the answer spoken back.
        PICTURES.mkdir(parents=True, exist_ok=True)
        page.locator(".phone").screenshot(path=str(PICTURES / "simulator-voice.png"))


@pytest.fixture(scope="module")
def microphone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A WAV file Chromium's fake microphone plays (over and over) when a page records."""
    wav = tmp_path_factory.mktemp("microphone") / "question.wav"
    speech = subprocess.run(
        ["espeak-ng", "--stdout"], input=b"How do I make water safe to drink?", capture_output=True
    )
    wav.write_bytes(speech.stdout)
    return wav


@pytest.fixture(scope="module")
def recording_browser(browser: Browser, microphone: Path) -> Iterator[Browser]:
    """Chromium with a fake microphone, and no permission prompt (launched by the same
    Playwright as the shared browser: one Playwright per thread)."""
    flags = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}",
    ]
    launched = browser.browser_type.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS + flags
    )
    yield launched
    launched.close()


def test_a_recorded_voice_note_is_sent_as_a_whatsapp_voice_note(
    recording_browser: Browser, live: LiveServer, stub: OpenAIStubServer, flow_uuid: str
) -> None:
    from playwright.sync_api import expect

    stub.reset()
    # The recording is converted (WebM to OGG/Opus): the stub hears whatever it is given.
    stub.plan_audio("How do I make water safe to drink?")
    stub.plan(Reply("Boil it for one minute, then let it cool [1]."))

    with signed_in_page(recording_browser, live, "/simulator") as page:
        page.context.grant_permissions(["microphone"], origin=live.url)
        _start(page, live, "ravi", flow_uuid)
        record = page.locator("#record-button")
        expect(record).to_be_visible()
        record.click()
        expect(record).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#message-input")).to_have_attribute(
            "placeholder", "Recording… press ■ to send"
        )
        page.wait_for_timeout(1500)  # a second and a half of speech
        record.click()
        expect(record).to_have_attribute("aria-pressed", "false")

        expect(page.locator(".row.contact audio")).to_have_count(1, timeout=TIMEOUT_MS)
        expect(page.locator(".row.bot .text").nth(2)).to_contain_text(
            "Boil it for one minute, then let it cool.", timeout=TIMEOUT_MS
        )
        expect(page.locator(".row.bot audio")).to_have_count(1, timeout=TIMEOUT_MS)
        _spoken_answer_plays(page, live)
        # What reached the transcription endpoint is the OGG/Opus note a phone would send.
        heard = stub.audio_requests[0]
        assert heard.endpoint == "transcriptions" and heard.content_type == "audio/ogg"
        assert heard.data.startswith(b"OggS") and b"OpusHead" in heard.data[:64]
