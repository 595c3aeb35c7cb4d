"""When a schedule next runs: daily, weekly, across daylight-saving changes, up to its end."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from sutra.recurrence import Recurrence, next_run, parse_time

KOLKATA = "Asia/Kolkata"
NEW_YORK = "America/New_York"
LONDON = "Europe/London"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_daily_runs_later_today_then_tomorrow() -> None:
    rule = Recurrence(frequency="daily", at="09:00")
    # 02:00 UTC is 07:30 in Kolkata: 09:00 today is still to come (03:30 UTC).
    assert next_run(rule, utc(2026, 12, 1, 2, 0), KOLKATA) == utc(2026, 12, 1, 3, 30)
    # Exactly at the time: that one is taken, the next is tomorrow's.
    assert next_run(rule, utc(2026, 12, 1, 3, 30), KOLKATA) == utc(2026, 12, 2, 3, 30)


def test_the_local_day_decides_not_the_utc_day() -> None:
    # 20:00 UTC on 1 Dec is already 01:30 on 2 Dec in Kolkata: 00:45 on 2 Dec has passed.
    rule = Recurrence(frequency="daily", at="00:45")
    assert next_run(rule, utc(2026, 12, 1, 20, 0), KOLKATA) == utc(2026, 12, 2, 19, 15)


def test_weekly_picks_the_next_chosen_day() -> None:
    rule = Recurrence(frequency="weekly", at="10:00", days=("mon", "fri"))
    # Tuesday 1 Dec 2026 -> Friday 4 Dec, then Monday 7 Dec.
    first = next_run(rule, utc(2026, 12, 1, 12, 0), "UTC")
    assert first == utc(2026, 12, 4, 10, 0)
    assert next_run(rule, first, "UTC") == utc(2026, 12, 7, 10, 0)
    # One day a week: the same day next week once today's time has passed.
    only_tuesday = Recurrence(frequency="weekly", at="10:00", days=("tue",))
    assert next_run(only_tuesday, utc(2026, 12, 1, 12, 0), "UTC") == utc(2026, 12, 8, 10, 0)


def test_a_weekly_rule_without_days_never_runs() -> None:
    assert next_run(Recurrence(frequency="weekly", at="10:00"), utc(2026, 12, 1), "UTC") is None


def test_nine_stays_nine_across_the_clock_change() -> None:
    rule = Recurrence(frequency="daily", at="09:00")
    # New York moves to summer time on Sunday 8 March 2026: 09:00 EST is 14:00 UTC before,
    # 09:00 EDT is 13:00 UTC after.
    saturday = next_run(rule, utc(2026, 3, 7, 0, 0), NEW_YORK)
    assert saturday == utc(2026, 3, 7, 14, 0)
    sunday = next_run(rule, saturday, NEW_YORK)
    assert sunday == utc(2026, 3, 8, 13, 0)
    # And back in autumn (1 November 2026).
    assert next_run(rule, utc(2026, 11, 1, 0, 0), NEW_YORK) == utc(2026, 11, 1, 14, 0)


def test_a_skipped_hour_runs_after_the_gap_and_a_repeated_one_runs_once() -> None:
    # London skips 01:00-02:00 on 29 March 2026: 01:30 that night runs at 02:30 BST.
    skipped = Recurrence(frequency="daily", at="01:30")
    assert next_run(skipped, utc(2026, 3, 28, 12, 0), LONDON) == utc(2026, 3, 29, 1, 30)
    # 01:30 happens twice on 25 October 2026: the first time (BST, 00:30 UTC) only.
    repeated = next_run(skipped, utc(2026, 10, 24, 12, 0), LONDON)
    assert repeated == utc(2026, 10, 25, 0, 30)
    assert next_run(skipped, repeated, LONDON) == utc(2026, 10, 26, 1, 30)


def test_the_end_date_is_the_last_day() -> None:
    rule = Recurrence(frequency="daily", at="18:00", end_date=date(2026, 12, 2))
    first = next_run(rule, utc(2026, 12, 1, 12, 0), "UTC")
    assert first == utc(2026, 12, 1, 18, 0)
    last = next_run(rule, first, "UTC")
    assert last == utc(2026, 12, 2, 18, 0)
    assert next_run(rule, last, "UTC") is None
    # The end date is the organisation's day: 2 Dec in Kolkata ends before 2 Dec in UTC.
    kolkata = Recurrence(frequency="daily", at="23:00", end_date=date(2026, 12, 2))
    assert next_run(kolkata, utc(2026, 12, 2, 17, 31), KOLKATA) is None


def test_weekly_with_an_end_before_the_next_chosen_day() -> None:
    rule = Recurrence(frequency="weekly", at="10:00", days=("mon",), end_date=date(2026, 12, 6))
    assert next_run(rule, utc(2026, 12, 1), "UTC") is None


@pytest.mark.parametrize("text", ["9", "24:00", "12:60", "noon", "1:2", ""])
def test_times_that_are_not_times_of_day(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)
