"""Real ``sutra serve`` processes on loopback, against stand-ins for OpenAI, Meta and Gupshup."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sutra.testing.graph_api import (
    DEFAULT_PHONE_NUMBER_ID,
    DEFAULT_TOKEN,
    GraphAPIStubServer,
)
from sutra.testing.gupshup_api import DEFAULT_API_KEY, DEFAULT_APP, GupshupStubServer
from sutra.testing.openai_server import OpenAIStubServer
from tests.support import databases, fresh_database

ROOT = Path(__file__).resolve().parents[2]
SUTRA = Path(sys.executable).with_name("sutra")
APP_SECRET = "meta-app-secret"
VERIFY_TOKEN = "verify-me"
API_TOKEN = "api-token-for-tests"
GUPSHUP_TOKEN = "gupshup-callback-token"
OPENAI_KEY = "sk-test-key-never-logged"
BUSINESS_NUMBER = "15550783881"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class ServerProcess:
    """``sutra serve`` in its own process: it can be killed (SIGKILL) and started again."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # The free port was free when chosen: a test in another worker may bind it before this
        # server does, and then the server goes on another.
        for _ in range(3):
            if self._start():
                return
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
        raise AssertionError(f"no free port for the server:\n{self.logs()}")

    def _start(self) -> bool:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [str(SUTRA), "serve", "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

        def healthy() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                assert "address already in use" in self.logs(), self.logs()
                return True
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, 30, "the server to start")
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {API_TOKEN}", **kwargs.pop("headers", {})}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", timeout=30, **kwargs)


@pytest.fixture(params=databases())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    # Its own (not each_database): test_workers.py chooses PostgreSQL through it, indirectly.
    return fresh_database(request.param, tmp_path)


@pytest.fixture
def llm() -> Iterator[OpenAIStubServer]:
    with OpenAIStubServer(api_key=OPENAI_KEY) as server:
        yield server


@pytest.fixture
def graph() -> Iterator[GraphAPIStubServer]:
    with GraphAPIStubServer() as server:
        yield server


@pytest.fixture
def gupshup_api() -> Iterator[GupshupStubServer]:
    with GupshupStubServer() as server:
        yield server


@pytest.fixture
def server_env(
    database_url: str,
    llm: OpenAIStubServer,
    graph: GraphAPIStubServer,
    gupshup_api: GupshupStubServer,
) -> dict[str, str]:
    return {
        "SUTRA_DATABASE_URL": database_url,
        "SUTRA_API_TOKEN": API_TOKEN,
        "SUTRA_LOG_LEVEL": "INFO",
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": llm.base_url,
        "WHATSAPP_ACCESS_TOKEN": DEFAULT_TOKEN,
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": DEFAULT_PHONE_NUMBER_ID,
        "WHATSAPP_API_URL": graph.api_url,
        "GUPSHUP_API_KEY": DEFAULT_API_KEY,
        "GUPSHUP_APP_NAME": DEFAULT_APP,
        "GUPSHUP_SOURCE_NUMBER": BUSINESS_NUMBER,
        "GUPSHUP_API_URL": gupshup_api.api_url,
        "GUPSHUP_WEBHOOK_TOKEN": GUPSHUP_TOKEN,
    }


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], ServerProcess]]:
    started: list[ServerProcess] = []

    def make(env: dict[str, str]) -> ServerProcess:
        server = ServerProcess(env, tmp_path / f"server-{len(started)}.log")
        started.append(server)
        server.start()
        return server

    yield make
    for server in started:
        server.stop()
