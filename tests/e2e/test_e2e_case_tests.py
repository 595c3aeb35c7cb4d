"""goflow's case tests through ``sutra simulate --json``, in the organisation's settings: its
default country (SUTRA_DEFAULT_COUNTRY), date format (SUTRA_DATE_FORMAT), number format
(SUTRA_DECIMAL_SYMBOL) and location hierarchy (SUTRA_LOCATIONS_FILE)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from .helpers import send_msg, simulate

INDIA = {
    "name": "India",
    "children": [
        {
            "name": "Maharashtra",
            "aliases": ["MH"],
            "children": [{"name": "Pune", "children": [{"name": "Kothrud"}]}],
        },
        {"name": "Karnataka", "children": [{"name": "Bengaluru Urban"}]},
    ],
}


def _id() -> str:
    return str(uuid.uuid4())


def question_flow(steps: list[tuple[str, str, list[str], str]]) -> dict[str, Any]:
    """A flow asking one question per step, each routed on one case: (question, case type,
    arguments, result name); then it says every result's value and category."""
    nodes: list[dict[str, Any]] = []
    ids = [_id() for _ in steps] + [_id()]
    for i, (question, kind, arguments, result) in enumerate(steps):
        matched, other = _id(), _id()
        exits = [{"uuid": _id(), "destination_uuid": ids[i + 1]} for _ in range(2)]
        nodes.append(
            {
                "uuid": ids[i],
                "actions": [send_msg(question)],
                "router": {
                    "type": "switch",
                    "operand": "@input.text",
                    "wait": {"type": "msg"},
                    "result_name": result,
                    "cases": [
                        {
                            "uuid": _id(),
                            "type": kind,
                            "arguments": arguments,
                            "category_uuid": matched,
                        }
                    ],
                    "categories": [
                        {"uuid": matched, "name": "Matched", "exit_uuid": exits[0]["uuid"]},
                        {"uuid": other, "name": "Other", "exit_uuid": exits[1]["uuid"]},
                    ],
                    "default_category_uuid": other,
                },
                "exits": exits,
            }
        )
    summary = " | ".join(f"{r}=@results.{r}.value ({'@'}results.{r}.category)" for *_, r in steps)
    nodes.append({"uuid": ids[-1], "actions": [send_msg(summary)], "exits": [{"uuid": _id()}]})
    return {
        "version": "13",
        "flows": [
            {
                "uuid": _id(),
                "name": "Case tests",
                "spec_version": "13.1.0",
                "language": "eng",
                "type": "messaging",
                "nodes": nodes,
            }
        ],
    }


def test_case_tests_use_the_organisation_settings(tmp_path: Path, cli_env: dict[str, str]) -> None:
    flow = tmp_path / "cases.json"
    flow.write_text(
        json.dumps(
            question_flow(
                [
                    ("How many children?", "has_number_between", ["1", "20"], "children"),
                    ("Your savings?", "has_number_gt", ["1000"], "savings"),
                    ("Your phone?", "has_phone", [], "phone"),
                    ("Your birthday?", "has_date_lt", ["today"], "born"),
                    ("Your state?", "has_state", [], "state"),
                    ("Your ward?", "has_ward", ["Pune", "Maharashtra"], "ward"),
                ]
            )
        )
    )
    places = tmp_path / "india.json"
    places.write_text(json.dumps(INDIA))
    env = {
        **cli_env,
        "SUTRA_DEFAULT_COUNTRY": "IN",
        "SUTRA_DATE_FORMAT": "MM-DD-YYYY",
        "SUTRA_DECIMAL_SYMBOL": ",",
        "SUTRA_LOCATIONS_FILE": str(places),
        "SUTRA_TIMEZONE": "Asia/Kolkata",
    }

    run = simulate(
        flow,
        "३ बच्चे",  # Devanagari digits
        "about 12.500,50 rupees",  # a decimal comma
        "call me on 098123 45678",  # a national number, in the default country
        "12/25/1990",  # month first
        "I live in mh",
        "kothrud!",
        env=env,
        cwd=tmp_path,
    )

    assert run.returncode == 0, run.explain()
    results = run.results
    assert {name: result["value"] for name, result in results.items()} == {
        "children": "3",
        "savings": "12500.5",
        "phone": "+919812345678",
        "born": results["born"]["value"],
        "state": "India > Maharashtra",
        "ward": "India > Maharashtra > Pune > Kothrud",
    }
    assert results["born"]["value"].startswith("1990-12-25T")
    assert results["born"]["value"].endswith("+05:30")
    assert {result["category"] for result in results.values()} == {"Matched"}


def test_a_case_that_cannot_be_decided_warns_and_routes_on(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    flow = tmp_path / "cases.json"
    flow.write_text(
        json.dumps(
            question_flow(
                [
                    ("Your state?", "has_state", [], "state"),
                    ("Your age?", "has_number_lt", ["@results.limit"], "age"),
                ]
            )
        )
    )

    run = simulate(flow, "Kigali", "12", env=cli_env, cwd=tmp_path)

    assert run.returncode == 0, run.explain()
    assert run.results["state"]["category"] == "Other"
    assert run.results["age"]["category"] == "Other"
    warnings = [event["text"] for event in run.of_type("warning")]
    assert any("has no locations (SUTRA_LOCATIONS_FILE)" in text for text in warnings), warnings
    assert any("is not a number" in text for text in warnings), warnings


def test_a_locations_file_that_is_not_one_is_named(tmp_path: Path, cli_env: dict[str, str]) -> None:
    flow = tmp_path / "cases.json"
    flow.write_text(json.dumps(question_flow([("Your state?", "has_state", [], "state")])))
    places = tmp_path / "places.json"
    places.write_text('{"name": "India", "children": [{"aliases": ["MH"]}]}')

    run = simulate(flow, "MH", env={**cli_env, "SUTRA_LOCATIONS_FILE": str(places)}, cwd=tmp_path)

    assert run.returncode != 0
    assert f"SUTRA_LOCATIONS_FILE ({places}): at children.0.name: Field required" in run.stderr
    assert "Traceback" not in run.stderr
