"""The plan's inputs: from the config (seed 000's numbers), from the synced sandbox team, and
the rules for goals, windows, revisions and several KRs on one lever."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from rules.formulas import monthly_rate
from rules.periods import AVERAGE_MONTH_DAYS, Period
from rules.plan import Lever, PlanInputs, plan
from syncd.config import load_config
from syncd.errors import ConfigError
from syncd.metrics import compute
from syncd.sandbox.dataset import generate
from syncd.simulate import (
    SimulateError,
    full_months,
    goal_from_text,
    needs_data,
    plan_inputs,
)
from tests.metrics.reference import sync

from .conftest import NOW, SEED_OKR, WriteConfig

ZURICH = ZoneInfo("Europe/Zurich")
#: The instant just before 2026-Q4 in Zurich: the data baselines' "as of".
EVE = datetime(2026, 10, 1, tzinfo=ZURICH) - timedelta(microseconds=1)


def _setup(write_config: WriteConfig, okrs: str, *, url: str | None = None,
           now: datetime = NOW, ramp: bool = False):
    config = load_config(write_config(okrs, url))
    engine = sa.create_engine(url) if url else None
    try:
        return plan_inputs(config, config.okrs[0], engine, now, ramp=ramp)
    finally:
        if engine is not None:
            engine.dispose()


def test_the_seed_from_the_config_alone(write_config: WriteConfig) -> None:
    config = load_config(write_config(SEED_OKR))
    assert not needs_data(config.okrs[0])
    setup = plan_inputs(config, config.okrs[0], None, NOW)
    # 60 qualified leads over the quarter are 20 a month; the rest as the seed writes it.
    assert setup.inputs == PlanInputs(
        start_mrr=100_000.0, months=3, objective_growth=0.20,
        qualified_leads=Lever(20.0, 20.0), lead_conversion_rate=Lever(0.18, 0.25),
        arpu=Lever(1200.0, 1450.0), churn_rate=Lever(0.03, 0.02),
    )
    assert setup.goal_source == "config" and setup.data_as_of is None
    assert setup.start_mrr_source == "config (KR mrr baseline)"
    conversion = setup.lever("lead_conversion_rate")
    assert (conversion.kr, conversion.baseline_source, conversion.target_source) == (
        "conversion", "config (KR conversion baseline)", "config (KR conversion target)")
    assert setup.month_labels == ("2026-10", "2026-11", "2026-12")
    # Seed 000 by hand (tests/rules/test_plan.py): 7 250 CHF of new MRR a month at 2 % churn
    # ends the quarter at 115 437.1 CHF, 4 562.9 short of 120 000.
    result = plan(setup.inputs)
    assert result.plan_path == pytest.approx((105_250.0, 110_395.0, 115_437.1))
    assert result.gap == pytest.approx(4_562.9)
    assert not result.adds_up


@pytest.mark.parametrize(
    ("text", "growth"),
    [
        ("Augmenter le MRR de 20 % ce trimestre", 0.20),
        ("Augmenter le revenu récurrent mensuel (MRR) de 20 %", 0.20),
        ("Augmenter nos revenus récurrents de 12,5 %", 0.125),
        ("Grow MRR by 15% this quarter", 0.15),
        ("Hold ARR: -5 % at most", -0.05),
        ("Augmenter le MRR de 20 % avec un churn sous 2 %", None),  # two figures: ambiguous
        ("Accélérer la conversion des leads qualifiés de 20 %", None),  # not about MRR
        ("Augmenter le MRR", None),
    ],
)
def test_a_goal_read_from_the_objectives_words(text: str, growth: float | None) -> None:
    assert goal_from_text(text) == (pytest.approx(growth) if growth is not None else None)


def test_the_text_goal_is_used_and_said(write_config: WriteConfig) -> None:
    okrs = SEED_OKR.replace("    goal: {metric: mrr, change: 20%}\n", "").replace(
        "de 20 %", "de 25 %")
    setup = _setup(write_config, okrs)
    assert setup.inputs.objective_growth == pytest.approx(0.25)
    assert setup.goal_source == "text"
    assert any("read from its words" in n and "goal: {metric: mrr, change: 25%}" in n
               and "okrs[0]" in n for n in setup.notes)


def test_no_goal_is_one_config_problem_saying_how_to_add_it(write_config: WriteConfig) -> None:
    okrs = SEED_OKR.replace("    goal: {metric: mrr, change: 20%}\n", "").replace(
        "Augmenter le revenu récurrent mensuel (MRR) de 20 %", "Accélérer la conversion")
    with pytest.raises(ConfigError) as caught:
        _setup(write_config, okrs)
    message = str(caught.value)
    assert "\n" not in message
    assert "okrs[0]" in message and "goal: {metric: mrr, change: 20%}" in message


def test_baselines_from_the_synced_sandbox(write_config: WriteConfig, sandbox_url: str) -> None:
    # Only targets in the config: every baseline, and the start MRR, come from the data as of
    # the eve of the quarter (now is 2026-11-23, inside it).
    okrs = """\
  - objective: Augmenter le MRR de 20 % ce trimestre
    period: 2026-Q4
    key_results:
      - {id: conversion, name: Conversion, metric: lead_conversion_rate, target: 25%}
      - {id: panier, name: Panier moyen, metric: arpu, target: 1450}
      - {id: churn, name: Churn, metric: churn_rate, target: 2%}
"""
    setup = _setup(write_config, okrs, url=sandbox_url)
    engine = sa.create_engine(sandbox_url)
    try:
        def value(key: str, **kwargs) -> float:
            result = compute(engine, key, as_of=EVE, zone=ZURICH, fx={"EUR": 0.94},
                             **kwargs).value
            assert result is not None
            return result

        last3 = Period(date(2026, 7, 1), date(2026, 9, 30))
        last6 = Period(date(2026, 4, 1), date(2026, 9, 30))
        expected = {
            "start": value("mrr"),
            "qualified_leads": value("qualified_leads", window=last3) / 3,
            "lead_conversion_rate": value("lead_conversion_rate", window=last6,
                                          params={"mode": "period"}),
            "arpu": value("arpu"),
            "churn_rate": value("churn_rate", window=last6),
        }
    finally:
        engine.dispose()
    inputs = setup.inputs
    assert inputs.start_mrr == expected["start"] > 50_000
    for key in ("qualified_leads", "lead_conversion_rate", "arpu", "churn_rate"):
        assert inputs.lever(key).baseline == expected[key], key
    assert (inputs.arpu.target, inputs.churn_rate.target) == (1450.0, 0.02)
    assert inputs.qualified_leads.target is None
    assert setup.data_as_of == date(2026, 9, 30)
    assert setup.start_mrr_source == "synced data as of 2026-09-30 (MRR)"
    leads = setup.lever("qualified_leads")
    assert leads.baseline_source == (
        "synced data as of 2026-09-30 (qualified leads Jul–Sep 2026 / 3)")
    assert leads.target_source == "not moved by a KR"
    assert setup.lever("lead_conversion_rate").baseline_source == (
        "synced data as of 2026-09-30 (new customers / qualified leads, Apr–Sep 2026)")
    assert setup.lever("churn_rate").baseline_source == (
        "synced data as of 2026-09-30 (monthly churn over Apr–Sep 2026)")


def test_a_config_baseline_wins_over_the_data(write_config: WriteConfig,
                                               sandbox_url: str) -> None:
    okrs = """\
  - objective: Augmenter le MRR de 20 % ce trimestre
    period: 2026-Q4
    key_results:
      - {id: conversion, name: Conversion, metric: lead_conversion_rate, baseline: 18%,
         target: 25%}
"""
    setup = _setup(write_config, okrs, url=sandbox_url)
    assert setup.inputs.lead_conversion_rate == Lever(0.18, 0.25)
    assert setup.lever("lead_conversion_rate").baseline_source == (
        "config (KR conversion baseline)")
    assert setup.lever("arpu").baseline_source.startswith("synced data as of 2026-09-30")


def test_planning_a_period_that_has_not_started(write_config: WriteConfig,
                                                 sandbox_url: str) -> None:
    # 2027-Q1 planned on 2026-11-23: the data as of now, over the months over by now.
    okrs = """\
  - objective: Augmenter le MRR de 10 %
    period: 2027-Q1
    key_results:
      - {id: churn, name: Churn, metric: churn_rate, target: 2%}
"""
    setup = _setup(write_config, okrs, url=sandbox_url)
    assert setup.data_as_of == date(2026, 11, 23)
    assert setup.start_mrr_source == "synced data as of 2026-11-23 07:30 (MRR)"
    assert "Aug–Oct 2026" in setup.lever("qualified_leads").baseline_source
    assert "May–Oct 2026" in setup.lever("churn_rate").baseline_source


def test_full_months_before_an_instant() -> None:
    assert full_months(EVE, 3) == Period(date(2026, 7, 1), date(2026, 9, 30))
    mid_day = datetime(2026, 11, 23, 7, 30, tzinfo=ZURICH)
    assert full_months(mid_day, 6) == Period(date(2026, 5, 1), date(2026, 10, 31))
    last_day = datetime(2026, 10, 31, 23, 0, tzinfo=ZURICH)  # the 31st is not over yet
    assert full_months(last_day, 1) == Period(date(2026, 9, 1), date(2026, 9, 30))
    january = datetime(2027, 1, 15, tzinfo=ZURICH)
    assert full_months(january, 3) == Period(date(2026, 10, 1), date(2026, 12, 31))


def test_an_empty_store_says_which_value_is_missing(write_config: WriteConfig,
                                                    tmp_path) -> None:
    from syncd.store import Store

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    Store.open(url).close()
    okrs = SEED_OKR.replace("        baseline: 100000\n", "")
    with pytest.raises(SimulateError) as caught:
        _setup(write_config, okrs, url=url)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("the start MRR is missing: the synced data as of 2026-09-30")
    assert "add a KR on mrr with a baseline" in message and "syncd sync" in message


def test_no_database_and_a_missing_baseline(write_config: WriteConfig) -> None:
    okrs = SEED_OKR.replace("        baseline: 1200\n", "")
    with pytest.raises(SimulateError, match=r"^arpu is not in the config and no database"):
        _setup(write_config, okrs)


def test_the_revised_target_in_force(write_config: WriteConfig) -> None:
    okrs = SEED_OKR + """\
    revisions:
      - date: 2026-11-09
        kr: panier-moyen
        target: 1350
        reason: Promotion agressive d'un concurrent
"""
    before = _setup(write_config, okrs, now=datetime(2026, 11, 8, 12, tzinfo=UTC))
    assert before.inputs.arpu.target == 1450.0
    after = _setup(write_config, okrs)
    assert after.inputs.arpu.target == 1350.0
    assert after.lever("arpu").target_source == "config (KR panier-moyen, revised on 2026-11-09)"


@pytest.mark.parametrize(
    ("kr", "baseline", "target"),
    [
        # a count over the KR's period (the quarter) is per month / 3
        ("{metric: qualified_leads, baseline: 45, target: 90}", 15.0, 30.0),
        ("{metric: qualified_leads, window: month, baseline: 15, target: 30}", 15.0, 30.0),
        ("{metric: qualified_leads, window: 30d, baseline: 15, target: 30}",
         15 * AVERAGE_MONTH_DAYS / 30, 30 * AVERAGE_MONTH_DAYS / 30),
        ("{metric: qualified_leads, window: week, baseline: 4, target: 5}",
         4 * AVERAGE_MONTH_DAYS / 7, 5 * AVERAGE_MONTH_DAYS / 7),
        # a churn share over the window is turned into the monthly rate
        ("{metric: churn_rate, params: {per: window}, baseline: 9%, target: 6%}",
         monthly_rate(0.09, 3), monthly_rate(0.06, 3)),
        ("{metric: churn_rate, baseline: 3%, target: 2%}", 0.03, 0.02),
    ],
)
def test_kr_values_in_the_models_units(write_config: WriteConfig, kr: str, baseline: float,
                                       target: float) -> None:
    key = "qualified_leads" if "qualified_leads" in kr else "churn_rate"
    seed_kr = {"qualified_leads": "metric: qualified_leads\n        baseline: 60\n"
                                  "        target: 60",
               "churn_rate": "metric: churn_rate\n        baseline: 3%\n        target: 2%"}
    okrs = SEED_OKR.replace(  # the seed's KR on that lever becomes a KR on something else
        seed_kr[key], "metric: new_customers\n        target: 20"
    ).replace("      - id: pipeline\n", "      - {id: extra, name: Extra, " + kr[1:] +
              "\n      - id: pipeline\n")
    setup = _setup(write_config, okrs)
    lever = setup.inputs.lever(key)
    assert (lever.baseline, lever.target) == (pytest.approx(baseline), pytest.approx(target))
    assert setup.lever(key).kr == "extra"


def test_several_krs_on_one_lever_and_filtered_krs(write_config: WriteConfig) -> None:
    okrs = SEED_OKR.replace("      - id: conversion\n", """\
      - id: conversion-pme
        name: Conversion PME
        metric: lead_conversion_rate
        where: {company_segment: PME}
        baseline: 15%
        target: 30%
      - id: conversion
""")
    setup = _setup(write_config, okrs)
    assert setup.inputs.lead_conversion_rate == Lever(0.18, 0.25)  # the unfiltered KR
    assert any("uses KR conversion; also on it: conversion-pme" in n for n in setup.notes)
    only_pme = _setup(write_config, okrs.replace("      - id: conversion\n        name: "
                                                 "Conversion des leads qualifiés en clients\n"
                                                 "        metric: lead_conversion_rate\n",
                                                 "      - id: conversion\n        name: x\n"
                                                 "        metric: win_rate\n"))
    assert only_pme.inputs.lead_conversion_rate == Lever(0.15, 0.30)
    assert any("KR conversion-pme measures company_segment=PME only" in n
               for n in only_pme.notes)


def test_a_ramp_and_an_odd_period(write_config: WriteConfig) -> None:
    okrs = SEED_OKR.replace("period: 2026-Q4", "period: {start: 2026-10-01, end: 2026-11-15}")
    setup = _setup(write_config, okrs, ramp=True)
    assert setup.inputs.ramp and setup.inputs.months == 2  # 46 days: 1.51 months
    assert setup.month_labels == ("M1", "M2")
    assert any("lasts 1.51 months; the plan runs 2 whole months" in n for n in setup.notes)


@pytest.mark.postgres
def test_the_same_baselines_on_postgresql(write_config: WriteConfig, sandbox_url: str,
                                          pg_url: str) -> None:
    sync(generate(now=NOW, seed=7), pg_url, NOW).close()
    okrs = """\
  - objective: Augmenter le MRR de 20 % ce trimestre
    period: 2026-Q4
    key_results:
      - {id: churn, name: Churn, metric: churn_rate, target: 2%}
"""
    on_sqlite = _setup(write_config, okrs, url=sandbox_url)
    on_postgres = _setup(write_config, okrs, url=pg_url)
    for key in ("qualified_leads", "lead_conversion_rate", "arpu", "churn_rate"):
        assert on_postgres.inputs.lever(key).baseline == pytest.approx(
            on_sqlite.inputs.lever(key).baseline, rel=1e-12), key
    assert on_postgres.inputs.start_mrr == pytest.approx(on_sqlite.inputs.start_mrr, rel=1e-12)
    assert [lever.baseline_source for lever in on_postgres.levers] == [
        lever.baseline_source for lever in on_sqlite.levers]
