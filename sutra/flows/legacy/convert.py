"""An 11.12 legacy flow (action sets and rule sets) as a flow definition of spec 13.

An action set becomes a node with its actions and one exit; a rule set a node with a router;
``destination`` uuids become the exits' destinations. The entry node comes first and the others
follow in the order they are laid out (top to bottom, left to right), which is how the editor
shows them. Positions go to ``_ui`` so the flow opens in the editor as it was drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sutra.flows.legacy.actions import migrate_action
from sutra.flows.legacy.common import Localization, Notes, list_of, stable_uuid, text_of, texts
from sutra.flows.legacy.routers import migrate_rule_set

SPEC_VERSION = "13.0.0"
_FLOW_TYPES = {
    "F": "messaging",
    "M": "messaging",
    "U": "messaging",
    "V": "voice",
    "S": "messaging_offline",
}
_DEFAULT_EXPIRY = 10080


@dataclass
class _Placed:
    """A migrated node, where it was drawn, and where it came from in the file."""

    node: dict[str, Any]
    x: int
    y: int
    ui_type: str
    path: str


def convert_flow(flow: dict[str, Any], notes: Notes, where: str) -> dict[str, Any]:
    """The definition of spec 13 that ``flow`` (upgraded to the 11.12 shape) migrates to."""
    base = text_of(flow.get("base_language")) or "base"
    metadata = flow["metadata"]
    localization = Localization()
    placed: list[_Placed] = []
    for index, action_set in enumerate(flow["action_sets"]):
        node = {
            "uuid": action_set["uuid"],
            "actions": [migrate_action(a, base, localization) for a in action_set["actions"]],
            "exits": [
                {
                    "uuid": action_set["exit_uuid"],
                    "destination_uuid": text_of(action_set.get("destination")) or None,
                }
            ],
        }
        path = f"{where}.action_sets[{index}]"
        placed.append(_Placed(node, action_set["x"], action_set["y"], "execute_actions", path))
    for index, rule_set in enumerate(flow["rule_sets"]):
        path = f"{where}.rule_sets[{index}]"
        node, ui_type = migrate_rule_set(rule_set, base, localization, notes, path)
        placed.append(_Placed(node, rule_set["x"], rule_set["y"], ui_type, path))
    entry = text_of(flow.get("entry"))
    placed.sort(key=lambda item: (item.node["uuid"] != entry, item.y, item.x))
    _drop_dangling(placed, notes)
    expires = metadata.get("expires")
    definition: dict[str, Any] = {
        "uuid": metadata["uuid"],
        "name": text_of(metadata.get("name")).strip() or "Untitled flow",
        "spec_version": SPEC_VERSION,
        "language": base,
        "type": _FLOW_TYPES.get(text_of(flow.get("flow_type")), "messaging"),
        # A legacy 0 (or nothing) meant the default; Sutra would expire at once.
        "expire_after_minutes": expires
        if isinstance(expires, int) and expires > 0
        else _DEFAULT_EXPIRY,
        "localization": localization.languages,
        "nodes": [item.node for item in placed],
        "_ui": {
            "nodes": {
                item.node["uuid"]: {
                    "position": {"left": item.x, "top": item.y},
                    "type": item.ui_type,
                }
                for item in placed
            },
            "stickies": _stickies(metadata, base),
        },
    }
    revision = metadata.get("revision")
    if isinstance(revision, int):
        definition["revision"] = revision
    return definition


def _drop_dangling(placed: list[_Placed], notes: Notes) -> None:
    """A destination that is not in the flow ends it there, as the old engine did."""
    uuids = {item.node["uuid"] for item in placed}
    for item in placed:
        for exit_ in item.node["exits"]:
            destination = exit_["destination_uuid"]
            if destination is not None and destination not in uuids:
                notes.warn(
                    item.path,
                    f'destination "{destination}" is not in this flow; the flow ends there',
                )
                exit_["destination_uuid"] = None


def _stickies(metadata: dict[str, Any], base: str) -> dict[str, Any]:
    stickies = {}
    for index, note in enumerate(list_of(metadata.get("notes"))):
        if isinstance(note, dict):
            stickies[stable_uuid(metadata["uuid"], "note", index)] = {
                "position": {"left": note.get("x", 0), "top": note.get("y", 0)},
                "title": texts(note.get("title"), base).base,
                "body": texts(note.get("body"), base).base,
                "color": "yellow",
            }
    return stickies
