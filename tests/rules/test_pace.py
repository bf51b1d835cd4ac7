"""Progress, pace, status with hysteresis, projection: one KR at an explicit ``now``."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from rules.errors import InvalidKeyResult, RulesError
from rules.pace import (
    NotEnoughData,
    Projection,
    Status,
    StatusThresholds,
    evaluate_kr,
    pace_ratio,
    progress,
    progress_toward,
    project,
    status,
)
from rules.periods import parse_period
from rules.targets import KeyResultSpec, KrDirection, Ramp, Revision, expected_value

ZURICH = ZoneInfo("Europe/Zurich")
Q4 = parse_period("2026-Q4")
HALF = date(2026, 11, 15)  # 46 of 92 days
ON, RISK, OFF = Status.ON_TRACK, Status.AT_RISK, Status.OFF_TRACK

CONVERSION = KeyResultSpec("conversion-pme", "lead_conversion_rate", 0.25, Q4, baseline=0.18)
CHURN = KeyResultSpec("churn", "churn_rate", 0.02, Q4, baseline=0.03)
CYCLE = KeyResultSpec("cycle", "sales_cycle_days", 35.0, Q4, baseline=35.0)


@pytest.mark.parametrize(
    ("spec", "actual", "raw", "shown"),
    [
        (CONVERSION, 0.215, 0.5, 0.5),
        (CONVERSION, 0.25, 1.0, 1.0),
        (CONVERSION, 0.27, 9 / 7, 1.0),      # overshoot kept raw, clamped for display
        (CONVERSION, 0.16, -2 / 7, 0.0),     # went backwards
        (CHURN, 0.025, 0.5, 0.5),            # down KR: 3 % -> 2 %, half-way at 2.5 %
        (CHURN, 0.035, -0.5, 0.0),
        (CHURN, 0.015, 1.5, 1.0),
        (CYCLE, 34.0, 1.0, 1.0),             # hold, lower is better: under the target is fine
        (CYCLE, 35.0, 1.0, 1.0),
        (CYCLE, 36.0, 0.0, 0.0),
    ],
)
def test_progress(spec: KeyResultSpec, actual: float, raw: float, shown: float) -> None:
    result = progress(spec, actual, HALF)
    assert (result.raw, result.shown) == pytest.approx((raw, shown))


def test_progress_is_measured_against_the_target_in_force() -> None:
    revised = KeyResultSpec(
        "p", "pipeline_coverage", 6.0, Q4, baseline=3.0,
        revisions=(Revision(date(2026, 11, 9), 5.0, "pipeline -25 %"),),
    )
    assert progress(revised, 4.0, date(2026, 11, 8)).raw == pytest.approx(1 / 3)
    assert progress(revised, 4.0, date(2026, 11, 9)).raw == pytest.approx(1 / 2)


_finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)


@given(_finite, _finite, st.sampled_from(KrDirection))
def test_reaching_the_target_is_100_percent(
    baseline: float, target: float, direction: KrDirection
) -> None:
    done = progress_toward(baseline, target, target, direction)
    assert done.raw == pytest.approx(1.0) and done.shown == pytest.approx(1.0)
    if baseline != target:
        assert progress_toward(baseline, target, baseline, direction).raw == 0.0


@pytest.mark.parametrize(
    ("spec", "actual", "now", "pace"),
    [
        (CONVERSION, 0.215, HALF, 1.0),                  # where it should be
        (CONVERSION, 0.18 + 0.8 * 0.035, HALF, 0.8),     # 80 % of the expected progress
        (CONVERSION, 0.25, HALF, 2.0),                   # target reached half-way
        (CONVERSION, 0.17, HALF, 1 - (1 / 7 + 0.5) / 0.5),  # backwards: negative pace
        (CHURN, 0.026, HALF, 0.8),                       # down KR: 40 % of the way vs 50 %
        (CHURN, 0.031, HALF, 1 - 0.6 / 0.5),
        # day 1 of 92: expected 1/92 of the way, under the 5 % floor; no progress yet
        (CONVERSION, 0.18, date(2026, 10, 1), 1 - (1 / 92) / 0.05),
        # the first instant: nothing expected, nothing done: on pace
        (CONVERSION, 0.18, datetime(2026, 10, 1, tzinfo=ZURICH), 1.0),
        (CYCLE, 34.0, HALF, 1.0),
        (CYCLE, 37.0, HALF, 0.0),
    ],
)
def test_pace_ratio(spec: KeyResultSpec, actual: float, now: date, pace: float) -> None:
    assert pace_ratio(spec, actual, now) == pytest.approx(pace)


def test_near_the_start_the_pace_does_not_explode() -> None:
    two_hours_in = datetime(2026, 10, 1, 2, 0, tzinfo=ZURICH)
    # 0.1 point behind after two hours: a big miss on a tiny expectation, but measured
    # against 5 % of the way, not against the 0.09 % expected.
    pace = pace_ratio(CONVERSION, 0.179, two_hours_in)
    assert -1.0 < pace < 1.0
    assert pace == pytest.approx(1 + (-1 / 70 - (2 / 24) / 92) / 0.05)


def test_the_pace_floor_is_a_share_of_the_way() -> None:
    with pytest.raises(RulesError, match="pace floor"):
        pace_ratio(CONVERSION, 0.2, HALF, floor=0.0)


_instants = st.integers(min_value=0, max_value=92 * 24).map(
    lambda hours: datetime(2026, 10, 1, tzinfo=ZURICH) + timedelta(hours=hours)
)


@given(_finite, _finite, _instants, st.floats(0.2, 4.0))
def test_pace_is_one_when_actual_equals_expected(
    baseline: float, target: float, now: datetime, exponent: float
) -> None:
    assume(abs(target - baseline) > 1e-6 * max(1.0, abs(baseline), abs(target)))
    for trajectory in (None, Ramp(exponent)):
        spec = KeyResultSpec("k", "mrr", target, Q4, baseline=baseline)
        if trajectory is not None:
            spec = KeyResultSpec("k", "mrr", target, Q4, baseline=baseline, trajectory=trajectory)
        assert pace_ratio(spec, expected_value(spec, now), now) == pytest.approx(1.0, abs=1e-6)


# --------------------------------------------------------------------------- status

LIMITS = StatusThresholds(below=0.90, recover_above=0.95, off_track_below=0.70)


@pytest.mark.parametrize(
    ("pace", "previous", "expected"),
    [
        (1.20, ON, ON),
        (0.92, ON, ON),      # above below: no alarm yet
        (0.89, ON, RISK),    # fires below 90 %
        (0.92, RISK, RISK),  # between the thresholds: stays at risk
        (0.95, RISK, ON),    # recovers at 95 %
        (0.69, ON, OFF),     # a sudden fall goes straight off track
        (0.72, OFF, OFF),    # off track until 75 %
        (0.75, OFF, RISK),   # then at risk until 95 %
        (0.93, OFF, RISK),
        (0.96, OFF, ON),
        (0.72, RISK, RISK),  # between 70 % and 75 % from at risk: not off track
        (0.69, RISK, OFF),
    ],
)
def test_status_with_hysteresis(pace: float, previous: Status, expected: Status) -> None:
    assert status(pace, 0.5, previous, LIMITS) is expected


@pytest.mark.parametrize("previous", list(Status))
def test_no_alarm_before_the_minimum_elapsed_share(previous: Status) -> None:
    assert status(0.0, 0.09, previous, LIMITS) is ON
    assert status(0.0, 0.10, previous, LIMITS) is OFF
    assert status(0.0, 0.04, previous, StatusThresholds(min_elapsed=0.05)) is ON


def test_the_default_off_track_recovery_keeps_the_same_gap() -> None:
    assert StatusThresholds(below=0.8, recover_above=0.9, off_track_below=0.5).off_recover == (
        pytest.approx(0.6)
    )
    assert StatusThresholds(off_track_recover_above=0.8).off_recover == 0.8


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"below": 0.96}, "off_track_below <= below <= recover_above"),
        ({"off_track_below": 0.91}, "off_track_below <= below <= recover_above"),
        ({"off_track_recover_above": 0.6}, "must lie between off_track_below"),
        ({"min_elapsed": 1.5}, "share of the period"),
    ],
)
def test_thresholds_must_be_ordered(kw: dict, fragment: str) -> None:
    with pytest.raises(RulesError, match=fragment):
        StatusThresholds(**kw)


_limits = st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 0.3), st.floats(0.0, 0.3)).map(
    lambda t: StatusThresholds(
        off_track_below=t[0], below=t[0] + t[1], recover_above=t[0] + t[1] + t[2]
    )
)


@given(_limits, st.floats(0.0, 1.0), st.sampled_from([ON, RISK]))
def test_hysteresis_never_flaps_between_the_two_thresholds(
    limits: StatusThresholds, where: float, previous: Status
) -> None:
    assume(limits.recover_above > limits.below)
    pace = limits.below + where * (limits.recover_above - limits.below)
    assume(pace < limits.recover_above)
    assert status(pace, 0.5, previous, limits) is previous


@given(_limits, st.floats(-1.0, 2.0), st.sampled_from(list(Status)))
def test_a_steady_pace_settles_after_one_step(
    limits: StatusThresholds, pace: float, previous: Status
) -> None:
    once = status(pace, 0.5, previous, limits)
    assert status(pace, 0.5, once, limits) is once


# --------------------------------------------------------------------------- projection


def daily(start: date, values: list[float]) -> list[tuple[date, float]]:
    return [(start + timedelta(days=i), v) for i, v in enumerate(values)]


def test_a_straight_trend_projects_exactly_to_the_end_of_the_period() -> None:
    # +1 000 a day from 10 000 on 1 October (position 1): 101 000 by the end of 31 December
    series = daily(date(2026, 10, 1), [10_000.0 + 1_000 * i for i in range(30)])
    result = project(Q4, series, date(2026, 10, 30))
    assert isinstance(result, Projection)
    assert result.value == pytest.approx(101_000.0)
    assert (result.low, result.high) == pytest.approx((101_000.0, 101_000.0))
    assert result.slope_per_day == pytest.approx(1_000.0)
    assert (result.points, result.at, result.confidence) == (14, date(2026, 12, 31), 0.8)


def test_the_band_holds_the_projection_and_widens_with_noise() -> None:
    wiggle = [(-1) ** i * 500.0 for i in range(20)]
    calm = daily(date(2026, 10, 1), [10_000.0 + 1_000 * i for i in range(20)])
    noisy = daily(date(2026, 10, 1), [v + w for (_, v), w in zip(calm, wiggle, strict=True)])
    result = project(Q4, noisy, date(2026, 10, 20))
    assert isinstance(result, Projection)
    assert result.low < result.value < result.high
    wider = project(Q4, noisy, date(2026, 10, 20), confidence=0.95)
    assert isinstance(wider, Projection) and wider.high - wider.low > result.high - result.low
    few = project(Q4, noisy, date(2026, 10, 20), last=4)
    assert isinstance(few, Projection) and few.high - few.low > result.high - result.low


def test_the_projection_uses_only_the_last_points_known_at_now() -> None:
    # flat until 10 October, then rising; the future (after now) is not known yet
    values = [100.0] * 10 + [100.0 + 10 * i for i in range(1, 11)] + [0.0] * 5
    series = daily(date(2026, 10, 1), values)
    result = project(Q4, series, date(2026, 10, 20), last=10)
    assert isinstance(result, Projection)
    assert result.slope_per_day == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("series", "known"),
    [([], 0), (daily(date(2026, 10, 1), [1.0, 2.0]), 2), (daily(date(2026, 10, 30), [1.0] * 9), 0)],
)
def test_too_few_points_give_no_projection(series: list, known: int) -> None:
    result = project(Q4, series, date(2026, 10, 20))
    assert isinstance(result, NotEnoughData)
    assert result.points == known
    assert f"{known} value(s) known by 2026-10-20" in result.reason


# --------------------------------------------------------------------------- one KR


def test_evaluate_a_kr_of_the_seed() -> None:
    now = datetime(2026, 11, 16, 7, 30, tzinfo=ZURICH)  # Monday digest, week 47
    series = daily(date(2026, 10, 1), [0.18 + 0.0003 * i for i in range(47)])
    result = evaluate_kr(CONVERSION, 0.1938, now, series=series, previous=ON)
    elapsed = (46 + 7.5 / 24) / 92
    assert result.elapsed == pytest.approx(elapsed)
    assert result.expected == pytest.approx(0.18 + 0.07 * elapsed)
    assert result.progress.raw == pytest.approx(0.0138 / 0.07)
    assert result.pace == pytest.approx((0.0138 / 0.07) / elapsed)
    assert result.status is OFF  # about 39 % of the expected progress
    assert isinstance(result.projection, Projection)
    assert result.projection.value == pytest.approx(0.18 + 0.0003 * 91)
    assert result.week_over_week is not None
    assert result.week_over_week.absolute == pytest.approx(0.0021)
    assert (result.target, result.original_target, result.revision) == (0.25, 0.25, None)
    assert result.direction is KrDirection.UP


def test_evaluation_needs_a_number_and_a_baseline() -> None:
    with pytest.raises(RulesError, match="is not a number"):
        evaluate_kr(CONVERSION, float("nan"), HALF)
    no_baseline = KeyResultSpec("p", "pipeline_coverage", 6.0, Q4)
    with pytest.raises(InvalidKeyResult, match="has no baseline"):
        evaluate_kr(no_baseline, 4.0, HALF)


def test_a_falling_trend_is_floored_where_the_metric_stops() -> None:
    # a pipeline losing 100 000 a day: the line goes far below zero by the end of December
    series = daily(date(2026, 10, 1), [2_000_000.0 - 100_000 * i for i in range(20)])
    free = project(Q4, series, date(2026, 10, 20))
    floored = project(Q4, series, date(2026, 10, 20), floor=0.0)
    assert isinstance(free, Projection) and isinstance(floored, Projection)
    assert free.value < 0 and free.high < 0
    assert (floored.low, floored.value, floored.high) == (0.0, 0.0, 0.0)
    assert floored.slope_per_day == free.slope_per_day  # the trend itself is reported as is


def test_only_growth_rates_may_be_projected_below_zero() -> None:
    from rules import catalog

    signed = {key for key, metric in catalog.CATALOG.items() if metric.signed}
    assert signed == {"mrr_growth", "revenue_yoy_growth"}
