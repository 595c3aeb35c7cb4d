"""Part 1 of bench/faults.py, scaled down: questions through a GPT loop flow while the LLM fails
30 % of its calls and the Graph API refuses some sends, a server process killed with SIGKILL
mid-load and started again. Every question gets exactly one answer, and nothing is left stuck.

On SQLite one process is killed and restarted; on PostgreSQL one of two."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from sutra.testing.graph_api import GraphAPIStubServer, SendFaults
from sutra.testing.openai_server import OpenAIStubServer

ROOT = Path(__file__).resolve().parents[2]
# Longer than a restart takes on a busy machine (a restart slower than the window sends the
# answers the killed process left in doubt again before their "sent" statuses can come in),
# short enough for a send the kill cut before it left, which waits the whole window.
DOUBT_SECONDS = 20.0


def _bench() -> ModuleType:
    """bench/faults.py, which is a script rather than a package module."""
    spec = importlib.util.spec_from_file_location("bench_faults", ROOT / "bench" / "faults.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs: its dataclasses look their module up while being defined.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


faults = _bench()


def test_every_question_is_answered_once_through_faults_and_a_kill(
    database_url: str,
    server_env: dict[str, str],
    graph: GraphAPIStubServer,
    llm: OpenAIStubServer,
    tmp_path: Path,
) -> None:
    processes = 1 if database_url.startswith("sqlite") else 2
    env = {
        **server_env,
        "WHATSAPP_APP_SECRET": faults.SECRET,
        "SUTRA_API_TOKEN": faults.API_TOKEN,
        "SUTRA_FUNCTION_TIMEOUT": str(faults.FUNCTION_TIMEOUT),
        "SUTRA_OPENAI_MAX_RETRIES": "1",
        "SUTRA_SEND_DOUBT_SECONDS": str(DOUBT_SECONDS),
        "SUTRA_WORKERS": str(processes),
        "WHATSAPP_MESSAGES_PER_SECOND": "1000",
    }
    # The bench's own processes: they give a restart a minute, which a busy machine needs.
    servers = [faults.Node(env, tmp_path / f"server-{i}.log") for i in range(processes)]
    llm.delay = 0.05
    llm.faults = faults.LLM_FAULTS
    graph.faults = SendFaults(0.03, seed=3)
    try:
        for server in servers:
            server.start()
        report = faults.run_load(
            servers,
            graph,
            llm,
            database_url,
            contacts=60,
            messages=3,
            concurrency=20,
            pause=(0.05, 0.3),
            doubt=DOUBT_SECONDS,
        )
        crashed = [server.log.read_text()[-3000:] for server in servers if server.died()]
    finally:
        for server in servers:
            server.stop()

    problems = "\n".join(report.tally.problems)
    assert report.posting.killed_after > 0, "the kill came after the load"
    assert sum(report.llm_faults.values()) > 0
    assert report.posting.server_errors == 0, report.posting.refusals
    assert report.posting.unaccepted == []
    assert report.tally.lost == 0, problems
    assert report.tally.twice == 0, problems
    assert report.tally.out_of_order == 0, problems
    assert report.stuck == set(), report.stuck
    assert report.tally.echoed + report.tally.sorry == 60 * 3
    assert report.tally.sorry > 0, "no LLM fault reached the flow"
    assert crashed == []
