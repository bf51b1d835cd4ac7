"""``syncd metrics``: the catalog a sales manager can read, and ad-hoc values."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import click
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from rules import catalog
from rules import periods as rp
from rules.metric import Window
from syncd.config import Config
from syncd.metrics import compute
from syncd.status import local, shown


def _param_text(metric: catalog.Metric) -> str:
    parts = []
    for p in metric.params:
        default = "required" if p.required else f"default {p.default}"
        parts.append(f"{p.name} ({default}): {p.description}")
    return "; ".join(parts)


def print_catalog(console: Console, *, as_json: bool) -> None:
    metrics = list(catalog.CATALOG.values())
    if as_json:
        click.echo(json.dumps([
            {"key": m.key, "title": m.title, "definition": m.definition, "unit": m.unit.value,
             "direction": m.direction.value, "window": m.window.value,
             "filters": [*m.filters, *(f"{r}_*" for r in m.records)],
             "params": [{"name": p.name, "kind": p.kind.value, "default": p.default,
                         "required": p.required, "choices": list(p.choices),
                         "description": p.description} for p in m.params]}
            for m in metrics], ensure_ascii=False, indent=2))
        return
    table = Table(title="Metric catalog (syncd metrics KEY for a value)", show_lines=True)
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("what it measures")
    table.add_column("unit / better", no_wrap=True)
    for m in metrics:
        better = "higher" if m.higher_is_better else "lower"
        text = m.definition
        if m.params:
            text += f"\n[dim]params: {_param_text(m)}[/]"
        when = "at an instant" if m.window is Window.POINT_IN_TIME else "over a window"
        table.add_row(m.key, f"[bold]{m.title}[/]\n{text}", f"{m.unit.value}\n{better}\n{when}")
    console.print(table)


def window_of(text: str | None, day: Any) -> rp.Period | None:
    """``--window``: a period (2026-Q4, 2026-11, 2026-W45, 2026) or trailing days (30d)."""
    if text is None:
        return None
    if match := re.fullmatch(r"\s*(\d+)\s*d\s*", text):
        days = int(match.group(1))
        if days < 1:
            raise click.BadParameter("a trailing window is at least 1d", param_hint="--window")
        return rp.trailing_days(day, days)
    return rp.parse_period(text)


def print_value(console: Console, engine: sa.Engine, config: Config, key: str, *,
                now: datetime, where: Mapping[str, Any], params: Mapping[str, Any],
                window: str | None, as_json: bool) -> None:
    metric = catalog.get(key)
    day = rp.local_day(now.astimezone(config.tz))
    period = window_of(window, day)
    value = compute(engine, key, as_of=now, window=period, where=where, params=params,
                    fields=set(config.crm.fields), fx=config.fx, zone=config.tz)
    if as_json:
        click.echo(json.dumps({
            "key": key, "value": value.value, "unit": metric.unit.value,
            "as_of": value.as_of.isoformat(), "where": dict(where), "params": dict(params),
            "window": None if value.window is None else {
                "start": value.window.start.isoformat(), "end": value.window.end.isoformat()},
            "detail": dict(value.detail),
        }, ensure_ascii=False, default=str))
        return
    console.print(f"[bold]{metric.title}[/] ({key}): "
                  f"[bold]{shown(value.value, metric.unit, config.currency)}[/]")
    console.print(f"  as of {local(value.as_of, config.tz)}"
                  + (f", over {value.window.start} to {value.window.end}" if value.window else "")
                  + (f", where {dict(where)}" if where else ""))
    if value.value is None and "reason" in value.detail:
        console.print(f"  undefined: {value.detail['reason']}")
    for name, item in value.detail.items():
        if name != "reason":
            console.print(f"  [dim]{name}: {item}[/]")
    console.print(f"  [dim]{metric.definition}[/]")
