"""Dates, datetimes and times of day: reading them from text and writing them in a layout.

Text becomes a datetime as goflow reads it: an ISO 8601 datetime keeps its own offset; anything
else is searched for a date (year first when it has four digits, otherwise in the order of the
organisation's date format) and an optional time after it, in the organisation's time zone.

Layouts are goflow's: ``YYYY-MM-DD tt:mm`` and so on (see :data:`_LAYOUT_TOKENS`). The
separators `` :,T-_`` (and ``/`` and ``.``, which goflow refuses) are copied as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sutra.expressions.env import Env
from sutra.expressions.values import ErrorValue, format_offset, render, shown


class DateError(ValueError):
    """Text that is not a date, a layout goflow would refuse, a day that does not exist."""


_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)
_DATE = re.compile(r"(\d{1,4})[-./\\_ ](\d{1,2})[-./\\_ ](\d{1,4})")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*([ap]\.?m\.?)?", re.I)
# Longer text is not searched for a date: a contact's essay is not one.
_MAX_DATE_TEXT = 200

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def zone_named(name: str) -> tzinfo:
    """An IANA time zone, or an error goflow would give for an unknown one."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ValueError, LookupError, OSError):
        raise DateError(f"unknown time zone {name!r}") from None


def _fraction(digits: str | None) -> int:
    # Python keeps microseconds; goflow's nanoseconds are cut to them.
    return int((digits or "0")[:6].ljust(6, "0"))


def _offset(text: str) -> tzinfo:
    if text.upper() == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise DateError(f"bad time zone offset {text!r}")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _two_digit_year(year: int, digits: int, env: Env) -> int:
    if digits > 2:
        return year
    now = env.now.year if env.now else datetime.now(UTC).year
    # The nearest century that does not put the year more than 20 years ahead.
    century = now - now % 100
    return century + year if century + year <= now + 20 else century - 100 + year


def _date_in(text: str, env: Env) -> tuple[date, int] | None:
    """The first date in ``text`` and where it ends."""
    for found in _DATE.finditer(text):
        first, second, third = found.group(1), found.group(2), found.group(3)
        if len(first) == 4:
            year, month, day = int(first), int(second), int(third)
            year_digits = 4
        elif len(first) <= 2 and len(third) in (2, 4):
            order = env.date_format.upper()
            if order.startswith("MM"):
                month, day = int(first), int(second)
            else:
                day, month = int(first), int(second)
            year, year_digits = int(third), len(third)
        else:
            continue
        try:
            return date(_two_digit_year(year, year_digits, env), month, day), found.end()
        except ValueError:
            continue
    return None


def _time_in(text: str) -> time | None:
    found = _TIME.search(text)
    if found is None:
        return None
    hour, minute = int(found.group(1)), int(found.group(2))
    second = int(found.group(3) or 0)
    meridiem = (found.group(5) or "").lower().replace(".", "")
    if meridiem:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute, second, _fraction(found.group(4)))


def parse_datetime_text(text: str, env: Env, *, fill_time: bool = False) -> datetime:
    """A datetime from text, as goflow's ``datetime()`` reads it. A date written without a
    time is at midnight, or with ``fill_time`` at the current time of day (as goflow's
    ``has_date`` reads it).

    >>> env = Env(timezone="America/Guayaquil")
    >>> parse_datetime_text("1979-07-18T10:30:45.123456Z", env)
    datetime.datetime(1979, 7, 18, 10, 30, 45, 123456, tzinfo=datetime.timezone.utc)
    >>> render(parse_datetime_text("10/05/2010 2:15pm", env))
    '2010-05-10T14:15:00.000000-05:00'
    """
    stripped = text.strip()
    if len(stripped) > _MAX_DATE_TEXT:
        raise DateError(f"{shown(text)} is not a date")
    iso = _ISO.fullmatch(stripped)
    if iso is not None:
        parts = [int(g) for g in iso.groups()[:5]]
        second = int(iso.group(6) or 0)
        zone = _offset(iso.group(8)) if iso.group(8) else env.zone
        try:
            return datetime(*parts, second, _fraction(iso.group(7)), tzinfo=zone)
        except ValueError as exc:
            raise DateError(f"{shown(text)} is not a date: {exc}") from None
    found = _date_in(stripped, env)
    if found is None:
        raise DateError(f"{shown(text)} is not a date")
    day, end = found
    at = _time_in(stripped[end:])
    if at is None:
        now = env.now.astimezone(env.zone) if fill_time and env.now is not None else None
        at = now.time() if now is not None else time(0)
    return datetime.combine(day, at, tzinfo=env.zone)


def parse_time_text(text: str) -> time:
    """A time of day from text: ``10:30``, ``10:30:45 PM``, ``14:50:30.000000``.

    >>> parse_time_text("10:30:45 PM"), parse_time_text("9:05")
    (datetime.time(22, 30, 45), datetime.time(9, 5))
    """
    stripped = text.strip()
    found = _time_in(stripped) if len(stripped) <= _MAX_DATE_TEXT else None
    if found is None:
        raise DateError(f"{shown(text)} is not a time")
    return found


def to_datetime(value: Any, env: Env) -> datetime:
    if isinstance(value, ErrorValue):
        raise DateError(value.message)
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=env.zone)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=env.zone)
    if isinstance(value, str | Mapping):
        return parse_datetime_text(render(value), env)
    raise DateError(f"{shown(value)} is not a date")


def to_date(value: Any, env: Env) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return to_datetime(value, env).date()


def to_time(value: Any, env: Env) -> time:
    if isinstance(value, ErrorValue):
        raise DateError(value.message)
    if isinstance(value, datetime):
        return value.timetz().replace(tzinfo=None)
    if isinstance(value, time):
        return value
    if isinstance(value, str | Mapping):
        text = render(value)
        iso = _ISO.fullmatch(text.strip())
        if iso is not None:
            return parse_datetime_text(text, env).time()
        return parse_time_text(text)
    raise DateError(f"{shown(value)} is not a time")


# --- layouts ---------------------------------------------------------------------------------

# Longest first, so "YYYY" is read before "YY" and "MMMM" before "MM".
_LAYOUT_TOKENS = sorted(
    [
        "YYYY",
        "YY",
        "MMMM",
        "MMM",
        "MM",
        "M",
        "DD",
        "D",
        "EEEE",
        "EEE",
        "hh",
        "h",
        "tt",
        "t",
        "mm",
        "m",
        "ss",
        "s",
        "fffffffff",
        "ffffff",
        "fff",
        "aa",
        "AA",
        "ZZZ",
        "Z",
    ],
    key=len,
    reverse=True,
)
_LITERALS = set(" :,T-_/.")
_DATE_TOKENS = {"YYYY", "YY", "MMMM", "MMM", "MM", "M", "DD", "D", "EEEE", "EEE"}
_TIME_TOKENS = set(_LAYOUT_TOKENS) - _DATE_TOKENS - {"Z", "ZZZ"}
_MAX_LAYOUT = 100


def layout_parts(layout: str, allowed: set[str] | None = None) -> list[tuple[bool, str]]:
    """``layout`` as (is a token, text) pieces; a character goflow does not know is an error.

    >>> layout_parts("DD-MM-YYYY")
    [(True, 'DD'), (False, '-'), (True, 'MM'), (False, '-'), (True, 'YYYY')]
    """
    if len(layout) > _MAX_LAYOUT:
        raise DateError("the format is too long")
    parts: list[tuple[bool, str]] = []
    i = 0
    while i < len(layout):
        token = next((t for t in _LAYOUT_TOKENS if layout.startswith(t, i)), None)
        if token is not None and (allowed is None or token in allowed):
            parts.append((True, token))
            i += len(token)
        elif layout[i] in _LITERALS:
            parts.append((False, layout[i]))
            i += 1
        else:
            raise DateError(f"{layout!r} is not a valid format: {layout[i]!r} is not allowed")
    return parts


def _hour12(hour: int) -> int:
    return hour % 12 or 12


def _format_token(token: str, moment: datetime) -> str:
    offset = moment.utcoffset() or timedelta(0)
    values = {
        "YYYY": f"{moment.year:04d}",
        "YY": f"{moment.year % 100:02d}",
        "MMMM": MONTHS[moment.month - 1],
        "MMM": MONTHS[moment.month - 1][:3],
        "MM": f"{moment.month:02d}",
        "M": str(moment.month),
        "DD": f"{moment.day:02d}",
        "D": str(moment.day),
        "EEEE": WEEKDAYS[moment.weekday()],
        "EEE": WEEKDAYS[moment.weekday()][:3],
        "hh": f"{_hour12(moment.hour):02d}",
        "h": str(_hour12(moment.hour)),
        "tt": f"{moment.hour:02d}",
        "t": str(moment.hour),
        "mm": f"{moment.minute:02d}",
        "m": str(moment.minute),
        "ss": f"{moment.second:02d}",
        "s": str(moment.second),
        "fff": f"{moment.microsecond // 1000:03d}",
        "ffffff": f"{moment.microsecond:06d}",
        "fffffffff": f"{moment.microsecond:06d}000",
        "aa": "am" if moment.hour < 12 else "pm",
        "AA": "AM" if moment.hour < 12 else "PM",
        "Z": "Z" if offset == timedelta(0) else format_offset(offset, colon=True),
        "ZZZ": format_offset(offset, colon=False),
    }
    return values[token]


def format_layout(moment: datetime, layout: str, allowed: set[str] | None = None) -> str:
    """``moment`` written in a goflow layout.

    >>> format_layout(datetime(2010, 5, 10, 14, 50), "YYYY M DD h:mm AA")
    '2010 5 10 2:50 PM'
    """
    return "".join(
        _format_token(text, moment) if token else text
        for token, text in layout_parts(layout, allowed)
    )


def format_date_layout(day: date, layout: str) -> str:
    return format_layout(datetime.combine(day, time(0)), layout, _DATE_TOKENS)


def format_time_layout(at: time, layout: str) -> str:
    return format_layout(datetime.combine(date(2000, 1, 1), at), layout, _TIME_TOKENS)


_PARSE_PATTERNS = {
    "YYYY": r"(?P<year>\d{4})",
    "YY": r"(?P<year2>\d{2})",
    "MMMM": r"(?P<monthname>[A-Za-z]+)",
    "MMM": r"(?P<monthname>[A-Za-z]{3})",
    "MM": r"(?P<month>\d{2})",
    "M": r"(?P<month>\d{1,2})",
    "DD": r"(?P<day>\d{2})",
    "D": r"(?P<day>\d{1,2})",
    "EEEE": r"[A-Za-z]+",
    "EEE": r"[A-Za-z]{3}",
    "hh": r"(?P<hour12>\d{2})",
    "h": r"(?P<hour12>\d{1,2})",
    "tt": r"(?P<hour>\d{2})",
    "t": r"(?P<hour>\d{1,2})",
    "mm": r"(?P<minute>\d{2})",
    "m": r"(?P<minute>\d{1,2})",
    "ss": r"(?P<second>\d{2})(?:\.(?P<fraction>\d{1,9}))?",
    "s": r"(?P<second>\d{1,2})(?:\.(?P<fraction>\d{1,9}))?",
    "fff": r"(?P<fraction>\d{3})",
    "ffffff": r"(?P<fraction>\d{6})",
    "fffffffff": r"(?P<fraction>\d{9})",
    "aa": r"(?P<meridiem>[aApP][mM])",
    "AA": r"(?P<meridiem>[aApP][mM])",
    "Z": r"(?P<offset>Z|[+-]\d{2}:?\d{2})",
    "ZZZ": r"(?P<offset>[+-]\d{2}:?\d{2})",
}


def _layout_pattern(layout: str, allowed: set[str] | None) -> re.Pattern[str]:
    pattern = []
    seen: set[str] = set()
    for is_token, text in layout_parts(layout, allowed):
        if not is_token:
            pattern.append(re.escape(text))
            continue
        piece = _PARSE_PATTERNS[text]
        for name in re.findall(r"\?P<(\w+)>", piece):
            if name in seen:
                raise DateError(f"{layout!r} is not a valid format: {text} appears twice")
            seen.add(name)
        pattern.append(piece)
    return re.compile("".join(pattern))


def _parsed_fields(text: str, layout: str, allowed: set[str] | None) -> dict[str, Any]:
    found = _layout_pattern(layout, allowed).fullmatch(text.strip())
    if found is None:
        raise DateError(f"{shown(text)} does not match the format {layout!r}")
    return {k: v for k, v in found.groupdict().items() if v is not None}


def _clock(fields: dict[str, Any]) -> time:
    hour = int(fields.get("hour", 0))
    if "hour12" in fields:
        hour = int(fields["hour12"])
        if not 1 <= hour <= 12:
            raise DateError(f"{hour} is not an hour of a 12-hour clock")
        hour %= 12
    if fields.get("meridiem", "").lower() == "pm":
        hour = hour % 12 + 12 if hour < 12 else hour
    try:
        return time(
            hour,
            int(fields.get("minute", 0)),
            int(fields.get("second", 0)),
            _fraction(fields.get("fraction")),
        )
    except ValueError as exc:
        raise DateError(str(exc)) from None


def parse_layout_datetime(text: str, layout: str, zone: tzinfo) -> datetime:
    """Text read with a goflow layout (``parse_datetime``).

    >>> render(parse_layout_datetime("2010 5 10 12:50", "YYYY M DD tt:mm", ZoneInfo("UTC")))
    '2010-05-10T12:50:00.000000Z'
    """
    fields = _parsed_fields(text, layout, None)
    year = int(fields.get("year", 1))
    if "year2" in fields:
        year = 2000 + int(fields["year2"])
    month = int(fields.get("month", 1))
    if "monthname" in fields:
        names = [m.lower() for m in MONTHS]
        name = fields["monthname"].lower()
        matches = [i for i, m in enumerate(names) if m == name or m[:3] == name]
        if not matches:
            raise DateError(f"{fields['monthname']!r} is not a month")
        month = matches[0] + 1
    zone = _offset(fields["offset"]) if "offset" in fields else zone
    try:
        return datetime.combine(date(year, month, int(fields.get("day", 1))), _clock(fields), zone)
    except ValueError as exc:
        raise DateError(str(exc)) from None


def parse_layout_time(text: str, layout: str) -> time:
    return _clock(_parsed_fields(text, layout, _TIME_TOKENS))
