"""The rest of the catalog on the synced team: growth, retention, revenue churn, year over
year, segment share, quota, leads per rep, MQL -> SQL, period-mode conversion; each against
the raw generated data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rules.catalog import CATALOG
from rules.periods import Period

NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)  # as in conftest.py
QUARTER = Period(date(2026, 7, 1), date(2026, 9, 30))
START, END = datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)
BEFORE = START - timedelta(milliseconds=1)  # the data is in milliseconds
LAST = END - timedelta(milliseconds=1)
MS = 86_400_000


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def test_every_catalog_metric_is_computable(value):
    params = {"pipeline_coverage": {"quota": 1e9}, "quota_attainment": {"quota": 1e5},
              "segment_revenue_share": {"segment": "PME"}}
    for key in CATALOG:
        got = value(key, window=QUARTER, params=params.get(key, {}))
        assert got.key == key and got.unit == CATALOG[key].unit
        assert got.value is not None, key


def test_mrr_growth_and_net_revenue_retention(value, raw):
    start, end = raw.mrr(BEFORE), raw.mrr(LAST)
    assert value("mrr_growth", window=QUARTER).value == pytest.approx((end - start) / start)
    kept = raw.mrr(LAST, lambda d: raw.companies[d.company].customer_at(ms(BEFORE)))
    nrr = value("net_revenue_retention", window=QUARTER)
    assert nrr.value == pytest.approx(kept / start)
    assert kept < end  # new customers are left out


def test_revenue_churn_and_logo_retention(value, raw):
    start = raw.mrr(BEFORE)

    def left(d):
        churned = raw.companies[d.company].churned
        return churned is not None and churned < ms(END)

    lost = raw.mrr(BEFORE, left)
    assert lost > 0
    share = value("revenue_churn_rate", window=QUARTER, params={"per": "window"})
    assert share.value == pytest.approx(lost / start)
    monthly = value("revenue_churn_rate", window=QUARTER).value
    assert monthly == pytest.approx(1 - (1 - lost / start) ** (1 / 3))
    base, _ = raw.churn(START, END)
    kept = sum(1 for c in raw.companies.values()
               if c.since is not None and c.customer_at(ms(BEFORE)) and c.customer_at(ms(LAST)))
    assert value("retention_rate", window=QUARTER).value == pytest.approx(kept / base)


def test_revenue_against_last_year_segment_share_and_quota(value, raw):
    now, _ = raw.revenue(START, END, NOW)
    before, _ = raw.revenue(START.replace(year=2025), END.replace(year=2025), NOW)
    assert before > 0
    assert value("revenue_yoy_growth", window=QUARTER).value == pytest.approx(
        (now - before) / before)
    pme, _ = raw.revenue(START, END, NOW,
                         lambda d: d.company is not None
                         and raw.companies[d.company].segment == "PME")
    share = value("segment_revenue_share", window=QUARTER, params={"segment": "PME"})
    assert share.value == pytest.approx(pme / now)
    assert 0 < share.value < 1
    assert value("quota_attainment", window=QUARTER, params={"quota": 80_000}).value == (
        pytest.approx(now / 80_000))


def test_leads_per_rep_mql_to_sql_and_period_conversion(value, raw):
    s, e, t = ms(START), ms(END), ms(NOW)
    sqls = [c for c in raw.contacts if c.sql is not None and s <= c.sql < e]
    reps = len({c.owner for c in sqls if c.owner is not None})
    per_rep = value("qualified_leads_per_rep", window=QUARTER)
    assert per_rep.value == pytest.approx(len(sqls) / reps / 3)
    assert value("qualified_leads_per_rep", window=QUARTER,
                 params={"reps": 4, "per": "window"}).value == pytest.approx(len(sqls) / 4)
    mqls = [c for c in raw.contacts if c.mql is not None and s <= c.mql < e]
    became = sum(1 for c in mqls if c.sql is not None and c.sql <= t)
    assert value("mql_to_sql_rate", window=QUARTER).value == pytest.approx(became / len(mqls))
    assert value("qualified_leads", window=QUARTER, params={"stage": "mql"}).value == len(mqls)
    new = sum(1 for c in raw.companies.values() if c.since is not None and s <= c.since < e)
    period = value("lead_conversion_rate", window=QUARTER, params={"mode": "period"})
    assert period.value == pytest.approx(new / len(sqls))
    assert period.detail == {"leads": len(sqls), "converted": new}


def test_a_window_still_running_counts_only_up_to_as_of(value, raw):
    at = datetime(2026, 8, 15, 12, tzinfo=UTC)
    got = value("churn_rate", window=QUARTER, as_of=at)
    base, lost = raw.churn(START, at + timedelta(milliseconds=1))
    assert (got.detail["customers_at_start"], got.detail["churned"]) == (base, lost)
    months = (at - START) / timedelta(days=1) / 30.436875
    assert got.detail["months"] == pytest.approx(months, abs=1e-6)
    assert got.value == pytest.approx(1 - (1 - lost / base) ** (1 / months))


def test_windows_are_local_days_in_the_teams_zone(value, raw):
    zurich = ZoneInfo("Europe/Zurich")
    # a deal won at midnight in Zurich: the evening before in UTC
    deal = next(d for d in raw.deals if d.won_by(ms(NOW)) and d.close > ms(NOW) - 300 * MS
                and datetime.fromtimestamp(d.close / 1000, zurich).hour == 0)
    day = datetime.fromtimestamp(deal.close / 1000, zurich).date()
    start = datetime.combine(day, datetime.min.time(), tzinfo=zurich)
    expected, won = raw.revenue(start, start + timedelta(days=1), NOW)
    local = value("revenue", window=Period(day, day), zone=zurich)
    assert local.value == pytest.approx(expected, abs=0.01) and local.detail["won_deals"] == won
    utc_day = value("revenue", window=Period(day, day))  # 00:00 to 24:00 UTC
    assert utc_day.detail["won_deals"] < won
