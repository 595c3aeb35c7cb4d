"""Glific's text-and-voice file-search flow over the WhatsApp stand-in, on a real ``sutra serve``.

A text question is answered from an uploaded PDF with its source; a voice note (spoken by
espeak-ng in the test) arrives as WhatsApp delivers one (a media id), is downloaded, heard by the
OpenAI stub's audio endpoint, answered from the PDF and spoken back: an OGG/Opus voice note that
Sutra serves at a public URL and sends as a WhatsApp audio message.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from sutra.testing.documents import markdown_pdf
from sutra.testing.graph_api import (
    GraphAPIStubServer,
    whatsapp_media_payload,
    whatsapp_text_payload,
)
from sutra.testing.openai_server import OpenAIStubServer, Reply
from sutra.testing.voice import have_audio_tools, spoken
from sutra.voice import audio
from tests.e2e.test_e2e_filesearch import ASK, ASSISTANT, WAIT
from tests.server.conftest import ServerProcess, wait_for
from tests.server.test_whatsapp import send, texts

ROOT = Path(__file__).resolve().parents[2]
FLOW = ROOT.parent / "shared" / "glific-flows" / "filesearch_GPT_textandvoice.json"
FAQ = ROOT / "tests" / "assistants" / "health_faq.md"
PRIYA = "919876500001"

pytestmark = [
    pytest.mark.skipif(not FLOW.is_file(), reason=f"the shared flow is not at {FLOW}"),
    pytest.mark.skipif(
        not have_audio_tools(),
        reason="apt-get install espeak-ng ffmpeg",
    ),
]


@pytest.fixture
def server(server_env: dict[str, str], tmp_path: Path) -> ServerProcess:
    process = ServerProcess(
        {**server_env, "SUTRA_MEDIA_DIR": str(tmp_path / "media")}, tmp_path / "server.log"
    )
    # WhatsApp fetches the spoken answer itself: links must be absolute.
    process.env["SUTRA_PUBLIC_URL"] = process.url
    process.start()
    yield process
    process.stop()


def test_text_and_voice_questions_are_answered_from_the_pdf_over_whatsapp(
    server: ServerProcess, graph: GraphAPIStubServer, llm: OpenAIStubServer
) -> None:
    created = server.api("POST", "/api/v1/assistants", json={"name": "FAQ", "id": ASSISTANT})
    assert created.status_code == 201, created.text
    pdf = markdown_pdf(FAQ.read_text(encoding="utf-8"))
    uploaded = server.api(
        "POST",
        f"/api/v1/assistants/{ASSISTANT}/documents",
        files={"file": ("health-faq.pdf", pdf, "application/pdf")},
    )
    assert uploaded.status_code == 201, uploaded.text
    definition = json.loads(FLOW.read_text(encoding="utf-8"))
    assert server.api("POST", "/api/v1/flows/import", json=definition).status_code == 201
    flow_uuid = definition["flows"][0]["definition"]["uuid"]
    started = server.api(
        "POST", f"/api/v1/flows/{flow_uuid}/start", json={"urns": [f"whatsapp:{PRIYA}"]}
    )
    assert started.status_code == 202, started.text
    wait_for(lambda: texts(graph) == [ASK], what="the flow's question")

    # A text question: answered from the PDF, its source named.
    llm.plan(Reply("Malaria spreads through the bite of infected female Anopheles mosquitoes [1]."))
    assert send(server, whatsapp_text_payload(PRIYA, "How is malaria spread?")) == 200
    text_answer = (
        "Malaria spreads through the bite of infected female Anopheles mosquitoes.\n\n"
        "Source: health-faq.pdf, page 2"
    )
    wait_for(lambda: texts(graph)[1:] == [WAIT, text_answer], timeout=30, what="the answer")

    # A voice note, as WhatsApp delivers one: a media id the Graph API serves.
    note = spoken("How can my family avoid malaria?")
    llm.hears(note, "How can my family avoid malaria?")
    llm.plan(Reply("Sleep under an insecticide-treated net every night [1]."))
    media_id = graph.add_media(note, "audio/ogg; codecs=opus")
    payload = whatsapp_media_payload(PRIYA, "audio", media_id, "audio/ogg; codecs=opus", voice=True)
    assert send(server, payload) == 200

    voice_answer = (
        "Sleep under an insecticide-treated net every night.\n\nSource: health-faq.pdf, page 2"
    )
    wait_for(lambda: len(graph.sent) >= 6, timeout=60, what="the spoken answer")
    assert texts(graph)[3:5] == [WAIT, voice_answer]
    reply = graph.sent[5]
    assert reply["type"] == "audio" and set(reply["audio"]) == {"link"}, reply
    link = reply["audio"]["link"]
    assert link.startswith(f"{server.url}/media/") and link.endswith(".ogg")
    served = httpx.get(link, timeout=10)
    assert served.status_code == 200 and served.headers["content-type"] == "audio/ogg"
    assert served.content.startswith(b"OggS") and b"OpusHead" in served.content[:64]
    # The stub speaks a quarter second a word: the reply plays as long as the answer is.
    length = asyncio.run(audio.seconds(served.content, timeout=30))
    assert length == pytest.approx(0.25 * len(voice_answer.split()), abs=0.2)

    # The stub heard the very bytes the contact sent, and spoke the answer it was given.
    heard, said = llm.audio_requests
    assert heard.endpoint == "transcriptions" and heard.data == note
    assert heard.fields["model"] == "whisper-1" and heard.content_type == "audio/ogg"
    assert said.endpoint == "speech" and said.fields["input"] == voice_answer
    # The question heard is the one the assistant answered, on the text question's thread.
    assert llm.requests[-1]["messages"][-1]["content"].endswith("How can my family avoid malaria?")

    usage = server.api("GET", "/api/v1/usage?group=model").json()
    assert usage["total"]["audio_seconds"] >= length
