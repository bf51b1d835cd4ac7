"""One evaluation: every KR and alert rule of the config, at an instant, from the store.

What it does, in order (all SQL in one batch, :func:`syncd.metrics.compute_many`):

1. For each series (:mod:`syncd.goals`), the value now, and the daily values the rules need
   (the last :data:`HISTORY_DAYS` days, or a rule's ``over`` if longer): read from the
   ``snapshot`` table; a day without a snapshot of the current definition is reconstructed
   as of the end of that local day (from dates and stage history) and stored (``live`` false).
2. KRs without a baseline get the value at the first instant of their period, stored once.
3. Today's values are stored as ``live`` snapshots (the last evaluation of a day wins), with the
   KR status and the firing state of change rules, which the next evaluation continues from
   (hysteresis).
4. :func:`rules.pace.evaluate_kr` per KR; findings from :mod:`rules.drift`, the KPI findings
   muted when the data is stale (:func:`rules.findings.mute_stale`).

A KR whose period has ended is evaluated at the end of its last day and scored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from rules import periods as rp
from rules.drift import behind_pace, change_finding, projected_miss, stale_data, threshold_finding
from rules.errors import RulesError
from rules.findings import Finding, mute_stale
from rules.pace import KrEvaluation, Status, evaluate_kr
from rules.scoring import KrScore, ObjectiveScore, score_kr, score_objective
from rules.series import Contribution, Point, top_contributors
from syncd.config import Config
from syncd.goals import KrGoal, RuleGoal, SeriesDef, kr_goals, rule_goals, stale_rules, thresholds
from syncd.metrics import MetricValue, Request, compute_many
from syncd.store import tables as t

log = logging.getLogger("syncd.evaluate")

#: Daily points kept for the projection (two weeks) and the week-over-week change.
HISTORY_DAYS = 14
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class KrResult:
    """One KR at the evaluation's instant; ``problem`` says why there is no evaluation."""

    goal: KrGoal
    at: datetime
    value: MetricValue | None
    baseline: float | None
    series: tuple[Point, ...]
    evaluation: KrEvaluation | None
    problem: str | None = None
    score: KrScore | None = None
    contributors: Mapping[str, tuple[Contribution, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RuleResult:
    goal: RuleGoal
    value: MetricValue | None
    series: tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class Evaluation:
    now: datetime
    krs: tuple[KrResult, ...]
    rules: tuple[RuleResult, ...]
    findings: tuple[Finding, ...]
    last_sync: datetime | None
    objectives: Mapping[int, ObjectiveScore]

    def kr(self, kr_id: str) -> KrResult:
        return next(r for r in self.krs if r.goal.id == kr_id)


def end_of_day(day: date, zone: Any) -> datetime:
    """The last instant of local ``day``: a day's value is its value as of then."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=zone) - _TICK


def start_of(day: date, zone: Any) -> datetime:
    """The instant just before local ``day`` starts: a period's starting value."""
    return datetime.combine(day, time(), tzinfo=zone) - _TICK


class Evaluator:
    """Evaluates a config's goals against one store (``engine``)."""

    def __init__(self, engine: sa.Engine, config: Config) -> None:
        self.engine = engine
        self.config = config
        self.zone = config.tz
        self.source = config.crm.provider
        self.fields = set(config.crm.fields)
        self.krs = kr_goals(config)
        self.rules = rule_goals(config, source=self.source)

    # ------------------------------------------------------------------ the run

    def evaluate(self, now: datetime, *, save: bool = True,
                 contributors: bool = False) -> Evaluation:
        today = rp.local_day(now.astimezone(self.zone))
        wanted: dict[str, tuple[SeriesDef, datetime, list[date]]] = {}
        for kr in self.krs:
            at = min(now, end_of_day(kr.period.end, self.zone))
            wanted[kr.series.key] = (kr.series, at, self._days(kr.series, at, kr.period.start))
        for rule in self.rules:
            extra = rule.change.over.days if rule.change else 0
            wanted[rule.series.key] = (rule.series, now, self._days(rule.series, now, None, extra))
        stored = self._read(wanted, today)
        base_keys = {f"base:{kr.series.key}": kr for kr in self.krs if kr.baseline is None}
        base_rows = self._read_baselines(base_keys)

        requests: list[tuple[str, date | None, Request]] = []
        for key, (series, at, days) in wanted.items():
            requests.append((key, None, self._request(series, at)))
            for day in days:
                if day not in stored[key]:
                    requests.append((key, day, self._request(series, end_of_day(day, self.zone))))
        for key, kr in base_keys.items():
            if key not in base_rows:
                at = datetime.combine(kr.period.start, time(), tzinfo=self.zone)
                requests.append((key, kr.period.start, self._request(kr.series, at)))
        values = compute_many(self.engine, [r for _, _, r in requests], fields=self.fields,
                              zone=self.zone, fx=self.config.fx)

        current: dict[str, MetricValue] = {}
        fresh: list[tuple[str, date, MetricValue, bool]] = []
        for (key, when, _), value in zip(requests, values, strict=True):
            day = when or today
            if key in base_keys:
                base_rows[key] = value.value
                fresh.append((key, day, value, False))
            elif when is None:
                current[key] = value
            else:
                stored[key][day] = (value.value, {})
                fresh.append((key, day, value, False))

        previous = self._previous_states(wanted)
        results = [self._kr(kr, wanted[kr.series.key][1], current.get(kr.series.key),
                            stored[kr.series.key], base_rows, previous) for kr in self.krs]
        rule_results = [
            RuleResult(rule, current.get(rule.series.key),
                       self._points(stored[rule.series.key], current.get(rule.series.key), today))
            for rule in self.rules
        ]
        last = self.last_sync()
        findings, firing = self._findings(results, rule_results, previous, now, last)
        if contributors:
            results = [self._contributors(r, now) for r in results]
        if save:
            states: dict[str, dict[str, Any]] = {
                r.goal.series.key: {"status": r.evaluation.status.value}
                for r in results if r.evaluation is not None
            }
            for rule in self.rules:
                states[rule.series.key] = {"firing": rule.id in firing}
            live = [(key, rp.local_day(value.as_of.astimezone(self.zone)), value,
                     wanted[key][1] == now) for key, value in current.items()]
            self._save(fresh + live, wanted, base_keys, states, now)
        return Evaluation(now, tuple(results), tuple(rule_results), findings, last,
                          self._scores(results))

    # ------------------------------------------------------------------ pieces

    def _days(self, series: SeriesDef, at: datetime, first: date | None,
              extra: int = 0) -> list[date]:
        """The past days whose values the rules need for ``series`` evaluated at ``at``."""
        end = rp.local_day(at.astimezone(self.zone))
        span = max(HISTORY_DAYS, extra)
        days = [end - timedelta(days=n) for n in range(span, 0, -1)]
        return [d for d in days if first is None or d >= first]

    def _request(self, series: SeriesDef, at: datetime) -> Request:
        day = rp.local_day(at.astimezone(self.zone))
        return Request(series.metric, at, series.window_on(day), series.where, series.params)

    def _read(self, wanted: Mapping[str, tuple[SeriesDef, datetime, list[date]]],
              today: date) -> dict[str, dict[date, tuple[float | None, dict[str, Any]]]]:
        found: dict[str, dict[date, tuple[float | None, dict[str, Any]]]] = {k: {} for k in wanted}
        if not wanted:
            return found
        s = t.snapshot
        first = min((min(days, default=today) for _, _, days in wanted.values()), default=today)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(s.c.series, s.c.day, s.c.definition, s.c.value, s.c.detail)
                .where(s.c.series.in_(list(wanted)), s.c.day >= first, s.c.day < today)
            ).all()
        for series, day, definition, value, detail in rows:
            if definition == wanted[series][0].definition:
                found[series][day] = (value, detail or {})
        return found

    def _read_baselines(self, keys: Mapping[str, KrGoal]) -> dict[str, float | None]:
        if not keys:
            return {}
        s = t.snapshot
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(s.c.series, s.c.definition, s.c.value)
                .where(s.c.series.in_(list(keys)))
            ).all()
        return {series: value for series, definition, value in rows
                if definition == keys[series].series.definition}

    def _previous_states(self, wanted: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """The state the last evaluation left per series (KR status, rule firing)."""
        s = t.snapshot
        latest = (
            sa.select(s.c.series, sa.func.max(s.c.day).label("day"))
            .where(s.c.series.in_(list(wanted)), s.c.live)
            .group_by(s.c.series).subquery()
        )
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(s.c.series, s.c.detail).join(
                    latest, sa.and_(latest.c.series == s.c.series, latest.c.day == s.c.day))
            ).all()
        return {series: dict(detail or {}) for series, detail in rows}

    @staticmethod
    def _points(stored: Mapping[date, tuple[float | None, Any]], current: MetricValue | None,
                today: date) -> tuple[Point, ...]:
        points = [Point(day, value) for day, (value, _) in sorted(stored.items())
                  if value is not None]
        if current is not None and current.value is not None:
            points.append(Point(today, current.value))
        return tuple(points)

    def _kr(self, kr: KrGoal, at: datetime, value: MetricValue | None,
            stored: Mapping[date, tuple[float | None, Any]],
            baselines: Mapping[str, float | None],
            previous: Mapping[str, Mapping[str, Any]]) -> KrResult:
        day = rp.local_day(at.astimezone(self.zone))
        series = self._points(stored, value, day)
        baseline = kr.baseline if kr.baseline is not None else baselines.get(
            f"base:{kr.series.key}")
        result = KrResult(kr, at, value, baseline, series, None)
        if at < start_of(kr.period.start, self.zone):
            return _with(result, problem=f"the period {kr.period.label} has not started")
        if value is None or value.value is None:
            return _with(result, problem=_undefined(kr, value))
        if baseline is None:
            return _with(result, problem=(
                f"no baseline: {kr.config.metric} had no value on {kr.period.start}; "
                "give the KR a baseline in the config"))
        try:
            spec = kr.spec(baseline)
            state = previous.get(kr.series.key, {}).get("status")
            evaluation = evaluate_kr(spec, value.value, at, series=series,
                                     previous=Status(state) if state else Status.ON_TRACK,
                                     thresholds=thresholds(self.config))
        except RulesError as exc:
            return _with(result, problem=str(exc))
        score = score_kr(spec, value.value) if day >= kr.period.end else None
        return _with(result, evaluation=evaluation, score=score)

    def _findings(self, krs: Sequence[KrResult], rules: Sequence[RuleResult],
                  previous: Mapping[str, Mapping[str, Any]], now: datetime,
                  last: datetime | None) -> tuple[tuple[Finding, ...], set[str]]:
        found: list[Finding] = []
        for result in krs:
            if result.evaluation is None or result.score is not None:
                continue
            for make in (behind_pace, projected_miss):
                finding = make(result.evaluation, source=self.source)
                if finding is not None:
                    found.append(finding)
        firing: set[str] = set()
        for rule in rules:
            was = bool(previous.get(rule.goal.series.key, {}).get("firing"))
            if rule.goal.change is not None:
                finding = change_finding(rule.goal.change, rule.series, now, was_firing=was)
                if finding is not None:
                    found.append(finding)
                    firing.add(rule.goal.id)
            if rule.goal.threshold is not None and rule.value and rule.value.value is not None:
                finding = threshold_finding(rule.goal.threshold, rule.value.value, now,
                                            was_firing=was)
                if finding is not None:
                    found.append(finding)
                    firing.add(rule.goal.id)
        for stale in stale_rules(self.config):
            assert stale.stale_after is not None
            finding = stale_data(self.source, last, now, stale.stale_after, rule_id=stale.id)
            if finding is not None:
                found.append(finding)
        return mute_stale(found), firing

    def last_sync(self) -> datetime | None:
        """When every object of the CRM was last synced successfully (the oldest of them)."""
        s = t.sync_state
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(s.c.last_success_at).where(s.c.source == self.source)
            ).scalars().all()
        if not rows or any(r is None for r in rows):
            return None
        return min(rows)

    def _scores(self, krs: Sequence[KrResult]) -> dict[int, ObjectiveScore]:
        by_objective: dict[int, list[KrScore]] = {}
        for result in krs:
            if result.score is not None:
                by_objective.setdefault(result.goal.objective_index, []).append(result.score)
        return {index: score_objective(scores) for index, scores in by_objective.items()}

    # ------------------------------------------------------------------ contributors

    def contributors_of(self, result: KrResult, now: datetime) -> KrResult:
        """``result`` with its top contributors (for one KR, e.g. the one an alert is about:
        cheaper than ``evaluate(contributors=True)`` for every KR)."""
        return self._contributors(result, now)

    def _contributors(self, result: KrResult, now: datetime) -> KrResult:
        """Which owners and segments moved the KR over the last 7 days: the metric restricted
        to each of them, now vs 7 days before."""
        if result.evaluation is None:
            return result
        kr = result.goal
        metric = kr.series.spec
        dims: dict[str, list[tuple[str, Any]]] = {}
        with self.engine.connect() as conn:
            if "owner" in metric.filters and "owner" not in kr.series.where:
                owners = conn.execute(
                    sa.select(t.owner.c.id, t.owner.c.email).where(sa.not_(t.owner.c.archived))
                ).all()
                dims["owner"] = [(email or oid, oid) for oid, email in owners]
            if "company_segment" in metric.filters and "company_segment" not in kr.series.where:
                segments = conn.execute(
                    sa.select(t.company.c.segment).distinct()
                    .where(t.company.c.segment.is_not(None)).limit(20)
                ).scalars().all()
                dims["company_segment"] = [(s, s) for s in segments]
        at = result.at
        before = at - timedelta(days=7)
        out: dict[str, tuple[Contribution, ...]] = {}
        for dim, labels in dims.items():
            requests = []
            for _, value in labels:
                where = {**kr.series.where, dim: value}
                for when in (before, at):
                    day = rp.local_day(when.astimezone(self.zone))
                    requests.append(Request(kr.series.metric, when, kr.series.window_on(day),
                                            where, kr.series.params))
            values = compute_many(self.engine, requests, fields=self.fields, zone=self.zone,
                                  fx=self.config.fx)
            then = {label: values[2 * i].value for i, (label, _) in enumerate(labels)}
            later = {label: values[2 * i + 1].value for i, (label, _) in enumerate(labels)}
            out[dim] = top_contributors(
                {k: v for k, v in then.items() if v is not None},
                {k: v for k, v in later.items() if v is not None},
            )
        return _with(result, contributors=out)

    # ------------------------------------------------------------------ storage

    def _save(self, rows: Sequence[tuple[str, date, MetricValue, bool]],
              wanted: Mapping[str, tuple[SeriesDef, datetime, list[date]]],
              bases: Mapping[str, KrGoal], states: Mapping[str, Mapping[str, Any]],
              now: datetime) -> None:
        if not rows:
            return
        s = t.snapshot
        payload = []
        for key, day, value, live in rows:
            series = bases[key].series if key in bases else wanted[key][0]
            detail = {k: v for k, v in value.detail.items()
                      if isinstance(v, int | float | str | bool) or v is None}
            if live:
                detail.update(states.get(key, {}))
            payload.append({
                "series": key, "day": day, "definition": series.definition,
                "value": value.value, "detail": detail, "as_of": value.as_of, "live": live,
                "computed_at": now,
            })
        with self.engine.begin() as conn:
            insert: Any
            if conn.dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert
            else:
                from sqlalchemy.dialects.sqlite import insert
            stmt = insert(s)
            stmt = stmt.on_conflict_do_update(
                index_elements=[s.c.series, s.c.day],
                set_={c: stmt.excluded[c] for c in
                      ("definition", "value", "detail", "as_of", "live", "computed_at")},
            )
            conn.execute(stmt, payload)


def _undefined(kr: KrGoal, value: MetricValue | None) -> str:
    """Why ``kr`` has no value, in words."""
    metric = kr.config.metric
    if value is None:
        return f"{metric} was not computed"
    detail = value.detail
    if "reason" in detail:
        return f"{metric} is undefined: {detail['reason']}"
    remaining = detail.get("remaining")
    if isinstance(remaining, int | float) and remaining <= 0:
        return (f"{metric} is undefined: the quota ({detail.get('quota'):,.0f}) is already met "
                f"({detail.get('won'):,.0f} won), nothing is left to cover")
    facts = ", ".join(f"{k} {v:,.0f}" if isinstance(v, int | float) else f"{k} {v}"
                      for k, v in detail.items())
    return f"{metric} is undefined on this data ({facts or 'nothing to count yet'})"


def _with(result: KrResult, **changes: Any) -> KrResult:
    return replace(result, **changes)


def evaluate(engine: sa.Engine, config: Config, now: datetime, **options: Any) -> Evaluation:
    return Evaluator(engine, config).evaluate(now, **options)


__all__ = ["Evaluation", "Evaluator", "KrResult", "RuleResult", "evaluate"]
