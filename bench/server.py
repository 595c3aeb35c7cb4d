"""`sutra serve` under load: signed WhatsApp webhooks in, Graph API sends out, GPT in between.

Measured in one run, on loopback, against stand-ins for Meta and OpenAI:

0. Baseline: a lean FastAPI app that checks the signature and group-commits one SQLite insert
   per webhook (bench/baseline.py) — what any Python webhook receiver costs here.
1. Bare ingest: signed messages when no flow listens (verify, store, acknowledge, handle).
2. GPT flow, instant LLM: a question in, the GPT answer out (examples/ask_gpt.json).
3. Burst: 1,000 contacts ask at once and the LLM takes 1 s; reply latency p50/p99.
4. With ``--database postgresql://…``: the GPT flow on PostgreSQL with 1, 2 and 3 processes.

The steady figure on a shared machine is server CPU ms per message, read from /proc; messages
per second swing with whatever else the machine does. The load generator is raw keep-alive
HTTP/1.1 with bodies signed before the clock starts (bench/loadgen.py), so it is not what is
measured.

    .venv/bin/python bench/server.py [-n 2000] [--burst 1000] [--database URL]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from baseline import start_baseline
from loadgen import Result, run, throughput, webhook_request
from procstat import CpuMeter
from sendwatch import WatchedGraphAPI

from sutra.testing.graph_api import DEFAULT_PHONE_NUMBER_ID, DEFAULT_TOKEN, whatsapp_text_payload
from sutra.testing.openai_server import OpenAIStubServer
from sutra.testing.postgres import reset_schema

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-app-secret"
API_TOKEN = "bench-token"
METRICS_TOKEN = "bench-metrics-token"
CONNECTIONS = 50


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A real ``sutra serve`` (with ``--workers``) in its own process group."""

    def __init__(self, env: dict[str, str], log: Path, workers: int = 1) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        sutra = Path(sys.executable).with_name("sutra")
        self.proc = subprocess.Popen(
            [str(sutra), "serve", "--port", str(self.port), "--workers", str(workers)],
            env={**os.environ, **env},
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    # With several workers, give the others a moment to finish starting.
                    time.sleep(1.0 * (workers - 1))
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.proc.kill()
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"server did not start:\n{tail}")

    def cpu(self) -> CpuMeter:
        return CpuMeter(self.proc.pid, children=True)

    def api(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]

    def metrics(self) -> str:
        headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        return httpx.get(f"{self.url}/metrics", headers=headers, timeout=10).text

    def handled(self) -> float:
        return sum(
            float(line.split()[-1])
            for line in self.metrics().splitlines()
            if line.startswith("sutra_messages_handled_total")
        )

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def _numbers(prefix: str, n: int) -> list[str]:
    return [f"91{prefix}{i:07d}" for i in range(n)]


def _requests(port: int, numbers: list[str], text: str) -> list[bytes]:
    return [webhook_request(SECRET, whatsapp_text_payload(n, text), port) for n in numbers]


def _post(server: Server, requests: list[bytes], connections: int = CONNECTIONS) -> list[Result]:
    results = run(server.port, requests, connections)
    bad = [r.status for r in results if r.status != 200]
    if bad:
        raise RuntimeError(f"{len(bad)} webhooks were not accepted: {sorted(set(bad))}")
    return results


def _env(database: str, llm: OpenAIStubServer, graph: WatchedGraphAPI) -> dict[str, str]:
    return {
        "SUTRA_DATABASE_URL": database,
        "SUTRA_API_TOKEN": API_TOKEN,
        "SUTRA_METRICS_TOKEN": METRICS_TOKEN,
        "SUTRA_LOG_LEVEL": "WARNING",
        "OPENAI_API_KEY": "sk-bench",
        "OPENAI_BASE_URL": llm.base_url,
        "WHATSAPP_ACCESS_TOKEN": DEFAULT_TOKEN,
        "WHATSAPP_APP_SECRET": SECRET,
        "WHATSAPP_VERIFY_TOKEN": "v",
        "WHATSAPP_PHONE_NUMBER_ID": DEFAULT_PHONE_NUMBER_ID,
        "WHATSAPP_API_URL": graph.api_url,
        # A number on Meta's 1,000 msg/s tier: the pacing is not what these figures measure.
        "WHATSAPP_MESSAGES_PER_SECOND": "1000",
        "SUTRA_MAX_IN_FLIGHT": "512",
    }


def _import_flow(server: Server) -> None:
    flow = json.loads((ROOT / "examples" / "ask_gpt.json").read_text())
    server.api("POST", "/api/v1/flows/import", json=flow).raise_for_status()


def gpt_throughput(
    server: Server, graph: WatchedGraphAPI, prefix: str, n: int
) -> tuple[float, float]:
    """Messages per second and server CPU ms per message, question in to answer out."""
    numbers = _numbers(prefix, n)
    opened = graph.expect(numbers, 1)
    _post(server, _requests(server.port, numbers, "askgpt"))
    opened.wait(600)
    questions = _requests(server.port, numbers, "What is rain?")
    answered = graph.expect(numbers, 2)
    with server.cpu() as cpu:
        started = time.monotonic()
        _post(server, questions)
        finished = answered.wait(600)
    return n / (finished - started), cpu.per(n)


def ingest(server: Server, n: int) -> tuple[float, float]:
    before = server.handled()
    requests = _requests(server.port, _numbers("70", n), "hello")
    with server.cpu() as cpu:
        started = time.monotonic()
        _post(server, requests)
        deadline = time.monotonic() + 300
        while server.handled() < before + n and time.monotonic() < deadline:
            time.sleep(0.01)
        elapsed = time.monotonic() - started
    return n / elapsed, cpu.per(n)


def burst(server: Server, graph: WatchedGraphAPI, llm: OpenAIStubServer, n: int, delay: float):
    crowd = _numbers("72", n)
    opened = graph.expect(crowd, 1)
    _post(server, _requests(server.port, crowd, "askgpt"), 100)
    opened.wait(900)
    llm.delay = delay
    answered = graph.expect(crowd, 2)
    results = _post(server, _requests(server.port, crowd, "Why is the sky blue?"), n)
    answered.wait(900)
    llm.delay = 0
    time.sleep(1)  # a second answer to anyone would have arrived by now
    twice = sum(len(graph.arrivals[x]) > 2 for x in crowd)
    latencies = sorted(graph.arrivals[x][1] - r.sent for x, r in zip(crowd, results, strict=True))
    return latencies[len(latencies) // 2], latencies[min(n - 1, int(n * 0.99))], twice


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=2000, help="messages per throughput run")
    parser.add_argument("--burst", type=int, default=1000, help="contacts asking at once")
    parser.add_argument("--llm-delay", type=float, default=1.0)
    parser.add_argument("--database", help="also run on this PostgreSQL (1, 2, 3 processes)")
    parser.add_argument("--workers", default="1,2,3", help="process counts on PostgreSQL")
    args = parser.parse_args()
    n = args.n
    print(f"{os.cpu_count()} cores; {n} messages per run, {CONNECTIONS} connections")
    with (
        tempfile.TemporaryDirectory(prefix="sutra-bench-") as tmp,
        OpenAIStubServer(api_key="sk-bench") as llm,
        WatchedGraphAPI() as graph,
    ):
        with start_baseline(tmp, SECRET) as lean, CpuMeter(lean.pid) as cpu:
            requests = [
                webhook_request(SECRET, whatsapp_text_payload(x, "hello"), lean.port)
                for x in _numbers("60", n * 2)
            ]
            base_rate = throughput(run(lean.port, requests, CONNECTIONS))
        base_cpu = cpu.per(n * 2)
        print(
            f"{'baseline: FastAPI + HMAC + group-committed insert':52} {base_rate:8.0f} msg/s "
            f"{base_cpu:6.2f} ms CPU/msg"
        )

        env = _env(f"sqlite:///{Path(tmp) / 'bench.db'}", llm, graph)
        server = Server(env, Path(tmp) / "sqlite.log")
        try:
            rate, ms = ingest(server, n)
            print(
                f"{'SQLite, bare ingest':52} {rate:8.0f} msg/s {ms:6.2f} ms CPU/msg "
                f"({ms / base_cpu:.1f}x baseline)"
            )
            _import_flow(server)
            rate, ms = gpt_throughput(server, graph, "71", n)
            print(
                f"{'SQLite, GPT flow, instant LLM':52} {rate:8.0f} msg/s {ms:6.2f} ms CPU/msg "
                f"({ms / base_cpu:.1f}x baseline)"
            )
            p50, p99, twice = burst(server, graph, llm, args.burst, args.llm_delay)
            print(
                f"{f'SQLite, {args.burst} ask at once, {args.llm_delay:g} s LLM':52} "
                f"p50 {p50:5.2f} s   p99 {p99:5.2f} s   answered twice: {twice}"
            )
        except Exception:
            print(server.log.read_text(errors="replace")[-4000:], file=sys.stderr)
            raise
        finally:
            server.stop()

        if args.database:
            one = None
            for workers in (int(w) for w in args.workers.split(",")):
                reset_schema(args.database)
                graph.reset()
                server = Server(
                    _env(args.database, llm, graph), Path(tmp) / f"pg{workers}.log", workers
                )
                try:
                    _import_flow(server)
                    rate, ms = gpt_throughput(server, graph, "73", n)
                except Exception:
                    print(server.log.read_text(errors="replace")[-4000:], file=sys.stderr)
                    raise
                finally:
                    server.stop()
                one = one or rate
                label = f"PostgreSQL, GPT flow, {workers} process{'es' if workers > 1 else ''}"
                print(
                    f"{label:52} {rate:8.0f} msg/s {ms:6.2f} ms CPU/msg "
                    f"({rate / one:.2f}x one process)"
                )
    # The figures the README keeps come from this output.


if __name__ == "__main__":
    main()
