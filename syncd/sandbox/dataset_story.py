"""The sandbox dataset's story: the steps that play out who does what when (initial customers,
the SQL funnel, churn, upsells, the leads that go nowhere, then padding, deleted duplicates and
a batch update), each built on :class:`~syncd.sandbox.dataset_records.RecordBuilder`.

The steps draw from one random stream, so their order (:mod:`syncd.sandbox.dataset` calls them)
is part of the output.
"""

from __future__ import annotations

from syncd.sandbox.dataset_records import (
    BATCH_SHARE,
    CHURN,
    DAY,
    DEAL_SHARE,
    DUP_CONTACTS,
    DUP_DEALS,
    FUNNEL_PERIODS,
    HORIZON_PERIODS,
    INITIAL_CUSTOMERS,
    LEAD_ONLY_PER_PERIOD,
    MQL_ONLY_PER_PERIOD,
    OTHER_PER_PERIOD,
    PERIOD,
    SQL_PER_PERIOD,
    SUBSCRIBERS_PER_PERIOD,
    UPSELL_PER_PERIOD,
    WINDOW_PERIODS,
    Quota,
    RecordBuilder,
)
from syncd.sandbox.hubspot_account import (
    LIFECYCLE_CODE,
    O_CS,
    O_FORMER,
    O_FRONT,
    O_MANAGER,
    O_UPSELL,
)


class Story(RecordBuilder):
    """The story's steps, in the order :mod:`syncd.sandbox.dataset` plays them."""

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

    def _sql_funnel(self) -> None:
        """SQL contacts, each at a new company; 2/3 get a deal, 27 % of deals are won."""
        rnd = self.rng.random
        sqls, deal_share = Quota(SQL_PER_PERIOD * self.scale), Quota(DEAL_SHARE, rnd())
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
        quota = Quota(CHURN, rnd())
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
        quota = Quota(UPSELL_PER_PERIOD * self.scale)
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
        mqls, leads = Quota(MQL_ONLY_PER_PERIOD * f), Quota(LEAD_ONLY_PER_PERIOD * f)
        subs, others = Quota(SUBSCRIBERS_PER_PERIOD * f), Quota(OTHER_PER_PERIOD * f)
        new_company = Quota(0.25, 0.9)
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
