"""Case tests on dates, groups, categories, locations, media and failed expressions.

>>> from datetime import datetime, timezone
>>> from sutra.engine.cases.base import check
>>> from sutra.engine.session import Contact, Group, Input
>>> from sutra.expressions.values import ErrorValue
>>> now = datetime(2026, 3, 5, 9, 0, tzinfo=timezone.utc)
>>> check("has_date", "born 14/08/1990"), check("has_date_lt", "1/1/2026", "5-3-2026", now=now)
('1990-08-14', '2026-01-01')
>>> check("has_date_eq", "today", "2026-03-05", now=now)
'2026-03-05'
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
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sutra.engine.cases.base import CaseInput, Match, case_test
from sutra.expressions.values import ErrorValue

# Day first, as in most countries Sutra serves; ISO dates are recognised by their 4-digit year.
_ISO_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_DMY_DATE = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{2,4})")


def parse_date(text: str, today: date | None = None) -> date | None:
    lowered = text.strip().lower()
    if today is not None:
        relative = {"today": 0, "yesterday": -1, "tomorrow": 1}.get(lowered)
        if relative is not None:
            return today + timedelta(days=relative)
    for pattern, order in ((_ISO_DATE, (0, 1, 2)), (_DMY_DATE, (2, 1, 0))):
        found = pattern.search(text)
        if not found:
            continue
        parts = [int(found.group(i + 1)) for i in order]
        year, month, day = parts
        if year < 100:
            year += 2000 if year < 70 else 1900
        try:
            return date(year, month, day)
        except ValueError:
            continue
    return None


def _today(case: CaseInput) -> date | None:
    if case.now is None:
        return None
    return case.now.astimezone(ZoneInfo(case.timezone)).date()


def _date_test(name: str, compare: str | None) -> None:
    def test(case: CaseInput, args: list[str]) -> Match | None:
        today = _today(case)
        found = parse_date(case.text, today)
        if found is None:
            return None
        if compare is not None:
            limit = parse_date(args[0], today) if args else None
            if limit is None:
                return None
            ok = {"eq": found == limit, "lt": found < limit, "gt": found > limit}[compare]
            if not ok:
                return None
        return Match(found.isoformat())

    case_test(name)(test)


_date_test("has_date", None)
_date_test("has_date_eq", "eq")
_date_test("has_date_lt", "lt")
_date_test("has_date_gt", "gt")


@case_test("has_time")
def has_time(case: CaseInput, args: list[str]) -> Match | None:
    found = re.search(r"\b(\d{1,2})[:.](\d{2})\s*([ap]\.?m\.?)?", case.text, re.IGNORECASE)
    if found is None:
        return None
    hour, minute = int(found.group(1)), int(found.group(2))
    suffix = (found.group(3) or "").lower().replace(".", "")
    if suffix == "pm" and hour < 12:
        hour += 12
    if suffix == "am" and hour == 12:
        hour = 0
    if hour > 23 or minute > 59:
        return None
    return Match(f"{hour:02d}:{minute:02d}")


@case_test("has_group")
def has_group(case: CaseInput, args: list[str]) -> Match | None:
    if case.contact is None:
        return None
    for group in case.contact.groups:
        if any(arg.strip().lower() in (group.uuid.lower(), group.name.lower()) for arg in args):
            return Match(group.name)
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
