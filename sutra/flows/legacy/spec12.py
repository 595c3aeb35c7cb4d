"""Definitions of flow spec 11 and 12 (nodes already, but no categories) in the shape of 13.

Before 13 a router's cases pointed straight at exits, exits carried the category name
(``{"uuid", "destination_node_uuid", "name"}``), the default was an exit and the wait sat on the
node. Spec 13 put categories between cases and exits and moved the wait into the router; a
timeout became a category of its own.

>>> upgraded = upgrade_definition({"uuid": "f", "name": "F", "spec_version": "12.0.0", "nodes": [
...     {"uuid": "n", "wait": {"type": "msg"}, "router": {"type": "switch", "operand": "@input",
...      "default_exit_uuid": "e2", "cases": [{"uuid": "c", "type": "has_number",
...      "exit_uuid": "e1"}]}, "exits": [{"uuid": "e1", "name": "Number"},
...      {"uuid": "e2", "destination_node_uuid": "n", "name": "Other"}]}]}, Notes(), "")
>>> node = upgraded["nodes"][0]
>>> [c["name"] for c in node["router"]["categories"]], node["router"]["wait"], node["exits"][1]
(['Number', 'Other'], {'type': 'msg'}, {'uuid': 'e2', 'destination_uuid': 'n'})
"""

from __future__ import annotations

import copy
from typing import Any

from sutra.flows.legacy.common import Notes, list_of, stable_uuid, text_of
from sutra.flows.legacy.convert import SPEC_VERSION


def is_old_definition(definition: Any) -> bool:
    """Whether a definition with nodes is written in a spec before 13."""
    if not isinstance(definition, dict) or not isinstance(definition.get("nodes"), list):
        return False
    major = text_of(definition.get("spec_version")).split(".")[0]
    # ASCII and short: int() refuses 4,300 digits, and "١٣".isdigit() is true too.
    if major.isascii() and major.isdigit() and len(major) <= 6:
        return int(major) < 13
    return any(_old_node(node) for node in definition["nodes"])


def _old_node(node: Any) -> bool:
    if not isinstance(node, dict):
        return False
    router = node.get("router") if isinstance(node.get("router"), dict) else {}
    exits = node.get("exits") if isinstance(node.get("exits"), list) else []
    return (
        "wait" in node
        or "default_exit_uuid" in router
        or any(isinstance(e, dict) and "destination_node_uuid" in e for e in exits)
    )


def upgrade_definition(definition: dict[str, Any], notes: Notes, where: str) -> dict[str, Any]:
    """A copy of ``definition`` in the shape of spec 13."""
    upgraded = copy.deepcopy(definition)
    for index, node in enumerate(upgraded["nodes"]):
        if isinstance(node, dict):
            _upgrade_node(node, notes, f"{where}.nodes[{index}]" if where else f"nodes[{index}]")
    upgraded["spec_version"] = SPEC_VERSION
    return upgraded


def _upgrade_node(node: dict[str, Any], notes: Notes, where: str) -> None:
    exits = [e for e in list_of(node.get("exits")) if isinstance(e, dict)]
    names = {text_of(e.get("uuid")): text_of(e.get("name")) for e in exits}
    for exit_ in exits:
        if "destination_node_uuid" in exit_:
            exit_["destination_uuid"] = exit_.pop("destination_node_uuid")
        exit_.pop("name", None)
    node["exits"] = exits
    wait = node.pop("wait", None)
    router = node.get("router")
    if not isinstance(router, dict):
        if isinstance(wait, dict):
            notes.warn(f"{where}.wait", "a wait without a router is left out")
        return
    if "categories" in router:
        return
    node_uuid = text_of(node.get("uuid"))
    category_of = {uuid: stable_uuid(node_uuid, "category", uuid) for uuid in names}
    router["categories"] = [
        {"uuid": category_of[uuid], "name": name or "Other", "exit_uuid": uuid}
        for uuid, name in names.items()
    ]
    timeout_exit: str | None = None
    cases = []
    for case in list_of(router.get("cases")):
        if not isinstance(case, dict):
            continue
        exit_uuid = text_of(case.pop("exit_uuid", None))
        if case.get("type") == "has_wait_timed_out":
            timeout_exit = exit_uuid
            continue
        if exit_uuid in category_of:
            case["category_uuid"] = category_of[exit_uuid]
            cases.append(case)
        else:
            notes.warn(f"{where}.router.cases", f'a case leads to no exit "{exit_uuid}"; left out')
    router["cases"] = cases
    default = text_of(router.pop("default_exit_uuid", None))
    if default in category_of:
        router["default_category_uuid"] = category_of[default]
    if isinstance(wait, dict):
        seconds = wait.get("timeout")
        if isinstance(seconds, int) and seconds > 0 and timeout_exit in category_of:
            wait["timeout"] = {"seconds": seconds, "category_uuid": category_of[timeout_exit]}
        elif "timeout" in wait and not isinstance(wait["timeout"], dict):
            notes.warn(f"{where}.wait.timeout", "a timeout with no branch for it is left out")
            del wait["timeout"]
        router["wait"] = wait
