"""Records for the rendering tests: real KR goals (config models), evaluated by the real rules
(:func:`rules.pace.evaluate_kr`, :mod:`rules.drift`) on series chosen by the test."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from rules.drift import behind_pace, projected_miss
from rules.findings import Finding
from rules.metric import Unit
from rules.pace import Status, StatusThresholds, evaluate_kr
from rules.periods import Period
from rules.scoring import score_kr, score_objective
from rules.series import Contribution, Point
from rules.targets import Linear, Revision
from syncd.config_okrs import KeyResult
from syncd.evaluate import Evaluation, KrResult
from syncd.goals import KrGoal, SeriesDef
from syncd.metrics import MetricValue
from syncd.notify.locale import Locale
from syncd.notify.model import Freshness

NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)  # Monday 07:30 in Zurich
Q4 = Period(date(2026, 10, 1), date(2026, 12, 31))
OBJECTIVE = "Augmenter le MRR de 20 % ce trimestre"
FR_CH = Locale.of("fr", "CHF", "Europe/Zurich")
FR_FR = Locale.of("fr", "EUR", "Europe/Paris")
EN = Locale.of("en", "CHF", "Europe/Zurich")
FRESH = Freshness(NOW - timedelta(minutes=12), timedelta(hours=2), NOW)
STALE = Freshness(NOW - timedelta(hours=5), timedelta(hours=2), NOW)
MENTIONS: Mapping[str, str | None] = {"lea@acme.ch": "U0LEA", "marc@acme.ch": None,
                                      "manager@acme.ch": "U0MGR"}


def goal(kr_id: str, name: str, metric: str, baseline: Any, target: Any,
         owners: Sequence[str] = ("lea@acme.ch", "marc@acme.ch"), *,
         revisions: Sequence[Revision] = (), objective: str = OBJECTIVE, index: int = 0,
         period: Period = Q4, params: Mapping[str, Any] | None = None) -> KrGoal:
    config = KeyResult.model_validate({
        "id": kr_id, "name": name, "metric": metric, "baseline": baseline, "target": target,
        "owners": list(owners), "params": dict(params or {}),
    })
    series = SeriesDef(f"kr:{kr_id}", metric, {}, dict(config.params), None, period)
    return KrGoal(objective, index, config, period, series, Linear(), tuple(revisions),
                  config.baseline.value if config.baseline else None)


def result(kr: KrGoal, values: Sequence[float], *, now: datetime = NOW,
           previous: Status = Status.ON_TRACK,
           contributors: Mapping[str, tuple[Contribution, ...]] | None = None,
           scored: bool = False) -> KrResult:
    """``kr`` with one daily value per day up to ``now``'s day (the last is today's)."""
    today = now.date()
    points = tuple(Point(today - timedelta(days=len(values) - 1 - n), float(v))
                   for n, v in enumerate(values))
    assert kr.baseline is not None
    spec = kr.spec(kr.baseline)
    at = now if not scored else datetime.combine(kr.period.end, datetime.min.time(), UTC)
    evaluation = evaluate_kr(spec, points[-1].value, at, series=points, previous=previous,
                             thresholds=StatusThresholds(below=0.9, recover_above=0.95,
                                                         off_track_below=0.7))
    value = MetricValue(kr.config.metric, points[-1].value, spec.unit or Unit.COUNT, now, None,
                        {})
    score = score_kr(spec, points[-1].value) if scored else None
    return KrResult(kr, at, value, kr.baseline, points, evaluation, score=score,
                    contributors=dict(contributors or {}))


def findings_of(results: Sequence[KrResult]) -> tuple[Finding, ...]:
    found = []
    for r in results:
        assert r.evaluation is not None
        for make in (behind_pace, projected_miss):
            f = make(r.evaluation, source="hubspot")
            if f is not None:
                found.append(f)
    return tuple(found)


def evaluation(results: Sequence[KrResult], findings: Sequence[Finding] | None = None,
               now: datetime = NOW) -> Evaluation:
    scores: dict[int, list[Any]] = {}
    for r in results:
        if r.score is not None:
            scores.setdefault(r.goal.objective_index, []).append(r.score)
    objectives = {i: score_objective(s) for i, s in scores.items()}
    found = findings_of(results) if findings is None else tuple(findings)
    return Evaluation(now, tuple(results), (), found, now - timedelta(minutes=12), objectives)


def ramp(start: float, end: float, days: int = 14) -> list[float]:
    return [start + (end - start) * n / (days - 1) for n in range(days)]


def team() -> list[KrResult]:
    """The example's four KRs: conversion at risk, ARPU on track, churn off track,
    pipeline revised 6x -> 5x."""
    conversion = goal("conversion-pme", "Conversion des leads qualifiés en clients (PME)",
                      "lead_conversion_rate", "18%", "25%")
    arpu = goal("panier-moyen", "Panier moyen (ARPU)", "arpu", 1200, 1450,
                ("julie@acme.ch", "paul@acme.ch"))
    churn = goal("churn", "Churn mensuel", "churn_rate", "3%", "2%",
                 ("nina@acme.ch", "tom@acme.ch"))
    pipeline = goal("pipeline", "Pipeline qualifié (x objectif trimestriel)",
                    "pipeline_coverage", "3x", "6x", ("manager@acme.ch",),
                    revisions=[Revision(date(2026, 11, 9), 5.0,
                                        "Promotion agressive d'un concurrent, pipeline -25 % "
                                        "en semaine 45")],
                    params={"quota": 60000})
    owners = (Contribution("lea@acme.ch", 0.20, 0.21, 0.01, 0.7),
              Contribution("marc@acme.ch", 0.20, 0.196, -0.004, -0.3))
    return [
        result(conversion, ramp(0.21, 0.216), previous=Status.AT_RISK,
               contributors={"owner": owners}),
        result(arpu, ramp(1330, 1380)),
        result(churn, ramp(0.031, 0.032), previous=Status.OFF_TRACK),
        result(pipeline, ramp(4.0, 4.4)),
    ]
