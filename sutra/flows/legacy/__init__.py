"""Older exports, migrated on import as RapidPro migrates them, instead of refused.

Two kinds of old file are read:

* the legacy format of RapidPro and TextIt (export versions 3 to 11.12): ``action_sets`` and
  ``rule_sets`` instead of nodes, ``@flow.x`` instead of ``@results.x``. Each flow is first
  brought to the last legacy shape (:mod:`.shapes`), then converted to a definition of spec 13
  (:mod:`.convert`, with :mod:`.actions`, :mod:`.routers` and :mod:`.expressions`);
* definitions of spec 11 and 12, which have nodes but no categories (:mod:`.spec12`).

Everything else passes through untouched. What the migration had to leave out is a warning;
what it could not read at all is an error, both named by their path in the file as it came.

>>> upgraded = upgrade_file({"version": "11.12", "flows": [{
...     "base_language": "eng", "flow_type": "M", "entry": "a1",
...     "metadata": {"uuid": "f1", "name": "Hello"},
...     "action_sets": [{"uuid": "a1", "x": 0, "y": 0, "exit_uuid": "e1", "destination": None,
...         "actions": [{"type": "reply", "uuid": "r1", "msg": {"eng": "Hi @contact.name"}}]}],
...     "rule_sets": []}]})
>>> [flow] = upgraded.data["flows"]
>>> flow["name"], flow["spec_version"], flow["nodes"][0]["actions"][0]["text"]
('Hello', '13.0.0', 'Hi @contact.name')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sutra.flows.legacy.common import Notes
from sutra.flows.legacy.convert import convert_flow
from sutra.flows.legacy.shapes import FlowRefs, Legacy, flow_uuid, unwrap, upgrade, version_of
from sutra.flows.legacy.spec12 import is_old_definition, upgrade_definition
from sutra.flows.validate import FlowIssue

__all__ = ["Upgrade", "is_legacy_flow", "upgrade_file"]


@dataclass
class Upgrade:
    """A file in today's format (the same object when nothing was old)."""

    data: Any
    warnings: list[FlowIssue] = field(default_factory=list)
    errors: list[FlowIssue] = field(default_factory=list)
    migrated: int = 0


def is_legacy_flow(value: Any) -> bool:
    """A flow in the legacy format: action sets and rule sets, maybe under ``"definition"``."""
    if not isinstance(value, dict):
        return False
    nested = value.get("definition")
    if isinstance(nested, dict) and "nodes" not in nested:
        value = nested
    return "nodes" not in value and ("action_sets" in value or "rule_sets" in value)


def upgrade_file(data: Any) -> Upgrade:
    """``data`` (decoded JSON of a flow file) with every old flow in it migrated."""
    notes = Notes()
    if isinstance(data, dict) and isinstance(data.get("flows"), list):
        flows = data["flows"]
        if not any(is_legacy_flow(item) or is_old_definition(item) for item in flows):
            return Upgrade(data)
        file_version = version_of(data.get("version"))
        refs = _references(flows, file_version)
        migrated = [
            _migrate(item, f"flows[{index}]", file_version, refs, notes)
            for index, item in enumerate(flows)
        ]
        count = sum(1 for item in flows if is_legacy_flow(item) or is_old_definition(item))
        return Upgrade({**data, "flows": migrated}, notes.warnings, notes.errors, count)
    if is_legacy_flow(data) or is_old_definition(data):
        version = version_of(data.get("version"))
        migrated_one = _migrate(data, "", version, _references([data], version), notes)
        return Upgrade(migrated_one, notes.warnings, notes.errors, 1)
    return Upgrade(data)


def _references(flows: list[Any], file_version: Any) -> FlowRefs:
    """Every legacy flow's uuid by its database id and name, for references between them."""
    refs = FlowRefs()
    for item in flows:
        if not is_legacy_flow(item):
            continue
        flow, _ = unwrap(item, file_version)
        metadata = flow.get("metadata") if isinstance(flow.get("metadata"), dict) else {}
        uuid = flow_uuid(flow, refs)
        if metadata.get("id") is not None:
            refs.by_id[str(metadata["id"])] = uuid
        if metadata.get("name"):
            refs.by_name[str(metadata["name"]).lower()] = uuid
    return refs


def _migrate(item: Any, where: str, file_version: Any, refs: FlowRefs, notes: Notes) -> Any:
    if is_old_definition(item):
        return upgrade_definition(item, notes, where)
    if not is_legacy_flow(item):
        return item
    flow, version = unwrap(item, file_version)
    nested = isinstance(item.get("definition"), dict)
    legacy = Legacy(flow, version, f"{where}.definition" if nested else where, notes, refs)
    try:
        upgrade(legacy)
        return convert_flow(legacy.flow, notes, legacy.where)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # A legacy file can hold anything: a part we cannot read refuses the file, by its path.
        notes.error(legacy.where, f"cannot migrate this legacy flow: {exc!r}")
        return item
