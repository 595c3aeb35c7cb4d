"""What refers to what inside a flow: destinations, exits, categories, case types, names.

Errors make a file unusable; warnings name what Sutra will skip when the flow runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sutra.engine.actions.base import UnknownAction
from sutra.engine.cases import is_known_case
from sutra.expressions import snakify
from sutra.flows.models import Flow

MAX_RESULT_NAME = 64


class FlowIssue(NamedTuple):
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def under(self, prefix: str) -> FlowIssue:
        if not prefix:
            return self
        return FlowIssue(f"{prefix}.{self.path}" if self.path != "$" else prefix, self.message)


@dataclass
class Validation:
    errors: list[FlowIssue] = field(default_factory=list)
    warnings: list[FlowIssue] = field(default_factory=list)


def result_name_problem(name: str | None) -> str | None:
    """Why a result name cannot be used, or None.

    >>> result_name_problem("Favorite Color"), result_name_problem("!!"), result_name_problem("")
    (None, 'result name "!!" has no letters or digits', 'result name is empty')
    """
    if name is None:
        return None
    if not name.strip():
        return "result name is empty"
    if len(name) > MAX_RESULT_NAME:
        return f"result name is longer than {MAX_RESULT_NAME} characters"
    if not snakify(name):
        return f'result name "{name}" has no letters or digits'
    return None


def validate_flow(
    flow: Flow, *, known_flows: set[str] | frozenset[str] = frozenset()
) -> Validation:
    found = Validation()
    error, warn = found.errors.append, found.warnings.append
    node_uuids = {node.uuid for node in flow.nodes}
    if len(node_uuids) != len(flow.nodes):
        seen: set[str] = set()
        for i, node in enumerate(flow.nodes):
            if node.uuid in seen:
                error(FlowIssue(f"nodes[{i}].uuid", f'node uuid "{node.uuid}" is used twice'))
            seen.add(node.uuid)

    from sutra.functions.registry import get_function

    for i, node in enumerate(flow.nodes):
        here = f"nodes[{i}]"
        exit_uuids = {exit_.uuid for exit_ in node.exits}
        for j, exit_ in enumerate(node.exits):
            if exit_.destination_uuid is not None and exit_.destination_uuid not in node_uuids:
                error(
                    FlowIssue(
                        f"{here}.exits[{j}].destination_uuid",
                        f'no node "{exit_.destination_uuid}" in this flow',
                    )
                )
        for j, action in enumerate(node.actions):
            at = f"{here}.actions[{j}]"
            if isinstance(action, UnknownAction):
                warn(
                    FlowIssue(
                        f"{at}.type", f'action "{action.type}" is not supported; it will be skipped'
                    )
                )
                continue
            for name_field in action.result_fields:
                problem = result_name_problem(getattr(action, name_field))
                if problem:
                    error(FlowIssue(f"{at}.{name_field}", problem))
            if action.type == "enter_flow":
                target = action.flow  # type: ignore[attr-defined]
                if target.uuid not in known_flows:
                    warn(
                        FlowIssue(
                            f"{at}.flow",
                            f'sub-flow "{target.name}" ({target.uuid}) is neither in this file '
                            "nor imported already; import it too, or this step is skipped",
                        )
                    )
            if action.type == "call_webhook" and action.method.upper() == "FUNCTION":  # type: ignore[attr-defined]
                name = action.url.strip()  # type: ignore[attr-defined]
                if get_function(name) is None:
                    warn(
                        FlowIssue(
                            f"{at}.url",
                            f'unknown function "{name}"; the call will take the Failure branch',
                        )
                    )
        router = node.router
        if router is None:
            continue
        category_uuids = {category.uuid for category in router.categories}
        for k, category in enumerate(router.categories):
            if category.exit_uuid not in exit_uuids:
                error(
                    FlowIssue(
                        f"{here}.router.categories[{k}].exit_uuid",
                        f'no exit "{category.exit_uuid}" in this node',
                    )
                )
        for k, case in enumerate(router.cases):
            at = f"{here}.router.cases[{k}]"
            if not is_known_case(case.type):
                error(FlowIssue(f"{at}.type", f'unknown case type "{case.type}"'))
            if case.category_uuid not in category_uuids:
                error(
                    FlowIssue(
                        f"{at}.category_uuid", f'no category "{case.category_uuid}" in this router'
                    )
                )
        if router.default_category_uuid and router.default_category_uuid not in category_uuids:
            error(
                FlowIssue(
                    f"{here}.router.default_category_uuid",
                    f'no category "{router.default_category_uuid}" in this router',
                )
            )
        timeout = router.wait.timeout if router.wait else None
        if timeout is not None and timeout.category_uuid not in category_uuids:
            error(
                FlowIssue(
                    f"{here}.router.wait.timeout.category_uuid",
                    f'no category "{timeout.category_uuid}" in this router',
                )
            )
        # Glific writes "" for a router that saves no result.
        problem = result_name_problem(router.result_name) if router.result_name else None
        if problem:
            error(FlowIssue(f"{here}.router.result_name", problem))
    return found


_INDEX = re.compile(r"(\w+)\[(\d+)\]")


def issue_json(definition: dict[str, Any], issue: FlowIssue, severity: str) -> dict[str, Any]:
    """A problem as stored with a revision and shown by the editor and the flow list: its
    severity, JSON path, description, and the node (and action) it is about, by uuid, which
    is how the editor pins it to the canvas.

    >>> issue_json({"nodes": [{"uuid": "n1", "actions": [{"uuid": "a1"}]}]},
    ...     FlowIssue("flows[0].nodes[0].actions[0].type", "skipped"), "warning")["action_uuid"]
    'a1'
    """
    out: dict[str, Any] = {
        "type": f"sutra_{severity}",
        "severity": severity,
        "path": issue.path,
        "description": issue.message,
    }
    node: Any = None
    for name, index in _INDEX.findall(issue.path):
        position = int(index)
        if name == "nodes" and node is None:
            nodes = definition.get("nodes")
            node = nodes[position] if isinstance(nodes, list) and position < len(nodes) else None
            if isinstance(node, dict) and isinstance(node.get("uuid"), str):
                out["node_uuid"] = node["uuid"]
                out["node"] = position + 1
        elif name == "actions" and isinstance(node, dict):
            actions = node.get("actions")
            if isinstance(actions, list) and position < len(actions):
                action = actions[position]
                if isinstance(action, dict) and isinstance(action.get("uuid"), str):
                    out["action_uuid"] = action["uuid"]
    return out
