"""The "does the plan add up" model, checked against the seed's numbers computed by hand."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from rules.errors import RulesError
from rules.plan import LEVERS, Lever, PlanInputs, mrr_path, plan, simulate

# Seed 000: 8-person team, MRR 100 000 CHF, objective +20 % this quarter; conversion
# 18 % -> 25 %, ARPU 1 200 -> 1 450 CHF, churn 3 % -> 2 % a month. The seed gives no lead
# volume: we take 20 qualified leads a month (5 per front-line rep), no KR on it.
SEED = PlanInputs(
    start_mrr=100_000.0,
    months=3,
    objective_growth=0.20,
    qualified_leads=Lever(20.0),
    lead_conversion_rate=Lever(0.18, 0.25),
    arpu=Lever(1200.0, 1450.0),
    churn_rate=Lever(0.03, 0.02),
)


def test_the_seed_plan_by_hand() -> None:
    result = plan(SEED)
    # At baseline: 20 x 18 % = 3.6 new customers x 1 200 = 4 320 CHF of new MRR a month.
    #   month 1: 100 000 x 0.97 + 4 320 = 101 320
    #   month 2: 101 320 x 0.97 + 4 320 = 102 600.4
    #   month 3: 102 600.4 x 0.97 + 4 320 = 103 842.388
    assert result.baseline_path == pytest.approx((101_320.0, 102_600.4, 103_842.388))
    # At target: 20 x 25 % = 5 new customers x 1 450 = 7 250 CHF a month, 2 % churn.
    #   month 1: 100 000 x 0.98 + 7 250 = 105 250
    #   month 2: 105 250 x 0.98 + 7 250 = 110 395
    #   month 3: 110 395 x 0.98 + 7 250 = 115 437.1
    assert result.plan_path == pytest.approx((105_250.0, 110_395.0, 115_437.1))
    # The objective is 120 000: the KRs reach +15.4 %, 4 562.9 CHF short.
    assert result.goal_mrr == pytest.approx(120_000.0)
    assert result.plan_growth == pytest.approx(0.154371)
    assert result.gap == pytest.approx(4_562.9)
    assert not result.adds_up


def test_the_seed_levers_contributions() -> None:
    effects = {e.key: e for e in plan(SEED).effects}
    # Alone, by hand. Conversion alone: 20 x 25 % x 1 200 = 6 000 a month at 3 % churn:
    #   end = 100 000 x 0.97^3 + 6 000 x (1 + 0.97 + 0.97^2) = 91 267.3 + 17 465.4
    assert effects["lead_conversion_rate"].alone == pytest.approx(
        91_267.3 + 6_000 * 2.9109 - 103_842.388
    )
    # ARPU alone: 3.6 x 1 450 = 5 220 a month
    assert effects["arpu"].alone == pytest.approx(91_267.3 + 5_220 * 2.9109 - 103_842.388)
    # Churn alone: 4 320 a month at 2 %: 100 000 x 0.98^3 + 4 320 x (1 + 0.98 + 0.98^2)
    assert effects["churn_rate"].alone == pytest.approx(94_119.2 + 4_320 * 2.9404 - 103_842.388)
    assert effects["qualified_leads"] == type(effects["arpu"])("qualified_leads", 0.0, 0.0)
    # Shapley values share the interaction: they add up to the whole plan's effect.
    total = 115_437.1 - 103_842.388
    assert sum(e.shapley for e in effects.values()) == pytest.approx(total)
    assert sum(e.alone for e in effects.values()) < total  # the levers multiply each other


def test_what_each_seed_lever_would_need() -> None:
    needs = {(n.key, n.others): n for n in plan(SEED).needs}
    # With the others at target, the lead volume N needed a month solves
    #   120 000 = 100 000 x 0.98^3 + N x 0.25 x 1 450 x (1 + 0.98 + 0.98^2)
    leads = (120_000 - 94_119.2) / (0.25 * 1450 * 2.9404)
    assert needs["qualified_leads", "target"].value == pytest.approx(leads)  # about 24.3
    # Alone, conversion needs 120 000 = 91 267.3 + 20 x c x 1 200 x 2.9109
    conversion = (120_000 - 91_267.3) / (20 * 1200 * 2.9109)
    assert needs["lead_conversion_rate", "baseline"].value == pytest.approx(conversion)  # 41 %
    assert needs["lead_conversion_rate", "baseline"].reason == (
        "lead_conversion_rate at 41.1% closes the gap on its own"
    )
    # Even with no churn at all, 4 320 a month only takes MRR to 100 000 + 3 x 4 320.
    alone = needs["churn_rate", "baseline"]
    assert alone.value is None
    assert alone.reason == (
        "impossible: even with churn_rate at 0.0% (on its own) the MRR would end at "
        "112,960, short of 120,000"
    )
    with_plan = needs["churn_rate", "target"].value
    assert with_plan is not None and 0.0 < with_plan < 0.02


def test_every_need_reaches_the_objective() -> None:
    result = plan(SEED)
    for need in result.needs:
        if need.value is None:
            continue
        at_target = [k for k in LEVERS if k != need.key] if need.others == "target" else []
        end = simulate(SEED, at_target, **{need.key: need.value})[-1]
        assert end >= result.goal_mrr - 1e-6
        assert end == pytest.approx(result.goal_mrr, rel=1e-9)


def test_a_lever_that_does_not_matter() -> None:
    # objective: keep 4 000 of the 100 000 CHF; 4 320 of new MRR a month is enough even if
    # every customer leaves, and the old customers are enough even without new ones
    easy = PlanInputs(
        100_000.0, 3, -0.96, Lever(20.0), Lever(0.18, 0.25), Lever(1200.0), Lever(0.03)
    )
    needs = {(n.key, n.others): n for n in plan(easy).needs}
    assert needs["arpu", "baseline"].value == 0.0
    assert needs["churn_rate", "baseline"].value == 1.0
    assert "whatever this lever does" in needs["arpu", "baseline"].reason


def test_a_ramp_reaches_the_targets_in_the_last_month() -> None:
    ramped = plan(PlanInputs(**{**_fields(SEED), "ramp": True}))
    # month 1: a third of the way: conversion 20.33 %, ARPU 1 283.33, churn 2.667 %
    m1 = 100_000 * (1 - (0.03 - 0.01 / 3)) + 20 * (0.18 + 0.07 / 3) * (1200 + 250 / 3)
    m2 = m1 * (1 - (0.03 - 0.02 / 3)) + 20 * (0.18 + 0.14 / 3) * (1200 + 500 / 3)
    m3 = m2 * 0.98 + 20 * 0.25 * 1450
    assert ramped.plan_path == pytest.approx((m1, m2, m3))
    assert ramped.baseline_path == plan(SEED).baseline_path
    assert ramped.gap > plan(SEED).gap  # the slower climb makes the gap bigger


def _fields(inputs: PlanInputs) -> dict:
    return {name: getattr(inputs, name) for name in PlanInputs.__dataclass_fields__}


@given(
    st.floats(1.0, 1e7),
    st.integers(1, 24),
    st.one_of(st.just(0.0), st.floats(1e-9, 0.5)),  # no subnormal churn rates
    st.floats(0.0, 200.0),
    st.floats(0.0, 1.0),
    st.floats(0.0, 1e4),
)
def test_at_baseline_the_model_compounds_like_the_closed_form(
    mrr: float, months: int, churn: float, leads: float, conversion: float, arpu: float
) -> None:
    inputs = PlanInputs(
        mrr, months, 0.2, Lever(leads), Lever(conversion), Lever(arpu), Lever(churn)
    )
    new = leads * conversion * arpu
    keep = 1.0 - churn
    for m, value in enumerate(plan(inputs).baseline_path, start=1):
        # sum of keep^k for k < m, written to stay exact for a tiny churn
        added = new * m if churn == 0 else new * -math.expm1(m * math.log1p(-churn)) / churn
        assert value == pytest.approx(mrr * keep**m + added, rel=1e-9, abs=1e-6)


@given(
    st.floats(0.05, 0.4),
    st.floats(0.05, 0.4),
    st.floats(800.0, 2000.0),
    st.floats(800.0, 2000.0),
    st.floats(0.0, 0.05),
    st.floats(0.0, 0.05),
)
def test_shapley_values_always_add_up_to_the_plan_effect(
    c0: float, c1: float, a0: float, a1: float, ch0: float, ch1: float
) -> None:
    inputs = PlanInputs(
        100_000.0, 3, 0.2, Lever(20.0, 25.0), Lever(c0, c1), Lever(a0, a1), Lever(ch0, ch1)
    )
    result = plan(inputs)
    total = result.plan_mrr - result.baseline_path[-1]
    assert sum(e.shapley for e in result.effects) == pytest.approx(total, abs=1e-6)


@given(st.floats(0.0, 0.2), st.floats(0.0, 0.2))
def test_lower_churn_never_lowers_mrr(a: float, b: float) -> None:
    assume(a != b)
    low, high = sorted((a, b))
    start = {"qualified_leads": 20.0, "lead_conversion_rate": 0.2, "arpu": 1000.0}
    with_low = mrr_path(1e5, 6, {**start, "churn_rate": low}, {**start, "churn_rate": low})
    with_high = mrr_path(1e5, 6, {**start, "churn_rate": high}, {**start, "churn_rate": high})
    assert with_low[-1] >= with_high[-1]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"start_mrr": 0.0}, "starting MRR must be a positive amount"),
        ({"months": 0}, "at least one month"),
        ({"objective_growth": -1.0}, "impossible"),
        ({"lead_conversion_rate": Lever(18.0, 25.0)}, "is a share: at most 100 %"),
        ({"churn_rate": Lever(0.03, -0.01)}, "churn_rate target must be a positive number"),
        ({"arpu": Lever(float("nan"))}, "arpu baseline must be a positive number"),
    ],
)
def test_impossible_inputs_are_refused(change: dict, fragment: str) -> None:
    with pytest.raises(RulesError, match=fragment):
        PlanInputs(**{**_fields(SEED), **change})


def test_unknown_levers_are_refused() -> None:
    with pytest.raises(RulesError, match="'mrr' is not a lever of the plan"):
        simulate(SEED, ["mrr"])
