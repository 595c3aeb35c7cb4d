"""``sutra eval run|show|compare`` against the loopback stub, on a SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sutra.cli import app

from .conftest import Bot, csv_of

QUESTIONS = [
    ("What is the capital of France?", "Paris is the capital of France.", "geography"),
    ("What is the capital of Kenya?", "Nairobi is the capital of Kenya.", "geography"),
    ("How many days are in a week?", "A week has seven days.", "time"),
]


@pytest.fixture
def cli(tmp_path: Path, llm_env: Bot, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SUTRA_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    (tmp_path / "golden.csv").write_text(csv_of(QUESTIONS))
    return CliRunner()


def test_run_prints_the_estimate_and_summary_and_fails_under_min_score(
    cli: CliRunner, tmp_path: Path, llm_env: Bot
) -> None:
    golden = str(tmp_path / "golden.csv")
    base = ["eval", "run", golden, "--prompt", "Answer briefly.", "--model", "gpt-4o-mini"]
    # The stub echoes the question: words shared with the answer, far from a good answer.
    failing = cli.invoke(app, [*base, "--min-score", "0.8"])

    assert failing.exit_code == 1, failing.output
    assert "Estimate (before the run)" in failing.output
    assert "mean score (judge)" in failing.output
    assert "under --min-score 0.8" in failing.output

    llm_env.answers = {q: a for q, a, _ in QUESTIONS}
    passing = cli.invoke(app, [*base, "--min-score", "0.8", "--golden-name", "golden"])
    assert passing.exit_code == 0, passing.output
    assert "geography" in passing.output and "3 / 3" in passing.output

    shown = cli.invoke(app, ["eval", "show", "2", "--csv", str(tmp_path / "run.csv")])
    assert shown.exit_code == 0, shown.output
    assert (tmp_path / "run.csv").read_text().count("\n") == 4

    compared = cli.invoke(app, ["eval", "compare", "1", "2"])
    assert compared.exit_code == 0, compared.output
    assert "3 improved, 0 regressed" in compared.output


def test_a_bad_golden_file_is_refused_with_its_row(cli: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\nWhat?,\n")

    done = cli.invoke(app, ["eval", "run", str(bad), "--model", "gpt-4o-mini"])

    assert done.exit_code == 2
    assert "row 2, column answer: is empty" in done.output


def test_max_cost_stops_a_run_before_it_starts(cli: CliRunner, tmp_path: Path) -> None:
    done = cli.invoke(
        app,
        ["eval", "run", str(tmp_path / "golden.csv"), "--model", "gpt-4o", "--max-cost", "0"],
    )

    assert done.exit_code == 2
    assert "over --max-cost" in done.output
