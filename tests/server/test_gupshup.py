"""The same GPT flow through Gupshup: token-protected callbacks in, form-encoded sends out."""

from __future__ import annotations

import time
from collections.abc import Callable

from sutra.testing.graph_api import GraphAPIStubServer
from sutra.testing.gupshup_api import GupshupStubServer, gupshup_text_payload
from sutra.testing.openai_server import OpenAIStubServer
from tests.server.conftest import GUPSHUP_TOKEN, ServerProcess, wait_for
from tests.server.test_whatsapp import import_example

RAVI = "919876543210"


def deliver(server: ServerProcess, payload: dict, token: str = GUPSHUP_TOKEN) -> int:
    return server.post("/webhooks/gupshup", params={"token": token}, json=payload).status_code


def test_keyword_and_gpt_answer_through_gupshup(
    server_env: dict[str, str],
    make_server: Callable[..., ServerProcess],
    gupshup_api: GupshupStubServer,
    graph: GraphAPIStubServer,
    llm: OpenAIStubServer,
) -> None:
    server = make_server(server_env)
    import_example(server)

    assert deliver(server, gupshup_text_payload(RAVI, "askgpt", name="Ravi")) == 200
    wait_for(lambda: len(gupshup_api.messages) >= 1, what="the greeting")
    form = gupshup_api.sent[0]
    assert (form["destination"], form["channel"], form["src.name"]) == (
        RAVI,
        "whatsapp",
        "sutra-test",
    )
    assert gupshup_api.messages[0]["text"].startswith("Hi Ravi!")

    assert deliver(server, gupshup_text_payload(RAVI, "What is photosynthesis?")) == 200
    wait_for(lambda: len(gupshup_api.messages) >= 2, what="the GPT answer")
    assert gupshup_api.messages[1] == {"type": "text", "text": "echo: What is photosynthesis?"}
    # Replies go back the way the contact wrote, not through the other configured provider.
    assert graph.sent == []


def test_a_wrong_token_is_refused_and_duplicates_get_one_reply(
    server_env: dict[str, str],
    make_server: Callable[..., ServerProcess],
    gupshup_api: GupshupStubServer,
) -> None:
    server = make_server(server_env)
    import_example(server)
    payload = gupshup_text_payload(RAVI, "askgpt", msg_id="ABEGkZlgQyWAAgo-sJMNr1YWpw")
    assert deliver(server, payload, token="guess") == 401
    assert server.post("/webhooks/gupshup", json=payload).status_code == 401
    time.sleep(1.2)
    assert server.api("GET", "/api/v1/contacts").json()["results"] == []

    assert deliver(server, payload) == 200
    assert deliver(server, payload) == 200
    wait_for(lambda: len(gupshup_api.messages) >= 1, what="the greeting")
    time.sleep(1.5)
    assert len(gupshup_api.messages) == 1


def test_a_malformed_callback_gets_400(
    server_env: dict[str, str],
    make_server: Callable[..., ServerProcess],
) -> None:
    server = make_server(server_env)
    response = server.post(
        "/webhooks/gupshup",
        params={"token": GUPSHUP_TOKEN},
        json={"type": "message", "payload": {"type": "text"}},
    )
    assert response.status_code == 400
    assert "payload" in response.json()["detail"]
    bad_json = server.post(
        "/webhooks/gupshup",
        params={"token": GUPSHUP_TOKEN},
        content=b"{oops",
        headers={"Content-Type": "application/json"},
    )
    assert bad_json.status_code == 400
