"""Voice notes sent from the simulator (``POST /simulator/api/voice``), on the real app.

A note arrives as a WhatsApp voice note does: OGG/Opus kept in the media folder, the message's
attachment ``audio/ogg:<its URL>``, so ``has_audio`` routes it and ``speech_to_text`` hears the
contact's last voice note (through the OpenAI stub's audio endpoint). Audio recorded by a browser
(WebM) is converted; anything that is not audio, or too large, is refused with a reason.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from sutra.config import ServerSettings
from sutra.store import models as m
from sutra.testing.accounts import sign_in
from sutra.testing.openai_server import OpenAIStubServer
from sutra.testing.voice import have_audio_tools, spoken
from sutra.web import simvoice
from sutra.web.app import create_app
from tests.conftest import STUB_API_KEY
from tests.support import eventually
from tests.web.test_simulator_api import Sim

pytestmark = pytest.mark.skipif(not have_audio_tools(), reason="apt-get install espeak-ng ffmpeg")

FLOW = "5e1f0000-0000-4000-8000-00000000a0d1"


@pytest.fixture
async def sim(
    tmp_path: Path, stub: OpenAIStubServer, clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Sim]:
    # The platform's key and base URL: speech_to_text goes to the stub's /audio/transcriptions.
    monkeypatch.setenv("OPENAI_API_KEY", STUB_API_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
    # The server's own services (the database included: "the contact's last voice note").
    app = create_app(
        f"sqlite:///{tmp_path / 'simulator.db'}",
        settings=ServerSettings(sutra_media_dir=str(tmp_path / "media")),
        sweep_every=0.2,
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as http,
    ):
        await sign_in(http, app.state.sutra.repo.sessions)
        opened = Sim(app, http)
        await opened.import_flows(listening_flow())
        yield opened


def listening_flow() -> dict[str, Any]:
    """Waits for a message; a voice note is heard with speech_to_text and its words repeated."""

    def uid() -> str:
        return str(uuid.uuid4())

    wait, hear, say, other = uid(), uid(), uid(), uid()
    audio, text, heard, failed = uid(), uid(), uid(), uid()
    exits = [uid() for _ in range(4)]
    return {
        "uuid": FLOW,
        "name": "Listen",
        "spec_version": "13.2.0",
        "language": "base",
        "type": "messaging",
        "expire_after_minutes": 60,
        "vars": [],
        "localization": {},
        "nodes": [
            {
                "uuid": wait,
                "actions": [],
                "router": {
                    "type": "switch",
                    "operand": "@input.text",
                    "wait": {"type": "msg"},
                    "result_name": "Question",
                    "cases": [
                        {
                            "uuid": uid(),
                            "type": "has_audio",
                            "arguments": [],
                            "category_uuid": audio,
                        }
                    ],
                    "categories": [
                        {"uuid": audio, "name": "Audio", "exit_uuid": exits[0]},
                        {"uuid": text, "name": "Other", "exit_uuid": exits[1]},
                    ],
                    "default_category_uuid": text,
                },
                "exits": [
                    {"uuid": exits[0], "destination_uuid": hear},
                    {"uuid": exits[1], "destination_uuid": other},
                ],
            },
            {
                "uuid": hear,
                "actions": [
                    {
                        "uuid": uid(),
                        "type": "call_webhook",
                        "method": "FUNCTION",
                        "url": "speech_to_text",
                        "result_name": "heard",
                        "headers": {},
                        # No URL: the contact's last voice note, as in Glific.
                        "body": '{"speech": "", "language": "english"}',
                    }
                ],
                "router": {
                    "type": "switch",
                    "operand": "@results.heard.category",
                    "cases": [
                        {
                            "uuid": uid(),
                            "type": "has_only_text",
                            "arguments": ["Success"],
                            "category_uuid": heard,
                        }
                    ],
                    "categories": [
                        {"uuid": heard, "name": "Success", "exit_uuid": exits[2]},
                        {"uuid": failed, "name": "Failure", "exit_uuid": exits[3]},
                    ],
                    "default_category_uuid": failed,
                },
                "exits": [
                    {"uuid": exits[2], "destination_uuid": say},
                    {"uuid": exits[3], "destination_uuid": None},
                ],
            },
            {
                "uuid": say,
                "actions": [
                    {"uuid": uid(), "type": "send_msg", "text": "Heard: @results.heard.message"}
                ],
                "exits": [{"uuid": uid(), "destination_uuid": None}],
            },
            {
                "uuid": other,
                "actions": [{"uuid": uid(), "type": "send_msg", "text": "Send a voice note."}],
                "exits": [{"uuid": uid(), "destination_uuid": None}],
            },
        ],
    }


async def send_voice(
    sim: Sim, data: bytes, content_type: str, contact: str = "asha", name: str = "note.ogg"
) -> httpx.Response:
    return await sim.http.post(
        "/simulator/api/voice",
        data={"contact": contact},
        files={"file": (name, data, content_type)},
    )


async def inbound(sim: Sim) -> list[m.Message]:
    async with sim.state.repo.sessions() as db:
        return list(
            await db.scalars(
                select(m.Message).where(m.Message.direction == "in").order_by(m.Message.id)
            )
        )


async def test_a_voice_note_reaches_the_flow_as_a_whatsapp_one_would(
    sim: Sim, stub: OpenAIStubServer, tmp_path: Path
) -> None:
    assert (await sim.start("asha", FLOW)).status_code == 202
    note = spoken("When is the next vaccination camp?")
    stub.hears(note, "When is the next vaccination camp?")

    sent = await send_voice(sim, note, "audio/ogg; codecs=opus")

    assert sent.status_code == 202, sent.text
    [attachment] = sent.json()["attachments"]
    mime, _, url = attachment.partition(":")
    assert mime == "audio/ogg" and url.startswith("/media/") and url.endswith(".ogg")
    # Kept byte for byte, as the pipeline keeps a note downloaded from WhatsApp, and served.
    assert (tmp_path / "media" / url.removeprefix("/media/")).read_bytes() == note
    served = await sim.http.get(url)
    assert served.status_code == 200 and served.headers["content-type"] == "audio/ogg"
    assert served.content == note

    async def answer() -> list[str]:
        return await sim.bot_texts("asha")

    assert await eventually(answer) == ["Heard: When is the next vaccination camp?"]
    [message] = await inbound(sim)
    assert (message.channel, message.text, message.attachments) == ("sim", "", [attachment])
    # The stub heard the very bytes the tester sent.
    [heard] = stub.audio_requests
    assert heard.endpoint == "transcriptions" and heard.data == note
    # The page shows it like any message: the poll returns the note with its player's URL.
    [polled] = [x for x in (await sim.messages("asha"))["messages"] if x["direction"] == "in"]
    assert polled["attachments"] == [attachment]


async def test_a_browser_recording_becomes_an_ogg_opus_voice_note(
    sim: Sim, stub: OpenAIStubServer, tmp_path: Path
) -> None:
    from sutra.voice import audio

    # What Chromium's MediaRecorder makes: Opus in WebM.
    webm = await audio.run(
        ["ffmpeg", "-v", "error", "-i", "pipe:0", "-c:a", "libopus", "-f", "webm", "pipe:1"],
        spoken("Where is the clinic?"),
        timeout=60,
    )
    assert simvoice.container(webm) == "webm"
    stub.plan_audio("Where is the clinic?")
    assert (await sim.start("ravi", FLOW)).status_code == 202

    sent = await send_voice(sim, webm, "audio/webm;codecs=opus", contact="ravi", name="rec.webm")

    assert sent.status_code == 202, sent.text
    [attachment] = sent.json()["attachments"]
    assert attachment.startswith("audio/ogg:/media/") and attachment.endswith(".ogg")
    stored = (tmp_path / "media" / attachment.rsplit("/", 1)[1]).read_bytes()
    assert stored.startswith(b"OggS") and b"OpusHead" in stored[:64]
    assert await audio.seconds(stored, timeout=30) > 0.5

    async def answer() -> list[str]:
        return await sim.bot_texts("ravi")

    assert await eventually(answer) == ["Heard: Where is the clinic?"]
    [heard] = stub.audio_requests
    assert heard.data == stored and heard.content_type == "audio/ogg"


async def test_only_audio_within_whatsapps_limit_is_taken(sim: Sim) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    refused = {
        "an image": await send_voice(sim, png, "image/png", name="cat.png"),
        "text called audio": await send_voice(sim, b"hello there", "audio/ogg"),
        "a PDF": await send_voice(sim, b"%PDF-1.7 ...", "application/pdf", name="a.pdf"),
        "nothing": await send_voice(sim, b"", "audio/ogg"),
        # Just over 16 MB: read, then refused by the route.
        "too long": await send_voice(sim, b"OggS" + b"\x00" * simvoice.MAX_BYTES, "audio/ogg"),
        # Far over: refused before the body is read.
        "far too long": await send_voice(sim, b"OggS" + b"\x00" * (17 * 2**20), "audio/ogg"),
        "a bad name": await send_voice(sim, spoken("hi"), "audio/ogg", contact="two words"),
    }
    statuses = {what: response.status_code for what, response in refused.items()}
    assert statuses == {
        "an image": 415,
        "text called audio": 415,
        "a PDF": 415,
        "nothing": 422,
        "too long": 413,
        "far too long": 413,
        "a bad name": 422,
    }
    assert refused["an image"].json()["detail"] == (
        "only audio can be sent as a voice note, not image/png"
    )
    assert "not audio" in refused["text called audio"].json()["detail"]
    assert refused["too long"].json()["detail"] == "the voice note is larger than 16 MB"
    assert "16 MB" in refused["far too long"].json()["detail"]
    # Nothing refused was stored as a message.
    assert await inbound(sim) == []
    # A form without a file names what is missing.
    no_file = await sim.http.post("/simulator/api/voice", data={"contact": "asha"})
    assert no_file.status_code == 422 and "file" in no_file.text
    # Staff only, like the rest of the simulator.
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as stranger:
        files = {"file": ("note.ogg", spoken("hi"), "audio/ogg")}
        anonymous = await stranger.post(
            "/simulator/api/voice", data={"contact": "asha"}, files=files
        )
    assert anonymous.status_code == 401
    assert await inbound(sim) == []
