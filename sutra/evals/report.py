"""What a run comes to (summary, per question, per category), two runs compared, and the CSV.

A question's score is the mean of its repeats' scores; its *spread* (max - min over repeats)
is how consistently the bot answers it, and the run's consistency figure is the mean spread
(0: the same score every time). Errors (no answer, or no score) are counted, not scored.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sutra.evals.models import EvalGoldenRow, EvalResult, EvalRun
from sutra.evals.scoring import DEFAULT_CHANGE, normalize, spread, stats, verdict
from sutra.evals.store import RunData

NO_CATEGORY = "(none)"
CSV_COLUMNS = (
    "position",
    "repeat",
    "category",
    "tags",
    "question",
    "ground_truth_answer",
    "llm_answer",
    "score",
    "verdict",
    "similarity",
    "judge_score",
    "judge_reasoning",
    "exact",
    "contains",
    "answer_chars",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "error",
)


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _percentile(values: Sequence[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _by_position(results: Sequence[EvalResult]) -> dict[int, list[EvalResult]]:
    by_position: dict[int, list[EvalResult]] = defaultdict(list)
    for result in results:
        by_position[result.position].append(result)
    return by_position


def _exact_scores(data: RunData) -> dict[str, float | None]:
    """Each question's unrounded mean score, by its normalized text: what comparisons add up,
    so a comparison's overall mean is the run's own mean, not a sum of rounded parts."""
    by_position = _by_position(data.results)
    return {
        normalize(row.question): _mean(r.score for r in by_position.get(row.position, []))
        for row in data.rows
    }


def questions(rows: Sequence[EvalGoldenRow], results: Sequence[EvalResult]) -> list[dict[str, Any]]:
    """One entry per golden question: its repeats' answers and the mean score and spread."""
    by_position = _by_position(results)
    out = []
    for row in rows:
        answers = sorted(by_position.get(row.position, []), key=lambda r: r.repeat)
        scores = [a.score for a in answers]
        out.append(
            {
                "position": row.position,
                "question": row.question,
                "expected": row.expected,
                "category": row.category,
                "tags": list(row.tags or []),
                "score": _round(_mean(scores)),
                "spread": spread(scores),
                "verdict": verdict(_mean(scores)) if answers else "pending",
                "answers": [result_json(a) for a in answers],
            }
        )
    return out


def result_json(result: EvalResult) -> dict[str, Any]:
    return {
        "repeat": result.repeat,
        "answer": result.answer,
        "error": result.error,
        "score": _round(result.score),
        "similarity": _round(result.similarity),
        "judge_score": _round(result.judge_score),
        "judge_reasoning": result.judge_reasoning,
        "exact": result.exact,
        "contains": result.contains,
        "answer_chars": result.answer_chars,
        "latency_ms": _round(result.latency_ms, 1),
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "cost": _round(result.cost, 6),
    }


def summarize(rows: Sequence[EvalGoldenRow], results: Sequence[EvalResult]) -> dict[str, Any]:
    per_question = questions(rows, results)
    answered = [r for r in results if r.answer is not None]
    latencies = [r.latency_ms for r in results if r.latency_ms is not None]
    spreads = [q["spread"] for q in per_question if q["spread"] is not None]
    categories: dict[str, list[float | None]] = defaultdict(list)
    for question in per_question:
        if question["answers"]:
            categories[question["category"] or NO_CATEGORY].append(question["score"])
    return {
        "answers": len(results),
        "errors": sum(1 for r in results if r.score is None),
        "score": stats(r.score for r in results).as_json(),
        # Per question (repeats averaged): what the distribution chart and the guide read.
        "questions": stats(q["score"] for q in per_question if q["answers"]).as_json(),
        "similarity": stats(r.similarity for r in results).as_json(),
        "judge": stats(r.judge_score for r in results).as_json(),
        "exact_rate": _round(_mean(float(bool(r.exact)) for r in answered)),
        "contains_rate": _round(_mean(float(bool(r.contains)) for r in answered)),
        "answer_chars": _round(_mean(r.answer_chars for r in answered), 1),
        "latency_ms": {
            "mean": _round(_mean(latencies), 1),
            "p50": _round(_percentile(latencies, 0.5), 1),
            "p95": _round(_percentile(latencies, 0.95), 1),
        },
        "consistency": {
            "mean_spread": _round(_mean(spreads)),
            "max_spread": _round(max(spreads)) if spreads else None,
            "unsteady_questions": sum(1 for s in spreads if s > 0.2),
        },
        "prompt_tokens": sum(r.prompt_tokens for r in results),
        "completion_tokens": sum(r.completion_tokens for r in results),
        "cost": round(sum(r.cost for r in results), 6),
        "categories": {
            name: stats(scores).as_json() for name, scores in sorted(categories.items())
        },
    }


def run_json(run: EvalRun, golden_label: str | None = None) -> dict[str, Any]:
    return {
        "id": run.id,
        "name": run.name,
        "status": run.status,
        "golden_set_id": run.golden_set_id,
        "golden_set": golden_label,
        "target": {k: v for k, v in run.target.items() if k != "file"},
        "target_label": run.target_label,
        "config": run.config,
        "total": run.total,
        "done": run.done,
        "failed": run.failed,
        "progress": round(run.done / run.total, 4) if run.total else 1.0,
        "estimate": run.estimate,
        "summary": run.summary,
        "mean_score": (run.summary or {}).get("score", {}).get("mean"),
        "error": run.error,
        "cancel_requested": run.cancel_requested,
        "created_by": run.created_by,
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def csv_rows(data: RunData) -> list[dict[str, Any]]:
    rows = {row.position: row for row in data.rows}
    out = []
    for result in data.results:
        row = rows.get(result.position)
        out.append(
            {
                **result_json(result),
                "position": result.position,
                "category": row.category if row else None,
                "tags": ", ".join(row.tags or []) if row else "",
                "question": row.question if row else None,
                "ground_truth_answer": row.expected if row else None,
                "llm_answer": result.answer,
                "verdict": verdict(result.score),
            }
        )
    return out


def compare(a: RunData, b: RunData, *, change: float = DEFAULT_CHANGE) -> dict[str, Any]:
    """Run ``b`` against run ``a``: each question's score before and after (questions matched
    by their text, so two versions of a golden set compare too), overall and per category."""
    before = {normalize(q["question"]): q for q in questions(a.rows, a.results)}
    after = {normalize(q["question"]): q for q in questions(b.rows, b.results)}
    exact_a, exact_b = _exact_scores(a), _exact_scores(b)
    items = []
    for key in list(before) + [k for k in after if k not in before]:
        old, new = before.get(key), after.get(key)
        shown = new or old
        assert shown is not None
        score_a = exact_a.get(key) if old else None
        score_b = exact_b.get(key) if new else None
        delta = None if score_a is None or score_b is None else round(score_b - score_a, 4)
        if old is None:
            status = "new"
        elif new is None:
            status = "gone"
        elif delta is None:
            status = "error"
        elif delta > change:
            status = "improved"
        elif delta < -change:
            status = "regressed"
        else:
            status = "same"
        items.append(
            {
                "question": shown["question"],
                "category": shown["category"] or NO_CATEGORY,
                "expected": shown["expected"],
                "a": _round(score_a),
                "b": _round(score_b),
                "exact": (score_a, score_b),
                "delta": delta,
                "status": status,
                "answer_a": _first_answer(old),
                "answer_b": _first_answer(new),
            }
        )
    both = [i for i in items if i["delta"] is not None]
    by_category: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in both:
        by_category[item["category"]].append(item)
    overall = _totals(both)
    categories = {name: _totals(found) for name, found in sorted(by_category.items())}
    for item in items:
        del item["exact"]
    return {
        "a": run_json(a.run, _label(a)),
        "b": run_json(b.run, _label(b)),
        "change": change,
        "overall": overall,
        "categories": categories,
        # Biggest moves first: what to look at.
        "questions": sorted(items, key=lambda i: -abs(i["delta"] or 0)),
    }


def _totals(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    mean_a = _mean(i["exact"][0] for i in items)
    mean_b = _mean(i["exact"][1] for i in items)
    return {
        "questions": len(items),
        "a": _round(mean_a),
        "b": _round(mean_b),
        "delta": None if mean_a is None or mean_b is None else round(mean_b - mean_a, 4),
        "improved": sum(1 for i in items if i["status"] == "improved"),
        "regressed": sum(1 for i in items if i["status"] == "regressed"),
        "same": sum(1 for i in items if i["status"] == "same"),
    }


def _first_answer(question: dict[str, Any] | None) -> str | None:
    if not question or not question["answers"]:
        return None
    first = question["answers"][0]
    return first["answer"] if first["answer"] is not None else f"(error: {first['error']})"


def _label(data: RunData) -> str | None:
    return f"{data.golden.name} v{data.golden.version}" if data.golden else None
