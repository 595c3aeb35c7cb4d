"""RapidPro/TextIt's LLM step (``call_llm``, spec 14) through ``sutra simulate --json``: the real
flow from ``../shared/real-flows/goflow``, the real OpenAI SDK against the loopback stub."""

from __future__ import annotations

from pathlib import Path

import pytest

from sutra.testing.openai_server import ErrorReply, OpenAIStubServer, Reply

from .helpers import REPO_ROOT, simulate

FLOW = REPO_ROOT.parent / "shared" / "real-flows" / "goflow" / "llm_categorize.json"

pytestmark = pytest.mark.skipif(not FLOW.exists(), reason=f"the shared flows are not at {FLOW}")


def test_the_answer_becomes_a_local_the_router_reads(
    tmp_path: Path, cli_env: dict[str, str], openai_stub: OpenAIStubServer
) -> None:
    openai_stub.plan(Reply("Hotels"))

    run = simulate(FLOW, "I need a room in Quito", env=cli_env, cwd=tmp_path)

    assert run.returncode == 0, run.explain()
    assert run.messages == ["Hi! What can I help you with?", "So you'd like to book a hotel?"]
    assert run.results["intent"]["category"] == "Hotels"
    [request] = openai_stub.requests
    assert request["messages"][-1] == {"role": "user", "content": "I need a room in Quito"}
    assert request["max_completion_tokens"] == 2500


def test_a_failed_call_is_error_and_takes_failure(
    tmp_path: Path, cli_env: dict[str, str], openai_stub: OpenAIStubServer
) -> None:
    openai_stub.plan(*[ErrorReply(500, "The server had an error.", retry_after_ms=1)] * 3)

    run = simulate(FLOW, "I need a room in Quito", env=cli_env, cwd=tmp_path)

    assert run.returncode == 0, run.explain()
    # The Failure exit goes nowhere: the flow ends there, having said nothing more.
    assert run.messages == ["Hi! What can I help you with?"]
    assert run.results["intent"]["category"] == "Failure"
    assert run.results["intent"]["value"] == "<ERROR>"
