"""Daily pipeline snapshots: the open deals as they stood, for the waterfall's pushed, pulled
in, increased and decreased deals (the CRM keeps no history of amounts and close dates).

- :func:`take_pipeline_snapshot` writes, for a local day, every open deal (the rule of the
  ``pipeline_value`` metric, unfiltered) with its amount **in the deal's own currency, as
  stored** (the waterfall converts both sides with the same rate, the deal's currency now, so
  an edit of ``fx`` never shows as an amount change), its close date, its stage then (from its
  history, as the metric reads it), pipeline and owner. One ``INSERT ... SELECT``; re-taking a
  day replaces that day's rows, in the same transaction.
- The daemon takes one at the first evaluation of each local day, so snapshots are daily.
  :func:`prune_pipeline_snapshots` (run by every take) keeps, by default, every snapshot of
  the last :data:`KEEP_DAYS` days (a weekly waterfall finds the one of its start's day, or one
  up to 3 days earlier), then the first of each ISO week and of each month for
  :data:`KEEP_WEEKS` weeks (the monthly report's start, the last weeks' Mondays): 16
  snapshots once a store has taken them for two months, not 35.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from rules import periods as rp
from syncd.metrics.filters import Filters
from syncd.metrics.sql import Blocks, instant
from syncd.notify import moves_sql as ms
from syncd.store import tables as t

#: Every daily snapshot of this many days before today is kept.
KEEP_DAYS = 10
#: Then the first snapshot of each ISO week and of each month, for this many weeks.
KEEP_WEEKS = 5
#: A waterfall starting on day D reads the snapshot of D, or the latest of the days before
#: it up to this many.
LOOKBACK_DAYS = 3


def take_pipeline_snapshot(engine: sa.Engine, day: date, now: datetime, *,
                           keep_days: int = KEEP_DAYS, keep_weeks: int = KEEP_WEEKS) -> int:
    """Snapshot the deals open at ``now`` under local ``day`` (replacing that day's), prune
    older snapshots (see the module docstring); the number of deals written."""
    rp.local_day(now)  # refuses a naive datetime
    ps = t.pipeline_snapshot
    with engine.begin() as conn:
        ms.fast_reads(conn)
        blocks = Blocks({}, conn.dialect.name, Filters({}))
        c = ms.candidates(blocks, ms.closed_stages(conn), now)
        then = sa.select(c, ms.stage_then(c, now).label("stage_then")).subquery("deal_now")
        s = t.stage.alias("stage_now")
        rows = (
            sa.select(
                sa.literal(day, sa.Date).label("taken_on"), then.c.id, then.c.amount,
                then.c.close_date, sa.func.coalesce(then.c.stage_then, then.c.stage_id),
                then.c.pipeline_id, then.c.owner_id, instant(now).label("taken_at"),
            )
            .select_from(then.outerjoin(s, ms.stage_join(then, then.c.stage_then, s)))
            .where(ms.open_then(then, now, then.c.stage_then, s))
        )
        conn.execute(sa.delete(ps).where(ps.c.taken_on == day))
        written = conn.execute(sa.insert(ps).from_select(
            ["taken_on", "deal_id", "amount", "close_date", "stage_id", "pipeline_id",
             "owner_id", "taken_at"], rows)).rowcount
        if written < 0:  # psycopg reports no count for INSERT ... SELECT here
            written = conn.execute(
                sa.select(sa.func.count()).where(ps.c.taken_on == day)).scalar_one()
        _prune(conn, day, keep_days, keep_weeks)
    return int(written)


def prune_pipeline_snapshots(engine: sa.Engine, today: date, *, keep_days: int = KEEP_DAYS,
                             keep_weeks: int = KEEP_WEEKS) -> list[date]:
    """Delete the snapshots :func:`days_to_keep` does not keep; the days deleted."""
    with engine.begin() as conn:
        return _prune(conn, today, keep_days, keep_weeks)


def _prune(conn: sa.Connection, today: date, keep_days: int, keep_weeks: int) -> list[date]:
    ps = t.pipeline_snapshot
    days = conn.execute(sa.select(ps.c.taken_on).distinct()).scalars().all()
    kept = days_to_keep(days, today, keep_days=keep_days, keep_weeks=keep_weeks)
    doomed = sorted(set(days) - kept)
    if doomed:
        conn.execute(sa.delete(ps).where(ps.c.taken_on.in_(doomed)))
    return doomed


def days_to_keep(days: Iterable[date], today: date, *, keep_days: int = KEEP_DAYS,
                 keep_weeks: int = KEEP_WEEKS) -> set[date]:
    """Of the snapshot ``days``, those kept on ``today``: every one of the last ``keep_days``
    days before today (and any later), then back to ``keep_weeks`` weeks before today the
    first of each ISO week and the first of each month."""
    days = sorted(set(days))
    recent = today - timedelta(days=keep_days)
    oldest = today - timedelta(weeks=keep_weeks)
    kept = {day for day in days if day >= recent}
    firsts: dict[tuple[str, int, int], date] = {}
    for day in days:
        if oldest <= day < recent:
            week = ("week", *day.isocalendar()[:2])
            month = ("month", day.year, day.month)
            for key in (week, month):
                firsts.setdefault(key, day)
    return kept | set(firsts.values())


def snapshot_days(engine: sa.Engine) -> list[date]:
    """The days that have a pipeline snapshot, oldest first (the daemon takes one for a
    day not listed)."""
    ps = t.pipeline_snapshot
    with engine.connect() as conn:
        return list(conn.execute(
            sa.select(ps.c.taken_on).distinct().order_by(ps.c.taken_on)).scalars())


def has_snapshot(engine: sa.Engine, day: date) -> bool:
    """Whether ``day`` has its snapshot (one index seek: the daemon asks every cycle)."""
    ps = t.pipeline_snapshot
    with engine.connect() as conn:
        return conn.execute(
            sa.select(ps.c.deal_id).where(ps.c.taken_on == day).limit(1)).first() is not None


def snapshot_for(conn: sa.Connection, day: date) -> date | None:
    """The snapshot a waterfall starting on local ``day`` compares with: that day's, else the
    latest of the :data:`LOOKBACK_DAYS` days before it; None when there is none."""
    ps = t.pipeline_snapshot
    found = conn.execute(
        sa.select(sa.func.max(ps.c.taken_on))
        .where(ps.c.taken_on <= day, ps.c.taken_on >= day - timedelta(days=LOOKBACK_DAYS))
    ).scalar()
    if found is None:
        return None
    return found if isinstance(found, date) else date.fromisoformat(str(found))
