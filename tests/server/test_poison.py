"""A message the flow cannot handle ends visibly, once: it does not stall the contact."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

from sutra.testing.graph_api import GraphAPIStubServer, whatsapp_text_payload
from sutra.testing.openai_server import OpenAIStubServer
from tests.server.conftest import ServerProcess, wait_for
from tests.server.test_whatsapp import send, texts

_NODES = [
    {
        "uuid": "c0000000-0000-4000-8000-000000000010",
        "actions": [
            {
                "uuid": "c0000000-0000-4000-8000-000000000011",
                "type": "send_msg",
                "text": "How old are you?",
            }
        ],
        "exits": [
            {
                "uuid": "c0000000-0000-4000-8000-000000000012",
                "destination_uuid": "c0000000-0000-4000-8000-000000000020",
            }
        ],
    },
    {
        "uuid": "c0000000-0000-4000-8000-000000000020",
        "actions": [],
        "router": {
            "type": "switch",
            "operand": "@input.text",
            "wait": {"type": "msg"},
            "result_name": "age",
            "cases": [],
            "categories": [
                {
                    "uuid": "c0000000-0000-4000-8000-000000000021",
                    "name": "All Responses",
                    "exit_uuid": "c0000000-0000-4000-8000-000000000022",
                }
            ],
            "default_category_uuid": "c0000000-0000-4000-8000-000000000021",
        },
        "exits": [
            {
                "uuid": "c0000000-0000-4000-8000-000000000022",
                "destination_uuid": "c0000000-0000-4000-8000-000000000030",
            }
        ],
    },
    {
        "uuid": "c0000000-0000-4000-8000-000000000030",
        "actions": [
            {
                "uuid": "c0000000-0000-4000-8000-000000000031",
                "type": "send_msg",
                "text": "Next year you will be @(results.age + 1).",
            }
        ],
        "exits": [{"uuid": "c0000000-0000-4000-8000-000000000032", "destination_uuid": None}],
    },
]
AGE_FLOW = {
    "flows": [
        {
            "definition": {
                "uuid": "c0000000-0000-4000-8000-000000000001",
                "name": "Age",
                "spec_version": "13.2.0",
                "language": "base",
                "type": "messaging",
                "nodes": copy.deepcopy(_NODES),
            },
            "keywords": ["age"],
        }
    ]
}


def test_a_message_that_breaks_the_flow_is_marked_failed_and_the_next_one_is_handled(
    server_env: dict[str, str],
    make_server: Callable[..., ServerProcess],
    graph: GraphAPIStubServer,
    llm: OpenAIStubServer,
) -> None:
    server = make_server(server_env)
    assert server.api("POST", "/api/v1/flows/import", json=AGE_FLOW).status_code == 201
    number = "919800000077"
    assert send(server, whatsapp_text_payload(number, "age")) == 200
    wait_for(lambda: texts(graph) == ["How old are you?"], what="the question")

    # A number too large for the flow's arithmetic: the step raises inside the engine.
    assert send(server, whatsapp_text_payload(number, "1e9999999999")) == 200

    def failed() -> dict | None:
        [contact] = server.api("GET", "/api/v1/contacts").json()["results"]
        messages = server.api("GET", f"/api/v1/contacts/{contact['uuid']}/messages").json()
        return next((m for m in messages["results"] if m["status"] == "failed"), None)

    message = wait_for(failed, what="the message marked failed")
    assert message["text"] == "1e9999999999"
    assert "Overflow" in message["error"]

    # The contact is not stuck: the keyword starts afresh and a good answer goes through.
    assert send(server, whatsapp_text_payload(number, "age")) == 200
    wait_for(lambda: len(graph.sent) >= 2, what="the question again")
    assert send(server, whatsapp_text_payload(number, "41")) == 200
    wait_for(lambda: len(graph.sent) >= 3, what="the answer")
    # Nothing technical reached the contact; the failure was not retried behind its back.
    assert texts(graph) == ["How old are you?", "How old are you?", "Next year you will be 42."]
    assert "Overflow" not in json.dumps(graph.sent)
