"""What ``sutra`` says about files it cannot use: one clear line on stderr (a line for each
problem, when there are several), exit status 2."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from .helpers import EXAMPLES, run_cli


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    [line] = lines
    assert line.startswith("error: "), line
    return line


def ask_gpt_with_unknown_case(tmp_path: Path) -> Path:
    data = json.loads((EXAMPLES / "ask_gpt.json").read_text(encoding="utf-8"))
    broken = copy.deepcopy(data)
    router = broken["flows"][0]["definition"]["nodes"][2]["router"]
    router["cases"][0]["type"] = "has_vibes"
    path = tmp_path / "unknown_case.json"
    path.write_text(json.dumps(broken), encoding="utf-8")
    return path


COMMANDS = {
    "simulate": ["simulate", "{file}", "--say", "hi", "--json"],
    "import": ["import", "{file}"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_missing_file(command: str, tmp_path: Path, cli_env: dict[str, str]) -> None:
    missing = tmp_path / "nowhere" / "flow.json"

    done = run_cli(
        *(arg.format(file=missing) for arg in COMMANDS[command]), env=cli_env, cwd=tmp_path
    )

    assert done.returncode == 2
    line = one_error_line(done.stderr)
    assert str(missing) in line
    assert "file not found" in line
    assert done.stdout == ""


@pytest.mark.parametrize("command", list(COMMANDS))
def test_file_that_is_not_json(command: str, tmp_path: Path, cli_env: dict[str, str]) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"flows": [\n  {"definition": {,}\n]}\n', encoding="utf-8")

    done = run_cli(*(arg.format(file=path) for arg in COMMANDS[command]), env=cli_env, cwd=tmp_path)

    assert done.returncode == 2
    line = one_error_line(done.stderr)
    assert "broken.json" in line
    assert "not valid JSON" in line
    assert "line 2" in line


@pytest.mark.parametrize("command", list(COMMANDS))
def test_flow_with_an_unknown_case_type_names_its_json_path(
    command: str, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    path = ask_gpt_with_unknown_case(tmp_path)

    done = run_cli(*(arg.format(file=path) for arg in COMMANDS[command]), env=cli_env, cwd=tmp_path)

    assert done.returncode == 2
    line = one_error_line(done.stderr)
    assert "flows[0].definition.nodes[2].router.cases[0].type" in line
    assert "has_vibes" in line
    # Nothing was stored.
    assert not (tmp_path / "cli.db").exists() or command == "simulate"


def test_flow_name_not_in_the_file(tmp_path: Path, cli_env: dict[str, str]) -> None:
    done = run_cli(
        "simulate",
        EXAMPLES / "survey_rapidpro.json",
        "--flow",
        "No Such Flow",
        "--say",
        "hi",
        env=cli_env,
        cwd=tmp_path,
    )

    assert done.returncode == 2
    line = one_error_line(done.stderr)
    assert "No Such Flow" in line
    # It names the flows the file does have.
    assert "Health Survey" in line and "Symptom Check" in line


def test_bad_contact_field(tmp_path: Path, cli_env: dict[str, str]) -> None:
    done = run_cli(
        "simulate",
        EXAMPLES / "survey_rapidpro.json",
        "--contact-field",
        "no-equals-sign",
        env=cli_env,
        cwd=tmp_path,
    )

    assert done.returncode == 2
    assert "KEY=VALUE" in one_error_line(done.stderr)


def test_not_a_flow_file(tmp_path: Path, cli_env: dict[str, str]) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2, 3]", encoding="utf-8")

    done = run_cli("simulate", path, env=cli_env, cwd=tmp_path)

    assert done.returncode == 2
    assert "not a flow file" in one_error_line(done.stderr)


def test_import_lists_every_problem(tmp_path: Path, cli_env: dict[str, str]) -> None:
    data = json.loads((EXAMPLES / "ask_gpt.json").read_text(encoding="utf-8"))
    router = data["flows"][0]["definition"]["nodes"][2]["router"]
    router["cases"][0]["type"] = "has_vibes"
    router["cases"].append({**router["cases"][0], "uuid": "7a1c0000-0000-4000-8000-0000000004ff"})
    router["cases"][1]["type"] = "has_moods"
    data["flows"][0]["definition"]["nodes"][0]["exits"][0]["destination_uuid"] = "nowhere"
    path = tmp_path / "three_problems.json"
    path.write_text(json.dumps(data), encoding="utf-8")

    done = run_cli("import", path, env=cli_env, cwd=tmp_path)

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error: ") and lines[0].endswith("3 problems"), lines
    assert "three_problems.json" in lines[0]
    assert any("has_vibes" in line for line in lines[1:])
    assert any("has_moods" in line for line in lines[1:])
    assert any("nowhere" in line for line in lines[1:])
    assert len(lines) == 4


def test_version(tmp_path: Path, cli_env: dict[str, str]) -> None:
    from sutra import __version__

    done = run_cli("--version", env=cli_env, cwd=tmp_path)

    assert done.returncode == 0
    assert done.stdout.strip() == f"sutra {__version__}"


def test_import_knows_the_sub_flows_imported_before(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    from tests.editor.test_editor_browser import _parent_flow
    from tests.web.test_simulator_api import tea_flow

    tea = tea_flow()
    parent = tmp_path / "parent.json"
    parent.write_text(json.dumps(_parent_flow(tea["uuid"])), encoding="utf-8")
    child = tmp_path / "tea.json"
    child.write_text(json.dumps(tea), encoding="utf-8")

    first = run_cli("import", parent, env=cli_env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert 'sub-flow "Tea"' in first.stderr
    assert run_cli("import", child, env=cli_env, cwd=tmp_path).returncode == 0
    again = run_cli("import", parent, env=cli_env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "sub-flow" not in again.stderr
    assert 'action "transfer_airtime" is not supported' in again.stderr
