"""Engine and runtime throughput on the example GPT flow, with an instant LLM.

Prints conversations and engine steps per second for:
  1. a hand-written Python bot doing the same work (the baseline: what any engine costs on top),
  2. the pure engine (start -> message -> webhook outcome -> completed),
  3. the runtime with storage (what `sutra simulate` does per conversation), on SQLite.
Ratios are against the baseline measured in this same process.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sutra.engine.engine import Engine
from sutra.engine.session import Contact, Input, WebhookOutcome
from sutra.flows import read_flow_file
from sutra.functions.services import Services
from sutra.llm.base import Completion, Usage
from sutra.runtime.context import open_runner

FLOW = Path(__file__).resolve().parent.parent / "examples" / "ask_gpt.json"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
ANSWER = "Plants turn light into sugar."


class InstantLLM:
    name = "instant"

    async def complete(self, messages: list[dict[str, Any]], **kwargs: Any) -> Completion:
        return Completion(ANSWER, Usage("instant", kwargs["model"], 10, 5, 0.0), "stop")


def baseline(n: int) -> float:
    """The same conversation hard-coded: greet, take the question, build the body, answer."""
    started = time.perf_counter()
    for i in range(n):
        sent = ["Hi Asha! Ask me a question and I will ask GPT."]
        question = f"What is photosynthesis? {i}"
        body = {"question_text": question, "gpt_model": "gpt-4o", "prompt": "Answer briefly."}
        reply = {"success": True, "parsed_msg": ANSWER if body["question_text"] else ""}
        sent.append(str(reply["parsed_msg"]))
        assert len(sent) == 2
    return time.perf_counter() - started


def engine_run(n: int) -> float:
    flow = read_flow_file(FLOW).flows[0].flow
    engine = Engine({flow.uuid: flow})
    started = time.perf_counter()
    for i in range(n):
        sprint = engine.start(flow.uuid, Contact(name="Asha"), now=NOW)
        sprint = engine.resume(sprint.session, Input(text=f"What is photosynthesis? {i}"), now=NOW)
        outcome = WebhookOutcome(
            status=200, success=True, result={"success": True, "parsed_msg": ANSWER}
        )
        sprint = engine.resume(sprint.session, outcome, now=NOW)
        assert sprint.session.status == "completed", sprint.events
    return time.perf_counter() - started


async def runtime_run(n: int) -> float:
    flow_file = read_flow_file(FLOW)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        async with open_runner(url, channel="sim") as runner:
            runner.services = Services(llm=InstantLLM())
            await runner.repo.import_flow_file(flow_file)
            uuid = flow_file.flows[0].flow.uuid
            started = time.perf_counter()
            for i in range(n):
                contact = await runner.repo.contact(f"sim:{i}", name="Asha")
                await runner.start(contact, uuid)
                outcome = await runner.receive(contact, Input(text=f"What is photosynthesis? {i}"))
                assert outcome and outcome.session and outcome.session.status == "completed"
            return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=2000, help="conversations for the engine")
    parser.add_argument("--stored", type=int, default=200, help="conversations with storage")
    args = parser.parse_args()
    steps = 3  # engine calls per conversation: start, message, webhook outcome

    base = args.n / baseline(args.n)
    pure = args.n / engine_run(args.n)
    stored = args.stored / asyncio.run(runtime_run(args.stored))
    print(f"{'':34}{'conv/s':>10}{'steps/s':>11}{'vs baseline':>13}")
    for label, rate in (
        ("hand-written bot (baseline)", base),
        ("pure engine", pure),
        ("runtime + SQLite (simulate)", stored),
    ):
        print(f"{label:34}{rate:10.0f}{rate * steps:11.0f}{rate / base:13.4f}")
    print(f"storage costs {pure / stored:.1f}x the pure engine per conversation")


if __name__ == "__main__":
    main()
