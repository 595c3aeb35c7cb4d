"""A FastAPI app served by uvicorn from a daemon thread: the base of every stand-in server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any, Self

import uvicorn
from fastapi import FastAPI


class Clock:
    """Planned delays that a stopping server cuts short (uvicorn waits for in-flight answers)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping: asyncio.Event | None = None

    async def pause(self, seconds: float) -> None:
        if seconds > 0 and self.stopping is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), seconds)

    def lifespan(self) -> Any:
        @contextlib.asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            self.loop = asyncio.get_running_loop()
            self.stopping = asyncio.Event()
            yield

        return lifespan

    def wake(self) -> None:
        if self.loop is not None and self.stopping is not None:
            self.loop.call_soon_threadsafe(self.stopping.set)


class LoopbackServer:
    """Subclasses build the app in :meth:`_make_app` (with ``lifespan=self.clock.lifespan()``).

    ``port=0`` picks a free port. ``delay`` (seconds) is added before answers, as a stand-in
    for a provider's latency in benchmarks.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, delay: float = 0.0) -> None:
        self.host = host
        self.port = port
        self.clock = Clock(delay)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def _make_app(self) -> FastAPI:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def delay(self) -> float:
        return self.clock.delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        self.clock.delay = seconds

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        # IPPROTO_TCP spelled out: asyncio turns TCP_NODELAY on only for sockets that say they
        # are TCP, and without it every answer on a kept-alive connection waits ~40 ms.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._make_app(),
            # Leave the host application's logging configuration alone.
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=5,
            backlog=4096,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{type(self).__name__} did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self.clock.wake()
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)


def command_line(description: str) -> argparse.ArgumentParser:
    """The options every stand-in takes when run by hand (``python -m sutra.testing.…``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    return parser


def serve_until_interrupted(server: LoopbackServer, url: Callable[[], str]) -> None:
    """Run ``server``, print the URL clients should use (known once it listens), stop on Ctrl-C."""
    with server:
        print(url(), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
