"""Periods and windows: pure calendar arithmetic, ``now`` always given."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.errors import RulesError
from rules.periods import (
    Period,
    day_fraction,
    elapsed_share,
    iso_week,
    iso_week_label,
    iso_week_of,
    local_day,
    month_count,
    month_of,
    months_of,
    parse_period,
    position,
    quarter_of,
    trailing_days,
)

ZURICH = ZoneInfo("Europe/Zurich")
Q4 = Period(date(2026, 10, 1), date(2026, 12, 31))


@pytest.mark.parametrize(
    ("text", "start", "end", "label"),
    [
        ("2026-Q4", date(2026, 10, 1), date(2026, 12, 31), "2026-Q4"),
        ("2026-q1", date(2026, 1, 1), date(2026, 3, 31), "2026-Q1"),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29), "2024-02"),
        ("2026-11", date(2026, 11, 1), date(2026, 11, 30), "2026-11"),
        ("2026-W46", date(2026, 11, 9), date(2026, 11, 15), "2026-W46"),
        ("2026-W53", date(2026, 12, 28), date(2027, 1, 3), "2026-W53"),
        (" 2026 ", date(2026, 1, 1), date(2026, 12, 31), "2026"),
    ],
)
def test_parse_period(text: str, start: date, end: date, label: str) -> None:
    period = parse_period(text)
    assert (period.start, period.end, period.label) == (start, end, label)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("2026-Q5", "is not a period"), ("2026-13", "is not a period"),
     ("2025-W53", "2025 has no ISO week 53"), ("Q4", "write 2026-Q4")],
)
def test_bad_periods_say_how_to_write_them(text: str, fragment: str) -> None:
    with pytest.raises(RulesError, match=fragment):
        parse_period(text)


def test_a_period_is_whole_days_in_order() -> None:
    with pytest.raises(RulesError, match="before it starts"):
        Period(date(2026, 12, 31), date(2026, 10, 1))
    with pytest.raises(RulesError, match="dates, not datetimes"):
        Period(datetime(2026, 10, 1, tzinfo=UTC), date(2026, 12, 31))
    assert Q4.days == 92
    assert date(2026, 12, 31) in Q4 and date(2027, 1, 1) not in Q4
    assert Period(date(2026, 10, 3), date(2026, 10, 9)).label == "2026-10-03..2026-10-09"


@pytest.mark.parametrize(
    ("day", "quarter", "month", "week"),
    [
        (date(2026, 11, 15), "2026-Q4", "2026-11", "2026-W46"),
        (date(2027, 1, 1), "2027-Q1", "2027-01", "2026-W53"),
        (date(2025, 12, 29), "2025-Q4", "2025-12", "2026-W01"),
        (date(2024, 2, 29), "2024-Q1", "2024-02", "2024-W09"),
    ],
)
def test_the_periods_holding_a_day(day: date, quarter: str, month: str, week: str) -> None:
    assert quarter_of(day).label == quarter
    assert month_of(day).label == month
    assert iso_week_of(day).label == week == iso_week_label(day)
    assert day in quarter_of(day) and day in month_of(day) and day in iso_week_of(day)
    assert iso_week_of(day).start.weekday() == 0


def test_iso_weeks_across_the_new_year() -> None:
    assert iso_week(date(2026, 12, 31)) == (2026, 53)
    assert iso_week(date(2027, 1, 3)) == (2026, 53)
    assert iso_week(date(2027, 1, 4)) == (2027, 1)


def test_trailing_days_end_on_the_given_day() -> None:
    week = trailing_days(date(2026, 11, 15), 7)
    assert (week.start, week.end, week.days) == (date(2026, 11, 9), date(2026, 11, 15), 7)
    with pytest.raises(RulesError, match="at least one day"):
        trailing_days(date(2026, 11, 15), 0)


def test_months_and_month_counts() -> None:
    assert [m.label for m in months_of(Q4)] == ["2026-10", "2026-11", "2026-12"]
    assert month_count(Q4) == 3.0
    odd = Period(date(2026, 10, 15), date(2026, 11, 14))
    assert [m.days for m in months_of(odd)] == [17, 14]
    assert month_count(odd) == pytest.approx(31 / 30.436875)


def test_same_dates_last_year() -> None:
    leap = Period(date(2024, 2, 1), date(2024, 2, 29))
    assert leap.shifted_years(-1) == Period(date(2023, 2, 1), date(2023, 2, 28))
    assert Q4.shifted_years(-1) == Period(date(2025, 10, 1), date(2025, 12, 31))


@pytest.mark.parametrize(
    ("now", "share"),
    [
        (date(2026, 9, 30), 0.0),                            # the day before: nothing elapsed
        (datetime(2026, 10, 1, 0, 0, tzinfo=ZURICH), 0.0),    # the first instant
        (datetime(2026, 10, 1, 12, 0, tzinfo=ZURICH), 0.5 / 92),
        (date(2026, 10, 1), 1 / 92),                          # a date is the end of that day
        (date(2026, 11, 15), 46 / 92),                        # half-way
        (datetime(2026, 11, 16, 0, 0, tzinfo=ZURICH), 46 / 92),
        (date(2026, 12, 31), 1.0),
        (datetime(2027, 2, 1, 9, 0, tzinfo=ZURICH), 1.0),
    ],
)
def test_elapsed_share(now: date, share: float) -> None:
    assert elapsed_share(Q4, now) == pytest.approx(share)


def test_the_wall_clock_reading_counts_not_utc() -> None:
    # The caller converts now to the team's zone: 00:30 on 1 November in Zurich is still
    # 31 October in UTC, and the rules read whichever wall clock they are given.
    late = datetime(2026, 10, 31, 23, 30, tzinfo=timezone(timedelta(hours=1)))
    assert local_day(late) == date(2026, 10, 31)
    assert local_day(late.astimezone(UTC)) == date(2026, 10, 31)
    early = datetime(2026, 11, 1, 0, 30, tzinfo=ZURICH)
    assert local_day(early) == date(2026, 11, 1)
    assert local_day(early.astimezone(UTC)) == date(2026, 10, 31)
    assert day_fraction(early) == pytest.approx(0.5 / 24)


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(RulesError, match="no time zone"):
        elapsed_share(Q4, datetime(2026, 11, 1, 12, 0))  # noqa: DTZ001 (the point of the test)


_days = st.integers(min_value=-30, max_value=130)
_seconds = st.integers(min_value=0, max_value=86399)


@given(_days, _seconds, _days, _seconds)
def test_elapsed_share_is_monotone_and_bounded(d1: int, s1: int, d2: int, s2: int) -> None:
    start = datetime(2026, 10, 1, tzinfo=ZURICH)
    a = start + timedelta(days=d1, seconds=s1)
    b = start + timedelta(days=d2, seconds=s2)
    a, b = sorted((a, b))
    assert 0.0 <= elapsed_share(Q4, a) <= elapsed_share(Q4, b) <= 1.0
    assert position(Q4, b) - position(Q4, a) <= (b - a).total_seconds() / 86400 + 1e-9
