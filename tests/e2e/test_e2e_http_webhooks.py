"""HTTP webhooks (GET/POST) from ``sutra simulate`` against a loopback server."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import HttpReply, WebhookServer
from .helpers import simulate, webhook_flow, write_flow

ROUTERS = ["category", "status"]
SECRET = "e2e-signing-secret"


def post_flow(base_url: str, router: str, **overrides: Any) -> dict[str, Any]:
    """Asks for a name, then POSTs it with templated URL, headers and body."""
    fields: dict[str, Any] = {
        "method": "POST",
        "url": f"{base_url}/people/@results.question?city=@contact.fields.city&src=sutra",
        "headers": {
            "Content-Type": "application/json",
            "X-Contact-Name": "@contact.name",
            "X-City": "@fields.city",
        },
        "body": {
            "name": "@results.question",
            "city": "@contact.fields.city",
            "flow": "@flow.name",
            "count": 3,
            "nested": {"urn": "@contact.urn"},
        },
        "ask": "What is your name?",
        "router": router,
        "success": "Level @results.hook.level, badge @results.hook.badge.colour",
        "failure": "Failed: @results.hook.error",
    }
    fields.update(overrides)
    return webhook_flow(**fields)


def run(
    tmp_path: Path,
    env: dict[str, str],
    flow: dict[str, Any],
    *says: str,
    contact: tuple[str, ...] = ("--contact-name", "Asha K", "--contact-field", "city=Pune"),
) -> Any:
    sim = simulate(write_flow(tmp_path, flow), *says, env=env, cwd=tmp_path, extra=contact)
    assert sim.returncode == 0, sim.explain()
    assert sim.status == "completed", sim.explain()
    return sim


def verify_signature(header: str, body: str, secret: str) -> int:
    """Checks ``t=<unix>,v1=<hex>`` independently of Sutra's code; returns the timestamp."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(
        secret.encode(), f"{parts['t']}.{body}".encode(), hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected), "bad X-Glific-Signature"
    return int(parts["t"])


@pytest.mark.parametrize("router", ROUTERS)
def test_post_is_templated_signed_and_its_json_stored(
    router: str, tmp_path: Path, cli_env: dict[str, str], webhook_server: WebhookServer
) -> None:
    webhook_server.plan(HttpReply(body={"level": "gold", "badge": {"colour": "green"}}))
    env = {**cli_env, "SUTRA_WEBHOOK_SECRET": SECRET}

    sim = run(tmp_path, env, post_flow(webhook_server.base_url, router), "Asha K")

    assert sim.messages == ["What is your name?", "Level gold, badge green"]
    [request] = webhook_server.requests
    assert request.method == "POST"
    # Values in the URL are escaped; the server decodes the query.
    assert request.path == "/people/Asha%20K"
    assert request.query == {"city": ["Pune"], "src": ["sutra"]}
    assert request.headers["x-contact-name"] == "Asha K"
    assert request.headers["x-city"] == "Pune"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {
        "name": "Asha K",
        "city": "Pune",
        "flow": "E2E webhook flow",
        "count": 3,
        "nested": {"urn": "sim:simulator"},
    }
    signed_at = verify_signature(request.headers["x-glific-signature"], request.body, SECRET)
    assert abs(signed_at - time.time()) < 300
    hook = sim.results["hook"]
    assert hook["level"] == "gold"
    assert hook["badge"] == {"colour": "green"}
    assert hook["category"] == "Success"


def test_no_signature_without_a_secret(
    tmp_path: Path, cli_env: dict[str, str], webhook_server: WebhookServer
) -> None:
    webhook_server.plan(HttpReply(body={"level": "gold", "badge": {"colour": "red"}}))

    run(tmp_path, cli_env, post_flow(webhook_server.base_url, "category"), "Asha")

    [request] = webhook_server.requests
    assert "x-glific-signature" not in request.headers


def test_quotes_typed_by_a_contact_cannot_break_the_body(
    tmp_path: Path, cli_env: dict[str, str], webhook_server: WebhookServer
) -> None:
    webhook_server.plan(HttpReply(body={"level": "x", "badge": {"colour": "y"}}))
    name = 'Ann "the Hammer" O\'Neil \\ }'

    run(tmp_path, cli_env, post_flow(webhook_server.base_url, "category"), name)

    [request] = webhook_server.requests
    assert request.json["name"] == name


@pytest.mark.parametrize("router", ROUTERS)
def test_get_with_a_json_array_is_keyed_by_index(
    router: str, tmp_path: Path, cli_env: dict[str, str], webhook_server: WebhookServer
) -> None:
    webhook_server.plan(HttpReply(body=[{"title": "Rice"}, "Dal"]))
    env = {**cli_env, "SUTRA_WEBHOOK_SECRET": SECRET}
    flow = webhook_flow(
        method="GET",
        url=f"{webhook_server.base_url}/menu?day=@results.question",
        headers={"Accept": "application/json", "X-Contact": "@contact.name"},
        ask="Which day?",
        router=router,
        success="Today: @results.hook.0.title and @results.hook.1",
    )

    sim = run(tmp_path, env, flow, "Monday")

    [request] = webhook_server.requests
    assert request.method == "GET"
    assert request.path == "/menu"
    assert request.query == {"day": ["Monday"]}
    assert request.headers["x-contact"] == "Asha K"
    assert request.body == ""
    # A GET is signed over its (empty) body.
    verify_signature(request.headers["x-glific-signature"], "", SECRET)
    assert sim.results["hook"]["0"] == {"title": "Rice"}
    assert sim.results["hook"]["1"] == "Dal"
    assert sim.messages[-1] == "Today: Rice and Dal"


FAILING_REPLIES = {
    "HTTP 500 with JSON": (HttpReply(500, {"error": "database down"}), "HTTP 500"),
    "HTTP 404 with text": (HttpReply(404, "no such page"), "HTTP 404"),
    "HTTP 302": (HttpReply(302, "", headers={"Location": "/elsewhere"}), "HTTP 302"),
    "2xx but not JSON": (HttpReply(200, "<html>hello</html>"), "response is not JSON"),
    "2xx with an empty body": (HttpReply(204, ""), "response is not JSON"),
}


@pytest.mark.parametrize("router", ROUTERS)
@pytest.mark.parametrize("case", list(FAILING_REPLIES))
def test_failed_call_takes_failure(
    case: str, router: str, tmp_path: Path, cli_env: dict[str, str], webhook_server: WebhookServer
) -> None:
    reply, reason = FAILING_REPLIES[case]
    webhook_server.plan(reply)

    sim = run(tmp_path, cli_env, post_flow(webhook_server.base_url, router), "Asha")

    assert len(webhook_server.requests) == 1
    assert sim.messages[-1].startswith("Failed: "), sim.messages
    assert reason in sim.messages[-1]
    hook = sim.results["hook"]
    assert hook["category"] == "Failure"
    assert hook["success"] is False
    assert reason in hook["error"]
    [called] = sim.of_type("webhook_called")
    assert called["success"] is False


@pytest.mark.parametrize("router", ROUTERS)
def test_timeout_takes_failure(
    router: str, tmp_path: Path, cli_env: dict[str, str], webhook_server: WebhookServer
) -> None:
    webhook_server.plan(HttpReply(body={"level": "late"}, delay=2))
    env = {**cli_env, "SUTRA_WEBHOOK_TIMEOUT": "0.5"}

    sim = run(tmp_path, env, post_flow(webhook_server.base_url, router), "Asha")

    # The reason names the timeout, so the call was cut at 0.5 s, not waited out (a wall-clock
    # bound here only measured how busy the machine was).
    assert sim.messages[-1] == "Failed: no answer within 0.5 s"
    assert sim.results["hook"]["category"] == "Failure"


@pytest.mark.parametrize("router", ROUTERS)
def test_unreachable_endpoint_takes_failure(
    router: str, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # Port 9 (discard) on loopback: nothing listens there in a test environment.
    flow = post_flow("http://127.0.0.1:9", router)

    sim = run(tmp_path, cli_env, flow, "Asha")

    assert sim.messages[-1].startswith("Failed: request failed"), sim.messages
    assert sim.results["hook"]["category"] == "Failure"


def test_webhook_then_message_uses_webhook_status(
    tmp_path: Path, cli_env: dict[str, str], webhook_server: WebhookServer
) -> None:
    webhook_server.plan(HttpReply(201, {"level": "new", "badge": {"colour": "blue"}}))
    flow = post_flow(
        webhook_server.base_url,
        "status",
        success="Created (@webhook.status): @results.hook.level",
    )

    sim = run(tmp_path, cli_env, flow, "Asha")

    assert sim.messages[-1] == "Created (201): new"
    assert json.loads(webhook_server.requests[0].body)["name"] == "Asha"


def test_what_a_contact_types_cannot_add_url_parameters(
    tmp_path: Path, cli_env: dict[str, str], webhook_server: WebhookServer
) -> None:
    webhook_server.plan(HttpReply(body=["ok"]))
    flow = webhook_flow(
        method="GET",
        url=f"{webhook_server.base_url}/menu?day=@results.question&lang=en",
        ask="Which day?",
        success="@results.hook.0",
    )

    sim = run(tmp_path, cli_env, flow, "Monday&admin=1#x")

    [request] = webhook_server.requests
    assert request.path == "/menu"
    assert request.query == {"day": ["Monday&admin=1#x"], "lang": ["en"]}
    assert sim.messages[-1] == "ok"
