"""How the node after a webhook is routed (contract sections 5 and 9), and random routers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sutra.engine import events as ev
from sutra.engine.session import Contact, WebhookOutcome

from .flowkit import GLIFIC_FLOWS, NOW, Chat, FlowBuilder, send, webhook, webhook_node

FUNCTION = webhook("parse_via_chat_gpt", '{"question_text": "@results.question"}')
HTTP = webhook("https://api.example.org/ask", '{"q": "@results.question"}', method="POST")


def routed_chat(
    action: dict[str, Any],
    *,
    style: str = "glific",
    operand: str | None = None,
    case: tuple[str, Any, str] | None = None,
) -> Chat:
    """ask -> call -> "ok" (Success) | "sorry" (Failure)."""
    flow = (
        FlowBuilder("Ask GPT")
        .switch(
            "ask",
            cases=[("has_text", [], "Asked")],
            wait=True,
            result_name="question",
            to={"Asked": "call"},
        )
        .node("ok", send("OK @results.gpt_response.parsed_msg (@webhook.status)"))
        .node("sorry", send("Sorry: @results.gpt_response.error (@webhook.status)"))
    )
    node = webhook_node("call", action, style=style, to={"Success": "ok", "Failure": "sorry"})
    if operand is not None:
        node["router"]["operand"] = operand
    if case is not None:
        kind, args, category = case
        node["router"]["cases"][0]["type"] = kind
        node["router"]["cases"][0]["arguments"] = args
        node["router"]["cases"][0]["category_uuid"] = next(
            c["uuid"] for c in node["router"]["categories"] if c["name"] == category
        )
    flow.nodes.append(node)
    chat = Chat(flow)
    chat.start()
    chat.say("capital of India?")
    assert chat.state.wait is not None and chat.state.wait.kind == "webhook"
    return chat


OUTCOMES: dict[str, tuple[dict[str, Any], int, dict[str, Any] | None, str | None]] = {
    # name: (action, status, result, error)
    "function success": (FUNCTION, 200, {"success": True, "parsed_msg": "Delhi"}, None),
    "function failure": (FUNCTION, 500, None, "OpenAI said no"),
    "http 404": (HTTP, 404, None, "HTTP 404"),
    "http 200 not json": (HTTP, 200, None, "response is not JSON"),
}
EXPECTED = {
    "function success": "OK Delhi (200)",
    "function failure": "Sorry: OpenAI said no (500)",
    "http 404": "Sorry: HTTP 404 (404)",
    "http 200 not json": "Sorry: response is not JSON (200)",
}
STYLES = {
    "glific": {"style": "glific"},
    "editor": {"style": "editor"},
    "editor default()": {"style": "editor", "operand": "@(default(webhook.status, 0))"},
}


@pytest.mark.parametrize("outcome", OUTCOMES)
@pytest.mark.parametrize("style", STYLES)
def test_webhook_routes_success_and_failure_in_both_styles(style: str, outcome: str) -> None:
    action, status, result, error = OUTCOMES[outcome]
    chat = routed_chat(action, **STYLES[style])
    sent = chat.resume(
        WebhookOutcome(
            status=status,
            success=error is None,
            result=result or {},
            json=result,
            error=error,
        )
    )
    assert sent == [EXPECTED[outcome]]
    stored = chat.results["gpt_response"]
    assert stored["inserted_at"] == NOW.isoformat()
    if error is None:
        assert stored["category"] == "Success"
        assert stored["parsed_msg"] == "Delhi"
    else:
        assert stored["category"] == "Failure"
        assert stored["success"] is False
        assert stored["error"] == error
    [called] = chat.of_type(ev.WebhookCalled)
    assert (called.status, called.success, called.error) == (status, error is None, error)
    assert chat.state.status == "completed"


@pytest.mark.parametrize(
    ("operand", "case"),
    [
        # call_and_wait.json: the operand names a result that does not exist.
        ("@results.result.category", ("has_only_text", ["Success"], "Success")),
        # A case that would never match.
        ("@results.gpt_response.category", ("has_only_text", ["OK"], "Success")),
        # A case that would send everything to Failure.
        ("@results.gpt_response.category", ("has_text", [], "Failure")),
    ],
)
def test_glific_router_picks_success_by_name_whatever_the_operand_says(
    operand: str, case: tuple[str, Any, str]
) -> None:
    chat = routed_chat(FUNCTION, operand=operand, case=case)
    assert chat.answer_webhook(200, {"parsed_msg": "Delhi"}) == ["OK Delhi (200)"]


def test_glific_router_never_takes_success_on_failure_whatever_the_operand_says() -> None:
    chat = routed_chat(FUNCTION, case=("has_text", [], "Success"))
    assert chat.answer_webhook(500, error="boom") == ["Sorry: boom (500)"]


def test_glific_router_for_a_result_named_webhook_still_picks_by_name() -> None:
    # survey.json names its webhook result "webhook": its router is Glific's, not the editor's.
    action = webhook("https://api.example.org/ask", "{}", method="POST", result_name="webhook")
    flow = FlowBuilder().node("start", send("calling"), to="call")
    node = webhook_node("call", action, to={"Success": "ok", "Failure": "sorry"})
    node["router"]["cases"][0]["arguments"] = ["OK"]  # would never match if evaluated
    flow.nodes.append(node)
    flow.node("ok", send("saved @results.webhook.id")).node("sorry", send("failed"))
    chat = Chat(flow)
    chat.start()
    assert chat.answer_webhook(201, {"id": 42}) == ["saved 42"]


def test_function_failure_from_an_unknown_body_never_succeeds() -> None:
    action = webhook("parse_via_chat_gpt", "{not json")
    chat = routed_chat(action, style="editor")
    assert chat.request.error is not None
    reason = chat.request.error
    # The runtime refuses the call with the engine's reason; the flow goes to Failure.
    assert chat.answer_webhook(400, error=reason) == [f"Sorry: {reason} (400)"]


def test_webhook_json_is_readable_after_the_call() -> None:
    flow = FlowBuilder().node("start", send("go"), to="call")
    flow.nodes.append(
        webhook_node(
            "call",
            webhook("https://api.example.org/w", method="GET", result_name="weather"),
            style="editor",
            to={"Success": "ok"},
        )
    )
    flow.node("ok", send("@results.weather.temp.value°, @webhook.json.city, @results.weather.0"))
    chat = Chat(flow)
    chat.start()
    body = {"temp": {"value": 31.0, "unit": "C"}, "city": "Pune", "0": "first"}
    assert chat.answer_webhook(200, body) == ["31°, Pune, first"]


# --- real Glific flows -----------------------------------------------------------------------


def load_real(name: str) -> dict[str, Any]:
    return json.loads((GLIFIC_FLOWS / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [(200, None, ["Consistency compounds."]), (500, "no assistant", ["failure"])],
)
def test_call_and_wait_json(status: int, error: str | None, expected: list[str]) -> None:
    chat = Chat(load_real("call_and_wait.json"))
    assert chat.start() == []
    assert chat.request.url == "filesearch-gpt"
    assert chat.request.result_name == "filesearch"
    assert chat.answer_webhook(status, {"message": "Consistency compounds."}, error=error) == (
        expected
    )


def test_direct_gpt_json_end_to_end() -> None:
    chat = Chat(load_real("direct_gpt.json"))
    assert chat.start() == ["Pls ask a question to GPT."]
    assert chat.say('What is "monsoon"?') == []
    assert chat.request.body["question_text"] == 'What is "monsoon"?'
    assert chat.request.body["gpt_model"] == "gpt-4o"
    assert chat.answer_webhook(200, {"success": True, "parsed_msg": "Seasonal rain."}) == [
        "Seasonal rain."
    ]
    chat.say("Thanks, clear.")
    assert "Seasonal rain." in chat.request.body["prompt"]
    assert chat.answer_webhook(500, error="quota") == ["GPT api failed"]
    assert chat.state.status == "completed"


def test_survey_json_posts_whole_contact_and_results_then_scores_with_eex() -> None:
    chat = Chat(load_real("survey.json"), contact=Contact(name="Ravi", phone="+911234567890"))
    assert chat.start()[0].startswith("This is Question 1.")
    assert chat.say("maybe")[0].startswith("This is Question 1.")  # Other: asked again
    for number in range(2, 6):
        assert chat.say("Y")[0].startswith(f"This is Question {number}")
    assert chat.say("n")[0].startswith("Thank you for your responses")
    assert chat.say("y") == []
    request = chat.request
    assert request.method == "POST"
    body = json.loads(request.body)
    assert body["contact"]["name"] == "Ravi"
    assert body["custom_key"] == "custom_value"
    assert body["results"]["a1"]["category"] == "Y"
    assert body["results"]["a5"]["input"] == "n"
    # rem(4 * 2 + 1, 6) = 3
    sent = chat.answer_webhook(200, {"status": 4})
    assert sent[0].startswith("Based on your answers")
    assert "Group 3" in sent[1]
    assert chat.results["webhook"]["category"] == "Success"


# --- random routers ----------------------------------------------------------------------------


def random_chat() -> Chat:
    flow = (
        FlowBuilder("AB")
        .switch("ask", cases=[("has_text", [], "Any")], wait=True, to={"Any": "split"})
        .random("split", ["A", "B", "C"], to={"A": "a", "B": "b", "C": "c"}, result_name="arm")
        .node("a", send("arm A"))
        .node("b", send("arm B"))
        .node("c", send("arm C"))
    )
    chat = Chat(flow)
    chat.start()
    return chat


def test_random_router_is_deterministic_for_a_session() -> None:
    chat = random_chat()
    waiting = chat.state
    first = chat.say("go")
    assert first in (["arm A"], ["arm B"], ["arm C"])
    for _ in range(5):
        chat.session = waiting
        assert chat.say("go") == first
    assert chat.results["arm"]["category"] == first[0][-1]


def test_random_router_spreads_sessions_over_its_categories() -> None:
    chat = random_chat()
    waiting = chat.state
    seen = set()
    for i in range(30):
        session = waiting.model_copy(deep=True)
        session.uuid = f"session-{i}"
        chat.session = session
        seen.update(chat.say("go"))
    assert seen == {"arm A", "arm B", "arm C"}
