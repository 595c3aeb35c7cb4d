"""``sutra assistant``: create assistants, add documents (with a progress bar), ask them.

Runs on the migrated database of ``SUTRA_DATABASE_URL``, for the default organisation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from sutra.assistants.store import Assistants

ORGANIZATION = 1
T = TypeVar("T")

assistant_app = typer.Typer(
    help="Assistants that answer from an organisation's documents (filesearch-gpt).",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True)


def _die(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _run(work: Callable[[Assistants], Awaitable[T]]) -> T:
    from sutra.assistants.store import AssistantError, Assistants
    from sutra.store.db import create_async_engine_for, create_session_factory, migrate

    async def run() -> T:
        await asyncio.to_thread(migrate)
        engine = create_async_engine_for()
        try:
            return await work(Assistants(create_session_factory(engine), ORGANIZATION))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except AssistantError as exc:
        raise _die(exc.reason) from None


@assistant_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="What staff call it")],
    instructions: Annotated[str, typer.Option(help="The system prompt")] = "",
    model: Annotated[str, typer.Option(help="The chat model")] = "gpt-4o-mini",
    temperature: Annotated[float, typer.Option(min=0, max=2)] = 0.0,
    dont_know: Annotated[
        str | None, typer.Option(help="The answer when the documents do not cover a question")
    ] = None,
    key: Annotated[
        str | None, typer.Option("--id", help="Its id in flows (keep a Glific flow's asst_…)")
    ] = None,
) -> None:
    """Create an assistant; prints the id flows name in filesearch-gpt's assistant_id."""
    created = _run(
        lambda assistants: assistants.create(
            name,
            instructions=instructions,
            model=model,
            temperature=temperature,
            dont_know=dont_know,
            key=key,
        )
    )
    out.print(f"created assistant {created.key} ({created.name})", highlight=False)


@assistant_app.command("update")
def update(
    key: Annotated[str, typer.Argument(help="The assistant's id")],
    name: Annotated[str | None, typer.Option(help="A new name")] = None,
    instructions: Annotated[str | None, typer.Option(help="The system prompt")] = None,
    model: Annotated[str | None, typer.Option(help="The chat model")] = None,
    temperature: Annotated[float | None, typer.Option(min=0, max=2)] = None,
    dont_know: Annotated[
        str | None, typer.Option(help="The answer when the documents do not cover a question")
    ] = None,
    live: Annotated[bool, typer.Option(help="Make the new version the one flows use")] = False,
) -> None:
    """Change an assistant: a new version with the changes (live at once with --live)."""

    updated = _run(
        lambda assistants: assistants.update(
            key,
            name=name,
            instructions=instructions,
            model=model,
            temperature=temperature,
            dont_know=dont_know,
            make_live=live,
        )
    )
    live_number = updated.live.number if updated.live else None
    out.print(
        f"assistant {updated.key}: {updated.versions} versions, live version {live_number}",
        highlight=False,
    )


@assistant_app.command("list")
def list_assistants() -> None:
    """The assistants, their live version and how many documents they have."""
    found = _run(lambda assistants: assistants.list())
    table = Table("id", "name", "model", "live version", "documents")
    for item in found:
        live = item.live
        table.add_row(
            item.key,
            item.name,
            live.model if live else "",
            f"{live.number} of {item.versions}" if live else "none",
            str(item.documents),
        )
    out.print(table)


@assistant_app.command("add-doc")
def add_doc(
    key: Annotated[str, typer.Argument(help="The assistant's id")],
    files: Annotated[list[Path], typer.Argument(help="PDF, DOCX, XLSX, CSV, HTML, MD or TXT")],
) -> None:
    """Add documents to an assistant's knowledge base (text extracted, cut, embedded)."""
    from sutra.assistants.indexing import add_document

    for path in files:
        if not path.is_file():
            raise _die(f"no file {path}")

    async def add(assistants: Assistants) -> list[Any]:
        added = []
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=out,
            transient=not out.is_terminal,
        ) as bar:
            for path in files:
                task = bar.add_task(f"{path.name}: reading", total=1)

                def progress(
                    stage: str, done: int, total: int, task: Any = task, name: str = path.name
                ) -> None:
                    bar.update(task, description=f"{name}: {stage}", completed=done, total=total)

                data = await asyncio.to_thread(path.read_bytes)
                document = await add_document(assistants, key, path.name, data, progress=progress)
                added.append(document)
        return added

    for document in _run(add):
        vectors = "with vectors" if document.vectors else f"words only ({document.embedding_error})"
        pages = f", {document.pages} pages" if document.pages else ""
        out.print(
            f"added {document.name} (document {document.id}{pages}): "
            f"{document.chunks} passages, {vectors}",
            highlight=False,
        )


@assistant_app.command("ask")
def ask(
    key: Annotated[str, typer.Argument(help="The assistant's id")],
    question: Annotated[str, typer.Argument(help="The question")],
    thread: Annotated[str | None, typer.Option(help="Continue this conversation")] = None,
    retrieval: Annotated[str, typer.Option(help="hybrid, lexical or vector")] = "hybrid",
    passages: Annotated[bool, typer.Option(help="Show the passages used")] = False,
) -> None:
    """Ask an assistant (its live version) a question; prints the answer and its sources."""
    from sutra.assistants.answer import ask as answer
    from sutra.assistants.retrieval import MODES
    from sutra.config import get_settings
    from sutra.functions.filesearch import new_thread_id
    from sutra.functions.registry import FunctionCall, FunctionError
    from sutra.functions.services import Services
    from sutra.llm.memory import Memory

    if retrieval not in MODES:
        raise _die(f"--retrieval should be one of {', '.join(MODES)}")
    thread_id = thread or new_thread_id(key)

    async def work(assistants: Assistants) -> Any:
        config = get_settings()
        memory = Memory(
            assistants.db, max_turns=config.llm_memory_turns, max_tokens=config.llm_memory_tokens
        )
        call = FunctionCall(
            fields={"organization_id": assistants.org}, services=Services(db=assistants.db)
        )
        step = answer(
            call,
            assistants,
            key,
            question,
            function="assistant:ask",
            thread=memory.thread(
                organization_id=assistants.org, contact_id=None, thread_id=thread_id
            ),
            mode=retrieval,  # type: ignore[arg-type]
        )
        try:
            if not out.is_terminal:
                return await step
            with out.status("thinking…", spinner="dots"):
                return await step
        except FunctionError as exc:
            raise _die(exc.reason) from None

    answered = _run(work)
    out.print(answered.message, highlight=False, markup=False)
    if passages:
        for n, hit in enumerate(answered.passages, start=1):
            out.print(f"\n[{n}] {hit.source} — {hit.section}", highlight=False, markup=False)
            out.print(hit.text, highlight=False, markup=False, style="dim")
    err.print(f"thread: {thread_id}", highlight=False)
