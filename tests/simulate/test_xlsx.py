"""``syncd simulate --xlsx``: input cells hold the config's values, the plan is live formulas
whose stored results are rules.plan's, and editing an input recomputes the right MRR."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from rules.pace import pace_ratio
from rules.periods import Period
from rules.plan import Lever, PlanInputs, plan
from rules.targets import KeyResultSpec, Revision, expected_value

from .conftest import SEED_OKR, Cli, WriteConfig
from .workbook import Book

SEED = PlanInputs(
    start_mrr=100_000.0, months=3, objective_growth=0.20,
    qualified_leads=Lever(20.0, 20.0), lead_conversion_rate=Lever(0.18, 0.25),
    arpu=Lever(1200.0, 1450.0), churn_rate=Lever(0.03, 0.02),
)
#: Input cells of the Inputs sheet.
START, MONTHS, GROWTH, RAMP = "B4", "B5", "B6", "B7"
BASELINE = {"qualified_leads": "B10", "lead_conversion_rate": "B11", "arpu": "B12",
            "churn_rate": "B13"}
TARGET = {key: "C" + ref[1:] for key, ref in BASELINE.items()}
#: The Plan sheet: months on rows 5-7, then the summary.
PLAN_MRR = ["G5", "G6", "G7"]
BASE_MRR = ["I5", "I6", "I7"]
GOAL, END, GROWTH_END, BASE_END, GAP, ADDS_UP = "B9", "B10", "B11", "B12", "B13", "B14"
Q4 = Period(date(2026, 10, 1), date(2026, 12, 31))
REVISED = SEED_OKR + """\
    revisions:
      - date: 2026-11-09
        kr: panier-moyen
        target: 1350
        reason: Promotion agressive d'un concurrent
"""


@pytest.fixture
def seed_book(cli: Cli, write_config: WriteConfig, tmp_path: Path) -> Path:
    path = tmp_path / "plan.xlsx"
    code, out, err = cli(write_config(SEED_OKR), "--xlsx", str(path))
    assert code == 0, err
    assert f"Wrote {path}: the inputs (yellow cells)" in out.splitlines()[-1]
    return path


def test_input_cells_hold_the_configs_values(seed_book: Path) -> None:
    sheet = openpyxl.load_workbook(seed_book)["Inputs"]
    assert [sheet[ref].value for ref in (START, MONTHS, GROWTH, RAMP)] == [
        100_000, 3, 0.2, False]
    for key, ref in BASELINE.items():
        assert sheet[ref].value == SEED.lever(key).baseline, key
        assert sheet[TARGET[key]].value == SEED.lever(key).target, key
        assert sheet[ref].fill.fgColor.rgb == sheet[START].fill.fgColor.rgb != "00000000"
    assert sheet["F4"].value == "config (KR mrr baseline)"
    assert sheet["G11"].value == "config (KR conversion target)"


def test_the_plan_is_formulas_storing_rules_plans_results(seed_book: Path) -> None:
    formulas = openpyxl.load_workbook(seed_book)["Plan"]
    cached = openpyxl.load_workbook(seed_book, data_only=True)["Plan"]
    result = plan(SEED)
    for refs in (PLAN_MRR, BASE_MRR, ["B5", "C5", "D5", "E5", "F5", "H5"],
                 [GOAL, END, GROWTH_END, BASE_END, GAP, ADDS_UP]):
        for ref in refs:
            assert str(formulas[ref].value).startswith("="), ref
    assert formulas["G5"].value == "=$G$4*(1-$E$5)+$F$5*$D$5"
    assert formulas["C5"].value == (
        "=IF(Inputs!$B$7,Inputs!$B$11+(Inputs!$D$11-Inputs!$B$11)*(1/Inputs!$B$5),"
        "Inputs!$D$11)")
    assert [cached[ref].value for ref in PLAN_MRR] == list(result.plan_path)
    assert [cached[ref].value for ref in BASE_MRR] == list(result.baseline_path)
    assert [cached[ref].value for ref in (GOAL, END, GROWTH_END, BASE_END, GAP, ADDS_UP)] == [
        result.goal_mrr, result.plan_mrr, result.plan_growth, result.baseline_path[-1],
        result.gap, "no"]
    # contributions and needs, as values
    assert cached["B19"].value == result.effects[1].shapley  # lead conversion
    assert cached["D19"].value == result.needs[2].value  # conversion, alone


def test_recomputing_matches_the_stored_values(seed_book: Path) -> None:
    book = Book(seed_book)
    cached = openpyxl.load_workbook(seed_book, data_only=True)["Plan"]
    for ref in [*PLAN_MRR, *BASE_MRR, GOAL, END, GROWTH_END, GAP]:
        assert book.value("Plan", ref) == pytest.approx(cached[ref].value, rel=1e-12), ref
    assert book.value("Plan", ADDS_UP) == cached[ADDS_UP].value == "no"


def test_editing_inputs_recomputes_the_plan(seed_book: Path) -> None:
    book = Book(seed_book)
    book.set("Inputs", TARGET["lead_conversion_rate"], 0.30)
    book.set("Inputs", TARGET["qualified_leads"], None)  # empty: stays at baseline
    book.set("Inputs", BASELINE["qualified_leads"], 24.0)
    book.set("Inputs", RAMP, True)
    edited = PlanInputs(
        start_mrr=100_000.0, months=3, objective_growth=0.20, ramp=True,
        qualified_leads=Lever(24.0), lead_conversion_rate=Lever(0.18, 0.30),
        arpu=Lever(1200.0, 1450.0), churn_rate=Lever(0.03, 0.02),
    )
    result = plan(edited)
    assert [book.value("Plan", ref) for ref in PLAN_MRR] == pytest.approx(
        result.plan_path, rel=1e-12)
    assert [book.value("Plan", ref) for ref in BASE_MRR] == pytest.approx(
        result.baseline_path, rel=1e-12)
    assert book.value("Plan", GAP) == pytest.approx(result.gap, rel=1e-9)
    assert book.value("Plan", ADDS_UP) == "no"
    book.set("Inputs", GROWTH, 0.10)
    assert book.value("Plan", ADDS_UP) == "yes"


def test_the_weekly_review_template(cli: Cli, write_config: WriteConfig,
                                    tmp_path: Path) -> None:
    path = tmp_path / "plan.xlsx"
    assert cli(write_config(REVISED), "--xlsx", str(path))[0] == 0
    sheet = openpyxl.load_workbook(path, data_only=True)["Weekly review"]
    header = [c.value for c in sheet[7]]
    assert header[:13] == [
        "KR", "Metric", "Owners", "Baseline", "Target in force", "Period start", "Period end",
        "Expected share of the way", "Expected by the review date", "Value this week",
        "Progress", "Pace", "Status"]
    assert header[13:] == ["Comment / actions for the next 7 days", "Action owner", "Due"]
    rows = {row[0].value.split(":")[0]: row for row in sheet.iter_rows(min_row=8, max_row=13)}
    assert list(rows) == ["mrr", "leads", "conversion", "panier-moyen", "churn", "pipeline"]
    assert sheet["B4"].value.date() == date(2026, 11, 23)
    arpu = rows["panier-moyen"]
    assert arpu[2].value == "julie@acme.ch, paul@acme.ch, sara@acme.ch"
    assert (arpu[3].value, arpu[4].value) == (1200, 1350)  # the revised target in force
    spec = KeyResultSpec("panier-moyen", "arpu", 1450.0, Q4, 1200.0,
                         revisions=(Revision(date(2026, 11, 9), 1350.0, "promo"),))
    assert arpu[8].value == expected_value(spec, date(2026, 11, 23))
    assert rows["pipeline"][3].value is None and rows["pipeline"][8].value is None

    # typing this week's values gives rules.pace's pace and a status
    book = Book(path)
    book.set("Weekly review", "J11", 1250.0)  # ARPU
    assert book.value("Weekly review", "I11") == pytest.approx(expected_value(spec, date(
        2026, 11, 23)))
    pace = pace_ratio(spec, 1250.0, date(2026, 11, 23))
    assert book.value("Weekly review", "L11") == pytest.approx(pace)
    assert book.value("Weekly review", "M11") == "off track"  # pace 0.49
    book.set("Weekly review", "J11", 1330.0)
    assert book.value("Weekly review", "M11") == "on track"
    assert book.value("Weekly review", "M10") == ""  # no value typed for conversion
    book.set("Weekly review", "B4", (date(2026, 10, 5) - date(1899, 12, 30)).days)
    assert book.value("Weekly review", "M11") == "on track"  # too early to judge


def test_a_workbook_from_synced_data(cli: Cli, write_config: WriteConfig, sandbox_url: str,
                                     tmp_path: Path) -> None:
    okrs = """\
  - objective: Augmenter le MRR de 20 % ce trimestre
    period: 2026-Q4
    key_results:
      - {id: churn, name: Churn, metric: churn_rate, target: 2%}
"""
    path = tmp_path / "plan.xlsx"
    code, out, err = cli(write_config(okrs, sandbox_url), "--xlsx", str(path),
                         "--format", "json")
    assert code == 0, err
    assert err.startswith(f"Wrote {path}: the inputs")  # stdout stays JSON
    [objective] = json.loads(out)["objectives"]
    sheet = openpyxl.load_workbook(path, data_only=True)["Inputs"]
    assert sheet[START].value == objective["start_mrr"]
    assert sheet["F4"].value == "synced data as of 2026-09-30 (MRR)"
    assert sheet[TARGET["qualified_leads"]].value is None
    assert sheet["G10"].value == "not moved by a KR (empty: stays at baseline)"
    assert sheet["F6"].value == "read from the objective's words"
    cached = openpyxl.load_workbook(path, data_only=True)["Plan"]
    assert cached[END].value == objective["plan_mrr"]
    assert Book(path).value("Plan", END) == pytest.approx(objective["plan_mrr"], rel=1e-12)


def test_an_xlsx_that_cannot_be_written(cli: Cli, write_config: WriteConfig, tmp_path) -> None:
    code, _, err = cli(write_config(SEED_OKR), "--xlsx", str(tmp_path / "no" / "plan.xlsx"))
    assert code == 1 and len(err.splitlines()) == 1
    assert err.startswith(f"syncd: cannot write {tmp_path / 'no' / 'plan.xlsx'}")
