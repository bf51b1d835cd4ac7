"""The metrics built from deals (and their companies): MRR, ARPU, revenue, win rate,
pipeline, new customers, sales cycle, quota, retention of revenue.

Each handler takes a :class:`~syncd.metrics.compute.Query` and returns (value, detail); the
value's last step is a :mod:`rules.formulas` function.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from rules import formulas
from syncd.metrics.filters import CompanyTest, Filters, Rec
from syncd.metrics.sql import Blocks, instant
from syncd.metrics.value import TICK, Span
from syncd.store import tables as t

if TYPE_CHECKING:
    from syncd.metrics.compute import Handler, Query, Result


def _before(span: Span) -> datetime:
    """The instant just before the window: "at its start"."""
    return span.start - TICK


def _mrr_at(q: Query, at: datetime, *company_conds: CompanyTest) -> tuple[float, int]:
    total, deals = q.one(q.blocks.mrr(at, *company_conds))
    return float(total or 0), int(deals)


def mrr(q: Query) -> Result:
    total, deals = _mrr_at(q, q.as_of)
    return total, {"won_deals": deals}


def arpu(q: Query) -> Result:
    total, deals = _mrr_at(q, q.as_of)
    customers = int(q.scalar(q.blocks.customers(q.as_of)))
    return formulas.share(total, customers), {"mrr": total, "customers": customers,
                                              "won_deals": deals}


def mrr_growth(q: Query) -> Result:
    span = q.window()
    start, _ = _mrr_at(q, _before(span))
    end, _ = _mrr_at(q, span.last)
    return formulas.growth(end, start), {"mrr_start": start, "mrr_end": end}


def _revenue(q: Query, span: Span, blocks: Blocks | None = None) -> tuple[float, int]:
    total, deals = q.one((blocks or q.blocks).revenue(span.start, span.end, q.as_of))
    return float(total or 0), int(deals)


def revenue(q: Query) -> Result:
    total, deals = _revenue(q, q.window())
    return total, {"won_deals": deals}


def _year_before(at: datetime) -> datetime:
    try:
        return at.replace(year=at.year - 1)
    except ValueError:  # 29 February
        return at.replace(year=at.year - 1, day=28)


def revenue_yoy_growth(q: Query) -> Result:
    span = q.window()
    now, _ = _revenue(q, span)
    last = Span.of(span.period.shifted_years(-1), _year_before(span.last), q.zone)
    before, _ = _revenue(q, last)
    return formulas.growth(now, before), {"revenue": now, "revenue_last_year": before}


def average_deal_value(q: Query) -> Result:
    total, deals = _revenue(q, q.window())
    return formulas.share(total, deals), {"revenue": total, "won_deals": deals}


def quota_attainment(q: Query) -> Result:
    total, deals = _revenue(q, q.window())
    quota = float(q.params["quota"])
    return formulas.share(total, quota), {"revenue": total, "won_deals": deals, "quota": quota}


def segment_revenue_share(q: Query) -> Result:
    span = q.window()
    field, segment = str(q.params["field"]), q.params["segment"]
    where = {k: v for k, v in q.blocks.filters.where.items() if k != field}
    whole_blocks = Blocks(q.blocks.fx, q.blocks.dialect, Filters(where))
    part_blocks = Blocks(q.blocks.fx, q.blocks.dialect, Filters({**where, field: segment}))
    whole, _ = _revenue(q, span, whole_blocks)
    part, _ = _revenue(q, span, part_blocks)
    return formulas.share(part, whole), {"segment_revenue": part, "revenue": whole}


def win_rate(q: Query) -> Result:
    span = q.window()
    d, b = t.deal, q.blocks
    won = b.won_by(d, q.as_of)
    lost = b.lost_by(d, q.as_of)
    amount = b.money(d.c.amount)
    row = q.one(
        sa.select(
            sa.func.count(sa.case((won, 1))),
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(sa.case((won, amount), else_=0.0)), 0.0),
            sa.func.coalesce(sa.func.sum(amount), 0.0),
        ).where(b.closed_in(span.start, span.end, q.as_of), sa.or_(won, lost))
    )
    n_won, n_closed, a_won, a_closed = int(row[0]), int(row[1]), float(row[2]), float(row[3])
    detail = {"won": n_won, "closed": n_closed, "won_amount": a_won, "closed_amount": a_closed}
    if q.params["basis"] == "amount":
        return formulas.share(a_won, a_closed), detail
    return formulas.share(n_won, n_closed), detail


def new_customers(q: Query) -> Result:
    span = q.window()
    d, dc, b = t.deal, t.deal_company, q.blocks
    first = (
        sa.select(dc.c.company_id, sa.func.min(d.c.close_date).label("first_won"))
        .select_from(d.join(dc, dc.c.deal_id == d.c.id))
        .where(*b.deals(d, q.as_of), b.won_by(d, q.as_of))
        .group_by(dc.c.company_id)
        .subquery("first_win")
    )
    count = q.scalar(
        sa.select(sa.func.count()).where(
            first.c.first_won >= span.start, first.c.first_won < span.end
        )
    )
    return count, {}


def _pipeline(q: Query, min_probability: float) -> tuple[float, float, int]:
    closed = [(str(p), str(s)) for p, s in q.all(q.blocks.closed_stages())]
    total, weighted, deals = q.one(q.blocks.open_pipeline(q.as_of, closed, min_probability))
    return float(total or 0), float(weighted or 0), int(deals)


def pipeline_value(q: Query) -> Result:
    total, weighted, deals = _pipeline(q, float(q.params["min_probability"]))
    return total, {"open_deals": deals, "weighted": weighted}


def weighted_pipeline_value(q: Query) -> Result:
    total, weighted, deals = _pipeline(q, 0.0)
    return weighted, {"open_deals": deals, "unweighted": total}


def pipeline_coverage(q: Query) -> Result:
    total, _, deals = _pipeline(q, float(q.params["min_probability"]))
    won, _ = _revenue(q, q.window())
    quota = float(q.params["quota"])
    return formulas.coverage(total, quota, won), {
        "open_pipeline": total, "open_deals": deals, "won": won, "quota": quota,
        "remaining": quota - won,
    }


def sales_cycle_days(q: Query) -> Result:
    span = q.window()
    d, b = t.deal, q.blocks
    days = b.days_between(d.c.created_at, d.c.close_date)
    conds = [b.closed_in(span.start, span.end, q.as_of), b.won_by(d, q.as_of),
             d.c.created_at.is_not(None)]
    mean, n = q.one(sa.select(sa.func.avg(days), sa.func.count()).where(*conds))
    detail: dict[str, Any] = {"won_deals": int(n)}
    if not n:
        return None, detail
    if q.params["statistic"] == "mean":
        return float(mean), detail
    middle = q.conn.execute(
        sa.select(days.label("days")).where(*conds).order_by(days)
        .offset((int(n) - 1) // 2).limit(2 - int(n) % 2)
    ).scalars().all()
    return sum(float(v) for v in middle) / len(middle), detail


def net_revenue_retention(q: Query) -> Result:
    span = q.window()
    before = _before(span)
    start, _ = _mrr_at(q, before)
    end, _ = _mrr_at(q, span.last, lambda c: q.blocks.customer_at(c, before))
    return formulas.share(end, start), {"mrr_start": start, "mrr_end_of_start_customers": end}


def revenue_churn_rate(q: Query) -> Result:
    span = q.window()
    before = _before(span)

    def gone(c: Rec) -> Any:
        return sa.and_(c.c.churned_at.is_not(None), c.c.churned_at < instant(span.end))

    start, _ = _mrr_at(q, before)
    lost, _ = _mrr_at(q, before, gone)
    detail: dict[str, Any] = {
        "mrr_start": start, "mrr_churned": lost,
        "contraction": "not measured: the store keeps no MRR history per deal",
    }
    rate = formulas.share(lost, start)
    if rate is None or q.params["per"] == "window":
        return rate, detail
    return formulas.monthly_rate(min(rate, 1.0), span.months), {**detail, "window_rate": rate}


HANDLERS: Mapping[str, Handler] = {
    "mrr": mrr,
    "arpu": arpu,
    "mrr_growth": mrr_growth,
    "revenue": revenue,
    "revenue_yoy_growth": revenue_yoy_growth,
    "average_deal_value": average_deal_value,
    "quota_attainment": quota_attainment,
    "segment_revenue_share": segment_revenue_share,
    "win_rate": win_rate,
    "new_customers": new_customers,
    "pipeline_value": pipeline_value,
    "weighted_pipeline_value": weighted_pipeline_value,
    "pipeline_coverage": pipeline_coverage,
    "sales_cycle_days": sales_cycle_days,
    "net_revenue_retention": net_revenue_retention,
    "revenue_churn_rate": revenue_churn_rate,
}
