"""Least squares and Student-t quantiles, checked against textbook values."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.errors import RulesError
from rules.regression import fit, t_cdf, t_quantile


@pytest.mark.parametrize(
    ("p", "dof", "expected"),
    [
        (0.90, 1, 3.077684),   # published tables
        (0.975, 1, 12.706205),
        (0.90, 2, 1.885618),
        (0.975, 5, 2.570582),
        (0.95, 30, 1.697261),
        (0.975, 1000, 1.962339),
        (0.10, 4, -1.533206),
        (0.5, 7, 0.0),
    ],
)
def test_t_quantiles_match_the_tables(p: float, dof: int, expected: float) -> None:
    assert t_quantile(p, dof) == pytest.approx(expected, abs=1e-5)


def test_t_with_one_degree_of_freedom_is_cauchy() -> None:
    for t in (-3.0, -0.5, 0.0, 0.7, 10.0):
        assert t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)


@given(st.integers(1, 200), st.floats(0.51, 0.999))
def test_t_quantile_inverts_the_cdf(dof: int, p: float) -> None:
    assert t_cdf(t_quantile(p, dof), dof) == pytest.approx(p, abs=1e-9)
    assert t_quantile(p, dof) >= statistics.NormalDist().inv_cdf(p) - 1e-9  # heavier tails


def test_a_perfect_line_is_found_with_a_zero_width_band() -> None:
    line = fit([1.0, 2.0, 3.0, 4.0], [10.0, 12.0, 14.0, 16.0])
    assert (line.slope, line.intercept) == pytest.approx((2.0, 8.0))
    assert line.predict(10.0, 0.8) == pytest.approx((28.0, 28.0, 28.0))


def test_the_band_matches_the_textbook_prediction_interval() -> None:
    xs, ys = [1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 3.0, 2.0, 5.0, 4.0]
    line = fit(xs, ys)
    # slope = Sxy/Sxx = 8/10, intercept = 3 - 0.8*3 = 0.6, SSE = 3.6, s = sqrt(1.2)
    assert (line.slope, line.intercept) == pytest.approx((0.8, 0.6))
    low, value, high = line.predict(8.0, 0.95)
    half = 3.182446 * math.sqrt(1.2) * math.sqrt(1 + 1 / 5 + (8 - 3) ** 2 / 10)
    assert value == pytest.approx(7.0)
    assert (low, high) == pytest.approx((7.0 - half, 7.0 + half), abs=1e-5)


@pytest.mark.parametrize(
    ("xs", "ys", "fragment"),
    [
        ([1.0, 2.0], [1.0, 2.0], "at least 3 points, got 2"),
        ([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], "two different dates"),
        ([1.0, 2.0, 3.0], [1.0, 2.0], "3 x values for 2 y values"),
    ],
)
def test_fit_refuses_what_it_cannot_fit(xs: list, ys: list, fragment: str) -> None:
    with pytest.raises(RulesError, match=fragment):
        fit(xs, ys)


def test_confidence_must_be_a_probability() -> None:
    with pytest.raises(RulesError, match="between 0 and 1"):
        fit([1.0, 2.0, 3.0], [1.0, 2.0, 4.0]).predict(4.0, 1.0)
