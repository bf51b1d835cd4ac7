"""The pipeline waterfall of a window: the open pipeline at its start and at its end and the
deal moves between them, from SQL.

Which deals were open at ``start`` and at ``end`` comes from stage history, as
``pipeline_value`` reads it (:mod:`syncd.notify.moves_sql`). Amounts are converted to the
reporting currency with ``fx`` and the deal's currency now. Each deal open at either instant
falls in exactly one value step:

- **new**: not open at ``start``, open at ``end`` (created, or reopened): adds its amount;
- **won** / **lost**: open at ``start``, at ``end`` in a won / a closed, not won stage (by its
  history): takes away what it weighed at ``start``;
- **increased** / **decreased**: open at both, with an amount now above / below the one of
  the snapshot: adds the difference;
- otherwise open at both with an unchanged (or unknown) amount: no step; or open at ``start``
  and gone at ``end`` (archived, deleted): the remainder ``other``.

What a deal weighed at ``start`` is its amount in the pipeline snapshot of ``start``'s local
day (or of the latest of the 3 days before, :func:`~syncd.notify.moves_snapshot.snapshot_for`)
when it is in it, else its amount now. So ``start_value`` is the pipeline as it stood (what
``pipeline_value`` gave at ``start``), ``end_value`` is ``pipeline_value`` as of ``end``, and
``start_value + sum(steps) + other == end_value``. Without a snapshot the waterfall is
``complete=False``: amounts now on both sides (``start_value`` is then ``pipeline_value`` as of
``start`` computed now), no increased / decreased, no shifts.

Close-date **shifts** change no value (the deal stays in the pipeline), so they are reported
apart, in ``Waterfall.shifts``, for deals open at both instants and in the snapshot. A missing
close date counts as later than any date. With ``period_end`` (the last local day of the
period under review): **pushed** = the close date was inside the period (before the end of
``period_end``) and is now after it (or removed), signed ``-amount`` (what left the period's
pipeline); **pulled in** = the reverse, ``+amount``. Without ``period_end``: any move later is
pushed, any move earlier pulled in.

``moves``: the ``top`` largest moves (by absolute amount) of each kind, largest first.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

import sqlalchemy as sa

from rules import catalog
from rules import periods as rp
from syncd.metrics.filters import Filters
from syncd.metrics.sql import Blocks, instant
from syncd.metrics.value import InvalidFilters
from syncd.notify import moves_sql as ms
from syncd.notify.model import DealMove, MoveKind, Waterfall, WaterfallStep
from syncd.notify.moves_snapshot import snapshot_for
from syncd.store import tables as t

#: The value steps, in the order a waterfall shows them.
VALUE_KINDS = (MoveKind.NEW, MoveKind.WON, MoveKind.LOST, MoveKind.INCREASED,
               MoveKind.DECREASED)
SHIFT_KINDS = (MoveKind.PUSHED, MoveKind.PULLED_IN)
_SAME, _OTHER = "same", "other"

#: deal id -> its URL in the CRM.
CrmLink = Callable[[str], str | None]


def check_where(where: Mapping[str, Any] | None, fields: Collection[str] | None) -> Filters:
    """``where`` as the ``pipeline_value`` metric accepts it (raises ``InvalidFilters``)."""
    where = dict(where or {})
    problems = catalog.filter_problems(catalog.get("pipeline_value"), list(where),
                                       mapped_fields=fields)
    if problems:
        raise InvalidFilters("\n".join(problems))
    return Filters(where)


def pipeline_waterfall(
    engine: sa.Engine,
    start: datetime,
    end: datetime,
    *,
    fields: Collection[str] | None,
    fx: Mapping[str, float],
    currency: str | None,
    zone: tzinfo,
    where: Mapping[str, Any] | None = None,
    period_end: date | None = None,
    top: int = 10,
    crm_link: CrmLink | None = None,
) -> Waterfall:
    """The open pipeline at ``start`` and ``end`` and the moves between (see the module
    docstring). ``zone``: the team's, for the snapshot's day, ``period_end`` and dates."""
    rp.local_day(start)
    rp.local_day(end)  # both refuse naive datetimes
    if end <= start:
        raise ValueError(f"the waterfall's end ({end}) must be after its start ({start})")
    filters = check_where(where, fields)
    with engine.connect() as conn:
        ms.fast_reads(conn)
        snap_day = snapshot_for(conn, start.astimezone(zone).date())
        blocks = Blocks(fx, conn.dialect.name, filters)
        moved = _moved(blocks, ms.closed_stages(conn), start, end, snap_day,
                       _boundary(period_end, zone)).cte("moved")
        rows = conn.execute(_sums_and_top(moved, top)).all()
    totals = _Totals()
    for row in rows:
        if row.part == "sum":
            totals.add(str(row.kind), row.shift, float(row.start_sum or 0),
                       float(row.end_sum or 0), float(row.delta_sum or 0),
                       float(row.shift_sum or 0), int(row.n))
    steps = tuple(WaterfallStep(kind, *totals.steps[kind]) for kind in VALUE_KINDS
                  if totals.steps.get(kind, (0.0, 0))[1])
    shifts = tuple(WaterfallStep(kind, *totals.steps[kind]) for kind in SHIFT_KINDS
                   if totals.steps.get(kind, (0.0, 0))[1])
    moves = sorted((_move(row, zone, crm_link) for row in rows if row.part == "move"),
                   key=lambda m: (-abs(m.amount), m.kind, m.deal_id))
    other = totals.end - totals.start - sum(step.amount for step in steps)
    return Waterfall(start, end, totals.start, totals.end, steps, tuple(moves),
                     complete=snap_day is not None, other=other, shifts=shifts,
                     snapshot_on=snap_day, period_end=period_end, currency=currency)


@dataclass
class _Totals:
    start: float = 0.0
    end: float = 0.0
    steps: dict[MoveKind, tuple[float, int]] = field(default_factory=dict)

    def add(self, value_kind: str, shift_kind: str | None, start: float, end: float,
            delta: float, shift: float, count: int) -> None:
        self.start += start
        self.end += end
        if value_kind not in (_SAME, _OTHER):
            self._step(MoveKind(value_kind), delta, count)
        if shift_kind is not None:
            self._step(MoveKind(shift_kind), shift, count)

    def _step(self, kind: MoveKind, amount: float, count: int) -> None:
        total, n = self.steps.get(kind, (0.0, 0))
        self.steps[kind] = (total + amount, n + count)


def _boundary(period_end: date | None, zone: tzinfo) -> datetime | None:
    """The first instant after ``period_end`` (local): a close date before it is inside."""
    if period_end is None:
        return None
    return datetime.combine(period_end + timedelta(days=1), time(), tzinfo=zone)


def _moved(blocks: Blocks, closed: list[ms.StageKey], start: datetime, end: datetime,
           snap_day: date | None, boundary: datetime | None) -> sa.Select[Any]:
    """One row per deal open at ``start`` or at ``end``: its value step and its shift."""
    c = ms.candidates(blocks, closed, start)
    # materialized: SQLite would otherwise copy these expressions into every use
    then = sa.select(c, ms.stage_then(c, start).label("stage0"),
                     ms.stage_then(c, end).label("stage1")).cte("deal_then")
    then = then.prefix_with("MATERIALIZED")
    s0, s1 = t.stage.alias("stage0"), t.stage.alias("stage1")
    joined = (then.outerjoin(s0, ms.stage_join(then, then.c.stage0, s0))
              .outerjoin(s1, ms.stage_join(then, then.c.stage1, s1)))
    amount = blocks.money(then.c.amount, then.c.currency)
    in_snap: Any
    snap_close: Any
    if snap_day is not None:
        ps = t.pipeline_snapshot.alias("snap")
        joined = joined.outerjoin(ps, sa.and_(ps.c.taken_on == snap_day,
                                              ps.c.deal_id == then.c.id))
        in_snap = ps.c.deal_id.is_not(None)
        snap_amount, snap_close = blocks.money(ps.c.amount, then.c.currency), ps.c.close_date
    else:
        in_snap = sa.false()
        snap_amount = sa.cast(sa.null(), sa.Float)
        snap_close = sa.cast(sa.null(), t.deal.c.close_date.type)
    open0 = ms.open_then(then, start, then.c.stage0, s0)
    open1 = ms.open_then(then, end, then.c.stage1, s1)
    flows = (
        sa.select(
            then.c.id, then.c.owner_id, then.c.pipeline_id,
            sa.func.coalesce(then.c.stage1, then.c.stage_id).label("stage_end"),
            amount.label("amount"), then.c.close_date,
            open0.label("open0"), open1.label("open1"),
            sa.case((Blocks.exists_at(then, end), sa.true()), else_=sa.false()).label("exists1"),
            sa.func.coalesce(s1.c.is_won, sa.false()).label("won1"),
            sa.case((in_snap, sa.true()), else_=sa.false()).label("in_snap"),
            snap_amount.label("snap_amount"), snap_close.label("snap_close"),
        )
        .select_from(joined)
        .where(sa.or_(open0, open1))
        .cte("flow")
        .prefix_with("MATERIALIZED")
    )
    f = flows.c
    both = sa.and_(f.open0, f.open1)
    known = sa.and_(both, f.in_snap)
    value_kind = sa.case(
        (sa.and_(known, f.amount > f.snap_amount), MoveKind.INCREASED.value),
        (sa.and_(known, f.amount < f.snap_amount), MoveKind.DECREASED.value),
        (both, _SAME),
        (f.open1, MoveKind.NEW.value),
        (sa.and_(f.exists1, f.won1), MoveKind.WON.value),
        (f.exists1, MoveKind.LOST.value),
        else_=_OTHER,
    )
    start_amount = sa.case(
        (f.open0, sa.case((f.in_snap, f.snap_amount), else_=f.amount)), else_=0.0)
    end_amount = sa.case((f.open1, f.amount), else_=0.0)
    shift_kind = _shift_kind(f, known, boundary)
    shift_amount = sa.case((shift_kind == MoveKind.PUSHED.value, -f.amount),
                           (shift_kind == MoveKind.PULLED_IN.value, f.amount), else_=0.0)
    return sa.select(
        f.id, f.owner_id, f.pipeline_id, f.stage_end, f.amount, f.close_date, f.snap_amount,
        f.snap_close, f.in_snap, value_kind.label("value_kind"),
        shift_kind.label("shift_kind"), start_amount.label("start_amount"),
        end_amount.label("end_amount"), (end_amount - start_amount).label("delta"),
        shift_amount.label("shift_amount"),
    )


def _shift_kind(f: Any, known: Any, boundary: datetime | None) -> Any:
    """``pushed`` / ``pulled_in`` / NULL (see the module docstring; NULL dates are late)."""
    old, new = f.snap_close, f.close_date
    if boundary is None:
        later = sa.and_(old.is_not(None), sa.or_(new.is_(None), new > old))
        earlier = sa.and_(new.is_not(None), sa.or_(old.is_(None), new < old))
    else:
        edge = instant(boundary)
        later = sa.and_(old < edge, sa.or_(new.is_(None), new >= edge))
        earlier = sa.and_(new < edge, sa.or_(old.is_(None), old >= edge))
    return sa.case((sa.and_(known, later), MoveKind.PUSHED.value),
                   (sa.and_(known, earlier), MoveKind.PULLED_IN.value),
                   else_=sa.null())


#: The columns of :func:`_sums_and_top`'s rows: a group's sums, or one move.
_SUM_COLUMNS: dict[str, Any] = {
    "shift": sa.String(), "start_sum": sa.Float(), "end_sum": sa.Float(),
    "delta_sum": sa.Float(), "shift_sum": sa.Float(), "n": sa.Integer(),
}
_MOVE_COLUMNS: dict[str, Any] = {
    "id": sa.String(), "moved": sa.Float(), "close_date": t.deal.c.close_date.type,
    "snap_close": t.deal.c.close_date.type, "snap_amount": sa.Float(), "in_snap": sa.Boolean(),
    "name": sa.String(), "email": sa.String(), "first_name": sa.String(),
    "last_name": sa.String(), "label": sa.String(),
}


def _row(part: str, kind: Any, given: dict[str, Any]) -> list[Any]:
    """A row of :func:`_sums_and_top`: its part, its kind, then every column (NULL if not
    ``given``)."""
    cols = [sa.literal(part).label("part"), kind.label("kind")]
    for name, kind_of in (*_SUM_COLUMNS.items(), *_MOVE_COLUMNS.items()):
        cols.append(given.get(name, sa.cast(sa.null(), kind_of)).label(name))
    return cols


def _sums_and_top(moved: sa.CTE, top: int) -> sa.CompoundSelect[Any] | sa.Select[Any]:
    """In one statement (``moved`` computed once): the sums per (value step, shift), and
    the ``top`` largest moves of each kind with the deal's name, owner and stage."""
    m = moved.c
    sums = sa.select(*_row("sum", m.value_kind, {
        "shift": m.shift_kind, "start_sum": sa.func.sum(m.start_amount),
        "end_sum": sa.func.sum(m.end_amount), "delta_sum": sa.func.sum(m.delta),
        "shift_sum": sa.func.sum(m.shift_amount), "n": sa.func.count()}),
    ).group_by(m.value_kind, m.shift_kind)
    if top <= 0:
        return sums
    cols = [m.id, m.owner_id, m.pipeline_id, m.stage_end, m.close_date, m.snap_close,
            m.snap_amount, m.in_snap]
    value_moves = sa.select(*cols, m.value_kind.label("kind"), m.delta.label("moved")).where(
        m.value_kind.not_in([_SAME, _OTHER]))
    shift_moves = sa.select(*cols, m.shift_kind.label("kind"),
                            m.shift_amount.label("moved")).where(m.shift_kind.is_not(None))
    every = sa.union_all(value_moves, shift_moves).subquery("every_move")
    rank = sa.func.row_number().over(partition_by=every.c.kind,
                                     order_by=(sa.func.abs(every.c.moved).desc(), every.c.id))
    ranked = sa.select(every, rank.label("rank")).subquery("ranked")
    r, d, o, s = ranked.c, t.deal, t.owner, t.stage
    # looked up per move (PostgreSQL would hash the whole deal table to join a few rows)
    name = sa.select(d.c.name).where(d.c.id == r.id).scalar_subquery()
    moves = (
        sa.select(*_row("move", r.kind, {
            "id": r.id, "moved": r.moved, "close_date": r.close_date,
            "snap_close": r.snap_close, "snap_amount": r.snap_amount, "in_snap": r.in_snap,
            "name": name, "email": o.c.email, "first_name": o.c.first_name,
            "last_name": o.c.last_name, "label": s.c.label}))
        .select_from(
            ranked.outerjoin(o, o.c.id == r.owner_id)
            .outerjoin(s, sa.and_(s.c.pipeline_id == r.pipeline_id, s.c.id == r.stage_end)))
        .where(r.rank <= top)
    )
    return sa.union_all(sums, moves)


def _move(row: Any, zone: tzinfo, crm_link: CrmLink | None) -> DealMove:
    kind = MoveKind(row.kind)
    shift = kind in SHIFT_KINDS
    compared = shift or kind in (MoveKind.INCREASED, MoveKind.DECREASED)
    person = " ".join(p for p in (row.first_name, row.last_name) if p) or None
    return DealMove(
        deal_id=row.id,
        name=row.name or row.id,
        kind=kind,
        amount=float(row.moved),
        owner=row.email or person,
        stage=row.label,
        close_date=_day(row.close_date, zone),
        previous_close_date=_day(row.snap_close, zone) if row.in_snap else None,
        previous_amount=float(row.snap_amount) if compared and row.in_snap else None,
        url=crm_link(row.id) if crm_link is not None else None,
    )


def _day(when: datetime | None, zone: tzinfo) -> date | None:
    return None if when is None else when.astimezone(zone).date()
