"""Legacy RapidPro exports (``../shared/real-flows``, read in place) through the CLI: ``sutra
import`` migrates and stores them, ``sutra simulate`` runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from sutra.flows import read_flow_file

from .helpers import REPO_ROOT, run_cli, simulate

REAL_FLOWS = REPO_ROOT.parent / "shared" / "real-flows"

pytestmark = pytest.mark.skipif(
    not REAL_FLOWS.is_dir(), reason=f"the shared real flows are not at {REAL_FLOWS}"
)


def test_import_stores_every_flow_of_a_version_3_export(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    path = REAL_FLOWS / "rapidpro-2019/the_clinic.json"

    done = run_cli("import", path, env=cli_env, cwd=tmp_path)
    again = run_cli("import", path, env=cli_env, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    flows = read_flow_file(path).flows
    assert len(flows) == 8
    for loaded in flows:
        # A version 3 export has no flow uuids: the migration makes them, the same each time.
        assert loaded.flow.uuid in done.stdout
    # The email the survey sends is migrated to an action Sutra runs: no warning names it.
    assert "send_email" not in done.stderr
    # Migrating the same file again gives the same flows: nothing new to store.
    assert again.stdout.count("(unchanged)") == 8, again.stdout


def test_simulate_runs_a_legacy_flow(tmp_path: Path, cli_env: dict[str, str]) -> None:
    run = simulate(
        REAL_FLOWS / "rapidpro-legacy/favorites.json",
        "green",
        env=cli_env,
        cwd=tmp_path,
    )

    assert run.returncode == 0, run.explain()
    assert run.messages == [
        "What is your favorite color?",
        "Good choice, I like Green too! What is your favorite beer?",
    ]
    assert run.results["color"]["category"] == "Green"
