"""What is in the store, in a manager's words: shown by ``syncd demo`` after a sync.

Aggregates in SQL (no Python loops over rows): owners, the open pipeline by stage, customers
by segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from syncd.store import Store, tables


@dataclass(frozen=True, slots=True)
class StageLine:
    pipeline: str
    stage: str
    deals: int
    amount: float


@dataclass(frozen=True, slots=True)
class SegmentLine:
    segment: str
    customers: int
    churned: int


@dataclass(frozen=True, slots=True)
class Overview:
    owners: int
    deals: int
    companies: int
    contacts: int
    open_pipeline: list[StageLine]
    segments: list[SegmentLine]


def overview(store: Store) -> Overview:
    deal, stage, company, owner = tables.deal, tables.stage, tables.company, tables.owner
    pipeline = tables.pipeline
    live = deal.c.archived.is_(False)
    joined = deal.join(
        stage, sa.and_(stage.c.id == deal.c.stage_id, stage.c.pipeline_id == deal.c.pipeline_id)
    ).join(pipeline, pipeline.c.id == stage.c.pipeline_id)
    pipeline_q = (
        sa.select(
            pipeline.c.label, stage.c.label, sa.func.count(),
            sa.func.coalesce(sa.func.sum(deal.c.amount), 0),
        )
        .select_from(joined)
        .where(live, stage.c.is_closed.is_(False))
        .group_by(pipeline.c.label, pipeline.c.display_order, stage.c.label,
                  stage.c.display_order)
        .order_by(pipeline.c.display_order, stage.c.display_order)
    )
    churned = sa.func.sum(sa.case((company.c.churned_at.is_not(None), 1), else_=0))
    segment_q = (
        sa.select(sa.func.coalesce(company.c.segment, "(none)"), sa.func.count(), churned)
        .where(company.c.archived.is_(False), company.c.customer_since.is_not(None))
        .group_by(sa.func.coalesce(company.c.segment, "(none)"))
        .order_by(sa.func.coalesce(company.c.segment, "(none)"))
    )
    with store.engine.connect() as conn:
        lines = [StageLine(p, label, n, float(a)) for p, label, n, a in conn.execute(pipeline_q)]
        segments = [SegmentLine(s, n, int(c or 0)) for s, n, c in conn.execute(segment_q)]
        owners = conn.execute(
            sa.select(sa.func.count()).select_from(owner).where(owner.c.archived.is_(False))
        ).scalar_one()
    return Overview(
        owners=owners,
        deals=store.count("deal"),
        companies=store.count("company"),
        contacts=store.count("contact"),
        open_pipeline=lines,
        segments=segments,
    )
