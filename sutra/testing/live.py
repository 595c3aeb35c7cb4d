"""The app under uvicorn on a loopback port, and Debian's Chromium, for browser tests.

Browser tests need ``/usr/bin/chromium`` (``apt-get install chromium``) and the ``playwright``
package; never ``playwright install``, which downloads a browser of its own. Without them the
tests fail when ``CI`` is set and are skipped otherwise (:func:`require_browser`).
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI

from sutra.web.state import AppState

T = TypeVar("T")

CHROMIUM = Path("/usr/bin/chromium")
# The flags Chromium needs on these machines (see the browser-tests spec): without the
# networking ones it keeps trying to reach outside hosts, which are refused here.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


def require_browser() -> None:
    """Fail in CI, skip elsewhere, when the browser tests cannot run."""
    import pytest

    missing = browser_missing()
    if missing is None:
        return
    if in_ci():
        pytest.fail(f"browser tests cannot run in CI: {missing}")
    pytest.skip(f"browser tests need a browser: {missing}")


class LiveServer:
    """The app under uvicorn in a thread with its own event loop, on a free loopback port."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def state(self) -> AppState:
        state: AppState = self.app.state.sutra
        return state

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._server.serve(sockets=[self._sock]))

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the app did not start")
            time.sleep(0.02)

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's loop: its database engine belongs to that loop."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()
