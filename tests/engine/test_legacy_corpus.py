"""Every older export in ``../shared/real-flows`` (read in place) imports as flows of spec 13
and runs: the legacy ``action_sets`` files of export versions 3 to 11.12, and the spec 12 one."""

from __future__ import annotations

from pathlib import Path

import pytest

from sutra.engine import events as ev
from sutra.flows import parse_flow_file, read_flow_file

from .flowkit import REAL_FLOWS, Chat

pytestmark = pytest.mark.skipif(
    not REAL_FLOWS.is_dir(), reason=f"the shared real flows are not at {REAL_FLOWS}"
)


def older_exports() -> list[Path]:
    if not REAL_FLOWS.is_dir():
        return []
    return sorted(
        path
        for path in REAL_FLOWS.rglob("*.json")
        if '"action_sets"' in (text := path.read_text(encoding="utf-8"))
        or '"spec_version": "12.' in text
    )


OLDER = older_exports()


def test_the_older_exports_are_there() -> None:
    legacy = [path for path in OLDER if '"action_sets"' in path.read_text(encoding="utf-8")]
    assert len(legacy) >= 57, f"expected the legacy exports in {REAL_FLOWS}"
    assert REAL_FLOWS / "other/surveyor_api_v2_definitions_get_v12.json" in OLDER


@pytest.mark.parametrize("path", OLDER, ids=lambda path: str(path.relative_to(REAL_FLOWS)))
def test_older_export_imports_as_current_flows_and_runs(path: Path) -> None:
    loaded = read_flow_file(path)

    assert loaded.flows
    for flow in loaded.flows:
        definition = flow.definition
        assert "action_sets" not in definition and "nodes" in definition, flow.path
        assert definition["spec_version"].split(".")[0] in ("13", "14"), flow.path
        # What is stored is what loads the next time: the migrated definition on its own.
        assert parse_flow_file(definition).flows[0].flow.uuid == flow.flow.uuid
    # The same file migrates to the same flows, so importing it again changes nothing.
    assert [f.definition for f in read_flow_file(path).flows] == [
        f.definition for f in loaded.flows
    ]

    for flow in loaded.flows:
        chat = Chat(*(f.flow for f in loaded.flows))
        chat.start(flow.flow.uuid)
        seen = list(chat.events)
        for answer in ("yes", "12", "red"):
            wait = chat.state.wait
            if chat.state.status != "waiting" or wait is None or wait.kind != "msg":
                break
            chat.say(answer)
            seen += chat.events
        failures = [event.text for event in seen if isinstance(event, ev.Failure)]
        assert not failures, f"{flow.flow.name}: {failures}"
