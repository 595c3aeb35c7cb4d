"""Creating a run (its target checked and copied in, its cost estimated) and carrying it out.

A run's answers are worked through by ``concurrency`` workers; each answer is scored and stored
(with its LLM usage, in one transaction) the moment it is done, so a run that stops (a
restart, a crash, a cancel) keeps what it did and a resumed run only does what is left. The
process working on a run holds a lease on it, renewed while it works, and looks at the same
time whether someone asked the run to stop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, field_validator

from sutra.config import Settings, get_settings
from sutra.evals import metering, store
from sutra.evals.judge import Judge
from sutra.evals.models import EvalRun
from sutra.evals.scoring import contains_match, exact_match
from sutra.evals.settings import EvalSettings, eval_settings
from sutra.evals.similarity import EmbeddingSimilarity, LexicalSimilarity, Similarity, openai_key
from sutra.evals.targets import SpecError, TargetContext, TargetError, kind_of
from sutra.llm.base import LLMError, LLMProvider
from sutra.llm.usage import Limits, UsageStore, cost_of
from sutra.orgs import DEFAULT_ORG
from sutra.store import models as m

log = logging.getLogger(__name__)

ProgressHook = Callable[[EvalRun], None]


class RunOptions(BaseModel):
    """How to evaluate: what the API, the page and the CLI accept."""

    # Each question is asked this many times (Glific's duplication factor).
    duplication: int = Field(default=1, ge=1, le=5)
    concurrency: int | None = Field(default=None, ge=1, le=64)
    # "auto" (the configured judge model when OpenAI is configured, else none), "off",
    # "local" (the embedded model), "local:NAME" (a local model: better, a GGUF path), or a
    # model name (asked through the organisation's provider).
    judge: str = "auto"
    similarity: str = "auto"
    embedding_model: str | None = None
    # Which score is "the" score: the judge's when there is a judge ("auto"), else similarity.
    score: str = "auto"

    @field_validator("similarity")
    @classmethod
    def _similarity(cls, value: str) -> str:
        if value not in ("auto", "embedding", "lexical"):
            raise ValueError("similarity is auto, embedding or lexical")
        return value

    @field_validator("score")
    @classmethod
    def _score(cls, value: str) -> str:
        if value not in ("auto", "judge", "similarity"):
            raise ValueError("score is auto, judge or similarity")
        return value

    @field_validator("judge")
    @classmethod
    def _judge(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("judge is auto, off, local, local:NAME or a model name")
        return value


def resolve(
    options: RunOptions, org_settings: Mapping[str, Any], config: Settings, evals: EvalSettings
) -> dict[str, Any]:
    """The options with every "auto" decided, as the run stores them."""
    from sutra.llm.select import provider_mode

    mode = provider_mode(org_settings, config)
    judge: dict[str, Any] | None
    choice = options.judge
    if choice == "off" or (choice == "auto" and mode != "openai"):
        judge = None
    elif choice == "auto":
        judge = {"provider": "openai", "model": evals.judge_model}
    elif choice == "local" or choice.startswith("local:"):
        judge = {"provider": "local", "model": choice.partition(":")[2] or config.local_model}
    else:
        judge = {"provider": mode, "model": choice}
    similarity = options.similarity
    if similarity == "auto":
        similarity = "embedding" if openai_key(org_settings)[0] else "lexical"
    score = options.score
    if score == "auto":
        score = "judge" if judge else "similarity"
    if score == "judge" and judge is None:
        raise SpecError("the score is the judge's, but there is no judge (--judge off)")
    return {
        "duplication": options.duplication,
        "concurrency": options.concurrency or evals.concurrency,
        "judge": judge,
        "similarity": similarity,
        "embedding_model": (options.embedding_model or evals.embedding_model)
        if similarity == "embedding"
        else None,
        "score": score,
        "target_provider": mode,
    }


async def org_settings(sessions: store.Sessions, organization_id: int) -> dict[str, Any]:
    async with sessions() as db:
        org = await db.get(m.Organization, organization_id)
        found = dict(org.settings) if org is not None and isinstance(org.settings, dict) else {}
    if organization_id != DEFAULT_ORG:
        found.setdefault("platform_key", False)  # the environment's key is not theirs
    return found


async def create_run(
    sessions: store.Sessions,
    organization_id: int,
    golden_set_id: int,
    target: dict[str, Any],
    options: RunOptions,
    *,
    name: str | None = None,
    created_by: str | None = None,
    config: Settings | None = None,
    evals: EvalSettings | None = None,
    dry_run: bool = False,
) -> EvalRun:
    """A queued run (or with ``dry_run``, the run as it would be, unsaved: the estimate)."""
    from sutra.evals.estimate import estimate

    config = config or get_settings()
    evals = evals or eval_settings()
    async with sessions() as db:
        golden = await db.get(store.EvalGoldenSet, golden_set_id)
    if golden is None or golden.organization_id != organization_id:
        raise SpecError(f"no golden set {golden_set_id}")
    settings = await org_settings(sessions, organization_id)
    ctx = TargetContext(sessions, organization_id, settings, config)
    kind = kind_of(target)
    prepared = await kind.prepare(target, ctx)
    resolved = resolve(options, settings, config, evals)
    rows = await store.golden_rows(sessions, golden_set_id)
    judge = resolved["judge"]
    cost = estimate(
        [(row.question, row.expected) for row in rows],
        calls=kind_of(prepared.spec).shape(prepared.spec),
        target_provider=resolved["target_provider"],
        duplication=resolved["duplication"],
        concurrency=resolved["concurrency"],
        judge=(judge["provider"], judge["model"]) if judge else None,
        embedding_model=resolved["embedding_model"],
        prices=config.llm_prices,
    )
    run = EvalRun(
        organization_id=organization_id,
        golden_set_id=golden_set_id,
        name=name,
        target=prepared.spec,
        target_label=prepared.label,
        config=resolved,
        status="queued",
        total=len(rows) * resolved["duplication"],
        done=0,
        failed=0,
        estimate=cost,
        cancel_requested=False,
        created_by=created_by,
    )
    if not dry_run:
        await store.add_run(sessions, run)
    return run


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class _Scorers:
    similarity: Similarity
    judge: Judge | None
    primary: str


class Cancelled(Exception):
    pass


async def execute(
    sessions: store.Sessions,
    run_id: int,
    *,
    owner: str,
    config: Settings | None = None,
    evals: EvalSettings | None = None,
    progress: ProgressHook | None = None,
    stop: asyncio.Event | None = None,
    llm: LLMProvider | None = None,
) -> str:
    """Carry out the rest of a run the caller has claimed (:func:`store.claim`); returns the
    status it ends in. ``stop`` set (or a cancel asked through the database) cancels it.
    ``llm`` answers for the target and the judge instead of the configured providers (the
    benchmark's instant model)."""
    config = config or get_settings()
    evals = evals or eval_settings()
    async with sessions() as db:
        run = await db.get(EvalRun, run_id)
    if run is None:
        raise LookupError(f"no run {run_id}")
    stop = stop or asyncio.Event()
    settings = await org_settings(sessions, run.organization_id)
    rows = await store.golden_rows(sessions, run.golden_set_id)
    done = await store.done_keys(sessions, run.id)
    resolved = run.config
    work = [
        (row, repeat)
        for row in rows
        for repeat in range(1, int(resolved["duplication"]) + 1)
        if (row.position, repeat) not in done
    ]
    if run.cancel_requested:
        # Asked to stop while no process held it (its process had died).
        await store.set_status(sessions, run.id, "cancelled", finished_at=m.utcnow())
        return "cancelled"
    await store.set_status(
        sessions, run.id, "running", started_at=run.started_at or m.utcnow(), error=None
    )
    run.status = "running"

    def target_llm() -> LLMProvider:
        from sutra.llm.select import get_provider

        return metering.Metered(llm or get_provider(settings, config), "eval_target")

    ctx = TargetContext(sessions, run.organization_id, settings, config, llm=target_llm)
    target = kind_of(run.target).build(run.target, ctx)
    scorers = _scorers(resolved, settings, config, rows, llm)
    limits = Limits.of(
        settings, monthly=config.llm_monthly_budget, daily=config.llm_contact_daily_tokens
    )
    usage_store = UsageStore(sessions)
    writer = store.ResultWriter(sessions)
    flow_uuid = run.target.get("flow_uuid") or (run.target.get("source") or {}).get("flow_uuid")
    failure: str | None = None
    pending = iter(work)

    async def worker() -> None:
        nonlocal failure
        for row, repeat in pending:
            if stop.is_set() or failure is not None:
                return
            if limits.monthly_budget is not None:
                why = await usage_store.exceeded(
                    limits, organization_id=run.organization_id, contact_id=None
                )
                if why is not None:
                    failure = f"budget exceeded: {why}"
                    return
            result, spent = await _answer(target, scorers, run.id, row, repeat)
            usage = [
                m.LLMUsage(
                    organization_id=run.organization_id,
                    flow_uuid=flow_uuid,
                    function=item.purpose,
                    provider=item.usage.provider,
                    model=item.usage.model,
                    prompt_tokens=item.usage.prompt_tokens,
                    completion_tokens=item.usage.completion_tokens,
                    latency_ms=item.usage.latency_ms,
                    cost=cost_of(item.usage, config.llm_prices),
                )
                for item in spent
            ]
            result.prompt_tokens = sum(u.prompt_tokens for u in usage)
            result.completion_tokens = sum(u.completion_tokens for u in usage)
            result.cost = sum(u.cost for u in usage)
            if await writer.save(result, usage):
                run.done += 1
                run.failed += 1 if result.score is None else 0
                if progress is not None:
                    progress(run)

    async def keep_lease() -> None:
        every = max(0.05, min(1.0, evals.lease_seconds / 4))
        while True:
            await asyncio.sleep(every)
            if not await store.claim(sessions, run.id, owner, evals.lease_seconds, m.utcnow()):
                log.warning("evaluation run %s: lease lost, stopping", run.id)
                stop.set()
            if await store.cancel_requested(sessions, run.id):
                stop.set()

    status = "completed"
    lease = asyncio.create_task(keep_lease())
    stopper = asyncio.create_task(stop.wait())
    workers: list[asyncio.Task[None]] = []
    try:
        await target.open()
        workers = [
            asyncio.create_task(worker()) for _ in range(max(1, int(resolved["concurrency"])))
        ]
        finished = asyncio.gather(*workers)
        await asyncio.wait({finished, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            status = "cancelled" if await store.cancel_requested(sessions, run.id) else "stopped"
        else:
            await finished
    except (SpecError, TargetError, LLMError) as exc:
        failure = getattr(exc, "reason", None) or str(exc)
    finally:
        # Answers in flight when the run stops are dropped: a resumed run asks them again.
        for task in [*workers, lease, stopper]:
            task.cancel()
        await asyncio.gather(*workers, lease, stopper, return_exceptions=True)
        await target.close()
        await scorers.similarity.close()
    if failure is not None:
        status = "failed"
    if status == "stopped":
        # Shut down or lease lost, not cancelled: the run stays unfinished, to be resumed.
        return "running"
    results = await store.results(sessions, run.id)
    from sutra.evals.report import summarize

    summary = summarize(rows, results)
    await store.set_status(
        sessions, run.id, status, summary=summary, error=failure, finished_at=m.utcnow()
    )
    run.status, run.summary, run.error = status, summary, failure
    return status


def _scorers(
    resolved: dict[str, Any],
    settings: Mapping[str, Any],
    config: Settings,
    rows: list[Any],
    llm: LLMProvider | None,
) -> _Scorers:
    similarity: Similarity
    if resolved["similarity"] == "embedding":
        key, base = openai_key(settings)
        similarity = EmbeddingSimilarity(
            model=resolved["embedding_model"],
            api_key=key,
            base_url=base,
            timeout=config.openai_timeout,
            max_retries=config.openai_max_retries,
        )
    else:
        similarity = LexicalSimilarity([t for row in rows for t in (row.question, row.expected)])
    judge = None
    if resolved.get("judge"):
        provider = (
            metering.Metered(llm, "eval_judge")
            if llm is not None
            else _judge_provider(resolved["judge"], settings, config)
        )
        judge = Judge(provider, resolved["judge"]["model"])
    return _Scorers(similarity, judge, resolved["score"])


def _judge_provider(
    judge: dict[str, Any], settings: Mapping[str, Any], config: Settings
) -> LLMProvider:
    from dataclasses import replace

    from sutra.llm.local_provider import LocalConfig, LocalProvider
    from sutra.llm.select import get_provider

    if judge["provider"] == "local":
        # The named local model, whatever the flows' model map says.
        local = replace(LocalConfig.from_settings(config), model=judge["model"], model_map=())
        return metering.Metered(LocalProvider(local), "eval_judge")
    return metering.Metered(get_provider(settings, config), "eval_judge")


async def _answer(
    target: Any, scorers: _Scorers, run_id: int, row: Any, repeat: int
) -> tuple[Any, list[metering.Spent]]:
    from sutra.evals.models import EvalResult

    result = EvalResult(run_id=run_id, position=row.position, repeat=repeat)
    problems: list[str] = []
    with metering.metering() as spent:
        started = time.perf_counter()
        answer: str | None
        try:
            answer = await target.answer(row.question)
        except (TargetError, LLMError) as exc:
            answer = None
            problems.append(exc.reason)
        result.latency_ms = (time.perf_counter() - started) * 1000
        if answer is not None:
            result.answer = answer
            result.answer_chars = len(answer)
            result.exact = exact_match(answer, row.expected)
            result.contains = contains_match(answer, row.expected)
            try:
                result.similarity = await scorers.similarity.score(answer, row.expected)
            except LLMError as exc:
                problems.append(f"similarity: {exc.reason}")
            if scorers.judge is not None:
                try:
                    grade = await scorers.judge.grade(row.question, row.expected, answer)
                    result.judge_score, result.judge_reasoning = grade.score, grade.reasoning
                except LLMError as exc:
                    problems.append(f"judge: {exc.reason}")
    result.score = result.judge_score if scorers.primary == "judge" else result.similarity
    result.error = "; ".join(problems) or None
    return result, list(spent)
