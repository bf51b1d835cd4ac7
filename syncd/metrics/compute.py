"""``compute(engine, key, as_of=...)``: one catalog metric, in SQL, as of an instant.

The entry point validates the key, the ``where:`` keys and the params with :mod:`rules.catalog`
(raising its errors), resolves the window, runs the metric's query (:mod:`syncd.metrics.deals`,
:mod:`syncd.metrics.people`) and applies the last arithmetic step of :mod:`rules.formulas`.

- ``as_of`` must be aware; every metric sees the data as it stood then (see
  :mod:`syncd.metrics.sql`).
- ``window`` (whole local days in ``zone``, default ``as_of``'s zone) is cut at ``as_of``.
  Windowed metrics without one use the 30 days ending on ``as_of``'s day;
  ``pipeline_coverage`` uses ``as_of``'s quarter.
- ``fx`` converts deal amounts and MRR to the reporting currency (``{"EUR": 0.94}``: one EUR
  is 0.94 CHF); currencies not listed count at 1.
- ``fields``: the mapped ``crm.fields`` keys, to refuse filters on unmapped fields.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa

from rules import catalog
from rules.errors import RulesError
from rules.metric import Metric, Window
from rules.periods import Period, local_day, quarter_of, trailing_days
from syncd.metrics.filters import Filters, Select
from syncd.metrics.sql import Blocks
from syncd.metrics.value import InvalidFilters, MetricValue, Span

_EMPTY: Mapping[str, Any] = MappingProxyType({})

#: How many days a windowed metric covers when no window is given.
DEFAULT_WINDOW_DAYS = 30


@dataclass(frozen=True, slots=True)
class Query:
    """Everything one metric computation needs."""

    conn: sa.Connection
    metric: Metric
    as_of: datetime
    span: Span | None
    zone: tzinfo
    params: Mapping[str, Any]
    blocks: Blocks

    def one(self, select: Select) -> tuple[Any, ...]:
        row = self.conn.execute(select).one()
        return tuple(row)

    def scalar(self, select: Select) -> float:
        value = self.conn.execute(select).scalar_one()
        return float(value or 0)

    def window(self) -> Span:
        if self.span is None:
            raise RulesError(f"{self.metric.key} needs a window")
        return self.span


#: (value, detail) from a query.
Result = tuple[float | None, Mapping[str, Any]]
Handler = Callable[[Query], Result]


def _handlers() -> Mapping[str, Handler]:
    from syncd.metrics import deals, people

    return {**deals.HANDLERS, **people.HANDLERS}


def compute(
    engine: sa.Engine,
    key: str,
    *,
    as_of: datetime,
    window: Period | None = None,
    where: Mapping[str, Any] = _EMPTY,
    params: Mapping[str, Any] = _EMPTY,
    fields: Collection[str] | None = None,
    fx: Mapping[str, float] = _EMPTY,
    zone: tzinfo | None = None,
) -> MetricValue:
    """The metric ``key`` as of ``as_of`` (see the module docstring)."""
    metric = catalog.get(key)
    local_day(as_of)  # refuses a naive datetime
    problems = catalog.filter_problems(metric, list(where), mapped_fields=fields)
    if problems:
        raise InvalidFilters("\n".join(problems))
    resolved = catalog.resolve_params(metric, params)
    handler = _handlers().get(key)
    if handler is None:
        raise RulesError(f"{key} is in the catalog but not computable from the store yet")
    tz = zone or as_of.tzinfo
    assert tz is not None  # local_day checked it
    period = window
    if period is None and metric.window is Window.OVER_WINDOW:
        period = trailing_days(local_day(as_of.astimezone(tz)), DEFAULT_WINDOW_DAYS)
    if period is None and key == "pipeline_coverage":
        period = quarter_of(local_day(as_of.astimezone(tz)))
    span = Span.of(period, as_of, tz) if period is not None else None
    with engine.connect() as conn:
        blocks = Blocks(fx, conn.dialect.name, Filters(where))
        query = Query(conn, metric, as_of, span, tz, resolved, blocks)
        value: float | None
        detail: Mapping[str, Any]
        if span is not None and span.empty:
            value, detail = None, {"reason": "the window starts after as_of"}
        else:
            value, detail = handler(query)
    return MetricValue(key, value, metric.unit, as_of, period, MappingProxyType(dict(detail)))
