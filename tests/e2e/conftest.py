"""Fixtures for the end-to-end tests: an OpenAI stub, a loopback webhook server, CLI environments.

Everything listens on 127.0.0.1 only; nothing here reaches the outside world.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from sutra.config import get_settings
from sutra.runtime.context import open_runner
from sutra.runtime.runner import Runner
from sutra.testing.openai_server import OpenAIStubServer

from .helpers import API_KEY

# The webhook server listens on loopback, which the fetch policy refuses unless it is allowed,
# as an NGO would allow its own internal service.
FETCH_ALLOW = {"SUTRA_FETCH_ALLOW": "127.0.0.1"}

# --- the loopback webhook server ---------------------------------------------------------------


@dataclass(frozen=True)
class HttpReply:
    """What the webhook server answers: a dict or list is sent as JSON, a str/bytes as is."""

    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})
    content_type: str | None = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HttpRecord:
    """One request the webhook server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    # Lower-case names.
    headers: dict[str, str]
    body: str

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class WebhookServer:
    """A scriptable HTTP server on loopback: ``plan()`` answers, read ``requests`` afterwards."""

    def __init__(self) -> None:
        self._plan: deque[HttpReply] = deque()
        self._received: list[HttpRecord] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[HttpRecord]:
        with self._lock:
            return list(self._received)

    def plan(self, *replies: HttpReply) -> None:
        with self._lock:
            self._plan.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._plan.clear()
            self._received.clear()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _answer(self, record: HttpRecord) -> HttpReply:
        with self._lock:
            self._received.append(record)
            return self._plan.popleft() if self._plan else HttpReply()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8") if length else ""
                parts = urlsplit(self.path)
                record = HttpRecord(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                reply = server._answer(record)
                if reply.delay and server._stopping.wait(reply.delay):
                    return
                if isinstance(reply.body, bytes):
                    payload, content_type = reply.body, "application/octet-stream"
                elif isinstance(reply.body, str):
                    payload, content_type = reply.body.encode(), "text/plain; charset=utf-8"
                else:
                    payload, content_type = json.dumps(reply.body).encode(), "application/json"
                # The client may have given up (a timeout test): nobody is left to read.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type or content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        return Handler


@pytest.fixture(scope="session")
def webhook_server_instance() -> Iterator[WebhookServer]:
    server = WebhookServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def webhook_server(webhook_server_instance: WebhookServer) -> WebhookServer:
    webhook_server_instance.reset()
    return webhook_server_instance


# --- the OpenAI stub ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def openai_stub_instance() -> Iterator[OpenAIStubServer]:
    # It rejects any other key, so a test also proves the SDK sent the configured one.
    with OpenAIStubServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def openai_stub(openai_stub_instance: OpenAIStubServer) -> OpenAIStubServer:
    openai_stub_instance.reset()
    return openai_stub_instance


@pytest.fixture
def openai_env(openai_stub: OpenAIStubServer) -> dict[str, str]:
    """The variables that point the real OpenAI SDK at the stub."""
    return {"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": openai_stub.base_url}


@pytest.fixture
def cli_env(tmp_path: Path, openai_env: dict[str, str]) -> dict[str, str]:
    """The environment for a ``sutra`` subprocess: this machine's, minus any Sutra/OpenAI
    settings, plus the stub and a database in ``tmp_path`` (never ./sutra.db)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SUTRA_", "OPENAI_", "OPEN_AI_")) and key != "COLUMNS"
    }
    env.update(openai_env)
    env.update(FETCH_ALLOW)
    env["SUTRA_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"
    return env


# --- the Python API ----------------------------------------------------------------------------


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'api.db'}"


@pytest.fixture
async def runner(
    database_url: str, openai_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Runner]:
    """A runner as ``sutra simulate`` builds it, on a fresh SQLite file, talking to the stub."""
    for key in list(os.environ):
        if key.startswith(("SUTRA_", "OPEN_AI_")):
            monkeypatch.delenv(key)
    for key, value in {**openai_env, **FETCH_ALLOW}.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    async with open_runner(database_url, channel="sim") as built:
        yield built
    get_settings.cache_clear()
