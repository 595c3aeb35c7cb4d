"""Two organisations on one ``sutra serve``: each its own WhatsApp number on the Graph API
stand-in (its own access token and app secret) and its own OpenAI key, the same flow imported
in both. A contact writing to each number gets that organisation's answer, made with its key,
billed to its usage; a number nobody has is refused and stored nowhere."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from sutra.testing.graph_api import (
    DEFAULT_PHONE_NUMBER_ID,
    GraphAPIStubServer,
    signed_webhook,
    whatsapp_text_payload,
)
from sutra.testing.openai_server import OpenAIStubServer, Reply
from tests.server.conftest import APP_SECRET, OPENAI_KEY, SUTRA, ServerProcess, wait_for

ROOT = Path(__file__).resolve().parents[2]
SECOND_NUMBER = "209876543210987"
SECOND_TOKEN = "second-ngo-access-token"
SECOND_SECRET = "second-ngo-app-secret"
SECOND_KEY = "sk-second-ngo-key-never-logged"
ASHA = "919812345678"


@pytest.fixture
def second_llm() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer(api_key=SECOND_KEY) as server:
        yield server


def sutra(env: dict[str, str], *args: str, secret: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(SUTRA), *args],
        env={**os.environ, **env, **(secret or {})},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def send(server: ServerProcess, payload: dict, secret: str) -> httpx.Response:
    raw, headers = signed_webhook(secret, payload)
    return server.post("/webhooks/whatsapp", content=raw, headers=headers)


def api(server: ServerProcess, token: str, method: str, path: str, **kw: object) -> httpx.Response:
    return server.api(method, path, headers={"Authorization": f"Bearer {token}"}, **kw)


def test_two_organisations_answer_on_their_own_numbers_with_their_own_keys(
    server_env: dict[str, str],
    make_server: Callable[..., ServerProcess],
    graph: GraphAPIStubServer,
    llm: OpenAIStubServer,
    second_llm: OpenAIStubServer,
) -> None:
    # The platform administrator prepares the second organisation before starting the server.
    out = sutra(server_env, "org", "create", "Second NGO", "--timezone", "Asia/Kolkata")
    assert "created organisation 2 (Second NGO)" in out
    sutra(
        server_env,
        "org",
        "set",
        "2",
        f"whatsapp_phone_number_id={SECOND_NUMBER}",
        f"openai_base_url={second_llm.base_url}",
        "--secret",
        "whatsapp_access_token",
        "--secret",
        "whatsapp_app_secret",
        "--secret",
        "openai_api_key",
        secret={
            "WHATSAPP_ACCESS_TOKEN": SECOND_TOKEN,
            "WHATSAPP_APP_SECRET": SECOND_SECRET,
            "OPENAI_API_KEY": SECOND_KEY,
        },
    )
    assert "Second NGO" in sutra(server_env, "org", "list")
    graph.add_number(SECOND_NUMBER, SECOND_TOKEN)
    llm.respond(lambda body: Reply("The first NGO's answer"))
    second_llm.respond(lambda body: Reply("The second NGO's answer"))
    server = make_server(server_env)

    # SUTRA_API_TOKEN acts in the default organisation only; the second organisation's
    # token is made by its own administrator on its settings page.
    first_token = server_env["SUTRA_API_TOKEN"]
    made = sutra(
        server_env,
        "user",
        "create",
        "bina@second.org",
        "--org",
        "2",
        secret={"SUTRA_PASSWORD": "second-ngo-password"},
    )
    assert "bina@second.org is admin of organisation 2" in made
    second_token = _token_for_second(server)

    flow = json.loads((ROOT / "examples" / "ask_gpt.json").read_text())
    for token in (first_token, second_token):
        assert api(server, token, "POST", "/api/v1/flows/import", json=flow).status_code == 201

    # Asha writes to both numbers: once to each organisation.
    to_first = whatsapp_text_payload(ASHA, "askgpt", name="Asha")
    to_second = whatsapp_text_payload(ASHA, "askgpt", name="Asha", phone_number_id=SECOND_NUMBER)
    assert send(server, to_first, APP_SECRET).status_code == 200
    assert send(server, to_second, SECOND_SECRET).status_code == 200
    wait_for(lambda: graph.sent_from(SECOND_NUMBER), what="the second NGO's greeting")
    wait_for(lambda: graph.sent_from(DEFAULT_PHONE_NUMBER_ID), what="the first NGO's greeting")
    question = "What is photosynthesis?"
    assert send(server, whatsapp_text_payload(ASHA, question), APP_SECRET).status_code == 200
    payload = whatsapp_text_payload(ASHA, question, phone_number_id=SECOND_NUMBER)
    assert send(server, payload, SECOND_SECRET).status_code == 200

    def answers(number: str) -> list[str]:
        return [b.get("text", {}).get("body", "") for b in graph.sent_from(number)]

    wait_for(lambda: len(answers(SECOND_NUMBER)) >= 2, what="the second NGO's answer")
    wait_for(lambda: len(answers(DEFAULT_PHONE_NUMBER_ID)) >= 2, what="the first NGO's answer")
    assert answers(DEFAULT_PHONE_NUMBER_ID)[1] == "The first NGO's answer"
    assert answers(SECOND_NUMBER)[1] == "The second NGO's answer"
    # Every send went from its own number with its own token: none was refused.
    assert len(graph.sends) == 4
    # Each organisation's key, on its own: the stand-ins refuse any other key.
    assert [r["messages"][-1]["content"] for r in llm.requests] == [question]
    assert [r["messages"][-1]["content"] for r in second_llm.requests] == [question]

    # Billed to each organisation's usage; each sees only its own contact and messages.
    for token, model_answer in ((first_token, "first"), (second_token, "second")):
        usage = api(server, token, "GET", "/api/v1/usage").json()
        assert usage["total"]["calls"] == 1, (model_answer, usage)
        contacts = api(server, token, "GET", "/api/v1/contacts").json()["results"]
        assert [c["urn"] for c in contacts] == [f"whatsapp:{ASHA}"]
        messages = api(
            server, token, "GET", f"/api/v1/contacts/{contacts[0]['uuid']}/messages"
        ).json()["results"]
        texts = {m["text"] for m in messages}
        assert f"The {model_answer} NGO's answer" in texts
        other = "second" if model_answer == "first" else "first"
        assert f"The {other} NGO's answer" not in texts

    # Signed with the other organisation's app secret: refused.
    forged = whatsapp_text_payload(ASHA, "askgpt", phone_number_id=SECOND_NUMBER)
    assert send(server, forged, APP_SECRET).status_code == 401
    # A number no organisation has: refused, logged, stored nowhere.
    stray = whatsapp_text_payload("919900000001", "hello", phone_number_id="999000111222333")
    assert send(server, stray, APP_SECRET).status_code == 404
    assert "999000111222333" in server.logs()
    for token in (first_token, second_token):
        urns = [c["urn"] for c in api(server, token, "GET", "/api/v1/contacts").json()["results"]]
        assert urns == [f"whatsapp:{ASHA}"]
    logs = server.logs()
    for secret in (OPENAI_KEY, SECOND_KEY, SECOND_TOKEN, SECOND_SECRET):
        assert secret not in logs


def _second_organisation(env: dict[str, str], graph: GraphAPIStubServer, llm_url: str) -> None:
    """Organisation 2 with its own number, secrets and OpenAI key; the GPT flow in both."""
    sutra(env, "org", "create", "Second NGO")
    sutra(
        env,
        "org",
        "set",
        "2",
        f"whatsapp_phone_number_id={SECOND_NUMBER}",
        f"openai_base_url={llm_url}",
        *("--secret", "whatsapp_access_token", "--secret", "whatsapp_app_secret"),
        *("--secret", "openai_api_key"),
        secret={
            "WHATSAPP_ACCESS_TOKEN": SECOND_TOKEN,
            "WHATSAPP_APP_SECRET": SECOND_SECRET,
            "OPENAI_API_KEY": SECOND_KEY,
        },
    )
    graph.add_number(SECOND_NUMBER, SECOND_TOKEN)
    flow = str(ROOT / "examples" / "ask_gpt.json")
    sutra(env, "import", flow)
    sutra(env, "import", flow, "--org", "2")


def test_a_full_process_still_works_another_organisations_next_message_at_once(
    server_env: dict[str, str],
    make_server: Callable[..., ServerProcess],
    graph: GraphAPIStubServer,
    llm: OpenAIStubServer,
    second_llm: OpenAIStubServer,
) -> None:
    # The process works 2 contacts at once, each organisation always 1 of its own.
    env = {**server_env, "SUTRA_MAX_IN_FLIGHT": "2", "SUTRA_ORG_IN_FLIGHT": "1"}
    _second_organisation(env, graph, second_llm.base_url)
    server = make_server(env)
    crowd = ["919800000001", "919800000002"]
    for number in crowd:
        assert send(server, whatsapp_text_payload(number, "askgpt"), APP_SECRET).status_code == 200
    wait_for(lambda: len(graph.sent_from(DEFAULT_PHONE_NUMBER_ID)) == 2, what="the greetings")
    # The first organisation's model is slow: both its contacts hold the process's 2 places.
    llm.delay = 6.0
    for number in crowd:
        payload = whatsapp_text_payload(number, "Why is the sky blue?")
        assert send(server, payload, APP_SECRET).status_code == 200
    wait_for(lambda: len(llm.received) == 2, what="the slow questions")
    # The second organisation's contact is greeted and answered meanwhile, not after them.
    to_second = whatsapp_text_payload(ASHA, "askgpt", phone_number_id=SECOND_NUMBER)
    assert send(server, to_second, SECOND_SECRET).status_code == 200
    question = whatsapp_text_payload(ASHA, "What is rain?", phone_number_id=SECOND_NUMBER)
    wait_for(lambda: graph.sent_from(SECOND_NUMBER), timeout=4, what="the second NGO's greeting")
    assert send(server, question, SECOND_SECRET).status_code == 200
    wait_for(lambda: len(graph.sent_from(SECOND_NUMBER)) == 2, timeout=4, what="its answer")
    assert len(graph.sent_from(DEFAULT_PHONE_NUMBER_ID)) == 2  # the slow answers still to come
    wait_for(lambda: len(graph.sent_from(DEFAULT_PHONE_NUMBER_ID)) == 4, what="the slow answers")


def _token_for_second(server: ServerProcess) -> str:
    """Sign in as the second organisation's administrator and make an API token there, as its
    settings page does."""
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        signed = browser.post(
            "/login", data={"email": "bina@second.org", "password": "second-ngo-password"}
        )
        assert signed.status_code == 303, signed.text
        browser.headers["X-CSRFToken"] = browser.cookies["csrftoken"]
        made = browser.post("/console/api/settings/tokens", json={"name": "tests", "role": "admin"})
        assert made.status_code == 201, made.text
        token: str = made.json()["token"]
        return token
