"""Daily series: values as of a day, change over a window, contributors to a change."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.errors import RulesError
from rules.series import Point, change_over, points, top_contributors, value_at, week_over_week

ZURICH = ZoneInfo("Europe/Zurich")
D = date(2026, 11, 1)


def day(n: int) -> date:
    return D + timedelta(days=n)


def test_points_are_sorted_one_per_day_last_wins() -> None:
    series = [(day(2), 5.0), (day(0), 1.0), (day(2), 6.0)]
    assert points(series) == (Point(day(0), 1.0), Point(day(2), 6.0))


def test_a_value_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(RulesError, match="no usable value on 2026-11-01"):
        points([(D, float("nan"))])


@pytest.mark.parametrize(
    ("on", "expected"),
    [(day(-1), None), (day(0), 1.0), (day(1), 1.0), (day(3), 3.0), (day(30), 3.0)],
)
def test_value_as_of_a_day_is_the_last_known(on: date, expected: float | None) -> None:
    found = value_at([(day(0), 1.0), (day(3), 3.0)], on)
    assert (found.value if found else None) == expected


PIPE = [(day(n), v) for n, v in [(0, 100_000.0), (3, 90_000.0), (7, 75_000.0), (8, 70_000.0)]]


@pytest.mark.parametrize(
    ("now", "days", "expected"),
    [
        # 7 days up to day 7: 75k vs 100k
        (day(7), 7, (day(7), day(0), -25_000.0, -0.25)),
        # an aware datetime reads its local day
        (datetime(2026, 11, 8, 9, 0, tzinfo=ZURICH), 7, (day(7), day(0), -25_000.0, -0.25)),
        # the base as of day 2 is day 0's value (the last known)
        (day(9), 7, (day(8), day(0), -30_000.0, -0.30)),
        (day(8), 5, (day(8), day(3), -20_000.0, -20_000 / 90_000)),
        # points after now are not known yet
        (day(7), 4, (day(7), day(3), -15_000.0, -15_000 / 90_000)),
    ],
)
def test_change_over_a_window(now: date, days: int, expected: tuple) -> None:
    change = change_over(PIPE, now, days)
    assert change is not None
    current_day, base_day, absolute, relative = expected
    assert (change.current.day, change.base.day, change.days) == (current_day, base_day, days)
    assert change.absolute == pytest.approx(absolute)
    assert change.relative == pytest.approx(relative)


@pytest.mark.parametrize(
    ("series", "now", "why"),
    [
        (PIPE, day(6), "no value as of 7 days before: not enough history"),
        (PIPE, day(20), "nothing newer than the base: the data says nothing about the window"),
        ([], day(7), "no data at all"),
    ],
)
def test_no_change_without_data_on_both_ends(series: list, now: date, why: str) -> None:
    assert change_over(series, now, 7) is None, why


def test_a_change_from_zero_has_no_percentage() -> None:
    change = change_over([(day(0), 0.0), (day(7), 5.0)], day(7), 7)
    assert change is not None and change.absolute == 5.0 and change.relative is None


def test_a_change_from_a_negative_base_keeps_the_sign_of_the_move() -> None:
    change = change_over([(day(0), -0.10), (day(7), -0.05)], day(7), 7)
    assert change is not None and change.relative == pytest.approx(0.5)


def test_week_over_week_is_seven_days() -> None:
    change = week_over_week(PIPE, day(7))
    assert change is not None and change.base.day == day(0)
    with pytest.raises(RulesError, match="at least one day"):
        change_over(PIPE, day(7), 0)


def test_top_contributors_rank_by_size_of_the_move() -> None:
    before = {"lea": 40_000.0, "marc": 30_000.0, "paul": 30_000.0}
    after = {"lea": 25_000.0, "marc": 32_000.0, "sara": 10_000.0}
    top = top_contributors(before, after, n=3)
    assert [c.label for c in top] == ["paul", "lea", "sara"]
    total = sum(after.values()) - sum(before.values())  # -33k
    assert [c.delta for c in top] == [-30_000.0, -15_000.0, 10_000.0]
    assert top[0].share == pytest.approx(-30_000 / total)
    assert top[2].share is not None and top[2].share < 0  # moved against the total


def test_contributors_of_a_total_that_did_not_move() -> None:
    top = top_contributors({"a": 1.0, "b": 1.0}, {"a": 2.0, "b": 0.0})
    assert [(c.label, c.share) for c in top] == [("a", None), ("b", None)]
    assert top_contributors({"a": 1.0}, {"a": 1.0}) == ()


@given(
    st.dictionaries(st.sampled_from("abcdefgh"), st.floats(-1e6, 1e6), max_size=8),
    st.dictionaries(st.sampled_from("abcdefgh"), st.floats(-1e6, 1e6), max_size=8),
)
def test_all_contributors_add_up_to_the_total_change(before: dict, after: dict) -> None:
    every = top_contributors(before, after, n=100)
    total = sum(after.values()) - sum(before.values())
    assert sum(c.delta for c in every) == pytest.approx(total, abs=1e-6)
