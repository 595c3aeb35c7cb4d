"""Case tests on groups, categories, media, failed expressions and classifier results.

>>> from sutra.engine.cases.base import check
>>> from sutra.engine.session import Contact, Group, Input
>>> from sutra.expressions.values import ErrorValue
>>> contact = Contact(groups=[Group(uuid="5", name="STARTED_AB")])
>>> check("has_group", "", "5", "STARTED_AB", contact=contact)
'STARTED_AB'
>>> check("has_category", "", "Yes", "Maybe", value={"category": "Maybe", "input": "y"})
'Maybe'
>>> check("has_image", "", input=Input(attachments=["image/jpeg:https://x/a.jpg"]))
'https://x/a.jpg'
>>> check("has_location", "", input=Input(attachments=["geo:12.97,77.59"]))
'12.97,77.59'
>>> check("has_audio", "hello", input=Input(text="hello")) is None
True
>>> check("has_error", "", value=ErrorValue("division by zero")), check("has_error", "0", value=0)
('division by zero', None)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal

from sutra.engine.cases.base import CaseError, CaseInput, Match, case_test
from sutra.expressions.values import ErrorValue, parse_number, shown, to_number


def _groups(case: CaseInput) -> list[tuple[str, str]]:
    """(uuid, name) of the groups tested: an operand that is a list of groups (goflow's
    ``@contact.groups``), else the contact's."""
    if isinstance(case.value, list):
        return [
            (str(g.get("uuid", "")), str(g.get("name", "")))
            for g in case.value
            if isinstance(g, Mapping)
        ]
    return [(g.uuid, g.name) for g in case.contact.groups] if case.contact else []


@case_test("has_group")
def has_group(case: CaseInput, args: list[str]) -> Match | None:
    """Glific's editor writes ``[uuid, name]``; either finds the group."""
    wanted = {arg.strip().lower() for arg in args if arg.strip()}
    for uuid, name in _groups(case):
        if uuid.lower() in wanted or name.lower() in wanted:
            return Match(name)
    return None


@case_test("has_category")
def has_category(case: CaseInput, args: list[str]) -> Match | None:
    category = case.value.get("category") if isinstance(case.value, Mapping) else case.text
    wanted = {arg.strip().lower() for arg in args}
    if isinstance(category, str) and category.strip().lower() in wanted:
        return Match(category)
    return None


@case_test("has_error")
def has_error(case: CaseInput, args: list[str]) -> Match | None:
    """The operand is an expression that failed; its value is why (goflow's ``has_error``)."""
    return Match(case.value.message) if isinstance(case.value, ErrorValue) else None


@case_test("has_location")
def has_location(case: CaseInput, args: list[str]) -> Match | None:
    for attachment in case.input.attachments if case.input else []:
        if attachment.startswith("geo:"):
            return Match(attachment[4:])
    found = re.fullmatch(r"\s*(-?\d{1,2}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*", case.text)
    return Match(f"{found.group(1)},{found.group(2)}") if found else None


def _media_test(name: str, kinds: tuple[str, ...]) -> None:
    def test(case: CaseInput, args: list[str]) -> Match | None:
        for attachment in case.input.attachments if case.input else []:
            content_type, _, url = attachment.partition(":")
            if content_type.startswith("geo"):
                continue
            if not kinds or content_type.split("/")[0] in kinds:
                return Match(url)
        return None

    case_test(name)(test)


_media_test("has_media", ())
_media_test("has_image", ("image",))
_media_test("has_audio", ("audio",))
_media_test("has_video", ("video",))
_media_test("has_file", ("application", "document", "file"))


def _intents(case: CaseInput) -> tuple[list[Mapping[str, object]], dict[str, str]]:
    """The intents of a classifier's result (best first) and its best entity values."""
    extra = case.value.get("extra") if isinstance(case.value, Mapping) else None
    if not isinstance(extra, Mapping):
        raise CaseError("the operand is not a classifier's result")
    intents = [i for i in extra.get("intents") or [] if isinstance(i, Mapping)]
    entities: dict[str, str] = {}
    for name, found in (extra.get("entities") or {}).items():
        candidates = [f for f in found if isinstance(f, Mapping)] if isinstance(found, list) else []
        if candidates:
            best = max(candidates, key=lambda f: _confidence(f.get("confidence")))
            entities[str(name)] = str(best.get("value", ""))
    return intents, entities


def _confidence(value: object) -> Decimal:
    number = to_number(value)
    return number if number is not None else Decimal(0)


def _intent_test(name: str, top_only: bool) -> None:
    def test(case: CaseInput, args: list[str]) -> Match | None:
        intents, entities = _intents(case)
        wanted = args[0].strip() if args else ""
        least = parse_number(args[1]) if len(args) > 1 else Decimal(0)
        if least is None:
            raise CaseError(f"{shown(args[1])} is not a number")
        ranked = sorted(intents, key=lambda i: _confidence(i.get("confidence")), reverse=True)
        for intent in ranked[:1] if top_only else ranked:
            if intent.get("name") == wanted and _confidence(intent.get("confidence")) >= least:
                return Match(wanted, entities)
        return None

    case_test(name)(test)


# A classifier's result (an NLU service's, stored by a webhook or a step) routed on its intent.
_intent_test("has_intent", top_only=False)
_intent_test("has_top_intent", top_only=True)
