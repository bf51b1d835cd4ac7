"""The last arithmetic step of the catalog's definitions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.errors import RulesError
from rules.formulas import coverage, growth, monthly_rate, per_rep_per_month, share


@pytest.mark.parametrize(
    ("part", "whole", "expected"), [(18, 100, 0.18), (0, 5, 0.0), (3, 0, None)]
)
def test_share(part: float, whole: float, expected: float | None) -> None:
    assert share(part, whole) == expected


@pytest.mark.parametrize(
    ("current", "previous", "expected"),
    [(120_000, 100_000, 0.2), (90, 100, -0.1), (5, 0, None), (-5, -10, 0.5)],
)
def test_growth(current: float, previous: float, expected: float | None) -> None:
    assert growth(current, previous) == (pytest.approx(expected) if expected else expected)


def test_a_quarter_of_3_percent_a_month_is_3_percent_a_month() -> None:
    lost_in_quarter = 1 - 0.97**3  # 8.73 %
    assert monthly_rate(lost_in_quarter, 3) == pytest.approx(0.03)
    assert monthly_rate(0.05, 1) == pytest.approx(0.05)
    assert monthly_rate(1.0, 3) == 1.0


# Up to 90 % lost in the window: beyond, a window shorter than a month has a monthly rate
# so close to 100 % that floats cannot tell it from 100 %.
@given(st.floats(0.0, 0.9), st.floats(0.1, 24.0))
def test_the_monthly_rate_compounds_back_to_the_window_rate(rate: float, months: float) -> None:
    monthly = monthly_rate(rate, months)
    assert 0.0 <= monthly <= 1.0
    assert 1 - (1 - monthly) ** months == pytest.approx(rate, rel=1e-6, abs=1e-12)


def test_a_tiny_churn_keeps_its_precision() -> None:
    assert monthly_rate(3e-12, 3) == pytest.approx(1e-12, rel=1e-9)


@pytest.mark.parametrize(
    ("rate", "months", "fragment"), [(0.1, 0, "no monthly rate"), (1.2, 3, "between 0 and 100")]
)
def test_monthly_rate_refuses_nonsense(rate: float, months: float, fragment: str) -> None:
    with pytest.raises(RulesError, match=fragment):
        monthly_rate(rate, months)


def test_coverage_of_the_quota_left() -> None:
    # quota 60 000, 20 000 won: 40 000 left; 240 000 of open pipeline covers it 6 times
    assert coverage(240_000, 60_000, 20_000) == 6.0
    assert coverage(240_000, 60_000, 60_000) is None  # nothing left to cover
    assert coverage(240_000, 60_000, 70_000) is None


def test_leads_per_rep_per_month() -> None:
    assert per_rep_per_month(360, 4, 3) == 30.0
    assert per_rep_per_month(360, 0, 3) is None
    assert per_rep_per_month(360, 4, 0) is None
