"""``sutra templates ...``: the WhatsApp message templates of an organisation, from the shell.

``sutra templates sync`` fetches them from the organisation's WhatsApp Business Account (its
``whatsapp_business_account_id`` and access token; the default organisation's may be the
environment's ``WHATSAPP_BUSINESS_ACCOUNT_ID`` / ``WHATSAPP_ACCESS_TOKEN``), with a progress
bar; ``sutra templates list`` shows what is stored.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from sutra.orgs import DEFAULT_ORG
from sutra.orgs.cli import _run as run_sessions
from sutra.orgs.cli import err

templates_app = typer.Typer(
    help="WhatsApp message templates (HSM) of an organisation.", no_args_is_help=True
)
out = Console()
Org = Annotated[int, typer.Option(help="The organisation (its id: sutra org list)")]


def _run(work: Any) -> Any:
    from sutra.channels.templates import TemplateError

    return run_sessions(work, (TemplateError,))


@templates_app.command("sync")
def templates_sync(org: Org = DEFAULT_ORG) -> None:
    """Fetch the templates from the WhatsApp Business Account and store them."""
    from sutra.config import ServerSettings
    from sutra.web import templatestore

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("[bold]{task.completed}[/bold] templates"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )

    async def work(sessions: Any) -> templatestore.SyncResult:
        with progress:
            task = progress.add_task("fetching from WhatsApp", total=None)
            return await templatestore.sync(
                sessions,
                org,
                ServerSettings(),
                progress=lambda count: progress.update(task, completed=count),
            )

    result = _run(work)
    removed = f", {result.removed} removed" if result.removed else ""
    out.print(
        f"synced {result.templates} templates ({result.approved} approved{removed})",
        highlight=False,
    )


@templates_app.command("list")
def templates_list(org: Org = DEFAULT_ORG) -> None:
    """The stored templates: name, language, status, variables, body."""
    from sutra.web import templatestore

    rows = _run(lambda sessions: templatestore.list_templates(sessions, org))
    table = Table("name", "language", "status", "variables")
    table.add_column("body", overflow="fold")
    for row in rows:
        table.add_row(row.name, row.language, row.status, str(row.variables), row.body)
    out.print(table)
