"""``syncd status``: every KR at an instant, as a terminal table or stable JSON.

The JSON (``status_json``) is for scripts: keys are only ever added. Values are raw numbers
in the metric's unit (ratios as fractions, money in the reporting currency); the table shows
them formatted (``18.3%``, ``1,450 CHF``, ``5.2x``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from rules import catalog
from rules.findings import Finding
from rules.metric import Unit, format_value
from rules.pace import NotEnoughData, Status
from rules.series import Contribution
from syncd.evaluate import Evaluation, KrResult

#: How the projection is made, for readers of the JSON and the table's footnote.
PROJECTION_METHOD = (
    "least-squares line through the last 14 daily values, extended to the period's end; "
    "the band is its 80% prediction interval"
)
_COLOURS = {Status.ON_TRACK: "green", Status.AT_RISK: "yellow", Status.OFF_TRACK: "red"}
_WORDS = {Status.ON_TRACK: "on track", Status.AT_RISK: "at risk", Status.OFF_TRACK: "off track"}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _num(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, 6)


def _contribution(c: Contribution) -> dict[str, Any]:
    return {"label": c.label, "before": _num(c.before), "after": _num(c.after),
            "delta": _num(c.delta), "share": _num(c.share)}


def kr_json(result: KrResult) -> dict[str, Any]:
    goal = result.goal
    metric = catalog.get(goal.config.metric)
    out: dict[str, Any] = {
        "id": goal.id,
        "name": goal.config.name,
        "metric": metric.key,
        "unit": metric.unit.value,
        "where": dict(goal.config.where),
        "owners": list(goal.config.owners),
        "period": {"start": goal.period.start.isoformat(), "end": goal.period.end.isoformat(),
                   "label": goal.period.label},
        "as_of": _iso(result.at),
        "value": _num(result.value.value) if result.value else None,
        "baseline": _num(result.baseline),
        "target": None,
        "original_target": _num(goal.config.target.value),
        "revision": None,
        "expected": None,
        "progress": None,
        "pace": None,
        "status": None,
        "elapsed": None,
        "projection": None,
        "week_over_week": None,
        "contributors": {dim: [_contribution(c) for c in cs]
                         for dim, cs in result.contributors.items()},
        "score": None,
        "problem": result.problem,
    }
    e = result.evaluation
    if e is not None:
        out.update(
            target=_num(e.target), expected=_num(e.expected), progress=_num(e.progress.raw),
            pace=_num(e.pace), status=e.status.value, elapsed=_num(e.elapsed),
            direction=e.direction.value,
        )
        if e.revision is not None:
            out["revision"] = {"date": e.revision.date.isoformat(),
                               "target": _num(e.revision.target), "reason": e.revision.reason}
        p = e.projection
        if isinstance(p, NotEnoughData):
            out["projection"] = {"unavailable": p.reason, "points": p.points}
        else:
            out["projection"] = {"at": p.at.isoformat(), "value": _num(p.value),
                                 "low": _num(p.low), "high": _num(p.high),
                                 "confidence": p.confidence, "points": p.points,
                                 "slope_per_day": _num(p.slope_per_day),
                                 "method": PROJECTION_METHOD}
        w = e.week_over_week
        if w is not None:
            out["week_over_week"] = {"base_day": w.base.day.isoformat(),
                                     "base": _num(w.base.value), "absolute": _num(w.absolute),
                                     "relative": _num(w.relative)}
    if result.score is not None:
        s = result.score
        out["score"] = {"score": s.score, "revised_score": s.revised_score,
                        "colour": s.colour.value}
    return out


def finding_json(finding: Finding) -> dict[str, Any]:
    return {"kind": finding.kind.value, "subject": finding.subject,
            "severity": finding.severity.value, "reason": finding.reason,
            "fingerprint": finding.fingerprint, "source": finding.source,
            "muted": finding.muted_reason, "numbers": dict(finding.numbers)}


def status_json(ev: Evaluation, *, currency: str, timezone: str,
                objectives: Mapping[int, str]) -> dict[str, Any]:
    groups: dict[int, list[dict[str, Any]]] = {}
    for result in ev.krs:
        groups.setdefault(result.goal.objective_index, []).append(kr_json(result))
    out_objectives = []
    for index, krs in sorted(groups.items()):
        score = ev.objectives.get(index)
        out_objectives.append({
            "objective": objectives[index],
            "score": None if score is None else {"score": score.score,
                                                 "revised_score": score.revised_score},
            "key_results": krs,
        })
    return {
        "version": 1,
        "now": _iso(ev.now),
        "last_sync": _iso(ev.last_sync),
        "timezone": timezone,
        "currency": currency,
        "objectives": out_objectives,
        "findings": [finding_json(f) for f in ev.findings],
    }


def shown(value: float | None, unit: Unit, currency: str) -> str:
    """``value`` as people read it; money with ``currency`` unless that is empty."""
    if value is None or not math.isfinite(value):
        return "–"
    text = format_value(value, unit)
    return f"{text} {currency}" if unit is Unit.MONEY and currency else text


def local(when: datetime, zone: Any) -> str:
    """``when`` in the team's zone, like ``2026-11-23 07:30 CET``."""
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def print_status(console: Console, ev: Evaluation, *, currency: str, zone: Any,
                 objectives: Mapping[int, str]) -> None:
    fresh = (f"data synced {local(ev.last_sync, zone)}" if ev.last_sync
             else "no successful sync yet: run `syncd sync`")
    console.print(f"[bold]KR status[/] as of {local(ev.now, zone)} ({fresh})")
    for index, name in objectives.items():
        results = [r for r in ev.krs if r.goal.objective_index == index]
        if not results:
            continue
        table = Table(title=f"{name}, amounts in {currency}", title_justify="left",
                      box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        for column in ("KR", "value", "exp.", "target", "prog.", "pace", "status", "7d",
                       "proj."):
            table.add_column(column, justify="left" if column in ("KR", "status") else "right",
                             no_wrap=column in ("KR", "status"))
        for r in results:
            table.add_row(*_row(r, currency))
        console.print(table)
        score = ev.objectives.get(index)
        if score is not None:
            console.print(f"  score {score.score:.2f} (against revised targets "
                          f"{score.revised_score:.2f})")
        for r in results:
            owners = ", ".join(r.goal.config.owners)
            console.print(f"  [bold]{r.goal.id}[/]: {r.goal.config.name}"
                          + (f" [dim]({owners})[/]" if owners else ""))
            if r.problem:
                console.print(f"    [yellow]{r.problem}[/]")
            e = r.evaluation
            if e is not None and not isinstance(e.projection, NotEnoughData):
                p, unit = e.projection, _unit(r)
                console.print(f"    projected {shown(p.value, unit, currency)} on {p.at} "
                              f"(80% band {shown(p.low, unit, currency)} to "
                              f"{shown(p.high, unit, currency)})")
            if e is not None and e.revision is not None:
                console.print(f"    target revised on {e.revision.date} to "
                              f"{shown(e.revision.target, _unit(r), currency)}: "
                              f"{e.revision.reason}")
            for dim, contributions in r.contributors.items():
                if contributions:
                    moved = ", ".join(
                        f"{c.label} {_signed(c.delta, _unit(r), currency)}"
                        for c in contributions)
                    console.print(f"    7-day change by {dim}: {moved}")
    if ev.findings:
        console.print("[bold]Findings[/]")
        for f in ev.findings:
            colour = {"critical": "red", "warning": "yellow"}.get(f.severity.value, "blue")
            muted = f" [dim](muted: {f.muted_reason})[/]" if f.muted else ""
            console.print(f"  [{colour}]{f.severity.value}[/] {f.reason}{muted}",
                          markup=True, highlight=False)
    console.print(f"[dim]Projection: {PROJECTION_METHOD}.[/]")


def _unit(r: KrResult) -> Unit:
    return catalog.get(r.goal.config.metric).unit


def _signed(value: float | None, unit: Unit, currency: str) -> str:
    if value is None:
        return "–"
    return ("+" if value >= 0 else "-") + shown(abs(value), unit, currency)


def _row(r: KrResult, currency: str) -> list[str | Text]:
    unit = _unit(r)
    e = r.evaluation
    name = r.goal.id
    currency = ""  # the table's title names it
    if e is None:
        value = r.value.value if r.value else None
        target = shown(r.goal.config.target.value, unit, currency)
        return [name, shown(value, unit, currency), "–", target, "–", "–",
                Text("no data", style="dim"), "–", "–"]
    status = Text(_WORDS[e.status], style=_COLOURS[e.status])
    change = "–"
    if e.week_over_week is not None:
        change = _signed(e.week_over_week.absolute, unit, currency)
    projection = "–"
    if not isinstance(e.projection, NotEnoughData):
        p = e.projection
        projection = shown(p.value, unit, currency)
    return [name, shown(e.actual, unit, currency), shown(e.expected, unit, currency),
            shown(e.target, unit, currency), f"{e.progress.shown * 100:.0f}%",
            f"{e.pace * 100:.0f}%", status, change, projection]
