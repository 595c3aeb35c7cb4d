"""Evaluations with no key and no network: the embedded model answers (SmolLM2-135M, like the
other local-model tests, tests/test_llm_local.py and tests/e2e/test_e2e_local_llm.py), scored
offline by lexical similarity; and the embedded model as the judge."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sutra.config import get_settings
from sutra.evals import runner, store
from sutra.evals.golden import GoldenRow
from sutra.evals.settings import eval_settings
from sutra.llm import local_provider
from sutra.store.db import create_async_engine_for, create_session_factory, migrate
from sutra.store.models import utcnow

CAPITALS = [
    ("France", "Paris"),
    ("Germany", "Berlin"),
    ("Italy", "Rome"),
    ("Spain", "Madrid"),
    ("Japan", "Tokyo"),
]


@pytest.fixture
def offline(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No OpenAI key at all: auto picks the embedded model and offline scoring."""
    monkeypatch.setenv("SUTRA_LLM", "auto")
    monkeypatch.setenv("SUTRA_LOCAL_MAX_TOKENS", "12")
    monkeypatch.setenv("SUTRA_EVAL_CONCURRENCY", "4")
    get_settings.cache_clear()
    eval_settings.cache_clear()
    yield
    eval_settings.cache_clear()
    local_provider.shutdown()


async def _run(tmp_path: Path, rows: list[GoldenRow], options: runner.RunOptions) -> dict:
    url = f"sqlite:///{tmp_path / 'local.db'}"
    migrate(url)
    engine = create_async_engine_for(url)
    try:
        sessions = create_session_factory(engine)
        golden = await store.add_golden_set(sessions, 1, "capitals", rows)
        target = {"kind": "gpt", "prompt": "Answer in a few words.", "model": "gpt-4o-mini"}
        run = await runner.create_run(sessions, 1, golden.id, target, options)
        owner = runner.new_owner()
        assert await store.claim(sessions, run.id, owner, 60, utcnow())
        status = await runner.execute(sessions, run.id, owner=owner)
        data = await store.run_data(sessions, 1, run.id)
        assert data is not None
        return {"status": status, "run": data.run, "results": data.results}
    finally:
        await engine.dispose()


async def test_fifty_questions_against_the_embedded_model_scored_offline(
    offline: None, tmp_path: Path
) -> None:
    rows = [
        GoldenRow(
            position=i + 1,
            question=f"What is the capital of {country}?",
            expected=f"The capital of {country} is {city}.",
            category=country,
        )
        for i, (country, city) in enumerate(CAPITALS * 10)
    ]

    done = await _run(tmp_path, rows, runner.RunOptions())

    run = done["run"]
    assert done["status"] == "completed", run.error
    assert run.config["similarity"] == "lexical" and run.config["judge"] is None
    assert run.config["target_provider"] == "local"
    assert run.estimate["cost"] == 0
    assert len(done["results"]) == 50 and run.done == 50
    assert all(r.answer and r.error is None for r in done["results"])
    assert all(0 <= r.score <= 1 for r in done["results"])
    # An answer that names the city shares words with the expected sentence.
    assert run.summary["similarity"]["mean"] > 0.1
    assert run.summary["cost"] == 0 and run.summary["completion_tokens"] > 0
    assert set(run.summary["categories"]) == {c for c, _ in CAPITALS}


async def test_the_embedded_model_can_judge(offline: None, tmp_path: Path) -> None:
    rows = [
        GoldenRow(position=1, question="What is the capital of France?", expected="Paris"),
        GoldenRow(position=2, question="What colour is the sky?", expected="Blue"),
    ]

    done = await _run(tmp_path, rows, runner.RunOptions(judge="local"))

    run = done["run"]
    assert done["status"] == "completed", run.error
    assert run.config["judge"] == {"provider": "local", "model": "smollm2"}
    assert run.config["score"] == "judge"
    for result in done["results"]:
        # A 135M model judges poorly, but the grade comes back in shape, or the row says why.
        assert (result.judge_score is not None and 0 <= result.judge_score <= 1) or (
            result.error and "judge" in result.error
        )
