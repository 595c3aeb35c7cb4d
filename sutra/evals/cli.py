"""``sutra eval run|show|compare|list``: evaluations from the terminal (and CI).

``run`` exits 1 when the mean score is under ``--min-score`` (or nothing could be scored), so a
pipeline can refuse a prompt change that makes the answers worse; 2 for a usage error.
"""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sutra.evals.scoring import DEFAULT_CHANGE

# The stores and reports (SQLAlchemy and the models) are imported by the commands that use
# them, not by every ``sutra`` run.
if TYPE_CHECKING:
    from sutra.evals import store

T = TypeVar("T")

eval_app = typer.Typer(help="AI evaluations: golden sets, runs, reports.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)
ORG = 1


def _die(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


@asynccontextmanager
async def _database() -> AsyncIterator[store.Sessions]:
    from sutra.store.db import create_async_engine_for, create_session_factory, migrate

    await asyncio.to_thread(migrate, None)
    engine = create_async_engine_for(None)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


def _run(work: Callable[[store.Sessions], Awaitable[T]]) -> T:
    async def main() -> T:
        async with _database() as sessions:
            return await work(sessions)

    return asyncio.run(main())


def _score(value: float | None) -> str:
    if value is None:
        return "–"
    colour = "green" if value > 0.7 else "red" if value < 0.3 else "yellow"
    return f"[{colour}]{value:.2f}[/]"


def _fmt(value: Any, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def print_estimate(estimate: dict[str, Any]) -> None:
    table = Table(title="Estimate (before the run)", title_justify="left")
    for column in ("for", "model", "provider", "calls", "tokens", "USD"):
        table.add_column(
            column, justify="right" if column in ("calls", "tokens", "USD") else "left"
        )
    for line in estimate["lines"]:
        table.add_row(
            line["purpose"],
            line["model"],
            line["provider"],
            str(line["calls"]),
            f"{line['prompt_tokens'] + line['completion_tokens']:,}",
            f"{line['cost']:.4f}",
        )
    table.add_row(
        "total",
        "",
        "",
        str(estimate["calls"]),
        f"{estimate['prompt_tokens'] + estimate['completion_tokens']:,}",
        f"{estimate['cost']:.4f}",
        style="bold",
    )
    out.print(table)
    out.print(f"{estimate['answers']} answers, roughly {estimate['seconds']} s", highlight=False)


def print_summary(run: dict[str, Any]) -> None:
    summary = run["summary"] or {}
    config = run["config"]
    similarity = (
        f"embedding ({config['embedding_model']})"
        if config["similarity"] == "embedding"
        else "lexical (TF-IDF cosine)"
    )
    judge = config.get("judge")
    out.print(
        f"[bold]Run #{run['id']}[/] {run['golden_set'] or ''} → {run['target_label']}: "
        f"{run['status']}",
        highlight=False,
    )
    table = Table(title="Summary", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    score, questions = summary.get("score", {}), summary.get("questions", {})
    rows = [
        (f"mean score ({config['score']})", _score(score.get("mean"))),
        ("std", _fmt(score.get("std"))),
        (
            "questions aligned (> 0.7)",
            f"{questions.get('aligned', 0)} / {questions.get('count', 0)}",
        ),
        ("questions drifted (< 0.3)", str(questions.get("drifted", 0))),
        (f"similarity: {similarity}", _fmt(summary.get("similarity", {}).get("mean"))),
        (
            f"judge: {judge['model']} ({judge['provider']})" if judge else "judge",
            _fmt(summary.get("judge", {}).get("mean")),
        ),
        ("exact match", _percent(summary.get("exact_rate"))),
        ("contains the answer", _percent(summary.get("contains_rate"))),
        ("mean answer length (chars)", _fmt(summary.get("answer_chars"), 0)),
        ("spread over repeats (mean)", _fmt(summary.get("consistency", {}).get("mean_spread"))),
        ("latency p50 / p95 (ms)", _latency(summary.get("latency_ms", {}))),
        ("tokens", f"{summary.get('prompt_tokens', 0) + summary.get('completion_tokens', 0):,}"),
        ("cost (USD)", f"{summary.get('cost', 0):.4f}"),
        ("errors", str(summary.get("errors", 0))),
    ]
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)
    categories = summary.get("categories") or {}
    if categories:
        by = Table(title="By category", title_justify="left")
        for column in ("category", "questions", "mean", "aligned", "drifted"):
            by.add_column(column, justify="left" if column == "category" else "right")
        for name, found in categories.items():
            by.add_row(
                name,
                str(found["count"]),
                _score(found["mean"]),
                str(found["aligned"]),
                str(found["drifted"]),
            )
        out.print(by)
    if run.get("error"):
        err.print(f"[red]{run['error']}[/]", highlight=False)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def _latency(latency: dict[str, Any]) -> str:
    return f"{_fmt(latency.get('p50'), 0)} / {_fmt(latency.get('p95'), 0)}"


async def _golden(sessions: store.Sessions, ref: str, name: str | None) -> store.EvalGoldenSet:
    from sutra.evals import store
    from sutra.evals.golden import GoldenFileError, parse_golden_file
    from sutra.evals.settings import eval_settings

    path = Path(ref)
    if path.is_file():
        try:
            rows = parse_golden_file(
                path.read_bytes(), path.name, max_rows=eval_settings().max_rows
            )
        except GoldenFileError as exc:
            raise _die(f"{path}: {exc}") from None
        return await store.add_golden_set(
            sessions, ORG, name or path.stem, rows, filename=path.name, created_by=getpass.getuser()
        )
    found = await store.golden_set(sessions, ORG, ref)
    if found is None:
        raise _die(f"{ref}: neither a file nor a stored golden set (id, name or name@version)")
    return found


async def _flow(sessions: store.Sessions, ref: str) -> str:
    from sutra.flows import FlowFileError, read_flow_file
    from sutra.store.repository import Repository

    repo = Repository(sessions, ORG)
    path = Path(ref)
    if path.is_file():
        try:
            flow_file = read_flow_file(path)
        except FlowFileError as exc:
            raise _die(str(exc)) from None
        await repo.import_flow_file(flow_file, created_by=getpass.getuser())
        return flow_file.flows[0].flow.uuid
    found = await repo.find_flow(ref)
    if found is None:
        raise _die(f"no flow {ref!r} (a stored flow's name or uuid, or a flow file)")
    return found[0]


@eval_app.command("run")
def run_command(
    golden: Annotated[
        str, typer.Argument(help="A CSV/XLSX file, or a stored set: id, name, name@version")
    ],
    name: Annotated[str | None, typer.Option(help="The run's name")] = None,
    golden_name: Annotated[
        str | None, typer.Option(help="Store the file under this set name")
    ] = None,
    prompt: Annotated[str | None, typer.Option(help="parse_via_chat_gpt: the prompt")] = None,
    model: Annotated[str | None, typer.Option(help="parse_via_chat_gpt: the model")] = None,
    temperature: Annotated[float, typer.Option(help="parse_via_chat_gpt: temperature")] = 0.0,
    response_format: Annotated[
        str | None, typer.Option(help="json_object, or a response_format as JSON")
    ] = None,
    flow: Annotated[str | None, typer.Option(help="A flow (name, uuid or file)")] = None,
    assistant: Annotated[
        str | None, typer.Option(help="An assistant's id: answered from its documents")
    ] = None,
    version: Annotated[
        int | None, typer.Option(min=1, help="With --assistant: a version (default: the live)")
    ] = None,
    node: Annotated[str | None, typer.Option(help="With --flow: its GPT node's uuid")] = None,
    result: Annotated[
        str | None, typer.Option(help="With --flow: the result holding the answer")
    ] = None,
    duplication: Annotated[int, typer.Option(min=1, max=5, help="Repeats per question")] = 1,
    concurrency: Annotated[int | None, typer.Option(min=1, max=64, help="Answers at once")] = None,
    judge: Annotated[str, typer.Option(help="auto, off, local, local:NAME or a model")] = "auto",
    similarity: Annotated[str, typer.Option(help="auto, embedding or lexical")] = "auto",
    embedding_model: Annotated[str | None, typer.Option(help="The embedding model")] = None,
    score: Annotated[str, typer.Option(help="auto, judge or similarity")] = "auto",
    min_score: Annotated[
        float | None, typer.Option(help="Exit 1 when the mean score is under this")
    ] = None,
    max_cost: Annotated[
        float | None, typer.Option(help="Do not start when the estimate is over this (USD)")
    ] = None,
) -> None:
    """Evaluate a golden set against a parse_via_chat_gpt configuration, an assistant, a flow's
    GPT node or a whole flow; print the estimate, a progress bar and the summary."""
    from pydantic import ValidationError

    from sutra.evals import report, runner, store
    from sutra.evals.targets import SpecError

    try:
        options = runner.RunOptions(
            duplication=duplication,
            concurrency=concurrency,
            judge=judge,
            similarity=similarity,
            embedding_model=embedding_model,
            score=score,
        )
    except ValidationError as exc:
        raise _die(exc.errors()[0]["msg"]) from None

    async def work(sessions: store.Sessions) -> dict[str, Any]:
        golden_set = await _golden(sessions, golden, golden_name)
        target: dict[str, Any]
        if assistant is not None:
            target = {"kind": "assistant", "key": assistant, "version": version}
        elif flow is not None:
            flow_uuid = await _flow(sessions, flow)
            if node is not None:
                target = {"kind": "flow_node", "flow_uuid": flow_uuid, "node_uuid": node}
            else:
                target = {"kind": "flow", "flow_uuid": flow_uuid, "result": result}
        elif prompt is not None or model is not None:
            fmt: Any = response_format
            if response_format and not response_format.strip().startswith("{"):
                fmt = {"type": response_format.strip()}
            target = {
                "kind": "gpt",
                "prompt": prompt,
                "model": model,
                "temperature": temperature,
                "response_format": fmt,
            }
        else:
            raise _die(
                "say what to evaluate: --prompt/--model, --assistant, or --flow "
                "(with --node/--result)"
            )
        try:
            run = await runner.create_run(
                sessions,
                ORG,
                golden_set.id,
                target,
                options,
                name=name,
                created_by=getpass.getuser(),
                dry_run=max_cost is not None,
            )
        except SpecError as exc:
            raise _die(str(exc)) from None
        assert run.estimate is not None
        print_estimate(run.estimate)
        if max_cost is not None:
            if run.estimate["cost"] > max_cost:
                raise _die(f"the estimate (${run.estimate['cost']:.4f}) is over --max-cost")
            await store.add_run(sessions, run)
        owner = runner.new_owner()
        from sutra.evals.settings import eval_settings
        from sutra.store.models import utcnow

        await store.claim(sessions, run.id, owner, eval_settings().lease_seconds, utcnow())
        with Progress(
            TextColumn(f"run #{run.id}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("answers", total=run.total, completed=0)
            try:
                await runner.execute(
                    sessions,
                    run.id,
                    owner=owner,
                    progress=lambda r: bar.update(task, completed=r.done),
                )
            finally:
                await store.release(sessions, run.id, owner)
        found = await store.get_run(sessions, ORG, run.id)
        assert found is not None
        return report.run_json(found, f"{golden_set.name} v{golden_set.version}")

    shown = _run(work)
    print_summary(shown)
    mean = shown["mean_score"]
    if min_score is not None and (mean is None or mean < min_score):
        err.print(
            f"[bold red]mean score {_fmt(mean)} is under --min-score {min_score:g}[/]",
            highlight=False,
        )
        raise typer.Exit(1)
    if shown["status"] != "completed":
        raise typer.Exit(1)


@eval_app.command("show")
def show_command(
    run_id: Annotated[int, typer.Argument(help="The run's id")],
    csv: Annotated[Path | None, typer.Option(help="Also write its CSV here")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    worst: Annotated[int, typer.Option(help="List this many lowest-scoring questions")] = 10,
) -> None:
    """A run's summary, its categories and its weakest questions."""
    from sutra.evals import report, store

    async def work(sessions: store.Sessions) -> store.RunData:
        data = await store.run_data(sessions, ORG, run_id)
        if data is None:
            raise _die(f"no run {run_id}")
        return data

    data = _run(work)
    label = f"{data.golden.name} v{data.golden.version}" if data.golden else None
    shown = report.run_json(data.run, label)
    if shown["summary"] is None:
        shown["summary"] = report.summarize(data.rows, data.results)
    if csv is not None:
        from sutra.web.spreadsheet import csv_text

        csv.write_text(csv_text(report.CSV_COLUMNS, report.csv_rows(data)), encoding="utf-8")
    questions = report.questions(data.rows, data.results)
    if as_json:
        print(json.dumps({"run": shown, "questions": questions}, ensure_ascii=False, default=str))
        return
    print_summary(shown)
    scored = sorted((q for q in questions if q["score"] is not None), key=lambda q: q["score"])
    if scored and worst:
        table = Table(title=f"Lowest {min(worst, len(scored))}", title_justify="left")
        for column in ("#", "score", "question", "answer"):
            table.add_column(column, overflow="fold")
        for q in scored[:worst]:
            answer = q["answers"][0]["answer"] if q["answers"] else ""
            table.add_row(
                str(q["position"]), _score(q["score"]), q["question"], (answer or "")[:200]
            )
        out.print(table)


@eval_app.command("compare")
def compare_command(
    a: Annotated[int, typer.Argument(help="The earlier run")],
    b: Annotated[int, typer.Argument(help="The later run")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    change: Annotated[float, typer.Option(help="Smaller moves count as the same")] = DEFAULT_CHANGE,
) -> None:
    """Which questions improved or regressed from run A to run B, overall and per category."""
    from sutra.evals import report, store

    async def work(sessions: store.Sessions) -> dict[str, Any]:
        first, second = (
            await store.run_data(sessions, ORG, a),
            await store.run_data(sessions, ORG, b),
        )
        if first is None or second is None:
            raise _die(f"no run {a if first is None else b}")
        return report.compare(first, second, change=change)

    found = _run(work)
    if as_json:
        print(json.dumps(found, ensure_ascii=False, default=str))
        return
    overall = found["overall"]
    out.print(
        f"[bold]Run #{b} against #{a}[/]: mean {_fmt(overall['a'])} → {_fmt(overall['b'])} "
        f"({_delta(overall['delta'])}); {overall['improved']} improved, "
        f"{overall['regressed']} regressed, {overall['same']} the same",
        highlight=False,
    )
    table = Table(title="By category", title_justify="left")
    for column in ("category", "questions", "A", "B", "change", "improved", "regressed"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for name, c in found["categories"].items():
        table.add_row(
            name,
            str(c["questions"]),
            _fmt(c["a"]),
            _fmt(c["b"]),
            _delta(c["delta"]),
            str(c["improved"]),
            str(c["regressed"]),
        )
    out.print(table)
    moved = [q for q in found["questions"] if q["status"] in ("improved", "regressed")]
    if moved:
        changes = Table(title="Questions that moved", title_justify="left")
        for column in ("change", "A", "B", "question"):
            changes.add_column(column, overflow="fold")
        for q in moved:
            changes.add_row(_delta(q["delta"]), _fmt(q["a"]), _fmt(q["b"]), q["question"])
        out.print(changes)


def _delta(value: float | None) -> str:
    if value is None:
        return "–"
    colour = "green" if value > 0 else "red" if value < 0 else "white"
    return f"[{colour}]{value:+.2f}[/]"


@eval_app.command("list")
def list_command() -> None:
    """The latest runs."""
    from sutra.evals import report, store

    async def work(sessions: store.Sessions) -> list[dict[str, Any]]:
        labels = {g.id: f"{g.name} v{g.version}" for g in await store.golden_sets(sessions, ORG)}
        return [
            report.run_json(r, labels.get(r.golden_set_id)) for r in await store.runs(sessions, ORG)
        ]

    table = Table("run", "golden set", "target", "status", "mean", "answers")
    for run in _run(work):
        table.add_row(
            str(run["id"]),
            run["golden_set"] or "",
            run["target_label"],
            run["status"],
            _score(run["mean_score"]),
            f"{run['done']}/{run['total']}",
        )
    out.print(table)
