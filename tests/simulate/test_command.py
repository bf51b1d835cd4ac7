"""``syncd simulate`` as a user runs it: the table, the JSON, choosing the objective, and every
mistake in one line with the right exit code."""

from __future__ import annotations

import json

import pytest

from rules.plan import plan

from .conftest import SEED_OKR, Cli, WriteConfig
from .test_inputs import _setup

#: Every key of an objective in the JSON output, in order (version 1).
OBJECTIVE_KEYS = [
    "index", "objective", "period", "months", "ramp", "objective_growth",
    "objective_growth_source", "start_mrr", "start_mrr_source", "data_as_of", "levers",
    "by_month", "goal_mrr", "plan_mrr", "plan_growth", "baseline_mrr", "gap", "adds_up",
    "notes",
]
LEVER_KEYS = ["baseline", "target", "kr", "baseline_source", "target_source", "contribution",
              "need"]
MONTH_KEYS = ["month", "levers", "new_customers_baseline", "new_customers_plan",
              "mrr_baseline", "mrr_plan"]

OTHER_OKR = """\
  - objective: Lancer la verticale Médical
    period: 2026-Q4
    key_results:
      - {id: medical, name: Revenu Médical, metric: revenue, target: 50000}
"""


def test_the_seed_as_a_table(cli: Cli, write_config: WriteConfig) -> None:
    code, out, err = cli(write_config(SEED_OKR))
    assert code == 0, err
    text = " ".join(out.split())
    assert "okrs[0] Augmenter le revenu récurrent mensuel (MRR) de 20 % — 2026-Q4, 3 months" in text
    assert "MRR +20.0% (goal: in the config), 100,000 CHF -> 120,000 CHF" in text
    for month, baseline, with_krs in (("2026-10", "101,320", "105,250"),
                                      ("2026-11", "102,600", "110,395"),
                                      ("2026-12", "103,842", "115,437")):
        assert f"{month} │ 3.6 │ {baseline} CHF │ 5.0 │ {with_krs} CHF" in text
    assert ("The KRs fall short: MRR ends at 115,437 CHF (+15.4%), 4,563 CHF below the "
            "objective of 120,000 CHF (+20.0%).") in text
    assert "Without the KRs (every lever at baseline) MRR would end at 103,842 CHF." in text
    # conversion needs 41.1 % on its own; churn cannot close the gap on its own
    assert "Lead conversion │ 41.1% │" in text
    assert "Churn / month │ impossible │" in text
    assert ("- Impossible: even with churn_rate at 0.0% (on its own) the MRR would end at "
            "112,960, short of 120,000.") in text
    assert "config (KR conversion: baseline and target)" in text
    assert err == ""


def test_the_seed_as_json(cli: Cli, write_config: WriteConfig) -> None:
    config = write_config(SEED_OKR)
    code, out, err = cli(config, "--format", "json")
    assert code == 0, err
    payload = json.loads(out)
    assert list(payload) == ["version", "now", "currency", "objectives"]
    assert (payload["version"], payload["now"], payload["currency"]) == (
        1, "2026-11-23T06:30:00+00:00", "CHF")
    [objective] = payload["objectives"]
    assert list(objective) == OBJECTIVE_KEYS
    assert list(objective["levers"]) == ["qualified_leads", "lead_conversion_rate", "arpu",
                                         "churn_rate"]
    for lever in objective["levers"].values():
        assert list(lever) == LEVER_KEYS
        assert list(lever["contribution"]) == ["shapley", "alone"]
        assert list(lever["need"]) == ["alone", "with_plan"]
    assert [list(m) for m in objective["by_month"]] == [MONTH_KEYS] * 3
    assert [m["month"] for m in objective["by_month"]] == ["2026-10", "2026-11", "2026-12"]
    assert [m["mrr_plan"] for m in objective["by_month"]] == pytest.approx(
        [105_250.0, 110_395.0, 115_437.1])
    assert objective["gap"] == pytest.approx(4_562.9)
    assert objective["adds_up"] is False
    assert objective["period"] == {"label": "2026-Q4", "start": "2026-10-01",
                                   "end": "2026-12-31"}
    # the Shapley contributions add up to the plan's effect
    total = sum(lever["contribution"]["shapley"] for lever in objective["levers"].values())
    assert total == pytest.approx(objective["plan_mrr"] - objective["baseline_mrr"])
    churn = objective["levers"]["churn_rate"]["need"]["alone"]
    assert churn["value"] is None and churn["reason"].startswith("impossible")
    # stable: the same inputs give the same bytes
    assert cli(config, "--format", "json")[1] == out


def test_a_ramp(cli: Cli, write_config: WriteConfig) -> None:
    code, out, _ = cli(write_config(SEED_OKR), "--ramp", "--format", "json")
    assert code == 0
    [objective] = json.loads(out)["objectives"]
    expected = plan(_setup(write_config, SEED_OKR, ramp=True).inputs)
    assert objective["ramp"] is True
    assert [m["mrr_plan"] for m in objective["by_month"]] == list(expected.plan_path)
    first = objective["by_month"][0]["levers"]
    assert first["lead_conversion_rate"] == pytest.approx(0.18 + 0.07 / 3)


def test_the_text_goal_is_said_in_the_output(cli: Cli, write_config: WriteConfig) -> None:
    okrs = SEED_OKR.replace("    goal: {metric: mrr, change: 20%}\n", "")
    code, out, _ = cli(write_config(okrs))
    assert code == 0
    text = " ".join(out.split())
    assert "MRR +20.0% (read from its words)" in text
    assert "write goal: {metric: mrr, change: 20%} under okrs[0] to set it explicitly" in text


def test_words_that_look_like_markup_are_printed_as_written(cli: Cli,
                                                            write_config: WriteConfig) -> None:
    okrs = SEED_OKR.replace("(MRR) de 20 %", "[MRR] de 20 % [bold]").replace(
        "    goal: {metric: mrr, change: 20%}\n", "")
    code, out, _ = cli(write_config(okrs))
    assert code == 0
    assert "okrs[0] Augmenter le revenu récurrent mensuel [MRR] de 20 % [bold] — 2026-Q4" in out


def test_choosing_the_objective(cli: Cli, write_config: WriteConfig) -> None:
    config = write_config(OTHER_OKR + SEED_OKR)
    by_default = json.loads(cli(config, "--format", "json")[1])["objectives"]
    assert [o["index"] for o in by_default] == [1]  # the only one with an MRR goal
    assert json.loads(cli(config, "--okr", "1", "--format", "json")[1]) == json.loads(
        cli(config, "--okr", "revenu RÉCURRENT", "--format", "json")[1])
    code, _, err = cli(config, "--okr", "7")
    assert code == 2 and len(err.splitlines()) == 1
    assert "there is no objective 7" in err and "0: Lancer la verticale Médical" in err
    code, _, err = cli(config, "--okr", "0")
    assert code == 2 and len(err.splitlines()) == 1
    assert "okrs[0]: the objective 'Lancer la verticale Médical' has no MRR goal" in err
    assert "Add goal: {metric: mrr, change: 20%}" in err


def test_no_objective_with_an_mrr_goal(cli: Cli, write_config: WriteConfig) -> None:
    code, out, err = cli(write_config(OTHER_OKR))
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1
    assert "no objective has an MRR goal" in err and "goal: {metric: mrr, change: 20%}" in err


def test_a_missing_baseline_on_an_empty_store(cli: Cli, write_config: WriteConfig) -> None:
    okrs = SEED_OKR.replace("        baseline: 1200\n", "")
    code, out, err = cli(write_config(okrs))
    assert code == 1 and out == ""
    assert err.startswith("syncd: arpu is missing: the synced data as of 2026-09-30 has none")
    assert len(err.splitlines()) == 1 and "syncd sync" in err


def test_baselines_from_the_synced_data(cli: Cli, write_config: WriteConfig,
                                        sandbox_url: str) -> None:
    okrs = """\
  - objective: Augmenter le MRR de 20 % ce trimestre
    period: 2026-Q4
    key_results:
      - {id: conversion, name: Conversion, metric: lead_conversion_rate, target: 25%}
"""
    code, out, err = cli(write_config(okrs, sandbox_url), "--format", "json")
    assert code == 0, err
    [objective] = json.loads(out)["objectives"]
    assert objective["data_as_of"] == "2026-09-30"
    assert objective["start_mrr_source"] == "synced data as of 2026-09-30 (MRR)"
    expected = plan(_setup(write_config, okrs, url=sandbox_url).inputs)
    assert objective["plan_mrr"] == expected.plan_mrr
    assert objective["gap"] == expected.gap


def test_an_xlsx_needs_one_objective(cli: Cli, write_config: WriteConfig, tmp_path) -> None:
    config = write_config(SEED_OKR + SEED_OKR.replace("id: ", "id: b-"))
    code, _, err = cli(config, "--xlsx", str(tmp_path / "plan.xlsx"))
    assert code == 2 and "--xlsx writes one objective; choose it with --okr" in err
    assert not (tmp_path / "plan.xlsx").exists()


def test_help(cli: Cli, write_config: WriteConfig) -> None:
    code, out, _ = cli(write_config(SEED_OKR), "--help")
    assert code == 0
    for option in ("--okr INDEX_OR_TEXT", "--ramp", "--format [table|json]", "--xlsx PATH"):
        assert option in out
