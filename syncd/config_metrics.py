"""Checks of the goals against the metric catalog, run on the raw config data.

Each KR and alert rule must name a metric of :data:`rules.catalog.CATALOG`, write its values in
that metric's unit (``25%`` for a rate, ``6x`` for coverage, ``1450`` for money), filter only by
what the metric can be filtered by (mapped fields included), give valid params, and sit inside
its objective's period. Like :mod:`syncd.config_checks`, each check skips what it cannot read
(the type errors there are pydantic's), so every problem of the file is reported at once.
"""

from __future__ import annotations

import re
from typing import Any

from rules import catalog
from rules.errors import InvalidParams, UnknownMetric
from rules.metric import Metric, Window
from syncd.config_checks import _date, _id, _items, _period
from syncd.config_sections import DEFAULT_FIELDS
from syncd.config_values import parse_quantity
from syncd.config_yaml import LineMap, Loc, format_path
from syncd.errors import Problem

_LIST_HINT = "Run `syncd metrics` to list the catalog."


def metric_checks(data: dict[Any, Any], lines: LineMap) -> list[Problem]:
    mapped = _mapped_fields(data)
    problems: list[Problem] = []
    for i, okr in _items(data.get("okrs")):
        bounds = _period(okr)
        krs: dict[str, Metric] = {}
        for j, kr in _items(okr.get("key_results")):
            at: Loc = ("okrs", i, "key_results", j)
            found = _Checker(lines, at, problems)
            metric = found.metric(kr.get("metric"))
            if metric is None:
                continue
            if (kr_id := _id(kr.get("id"))) is not None:
                krs[kr_id] = metric
            for name in ("target", "baseline"):
                found.unit(metric, kr.get(name), (name,), what=name)
            found.filters(metric, kr.get("where"), mapped)
            found.params(metric, kr.get("params"))
            if kr.get("window") is not None and metric.window is Window.POINT_IN_TIME:
                found.add(("window",), f"{metric.key} is measured at an instant, not over a window",
                          "Remove window.")
            inner = _period(kr) if "period" in kr else None
            if inner is not None and bounds is not None and not (
                bounds[0] <= inner[0] and inner[1] <= bounds[1]
            ):
                found.add(("period",), f"the KR's period {_span(inner)} is outside the "
                          f"objective's ({_span(bounds)})",
                          "Give the KR a part of the objective's period, or remove its period.")
            found.milestones(metric, kr.get("trajectory"), inner or bounds)
        for k, rev in _items(okr.get("revisions")):
            kr_id = _id(rev.get("kr"))
            kr_target = next((kr.get("target") for _, kr in _items(okr.get("key_results"))
                              if _id(kr.get("id")) == kr_id), None)
            if kr_id in krs and _written(kr_target) == _written(rev.get("target")):
                _Checker(lines, ("okrs", i, "revisions", k), problems).unit(
                    krs[kr_id], rev.get("target"), ("target",), what="revised target")
        goal = okr.get("goal")
        if isinstance(goal, dict) and "change" in goal:
            at = ("okrs", i, "goal")
            _Checker(lines, at, problems).unit(catalog.get("mrr_growth"), goal["change"],
                                               ("change",), what="goal's change")
    alerts = data.get("alerts")
    for i, rule in _items(alerts.get("rules") if isinstance(alerts, dict) else None):
        found = _Checker(lines, ("alerts", "rules", i), problems)
        if rule.get("metric") is None:
            continue
        metric = found.metric(rule.get("metric"))
        if metric is None:
            continue
        found.unit(metric, rule.get("threshold"), ("threshold",), what="threshold")
        for name in ("change", "recover"):
            found.change(metric, rule.get(name), name)
        found.unit(metric, rule.get("min_base"), ("min_base",), what="min_base")
        found.filters(metric, rule.get("where"), mapped)
        found.params(metric, rule.get("params"))
    return problems


def _written(value: Any) -> str | None:
    try:
        return str(parse_quantity(value)["unit"])
    except ValueError:
        return None


def _span(bounds: tuple[Any, Any]) -> str:
    return f"{bounds[0].isoformat()} to {bounds[1].isoformat()}"


def _mapped_fields(data: dict[Any, Any]) -> set[str] | None:
    """The ``crm.fields`` keys in force (the provider's defaults merged with the file's);
    None when the section cannot be read (the filters are then checked without it)."""
    crm = data.get("crm")
    if not isinstance(crm, dict):
        return None
    provider = crm.get("provider", "hubspot")
    fields = dict(DEFAULT_FIELDS.get(provider, {})) if isinstance(provider, str) else {}
    given = crm.get("fields") or {}
    if not isinstance(given, dict):
        return None
    for key, value in given.items():
        if value is None:
            fields.pop(str(key), None)
        else:
            fields[str(key)] = str(value)
    return set(fields)


class _Checker:
    """Adds problems located under ``at``."""

    def __init__(self, lines: LineMap, at: Loc, problems: list[Problem]) -> None:
        self.lines, self.at, self.problems = lines, at, problems

    def add(self, sub: Loc, message: str, hint: str = "") -> None:
        loc = (*self.at, *sub)
        line = self.lines.line_of(loc)
        while line is None and len(loc) > len(self.at):
            loc = loc[:-1]
            line = self.lines.line_of(loc)
        self.problems.append(Problem(format_path((*self.at, *sub)), line, message, hint))

    def metric(self, key: Any) -> Metric | None:
        if not isinstance(key, str) or not key.strip():
            return None
        try:
            return catalog.get(key.strip())
        except UnknownMetric as exc:
            close = f"Did you mean {' or '.join(exc.close)}? " if exc.close else ""
            self.add(("metric",), f'"{key}" is not a metric of the catalog', close + _LIST_HINT)
            return None

    def unit(self, metric: Metric, value: Any, sub: Loc, *, what: str) -> None:
        if value is None:
            return
        try:
            written = parse_quantity(value)["unit"]
        except ValueError:
            return  # pydantic reports it
        problem = catalog.target_unit_problem(metric, written, what=what)
        if problem is not None:
            message, _, hint = problem.partition("; ")
            self.add(sub, message, hint[:1].upper() + hint[1:] + ".")

    def change(self, metric: Metric, value: Any, name: str) -> None:
        """A change is relative (``-25%``) or absolute, in the metric's unit."""
        if value is None:
            return
        try:
            written = parse_quantity(value)["unit"]
        except ValueError:
            return
        if written == "percent":
            return
        self.unit(metric, value, (name,), what=name)

    def filters(self, metric: Metric, where: Any, mapped: set[str] | None) -> None:
        if not isinstance(where, dict):
            return
        for key in where:
            for problem in catalog.filter_problems(metric, [str(key)], mapped_fields=mapped):
                message, _, hint = problem.partition("; ")
                self.add(("where", str(key)), message, hint[:1].upper() + hint[1:] + ".")

    def params(self, metric: Metric, params: Any) -> None:
        if params is not None and not isinstance(params, dict):
            return
        try:
            catalog.resolve_params(metric, params or {})
        except InvalidParams as exc:
            for line in str(exc).splitlines():
                message, _, hint = line.partition("; ")
                sub: Loc = ("params",)
                if (match := re.match(rf"{metric.key} params\.(\w+): (.*)", message)):
                    sub, message = ("params", match.group(1)), match.group(2)
                elif (match := re.match(rf"{metric.key} has no param '(\w+)'", message)):
                    sub = ("params", match.group(1))
                elif (match := re.match(rf"{metric.key} needs params\.(\w+): (.*)", message)):
                    message = f"{metric.key} needs params.{match.group(1)} ({match.group(2)})"
                    hint = f"add params: {{{match.group(1)}: ...}}"
                self.add(sub, message, hint[:1].upper() + hint[1:] + "." if hint else "")

    def milestones(self, metric: Metric, trajectory: Any, bounds: tuple[Any, Any] | None) -> None:
        if not isinstance(trajectory, dict) or not isinstance(trajectory.get("milestones"), dict):
            return
        for day, value in trajectory["milestones"].items():
            sub: Loc = ("trajectory", "milestones", day.isoformat() if _date(day) else str(day))
            self.unit(metric, value, sub, what="milestone")
            if _date(day) and bounds is not None and not bounds[0] <= day < bounds[1]:
                self.add(sub, f"the milestone of {day.isoformat()} is not inside the period "
                         f"({_span(bounds)}, its last day excluded: that is the target)",
                         "Date it inside the period.")
