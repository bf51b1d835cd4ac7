"""Evaluating the example config's OKRs on the sandbox team, checked against figures computed
here from the raw generated records (tests/metrics/reference.py), not by the same SQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from rules.findings import FindingKind
from rules.pace import Status
from syncd.config import Config, load_config
from syncd.evaluate import Evaluator, end_of_day
from syncd.store import tables as t

from .conftest import NOW

ZURICH = ZoneInfo("Europe/Zurich")
Q4_START = datetime(2026, 10, 1, tzinfo=ZURICH)


def snapshots(engine: sa.Engine, series: str) -> dict[date, Any]:
    s = t.snapshot
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(s.c.day, s.c.value, s.c.live, s.c.computed_at, s.c.detail)
            .where(s.c.series == series)
        ).all()
    return {row.day: row for row in rows}


def elapsed(at: datetime) -> float:
    """The share of 2026-Q4 elapsed: local days (and the part of today) over its 92 days."""
    local = at.astimezone(ZURICH)
    days = (local.date() - date(2026, 10, 1)).days
    return (days + (local.hour * 60 + local.minute) / 1440) / 92


def test_kr_values_expected_and_status_match_the_raw_data(engine, config, raw):
    ev = Evaluator(engine, config).evaluate(NOW)

    arpu = ev.kr("panier-moyen")
    mrr, customers = raw.mrr(NOW), raw.customers(NOW)
    assert arpu.evaluation is not None
    assert arpu.evaluation.actual == pytest.approx(mrr / customers)
    expected = 1200 + (1450 - 1200) * elapsed(NOW)
    assert arpu.evaluation.expected == pytest.approx(expected, rel=1e-3)
    pace = (mrr / customers - 1200) / (expected - 1200)
    assert arpu.evaluation.pace == pytest.approx(pace, rel=1e-3)
    assert arpu.evaluation.status is (Status.OFF_TRACK if pace < 0.7 else
                                      Status.AT_RISK if pace < 0.9 else Status.ON_TRACK)

    conversion = ev.kr("conversion-pme")
    cohort, won = raw.conversion(Q4_START, NOW + timedelta(microseconds=1), NOW,
                                 keep=lambda c: c.company is not None
                                 and raw.companies[c.company].segment == "PME")
    assert conversion.evaluation is not None
    assert conversion.evaluation.actual == pytest.approx(won / cohort)

    churn = ev.kr("churn")
    base, lost = raw.churn(Q4_START, NOW)
    months = (NOW - Q4_START) / timedelta(days=1) / 30.436875
    assert churn.evaluation is not None
    assert churn.evaluation.actual == pytest.approx(1 - (1 - lost / base) ** (1 / months))
    assert churn.evaluation.direction.value == "down"


def test_a_kr_without_baseline_starts_from_its_period_start_and_keeps_it(
        engine, write_config, raw):
    config = load_config(write_config(**{"params: {quota: 60000}": "params: {quota: 900000}"}))
    ev = Evaluator(engine, config).evaluate(NOW)
    pipeline = ev.kr("pipeline")
    start = Q4_START
    open_then, _, _ = raw.pipeline(start)
    assert pipeline.baseline == pytest.approx(open_then / 900000)
    open_now, _, _ = raw.pipeline(NOW)
    won, _ = raw.revenue(Q4_START, NOW + timedelta(microseconds=1), NOW)
    assert pipeline.evaluation is not None
    assert pipeline.evaluation.actual == pytest.approx(open_now / (900000 - won))
    # the revision of 2026-11-09 is in force: 5x, announced with its reason
    assert pipeline.evaluation.target == 5.0
    assert pipeline.evaluation.original_target == 6.0
    assert pipeline.evaluation.revision is not None
    assert "concurrent" in pipeline.evaluation.revision.reason

    # the stored baseline is reused: data changed since does not move it
    with engine.begin() as conn:
        conn.execute(sa.delete(t.deal))
    again = Evaluator(engine, config).evaluate(NOW + timedelta(days=1), save=False)
    assert again.kr("pipeline").baseline == pytest.approx(open_then / 900000)


def test_quota_already_met_is_explained_not_a_crash(engine, config):
    pipeline = Evaluator(engine, config).evaluate(NOW).kr("pipeline")
    assert pipeline.evaluation is None
    assert pipeline.problem is not None and "already met" in pipeline.problem


def test_snapshots_are_stored_daily_and_reused(engine, config, raw):
    evaluator = Evaluator(engine, config)
    evaluator.evaluate(NOW)
    rows = snapshots(engine, "kr:panier-moyen")
    today = date(2026, 11, 23)
    assert sorted(rows) == [today - timedelta(days=n) for n in range(14, -1, -1)]
    assert rows[today].live and rows[today].detail["status"] in {s.value for s in Status}
    past = [rows[d] for d in rows if d != today]
    assert not any(r.live for r in past)
    # a reconstructed day is the value as of the end of that local day
    day = today - timedelta(days=7)
    at = end_of_day(day, ZURICH)
    assert rows[day].value == pytest.approx(raw.mrr(at) / raw.customers(at))

    later = NOW + timedelta(hours=3)
    evaluator.evaluate(later)
    again = snapshots(engine, "kr:panier-moyen")
    assert {d: r.computed_at for d, r in again.items() if d != today} == {
        d: r.computed_at for d, r in rows.items() if d != today}  # nothing recomputed
    assert again[today].computed_at == later  # the last evaluation of the day wins


def test_live_history_wins_over_reconstruction(engine, config):
    """A value stored on its day stays: history is exact from the day syncd was installed."""
    day = date(2026, 11, 16)
    with engine.begin() as conn:
        conn.execute(sa.insert(t.snapshot).values(
            series="kr:panier-moyen", day=day, value=999.0, live=True, detail={},
            definition=Evaluator(engine, config).krs[1].series.definition,
            as_of=end_of_day(day, ZURICH), computed_at=end_of_day(day, ZURICH)))
    result = Evaluator(engine, config).evaluate(NOW).kr("panier-moyen")
    assert (day, 999.0) in result.series
    assert result.evaluation is not None and result.evaluation.week_over_week is not None
    assert result.evaluation.week_over_week.base.value == 999.0


def test_a_changed_definition_starts_a_fresh_series(engine, write_config):
    first = load_config(write_config())
    Evaluator(engine, first).evaluate(NOW)
    before = snapshots(engine, "kr:conversion-pme")
    changed = load_config(write_config(**{"where: {company_segment: PME}":
                                          "where: {company_segment: ETI}"}))
    Evaluator(engine, changed).evaluate(NOW)
    after = snapshots(engine, "kr:conversion-pme")
    day = date(2026, 11, 16)
    assert after[day].detail != before[day].detail  # recomputed for ETI, not kept


def test_pipeline_drop_fires_once_the_base_is_25_percent_higher(engine, config):
    evaluator = Evaluator(engine, config)
    current = evaluator.evaluate(NOW).rules[0]
    assert current.value is not None and current.value.value
    base_day = date(2026, 11, 16)
    definition = evaluator.rules[0].series.definition

    def set_base(value: float) -> None:
        with engine.begin() as conn:
            conn.execute(sa.delete(t.snapshot).where(t.snapshot.c.series == "rule:pipeline-drop",
                                                     t.snapshot.c.day == base_day))
            conn.execute(sa.insert(t.snapshot).values(
                series="rule:pipeline-drop", day=base_day, value=value, live=True, detail={},
                definition=definition, as_of=end_of_day(base_day, ZURICH),
                computed_at=end_of_day(base_day, ZURICH)))

    now_value = current.value.value
    set_base(now_value / 0.70)  # -30 %
    fired = [f for f in evaluator.evaluate(NOW).findings if f.kind is FindingKind.CHANGE]
    assert len(fired) == 1 and "fell 30%" in fired[0].reason
    # -20 % is above the alert (-25 %) but below recovery (-15 %): still firing
    set_base(now_value / 0.80)
    assert [f for f in evaluator.evaluate(NOW).findings if f.kind is FindingKind.CHANGE]
    # -10 %: recovered
    set_base(now_value / 0.90)
    assert not [f for f in evaluator.evaluate(NOW).findings if f.kind is FindingKind.CHANGE]
    # -20 % again without having fired: below the alert threshold, nothing
    set_base(now_value / 0.80)
    assert not [f for f in evaluator.evaluate(NOW).findings if f.kind is FindingKind.CHANGE]


def test_stale_data_mutes_the_kpi_findings(engine, config):
    evaluator = Evaluator(engine, config)
    fresh = evaluator.evaluate(NOW, save=False).findings
    assert fresh and not any(f.kind is FindingKind.STALE_DATA for f in fresh)
    later = NOW + timedelta(hours=3)
    stale = evaluator.evaluate(later, save=False).findings
    kinds = [f.kind for f in stale]
    assert FindingKind.STALE_DATA in kinds
    assert all(f.muted for f in stale if f.kind is not FindingKind.STALE_DATA)
    assert not next(f for f in stale if f.kind is FindingKind.STALE_DATA).muted


def test_after_the_period_each_kr_and_the_objective_are_scored(engine, config):
    ev = Evaluator(engine, config).evaluate(datetime(2027, 1, 4, 8, tzinfo=UTC), save=False)
    churn = ev.kr("churn")
    assert churn.at == end_of_day(date(2026, 12, 31), ZURICH)
    assert churn.score is not None
    assert 0.0 <= churn.score.score <= 1.0
    assert ev.objectives[0].score == pytest.approx(
        sum(r.score.score for r in ev.krs if r.score) / sum(1 for r in ev.krs if r.score))
    # no pace alerts for a finished period
    assert not [f for f in ev.findings if f.kind is FindingKind.BEHIND_PACE]


def test_contributors_name_the_owners_who_moved_a_kr(engine, config, raw):
    ev = Evaluator(engine, config).evaluate(NOW, contributors=True, save=False)
    churn = ev.kr("churn")
    assert set(churn.contributors) == {"owner", "company_segment"}
    for c in churn.contributors["company_segment"]:
        assert c.label in {"PME", "ETI", "GE"}
        assert c.delta == pytest.approx(c.after - c.before)


def test_a_kr_before_its_period_says_so(engine, write_config):
    config: Config = load_config(write_config(**{"period: 2026-Q4": "period: 2027-Q1",
                                                 "date: 2026-11-09": "date: 2027-02-09"}))
    ev = Evaluator(engine, config).evaluate(NOW, save=False)
    assert all(r.evaluation is None and "not started" in (r.problem or "") for r in ev.krs)


