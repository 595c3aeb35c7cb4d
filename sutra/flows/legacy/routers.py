"""Legacy rule sets (of an 11.12 flow) as nodes with a router, and their rules as cases.

A rule set is a split: its ``ruleset_type`` says what it splits on (the contact's answer, a
field, a result, a webhook's outcome, a sub-flow's end, chance), and each rule is a test with a
category and a destination. Rules sharing a category and destination become one category with
its exit (the first rule's uuid, as RapidPro keeps it); the "true" rule is the default category;
a timeout rule is the wait's timeout. A rule whose test has no equivalent is left out, with a
warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sutra.expressions import snakify
from sutra.flows.legacy.actions import webhook_action
from sutra.flows.legacy.common import Localization, Notes, list_of, stable_uuid, text_of, texts
from sutra.flows.legacy.expressions import migrate_template
from sutra.flows.validate import MAX_RESULT_NAME, result_name_problem

_CASE_TYPES = {
    "between": "has_number_between",
    "contains": "has_all_words",
    "contains_any": "has_any_word",
    "contains_only_phrase": "has_only_phrase",
    "contains_phrase": "has_phrase",
    "date": "has_date",
    "date_after": "has_date_gt",
    "date_before": "has_date_lt",
    "date_equal": "has_date_eq",
    "district": "has_district",
    "eq": "has_number_eq",
    "gt": "has_number_gt",
    "gte": "has_number_gte",
    "has_email": "has_email",
    "in_group": "has_group",
    "lt": "has_number_lt",
    "lte": "has_number_lte",
    "not_empty": "has_text",
    "number": "has_number",
    "phone": "has_phone",
    "regex": "has_pattern",
    "starts": "has_beginning",
    "state": "has_state",
    "ward": "has_ward",
}
_LOCALIZED = {
    "contains",
    "contains_any",
    "contains_only_phrase",
    "contains_phrase",
    "regex",
    "starts",
}
# The wait each kind of legacy "wait for ..." becomes; the hint tells a channel what is wanted.
_WAIT_HINTS = {
    "wait_message": None,
    "wait_menu": None,
    "wait_ussd": None,
    "wait_digits": {"type": "digits"},
    "wait_digit": {"type": "digits", "count": 1},
    "wait_recording": {"type": "audio"},
    "wait_audio": {"type": "audio"},
    "wait_photo": {"type": "image"},
    "wait_video": {"type": "video"},
    "wait_gps": {"type": "location"},
}
# Rule sets whose outcome is the category of a result their action saves.
_OUTCOME_TYPES = ("webhook", "resthook", "airtime")
_UI_TYPES = {
    "wait_message": "wait_for_response",
    "wait_menu": "wait_for_response",
    "wait_ussd": "wait_for_response",
    "wait_digits": "wait_for_digits",
    "wait_digit": "wait_for_menu",
    "wait_recording": "wait_for_audio",
    "wait_audio": "wait_for_audio",
    "wait_photo": "wait_for_image",
    "wait_video": "wait_for_video",
    "wait_gps": "wait_for_location",
    "expression": "split_by_expression",
    "contact_field": "split_by_contact_field",
    "flow_field": "split_by_run_result",
    "form_field": "split_by_run_result_delimited",
    "group": "split_by_groups",
    "random": "split_by_random",
    "subflow": "split_by_subflow",
    "webhook": "split_by_webhook",
    "resthook": "split_by_resthook",
    "airtime": "split_by_airtime",
}


@dataclass
class _Category:
    uuid: str
    name: str
    exit_uuid: str
    destination: str | None


@dataclass
class _Split:
    """The categories, cases and timeout a rule set's rules become."""

    categories: list[_Category] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)
    default: _Category | None = None
    timeout: tuple[int, _Category] | None = None


def migrate_rule_set(
    rule_set: dict[str, Any],
    base: str,
    localization: Localization,
    notes: Notes,
    where: str,
) -> tuple[dict[str, Any], str]:
    """The node a rule set becomes, and the editor's type for it.

    >>> node, ui_type = migrate_rule_set({"uuid": "n1", "ruleset_type": "wait_message",
    ...     "label": "Color", "operand": "@step.value", "config": {}, "rules": [
    ...         {"uuid": "r1", "test": {"type": "contains_any", "test": {"eng": "red"}},
    ...          "category": {"eng": "Red"}, "destination": "n2"},
    ...         {"uuid": "r2", "test": {"type": "true"}, "category": {"eng": "Other"}}]},
    ...     "eng", Localization(), Notes(), "rule_sets[0]")
    >>> router = node["router"]
    >>> router["operand"], [(c["type"], c["arguments"]) for c in router["cases"]], ui_type
    ('@input.text', [('has_any_word', ['red'])], 'wait_for_response')
    >>> [c["name"] for c in router["categories"]], node["exits"]
    (['Red', 'Other'], [{'uuid': 'r1', 'destination_uuid': 'n2'},
                        {'uuid': 'r2', 'destination_uuid': None}])
    """
    kind = text_of(rule_set.get("ruleset_type")) or "wait_message"
    label = _result_name(text_of(rule_set.get("label")), notes, where)
    split = _split(rule_set, kind, base, localization, notes, where)
    router: dict[str, Any] = {"type": "random" if kind == "random" else "switch"}
    actions, operand = _what_it_splits_on(rule_set, kind, label, base, notes, where)
    if kind in _WAIT_HINTS:
        router["wait"] = {"type": "msg"}
        hint = _WAIT_HINTS[kind]
        if hint is not None:
            router["wait"]["hint"] = dict(hint)
    if kind in _OUTCOME_TYPES:
        # The action stores the result (the response); the router only picks the branch.
        label = None
    if operand is not None:
        router["operand"] = "@input.text" if operand in ("@input", "") else operand
    router["cases"] = split.cases if kind != "random" else []
    router["categories"] = [
        {"uuid": c.uuid, "name": c.name, "exit_uuid": c.exit_uuid} for c in split.categories
    ]
    if split.default is not None:
        router["default_category_uuid"] = split.default.uuid
    if label:
        router["result_name"] = label
    if split.timeout is not None and "wait" in router:
        seconds, category = split.timeout
        router["wait"]["timeout"] = {"seconds": seconds, "category_uuid": category.uuid}
    node = {
        "uuid": rule_set["uuid"],
        "actions": actions,
        "router": router,
        "exits": [
            {"uuid": c.exit_uuid, "destination_uuid": c.destination} for c in split.categories
        ],
    }
    return node, _UI_TYPES.get(kind, "split_by_expression")


def _what_it_splits_on(
    rule_set: dict[str, Any], kind: str, label: str | None, base: str, notes: Notes, where: str
) -> tuple[list[dict[str, Any]], str | None]:
    """The actions the node runs first (a call, a sub-flow, a menu) and the router's operand."""
    uuid = rule_set["uuid"]
    config = rule_set.get("config") or {}
    operand = migrate_template(text_of(rule_set.get("operand")) or "@step.value")
    if kind in _WAIT_HINTS:
        menu = _ussd_menu(config, base)
        menu_action = {"type": "send_msg", "uuid": stable_uuid(uuid, "menu"), "text": menu}
        return ([menu_action] if menu else []), operand
    if kind == "subflow":
        flow = config.get("flow") if isinstance(config.get("flow"), dict) else {}
        enter = {"type": "enter_flow", "uuid": stable_uuid(uuid, "enter_flow"), "flow": flow}
        return [enter], "@child.status"
    if kind in _OUTCOME_TYPES:
        result = label or "webhook"
        action = _outcome_action(kind, stable_uuid(uuid, kind), config, result)
        return [action], f"@results.{snakify(result) or result}.category"
    if kind == "group":
        return [], "@contact.groups"
    if kind == "form_field":
        inner = operand[2:-1] if operand.startswith("@(") else operand[1:]
        index = config.get("field_index") if isinstance(config.get("field_index"), int) else 0
        delimiter = text_of(config.get("field_delimiter")) or " "
        return [], f'@(field({inner}, {index}, "{delimiter}"))'
    if kind == "random":
        return [], None
    if kind not in ("expression", "contact_field", "flow_field"):
        notes.warn(f"{where}.ruleset_type", f'split type "{kind}" is read as an expression')
    return [], operand


def _result_name(label: str, notes: Notes, where: str) -> str | None:
    name = label.strip()[:MAX_RESULT_NAME].rstrip()
    if not name:
        return None
    problem = result_name_problem(name)
    if problem is not None:
        notes.warn(f"{where}.label", f"{problem}; the answer is not saved as a result")
        return None
    return name


def _outcome_action(kind: str, uuid: str, config: dict[str, Any], result: str) -> dict[str, Any]:
    if kind == "webhook":
        return webhook_action(
            uuid,
            text_of(config.get("webhook")),
            text_of(config.get("webhook_action")),
            config.get("webhook_headers"),
            result,
        )
    if kind == "resthook":
        return {
            "type": "call_resthook",
            "uuid": uuid,
            "resthook": text_of(config.get("resthook")),
            "result_name": result,
        }
    amounts = {
        text_of(country.get("currency_code")): country.get("amount")
        for country in config.values()
        if isinstance(country, dict) and text_of(country.get("currency_code"))
    }
    return {"type": "transfer_airtime", "uuid": uuid, "amounts": amounts, "result_name": result}


def _ussd_menu(config: dict[str, Any], base: str) -> str:
    """A USSD menu, as the message that asks for the choice (a chat channel shows no menu)."""
    lines = []
    message = texts(config.get("ussd_message"), base).base if config.get("ussd_message") else ""
    if message:
        lines.append(migrate_template(message))
    for option in list_of(config.get("ussd_menu")):
        if isinstance(option, dict) and text_of(option.get("label")):
            lines.append(
                f"{text_of(option.get('option'))}: {migrate_template(text_of(option['label']))}"
            )
    return "\n".join(lines)


def _split(
    rule_set: dict[str, Any],
    kind: str,
    base: str,
    localization: Localization,
    notes: Notes,
    where: str,
) -> _Split:
    split = _Split()
    node = rule_set["uuid"]
    shared: dict[tuple[str, str | None], _Category] = {}
    for index, rule in enumerate(rule_set["rules"]):
        here = f"{where}.rules[{index}]"
        test = rule["test"]
        test_type = text_of(test.get("type"))
        names = texts(rule.get("category"), base)
        name = names.base.strip() or ("Other" if test_type == "true" else f"Category {index + 1}")
        destination = text_of(rule.get("destination")) or None
        key = (name.lower(), destination)
        category = shared.get(key) if test_type != "true" else None
        if category is None:
            category = _Category(
                stable_uuid(node, "category", index), name, rule["uuid"], destination
            )
            split.categories.append(category)
            localization.text(category.uuid, "name", names, migrate=False)
            if test_type != "true":
                shared[key] = category
        if test_type == "true":
            # The first "true" rule is where everything else goes; later ones never match.
            split.default = split.default or category
            continue
        if test_type == "timeout":
            minutes = test.get("minutes")
            seconds = int(minutes * 60) if isinstance(minutes, int | float) and minutes > 0 else 300
            split.timeout = split.timeout or (seconds, category)
            continue
        if kind == "random":
            continue
        case = _case(test, stable_uuid(node, "case", index), base, localization)
        if case is None:
            notes.warn(
                f"{here}.test.type",
                f'rule test "{test_type}" has no equivalent; the rule is left out',
            )
            continue
        case["category_uuid"] = category.uuid
        split.cases.append(case)
        if test_type in ("webhook_status", "airtime_status") and _status(test) != "success":
            split.default = split.default or category
    if split.default is None and kind != "random":
        # Nothing matched: the old engine ended the flow here; "Other" does, instead of failing.
        other = _Category(
            stable_uuid(node, "other"), "Other", stable_uuid(node, "other exit"), None
        )
        split.categories.append(other)
        split.default = other
    return split


def _status(test: dict[str, Any]) -> str:
    return text_of(test.get("status") or test.get("exit_status")).lower()


def _case(
    test: dict[str, Any],
    uuid: str,
    base: str,
    localization: Localization,
) -> dict[str, Any] | None:
    test_type = text_of(test.get("type"))
    arguments: list[str]
    if test_type in _LOCALIZED:
        arguments = [localization.text(uuid, "arguments", texts(test.get("test"), base))]
    elif test_type in (
        "eq",
        "gt",
        "gte",
        "lt",
        "lte",
        "date_after",
        "date_before",
        "date_equal",
        "district",
    ):
        arguments = [migrate_template(text_of(test.get("test")))]
    elif test_type == "between":
        arguments = [
            migrate_template(text_of(test.get("min"))),
            migrate_template(text_of(test.get("max"))),
        ]
    elif test_type == "ward":
        arguments = [
            migrate_template(text_of(test.get("district"))),
            migrate_template(text_of(test.get("state"))),
        ]
    elif test_type == "in_group":
        group = test.get("test") if isinstance(test.get("test"), dict) else {}
        arguments = [a for a in (text_of(group.get("uuid")), text_of(group.get("name"))) if a]
    elif test_type == "subflow":
        exit_type = text_of(test.get("exit_type")).lower() or "completed"
        return {"uuid": uuid, "type": "has_only_text", "arguments": [exit_type]}
    elif test_type in ("webhook_status", "airtime_status"):
        # The outcome is the result's category, "Success" or "Failure", as Glific writes it.
        if _status(test) != "success":
            return {"uuid": uuid, "type": "has_only_text", "arguments": ["Failure"]}
        return {"uuid": uuid, "type": "has_only_text", "arguments": ["Success"]}
    elif test_type in _CASE_TYPES:
        arguments = []
    else:
        return None
    return {"uuid": uuid, "type": _CASE_TYPES[test_type], "arguments": arguments}
