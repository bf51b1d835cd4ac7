"""``compute(engine, key, as_of=...)``: one catalog metric, in SQL, as of an instant;
``compute_many(engine, requests)``: several, on one connection, shared sub-queries run once.

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

:func:`compute_many` validates every :class:`Request` before running any (the first invalid
one raises, as :func:`compute` would), then runs them in order on one connection. A query
that several requests need (the open pipeline of ``pipeline_value`` and
``pipeline_coverage`` at the same instant with the same filters, the MRR of ``mrr`` and
``arpu``) runs once per call: results are memoised by the statement's SQL and bound values.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
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

#: Rows already fetched in this call, by (statement, bound values).
Memo = dict[tuple[Any, str], tuple[tuple[Any, ...], ...]]


@dataclass(frozen=True, slots=True)
class Request:
    """One metric to compute in :func:`compute_many` (the arguments of :func:`compute`)."""

    key: str
    as_of: datetime
    window: Period | None = None
    where: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    params: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


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
    memo: Memo = field(default_factory=dict)

    def all(self, select: Select) -> tuple[tuple[Any, ...], ...]:
        """The rows of ``select``; the same statement with the same values runs once per
        memo (one :func:`compute_many` call)."""
        key = _memo_key(select, self.conn.dialect)
        rows = self.memo.get(key)
        if rows is None:
            rows = tuple(tuple(row) for row in self.conn.execute(select))
            self.memo[key] = rows
        return rows

    def one(self, select: Select) -> tuple[Any, ...]:
        """The single row of ``select`` (memoised as :meth:`all`)."""
        rows = self.all(select)
        if len(rows) != 1:
            raise sa.exc.InvalidRequestError(f"expected one row, got {len(rows)}")
        return rows[0]

    def scalar(self, select: Select) -> float:
        value = self.one(select)[0]
        return float(value or 0)

    def window(self) -> Span:
        if self.span is None:
            raise RulesError(f"{self.metric.key} needs a window")
        return self.span


def _memo_key(select: Select, dialect: sa.Dialect) -> tuple[Any, str]:
    """What identifies ``select`` and its bound values: SQLAlchemy's cache key (the
    statement's structure, as for its compiled cache), or the SQL if it has none."""
    cache_key = select._generate_cache_key()
    if cache_key is None:
        compiled = select.compile(dialect=dialect)
        return str(compiled), repr(sorted(compiled.params.items()))
    return cache_key.key, repr([bind.effective_value for bind in cache_key.bindparams])


#: (value, detail) from a query.
Result = tuple[float | None, Mapping[str, Any]]
Handler = Callable[[Query], Result]


def _handlers() -> Mapping[str, Handler]:
    from syncd.metrics import deals, people

    return {**deals.HANDLERS, **people.HANDLERS}


@dataclass(frozen=True, slots=True)
class _Plan:
    """A validated request: what to run and over which window."""

    metric: Metric
    handler: Handler
    as_of: datetime
    period: Period | None
    span: Span | None
    zone: tzinfo
    params: Mapping[str, Any]
    filters: Filters


def _plan(
    request: Request, fields: Collection[str] | None, zone: tzinfo | None
) -> _Plan:
    key, as_of, where = request.key, request.as_of, request.where
    metric = catalog.get(key)
    local_day(as_of)  # refuses a naive datetime
    problems = catalog.filter_problems(metric, list(where), mapped_fields=fields)
    if problems:
        raise InvalidFilters("\n".join(problems))
    resolved = catalog.resolve_params(metric, request.params)
    handler = _handlers().get(key)
    if handler is None:
        raise RulesError(f"{key} is in the catalog but not computable from the store yet")
    tz = zone or as_of.tzinfo
    assert tz is not None  # local_day checked it
    period = request.window
    if period is None and metric.window is Window.OVER_WINDOW:
        period = trailing_days(local_day(as_of.astimezone(tz)), DEFAULT_WINDOW_DAYS)
    if period is None and key == "pipeline_coverage":
        period = quarter_of(local_day(as_of.astimezone(tz)))
    span = Span.of(period, as_of, tz) if period is not None else None
    return _Plan(metric, handler, as_of, period, span, tz, resolved, Filters(where))


def _run(conn: sa.Connection, plan: _Plan, fx: Mapping[str, float], memo: Memo) -> MetricValue:
    blocks = Blocks(fx, conn.dialect.name, plan.filters)
    query = Query(conn, plan.metric, plan.as_of, plan.span, plan.zone, plan.params, blocks,
                  memo)
    value: float | None
    detail: Mapping[str, Any]
    if plan.span is not None and plan.span.empty:
        value, detail = None, {"reason": "the window starts after as_of"}
    else:
        value, detail = plan.handler(query)
    return MetricValue(plan.metric.key, value, plan.metric.unit, plan.as_of, plan.period,
                       MappingProxyType(dict(detail)))


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
    request = Request(key, as_of, window, where, params)
    return compute_many(engine, [request], fields=fields, fx=fx, zone=zone)[0]


def compute_many(
    engine: sa.Engine,
    requests: Sequence[Request],
    *,
    fields: Collection[str] | None = None,
    fx: Mapping[str, float] = _EMPTY,
    zone: tzinfo | None = None,
) -> list[MetricValue]:
    """Each request's metric, in order, as :func:`compute` would give it (see the module
    docstring): one connection, shared queries run once."""
    plans = [_plan(request, fields, zone) for request in requests]
    if not plans:
        return []
    memo: Memo = {}
    with engine.connect() as conn:
        _read_only_batch(conn)
        return [_run(conn, plan, fx, memo) for plan in plans]


def _read_only_batch(conn: sa.Connection) -> None:
    """One snapshot for the whole batch (the memo may not mix two states of the store).

    PostgreSQL: REPEATABLE READ; no JIT compilation (it costs more than these queries run:
    up to 0.6 s for a plan it deems expensive); room to hash the ids a query tests with
    ``IN`` (customers): without it a large set is scanned once per row. Both for this
    transaction only. SQLite: the connection's transaction already reads one snapshot.
    """
    if conn.dialect.name != "postgresql":
        return
    conn.execution_options(isolation_level="REPEATABLE READ")
    conn.exec_driver_sql("SET LOCAL jit = off")
    conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
