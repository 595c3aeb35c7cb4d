"""``sutra import --org N``: a platform administrator imports a flow into one organisation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sutra.cli import app
from sutra.store.db import create_async_engine_for, create_session_factory
from sutra.store.repository import Repository

ROOT = Path(__file__).resolve().parents[2]
FLOW = ROOT / "examples" / "ask_gpt.json"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("SUTRA_LOG_LEVEL", raising=False)
    url = f"sqlite:///{tmp_path / 'sutra.db'}"
    monkeypatch.setenv("SUTRA_DATABASE_URL", url)
    return url


def _flow_names(url: str, org: int) -> list[str]:
    async def names() -> list[str]:
        engine = create_async_engine_for(url)
        try:
            repo = Repository(create_session_factory(engine), org)
            return [flow.name for flow in (await repo.load_flows()).values()]
        finally:
            await engine.dispose()

    return asyncio.run(names())


def test_import_into_another_organisation(database: str) -> None:
    runner = CliRunner()
    made = runner.invoke(app, ["org", "create", "Second NGO"])
    assert made.exit_code == 0, made.output
    done = runner.invoke(app, ["import", str(FLOW), "--org", "2"])
    assert done.exit_code == 0, done.output
    assert _flow_names(database, 2) == ["Ask GPT"]
    assert _flow_names(database, 1) == []

    missing = runner.invoke(app, ["import", str(FLOW), "--org", "9"])
    assert missing.exit_code != 0
    assert "--org: no organisation 9" in missing.output


def test_a_refused_first_administrator_leaves_no_organisation_behind(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    monkeypatch.delenv("SUTRA_PASSWORD", raising=False)
    refused = runner.invoke(app, ["org", "create", "Third NGO", "--admin", "New@NGO.org"])
    assert refused.exit_code == 2
    said = " ".join(refused.output.split())
    assert "SUTRA_PASSWORD: new@ngo.org has no account yet; give a first password" in said
    assert "Third NGO" not in runner.invoke(app, ["org", "list"]).output

    monkeypatch.setenv("SUTRA_PASSWORD", "a long enough passphrase")
    made = runner.invoke(app, ["org", "create", "Third NGO", "--admin", "New@NGO.org"])
    assert made.exit_code == 0, made.output
    assert "administrator new@ngo.org" in made.output
    assert "Third NGO" in runner.invoke(app, ["org", "list"]).output
