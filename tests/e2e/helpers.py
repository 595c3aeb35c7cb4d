"""Shared pieces of the end-to-end tests: paths, the CLI as a subprocess, flow builders, the DB."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select

from sutra.engine import events as ev
from sutra.engine.session import Contact, Input
from sutra.flows import read_flow_file
from sutra.runtime.runner import Runner
from sutra.store import models as m
from sutra.store.db import create_engine_for

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"
# Real Glific files: read in place, never copied into this project.
GLIFIC_FLOWS = REPO_ROOT.parent / "shared" / "glific-flows"
# The console script installed next to this interpreter (``python -m sutra.cli`` has no main).
SUTRA = Path(sys.executable).with_name("sutra")

# Looks like a real key, so any leak is easy to grep for.
API_KEY = "sk-e2e-0123456789abcdefSECRETKEY"


# --- the CLI -----------------------------------------------------------------------------------


def run_cli(
    *args: str | Path, env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SUTRA), *map(str, args)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Simulation:
    returncode: int
    events: list[dict[str, Any]]
    stdout: str
    stderr: str

    @property
    def messages(self) -> list[str]:
        return [e["text"] for e in self.events if e["type"] == "msg_out"]

    @property
    def session(self) -> dict[str, Any]:
        assert self.events and self.events[-1]["type"] == "session", self.explain()
        return self.events[-1]

    @property
    def status(self) -> str:
        return str(self.session["status"])

    @property
    def results(self) -> dict[str, Any]:
        return dict(self.session["results"])

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    def explain(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def simulate(
    flow_file: str | Path,
    *says: str,
    env: dict[str, str],
    cwd: Path,
    extra: Sequence[str] = (),
    timeout: float = 60,
) -> Simulation:
    """``sutra simulate FILE --say ... --json``; every stdout line must be a JSON object."""
    args: list[str | Path] = ["simulate", flow_file, "--json", *extra]
    for text in says:
        args += ["--say", text]
    done = run_cli(*args, env=env, cwd=cwd, timeout=timeout)
    events = []
    for line in done.stdout.splitlines():
        if line.strip():
            try:
                events.append(json.loads(line))
            except ValueError:
                raise AssertionError(f"not a JSON line: {line!r}\n{done.stderr}") from None
    return Simulation(done.returncode, events, done.stdout, done.stderr)


# --- flows written by the tests ----------------------------------------------------------------


def _uuid() -> str:
    return str(uuid.uuid4())


def send_msg(text: str) -> dict[str, Any]:
    return {"uuid": _uuid(), "type": "send_msg", "text": text, "quick_replies": [], "labels": []}


def webhook_flow(
    *,
    method: str,
    url: str,
    body: str | dict[str, Any] = "",
    headers: dict[str, str] | None = None,
    result_name: str = "hook",
    router: str = "category",
    ask: str | None = "Ask me anything.",
    echo: str | None = None,
    success: str = "OK: @results.hook",
    failure: str = "Failed: @results.hook.error",
    name: str = "E2E webhook flow",
    loop: bool = False,
) -> dict[str, Any]:
    """A bare definition: [ask and wait for ``question``] → [echo] → call_webhook → a message
    for Success and one for Failure.

    ``router="category"`` routes as Glific exports do (Success/Failure by name, operand
    ``@results.NAME.category``); ``router="status"`` as the newer editor does
    (``@webhook.status`` with ``has_number_between 200 299``). With ``loop`` both messages lead
    back to the wait, so one conversation can ask many questions.
    """
    nodes: list[dict[str, Any]] = []
    if ask is not None:
        nodes.append({"uuid": _uuid(), "actions": [send_msg(ask)], "exits": [{"uuid": _uuid()}]})
        category = _uuid()
        exit_uuid = _uuid()
        nodes.append(
            {
                "uuid": _uuid(),
                "actions": [],
                "router": {
                    "type": "switch",
                    "operand": "@input.text",
                    "wait": {"type": "msg"},
                    "result_name": "question",
                    "cases": [],
                    "categories": [
                        {"uuid": category, "name": "All Responses", "exit_uuid": exit_uuid}
                    ],
                    "default_category_uuid": category,
                },
                "exits": [{"uuid": exit_uuid}],
            }
        )
    if echo is not None:
        nodes.append({"uuid": _uuid(), "actions": [send_msg(echo)], "exits": [{"uuid": _uuid()}]})
    success_cat, failure_cat, success_exit, failure_exit = _uuid(), _uuid(), _uuid(), _uuid()
    if router == "category":
        operand, case = (
            f"@results.{result_name}.category",
            {"type": "has_only_text", "arguments": ["Success"]},
        )
    elif router == "status":
        operand, case = (
            "@webhook.status",
            {"type": "has_number_between", "arguments": ["200", "299"]},
        )
    else:
        raise ValueError(router)
    nodes.append(
        {
            "uuid": _uuid(),
            "actions": [
                {
                    "uuid": _uuid(),
                    "type": "call_webhook",
                    "method": method,
                    "url": url,
                    "headers": headers
                    if headers is not None
                    else {"Accept": "application/json", "Content-Type": "application/json"},
                    "body": body if isinstance(body, str) else json.dumps(body, indent=1),
                    "result_name": result_name,
                }
            ],
            "router": {
                "type": "switch",
                "operand": operand,
                "cases": [{"uuid": _uuid(), "category_uuid": success_cat, **case}],
                "categories": [
                    {"uuid": success_cat, "name": "Success", "exit_uuid": success_exit},
                    {"uuid": failure_cat, "name": "Failure", "exit_uuid": failure_exit},
                ],
                "default_category_uuid": failure_cat,
            },
            "exits": [{"uuid": success_exit}, {"uuid": failure_exit}],
        }
    )
    success_node = {"uuid": _uuid(), "actions": [send_msg(success)], "exits": [{"uuid": _uuid()}]}
    failure_node = {"uuid": _uuid(), "actions": [send_msg(failure)], "exits": [{"uuid": _uuid()}]}
    nodes += [success_node, failure_node]
    # Chain the nodes: each one's (first) exit goes to the next; the webhook's two exits branch.
    for here, there in itertools.pairwise(nodes[:-2]):
        here["exits"][0]["destination_uuid"] = there["uuid"]
    webhook_node = nodes[-3]
    webhook_node["exits"][0]["destination_uuid"] = success_node["uuid"]
    webhook_node["exits"][1]["destination_uuid"] = failure_node["uuid"]
    if loop and ask is not None:
        for node in (success_node, failure_node):
            node["exits"][0]["destination_uuid"] = nodes[1]["uuid"]
    for node in nodes:
        for exit_ in node["exits"]:
            exit_.setdefault("destination_uuid", None)
    return {
        "uuid": _uuid(),
        "name": name,
        "spec_version": "13.2.0",
        "language": "base",
        "type": "messaging",
        "expire_after_minutes": 10080,
        "revision": 1,
        "localization": {},
        "nodes": nodes,
        "_ui": {"nodes": {}},
    }


def gpt_flow(
    body: str | dict[str, Any],
    *,
    function: str = "parse_via_chat_gpt",
    router: str = "category",
    ask: str | None = "Ask me anything.",
    echo: str | None = None,
    loop: bool = False,
) -> dict[str, Any]:
    """A flow calling a webhook function, result ``gpt_response``; Failure tells the reason."""
    return webhook_flow(
        method="FUNCTION",
        url=function,
        body=body,
        result_name="gpt_response",
        router=router,
        ask=ask,
        echo=echo,
        success="@results.gpt_response.parsed_msg",
        failure="Sorry, that failed: @results.gpt_response.error",
        name="E2E GPT flow",
        loop=loop,
    )


def write_flow(directory: Path, definition: dict[str, Any], name: str = "flow.json") -> Path:
    path = directory / name
    path.write_text(json.dumps(definition, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


# --- the Python API and the database -----------------------------------------------------------


@dataclass
class Conversation:
    contact: Contact
    events: list[ev.Event]
    status: str
    results: dict[str, Any]

    @property
    def messages(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, ev.MsgOut)]


async def converse(
    runner: Runner, flow_path: Path, *says: str, urn: str = "sim:x", flow: str | None = None
) -> Conversation:
    """What ``sutra simulate`` does, through the Python API: import, start, answer each wait."""
    flow_file = read_flow_file(flow_path)
    await runner.repo.import_flow_file(flow_file)
    contact = await runner.repo.contact(urn)
    outcome = await runner.start(contact, flow_file.find(flow).flow.uuid)
    events = list(outcome.events)
    session = outcome.session
    for text in says:
        reply = await runner.receive(contact, Input(text=text))
        assert reply is not None
        events += reply.events
        session = reply.session or session
    return Conversation(
        contact,
        events,
        session.status if session else "completed",
        session.results if session else {},
    )


def add_global(database_url: str, key: str, value: str) -> None:
    """An organisation global (``@global.KEY``), as staff would set it."""
    engine = create_engine_for(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                m.Global.__table__.insert().values(
                    organization_id=1, key=key, name=key, value=value
                )
            )
    finally:
        engine.dispose()


def rows(database_url: str, model: type[m.Base] | Table) -> list[Any]:
    """Every row of a table (or a model's), read with a fresh synchronous engine."""
    table = model if isinstance(model, Table) else model.__table__
    engine = create_engine_for(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(select(table)).mappings())
    finally:
        engine.dispose()


def dump_database(database_url: str, *, exclude: Sequence[str] = ()) -> str:
    """Every stored value of every table (but ``exclude``) as text, to search for things that
    must not be there."""
    engine = create_engine_for(database_url)
    try:
        with engine.connect() as connection:
            return "\n".join(
                repr(dict(row))
                for table in m.Base.metadata.sorted_tables
                if table.name not in exclude
                for row in connection.execute(select(table)).mappings()
            )
    finally:
        engine.dispose()
