"""Reading flow files (contract section 1): the three formats, errors named by JSON path,
warnings for what Sutra skips, and every real Glific file."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from sutra.engine import events as ev
from sutra.flows import FlowFileError, parse_flow_file, read_flow_file

from .flowkit import GLIFIC_FLOWS, Chat, FlowBuilder, act, enter, send, set_result, webhook


def main_flow() -> dict[str, Any]:
    """Four nodes; the last one is a switch with two cases."""
    return (
        FlowBuilder("Main", "flow-main")
        .node("n0", send("Hi"), to="n1")
        .switch(
            "n1",
            cases=[("has_any_word", "yes", "Yes")],
            wait=True,
            result_name="Agree",
            to={"Yes": "n2", "Other": "n3"},
        )
        .node("n2", enter("flow-child", "Child"), to="n3")
        .switch(
            "n3",
            cases=[("has_number", [], "Number"), ("has_text", [], "Text")],
            wait=True,
            result_name="age",
        )
        .definition()
    )


def child_flow() -> dict[str, Any]:
    return FlowBuilder("Child", "flow-child").node("c0", send("in child")).definition()


def rapidpro(*flows: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "13",
        "site": "https://textit.com",
        "flows": list(flows),
        "fields": [{"key": "age_group", "name": "Age Group", "type": "text"}],
        "groups": [{"uuid": "g1", "name": "Farmers", "query": None}],
    }


def glific(*flows: tuple[dict[str, Any], list[str]]) -> dict[str, Any]:
    return {
        "flows": [{"definition": d, "keywords": k} for d, k in flows],
        "contact_field": ["age_group", "city"],
        "collections": ["Farmers", "Optin"],
        "interactive_templates": [],
    }


# --- formats -------------------------------------------------------------------------------------


def test_bare_definition() -> None:
    definition = main_flow()
    loaded = parse_flow_file(definition)
    assert loaded.format == "definition"
    [flow] = loaded.flows
    assert (flow.flow.uuid, flow.flow.name, len(flow.flow.nodes)) == ("flow-main", "Main", 4)
    assert flow.keywords == []
    assert flow.definition["_ui"] == definition["_ui"]
    # Its sub-flow is not in the file: a warning, not an error.
    assert [str(w) for w in loaded.warnings] == [
        'nodes[2].actions[0].flow: sub-flow "Child" (flow-child) is neither in this file nor '
        "imported already; import it too, or this step is skipped"
    ]
    # Imported already (the caller knows the flows stored): no warning.
    assert parse_flow_file(definition, known_flows={"flow-child"}).warnings == []


def test_glific_export_with_keywords_fields_and_groups() -> None:
    data = glific((main_flow(), ["hi", "start"]), (child_flow(), []))
    loaded = parse_flow_file(data)
    assert loaded.format == "glific"
    assert [(f.flow.name, f.keywords) for f in loaded.flows] == [
        ("Main", ["hi", "start"]),
        ("Child", []),
    ]
    assert [f["key"] for f in loaded.fields] == ["age_group", "city"]
    assert loaded.groups == ["Farmers", "Optin"]
    # The sub-flow travels in the same file, so nothing to warn about.
    assert loaded.warnings == []
    assert loaded.find("child").flow.uuid == "flow-child"
    assert loaded.find().flow.name == "Main"
    with pytest.raises(LookupError, match="no flow 'Nope'"):
        loaded.find("Nope")


def test_rapidpro_export_with_fields_and_groups() -> None:
    loaded = parse_flow_file(rapidpro(main_flow(), child_flow()))
    assert loaded.format == "rapidpro"
    assert [f.flow.uuid for f in loaded.flows] == ["flow-main", "flow-child"]
    assert loaded.fields == [{"key": "age_group", "name": "Age Group"}]
    assert loaded.groups == ["Farmers"]
    assert loaded.warnings == []


def test_ui_and_unknown_keys_are_kept_untouched() -> None:
    definition = main_flow()
    definition["_ui"]["stickies"] = {"s1": {"title": "Note", "body": "keep me"}}
    definition["nodes"][0]["custom"] = {"x": [1, 2]}
    original = copy.deepcopy(definition)
    loaded = parse_flow_file(definition).flows[0]
    assert loaded.definition == original
    assert loaded.definition["_ui"]["stickies"]["s1"]["body"] == "keep me"


def test_loaded_flow_runs() -> None:
    loaded = parse_flow_file(rapidpro(main_flow(), child_flow()))
    chat = Chat(*[f.flow for f in loaded.flows])
    assert chat.start() == ["Hi"]
    assert chat.say("yes") == ["in child"]
    assert chat.say("42") == []
    assert chat.results["age"]["category"] == "Number"


# --- errors, named by JSON path ------------------------------------------------------------------


def broken(change: Any) -> list[str]:
    """The errors for ``main_flow`` after ``change(definition)``, in a RapidPro export."""
    definition = main_flow()
    change(definition)
    with pytest.raises(FlowFileError) as caught:
        parse_flow_file(rapidpro(definition, child_flow()))
    return [str(issue) for issue in caught.value.issues]


def n(definition: dict[str, Any], index: int) -> dict[str, Any]:
    node: dict[str, Any] = definition["nodes"][index]
    return node


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: n(d, 3)["router"]["cases"][1].update(type="has_foo"),
            'flows[0].nodes[3].router.cases[1].type: unknown case type "has_foo"',
        ),
        (
            lambda d: n(d, 0)["exits"][0].update(destination_uuid="nowhere"),
            'flows[0].nodes[0].exits[0].destination_uuid: no node "nowhere" in this flow',
        ),
        (
            lambda d: n(d, 1)["router"]["categories"][1].update(exit_uuid="gone"),
            'flows[0].nodes[1].router.categories[1].exit_uuid: no exit "gone" in this node',
        ),
        (
            lambda d: n(d, 1)["router"]["cases"][0].update(category_uuid="cat-x"),
            'flows[0].nodes[1].router.cases[0].category_uuid: no category "cat-x" in this router',
        ),
        (
            lambda d: n(d, 1)["router"].update(default_category_uuid="cat-y"),
            'flows[0].nodes[1].router.default_category_uuid: no category "cat-y" in this router',
        ),
        (
            lambda d: n(d, 1)["router"].update(result_name="!!"),
            'flows[0].nodes[1].router.result_name: result name "!!" has no letters or digits',
        ),
        (
            lambda d: n(d, 0)["actions"].append(set_result("  ", "x")),
            "flows[0].nodes[0].actions[1].name: result name is empty",
        ),
        (
            lambda d: n(d, 0)["actions"].append(webhook(result_name="r" * 65)),
            "flows[0].nodes[0].actions[1].result_name: result name is longer than 64 characters",
        ),
        (
            lambda d: d["nodes"].append(copy.deepcopy(n(d, 0))),
            'flows[0].nodes[4].uuid: node uuid "n0" is used twice',
        ),
        (
            lambda d: n(d, 0)["actions"].append(act("call_webhook", method="GET")),
            "flows[0].nodes[0].actions[1].url: required field is missing",
        ),
        (
            lambda d: n(d, 2).pop("exits"),
            "flows[0].nodes[2].exits: required field is missing",
        ),
        (
            lambda d: d.pop("name"),
            "flows[0].name: required field is missing",
        ),
        (
            lambda d: n(d, 1)["router"]["categories"][0].pop("name"),
            "flows[0].nodes[1].router.categories[0].name: required field is missing",
        ),
        (
            lambda d: d.update(expire_after_minutes="soon"),
            "flows[0].expire_after_minutes: input should be a valid integer, unable to parse "
            'string as an integer (got "soon")',
        ),
        (
            lambda d: n(d, 1)["router"].update(type="loop"),
            "flows[0].nodes[1].router.type: input should be 'switch' or 'random'",
        ),
        (
            lambda d: n(d, 0)["actions"][0].update(quick_replies="Yes"),
            'flows[0].nodes[0].actions[0].quick_replies: input should be a valid list (got "Yes")',
        ),
        (
            lambda d: n(d, 1)["router"].update(
                wait={"type": "msg", "timeout": {"seconds": 0, "category_uuid": "n1-cat-0"}}
            ),
            "flows[0].nodes[1].router.wait.timeout.seconds: input should be greater than or "
            "equal to 1 (got 0)",
        ),
        (
            lambda d: n(d, 1)["router"].update(
                wait={"type": "msg", "timeout": {"seconds": 60, "category_uuid": "nope"}}
            ),
            'flows[0].nodes[1].router.wait.timeout.category_uuid: no category "nope" in this '
            "router",
        ),
    ],
)
def test_error_is_named_by_its_json_path(change: Any, expected: str) -> None:
    assert broken(change) == [expected]


def test_glific_paths_go_through_the_definition() -> None:
    definition = main_flow()
    definition["nodes"][3]["router"]["cases"][1]["type"] = "has_foo"
    with pytest.raises(FlowFileError) as caught:
        parse_flow_file(glific((child_flow(), []), (definition, ["go"])))
    assert [str(i) for i in caught.value.issues] == [
        'flows[1].definition.nodes[3].router.cases[1].type: unknown case type "has_foo"'
    ]


def test_bare_definition_paths_start_at_the_flow() -> None:
    definition = main_flow()
    definition["nodes"][0]["exits"][0]["destination_uuid"] = "nowhere"
    with pytest.raises(FlowFileError, match=r"^nodes\[0\]\.exits\[0\]\.destination_uuid: no node"):
        parse_flow_file(definition)


def test_every_problem_is_reported_at_once() -> None:
    def change(d: dict[str, Any]) -> None:
        n(d, 3)["router"]["cases"][1]["type"] = "has_foo"
        n(d, 0)["exits"][0]["destination_uuid"] = "nowhere"
        n(d, 1)["router"]["result_name"] = "?"

    issues = broken(change)
    assert len(issues) == 3
    definition = main_flow()
    change(definition)
    with pytest.raises(FlowFileError, match=r"\(and 2 more problems\)$"):
        parse_flow_file(rapidpro(definition))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([1, 2], "$: not a flow file"),
        ({"types": [], "root": []}, "$: not a flow file"),
        ({"version": "13", "flows": []}, "flows: the file holds no flows"),
        ({"version": "13", "flows": ["x"]}, "flows[0]: expected a flow definition object"),
        ({"flows": [{"definition": None, "keywords": []}]}, "flows[0].definition: expected"),
    ],
)
def test_not_a_flow_file(data: Any, expected: str) -> None:
    with pytest.raises(FlowFileError) as caught:
        parse_flow_file(data)
    assert str(caught.value).startswith(expected)


def test_read_flow_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(FlowFileError, match=r"missing\.json: \$: file not found"):
        read_flow_file(missing)
    bad = tmp_path / "bad.json"
    bad.write_text('{"nodes": [}', encoding="utf-8")
    with pytest.raises(FlowFileError, match=r"bad\.json: \$: not valid JSON: .* line 1 column 12"):
        read_flow_file(bad)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(rapidpro(main_flow(), child_flow())), encoding="utf-8")
    assert read_flow_file(good).flows[0].flow.name == "Main"


# --- warnings: what Sutra will skip --------------------------------------------------------------


def test_unknown_actions_cases_functions_and_sub_flows_are_warnings() -> None:
    definition = main_flow()
    definition["nodes"][0]["actions"] += [
        act("link_google_sheet", sheet="x"),
        webhook("no_such_function"),
    ]
    loaded = parse_flow_file(definition)
    assert [str(w) for w in loaded.warnings] == [
        'nodes[0].actions[1].type: action "link_google_sheet" is not supported; it will be skipped',
        'nodes[0].actions[2].url: unknown function "no_such_function"; '
        "the call will take the Failure branch",
        'nodes[2].actions[0].flow: sub-flow "Child" (flow-child) is neither in this file nor '
        "imported already; import it too, or this step is skipped",
    ]
    assert len(loaded.flows) == 1


# --- the real Glific files -----------------------------------------------------------------------

EDITOR_DATA = {"completion.json", "functions.json", "webhook.json"}
REAL_FILES = sorted(path.name for path in GLIFIC_FLOWS.glob("*.json"))


def test_the_real_glific_files_are_there() -> None:
    assert len(REAL_FILES) >= 20, f"expected Glific's sample flows in {GLIFIC_FLOWS}"
    assert set(REAL_FILES) >= EDITOR_DATA | {"direct_gpt.json", "survey.json"}


@pytest.mark.parametrize("name", sorted(EDITOR_DATA))
def test_editor_data_is_refused_with_a_clear_message(name: str) -> None:
    with pytest.raises(FlowFileError) as caught:
        read_flow_file(GLIFIC_FLOWS / name)
    message = str(caught.value)
    assert message.startswith(f"{GLIFIC_FLOWS / name}: $: not a flow file")
    assert 'with "nodes"' in message


@pytest.mark.parametrize("name", [name for name in REAL_FILES if name not in EDITOR_DATA])
def test_real_glific_flow_file_imports_and_starts(name: str) -> None:
    raw = json.loads((GLIFIC_FLOWS / name).read_text(encoding="utf-8"))
    loaded = read_flow_file(GLIFIC_FLOWS / name)
    assert loaded.format == ("glific" if "flows" in raw else "definition")
    definitions = [item["definition"] for item in raw["flows"]] if "flows" in raw else [raw]
    for flow, definition in zip(loaded.flows, definitions, strict=True):
        assert flow.definition.get("_ui") == definition.get("_ui")
        assert flow.flow.nodes
        chat = Chat(*[f.flow for f in loaded.flows])
        chat.start(flow.flow.uuid)
        assert chat.state.status in ("waiting", "completed"), chat.state.failure
        assert not chat.of_type(ev.Failure)


@pytest.mark.parametrize("version", ["9" * 5000, "9" * 5000 + ".1", "١٣.0"])
def test_a_spec_version_no_integer_reads_is_not_an_error(version: str) -> None:
    # int() refuses 4,300 digits with a ValueError that no import expected (a 500 once).
    flow = main_flow()
    flow["spec_version"] = version
    loaded = parse_flow_file(flow)
    assert [f.flow.name for f in loaded.flows] == ["Main"]
