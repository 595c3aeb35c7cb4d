"""``sutra org ...``: the platform administrator's commands (whoever runs the server's shell).

The settings an organisation's own administrators change on its settings page can be set here
too (``sutra org set``), so a hosting partner can prepare an organisation before handing it
over; secrets are read from the environment or a prompt, never from the command line.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from sutra.orgs import PLAIN, SECRETS

# The store (SQLAlchemy) and the settings' checks (pydantic) are imported by the commands.
if TYPE_CHECKING:
    from sutra.orgs import store

org_app = typer.Typer(help="Organisations (NGOs) served by this install.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _die(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(2)


def _run(work: Any, errors: tuple[type[Exception], ...] = ()) -> Any:
    """``work(sessions)`` against the migrated database; an organisation's error, or any of
    ``errors``, ends the command with its message (exit status 2)."""
    from sutra.orgs.store import OrgError
    from sutra.store.db import create_async_engine_for, create_session_factory, migrate

    async def run() -> Any:
        await asyncio.to_thread(migrate)
        engine = create_async_engine_for()
        try:
            return await work(create_session_factory(engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except (OrgError, *errors) as exc:
        raise _die(str(exc)) from None


@org_app.command("create")
def org_create(
    name: Annotated[str, typer.Argument(help="The organisation's name")],
    timezone: Annotated[str, typer.Option(help="Its time zone, e.g. Asia/Kolkata")] = "UTC",
    admin: Annotated[
        str | None,
        typer.Option(help="Email of its first administrator (password: SUTRA_PASSWORD)"),
    ] = None,
) -> None:
    """Create an organisation, optionally with its first administrator."""
    from pydantic import ValidationError

    from sutra.orgs import store
    from sutra.orgs.settings import SettingsUpdate

    try:
        SettingsUpdate(name=name, timezone=timezone)
    except ValidationError as exc:
        raise _die(exc.errors()[0]["msg"]) from None
    password = os.environ.get("SUTRA_PASSWORD") if admin else None

    async def work(sessions: store.Sessions) -> Any:
        if admin:  # before the organisation is made: a refusal leaves none behind
            await store.check_first_admin(
                sessions, admin, password, fields=("--admin", "SUTRA_PASSWORD")
            )
        org = await store.create_org(sessions, name, timezone=timezone)
        if admin:
            await store.add_member(sessions, org.id, admin, "admin", password=password)
        return org

    org = _run(work)
    who = f", administrator {admin.strip().lower()}" if admin else ""
    out.print(f"created organisation {org.id} ({org.name}){who}", highlight=False)


@org_app.command("list")
def org_list() -> None:
    """Every organisation: active or not, staff, contacts, WhatsApp number."""
    from sutra.orgs import store

    rows = _run(store.list_orgs)
    table = Table("id", "name", "time zone", "active", "staff", "contacts", "WhatsApp number id")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["name"],
            row["timezone"],
            "yes" if row["active"] else "no",
            str(row["staff"]),
            str(row["contacts"]),
            row["whatsapp_phone_number_id"] or "",
        )
    out.print(table)


@org_app.command("disable")
def org_disable(
    organization_id: Annotated[int, typer.Argument(help="The organisation's id")],
    enable: Annotated[bool, typer.Option("--enable", help="Serve it again")] = False,
) -> None:
    """Stop serving an organisation: its webhooks, tokens and staff sessions are refused."""
    from sutra.orgs import store

    org = _run(lambda sessions: store.set_active(sessions, organization_id, enable))
    out.print(
        f"organisation {org.id} ({org.name}) {'enabled' if enable else 'disabled'}",
        highlight=False,
    )


@org_app.command("set")
def org_set(
    organization_id: Annotated[int, typer.Argument(help="The organisation's id")],
    pairs: Annotated[
        list[str],
        typer.Argument(help=f"KEY=VALUE; keys: name, timezone, {', '.join(PLAIN)}"),
    ],
    secret: Annotated[
        list[str],
        typer.Option(
            "--secret",
            help=f"A secret to set from the environment variable of its name in capitals "
            f"({', '.join(SECRETS)}), or the prompt",
        ),
    ] = [],  # noqa: B006 - typer reads the default; it is never mutated
) -> None:
    """Change an organisation's settings (an empty VALUE clears one)."""
    from pydantic import ValidationError

    from sutra.orgs import store
    from sutra.orgs.settings import SettingsUpdate

    given: dict[str, Any] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq:
            raise _die(f"{pair!r}: write KEY=VALUE")
        given[key.strip()] = value
    for key in secret:
        value = os.environ.get(key.upper())
        if value is None:
            if not sys.stdin.isatty():
                raise _die(f"{key}: set the environment variable {key.upper()}")
            value = typer.prompt(key, hide_input=True)
        given[key] = value
    try:
        update = SettingsUpdate.model_validate(given)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise _die(f"{where}: {first['msg']}") from None
    reserved = os.environ.get("WHATSAPP_PHONE_NUMBER_ID")
    _run(
        lambda sessions: store.update_settings(
            sessions, organization_id, update, reserved_whatsapp=reserved
        )
    )
    out.print(f"organisation {organization_id}: {', '.join(sorted(given))} set", highlight=False)
