"""A Key Result's target: baseline, target, period, direction, trajectory and revisions.

- **Direction.** A KR goes ``up`` when its target is above its baseline (conversion 18 % ->
  25 %) and ``down`` when below (churn 3 % -> 2 %). Without a baseline, or when baseline and
  target are equal (a "hold the line" KR), the metric's own direction decides.
- **Trajectory**: where the KR should be at each moment of its period, as the share of the
  way from baseline to target expected by then, given the elapsed share ``s`` of the period
  (:mod:`rules.periods`):

  - ``Linear()`` (default): ``s``; half-way through the quarter, half-way to the target.
  - ``Ramp(exponent)``: ``s ** exponent``, a slow start (new reps ramping up, deals signed
    at the end of the quarter); the default exponent 2 expects a quarter of the way at
    mid-period. An exponent below 1 expects a fast start.
  - ``Milestones(((day, value), ...))``: the values the team committed to by the end of given
    days, joined by straight lines from (period start, baseline) to (period end, target).
    Each milestone is kept as its share of the way from the baseline to the *original*
    target, so a revised target moves the milestones along with it.
- **Revisions**: a target changed mid-period, from ``Revision.date`` on, with the reason that
  is announced. The original target is kept: scores are given against both. The effective
  target at an instant is the one of the latest revision dated on or before its day; the
  trajectory then runs from the baseline to that target, as if it had been the target from
  the start (so a lowered target is not reported as an instant leap ahead).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from rules import catalog
from rules.errors import InvalidKeyResult
from rules.metric import Unit
from rules.periods import Instant, Period, day_position, elapsed_share, local_day


class KrDirection(StrEnum):
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class Linear:
    """Expect progress in proportion to the time elapsed."""


@dataclass(frozen=True, slots=True)
class Ramp:
    """Expect ``elapsed_share ** exponent`` of the way: above 1 a slow start."""

    exponent: float = 2.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.exponent) and self.exponent > 0):
            raise InvalidKeyResult(
                f"a ramp's exponent must be a positive number, not {self.exponent}; "
                "2 is a slow start, 0.5 a fast one"
            )


@dataclass(frozen=True, slots=True)
class Milestones:
    """Values to reach by the end of given days, straight lines in between."""

    points: tuple[tuple[date, float], ...]


Trajectory = Linear | Ramp | Milestones


@dataclass(frozen=True, slots=True)
class Revision:
    """A target changed from ``date`` on, for the announced ``reason``."""

    date: date
    target: float
    reason: str


@dataclass(frozen=True, slots=True)
class KeyResultSpec:
    """One Key Result as the rules see it; ``target`` is the original target.

    ``unit`` defaults to the metric's and must match it. Validation happens on creation
    (:class:`~rules.errors.InvalidKeyResult`, :class:`~rules.errors.UnknownMetric`).
    """

    id: str
    metric: str
    target: float
    period: Period
    baseline: float | None = None
    unit: Unit | None = None
    trajectory: Trajectory = Linear()
    revisions: tuple[Revision, ...] = ()

    def __post_init__(self) -> None:
        metric = catalog.get(self.metric)
        if self.unit is None:
            object.__setattr__(self, "unit", metric.unit)
        elif self.unit is not metric.unit:
            raise InvalidKeyResult(
                f"KR {self.id}: {self.metric} is measured in {metric.unit}, not {self.unit}"
            )
        for name, value in (("target", self.target), ("baseline", self.baseline)):
            if value is not None and not math.isfinite(value):
                raise InvalidKeyResult(f"KR {self.id}: the {name} {value!r} is not a number")
        object.__setattr__(self, "revisions", tuple(sorted(self.revisions, key=_rev_day)))
        self._check_revisions()
        self._check_milestones()

    def _check_revisions(self) -> None:
        seen: set[date] = set()
        for rev in self.revisions:
            where = f"KR {self.id}: the revision of {rev.date}"
            if not rev.reason.strip():
                raise InvalidKeyResult(
                    f"{where} has no reason; say why the target changed, it is announced"
                )
            if rev.date not in self.period:
                raise InvalidKeyResult(
                    f"{where} is outside the period {self.period.label}; date it inside"
                )
            if rev.date in seen:
                raise InvalidKeyResult(f"{where} is the second one that day; keep one")
            if not math.isfinite(rev.target):
                raise InvalidKeyResult(f"{where} has no numeric target ({rev.target!r})")
            seen.add(rev.date)

    def _check_milestones(self) -> None:
        if not isinstance(self.trajectory, Milestones):
            return
        days = [day for day, _ in self.trajectory.points]
        if days != sorted(set(days)):
            raise InvalidKeyResult(f"KR {self.id}: list milestones once each, by date")
        for day, value in self.trajectory.points:
            if not self.period.start <= day < self.period.end:
                raise InvalidKeyResult(
                    f"KR {self.id}: the milestone of {day} is not before the end of the "
                    f"period {self.period.label}; the target is the last milestone"
                )
            if not math.isfinite(value):
                raise InvalidKeyResult(f"KR {self.id}: the milestone of {day} has no value")
        if self.baseline is not None and self.baseline == self.target:
            raise InvalidKeyResult(
                f"KR {self.id}: milestones need a target that differs from the baseline"
            )

    # ------------------------------------------------------------------ derived figures

    @property
    def original_target(self) -> float:
        return self.target

    @property
    def direction(self) -> KrDirection:
        """Up or down, from baseline to target; the metric's direction breaks ties."""
        if self.baseline is None or self.baseline == self.target:
            higher = catalog.get(self.metric).higher_is_better
            return KrDirection.UP if higher else KrDirection.DOWN
        return KrDirection.UP if self.target > self.baseline else KrDirection.DOWN

    def revision_at(self, now: Instant) -> Revision | None:
        """The latest revision in force at ``now`` (dated on or before its day)."""
        day = local_day(now)
        found = None
        for rev in self.revisions:
            if rev.date <= day:
                found = rev
        return found

    def target_at(self, now: Instant) -> float:
        """The effective target at ``now``: the latest revision's, else the original."""
        rev = self.revision_at(now)
        return self.target if rev is None else rev.target

    @property
    def final_target(self) -> float:
        """The target in force at the end of the period."""
        return self.revisions[-1].target if self.revisions else self.target

    def require_baseline(self) -> float:
        """The baseline, or :class:`InvalidKeyResult` saying how to provide it."""
        if self.baseline is None:
            raise InvalidKeyResult(
                f"KR {self.id} has no baseline; give one in the config or pass the metric's "
                f"value at {self.period.start} (spec.with_baseline(value))"
            )
        return self.baseline

    def with_baseline(self, baseline: float) -> KeyResultSpec:
        """A copy with ``baseline`` set (the shell fills it from data when omitted)."""
        return dataclasses.replace(self, baseline=baseline)


def _rev_day(rev: Revision) -> date:
    return rev.date


def expected_fraction(spec: KeyResultSpec, now: Instant) -> float:
    """The share of the way from baseline to target expected by ``now`` (0 at the start,
    1 at the end; milestones may ask for more than 1 or less than 0 in between)."""
    share = elapsed_share(spec.period, now)
    trajectory = spec.trajectory
    if isinstance(trajectory, Ramp):
        return share**trajectory.exponent
    if isinstance(trajectory, Milestones):
        return _interpolate(_milestone_knots(spec, trajectory), share)
    return share


def expected_value(spec: KeyResultSpec, now: Instant) -> float:
    """Where the KR should stand at ``now`` on its trajectory toward the effective target."""
    return lerp(spec.require_baseline(), spec.target_at(now), expected_fraction(spec, now))


def lerp(start: float, end: float, fraction: float) -> float:
    """The point ``fraction`` of the way from ``start`` to ``end``: exactly ``start`` at 0
    and exactly ``end`` at 1 (each half computed from its nearer end)."""
    if fraction <= 0.5:
        return start + fraction * (end - start)
    return end - (1.0 - fraction) * (end - start)


def _milestone_knots(spec: KeyResultSpec, milestones: Milestones) -> list[tuple[float, float]]:
    baseline = spec.require_baseline()
    distance = spec.target - baseline
    knots = [(0.0, 0.0)]
    for day, value in milestones.points:
        share = day_position(spec.period, day) / spec.period.days
        knots.append((share, (value - baseline) / distance))
    knots.append((1.0, 1.0))
    return knots


def _interpolate(knots: list[tuple[float, float]], share: float) -> float:
    for (x0, y0), (x1, y1) in itertools.pairwise(knots):
        if share <= x1:
            return y0 + (y1 - y0) * (share - x0) / (x1 - x0)
    return knots[-1][1]
