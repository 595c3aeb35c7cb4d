"""The simulator's JSON API, on the real app (lifespan, pipeline, SQLite) with the OpenAI stub.

Requests go through httpx's ASGI transport inside the app's own lifespan, so the pipeline's
background work runs on the test's event loop and nothing listens on a port. The client signs in
first, as the simulator is for staff only.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from sutra.config import ServerSettings
from sutra.flows import parse_flow_file
from sutra.functions.services import Services
from sutra.llm.openai_provider import OpenAIProvider
from sutra.store import models as m
from sutra.testing.accounts import sign_in
from sutra.testing.openai_server import OpenAIStubServer, Reply
from sutra.web import simulator
from sutra.web.app import create_app
from sutra.web.state import AppState
from tests.conftest import STUB_API_KEY
from tests.support import eventually

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ASK_GPT = "5b8e4d3a-6f0e-4c1d-9a55-2f4a1e0c9b10"
API_KEY = STUB_API_KEY
ANSWER = "Photosynthesis is how plants turn light, water and air into sugar."

T = TypeVar("T")


# --- fixtures ----------------------------------------------------------------------------------


@dataclass
class Sim:
    app: FastAPI
    http: httpx.AsyncClient

    @property
    def state(self) -> AppState:
        state: AppState = self.app.state.sutra
        return state

    async def import_flows(self, data: dict[str, Any]) -> None:
        await self.state.repo.import_flow_file(parse_flow_file(data), created_by="test")

    async def messages(self, contact: str, after: int = 0) -> dict[str, Any]:
        response = await self.http.get(
            "/simulator/api/messages", params={"contact": contact, "after": after}
        )
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    async def details(self, contact: str) -> dict[str, Any]:
        response = await self.http.get("/simulator/api/contact", params={"contact": contact})
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    async def start(self, contact: str, flow_uuid: str) -> httpx.Response:
        return await self.http.post(
            "/simulator/api/start", json={"flow_uuid": flow_uuid, "contact": contact}
        )

    async def send(self, contact: str, text: str) -> httpx.Response:
        return await self.http.post(
            "/simulator/api/messages", json={"contact": contact, "text": text}
        )

    async def bot_texts(self, contact: str) -> list[str]:
        return [
            message["text"]
            for message in (await self.messages(contact))["messages"]
            if message["direction"] == "out"
        ]


@asynccontextmanager
async def _open(
    tmp_path: Path, stub: OpenAIStubServer, settings: ServerSettings
) -> AsyncIterator[Sim]:
    app = create_app(
        f"sqlite:///{tmp_path / 'simulator.db'}",
        settings=settings,
        services=Services(llm=OpenAIProvider(api_key=API_KEY, base_url=stub.base_url)),
        sweep_every=0.2,
    )
    simulator.install(app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as http,
    ):
        # The simulator is for signed-in staff; the client also sends the CSRF header from now on.
        await sign_in(http, app.state.sutra.repo.sessions)
        yield Sim(app, http)


@pytest.fixture
async def sim(tmp_path: Path, stub: OpenAIStubServer, clean_env: None) -> AsyncIterator[Sim]:
    async with _open(tmp_path, stub, ServerSettings()) as opened:
        yield opened


def ask_gpt() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / "ask_gpt.json").read_text())
    return data


def tea_flow() -> dict[str, Any]:
    """A bare flow definition: a question with quick replies and an image, then a reply."""

    def uid() -> str:
        return str(uuid.uuid4())

    ask, wait, done = uid(), uid(), uid()
    yes, no, other = uid(), uid(), uid()
    to_wait, to_done = uid(), [uid(), uid(), uid()]
    return {
        "uuid": "c0ffee00-0000-4000-8000-000000000001",
        "name": "Tea",
        "spec_version": "13.2.0",
        "language": "base",
        "type": "messaging",
        "expire_after_minutes": 60,
        "vars": [],
        "localization": {},
        "nodes": [
            {
                "uuid": ask,
                "actions": [
                    {
                        "uuid": uid(),
                        "type": "send_msg",
                        "text": "Do you like tea?",
                        "quick_replies": ["Yes", "No"],
                        "attachments": ["image/png:https://example.org/tea.png"],
                    }
                ],
                "exits": [{"uuid": to_wait, "destination_uuid": wait}],
            },
            {
                "uuid": wait,
                "actions": [],
                "router": {
                    "type": "switch",
                    "operand": "@input.text",
                    "wait": {"type": "msg"},
                    "result_name": "Likes Tea",
                    "cases": [
                        {
                            "uuid": uid(),
                            "type": "has_any_word",
                            "arguments": ["yes"],
                            "category_uuid": yes,
                        },
                        {
                            "uuid": uid(),
                            "type": "has_any_word",
                            "arguments": ["no"],
                            "category_uuid": no,
                        },
                    ],
                    "categories": [
                        {"uuid": yes, "name": "Yes", "exit_uuid": to_done[0]},
                        {"uuid": no, "name": "No", "exit_uuid": to_done[1]},
                        {"uuid": other, "name": "Other", "exit_uuid": to_done[2]},
                    ],
                    "default_category_uuid": other,
                },
                "exits": [{"uuid": e, "destination_uuid": done} for e in to_done],
            },
            {
                "uuid": done,
                "actions": [
                    {
                        "uuid": uid(),
                        "type": "send_msg",
                        "text": "Noted: @results.likes_tea.category",
                    }
                ],
                "exits": [{"uuid": uid(), "destination_uuid": None}],
            },
        ],
    }


# --- tests -------------------------------------------------------------------------------------


async def test_page_and_static_files_are_served(sim: Sim) -> None:
    page = await sim.http.get("/simulator")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/simulator/static/simulator.js" in page.text
    for name, kind in (("simulator.js", "javascript"), ("simulator.css", "text/css")):
        response = await sim.http.get(f"/simulator/static/{name}")
        assert response.status_code == 200, name
        assert kind in response.headers["content-type"]
    # Nothing on the page may come from the internet: the server can run offline.
    for text in (page.text, (await sim.http.get("/simulator/static/simulator.css")).text):
        assert "http://" not in text
        assert "https://" not in text


async def test_needs_a_signed_in_user_and_the_csrf_header(sim: Sim) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app), base_url="http://sim"
    ) as stranger:
        page = await stranger.get("/simulator")
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=/simulator"
        for path in ("/simulator/api/flows", "/simulator/api/messages?contact=asha"):
            assert (await stranger.get(path)).status_code == 401, path
        refused = await stranger.post(
            "/simulator/api/messages", json={"contact": "asha", "text": "hi"}
        )
        assert refused.status_code == 401
    # Signed in, but a state-changing request without the header is refused (CSRF).
    token = sim.http.headers.pop("X-CSRFToken")
    try:
        assert (await sim.send("asha", "hi")).status_code == 403
        assert (await sim.http.get("/simulator/api/flows")).status_code == 200
    finally:
        sim.http.headers["X-CSRFToken"] = token
    assert (await sim.send("asha", "hi")).status_code == 202


async def test_lists_flows_with_keywords(sim: Sim) -> None:
    await sim.import_flows(ask_gpt())
    await sim.import_flows(tea_flow())
    response = await sim.http.get("/simulator/api/flows")
    assert response.status_code == 200
    assert response.json()["flows"] == [
        {"uuid": ASK_GPT, "name": "Ask GPT", "keywords": ["askgpt"]},
        {"uuid": "c0ffee00-0000-4000-8000-000000000001", "name": "Tea", "keywords": []},
    ]


async def test_chat_with_gpt_shows_answer_results_and_webhook_log(
    sim: Sim, stub: OpenAIStubServer
) -> None:
    await sim.import_flows(ask_gpt())
    started = await sim.start("asha", ASK_GPT)
    assert started.status_code == 202, started.text
    assert started.json() == {
        "contact": "asha",
        "urn": "sim:asha",
        "flow": {"uuid": ASK_GPT, "name": "Ask GPT", "keywords": []},
    }

    async def greeted() -> list[str]:
        return [t for t in await sim.bot_texts("asha") if t.startswith("Hi asha!")]

    await eventually(greeted)
    first = await sim.messages("asha")
    assert first["pending"] is False
    seen = first["last_id"]

    # A slow model: the reply is pending for a while, which the page shows as "typing…".
    stub.plan(Reply(ANSWER, delay=0.5))
    sent = await sim.send("asha", "What is photosynthesis?")
    assert sent.status_code == 202, sent.text
    assert sent.json()["id"] > seen
    assert (await sim.messages("asha", after=seen))["pending"] is True

    async def answered() -> dict[str, Any] | None:
        data = await sim.messages("asha", after=seen)
        # A reply is stored "queued" and marked "sent" once the channel took it.
        out = [
            (msg["text"], msg["status"]) for msg in data["messages"] if msg["direction"] == "out"
        ]
        return data if out == [(ANSWER, "sent")] and not data["pending"] else None

    data = await eventually(answered)
    inbound, outbound = data["messages"]
    assert (inbound["direction"], inbound["text"]) == ("in", "What is photosynthesis?")
    assert outbound["quick_replies"] == [] and outbound["attachments"] == []
    assert data["last_id"] == outbound["id"]
    # Nothing new: the same cursor comes back and no message repeats.
    again = await sim.messages("asha", after=data["last_id"])
    assert again["messages"] == [] and again["last_id"] == data["last_id"]

    question = stub.requests[-1]["messages"][-1]
    assert question == {"role": "user", "content": "What is photosynthesis?"}

    details = await sim.details("asha")
    assert details["contact"]["urn"] == "sim:asha"
    assert details["contact"]["name"] == "asha"
    assert details["session"]["status"] == "completed"
    assert details["session"]["flow_name"] == "Ask GPT"
    results = {r["key"]: r for r in details["results"]}
    assert results["question"]["value"] == "What is photosynthesis?"
    assert results["question"]["category"] == "All Responses"
    assert results["question"]["flow_name"] == "Ask GPT"
    assert results["gpt_response"]["category"] == "Success"
    # A webhook result's fields, as the flow reads them: @results.gpt_response.parsed_msg
    assert results["gpt_response"]["extra"]["parsed_msg"] == ANSWER
    assert results["question"]["extra"] == {}
    [call] = details["webhooks"]
    assert call["method"] == "FUNCTION"
    assert call["url"] == "parse_via_chat_gpt"
    assert call["status_code"] == 200
    assert call["error"] is None
    assert call["result_name"] == "gpt_response"
    assert call["llm_model"] == "gpt-4o"
    assert call["prompt_tokens"] > 0 and call["completion_tokens"] == len(ANSWER.split())
    assert call["duration_ms"] >= 400  # the planned half-second delay
    assert details["pending"] is False
    assert details["start_error"] is None


async def test_quick_replies_and_attachments_reach_the_page(sim: Sim) -> None:
    await sim.import_flows(tea_flow())
    flow = tea_flow()["uuid"]
    assert (await sim.start("ravi", flow)).status_code == 202

    async def question() -> dict[str, Any] | None:
        out = [m for m in (await sim.messages("ravi"))["messages"] if m["direction"] == "out"]
        return out[0] if out else None

    asked = await eventually(question)
    assert asked["text"] == "Do you like tea?"
    assert asked["quick_replies"] == ["Yes", "No"]
    assert asked["attachments"] == ["image/png:https://example.org/tea.png"]
    assert asked["interactive_type"] is None

    # A quick reply is sent back as its text, like a tap on a WhatsApp button.
    assert (await sim.send("ravi", "Yes")).status_code == 202

    async def noted() -> list[str]:
        return [t for t in await sim.bot_texts("ravi") if t == "Noted: Yes"]

    await eventually(noted)
    details = await sim.details("ravi")
    assert [(r["name"], r["value"], r["category"]) for r in details["results"]] == [
        ("Likes Tea", "Yes", "Yes")
    ]
    assert details["webhooks"] == []
    assert details["session"]["status"] == "completed"


async def test_a_keyword_starts_its_flow_like_on_a_channel(sim: Sim) -> None:
    await sim.import_flows(ask_gpt())
    assert (await sim.send("kiran", "askgpt")).status_code == 202

    async def greeted() -> list[str]:
        return [t for t in await sim.bot_texts("kiran") if t.startswith("Hi kiran!")]

    await eventually(greeted)
    details = await sim.details("kiran")
    assert details["session"]["status"] == "waiting"
    assert details["session"]["wait_kind"] == "msg"


async def test_starting_again_interrupts_the_waiting_session(sim: Sim) -> None:
    await sim.import_flows(ask_gpt())
    for _ in range(2):
        assert (await sim.start("mei", ASK_GPT)).status_code == 202

        async def settled() -> bool:
            return not (await sim.messages("mei"))["pending"]

        await eventually(settled)
    assert len(await sim.bot_texts("mei")) == 2
    async with sim.state.repo.sessions() as db:
        statuses = list(await db.scalars(select(m.FlowSession.status).order_by(m.FlowSession.id)))
    assert statuses == ["interrupted", "waiting"]


async def test_a_double_click_on_start_leaves_one_waiting_session(sim: Sim) -> None:
    await sim.import_flows(ask_gpt())
    # Both starts run at once; the contact's lease makes the second wait for the first.
    first, second = await asyncio.gather(sim.start("noor", ASK_GPT), sim.start("noor", ASK_GPT))
    assert (first.status_code, second.status_code) == (202, 202)

    async def settled() -> bool:
        return not (await sim.messages("noor"))["pending"]

    await eventually(settled)
    async with sim.state.repo.sessions() as db:
        statuses = sorted(await db.scalars(select(m.FlowSession.status)))
    assert statuses == ["interrupted", "waiting"]


async def test_messages_are_stored_like_channel_messages(sim: Sim) -> None:
    for text in ("hello", "hello"):
        assert (await sim.send("zoe", text)).status_code == 202
    async with sim.state.repo.sessions() as db:
        rows = list(await db.scalars(select(m.Message).order_by(m.Message.id)))
        contact = await db.scalar(select(m.Contact).where(m.Contact.urn == "sim:zoe"))
    assert contact is not None and contact.name == "zoe"
    assert [(r.direction, r.channel, r.text) for r in rows] == [("in", "sim", "hello")] * 2
    # Each send is its own message: distinct external ids, so no dedup swallows a repeat.
    assert len({r.external_id for r in rows}) == 2
    assert all(r.external_id and r.external_id.startswith("sim-") for r in rows)

    async def handled() -> bool:
        data = await sim.messages("zoe")
        return not data["pending"]

    # No flow listens: the messages are handled (kept for staff), and nothing is pending.
    await eventually(handled)


async def test_refuses_bad_requests(sim: Sim) -> None:
    missing = await sim.start("asha", "00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert (await sim.start("two words", ASK_GPT)).status_code == 422
    assert (await sim.start("", ASK_GPT)).status_code == 422
    assert (await sim.send("asha", "")).status_code == 422
    assert (await sim.send("asha", "   ")).status_code == 422
    assert (await sim.send("x" * 65, "hi")).status_code == 422
    bad_poll = await sim.http.get("/simulator/api/messages", params={"contact": "a:b"})
    assert bad_poll.status_code == 422
    # A contact nobody has used yet is simply empty, and reading it creates nothing.
    assert await sim.messages("nobody") == {"messages": [], "pending": False, "last_id": 0}
    assert await sim.details("nobody") == {
        "contact": None,
        "session": None,
        "results": [],
        "webhooks": [],
        "pending": False,
        "start_error": None,
    }
    async with sim.state.repo.sessions() as db:
        assert await db.scalar(select(m.Contact).where(m.Contact.urn == "sim:nobody")) is None


async def test_test_contacts_never_reach_whatsapp(
    tmp_path: Path, stub: OpenAIStubServer, clean_env: None
) -> None:
    # WhatsApp is configured (at a closed loopback port: any attempt to use it would fail),
    # yet replies to sim: contacts go to the simulator channel and are marked sent.
    settings = ServerSettings(
        whatsapp_access_token="token",
        whatsapp_phone_number_id="12345",
        whatsapp_api_url="http://127.0.0.1:9/v21.0",
    )
    async with _open(tmp_path, stub, settings) as sim:
        await sim.import_flows(ask_gpt())
        assert "whatsapp" in sim.state.pipeline.channels
        assert (await sim.start("asha", ASK_GPT)).status_code == 202

        async def delivered() -> list[dict[str, Any]]:
            return [
                msg
                for msg in (await sim.messages("asha"))["messages"]
                if msg["direction"] == "out" and msg["status"] == "sent"
            ]

        await eventually(delivered)
        async with sim.state.repo.sessions() as db:
            channels = set(
                await db.scalars(select(m.Message.channel).where(m.Message.direction == "out"))
            )
        assert channels == {"sim"}
