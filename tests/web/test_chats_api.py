"""Chats and alerts through the REST API and the pages' JSON, on the real app (lifespan,
pipeline, SQLite), with signed WhatsApp webhooks in and the Graph API stand-in receiving what
is sent out, and the OpenAI stub as the model."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from sutra.config import ServerSettings
from sutra.flows import parse_flow_file
from sutra.functions.services import Services
from sutra.llm.openai_provider import OpenAIProvider
from sutra.store import models as m
from sutra.testing.accounts import sign_in
from sutra.testing.graph_api import (
    DEFAULT_PHONE_NUMBER_ID,
    DEFAULT_TOKEN,
    GraphAPIStubServer,
    signed_webhook,
    whatsapp_text_payload,
)
from sutra.testing.openai_server import ErrorReply, OpenAIStubServer
from sutra.web.app import create_app
from sutra.web.state import AppState
from tests.conftest import STUB_API_KEY
from tests.support import eventually

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TOKEN = "chats-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
APP_SECRET = "chats-app-secret"
ASHA = "919812345678"
RAVI = "919800000002"
GREETING = "Hi Asha! Ask me a question and I will ask GPT."


@pytest.fixture(scope="module")
def graph_server() -> Iterator[GraphAPIStubServer]:
    with GraphAPIStubServer() as server:
        yield server


@pytest.fixture
def graph(graph_server: GraphAPIStubServer) -> GraphAPIStubServer:
    graph_server.reset()
    return graph_server


@dataclass
class Console:
    app: FastAPI
    http: httpx.AsyncClient
    graph: GraphAPIStubServer

    @property
    def state(self) -> AppState:
        state: AppState = self.app.state.sutra
        return state

    async def write(self, phone: str, text: str, name: str = "Asha") -> None:
        raw, headers = signed_webhook(APP_SECRET, whatsapp_text_payload(phone, text, name=name))
        response = await self.http.post("/webhooks/whatsapp", content=raw, headers=headers)
        assert response.status_code == 200, response.text

    async def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.request(method, f"/api/v1{path}", headers=AUTH, **kwargs)

    async def chats(self, q: str = "") -> list[dict[str, Any]]:
        response = await self.api("GET", "/chats", params={"q": q})
        assert response.status_code == 200, response.text
        results: list[dict[str, Any]] = response.json()["results"]
        return results

    async def uuid_of(self, phone: str) -> str:
        for chat in await self.chats():
            if chat["contact"]["urn"] == f"whatsapp:{phone}":
                return str(chat["contact"]["uuid"])
        raise AssertionError(f"no chat with {phone}")

    async def history(self, uuid: str) -> dict[str, Any]:
        response = await self.api("GET", f"/chats/{uuid}")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def texts_to(self, phone: str) -> list[str]:
        return [b.get("text", {}).get("body", "") for b in self.graph.sent if b.get("to") == phone]


@pytest.fixture
async def console(
    tmp_path: Path, stub: OpenAIStubServer, graph: GraphAPIStubServer, clean_env: None
) -> AsyncIterator[Console]:
    settings = ServerSettings(
        sutra_api_token=TOKEN,
        whatsapp_access_token=DEFAULT_TOKEN,
        whatsapp_phone_number_id=DEFAULT_PHONE_NUMBER_ID,
        whatsapp_api_url=graph.api_url,
        whatsapp_app_secret=APP_SECRET,
        sutra_media_dir=str(tmp_path / "media"),
    )
    app = create_app(
        f"sqlite:///{tmp_path / 'chats.db'}",
        settings=settings,
        services=Services(llm=OpenAIProvider(api_key=STUB_API_KEY, base_url=stub.base_url)),
        sweep_every=0.2,
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sutra") as http,
    ):
        state: AppState = app.state.sutra
        data = json.loads((EXAMPLES / "ask_gpt.json").read_text())
        await state.repo.import_flow_file(parse_flow_file(data), created_by="test")
        await sign_in(http, state.repo.sessions)
        yield Console(app, http, graph)


async def _greeted(console: Console, phone: str, count: int = 1) -> None:
    async def sent() -> bool:
        return len(console.texts_to(phone)) >= count

    await eventually(sent, timeout=10)


async def test_inbox_lists_conversations_newest_first_with_unread_and_search(
    console: Console,
) -> None:
    await console.write(ASHA, "askgpt", name="Asha")
    await _greeted(console, ASHA)
    await console.write(RAVI, "hello there, I need help with my ration card", name="Ravi")

    async def both() -> list[dict[str, Any]]:
        found = await console.chats()
        return found if len(found) == 2 else []

    chats = await eventually(both)
    assert [c["contact"]["name"] for c in chats] == ["Ravi", "Asha"]
    assert chats[0]["contact"]["phone"] == f"+{RAVI}"
    assert chats[0]["last_message"]["text"].startswith("hello there")
    assert chats[0]["unread"] == 1
    # Asha's latest message is the flow's greeting; her "askgpt" is still unread.
    assert chats[1]["last_message"]["text"] == GREETING
    assert chats[1]["unread"] == 1

    # By text (any case), by name, by phone number written the way people write it.
    assert [c["contact"]["name"] for c in await console.chats("RATION")] == ["Ravi"]
    ration = (await console.chats("ration"))[0]
    assert "ration card" in ration["last_message"]["text"]
    assert [c["contact"]["name"] for c in await console.chats("asha")] == ["Asha"]
    assert [c["contact"]["name"] for c in await console.chats("+91 98123-45678")] == ["Asha"]
    assert await console.chats("nobody said this") == []
    # A search pattern is text, not SQL wildcards.
    assert await console.chats("%") == []

    # Opening the chat (the page) reads it; the API can mark it read too.
    ravi = chats[0]["contact"]["uuid"]
    page = await console.http.get(f"/chats/{ravi}")
    assert page.status_code == 200
    assert "ration card" in page.text
    asha = chats[1]["contact"]["uuid"]
    assert (await console.api("POST", f"/chats/{asha}/read")).status_code == 200
    assert [c["unread"] for c in await console.chats()] == [0, 0]


async def test_history_shows_status_flow_and_the_gpt_call_under_its_answer(
    console: Console,
) -> None:
    await console.write(ASHA, "askgpt")
    await _greeted(console, ASHA)
    await console.write(ASHA, "What is photosynthesis?")
    await _greeted(console, ASHA, 2)
    uuid = await console.uuid_of(ASHA)

    async def answered() -> dict[str, Any] | None:
        data = await console.history(uuid)
        out = [msg for msg in data["messages"] if msg["direction"] == "out"]
        return data if len(out) == 2 and out[-1]["status"] == "sent" else None

    data = await eventually(answered)
    messages = data["messages"]
    assert [(msg["direction"], msg["text"]) for msg in messages] == [
        ("in", "askgpt"),
        ("out", GREETING),
        ("in", "What is photosynthesis?"),
        ("out", "echo: What is photosynthesis?"),
    ]
    greeting, answer = messages[1], messages[3]
    assert greeting["flow"]["name"] == "Ask GPT" and greeting["calls"] == []
    assert answer["flow"]["name"] == "Ask GPT"
    [call] = answer["calls"]
    assert call["url"] == "parse_via_chat_gpt"
    assert call["status_code"] == 200
    assert call["request"]["body"]["question_text"] == "What is photosynthesis?"
    assert call["llm"]["model"]
    assert data["other_calls"] == []
    assert data["contact"]["window"]["open"] is True

    # The page folds the call under the answer.
    page = await console.http.get(f"/chats/{uuid}")
    assert '<details class="call">' in page.text
    assert "parse_via_chat_gpt" in page.text

    # A delivery status moves the message forward, and the poll reports it.
    poll = await console.http.get(
        f"/chats/{uuid}/poll", params={"after": messages[-1]["id"], "since": 0}
    )
    assert poll.status_code == 200
    keys = [item["key"] for item in poll.json()["items"]]
    assert f"m-{answer['uuid']}" in keys


async def test_a_reply_is_stored_then_sent_through_whatsapp(console: Console) -> None:
    await console.write(ASHA, "I have a question for a person")
    uuid = await eventually(lambda: _chat_uuid(console, ASHA))

    response = await console.api("POST", f"/chats/{uuid}/messages", json={"text": "Hello Asha!"})
    assert response.status_code == 202, response.text
    sent = response.json()
    assert sent["status"] == "queued" and sent["sent_by"] == {"name": "API"}

    async def delivered() -> bool:
        return "Hello Asha!" in console.texts_to(ASHA)

    await eventually(delivered)
    # The reply carries our id, so Meta's statuses name it.
    body = next(b for b in console.graph.sent if b.get("text", {}).get("body") == "Hello Asha!")
    assert body["biz_opaque_callback_data"] == sent["uuid"]

    async def marked_sent() -> bool:
        data = await console.history(uuid)
        return any(x["uuid"] == sent["uuid"] and x["status"] == "sent" for x in data["messages"])

    await eventually(marked_sent)

    # From the page, the staff member's name goes with it.
    page = await console.http.post(f"/chats/{uuid}/messages", json={"text": "Second reply"})
    assert page.status_code == 202, page.text
    assert "Test Staff" in page.json()["html"]


async def _chat_uuid(console: Console, phone: str) -> str | None:
    for chat in await console.chats():
        if chat["contact"]["urn"] == f"whatsapp:{phone}":
            return str(chat["contact"]["uuid"])
    return None


async def test_outside_the_24_hour_window_free_text_is_refused(console: Console) -> None:
    await console.write(ASHA, "hello")
    uuid = await eventually(lambda: _chat_uuid(console, ASHA))
    async with console.state.repo.sessions.begin() as db:
        await db.execute(
            update(m.Contact)
            .where(m.Contact.uuid == uuid)
            .values(last_message_at=m.utcnow() - timedelta(hours=25))
        )
    before = len(console.graph.sent)

    response = await console.api("POST", f"/chats/{uuid}/messages", json={"text": "Still there?"})
    assert response.status_code == 409
    assert "24-hour window" in response.json()["detail"]
    assert "template" in response.json()["detail"]
    assert (await console.history(uuid))["contact"]["window"]["open"] is False
    page = await console.http.get(f"/chats/{uuid}")
    assert "24-hour window is closed" in page.text
    assert len(console.graph.sent) == before
    stored = [x["text"] for x in (await console.history(uuid))["messages"]]
    assert "Still there?" not in stored


async def test_bad_input_gets_a_4xx_naming_the_field(console: Console) -> None:
    await console.write(ASHA, "hello")
    uuid = await eventually(lambda: _chat_uuid(console, ASHA))

    # (A NUL in a JSON body is taken out before any route reads it: sutra/web/cleaning.py.)
    for body in ({"text": "   "}, {"text": "x" * 4097}, {}, {"text": 5}):
        response = await console.api("POST", f"/chats/{uuid}/messages", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["detail"][0]["loc"][-1] == "text", response.text
    missing = await console.api("POST", "/chats/no-such-contact/messages", json={"text": "hi"})
    assert missing.status_code == 404
    assert (await console.api("GET", "/chats", params={"limit": 0})).status_code == 422
    # What PostgreSQL could not even compare is refused before it gets there.
    nul = await console.api("GET", "/chats", params={"q": "a\x00b"})
    assert nul.status_code == 422 and nul.json()["detail"][0]["loc"][-1] == "q"
    assert (await console.api("GET", "/chats/a%00b")).status_code == 422
    bad_label = await console.api("DELETE", f"/messages/{uuid}/labels/a%00b")
    assert bad_label.status_code == 422 and "label" in bad_label.json()["detail"]
    poll = await console.http.get(f"/chats/{uuid}/poll", params={"since": "yesterday"})
    assert poll.status_code == 422 and poll.json()["detail"][0]["loc"][-1] == "since"
    assert (await console.api("GET", "/alerts", params={"kind": "nope"})).status_code == 422
    unauthorised = await console.http.get("/api/v1/chats")
    assert unauthorised.status_code == 401
    # Pages' JSON routes need the CSRF header to change anything.
    no_csrf = await console.http.post(f"/chats/{uuid}/takeover", headers={"X-CSRFToken": "wrong"})
    assert no_csrf.status_code == 403


async def test_take_over_pauses_the_flow_and_hand_back_replays_nothing(console: Console) -> None:
    await console.write(ASHA, "askgpt")
    await _greeted(console, ASHA)
    uuid = await console.uuid_of(ASHA)

    taken = await console.api("POST", f"/chats/{uuid}/takeover")
    assert taken.status_code == 200
    assert taken.json()["taken_over"]["by"] == "API"
    assert (await console.chats())[0]["contact"]["taken_over"] is not None

    # The flow waits for a question; during take-over neither the answer nor a keyword
    # reaches a flow.
    await console.write(ASHA, "What is photosynthesis?")
    await console.write(ASHA, "askgpt")

    async def both_handled() -> bool:
        data = await console.history(uuid)
        inbound = [x for x in data["messages"] if x["direction"] == "in"]
        return len(inbound) == 3 and all(x["status"] == "handled" for x in inbound)

    await eventually(both_handled)
    await console.state.pipeline.idle()
    assert console.texts_to(ASHA) == [GREETING]

    back = await console.api("POST", f"/chats/{uuid}/handback")
    assert back.status_code == 200 and back.json()["taken_over"] is None
    await console.state.pipeline.idle()
    assert console.texts_to(ASHA) == [GREETING]

    # The flow carries on from where it waited, with the next message.
    await console.write(ASHA, "Why is the sky blue?")
    await _greeted(console, ASHA, 2)
    assert console.texts_to(ASHA)[-1] == "echo: Why is the sky blue?"


async def test_labels_are_added_and_removed(console: Console) -> None:
    await console.write(ASHA, "my pension has not come")
    uuid = await eventually(lambda: _chat_uuid(console, ASHA))
    message = (await console.history(uuid))["messages"][0]["uuid"]

    added = await console.api("POST", f"/messages/{message}/labels", json={"label": " Pension "})
    assert added.status_code == 200 and added.json()["labels"] == ["Pension"]
    page = await console.http.post(f"/chats/messages/{message}/labels", json={"label": "urgent"})
    assert page.json()["labels"] == ["Pension", "urgent"]
    assert (await console.history(uuid))["messages"][0]["labels"] == ["Pension", "urgent"]
    removed = await console.api("DELETE", f"/messages/{message}/labels/Pension")
    assert removed.json()["labels"] == ["urgent"]
    blank = await console.api("POST", f"/messages/{message}/labels", json={"label": ""})
    assert blank.status_code == 422 and blank.json()["detail"][0]["loc"][-1] == "label"
    unknown = await console.api("POST", "/messages/nope/labels", json={"label": "x"})
    assert unknown.status_code == 404


async def test_a_gpt_failure_alerts_staff_and_the_contact_sees_only_the_flows_words(
    console: Console, stub: OpenAIStubServer
) -> None:
    provider_error = "The model `gpt-4o` does not exist or you do not have access to it."
    stub.plan(*[ErrorReply(404, provider_error, type="invalid_request_error")] * 3)
    await console.write(ASHA, "askgpt")
    await _greeted(console, ASHA)
    await console.write(ASHA, "What is photosynthesis?")
    await _greeted(console, ASHA, 2)

    failure = console.texts_to(ASHA)[-1]
    assert failure.startswith("Sorry, I could not get an answer right now")
    assert provider_error not in failure and "404" not in failure and "model" not in failure

    response = await console.api("GET", "/alerts")
    assert response.status_code == 200
    [alert] = response.json()["results"]
    assert alert["kind"] == "llm_error"
    assert provider_error in alert["error"]
    assert alert["contact"]["phone"] == f"+{ASHA}"
    assert alert["flow"]["name"] == "Ask GPT"

    # The nav counts it until the alerts page is opened.
    assert (await console.http.get("/alerts/count")).json()["count"] == 1
    page = await console.http.get("/alerts")
    assert page.status_code == 200 and provider_error in page.text
    assert (await console.http.get("/alerts/count")).json()["count"] == 0


async def test_failed_sends_dead_letters_and_budgets_are_alerts(console: Console) -> None:
    await console.write(ASHA, "hello")
    uuid = await eventually(lambda: _chat_uuid(console, ASHA))
    console.graph.plan_error(400, 131026, "(#131026) Message undeliverable")
    response = await console.api("POST", f"/chats/{uuid}/messages", json={"text": "Are you ok?"})
    assert response.status_code == 202

    async def failed() -> list[dict[str, Any]]:
        found = (await console.api("GET", "/alerts", params={"kind": "send_failed"})).json()
        return list(found["results"])

    [alert] = await eventually(failed)
    assert alert["text"] == "Are you ok?"
    assert "131026" in alert["error"] or "undeliverable" in alert["error"]
    page = await console.http.get(f"/chats/{uuid}")
    assert "status-failed" in page.text

    # A dead letter and a budget refusal, as the pipeline and the LLM function store them.
    async with console.state.repo.sessions.begin() as db:
        contact = await db.scalar(select(m.Contact).where(m.Contact.uuid == uuid))
        assert contact is not None
        db.add(
            m.Message(
                organization_id=1,
                contact_id=contact.id,
                direction="in",
                text="broken",
                channel="whatsapp",
                status="failed",
                error="RuntimeError: the step broke",
            )
        )
        db.add(
            m.WebhookLog(
                organization_id=1,
                contact_id=contact.id,
                method="FUNCTION",
                url="parse_via_chat_gpt",
                status_code=429,
                error="budget exceeded",
            )
        )
    kinds = [a["kind"] for a in (await console.api("GET", "/alerts")).json()["results"]]
    assert sorted(kinds) == ["budget", "dead_letter", "send_failed"]
    page = await console.http.get("/alerts")
    assert "Budget reached" in page.text and "Hand back to the flow" in page.text


async def test_a_spoken_answer_plays_in_the_chat(console: Console) -> None:
    """Glific's voice flows attach their spoken answer as ``expression:@results.x.media_url``:
    the chat types it from the URL, as WhatsApp gets it, and plays it."""
    link = "https://sutra.example.org/media/0123456789abcdef0123456789abcdef.ogg"
    flow = {
        "uuid": "a0d10000-0000-4000-8000-0000000000a1",
        "name": "Spoken answer",
        "spec_version": "13.2.0",
        "language": "base",
        "type": "messaging",
        "nodes": [
            {
                "uuid": "a0d10000-0000-4000-8000-0000000000a2",
                "actions": [
                    {
                        "uuid": "a0d10000-0000-4000-8000-0000000000a3",
                        "type": "send_msg",
                        "text": "",
                        "attachments": [f"expression:{link}"],
                    }
                ],
                "exits": [{"uuid": "a0d10000-0000-4000-8000-0000000000a4"}],
            }
        ],
    }
    await console.state.repo.import_flow_file(parse_flow_file(flow), created_by="test")
    await console.write(ASHA, "hello")
    uuid = await eventually(lambda: _chat_uuid(console, ASHA))
    started = await console.api(
        "POST", f"/flows/{flow['uuid']}/start", json={"urns": [f"whatsapp:{ASHA}"]}
    )
    assert started.status_code == 202, started.text

    async def spoken() -> bool:
        return any(b.get("type") == "audio" for b in console.graph.sent)

    await eventually(spoken)
    page = await console.http.get(f"/chats/{uuid}")
    assert f'<audio controls preload="none" src="{link}" aria-label="audio/ogg">' in page.text
