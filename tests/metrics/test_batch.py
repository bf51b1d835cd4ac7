"""``compute_many``: the same values as ``compute`` request by request, on one connection,
each shared query run once, and the same errors before anything runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from rules.errors import InvalidParams, RulesError, UnknownMetric
from rules.periods import Period
from syncd.metrics import InvalidFilters, Request, compute, compute_many

from .reference import MAPPED, Raw

NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)  # as in conftest.py
WEEK_AGO = NOW - timedelta(days=7)
QUARTER = Period(date(2026, 10, 1), date(2026, 12, 31))

#: The example config's OKR set and alert rules, now and a week ago.
REQUESTS = [
    Request(key, at, window, where, params)
    for at in (NOW, WEEK_AGO)
    for key, window, where, params in [
        ("lead_conversion_rate", QUARTER, {"company_segment": "PME"}, {}),
        ("arpu", None, {}, {}),
        ("churn_rate", QUARTER, {}, {}),
        ("pipeline_coverage", QUARTER, {}, {"quota": 60000}),
        ("pipeline_value", None, {}, {}),
        ("mrr", None, {}, {}),
    ]
]


@contextmanager
def statements(engine: sa.Engine) -> Iterator[list[tuple[str, str]]]:
    """The SELECTs run on ``engine`` meanwhile, with their parameters."""
    seen: list[tuple[str, str]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.startswith("SELECT"):
            seen.append((statement, repr(parameters)))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def test_a_batch_gives_what_each_request_gives_alone(engine: sa.Engine, raw: Raw) -> None:
    with statements(engine) as each:
        alone = [compute(engine, r.key, as_of=r.as_of, window=r.window, where=r.where,
                         params=r.params, fx=raw.fx, fields=MAPPED) for r in REQUESTS]
    with statements(engine) as seen:
        batch = compute_many(engine, REQUESTS, fx=raw.fx, fields=MAPPED)
    assert batch == alone
    assert [v.key for v in batch] == [r.key for r in REQUESTS]
    # at each instant pipeline_value reuses pipeline_coverage's open pipeline and arpu
    # mrr's MRR; churn's customers at the quarter's start are the same at both instants
    assert len(set(each)) <= len(each) - 5
    assert sorted(seen) == sorted(set(each))  # each distinct query once


def test_shared_queries_run_once_per_call(engine: sa.Engine, raw: Raw) -> None:
    pipeline = [Request("pipeline_value", NOW), Request("pipeline_coverage", NOW,
                                                         params={"quota": 60000})]
    with statements(engine) as alone:
        compute_many(engine, pipeline[:1], fx=raw.fx)
    with statements(engine) as both:
        compute_many(engine, pipeline, fx=raw.fx)
    # coverage adds only its won revenue: the open pipeline is not read twice
    assert len(both) == len(alone) + 1 and len(set(both)) == len(both)
    mrr = [Request("mrr", NOW), Request("arpu", NOW)]
    with statements(engine) as seen:
        compute_many(engine, mrr, fx=raw.fx)
    assert len(seen) == 2  # the MRR once, the customers once
    with statements(engine) as seen:
        compute_many(engine, [Request("mrr", NOW), Request("mrr", WEEK_AGO)], fx=raw.fx)
    assert len(seen) == 2  # another instant is another query


def test_a_batch_refuses_what_compute_refuses_before_running_anything(
    engine: sa.Engine,
) -> None:
    good = Request("mrr", NOW)
    bad: list[tuple[Request, type[Exception]]] = [
        (Request("no_such_metric", NOW), UnknownMetric),
        (Request("pipeline_coverage", NOW, params={"quota": "lots"}), InvalidParams),
        (Request("mrr", NOW, where={"company_shoe_size": 42}), InvalidFilters),
    ]
    for request, error in bad:
        with statements(engine) as seen, pytest.raises(error):
            compute_many(engine, [good, request], fields=MAPPED)
        assert seen == []
    with pytest.raises(RulesError, match="has no time zone"):
        compute_many(engine, [Request("mrr", NOW.replace(tzinfo=None))])
    assert compute_many(engine, []) == []
