"""The lean baseline: the least a correct WhatsApp webhook receiver does, as fast as it goes.

One FastAPI route, served by uvicorn in its own process (uvloop and httptools when they are
installed): check X-Hub-Signature-256, store each message row in SQLite, answer 200 once the
row is durable. Rows go through one writer thread that commits whatever queued up during the
previous commit in one transaction (group commit), on the same SQLite settings as Sutra (WAL,
synchronous=NORMAL). The server benchmark runs it in the same session as ``sutra serve``::

    with start_baseline(tmp, SECRET) as baseline:
        with CpuMeter(baseline.pid) as cpu:
            results = run(baseline.port, requests, connections=50)

Run ``.venv/bin/python bench/baseline.py [-n 5000] [--connections 50]`` to measure it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import http.client
import importlib
import json
import queue
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import uvicorn
from fastapi import FastAPI, Request, Response

# The batching loop only: the baseline otherwise shares nothing with the server it measures.
from sutra.store.hotdb import next_batch

SCHEMA = """CREATE TABLE IF NOT EXISTS messages (
    wamid TEXT PRIMARY KEY, sender TEXT NOT NULL, kind TEXT NOT NULL, body TEXT,
    sent_at INTEGER NOT NULL, received_at REAL NOT NULL)"""
# A redelivered webhook (Meta retries) is acknowledged again, not stored twice.
INSERT = "INSERT OR IGNORE INTO messages VALUES (?, ?, ?, ?, ?, ?)"
MAX_BATCH = 256
SECRET = "bench-app-secret"  # bench/server.py's

Row = tuple[str, str, str, str | None, int, float]
_Job = tuple[list[Row], "asyncio.Future[None]", asyncio.AbstractEventLoop]


class GroupCommit:
    """One SQLite connection in its own thread; each caller awaits the commit of its rows."""

    def __init__(self, path: Path, *, max_batch: int = MAX_BATCH) -> None:
        self.path = path
        self.max_batch = max_batch
        self.commits = 0
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="group-commit", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join()

    async def insert(self, rows: list[Row]) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._jobs.put((rows, done, loop))
        await done

    def _serve(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(SCHEMA)
        try:
            while True:
                batch, stop = next_batch(self._jobs, self.max_batch)
                if batch:
                    self._commit(conn, batch)
                if stop:
                    break
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        error: BaseException | None = None
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(INSERT, [row for rows, _, _ in batch for row in rows])
            conn.execute("COMMIT")
            self.commits += 1
        except Exception as exc:
            conn.rollback()
            error = exc
        # One wake-up per loop and batch, not per caller: each one is a write to the loop's
        # self-pipe, and a batch holds up to MAX_BATCH callers.
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for _, done, loop in batch:
            by_loop.setdefault(loop, []).append(done)
        for loop, futures in by_loop.items():
            loop.call_soon_threadsafe(_resolve, futures, error)


def _resolve(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for done in futures:
        if done.done():  # its request was cancelled (client gone)
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)


def make_app(db: Path, secret: str) -> FastAPI:
    writer = GroupCommit(db)
    key = secret.encode()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        writer.start()
        yield
        writer.close()

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b"%d" % writer.commits)  # the commit count shows the batching

    @app.post("/webhooks/whatsapp")
    async def webhook(request: Request) -> Response:
        raw = await request.body()
        expected = "sha256=" + hmac.new(key, raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("x-hub-signature-256", "")):
            return Response(b"bad signature", 401)
        try:
            rows = _rows(json.loads(raw))
        except (ValueError, KeyError, TypeError, AttributeError):
            return Response(b"unreadable payload", 400)
        if rows:
            await writer.insert(rows)
        return Response(b'{"stored":%d}' % len(rows), media_type="application/json")

    return app


def _rows(payload: dict[str, Any]) -> list[Row]:
    now = time.time()
    return [
        (m["id"], m["from"], m["type"], m.get("text", {}).get("body"), int(m["timestamp"]), now)
        for entry in payload["entry"]
        for change in entry["changes"]
        for m in change["value"].get("messages", [])
    ]


def servers() -> tuple[str, str]:
    """The event loop and HTTP parser uvicorn's ``auto`` picks here (it tries to import them)."""
    return _importable("uvloop", "asyncio"), _importable("httptools", "h11")


def _importable(name: str, fallback: str) -> str:
    try:
        importlib.import_module(name)
    except ImportError:
        return fallback
    return name


class Baseline:
    """The baseline server in a subprocess; ``pid`` is the process to measure."""

    def __init__(self, tmpdir: str | Path, secret: str = SECRET) -> None:
        self.db = Path(tmpdir) / "baseline.db"
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(self.db), secret],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the baseline server did not start")
        self.port = int(line)
        self.host = "127.0.0.1"
        self.url = f"http://{self.host}:{self.port}"
        self.pid = self.process.pid
        self._wait_ready()

    def _wait_ready(self) -> None:
        # The port is bound before uvicorn listens on it: ask until it answers.
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=1)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError("the baseline server did not start")
            time.sleep(0.05)

    def commits(self) -> int:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request("GET", "/healthz")
            return int(conn.getresponse().read())
        finally:
            conn.close()

    def rows(self) -> int:
        with contextlib.closing(sqlite3.connect(self.db)) as conn:
            return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_baseline(tmpdir: str | Path, secret: str = SECRET) -> Baseline:
    """Start the baseline server storing into ``tmpdir``; stop it with ``.stop()`` or ``with``."""
    return Baseline(tmpdir, secret)


def _serve(db: Path, secret: str) -> None:
    # IPPROTO_TCP named, not left 0: asyncio sets TCP_NODELAY only on sockets whose proto says
    # TCP, and without it each answer waits ~40 ms for a delayed ACK (uvloop sets it anyway).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(
        make_app(db, secret), log_level="warning", access_log=False, backlog=4096
    )
    uvicorn.Server(config).run(sockets=[sock])


def main() -> None:
    parser = argparse.ArgumentParser(description="Measure the baseline server alone.")
    parser.add_argument("-n", type=int, default=5_000, help="requests")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--serve", nargs=2, metavar=("DB", "SECRET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve(Path(args.serve[0]), args.serve[1])
        return

    from loadgen import percentile, run, throughput, webhook_request
    from procstat import CpuMeter

    from sutra.testing.graph_api import whatsapp_text_payload

    secret = SECRET
    with tempfile.TemporaryDirectory(prefix="sutra-baseline-") as tmp, Baseline(tmp, secret) as b:
        warm, n = 500, args.n
        requests = [
            webhook_request(secret, whatsapp_text_payload(f"91{i:010d}", "hello"), b.port)
            for i in range(warm + n)
        ]
        run(b.port, requests[:warm], args.connections)
        commits = b.commits()
        client = time.process_time()
        with CpuMeter(b.pid) as cpu:
            results = run(b.port, requests[warm:], args.connections)
        client = time.process_time() - client
        bad = sum(r.status != 200 for r in results)
        commits = b.commits() - commits
        stored = b.rows()
    loop, http = servers()
    print(f"baseline on uvicorn ({loop}, {http}), SQLite group commit, {args.connections} conns")
    print(f"{n} requests: {throughput(results):8.0f} req/s")
    print(f"server CPU  {cpu.per(n):.3f} ms/request   client CPU {client / n * 1e3:.3f} ms/request")
    p50, p99 = (percentile(results, f) * 1e3 for f in (0.5, 0.99))
    print(f"latency p50 {p50:.2f} ms  p99 {p99:.2f} ms")
    print(f"{commits} commits, {n / commits:.1f} requests per commit")
    print(f"rows stored {stored} (expected {warm + n}), non-200 answers {bad}")
    if bad or stored != warm + n:
        raise SystemExit("the baseline lost requests")


if __name__ == "__main__":
    main()
