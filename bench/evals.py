"""What an evaluation run costs on top of the model: a 100-question run against an instant LLM.

Prints the wall time of:
  1. the model calls alone (an instant in-process model: the target's and the judge's calls,
     concurrently, nothing stored): the floor;
  2. a 100-row run (answer, judge, lexical similarity, matches, each row and its usage stored
     in SQLite as it finishes) with that instant model: the harness;
  3. the same run through the real openai SDK to the loopback OpenAI stub, with embedding
     similarity (two embedding requests per row): the whole path but the model's thinking.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from sutra.config import get_settings
from sutra.evals import runner, store
from sutra.evals.golden import GoldenRow
from sutra.evals.judge import RUBRIC
from sutra.evals.settings import eval_settings
from sutra.llm.base import Completion, Usage
from sutra.store.db import create_async_engine_for, create_session_factory, migrate
from sutra.store.models import utcnow
from sutra.testing.openai_server import OpenAIStubServer

ANSWER = "Wash your hands with soap and water for twenty seconds."
GRADE = json.dumps({"reasoning": "Same advice.", "score": 0.9})


class InstantLLM:
    name = "instant"

    async def complete(self, messages: list[dict[str, Any]], **kwargs: Any) -> Completion:
        text = GRADE if messages[0]["content"] == RUBRIC else ANSWER
        return Completion(text, Usage("instant", kwargs["model"], 40, 12, 0.0), "stop")


def rows(n: int) -> list[GoldenRow]:
    return [
        GoldenRow(
            position=i + 1,
            question=f"How long should I wash my hands? ({i})",
            expected="Wash your hands with soap and water for at least twenty seconds.",
            category=f"topic {i % 5}",
        )
        for i in range(n)
    ]


async def calls_alone(n: int, concurrency: int) -> float:
    llm = InstantLLM()
    limit = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with limit:
            await llm.complete([{"role": "user", "content": str(i)}], model="m")
            await llm.complete([{"role": "system", "content": RUBRIC}], model="m")

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - started


async def one_run(
    tmp: Path, name: str, n: int, options: runner.RunOptions, llm: Any
) -> tuple[float, dict[str, Any]]:
    url = f"sqlite:///{tmp / f'{name}.db'}"
    migrate(url)
    engine = create_async_engine_for(url)
    try:
        sessions = create_session_factory(engine)
        golden = await store.add_golden_set(sessions, 1, "bench", rows(n))
        target = {"kind": "gpt", "prompt": "Answer briefly.", "model": "gpt-4o-mini"}
        run = await runner.create_run(sessions, 1, golden.id, target, options)
        owner = runner.new_owner()
        await store.claim(sessions, run.id, owner, 60, utcnow())
        started = time.perf_counter()
        status = await runner.execute(sessions, run.id, owner=owner, llm=llm)
        elapsed = time.perf_counter() - started
        found = await store.get_run(sessions, 1, run.id)
        assert status == "completed" and found is not None and found.done == n, found
        return elapsed, found.summary or {}
    finally:
        await engine.dispose()


async def main(n: int, concurrency: int) -> None:
    os.environ["SUTRA_EVAL_CONCURRENCY"] = str(concurrency)
    os.environ["SUTRA_LLM"] = "openai"
    get_settings.cache_clear()
    eval_settings.cache_clear()
    with tempfile.TemporaryDirectory(prefix="sutra-bench-evals-") as folder:
        tmp = Path(folder)
        floor = await calls_alone(n, concurrency)
        options = runner.RunOptions(judge="gpt-4o-mini", similarity="lexical")
        harness, _ = await one_run(tmp, "instant", n, options, InstantLLM())
        with OpenAIStubServer() as stub:
            os.environ["OPENAI_API_KEY"] = "sk-bench"
            os.environ["OPENAI_BASE_URL"] = stub.base_url
            stub.respond(lambda body: None)
            full_options = runner.RunOptions(judge="gpt-4o-mini", similarity="embedding")
            full, summary = await one_run(tmp, "stub", n, full_options, None)
    print(f"{n}-question evaluation run, concurrency {concurrency}, SQLite")
    print(f"{'model calls alone (instant model, 2 per row)':58} {floor * 1000:9.1f} ms")
    print(
        f"{'run: answer + judge + lexical similarity, rows stored':58} {harness * 1000:9.1f} ms"
        f"  ({harness / n * 1000:.2f} ms/row)"
    )
    print(
        f"{'run through the openai SDK to the loopback stub + embeddings':58} "
        f"{full * 1000:9.1f} ms  ({full / n * 1000:.2f} ms/row, "
        f"{summary.get('prompt_tokens', 0) + summary.get('completion_tokens', 0)} tokens)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.concurrency))
