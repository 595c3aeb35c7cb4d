"""When a scheduled trigger next runs: the one place that computes it (the store launching
occurrences and the pages showing the next one both ask here).

A schedule is a time of day in the organisation's time zone, every day or on some days of the
week, until an optional last day. Times are worked out on the local calendar and only then
turned into UTC, so 09:00 stays 09:00 across a daylight-saving change. A local time that does
not exist that day (the hour skipped in spring) runs at the same wall-clock distance after the
change, i.e. an hour later; one that happens twice (autumn) runs the first time.

>>> from datetime import UTC, datetime
>>> rule = Recurrence(frequency="weekly", days=("mon", "thu"), at="09:30")
>>> next_run(rule, datetime(2026, 12, 1, 12, 0, tzinfo=UTC), "Asia/Kolkata").isoformat()
'2026-12-03T04:00:00+00:00'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Frequency = Literal["daily", "weekly"]


@dataclass(frozen=True)
class Recurrence:
    frequency: Frequency
    at: str  # "HH:MM", local time
    days: tuple[str, ...] = ()  # for "weekly": some of DAYS
    end_date: date | None = None  # the last local day with an occurrence

    def at_time(self) -> time:
        hours, _, minutes = self.at.partition(":")
        return time(int(hours), int(minutes))


def parse_time(text: str) -> str:
    """``"9:05"`` -> ``"09:05"``; ValueError for anything that is not a time of day.

    >>> parse_time(" 7:30 ")
    '07:30'
    """
    hours, sep, minutes = text.strip().partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        raise ValueError(f"{text!r} is not a time like 09:30")
    h, m = int(hours), int(minutes)
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise ValueError(f"{text!r} is not a time of day (00:00 to 23:59)")
    return f"{h:02d}:{m:02d}"


def next_run(rule: Recurrence, after: datetime, timezone: str) -> datetime | None:
    """The first occurrence strictly after ``after`` (aware), in UTC; None when the end date
    has passed (or a weekly rule names no day)."""
    zone = ZoneInfo(timezone)
    wanted = set(DAYS) if rule.frequency == "daily" else set(rule.days)
    if not wanted:
        return None
    at = rule.at_time()
    first = after.astimezone(zone).date()
    # Eight days reach every weekday from any start, today's time having passed included.
    for offset in range(8):
        day = first + timedelta(days=offset)
        if rule.end_date is not None and day > rule.end_date:
            return None
        if DAYS[day.weekday()] not in wanted:
            continue
        # fold=0: a repeated local time is its first instance; a skipped one is read with the
        # offset before the change, which lands after the gap.
        occurrence = datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
        if occurrence > after:
            return occurrence
    return None
