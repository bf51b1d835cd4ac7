"""What a metric query returns, and the window it was computed over, as UTC instants.

A :class:`~rules.periods.Period` is whole local days; :class:`Span` turns it into the
half-open range of instants ``[start, end)`` the SQL compares with, in the team's zone, cut
at ``as_of``: an event counts when it happened inside the period and no later than ``as_of``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from typing import Any

from rules.errors import RulesError
from rules.metric import Unit
from rules.periods import AVERAGE_MONTH_DAYS, Period, month_count

#: One tick past ``as_of``: events up to and including ``as_of`` count.
TICK = timedelta(microseconds=1)


class InvalidFilters(RulesError):
    """``where:`` keys the metric cannot be filtered by (one line per key)."""


@dataclass(frozen=True, slots=True)
class MetricValue:
    """One metric computed AS OF ``as_of`` (over ``window`` for windowed metrics).

    ``value`` is None when the metric is undefined (a rate over nothing, coverage once the
    quota is met); ``detail`` holds the sums and counts it was made from.
    """

    key: str
    value: float | None
    unit: Unit
    as_of: datetime
    window: Period | None
    detail: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Span:
    """``period`` as instants: ``[start, end)``, ``end`` cut at ``as_of`` (plus one tick)."""

    period: Period
    start: datetime
    end: datetime
    cut: bool  # True when as_of falls before the period's end

    @classmethod
    def of(cls, period: Period, as_of: datetime, zone: tzinfo) -> Span:
        start = datetime.combine(period.start, time(), tzinfo=zone)
        end = datetime.combine(period.end + timedelta(days=1), time(), tzinfo=zone)
        limit = as_of + TICK
        return cls(period, start, min(end, limit), limit < end)

    @property
    def empty(self) -> bool:
        return self.end <= self.start

    @property
    def months(self) -> float:
        """Months covered: the period's :func:`~rules.periods.month_count` when whole, else
        the elapsed days / the average month."""
        if not self.cut:
            return month_count(self.period)
        return (self.end - self.start) / timedelta(days=1) / AVERAGE_MONTH_DAYS

    @property
    def last(self) -> datetime:
        """The last instant of the span (``end`` minus one tick): "at the end" of it."""
        return self.end - TICK
