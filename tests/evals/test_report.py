"""A comparison's overall means are the runs' own means, whatever the rounding of each part."""

from __future__ import annotations

from sutra.evals.models import EvalGoldenRow, EvalResult, EvalRun
from sutra.evals.report import compare, summarize
from sutra.evals.store import RunData

QUESTIONS = ["How often to feed?", "When to vaccinate?", "Is fever normal?"]


def run_with(run_id: int, scores: list[float]) -> RunData:
    rows = [
        EvalGoldenRow(position=i, question=q, expected="an answer", category=None, tags=[])
        for i, q in enumerate(QUESTIONS)
    ]
    results = [
        EvalResult(
            position=i,
            repeat=0,
            answer="an answer",
            score=score,
            similarity=score,
            exact=False,
            contains=False,
            answer_chars=9,
            latency_ms=10.0,
            prompt_tokens=0,
            completion_tokens=0,
            cost=0.0,
        )
        for i, score in enumerate(scores)
    ]
    run = EvalRun(id=run_id, name=f"run {run_id}", status="completed", total=3, done=3, failed=0)
    run.target, run.target_label, run.config = {}, "an assistant", {}
    run.summary = summarize(rows, results)
    return RunData(run=run, golden=None, rows=rows, results=results)


def test_the_overall_mean_of_a_comparison_is_the_mean_each_run_reports() -> None:
    # Rounded one by one to four places these add up to 0.0000333 (shown 0.0); their
    # mean is 0.0000667, which the run's own summary shows as 0.0001.
    a = run_with(1, [0.00004, 0.00004, 0.00012])
    b = run_with(2, [0.5, 0.25, 0.12345])

    compared = compare(a, b)

    assert a.run.summary is not None and b.run.summary is not None
    assert compared["overall"]["a"] == a.run.summary["score"]["mean"] == 0.0001
    assert compared["overall"]["b"] == b.run.summary["score"]["mean"]
    # Each question still shows its own score rounded.
    assert {q["question"]: q["a"] for q in compared["questions"]} == dict(
        zip(QUESTIONS, [0.0, 0.0, 0.0001], strict=True)
    )
