"""How well an assistant finds and answers from its documents, and what a filesearch-gpt step
costs.

The health FAQ shipped with the tests (tests/assistants/health_faq.md, rendered to a PDF) is
uploaded to an assistant on a fresh SQLite file; tests/assistants/health_faq_questions.json
holds 32 questions, each with the FAQ question whose passage answers it and the words a right
answer holds, and 5 questions the FAQ does not cover.

- recall@5: the share of questions whose passage is among the first five found, for lexical
  (FTS5), vector and hybrid (reciprocal rank fusion) retrieval; "answered" is the share of
  answerable questions that found a relevant passage, "declined" the share of uncovered ones
  that found none (so the assistant says it does not know).
- answer accuracy: the whole answer (retrieval, the model, the sources), right when it holds
  every keyword; and the uncovered questions answered "don't know".
- latency of one filesearch-gpt call, as a flow makes it: with a stub model (the retrieval and
  the bookkeeping) and with the answering model; and of one voice-filesearch-gpt call (a voice
  note heard, answered, spoken back as OGG/Opus) with the stub serving audio and model.

Vectors come from the OpenAI-compatible /embeddings when OPENAI_API_KEY or OPENAI_BASE_URL is
set, else from the loopback stub (bag-of-words vectors: a stand-in, labelled so). Answers come
from OpenAI when a key is set, else from the embedded model (offline).

    .venv/bin/python bench/retrieval.py [--no-answers] [--latency-calls 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sutra.assistants.answer import ask  # noqa: E402
from sutra.assistants.embeddings import OpenAIEmbedder, embedder_for  # noqa: E402
from sutra.assistants.indexing import add_document  # noqa: E402
from sutra.assistants.retrieval import Mode, Thresholds, retrieve  # noqa: E402
from sutra.assistants.settings import assistant_settings  # noqa: E402
from sutra.assistants.store import Assistants  # noqa: E402
from sutra.functions.filesearch import filesearch_gpt  # noqa: E402
from sutra.functions.registry import FunctionCall  # noqa: E402
from sutra.functions.services import Services  # noqa: E402
from sutra.functions.speech import voice_filesearch_gpt  # noqa: E402
from sutra.llm.base import LLMProvider  # noqa: E402
from sutra.llm.openai_provider import OpenAIProvider  # noqa: E402
from sutra.runtime.media import MediaStore  # noqa: E402
from sutra.store.db import create_async_engine_for, create_session_factory, migrate  # noqa: E402
from sutra.testing.documents import markdown_pdf  # noqa: E402
from sutra.testing.openai_server import OpenAIStubServer  # noqa: E402
from sutra.testing.voice import have_audio_tools, spoken  # noqa: E402

DATA = ROOT / "tests" / "assistants"
KEY = "asst_bench"
STUB_KEY = "sk-bench-retrieval"


@contextmanager
def embeddings() -> Iterator[tuple[OpenAIEmbedder, str]]:
    """The configured embedding service, else the stub's."""
    configured = embedder_for({}, assistant_settings())
    if configured is not None:
        yield configured, f"{configured.model} (configured)"
        return
    with OpenAIStubServer(api_key=STUB_KEY) as stub:
        embedder = OpenAIEmbedder(
            model="stub-bag-of-words", api_key=STUB_KEY, base_url=stub.base_url
        )
        yield embedder, "the stub's bag-of-words vectors (no embedding service configured)"


def answering_model() -> tuple[LLMProvider, str, str]:
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        return OpenAIProvider(), "gpt-4o-mini", "OpenAI gpt-4o-mini (configured)"
    from sutra.llm.local_provider import LocalConfig, LocalProvider

    provider = LocalProvider(LocalConfig(max_tokens=96))
    return provider, "gpt-4o-mini", "the embedded SmolLM2-135M (offline)"


def body_of(message: str) -> str:
    """An answer without its sources footer."""
    return message.rsplit("\n\nSource", 1)[0]


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    questions = json.loads((DATA / "health_faq_questions.json").read_text())
    answerable, uncovered = questions["questions"], questions["unanswerable"]
    config = assistant_settings()
    thresholds = Thresholds(config.assistant_min_coverage, config.assistant_min_similarity)
    report: dict[str, Any] = {"questions": len(answerable), "uncovered": len(uncovered)}
    with tempfile.TemporaryDirectory() as directory, embeddings() as (embedder, vectors_from):
        url = f"sqlite:///{Path(directory) / 'bench.db'}"
        migrate(url)
        engine = create_async_engine_for(url)
        db = create_session_factory(engine)
        assistants = Assistants(db, 1)
        await assistants.create("Health FAQ", key=KEY, instructions="You answer health questions.")
        pdf = markdown_pdf((DATA / "health_faq.md").read_text(encoding="utf-8"))
        started = time.perf_counter()
        document = await add_document(assistants, KEY, "health-faq.pdf", pdf, embedder=embedder)
        report["indexing"] = {
            "pdf_bytes": len(pdf),
            "pages": document.pages,
            "passages": document.chunks,
            "seconds": round(time.perf_counter() - started, 3),
        }
        report["vectors"] = vectors_from
        assistant, _ = await assistants.resolve(KEY)
        report["retrieval"] = {}
        for mode in ("lexical", "vector", "hybrid"):
            print(f"retrieval: {mode}…", file=sys.stderr)
            report["retrieval"][mode] = await _retrieval(
                db, assistant.id, answerable, uncovered, embedder, mode, thresholds
            )
        if have_audio_tools():
            print("voice-filesearch-gpt steps (stub audio and model)…", file=sys.stderr)
            report["voice_step_ms"] = await _voice_latency(
                assistants, Path(directory), min(args.latency_calls, 20)
            )
        if not args.no_answers:
            print("answers (the model answers each question: minutes offline)…", file=sys.stderr)
            report["answers"] = await _answers(assistants, answerable, uncovered, embedder, args)
        await engine.dispose()
    return report


async def _retrieval(
    db: Any,
    assistant_id: int,
    answerable: list[dict[str, Any]],
    uncovered: list[str],
    embedder: OpenAIEmbedder,
    mode: Mode,
    thresholds: Thresholds,
) -> dict[str, Any]:
    found = answered = declined = 0
    took = []
    for item in answerable:
        started = time.perf_counter()
        result = await retrieve(
            db, assistant_id, item["q"], embedder=embedder, k=5, thresholds=thresholds, mode=mode
        )
        took.append(time.perf_counter() - started)
        top = [hit.section for hit in result.candidates[:5]]
        found += any(section.endswith(item["section"]) for section in top)
        answered += bool(result.passages)
    for question in uncovered:
        result = await retrieve(
            db, assistant_id, question, embedder=embedder, k=5, thresholds=thresholds, mode=mode
        )
        declined += not result.passages
    return {
        "recall_at_5": round(found / len(answerable), 3),
        "answered": round(answered / len(answerable), 3),
        "declined": round(declined / len(uncovered), 3),
        "p50_ms": round(statistics.median(took) * 1000, 2),
    }


async def _answers(
    assistants: Assistants,
    answerable: list[dict[str, Any]],
    uncovered: list[str],
    embedder: OpenAIEmbedder,
    args: argparse.Namespace,
) -> dict[str, Any]:
    provider, model, label = answering_model()
    configured = embedder_for({}, assistant_settings()) is not None
    # Offline there is no embedding service: the assistant answers from the words alone.
    mode: Mode = "hybrid" if configured else "lexical"
    await assistants.update(KEY, model=model, make_live=True)
    call = FunctionCall(
        fields={"organization_id": 1}, services=Services(llm=provider, db=assistants.db)
    )
    right = declined = 0
    took = []
    misses = []
    for item in answerable:
        started = time.perf_counter()
        answer = await ask(call, assistants, KEY, item["q"], function="bench", mode=mode)
        took.append(time.perf_counter() - started)
        said = body_of(answer.message).lower()
        ok = answer.knew and all(word.lower() in said for word in item["keywords"])
        right += ok
        if not ok:
            misses.append(item["q"])
    for question in uncovered:
        answer = await ask(call, assistants, KEY, question, function="bench", mode=mode)
        declined += not answer.knew
    latency = await _latency(assistants, provider, args.latency_calls, answerable)
    stub = await _stub_latency(assistants, args.latency_calls, answerable)
    return {
        "model": label,
        "retrieval": mode,
        "accuracy": round(right / len(answerable), 3),
        "declined": round(declined / len(uncovered), 3),
        "answer_p50_s": round(statistics.median(took), 2),
        "misses": misses,
        "filesearch_step_ms": {"stub_model": stub, "answering_model": latency},
    }


async def _latency(
    assistants: Assistants, provider: LLMProvider, calls: int, answerable: list[dict[str, Any]]
) -> dict[str, float]:
    await _contact(assistants)
    took = []
    for i in range(min(calls, 10)):
        call = FunctionCall(
            fields={
                "organization_id": 1,
                "contact_id": 1,
                "flow_id": "bench",
                "question": answerable[i % len(answerable)]["q"],
                "assistant_id": KEY,
                "remove_citation": True,
            },
            services=Services(llm=provider, db=assistants.db),
        )
        started = time.perf_counter()
        await filesearch_gpt(call)
        took.append((time.perf_counter() - started) * 1000)
    return _percentiles(took)


async def _stub_latency(
    assistants: Assistants, calls: int, answerable: list[dict[str, Any]]
) -> dict[str, float]:
    with OpenAIStubServer(api_key=STUB_KEY) as stub:
        provider = OpenAIProvider(api_key=STUB_KEY, base_url=stub.base_url)
        took = []
        for i in range(calls):
            call = FunctionCall(
                fields={
                    "organization_id": 1,
                    "contact_id": 1,
                    "flow_id": "bench",
                    "question": answerable[i % len(answerable)]["q"],
                    "assistant_id": KEY,
                },
                services=Services(llm=provider, db=assistants.db),
            )
            started = time.perf_counter()
            await filesearch_gpt(call)
            took.append((time.perf_counter() - started) * 1000)
        await provider.aclose()
    return _percentiles(took)


async def _voice_latency(assistants: Assistants, folder: Path, calls: int) -> dict[str, float]:
    """A voice note (espeak-ng, OGG/Opus) heard, answered and spoken back, the stub serving the
    audio endpoints and the model: Sutra's own work (conversions, retrieval, bookkeeping)."""
    await _contact(assistants)
    note = spoken("How is malaria spread?")
    media = MediaStore(folder / "media")
    url = media.save(note, "audio/ogg")
    with OpenAIStubServer(api_key=STUB_KEY) as stub, _environment(stub.base_url):
        stub.hears(note, "How is malaria spread?")
        provider = OpenAIProvider(api_key=STUB_KEY, base_url=stub.base_url)
        took = []
        for _ in range(calls):
            call = FunctionCall(
                fields={
                    "organization_id": 1,
                    "contact_id": 1,
                    "flow_id": "bench",
                    "speech": url,
                    "assistant_id": KEY,
                    "source_language": "english",
                    "target_language": "english",
                },
                services=Services(llm=provider, db=assistants.db, media=media),
            )
            started = time.perf_counter()
            await voice_filesearch_gpt(call)
            took.append((time.perf_counter() - started) * 1000)
        await provider.aclose()
    return _percentiles(took)


@contextmanager
def _environment(base_url: str) -> Iterator[None]:
    """The speech engine is chosen by the environment's key and base URL: the stub's, here."""
    saved = {k: os.environ.get(k) for k in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    os.environ.update(OPENAI_API_KEY=STUB_KEY, OPENAI_BASE_URL=base_url)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _percentiles(took: list[float]) -> dict[str, float]:
    ordered = sorted(took)
    return {
        "calls": len(ordered),
        "p50": round(statistics.median(ordered), 1),
        "p95": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 1),
    }


async def _contact(assistants: Assistants) -> None:
    async with assistants.db.begin() as session:
        await session.execute(
            text(
                "INSERT INTO contacts (id, uuid, organization_id, urn, fields, status) "
                "VALUES (1, 'bench', 1, 'sim:bench', '{}', 'active') ON CONFLICT DO NOTHING"
            )
        )


def show(report: dict[str, Any]) -> None:
    index = report["indexing"]
    print(
        f"health FAQ: {index['pages']} PDF pages, {index['passages']} passages, indexed in "
        f"{index['seconds']} s; {report['questions']} questions, {report['uncovered']} not covered"
    )
    print(f"vectors: {report['vectors']}")
    print(f"{'retrieval':<10} {'recall@5':>9} {'answered':>9} {'declined':>9} {'p50 ms':>8}")
    for mode, row in report["retrieval"].items():
        print(
            f"{mode:<10} {row['recall_at_5']:>9.3f} {row['answered']:>9.3f} "
            f"{row['declined']:>9.3f} {row['p50_ms']:>8.2f}"
        )
    voice = report.get("voice_step_ms")
    if voice:
        print(
            f"voice-filesearch-gpt step (stub audio and model): p50 {voice['p50']} ms, "
            f"p95 {voice['p95']} ms"
        )
    answers = report.get("answers")
    if answers:
        steps = answers["filesearch_step_ms"]
        print(
            f"answers by {answers['model']}, {answers['retrieval']} retrieval: accuracy "
            f"{answers['accuracy']:.3f}, uncovered declined {answers['declined']:.3f}, "
            f"p50 {answers['answer_p50_s']} s"
        )
        for name, row in steps.items():
            print(f"filesearch-gpt step ({name}): p50 {row['p50']} ms, p95 {row['p95']} ms")
        if answers["misses"]:
            print("missed:", "; ".join(answers["misses"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-answers", action="store_true", help="retrieval only (fast)")
    parser.add_argument("--latency-calls", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = asyncio.run(bench(args))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        show(report)


if __name__ == "__main__":
    main()
