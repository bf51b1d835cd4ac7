"""Checks that span the configuration file, run on the raw data.

They do not wait for the rest of the file to be valid (a pydantic model validator would only
run once every field of its model is valid), so a duplicate KR id is reported together with a
bad time zone. Each check skips what it cannot read: the type errors there are pydantic's.
"""

from __future__ import annotations

import difflib
from datetime import date, datetime
from typing import Any

from syncd.config_okrs import period_bounds
from syncd.config_values import parse_quantity
from syncd.config_yaml import LineMap, Loc, format_path
from syncd.errors import Problem


def cross_check(data: Any, lines: LineMap) -> list[Problem]:
    if not isinstance(data, dict):
        return []
    problems: list[Problem] = []
    problems += _unique_ids(_kr_ids(data), "KR", lines)
    problems += _revisions(data, lines)
    rules = _alert_rule_ids(data)
    problems += _unique_ids(rules, "alert rule", lines)
    return problems


def _items(value: Any) -> list[tuple[int, dict[Any, Any]]]:
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _id(value: Any) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value).strip() or None
    return None


def _kr_ids(data: dict[Any, Any]) -> list[tuple[Loc, str]]:
    found: list[tuple[Loc, str]] = []
    for i, okr in _items(data.get("okrs")):
        for j, kr in _items(okr.get("key_results")):
            kr_id = _id(kr.get("id"))
            if kr_id is not None:
                found.append((("okrs", i, "key_results", j, "id"), kr_id))
    return found


def _alert_rule_ids(data: dict[Any, Any]) -> list[tuple[Loc, str]]:
    alerts = data.get("alerts")
    if not isinstance(alerts, dict):
        return []
    found: list[tuple[Loc, str]] = []
    for i, rule in _items(alerts.get("rules")):
        rule_id = _id(rule.get("id"))
        if rule_id is not None:
            found.append((("alerts", "rules", i, "id"), rule_id))
    return found


def _unique_ids(ids: list[tuple[Loc, str]], what: str, lines: LineMap) -> list[Problem]:
    first: dict[str, Loc] = {}
    problems: list[Problem] = []
    for loc, value in ids:
        if value not in first:
            first[value] = loc
            continue
        earlier = first[value]
        where = format_path(earlier)
        line = lines.line_of(earlier)
        if line is not None:
            where += f", line {line}"
        problems.append(
            Problem(
                format_path(loc),
                lines.line_of(loc),
                f'the {what} id "{value}" is already used ({where})',
                f"{what[0].upper()}{what[1:]} ids must be unique in the file; rename one.",
            )
        )
    return problems


def _period(okr: dict[Any, Any]) -> tuple[date, date] | None:
    period = okr.get("period")
    if isinstance(period, str | int) and not isinstance(period, bool):
        return period_bounds(str(period))
    if isinstance(period, dict):
        start, end = _date(period.get("start")), _date(period.get("end"))
        if start is not None and end is not None:
            return start, end
    return None


def _date(value: Any) -> date | None:
    return value if isinstance(value, date) and not isinstance(value, datetime) else None


_UNIT_NAMES = {"percent": "percentage", "multiple": "multiple", "number": "plain number"}


def _unit(value: Any) -> str | None:
    try:
        return _UNIT_NAMES[parse_quantity(value)["unit"]]
    except ValueError:
        return None


def _revisions(data: dict[Any, Any], lines: LineMap) -> list[Problem]:
    problems: list[Problem] = []
    okrs = _items(data.get("okrs"))
    owners = {kr_id: int(loc[1]) for loc, kr_id in _kr_ids(data)}
    for i, okr in okrs:
        krs = {
            kr_id: kr for _, kr in _items(okr.get("key_results")) if (kr_id := _id(kr.get("id")))
        }
        bounds = _period(okr)
        for k, rev in _items(okr.get("revisions")):
            at: Loc = ("okrs", i, "revisions", k)
            kr_id = _id(rev.get("kr"))
            if kr_id is not None and kr_id not in krs:
                problems.append(_unknown_kr(at, kr_id, sorted(krs), owners.get(kr_id), lines))
            day = _date(rev.get("date"))
            if bounds is not None and day is not None and not bounds[0] <= day <= bounds[1]:
                problems.append(
                    Problem(
                        format_path((*at, "date")),
                        lines.line_of((*at, "date")),
                        f"{day.isoformat()} is outside the objective's period "
                        f"({bounds[0].isoformat()} to {bounds[1].isoformat()})",
                        "A revision changes a target during its period; fix the date.",
                    )
                )
            kr = krs.get(kr_id) if kr_id is not None else None
            if kr is not None and "target" in rev:
                was, now = _unit(kr.get("target")), _unit(rev.get("target"))
                if was is not None and now is not None and was != now:
                    problems.append(
                        Problem(
                            format_path((*at, "target")),
                            lines.line_of((*at, "target")),
                            f"the revised target is a {now} but {kr_id}'s target is a {was}",
                            "Write the new target in the same unit as the KR's target.",
                        )
                    )
    return problems


def _unknown_kr(
    at: Loc, kr_id: str, known: list[str], elsewhere: int | None, lines: LineMap
) -> Problem:
    loc = (*at, "kr")
    if elsewhere is not None:
        hint = f"It is a KR of okrs[{elsewhere}]; move the revision under that objective."
    else:
        close = difflib.get_close_matches(kr_id, known, n=1)
        hint = f'Did you mean "{close[0]}"? ' if close else ""
        hint += f"KRs of this objective: {', '.join(known)}." if known else ""
    return Problem(
        format_path(loc), lines.line_of(loc), f'"{kr_id}" is not a KR of this objective', hint
    )
