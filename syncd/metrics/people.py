"""The metrics built from companies and contacts: churn, retention, qualified leads and
their conversion.

- A lead is **qualified** when its contact's ``became_sql_at`` (``stage: mql``:
  ``became_mql_at``) falls in the window.
- A lead **converted** when its contact's ``became_customer_at``, or else its company's
  ``customer_since``, is on or before ``as_of`` (and, with ``within_days``, no later than
  that many days after qualification).
- Churn and retention count companies (logo): customers just before the window starts, and
  those whose ``churned_at`` falls in the window.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from rules import formulas
from syncd.metrics.sql import instant
from syncd.store import tables as t

if TYPE_CHECKING:
    from syncd.metrics.compute import Handler, Query, Result

_QUALIFIED = {"sql": "became_sql_at", "mql": "became_mql_at"}


def _churn_counts(q: Query) -> tuple[int, int]:
    """(customers just before the window, of all customers those lost in the window)."""
    span = q.window()
    c, b = t.company, q.blocks
    own = b.filters.company(c)
    base = q.scalar(
        sa.select(sa.func.count()).select_from(c).where(b.customer_before(c, span.start), *own)
    )
    lost = q.scalar(
        sa.select(sa.func.count()).select_from(c).where(
            c.c.customer_since.is_not(None),
            c.c.churned_at >= instant(span.start),
            c.c.churned_at < instant(span.end),
            c.c.customer_since <= c.c.churned_at,
            sa.or_(sa.not_(c.c.archived), c.c.archived_at > instant(q.as_of)),
            *own,
        )
    )
    return int(base), int(lost)


def churn_rate(q: Query) -> Result:
    base, lost = _churn_counts(q)
    rate = formulas.share(lost, base)
    detail: dict[str, Any] = {"customers_at_start": base, "churned": lost}
    if rate is None or q.params["per"] == "window":
        return rate, detail
    months = q.window().months
    return formulas.monthly_rate(min(rate, 1.0), months), {**detail, "window_rate": rate,
                                                          "months": months}


def retention_rate(q: Query) -> Result:
    span = q.window()
    c, b = t.company, q.blocks
    base, _ = _churn_counts(q)
    kept = q.scalar(
        sa.select(sa.func.count()).select_from(c).where(
            b.customer_before(c, span.start), b.customer_at(c, span.last), *b.filters.company(c)
        )
    )
    return formulas.share(kept, base), {"customers_at_start": base, "still_customers": int(kept)}


def _leads(q: Query, column: str) -> tuple[sa.Table, list[Any]]:
    span = q.window()
    ct = t.contact
    when = ct.c[column]
    conds = [when >= instant(span.start), when < instant(span.end),
             q.blocks.exists_at(ct, q.as_of), *q.blocks.filters.contact(ct)]
    return ct, conds


def qualified_leads(q: Query) -> Result:
    _, conds = _leads(q, _QUALIFIED[str(q.params["stage"])])
    return q.scalar(sa.select(sa.func.count()).where(*conds)), {}


def qualified_leads_per_rep(q: Query) -> Result:
    ct, conds = _leads(q, _QUALIFIED[str(q.params["stage"])])
    leads, owners = q.one(
        sa.select(sa.func.count(), sa.func.count(sa.distinct(ct.c.owner_id))).where(*conds)
    )
    reps = int(q.params["reps"] or owners)
    span = q.window()
    months = span.months if q.params["per"] == "month" else 1.0
    detail = {"leads": int(leads), "reps": reps, "months": months}
    return formulas.per_rep_per_month(float(leads), reps, months), detail


def _cohort(q: Query, start_col: str, converted: Any) -> Result:
    """Of the contacts whose ``start_col`` is in the window, those ``converted`` by as_of."""
    ct, conds = _leads(q, start_col)
    at = instant(q.as_of)
    ok = [converted.is_not(None), converted <= at]
    within = q.params.get("within_days")
    if within is not None:
        ok.append(q.blocks.days_between(ct.c[start_col], converted) <= float(within))
    joined = ct.outerjoin(t.company, t.company.c.id == ct.c.company_id)
    if q.params["mode"] == "period":
        return _period(q, start_col, converted)
    cohort, won = q.one(
        sa.select(sa.func.count(), sa.func.count(sa.case((sa.and_(*ok), 1))))
        .select_from(joined).where(*conds)
    )
    return formulas.share(int(won), int(cohort)), {"cohort": int(cohort),
                                                   "converted": int(won)}


def _period(q: Query, start_col: str, converted: Any) -> Result:
    _, conds = _leads(q, start_col)
    span = q.window()
    leads = q.scalar(sa.select(sa.func.count()).where(*conds))
    if start_col == "became_mql_at":  # mql_to_sql_rate: SQLs of the window / its MQLs
        _, sql_conds = _leads(q, "became_sql_at")
        done = q.scalar(sa.select(sa.func.count()).where(*sql_conds))
    else:  # lead_conversion_rate: new customers of the window / its qualified leads
        c = t.company
        done = q.scalar(
            sa.select(sa.func.count()).select_from(c).where(
                c.c.customer_since >= instant(span.start), c.c.customer_since < instant(span.end),
                q.blocks.exists_at(c, q.as_of), *q.blocks.filters.company(c),
            )
        )
    return formulas.share(done, leads), {"leads": int(leads), "converted": int(done)}


def lead_conversion_rate(q: Query) -> Result:
    ct = t.contact
    converted = sa.func.coalesce(ct.c.became_customer_at, t.company.c.customer_since)
    return _cohort(q, "became_sql_at", converted)


def mql_to_sql_rate(q: Query) -> Result:
    return _cohort(q, "became_mql_at", t.contact.c.became_sql_at)


HANDLERS: Mapping[str, Handler] = {
    "churn_rate": churn_rate,
    "retention_rate": retention_rate,
    "qualified_leads": qualified_leads,
    "qualified_leads_per_rep": qualified_leads_per_rep,
    "lead_conversion_rate": lead_conversion_rate,
    "mql_to_sql_rate": mql_to_sql_rate,
}
