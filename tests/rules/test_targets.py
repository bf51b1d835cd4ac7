"""Key Result specs: direction, revisions, trajectories and the expected value by ``now``."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.errors import InvalidKeyResult, UnknownMetric
from rules.metric import Unit
from rules.periods import parse_period
from rules.targets import (
    KeyResultSpec,
    KrDirection,
    Linear,
    Milestones,
    Ramp,
    Revision,
    expected_fraction,
    expected_value,
)

ZURICH = ZoneInfo("Europe/Zurich")
Q4 = parse_period("2026-Q4")


def kr(metric: str = "lead_conversion_rate", **kw: object) -> KeyResultSpec:
    fields: dict = {"id": "kr", "metric": metric, "target": 0.25, "period": Q4, "baseline": 0.18}
    fields.update(kw)
    return KeyResultSpec(**fields)


@pytest.mark.parametrize(
    ("metric", "baseline", "target", "direction"),
    [
        ("lead_conversion_rate", 0.18, 0.25, KrDirection.UP),
        ("churn_rate", 0.03, 0.02, KrDirection.DOWN),
        ("churn_rate", 0.02, 0.03, KrDirection.UP),      # baseline -> target wins
        ("churn_rate", None, 0.02, KrDirection.DOWN),     # no baseline: the metric decides
        ("pipeline_coverage", None, 6.0, KrDirection.UP),
        ("sales_cycle_days", 35.0, 35.0, KrDirection.DOWN),  # equal: the metric decides
        ("arpu", 1450.0, 1450.0, KrDirection.UP),
    ],
)
def test_direction_is_inferred(
    metric: str, baseline: float | None, target: float, direction: KrDirection
) -> None:
    assert kr(metric, baseline=baseline, target=target).direction is direction


def test_the_unit_comes_from_the_metric_and_must_match_it() -> None:
    assert kr().unit is Unit.RATIO
    assert kr("arpu", baseline=1200.0, target=1450.0, unit=Unit.MONEY).unit is Unit.MONEY
    with pytest.raises(InvalidKeyResult, match="measured in money, not ratio"):
        kr("arpu", baseline=1200.0, target=1450.0, unit=Unit.RATIO)


def test_an_unknown_metric_is_refused_on_creation() -> None:
    with pytest.raises(UnknownMetric, match="pipeline_coverage"):
        kr("pipeline_coverag")


PIPELINE = kr(
    "pipeline_coverage",
    id="pipeline",
    baseline=3.0,
    target=6.0,
    revisions=(
        Revision(date(2026, 11, 9), 5.0, "Promotion agressive d'un concurrent, pipeline -25 %"),
        Revision(date(2026, 12, 1), 4.5, "Deux gros deals perdus"),
    ),
)


@pytest.mark.parametrize(
    ("now", "target", "reason"),
    [
        (date(2026, 11, 8), 6.0, None),
        (datetime(2026, 11, 9, 0, 0, tzinfo=ZURICH), 5.0, "Promotion"),
        (date(2026, 11, 30), 5.0, "Promotion"),
        (date(2026, 12, 31), 4.5, "Deux gros deals"),
    ],
)
def test_the_effective_target_follows_dated_revisions(
    now: date, target: float, reason: str | None
) -> None:
    assert PIPELINE.target_at(now) == target
    revision = PIPELINE.revision_at(now)
    assert (revision.reason.split(" ")[0] if revision else None) == (
        reason.split(" ")[0] if reason else None
    )
    assert PIPELINE.original_target == 6.0 and PIPELINE.final_target == 4.5


def test_revisions_are_kept_in_date_order() -> None:
    shuffled = kr(revisions=tuple(reversed(PIPELINE.revisions)))
    assert [r.date for r in shuffled.revisions] == [date(2026, 11, 9), date(2026, 12, 1)]


@pytest.mark.parametrize(
    ("revisions", "fragment"),
    [
        ((Revision(date(2026, 11, 9), 0.22, "  "),), "has no reason"),
        ((Revision(date(2027, 1, 9), 0.22, "late"),), "outside the period 2026-Q4"),
        (
            (Revision(date(2026, 11, 9), 0.22, "a"), Revision(date(2026, 11, 9), 0.2, "b")),
            "second one that day",
        ),
    ],
)
def test_bad_revisions_are_refused(revisions: tuple, fragment: str) -> None:
    with pytest.raises(InvalidKeyResult, match=fragment):
        kr(revisions=revisions)


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"target": float("nan")}, "the target nan is not a number"),
        ({"trajectory": Milestones(((date(2026, 12, 31), 0.25),))}, "not before the end"),
        ({"trajectory": Milestones(((date(2026, 9, 30), 0.18),))}, "not before the end"),
        (
            {"trajectory": Milestones(((date(2026, 11, 30), 0.2), (date(2026, 10, 31), 0.19)))},
            "once each, by date",
        ),
        (
            {"baseline": 0.25, "trajectory": Milestones(((date(2026, 11, 30), 0.25),))},
            "differs from the baseline",
        ),
    ],
)
def test_inconsistent_specs_are_refused(kw: dict, fragment: str) -> None:
    with pytest.raises(InvalidKeyResult, match=fragment):
        kr(**kw)


def test_a_ramp_needs_a_positive_exponent() -> None:
    with pytest.raises(InvalidKeyResult, match="positive number"):
        Ramp(0.0)


def test_a_missing_baseline_says_how_to_provide_it() -> None:
    spec = kr("pipeline_coverage", baseline=None, target=6.0)
    with pytest.raises(InvalidKeyResult, match=r"value at 2026-10-01 \(spec.with_baseline"):
        expected_value(spec, date(2026, 11, 1))
    assert expected_value(spec.with_baseline(3.0), date(2026, 12, 31)) == 6.0


HALF = date(2026, 11, 15)  # end of day 46 of 92: half-way through Q4


@pytest.mark.parametrize(
    ("trajectory", "now", "fraction"),
    [
        (Linear(), date(2026, 9, 1), 0.0),
        (Linear(), HALF, 0.5),
        (Linear(), date(2026, 12, 31), 1.0),
        (Ramp(), HALF, 0.25),
        (Ramp(3.0), HALF, 0.125),
        (Ramp(0.5), HALF, 0.5**0.5),
        # 0.20 by the end of 31 October (day 31 of 92) is 2/7 of the way from 18 % to 25 %
        (Milestones(((date(2026, 10, 31), 0.20),)), date(2026, 10, 31), 2 / 7),
        (Milestones(((date(2026, 10, 31), 0.20),)), date(2026, 10, 16), 16 / 31 * 2 / 7),
        (Milestones(((date(2026, 10, 31), 0.20),)), date(2026, 12, 31), 1.0),
        # then a straight line to the target: half of the remaining 61 days
        (
            Milestones(((date(2026, 10, 31), 0.20),)),
            datetime(2026, 12, 1, 12, 0, tzinfo=ZURICH),
            2 / 7 + (5 / 7) * 30.5 / 61,
        ),
    ],
)
def test_trajectories(trajectory: object, now: date, fraction: float) -> None:
    spec = kr(trajectory=trajectory)
    assert expected_fraction(spec, now) == pytest.approx(fraction)
    assert expected_value(spec, now) == pytest.approx(0.18 + fraction * 0.07)


def test_a_revision_moves_the_whole_path_and_the_milestones_with_it() -> None:
    spec = kr(
        baseline=0.18,
        target=0.25,
        trajectory=Milestones(((date(2026, 10, 31), 0.20),)),
        revisions=(Revision(date(2026, 11, 1), 0.22, "marché en contraction"),),
    )
    # before the revision: 2/7 of the way to 25 %
    assert expected_value(spec, date(2026, 10, 31)) == pytest.approx(0.20)
    # after: the same share of the way, to 22 %; at the end, the revised target
    assert expected_value(spec, date(2026, 11, 1)) == pytest.approx(
        0.18 + (2 / 7 + (5 / 7) / 61) * 0.04
    )
    assert expected_value(spec, date(2026, 12, 31)) == pytest.approx(0.22)


_instants = st.integers(min_value=-10 * 24, max_value=100 * 24).map(
    lambda hours: datetime(2026, 10, 1, tzinfo=ZURICH) + timedelta(hours=hours)
)
_values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(_values, _values, _instants, _instants)
def test_linear_expected_value_is_monotone_from_baseline_to_target(
    baseline: float, target: float, a: datetime, b: datetime
) -> None:
    spec = KeyResultSpec("k", "mrr", target, Q4, baseline=baseline)
    a, b = sorted((a, b))
    ea, eb = expected_value(spec, a), expected_value(spec, b)
    tolerance = 1e-9 * max(1.0, abs(baseline), abs(target))
    if target >= baseline:
        assert baseline - tolerance <= ea <= eb + tolerance <= target + 2 * tolerance
    else:
        assert baseline + tolerance >= ea >= eb - tolerance >= target - 2 * tolerance
    assert expected_value(spec, date(2026, 9, 30)) == pytest.approx(baseline)
    assert expected_value(spec, Q4.end) == pytest.approx(target)


@given(st.floats(0.1, 5.0), _instants, _instants)
def test_ramps_are_monotone_and_end_on_the_target(
    exponent: float, a: datetime, b: datetime
) -> None:
    spec = kr(trajectory=Ramp(exponent))
    a, b = sorted((a, b))
    assert 0.0 <= expected_fraction(spec, a) <= expected_fraction(spec, b) <= 1.0
    assert expected_fraction(spec, Q4.start) == pytest.approx((1 / 92) ** exponent)
    assert expected_fraction(spec, Q4.end) == 1.0
