"""Flows' HTTP webhooks take fair shares per organisation: one organisation's slow service
holds its own calls back, never another organisation's."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sutra.config import get_settings
from sutra.engine.session import WebhookRequest
from sutra.functions.services import Services
from sutra.outbound import FetchPolicy, guarded_client
from sutra.runtime.webhooks import CallContext, WebhookSettings, perform


class SlowService:
    """Answers each GET after ``delay`` s; notes how many calls of each organisation (the
    ``?org=`` of the URL) it was serving at once, at most."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.now: dict[str, int] = {}
        self.most: dict[str, int] = {}
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                org = self.path.partition("org=")[2]
                with service.lock:
                    service.now[org] = service.now.get(org, 0) + 1
                    service.most[org] = max(service.most.get(org, 0), service.now[org])
                time.sleep(service.delay)
                with service.lock:
                    service.now[org] -= 1
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> SlowService:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def two_at_most(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SUTRA_WEBHOOK_ORG_CONCURRENCY", "1")
    monkeypatch.setenv("SUTRA_WEBHOOK_ORG_BURST", "2")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def _call(url: str, org: int, client: object, finished: list[int]) -> None:
    request = WebhookRequest(
        method="GET", url=f"{url}?org={org}", result_name="hook", action_uuid="a",
        node_uuid="n", flow_uuid="f",
    )  # fmt: skip
    context = CallContext(organization_id=org, flow_uuid="f", contact_id=org, result_name="hook")
    outcome, _ = await perform(
        request,
        context,
        Services(http=client),
        WebhookSettings(http_timeout=30),  # type: ignore[arg-type]
    )
    assert outcome.success, outcome.error
    finished.append(org)


async def test_a_slow_service_of_one_organisation_does_not_hold_back_another(
    two_at_most: None,
) -> None:
    client = guarded_client(FetchPolicy.parse("127.0.0.1"))
    finished: list[int] = []
    try:
        with SlowService(delay=0.3) as service:
            burst = [asyncio.create_task(_call(service.url, 1, client, finished)) for _ in range(8)]
            await asyncio.sleep(0.05)  # organisation 1's calls are under way and queued
            await _call(service.url, 2, client, finished)
            await asyncio.gather(*burst)
    finally:
        await client.aclose()

    # Organisation 1 never had more than its burst of 2 calls at its service...
    assert service.most["1"] == 2
    # ...and organisation 2's call, made after all eight, did not wait for them.
    assert finished.index(2) < 4 and len(finished) == 9
