"""Daily series of a metric, and what changed in them.

A series is a sequence of ``(day, value)`` pairs: the metric's value as of the end of each
day (daily snapshots, or values rebuilt from history). Days need not be contiguous nor
sorted; a later pair for the same day replaces an earlier one. The value "as of" a day is the
last known value on or before it (a weekend without snapshot keeps Friday's value); whether
that value is too old is the stale-data rule's business (:mod:`rules.drift`).

A change over N days compares the value as of ``now``'s day with the value as of N days
earlier. Contributors split a change by label (owner, segment, deal) to say who moved it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import NamedTuple

from rules.errors import RulesError
from rules.periods import Instant, local_day

#: How callers may pass a series: any sequence of (day, value) pairs, Points included.
SeriesLike = Sequence[tuple[date, float]]


class Point(NamedTuple):
    """The value of a metric as of the end of ``day``."""

    day: date
    value: float


def points(series: SeriesLike) -> tuple[Point, ...]:
    """The series sorted by day, one point per day (the last given wins), values checked."""
    by_day: dict[date, float] = {}
    for day, value in series:
        if not math.isfinite(value):
            raise RulesError(f"the series has no usable value on {day} ({value!r}); drop it")
        by_day[day] = float(value)
    return tuple(Point(day, by_day[day]) for day in sorted(by_day))


def value_at(series: SeriesLike, day: date) -> Point | None:
    """The last point on or before ``day``, or None if the series starts later."""
    found: Point | None = None
    for point in points(series):
        if point.day > day:
            break
        found = point
    return found


def until(series: SeriesLike, now: Instant) -> tuple[Point, ...]:
    """The points known at ``now``: those on or before its day."""
    today = local_day(now)
    return tuple(p for p in points(series) if p.day <= today)


@dataclass(frozen=True, slots=True)
class Change:
    """The value as of ``current.day`` against the value as of ``base.day``.

    ``relative`` is ``absolute / |base value|`` (-0.25 is a 25 % drop); None when the base is 0.
    """

    current: Point
    base: Point
    days: int
    absolute: float
    relative: float | None


def change_over(series: SeriesLike, now: Instant, days: int) -> Change | None:
    """The change over the ``days`` days up to ``now``'s day.

    None when the series has no value as of ``days`` ago (not enough history) or no point
    newer than that (nothing happened since, as far as the data knows).
    """
    if days < 1:
        raise RulesError(f"a change is measured over at least one day, not {days}")
    today = local_day(now)
    base_day = today - timedelta(days=days)
    known = until(series, now)
    base = next((p for p in reversed(known) if p.day <= base_day), None)
    if base is None or not known or known[-1].day <= base_day:
        return None
    current = known[-1]
    absolute = current.value - base.value
    relative = None if base.value == 0 else absolute / abs(base.value)
    return Change(current, base, days, absolute, relative)


def week_over_week(series: SeriesLike, now: Instant) -> Change | None:
    """The change over the 7 days up to ``now``: this Monday's digest vs last Monday's."""
    return change_over(series, now, 7)


@dataclass(frozen=True, slots=True)
class Contribution:
    """How much one label (an owner, a segment, a deal) moved a total.

    ``share`` is its part of the total change (0.6: 60 % of it); None when the total did not
    move. Shares of labels moving against the total are negative.
    """

    label: str
    before: float
    after: float
    delta: float
    share: float | None


def top_contributors(
    before: Mapping[str, float], after: Mapping[str, float], n: int = 3
) -> tuple[Contribution, ...]:
    """The ``n`` labels whose value moved most (by size of the move, ties by label).

    A label missing on one side counts as 0 there (a deal that appeared, an owner who left).
    Labels that did not move are left out.
    """
    total = sum(after.values()) - sum(before.values())
    moves = []
    for label in sorted(set(before) | set(after)):
        old, new = before.get(label, 0.0), after.get(label, 0.0)
        if new != old:
            delta = new - old
            moves.append(
                Contribution(label, old, new, delta, None if total == 0 else delta / total)
            )
    moves.sort(key=lambda c: -abs(c.delta))
    return tuple(moves[:n])
