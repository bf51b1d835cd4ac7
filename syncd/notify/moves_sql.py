"""The per-deal SQL behind the digest: which deals can be open from an instant on, and each
one's stage and openness at an instant, by the point-in-time rules of
:mod:`syncd.metrics.sql` (so that summing these deals gives ``pipeline_value``).

:meth:`~syncd.metrics.sql.Blocks.open_pipeline` sums the open deals; the digest needs them one
by one (which deal was open at the start of the week and not at its end), hence this module.
It keeps the metric's rules and its way of staying fast:

- :func:`candidates` reads only the deals that can be open at ``since`` or later, in disjoint
  parts that are each an index range: the deals whose last stage visit (on or before ``since``)
  is not a closed stage (``ix_deal_last_visit``), those without pipeline, those with a visit
  after ``since`` and those without history (``ix_deal_last_visit_at``). A deal whose last
  visit, on or before ``since``, is a closed stage stays closed at every later instant;
- :func:`stage_then` is the deal's stage at an instant: its last visit when entered by then,
  else its previous one, else (two changes after the instant) the history's;
- :func:`open_then` is the metric's "open at ``at``": the deal exists then, and its stage then
  is not closed, or it had no stage visit by then and its current stage is open or it closed
  after ``at``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from syncd.metrics.filters import Rec
from syncd.metrics.sql import Blocks, StageKey, instant
from syncd.store import tables as t

#: The deal columns :func:`candidates` carries.
DEAL_COLUMNS = (
    "id", "amount", "currency", "pipeline_id", "stage_id", "owner_id", "created_at",
    "close_date", "archived", "archived_at", "last_visit_stage_id", "last_visit_at",
    "prev_visit_stage_id", "prev_visit_at",
)


def closed_stages(conn: sa.Connection) -> list[StageKey]:
    """The closed stages, in the database's order (what :func:`candidates` needs)."""
    return [(str(p), str(s)) for p, s in conn.execute(Blocks.closed_stages())]


def candidates(blocks: Blocks, closed: Sequence[StageKey], since: datetime,
               name: str = "candidate") -> sa.Subquery:
    """Every deal matching ``blocks``' filters that can be open at ``since`` or at any later
    instant, with the columns :data:`DEAL_COLUMNS` (see the module docstring)."""
    d = t.deal
    cols = [d.c[column] for column in DEAL_COLUMNS]
    filters = blocks.filters.deal(d, blocks.money)
    when = instant(since)
    settled = d.c.last_visit_at <= when
    parts = [
        sa.select(*cols).where(cond, settled, *filters)
        for cond in [*Blocks._between_closed(d, closed), d.c.pipeline_id.is_(None)]
    ]
    parts.append(sa.select(*cols).where(d.c.last_visit_at > when, *filters))
    parts.append(sa.select(*cols).where(d.c.last_visit_at.is_(None), *filters))
    return sa.union_all(*parts).subquery(name)


#: A history column -> the deal's columns holding it for its last and previous visits.
_VISIT_COLUMNS = {"stage_id": ("last_visit_stage_id", "prev_visit_stage_id"),
                  "entered_at": ("last_visit_at", "prev_visit_at")}


def visit_then(c: Rec, at: datetime, column: str = "stage_id") -> Any:
    """Of deal row ``c`` (with :data:`DEAL_COLUMNS`), the stage visit current at ``at``:
    its ``stage_id`` or its ``entered_at``; NULL when no visit was entered by then."""
    h = t.deal_stage_history.alias("visit")
    when = instant(at)
    last, prev = _VISIT_COLUMNS[column]
    looked_up = (
        sa.select(h.c[column])
        .where(h.c.deal_id == c.c.id, h.c.entered_at <= when)
        .order_by(h.c.entered_at.desc(), h.c.stage_id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return sa.case(
        (c.c.last_visit_at <= when, c.c[last]),
        (c.c.last_visit_at.is_(None), sa.null()),
        (sa.or_(c.c.prev_visit_at.is_(None), c.c.prev_visit_at <= when), c.c[prev]),
        else_=looked_up,
    )


def stage_then(c: Rec, at: datetime) -> Any:
    """The stage id of deal row ``c`` at ``at`` from its history (NULL: no visit by then)."""
    return visit_then(c, at, "stage_id")


def stage_join(c: Rec, stage_col: Any, s: Rec) -> Any:
    """The ON clause joining stage alias ``s`` to the stage a deal row ``c`` is in, given its
    history's stage ``stage_col`` (NULL: the deal's current stage)."""
    return sa.and_(s.c.pipeline_id == c.c.pipeline_id,
                   s.c.id == sa.func.coalesce(stage_col, c.c.stage_id))


def open_then(c: Rec, at: datetime, stage_col: Any, s: Rec) -> Any:
    """Deal row ``c`` is open at ``at`` (never NULL), ``s`` being the stage alias joined with
    :func:`stage_join` on ``stage_col`` (its stage then from the history)."""
    when = instant(at)
    closed = sa.func.coalesce(s.c.is_closed, sa.false())
    is_open = sa.and_(
        Blocks.exists_at(c, at),
        sa.or_(sa.not_(closed),
               sa.and_(stage_col.is_(None),
                       sa.or_(c.c.close_date.is_(None), c.c.close_date > when))),
    )
    return sa.case((is_open, sa.true()), else_=sa.false())


def fast_reads(conn: sa.Connection) -> None:
    """PostgreSQL: the session settings :func:`syncd.metrics.compute_many` reads with (no JIT
    compilation, which costs more than these queries run; room to hash), for this
    transaction only. SQLite: nothing."""
    if conn.dialect.name != "postgresql":
        return
    conn.exec_driver_sql("SET LOCAL jit = off")
    conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
