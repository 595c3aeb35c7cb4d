"""The outbound fetch policy and the caps on what webhooks and images may bring back.

A flow's webhook URL, or a contact's answer used as one, must not reach Sutra's own machine or
network; an answer must not be read whole when it is huge; no fetch may run for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sutra.config import get_settings
from sutra.engine.session import WebhookRequest
from sutra.functions.registry import FunctionError
from sutra.functions.services import Services
from sutra.functions.vision import fetch_image
from sutra.outbound import FetchPolicy, guarded_client
from sutra.runtime.context import open_runner
from sutra.runtime.media import MediaStore
from sutra.runtime.runner import Runner
from sutra.runtime.webhooks import CallContext, WebhookSettings, perform
from sutra.store import models as m
from sutra.testing.openai_server import OpenAIStubServer

from .conftest import HttpReply, WebhookServer
from .helpers import converse, rows, simulate, webhook_flow, write_flow

PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)


@pytest.fixture
async def runner_allowing(
    database_url: str, openai_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[[str], Any]]:
    """Opens a runner as ``sutra simulate`` builds it, with ``SUTRA_FETCH_ALLOW`` as given."""
    stack = contextlib.AsyncExitStack()

    async def open_with(allow: str) -> Runner:
        for key in list(os.environ):
            if key.startswith(("SUTRA_", "OPEN_AI_")):
                monkeypatch.delenv(key)
        for key, value in openai_env.items():
            monkeypatch.setenv(key, value)
        if allow:
            monkeypatch.setenv("SUTRA_FETCH_ALLOW", allow)
        get_settings.cache_clear()
        return await stack.enter_async_context(open_runner(database_url, channel="sim"))

    yield open_with
    await stack.aclose()
    get_settings.cache_clear()


def hook_flow(tmp_path: Path, url: str) -> Path:
    flow = webhook_flow(method="GET", url=url, success="OK: @results.hook.value", ask=None)
    return write_flow(tmp_path, flow)


def vision_flow(tmp_path: Path, url: str) -> Path:
    flow = webhook_flow(
        method="FUNCTION",
        url="parse_via_gpt_vision",
        body={"url": url, "prompt": "What is in the photo?"},
        ask=None,
        success="Seen: @results.hook.response",
    )
    return write_flow(tmp_path, flow)


# --- forbidden addresses ---------------------------------------------------------------------

# Each form reaches the webhook server's machine (or its cloud's metadata, or its network).
FORBIDDEN = {
    "127.0.0.1": "refused: 127.0.0.1 is a loopback address",
    "0.0.0.0": "refused: 0.0.0.0 is an unspecified address",
    "2130706433": "refused: 2130706433 is 127.0.0.1, a loopback address",
    "0x7f000001": "refused: 0x7f000001 is 127.0.0.1, a loopback address",
    "017700000001": "refused: 017700000001 is 127.0.0.1, a loopback address",
    "127.1": "refused: 127.1 is 127.0.0.1, a loopback address",
    "[::1]": "refused: ::1 is a loopback address",
    "[::ffff:127.0.0.1]": "refused: ::ffff:127.0.0.1 is 127.0.0.1, a loopback address",
    "169.254.169.254": "refused: 169.254.169.254 is a link-local address",
    "10.0.0.1": "refused: 10.0.0.1 is a private address",
    "192.168.1.1": "refused: 192.168.1.1 is a private address",
    "100.64.0.1": "refused: 100.64.0.1 is a shared (carrier-grade NAT) address",
    "[fd00:ec2::254]": "refused: fd00:ec2::254 is a private address",
}


@pytest.mark.parametrize("host", list(FORBIDDEN))
async def test_a_webhook_to_an_internal_address_takes_failure_unsent(
    host: str,
    runner_allowing: Callable[[str], Any],
    webhook_server: WebhookServer,
    tmp_path: Path,
    database_url: str,
) -> None:
    runner = await runner_allowing("")
    port = webhook_server.base_url.rsplit(":", 1)[1]

    started = time.monotonic()
    chat = await converse(runner, hook_flow(tmp_path, f"http://{host}:{port}/admin"))

    assert chat.messages == [f"Failed: {FORBIDDEN[host]}"]
    assert chat.results["hook"]["category"] == "Failure"
    [log] = rows(database_url, m.WebhookLog)
    assert log["error"] == FORBIDDEN[host]
    assert webhook_server.requests == []
    # Refused before any connection: 10.0.0.1 would otherwise wait out the timeout.
    assert time.monotonic() - started < 2


async def test_a_name_that_resolves_to_loopback_is_refused(
    runner_allowing: Callable[[str], Any], webhook_server: WebhookServer, tmp_path: Path
) -> None:
    runner = await runner_allowing("")
    port = webhook_server.base_url.rsplit(":", 1)[1]

    chat = await converse(runner, hook_flow(tmp_path, f"http://localhost:{port}/"))

    assert re.fullmatch(
        r"Failed: refused: localhost is (127\.0\.0\.1|::1), a loopback address", chat.messages[0]
    )
    assert webhook_server.requests == []


async def test_a_contacts_answer_used_as_the_url_is_refused(
    runner_allowing: Callable[[str], Any], webhook_server: WebhookServer, tmp_path: Path
) -> None:
    runner = await runner_allowing("")
    port = webhook_server.base_url.rsplit(":", 1)[1]
    flow = webhook_flow(method="GET", url=f"http://@results.question:{port}/", ask="Your server?")

    chat = await converse(runner, write_flow(tmp_path, flow), "127.0.0.1")

    assert chat.messages[-1] == "Failed: refused: 127.0.0.1 is a loopback address"
    assert webhook_server.requests == []


def test_sutra_simulate_refuses_loopback_without_the_allow_list(
    tmp_path: Path, cli_env: dict[str, str], webhook_server: WebhookServer
) -> None:
    env = {k: v for k, v in cli_env.items() if k != "SUTRA_FETCH_ALLOW"}

    sim = simulate(hook_flow(tmp_path, f"{webhook_server.base_url}/"), env=env, cwd=tmp_path)

    assert sim.returncode == 0, sim.explain()
    assert sim.messages == ["Failed: refused: 127.0.0.1 is a loopback address"]
    assert webhook_server.requests == []


# --- the allow-list ----------------------------------------------------------------------------


@pytest.mark.parametrize("allow", ["localhost", "crm.internal, LOCALHOST."])
async def test_the_allow_list_lets_a_named_internal_host_through(
    allow: str,
    runner_allowing: Callable[[str], Any],
    webhook_server: WebhookServer,
    tmp_path: Path,
) -> None:
    runner = await runner_allowing(allow)
    webhook_server.plan(HttpReply(body={"value": "inside"}))
    port = webhook_server.base_url.rsplit(":", 1)[1]

    chat = await converse(runner, hook_flow(tmp_path, f"http://localhost:{port}/"))

    assert chat.messages == ["OK: inside"]
    assert len(webhook_server.requests) == 1


async def test_a_named_host_does_not_open_its_address(
    runner_allowing: Callable[[str], Any], webhook_server: WebhookServer, tmp_path: Path
) -> None:
    runner = await runner_allowing("localhost")

    chat = await converse(runner, hook_flow(tmp_path, f"{webhook_server.base_url}/"))

    assert chat.messages == ["Failed: refused: 127.0.0.1 is a loopback address"]


async def test_the_allow_list_takes_networks(
    runner_allowing: Callable[[str], Any], webhook_server: WebhookServer, tmp_path: Path
) -> None:
    runner = await runner_allowing("127.0.0.0/8")
    webhook_server.plan(HttpReply(body={"value": "inside"}))
    port = webhook_server.base_url.rsplit(":", 1)[1]

    chat = await converse(runner, hook_flow(tmp_path, f"http://127.0.0.1:{port}/"))

    assert chat.messages == ["OK: inside"]


async def test_a_mistyped_allow_list_stops_the_start(
    runner_allowing: Callable[[str], Any],
) -> None:
    with pytest.raises(
        ValueError, match=r"'10\.0\.0\.0/33' is not a host name, address or network"
    ):
        await runner_allowing("crm.internal, 10.0.0.0/33")


# --- redirects -----------------------------------------------------------------------------------


@pytest.fixture
def internal() -> Iterator[WebhookServer]:
    """A second loopback service: what a redirect must not reach."""
    server = WebhookServer()
    server.start()
    yield server
    server.stop()


async def test_a_webhook_redirect_is_not_followed(
    runner_allowing: Callable[[str], Any],
    webhook_server: WebhookServer,
    internal: WebhookServer,
    tmp_path: Path,
) -> None:
    runner = await runner_allowing("localhost")
    webhook_server.plan(HttpReply(302, "", headers={"Location": f"{internal.base_url}/secret"}))
    port = webhook_server.base_url.rsplit(":", 1)[1]

    chat = await converse(runner, hook_flow(tmp_path, f"http://localhost:{port}/"))

    assert chat.messages == ["Failed: HTTP 302"]
    assert internal.requests == []


async def test_an_image_redirected_to_loopback_is_refused(
    runner_allowing: Callable[[str], Any],
    webhook_server: WebhookServer,
    internal: WebhookServer,
    openai_stub: OpenAIStubServer,
    tmp_path: Path,
) -> None:
    runner = await runner_allowing("localhost")
    webhook_server.plan(HttpReply(302, "", headers={"Location": f"{internal.base_url}/img"}))
    internal.plan(HttpReply(body=PNG, content_type="image/png"))
    port = webhook_server.base_url.rsplit(":", 1)[1]

    chat = await converse(runner, vision_flow(tmp_path, f"http://localhost:{port}/photo.png"))

    assert chat.messages == ["Failed: refused: 127.0.0.1 is a loopback address"]
    assert len(webhook_server.requests) == 1
    assert internal.requests == []
    assert openai_stub.requests == []


async def test_an_image_at_a_loopback_url_is_refused(
    runner_allowing: Callable[[str], Any],
    webhook_server: WebhookServer,
    openai_stub: OpenAIStubServer,
    tmp_path: Path,
) -> None:
    runner = await runner_allowing("")
    webhook_server.plan(HttpReply(body=PNG, content_type="image/png"))

    chat = await converse(runner, vision_flow(tmp_path, f"{webhook_server.base_url}/p.png"))

    assert chat.messages == ["Failed: refused: 127.0.0.1 is a loopback address"]
    assert chat.results["hook"]["category"] == "Failure"
    assert webhook_server.requests == []
    assert openai_stub.requests == []


# --- answer caps -------------------------------------------------------------------------------


async def test_a_large_answer_reaches_the_flow_and_the_log_keeps_its_start(
    runner_allowing: Callable[[str], Any],
    webhook_server: WebhookServer,
    tmp_path: Path,
    database_url: str,
) -> None:
    runner = await runner_allowing("127.0.0.1")
    value = "x" * 30_000
    webhook_server.plan(HttpReply(body={"value": value}))

    chat = await converse(runner, hook_flow(tmp_path, f"{webhook_server.base_url}/"))

    assert chat.messages == [f"OK: {value}"]
    [log] = rows(database_url, m.WebhookLog)
    answer = json.dumps({"value": value})
    assert log["response"] == {
        "body": answer[:10_000],
        "cut": f"first 10,000 of {len(answer):,} bytes kept",
    }


async def test_an_answer_over_the_cap_fails_the_call(
    runner_allowing: Callable[[str], Any],
    webhook_server: WebhookServer,
    tmp_path: Path,
    database_url: str,
) -> None:
    runner = await runner_allowing("127.0.0.1")
    webhook_server.plan(HttpReply(body={"value": "x" * 1_500_000}))

    chat = await converse(runner, hook_flow(tmp_path, f"{webhook_server.base_url}/"))

    assert chat.messages == ["Failed: answer larger than 1,000,000 bytes"]
    [log] = rows(database_url, m.WebhookLog)
    assert log["error"] == "answer larger than 1,000,000 bytes"
    assert log["response"]["body"].startswith('{"value": "xxx')
    assert log["response"]["cut"] == "first 10,000 of 1,500,013 bytes kept"


class Endless:
    """A loopback server whose answer goes on (close-delimited, no Content-Length) for
    ``total`` bytes, or a byte every ``every`` seconds; it counts what it managed to send."""

    def __init__(self, *, total: int, every: float = 0.0, kind: str = "application/json") -> None:
        self.sent = 0
        outer = self
        piece = b"x" * 65_536

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    while outer.sent < total and not outer.stopping.is_set():
                        chunk = piece[:1] if every else piece
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        outer.sent += len(chunk)
                        if every:
                            outer.stopping.wait(every)

        self.stopping = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Endless:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def http_request(url: str) -> WebhookRequest:
    return WebhookRequest(
        method="GET", url=url, result_name="hook", action_uuid="a", node_uuid="n", flow_uuid="f"
    )


CONTEXT = CallContext(organization_id=1, flow_uuid="f", contact_id=1, result_name="hook")


async def test_a_50_mb_answer_is_cut_without_being_read_whole() -> None:
    client = guarded_client(FetchPolicy.parse("127.0.0.1"))
    with Endless(total=50 * 1024 * 1024) as server:
        tracemalloc.start()
        try:
            outcome, log = await perform(
                http_request(server.url),
                CONTEXT,
                Services(http=client),
                WebhookSettings(http_timeout=30),
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            await client.aclose()
        await asyncio.sleep(0.2)  # the server notices the closed connection
        sent = server.sent

    assert outcome.success is False
    assert outcome.error == "answer larger than 1,000,000 bytes"
    assert log.response["cut"] == "first 10,000 of more than 1,000,000 bytes kept"
    assert peak < 10 * 1024 * 1024
    # The connection was dropped at the cap: the server could not hand over the rest.
    assert sent < 20 * 1024 * 1024


# --- total time ------------------------------------------------------------------------------


async def test_a_trickling_webhook_answer_is_bounded_by_the_timeout() -> None:
    client = guarded_client(FetchPolicy.parse("127.0.0.1"))
    with Endless(total=10_000, every=0.1) as server:
        started = time.monotonic()
        try:
            outcome, _ = await perform(
                http_request(server.url),
                CONTEXT,
                Services(http=client),
                WebhookSettings(http_timeout=1),
            )
        finally:
            await client.aclose()
        elapsed = time.monotonic() - started

    assert outcome.error == "no answer within 1 s"
    assert elapsed < 10  # the whole trickle would take over 15 minutes


async def test_a_trickling_image_is_bounded_by_the_timeout() -> None:
    client = guarded_client(FetchPolicy.parse("127.0.0.1"))
    with Endless(total=10_000, every=0.1, kind="image/png") as server:
        started = time.monotonic()
        try:
            with pytest.raises(FunctionError, match="did not arrive within 1 s"):
                await fetch_image(server.url, client=client, max_bytes=1_000_000, timeout=1)
        finally:
            await client.aclose()
        elapsed = time.monotonic() - started

    assert elapsed < 10  # the whole trickle would take over 15 minutes


async def test_a_media_download_that_never_ends_keeps_the_media_id(tmp_path: Path) -> None:
    class Stuck:
        async def download_media(self, media_id: str) -> tuple[bytes, str]:
            await asyncio.sleep(60)
            return b"", "image/png"

    store = MediaStore(tmp_path, "https://bot.example.org", download_seconds=0.2)

    started = time.monotonic()
    localized = await store.localize(["image:1234"], Stuck())

    assert localized is None  # the attachment stays "image:1234"
    assert time.monotonic() - started < 2
