"""The example flows in ``examples/``: they load cleanly, open in the editor, and run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sutra.flows import read_flow_file
from sutra.testing.openai_server import OpenAIStubServer

from .helpers import EXAMPLES, run_cli, simulate

SURVEY = EXAMPLES / "survey_rapidpro.json"
EXAMPLE_FILES = sorted(p.name for p in EXAMPLES.glob("*.json"))


def definitions(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if "nodes" in data:
        return [data]
    return [item.get("definition", item) for item in data["flows"]]


def test_the_examples_are_there() -> None:
    assert {"ask_gpt.json", "gpt_json_definition.json", "survey_rapidpro.json"} <= set(
        EXAMPLE_FILES
    )


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_loads_without_warnings(name: str) -> None:
    flow_file = read_flow_file(EXAMPLES / name)

    assert flow_file.warnings == []
    expected_format = {
        "ask_gpt.json": "glific",
        "gpt_json_definition.json": "definition",
        "survey_rapidpro.json": "rapidpro",
    }.get(name)
    if expected_format:
        assert flow_file.format == expected_format


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_has_editor_positions_for_every_node(name: str) -> None:
    for definition in definitions(EXAMPLES / name):
        ui_nodes = definition["_ui"]["nodes"]
        for node in definition["nodes"]:
            position = ui_nodes[node["uuid"]]["position"]
            assert isinstance(position["left"], int) and isinstance(position["top"], int)
        # Every uuid in a file is unique (the editor keys everything by uuid).
        text = json.dumps(definition)
        uuids = [n["uuid"] for n in definition["nodes"]]
        assert len(uuids) == len(set(uuids))
        assert definition["uuid"] in text


def test_examples_import(tmp_path: Path, cli_env: dict[str, str]) -> None:
    for name in EXAMPLE_FILES:
        done = run_cli("import", EXAMPLES / name, env=cli_env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        for definition in definitions(EXAMPLES / name):
            assert definition["uuid"] in done.stdout


def test_survey_adult_feeling_unwell_goes_through_the_sub_flow(
    tmp_path: Path, cli_env: dict[str, str], openai_stub: OpenAIStubServer
) -> None:
    sim = simulate(
        SURVEY,
        "thirty",
        "I am 34",
        "I feel sick",
        "a bad cough",
        env=cli_env,
        cwd=tmp_path,
        extra=["--contact-name", "Asha"],
    )

    assert sim.returncode == 0, sim.explain()
    assert sim.messages == [
        "Hi Asha, welcome to the health survey! How old are you?",
        "Please reply with your age as a number, for example 34.",
        "How are you feeling today? Reply 1 for good, 2 for okay or 3 for unwell.",
        "Sorry to hear that. What is your main symptom? (fever, cough, headache...)",
        'Thank you. We noted "a bad cough" (Cough). A health worker will call you.',
        'Thank you, Asha! You are feeling Unwell (you said "I feel sick") '
        "and your age group is Adult.",
    ]
    assert [e["flow_name"] for e in sim.of_type("flow_entered")] == [
        "Health Survey",
        "Symptom Check",
    ]
    changed = {(e["key"], e["value"]) for e in sim.of_type("contact_field_changed")}
    assert changed == {("age_group", "Adult"), ("last_symptom", "Cough")}
    [groups] = sim.of_type("contact_groups_changed")
    assert groups["added"] == ["Survey Respondents"]
    assert sim.status == "completed"
    assert sim.results["age"]["category"] == "Adult"
    assert sim.results["feeling"]["category"] == "Unwell"


@pytest.mark.parametrize(
    ("age", "feeling", "age_group", "category"),
    [("15", "2", "Under 18", "Okay"), ("70", "great, thanks", "Adult", "Good")],
)
def test_survey_without_the_sub_flow(
    age: str,
    feeling: str,
    age_group: str,
    category: str,
    tmp_path: Path,
    cli_env: dict[str, str],
    openai_stub: OpenAIStubServer,
) -> None:
    sim = simulate(
        SURVEY,
        age,
        "hmm",
        feeling,
        env=cli_env,
        cwd=tmp_path,
        extra=["--contact-name", "Ravi"],
    )

    assert sim.returncode == 0, sim.explain()
    assert sim.messages[-2] == "Sorry, I did not get that. Please reply 1, 2 or 3."
    assert sim.messages[-1] == (
        f'Thank you, Ravi! You are feeling {category} (you said "{feeling}") '
        f"and your age group is {age_group}."
    )
    assert len(sim.of_type("flow_entered")) == 1
    assert sim.results["feeling"]["category"] == category
    assert sim.status == "completed"


def test_survey_sub_flow_runs_alone(
    tmp_path: Path, cli_env: dict[str, str], openai_stub: OpenAIStubServer
) -> None:
    sim = simulate(
        SURVEY, "high fever", env=cli_env, cwd=tmp_path, extra=["--flow", "Symptom Check"]
    )

    assert sim.returncode == 0, sim.explain()
    assert sim.messages[-1] == (
        'Thank you. We noted "high fever" (Fever). A health worker will call you.'
    )
    assert sim.results["symptom"]["category"] == "Fever"
