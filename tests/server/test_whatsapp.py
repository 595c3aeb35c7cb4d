"""A WhatsApp number pointed at ``sutra serve``: signed webhooks in, Graph API sends out."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from sutra.testing.graph_api import (
    GraphAPIStubServer,
    signature_header,
    signed_webhook,
    whatsapp_text_payload,
)
from sutra.testing.openai_server import OpenAIStubServer, Reply
from tests.server.conftest import (
    APP_SECRET,
    OPENAI_KEY,
    VERIFY_TOKEN,
    ServerProcess,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
ASHA = "919812345678"


def import_example(server: ServerProcess) -> None:
    body = json.loads((ROOT / "examples" / "ask_gpt.json").read_text())
    response = server.api("POST", "/api/v1/flows/import", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["flows"][0]["keywords"] == ["askgpt"]


def send(server: ServerProcess, payload: dict, secret: str = APP_SECRET) -> int:
    raw, headers = signed_webhook(secret, payload)
    return server.post("/webhooks/whatsapp", content=raw, headers=headers).status_code


def texts(graph: GraphAPIStubServer) -> list[str]:
    return [body.get("text", {}).get("body", "") for body in graph.sent]


def test_keyword_starts_the_gpt_flow_and_the_answer_comes_back(
    server_env: dict[str, str],
    make_server: Callable[..., ServerProcess],
    graph: GraphAPIStubServer,
    llm: OpenAIStubServer,
) -> None:
    server = make_server(server_env)
    import_example(server)

    assert send(server, whatsapp_text_payload(ASHA, "AskGPT", name="Asha")) == 200
    wait_for(lambda: len(graph.sent) >= 1, what="the greeting")
    greeting = graph.sent[0]
    assert greeting["to"] == ASHA and greeting["messaging_product"] == "whatsapp"
    assert greeting["text"]["body"].startswith("Hi Asha!")

    assert send(server, whatsapp_text_payload(ASHA, "What is photosynthesis?")) == 200
    wait_for(lambda: len(graph.sent) >= 2, what="the GPT answer")
    assert texts(graph)[1] == "echo: What is photosynthesis?"
    assert llm.requests[0]["messages"][-1] == {"role": "user", "content": "What is photosynthesis?"}

    contacts = server.api("GET", "/api/v1/contacts").json()["results"]
    assert [(c["name"], c["urn"]) for c in contacts] == [("Asha", f"whatsapp:{ASHA}")]
    messages = server.api("GET", f"/api/v1/contacts/{contacts[0]['uuid']}/messages").json()
    statuses = {(m["direction"], m["text"][:8], m["status"]) for m in messages["results"]}
    assert ("out", "echo: Wh", "sent") in statuses
    assert ("in", "What is ", "handled") in statuses
    # The key is a secret: the server's logs never show it.
    assert OPENAI_KEY not in server.logs()


def test_a_wrong_signature_is_refused_and_nothing_is_stored(
    server_env: dict[str, str],
    make_server: Callable[..., ServerProcess],
    graph: GraphAPIStubServer,
) -> None:
    server = make_server(server_env)
    import_example(server)
    payload = whatsapp_text_payload(ASHA, "askgpt")
    assert send(server, payload, secret="not-the-app-secret") == 401
    raw, headers = signed_webhook(APP_SECRET, payload)
    del headers["X-Hub-Signature-256"]
    assert server.post("/webhooks/whatsapp", content=raw, headers=headers).status_code == 401
    # A body changed after signing fails too.
    raw, headers = signed_webhook(APP_SECRET, payload)
    tampered = raw.replace(b"askgpt", b"askGPT")
    assert server.post("/webhooks/whatsapp", content=tampered, headers=headers).status_code == 401
    time.sleep(1.5)
    assert server.api("GET", "/api/v1/contacts").json()["results"] == []
    assert graph.sent == []


def test_the_same_message_delivered_twice_gets_one_reply(
    server_env: dict[str, str],
    make_server: Callable[..., ServerProcess],
    graph: GraphAPIStubServer,
) -> None:
    server = make_server(server_env)
    import_example(server)
    payload = whatsapp_text_payload(ASHA, "askgpt", wamid="wamid.HBgLOTE5ODEyMzQ1Njc4FQIAEhgUM0")
    assert send(server, payload) == 200
    assert send(server, payload) == 200  # Meta retries: still 200, so it stops retrying
    wait_for(lambda: len(graph.sent) >= 1, what="the greeting")
    time.sleep(1.5)
    assert len(graph.sent) == 1


def test_malformed_payloads_get_4xx_and_the_server_carries_on(
    server_env: dict[str, str],
    make_server: Callable[..., ServerProcess],
    graph: GraphAPIStubServer,
) -> None:
    server = make_server(server_env)
    import_example(server)
    raw = b"{not json"
    _, headers = signed_webhook(APP_SECRET, {})
    headers["X-Hub-Signature-256"] = signature_header(APP_SECRET, raw)
    assert server.post("/webhooks/whatsapp", content=raw, headers=headers).status_code == 400
    bad = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "changes": [
                    {
                        "value": {
                            "messages": [{"id": "wamid.x", "type": "text", "text": {"body": "hi"}}]
                        }
                    }
                ]
            }
        ],
    }
    response = server.post(
        "/webhooks/whatsapp",
        content=json.dumps(bad).encode(),
        headers={"X-Hub-Signature-256": signature_header(APP_SECRET, json.dumps(bad).encode())},
    )
    assert response.status_code == 400
    assert "entry[0].changes[0].value.messages[0].from" in response.json()["detail"]
    # Still answering everyone else.
    assert send(server, whatsapp_text_payload(ASHA, "askgpt", name="Asha")) == 200
    wait_for(lambda: len(graph.sent) >= 1, what="the greeting")


def test_verification_handshake(
    server_env: dict[str, str],
    make_server: Callable[..., ServerProcess],
) -> None:
    server = make_server(server_env)
    url = f"{server.url}/webhooks/whatsapp"
    good = httpx.get(
        url,
        params={
            "hub.mode": "subscribe",
            "hub.challenge": "1158201444",
            "hub.verify_token": VERIFY_TOKEN,
        },
    )
    assert (good.status_code, good.text) == (200, "1158201444")
    bad = httpx.get(
        url, params={"hub.mode": "subscribe", "hub.challenge": "x", "hub.verify_token": "guess"}
    )
    assert bad.status_code == 403


def test_killing_the_server_during_a_gpt_call_still_answers_once(
    server_env: dict[str, str],
    make_server: Callable[..., ServerProcess],
    graph: GraphAPIStubServer,
    llm: OpenAIStubServer,
) -> None:
    server = make_server(server_env)
    import_example(server)
    assert send(server, whatsapp_text_payload(ASHA, "askgpt", name="Asha")) == 200
    wait_for(lambda: len(graph.sent) >= 1, what="the greeting")

    # The first GPT call hangs; the server dies while it is pending.
    llm.plan(Reply(text="too late", delay=60))
    assert send(server, whatsapp_text_payload(ASHA, "What is photosynthesis?")) == 200
    wait_for(lambda: len(llm.requests) >= 1, what="the GPT call to start")
    server.kill()

    server.start()  # same database: it finds the call it had not finished
    wait_for(lambda: len(graph.sent) >= 2, timeout=30, what="the answer after the restart")
    time.sleep(2)
    assert texts(graph) == [texts(graph)[0], "echo: What is photosynthesis?"]
    assert len(llm.requests) == 2


@pytest.mark.parametrize("provider_reports", [True, False], ids=["status-in", "no-status"])
def test_a_send_the_provider_took_as_the_server_died_is_not_sent_twice(
    provider_reports: bool,
    server_env: dict[str, str],
    make_server: Callable[..., ServerProcess],
    graph: GraphAPIStubServer,
) -> None:
    # The window counts from the attempt, so it must outlast the restart and the dead
    # server's lease (10 s) for the status to be awaited at all; without one it is short.
    doubt = "30" if provider_reports else "3"
    server = make_server({**server_env, "SUTRA_SEND_DOUBT_SECONDS": doubt})
    if provider_reports:
        graph.report_statuses([f"{server.url}/webhooks/whatsapp"], APP_SECRET)
    import_example(server)
    graph.delay = 30  # Meta has the greeting; its answer is slow, and the server dies first
    assert send(server, whatsapp_text_payload(ASHA, "askgpt", name="Asha")) == 200
    wait_for(lambda: len(graph.sent) >= 1, what="the greeting to reach the provider")
    server.kill()
    graph.delay = 0
    server.start()
    greeting = texts(graph)[0]
    if provider_reports:
        # Its "sent" status names the message: the new worker knows it went out.
        def greeting_status() -> str:
            contacts = server.api("GET", "/api/v1/contacts").json()["results"]
            if not contacts:
                return ""
            history = server.api("GET", f"/api/v1/contacts/{contacts[0]['uuid']}/messages")
            return str(history.json()["results"][0]["status"])

        wait_for(lambda: greeting_status() == "sent", timeout=30, what="the status")
        time.sleep(12)  # past the dead server's lease: the contact's new worker has looked
        assert texts(graph) == [greeting]
    else:
        # No word from the provider within the window: sent again rather than lost.
        wait_for(lambda: len(graph.sent) >= 2, timeout=30, what="the greeting sent again")
        assert texts(graph) == [greeting, greeting]
    before = len(graph.sent)
    assert send(server, whatsapp_text_payload(ASHA, "What is photosynthesis?")) == 200
    wait_for(lambda: len(graph.sent) > before, what="the answer")
    assert texts(graph)[-1] == "echo: What is photosynthesis?"
    contact = server.api("GET", "/api/v1/contacts").json()["results"][0]
    history = server.api("GET", f"/api/v1/contacts/{contact['uuid']}/messages").json()
    outbound = [r for r in history["results"] if r["direction"] == "out"]
    # One stored message each, whatever the number of attempts, and none left in doubt.
    assert [r["text"] for r in reversed(outbound)] == [greeting, texts(graph)[-1]]
    assert {r["status"] for r in outbound} == {"sent"}


def test_an_image_is_downloaded_by_id_and_served_to_the_flow(
    server_env: dict[str, str],
    make_server: Callable[..., ServerProcess],
    graph: GraphAPIStubServer,
    tmp_path: Path,
) -> None:
    server = make_server({**server_env, "SUTRA_MEDIA_DIR": str(tmp_path / "media")})
    flow = {
        "uuid": "3c0e8a52-1f0e-4b7e-9a70-000000000001",
        "name": "Photo",
        "spec_version": "13.1.0",
        "nodes": [
            {
                "uuid": "n1",
                "actions": [],
                "exits": [{"uuid": "e1", "destination_uuid": "n2"}],
                "router": {
                    "type": "switch",
                    "operand": "@input.text",
                    "wait": {"type": "msg"},
                    "result_name": "photo",
                    "cases": [
                        {"uuid": "c1", "type": "has_image", "arguments": [], "category_uuid": "k1"}
                    ],
                    "categories": [
                        {"uuid": "k1", "name": "Image", "exit_uuid": "e1"},
                        {"uuid": "k2", "name": "Other", "exit_uuid": "e1"},
                    ],
                    "default_category_uuid": "k2",
                },
            },
            {
                "uuid": "n2",
                "exits": [{"uuid": "e2", "destination_uuid": None}],
                "actions": [
                    {
                        "type": "send_msg",
                        "uuid": "a1",
                        "text": "@results.photo.category: @results.photo.value",
                    }
                ],
            },
        ],
    }
    assert server.api("POST", "/api/v1/flows/import", json=flow).status_code == 201
    server.api("POST", f"/api/v1/flows/{flow['uuid']}/start", json={"urns": [f"whatsapp:{ASHA}"]})
    picture = b"\xff\xd8\xff\xe0 a tiny jpeg"
    media_id = graph.add_media(picture, "image/jpeg")
    payload = whatsapp_text_payload(ASHA, "")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("text")
    message.update(
        type="image",
        image={"id": media_id, "mime_type": "image/jpeg", "sha256": "x", "caption": "my crop"},
    )
    assert send(server, payload) == 200
    wait_for(lambda: len(graph.sent) >= 1, what="the reply")
    reply = texts(graph)[0]
    assert reply.startswith("Image: /media/") and reply.endswith(".jpg")
    assert httpx.get(server.url + reply.removeprefix("Image: ")).content == picture


def test_a_send_the_provider_never_finishes_answering_is_cut_off_and_sent_again(
    server_env: dict[str, str],
    make_server: Callable[..., ServerProcess],
    graph: GraphAPIStubServer,
) -> None:
    # The HTTP client's timeouts are per read; the whole send has its own.
    server = make_server({**server_env, "SUTRA_SEND_TIMEOUT": "1"})
    import_example(server)
    graph.delay = 30.0
    assert send(server, whatsapp_text_payload(ASHA, "AskGPT", name="Asha")) == 200

    def greeting() -> dict[str, Any] | None:
        contacts = server.api("GET", "/api/v1/contacts").json()["results"]
        if not contacts:
            return None
        history = server.api("GET", f"/api/v1/contacts/{contacts[0]['uuid']}/messages").json()
        out = [r for r in history["results"] if r["direction"] == "out"]
        return out[0] if out else None

    cut_off = wait_for(
        lambda: (g := greeting()) is not None and g["error"] and g, what="the send cut off"
    )
    assert cut_off["status"] == "queued"
    assert cut_off["error"] == "no answer from whatsapp within 1 s"
    assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
    graph.delay = 0.0
    sent = wait_for(lambda: (g := greeting()) is not None and g["status"] == "sent" and g)
    assert sent["text"].startswith("Hi Asha!")
