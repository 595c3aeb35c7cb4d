"""Fair share between organisations: one organisation's burst must not slow another's replies.

Two organisations on one ``sutra serve``, each with its own WhatsApp number on the Graph API
stand-in and its own OpenAI key on its own loopback stand-in (both answering after
``--llm-delay``, a model's latency), the same GPT flow (examples/ask_gpt.json) in both:

1. Quiet: organisation B's contacts ask one question a second while A is idle; B's reply
   latency (webhook sent -> answer at the Graph stand-in), p50 and p99.
2. Burst: A's ``--burst`` contacts (10,000) all ask at once while B goes on asking one a
   second, for as long as A's answers take; B's latency again, and how long A took.

The figure is B's p99 under A's burst over B's p99 with A idle (the issue asks for <= 1.5).

    .venv/bin/python bench/fairness.py [--burst 10000] [--samples 30] [--database URL]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from loadgen import run, webhook_request
from sendwatch import WatchedGraphAPI
from server import ROOT, SECRET, Server, _env, _numbers, _post

from sutra.testing.graph_api import whatsapp_text_payload
from sutra.testing.openai_server import OpenAIStubServer, Reply
from sutra.testing.postgres import reset_schema

B_NUMBER = "209876543210987"
B_TOKEN = "org-b-access-token"
B_SECRET = "org-b-app-secret"
B_KEY = "sk-org-b"
FLOW = ROOT / "examples" / "ask_gpt.json"


def _sutra(env: dict[str, str], *args: str) -> None:
    sutra = Path(sys.executable).with_name("sutra")
    subprocess.run([str(sutra), *args], env={**os.environ, **env}, check=True, capture_output=True)


def _prepare(env: dict[str, str], b_llm: OpenAIStubServer) -> None:
    """Organisation B with its own number, secrets and key; the flow imported in both."""
    _sutra(env, "org", "create", "Organisation B")
    secrets = {
        "WHATSAPP_ACCESS_TOKEN": B_TOKEN,
        "WHATSAPP_APP_SECRET": B_SECRET,
        "OPENAI_API_KEY": B_KEY,
    }
    _sutra(
        {**env, **secrets},
        "org",
        "set",
        "2",
        f"whatsapp_phone_number_id={B_NUMBER}",
        f"openai_base_url={b_llm.base_url}",
        *[arg for name in secrets for arg in ("--secret", name.lower())],
    )
    _sutra(env, "import", str(FLOW))
    _sutra(env, "import", str(FLOW), "--org", "2")


def _b_request(server: Server, number: str, text: str) -> bytes:
    payload = whatsapp_text_payload(number, text, phone_number_id=B_NUMBER)
    return webhook_request(B_SECRET, payload, server.port)


def _open(server: Server, graph: WatchedGraphAPI, numbers: list[str], *, b: bool) -> None:
    """Each contact starts the flow (its greeting arrives): the next message is a question."""
    opened = graph.expect(numbers, 1)
    if b:
        for number in numbers:
            _post(server, [_b_request(server, number, "askgpt")], 1)
    else:
        requests = [
            webhook_request(SECRET, whatsapp_text_payload(n, "askgpt"), server.port)
            for n in numbers
        ]
        _post(server, requests, 50)
    opened.wait(900)


class Asked:
    """When each of B's questions reached B's model (its stand-in), by the question's number:
    a reply's latency splits into the wait before its GPT call and the work after it."""

    def __init__(self) -> None:
        self.at: dict[int, float] = {}

    def reply(self, body: dict) -> Reply:
        found = re.search(re.escape(QUESTION) + r"(\d+)", json.dumps(body.get("messages", [])))
        if found:
            self.at.setdefault(int(found.group(1)), time.monotonic())
        return Reply("B's answer")


QUESTION = "Why is the sky blue, number "


def _b_latencies(
    server: Server,
    graph: WatchedGraphAPI,
    numbers: list[str],
    stop: threading.Event | None,
    asked: Asked,
    first: int,
) -> list[tuple[float, float, float | None]]:
    """One of B's contacts asks each second (until ``stop``, if given): when each asked
    (monotonic), its reply latency, and how long it waited for its GPT call (if seen)."""
    latencies = []
    for i, number in enumerate(numbers, start=first):
        if stop is not None and stop.is_set():
            break
        answered = graph.expect([number], 2)
        tick = time.monotonic()
        (result,) = _post(server, [_b_request(server, number, f"{QUESTION}{i}?")], 1)
        latency = answered.wait(120) - result.sent
        reached = asked.at.get(i)
        latencies.append((result.sent, latency, None if reached is None else reached - result.sent))
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    return latencies


def _lag_buckets(server: Server) -> dict[float, float]:
    """The loop-lag histogram's cumulative counts, by upper bound."""
    buckets = {}
    for line in server.metrics().splitlines():
        if line.startswith("sutra_loop_lag_seconds_bucket"):
            bound = line.split('le="')[1].split('"')[0]
            buckets[float(bound)] = float(line.split()[-1])
    return buckets


def _lag_quantile(before: dict[float, float], after: dict[float, float], share: float) -> float:
    """The bucket bound under which ``share`` of the lags measured between the two lie."""
    counts = {bound: after[bound] - before.get(bound, 0.0) for bound in sorted(after)}
    total = counts.get(float("inf"), 0.0)
    for bound, count in counts.items():
        if total and count >= share * total:
            return bound
    return float("nan")


def _watch(server: Server, stop: threading.Event, seen: list[str]) -> None:
    """Every 2 s: the process's admission state (printed with FAIRNESS_VERBOSE=1)."""
    names = ("sutra_admission_org_limit", "sutra_contacts_in_flight", "sutra_contacts_waiting")
    started = time.monotonic()
    while not stop.wait(2.0):
        values = {
            line.split()[0]: float(line.split()[-1])
            for line in server.metrics().splitlines()
            if line.split(" ")[0] in names
        }
        seen.append(
            f"{time.monotonic() - started:6.1f} s  org limit {values.get(names[0], 0):4.0f}  "
            f"in flight {values.get(names[1], 0):4.0f}  waiting {values.get(names[2], 0):5.0f}"
        )


def _settle(server: Server, timeout: float = 300.0) -> None:
    """Until the server has held no contact for 2 s: "A idle" means idle, not A's greetings'
    last writes."""
    names = ("sutra_contacts_in_flight", "sutra_contacts_waiting")
    deadline = time.monotonic() + timeout
    idle_since = None
    while time.monotonic() < deadline:
        busy = sum(
            float(line.split()[-1])
            for line in server.metrics().splitlines()
            if line.split(" ")[0] in names
        )
        now = time.monotonic()
        idle_since = (idle_since or now) if busy == 0 else None
        if idle_since is not None and now - idle_since >= 2.0:
            return
        time.sleep(0.2)


def _p(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--burst", type=int, default=10_000, help="A's contacts asking at once")
    parser.add_argument("--samples", type=int, default=30, help="B's questions with A idle")
    parser.add_argument("--llm-delay", type=float, default=1.0, help="the model's latency (s)")
    parser.add_argument("--database", help="postgresql://... (default: a fresh SQLite file)")
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory() as tmp,
        WatchedGraphAPI() as graph,
        OpenAIStubServer(api_key="sk-bench", delay=args.llm_delay) as a_llm,
        OpenAIStubServer(api_key=B_KEY, delay=args.llm_delay) as b_llm,
    ):
        a_llm.respond(lambda body: Reply("A's answer"))
        asked = Asked()
        b_llm.respond(asked.reply)
        graph.add_number(B_NUMBER, B_TOKEN)
        if args.database:
            reset_schema(args.database)
        database = args.database or f"sqlite:///{Path(tmp) / 'bench.db'}"
        env = _env(database, a_llm, graph)
        _prepare(env, b_llm)
        server = Server(env, Path(tmp) / "server.log")
        try:
            crowd = _numbers("73", args.burst)
            b_quiet = _numbers("74", args.samples)
            b_busy = _numbers("75", args.samples * 10)
            print(f"opening {args.burst:,} of A's contacts and {len(b_quiet) + len(b_busy)} of B's")
            _open(server, graph, crowd, b=False)
            _open(server, graph, b_quiet + b_busy, b=True)

            _settle(server)
            alone = _b_latencies(server, graph, b_quiet, None, asked, 0)

            answered = graph.expect(crowd, 2)
            stop = threading.Event()
            beside: list[tuple[float, float, float | None]] = []
            b_thread = threading.Thread(
                target=lambda: beside.extend(
                    _b_latencies(server, graph, b_busy, stop, asked, len(b_quiet))
                )
            )
            questions = [
                webhook_request(SECRET, whatsapp_text_payload(n, "Why is rain wet?"), server.port)
                for n in crowd
            ]
            lag_before = _lag_buckets(server)
            seen: list[str] = []
            watcher = threading.Thread(target=_watch, args=(server, stop, seen), daemon=True)
            started = time.monotonic()
            b_thread.start()
            watcher.start()
            run(server.port, questions, 50)
            a_in = time.monotonic()  # every one of A's webhooks acknowledged
            a_took = answered.wait(1800) - started
            stop.set()
            b_thread.join()
            lag_after = _lag_buckets(server)
        finally:
            server.stop()

    quiet = [latency for _, latency, _ in alone]
    busy = [latency for _, latency, _ in beside]
    rows = [
        ("B alone", alone),
        (f"B beside A's burst of {args.burst:,}", beside),
        ("  while A's webhooks arrive", [b for b in beside if b[0] < a_in]),
        ("  after, while A's answers are made", [b for b in beside if b[0] >= a_in]),
    ]
    for label, measured in rows:
        values = [latency for _, latency, _ in measured]
        waits = [wait for _, _, wait in measured if wait is not None]
        if values:
            before = f"  before GPT p50 {_p(waits, 0.5):6.3f} p99 {_p(waits, 0.99):6.3f}"
            print(
                f"{label:38} p50 {_p(values, 0.5):6.3f} s  p99 {_p(values, 0.99):6.3f} s  "
                f"({len(values)} questions){before if waits else ''}"
            )
    if os.environ.get("FAIRNESS_VERBOSE"):
        print("\n".join(seen))
    print(
        "the server's event loop late during the burst: "
        f"p50 <= {_lag_quantile(lag_before, lag_after, 0.5) * 1000:g} ms, "
        f"p99 <= {_lag_quantile(lag_before, lag_after, 0.99) * 1000:g} ms"
    )
    ratio = _p(busy, 0.99) / _p(quiet, 0.99)
    print(
        f"A's webhooks in after {a_in - started:.1f} s, its answers after {a_took:.1f} s "
        f"({args.burst / a_took:.0f} answers/s); B's p99 ratio {ratio:.2f} (target <= 1.5)"
    )
    figures = {"b_quiet_p99": _p(quiet, 0.99), "b_busy_p99": _p(busy, 0.99), "ratio": ratio}
    worked = [latency for sent, latency, _ in beside if sent >= a_in]
    if worked:
        figures["b_after_webhooks_p99"] = _p(worked, 0.99)
    print(json.dumps({**figures, "a_seconds": a_took}))


if __name__ == "__main__":
    main()
