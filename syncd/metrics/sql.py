"""The SQL building blocks of the metrics: what existed, was won, was open, was a customer
at an instant, rebuilt from dates and stage history. SQLAlchemy Core, both dialects.

Point-in-time rules (``at`` is an aware instant):

- a record **exists** at ``at`` when it was created by then and is not archived (or was
  archived after ``at``); tombstones (archived, without a creation date) never exist;
- a deal is **won** at ``at`` when its current stage is a won stage and its close date is on
  or before ``at`` (lost likewise with a closed, not won stage);
- a deal's **stage** at ``at`` is the stage of its history entered last on or before ``at``;
  a deal without such an entry falls back to its current stage, open at ``at`` when that
  stage is open or the deal closed after ``at``;
- a company is a **customer** at ``at`` when ``customer_since <= at`` and it has not churned
  (``churned_at`` NULL or later than ``at``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from syncd.metrics.filters import CompanyTest, Filters, Rec, Select
from syncd.store import tables as t
from syncd.store.types import UTCDateTime


def instant(value: datetime) -> Any:
    """A bound UTC instant, typed so SQLite compares it as the store's text."""
    return sa.literal(value, UTCDateTime)


class Blocks:
    """The queries' shared parts, for one currency table and one dialect."""

    def __init__(self, fx: Mapping[str, float], dialect: str, filters: Filters) -> None:
        self.fx = dict(fx)
        self.dialect = dialect
        self.filters = filters

    # ------------------------------------------------------------------ scalars

    def money(self, column: Any, currency: Any = None) -> Any:
        """``column`` in the reporting currency (``fx``: currency -> rate), NULL as 0."""
        amount = sa.func.coalesce(column, 0.0)
        if not self.fx:
            return amount
        cur = t.deal.c.currency if currency is None else currency
        rate = sa.case(
            *((cur == code, rate) for code, rate in self.fx.items()), else_=sa.literal(1.0)
        )
        return amount * rate

    def days_between(self, start: Any, end: Any) -> Any:
        """``end - start`` in days (fractional)."""
        if self.dialect == "sqlite":
            return sa.func.julianday(end) - sa.func.julianday(start)
        return sa.extract("epoch", end - start) / 86400.0

    # ------------------------------------------------------------------ records

    @staticmethod
    def exists_at(table: Rec, at: datetime) -> Any:
        """Created by ``at`` and not archived then. A live row without a creation date
        always exists; an archived one without it (a tombstone) never does."""
        when = instant(at)
        return sa.or_(
            sa.and_(sa.not_(table.c.archived),
                    sa.or_(table.c.created_at.is_(None), table.c.created_at <= when)),
            sa.and_(table.c.archived, table.c.created_at <= when, table.c.archived_at > when),
        )

    @staticmethod
    def _stage_flag(d: Rec, *conds: Any) -> Any:
        s = t.stage
        return sa.exists(
            sa.select(sa.literal(1)).where(
                s.c.pipeline_id == d.c.pipeline_id, s.c.id == d.c.stage_id, *conds
            )
        )

    def won_by(self, d: Rec, at: datetime) -> Any:
        """Deal ``d`` won on or before ``at``."""
        return sa.and_(d.c.close_date <= instant(at), self._stage_flag(d, t.stage.c.is_won))

    def lost_by(self, d: Rec, at: datetime) -> Any:
        return sa.and_(
            d.c.close_date <= instant(at),
            self._stage_flag(d, t.stage.c.is_closed, sa.not_(t.stage.c.is_won)),
        )

    def deals(self, d: Rec, at: datetime) -> list[Any]:
        """Deal ``d`` existed at ``at`` and matches the filters."""
        return [self.exists_at(d, at), *self.filters.deal(d, self.money)]

    @staticmethod
    def customer_at(c: Rec, at: datetime) -> Any:
        when = instant(at)
        return sa.and_(
            c.c.customer_since <= when,
            sa.or_(c.c.churned_at.is_(None), c.c.churned_at > when),
            sa.or_(sa.not_(c.c.archived), c.c.archived_at > when),
        )

    @staticmethod
    def customer_before(c: Rec, at: datetime) -> Any:
        """A customer just before ``at`` (one churned exactly at ``at`` still counts)."""
        when = instant(at)
        return sa.and_(
            c.c.customer_since < when,
            sa.or_(c.c.churned_at.is_(None), c.c.churned_at >= when),
            sa.or_(sa.not_(c.c.archived), c.c.archived_at >= when),
        )

    # ------------------------------------------------------------------ point in time

    def mrr(self, at: datetime, *company_conds: CompanyTest) -> Select:
        """Sum of the won deals' MRR at ``at`` whose company is a customer then (and meets
        ``company_conds``)."""
        d = t.deal
        company = Filters.deal_company_exists(
            d, lambda c: self.customer_at(c, at), *company_conds
        )
        return sa.select(
            sa.func.coalesce(sa.func.sum(self.money(d.c.mrr)), 0.0), sa.func.count()
        ).where(*self.deals(d, at), self.won_by(d, at), company)

    def customers(self, at: datetime, *, before: bool = False) -> Select:
        """Companies that are customers at ``at`` (filters: segment, company fields, owner;
        with deal-level filters, only those with a matching deal won by then)."""
        c = t.company
        active = self.customer_before(c, at) if before else self.customer_at(c, at)
        conds = [active, *self.filters.company(c, with_owner=not self.filters.on_deals)]
        if self.filters.on_deals:
            d = t.deal.alias("won_deal")
            dc = t.deal_company.alias("won_link")
            conds.append(
                sa.exists(
                    sa.select(sa.literal(1))
                    .select_from(d.join(dc, dc.c.deal_id == d.c.id))
                    .where(dc.c.company_id == c.c.id, *self.deals(d, at), self.won_by(d, at))
                )
            )
        return sa.select(sa.func.count()).select_from(c).where(*conds)

    def open_pipeline(self, at: datetime, min_probability: float = 0.0) -> Select:
        """(sum of amounts, sum of amount x probability, deals) of the deals open at ``at``."""
        d, h, s = t.deal, t.deal_stage_history.alias("visit"), t.stage
        when = instant(at)
        stage_then = (
            sa.select(h.c.stage_id)
            .where(h.c.deal_id == d.c.id, h.c.entered_at <= when)
            .order_by(h.c.entered_at.desc())
            .limit(1)
            .scalar_subquery()
        )
        rows = (
            sa.select(
                d.c.pipeline_id,
                self.money(d.c.amount, d.c.currency).label("amount"),
                stage_then.label("stage_then"),
                d.c.stage_id,
                d.c.close_date,
            )
            .where(*self.deals(d, at))
            .subquery("deal_then")
        )
        effective = sa.func.coalesce(rows.c.stage_then, rows.c.stage_id)
        joined = rows.outerjoin(s, sa.and_(s.c.pipeline_id == rows.c.pipeline_id,
                                           s.c.id == effective))
        closed = sa.func.coalesce(s.c.is_closed, sa.false())
        is_open = sa.or_(
            sa.not_(closed),
            sa.and_(rows.c.stage_then.is_(None), sa.or_(rows.c.close_date.is_(None),
                                                        rows.c.close_date > when)),
        )
        probability = sa.case((closed, 0.0), else_=sa.func.coalesce(s.c.probability, 0.0))
        conds = [is_open]
        if min_probability > 0:
            conds.append(probability >= min_probability)
        return (
            sa.select(
                sa.func.coalesce(sa.func.sum(rows.c.amount), 0.0),
                sa.func.coalesce(sa.func.sum(rows.c.amount * probability), 0.0),
                sa.func.count(),
            )
            .select_from(joined)
            .where(*conds)
        )

    # ------------------------------------------------------------------ over a window

    def closed_in(self, start: datetime, end: datetime, at: datetime) -> Any:
        d = t.deal
        return sa.and_(d.c.close_date >= instant(start), d.c.close_date < instant(end),
                       *self.deals(d, at))

    def revenue(self, start: datetime, end: datetime, at: datetime) -> Select:
        """(sum of amounts, count) of the deals won in ``[start, end)`` as of ``at``."""
        d = t.deal
        return sa.select(
            sa.func.coalesce(sa.func.sum(self.money(d.c.amount)), 0.0), sa.func.count()
        ).where(self.closed_in(start, end, at), self.won_by(d, at))
