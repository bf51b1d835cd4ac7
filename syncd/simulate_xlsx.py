"""``syncd simulate --xlsx PATH``: the plan as a workbook with live formulas.

Three sheets:

- **Inputs**: start MRR, objective growth, ramp and each lever's baseline and target, in
  yellow input cells (an empty target: the lever stays at its baseline), with where each
  number came from.
- **Plan**: month by month, the levers, new customers and MRR with the KRs at target and at
  baseline, all formulas on the input cells; then the objective, the gap and whether the KRs
  add up. Below, the levers' contributions and needs as syncd computed them at export (values:
  they need the whole model run many times, which a formula cannot do).
- **Weekly review**: the seed's 30-minute weekly review, one line per KR of the objective:
  baseline, target in force, expected by the review date (a formula on that date), the value
  to type in, progress, pace and status as formulas, then comment / actions for the next 7
  days, owner and due date; and a block for the week's priority actions.

Every formula is written with its computed value (the one :mod:`rules.plan` and
:mod:`rules.targets` give), so a viewer that does not recalculate shows the right numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.exceptions import XlsxFileError
from xlsxwriter.utility import xl_rowcol_to_cell

from rules import periods as rp
from rules.pace import PACE_FLOOR, StatusThresholds
from rules.plan import LEVERS, PlanResult
from rules.targets import (
    KeyResultSpec,
    Linear,
    Milestones,
    Ramp,
    Revision,
    Trajectory,
    expected_fraction,
    expected_value,
)
from syncd.config import Config
from syncd.config_okrs import KeyResult, Okr
from syncd.simulate import LEVER_NAMES, PlanSetup, SimulateError, lever_levels, new_customers

#: Off track below this pace (at risk below ``alerts.behind_pace.below``).
OFF_TRACK_BELOW = 0.70
_SHARES = ("lead_conversion_rate", "churn_rate")


def cell(row: int, col: int, sheet: str | None = None) -> str:
    """An absolute reference (``$B$4``, ``Inputs!$B$4``) to a 0-based row and column."""
    ref = xl_rowcol_to_cell(row, col, row_abs=True, col_abs=True)
    return f"{sheet}!{ref}" if sheet else ref


class _Formats:
    def __init__(self, book: Any, currency: str) -> None:
        money = f'#,##0 "{currency}"'
        self.title = book.add_format({"bold": True, "font_size": 14})
        self.bold = book.add_format({"bold": True})
        self.note = book.add_format({"italic": True, "font_color": "#555555"})
        self.head = book.add_format({"bold": True, "bottom": 1, "text_wrap": True,
                                     "valign": "top"})
        self.money = book.add_format({"num_format": money})
        self.percent = book.add_format({"num_format": "0.0%"})
        self.number = book.add_format({"num_format": "#,##0.0"})
        self.date = book.add_format({"num_format": "yyyy-mm-dd"})
        self.wrap = book.add_format({"text_wrap": True, "valign": "top"})
        colour = {"bg_color": "#FFF2CC", "border": 1, "border_color": "#BF9000"}
        self.input_money = book.add_format({**colour, "num_format": money})
        self.input_percent = book.add_format({**colour, "num_format": "0.0%"})
        self.input_number = book.add_format({**colour, "num_format": "#,##0.0"})
        self.input_date = book.add_format({**colour, "num_format": "yyyy-mm-dd"})
        self.input = book.add_format({**colour, "text_wrap": True, "valign": "top"})

    def lever(self, key: str, *, editable: bool = False) -> Any:
        if key in _SHARES:
            return self.input_percent if editable else self.percent
        if key == "arpu":
            return self.input_money if editable else self.money
        return self.input_number if editable else self.number


def write_workbook(
    path: Path, config: Config, setup: PlanSetup, result: PlanResult, now: datetime
) -> None:
    """Write ``path`` (see the module docstring); :class:`SimulateError` when it cannot be."""
    book = xlsxwriter.Workbook(str(path))
    fmt = _Formats(book, config.currency)
    try:
        refs = _inputs_sheet(book.add_worksheet("Inputs"), fmt, setup, config.currency)
        _plan_sheet(book.add_worksheet("Plan"), fmt, setup, result, refs)
        okr = config.okrs[setup.index]
        review_day = rp.local_day(now.astimezone(config.tz))
        pace = config.alerts.behind_pace
        limits = StatusThresholds(below=pace.below, recover_above=pace.recover_above,
                                  off_track_below=min(OFF_TRACK_BELOW, pace.below))
        _review_sheet(book.add_worksheet("Weekly review"), fmt, okr, review_day, limits)
    finally:
        try:
            book.close()
        except (XlsxFileError, OSError) as exc:
            raise SimulateError(f"cannot write {path}: {exc}") from exc


# --------------------------------------------------------------------------- Inputs


def _inputs_sheet(sheet: Any, fmt: _Formats, setup: PlanSetup, currency: str) -> dict[str, str]:
    """Write the inputs; return the references the other sheets use."""
    inputs = setup.inputs
    sheet.set_column(0, 0, 30)
    sheet.set_column(1, 3, 14)
    sheet.set_column(4, 4, 16)
    sheet.set_column(5, 6, 60)
    sheet.write(0, 0, f"Does the plan add up? {setup.objective} ({setup.period.label})", fmt.title)
    sheet.write(1, 0, "Yellow cells are inputs: change them and the Plan sheet follows. "
                "Rates are percentages; churn is monthly; leads are per month.", fmt.note)
    refs = {"start": cell(3, 1, "Inputs"), "months": cell(4, 1, "Inputs"),
            "growth": cell(5, 1, "Inputs"), "ramp": cell(6, 1, "Inputs")}
    sheet.write(3, 0, "Start MRR", fmt.bold)
    sheet.write_number(3, 1, inputs.start_mrr, fmt.input_money)
    sheet.write(3, 5, setup.start_mrr_source)
    sheet.write(4, 0, "Months", fmt.bold)
    sheet.write_number(4, 1, inputs.months)
    sheet.write(4, 5, "One row per month on the Plan sheet: run syncd simulate again to change "
                "the period.")
    sheet.write(5, 0, "Objective: MRR growth", fmt.bold)
    sheet.write_number(5, 1, inputs.objective_growth, fmt.input_percent)
    sheet.write(5, 5, "config (goal:)" if setup.goal_source == "config"
                else "read from the objective's words")
    sheet.write(6, 0, "Ramp", fmt.bold)
    sheet.write_boolean(6, 1, inputs.ramp, fmt.input)
    sheet.data_validation(6, 1, 6, 1, {"validate": "list", "source": ["TRUE", "FALSE"]})
    sheet.write(6, 5, "TRUE: each lever climbs in a straight line to its target, reached in "
                "the last month. FALSE: at target from the first month.")
    for col, title in enumerate(("Lever", "Baseline", "Target", "In the plan", "KR",
                                 "Baseline from", "Target from")):
        sheet.write(8, col, title, fmt.head)
    for offset, lever in enumerate(setup.levers):
        row = 9 + offset
        sheet.write(row, 0, LEVER_NAMES[lever.key], fmt.bold)
        sheet.write_number(row, 1, lever.baseline, fmt.lever(lever.key, editable=True))
        if lever.target is None:
            sheet.write_blank(row, 2, None, fmt.lever(lever.key, editable=True))
        else:
            sheet.write_number(row, 2, lever.target, fmt.lever(lever.key, editable=True))
        base, target = cell(row, 1), cell(row, 2)
        sheet.write_formula(row, 3, f"=IF(ISBLANK({target}),{base},{target})",
                            fmt.lever(lever.key), inputs.lever(lever.key).planned)
        sheet.write(row, 4, lever.kr or "")
        sheet.write(row, 5, lever.baseline_source)
        sheet.write(row, 6, lever.target_source + (" (empty: stays at baseline)"
                                                   if lever.target is None else ""))
        refs[f"{lever.key}.baseline"] = cell(row, 1, "Inputs")
        refs[f"{lever.key}.planned"] = cell(row, 3, "Inputs")
    for note_row, note in enumerate(setup.notes, start=14):
        sheet.write(note_row, 0, f"Note: {note}", fmt.note)
    return refs


# --------------------------------------------------------------------------- Plan

_PLAN_COLUMNS = ("Month", "Qualified leads", "Conversion", "ARPU", "Churn",
                 "New customers", "MRR with the KRs", "New customers at baseline",
                 "MRR at baseline")


def _plan_sheet(
    sheet: Any, fmt: _Formats, setup: PlanSetup, result: PlanResult, refs: Mapping[str, str]
) -> None:
    inputs = setup.inputs
    sheet.set_column(0, 0, 44)
    sheet.set_column(1, 8, 15)
    sheet.write(0, 0, f"Month by month: {setup.objective}", fmt.title)
    sheet.write(1, 0, "MRR(m) = MRR(m-1) x (1 - churn) + new customers x ARPU; new customers "
                "= qualified leads x conversion. Levers as on the Inputs sheet.", fmt.note)
    for col, title in enumerate(_PLAN_COLUMNS):
        sheet.write(2, col, title, fmt.head)
    sheet.write(3, 0, "Start")
    sheet.write_formula(3, 6, f"={refs['start']}", fmt.money, inputs.start_mrr)
    sheet.write_formula(3, 8, f"={refs['start']}", fmt.money, inputs.start_mrr)
    base = {k: refs[f"{k}.baseline"] for k in LEVERS}
    base_levels = {k: inputs.lever(k).baseline for k in LEVERS}
    for m, label in enumerate(setup.month_labels, start=1):
        row = 3 + m
        levels = lever_levels(inputs, m)
        sheet.write(row, 0, label)
        for col, key in enumerate(LEVERS, start=1):
            planned = refs[f"{key}.planned"]
            climb = f"{base[key]}+({planned}-{base[key]})*({m}/{refs['months']})"
            sheet.write_formula(row, col, f"=IF({refs['ramp']},{climb},{planned})",
                                fmt.lever(key), levels[key])
        b, c, d, e = (cell(row, col) for col in (1, 2, 3, 4))
        sheet.write_formula(row, 5, f"={b}*{c}", fmt.number, new_customers(levels))
        sheet.write_formula(row, 6, f"={cell(row - 1, 6)}*(1-{e})+{cell(row, 5)}*{d}",
                            fmt.money, result.plan_path[m - 1])
        sheet.write_formula(row, 7, f"={base['qualified_leads']}*{base['lead_conversion_rate']}",
                            fmt.number, new_customers(base_levels))
        sheet.write_formula(
            row, 8, f"={cell(row - 1, 8)}*(1-{base['churn_rate']})+{cell(row, 7)}*{base['arpu']}",
            fmt.money, result.baseline_path[m - 1])
    last = 3 + inputs.months
    row = last + 2
    goal, end = cell(row, 1), cell(row + 1, 1)
    gap = cell(row + 4, 1)
    summary = (
        ("Objective: start MRR x (1 + growth)", f"={refs['start']}*(1+{refs['growth']})",
         fmt.money, result.goal_mrr),
        ("MRR at the end, with the KRs", f"={cell(last, 6)}", fmt.money, result.plan_mrr),
        ("Growth with the KRs", f"={end}/{refs['start']}-1", fmt.percent, result.plan_growth),
        ("MRR at the end, every lever at baseline", f"={cell(last, 8)}", fmt.money,
         result.baseline_path[-1]),
        ("Gap: objective - MRR with the KRs (above 0: short)", f"={goal}-{end}", fmt.money,
         result.gap),
        ("Do the KRs add up?", f'=IF({gap}<=0,"yes","no")', fmt.bold,
         "yes" if result.adds_up else "no"),
    )
    for offset, (label, formula, style, value) in enumerate(summary):
        sheet.write(row + offset, 0, label, fmt.bold)
        sheet.write_formula(row + offset, 1, formula, style, value)
    _at_export(sheet, fmt, setup, result, row + len(summary) + 1)


def _at_export(sheet: Any, fmt: _Formats, setup: PlanSetup, result: PlanResult, row: int) -> None:
    sheet.write(row, 0, "As computed by syncd at export (values, not recalculated when the "
                "inputs change)", fmt.note)
    for col, title in enumerate(("Lever", "Share of the plan's effect", "Alone",
                                 "Needs alone", "Needs with the rest of the plan")):
        sheet.write(row + 1, col, title, fmt.head)
    needs = {(n.key, n.others): n for n in result.needs}
    for offset, effect in enumerate(result.effects, start=2):
        key = effect.key
        sheet.write(row + offset, 0, LEVER_NAMES[key], fmt.bold)
        sheet.write_number(row + offset, 1, effect.shapley, fmt.money)
        sheet.write_number(row + offset, 2, effect.alone, fmt.money)
        for col, others in ((3, "baseline"), (4, "target")):
            need = needs[key, others]
            if need.value is None:
                sheet.write(row + offset, col, need.reason, fmt.wrap)
            else:
                sheet.write_number(row + offset, col, need.value, fmt.lever(key))


# --------------------------------------------------------------------------- Weekly review

_REVIEW_COLUMNS = ("KR", "Metric", "Owners", "Baseline", "Target in force", "Period start",
                   "Period end", "Expected share of the way", "Expected by the review date",
                   "Value this week", "Progress", "Pace", "Status",
                   "Comment / actions for the next 7 days", "Action owner", "Due")


def _review_sheet(
    sheet: Any, fmt: _Formats, okr: Okr, day: date, limits: StatusThresholds
) -> None:
    sheet.set_column(0, 0, 34)
    sheet.set_column(1, 12, 13)
    sheet.set_column(13, 13, 44)
    sheet.set_column(14, 15, 16)
    sheet.write(0, 0, f"Weekly review (30 minutes): {okr.objective}", fmt.title)
    sheet.write(1, 0, "Live dashboard on screen, one line per KR: type this week's value, "
                "discuss the KRs that drift, agree the priority actions for the next 7 days. "
                "Each KR owner brings corrective actions when it drifts.", fmt.note)
    sheet.write(3, 0, "Review date", fmt.bold)
    sheet.write_datetime(3, 1, datetime.combine(day, datetime.min.time()), fmt.input_date)
    when = cell(3, 1)
    sheet.write(4, 0, f"Status: at risk below {limits.below:.0%} of the expected pace, off "
                f"track below {limits.off_track_below:.0%}; not judged before "
                f"{limits.min_elapsed:.0%} of the period (no memory of last week's status, "
                "unlike syncd's alerts).", fmt.note)
    for col, title in enumerate(_REVIEW_COLUMNS):
        sheet.write(6, col, title, fmt.head)
    for offset, kr in enumerate(okr.key_results):
        _review_row(sheet, fmt, okr, kr, 7 + offset, when, day, limits)
    row = 8 + len(okr.key_results)
    sheet.write(row, 0, "Priority actions for the next 7 days", fmt.bold)
    for col, title in enumerate(("Action", "Owner", "Due", "Done")):
        sheet.write(row + 1, col, title, fmt.head)
    for action in range(row + 2, row + 7):
        for col in range(4):
            sheet.write_blank(action, col, None, fmt.input)
    sheet.write(row + 8, 0, "Learnings and decisions", fmt.bold)
    sheet.write_blank(row + 9, 0, None, fmt.input)
    sheet.freeze_panes(7, 1)


def _trajectory(kr: KeyResult) -> Trajectory:
    if kr.trajectory is None:
        return Linear()
    if kr.trajectory.ramp is not None:
        return Ramp(kr.trajectory.ramp)
    return Milestones(tuple(sorted((d, q.value) for d, q in (kr.trajectory.milestones or {})
                                   .items())))


def _review_row(sheet: Any, fmt: _Formats, okr: Okr, kr: KeyResult, row: int, when: str,
                day: date, limits: StatusThresholds) -> None:
    chosen = kr.period or okr.period
    period = rp.Period(chosen.start, chosen.end)
    revisions = tuple(Revision(r.date, r.target.value, r.reason)
                      for r in okr.revisions if r.kr == kr.id)
    spec = KeyResultSpec(kr.id, kr.metric, kr.target.value, period,
                         kr.baseline.value if kr.baseline else None,
                         trajectory=_trajectory(kr), revisions=revisions)
    share_fmt = fmt.percent if kr.target.unit == "percent" else fmt.number
    editable = fmt.input_percent if kr.target.unit == "percent" else fmt.input_number
    sheet.write(row, 0, f"{kr.id}: {kr.name}", fmt.wrap)
    sheet.write(row, 1, kr.metric)
    sheet.write(row, 2, ", ".join(kr.owners))
    base, target, start, end = (cell(row, col) for col in (3, 4, 5, 6))
    frac, value = cell(row, 7), cell(row, 9)
    progress, pace = cell(row, 10), cell(row, 11)
    if spec.baseline is None:
        sheet.write_blank(row, 3, None, editable)
        sheet.write_comment(row, 3, "No baseline in the config: type the value when the "
                            "period started.")
    else:
        sheet.write_number(row, 3, spec.baseline, editable)
    sheet.write_number(row, 4, spec.target_at(day), share_fmt)
    sheet.write_datetime(row, 5, datetime.combine(period.start, datetime.min.time()), fmt.date)
    sheet.write_datetime(row, 6, datetime.combine(period.end, datetime.min.time()), fmt.date)
    elapsed = f"MIN(MAX(({when}-{start}+1)/({end}-{start}+1),0),1)"
    trajectory = spec.trajectory
    fraction = expected_fraction(spec, day) if not isinstance(trajectory, Milestones) else None
    if isinstance(trajectory, Ramp):
        sheet.write_formula(row, 7, f"={elapsed}^{trajectory.exponent!r}", fmt.percent, fraction)
    elif isinstance(trajectory, Linear):
        sheet.write_formula(row, 7, f"={elapsed}", fmt.percent, fraction)
    elif spec.baseline is not None:
        sheet.write_number(row, 7, expected_fraction(spec, day), fmt.percent)
        sheet.write_comment(row, 7, f"Milestones: the share expected on {day}, as syncd "
                            "computes it; not recalculated when the review date changes.")
    cached = expected_value(spec, day) if spec.baseline is not None else ""
    sheet.write_formula(row, 8, f'=IF(OR(ISBLANK({base}),{frac}=""),"",{base}+({target}-{base})'
                        f"*{frac})", share_fmt, cached)
    sheet.write_blank(row, 9, None, editable)
    hold = f"IF({value}>={target},1,0)" if spec.direction.value == "up" else (
        f"IF({value}<={target},1,0)")
    sheet.write_formula(row, 10, f'=IF(OR(ISBLANK({value}),ISBLANK({base})),"",IF({target}='
                        f"{base},{hold},({value}-{base})/({target}-{base})))", fmt.percent, "")
    sheet.write_formula(row, 11, f'=IF(OR({progress}="",{frac}=""),"",IF({target}={base},'
                        f"{progress},1+({progress}-{frac})/MAX({frac},{PACE_FLOOR!r})))",
                        fmt.percent, "")
    sheet.write_formula(
        row, 12, f'=IF({pace}="","",IF({elapsed}<{limits.min_elapsed!r},"on track",IF({pace}<'
        f'{limits.off_track_below!r},"off track",IF({pace}<{limits.below!r},"at risk",'
        '"on track"))))', fmt.bold, "")
    for col in (13, 14, 15):
        sheet.write_blank(row, col, None, fmt.input)
