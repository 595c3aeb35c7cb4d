"""JSON from outside: nesting deep enough to break the decoder is a 4xx naming where, and text
that cannot be stored (NUL, lone surrogates) is cleaned on the way in, the rest kept.

On the real app (lifespan, SQLite) through httpx's ASGI transport, signed in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from sutra.config import ServerSettings
from sutra.engine.session import WebhookRequest
from sutra.functions.services import Services
from sutra.runtime.webhooks import CallContext, perform
from sutra.testing.openai_server import OpenAIStubServer
from tests.editor.conftest import Site, open_site

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ASK_GPT = "5b8e4d3a-6f0e-4c1d-9a55-2f4a1e0c9b10"
API = {"Authorization": "Bearer api-token-for-json"}
GUPSHUP_TOKEN = "gupshup-token-for-json"


@pytest.fixture
async def site(tmp_path: Path, stub: OpenAIStubServer, clean_env: None) -> AsyncIterator[Site]:
    settings = ServerSettings(
        sutra_api_token=SecretStr("api-token-for-json"),
        gupshup_webhook_token=SecretStr(GUPSHUP_TOKEN),
    )
    async with open_site(tmp_path / "sutra.db", stub, settings) as opened:
        yield opened


def nested(depth: int) -> str:
    return '{"flows": [' + '{"a": ' * depth + "1" + "}" * depth + "]}"


async def test_json_nested_1000_deep_is_a_4xx_naming_where(site: Site) -> None:
    deep = nested(1000)
    # Levels 1 and 2 are the file and its list; the 65th is the value of the 62nd "a".
    where = "$.flows[0]" + ".a" * 62

    response = await site.http.post(f"/webhooks/gupshup?token={GUPSHUP_TOKEN}", content=deep)
    assert response.status_code == 400
    assert response.json()["detail"] == f"body: JSON nested deeper than 64 levels at {where}"

    response = await site.http.post("/api/v1/flows/import", content=deep, headers=API)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"path": where, "message": "JSON nested deeper than 64 levels"}
    ]

    response = await site.http.post("/flows/import", content=deep)
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == where

    body = (EXAMPLES / "ask_gpt.json").read_bytes()
    response = await site.http.post("/api/v1/flows/import", content=body, headers=API)
    assert response.status_code == 201, response.text
    response = await site.http.post(f"/flow-editor/revisions/{ASK_GPT}", content=deep)
    assert response.status_code == 400
    assert response.json()["detail"] == f"the body: JSON nested deeper than 64 levels at {where}"


async def test_a_flow_file_holding_nul_and_lone_surrogates_imports_cleaned(site: Site) -> None:
    # json.dumps writes them as the escapes \u0000 and \ud800, which decode to what no
    # database column takes.
    body = (EXAMPLES / "ask_gpt.json").read_text().replace("Hi ", "Hi\\u0000 \\ud800 ", 1)
    response = await site.http.post("/api/v1/flows/import", content=body, headers=API)
    assert response.status_code == 201, response.text
    flow = (await site.http.get(f"/api/v1/flows/{ASK_GPT}", headers=API)).json()
    texts = [a.get("text", "") for n in flow["definition"]["nodes"] for a in n["actions"]]
    assert any(text.startswith("Hi \ufffd ") for text in texts), texts


async def test_a_webhook_answer_holding_nul_and_lone_surrogates_is_kept_cleaned() -> None:
    answer = b'{"reply": "ok\\u0000 \\ud800!", "items": [{"na\\u0000me": "x"}]}'

    def service(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=answer, headers={"Content-Type": "application/json"})

    request = WebhookRequest(
        method="POST",
        url="https://crm.example/answer",
        body="{}",
        result_name="crm",
        action_uuid="a",
        node_uuid="n",
        flow_uuid="f",
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(service)) as http:
        outcome, log = await perform(request, CallContext(1, "f", 1, "crm"), Services(http=http))
    assert outcome.success, outcome.error
    assert outcome.result == {"reply": "ok \ufffd!", "items": [{"name": "x"}]}
    assert outcome.json_body == outcome.result
    assert log.response == outcome.result


async def test_a_webhook_answer_nested_2000_deep_takes_the_failure_path() -> None:
    answer = b'{"a": ' + b"[" * 2000 + b"]" * 2000 + b"}"

    def service(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=answer, headers={"Content-Type": "application/json"})

    request = WebhookRequest(
        method="GET",
        url="https://crm.example/deep",
        body="",
        result_name="crm",
        action_uuid="a",
        node_uuid="n",
        flow_uuid="f",
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(service)) as http:
        outcome, log = await perform(request, CallContext(1, "f", 1, "crm"), Services(http=http))
    assert not outcome.success
    assert outcome.error is not None and "nested deeper than 64 levels at $.a" in outcome.error
    assert log.error == outcome.error
