"""``sutra serve`` and ``sutra import`` against JSON from outside: nesting deep enough to break
the decoder, text no database takes (NUL, lone surrogates) from contacts and from the LLM."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from sutra.testing.graph_api import (
    GraphAPIStubServer,
    signature_header,
    signed_webhook,
    whatsapp_text_payload,
)
from sutra.testing.openai_server import OpenAIStubServer, Reply
from tests.server.conftest import APP_SECRET, GUPSHUP_TOKEN, SUTRA, ServerProcess, wait_for
from tests.server.test_whatsapp import ASHA, import_example, send, texts


def nested(depth: int) -> bytes:
    return ('{"entry": ' + "[" * depth + "]" * depth + "}").encode()


def test_json_nested_1000_deep_is_a_4xx_on_the_webhook_and_the_import(
    server_env: dict[str, str],
    make_server: Callable[..., ServerProcess],
    graph: GraphAPIStubServer,
) -> None:
    server = make_server(server_env)
    import_example(server)
    raw = nested(1000)
    headers = {"X-Hub-Signature-256": signature_header(APP_SECRET, raw)}
    response = server.post("/webhooks/whatsapp", content=raw, headers=headers)
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "body: JSON nested deeper than 64 levels at $.entry" + "[0]" * 63
    )
    response = server.post(f"/webhooks/gupshup?token={GUPSHUP_TOKEN}", content=raw)
    assert response.status_code == 400

    response = server.api("POST", "/api/v1/flows/import", content=raw)
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "$.entry" + "[0]" * 63

    # The server carries on: the next message is answered.
    assert send(server, whatsapp_text_payload(ASHA, "askgpt", name="Asha")) == 200
    wait_for(lambda: len(graph.sent) >= 1, what="the greeting")
    assert "Traceback" not in server.logs()


def test_sutra_import_of_deep_json_is_an_error_not_a_traceback(
    tmp_path: Path, database_url: str
) -> None:
    deep = tmp_path / "deep.json"
    deep.write_bytes(nested(1000))
    env = {**os.environ, "SUTRA_DATABASE_URL": database_url}
    done = subprocess.run(
        [str(SUTRA), "import", str(deep)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"{deep}: $.entry{'[0]' * 63}: JSON nested deeper than 64 levels" in " ".join(
        done.stderr.split()
    )


def test_a_message_holding_a_lone_surrogate_and_nul_is_stored_and_answered(
    server_env: dict[str, str],
    make_server: Callable[..., ServerProcess],
    graph: GraphAPIStubServer,
    llm: OpenAIStubServer,
) -> None:
    server = make_server(server_env)
    import_example(server)
    # json.dumps spells them as \ud800 and \u0000, as a phone's broken emoji would arrive.
    assert send(server, whatsapp_text_payload(ASHA, "askgpt", name="Asha\x00")) == 200
    wait_for(lambda: len(graph.sent) >= 1, what="the greeting")
    assert texts(graph)[0].startswith("Hi Asha!")
    assert send(server, whatsapp_text_payload(ASHA, "What is \ud800 photo\x00synthesis?")) == 200
    wait_for(lambda: len(graph.sent) >= 2, what="the GPT answer")
    assert texts(graph)[1] == "echo: What is \ufffd photosynthesis?"
    assert llm.requests[0]["messages"][-1]["content"] == "What is \ufffd photosynthesis?"

    contact = server.api("GET", "/api/v1/contacts").json()["results"][0]
    assert contact["name"] == "Asha"
    history = server.api("GET", f"/api/v1/contacts/{contact['uuid']}/messages").json()
    inbound = {r["text"]: r["status"] for r in history["results"] if r["direction"] == "in"}
    assert inbound["What is \ufffd photosynthesis?"] == "handled"


def test_an_llm_answer_holding_nul_and_a_lone_surrogate_reaches_the_contact(
    server_env: dict[str, str],
    make_server: Callable[..., ServerProcess],
    graph: GraphAPIStubServer,
    llm: OpenAIStubServer,
) -> None:
    server = make_server(server_env)
    import_example(server)
    llm.plan(Reply(text="Plants\x00 make food \ud83d from light."))
    assert send(server, whatsapp_text_payload(ASHA, "askgpt", name="Asha")) == 200
    wait_for(lambda: len(graph.sent) >= 1, what="the greeting")
    assert send(server, whatsapp_text_payload(ASHA, "What is photosynthesis?")) == 200
    wait_for(lambda: len(graph.sent) >= 2, what="the GPT answer")
    assert texts(graph)[1] == "Plants make food \ufffd from light."
    contact = server.api("GET", "/api/v1/contacts").json()["results"][0]
    history = server.api("GET", f"/api/v1/contacts/{contact['uuid']}/messages").json()
    outbound = [r["text"] for r in history["results"] if r["direction"] == "out"]
    assert "Plants make food \ufffd from light." in outbound


def test_what_no_database_stores_is_a_4xx_or_kept_storable(
    server_env: dict[str, str],
    make_server: Callable[..., ServerProcess],
    graph: GraphAPIStubServer,
) -> None:
    server = make_server(server_env)
    import_example(server)
    # NaN and 1e999 are read by Python's decoder, but are not JSON and no JSON column takes them.
    for spelt in ("NaN", "1e999"):
        raw = json.dumps(whatsapp_text_payload(ASHA, "askgpt")).replace('"whatsapp"', spelt, 1)
        headers = {"X-Hub-Signature-256": signature_header(APP_SECRET, raw.encode())}
        response = server.post("/webhooks/whatsapp", content=raw, headers=headers)
        assert response.status_code == 400, response.text
        assert response.json()["detail"].startswith("body is not JSON: ")
    # A sender address past any real one is refused, naming the field.
    huge_sender = whatsapp_text_payload("9" * 5000, "askgpt")
    raw, headers = signed_webhook(APP_SECRET, huge_sender)
    response = server.post("/webhooks/whatsapp", content=raw, headers=headers)
    assert response.status_code == 400
    assert "messages[0].from: longer than 128 characters" in response.json()["detail"]
    # A message id too long for the unique index is kept (by its digest), once.
    long_id = whatsapp_text_payload(ASHA, "askgpt", name="Asha", wamid="wamid." + "x" * 5000)
    assert send(server, long_id) == 200
    assert send(server, long_id) == 200
    wait_for(lambda: len(graph.sent) >= 1, what="the greeting")

    contact = server.api("GET", "/api/v1/contacts").json()["results"][0]
    # Staff and the API type NUL and lone surrogates too (a paste, a broken client).
    body = json.dumps({"name": "Asha\x00 \ud800", "fields": {"note": "a\x00b"}})
    response = server.api(
        "PATCH",
        f"/api/v1/contacts/{contact['uuid']}",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Asha \ufffd"
    history = server.api("GET", f"/api/v1/contacts/{contact['uuid']}/messages").json()
    assert [r["text"] for r in history["results"] if r["direction"] == "in"] == ["askgpt"]
    assert "Traceback" not in server.logs()
