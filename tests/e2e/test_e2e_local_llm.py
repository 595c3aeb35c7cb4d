"""GPT flows on the embedded model: no key, no network, many contacts at once, JSON answers."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sutra.config import get_settings
from sutra.engine.session import Input
from sutra.flows import read_flow_file
from sutra.runtime.runner import Runner
from sutra.store import models as m
from sutra.testing.openai_server import OpenAIStubServer

from .helpers import EXAMPLES, SUTRA, Simulation, converse, gpt_flow, rows, write_flow

ASK_GPT = EXAMPLES / "ask_gpt.json"


def use_local_model(monkeypatch: pytest.MonkeyPatch, *, max_tokens: int) -> None:
    """Force the embedded model even though the runner fixture configures an OpenAI key."""
    monkeypatch.setenv("SUTRA_LLM", "local")
    monkeypatch.setenv("SUTRA_LOCAL_MAX_TOKENS", str(max_tokens))
    get_settings.cache_clear()


# --- no key, no network ------------------------------------------------------------------------


def _network_cutter() -> list[str] | None:
    """A command prefix that runs its command in a new, empty network namespace."""
    if shutil.which("unshare") is None:
        return None
    # -n needs root; -rn maps the user to root in a new user namespace first.
    for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
        if subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode == 0:
            return prefix
    return None


@pytest.fixture
def offline() -> list[str]:
    prefix = _network_cutter()
    if prefix is None:
        message = "cannot cut the network here: `unshare -n` and `unshare -rn` are refused"
        # CI must prove the offline promise, not skip it.
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return prefix


def test_the_example_answers_with_no_key_and_no_network(
    tmp_path: Path, cli_env: dict[str, str], openai_stub: OpenAIStubServer, offline: list[str]
) -> None:
    env = {key: value for key, value in cli_env.items() if not key.startswith("OPENAI_")}
    # The namespace really is cut off: not even this machine's loopback (the stub) answers.
    probe = subprocess.run(
        [
            *offline,
            sys.executable,
            "-c",
            f"import socket; socket.create_connection(('127.0.0.1', {openai_stub.port}), 2)",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode != 0 and "OSError" in probe.stderr, probe.stderr

    done = subprocess.run(
        [
            *offline,
            str(SUTRA),
            "simulate",
            str(ASK_GPT),
            "--say",
            "What is the capital of France?",
            "--json",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    events = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    sim = Simulation(done.returncode, events, done.stdout, done.stderr)

    assert sim.returncode == 0, sim.explain()
    assert sim.results["gpt_response"]["category"] == "Success", sim.explain()
    assert "Paris" in sim.messages[-1], sim.explain()
    assert openai_stub.requests == []


# --- the runtime on the local provider ---------------------------------------------------------


async def test_twenty_contacts_asking_at_once_all_get_answers(
    runner: Runner, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    use_local_model(monkeypatch, max_tokens=12)
    flow_file = read_flow_file(ASK_GPT)
    await runner.repo.import_flow_file(flow_file)
    flow_uuid = flow_file.flows[0].flow.uuid

    async def ask(i: int) -> dict[str, Any]:
        contact = await runner.repo.contact(f"sim:contact-{i}")
        await runner.start(contact, flow_uuid)
        reply = await runner.receive(contact, Input(text=f"What is {i} plus {i}?"))
        assert reply is not None and reply.session is not None
        return dict(reply.session.results["gpt_response"])

    answers = await asyncio.gather(*(ask(i) for i in range(20)))

    for answer in answers:
        assert answer["category"] == "Success", answer
        assert str(answer["parsed_msg"]).strip()
    records = rows(database_url, m.LLMUsage)
    assert len(records) == 20
    assert {r["provider"] for r in records} == {"local"}
    assert {r["model"] for r in records} == {"SmolLM2-135M-Instruct.Q4_1"}
    assert all(r["cost"] == 0 and 0 < r["completion_tokens"] <= 12 for r in records)


async def test_a_json_object_flow_gets_a_parseable_object(
    runner: Runner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_local_model(monkeypatch, max_tokens=200)
    body = {
        "question_text": "@results.question",
        "prompt": "Reply with a JSON object with the key capital.",
        "response_format": {"type": "json_object"},
    }

    chat = await converse(
        runner, write_flow(tmp_path, gpt_flow(body)), "What is the capital of France?"
    )

    assert chat.results["gpt_response"]["category"] == "Success", chat.messages
    assert isinstance(chat.results["gpt_response"]["parsed_msg"], dict)
