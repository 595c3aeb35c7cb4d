"""The fault and abuse suite: `sutra serve` when everything around it misbehaves.

1. Load with faults and a kill: 2,000 questions from 500 contacts (4 each, in order, the next
   one after the previous was accepted) through a GPT loop flow, while the LLM stand-in fails
   30 % of its requests (HTTP 500, 429, answers slower than the function timeout) and the Graph
   API stand-in refuses some sends (429, 500). Mid-load a server process is killed with SIGKILL
   and started again; posts it did not answer are posted again, as Meta retries, and the
   stand-in reports every send it took as "sent", echoing our id, as Meta does. When all is
   quiet, each question must have had exactly one answer: its echo or the sorry text.
2. Fuzzed inputs: thousands of mutated but correctly signed WhatsApp webhooks, Gupshup
   callbacks with the right token, and mutated flow files for ``POST /api/v1/flows/import``
   (each one accepted is started for a contact). A 5xx or a dead process is a failure.
3. Bombs: a flow routing on ``has_pattern`` with ``^([a-zA-Z]+\\s?)*$`` (catastrophic for a
   backtracking engine) and one whose message is a template bomb, triggered by long messages
   while ``/healthz`` is polled every 50 ms (from a process of its own) and other contacts keep
   talking to an echo flow; the same without the bombs first, as the control.

SQLite always (one process); PostgreSQL too with ``--database URL`` (two processes, one of them
killed in part 1). Exits non-zero when anything was lost, sent twice or left stuck, on any 5xx
or crash, or when ``/healthz`` took a second or more.

    .venv/bin/python bench/faults.py [--contacts 500] [--fuzz 3000] [--database URL]

``tests/server/test_faults.py`` runs a small part 1 from this file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import dataclasses
import itertools
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
from rich.console import Console
from rich.table import Table

from sutra.testing.graph_api import (
    DEFAULT_PHONE_NUMBER_ID,
    DEFAULT_TOKEN,
    GraphAPIStubServer,
    SendFaults,
    signature_header,
    signed_webhook,
    whatsapp_status_payload,
    whatsapp_text_payload,
)
from sutra.testing.gupshup_api import (
    DEFAULT_API_KEY,
    DEFAULT_APP,
    GupshupStubServer,
    gupshup_event_payload,
    gupshup_message_payload,
    gupshup_text_payload,
)
from sutra.testing.openai_server import ErrorReply, Faults, OpenAIStubServer, Reply
from sutra.testing.postgres import reset_schema

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SECRET = "faults-app-secret"
API_TOKEN = "faults-api-token"
GUPSHUP_TOKEN = "faults-gupshup-token"
OPENAI_KEY = "sk-faults"
SORRY = "Sorry, please ask again."
# A FUNCTION call gives up after this; the LLM stand-in's slow faults take twice as long.
FUNCTION_TIMEOUT = 2.0
# The server's default. The stand-in's "sent" reports reach a restarted process within a
# second of its return; a restart slower than this window sends in-doubt answers again first.
SEND_DOUBT_SECONDS = 30.0
# The pipeline's lease: a dead process's contacts are free again after it.
LEASE_SECONDS = 10.0
console = Console(highlight=False)


# --- server processes --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Node:
    """One ``sutra serve`` process on a fixed port, so it comes back at the same address
    (where Meta's retries and status reports go) after :meth:`kill`."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        sutra = Path(sys.executable).with_name("sutra")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(sutra), "serve", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sutra serve exited at start; see {self.log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"sutra serve did not start; see {self.log}")

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a power cut would; forgotten, so it is no crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def died(self) -> bool:
        """True when the process is gone without :meth:`kill` or :meth:`stop`: a crash."""
        return self.proc is not None and self.proc.poll() is not None

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {API_TOKEN}", **kwargs.pop("headers", {})}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=60, **kwargs)

    def errors(self) -> list[str]:
        """Log lines at ERROR or worse, and tracebacks."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [
            line
            for line in text.splitlines()
            if '"level": "ERROR"' in line or '"level": "CRITICAL"' in line or "Traceback" in line
        ]


def server_env(
    database: str, llm: OpenAIStubServer, graph: GraphAPIStubServer, gupshup: GupshupStubServer
) -> dict[str, str]:
    return {
        "SUTRA_DATABASE_URL": database,
        "SUTRA_API_TOKEN": API_TOKEN,
        "SUTRA_LOG_LEVEL": "WARNING",
        "SUTRA_FUNCTION_TIMEOUT": str(FUNCTION_TIMEOUT),
        # One retry: some faults are absorbed by the SDK, the rest reach the flow as Failure.
        "SUTRA_OPENAI_MAX_RETRIES": "1",
        "SUTRA_MAX_IN_FLIGHT": "256",
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": llm.base_url,
        "WHATSAPP_ACCESS_TOKEN": DEFAULT_TOKEN,
        "WHATSAPP_APP_SECRET": SECRET,
        "WHATSAPP_VERIFY_TOKEN": "v",
        "WHATSAPP_PHONE_NUMBER_ID": DEFAULT_PHONE_NUMBER_ID,
        "WHATSAPP_API_URL": graph.api_url,
        "WHATSAPP_MESSAGES_PER_SECOND": "1000",
        "GUPSHUP_API_KEY": DEFAULT_API_KEY,
        "GUPSHUP_APP_NAME": DEFAULT_APP,
        "GUPSHUP_SOURCE_NUMBER": "15550783881",
        "GUPSHUP_API_URL": gupshup.api_url,
        "GUPSHUP_WEBHOOK_TOKEN": GUPSHUP_TOKEN,
    }


# --- flows -------------------------------------------------------------------------------------


class _Ids:
    """Repeatable uuids for one flow: a flow number, then a counter."""

    def __init__(self, flow: int) -> None:
        self.flow = flow
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        return f"fa{self.flow:06x}-0000-4000-8000-{self.count:012x}"


def _flow_file(ids: _Ids, name: str, keywords: list[str], nodes: list[dict[str, Any]]) -> Any:
    definition = {
        "uuid": f"fa{ids.flow:06x}-0000-4000-8000-000000000000",
        "name": name,
        "spec_version": "13.2.0",
        "language": "base",
        "type": "messaging",
        "expire_after_minutes": 10080,
        "vars": [],
        "localization": {},
        "nodes": nodes,
    }
    return {"flows": [{"definition": definition, "keywords": keywords}]}


def _send(ids: _Ids, text: str) -> dict[str, Any]:
    return {
        "uuid": ids(),
        "type": "send_msg",
        "text": text,
        "quick_replies": [],
        "attachments": [],
        "labels": [],
    }


def _actions(ids: _Ids, uuid: str, actions: list[dict[str, Any]], to: str) -> dict[str, Any]:
    return {"uuid": uuid, "actions": actions, "exits": [{"uuid": ids(), "destination_uuid": to}]}


def _wait(
    ids: _Ids, uuid: str, result: str, to: str, cases: Sequence[tuple[str, str, str]] = ()
) -> dict[str, Any]:
    """A wait for a message; ``cases`` are (type, argument, category name) routing to ``to``
    like the default "Other" does, so each category is told apart only by its name."""
    categories: list[dict[str, Any]] = []
    exits: list[dict[str, Any]] = []
    router_cases: list[dict[str, Any]] = []
    for kind, argument, name in [*cases, ("", "", "Other")]:
        category, exit_ = ids(), ids()
        categories.append({"uuid": category, "name": name, "exit_uuid": exit_})
        exits.append({"uuid": exit_, "destination_uuid": to})
        if kind:
            router_cases.append(
                {"uuid": ids(), "type": kind, "arguments": [argument], "category_uuid": category}
            )
    return {
        "uuid": uuid,
        "actions": [],
        "router": {
            "type": "switch",
            "operand": "@input.text",
            "wait": {"type": "msg"},
            "result_name": result,
            "cases": router_cases,
            "categories": categories,
            "default_category_uuid": categories[-1]["uuid"],
        },
        "exits": exits,
    }


def gpt_loop_flow() -> Any:
    """Wait for a question, ask GPT, send its answer (or the sorry text), wait again."""
    ids = _Ids(1)
    wait, gpt, answer, sorry = ids(), ids(), ids(), ids()
    success, failure, to_answer, to_sorry = ids(), ids(), ids(), ids()
    body = {
        "question_text": "@input.text",
        "gpt_model": "gpt-4o",
        "prompt": "You help people at an NGO helpline. Answer in less than 5 sentences.",
    }
    ask = {
        "uuid": gpt,
        "actions": [
            {
                "uuid": ids(),
                "type": "call_webhook",
                "method": "FUNCTION",
                "url": "parse_via_chat_gpt",
                "headers": {"Accept": "application/json", "Content-Type": "application/json"},
                "body": json.dumps(body, indent=2),
                "result_name": "gpt",
            }
        ],
        "router": {
            "type": "switch",
            "operand": "@results.gpt.category",
            "cases": [
                {
                    "uuid": ids(),
                    "type": "has_only_text",
                    "arguments": ["Success"],
                    "category_uuid": success,
                }
            ],
            "categories": [
                {"uuid": success, "name": "Success", "exit_uuid": to_answer},
                {"uuid": failure, "name": "Failure", "exit_uuid": to_sorry},
            ],
            "default_category_uuid": failure,
        },
        "exits": [
            {"uuid": to_answer, "destination_uuid": answer},
            {"uuid": to_sorry, "destination_uuid": sorry},
        ],
    }
    nodes = [
        _wait(ids, wait, "question", gpt),
        ask,
        _actions(ids, answer, [_send(ids, "@results.gpt.parsed_msg")], wait),
        _actions(ids, sorry, [_send(ids, SORRY)], wait),
    ]
    return _flow_file(ids, "Faults: GPT loop", [], nodes)


def echo_flow() -> Any:
    """``echo`` starts it; then every message is answered "you said: <it>"."""
    ids = _Ids(2)
    hello, wait, reply = ids(), ids(), ids()
    nodes = [
        _actions(ids, hello, [_send(ids, "echo on")], wait),
        _wait(ids, wait, "said", reply),
        _actions(ids, reply, [_send(ids, "you said: @input.text")], wait),
    ]
    return _flow_file(ids, "Faults: echo", ["echo"], nodes)


REDOS_PATTERN = r"^([a-zA-Z]+\s?)*$"


def regex_bomb_flow() -> Any:
    """``regexbomb``; every message is routed on a pattern that backtracking engines take
    exponential time over when a long run of letters ends in something else."""
    ids = _Ids(3)
    hello, wait, reply = ids(), ids(), ids()
    nodes = [
        _actions(ids, hello, [_send(ids, "letters?")], wait),
        _wait(ids, wait, "shape", reply, [("has_pattern", REDOS_PATTERN, "Letters")]),
        _actions(ids, reply, [_send(ids, "shape: @results.shape.category")], wait),
    ]
    return _flow_file(ids, "Faults: regex bomb", ["regexbomb"], nodes)


BOMB_DONE = "bomb done"


def template_bomb() -> str:
    """A message template that is as costly as a flow file can make it: a deep expression
    over a result doubled twelve times, then that result repeated thousands of times."""
    depth = 45
    deep = "@(" + "upper(" * depth + "results.r12 & results.r12" + ")" * depth + ")"
    too_deep = "@(" + "(" * 3000 + "1" + ")" * 3000 + ")"
    return f"{deep} {too_deep} " + "@results.r12" * 6000


def template_bomb_flow() -> Any:
    """``tplbomb``; every message is doubled into results r1..r12 (capped by the renderer),
    then sent through :func:`template_bomb`, then "bomb done"."""
    ids = _Ids(4)
    hello, wait, grow = ids(), ids(), ids()
    doubling = [
        {
            "uuid": ids(),
            "type": "set_run_result",
            "name": f"r{n}",
            "value": f"@results.r{n - 1}@results.r{n - 1}" if n > 1 else "@input.text@input.text",
            "category": "",
        }
        for n in range(1, 13)
    ]
    nodes = [
        _actions(ids, hello, [_send(ids, "ready")], wait),
        _wait(ids, wait, "seed", grow),
        _actions(ids, grow, [*doubling, _send(ids, template_bomb()), _send(ids, BOMB_DONE)], wait),
    ]
    return _flow_file(ids, "Faults: template bomb", ["tplbomb"], nodes)


def import_flow(node: Node, flow: Any) -> str:
    response = node.api("POST", "/api/v1/flows/import", json=flow)
    if response.status_code != 201:
        raise RuntimeError(f"flow import failed: {response.status_code} {response.text[:500]}")
    return str(response.json()["flows"][0]["uuid"])


def start_flow(node: Node, flow_uuid: str, numbers: Sequence[str], timeout: float = 120) -> None:
    """Start the flow for these contacts and wait until every start has run."""
    urns = [f"whatsapp:{n}" for n in numbers]
    started = node.api("POST", f"/api/v1/flows/{flow_uuid}/start", json={"urns": urns})
    started.raise_for_status()
    broadcast = started.json()["broadcast"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.api("GET", f"/api/v1/broadcasts/{broadcast}").json()["pending"] == 0:
            return
        time.sleep(0.2)
    raise TimeoutError(f"flow starts still pending after {timeout:g} s")


# --- what the database says ----------------------------------------------------------------


@dataclass
class DbState:
    """Per contact urn: inbound messages not yet handled, sessions waiting on a webhook, dead
    letters (inbound marked failed) and outbound messages never settled (queued, sending)."""

    received: Counter[str] = field(default_factory=Counter)
    webhook_waits: set[str] = field(default_factory=set)
    dead_letters: list[tuple[str, str, str]] = field(default_factory=list)
    unsent: Counter[str] = field(default_factory=Counter)
    failed_sends: Counter[str] = field(default_factory=Counter)

    def stuck(self, urns: set[str] | None = None) -> set[str]:
        stuck = set(self.received) | self.webhook_waits
        return stuck if urns is None else stuck & urns


_STATE_QUERIES = {
    "messages": "SELECT c.urn, m.direction, m.status, COUNT(*) FROM messages m "
    "JOIN contacts c ON c.id = m.contact_id GROUP BY c.urn, m.direction, m.status",
    "waits": "SELECT c.urn FROM sessions s JOIN contacts c ON c.id = s.contact_id "
    "WHERE s.status = 'waiting' AND s.wait_kind = 'webhook'",
    "dead": "SELECT c.urn, m.text, COALESCE(m.error, '') FROM messages m "
    "JOIN contacts c ON c.id = m.contact_id WHERE m.direction = 'in' AND m.status = 'failed' "
    "ORDER BY m.id",
}


def db_state(database: str) -> DbState:
    """Read straight from the database, whatever the server thinks."""
    if database.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(database.split(":///", 1)[1], timeout=30)) as db:
            rows = {name: db.execute(sql).fetchall() for name, sql in _STATE_QUERIES.items()}
    else:
        scheme, rest = database.split("://", 1)
        with psycopg.connect(f"{scheme.split('+', 1)[0]}://{rest}") as db:
            rows = {name: db.execute(sql).fetchall() for name, sql in _STATE_QUERIES.items()}
    state = DbState()
    for urn, direction, status, count in rows["messages"]:
        if direction == "in" and status == "received":
            state.received[urn] += count
        elif direction == "out" and status in ("queued", "sending"):
            state.unsent[urn] += count
        elif direction == "out" and status == "failed":
            state.failed_sends[urn] += count
    state.webhook_waits = {urn for (urn,) in rows["waits"]}
    state.dead_letters = [(urn, text, error) for urn, text, error in rows["dead"]]
    return state


def wait_until_handled(database: str, timeout: float) -> DbState:
    """Until no inbound message is left unhandled (or the time is up)."""
    deadline = time.monotonic() + timeout
    while True:
        state = db_state(database)
        if not state.stuck() or time.monotonic() > deadline:
            return state
        time.sleep(1)


# --- posting -------------------------------------------------------------------------------

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class RawClient:
    """Keep-alive HTTP/1.1 POSTs written by hand, as bench/loadgen.py does: httpx spends
    milliseconds of CPU a request, which the stand-ins in this process need more (a stand-in
    slowed by its neighbours answers sends late, and a late answer is a resend)."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._idle: dict[int, list[Streams]] = {}

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        for streams in self._idle.values():
            for _, writer in streams:
                writer.close()
        self._idle.clear()

    async def post(self, port: int, path: str, body: bytes, headers: dict[str, str]) -> int:
        """The answer's status; 0 when none came (refused, reset, timed out)."""
        return (await self.exchange(port, path, body, headers))[0]

    async def exchange(
        self, port: int, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """The answer's status and body; status 0 when none came. A kept-alive connection that
        fails is given up for a fresh one, so only a fresh connection's failure counts."""
        lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        idle = self._idle.setdefault(port, [])
        while True:
            reused = bool(idle)
            try:
                reader, writer = idle.pop() if reused else await _connect(port)
            except OSError:
                return 0, b""
            try:
                writer.write(request)
                status, answer, keep = await asyncio.wait_for(_answer(reader), self.timeout)
            except _NO_ANSWER:
                writer.close()
                if reused:
                    continue  # closed by the server while idle, or after its last answer
                return 0, b""
            if keep:
                idle.append((reader, writer))
            else:
                writer.close()
            return status, answer


# What a connection that died, or never answered, raises.
_NO_ANSWER = (
    OSError,
    ValueError,
    TimeoutError,
    asyncio.IncompleteReadError,
    asyncio.LimitOverrunError,
)


async def _connect(port: int) -> Streams:
    return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """The status and body of the next answer, and whether the connection stays open."""
    head = (await reader.readuntil(b"\r\n\r\n")).lower()
    status = int(head[9:12])
    start = head.find(b"\r\ncontent-length:")
    if start < 0:
        # No length: the body runs to the end of the connection.
        return status, await reader.read(), False
    end = head.index(b"\r\n", start + 2)
    body = await reader.readexactly(int(head[start + 17 : end]))
    return status, body, b"\r\nconnection: close" not in head


# --- part 1: load with faults and a kill ---------------------------------------------------


def question(number: str, turn: int) -> str:
    return f"question {turn + 1} from {number}: why is the sky blue?"


@dataclass
class Posting:
    """How the posts went: every answer that was not a 200 (0: no answer at all, the process
    was down), and the messages never accepted before the poster gave up."""

    accepted: int = 0
    refusals: Counter[int] = field(default_factory=Counter)
    unaccepted: list[str] = field(default_factory=list)
    killed_after: int = 0
    down_seconds: float = 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.refusals.items() if status >= 500)


async def _converse(
    client: RawClient,
    nodes: Sequence[Node],
    index: int,
    number: str,
    texts: list[str],
    pauses: list[float],
    posting: Posting,
    patience: float,
) -> None:
    for turn, text in enumerate(texts):
        await asyncio.sleep(pauses[turn])
        # One body per message, so a retry is the same webhook (same wamid) as Meta's retries.
        raw, headers = signed_webhook(
            SECRET, whatsapp_text_payload(number, text, wamid=f"wamid.faults.{number}.{turn}")
        )
        deadline = time.monotonic() + patience
        attempt = 0
        while True:
            node = nodes[(index + turn + attempt) % len(nodes)]
            status = await client.post(node.port, "/webhooks/whatsapp", raw, headers)
            if status == 200:
                posting.accepted += 1
                break
            posting.refusals[status] += 1
            attempt += 1
            if time.monotonic() > deadline:
                posting.unaccepted.append(text)
                return  # the contact's later messages would come after a lost one
            # With another process up the retry goes there at once; alone, wait for the restart.
            await asyncio.sleep(0.05 if len(nodes) > 1 else 0.5)


async def _kill_and_restart(
    victim: Node, posting: Posting, after: int, downtime: float, done: asyncio.Event
) -> None:
    while posting.accepted < after and not done.is_set():
        await asyncio.sleep(0.02)
    if done.is_set():
        return
    posting.killed_after = posting.accepted
    started = time.monotonic()
    await asyncio.to_thread(victim.kill)
    await asyncio.sleep(downtime)
    await asyncio.to_thread(victim.start)
    posting.down_seconds = time.monotonic() - started


async def post_conversations(
    nodes: Sequence[Node],
    conversations: dict[str, list[str]],
    *,
    concurrency: int,
    pause: tuple[float, float],
    seed: int,
    kill: Node | None,
    kill_after: int,
    downtime: float = 1.0,
    patience: float = 180.0,
) -> Posting:
    """Every contact's messages in order, ``concurrency`` contacts at a time, a random pause
    before each message; ``kill`` is killed once ``kill_after`` messages were accepted."""
    rng = random.Random(seed)
    posting = Posting()
    semaphore = asyncio.Semaphore(concurrency)
    done = asyncio.Event()
    with RawClient() as client:

        async def one(index: int, number: str, texts: list[str], pauses: list[float]) -> None:
            async with semaphore:
                await _converse(client, nodes, index, number, texts, pauses, posting, patience)

        killer = None
        if kill is not None:
            killer = asyncio.create_task(
                _kill_and_restart(kill, posting, kill_after, downtime, done)
            )
        await asyncio.gather(
            *(
                one(i, number, texts, [rng.uniform(*pause) for _ in texts])
                for i, (number, texts) in enumerate(conversations.items())
            )
        )
        done.set()
        if killer is not None:
            await killer
    return posting


@dataclass
class Tally:
    """Replies per question: each is owed one, its echo or the sorry text. A contact's sorry
    texts are owed to the questions without an echo, so only their count is compared."""

    echoed: int = 0
    sorry: int = 0
    lost: int = 0
    twice: int = 0
    unexpected: int = 0
    out_of_order: int = 0
    problems: list[str] = field(default_factory=list)


def tally(delivered: list[dict[str, Any]], conversations: dict[str, list[str]]) -> Tally:
    said: dict[str, list[str]] = {number: [] for number in conversations}
    for body in delivered:
        text = body.get("text")
        if body.get("to") in said and isinstance(text, dict):
            said[body["to"]].append(str(text.get("body", "")))
    result = Tally()
    for number, asked in conversations.items():
        got = said[number]
        echoes = Counter(t for t in got if t.startswith("echo: "))
        sorries = sum(t == SORRY for t in got)
        expected = {f"echo: {q}" for q in asked}
        answered = sum(1 for e in expected if echoes[e])
        strays = sum(n for e, n in echoes.items() if e not in expected)
        strays += sum(1 for t in got if t != SORRY and not t.startswith("echo: "))
        owed = len(asked) - answered
        lost = max(0, owed - sorries)
        twice = sum(n - 1 for e, n in echoes.items() if e in expected) + max(0, sorries - owed)
        order = [asked.index(t[6:]) for t in got if t in expected]
        late = sum(1 for a, b in itertools.pairwise(order) if b < a)
        result.echoed += answered
        result.sorry += min(sorries, owed)
        result.lost += lost
        result.twice += twice
        result.unexpected += strays
        result.out_of_order += late
        if (lost or twice or strays or late) and len(result.problems) < 10:
            result.problems.append(f"{number}: asked {len(asked)}, got {got!r}"[:400])
    return result


def wait_for_replies(
    graph: GraphAPIStubServer,
    conversations: dict[str, list[str]],
    *,
    quiet: float,
    timeout: float,
) -> float:
    """Until every contact has as many replies as messages, or nothing new came for ``quiet``
    seconds; the seconds it took."""
    started = time.monotonic()
    wanted = {number: len(texts) for number, texts in conversations.items()}
    last_count, last_change = -1, started
    while time.monotonic() - started < timeout:
        counts = Counter(b.get("to") for b in graph.delivered)
        if all(counts[n] >= k for n, k in wanted.items()):
            break
        total = sum(counts[n] for n in wanted)
        if total != last_count:
            last_count, last_change = total, time.monotonic()
        elif time.monotonic() - last_change > quiet:
            break
        time.sleep(0.5)
    return time.monotonic() - started


def wait_until_settled(database: str, urns: set[str], timeout: float) -> DbState:
    """Until none of these contacts' outbound messages is queued or being sent: only those can
    still go out, so a second copy of an answer comes before then or never (a send the killed
    process left in doubt is settled by its "sent" status, or sent again after the window)."""
    deadline = time.monotonic() + timeout
    while True:
        state = db_state(database)
        if not any(state.unsent[urn] for urn in urns) or time.monotonic() > deadline:
            break
        time.sleep(1)
    time.sleep(2)  # a send recorded as made may still be on its way to the stand-in
    return db_state(database)


@dataclass
class LoadReport:
    contacts: int
    messages: int
    posting: Posting
    tally: Tally
    state: DbState
    stuck: set[str]
    llm_faults: dict[str, int]
    graph_refused: int
    seconds: float
    answered_in: float


def run_load(
    nodes: Sequence[Node],
    graph: GraphAPIStubServer,
    llm: OpenAIStubServer,
    database: str,
    *,
    contacts: int,
    messages: int,
    prefix: str = "9170",
    concurrency: int = 50,
    pause: tuple[float, float] = (0.2, 1.5),
    kill_at: float = 0.4,
    seed: int = 1,
    doubt: float = SEND_DOUBT_SECONDS,
) -> LoadReport:
    """Part 1 on running ``nodes`` (one on SQLite, more on PostgreSQL): ``nodes[0]`` is
    killed once ``kill_at`` of the messages were accepted (0: never). The stand-ins' faults
    are set by the caller; statuses are reported to every node, as Meta reports to the app's
    URL.
    ``doubt`` is the nodes' SUTRA_SEND_DOUBT_SECONDS: a send the killed process began may wait
    that long for its status before it goes again, so waits allow for it."""
    started = time.monotonic()
    graph.report_statuses([f"{n.url}/webhooks/whatsapp" for n in nodes], SECRET)
    flow = import_flow(nodes[0], gpt_loop_flow())
    numbers = [f"{prefix}{i:08d}" for i in range(contacts)]
    start_flow(nodes[-1], flow, numbers)
    conversations = {n: [question(n, k) for k in range(messages)] for n in numbers}
    posting = asyncio.run(
        post_conversations(
            nodes,
            conversations,
            concurrency=concurrency,
            pause=pause,
            seed=seed,
            kill=nodes[0] if kill_at > 0 else None,
            kill_after=int(contacts * messages * kill_at),
        )
    )
    answered_in = wait_for_replies(
        graph,
        conversations,
        quiet=max(45.0, doubt + LEASE_SECONDS + 10),
        timeout=max(300.0, contacts * 1.0),
    )
    urns = {f"whatsapp:{n}" for n in numbers}
    wait_until_settled(database, urns, doubt + LEASE_SECONDS + 60)
    state = wait_until_handled(database, 30)
    graph_refused = sum(
        1 for r in graph.sends if r.body and r.body.get("to") in conversations
    ) - sum(1 for b in graph.delivered if b.get("to") in conversations)
    return LoadReport(
        contacts=contacts,
        messages=contacts * messages,
        posting=posting,
        tally=tally(graph.delivered, conversations),
        state=state,
        stuck=state.stuck(urns),
        llm_faults=llm.faults_served,
        graph_refused=graph_refused,
        seconds=time.monotonic() - started,
        answered_in=answered_in,
    )


LLM_FAULTS = Faults(
    0.3,
    mix=(
        ErrorReply(500, "The server had an error while processing your request."),
        ErrorReply(429, "Rate limit reached for requests", type="requests"),
        Reply(delay=FUNCTION_TIMEOUT * 2),
    ),
    seed=7,
)


# --- part 2: fuzzed inputs -----------------------------------------------------------------

JsonPath = tuple[str | int, ...]


def _paths(value: Any, prefix: JsonPath = ()) -> list[JsonPath]:
    """Every path into ``value``, containers included, the root excluded."""
    found: list[JsonPath] = []
    items: list[tuple[str | int, Any]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    for key, child in items:
        path = (*prefix, key)
        found.append(path)
        found.extend(_paths(child, path))
    return found


def _edit(value: Any, path: JsonPath, change: Callable[[Any, str | int], None]) -> Any:
    """A copy of ``value`` with ``change(parent, key)`` applied at ``path``."""
    copied = copy.deepcopy(value)
    parent = copied
    for key in path[:-1]:
        parent = parent[key]
    change(parent, path[-1])
    return copied


def _nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


# Wrong types and hostile values, each tried at every path of every seed (in turn).
ODDITIES: list[tuple[str, Any]] = [
    ("null", None),
    ("true", True),
    ("0", 0),
    ("-1", -1),
    ("2**64", 2**64),
    ("-2**63-1", -(2**63) - 1),
    ("1e308", 1e308),
    ("-0.0", -0.0),
    ("0.5", 0.5),
    ("empty string", ""),
    ("NUL", "a\x00b"),
    ("lone high surrogate", "x\ud83d"),
    ("lone low surrogate", "\udc00x"),
    ("noncharacter", "\uffff\ufffe"),
    ("bidi override", "\u202etxet"),
    ("emoji x1000", "🙂" * 1000),
    ("200k string", "x" * 200_000),
    ("100k devanagari", "ॐ" * 100_000),
    ("5000 digits", "9" * 5000),
    ("number as string", "12345"),
    ("template", "@(upper(contact.name)) <%= 1 %>"),
    ("sql", "'; DROP TABLE messages; --"),
    ("empty list", []),
    ("empty object", {}),
    ("list of nulls", [None, None]),
    ("nested 30", _nested(30, "deep")),
    ("nested 70", _nested(70, 1)),
    ("5000 keys", {f"k{i}": i for i in range(5000)}),
    ("20000 items", list(range(20000))),
    ("object", {"body": "hi", "id": "x"}),
]

MESSAGE_TYPES = [
    "reaction",
    "order",
    "system",
    "unsupported",
    "request_welcome",
    "ephemeral",
    "hologram",
    "",
    "TEXT",
]


def _wamid(rng: random.Random) -> str:
    return f"wamid.fuzz{rng.getrandbits(64):016x}"


def _wa_message(rng: random.Random, sender: str, kind: str, body: Any) -> dict[str, Any]:
    message = {"from": sender, "id": _wamid(rng), "timestamp": str(int(time.time())), "type": kind}
    if body is not None:
        message[kind] = body
    return message


def _wa_value(messages: list[Any], statuses: list[Any] | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Fuzz"}, "wa_id": FUZZ_NUMBERS[0]}],
        "messages": messages,
    }
    if statuses is not None:
        value["statuses"] = statuses
    return value


def _wa(*values: dict[str, Any]) -> dict[str, Any]:
    """A webhook with one entry holding a change per value, as Meta batches them."""
    changes = [{"field": "messages", "value": v} for v in values]
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": changes}],
    }


FUZZ_NUMBERS = [f"91990000{i:04d}" for i in range(8)]


def _status(rng: random.Random, state: str, errors: bool = False) -> dict[str, Any]:
    item = whatsapp_status_payload(
        _wamid(rng),
        state,
        recipient_id=rng.choice(FUZZ_NUMBERS),
        error_code=131026 if errors else None,
    )["entry"][0]["changes"][0]["value"]["statuses"][0]
    item["biz_opaque_callback_data"] = f"{rng.getrandbits(128):032x}"
    return dict(item)


def whatsapp_seeds() -> list[Callable[[random.Random], Any]]:
    """Webhook bodies as Meta sends them, fresh ids on each call."""

    def text(rng: random.Random) -> Any:
        return whatsapp_text_payload(rng.choice(FUZZ_NUMBERS), "hello there", wamid=_wamid(rng))

    def of(kind: str, body: Any) -> Callable[[random.Random], Any]:
        return lambda rng: _wa(_wa_value([_wa_message(rng, rng.choice(FUZZ_NUMBERS), kind, body)]))

    def statuses(rng: random.Random) -> Any:
        items = [_status(rng, s) for s in ("sent", "delivered", "read")]
        items.append(_status(rng, "failed", errors=True))
        value = _wa_value([], items)
        del value["messages"], value["contacts"]
        return _wa(value)

    def batch(rng: random.Random) -> Any:
        messages = [
            _wa_message(rng, n, "text", {"body": f"batch {i}"})
            for i, n in enumerate(FUZZ_NUMBERS[:3])
        ]
        mixed = _wa_value(messages, [_status(rng, "delivered"), _status(rng, "read")])
        other = {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}}
        body = _wa(mixed, _wa_value([_wa_message(rng, FUZZ_NUMBERS[4], "text", {"body": "b"})]))
        body["entry"][0]["changes"].append(other)
        body["entry"].append({"id": "1", "changes": [{"field": "messages", "value": mixed}]})
        return body

    def user_id_only(rng: random.Random) -> Any:
        message = _wa_message(rng, "", "text", {"body": "no number"})
        del message["from"]
        message["from_user_id"] = "US.13491208655302741918"
        return _wa(_wa_value([message]))

    seeds: list[Callable[[random.Random], Any]] = [
        text,
        statuses,
        batch,
        user_id_only,
        of("interactive", {"type": "button_reply", "button_reply": {"id": "b1", "title": "Yes"}}),
        of(
            "interactive",
            {"type": "list_reply", "list_reply": {"id": "r1", "title": "A", "description": "d"}},
        ),
        of("button", {"payload": "p1", "text": "Yes please"}),
        of("image", {"id": "1234567890", "mime_type": "image/jpeg", "caption": "look"}),
        of("document", {"id": "98765", "mime_type": "application/pdf", "filename": "a.pdf"}),
        of("audio", {"id": "5555", "mime_type": "audio/ogg; codecs=opus", "voice": True}),
        of("location", {"latitude": 12.97, "longitude": 77.59, "name": "Here", "address": "A"}),
        of("contacts", [{"name": {"formatted_name": "X"}, "phones": [{"phone": "+1"}]}]),
    ]
    seeds += [of(kind, {"anything": 1}) for kind in MESSAGE_TYPES]
    return seeds


def gupshup_seeds() -> list[Callable[[random.Random], Any]]:
    def pick(rng: random.Random) -> str:
        return rng.choice(FUZZ_NUMBERS)

    def msg_id(rng: random.Random) -> str:
        return f"gs{rng.getrandbits(64):016x}"

    def of(kind: str, content: dict[str, Any]) -> Callable[[random.Random], Any]:
        return lambda rng: gupshup_message_payload(pick(rng), kind, content, msg_id=msg_id(rng))

    return [
        lambda rng: gupshup_text_payload(pick(rng), "hello gupshup", msg_id=msg_id(rng)),
        of("image", {"url": "http://127.0.0.1:9/x.jpg", "contentType": "image/jpeg"}),
        of("button_reply", {"title": "Yes", "id": "b1", "reply": "Yes 1"}),
        of("list_reply", {"title": "A", "id": "r1", "reply": "A 1", "postbackText": "a"}),
        of("location", {"latitude": "12.97", "longitude": "77.59"}),
        of("quick_reply", {"text": "Yes", "type": "button"}),
        of("hologram", {"x": 1}),
        lambda rng: gupshup_event_payload(msg_id(rng), "sent", destination=pick(rng)),
        lambda rng: gupshup_event_payload(msg_id(rng), "failed", destination=pick(rng)),
        lambda rng: gupshup_event_payload(msg_id(rng), "enqueued", destination=pick(rng)),
        lambda rng: {"app": DEFAULT_APP, "type": "user-event", "payload": {"type": "opted-in"}},
        lambda rng: {},
        # v3: Meta's format forwarded, statuses keyed by gs_id.
        lambda rng: whatsapp_text_payload(pick(rng), "v3 hello", wamid=_wamid(rng)),
    ]


def flow_seeds() -> list[Any]:
    seeds = [gpt_loop_flow(), echo_flow(), regex_bomb_flow()]
    seeds += [json.loads(p.read_text()) for p in sorted((ROOT / "examples").glob("*.json"))]
    glific = SHARED / "glific-flows"
    for name in ("direct_gpt.json", "survey.json", "interactive.json", "wait_for_result.json"):
        if (glific / name).exists():
            seeds.append(json.loads((glific / name).read_text()))
    return seeds


def _dumps(value: Any) -> bytes:
    # ensure_ascii: a lone surrogate is only expressible escaped, as \udXXX.
    return json.dumps(value, separators=(",", ":")).encode()


def _insert_in_string(raw: bytes, rng: random.Random, junk: bytes) -> bytes:
    quotes = [i for i in range(len(raw)) if raw[i : i + 3] == b'":"']
    if not quotes:
        return raw + junk
    at = rng.choice(quotes) + 3
    return raw[:at] + junk + raw[at:]


def _replace_a_number(raw: bytes, rng: random.Random, literal: bytes) -> bytes:
    numbers = list(re.finditer(rb"(?<=:)-?[0-9][0-9.eE+-]*", raw))
    if not numbers:
        return raw.replace(b":", b":" + literal + b",", 1)
    number = rng.choice(numbers)
    return raw[: number.start()] + literal + raw[number.end() :]


# Mutations of the serialized body: what no JSON library would write, still correctly signed.
BYTE_MUTATIONS: list[tuple[str, Callable[[bytes, random.Random], bytes]]] = [
    ("invalid utf-8", lambda raw, rng: _insert_in_string(raw, rng, b"\xff\xfe\xfd")),
    ("overlong utf-8", lambda raw, rng: _insert_in_string(raw, rng, b"\xc0\xaf")),
    ("utf-8 surrogate", lambda raw, rng: _insert_in_string(raw, rng, b"\xed\xa0\x80")),
    ("raw NUL and controls", lambda raw, rng: _insert_in_string(raw, rng, b"\x00\x01\x1f")),
    ("truncated", lambda raw, rng: raw[: rng.randrange(len(raw))]),
    ("NaN", lambda raw, rng: _replace_a_number(raw, rng, b"NaN")),
    ("Infinity", lambda raw, rng: _replace_a_number(raw, rng, b"-Infinity")),
    ("1e999999", lambda raw, rng: _replace_a_number(raw, rng, b"1e999999")),
    ("5000-digit number", lambda raw, rng: _replace_a_number(raw, rng, b"9" * 5000)),
    ("BOM", lambda raw, rng: b"\xef\xbb\xbf" + raw),
    ("UTF-16", lambda raw, rng: raw.decode("utf-8", "replace").encode("utf-16")),
    ("trailing garbage", lambda raw, rng: raw + b"}{]"),
    ("duplicate keys", lambda raw, rng: raw.replace(b"{", b'{"object":1,"type":[],', 1)),
    ("empty body", lambda raw, rng: b""),
    ("top-level null", lambda raw, rng: b"null"),
    ("top-level array", lambda raw, rng: b"[" + raw + b"]"),
    ("deep 100000", lambda raw, rng: b"[" * 100_000 + b"]" * 100_000),
]


@dataclass
class Probe:
    """One fuzzed input: what it is, its bytes, and how the server answered (0: no answer)."""

    family: str
    label: str
    body: bytes
    status: int = -1
    seconds: float = 0.0


def _set(value: Any) -> Callable[[Any, str | int], None]:
    return lambda parent, key: parent.__setitem__(key, value)


def _remove(parent: Any, key: str | int) -> None:
    del parent[key]


def _nul_key(parent: Any, key: str | int) -> None:
    parent[f"{key}\x00"] = parent.pop(key)


def _stack(body: Any, changes: int, rng: random.Random) -> tuple[Any, str]:
    """``body`` with a few random changes: an oddity at a path (mostly), or a key removed."""
    labels: list[str] = []
    for _ in range(changes):
        paths = _paths(body)
        if not paths:
            break
        path = rng.choice(paths)
        if rng.random() < 0.2:
            body = _edit(body, path, _remove)
            labels.append(f"{_show(path)} removed")
        else:
            label, odd = rng.choice(ODDITIES)
            body = _edit(body, path, _set(odd))
            labels.append(f"{_show(path)} = {label}")
    return body, ", ".join(labels)


def mutants(
    family: str, seeds: Sequence[Callable[[random.Random], Any]], count: int, rng: random.Random
) -> list[Probe]:
    """``count`` mutants of the seeds. First, at every path of every seed, the next oddity in
    turn and the key removed (every third key also gets a NUL appended); every byte mutation of
    every seed; then random stacks of 2-4 changes. Sampled when there are more than ``count``."""
    systematic: list[Probe] = []
    turn = 0
    for s, seed in enumerate(seeds):
        for path in _paths(seed(rng)):
            label, odd = ODDITIES[turn % len(ODDITIES)]
            changes = [(f"= {label}", _set(odd)), ("removed", _remove)]
            if isinstance(path[-1], str) and turn % 3 == 0:
                changes.append(("key + NUL", _nul_key))
            turn += 1
            for what, change in changes:
                body = _edit(seed(rng), path, change)
                systematic.append(Probe(family, f"seed {s} {_show(path)} {what}", _dumps(body)))
        for label, mutate in BYTE_MUTATIONS:
            raw = mutate(_dumps(seed(rng)), rng)
            systematic.append(Probe(family, f"seed {s} bytes: {label}", raw))
    if len(systematic) >= count:
        return rng.sample(systematic, count)
    probes = systematic
    while len(probes) < count:
        s = rng.randrange(len(seeds))
        body, label = _stack(seeds[s](rng), rng.randint(2, 4), rng)
        probes.append(Probe(family, f"seed {s} {label}", _dumps(body)))
    return probes


def flow_mutants(seeds: list[Any], count: int, rng: random.Random) -> list[Probe]:
    """Flow files with one to three changes at random paths, or their bytes mangled."""
    probes: list[Probe] = []
    while len(probes) < count:
        s = rng.randrange(len(seeds))
        if rng.random() < 0.1:
            label, mutate = rng.choice(BYTE_MUTATIONS)
            raw = mutate(_dumps(seeds[s]), rng)
            probes.append(Probe("flow import", f"flow {s} bytes: {label}", raw))
        else:
            body, label = _stack(seeds[s], rng.randint(1, 3), rng)
            probes.append(Probe("flow import", f"flow {s} {label}", _dumps(body)))
    return probes


RACE_FLOW = "fa0000ff-0000-4000-8000-000000000000"


def _renamed(flow_file: Any, name: str) -> Any:
    """The flow file as flow :data:`RACE_FLOW`, renamed: its first import is a new flow, each
    later one a new revision."""
    flow_file = copy.deepcopy(flow_file)
    flow_file["flows"][0]["definition"].update(uuid=RACE_FLOW, name=name)
    return flow_file


def _show(path: JsonPath) -> str:
    return "$" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path)


async def _post_probes(
    probes: list[Probe],
    request: Callable[[RawClient, Probe], Awaitable[int]],
    concurrency: int,
) -> None:
    semaphore = asyncio.Semaphore(concurrency)
    with RawClient(timeout=60) as client:

        async def one(probe: Probe) -> None:
            async with semaphore:
                started = time.monotonic()
                probe.status = await request(client, probe)
                probe.seconds = time.monotonic() - started

        await asyncio.gather(*(one(p) for p in probes))


@dataclass
class FuzzReport:
    probes: list[Probe]
    crashes: int
    state: DbState
    errors: list[str]
    seconds: float

    def classes(self, family: str) -> Counter[str]:
        return Counter(
            "no answer" if p.status <= 0 else f"{p.status // 100}xx"
            for p in self.probes
            if p.family == family
        )

    @property
    def offenders(self) -> list[Probe]:
        return [p for p in self.probes if p.status <= 0 or p.status >= 500]


def run_fuzz(node: Node, database: str, *, webhooks: int, flows: int, seed: int) -> FuzzReport:
    started = time.monotonic()
    rng = random.Random(seed)
    echo = import_flow(node, echo_flow())
    start_flow(node, echo, FUZZ_NUMBERS)
    families = [
        ("whatsapp", mutants("whatsapp", whatsapp_seeds(), int(webhooks * 0.7), rng)),
        ("gupshup", mutants("gupshup", gupshup_seeds(), webhooks - int(webhooks * 0.7), rng)),
        ("flow import", flow_mutants(flow_seeds(), flows, rng)),
    ]
    starts: list[Probe] = []

    api = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}

    async def whatsapp(client: RawClient, probe: Probe) -> int:
        signature = signature_header(SECRET, probe.body)
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
        return await client.post(node.port, "/webhooks/whatsapp", probe.body, headers)

    async def gupshup(client: RawClient, probe: Probe) -> int:
        path = f"/webhooks/gupshup?token={GUPSHUP_TOKEN}"
        return await client.post(node.port, path, probe.body, {"Content-Type": "application/json"})

    async def flow_import(client: RawClient, probe: Probe) -> int:
        status, answer = await client.exchange(node.port, "/api/v1/flows/import", probe.body, api)
        if status == 201 and len(starts) < flows:
            # Run what was accepted, for a contact of its own: the engine meets the mutant too.
            for flow in json.loads(answer).get("flows", []):
                number = f"9191{len(starts):08d}"
                start = Probe("flow start", f"{probe.label} (flow {flow['uuid']})", probe.body)
                starts.append(start)
                body = json.dumps({"urns": [f"whatsapp:{number}"]}).encode()
                # A mutant's uuid can be any text: the path holds it percent-encoded.
                path = f"/api/v1/flows/{quote(str(flow['uuid']), safe='', errors='replace')}/start"
                start.status = await client.post(node.port, path, body, api)
        return status

    senders = {"whatsapp": whatsapp, "gupshup": gupshup, "flow import": flow_import}
    crashes = 0
    for family, probes in families:
        # Flow files one at a time: concurrent imports are the next check's business.
        asyncio.run(_post_probes(probes, senders[family], 1 if family == "flow import" else 8))
        if node.died():
            crashes += 1
            node.start()
    # The same flow imported by several requests at once, as two staff members might: first as
    # a new flow, then as new revisions of it.
    racing = [
        Probe("concurrent import", f"round {r}: one of 8 imports of the GPT loop at once", raw)
        for r in range(5)
        for raw in [_dumps(_renamed(gpt_loop_flow(), f"race {r}"))] * 8
    ]
    for r in range(5):
        asyncio.run(_post_probes(racing[r * 8 : (r + 1) * 8], flow_import, 8))
    # Each contact a mutant flow was started for says something, to carry it past a wait.
    hellos = [
        Probe(
            "flow run",
            f"hello after {s.label}",
            _dumps(whatsapp_text_payload(f"9191{i:08d}", "hello")),
        )
        for i, s in enumerate(starts)
    ]
    asyncio.run(_post_probes(hellos, whatsapp, 8))
    if node.died():
        crashes += 1
        node.start()
    state = wait_until_handled(database, 60)
    all_probes = [p for _, probes in families for p in probes] + racing + starts + hellos
    return FuzzReport(all_probes, crashes, state, node.errors(), time.monotonic() - started)


# --- part 3: bombs while measuring /healthz ------------------------------------------------


def poll_healthz(url: str, interval: float) -> None:
    """The poller's own process: GET ``url`` every ``interval`` seconds until stdin closes,
    then print the latencies (and the failures) as JSON."""
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    latencies: list[float] = []
    failures = 0
    with httpx.Client(timeout=10) as client:
        print("ready", flush=True)
        while not stop.is_set():
            sent = time.monotonic()
            try:
                ok = client.get(url).status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append(time.monotonic() - sent)
            failures += not ok
            stop.wait(max(0.0, interval - (time.monotonic() - sent)))
    print(json.dumps({"latencies": latencies, "failures": failures}), flush=True)


class HealthPoller:
    """GETs ``/healthz`` every ``interval`` seconds meanwhile; the worst latency wins. From a
    process of its own: a thread here would share the GIL with the load and the stand-ins, and
    measure their stalls as the server's."""

    def __init__(self, url: str, interval: float = 0.05) -> None:
        self.command = [sys.executable, __file__, "--poll-healthz", f"{url}/healthz"]
        self.command += ["--poll-interval", str(interval)]
        self.latencies: list[float] = []
        self.failures = 0
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> HealthPoller:
        self._proc = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        assert self._proc.stdout is not None
        if self._proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the /healthz poller did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc is not None
        out, _ = self._proc.communicate("", timeout=30)
        found = json.loads(out)
        self.latencies, self.failures = found["latencies"], found["failures"]

    @property
    def worst(self) -> float:
        return max(self.latencies, default=0.0)

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else 0.0


def redos_texts(count: int) -> list[str]:
    """35+ characters that a backtracking ``^([a-zA-Z]+\\s?)*$`` explores exponentially."""
    shapes = ["a" * 40 + "!", "ab " * 15 + "1", "x" * 38 + "\u00e9", ("aaaa " * 9).strip() + "?"]
    return [f"{shapes[i % len(shapes)]}{'b' * (i % 3)}" for i in range(count)]


@dataclass
class BombReport:
    calm_worst: float
    healthz_worst: float
    healthz_p99: float
    healthz_polls: int
    healthz_failures: int
    bystanders_asked: int
    bystanders_answered: int
    calm_reply_worst: float
    bystander_worst: float
    bombs_sent: int
    bombs_answered: int
    crashes: int
    state: DbState
    stuck: set[str]
    errors: list[str]
    seconds: float

    @property
    def lost(self) -> int:
        return self.bystanders_asked - self.bystanders_answered


class _Talk:
    """Contacts posting to one node and reading their replies off the Graph API stand-in."""

    def __init__(self, node: Node, graph: GraphAPIStubServer) -> None:
        self.node = node
        self.graph = graph
        self.posts = itertools.count()

    def said(self, number: str) -> list[str]:
        return [
            b["text"]["body"]
            for b in self.graph.delivered
            if b.get("to") == number and isinstance(b.get("text"), dict)
        ]

    async def post(self, client: RawClient, number: str, text: str) -> None:
        payload = whatsapp_text_payload(number, text, wamid=f"wamid.bomb.{next(self.posts)}")
        raw, headers = signed_webhook(SECRET, payload)
        for _ in range(20):
            if await client.post(self.node.port, "/webhooks/whatsapp", raw, headers) == 200:
                return
            await asyncio.sleep(0.5)

    async def replied(self, number: str, count: int, timeout: float) -> bool:
        """Until the contact has had ``count`` replies in all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.said(number)) >= count:
                return True
            await asyncio.sleep(0.1)
        return False


def run_bombs(
    node: Node,
    graph: GraphAPIStubServer,
    database: str,
    *,
    bombers: int,
    bystanders: int,
    messages: int,
) -> BombReport:
    """Bystanders talk to the echo flow, first alone (the control), then while the bombers
    send 35+ characters to the regex and template bombs; /healthz is polled throughout."""
    started = time.monotonic()
    for flow in (echo_flow(), regex_bomb_flow(), template_bomb_flow()):
        import_flow(node, flow)
    talk = _Talk(node, graph)
    regex = [f"9192{i:08d}" for i in range(bombers)]
    template = [f"9193{i:08d}" for i in range(bombers)]
    others = [f"9194{i:08d}" for i in range(bystanders)]
    bombs = redos_texts(messages)
    latencies: dict[str, list[float]] = {"calm": [], "bombs": []}

    async def bystander(client: RawClient, number: str, phase: str) -> None:
        if phase == "calm":
            await talk.post(client, number, "echo")
            await talk.replied(number, 1, 60)
        for turn in range(messages):
            # Each reply awaited before the next message: the time is this message's own.
            count = len(talk.said(number)) + 1
            sent = time.monotonic()
            await talk.post(client, number, f"ping {turn} {phase} from {number}")
            if await talk.replied(number, count, 60):
                latencies[phase].append(time.monotonic() - sent)
            await asyncio.sleep(0.3)

    async def bomber(client: RawClient, number: str, keyword: str) -> None:
        await talk.post(client, number, keyword)
        await talk.replied(number, 1, 60)  # the greeting: the flow now waits
        for text in bombs:
            await talk.post(client, number, text)
            await asyncio.sleep(0.3)

    async def phase(name: str) -> None:
        with RawClient() as client:
            tasks = [bystander(client, n, name) for n in others]
            if name == "bombs":
                tasks += [bomber(client, n, "regexbomb") for n in regex]
                tasks += [bomber(client, n, "tplbomb") for n in template]
            await asyncio.gather(*tasks)

    def bomb_replies() -> int:
        shapes = sum(sum(t.startswith("shape: ") for t in talk.said(n)) for n in regex)
        return shapes + sum(talk.said(n).count(BOMB_DONE) for n in template)

    with HealthPoller(node.url) as calm:
        asyncio.run(phase("calm"))
    with HealthPoller(node.url) as health:
        asyncio.run(phase("bombs"))
        deadline = time.monotonic() + 120
        while bomb_replies() < 2 * bombers * messages and time.monotonic() < deadline:
            time.sleep(0.5)
    crashes = 1 if node.died() else 0
    state = wait_until_handled(database, 30)
    return BombReport(
        calm_worst=calm.worst,
        healthz_worst=health.worst,
        healthz_p99=health.percentile(0.99),
        healthz_polls=len(health.latencies),
        healthz_failures=health.failures,
        bystanders_asked=2 * bystanders * messages,
        bystanders_answered=len(latencies["calm"]) + len(latencies["bombs"]),
        calm_reply_worst=max(latencies["calm"], default=0.0),
        bystander_worst=max(latencies["bombs"], default=0.0),
        bombs_sent=2 * bombers * messages,
        bombs_answered=bomb_replies(),
        crashes=crashes,
        state=state,
        stuck=state.stuck(),
        errors=node.errors(),
        seconds=time.monotonic() - started,
    )


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Run:
    """One database's figures."""

    label: str
    load: LoadReport | None = None
    fuzz: FuzzReport | None = None
    bombs: BombReport | None = None
    load_crashes: int = 0
    load_errors: list[str] = field(default_factory=list)


def _fresh(database: str, tmp: Path, name: str) -> str:
    if database.startswith("sqlite"):
        return f"sqlite:///{tmp / f'{name}.db'}"
    reset_schema(database)
    return database


def run_all(args: argparse.Namespace, database: str, label: str, tmp: Path) -> Run:
    run = Run(label)
    processes = 1 if database.startswith("sqlite") else 2
    with (
        OpenAIStubServer(api_key=OPENAI_KEY, delay=0.1) as llm,
        GraphAPIStubServer() as graph,
        GupshupStubServer() as gupshup,
    ):
        if "1" in args.parts:
            url = _fresh(database, tmp, f"{label}-load")
            env = server_env(url, llm, graph, gupshup)
            # Several processes for one number share its messaging limit.
            env["SUTRA_WORKERS"] = str(processes)
            env["SUTRA_SEND_DOUBT_SECONDS"] = str(args.doubt_seconds)
            nodes = [Node(env, tmp / f"{label}-load-{i}.log") for i in range(processes)]
            llm.faults = dataclasses.replace(LLM_FAULTS, rate=args.llm_faults)
            graph.faults = SendFaults(args.graph_faults, seed=11)
            try:
                for node in nodes:
                    node.start()
                run.load = run_load(
                    nodes,
                    graph,
                    llm,
                    url,
                    contacts=args.contacts,
                    messages=args.messages,
                    concurrency=args.concurrency,
                    seed=args.seed,
                    doubt=args.doubt_seconds,
                    kill_at=args.kill_at,
                )
                run.load_crashes = sum(1 for node in nodes if node.died())
                run.load_errors = [e for node in nodes for e in node.errors()]
            finally:
                for node in nodes:
                    node.stop()
                llm.faults = None
                graph.faults = None
                graph.report_statuses([], SECRET)
                graph.reset()
            print_load(run)
        if "2" in args.parts:
            url = _fresh(database, tmp, f"{label}-fuzz")
            node = Node(server_env(url, llm, graph, gupshup), tmp / f"{label}-fuzz.log")
            try:
                node.start()
                run.fuzz = run_fuzz(
                    node, url, webhooks=args.fuzz, flows=args.fuzz_flows, seed=args.seed
                )
            finally:
                node.stop()
                graph.reset()
            print_fuzz(run)
        if "3" in args.parts:
            url = _fresh(database, tmp, f"{label}-bombs")
            node = Node(server_env(url, llm, graph, gupshup), tmp / f"{label}-bombs.log")
            try:
                node.start()
                run.bombs = run_bombs(
                    node, graph, url, bombers=args.bombers, bystanders=args.bystanders, messages=5
                )
            finally:
                node.stop()
                graph.reset()
            print_bombs(run)
    return run


def _table(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in rows:
        table.add_row(name, value)
    return table


def print_load(run: Run) -> None:
    load = run.load
    if load is None:
        return
    posting, t, state = load.posting, load.tally, load.state
    refused_down = posting.refusals.get(0, 0)
    faults = ", ".join(f"{k}: {v}" for k, v in sorted(load.llm_faults.items())) or "none"
    rows = [
        (
            "messages (contacts x each)",
            f"{load.messages:,} ({load.contacts} x {load.messages // max(load.contacts, 1)})",
        ),
        ("accepted", f"{posting.accepted:,}"),
        (
            "killed after (accepted)",
            f"{posting.killed_after:,}; back in {posting.down_seconds:.1f} s",
        ),
        ("posts unanswered while down (retried)", f"{refused_down:,}"),
        ("posts answered 5xx", f"{posting.server_errors}"),
        ("other refusals", f"{sum(n for s, n in posting.refusals.items() if 0 < s < 500)}"),
        ("never accepted", f"{len(posting.unaccepted)}"),
        ("LLM faults served (SDK retries one)", faults),
        ("Graph API sends refused (429/500)", f"{load.graph_refused}"),
        ("answered: echo / sorry", f"{t.echoed:,} / {t.sorry:,}"),
        ("lost (no reply)", f"{t.lost}"),
        ("answered twice", f"{t.twice}"),
        ("stuck contacts", f"{len(load.stuck)}"),
        ("dead letters", f"{len(state.dead_letters)}"),
        (
            "sends never settled / failed",
            f"{sum(state.unsent.values())} / {sum(state.failed_sends.values())}",
        ),
        ("unexpected replies", f"{t.unexpected}"),
        ("answers out of order", f"{t.out_of_order}"),
        ("crashes", f"{run.load_crashes}"),
        ("ERROR log lines", f"{len(run.load_errors)}"),
        ("all answered after posting", f"{load.answered_in:.1f} s"),
        ("part 1 took", f"{load.seconds:.0f} s"),
    ]
    console.print(_table(f"Part 1, {run.label}: load with faults and a kill", rows))
    for problem in t.problems[:5]:
        console.print(f"  {problem}", style="red", markup=False)
    for urn, text, error in state.dead_letters[:5]:
        console.print(
            f"  dead letter {urn}: {text[:80]!r}: {error[:200]}", style="red", markup=False
        )
    for urn in sorted(load.stuck)[:5]:
        console.print(f"  stuck {urn}", style="red", markup=False)
    for line in run.load_errors[:3]:
        console.print(f"  {line[:300]}", style="yellow", markup=False)


def print_fuzz(run: Run) -> None:
    fuzz = run.fuzz
    if fuzz is None:
        return
    table = Table(title=f"Part 2, {run.label}: fuzzed inputs", title_justify="left")
    for column in ("inputs", "tried", "2xx", "4xx", "5xx", "no answer"):
        table.add_column(column, justify="right" if column != "inputs" else "left")
    families = ("whatsapp", "gupshup", "flow import", "concurrent import", "flow start", "flow run")
    for family in families:
        classes = fuzz.classes(family)
        table.add_row(
            family,
            f"{sum(classes.values()):,}",
            *(f"{classes.get(c, 0):,}" for c in ("2xx", "4xx", "5xx", "no answer")),
        )
    console.print(table)
    console.print(
        f"  crashes {fuzz.crashes}, stuck contacts {len(fuzz.state.stuck())}, dead letters "
        f"{len(fuzz.state.dead_letters)}, ERROR log lines {len(fuzz.errors)}, "
        f"{fuzz.seconds:.0f} s"
    )
    shown: Counter[tuple[str, int]] = Counter()
    for probe in fuzz.offenders:
        shown[probe.family, probe.status] += 1
        if shown[probe.family, probe.status] > 3:
            continue
        # The envelope is the same in all of them: what was changed, and the bytes around it.
        console.print(
            f"  {probe.family} {probe.status or 'no answer'} after {probe.seconds:.1f} s: "
            f"{probe.label[:200]} ({len(probe.body):,} bytes)",
            style="red",
            markup=False,
        )
    for urn, text, error in fuzz.state.dead_letters[:5]:
        console.print(
            f"  dead letter {urn[:40]}: {text[:60]!r}: {error[:200]}", style="yellow", markup=False
        )
    for line in fuzz.errors[:5]:
        console.print(f"  {line[:300]}", style="yellow", markup=False)


def print_bombs(run: Run) -> None:
    b = run.bombs
    if b is None:
        return
    rows = [
        ("/healthz worst during bombs (target < 1 s)", f"{b.healthz_worst * 1e3:.0f} ms"),
        ("/healthz p99 during bombs", f"{b.healthz_p99 * 1e3:.0f} ms"),
        ("/healthz polls / failed", f"{b.healthz_polls:,} / {b.healthz_failures}"),
        ("/healthz worst without bombs (control)", f"{b.calm_worst * 1e3:.0f} ms"),
        ("bomb messages / answered", f"{b.bombs_sent} / {b.bombs_answered}"),
        ("other contacts' messages / answered", f"{b.bystanders_asked} / {b.bystanders_answered}"),
        (
            "their worst reply, without / with bombs",
            f"{b.calm_reply_worst * 1e3:.0f} / {b.bystander_worst * 1e3:.0f} ms",
        ),
        ("stuck contacts", f"{len(b.stuck)}"),
        ("dead letters", f"{len(b.state.dead_letters)}"),
        ("crashes", f"{b.crashes}"),
        ("ERROR log lines", f"{len(b.errors)}"),
        ("part 3 took", f"{b.seconds:.0f} s"),
    ]
    console.print(_table(f"Part 3, {run.label}: bombs while measuring /healthz", rows))
    for line in b.errors[:5]:
        console.print(f"  {line[:300]}", style="yellow", markup=False)


@dataclass
class Summary:
    inputs: int = 0
    server_errors: int = 0
    crashes: int = 0
    stuck: int = 0
    lost: int = 0
    twice: int = 0
    healthz_worst: float | None = None

    @property
    def failed(self) -> bool:
        return (
            bool(self.server_errors or self.crashes or self.stuck or self.lost or self.twice)
            or (self.healthz_worst or 0.0) >= 1.0
        )


def summarize(run: Run) -> Summary:
    s = Summary()
    if run.load is not None:
        s.inputs += run.load.messages
        s.server_errors += run.load.posting.server_errors
        s.crashes += run.load_crashes
        s.stuck += len(run.load.stuck)
        s.lost += run.load.tally.lost + len(run.load.posting.unaccepted)
        s.twice += run.load.tally.twice
    if run.fuzz is not None:
        s.inputs += len(run.fuzz.probes)
        s.server_errors += len(run.fuzz.offenders)
        s.crashes += run.fuzz.crashes
        s.stuck += len(run.fuzz.state.stuck())
    if run.bombs is not None:
        s.inputs += run.bombs.bombs_sent + run.bombs.bystanders_asked
        s.crashes += run.bombs.crashes
        s.stuck += len(run.bombs.stuck)
        s.lost += run.bombs.lost
        s.healthz_worst = run.bombs.healthz_worst
    return s


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=500)
    parser.add_argument("--messages", type=int, default=4, help="per contact")
    parser.add_argument("--concurrency", type=int, default=50, help="contacts posting at once")
    parser.add_argument("--llm-faults", type=float, default=LLM_FAULTS.rate, help="share failed")
    parser.add_argument(
        "--kill-at", type=float, default=0.4, help="share of messages accepted before the kill"
    )
    parser.add_argument("--graph-faults", type=float, default=0.02, help="share of sends refused")
    parser.add_argument(
        "--doubt-seconds",
        type=float,
        default=SEND_DOUBT_SECONDS,
        help="SUTRA_SEND_DOUBT_SECONDS in part 1",
    )
    parser.add_argument("--fuzz", type=int, default=3000, help="fuzzed webhooks")
    parser.add_argument("--fuzz-flows", type=int, default=400, help="fuzzed flow files")
    parser.add_argument("--bombers", type=int, default=10, help="contacts per bomb flow")
    parser.add_argument("--bystanders", type=int, default=20)
    parser.add_argument("--parts", default="123", help="which parts to run, e.g. 13")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", metavar="DIR", help="keep the logs and SQLite files here")
    parser.add_argument("--database", help="also run on this PostgreSQL (its schema is reset)")
    parser.add_argument("--poll-healthz", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--poll-interval", type=float, default=0.05, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.poll_healthz:
        poll_healthz(args.poll_healthz, args.poll_interval)
        return 0
    console.print(
        f"{os.cpu_count()} cores; {args.contacts} contacts x {args.messages} messages, "
        f"LLM faults {args.llm_faults:.0%}, Graph API faults {args.graph_faults:.0%}, "
        f"{args.fuzz} fuzzed webhooks, {args.fuzz_flows} fuzzed flows"
    )
    runs: list[Run] = []
    with contextlib.ExitStack() as stack:
        if args.keep:
            tmp = Path(args.keep)
            tmp.mkdir(parents=True, exist_ok=True)
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sutra-faults-")))
        runs.append(run_all(args, "sqlite", "SQLite", tmp))
        if args.database:
            runs.append(run_all(args, args.database, "PostgreSQL", tmp))
    table = Table(title="Faults and abuse: summary", title_justify="left")
    table.add_column("")
    for run in runs:
        table.add_column(run.label, justify="right")
    summaries = [summarize(run) for run in runs]
    for name, get in [
        ("inputs tried", lambda s: f"{s.inputs:,}"),
        ("5xx answers", lambda s: f"{s.server_errors}"),
        ("crashes", lambda s: f"{s.crashes}"),
        ("stuck conversations", lambda s: f"{s.stuck}"),
        ("messages lost", lambda s: f"{s.lost}"),
        ("answers sent twice", lambda s: f"{s.twice}"),
        (
            "/healthz worst during bombs",
            lambda s: "-" if s.healthz_worst is None else f"{s.healthz_worst * 1e3:.0f} ms",
        ),
    ]:
        table.add_row(name, *(get(s) for s in summaries))
    console.print(table)
    failed = any(s.failed for s in summaries)
    console.print("[red]FAILED[/red]" if failed else "[green]all clear[/green]")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
