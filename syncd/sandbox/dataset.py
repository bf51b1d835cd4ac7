"""A deterministic, realistic HubSpot account for the sandbox: the 8-person team of the product.

``generate(now=..., seed=7)`` builds the default team; ``deals=N`` scales every count (companies,
contacts, rates per month) so that exactly N live deals come out. The same inputs give
byte-identical data. Nothing happens in the last 15 minutes before ``now``, so a test that edits
records "now" never races the generated activity. Storage is columnar
(:mod:`syncd.sandbox.hubspot_table`): a million deals with their companies and contacts fit in
well under 3 GB.

The story, and the figures :class:`Summary` states (``intended``) and measures (``actual``):

- 8 owners (manager, 4 front-line, 2 upsell, 1 customer success) plus one archived former rep.
- About 80 customers before the horizon (``now`` - 9 months); a funnel of SQLs, 2/3 of which get
  a deal in the ``default`` pipeline, 27 % of those won; upsell deals on customers in a second
  pipeline, half of them won; 3 % of customers churn each month. This lands near 85 active
  customers, 100,000 CHF MRR and an ARPU near 1,200 CHF.
- Contacts through the lifecycle: lead -> MQL 75 %, MQL -> SQL 50 %, SQL -> customer 18 %.

How the figures are measured, from raw properties (``tests/sandbox/test_dataset.py`` does it):

- active customer: company ``lifecyclestage == "customer"`` and no ``churned_at``; at a past
  time t: ``hs_lifecyclestage_customer_date <= t`` and (no ``churned_at`` or ``churned_at > t``).
- MRR: the sum of ``hs_mrr`` of live ``closedwon`` deals (both pipelines) of active customers,
  EUR converted at ``Summary.eur_chf``; ARPU = MRR / active customers.
- monthly churn: companies whose ``churned_at`` falls in the window (the last 183 days) over the
  customers active at the window's start, divided by 6.
- SQL -> customer: of the contacts whose ``hs_lifecyclestage_salesqualifiedlead_date`` falls in
  ``[cohort_start, cohort_end)``, the share with a ``hs_lifecyclestage_customer_date``.
- win rate: of the live deals in a closed stage whose ``closedate`` falls in the window, the
  share won.

Scenarios (``scenario=``, opt-in: without it the output is exactly the default team's) script an
event on top of the same story, drawn from their own random stream so that everything else stays
identical. ``Dataset.event`` says what was put in (:class:`Event`). They live in
:mod:`syncd.sandbox.dataset_scenario`, which describes each (``"competitor_promo"``: what
``syncd demo`` shows); this module re-exports its names.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syncd.sandbox.dataset_scenario import HOUR as HOUR
from syncd.sandbox.dataset_scenario import LOST_REASONS as LOST_REASONS
from syncd.sandbox.dataset_scenario import PROMO_DROP as PROMO_DROP
from syncd.sandbox.dataset_scenario import PROMO_MAX_DROP as PROMO_MAX_DROP
from syncd.sandbox.dataset_scenario import PROMO_PUSHED as PROMO_PUSHED
from syncd.sandbox.dataset_scenario import PROMO_WEEK as PROMO_WEEK
from syncd.sandbox.dataset_scenario import SCENARIOS as SCENARIOS
from syncd.sandbox.dataset_scenario import Event as Event
from syncd.sandbox.dataset_scenario import competitor_promo
from syncd.sandbox.hubspot_account import (
    INDUSTRIES,
    JOB_TITLES,
    LIFECYCLE_CODE,
    O_CS,
    O_FORMER,
    O_FRONT,
    O_MANAGER,
    O_UPSELL,
    owners_json,
    pipelines_json,
    zurich_midnight,
)
from syncd.sandbox.hubspot_records import CompanyArrays, ContactArrays, DealArrays
from syncd.sandbox.hubspot_table import (
    NULL_INT,
    CatColumn,
    Table,
    from_ms,
    to_ms,
)

DAY = 86_400_000
PERIOD = 30_500 * 86_400  # 30.5 days in ms: a "month"; the window is 6 of them (183 days)
WINDOW_PERIODS = 6
HORIZON_PERIODS = 9  # churn is simulated over the last 9 months
FUNNEL_PERIODS = 11  # SQLs and upsells start 11 months back

# Rates per month at scale 1 (the default team).
INITIAL_CUSTOMERS = 84
SQL_PER_PERIOD = 15.0
DEAL_SHARE = 2 / 3  # SQLs that get a deal
WIN_NEW = 0.27
UPSELL_PER_PERIOD = 2.0
WIN_UPSELL = 0.4
CHURN = 0.03
MQL_ONLY_PER_PERIOD = 15.0  # MQL -> SQL = 15 / (15 + 15) = 50 %
LEAD_ONLY_PER_PERIOD = 10.0  # lead -> MQL = 30 / 40 = 75 %
SUBSCRIBERS_PER_PERIOD = 5.0
OTHER_PER_PERIOD = 1.0
DUP_DEALS = 0.005  # with_deleted: deleted duplicates
DUP_CONTACTS = 0.01
QUIET = 15 * 60_000  # nothing happens in the last 15 minutes before ``now``
BATCH_SHARE = {"deals": 0.02, "companies": 0.03, "contacts": 0.03}
EUR_CHF = 0.94
_DEALS_PER_UNIT = (
    INITIAL_CUSTOMERS + FUNNEL_PERIODS * (SQL_PER_PERIOD * DEAL_SHARE + UPSELL_PER_PERIOD)
)

# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Figures:
    mrr_chf: float
    active_customers: int
    arpu_chf: float
    monthly_churn: float
    sql_to_customer: float
    win_rate: float


INTENDED = Figures(
    mrr_chf=100_000.0, active_customers=85, arpu_chf=1_200.0, monthly_churn=0.03,
    sql_to_customer=0.18, win_rate=0.30,
)


@dataclass(frozen=True, slots=True)
class Summary:
    """What the dataset is meant to show (``intended``) and what generation put in (``actual``)."""

    now: datetime
    seed: int
    scale: float
    window_start: datetime  # now - 183 days: the last two quarters
    cohort_start: datetime  # SQL cohort for the conversion figure: [cohort_start, cohort_end)
    cohort_end: datetime
    eur_chf: float
    intended: Figures
    actual: Figures
    counts: dict[str, int]  # records per object, archived ones included
    archived: dict[str, int]
    batch_update_at: datetime  # many records share this exact modified time
    batch_updated: dict[str, int]


@dataclass(eq=False)
class Dataset:
    """Owners, pipelines and the three record tables the sandbox serves."""

    now: datetime
    seed: int
    owners: list[dict[str, Any]]
    pipelines: list[dict[str, Any]]
    deals: Table
    companies: Table
    contacts: Table
    summary: Summary
    event: Event | None = None  # the scripted event of a ``scenario``

    def deal_ids(self) -> list[int]:
        """Ids of the live deals, ascending (what a full listing returns)."""
        return _live_ids(self.deals)

    def company_ids(self) -> list[int]:
        return _live_ids(self.companies)

    def contact_ids(self) -> list[int]:
        return _live_ids(self.contacts)

    def table(self, obj: str) -> Table:
        if obj == "deals":
            return self.deals
        if obj == "companies":
            return self.companies
        if obj == "contacts":
            return self.contacts
        raise KeyError(f"no table {obj!r}: use deals, companies or contacts")

    @classmethod
    def empty(cls, now: datetime) -> Dataset:
        """Owners and pipelines only: a CRM with no records (tests add their own)."""
        return _Generator(to_ms(now), seed=0, scale=0.0).build(now)


def _live_ids(table: Table) -> list[int]:
    ids, archived = table.ids, table.archived
    return [ids[p] for p in table.id_order if not archived[p]]


def generate(
    *, now: datetime, seed: int = 7, deals: int | None = None, with_deleted: bool = False,
    scenario: str | None = None,
) -> Dataset:
    """The default team (``deals=None``, about 220 deals), or one scaled to exactly ``deals``
    live deals (the story is scaled to just under it, then topped up with recent open deals).

    ``with_deleted`` adds duplicates someone deleted (archived) a few days after creating them:
    0.5 % of deals and 1 % of contacts, on top of the live ones. ``scenario`` (one of
    :data:`SCENARIOS`) scripts an event on top of the story (see the module docstring).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    if deals is not None and deals < 0:
        raise ValueError(f"deals must be >= 0, not {deals}")
    if scenario is not None and scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}: use one of {', '.join(SCENARIOS)}")
    scale = 1.0 if deals is None else max(0, deals - 2) * 0.995 / _DEALS_PER_UNIT
    generator = _Generator(to_ms(now), seed=seed, scale=scale)
    return generator.build(now, target_deals=deals, with_deleted=with_deleted,
                           scenario=scenario)


class _Quota:
    """Turns a fractional rate into whole counts without drift (0.3 -> 0, 0, 1, 0, 0, 1, ...)."""

    __slots__ = ("acc", "rate")

    def __init__(self, rate: float, start: float = 0.0) -> None:
        self.rate = rate
        self.acc = start

    def take(self) -> int:
        self.acc += self.rate
        n = int(self.acc)
        self.acc -= n
        return n


# --------------------------------------------------------------------------- generator


class _Generator:
    def __init__(self, now: int, *, seed: int, scale: float) -> None:
        self.report_now = now
        self.now = now - QUIET  # the last moment anything happens
        self.seed = seed
        self.scale = scale
        self.rng = random.Random(seed)
        self.window_start = now - WINDOW_PERIODS * PERIOD
        self.horizon = now - HORIZON_PERIODS * PERIOD
        self.funnel = now - FUNNEL_PERIODS * PERIOD
        self.co = CompanyArrays()
        self.ct = ContactArrays()
        self.de = DealArrays()
        self.co_mrr: list[float] = []  # CHF per company, for the figures
        self.customers: list[int] = []  # company positions, in the order they became customers
        self.prospects: list[int] = []  # lead companies leads attach to
        # bookkeeping for the figures
        self.won_in_window = 0
        self.decided_in_window = 0
        self.cohort_sql = 0
        self.cohort_won = 0
        self.win_new = _Quota(WIN_NEW, self.rng.random())
        self.win_upsell = _Quota(WIN_UPSELL, self.rng.random())

    # ---------------------------------------------------------------- records

    def _jitter(self, ms: int, max_days: float) -> int:
        """A later modification, never past ``now`` (nor a cluster exactly at ``now``)."""
        later = ms + int(self.rng.random() * max_days * DAY)
        if later <= self.now:
            return later
        return ms + int((self.now - ms) * self.rng.random()) if ms < self.now else self.now

    def _company(self, created: int, owner: int) -> int:
        rnd = self.rng.random
        pos = len(self.co.created)
        self.co.created.append(created)
        self.co.modified.append(created)
        self.co.customer.append(0)
        self.co.churned.append(0)
        eti = rnd() < 0.25
        self.co.segment.append(2 if eti else 1)
        self.co.employees.append(
            int(250 + rnd() * 2500) if eti else int(5 + rnd() * rnd() * 240)
        )
        self.co.industry.append(1 + int(rnd() * (len(INDUSTRIES) - 1)))
        self.co.life.append(LIFECYCLE_CODE["lead"])
        self.co.owner.append(owner)
        u = rnd()
        self.co.country.append(1 if u < 0.96 else 2 if u < 0.98 else 3 if u < 0.99 else 4)
        self.co_mrr.append(0.0)
        return pos

    def _contact(self, company: int, life: str, owner: int, dates: dict[str, int]) -> int:
        pos = len(self.ct.created)
        created = min(dates.values())
        self.ct.created.append(created)
        self.ct.modified.append(self._jitter(max(dates.values()), 3))
        self.ct.archived.append(0)
        self.ct.company.append(company)
        self.ct.life.append(LIFECYCLE_CODE[life])
        self.ct.owner.append(owner)
        self.ct.job.append(int(self.rng.random() * len(JOB_TITLES)))
        for name, arr in self.ct.dates.items():
            arr.append(dates.get(name, 0))
        return pos

    def _new_mrr(self, company: int) -> int:
        """Monthly revenue of a new customer, in CHF (in the deal's currency)."""
        tri = self.rng.triangular
        mrr = tri(1200, 3400, 1800) if self.co.segment[company] == 2 else tri(300, 1500, 600)
        return int(mrr / 10) * 10

    def _deal(
        self, company: int, *, upsell: bool, owner: int, created: int, cycle: int, won: bool,
        mrr: int, lost_stage: int | None = None,
    ) -> tuple[int, int]:
        """Adds a deal; returns (position, decision time). Closed when the decision is past."""
        rnd = self.rng.random
        base = 7 if upsell else 0
        n_open = 3 if upsell else 5
        start = 0 if upsell or rnd() < 0.8 else 1
        last = n_open - 1 if won else (lost_stage if lost_stage is not None else min(
            n_open - 1, start + int(rnd() * rnd() * n_open)))
        last = max(last, start)
        path = [start] + [s for s in range(start + 1, last) if rnd() < 0.85]
        if last != start:
            path.append(last)
        cuts = sorted(rnd() for _ in range(len(path) - 1))
        times = [created] + [created + int(c * cycle) for c in cuts]
        decision = created + cycle
        pos = len(self.de.created)
        for arr in self.de.entered:
            arr.append(0)
        for arr in self.de.exited:
            arr.append(0)
        entered, exited = self.de.entered, self.de.exited
        now = self.now
        current = path[0]
        last_change = created
        for i, stage in enumerate(path):
            if times[i] > now:
                break
            entered[base + stage][pos] = times[i]
            current = stage
            last_change = times[i]
            nxt = times[i + 1] if i + 1 < len(path) else decision
            if nxt <= now:
                exited[base + stage][pos] = nxt
        closed = decision <= now
        if closed:
            current = n_open if won else n_open + 1
            entered[base + current][pos] = decision
            last_change = decision
            close = decision if rnd() < 0.7 else zurich_midnight(decision)
        else:
            close = zurich_midnight(decision - int(rnd() * 20 * DAY))
        self.de.created.append(created)
        self.de.modified.append(self._jitter(last_change, 2))
        self.de.archived.append(0)
        self.de.close.append(close)
        self.de.company.append(company)
        self.de.stage.append(1 + base + current)
        self.de.pipeline.append(2 if upsell else 1)
        self.de.owner.append(owner)
        eur = self.co.country[company] > 1
        self.de.currency.append(2 if eur else 1)
        self.de.type.append(2 if upsell else 1)
        self.de.product.append(3 + int(rnd() * 4) if upsell else int(rnd() * 3))
        self.de.mrr.append(mrr)
        amount = mrr * 12 * 100
        if rnd() < 0.05:
            amount = amount * 95 // 100 + 50  # a negotiated discount: cents appear
        if not closed and rnd() < 0.05:
            amount = NULL_INT  # open deals without an amount yet
        self.de.amount.append(amount)
        if closed and self.window_start < close <= now:
            self.decided_in_window += 1
            self.won_in_window += won
        if closed and won:
            self.co_mrr[company] += mrr * (EUR_CHF if eur else 1.0)
        return pos, decision

    # ---------------------------------------------------------------- the story

    def build(
        self, now_dt: datetime, *, target_deals: int | None = None, with_deleted: bool = False,
        scenario: str | None = None,
    ) -> Dataset:
        self._initial_customers()
        self._sql_funnel()
        active_at_window = self._churn()
        self._upsells()
        self._other_contacts()
        if target_deals is not None:
            self._pad_deals(target_deals)
        if with_deleted:
            self._duplicates()
        batch_at, batch = self._batch_update()
        event, reasons = None, None
        if scenario:
            event, reasons = competitor_promo(self.de, seed=self.seed, now=self.now,
                                              report_now=self.report_now, eur_chf=EUR_CHF)
            self.decided_in_window += event.lost
        figures = self._figures(active_at_window)
        companies = self.co.table()
        contacts = self.ct.table(companies.ids, self.co.country)
        deals = self.de.table(companies.ids)
        if reasons is not None:
            deals.columns["closed_lost_reason"] = CatColumn(reasons, LOST_REASONS, "string")
        summary = Summary(
            now=now_dt, seed=self.seed, scale=self.scale,
            window_start=from_ms(self.window_start),
            cohort_start=from_ms(self.horizon),
            cohort_end=from_ms(self.report_now - 3 * PERIOD),
            eur_chf=EUR_CHF, intended=INTENDED, actual=figures,
            counts={"deals": len(deals), "companies": len(companies), "contacts": len(contacts)},
            archived={"deals": sum(1 for a in self.de.archived if a),
                      "companies": 0, "contacts": sum(1 for a in self.ct.archived if a)},
            batch_update_at=from_ms(batch_at), batch_updated=batch,
        )
        return Dataset(
            now=now_dt, seed=self.seed, owners=owners_json(self.report_now),
            pipelines=pipelines_json(self.report_now),
            deals=deals, companies=companies, contacts=contacts, summary=summary, event=event,
        )

    def _initial_customers(self) -> None:
        """Customers won before the horizon, each with the won deal that made it one."""
        rnd = self.rng.random
        n = round(INITIAL_CUSTOMERS * self.scale)
        span = 4 * 365 * DAY
        for _ in range(n):
            since = self.horizon - int(rnd() * span)
            cycle = int((20 + rnd() * 60) * DAY)
            created = since - cycle - int(rnd() * 30 * DAY)
            owner = O_FORMER if rnd() < 0.2 else O_FRONT[int(rnd() * 4)]
            company = self._company(created, owner)
            self._deal(company, upsell=False, owner=owner, created=since - cycle, cycle=cycle,
                       won=True, mrr=self._new_mrr(company))
            self._make_customer(company, since)
            for _ in range(1 if rnd() < 0.5 else 2):
                sql = since - cycle - int(rnd() * 10 * DAY)
                mql = sql - int((1 + rnd() * 25) * DAY)
                self._contact(company, "customer", owner, {
                    "lead": mql - int((1 + rnd() * 20) * DAY), "marketingqualifiedlead": mql,
                    "salesqualifiedlead": sql, "opportunity": since - cycle, "customer": since})

    def _make_customer(self, company: int, since: int) -> None:
        self.co.customer[company] = since
        self.co.life[company] = LIFECYCLE_CODE["customer"]
        self.co.modified[company] = self._jitter(since, 3)
        self.customers.append(company)

    def _sql_funnel(self) -> None:
        """SQL contacts, each at a new company; 2/3 get a deal, 27 % of deals are won."""
        rnd = self.rng.random
        sqls, deal_share = _Quota(SQL_PER_PERIOD * self.scale), _Quota(DEAL_SHARE, rnd())
        cohort_end = self.report_now - 3 * PERIOD
        for k in range(FUNNEL_PERIODS):
            t0 = self.funnel + k * PERIOD
            for _ in range(sqls.take()):
                sql = t0 + int(rnd() * PERIOD)
                mql = sql - int((1 + rnd() * 25) * DAY)
                lead = mql - int((1 + rnd() * 20) * DAY)
                rep = O_MANAGER if rnd() < 0.05 else O_FRONT[int(rnd() * 4)]
                company = self._company(lead - int(rnd() * 30 * DAY), rep)
                dates = {"lead": lead, "marketingqualifiedlead": mql, "salesqualifiedlead": sql}
                life = "salesqualifiedlead"
                won_now = False
                if deal_share.take():
                    created = min(self.now, sql + int(rnd() * 10 * DAY))
                    won = bool(self.win_new.take())
                    cycle = int((20 + rnd() * 55) * DAY)
                    _, decision = self._deal(company, upsell=False, owner=rep, created=created,
                                             cycle=cycle, won=won, mrr=self._new_mrr(company))
                    dates["opportunity"] = created
                    life = "opportunity"
                    if won and decision <= self.now:
                        dates["customer"] = decision
                        life = "customer"
                        won_now = True
                        self._make_customer(company, decision)
                if self.horizon <= sql < cohort_end:
                    self.cohort_sql += 1
                    self.cohort_won += won_now
                if not won_now:
                    self.co.life[company] = LIFECYCLE_CODE[life]
                    self.co.modified[company] = self._jitter(max(dates.values()), 3)
                    self.prospects.append(company)
                self._contact(company, life, rep, dates)

    def _churn(self) -> int:
        """3 % of active customers churn each month; returns the active count at window start."""
        rnd = self.rng.random
        quota = _Quota(CHURN, rnd())
        active_at_window = 0
        for k in range(HORIZON_PERIODS):
            t0 = self.horizon + k * PERIOD
            active = [c for c in self.customers
                      if self.co.customer[c] <= t0 and self.co.churned[c] == 0]
            if k == HORIZON_PERIODS - WINDOW_PERIODS:
                active_at_window = len(active)
            quota.rate = CHURN * len(active)
            eligible = [c for c in active if self.co.customer[c] <= t0 - 60 * DAY]
            for c in self.rng.sample(eligible, min(len(eligible), quota.take())):
                day = t0 + DAY + int(rnd() * (PERIOD - 2 * DAY))
                day -= day % DAY
                self.co.churned[c] = day
                self.co.life[c] = LIFECYCLE_CODE["other"]
                self.co.modified[c] = self._jitter(day + int(rnd() * DAY), 2)
        return active_at_window

    def _upsells(self) -> None:
        rnd = self.rng.random
        quota = _Quota(UPSELL_PER_PERIOD * self.scale)
        customers = self.customers
        for k in range(FUNNEL_PERIODS):
            t0 = self.funnel + k * PERIOD
            for _ in range(quota.take()):
                created = t0 + int(rnd() * PERIOD)
                for _attempt in range(50):
                    c = customers[int(rnd() * len(customers))]
                    churned = self.co.churned[c]
                    if self.co.customer[c] <= created and (churned == 0 or churned > created):
                        break
                else:
                    continue
                cycle = int((15 + rnd() * 45) * DAY)
                won = bool(self.win_upsell.take())
                if churned and churned < created + cycle:
                    won = False
                owner = O_CS if rnd() < 0.2 else O_UPSELL[int(rnd() * 2)]
                self._deal(c, upsell=True, owner=owner, created=created, cycle=cycle, won=won,
                           mrr=int((150 + rnd() * 650) / 10) * 10)

    def _other_contacts(self) -> None:
        """Leads and MQLs that never became SQL, subscribers, and partners ("other")."""
        rnd = self.rng.random
        now = self.now
        f = self.scale
        mqls, leads = _Quota(MQL_ONLY_PER_PERIOD * f), _Quota(LEAD_ONLY_PER_PERIOD * f)
        subs, others = _Quota(SUBSCRIBERS_PER_PERIOD * f), _Quota(OTHER_PER_PERIOD * f)
        new_company = _Quota(0.25, 0.9)
        prospects = self.prospects
        for k in range(FUNNEL_PERIODS):
            t0 = self.funnel + k * PERIOD
            for mql_stage in [True] * mqls.take() + [False] * leads.take():
                lead = t0 + int(rnd() * PERIOD)
                if new_company.take() or not prospects:
                    company = self._company(lead - int(rnd() * 5 * DAY), 0)
                    prospects.append(company)
                elif rnd() < 0.1:
                    company = -1
                else:
                    company = prospects[int(rnd() * len(prospects))]
                dates = {"lead": lead}
                life = "lead"
                owner = 0 if rnd() < 0.5 else O_FRONT[int(rnd() * 4)]
                if mql_stage:
                    dates["marketingqualifiedlead"] = min(now, lead + int((1 + rnd() * 30) * DAY))
                    life = "marketingqualifiedlead"
                    owner = owner or O_FRONT[int(rnd() * 4)]
                    if company >= 0 and self.co.life[company] == LIFECYCLE_CODE["lead"]:
                        self.co.life[company] = LIFECYCLE_CODE["marketingqualifiedlead"]
                self._contact(company, life, owner, dates)
            for _ in range(subs.take()):
                self._contact(-1, "subscriber", 0, {"subscriber": t0 + int(rnd() * PERIOD)})
            for _ in range(others.take()):
                company = prospects[int(rnd() * len(prospects))] if prospects else -1
                self._contact(company, "other", 0, {"other": t0 + int(rnd() * PERIOD)})

    def _pad_deals(self, target: int) -> None:
        """Tops the deals up to exactly ``target`` with recent open ones (figures untouched)."""
        rnd = self.rng.random
        now = self.now
        while len(self.de.created) < target:
            if self.prospects:
                company = self.prospects[int(rnd() * len(self.prospects))]
            else:
                company = self._company(now - int((30 + rnd() * 60) * DAY), O_FRONT[0])
                self.prospects.append(company)
            created = now - int(rnd() * 45 * DAY)
            self._deal(company, upsell=False, owner=O_FRONT[int(rnd() * 4)], created=created,
                       cycle=now - created + int((5 + rnd() * 60) * DAY), won=True,
                       mrr=self._new_mrr(company))
            self.co.life[company] = LIFECYCLE_CODE["opportunity"]
            self.co.modified[company] = max(self.co.modified[company], self._jitter(created, 2))

    def _duplicates(self) -> None:
        """Duplicates someone created by mistake and deleted (archived) a few days later."""
        rnd = self.rng.random
        now = self.now
        for _ in range(round(len(self.de.created) * DUP_DEALS)):
            src = int(rnd() * len(self.de.created))
            created = min(now - 2 * DAY, self.de.created[src] + int(rnd() * 2 * DAY))
            pos, _ = self._deal(self.de.company[src], upsell=False, owner=self.de.owner[src],
                                created=created, cycle=400 * DAY, won=False, mrr=self.de.mrr[src])
            self.de.archived[pos] = min(now, created + int((1 + rnd() * 9) * DAY))
            self.de.modified[pos] = self.de.archived[pos]
        for _ in range(round(len(self.ct.created) * DUP_CONTACTS)):
            src = int(rnd() * len(self.ct.created))
            created = min(now - 2 * DAY, self.ct.created[src] + int(rnd() * 2 * DAY))
            pos = self._contact(self.ct.company[src], "lead", self.ct.owner[src], {"lead": created})
            self.ct.archived[pos] = min(now, created + int((1 + rnd() * 9) * DAY))
            self.ct.modified[pos] = self.ct.archived[pos]

    def _batch_update(self) -> tuple[int, dict[str, int]]:
        """A workflow touched many records at once: they share one modified time to the ms."""
        at = self.now - 20 * DAY
        at = at - at % DAY + 3 * 3_600_000
        rnd = self.rng.random
        counts = {}
        for name, modified, archived in (
            ("deals", self.de.modified, self.de.archived),
            ("companies", self.co.modified, None),
            ("contacts", self.ct.modified, self.ct.archived),
        ):
            share, n = BATCH_SHARE[name], 0
            for pos in range(len(modified)):
                if modified[pos] < at and rnd() < share and not (archived and archived[pos]):
                    modified[pos] = at
                    n += 1
            counts[name] = n
        return at, counts

    def _figures(self, active_at_window: int) -> Figures:
        active = [c for c in self.customers if self.co.churned[c] == 0]
        mrr = round(sum(self.co_mrr[c] for c in active), 2)
        churned = sum(1 for c in self.customers if self.window_start < self.co.churned[c])
        return Figures(
            mrr_chf=mrr,
            active_customers=len(active),
            arpu_chf=round(mrr / len(active), 2) if active else 0.0,
            monthly_churn=churned / active_at_window / WINDOW_PERIODS if active_at_window else 0.0,
            sql_to_customer=self.cohort_won / self.cohort_sql if self.cohort_sql else 0.0,
            win_rate=self.won_in_window / self.decided_in_window if self.decided_in_window else 0.0,
        )

    # ---------------------------------------------------------------- tables

