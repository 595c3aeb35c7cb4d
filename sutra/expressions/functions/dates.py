"""Date, datetime and time functions, in the organisation's time zone and formats.

A datetime is shown as goflow shows it (``2018-04-11T13:24:30.123456-05:00``), a date as
``2018-04-11`` and a time as ``13:24:30.123456``. Text is read as datetime() reads it: ISO 8601
with its own offset, or a date in the organisation's order with an optional time after it.
Month and day names (``MMMM``, ``EEEE``) are English.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sutra.expressions.datetimes import (
    format_date_layout,
    format_layout,
    format_time_layout,
    parse_layout_datetime,
    parse_layout_time,
    to_date,
    to_datetime,
    to_time,
    zone_named,
)
from sutra.expressions.env import Evaluation
from sutra.expressions.functions.examples import show as show
from sutra.expressions.functions.registry import (
    Date,
    DateTime,
    Integer,
    Number,
    Text,
    Time,
    Value,
    function,
)
from sutra.expressions.values import ErrorValue, format_offset

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNITS = "s, m, h, D, W, M, Y"


@function(name="date")
def date_(ev: Evaluation, value: Value) -> date | ErrorValue:
    """``value`` as a date; text is read in the organisation's date format.

    >>> show('@(date("1979-07-18T10:30:45.123456Z"))')
    1979-07-18
    >>> show('@(date("10/05/2010"))')
    2010-05-10
    >>> show('@(date("NOT DATE"))')
    ERROR
    """
    return value if isinstance(value, ErrorValue) else to_date(value, ev.env)


@function(name="datetime")
def datetime_(ev: Evaluation, value: Value) -> datetime | ErrorValue:
    """``value`` as a datetime.

    >>> show('@(datetime("1979-07-18"))')
    1979-07-18T00:00:00.000000-05:00
    >>> show('@(datetime("1979-07-18T10:30:45.123456Z"))')
    1979-07-18T10:30:45.123456Z
    """
    return value if isinstance(value, ErrorValue) else to_datetime(value, ev.env)


@function(name="time")
def time_(ev: Evaluation, value: Value) -> time | ErrorValue:
    """``value`` as a time of day.

    >>> show('@(time("10:30:45 PM"))')
    22:30:45.000000
    >>> show('@(time(datetime("1979-07-18T10:30:45.123456Z")))')
    10:30:45.123456
    """
    return value if isinstance(value, ErrorValue) else to_time(value, ev.env)


def _calendar_date(year: int, month: int, day: int) -> date:
    # As goflow: a day past the month's end runs on into the next month (31 Feb is 3 Mar).
    return date(year, month, 1) + timedelta(days=day - 1)


@function
def date_from_parts(year: Integer, month: Integer, day: Integer) -> date:
    """The date of ``year``, ``month`` and ``day``.

    >>> show('@(date_from_parts(2017, 2, 31))')
    2017-03-03
    >>> show('@(date_from_parts(2017, 13, 15))')
    ERROR
    """
    if not 1 <= month <= 12:
        raise ValueError("invalid value for month, must be 1-12")
    return _calendar_date(year, month, day)


@function
def time_from_parts(hour: Integer, minute: Integer, second: Integer) -> time:
    """The time of ``hour``, ``minute`` and ``second``.

    >>> show('@(time_from_parts(8, 10, 0))')
    08:10:00.000000
    >>> show('@(time_from_parts(25, 0, 0))')
    ERROR
    """
    if not 0 <= hour <= 23:
        raise ValueError("invalid value for hour, must be 0-23")
    if not 0 <= minute <= 59:
        raise ValueError("invalid value for minute, must be 0-59")
    if not 0 <= second <= 59:
        raise ValueError("invalid value for second, must be 0-59")
    return time(hour, minute, second)


@function
def now(ev: Evaluation) -> datetime:
    """The current date and time in the organisation's time zone.

    >>> show('@(now())')
    2018-04-11T13:24:30.123456-05:00
    """
    return _now(ev)


@function
def today(ev: Evaluation) -> date:
    """Today's date in the organisation's time zone.

    >>> show('@(today())')
    2018-04-11
    """
    return _now(ev).date()


def _now(ev: Evaluation) -> datetime:
    current = ev.now()
    if current is None:
        raise ValueError("the current time is not known here")
    return current


def _shifted(moment: datetime, offset: int, unit: str) -> datetime:
    if unit in ("s", "m", "h"):
        seconds = offset * {"s": 1, "m": 60, "h": 3600}[unit]
        # Elapsed time, as goflow adds it: across a clock change the wall time moves.
        zone = moment.tzinfo
        return (moment.astimezone(UTC) + timedelta(seconds=seconds)).astimezone(zone)
    if unit in ("D", "W"):
        day = moment.date() + timedelta(days=offset * (7 if unit == "W" else 1))
    elif unit in ("M", "Y"):
        months = moment.month - 1 + offset * (12 if unit == "Y" else 1)
        day = _calendar_date(moment.year + months // 12, months % 12 + 1, moment.day)
    else:
        raise ValueError(f"unknown unit: {unit}, must be one of {_UNITS}")
    return datetime.combine(day, moment.timetz())


@function
def datetime_add(datetime: DateTime, offset: Integer, unit: Text) -> datetime:
    """``datetime`` moved by ``offset`` ``unit``\\ s: Y, M, W, D, h, m or s.

    >>> show('@(datetime_add("2017-01-15", 5, "D"))')
    2017-01-20T00:00:00.000000-05:00
    >>> show('@(datetime_add("2017-01-15 10:45", 30, "m"))')
    2017-01-15T11:15:00.000000-05:00
    """
    return _shifted(datetime, offset, unit)


def _truncated(amount: int, unit: int) -> int:
    # Go divides toward zero.
    quotient = abs(amount) // unit
    return quotient if amount >= 0 else -quotient


def _months_between(start: datetime, end: datetime) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month
    later = (end.day, end.timetz().replace(tzinfo=None)) >= (
        start.day,
        start.timetz().replace(tzinfo=None),
    )
    if months > 0 and not later:
        months -= 1
    elif months < 0 and (end.day, end.time()) > (start.day, start.time()):
        months += 1
    return months


@function
def datetime_diff(date1: DateTime, date2: DateTime, unit: Text) -> Decimal:
    """How many whole ``unit``\\ s (Y, M, W, D, h, m or s) from ``date1`` to ``date2``.

    >>> show('@(datetime_diff("2017-01-15", "2017-05-15", "W"))')
    17
    >>> show('@(datetime_diff("2017-01-17 10:50", "2017-01-17 12:30", "h"))')
    1
    >>> show('@(datetime_diff("2017-01-17", "2015-12-17", "Y"))')
    -2
    """
    elapsed = date2 - date1
    seconds = elapsed.days * 86400 + elapsed.seconds
    days = (date2.date() - date1.date()).days
    amounts = {
        "s": seconds,
        "m": _truncated(seconds, 60),
        "h": _truncated(seconds, 3600),
        "D": days,
        "W": _truncated(days, 7),
        "M": _months_between(date1, date2),
        "Y": date2.year - date1.year,
    }
    if unit not in amounts:
        raise ValueError(f"unknown unit: {unit}, must be one of {_UNITS}")
    return Decimal(amounts[unit])


@function
def datetime_from_epoch(ev: Evaluation, seconds: Number) -> datetime:
    """The datetime ``seconds`` after 1 January 1970 UTC, in the organisation's time zone.

    >>> show('@(datetime_from_epoch(1497286619.123456))')
    2017-06-12T11:56:59.123456-05:00
    """
    micros = int(seconds * 1_000_000)
    return (_EPOCH + timedelta(microseconds=micros)).astimezone(ev.env.zone)


@function
def epoch(datetime: DateTime) -> Decimal:
    """``datetime`` as seconds since 1 January 1970 UTC.

    >>> show('@(epoch("2017-06-12T18:56:59.000000+02:00"))')
    1497286619
    >>> show('@(epoch("2017-06-12T16:56:59.123456Z"))')
    1497286619.123456
    """
    elapsed = datetime - _EPOCH
    whole = elapsed.days * 86400 + elapsed.seconds
    return (Decimal(whole) + Decimal(elapsed.microseconds).scaleb(-6)).normalize()


@function
def replace_time(datetime: DateTime, time: Time) -> datetime:
    """``datetime`` at ``time`` of the same day.

    >>> show('@(replace_time("2017-01-15", "10:30"))')
    2017-01-15T10:30:00.000000-05:00
    """
    return datetime.replace(
        hour=time.hour, minute=time.minute, second=time.second, microsecond=time.microsecond
    )


@function
def tz(datetime: DateTime) -> str:
    """The name of ``datetime``'s time zone.

    >>> show('@(tz("2017-01-15T02:15:18.123456Z"))')
    UTC
    >>> show('@(tz("2017-01-15"))')
    America/Guayaquil
    """
    zone = datetime.tzinfo
    key = getattr(zone, "key", None)
    if key:
        return str(key)
    if zone is UTC or datetime.utcoffset() == timedelta(0):
        return "UTC"
    return datetime.tzname() or ""


@function
def tz_offset(datetime: DateTime) -> str:
    """The offset of ``datetime``'s time zone from UTC, as ``+HHMM``.

    >>> show('@(tz_offset("2017-01-15 02:15:18PM"))')
    -0500
    """
    return format_offset(datetime.utcoffset() or timedelta(0), colon=False)


@function
def weekday(date: Date) -> Decimal:
    """The day of the week: 0 for Sunday to 6 for Saturday.

    >>> show('@(weekday("2017-01-15"))')
    0
    """
    return Decimal((date.weekday() + 1) % 7)


@function
def week_number(date: Date) -> Decimal:
    """The week of the year (weeks start on Sunday; the week of 1 January is week 1).

    >>> show('@(week_number("2019-07-23T16:56:59.000000Z"))')
    30
    """
    first = date.replace(month=1, day=1)
    offset = (first.weekday() + 1) % 7
    return Decimal((date.timetuple().tm_yday - 1 + offset) // 7 + 1)


@function
def format_date(ev: Evaluation, date: Date, format: Text | None = None) -> str:
    """``date`` in a layout (``YYYY-MM-DD``...), by default the organisation's date format.

    >>> show('@(format_date("1979-07-18T15:00:00.000000Z"))')
    18-07-1979
    >>> show('@(format_date("2010-05-10T19:50:00.000000Z", "YYYY M DD"))')
    2010 5 10
    """
    return format_date_layout(date, format if format is not None else ev.env.date_format)


@function
def format_datetime(
    ev: Evaluation, datetime: DateTime, format: Text | None = None, timezone: Text | None = None
) -> str:
    """``datetime`` in a layout (by default the organisation's date and time formats), in
    ``timezone`` or the organisation's.

    >>> show('@(format_datetime("1979-07-18T15:00:00.000000Z"))')
    18-07-1979 10:00
    >>> show('@(format_datetime("2010-05-10T19:50:00.000000Z", "YYYY-MM-DD hh:mm AA", '
    ...      '"America/Los_Angeles"))')
    2010-05-10 12:50 PM
    """
    layout = format if format is not None else f"{ev.env.date_format} {ev.env.time_format}"
    zone = zone_named(timezone) if timezone is not None else ev.env.zone
    return format_layout(datetime.astimezone(zone), layout)


@function
def format_time(ev: Evaluation, time: Time, format: Text | None = None) -> str:
    """``time`` in a layout (``tt:mm``...), by default the organisation's time format.

    >>> show('@(format_time("14:50:30.000000", "h:mm aa"))')
    2:50 pm
    """
    return format_time_layout(time, format if format is not None else ev.env.time_format)


@function
def parse_datetime(
    ev: Evaluation, text: Text, format: Text, timezone: Text | None = None
) -> datetime:
    """``text`` read in a layout, in ``timezone`` or the organisation's.

    >>> show('@(parse_datetime("2010 5 10 12:50", "YYYY M DD tt:mm", "America/Los_Angeles"))')
    2010-05-10T12:50:00.000000-07:00
    >>> show('@(parse_datetime("NOT DATE", "YYYY-MM-DD"))')
    ERROR
    """
    zone = zone_named(timezone) if timezone is not None else ev.env.zone
    return parse_layout_datetime(text, format, zone)


@function
def parse_time(text: Text, format: Text) -> time:
    """``text`` read as a time in a layout.

    >>> show('@(parse_time("2:40 pm", "h:mm aa"))')
    14:40:00.000000
    """
    return parse_layout_time(text, format)
