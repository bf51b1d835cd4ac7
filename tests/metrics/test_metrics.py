"""Metric values on the synced sandbox team vs the same definitions computed by hand from the
generated raw properties (tests/metrics/reference.py), now and as of past dates."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest

from rules.errors import InvalidParams, RulesError, UnknownMetric
from rules.periods import Period, quarter_of
from syncd.metrics import InvalidFilters

from .reference import EMAILS, PROBABILITY

NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)  # as in conftest.py
DAY = timedelta(days=1)


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def bounds(period: Period) -> tuple[datetime, datetime]:
    return midnight(period.start), midnight(period.end) + DAY


# --------------------------------------------------------------------------- point in time


def test_mrr_customers_and_arpu_are_the_datasets_figures(value, raw):
    actual = raw.ds.summary.actual
    mrr = value("mrr")
    arpu = value("arpu")
    assert mrr.value == pytest.approx(raw.mrr(NOW), abs=0.01)
    assert mrr.value == pytest.approx(actual.mrr_chf, abs=0.05)
    assert arpu.detail["customers"] == raw.customers(NOW) == actual.active_customers
    assert arpu.value == pytest.approx(actual.arpu_chf, abs=0.01)
    assert mrr.unit == "money" and mrr.as_of == NOW


@pytest.mark.parametrize("days_ago", [30, 91, 200])
def test_mrr_as_of_a_past_date_is_rebuilt_from_customer_dates(value, raw, days_ago):
    at = NOW - days_ago * DAY
    got = value("mrr", as_of=at)
    assert got.value == pytest.approx(raw.mrr(at), abs=0.01)
    assert value("arpu", as_of=at).detail["customers"] == raw.customers(at)
    assert got.value != pytest.approx(raw.mrr(NOW), abs=0.01)  # the past differs from today


def test_mrr_without_exchange_rates_adds_raw_amounts(value, raw):
    eur = raw.mrr(NOW, lambda d: d.currency == "EUR") / raw.fx["EUR"]
    assert eur > 0  # the team has EUR customers, so the rates matter
    converted = value("mrr").value
    plain = value("mrr", fx={}).value
    assert plain - converted == pytest.approx(eur * (1 - raw.fx["EUR"]), abs=0.01)


@pytest.mark.parametrize("days_ago", [0, 7, 30])
def test_pipeline_as_of_is_rebuilt_from_stage_history(value, raw, days_ago):
    at = NOW - days_ago * DAY
    total, weighted, deals = raw.pipeline(at)
    got = value("pipeline_value", as_of=at)
    assert got.value == pytest.approx(total, abs=0.01)
    assert got.detail["open_deals"] == deals
    assert value("weighted_pipeline_value", as_of=at).value == pytest.approx(weighted, abs=0.01)


def test_pipeline_seven_days_ago_is_not_todays_pipeline(value, raw):
    now, week_ago = value("pipeline_value").value, value("pipeline_value", as_of=NOW - 7 * DAY)
    assert week_ago.value != pytest.approx(now)
    # a naive reading of today's stages for the deals that existed then gives another figure
    t = int((NOW - 7 * DAY).timestamp() * 1000)
    naive = sum(raw.chf(d, d.amount) for d in raw.deals
                if d.created <= t and d.stage_at(t + 7 * 86_400_000) == d.stage
                and d.stage not in ("closedwon", "closedlost", "81530421", "81530422"))
    assert week_ago.value != pytest.approx(naive)


def test_min_probability_keeps_the_likelier_stages(value, raw):
    total, _, _ = raw.pipeline(NOW, lambda d: True)
    likely = value("pipeline_value", params={"min_probability": 0.6}).value
    t = int(NOW.timestamp() * 1000)
    expected = sum(raw.chf(d, d.amount) for d in raw.deals
                   if d.created <= t and (s := d.stage_at(t)) is not None
                   and 0.6 <= PROBABILITY[s] < 1.0 and s not in ("closedlost", "81530422"))
    assert likely == pytest.approx(expected, abs=0.01)
    assert 0 < likely < total


def test_pipeline_coverage_divides_by_the_quota_left(value, raw):
    quarter = quarter_of(NOW.date())
    start, end = bounds(quarter)
    won, _ = raw.revenue(start, end, NOW)
    total, _, _ = raw.pipeline(NOW)
    quota = won + 50_000
    got = value("pipeline_coverage", params={"quota": quota})
    assert got.value == pytest.approx(total / 50_000)
    assert got.window == quarter
    assert value("pipeline_coverage", params={"quota": won / 2}).value is None  # quota met


# --------------------------------------------------------------------------- windows


def test_revenue_win_rate_and_new_customers_over_the_last_two_quarters(value, raw):
    period = Period(raw.ds.summary.window_start.date() + DAY, NOW.date())
    start, end = bounds(period)
    end = min(end, NOW + timedelta(microseconds=1))
    revenue, deals = raw.revenue(start, end, NOW)
    won, closed = raw.win_rate(start, end, NOW)
    got = value("revenue", window=period)
    assert got.value == pytest.approx(revenue, abs=0.01) and got.detail["won_deals"] == deals
    rate = value("win_rate", window=period)
    assert (rate.detail["won"], rate.detail["closed"]) == (won, closed)
    assert rate.value == pytest.approx(won / closed)
    assert rate.value == pytest.approx(raw.ds.summary.actual.win_rate, abs=0.03)
    assert value("average_deal_value", window=period).value == pytest.approx(revenue / deals)
    assert value("new_customers", window=period).value == raw.new_customers(start, end, NOW)


def test_revenue_as_of_a_past_date_ignores_later_wins(value, raw):
    period = quarter_of(NOW.date())
    at = NOW - 20 * DAY
    start, _ = bounds(period)
    expected, _ = raw.revenue(start, at + timedelta(microseconds=1), at)
    got = value("revenue", window=period, as_of=at)
    assert got.value == pytest.approx(expected, abs=0.01)
    assert got.value < value("revenue", window=period).value


def test_churn_is_logo_churn_per_month(value, raw):
    period = Period(date(2026, 6, 1), date(2026, 10, 31))  # five whole months
    base, lost = raw.churn(*bounds(period))
    window_share = lost / base
    got = value("churn_rate", window=period)
    assert (got.detail["customers_at_start"], got.detail["churned"]) == (base, lost)
    assert got.value == pytest.approx(1 - (1 - window_share) ** (1 / 5))
    assert value("churn_rate", window=period, params={"per": "window"}).value == pytest.approx(
        window_share)
    assert got.value == pytest.approx(raw.ds.summary.actual.monthly_churn, abs=0.012)
    kept = value("retention_rate", window=period)
    assert kept.detail["customers_at_start"] == base
    assert 0 < kept.value <= 1 - window_share + 1e-9


def test_lead_conversion_is_measured_on_the_sql_cohort(value, raw):
    summary = raw.ds.summary
    period = Period(summary.cohort_start.date() + DAY, summary.cohort_end.date() - DAY)
    start, end = bounds(period)
    cohort, won = raw.conversion(start, end, NOW)
    got = value("lead_conversion_rate", window=period)
    assert (got.detail["cohort"], got.detail["converted"]) == (cohort, won)
    assert got.value == pytest.approx(won / cohort)
    assert got.value == pytest.approx(summary.actual.sql_to_customer, abs=0.04)
    assert value("qualified_leads", window=period).value == cohort
    # as of the end of the cohort window, fewer of its leads had converted yet
    last = end - timedelta(microseconds=1)
    early = value("lead_conversion_rate", window=period, as_of=last)
    assert early.detail["converted"] == raw.conversion(start, end, last)[1]
    assert early.detail["converted"] < won


def test_sales_cycle_is_days_from_creation_to_win(value, raw):
    period = Period(date(2026, 5, 1), date(2026, 10, 31))
    start, end = bounds(period)
    s, e = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    t = int(NOW.timestamp() * 1000)
    cycles = sorted((d.close - d.created) / 86_400_000 for d in raw.deals
                    if s <= d.close < e and d.won_by(t))
    mean = value("sales_cycle_days", window=period)
    median = value("sales_cycle_days", window=period, params={"statistic": "median"})
    assert mean.value == pytest.approx(sum(cycles) / len(cycles), abs=1e-4)
    n = len(cycles)
    assert median.value == pytest.approx((cycles[(n - 1) // 2] + cycles[n // 2]) / 2, abs=1e-4)


# --------------------------------------------------------------------------- filters


def test_filters_by_owner_segment_pipeline_type_and_amount(value, raw):
    period = Period(date(2026, 1, 1), date(2026, 11, 22))
    start, end = bounds(period)
    lea = next(i for i, e in EMAILS.items() if e == "lea@acme.ch")
    cases = [
        ({"owner": "Lea@Acme.ch"}, lambda d: d.owner == lea),
        ({"company_segment": "ETI"},
         lambda d: d.company is not None and raw.companies[d.company].segment == "ETI"),
        ({"pipeline": "default"}, lambda d: d.pipeline == "default"),
        ({"deal_type": "existingbusiness"}, lambda d: d.deal_type == "existingbusiness"),
        ({"amount_min": 10_000, "amount_max": 20_000},
         lambda d: 10_000 <= raw.chf(d, d.amount) <= 20_000),
        ({"deal_currency_code": "EUR"}, lambda d: d.currency == "EUR"),
        ({"company_country": ["France", "Germany"]},
         lambda d: d.company is not None and raw.companies[d.company].country in
         ("France", "Germany")),
    ]
    everything, _ = raw.revenue(start, end, NOW)
    for where, keep in cases:
        expected, _ = raw.revenue(start, end, NOW, keep)
        got = value("revenue", window=period, where=where).value
        assert got == pytest.approx(expected, abs=0.01), where
        assert 0 < got < everything, where  # each filter keeps some, not all
        assert value("mrr", where=where).value == pytest.approx(raw.mrr(NOW, keep), abs=0.01)
        assert value("pipeline_value", where=where).value == pytest.approx(
            raw.pipeline(NOW, keep)[0], abs=0.01)


def test_company_and_contact_metrics_filter_by_segment(value, raw):
    period = Period(date(2026, 3, 1), date(2026, 10, 31))
    start, end = bounds(period)
    pme = value("churn_rate", window=period, where={"company_segment": "PME"})
    base, lost = raw.churn(start, end, lambda c: c.segment == "PME")
    assert (pme.detail["customers_at_start"], pme.detail["churned"]) == (base, lost)
    assert base < raw.churn(start, end)[0]

    def is_pme(contact):
        return contact.company is not None and raw.companies[contact.company].segment == "PME"

    conv = value("lead_conversion_rate", window=period, where={"company_segment": "PME"})
    assert (conv.detail["cohort"], conv.detail["converted"]) == raw.conversion(
        start, end, NOW, is_pme)
    customers = value("arpu", where={"company_segment": "PME"}).detail["customers"]
    assert customers == raw.customers(NOW, lambda c: c.segment == "PME")


# --------------------------------------------------------------------------- errors


def test_wrong_requests_get_the_rules_errors(value):
    with pytest.raises(UnknownMetric, match="did you mean mrr"):
        value("mrrr")
    with pytest.raises(InvalidFilters, match="churn_rate cannot be filtered by pipeline"):
        value("churn_rate", where={"pipeline": "default"})
    with pytest.raises(InvalidFilters, match="deal_colour is not a mapped field"):
        value("revenue", where={"deal_colour": "red"})
    with pytest.raises(InvalidParams, match=r"needs params\.quota"):
        value("pipeline_coverage")
    with pytest.raises(RulesError, match="no time zone"):
        value("mrr", as_of=NOW.replace(tzinfo=None))


def test_undefined_values_are_none_not_zero(value):
    empty = value("win_rate", window=Period(date(2015, 1, 1), date(2015, 1, 31)))
    assert empty.value is None and empty.detail["closed"] == 0
    future = value("revenue", window=Period(date(2027, 1, 1), date(2027, 1, 31)))
    assert future.value is None
    assert not math.isnan(value("mrr", as_of=datetime(2015, 1, 1, tzinfo=UTC)).value)
