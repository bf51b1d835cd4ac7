"""Where a Key Result stands: progress, pace, projection and status at an instant ``now``.

- **Progress** is the share of the way from the baseline to the (effective) target covered:
  ``(actual - baseline) / (target - baseline)``. 1.0 is 100 %: the target is reached. The
  same formula serves KRs that go down (churn 3 % -> 2 %: at 2.5 % progress is 0.5). The raw
  value is kept (-0.2 when the KR went backwards, 1.3 when it overshot); ``shown`` is clamped
  to 0..1 for display. A "hold the line" KR (target == baseline) scores 1.0 on the right
  side of its target (per the metric's direction) and 0.0 on the wrong side.
- **Pace** compares actual progress with the progress expected by now on the trajectory:
  ``1 + (actual - expected) / max(expected, floor)``. Once the expected progress exceeds
  ``floor`` (5 % of the way by default) this is exactly ``actual / expected`` (0.8: 80 % of
  the progress we should have made); before that the shortfall is measured against the floor,
  so the first days of a period do not divide by almost nothing. Pace is 1.0 whenever actual
  equals expected. A hold KR's pace is 1.0 on the right side, 0.0 on the wrong one.
- **Projection** at the period's end: the least-squares line through the last ``last`` points
  of the series known at ``now`` (default 14: two weeks of daily values, so weekdays and
  weekends weigh alike), extended to the end of the period's last day, with a prediction
  interval (80 % by default; :mod:`rules.regression`). Fewer than 3 points on distinct days:
  :class:`NotEnoughData` with the reason.
- **Status** from the pace, with hysteresis (:class:`StatusThresholds`): a KR turns
  ``at_risk`` below ``below`` (90 %) and comes back ``on_track`` only above ``recover_above``
  (95 %); it turns ``off_track`` below ``off_track_below`` (70 %) and leaves that state only
  above ``off_track_recover_above`` (by default ``off_track_below`` plus the same gap, 75 %).
  A pace between two thresholds keeps the previous status. Before ``min_elapsed`` of the
  period (10 %) there is too little to judge: the status is ``on_track``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from rules import catalog
from rules.errors import RulesError
from rules.periods import Instant, Period, day_position, elapsed_share, local_day
from rules.regression import fit
from rules.series import Change, SeriesLike, until, week_over_week
from rules.targets import (
    KeyResultSpec,
    KrDirection,
    Revision,
    expected_fraction,
    expected_value,
)

#: Below this share of the way, the pace's shortfall is measured against it.
PACE_FLOOR = 0.05


@dataclass(frozen=True, slots=True)
class Progress:
    """Share of the way from baseline to target: ``raw`` as computed, ``shown`` in 0..1."""

    raw: float
    shown: float


def progress_toward(
    baseline: float, target: float, actual: float, direction: KrDirection
) -> Progress:
    """The progress of ``actual`` from ``baseline`` to ``target`` (see the module doc)."""
    if target == baseline:
        good = actual >= target if direction is KrDirection.UP else actual <= target
        raw = 1.0 if good else 0.0
    else:
        raw = (actual - baseline) / (target - baseline)
    return Progress(raw, min(max(raw, 0.0), 1.0))


def progress(spec: KeyResultSpec, actual: float, now: Instant) -> Progress:
    """Progress toward the target in force at ``now``."""
    return progress_toward(spec.require_baseline(), spec.target_at(now), actual, spec.direction)


def pace_ratio(
    spec: KeyResultSpec, actual: float, now: Instant, *, floor: float = PACE_FLOOR
) -> float:
    """Actual progress over expected progress at ``now`` (see the module doc)."""
    if not 0 < floor <= 1:
        raise RulesError(f"the pace floor is a share of the way in (0, 1], not {floor}")
    done = progress(spec, actual, now)
    if spec.target_at(now) == spec.require_baseline():
        return done.raw
    expected = expected_fraction(spec, now)
    return 1.0 + (done.raw - expected) / max(expected, floor)


# --------------------------------------------------------------------------- status


class Status(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    OFF_TRACK = "off_track"


_RANK = {Status.ON_TRACK: 0, Status.AT_RISK: 1, Status.OFF_TRACK: 2}


@dataclass(frozen=True, slots=True)
class StatusThresholds:
    """Pace thresholds (fractions: 0.9 is 90 %) and the minimum elapsed share to judge."""

    below: float = 0.90
    recover_above: float = 0.95
    off_track_below: float = 0.70
    off_track_recover_above: float | None = None
    min_elapsed: float = 0.10

    def __post_init__(self) -> None:
        if not self.off_track_below <= self.below <= self.recover_above:
            raise RulesError(
                "pace thresholds must satisfy off_track_below <= below <= recover_above, got "
                f"{self.off_track_below:g}, {self.below:g}, {self.recover_above:g}"
            )
        if not self.off_track_below <= self.off_recover <= self.recover_above:
            raise RulesError(
                f"off_track_recover_above ({self.off_recover:g}) must lie between "
                f"off_track_below ({self.off_track_below:g}) and recover_above "
                f"({self.recover_above:g})"
            )
        if not 0 <= self.min_elapsed <= 1:
            raise RulesError(f"min_elapsed is a share of the period, not {self.min_elapsed}")

    @property
    def off_recover(self) -> float:
        """Where ``off_track`` ends: as given, else ``off_track_below`` plus the gap between
        ``below`` and ``recover_above`` (at most ``recover_above``)."""
        if self.off_track_recover_above is not None:
            return self.off_track_recover_above
        gap = self.recover_above - self.below
        return max(self.off_track_below, min(self.off_track_below + gap, self.recover_above))


def status(
    pace: float,
    elapsed: float,
    previous: Status = Status.ON_TRACK,
    thresholds: StatusThresholds | None = None,
) -> Status:
    """The status for ``pace`` given the ``previous`` one (hysteresis; see the module doc)."""
    limits = thresholds or StatusThresholds()
    if math.isnan(pace):
        raise RulesError("the pace is not a number; check the KR's baseline and value")
    if elapsed < limits.min_elapsed:
        return Status.ON_TRACK
    entered = Status.ON_TRACK
    if pace < limits.off_track_below:
        entered = Status.OFF_TRACK
    elif pace < limits.below:
        entered = Status.AT_RISK
    held = Status.ON_TRACK
    if previous is Status.OFF_TRACK and pace < limits.off_recover:
        held = Status.OFF_TRACK
    elif previous is not Status.ON_TRACK and pace < limits.recover_above:
        held = Status.AT_RISK
    return max(entered, held, key=_RANK.__getitem__)


# --------------------------------------------------------------------------- projection


@dataclass(frozen=True, slots=True)
class Projection:
    """The value expected at the end of ``at`` from the recent trend, with its band."""

    at: date
    value: float
    low: float
    high: float
    slope_per_day: float
    points: int
    confidence: float


@dataclass(frozen=True, slots=True)
class NotEnoughData:
    """Why there is no projection (too few points, all on one day)."""

    reason: str
    points: int


def project(
    period: Period,
    series: SeriesLike,
    now: Instant,
    *,
    last: int = 14,
    confidence: float = 0.80,
    floor: float | None = None,
) -> Projection | NotEnoughData:
    """The value at the end of ``period`` by the trend of the last ``last`` points known at
    ``now`` (see the module doc); ``floor``: the least the metric can be (0 for anything but
    a growth rate), the line and its band are cut there."""
    if last < 3:
        raise RulesError(f"a projection uses at least 3 points, not last={last}")
    recent = until(series, now)[-last:]
    if len(recent) < 3:
        return NotEnoughData(
            f"{len(recent)} value(s) known by {local_day(now)}; a projection needs 3 days "
            "of data",
            len(recent),
        )
    xs = [day_position(period, p.day) for p in recent]
    line = fit(xs, [p.value for p in recent])
    low, value, high = line.predict(float(period.days), confidence)
    if floor is not None:
        low, value, high = (max(floor, v) for v in (low, value, high))
    return Projection(period.end, value, low, high, line.slope, len(recent), confidence)


# --------------------------------------------------------------------------- one KR


@dataclass(frozen=True, slots=True)
class KrEvaluation:
    """Everything the digest and ``syncd status`` show for one KR at ``at``."""

    kr_id: str
    metric: str
    at: Instant
    elapsed: float
    direction: KrDirection
    actual: float
    baseline: float
    target: float
    original_target: float
    revision: Revision | None
    expected: float
    progress: Progress
    pace: float
    status: Status
    projection: Projection | NotEnoughData
    week_over_week: Change | None


def evaluate_kr(
    spec: KeyResultSpec,
    actual: float,
    now: Instant,
    *,
    series: SeriesLike = (),
    previous: Status = Status.ON_TRACK,
    thresholds: StatusThresholds | None = None,
    last: int = 14,
    confidence: float = 0.80,
) -> KrEvaluation:
    """Evaluate ``spec`` with its current value ``actual`` and its daily ``series``."""
    if not math.isfinite(actual):
        raise RulesError(f"KR {spec.id}: the current value {actual!r} is not a number")
    baseline = spec.require_baseline()
    target = spec.target_at(now)
    done = progress(spec, actual, now)
    pace = pace_ratio(spec, actual, now)
    elapsed = elapsed_share(spec.period, now)
    return KrEvaluation(
        kr_id=spec.id,
        metric=spec.metric,
        at=now,
        elapsed=elapsed,
        direction=spec.direction,
        actual=actual,
        baseline=baseline,
        target=target,
        original_target=spec.original_target,
        revision=spec.revision_at(now),
        expected=expected_value(spec, now),
        progress=done,
        pace=pace,
        status=status(pace, elapsed, previous, thresholds),
        projection=project(spec.period, series, now, last=last, confidence=confidence,
                           floor=None if catalog.get(spec.metric).signed else 0.0),
        week_over_week=week_over_week(series, now),
    )
