"""Legacy exports of versions 3 to 11.11 brought to the shape of the last legacy version, 11.12.

RapidPro changed its legacy format at almost every version and migrated a flow one version at
a time on import. The steps that change what a flow does are repeated here, in RapidPro's order:

* 5: a rule set without a type gets one from its operand; an old webhook on a rule set becomes
  a wait, a webhook and the split;
* 6: every translatable text becomes a ``{language: text}`` map;
* 7: the definition is no longer nested under ``"definition"``;
* 8: ``@contact.name|upper_case`` and ``=(...)`` become ``@(...)`` expressions;
* 9: groups, labels, flows and contacts are named by uuid rather than database id;
* 10: a webhook rule set routes on Success and Failure;
* 10.x, 11.8: every action set, action and rule has a uuid of its own;
* 11.4: ``@flow.X.text`` of a rule set that does not wait is what it split on, ``@step.value``;
* 11.7: a webhook action becomes a webhook rule set of its own.

The steps that only looked things up in the exporting organisation's database (language codes of
its country, channels, groups and labels it has) have nothing to look up here and are left out.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sutra.expressions import snakify
from sutra.flows.legacy.common import Notes, list_of, stable_uuid, text_of
from sutra.flows.legacy.old_syntax import migrate_v7_syntax

Version = tuple[int, int]
LATEST: Version = (11, 12)
_LOCALIZED_TESTS = (
    "contains",
    "contains_any",
    "contains_phrase",
    "contains_only_phrase",
    "starts",
    "regex",
)
_MESSAGE_ACTIONS = ("reply", "send", "say")
_WAIT_FOR_RESPONSE = {"K": "wait_digits", "M": "wait_digit", "R": "wait_recording"}


def version_of(value: Any) -> Version | None:
    """``"11.12"`` as ``(11, 12)``; None for anything that is not a version.

    >>> version_of("11.12"), version_of(3), version_of("10"), version_of("13.0.0"), version_of(None)
    ((11, 12), (3, 0), (10, 0), (13, 0), None)
    """
    text = text_of(value)
    found = re.fullmatch(r"(\d+)(?:\.(\d+))?(?:\.\d+)?", text.strip())
    return (int(found.group(1)), int(found.group(2) or 0)) if found else None


@dataclass
class FlowRefs:
    """The flows of one file, so a legacy reference by database id finds its flow's uuid."""

    by_id: dict[str, str] = field(default_factory=dict)
    by_name: dict[str, str] = field(default_factory=dict)

    def resolve(self, ref: dict[str, Any]) -> dict[str, str]:
        name = text_of(ref.get("name"))
        uuid = text_of(ref.get("uuid"))
        if not uuid:
            key = text_of(ref.get("id"))
            uuid = (
                self.by_id.get(key)
                or self.by_name.get(name.lower())
                or stable_uuid("flow", key or name)
            )
        return {"uuid": uuid, "name": name}


@dataclass
class Legacy:
    """One legacy flow being upgraded, with where it sits in the file for messages."""

    flow: dict[str, Any]
    version: Version
    where: str
    notes: Notes
    refs: FlowRefs

    @property
    def base(self) -> str:
        return str(self.flow["base_language"])

    @property
    def nodes(self) -> Iterator[dict[str, Any]]:
        yield from self.flow["action_sets"]
        yield from self.flow["rule_sets"]

    def actions(self) -> Iterator[dict[str, Any]]:
        for action_set in self.flow["action_sets"]:
            yield from action_set["actions"]


def unwrap(item: dict[str, Any], file_version: Version | None) -> tuple[dict[str, Any], Version]:
    """A copy of the flow as its own definition, and the legacy version it was written in.

    Before version 7 an export nested the definition under ``"definition"``, with the flow's
    name and database id beside it.
    """
    item = copy.deepcopy(item)
    nested = item.get("definition")
    if isinstance(nested, dict) and ("action_sets" in nested or "rule_sets" in nested):
        flow = nested
        metadata = flow.get("metadata") if isinstance(flow.get("metadata"), dict) else {}
        for key in ("name", "id", "uuid", "revision"):
            if item.get(key) is not None and not metadata.get(key):
                metadata[key] = item[key]
        flow["metadata"] = metadata
        flow.setdefault("flow_type", item.get("flow_type"))
        version = version_of(item.get("version")) or file_version or (3, 0)
        # Version 7 stopped nesting: whatever a nested flow claims, it is at most version 6.
        return flow, min(version, (6, 0))
    version = version_of(item.get("version")) or file_version or LATEST
    return item, version


def flow_uuid(flow: dict[str, Any], refs: FlowRefs) -> str:
    """The flow's uuid; before version 9 an export named a flow by its database id only."""
    metadata = flow.get("metadata") if isinstance(flow.get("metadata"), dict) else {}
    uuid = text_of(metadata.get("uuid"))
    key = text_of(metadata.get("id"))
    name = text_of(metadata.get("name"))
    return uuid or refs.by_id.get(key) or stable_uuid("flow", key or name)


def upgrade(legacy: Legacy) -> None:
    """Bring ``legacy.flow`` to the 11.12 shape, in place."""
    flow = legacy.flow
    flow["base_language"] = text_of(flow.get("base_language")) or "base"
    metadata = flow.get("metadata")
    flow["metadata"] = metadata if isinstance(metadata, dict) else {}
    flow["metadata"]["uuid"] = flow_uuid(flow, legacy.refs)
    _structure(legacy)
    _infer_rule_set_types(legacy)
    _localize(legacy)
    if legacy.version < (8, 0):
        _map_strings(legacy, migrate_v7_syntax)
    _references(legacy)
    _webhook_rules(legacy)
    if legacy.version < (11, 4):
        _step_value_for_splits(legacy)
    _split_webhook_actions(legacy)
    _unique_uuids(legacy)
    _entry(legacy)


def _dicts(value: Any, notes: Notes, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        notes.error(where, "expected a list")
        return []
    kept = []
    for index, item in enumerate(value):
        if isinstance(item, dict):
            kept.append(item)
        else:
            notes.warn(f"{where}[{index}]", "not an object; it is left out")
    return kept


def _number(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _structure(legacy: Legacy) -> None:
    """Lists where lists belong, and positions and uuids on every node."""
    flow, notes, where = legacy.flow, legacy.notes, legacy.where
    me = flow["metadata"]["uuid"]
    # Single message flows of version 3 wrote "rulesets" (and left it empty).
    rule_sets = flow.get("rule_sets", flow.get("rulesets"))
    flow["action_sets"] = _dicts(flow.get("action_sets"), notes, f"{where}.action_sets")
    flow["rule_sets"] = _dicts(rule_sets, notes, f"{where}.rule_sets")
    for index, node in enumerate(flow["action_sets"]):
        here = f"{where}.action_sets[{index}]"
        node["uuid"] = text_of(node.get("uuid")) or stable_uuid(me, "action_set", index)
        actions = _dicts(node.get("actions"), notes, f"{here}.actions")
        node["actions"] = [a for a in actions if text_of(a.get("type"))]
        if len(node["actions"]) < len(actions):
            notes.warn(f"{here}.actions", "an action without a type is left out")
    for index, node in enumerate(flow["rule_sets"]):
        here = f"{where}.rule_sets[{index}]"
        node["uuid"] = text_of(node.get("uuid")) or stable_uuid(me, "rule_set", index)
        node["rules"] = _dicts(node.get("rules"), notes, f"{here}.rules")
        for rule in node["rules"]:
            # Only the "Other" rule of some version 3 flows is written without a test.
            if not isinstance(rule.get("test"), dict):
                rule["test"] = {"type": "true"}
        if not isinstance(node.get("config"), dict):
            node["config"] = {}
    for node in legacy.nodes:
        node["x"], node["y"] = _number(node.get("x")), _number(node.get("y"))


def _before(legacy: Legacy, rule_set: dict[str, Any], kind: str, suffix: str) -> dict[str, Any]:
    """A node put in before ``rule_set`` by version 5, answering everything in one category."""
    rules = [copy.deepcopy(r) for r in rule_set["rules"] if r["test"].get("type") == "true"]
    rules = rules or [{"test": {"type": "true"}}]
    for rule in rules:
        rule["category"] = {legacy.base: "All Responses"}
    return {
        "ruleset_type": kind,
        "operand": "@step.value",
        "label": f"{text_of(rule_set.get('label'))} {suffix}",
        "rules": rules,
        "config": {},
    }


def _infer_rule_set_types(legacy: Legacy) -> None:
    """Version 5: a rule set's type from its operand; old webhooks become nodes of their own."""
    inserted: list[dict[str, Any]] = []
    for rule_set in legacy.flow["rule_sets"]:
        webhook = text_of(rule_set.pop("webhook", None))
        webhook_action = text_of(rule_set.pop("webhook_action", None)) or "POST"
        response_type = text_of(rule_set.pop("response_type", None))
        if rule_set.get("ruleset_type"):
            if webhook and rule_set["ruleset_type"] == "webhook":
                rule_set["config"].setdefault("webhook", webhook)
                rule_set["config"].setdefault("webhook_action", webhook_action)
            continue
        operand = (text_of(rule_set.get("operand")) or "@step.value").strip()
        chain: list[dict[str, Any]] = []
        if "@step" in operand or (operand.startswith("=(") and "step" in operand):
            if response_type in _WAIT_FOR_RESPONSE:
                rule_set["ruleset_type"] = _WAIT_FOR_RESPONSE[response_type]
            elif operand == "@step.value":
                rule_set["ruleset_type"] = "wait_message"
            else:
                # A split on something made of the answer: wait for the answer, then split.
                rule_set["ruleset_type"] = "expression"
                chain.append(_before(legacy, rule_set, "wait_message", "Response"))
        else:
            rule_set["ruleset_type"] = _split_type(operand)
            # The old engine stopped at a rule set with a webhook: it waited for a message.
            if webhook:
                chain.append(_before(legacy, rule_set, "wait_message", "Response"))
        if webhook:
            chain.append(_before(legacy, rule_set, "webhook", "Webhook"))
            chain[-1]["config"] = {"webhook": webhook, "webhook_action": webhook_action}
        if chain:
            _insert_before(legacy, rule_set, chain)
            inserted.extend(chain)
    legacy.flow["rule_sets"].extend(inserted)


def _insert_before(legacy: Legacy, rule_set: dict[str, Any], chain: list[dict[str, Any]]) -> None:
    """Put ``chain`` in front of ``rule_set``: what led to the rule set leads to the chain."""
    original = rule_set["uuid"]
    rule_set["uuid"] = stable_uuid(original, "split")
    for position, node in enumerate(chain):
        node["uuid"] = original if position == 0 else stable_uuid(original, node["ruleset_type"])
    _move_down(legacy, below=rule_set["y"], by=100 * len(chain))
    for position, node in enumerate(chain):
        following = chain[position + 1] if position + 1 < len(chain) else rule_set
        node["x"], node["y"] = rule_set["x"], rule_set["y"] - 100 * (len(chain) - position)
        for index, rule in enumerate(node["rules"]):
            rule["uuid"] = stable_uuid(node["uuid"], "rule", index)
            rule["destination"] = following["uuid"]


def _move_down(legacy: Legacy, *, below: int, by: int) -> None:
    """Make room in the editor's layout for nodes put in above ``below``."""
    for node in legacy.nodes:
        if node["y"] >= below:
            node["y"] += by


def _split_type(operand: str) -> str:
    if " " not in operand and "|" not in operand and operand != "@contact.groups":
        if operand.startswith("@contact."):
            return "contact_field"
        if operand.startswith("@flow."):
            return "flow_field"
    return "expression"


def _localize(legacy: Legacy) -> None:
    """Version 6 (and a malformed 10.2): texts that can be translated become maps."""
    base = legacy.base

    def localized(value: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            # Some single message flows nested a map inside the map.
            return {
                k: (next(iter(v.values()), "") if isinstance(v, dict) else v)
                for k, v in value.items()
            }
        return {base: text_of(value)}

    for action in legacy.actions():
        if action.get("type") in _MESSAGE_ACTIONS:
            action["msg"] = localized(action.get("msg"))
        if action.get("type") == "email" and isinstance(action.get("msg"), dict):
            action["msg"] = text_of(next(iter(localized(action["msg"]).values()), ""))
    for rule_set in legacy.flow["rule_sets"]:
        for rule in rule_set["rules"]:
            test = rule["test"]
            if test.get("type") == "between" and not rule.get("category"):
                rule["category"] = f"{text_of(test.get('min'))}-{text_of(test.get('max'))}"
            rule["category"] = localized(rule.get("category"))
            if test.get("type") in _LOCALIZED_TESTS:
                test["test"] = localized(test.get("test"))


def _map_strings(legacy: Legacy, rewrite: Callable[[str], str]) -> None:
    """Apply ``rewrite`` to every text of the actions, rule tests, operands and webhooks."""

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return rewrite(value)
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        return value

    for action_set in legacy.flow["action_sets"]:
        action_set["actions"] = [walk(action) for action in action_set["actions"]]
    for rule_set in legacy.flow["rule_sets"]:
        for rule in rule_set["rules"]:
            rule["test"] = walk(rule["test"])
        for key in ("operand", "webhook"):
            if isinstance(rule_set.get(key), str):
                rule_set[key] = rewrite(rule_set[key])
        rule_set["config"] = walk(rule_set["config"])


def _ref(value: Any, kind: str) -> dict[str, str] | str:
    """A group, label or contact reference by uuid; a name expression stays a string."""
    if isinstance(value, str):
        return value if value.startswith("@") else {"uuid": stable_uuid(kind, value), "name": value}
    if not isinstance(value, dict):
        return {"uuid": stable_uuid(kind, text_of(value)), "name": text_of(value)}
    name = text_of(value.get("name"))
    if kind == "group" and not name:
        name = "Unknown"
    uuid = text_of(value.get("uuid")) or stable_uuid(kind, text_of(value.get("id")) or name)
    return {"uuid": uuid, "name": name}


def _references(legacy: Legacy) -> None:
    """Version 9: references by uuid. Done for every version: later ones already comply."""
    for action in legacy.actions():
        kind = action.get("type")
        if kind in ("add_group", "del_group") and "group" in action and "groups" not in action:
            action["groups"] = [action.pop("group")]
        if isinstance(action.get("groups"), list):
            action["groups"] = [_ref(group, "group") for group in action["groups"]]
        if isinstance(action.get("labels"), list):
            action["labels"] = [_ref(label, "label") for label in action["labels"]]
        if isinstance(action.get("contacts"), list):
            action["contacts"] = [_ref(contact, "contact") for contact in action["contacts"]]
        if kind in ("flow", "trigger-flow"):
            ref = action.get("flow")
            # Version 3 wrote the flow's id and name on the action itself.
            if not isinstance(ref, dict):
                ref = {"id": action.pop("id", None), "name": action.get("name")}
            action["flow"] = legacy.refs.resolve(ref)
    for rule_set in legacy.flow["rule_sets"]:
        config = rule_set["config"]
        if rule_set.get("ruleset_type") == "subflow" and isinstance(config.get("flow"), dict):
            config["flow"] = legacy.refs.resolve(config["flow"])
        for rule in rule_set["rules"]:
            if rule["test"].get("type") == "in_group":
                rule["test"]["test"] = _ref(rule["test"].get("test"), "group")


def _webhook_rules(legacy: Legacy) -> None:
    """Version 10: a webhook rule set routes on Success and Failure, to where it went before."""
    for rule_set in legacy.flow["rule_sets"]:
        if rule_set.get("ruleset_type") != "webhook":
            continue
        rules = rule_set["rules"]
        if rules and all(rule["test"].get("type") == "webhook_status" for rule in rules):
            continue
        first = rules[0] if rules else {}
        destination = first.get("destination")
        success_uuid = text_of(first.get("uuid")) or stable_uuid(rule_set["uuid"], "success")
        rule_set["rules"] = [
            {
                "uuid": uuid,
                "test": {"type": "webhook_status", "status": status.lower()},
                "category": {legacy.base: status},
                "destination": destination,
            }
            for uuid, status in (
                (success_uuid, "Success"),
                (stable_uuid(rule_set["uuid"], "failure"), "Failure"),
            )
        ]


def _step_value_for_splits(legacy: Legacy) -> None:
    """Version 11.4: ``@flow.X.text`` of a split that does not wait is what it split on."""
    slugs = {
        snakify(text_of(rule_set.get("label")))
        for rule_set in legacy.flow["rule_sets"]
        if not text_of(rule_set.get("ruleset_type")).startswith("wait_")
    }
    slugs.discard("")
    if not slugs:
        return
    pattern = re.compile(
        r"flow\.(" + "|".join(map(re.escape, sorted(slugs))) + r")\.text", re.IGNORECASE
    )
    for action in legacy.actions():
        if action.get("type") in (*_MESSAGE_ACTIONS, "email"):
            msg = action.get("msg")
            if isinstance(msg, dict):
                action["msg"] = {k: pattern.sub("step.value", text_of(v)) for k, v in msg.items()}
            elif isinstance(msg, str):
                action["msg"] = pattern.sub("step.value", msg)


def _split_webhook_actions(legacy: Legacy) -> None:
    """Version 11.7: a webhook action becomes a webhook rule set between the actions around it."""
    flow = legacy.flow
    kept_sets: list[dict[str, Any]] = []
    number = 0
    for action_set in flow["action_sets"]:
        groups: list[list[dict[str, Any]] | dict[str, Any]] = []
        for action in action_set["actions"]:
            if action.get("type") == "api":
                groups.append(action)
            elif groups and isinstance(groups[-1], list):
                groups[-1].append(action)
            else:
                groups.append([action])
        if not any(isinstance(group, dict) for group in groups):
            kept_sets.append(action_set)
            continue
        original = action_set["uuid"]
        uuids = [original] + [stable_uuid(original, "part", i) for i in range(1, len(groups))]
        for index, group in enumerate(groups):
            following = (
                uuids[index + 1] if index + 1 < len(groups) else action_set.get("destination")
            )
            position = {"x": action_set["x"], "y": action_set["y"] + 100 * index}
            if isinstance(group, list):
                kept_sets.append(
                    {
                        **position,
                        "uuid": uuids[index],
                        "actions": group,
                        "destination": following,
                        "exit_uuid": stable_uuid(uuids[index], "exit"),
                    }
                )
                continue
            number += 1
            flow["rule_sets"].append(
                {
                    **position,
                    "uuid": uuids[index],
                    "label": f"Migrated Webhook {number}",
                    "ruleset_type": "webhook",
                    "operand": "@step.value",
                    "config": {
                        "webhook": text_of(group.get("webhook")),
                        "webhook_action": text_of(group.get("action")) or "POST",
                        "webhook_headers": list_of(group.get("webhook_headers")),
                    },
                    "rules": [
                        {
                            "uuid": stable_uuid(uuids[index], status),
                            "test": {"type": "webhook_status", "status": status},
                            "category": {legacy.base: status.capitalize()},
                            "destination": following,
                        }
                        for status in ("success", "failure")
                    ],
                }
            )
    flow["action_sets"] = kept_sets


def _unique_uuids(legacy: Legacy) -> None:
    """Versions 10.1 to 10.4 and 11.8: every action, exit and rule has a uuid, used once."""
    seen: set[str] = set()
    for action_set in legacy.flow["action_sets"]:
        node = action_set["uuid"]
        if not text_of(action_set.get("exit_uuid")):
            action_set["exit_uuid"] = stable_uuid(node, "exit")
        for index, action in enumerate(action_set["actions"]):
            uuid = text_of(action.get("uuid"))
            if not uuid or uuid in seen:
                action["uuid"] = stable_uuid(node, "action", index)
            seen.add(action["uuid"])
    for rule_set in legacy.flow["rule_sets"]:
        for index, rule in enumerate(rule_set["rules"]):
            uuid = text_of(rule.get("uuid"))
            if not uuid or uuid in seen:
                rule["uuid"] = stable_uuid(rule_set["uuid"], "rule", index)
            seen.add(rule["uuid"])


def _entry(legacy: Legacy) -> None:
    """The entry node; without one (or pointing nowhere) the top-left node, as RapidPro does."""
    nodes = list(legacy.nodes)
    uuids = {node["uuid"] for node in nodes}
    if text_of(legacy.flow.get("entry")) in uuids:
        return
    top_left = min(nodes, key=lambda node: (node["y"], node["x"]), default=None)
    legacy.flow["entry"] = top_left["uuid"] if top_left else None
