"""The sandbox dataset's record builders: the rates of the story, and one company, contact or
deal (with its stage history) appended to the columnar arrays at a time.

:class:`RecordBuilder` holds the arrays (:mod:`syncd.sandbox.hubspot_records`), the random
stream and the bookkeeping the figures are measured from; the story
(:mod:`syncd.sandbox.dataset_story`) decides who does what when, and
:mod:`syncd.sandbox.dataset` turns the result into tables and a summary.
"""

from __future__ import annotations

import random

from syncd.sandbox.hubspot_account import INDUSTRIES, JOB_TITLES, LIFECYCLE_CODE, zurich_midnight
from syncd.sandbox.hubspot_records import CompanyArrays, ContactArrays, DealArrays
from syncd.sandbox.hubspot_table import NULL_INT

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


class Quota:
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


class RecordBuilder:
    """The arrays of one generation, and the steps that append a record to them."""

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
        self.win_new = Quota(WIN_NEW, self.rng.random())
        self.win_upsell = Quota(WIN_UPSELL, self.rng.random())

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


    def _make_customer(self, company: int, since: int) -> None:
        self.co.customer[company] = since
        self.co.life[company] = LIFECYCLE_CODE["customer"]
        self.co.modified[company] = self._jitter(since, 3)
        self.customers.append(company)

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

