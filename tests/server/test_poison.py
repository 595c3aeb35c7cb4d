"""A contact's answer that no arithmetic can take (NaN, infinities, huge exponents) goes
through the flow like any other text: it never stalls the contact. (A unit of work that
raises anyway is tested in tests/web/test_dead_letters.py.)"""

from __future__ import annotations

import copy
from collections.abc import Callable

from sutra.testing.graph_api import GraphAPIStubServer, whatsapp_text_payload
from sutra.testing.openai_server import OpenAIStubServer
from tests.server.conftest import ServerProcess, wait_for
from tests.server.test_whatsapp import send

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


POISONS = ["1e9999999999", "NaN", "sNaN", "-inf", "9" * 5000]


def test_a_number_the_arithmetic_cannot_take_does_not_stall_the_contact(
    server_env: dict[str, str],
    make_server: Callable[..., ServerProcess],
    graph: GraphAPIStubServer,
    llm: OpenAIStubServer,
) -> None:
    server = make_server(server_env)
    assert server.api("POST", "/api/v1/flows/import", json=AGE_FLOW).status_code == 201
    numbers = [f"91980000{i:04d}" for i in range(len(POISONS))]

    def said(number: str) -> list[str]:
        return [b["text"]["body"] for b in graph.sent if b.get("to") == number]

    def everyone(count: int) -> bool:
        return all(len(said(number)) >= count for number in numbers)

    for number in numbers:
        assert send(server, whatsapp_text_payload(number, "age")) == 200
    wait_for(lambda: everyone(1), what="the question")
    # `@(results.age + 1)` on it is an error value (rendered empty, as goflow does), never an
    # exception: the flow goes on to its end and the contact hears back.
    for number, poison in zip(numbers, POISONS, strict=True):
        assert send(server, whatsapp_text_payload(number, poison)) == 200
    wait_for(lambda: everyone(2), what="the reply to the poison")
    # And each contact's next conversation works.
    for number in numbers:
        assert send(server, whatsapp_text_payload(number, "age")) == 200
    wait_for(lambda: everyone(3), what="the question again")
    for number in numbers:
        assert send(server, whatsapp_text_payload(number, "41")) == 200
    wait_for(lambda: everyone(4), what="the answer")
    for number in numbers:
        assert said(number) == [
            "How old are you?",
            "Next year you will be .",
            "How old are you?",
            "Next year you will be 42.",
        ]
    for contact in server.api("GET", "/api/v1/contacts").json()["results"]:
        messages = server.api("GET", f"/api/v1/contacts/{contact['uuid']}/messages").json()
        inbound = {m["status"] for m in messages["results"] if m["direction"] == "in"}
        assert inbound == {"handled"}, contact
