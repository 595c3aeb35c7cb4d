"""``sutra`` starts without loading what the command does not use.

The suite and every shell run ``sutra`` as a new process, and the web stack, SQLAlchemy,
Alembic and the HTTP clients take seconds of CPU to import. Each command imports its own
needs; these tests keep it so, by the modules a run leaves loaded (never by timings).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sutra.store.db import migrate

ROOT = Path(__file__).resolve().parents[1]
FLOW = ROOT / "examples" / "ask_gpt.json"

# What a command that reads no database and calls no service has no use for (pydantic is not
# here: typer checks parameters with it).
HEAVY = (
    "sqlalchemy",
    "alembic",
    "fastapi",
    "starlette",
    "uvicorn",
    "aiohttp",
    "httpx",
    "openai",
    "numpy",
    "jinja2",
    "sutra.engine",
    "sutra.store",
    "sutra.web.app",
)

# Runs the command line in this process, then reports the help it printed (each command's, to
# check that typer still resolves every parameter) and the modules left loaded.
_PROBE = """
import json, sys
import typer
from typer.testing import CliRunner
from sutra.cli import app

runner = CliRunner()
helps = {}
def walk(group, path):
    for name, command in group.commands.items():
        args = [*path, name]
        result = runner.invoke(app, [*args, "--help"])
        helps[" ".join(args)] = [result.exit_code, result.output]
        if hasattr(command, "commands"):
            walk(command, args)
top = runner.invoke(app, ["--help"])
helps[""] = [top.exit_code, top.output]
walk(typer.main.get_command(app), [])
print(json.dumps({"helps": helps, "modules": sorted(sys.modules)}))
"""


_RUN = """
import json, sys
from typer.testing import CliRunner
from sutra.cli import app

result = CliRunner().invoke(app, sys.argv[1:])
found = {"code": result.exit_code, "output": result.output, "modules": sorted(sys.modules)}
print(json.dumps(found))
"""


def _probe(script: str = _PROBE, *args: str, **env: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "TERM": "dumb", **env},
    )
    found: dict[str, object] = json.loads(done.stdout)
    return found


def _heavy(modules: list[str]) -> list[str]:
    return sorted(
        {m for m in modules for heavy in HEAVY if m == heavy or m.startswith(heavy + ".")}
    )


def test_every_commands_help_shows_without_loading_the_stack() -> None:
    found = _probe()
    helps = found["helps"]
    assert isinstance(helps, dict)
    # Every group and command, down to the sub-apps' (organisations, evaluations, templates).
    for name in ("", "simulate", "serve", "org set", "eval compare", "templates sync"):
        code, text = helps[name]
        assert code == 0, (name, text)
        assert "Usage:" in text, (name, text)
    assert "default_country" in helps["org set"][1]  # the settings' keys, named in its help
    assert "0.05" in helps["eval compare"][1]  # the default change that counts
    assert all(code == 0 for code, _ in helps.values()), helps
    modules = found["modules"]
    assert isinstance(modules, list)
    assert _heavy(modules) == []


def test_a_database_command_on_a_migrated_database_loads_neither_alembic_nor_the_web(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'sutra.db'}"
    migrate(url)
    found = _probe(_RUN, "org", "list", SUTRA_DATABASE_URL=url)
    assert found["code"] == 0, found["output"]
    assert "Default" in str(found["output"])
    modules = found["modules"]
    assert isinstance(modules, list)
    assert "sqlalchemy" in modules  # it did read the database
    store_and_engine = ("sqlalchemy", "sutra.store", "sutra.engine")
    assert [m for m in _heavy(modules) if not m.startswith(store_and_engine)] == []
