"""The ``syncd simulate`` command: does the plan add up? A table, JSON, or a spreadsheet.

The model is :mod:`rules.plan`; its inputs come from :mod:`syncd.simulate`; the workbook
from :mod:`syncd.simulate_xlsx`. Exit codes as for every command: 2 for a config or usage
problem (no MRR goal, an unknown ``--okr``), 1 for a data or database problem.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rules.plan import LEVERS, LeverNeed, PlanResult, plan
from syncd.errors import ConfigError, Problem
from syncd.simulate import (
    GOAL_EXAMPLE,
    LEVER_NAMES,
    LeverSetup,
    PlanSetup,
    lever_levels,
    mrr_goal,
    needs_data,
    new_customers,
    plan_inputs,
)

if TYPE_CHECKING:
    from syncd.cli import Context
    from syncd.config import Config
    from syncd.config_okrs import Okr

#: The version of the JSON output's shape; bumped when a key changes meaning or goes away.
JSON_VERSION = 1


@click.command("simulate")
@click.option("--okr", "chosen", metavar="INDEX_OR_TEXT",
              help="The objective: its index (0 is okrs[0]) or words of it. "
                   "Default: every objective with an MRR goal.")
@click.option("--ramp", is_flag=True,
              help="Levers climb linearly to their targets instead of being there from "
                   "month one.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="json: stable keys, for scripts.")
@click.option("--xlsx", type=click.Path(path_type=Path, dir_okay=False), metavar="PATH",
              help="Also write the model as a spreadsheet with live formulas and a weekly "
                   "review sheet.")
@click.pass_obj
def simulate(ctx: Context, chosen: str | None, ramp: bool, fmt: str, xlsx: Path | None) -> None:
    """Do the KRs add up? MRR month by month with the KRs at target, vs the objective."""
    from syncd.cli import _load
    from syncd.clock import make_clock

    config = _load(ctx)
    now = make_clock(ctx.now, config.tz)()
    selected = select_okrs(config, chosen)
    if xlsx is not None and len(selected) > 1:
        names = "; ".join(f"{i}: {okr.objective}" for i, okr in selected)
        raise click.UsageError(f"--xlsx writes one objective; choose it with --okr ({names})")
    store = None
    if any(needs_data(okr) for _, okr in selected):
        from syncd.store import Store

        store = Store.open(config.database.url.get_secret_value())
    try:
        engine = store.engine if store is not None else None
        setups = [plan_inputs(config, okr, engine, now, ramp=ramp) for _, okr in selected]
    finally:
        if store is not None:
            store.close()
    results = [plan(setup.inputs) for setup in setups]
    if fmt == "json":
        payload = {
            "version": JSON_VERSION,
            "now": now.isoformat(),
            "currency": config.currency,
            "objectives": [as_dict(s, r) for s, r in zip(setups, results, strict=True)],
        }
        click.echo(json.dumps(payload, ensure_ascii=False))
    else:
        for setup, result in zip(setups, results, strict=True):
            render(ctx.out, setup, result, config.currency)
    if xlsx is not None:
        from syncd.simulate_xlsx import write_workbook

        write_workbook(xlsx, config, setups[0], results[0], now)
        console = ctx.err if fmt == "json" else ctx.out
        console.print(f"Wrote {xlsx}: the inputs (yellow cells), the plan month by month and "
                      "the weekly review template.", soft_wrap=True, markup=False)


def select_okrs(config: Config, chosen: str | None) -> list[tuple[int, Okr]]:
    """The objectives to simulate: ``chosen`` is an index (``0`` is ``okrs[0]``) or words of
    one objective; None means every objective with an MRR goal."""
    okrs = list(enumerate(config.okrs))
    listing = "; ".join(f"{i}: {okr.objective}" for i, okr in okrs)
    if not okrs:
        raise ConfigError([Problem("okrs", None, "the config has no objective to simulate",
                                   f"Add one under okrs: with {GOAL_EXAMPLE}")])
    if chosen is None:
        found = [(i, okr) for i, okr in okrs if mrr_goal(okr) is not None]
        if not found:
            raise ConfigError([Problem(
                "okrs", None, "no objective has an MRR goal",
                f"Add {GOAL_EXAMPLE} to the objective to simulate (its words may also say "
                "it, like \"Augmenter le MRR de 20 %\")")])
        return found
    text = chosen.strip()
    if text.isdigit():
        index = int(text)
        if index >= len(okrs):
            raise ConfigError([Problem("okrs", None, f"there is no objective {index}",
                                       f"Choose one of {listing}")])
        return [okrs[index]]
    found = [(i, okr) for i, okr in okrs if text.casefold() in okr.objective.casefold()]
    if len(found) != 1:
        what = "no objective" if not found else f"{len(found)} objectives"
        raise ConfigError([Problem("okrs", None, f"{what} match {text!r}",
                                   f"Give the index or more words of one: {listing}")])
    return found


# --------------------------------------------------------------------------- formatting


def money(value: float, currency: str) -> str:
    return f"{value:,.0f} {currency}"


def signed_money(value: float, currency: str) -> str:
    return f"{value:+,.0f} {currency}"


def lever_value(key: str, value: float | None, currency: str) -> str:
    if value is None:
        return "—"
    if key in ("lead_conversion_rate", "churn_rate"):
        return f"{value * 100:.1f}%"
    if key == "arpu":
        return money(value, currency)
    return f"{value:,.1f}"


def _need_text(need: LeverNeed, currency: str) -> str:
    if need.value is None:
        return "impossible"
    if need.reason.endswith("whatever this lever does"):
        return "any value"
    return lever_value(need.key, need.value, currency)


def _sources(lever: LeverSetup) -> str:
    if lever.target is None:
        return f"{lever.baseline_source}; {lever.target_source}"
    both = (f"config (KR {lever.kr} baseline)", f"config (KR {lever.kr} target)")
    if (lever.baseline_source, lever.target_source) == both:
        return f"config (KR {lever.kr}: baseline and target)"
    return f"{lever.baseline_source}; target: {lever.target_source}"


# --------------------------------------------------------------------------- table


def render(console: Console, setup: PlanSetup, result: PlanResult, currency: str) -> None:
    inputs = setup.inputs
    ramping = ", levers ramping up" if inputs.ramp else ""
    console.print(f"[bold]okrs\\[{setup.index}] {escape(setup.objective)}[/] — "
                  f"{setup.period.label}, {inputs.months} months{ramping}")
    how = "goal: in the config" if setup.goal_source == "config" else "read from its words"
    console.print(f"Objective: MRR {inputs.objective_growth:+.1%} ({how}), "
                  f"{money(inputs.start_mrr, currency)} -> {money(result.goal_mrr, currency)}")

    levers = Table(title="Levers", title_justify="left", show_edge=False)
    levers.add_column("Lever")
    levers.add_column("Baseline", justify="right")
    levers.add_column("Target", justify="right")
    levers.add_column("KR")
    for lever in setup.levers:
        target = "not moved" if lever.target is None else lever_value(
            lever.key, lever.target, currency)
        levers.add_row(LEVER_NAMES[lever.key], lever_value(lever.key, lever.baseline, currency),
                       target, escape(lever.kr or "—"))
    console.print(levers)
    sources = Table(box=None, show_header=False, padding=(0, 1, 0, 2))
    sources.add_column(no_wrap=True)
    sources.add_column()
    sources.add_row("Start MRR", escape(setup.start_mrr_source))
    for lever in setup.levers:
        sources.add_row(LEVER_NAMES[lever.key], escape(_sources(lever)))
    console.print("Where the numbers come from:")
    console.print(sources)

    months = Table(title="Month by month (MRR at the end of each month)", title_justify="left",
                   show_edge=False)
    for column in ("Month", "New customers at baseline", "MRR at baseline",
                   "New customers with KRs", "MRR with KRs"):
        months.add_column(column, justify="left" if column == "Month" else "right")
    base_new = new_customers({k: inputs.lever(k).baseline for k in LEVERS})
    for m, label in enumerate(setup.month_labels, start=1):
        plan_new = new_customers(lever_levels(inputs, m))
        months.add_row(label, f"{base_new:.1f}", money(result.baseline_path[m - 1], currency),
                       f"{plan_new:.1f}", money(result.plan_path[m - 1], currency))
    console.print(months)

    growth = f"{result.plan_growth:+.1%}"
    if result.adds_up:
        console.print(f"[green]The KRs add up:[/] MRR ends at {money(result.plan_mrr, currency)}"
                      f" ({growth}), {money(-result.gap, currency)} above the objective of "
                      f"{money(result.goal_mrr, currency)}.")
    else:
        console.print(f"[red]The KRs fall short:[/] MRR ends at "
                      f"{money(result.plan_mrr, currency)} ({growth}), "
                      f"{money(result.gap, currency)} below the objective of "
                      f"{money(result.goal_mrr, currency)} ({inputs.objective_growth:+.1%}).")
    console.print(f"Without the KRs (every lever at baseline) MRR would end at "
                  f"{money(result.baseline_path[-1], currency)}.")

    brings = Table(title="What each lever brings by the end", title_justify="left",
                   show_edge=False)
    for column in ("Lever", "Share of the plan", "Alone"):
        brings.add_column(column, justify="left" if column == "Lever" else "right")
    for effect in result.effects:
        if setup.lever(effect.key).target is None:
            continue
        brings.add_row(LEVER_NAMES[effect.key], signed_money(effect.shapley, currency),
                       signed_money(effect.alone, currency))
    if brings.row_count:
        console.print(brings)
        console.print("Share of the plan: the levers multiply each other; the shares split "
                      "that fairly and add up to the plan's effect. Alone: that lever only.")

    needs = Table(title=f"What each lever would need to reach {money(result.goal_mrr, currency)}",
                  title_justify="left", show_edge=False)
    needs.add_column("Lever")
    needs.add_column("Alone", justify="right")
    needs.add_column("With the rest of the plan", justify="right")
    by_key = {(n.key, n.others): n for n in result.needs}
    impossible = []
    for key in LEVERS:
        alone, with_plan = by_key[key, "baseline"], by_key[key, "target"]
        needs.add_row(LEVER_NAMES[key], _need_text(alone, currency),
                      _need_text(with_plan, currency))
        impossible += [n.reason for n in (alone, with_plan) if n.value is None]
    console.print(needs)
    console.print("Alone: the other levers at baseline. With the rest of the plan: the other "
                  "levers at target.")
    for reason in impossible:
        console.print(f"- {reason[:1].upper()}{reason[1:]}.", markup=False)
    for note in setup.notes:
        console.print(f"Note: {note}", markup=False)
    console.print()


# --------------------------------------------------------------------------- JSON


def _need_dict(need: LeverNeed) -> dict[str, Any]:
    return {"value": need.value, "reason": need.reason}


def as_dict(setup: PlanSetup, result: PlanResult) -> dict[str, Any]:
    """One objective's plan, keys in a fixed order (see :data:`JSON_VERSION`)."""
    inputs = setup.inputs
    by_key = {(n.key, n.others): n for n in result.needs}
    effects = {e.key: e for e in result.effects}
    months: list[dict[str, Any]] = []
    base_new = new_customers({k: inputs.lever(k).baseline for k in LEVERS})
    for m, label in enumerate(setup.month_labels, start=1):
        levels = lever_levels(inputs, m)
        months.append({
            "month": label,
            "levers": levels,
            "new_customers_baseline": base_new,
            "new_customers_plan": new_customers(levels),
            "mrr_baseline": result.baseline_path[m - 1],
            "mrr_plan": result.plan_path[m - 1],
        })
    return {
        "index": setup.index,
        "objective": setup.objective,
        "period": {"label": setup.period.label, "start": setup.period.start.isoformat(),
                   "end": setup.period.end.isoformat()},
        "months": inputs.months,
        "ramp": inputs.ramp,
        "objective_growth": inputs.objective_growth,
        "objective_growth_source": setup.goal_source,
        "start_mrr": inputs.start_mrr,
        "start_mrr_source": setup.start_mrr_source,
        "data_as_of": setup.data_as_of.isoformat() if setup.data_as_of else None,
        "levers": {
            lever.key: {
                "baseline": lever.baseline,
                "target": lever.target,
                "kr": lever.kr,
                "baseline_source": lever.baseline_source,
                "target_source": lever.target_source,
                "contribution": {"shapley": effects[lever.key].shapley,
                                 "alone": effects[lever.key].alone},
                "need": {"alone": _need_dict(by_key[lever.key, "baseline"]),
                         "with_plan": _need_dict(by_key[lever.key, "target"])},
            }
            for lever in setup.levers
        },
        "by_month": months,
        "goal_mrr": result.goal_mrr,
        "plan_mrr": result.plan_mrr,
        "plan_growth": result.plan_growth,
        "baseline_mrr": result.baseline_path[-1],
        "gap": result.gap,
        "adds_up": result.adds_up,
        "notes": list(setup.notes),
    }

