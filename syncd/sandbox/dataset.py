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

The generation is split in three: :mod:`syncd.sandbox.dataset_records` holds the rates above and
appends one company, contact or deal at a time; :mod:`syncd.sandbox.dataset_story` plays the
story's steps with them; this module runs them in order, then the scenario, and assembles the
tables and the :class:`Summary`. It re-exports the rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syncd.sandbox.dataset_records import BATCH_SHARE as BATCH_SHARE
from syncd.sandbox.dataset_records import CHURN as CHURN
from syncd.sandbox.dataset_records import DAY as DAY
from syncd.sandbox.dataset_records import DEAL_SHARE as DEAL_SHARE
from syncd.sandbox.dataset_records import DUP_CONTACTS as DUP_CONTACTS
from syncd.sandbox.dataset_records import DUP_DEALS as DUP_DEALS
from syncd.sandbox.dataset_records import EUR_CHF as EUR_CHF
from syncd.sandbox.dataset_records import FUNNEL_PERIODS as FUNNEL_PERIODS
from syncd.sandbox.dataset_records import HORIZON_PERIODS as HORIZON_PERIODS
from syncd.sandbox.dataset_records import INITIAL_CUSTOMERS as INITIAL_CUSTOMERS
from syncd.sandbox.dataset_records import LEAD_ONLY_PER_PERIOD as LEAD_ONLY_PER_PERIOD
from syncd.sandbox.dataset_records import MQL_ONLY_PER_PERIOD as MQL_ONLY_PER_PERIOD
from syncd.sandbox.dataset_records import OTHER_PER_PERIOD as OTHER_PER_PERIOD
from syncd.sandbox.dataset_records import PERIOD as PERIOD
from syncd.sandbox.dataset_records import QUIET as QUIET
from syncd.sandbox.dataset_records import SQL_PER_PERIOD as SQL_PER_PERIOD
from syncd.sandbox.dataset_records import SUBSCRIBERS_PER_PERIOD as SUBSCRIBERS_PER_PERIOD
from syncd.sandbox.dataset_records import UPSELL_PER_PERIOD as UPSELL_PER_PERIOD
from syncd.sandbox.dataset_records import WIN_NEW as WIN_NEW
from syncd.sandbox.dataset_records import WIN_UPSELL as WIN_UPSELL
from syncd.sandbox.dataset_records import WINDOW_PERIODS as WINDOW_PERIODS
from syncd.sandbox.dataset_scenario import HOUR as HOUR
from syncd.sandbox.dataset_scenario import LOST_REASONS as LOST_REASONS
from syncd.sandbox.dataset_scenario import PROMO_DROP as PROMO_DROP
from syncd.sandbox.dataset_scenario import PROMO_MAX_DROP as PROMO_MAX_DROP
from syncd.sandbox.dataset_scenario import PROMO_PUSHED as PROMO_PUSHED
from syncd.sandbox.dataset_scenario import PROMO_WEEK as PROMO_WEEK
from syncd.sandbox.dataset_scenario import SCENARIOS as SCENARIOS
from syncd.sandbox.dataset_scenario import Event as Event
from syncd.sandbox.dataset_scenario import competitor_promo
from syncd.sandbox.dataset_story import Story
from syncd.sandbox.hubspot_account import owners_json, pipelines_json
from syncd.sandbox.hubspot_table import CatColumn, Table, from_ms, to_ms

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


# --------------------------------------------------------------------------- generator


class _Generator(Story):
    """Plays the story (:mod:`syncd.sandbox.dataset_story`), then the scenario, and measures."""

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

