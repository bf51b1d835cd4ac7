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

How the queries stay fast on large stores (a million deals) without changing those rules:

- a deal's stage at an instant on or after its ``last_visit_at`` (the history entry entered
  last, kept on the deal) is ``last_visit_stage_id``, between ``prev_visit_at`` and it
  ``prev_visit_stage_id``: only the deals with two stage changes after the instant read
  their history. The open pipeline reads, through the covering index
  ``ix_deal_last_visit``, only the deals whose last visit is not a closed stage (ranges
  between the closed stages, in the database's order), those changed after the instant and
  those without history; the same rules then decide which are open;
- won deals are found from the won stages through the covering index
  ``ix_deal_current_stage`` (then by close date: a window's revenue is one range) rather
  than by testing every deal's stage;
- "one of the deal's companies is a customer" is ``sole_company_id IN (the customers)``,
  the customers read once per query, for a deal with one company (``deal_company`` is
  read only for deals with several);
- on SQLite, company tests on ``customer_since`` / ``churned_at`` read the table in one scan:
  most companies with a ``customer_since`` match, and looking each up through those indexes
  costs ten times more (``no_index``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import pairwise
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import operators
from sqlalchemy.sql.expression import UnaryExpression

from syncd.metrics.filters import CompanyTest, Filters, Rec, Select
from syncd.store import tables as t
from syncd.store.types import UTCDateTime


def instant(value: datetime) -> Any:
    """A bound UTC instant, typed so SQLite compares it as the store's text."""
    return sa.literal(value, UTCDateTime)


#: A stage, as (pipeline id, stage id).
StageKey = tuple[str, str]


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

    def no_index(self, column: Any) -> Any:
        """``column`` as SQLite's planner cannot look up through an index (``+column``):
        for tests that most rows pass, where scanning the table is far cheaper."""
        if self.dialect != "sqlite":
            return column
        return UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)

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

    def customer_at(self, c: Rec, at: datetime) -> Any:
        when = instant(at)
        since, churned = self.no_index(c.c.customer_since), self.no_index(c.c.churned_at)
        return sa.and_(
            since <= when,
            sa.or_(churned.is_(None), churned > when),
            sa.or_(sa.not_(c.c.archived), c.c.archived_at > when),
        )

    def customer_before(self, c: Rec, at: datetime) -> Any:
        """A customer just before ``at`` (one churned exactly at ``at`` still counts)."""
        when = instant(at)
        since, churned = self.no_index(c.c.customer_since), self.no_index(c.c.churned_at)
        return sa.and_(
            since < when,
            sa.or_(churned.is_(None), churned >= when),
            sa.or_(sa.not_(c.c.archived), c.c.archived_at >= when),
        )

    def won_deals(self) -> tuple[Any, Any]:
        """(deal joined to its stage when that stage is won, the join's condition): the won
        deals found from the won stages (``ix_deal_current_stage``), not deal by deal."""
        d, s = t.deal, t.stage
        joined = s.join(d, sa.and_(d.c.pipeline_id == s.c.pipeline_id, d.c.stage_id == s.c.id))
        return joined, s.c.is_won

    @staticmethod
    def _built(c: Rec, conds: Sequence[CompanyTest]) -> list[Any]:
        built: list[Any] = []
        for cond in conds:
            made = cond(c)
            built.extend(made if isinstance(made, list) else [made])
        return built

    def company_of(self, d: Rec, *conds: CompanyTest) -> Any:
        """One of deal ``d``'s companies meets every one of ``conds`` (each built on an
        alias of ``company``).

        A deal linked to one company (``company_count``) is tested on ``sole_company_id``
        ``IN`` the companies that pass, read once per query (SQLite materialises them,
        PostgreSQL hashes them); a deal linked to several through ``deal_company``, deal
        by deal (the test on ``company_count`` inside keeps PostgreSQL from hashing every
        link of every deal instead)."""
        c = t.company.alias()
        chosen = sa.select(c.c.id).where(*self._built(c, conds))
        dc, other = t.deal_company.alias(), t.company.alias()
        shared = sa.exists(
            sa.select(sa.literal(1))
            .select_from(dc.join(other, other.c.id == dc.c.company_id))
            .where(dc.c.deal_id == d.c.id, d.c.company_count > 1, *self._built(other, conds))
        )
        return sa.or_(
            sa.and_(d.c.company_count == 1, self.no_index(d.c.sole_company_id).in_(chosen)),
            sa.and_(d.c.company_count > 1, shared),
        )

    # ------------------------------------------------------------------ point in time

    def mrr(self, at: datetime, *company_conds: CompanyTest) -> Select:
        """Sum of the won deals' MRR at ``at`` whose company is a customer then (and meets
        ``company_conds``)."""
        d = t.deal
        won, is_won = self.won_deals()
        company = self.company_of(d, lambda c: self.customer_at(c, at), *company_conds)
        return (
            sa.select(sa.func.coalesce(sa.func.sum(self.money(d.c.mrr)), 0.0), sa.func.count())
            .select_from(won)
            .where(is_won, d.c.close_date <= instant(at), *self.deals(d, at), company)
        )

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

    @staticmethod
    def closed_stages() -> Select:
        """The closed stages as (pipeline id, stage id), in the database's order (that of
        its indexes): what :meth:`open_pipeline` needs."""
        s = t.stage
        return sa.select(s.c.pipeline_id, s.c.id).where(s.c.is_closed).order_by(
            s.c.pipeline_id, s.c.id
        )

    @staticmethod
    def _between_closed(d: Rec, closed: Sequence[StageKey]) -> list[Any]:
        """Conditions, each an index range of ``ix_deal_last_visit``, that together take
        every deal whose (pipeline, last visited stage) is not one of ``closed`` (sorted as
        the database sorts) and whose pipeline is set."""
        p, v = d.c.pipeline_id, d.c.last_visit_stage_id
        bounds: list[StageKey | None] = [None, *closed, None]
        ranges: list[Any] = []
        for low, high in pairwise(bounds):
            if low is None and high is None:
                ranges.append(p.is_not(None))
            elif low is None:
                assert high is not None
                ranges += [p < high[0], sa.and_(p == high[0], v < high[1])]
            elif high is None:
                ranges += [sa.and_(p == low[0], v > low[1]), p > low[0]]
            elif low[0] == high[0]:
                ranges.append(sa.and_(p == low[0], v > low[1], v < high[1]))
            else:
                ranges += [sa.and_(p == low[0], v > low[1]), sa.and_(p > low[0], p < high[0]),
                           sa.and_(p == high[0], v < high[1])]
        return ranges

    def open_pipeline(
        self, at: datetime, closed: Sequence[StageKey], min_probability: float = 0.0
    ) -> Select:
        """(sum of amounts, sum of amount x probability, deals) of the deals open at ``at``.

        ``closed``: the rows of :meth:`closed_stages`. The deals that can be open at ``at``
        are read in disjoint parts: those whose last visit, on or before ``at``, is not a
        closed stage (that visit is their stage then), those with a visit after ``at`` (their
        previous visit, or the history if that one is after ``at`` too), those without
        history (their current stage).
        """
        d, h, s = t.deal, t.deal_stage_history.alias("visit"), t.stage
        when = instant(at)
        amount = self.money(d.c.amount, d.c.currency).label("amount")
        no_stage = sa.cast(sa.null(), d.c.stage_id.type)
        no_date = sa.cast(sa.null(), d.c.close_date.type)
        settled = d.c.last_visit_at <= when
        parts = [
            sa.select(d.c.pipeline_id, amount, d.c.last_visit_stage_id.label("stage_then"),
                      no_stage.label("stage_id"), no_date.label("close_date"))
            .where(cond, settled, *self.deals(d, at))
            for cond in [*self._between_closed(d, closed), d.c.pipeline_id.is_(None)]
        ]
        looked_up = (
            sa.select(h.c.stage_id)
            .where(h.c.deal_id == d.c.id, h.c.entered_at <= when)
            .order_by(h.c.entered_at.desc(), h.c.stage_id.desc())
            .limit(1)
            .scalar_subquery()
        )
        # changed after ``at``: the previous visit if entered by then (or none: no visit
        # by then), else from the history
        stage_then = sa.case(
            (sa.or_(d.c.prev_visit_at.is_(None), d.c.prev_visit_at <= when),
             d.c.prev_visit_stage_id),
            else_=looked_up,
        )
        parts.append(
            sa.select(d.c.pipeline_id, amount, stage_then.label("stage_then"), d.c.stage_id,
                      d.c.close_date)
            .where(d.c.last_visit_at > when, *self.deals(d, at))
        )
        parts.append(
            sa.select(d.c.pipeline_id, amount, no_stage.label("stage_then"), d.c.stage_id,
                      d.c.close_date)
            .where(d.c.last_visit_at.is_(None), *self.deals(d, at))
        )
        rows = sa.union_all(*parts).subquery("deal_then")
        effective = sa.func.coalesce(rows.c.stage_then, rows.c.stage_id)
        joined = rows.outerjoin(s, sa.and_(s.c.pipeline_id == rows.c.pipeline_id,
                                           s.c.id == effective))
        closed_then = sa.func.coalesce(s.c.is_closed, sa.false())
        is_open = sa.or_(
            sa.not_(closed_then),
            sa.and_(rows.c.stage_then.is_(None), sa.or_(rows.c.close_date.is_(None),
                                                        rows.c.close_date > when)),
        )
        probability = sa.case((closed_then, 0.0), else_=sa.func.coalesce(s.c.probability, 0.0))
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
        won, is_won = self.won_deals()
        return (
            sa.select(sa.func.coalesce(sa.func.sum(self.money(d.c.amount)), 0.0),
                      sa.func.count())
            .select_from(won)
            .where(is_won, d.c.close_date <= instant(at), self.closed_in(start, end, at))
        )
