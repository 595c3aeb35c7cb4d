"""`sutra serve` under load: signed WhatsApp webhooks in, Graph API sends out, GPT in between.

1. Throughput: inbound messages per second through the GPT flow (examples/ask_gpt.json) with an
   instant loopback LLM, from the signed request to the outbound send. The baseline, measured in
   the same run, is the bare ingest rate: the same signed messages when no flow listens (verify,
   store, acknowledge, mark handled).
2. Latency: 1,000 conversations ask at once and the LLM takes 1 s to answer; reply latency
   p50/p99 divided by that 1 s (1.0 would be a platform that adds nothing).

Everything runs on loopback: stand-ins for OpenAI and Meta, and a real `sutra serve` process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from sutra.testing.graph_api import (
    DEFAULT_PHONE_NUMBER_ID,
    DEFAULT_TOKEN,
    GraphAPIStubServer,
    signed_webhook,
    whatsapp_text_payload,
)
from sutra.testing.openai_server import OpenAIStubServer

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-app-secret"
API_TOKEN = "bench-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        sutra = Path(sys.executable).with_name("sutra")
        self.proc = subprocess.Popen(
            [str(sutra), "serve", "--port", str(self.port)],
            env={**os.environ, **env},
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start; see {log}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


class Watcher:
    """Notes when each recipient's n-th message reaches the Graph API stand-in."""

    def __init__(self, graph: GraphAPIStubServer) -> None:
        self.graph = graph
        self.seen: dict[str, list[float]] = {}
        self._count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            sent = self.graph.sent
            now = time.monotonic()
            for body in sent[self._count :]:
                self.seen.setdefault(body.get("to", ""), []).append(now)
            self._count = len(sent)
            time.sleep(0.002)

    def wait(self, predicate: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("the server did not answer in time")
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


async def _post_all(url: str, texts: dict[str, str], concurrency: int) -> dict[str, float]:
    """Post one signed message per number; returns when each was acknowledged."""
    limits = httpx.Limits(max_connections=concurrency)
    sent_at: dict[str, float] = {}
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:

        async def post(number: str, text: str) -> None:
            raw, headers = signed_webhook(SECRET, whatsapp_text_payload(number, text))
            async with gate:
                sent_at[number] = time.monotonic()
                response = await client.post(
                    f"{url}/webhooks/whatsapp", content=raw, headers=headers
                )
                response.raise_for_status()

        await asyncio.gather(*(post(n, t) for n, t in texts.items()))
    return sent_at


def _numbers(prefix: str, n: int) -> list[str]:
    return [f"91{prefix}{i:07d}" for i in range(n)]


def run(n: int, concurrent: int, llm_delay: float, database: str | None) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="sutra-bench-") as tmp,
        OpenAIStubServer(api_key="sk-bench") as llm,
        GraphAPIStubServer() as graph,
    ):
        env = {
            "SUTRA_DATABASE_URL": database or f"sqlite:///{Path(tmp) / 'bench.db'}",
            "SUTRA_API_TOKEN": API_TOKEN,
            "SUTRA_LOG_LEVEL": "WARNING",
            "OPENAI_API_KEY": "sk-bench",
            "OPENAI_BASE_URL": llm.base_url,
            "WHATSAPP_ACCESS_TOKEN": DEFAULT_TOKEN,
            "WHATSAPP_APP_SECRET": SECRET,
            "WHATSAPP_VERIFY_TOKEN": "v",
            "WHATSAPP_PHONE_NUMBER_ID": DEFAULT_PHONE_NUMBER_ID,
            "WHATSAPP_API_URL": graph.api_url,
        }
        server = Server(env, Path(tmp) / "server.log")
        watcher = Watcher(graph)
        try:
            # Baseline: bare ingest, no flow listening yet.
            idle = _numbers("70", n)
            started = time.monotonic()
            asyncio.run(_post_all(server.url, dict.fromkeys(idle, "hello"), 50))
            deadline = time.monotonic() + 120
            while _unhandled(server) and time.monotonic() < deadline:
                time.sleep(0.05)
            ingest = n / (time.monotonic() - started)

            flow = json.loads((ROOT / "examples" / "ask_gpt.json").read_text())
            httpx.post(
                f"{server.url}/api/v1/flows/import",
                json=flow,
                timeout=30,
                headers={"Authorization": f"Bearer {API_TOKEN}"},
            ).raise_for_status()

            # 1. Throughput with an instant LLM.
            numbers = _numbers("71", n)
            asyncio.run(_post_all(server.url, dict.fromkeys(numbers, "askgpt"), 50))
            watcher.wait(lambda: all(len(watcher.seen.get(x, [])) >= 1 for x in numbers), 300)
            started = time.monotonic()
            asyncio.run(_post_all(server.url, dict.fromkeys(numbers, "What is rain?"), 50))
            watcher.wait(lambda: all(len(watcher.seen.get(x, [])) >= 2 for x in numbers), 300)
            through = n / (time.monotonic() - started)

            # 2. Latency: many conversations at once, a 1 s LLM.
            llm.delay = llm_delay
            crowd = _numbers("72", concurrent)
            asyncio.run(_post_all(server.url, dict.fromkeys(crowd, "askgpt"), 100))
            watcher.wait(lambda: all(len(watcher.seen.get(x, [])) >= 1 for x in crowd), 600)
            sent_at = asyncio.run(_post_all(server.url, dict.fromkeys(crowd, "Why?"), concurrent))
            watcher.wait(lambda: all(len(watcher.seen.get(x, [])) >= 2 for x in crowd), 900)
            latencies = sorted(watcher.seen[x][1] - sent_at[x] for x in crowd)
        except Exception:
            # The server's own account of what went wrong, before its folder is removed.
            print((Path(tmp) / "server.log").read_text(errors="replace")[-4000:], file=sys.stderr)
            raise
        finally:
            watcher.stop()
            server.stop()

    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    db = "PostgreSQL" if database else "SQLite"
    print(f"sutra serve on {db}, {os.cpu_count()} cores")
    print(f"bare ingest (baseline)       {ingest:8.1f} msg/s")
    print(f"GPT flow, instant LLM        {through:8.1f} msg/s   {through / ingest:.2f}x baseline")
    print(
        f"{concurrent} conversations, {llm_delay:g} s LLM: "
        f"p50 {p50:.2f} s ({p50 / llm_delay:.2f}x)  p99 {p99:.2f} s ({p99 / llm_delay:.2f}x)"
    )


def _unhandled(server: Server) -> bool:
    response = httpx.get(f"{server.url}/metrics", timeout=10)
    received = handled = 0.0
    for line in response.text.splitlines():
        if line.startswith('sutra_messages_in_total{channel="whatsapp"}'):
            received = float(line.split()[-1])
        if line.startswith("sutra_messages_handled_total"):
            handled += float(line.split()[-1])
    return handled < received


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=300, help="conversations for throughput")
    parser.add_argument("--concurrent", type=int, default=1000)
    parser.add_argument("--llm-delay", type=float, default=1.0)
    parser.add_argument("--database", help="a PostgreSQL URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    run(args.n, args.concurrent, args.llm_delay, args.database)


if __name__ == "__main__":
    main()
