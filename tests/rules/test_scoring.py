"""End-of-period OKR grading."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.errors import InvalidKeyResult, RulesError
from rules.periods import parse_period
from rules.scoring import Colour, colour, rounded, score_kr, score_objective
from rules.targets import KeyResultSpec, Revision

Q4 = parse_period("2026-Q4")
CONVERSION = KeyResultSpec("conversion-pme", "lead_conversion_rate", 0.25, Q4, baseline=0.18)
ARPU = KeyResultSpec("panier-moyen", "arpu", 1450.0, Q4, baseline=1200.0)
CHURN = KeyResultSpec("churn", "churn_rate", 0.02, Q4, baseline=0.03)
PIPELINE = KeyResultSpec(
    "pipeline",
    "pipeline_coverage",
    6.0,
    Q4,
    baseline=3.0,
    revisions=(Revision(date(2026, 11, 9), 5.0, "Promotion agressive d'un concurrent"),),
)
CYCLE = KeyResultSpec("cycle", "sales_cycle_days", 35.0, Q4, baseline=35.0)


@pytest.mark.parametrize(
    ("spec", "final", "score", "raw", "revised", "revised_target"),
    [
        (CONVERSION, 0.236, 0.8, 0.8, 0.8, None),
        (CONVERSION, 0.26, 1.0, 8 / 7, 1.0, None),  # overshoot: clamped, raw kept
        (CONVERSION, 0.17, 0.0, -1 / 7, 0.0, None),
        (ARPU, 1325.0, 0.5, 0.5, 0.5, None),
        (CHURN, 0.023, 0.7, 0.7, 0.7, None),  # down KR
        (PIPELINE, 5.0, 2 / 3, 2 / 3, 1.0, 5.0),  # revised target reached, original not
        (PIPELINE, 4.5, 0.5, 0.5, 0.75, 5.0),
        (CYCLE, 33.0, 1.0, 1.0, 1.0, None),  # hold KR on the right side
        (CYCLE, 38.0, 0.0, 0.0, 0.0, None),
    ],
)
def test_kr_scores(
    spec: KeyResultSpec,
    final: float,
    score: float,
    raw: float,
    revised: float,
    revised_target: float | None,
) -> None:
    result = score_kr(spec, final)
    assert (result.score, result.raw, result.revised_score) == pytest.approx(
        (score, raw, revised)
    )
    assert result.original_target == spec.target
    assert result.revised_target == revised_target


def test_a_kr_score_needs_a_baseline_and_a_number() -> None:
    with pytest.raises(InvalidKeyResult, match="no baseline"):
        score_kr(KeyResultSpec("p", "pipeline_coverage", 6.0, Q4), 5.0)
    with pytest.raises(RulesError, match="not a number"):
        score_kr(CONVERSION, float("inf"))


@pytest.mark.parametrize(
    ("score", "shown", "band"),
    [
        (0.0, 0.0, Colour.RED),
        (0.3, 0.3, Colour.RED),
        (0.34, 0.3, Colour.RED),
        (0.35, 0.4, Colour.YELLOW),  # half up, not to even
        (0.6, 0.6, Colour.YELLOW),
        (0.649, 0.6, Colour.YELLOW),
        (0.65, 0.7, Colour.GREEN),
        (1.0, 1.0, Colour.GREEN),
    ],
)
def test_colour_bands(score: float, shown: float, band: Colour) -> None:
    assert rounded(score) == shown
    assert colour(score) is band


def test_the_objective_is_the_mean_of_its_krs() -> None:
    scores = [
        score_kr(CONVERSION, 0.236),  # 0.8
        score_kr(ARPU, 1325.0),  # 0.5
        score_kr(CHURN, 0.023),  # 0.7
        score_kr(PIPELINE, 4.5),  # 0.5 original, 0.75 revised
    ]
    result = score_objective(scores)
    assert result.score == pytest.approx((0.8 + 0.5 + 0.7 + 0.5) / 4)
    assert result.revised_score == pytest.approx((0.8 + 0.5 + 0.7 + 0.75) / 4)
    assert (result.colour, result.revised_colour) == (Colour.YELLOW, Colour.GREEN)
    weighted = score_objective(scores, [2, 1, 1, 0.5])
    assert weighted.score == pytest.approx((1.6 + 0.5 + 0.7 + 0.25) / 4.5)


def test_an_overshoot_cannot_hide_a_miss() -> None:
    result = score_objective([score_kr(CONVERSION, 0.32), score_kr(ARPU, 1200.0)])
    assert result.score == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("weights", "fragment"),
    [([1.0], "1 weights for 2 KRs"), ([1.0, 0.0], "positive"), ([1.0, float("nan")], "positive")],
)
def test_bad_weights_are_refused(weights: list[float], fragment: str) -> None:
    with pytest.raises(RulesError, match=fragment):
        score_objective([score_kr(CONVERSION, 0.2), score_kr(ARPU, 1300.0)], weights)
    with pytest.raises(RulesError, match="at least one"):
        score_objective([])


_values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(_values, _values, _values, _values)
def test_scores_are_between_0_and_1(
    baseline: float, target: float, revised: float, final: float
) -> None:
    revisions = () if revised == target else (Revision(date(2026, 11, 9), revised, "why"),)
    spec = KeyResultSpec("k", "mrr", target, Q4, baseline=baseline, revisions=revisions)
    result = score_kr(spec, final)
    assert 0.0 <= result.score <= 1.0 and 0.0 <= result.revised_score <= 1.0
    objective = score_objective([result, score_kr(ARPU, 1300.0)])
    assert 0.0 <= objective.score <= 1.0
    assert min(result.score, 0.4) - 1e-12 <= objective.score <= max(result.score, 0.4) + 1e-12
