"""The server's own log (uvicorn's access log included) never holds a secret from a URL."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from sutra.testing.gupshup_api import GupshupStubServer, gupshup_text_payload
from tests.server.conftest import GUPSHUP_TOKEN, VERIFY_TOKEN, ServerProcess, wait_for

METRICS_TOKEN = "metrics-token-never-logged"


def test_query_string_secrets_are_masked_in_the_log(
    server_env: dict[str, str],
    make_server: Callable[..., ServerProcess],
    gupshup_api: GupshupStubServer,
) -> None:
    server = make_server({**server_env, "SUTRA_METRICS_TOKEN": METRICS_TOKEN})
    payload = gupshup_text_payload("919876543210", "hello", name="Ravi")
    delivered = server.post("/webhooks/gupshup", params={"token": GUPSHUP_TOKEN}, json=payload)
    assert delivered.status_code == 200
    # A near miss is as sensitive as the real token: it is masked too.
    near = f"{GUPSHUP_TOKEN}-typo"
    assert server.post("/webhooks/gupshup", params={"token": near}, json=payload).status_code == 401
    handshake = httpx.get(
        f"{server.url}/webhooks/whatsapp",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )
    assert handshake.text == "1158201444"
    scraped = httpx.get(
        f"{server.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert scraped.status_code == 200

    def logged() -> str | None:
        logs = server.logs()
        return logs if "hub.verify_token=[redacted]" in logs else None

    logs = wait_for(logged, what="the handshake in the access log")
    # The requests are in the access log, each with its secret masked and the rest kept.
    assert "/webhooks/gupshup?token=[redacted]" in logs
    assert "hub.mode=subscribe&hub.verify_token=[redacted]&hub.challenge=1158201444" in logs
    for secret in (GUPSHUP_TOKEN, near, VERIFY_TOKEN, METRICS_TOKEN):
        assert secret not in logs
