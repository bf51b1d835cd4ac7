"""The same metrics on SQLite and PostgreSQL: each dialect's store against the raw data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from rules.periods import Period
from syncd.metrics import compute
from syncd.sandbox.dataset import generate

from .reference import MAPPED, Raw, sync

NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)
DAY = timedelta(days=1)
PERIOD = Period(date(2026, 6, 1), date(2026, 10, 31))
START, END = datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def raw() -> Raw:
    return Raw(generate(now=NOW, seed=3))


def test_every_dialect_rebuilds_the_past_and_filters_alike(db_url, raw):
    store = sync(raw.ds, db_url, NOW)
    try:
        def value(key, **kwargs):
            kwargs.setdefault("as_of", NOW)
            return compute(store.engine, key, fx=raw.fx, fields=MAPPED, **kwargs).value

        week_ago = NOW - 7 * DAY
        total, weighted, _ = raw.pipeline(week_ago)
        assert value("pipeline_value", as_of=week_ago) == pytest.approx(total, abs=0.01)
        assert value("weighted_pipeline_value", as_of=week_ago) == pytest.approx(weighted,
                                                                                 abs=0.01)
        assert value("mrr", as_of=NOW - 60 * DAY) == pytest.approx(raw.mrr(NOW - 60 * DAY),
                                                                   abs=0.01)
        eti = {"company_segment": "ETI", "company_country": "Switzerland"}

        def keep(d):
            return d.company is not None and (raw.companies[d.company].segment,
                                              raw.companies[d.company].country) == (
                "ETI", "Switzerland")

        assert value("mrr", where=eti) == pytest.approx(raw.mrr(NOW, keep), abs=0.01)
        revenue, _ = raw.revenue(START, END, NOW, keep)
        assert value("revenue", window=PERIOD, where=eti) == pytest.approx(revenue, abs=0.01)
        won, closed = raw.win_rate(START, END, NOW)
        assert value("win_rate", window=PERIOD) == pytest.approx(won / closed)
        base, lost = raw.churn(START, END)
        assert value("churn_rate", window=PERIOD, params={"per": "window"}) == pytest.approx(
            lost / base)
        cohort, converted = raw.conversion(START, END, NOW)
        assert value("lead_conversion_rate", window=PERIOD) == pytest.approx(converted / cohort)
        assert value("new_customers", window=PERIOD) == raw.new_customers(START, END, NOW)
    finally:
        store.close()


def test_day_arithmetic_agrees_across_dialects(db_url, raw):
    store = sync(raw.ds, db_url, NOW)
    try:
        s, e, t = (int(x.timestamp() * 1000) for x in (START, END, NOW))
        cycles = [(d.close - d.created) / 86_400_000 for d in raw.deals
                  if s <= d.close < e and d.won_by(t)]
        got = compute(store.engine, "sales_cycle_days", as_of=NOW, window=PERIOD)
        assert got.value == pytest.approx(sum(cycles) / len(cycles), abs=1e-4)
        within = compute(store.engine, "lead_conversion_rate", as_of=NOW, window=PERIOD,
                         params={"within_days": 45})
        cohort = [c for c in raw.contacts if c.sql is not None and s <= c.sql < e]
        quick = 0
        for c in cohort:
            when = c.customer
            if when is None and c.company:
                when = raw.companies[c.company].since
            quick += when is not None and when <= t and (when - c.sql) <= 45 * 86_400_000
        assert within.detail["converted"] == quick
        assert 0 < quick < raw.conversion(START, END, NOW)[1]  # the cap bites
    finally:
        store.close()
