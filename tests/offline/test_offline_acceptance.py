"""Assistants and evaluations with no key and no network, as an NGO without internet runs them.

Every command runs in a network namespace of its own (``unshare -rn``: only a loopback that is
down, no route anywhere), with no OpenAI key, base URL or proxy in its environment; where
unprivileged namespaces are refused, a ``sitecustomize`` in the commands' path refuses every
connection that leaves loopback instead, so the tests still fail if anything reaches out.

- An assistant built from the shipped FAQ (``tests/assistants/health_faq.md``) answers its
  questions from the document with the embedded model (SmolLM2-135M), citing it, and says it
  does not know for a question the document does not cover (issue 13).
- A golden set of 50 questions runs against that assistant on the embedded model, scored offline
  (lexical similarity); its report page shows each question's score, the distribution chart and
  the summary; a second run with changed instructions is compared with the first (issue 14).

Answers are kept short (``SUTRA_LOCAL_MAX_TOKENS``) and given one passage each
(``SUTRA_ASSISTANT_PASSAGES``), so that 100 of them take a few minutes of one core.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import httpx
import pytest

from sutra.config import ServerSettings
from sutra.store.db import create_async_engine_for, create_session_factory
from sutra.testing.accounts import sign_in
from sutra.web.app import create_app

ROOT = Path(__file__).resolve().parents[2]
FAQ = ROOT / "tests" / "assistants" / "health_faq.md"
QUESTIONS = ROOT / "tests" / "assistants" / "health_faq_questions.json"
SUTRA = Path(sys.executable).with_name("sutra")
KEY = "asst_health_faq"
DONT_KNOW = "Sorry, I don't know: my documents do not cover that."

# Refuses any connection that leaves loopback (where network namespaces are not to be had).
GUARD = """
import ipaddress, socket

_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex

def _check(sock, address):
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        host = str(address[0])
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise OSError(f"offline test: a connection to {host} was attempted")

def connect(self, address):
    _check(self, address)
    return _connect(self, address)

def connect_ex(self, address):
    _check(self, address)
    return _connect_ex(self, address)

socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
"""


@cache
def namespaces() -> bool:
    """Whether this machine lets a process make its own network namespace."""
    try:
        return subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0
    except FileNotFoundError:
        return False


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The commands' environment: no key, no base URL, no proxy; short local answers."""
    folder = tmp_path_factory.mktemp("offline")
    guard = folder / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(GUARD)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SUTRA_", "OPENAI_", "OPEN_AI_")) and "proxy" not in k.lower()
    }
    env.update(
        SUTRA_DATABASE_URL=f"sqlite:///{folder / 'offline.db'}",
        SUTRA_LLM="auto",
        # Short answers from the one best passage: the embedded model's time goes in reading the
        # prompt, and 100 answers must stay a small part of CI's run.
        SUTRA_LOCAL_MAX_TOKENS="16",
        SUTRA_ASSISTANT_PASSAGES="1",
        SUTRA_EVAL_CONCURRENCY="4",
        PYTHONPATH=str(guard),
        COLUMNS="200",
    )
    return env


def sutra(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = [str(SUTRA), *args]
    if namespaces():
        argv = ["unshare", "-rn", *argv]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def assistant(offline: dict[str, str]) -> dict[str, str]:
    sutra(
        offline,
        "assistant",
        "create",
        "Health FAQ",
        "--id",
        KEY,
        "--instructions",
        "You answer health questions for a community. Answer in one short sentence.",
    )
    added = sutra(offline, "assistant", "add-doc", KEY, str(FAQ))
    assert "words only" in added.stdout  # no embedding service: the words find the passages
    return offline


def test_the_network_really_is_off(offline: dict[str, str]) -> None:
    probe = "import socket; socket.create_connection(('1.1.1.1', 53), timeout=3)"
    argv = [sys.executable, "-c", probe]
    done = subprocess.run(
        ["unshare", "-rn", *argv] if namespaces() else argv,
        env=offline,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "unreachable" in done.stderr or "offline test" in done.stderr


@pytest.mark.slow
def test_an_offline_assistant_answers_from_the_faq_and_admits_what_it_does_not_know(
    assistant: dict[str, str],
) -> None:
    answered = sutra(
        assistant, "assistant", "ask", KEY, "Which mosquito carries malaria?", "--passages"
    )

    answer, _, passages = answered.stdout.partition("\n[1] ")
    # The embedded model answered (not the "don't know" text), and the answer names its source.
    assert DONT_KNOW not in answer and "Source" in answer and "health_faq.md" in answer
    assert "How is malaria spread?" in passages.splitlines()[0]
    assert "Anopheles" in passages

    unknown = sutra(assistant, "assistant", "ask", KEY, "Who won the football world cup in 2022?")
    assert unknown.stdout.strip() == DONT_KNOW


def golden_csv() -> str:
    """50 questions with their expected answers, from the FAQ itself: each heading (a question)
    and the reworded questions of the retrieval bench, answered by the first sentence under
    their heading."""
    first_sentence: dict[str, str] = {}
    heading = None
    for line in FAQ.read_text(encoding="utf-8").splitlines():
        if line.startswith("### "):
            heading = line[4:].strip()
        elif heading and line.strip() and heading not in first_sentence:
            first_sentence[heading] = re.split(r"(?<=\.)\s", line.strip())[0]
    rows = [(question, answer, "heading") for question, answer in first_sentence.items()]
    for item in json.loads(QUESTIONS.read_text(encoding="utf-8"))["questions"]:
        rows.append((item["q"], first_sentence[item["section"]], "reworded"))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["question", "answer", "category"])
    writer.writerows(rows[:50])
    assert len(rows) >= 50
    return out.getvalue()


def run_id(output: str) -> int:
    found = re.search(r"Run #(\d+)", output)
    assert found, output
    return int(found.group(1))


@pytest.mark.slow
def test_fifty_golden_questions_on_the_embedded_model_scored_offline_and_compared(
    assistant: dict[str, str], tmp_path: Path
) -> None:
    golden = tmp_path / "health-golden.csv"
    golden.write_text(golden_csv(), encoding="utf-8")

    first = sutra(
        assistant,
        "eval",
        "run",
        str(golden),
        "--golden-name",
        "health",
        "--assistant",
        KEY,
        "--name",
        "one sentence",
        "--judge",
        "off",
    )
    a = run_id(first.stdout)
    assert "lexical" in first.stdout and "completed" in first.stdout
    sutra(
        assistant,
        "assistant",
        "update",
        KEY,
        "--live",
        "--instructions",
        "You answer health questions. Repeat the words of the passage that answers it.",
    )
    second = sutra(
        assistant,
        "eval",
        "run",
        "health",
        "--assistant",
        KEY,
        "--name",
        "repeat the passage",
        "--judge",
        "off",
    )
    b = run_id(second.stdout)

    shown = json.loads(sutra(assistant, "eval", "show", str(a), "--json").stdout)
    run, questions = shown["run"], shown["questions"]
    assert run["status"] == "completed" and run["total"] == 50
    assert run["config"]["similarity"] == "lexical" and run["config"]["judge"] is None
    assert run["config"]["target_provider"] == "local" and run["estimate"]["cost"] == 0
    assert len(questions) == 50 and all(q["score"] is not None for q in questions)
    answers = [q["answers"][0]["answer"] for q in questions]
    # Answered from the document: most answers name it; none is an error.
    assert sum("health_faq.md" in a for a in answers) >= 40
    assert run["summary"]["score"]["mean"] > 0.1

    compared = json.loads(sutra(assistant, "eval", "compare", str(a), str(b), "--json").stdout)
    overall = compared["overall"]
    assert overall["improved"] + overall["regressed"] + overall["same"] == 50
    assert overall["a"] == pytest.approx(run["summary"]["score"]["mean"], abs=1e-6)

    page, comparison = pages(assistant["SUTRA_DATABASE_URL"], a, b)
    assert 'id="distribution"' in page and 'id="summary"' in page
    table = page[
        page.index('id="questions"') : page.index("</table>", page.index('id="questions"'))
    ]
    scores = re.findall(r'<span class="score [a-z]*">(\d\.\d\d)</span>', table)
    assert len(scores) == 50  # every question's row, with its score
    assert 'id="overall-delta"' in comparison and 'id="changes"' in comparison


def pages(database_url: str, a: int, b: int) -> tuple[str, str]:
    """The report page of run ``a`` and its comparison with ``b``, as a signed-in user sees
    them (the browser tests in tests/evals drive the same pages in Chromium)."""
    import asyncio

    async def fetch() -> tuple[str, str]:
        app = create_app(database_url, settings=ServerSettings(sutra_api_token="t"))
        engine = create_async_engine_for(database_url)
        try:
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://sutra"
                ) as http,
            ):
                await sign_in(http, create_session_factory(engine))
                page = await http.get(f"/evals/runs/{a}")
                comparison = await http.get(f"/evals/compare?a={a}&b={b}")
                assert page.status_code == 200 and comparison.status_code == 200
                return page.text, comparison.text
        finally:
            await engine.dispose()

    return asyncio.run(fetch())
