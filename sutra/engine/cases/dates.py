"""Date and time case tests, as goflow defines them.

A date is read in the organisation's date format (day first, month first or year first) and
time zone; two-digit years are the nearest century no more than 20 years ahead. The value
stored is the moment as goflow writes it: the date at the time the contact gave, else at the
current time of day (``2017-01-15T13:24:30.123456-05:00``). A time is stored as
``22:00:00.000000``. Comparisons are between days in the organisation's time zone; a case's
date may also be ``today``, ``yesterday`` or ``tomorrow``.

>>> from datetime import datetime, timezone
>>> from sutra.engine.cases.base import check
>>> from sutra.engine.session import Environment
>>> now = datetime(2018, 4, 11, 13, 24, 30, 123456, tzinfo=timezone.utc)
>>> kigali = Environment(timezone="Africa/Kigali")
>>> check("has_date", "last date was 1.10.99", now=now, env=kigali)
'1999-10-01T15:24:30.123456+02:00'
>>> check("has_date_eq", "the date is 15/01/2017 15:00", "2017-01-15", now=now)
'2017-01-15T15:00:00.000000Z'
>>> us = Environment(date_format="MM-DD-YYYY")
>>> check("has_date_lt", "1/12/2018", "2018-02-01", now=now, env=us)
'2018-01-12T13:24:30.123456Z'
>>> check("has_date_gt", "tomorrow", "today", now=now), check("has_date", "33.2.99", now=now)
('2018-04-12T13:24:30.123456Z', None)
>>> check("has_date_eq", "1.1.2017", "not date", now=now)
"ERROR: 'not date' is not a date"
>>> check("has_time", "the time is 10 PM"), check("has_time", "at 10:30:45")
('22:00:00.000000', '10:30:45.000000')
>>> check("has_time", "meet at 5.30 pm"), check("has_time", "just the number 25")
('17:30:00.000000', None)
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from sutra.engine.cases.base import CaseError, CaseInput, Match, case_test
from sutra.expressions.datetimes import DateError, parse_datetime_text
from sutra.expressions.env import Env
from sutra.expressions.values import render, shown

_RELATIVE = {"today": 0, "yesterday": -1, "tomorrow": 1}


def _env(case: CaseInput) -> Env:
    return Env(timezone=case.env.timezone, date_format=case.env.date_format, now=case.now)


def _moment(text: str, env: Env) -> datetime | None:
    """The date (and time) a contact wrote, or None."""
    relative = _RELATIVE.get(text.strip().lower())
    if relative is not None and env.now is not None:
        return env.now.astimezone(env.zone) + timedelta(days=relative)
    try:
        return parse_datetime_text(text, env, fill_time=True)
    except DateError:
        return None


def _day(text: str, env: Env) -> date:
    found = _moment(text, env)
    if found is None:
        raise CaseError(f"{shown(text)} is not a date")
    return found.astimezone(env.zone).date()


def _date_test(name: str, compare: Callable[[date, date], bool] | None) -> None:
    def test(case: CaseInput, args: list[str]) -> Match | None:
        env = _env(case)
        limit = _day(args[0] if args else "", env) if compare is not None else None
        found = _moment(case.text, env)
        if found is None:
            return None
        if limit is not None and compare and not compare(found.astimezone(env.zone).date(), limit):
            return None
        return Match(render(found))

    case_test(name)(test)


_date_test("has_date", None)
_date_test("has_date_eq", operator.eq)
_date_test("has_date_lt", operator.lt)
_date_test("has_date_gt", operator.gt)

# "10:30", "10:30:45.5", "10 PM", "5.30 pm": minutes after a colon, or a 12-hour clock.
_CLOCK = re.compile(
    r"(?<![\d:.])(\d{1,2})"
    r"(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?!\d)|(?:\.(\d{2}))?(?=\s*[ap]\.?m\b))"
    r"(?:\s*([ap])\.?m\b\.?)?",
    re.IGNORECASE,
)


def find_time(text: str) -> time | None:
    """The first time of day in ``text``."""
    for found in _CLOCK.finditer(text[:4096]):
        hour = int(found.group(1))
        minute = int(found.group(2) or found.group(5) or 0)
        second = int(found.group(3) or 0)
        micro = int((found.group(4) or "0")[:6].ljust(6, "0"))
        meridiem = (found.group(6) or "").lower()
        if meridiem:
            if not 1 <= hour <= 12:
                continue
            hour = hour % 12 + (12 if meridiem == "p" else 0)
        if hour > 23 or minute > 59 or second > 59:
            continue
        return time(hour, minute, second, micro)
    return None


@case_test("has_time")
def has_time(case: CaseInput, args: list[str]) -> Match | None:
    found = find_time(case.text)
    return Match(render(found)) if found is not None else None
