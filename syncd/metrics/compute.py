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

On PostgreSQL a batch runs on ``workers`` connections at once (default 2: each is a server
process, so the batch uses two cores), all reading ONE snapshot: the first connection exports
it (``pg_export_snapshot()``) and the others import it (``SET TRANSACTION SNAPSHOT``) before
reading anything, so every value of the batch still describes the same state of the store.
A query two requests share runs once: the second waits for the first's rows. SQLite runs the
batch on one connection (two would not be guaranteed to read the same snapshot).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
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

log = logging.getLogger("syncd.metrics")

#: How many connections a PostgreSQL batch reads on at once.
PG_WORKERS = 2

Rows = tuple[tuple[Any, ...], ...]


class Memo:
    """Rows already fetched in one batch, by (statement, bound values); safe to share
    between the batch's threads: a statement asked for twice at once runs once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple[Any, str], Future[Rows]] = {}

    def rows(self, key: tuple[Any, str], fetch: Callable[[], Rows]) -> Rows:
        with self._lock:
            known = self._rows.get(key)
            if known is None:
                mine: Future[Rows] = Future()
                self._rows[key] = mine
        if known is not None:
            return known.result()
        try:
            rows = fetch()
        except BaseException as exc:
            with self._lock:
                del self._rows[key]  # a later request may try again
            mine.set_exception(exc)
            raise
        mine.set_result(rows)
        return rows


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
    memo: Memo = field(default_factory=Memo)

    def all(self, select: Select) -> Rows:
        """The rows of ``select``; the same statement with the same values runs once per
        memo (one :func:`compute_many` call)."""
        key = _memo_key(select, self.conn.dialect)
        return self.memo.rows(key, lambda: tuple(tuple(row) for row in self.conn.execute(select)))

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
    docstring): one snapshot, shared queries run once."""
    plans = [_plan(request, fields, zone) for request in requests]
    if not plans:
        return []
    memo = Memo()
    with engine.connect() as conn:
        _read_only_batch(conn)
        workers = min(PG_WORKERS, len(plans))
        if conn.dialect.name != "postgresql" or workers < 2:
            return [_run(conn, plan, fx, memo) for plan in plans]
        return _parallel(engine, conn, plans, fx, memo, workers)


def _parallel(engine: sa.Engine, lead: sa.Connection, plans: Sequence[_Plan],
              fx: Mapping[str, float], memo: Memo, workers: int) -> list[MetricValue]:
    """The plans on ``workers`` PostgreSQL connections sharing ``lead``'s snapshot; each
    thread takes the next plan not yet started, so a slow one does not hold up the rest."""
    snapshot = str(lead.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one())
    if not re.fullmatch(r"[0-9A-F-]+", snapshot):  # SET takes no bound parameter
        raise sa.exc.InvalidRequestError(f"unexpected snapshot id {snapshot!r}")
    with ExitStack() as stack:
        conns = [lead]
        for _ in range(workers - 1):
            try:
                conn = stack.enter_context(engine.connect())
                conn.execution_options(isolation_level="REPEATABLE READ")
                conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                conn.exec_driver_sql("SET LOCAL jit = off")
                conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
            except (sa.exc.DBAPIError, sa.exc.TimeoutError) as exc:  # no connection left
                log.warning("metrics: reading on one connection only (%s)",
                            str(exc).splitlines()[0])
                break
            conns.append(conn)
        results: list[MetricValue | None] = [None] * len(plans)
        lock = threading.Lock()
        pending = iter(range(len(plans)))
        failed = threading.Event()

        def work(conn: sa.Connection) -> None:
            while not failed.is_set():
                with lock:
                    index = next(pending, None)
                if index is None:
                    return
                try:
                    results[index] = _run(conn, plans[index], fx, memo)
                except BaseException:
                    failed.set()  # the other threads stop after their current plan
                    raise

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="metrics") as pool:
            for done in [pool.submit(work, conn) for conn in conns]:
                done.result()
    assert all(value is not None for value in results)
    return [value for value in results if value is not None]


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
