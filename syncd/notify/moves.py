"""The digest's and the monthly report's data, from SQL: the pipeline waterfall of a week, the
stalled deals, a KR split by owner or segment, and the daily pipeline snapshots they need.

::

    take_pipeline_snapshot(engine, day, now)            # once per local day (the daemon)
    pipeline_waterfall(engine, start, end, fields=..., fx=..., currency="CHF", zone=zone,
                       period_end=quarter.end, crm_link=link)
    stalled_deals(engine, now, fields=..., fx=...)
    breakdown(engine, kr_goal, "owner", at, fields=..., fx=..., zone=zone)

Modules: :mod:`~syncd.notify.moves_waterfall` (the waterfall and its definitions),
:mod:`~syncd.notify.moves_snapshot` (taking, finding and pruning snapshots; what is kept),
:mod:`~syncd.notify.moves_sql` (a deal's stage and openness at an instant, the rules of
``pipeline_value``), this one (stalled deals, breakdowns). Everything returns the typed records
of :mod:`syncd.notify.model`; amounts are in the reporting currency (``fx``).

Errors: ``where:`` keys ``pipeline_value`` does not accept raise
:class:`~syncd.metrics.value.InvalidFilters` (a ``RulesError``); naive datetimes raise
``RulesError``; the database's errors are SQLAlchemy's.

**Stalled deals** are the deals open at ``now`` (the ``pipeline_value`` rule) whose current
stage was entered more than ``min_days`` days before ``now`` (the stage visit current then,
from the history; a deal without stage history counts from its creation), or whose close date
is before ``now``'s local day (**overdue**, whatever their time in stage): biggest amount
first, then the longest in stage.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

import sqlalchemy as sa

from rules import periods as rp
from syncd.goals import KrGoal
from syncd.metrics import Request, compute_many
from syncd.metrics.filters import _owner_ids
from syncd.metrics.sql import Blocks, instant
from syncd.notify import moves_sql as ms
from syncd.notify.model import Breakdown, StalledDeal
from syncd.notify.moves_snapshot import (
    KEEP_DAYS,
    KEEP_WEEKS,
    days_to_keep,
    has_snapshot,
    prune_pipeline_snapshots,
    snapshot_days,
    take_pipeline_snapshot,
)
from syncd.notify.moves_waterfall import CrmLink, check_where, pipeline_waterfall
from syncd.store import tables as t

#: A stage entered longer ago than this many days is stalled.
STALLED_DAYS = 21
_DAY = timedelta(days=1)
#: ``by`` of :func:`breakdown` -> the ``where:`` key it splits on.
DIMENSIONS = {"owner": "owner", "segment": "company_segment"}


def stalled_deals(
    engine: sa.Engine,
    now: datetime,
    *,
    fields: Collection[str] | None,
    fx: Mapping[str, float],
    min_days: int = STALLED_DAYS,
    limit: int = 10,
    where: Mapping[str, Any] | None = None,
    zone: tzinfo | None = None,
    crm_link: CrmLink | None = None,
) -> tuple[StalledDeal, ...]:
    """The open deals stuck in their stage or overdue at ``now`` (see the module docstring),
    at most ``limit``. ``zone`` (default ``now``'s) decides which day is today."""
    rp.local_day(now)  # refuses a naive datetime
    local = zone or now.tzinfo or UTC
    filters = check_where(where, fields)
    today_starts = datetime.combine(now.astimezone(local).date(), time(), tzinfo=local)
    with engine.connect() as conn:
        ms.fast_reads(conn)
        blocks = Blocks(fx, conn.dialect.name, filters)
        c = ms.candidates(blocks, ms.closed_stages(conn), now)
        then = sa.select(
            c, ms.stage_then(c, now).label("stage_now"),
            ms.visit_then(c, now, "entered_at").label("entered"),
        ).subquery("deal_now")
        s = t.stage.alias("stage_now")
        entered = sa.func.coalesce(then.c.entered, then.c.created_at)
        overdue = sa.and_(then.c.close_date.is_not(None),
                          then.c.close_date < instant(today_starts))
        amount = blocks.money(then.c.amount, then.c.currency)
        found = (
            sa.select(
                then.c.id, then.c.owner_id, then.c.pipeline_id, then.c.close_date,
                sa.func.coalesce(then.c.stage_now, then.c.stage_id).label("stage_id"),
                then.c.entered, entered.label("since"), amount.label("money"),
                sa.case((overdue, sa.true()), else_=sa.false()).label("overdue"),
            )
            .select_from(then.outerjoin(s, ms.stage_join(then, then.c.stage_now, s)))
            .where(ms.open_then(then, now, then.c.stage_now, s),
                   sa.or_(entered < instant(now - min_days * _DAY), overdue))
            .order_by(amount.desc(), entered, then.c.id)
            .limit(limit)
            .subquery("stalled")
        )
        d, o, st = t.deal, t.owner, t.stage
        rows = conn.execute(
            sa.select(found, d.c.name, o.c.email, o.c.first_name, o.c.last_name, st.c.label)
            .select_from(
                found.join(d, d.c.id == found.c.id)
                .outerjoin(o, o.c.id == found.c.owner_id)
                .outerjoin(st, sa.and_(st.c.pipeline_id == found.c.pipeline_id,
                                       st.c.id == found.c.stage_id)))
            .order_by(found.c.money.desc(), found.c.since, found.c.id)
        ).all()
    return tuple(_stalled(row, now, local, crm_link) for row in rows)


def _stalled(row: Any, now: datetime, zone: tzinfo, crm_link: CrmLink | None) -> StalledDeal:
    person = " ".join(p for p in (row.first_name, row.last_name) if p) or None
    days = 0 if row.since is None else max(0, int((now - row.since) / _DAY))
    return StalledDeal(
        deal_id=row.id,
        name=row.name or row.id,
        stage=row.label,
        days_in_stage=days,
        amount=float(row.money),
        owner=row.email or person,
        close_date=None if row.close_date is None else row.close_date.astimezone(zone).date(),
        url=crm_link(row.id) if crm_link is not None else None,
        overdue=bool(row.overdue),
        stage_entered_at=row.entered,
    )


# --------------------------------------------------------------------------- breakdowns


def groups(engine: sa.Engine, dim: str, only: object = None) -> list[tuple[str, str]]:
    """The groups a metric can be split into on ``where:`` key ``dim`` (``owner``: the live
    owners, ``company_segment``: the companies' segments), as (label, filter value); ``only``:
    a ``where:`` value already set on ``dim``, which keeps its groups alone."""
    with engine.connect() as conn:
        if dim == "owner":
            o = t.owner
            query = sa.select(o.c.id, o.c.email).where(sa.not_(o.c.archived))
            if only is not None:
                query = query.where(o.c.id.in_(_owner_ids(only)))
            return sorted((email or oid, oid) for oid, email in conn.execute(query))
        if dim == "company_segment":
            seg = t.company.c.segment
            query = sa.select(seg).distinct().where(seg.is_not(None))
            if only is not None:
                values = only if isinstance(only, list | tuple | set) else [only]
                query = query.where(seg.in_([str(v) for v in values]))
            return [(str(v), str(v)) for v in sorted(conn.execute(query).scalars())]
    raise ValueError(f"cannot split by {dim!r}: use one of {', '.join(DIMENSIONS)}")


def breakdown(
    engine: sa.Engine,
    goal: KrGoal,
    by: str,
    at: datetime,
    *,
    fields: Collection[str] | None,
    fx: Mapping[str, float],
    zone: tzinfo,
) -> Breakdown:
    """The KR's metric as of ``at`` per owner or per segment (``by``), with the whole as
    ``total``, in one :func:`~syncd.metrics.compute_many` batch: the KR's own filters, window
    and params plus the group's. Rows: largest value first, undefined values last; no rows
    when the metric cannot be split that way."""
    dim = DIMENSIONS.get(by)
    if dim is None:
        raise ValueError(f"cannot split a KR by {by!r}: use one of {', '.join(DIMENSIONS)}")
    series = goal.series
    window = series.window_on(rp.local_day(at.astimezone(zone)))
    split = dim in series.spec.filters
    labelled = groups(engine, dim, series.where.get(dim)) if split else []
    requests = [Request(series.metric, at, window, series.where, series.params)]
    requests += [Request(series.metric, at, window, {**series.where, dim: value},
                         series.params) for _, value in labelled]
    values = compute_many(engine, requests, fields=fields, fx=fx, zone=zone)
    rows = [(label, value.value) for (label, _), value in zip(labelled, values[1:],
                                                                strict=True)]
    rows.sort(key=lambda r: (r[1] is None, -(r[1] or 0.0), r[0]))
    return Breakdown(goal.id, by, tuple(rows), total=values[0].value, at=at)


__all__ = [
    "DIMENSIONS",
    "KEEP_DAYS",
    "KEEP_WEEKS",
    "STALLED_DAYS",
    "breakdown",
    "days_to_keep",
    "groups",
    "has_snapshot",
    "pipeline_waterfall",
    "prune_pipeline_snapshots",
    "snapshot_days",
    "stalled_deals",
    "take_pipeline_snapshot",
]
