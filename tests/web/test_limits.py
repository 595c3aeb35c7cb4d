"""Limits on what a request may carry: body sizes per endpoint, numbers in the query, what the
log keeps of a payload it cannot read.

On the real app (lifespan, SQLite) through httpx's ASGI transport; the client is signed in
for the staff pages and carries the API token for /api/v1.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from sutra.config import ServerSettings
from sutra.testing.graph_api import signed_webhook, whatsapp_text_payload
from sutra.testing.openai_server import OpenAIStubServer
from tests.editor.conftest import Site, open_site

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ASK_GPT = "5b8e4d3a-6f0e-4c1d-9a55-2f4a1e0c9b10"
API_TOKEN = "api-token-for-limits"
API = {"Authorization": f"Bearer {API_TOKEN}"}
APP_SECRET = "app-secret-for-limits"
TOO_BIG = 2**63

MakeSite = Callable[..., Awaitable[Site]]


@pytest.fixture
async def make_site(
    tmp_path: Path, stub: OpenAIStubServer, clean_env: None
) -> AsyncIterator[MakeSite]:
    async with AsyncExitStack() as stack:

        async def make(**overrides: Any) -> Site:
            settings = ServerSettings(
                sutra_api_token=SecretStr(API_TOKEN),
                whatsapp_app_secret=SecretStr(APP_SECRET),
                **overrides,
            )
            return await stack.enter_async_context(open_site(tmp_path / "sutra.db", stub, settings))

        yield make


@pytest.fixture
async def site(make_site: MakeSite) -> Site:
    return await make_site()


async def import_example(site: Site) -> None:
    body = (EXAMPLES / "ask_gpt.json").read_bytes()
    response = await site.http.post("/api/v1/flows/import", content=body, headers=API)
    assert response.status_code == 201, response.text


async def chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """A body sent without Content-Length (chunked), as a client streaming it would."""
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


# --- body sizes --------------------------------------------------------------------------------


async def test_a_webhook_larger_than_its_limit_is_refused_before_the_signature(
    make_site: MakeSite,
) -> None:
    site = await make_site(sutra_channel_max_bytes=10_000)
    payload = whatsapp_text_payload("919812345678", "x" * 20_000)
    raw, headers = signed_webhook(APP_SECRET, payload)
    response = await site.http.post("/webhooks/whatsapp", content=raw, headers=headers)
    assert response.status_code == 413
    assert response.json()["detail"] == (
        "request body larger than 10000 bytes (see SUTRA_CHANNEL_MAX_BYTES)"
    )
    # Streamed, with no size announced: counted as it comes and refused at the limit.
    response = await site.http.post(
        "/webhooks/whatsapp", content=chunks(1_000_000), headers={"X-Hub-Signature-256": "x"}
    )
    assert response.status_code == 413
    # Under the limit, the webhook goes on to its signature check as before.
    small, _ = signed_webhook(APP_SECRET, whatsapp_text_payload("919812345678", "hi"))
    response = await site.http.post("/webhooks/whatsapp", content=small)
    assert response.status_code == 401


async def test_flow_files_may_be_larger_than_other_requests(site: Site) -> None:
    flow = json.loads((EXAMPLES / "ask_gpt.json").read_text())
    # A flow with a lot of text (1.5 MB): too big for an ordinary request, fine for a flow.
    flow["flows"][0]["definition"]["nodes"][0]["actions"][0]["text"] = "Hello! " * 220_000
    body = json.dumps(flow).encode()
    assert 1_000_000 < len(body) < 20_000_000
    response = await site.http.post("/api/v1/flows/import", content=body, headers=API)
    assert response.status_code == 201, response.text[:300]
    response = await site.http.post("/flows/import", content=body)
    assert response.status_code == 201, response.text[:300]

    start = {"urns": [f"whatsapp:91{n:010d}" for n in range(60_000)]}
    response = await site.http.post(f"/api/v1/flows/{ASK_GPT}/start", json=start, headers=API)
    assert response.status_code == 413
    assert "SUTRA_REQUEST_MAX_BYTES" in response.json()["detail"]


async def test_a_contact_csv_may_be_larger_than_other_requests(make_site: MakeSite) -> None:
    site = await make_site(sutra_import_max_bytes=3_000_000)
    # 40,000 contacts, 1.5 MB: over the 1 MB of an ordinary request.
    rows = "".join(f"Person {n},+9198{n:08d}\n" for n in range(40_000))
    data = ("Name,Phone\n" + rows).encode()
    assert 1_000_000 < len(data) < 3_000_000
    files = {"file": ("people.csv", data, "text/csv")}
    response = await site.http.post("/api/v1/contacts/imports/preview", files=files, headers=API)
    assert response.status_code == 200, response.text[:300]
    assert (response.json()["rows"], response.json()["valid"]) == (40_000, 40_000)
    # The import page's twin takes it too (the signed-in session).
    response = await site.http.post("/console/api/contacts/imports/preview", files=files)
    assert response.status_code == 200, response.text[:300]
    # Over its own limit it is refused, naming the setting that raises it.
    files = {"file": ("people.csv", data * 3, "text/csv")}
    response = await site.http.post("/api/v1/contacts/imports", files=files, headers=API)
    assert response.status_code == 413
    assert "SUTRA_IMPORT_MAX_BYTES" in response.json()["detail"]
    # Other routes keep the ordinary limit.
    response = await site.http.post("/api/v1/groups", content=data, headers=API)
    assert response.status_code == 413
    assert "SUTRA_REQUEST_MAX_BYTES" in response.json()["detail"]


# --- numbers in the query ----------------------------------------------------------------------


async def test_numbers_past_64_bits_are_refused_not_a_server_error(site: Site) -> None:
    await import_example(site)
    response = await site.http.get(f"/api/v1/contacts?offset={TOO_BIG}", headers=API)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "offset"]
    response = await site.http.get("/api/v1/contacts?offset=-1", headers=API)
    assert response.status_code == 422
    response = await site.http.get(f"/api/v1/contacts?limit={TOO_BIG}", headers=API)
    assert response.status_code == 422
    response = await site.http.get(f"/api/v1/broadcasts/{TOO_BIG}", headers=API)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "broadcast_id"]
    response = await site.http.get(f"/simulator/api/messages?contact=asha&after={TOO_BIG}")
    assert response.status_code == 422
    response = await site.http.get(f"/flow-editor/revisions/{ASK_GPT}/{TOO_BIG}")
    assert response.status_code == 404
    # The largest offset the database takes is fine: nothing there.
    response = await site.http.get(f"/api/v1/contacts?offset={TOO_BIG - 1}", headers=API)
    assert response.status_code == 200
    assert response.json()["results"] == []


# --- what the log keeps ------------------------------------------------------------------------


async def test_an_unreadable_payload_is_logged_short_and_without_secrets(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    payload = {
        "object": "whatsapp_business_account",
        "access_token": "EAAG-secret-token",
        "entry": "x" * 900_000,
    }
    raw, headers = signed_webhook(APP_SECRET, payload)
    with caplog.at_level(logging.WARNING, logger="sutra.web.webhooks"):
        response = await site.http.post("/webhooks/whatsapp", content=raw, headers=headers)
    assert response.status_code == 400
    assert response.json()["detail"] == "entry: expected an array, got str"
    [record] = [r for r in caplog.records if r.getMessage().startswith("unreadable whatsapp")]
    logged = str(record.payload)  # type: ignore[attr-defined]
    assert len(logged) < 2_100
    assert logged.startswith('{"object": "whatsapp_business_account"')
    assert "EAAG-secret-token" not in logged and "[redacted]" in logged
    masked = json.dumps({**payload, "access_token": "[redacted]"})
    assert logged.endswith(f"... ({len(masked)} characters in all)")
