"""Drift findings: what deserves an alert now, as pure functions of figures and ``now``.

Each function returns a :class:`~rules.findings.Finding` when its condition holds at
``now``, else None; its fingerprint hashes identifying labels only (:mod:`rules.findings`).

Conditions:

- **behind pace**: a KR whose status (:mod:`rules.pace`, with hysteresis and the minimum
  elapsed share) is ``at_risk`` (warning) or ``off_track`` (critical).
- **projected miss**: the whole projection band at the period's end lies on the wrong side
  of the target in force (below it for a KR going up, above it for one going down).
- **change over a window** (:class:`ChangeRule`): ``pipeline_value -25% over 7d``. One
  direction only (the sign of ``change``); fires at ``change``, and once firing holds until
  the change is back past ``recover`` (hysteresis); ignored while the base value is under
  ``min_base``.
- **threshold** (:class:`ThresholdRule`): the value below (or above) a level, with an
  optional ``recover`` level.
- **stale data**: the last successful sync of a source is older than ``stale_after``. It
  **mutes** the other findings of that source (:func:`rules.findings.mute_stale`): they are
  returned marked muted, with the reason, so nobody is alerted on old data and nothing
  disappears silently.

``was_firing`` (the lifecycle's memory, kept by ``syncd/``) feeds the hysteresis.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from rules import catalog
from rules.errors import InvalidRule, RulesError
from rules.findings import Finding, FindingKind, Severity, make_finding
from rules.metric import Unit, format_value
from rules.pace import KrEvaluation, Projection, Status
from rules.periods import Instant
from rules.series import SeriesLike, change_over
from rules.targets import KrDirection

# --------------------------------------------------------------------------- KRs


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.0f}%"


def behind_pace(evaluation: KrEvaluation, *, source: str | None = None) -> Finding | None:
    """A finding when the KR's status is at risk (warning) or off track (critical)."""
    if evaluation.status is Status.ON_TRACK:
        return None
    unit = catalog.get(evaluation.metric).unit
    words = evaluation.status.value.replace("_", " ")
    reason = (
        f"KR {evaluation.kr_id} is {words}: {format_value(evaluation.actual, unit)} vs "
        f"{format_value(evaluation.expected, unit)} expected by now on the way to "
        f"{format_value(evaluation.target, unit)} ({_percent(evaluation.pace)} of the expected "
        f"progress, {_percent(evaluation.elapsed)} of the period elapsed)"
    )
    severity = Severity.CRITICAL if evaluation.status is Status.OFF_TRACK else Severity.WARNING
    return make_finding(
        FindingKind.BEHIND_PACE,
        evaluation.kr_id,
        severity,
        reason,
        evaluation.at,
        {"metric": evaluation.metric},
        {
            "actual": evaluation.actual,
            "expected": evaluation.expected,
            "target": evaluation.target,
            "pace": evaluation.pace,
            "progress": evaluation.progress.raw,
            "elapsed": evaluation.elapsed,
        },
        source,
    )


def projected_miss(
    evaluation: KrEvaluation, *, source: str | None = None, min_elapsed: float = 0.10
) -> Finding | None:
    """A finding when the whole projection band misses the target in force.

    Nothing before ``min_elapsed`` of the period (too early to trust a trend), nor without a
    projection.
    """
    projection = evaluation.projection
    if not isinstance(projection, Projection) or evaluation.elapsed < min_elapsed:
        return None
    target = evaluation.target
    going_up = evaluation.direction is KrDirection.UP
    missed = projection.high < target if going_up else projection.low > target
    if not missed:
        return None
    unit = catalog.get(evaluation.metric).unit
    reason = (
        f"KR {evaluation.kr_id} is projected to miss its target: "
        f"{format_value(projection.value, unit)} by {projection.at} "
        f"({_percent(projection.confidence)} band {format_value(projection.low, unit)} to "
        f"{format_value(projection.high, unit)}) vs a target of {format_value(target, unit)}"
    )
    return make_finding(
        FindingKind.PROJECTED_MISS,
        evaluation.kr_id,
        Severity.WARNING,
        reason,
        evaluation.at,
        {"metric": evaluation.metric},
        {
            "projected": projection.value,
            "low": projection.low,
            "high": projection.high,
            "target": target,
        },
        source,
    )


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class ChangeRule:
    """Alert when ``metric`` moves by ``change`` over ``over`` (``-0.25``: a 25 % drop).

    ``relative`` changes are fractions of the base value; with ``relative=False`` they are in
    the metric's unit. ``recover`` (same sign, less extreme) is where a firing alert resolves;
    by default ``change`` itself. ``min_base``: ignore while the base value is smaller.
    """

    id: str
    metric: str
    change: float
    over: timedelta
    recover: float | None = None
    min_base: float | None = None
    relative: bool = True
    severity: Severity = Severity.WARNING
    source: str | None = None

    def __post_init__(self) -> None:
        catalog.get(self.metric)
        where = f"rule {self.id}"
        if self.change == 0:
            raise InvalidRule(f"{where}: a change of 0 fires all the time; give one like -25%")
        if self.over < timedelta(days=1) or self.over % timedelta(days=1):
            raise InvalidRule(f"{where}: over must be whole days (series are daily), like 7d")
        recover = self.recover
        if recover is not None and (recover * self.change < 0 or abs(recover) > abs(self.change)):
            raise InvalidRule(
                f"{where}: recover ({recover:+g}) must lie between 0 and change "
                f"({self.change:+g}), like change -25% and recover -15%"
            )
        if self.min_base is not None and self.min_base < 0:
            raise InvalidRule(f"{where}: min_base is a size, not {self.min_base:g}")


def change_finding(
    rule: ChangeRule, series: SeriesLike, now: Instant, *, was_firing: bool = False
) -> Finding | None:
    """A finding when the change over ``rule.over`` up to ``now`` crosses the rule."""
    change = change_over(series, now, rule.over.days)
    if change is None:
        return None
    if rule.min_base is not None and abs(change.base.value) < rule.min_base:
        return None
    moved = change.relative if rule.relative else change.absolute
    if moved is None:
        return None
    limit = rule.recover if was_firing and rule.recover is not None else rule.change
    falling = rule.change < 0
    if not (moved <= limit if falling else moved >= limit):
        return None
    unit = catalog.get(rule.metric).unit
    amount = _percent(abs(moved)) if rule.relative else format_value(abs(moved), unit)
    resolve = rule.recover if rule.recover is not None else rule.change
    reason = (
        f"{rule.metric} {'fell' if falling else 'rose'} {amount} over {rule.over.days} days: "
        f"{format_value(change.current.value, unit)} on {change.current.day} vs "
        f"{format_value(change.base.value, unit)} on {change.base.day} (rule {rule.id}: "
        f"alert at {_signed(rule.change, rule.relative, unit)}, resolved "
        f"{'above' if falling else 'below'} {_signed(resolve, rule.relative, unit)})"
    )
    return make_finding(
        FindingKind.CHANGE,
        rule.id,
        rule.severity,
        reason,
        now,
        {"metric": rule.metric},
        {
            "current": change.current.value,
            "base": change.base.value,
            "change": moved,
            "threshold": rule.change,
            "recover": resolve,
            # what the numbers mean (not labels: the fingerprint stays the condition's)
            "over_days": float(rule.over.days),
            "relative": 1.0 if rule.relative else 0.0,
        },
        rule.source,
    )


def _signed(value: float, relative: bool, unit: Unit) -> str:
    if relative:
        return f"{value * 100:+.0f}%"
    return ("+" if value >= 0 else "-") + format_value(abs(value), unit)


class Side(StrEnum):
    BELOW = "below"
    ABOVE = "above"


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    """Alert when ``metric`` is below (or above) ``threshold``; resolved past ``recover``.

    ``when`` defaults to the bad side of the metric: below for metrics where higher is
    better, above for the others (churn, sales cycle).
    """

    id: str
    metric: str
    threshold: float
    when: Side | None = None
    recover: float | None = None
    severity: Severity = Severity.WARNING
    source: str | None = None

    def __post_init__(self) -> None:
        metric = catalog.get(self.metric)
        if self.when is None:
            object.__setattr__(self, "when", Side.BELOW if metric.higher_is_better else Side.ABOVE)
        recover = self.recover
        if recover is not None and (
            recover < self.threshold if self.when is Side.BELOW else recover > self.threshold
        ):
            raise InvalidRule(
                f"rule {self.id}: recover ({recover:g}) must be on the good side of the "
                f"threshold ({self.threshold:g}): {'above' if self.when is Side.BELOW else 'below'}"
            )


def threshold_finding(
    rule: ThresholdRule, value: float, now: Instant, *, was_firing: bool = False
) -> Finding | None:
    """A finding when ``value`` (the metric at ``now``) is past the rule's threshold."""
    limit = rule.recover if was_firing and rule.recover is not None else rule.threshold
    below = rule.when is Side.BELOW
    if not (value < limit if below else value > limit):
        return None
    unit = catalog.get(rule.metric).unit
    reason = (
        f"{rule.metric} is {format_value(value, unit)}, {'below' if below else 'above'} "
        f"{format_value(rule.threshold, unit)} (rule {rule.id})"
    )
    numbers = {"value": value, "threshold": rule.threshold}
    if rule.recover is not None:
        numbers["recover"] = rule.recover
    return make_finding(
        FindingKind.THRESHOLD,
        rule.id,
        rule.severity,
        reason,
        now,
        {"metric": rule.metric},
        numbers,
        rule.source,
    )


# --------------------------------------------------------------------------- stale data


def stale_data(
    source: str,
    last_success: datetime | None,
    now: datetime,
    stale_after: timedelta,
    *,
    rule_id: str = "stale-sync",
    severity: Severity = Severity.WARNING,
) -> Finding | None:
    """A finding when ``source``'s last successful sync is older than ``stale_after`` (or
    never happened). Instants must be aware: durations are measured, not read off a clock."""
    for name, instant in (("now", now), ("last_success", last_success)):
        if instant is not None and (
            not isinstance(instant, datetime) or instant.utcoffset() is None
        ):
            raise RulesError(f"stale data: {name} must be an aware datetime, not {instant!r}")
    if stale_after <= timedelta(0):
        raise InvalidRule(f"rule {rule_id}: stale_after must be positive, like 2h")
    limit = _hours(stale_after)
    if last_success is None:
        reason = f"no successful sync of {source} yet (rule {rule_id}: stale after {limit})"
        numbers = {"stale_after_hours": stale_after / timedelta(hours=1)}
    else:
        age = now - last_success
        if age <= stale_after:
            return None
        reason = (
            f"data from {source} is stale: last successful sync {_hours(age)} ago, at "
            f"{last_success.isoformat(timespec='minutes')} (rule {rule_id}: stale after {limit})"
        )
        numbers = {
            "age_hours": age / timedelta(hours=1),
            "stale_after_hours": stale_after / timedelta(hours=1),
        }
    return make_finding(
        FindingKind.STALE_DATA, rule_id, severity, reason, now, {}, numbers, source
    )


def _hours(delta: timedelta) -> str:
    hours = delta / timedelta(hours=1)
    if hours >= 48:
        return f"{hours / 24:.1f} days"
    return f"{hours:.1f} h"
