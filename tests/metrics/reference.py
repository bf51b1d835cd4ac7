"""The metrics recomputed by hand from the generated dataset's raw HubSpot properties
(strings, as the API serves them): the independent side of the metric tests.

Nothing here touches SQL: plain loops over the generator's records, in epoch milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from connectors.base import FieldMap
from connectors.hubspot import HubSpotConnector, HubSpotHttp, RetryPolicy
from syncd.sandbox.dataset import Dataset
from syncd.sandbox.hubspot import HubSpotSandbox
from syncd.sandbox.hubspot_account import (
    DEFAULT_STAGES,
    LOST_STAGES,
    OWNERS,
    STAGE_IDS,
    UPSELL_STAGES,
    WON_STAGES,
)
from syncd.sandbox.hubspot_table import parse_time_ms, to_ms
from syncd.store import Store
from syncd.sync import Syncer

#: What the sync maps: the defaults plus two custom fields the filter tests use.
FIELDS = FieldMap(
    deal={"mrr": "hs_mrr", "deal_type": "dealtype", "currency_code": "deal_currency_code"},
    company={"segment": "segment", "churned_at": "churned_at", "country": "country"},
)
MAPPED = ("deal_mrr", "deal_type", "deal_currency_code", "company_segment",
          "company_churned_at", "company_country")
PROBABILITY = {s[0]: float(s[2]) for s in DEFAULT_STAGES + UPSELL_STAGES}
EMAILS = {o[0]: o[1] for o in OWNERS}


def sync(dataset: Dataset, url: str, now: datetime) -> Store:
    """A store holding ``dataset``, synced through the sandbox the way production does."""
    store = Store.open(url)
    with HubSpotSandbox(dataset, search_limit=None) as sandbox:
        http = HubSpotHttp(sandbox.token, sandbox.url,
                           policy=RetryPolicy(search_per_second=1000, timeout=5,
                                              max_retry_time=5))
        summary = Syncer(store, HubSpotConnector(http, FIELDS), clock=lambda: now,
                         reconcile_every=timedelta(hours=6)).run()
    assert summary.status == "ok", summary.error
    return store


def ms(value: str | None) -> int | None:
    return None if value is None else parse_time_ms(value)


@dataclass(frozen=True)
class Deal:
    id: str
    stage: str
    pipeline: str
    amount: float
    currency: str
    mrr: float
    created: int
    close: int
    company: str | None
    owner: str | None
    deal_type: str | None
    entered: dict[str, int]

    def won_by(self, t: int) -> bool:
        return self.stage in WON_STAGES and self.close <= t

    def closed_by(self, t: int) -> bool:
        return self.stage in WON_STAGES | LOST_STAGES and self.close <= t

    def stage_at(self, t: int) -> str | None:
        """The stage entered last on or before ``t`` (from hs_v2_date_entered_*)."""
        seen = [(when, stage) for stage, when in self.entered.items() if when <= t]
        return max(seen)[1] if seen else None


@dataclass(frozen=True)
class Company:
    id: str
    since: int | None
    churned: int | None
    segment: str | None
    country: str | None
    owner: str | None

    def customer_at(self, t: int) -> bool:
        return self.since is not None and self.since <= t and (
            self.churned is None or self.churned > t)


@dataclass(frozen=True)
class Contact:
    id: str
    mql: int | None
    sql: int | None
    customer: int | None
    company: str | None
    owner: str | None


DealTest = Callable[[Deal], bool]


def _all(_: object) -> bool:
    return True


class Raw:
    """The dataset's records, and the catalog's definitions computed over them by hand."""

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds
        self.fx = {"EUR": ds.summary.eur_chf}
        props = ["dealstage", "pipeline", "amount", "deal_currency_code", "hs_mrr",
                 "createdate", "closedate", "hubspot_owner_id", "dealtype",
                 *(f"hs_v2_date_entered_{s}" for s in STAGE_IDS)]
        self.deals = [
            Deal(r["id"], r["dealstage"], r["pipeline"], float(r["amount"] or 0),
                 r["deal_currency_code"], float(r["hs_mrr"] or 0), ms(r["createdate"]) or 0,
                 ms(r["closedate"]) or 0, r["_company_id"], r["hubspot_owner_id"],
                 r["dealtype"],
                 {s: ms(r[f"hs_v2_date_entered_{s}"]) or 0 for s in STAGE_IDS
                  if r[f"hs_v2_date_entered_{s}"]})
            for r in ds.deals.rows(props) if r["archived"] == "false"
        ]
        self.companies = {
            r["id"]: Company(r["id"], ms(r["hs_lifecyclestage_customer_date"]),
                             ms(r["churned_at"]), r["segment"], r["country"],
                             r["hubspot_owner_id"])
            for r in ds.companies.rows(["hs_lifecyclestage_customer_date", "churned_at",
                                        "segment", "country", "hubspot_owner_id"])
        }
        self.contacts = [
            Contact(r["id"], ms(r["hs_lifecyclestage_marketingqualifiedlead_date"]),
                    ms(r["hs_lifecyclestage_salesqualifiedlead_date"]),
                    ms(r["hs_lifecyclestage_customer_date"]), r["_company_id"],
                    r["hubspot_owner_id"])
            for r in ds.contacts.rows(["hs_lifecyclestage_marketingqualifiedlead_date",
                                       "hs_lifecyclestage_salesqualifiedlead_date",
                                       "hs_lifecyclestage_customer_date", "hubspot_owner_id"])
            if r["archived"] == "false"
        ]

    def chf(self, deal: Deal, value: float) -> float:
        return value * self.fx.get(deal.currency, 1.0)

    # ---------------------------------------------------------------- point in time

    def mrr(self, at: datetime, keep: DealTest = _all) -> float:
        t = to_ms(at)
        return sum(
            self.chf(d, d.mrr) for d in self.deals
            if keep(d) and d.created <= t and d.won_by(t) and d.company
            and self.companies[d.company].customer_at(t)
        )

    def customers(self, at: datetime, keep: Callable[[Company], bool] = _all) -> int:
        t = to_ms(at)
        return sum(1 for c in self.companies.values() if keep(c) and c.customer_at(t))

    def pipeline(self, at: datetime, keep: DealTest = _all) -> tuple[float, float, int]:
        """(open amount, weighted amount, open deals) at ``at``, from the stage dates."""
        t = to_ms(at)
        total = weighted = 0.0
        n = 0
        for d in self.deals:
            if not keep(d) or d.created > t:
                continue
            stage = d.stage_at(t)
            assert stage is not None  # every generated deal entered a stage when created
            if stage in WON_STAGES | LOST_STAGES:
                continue
            total += self.chf(d, d.amount)
            weighted += self.chf(d, d.amount) * PROBABILITY[stage]
            n += 1
        return total, weighted, n

    # ---------------------------------------------------------------- over a window

    def revenue(self, start: datetime, end: datetime, at: datetime,
                keep: DealTest = _all) -> tuple[float, int]:
        s, e, t = to_ms(start), to_ms(end), to_ms(at)
        won = [d for d in self.deals if keep(d) and s <= d.close < e and d.won_by(t)]
        return sum(self.chf(d, d.amount) for d in won), len(won)

    def win_rate(self, start: datetime, end: datetime, at: datetime) -> tuple[int, int]:
        s, e, t = to_ms(start), to_ms(end), to_ms(at)
        closed = [d for d in self.deals if s <= d.close < e and d.closed_by(t)]
        return sum(1 for d in closed if d.stage in WON_STAGES), len(closed)

    def new_customers(self, start: datetime, end: datetime, at: datetime) -> int:
        t = to_ms(at)
        first: dict[str, int] = {}
        for d in self.deals:
            if d.company and d.won_by(t):
                first[d.company] = min(first.get(d.company, d.close), d.close)
        return sum(1 for when in first.values() if to_ms(start) <= when < to_ms(end))

    def churn(self, start: datetime, end: datetime,
              keep: Callable[[Company], bool] = _all) -> tuple[int, int]:
        """(customers just before ``start``, customers lost in ``[start, end)``)."""
        s, e = to_ms(start), to_ms(end)
        base = lost = 0
        for c in self.companies.values():
            if not keep(c) or c.since is None:
                continue
            if c.since < s and (c.churned is None or c.churned >= s):
                base += 1
            if c.churned is not None and s <= c.churned < e and c.since <= c.churned:
                lost += 1
        return base, lost

    def conversion(self, start: datetime, end: datetime, at: datetime,
                   keep: Callable[[Contact], bool] = _all) -> tuple[int, int]:
        """(SQLs of ``[start, end)``, of them customers by ``at``)."""
        s, e, t = to_ms(start), to_ms(end), to_ms(at)
        cohort = [c for c in self.contacts if keep(c) and c.sql is not None and s <= c.sql < e]
        won = 0
        for c in cohort:
            when = c.customer
            if when is None and c.company:
                when = self.companies[c.company].since
            won += when is not None and when <= t
        return len(cohort), won
