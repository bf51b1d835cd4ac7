"""The config's goals as the rules engine sees them: KR specs, series, alert rules.

- Every KR and every alert rule on a metric is a **series**: one value per local day, stored in
  the ``snapshot`` table under ``kr:<id>`` or ``rule:<id>``. Its ``definition`` (metric,
  filters, params, window) is hashed: editing a KR's filters starts a fresh series instead of
  mixing two measures in one chart.
- **Windows.** A windowed metric (a rate, a sum over time) is computed, on each day, over the
  KR's ``window``: ``period`` (default: the KR's period up to that day), ``quarter``,
  ``month`` or ``week`` (the current one up to that day) or ``<N>d`` (the trailing N days).
  Alert rules default to the trailing 30 days. Point-in-time metrics (MRR, ARPU, pipeline)
  take no window; ``pipeline_coverage`` divides by the quota still to win in the KR's period.
- **Baselines.** A KR without a ``baseline`` starts from the metric's value at the start of its
  period, computed from the synced data (and stored, so it does not drift).
- **Revisions** apply from their day on; the reason travels with them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from rules import catalog
from rules import periods as rp
from rules.drift import ChangeRule, ThresholdRule
from rules.findings import Severity
from rules.metric import Metric, Window
from rules.pace import StatusThresholds
from rules.targets import KeyResultSpec, Linear, Milestones, Ramp, Revision, Trajectory
from syncd.config import Config
from syncd.config_okrs import AlertRule, KeyResult, Okr

#: Off track below this pace (at risk below ``alerts.behind_pace.below``).
OFF_TRACK_BELOW = 0.70
#: Window of an alert rule's windowed metric when the rule gives none.
RULE_WINDOW = "30d"


@dataclass(frozen=True, slots=True)
class SeriesDef:
    """What one daily series measures."""

    key: str
    metric: str
    where: Mapping[str, Any]
    params: Mapping[str, Any]
    window: str | None
    period: rp.Period | None

    @property
    def spec(self) -> Metric:
        return catalog.get(self.metric)

    @property
    def definition(self) -> str:
        """A short hash of what is measured: a changed definition starts a new series."""
        uses_period = self.period is not None and (
            self.metric == "pipeline_coverage"
            or (self.spec.window is Window.OVER_WINDOW and self.window in (None, "period"))
        )
        period = self.period if uses_period else None
        text = json.dumps(
            {"metric": self.metric, "where": self.where, "params": self.params,
             "window": self.window, "period": [period.start, period.end] if period else None},
            sort_keys=True, default=str, ensure_ascii=False,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def window_on(self, day: date) -> rp.Period | None:
        """The window the value of ``day`` is computed over (None: the metric's default)."""
        if self.spec.window is Window.POINT_IN_TIME:
            if self.metric == "pipeline_coverage" and self.period is not None:
                return self.period
            return None
        kind = self.window or ("period" if self.period is not None else RULE_WINDOW)
        if kind == "period" and self.period is not None:
            return self.period
        if kind == "quarter":
            return rp.quarter_of(day)
        if kind == "month":
            return rp.month_of(day)
        if kind == "week":
            return rp.iso_week_of(day)
        days = int(kind.removesuffix("d")) if kind.endswith("d") else 30
        return rp.trailing_days(day, days)


@dataclass(frozen=True, slots=True)
class KrGoal:
    """One KR of the config with everything needed to evaluate it (but its data)."""

    objective: str
    objective_index: int
    config: KeyResult
    period: rp.Period
    series: SeriesDef
    trajectory: Trajectory
    revisions: tuple[Revision, ...]
    baseline: float | None

    @property
    def id(self) -> str:
        return self.config.id

    def spec(self, baseline: float) -> KeyResultSpec:
        return KeyResultSpec(
            id=self.config.id,
            metric=self.config.metric,
            target=self.config.target.value,
            period=self.period,
            baseline=baseline,
            trajectory=self.trajectory,
            revisions=self.revisions,
        )


@dataclass(frozen=True, slots=True)
class RuleGoal:
    """An alert rule on a metric, with its series."""

    config: AlertRule
    series: SeriesDef
    change: ChangeRule | None = None
    threshold: ThresholdRule | None = None

    @property
    def id(self) -> str:
        return self.config.id


def _period(okr: Okr, kr: KeyResult) -> rp.Period:
    chosen = kr.period or okr.period
    return rp.Period(chosen.start, chosen.end)


def _trajectory(kr: KeyResult) -> Trajectory:
    if kr.trajectory is None:
        return Linear()
    if kr.trajectory.ramp is not None:
        return Ramp(kr.trajectory.ramp)
    points = sorted((day, q.value) for day, q in (kr.trajectory.milestones or {}).items())
    return Milestones(tuple(points))


def kr_goals(config: Config) -> list[KrGoal]:
    """Every KR of the config, in file order."""
    goals = []
    for index, okr in enumerate(config.okrs):
        for kr in okr.key_results:
            period = _period(okr, kr)
            revisions = tuple(
                Revision(rev.date, rev.target.value, rev.reason)
                for rev in okr.revisions if rev.kr == kr.id
            )
            series = SeriesDef(f"kr:{kr.id}", kr.metric, dict(kr.where), dict(kr.params),
                               kr.window, period)
            goals.append(KrGoal(okr.objective, index, kr, period, series, _trajectory(kr),
                                revisions, kr.baseline.value if kr.baseline else None))
    return goals


def rule_goals(config: Config, source: str | None = None) -> list[RuleGoal]:
    """The alert rules that watch a metric (``stale_after`` rules are not series)."""
    goals = []
    for rule in config.alerts.rules:
        if rule.metric is None:
            continue
        series = SeriesDef(f"rule:{rule.id}", rule.metric, dict(rule.where), {}, None, None)
        severity = Severity(rule.severity)
        change = threshold = None
        if rule.change is not None and rule.over is not None:
            relative = rule.change.unit == "percent"
            recover = rule.recover.value if rule.recover is not None else None
            change = ChangeRule(
                rule.id, rule.metric, rule.change.value, _whole_days(rule.over),
                recover=recover, min_base=rule.min_base.value if rule.min_base else None,
                relative=relative, severity=severity, source=source,
            )
        if rule.threshold is not None:
            threshold = ThresholdRule(rule.id, rule.metric, rule.threshold.value,
                                      severity=severity, source=source)
        goals.append(RuleGoal(rule, series, change, threshold))
    return goals


def _whole_days(over: timedelta) -> timedelta:
    return timedelta(days=max(1, round(over / timedelta(days=1))))


def stale_rules(config: Config) -> list[AlertRule]:
    return [rule for rule in config.alerts.rules if rule.stale_after is not None]


def thresholds(config: Config) -> StatusThresholds:
    pace = config.alerts.behind_pace
    off = min(OFF_TRACK_BELOW, pace.below)
    return StatusThresholds(below=pace.below, recover_above=pace.recover_above,
                            off_track_below=off)
