"""One contact's messages in order, held while a GPT call is pending; contacts run side by side."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from sutra.testing.graph_api import GraphAPIStubServer, whatsapp_text_payload
from sutra.testing.openai_server import OpenAIStubServer, Reply
from tests.server.conftest import ServerProcess, wait_for
from tests.server.test_whatsapp import import_example, send, texts

GLIFIC_FLOWS = Path(__file__).resolve().parents[3] / "shared" / "glific-flows"


def test_messages_sent_during_a_gpt_call_are_held_and_delivered_in_order(
    server_env: dict[str, str],
    make_server: Callable[..., ServerProcess],
    graph: GraphAPIStubServer,
    llm: OpenAIStubServer,
) -> None:
    server = make_server(server_env)
    # Glific's own sample: question -> GPT -> answer -> second question -> GPT -> answer.
    definition = json.loads((GLIFIC_FLOWS / "direct_gpt.json").read_text())
    assert server.api("POST", "/api/v1/flows/import", json=definition).status_code == 201
    started = server.api(
        "POST",
        f"/api/v1/flows/{definition['uuid']}/start",
        json={"urns": ["whatsapp:919800000001"]},
    )
    assert started.json() == {"flow": definition["uuid"], "contacts": 1, "broadcast": 1}
    wait_for(lambda: texts(graph) == ["Pls ask a question to GPT."], what="the first question")

    llm.plan(Reply(text="Plants make food from light.", delay=1.5), Reply(text="Rated 9/10."))
    assert send(server, whatsapp_text_payload("919800000001", "What is photosynthesis?")) == 200
    wait_for(lambda: len(llm.requests) == 1, what="the first GPT call")
    # Sent while the first call is still pending: held, then given to the next wait.
    assert send(server, whatsapp_text_payload("919800000001", "Thanks, good answer")) == 200

    wait_for(lambda: len(graph.sent) >= 3, timeout=30, what="both answers")
    assert texts(graph)[1:] == ["Plants make food from light.", "Rated 9/10."]
    second = llm.requests[1]["messages"]
    assert second[-1] == {"role": "user", "content": "Thanks, good answer"}
    assert "Plants make food from light." in second[0]["content"]


def test_a_slow_gpt_call_for_one_contact_does_not_hold_up_another(
    server_env: dict[str, str],
    make_server: Callable[..., ServerProcess],
    graph: GraphAPIStubServer,
    llm: OpenAIStubServer,
) -> None:
    server = make_server(server_env)
    import_example(server)
    for number in ("919800000010", "919800000020"):
        assert send(server, whatsapp_text_payload(number, "askgpt")) == 200
    wait_for(lambda: len(graph.sent) >= 2, what="both greetings")

    llm.plan(Reply(text="slow answer", delay=4), Reply(text="fast answer"))
    assert send(server, whatsapp_text_payload("919800000010", "slow question")) == 200
    wait_for(lambda: len(llm.requests) == 1, what="the slow call")
    started = time.monotonic()
    assert send(server, whatsapp_text_payload("919800000020", "fast question")) == 200
    wait_for(lambda: "fast answer" in texts(graph), what="the fast answer")
    assert time.monotonic() - started < 3
    assert "slow answer" not in texts(graph)
    wait_for(lambda: "slow answer" in texts(graph), what="the slow answer")
