"""``sutra user ...``: staff accounts from the command line."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sutra.cli import app
from sutra.store.db import create_async_engine_for, create_session_factory
from sutra.store.users import authenticate


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for key in ("SUTRA_PASSWORD", "SUTRA_LOG_LEVEL"):
        monkeypatch.delenv(key, raising=False)
    url = f"sqlite:///{tmp_path / 'sutra.db'}"
    monkeypatch.setenv("SUTRA_DATABASE_URL", url)
    return url


def _can_sign_in(url: str, email: str, password: str) -> bool:
    async def check() -> bool:
        engine = create_async_engine_for(url)
        try:
            return await authenticate(create_session_factory(engine), email, password) is not None
        finally:
            await engine.dispose()

    return asyncio.run(check())


def test_create_with_the_password_from_the_environment(database: str) -> None:
    runner = CliRunner()
    env = {"SUTRA_PASSWORD": "s3cret-pass-word"}
    result = runner.invoke(app, ["user", "create", "Asha@Example.org", "--name", "Asha"], env=env)
    assert result.exit_code == 0, result.output
    assert "created user asha@example.org" in result.output
    assert "s3cret-pass-word" not in result.output
    assert _can_sign_in(database, "asha@example.org", "s3cret-pass-word")
    assert not _can_sign_in(database, "asha@example.org", "wrong-password")

    again = runner.invoke(app, ["user", "create", "asha@example.org"], env=env)
    assert again.exit_code == 2
    assert "exists already" in again.output

    listed = runner.invoke(app, ["user", "list"])
    assert listed.exit_code == 0
    assert "asha@example.org" in listed.output and "Asha" in listed.output


def test_refuses_bad_input(database: str) -> None:
    runner = CliRunner()
    short = runner.invoke(app, ["user", "create", "a@b.org"], env={"SUTRA_PASSWORD": "short"})
    assert short.exit_code == 2
    assert "at least 8 characters" in short.output
    not_email = runner.invoke(
        app, ["user", "create", "asha"], env={"SUTRA_PASSWORD": "long-enough"}
    )
    assert not_email.exit_code == 2
    assert "not an email address" in not_email.output
    # No SUTRA_PASSWORD and no terminal to ask on (CliRunner's stdin is not a tty).
    no_password = runner.invoke(app, ["user", "create", "a@b.org"])
    assert no_password.exit_code == 2
    assert "SUTRA_PASSWORD" in no_password.output


def test_password_change_and_disable(database: str) -> None:
    runner = CliRunner()
    runner.invoke(app, ["user", "create", "ravi@example.org"], env={"SUTRA_PASSWORD": "first-pass"})
    changed = runner.invoke(
        app, ["user", "password", "ravi@example.org"], env={"SUTRA_PASSWORD": "second-pass"}
    )
    assert changed.exit_code == 0, changed.output
    assert _can_sign_in(database, "ravi@example.org", "second-pass")
    assert not _can_sign_in(database, "ravi@example.org", "first-pass")

    assert runner.invoke(app, ["user", "disable", "ravi@example.org"]).exit_code == 0
    assert not _can_sign_in(database, "ravi@example.org", "second-pass")
    assert runner.invoke(app, ["user", "disable", "ravi@example.org", "--enable"]).exit_code == 0
    assert _can_sign_in(database, "ravi@example.org", "second-pass")
    missing = runner.invoke(
        app, ["user", "password", "nobody@example.org"], env={"SUTRA_PASSWORD": "whatever-1"}
    )
    assert missing.exit_code == 2
