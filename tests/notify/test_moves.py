"""The digest's data from SQL (syncd.notify.moves), on SQLite and PostgreSQL: a small team whose
week is known deal by deal (expected waterfall computed by hand), random stores checked against
``pipeline_value``, snapshots (idempotent, pruned), stalled deals, breakdowns, and the sandbox
team checked against its raw data."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from connectors.base import Company, Deal, Owner, Pipeline, Stage, StageVisit
from rules.errors import RulesError
from rules.periods import Period
from rules.targets import Linear
from syncd.config_okrs import KeyResult
from syncd.goals import KrGoal, SeriesDef
from syncd.metrics import InvalidFilters, compute
from syncd.notify.model import MoveKind, Waterfall
from syncd.notify.moves import (
    breakdown,
    days_to_keep,
    has_snapshot,
    pipeline_waterfall,
    prune_pipeline_snapshots,
    snapshot_days,
    stalled_deals,
    take_pipeline_snapshot,
)
from syncd.sandbox.dataset import generate
from syncd.sandbox.hubspot_account import LOST_STAGES, WON_STAGES
from syncd.sandbox.hubspot_table import to_ms
from syncd.store import Store, tables
from tests.metrics.reference import MAPPED, Raw, sync
from tests.metrics.reference import Deal as RawDeal

ZURICH = ZoneInfo("Europe/Zurich")
NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)  # Monday 07:30 in Zurich
START = NOW - timedelta(days=7)
DAY = timedelta(days=1)
FX = {"EUR": 0.9}
Q4_END = date(2026, 12, 31)
STAGES = {"new": (0.2, False, False), "demo": (0.5, False, False), "won": (1.0, True, True),
          "lost": (0.0, True, False)}


def at(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    yield s
    s.close()


def write(store: Store, obj: str, records: list[Any]) -> None:
    store.write_page("hubspot", obj, records, None, run_id=1, now=NOW)


def pipeline_rows() -> list[Pipeline]:
    stages = tuple(Stage(sid, "sales", sid.title(), i, p, closed, won)
                   for i, (sid, (p, closed, won)) in enumerate(STAGES.items()))
    return [Pipeline("sales", "Sales", 0, stages)]


def deal(deal_id: str, stage: str, amount: float, close: datetime | None,
         visits: list[tuple[str, datetime]], *, owner: str = "o1", currency: str = "CHF",
         created: datetime | None = None, archived_at: datetime | None = None,
         company: str | None = None) -> Deal:
    return Deal(
        id=deal_id, name=f"Deal {deal_id}", amount=Decimal(str(amount)), currency=currency,
        pipeline_id="sales", stage_id=stage, owner_id=owner,
        created_at=created or min(when for _, when in visits), close_date=close, mrr=None,
        deal_type=None, modified_at=None, company_ids=(company,) if company else (),
        stage_history=tuple(StageVisit(s, when, None) for s, when in visits),
        archived=archived_at is not None, archived_at=archived_at,
    )


def team_before() -> list[Deal]:
    """The deals as they stood at START (what the snapshot of START's day saw)."""
    return [
        deal("keep", "demo", 10000, at(2026, 12, 15),
             [("new", NOW - 60 * DAY), ("demo", NOW - 40 * DAY)], company="c1"),
        deal("won", "demo", 20000, at(2026, 12, 1),
             [("new", NOW - 30 * DAY), ("demo", NOW - 20 * DAY)], owner="o2", company="c2"),
        deal("lost", "new", 5000, at(2026, 12, 20), [("new", NOW - 12 * DAY)],
             currency="EUR", company="c1"),
        deal("pushed", "demo", 8000, at(2026, 12, 20), [("demo", NOW - 10 * DAY)], owner="o2",
             company="c2"),
        deal("pulled", "new", 6000, at(2027, 2, 1), [("new", NOW - 9 * DAY)], company="c1"),
        deal("up", "demo", 3000, at(2026, 12, 5), [("demo", NOW - 15 * DAY)], company="c1"),
        deal("down", "demo", 7000, at(2026, 12, 1), [("demo", NOW - 25 * DAY)], owner="o2",
             company="c2"),
        deal("gone", "new", 2000, at(2026, 12, 3), [("new", NOW - 8 * DAY)]),
        deal("reopened", "lost", 1000, NOW - 12 * DAY,
             [("new", NOW - 50 * DAY), ("lost", NOW - 12 * DAY)], owner="o2"),
        deal("old", "won", 50000, NOW - 100 * DAY, [("won", NOW - 100 * DAY)]),
        deal("overdue", "new", 4000, NOW - 3 * DAY, [("new", NOW - 30 * DAY)]),
    ]


def team_after() -> list[Deal]:
    """The same deals a week later, and one new."""
    before = {d.id: d for d in team_before()}

    def moved(deal_id: str, **changes: Any) -> Deal:
        return replace(before[deal_id], **changes)

    def visits(deal_id: str, *more: tuple[str, datetime]) -> tuple[StageVisit, ...]:
        return before[deal_id].stage_history + tuple(StageVisit(s, w, None) for s, w in more)

    return [
        before["keep"],
        moved("won", stage_id="won", close_date=NOW - 5 * DAY,
              stage_history=visits("won", ("won", NOW - 5 * DAY))),
        moved("lost", stage_id="lost", close_date=NOW - 4 * DAY,
              stage_history=visits("lost", ("lost", NOW - 4 * DAY))),
        moved("pushed", close_date=at(2027, 1, 15)),
        moved("pulled", close_date=at(2026, 12, 10)),
        moved("up", amount=Decimal(4000)),
        moved("down", amount=Decimal(5000), close_date=at(2026, 12, 5)),
        moved("gone", archived=True, archived_at=NOW - 6 * DAY),
        moved("reopened", stage_id="new", close_date=at(2026, 12, 30),
              stage_history=(StageVisit("lost", NOW - 12 * DAY, None),
                             StageVisit("new", NOW - 3 * DAY, None))),
        before["old"],
        moved("overdue", stage_id="demo", stage_history=visits("overdue", ("demo", NOW - 2 * DAY))),
        deal("new", "new", 9000, at(2026, 12, 28), [("new", NOW - 6 * DAY)], owner="o2",
             currency="EUR", company="c2"),
    ]


def setup_team(store: Store) -> float:
    """The team as of START, snapshotted then; then its week. The pipeline value at START as
    it was computed at START."""
    write(store, "owners", [Owner("o1", "lea@acme.ch", "Léa", None, None),
                            Owner("o2", "marc@acme.ch", "Marc", None, None)])
    write(store, "pipelines", pipeline_rows())
    write(store, "companies", [
        Company("c1", "Alpha", None, "PME", None, None, None, None, None, None),
        Company("c2", "Beta", None, "ETI", None, None, None, None, None, None),
    ])
    write(store, "deals", team_before())
    assert take_pipeline_snapshot(store.engine, date(2026, 11, 16), START) == 9
    before = value(store, START)
    write(store, "deals", team_after())
    return before


def value(store: Store, when: datetime, **where: Any) -> float:
    got = compute(store.engine, "pipeline_value", as_of=when, fx=FX, where=where).value
    assert got is not None
    return got


def waterfall(store: Store, **kwargs: Any) -> Waterfall:
    kwargs.setdefault("period_end", Q4_END)
    kwargs.setdefault("fields", None)
    return pipeline_waterfall(store.engine, START, NOW, fx=FX, currency="CHF", zone=ZURICH,
                              **kwargs)


def steps(w: Waterfall) -> dict[MoveKind, tuple[float, int]]:
    return {s.kind: (pytest.approx(s.amount), s.count) for s in w.steps}


def shifts(w: Waterfall) -> dict[MoveKind, tuple[float, int]]:
    return {s.kind: (pytest.approx(s.amount), s.count) for s in w.shifts}


def adds_up(w: Waterfall) -> None:
    assert w.start_value + sum(s.amount for s in w.steps) + w.other == pytest.approx(
        w.end_value, abs=1e-6)


# --------------------------------------------------------------------------- the waterfall


def test_a_known_week_by_hand(store: Store) -> None:
    before = setup_team(store)
    w = waterfall(store, crm_link=lambda i: f"https://crm.example/deal/{i}")
    # at START: keep 10k, won 20k, lost 5k EUR, pushed 8k, pulled 6k, up 3k, down 7k, gone 2k,
    # overdue 4k (reopened was lost, old won long ago)
    assert w.start_value == pytest.approx(64500) == before
    assert w.end_value == pytest.approx(46100) == value(store, NOW)
    assert (w.complete, w.snapshot_on, w.period_end, w.currency) == (
        True, date(2026, 11, 16), Q4_END, "CHF")
    assert steps(w) == {MoveKind.NEW: (8100 + 1000, 2), MoveKind.WON: (-20000, 1),
                        MoveKind.LOST: (-4500, 1), MoveKind.INCREASED: (1000, 1),
                        MoveKind.DECREASED: (-2000, 1)}
    assert [s.kind for s in w.steps] == [MoveKind.NEW, MoveKind.WON, MoveKind.LOST,
                                         MoveKind.INCREASED, MoveKind.DECREASED]
    assert w.other == pytest.approx(-2000)  # archived during the week
    adds_up(w)
    # down moved from 1 to 5 December: inside the quarter, not pushed out of it
    assert shifts(w) == {MoveKind.PUSHED: (-8000, 1), MoveKind.PULLED_IN: (6000, 1)}
    assert [(m.kind, m.deal_id, m.amount) for m in w.moves] == [
        (MoveKind.WON, "won", -20000), (MoveKind.NEW, "new", pytest.approx(8100)),
        (MoveKind.PUSHED, "pushed", -8000), (MoveKind.PULLED_IN, "pulled", 6000),
        (MoveKind.LOST, "lost", pytest.approx(-4500)), (MoveKind.DECREASED, "down", -2000),
        (MoveKind.INCREASED, "up", 1000), (MoveKind.NEW, "reopened", 1000)]
    by_kind = {(m.kind, m.deal_id): m for m in w.moves}
    won = by_kind[MoveKind.WON, "won"]
    assert (won.name, won.owner, won.stage, won.close_date, won.url) == (
        "Deal won", "marc@acme.ch", "Won", (NOW - 5 * DAY).date(),
        "https://crm.example/deal/won")
    assert won.previous_amount is None
    pushed = by_kind[MoveKind.PUSHED, "pushed"]
    assert (pushed.close_date, pushed.previous_close_date, pushed.previous_amount,
            pushed.stage) == (date(2027, 1, 15), date(2026, 12, 20), 8000, "Demo")
    down = by_kind[MoveKind.DECREASED, "down"]
    assert (down.previous_amount, down.amount) == (7000, -2000)


def test_without_period_end_any_later_close_date_is_pushed(store: Store) -> None:
    setup_team(store)
    w = waterfall(store, period_end=None)
    assert shifts(w) == {MoveKind.PUSHED: (-8000 - 5000, 2), MoveKind.PULLED_IN: (6000, 1)}
    assert {m.deal_id for m in w.moves if m.kind is MoveKind.PUSHED} == {"pushed", "down"}


def test_top_moves_per_kind_and_none(store: Store) -> None:
    setup_team(store)
    one = waterfall(store, top=1)
    assert [(m.kind, m.deal_id) for m in one.moves if m.kind is MoveKind.NEW] == [
        (MoveKind.NEW, "new")]
    assert len(one.moves) == 7
    assert waterfall(store, top=0).moves == ()
    assert waterfall(store, top=0).steps == one.steps


def test_without_a_snapshot_the_waterfall_is_incomplete(store: Store) -> None:
    setup_team(store)
    with store.engine.begin() as conn:
        conn.execute(sa.delete(tables.pipeline_snapshot))
    w = waterfall(store)
    # amounts now on both sides: pipeline_value as of START computed now (up 4k, down 5k)
    assert w.start_value == pytest.approx(64500 + 1000 - 2000) == value(store, START)
    assert w.end_value == pytest.approx(value(store, NOW))
    assert (w.complete, w.snapshot_on, w.shifts) == (False, None, ())
    assert steps(w) == {MoveKind.NEW: (9100, 2), MoveKind.WON: (-20000, 1),
                        MoveKind.LOST: (-4500, 1)}
    assert w.other == pytest.approx(-2000)
    adds_up(w)
    assert {m.kind for m in w.moves} == {MoveKind.NEW, MoveKind.WON, MoveKind.LOST}


def test_the_snapshot_of_an_earlier_day_within_three_days(store: Store) -> None:
    setup_team(store)
    with store.engine.begin() as conn:
        conn.execute(sa.update(tables.pipeline_snapshot).values(taken_on=date(2026, 11, 13)))
    assert waterfall(store).snapshot_on == date(2026, 11, 13)
    with store.engine.begin() as conn:
        conn.execute(sa.update(tables.pipeline_snapshot).values(taken_on=date(2026, 11, 12)))
    assert not waterfall(store).complete
    with store.engine.begin() as conn:  # a later day's is not the start's
        conn.execute(sa.update(tables.pipeline_snapshot).values(taken_on=date(2026, 11, 17)))
    assert not waterfall(store).complete


def test_filters_as_pipeline_value(store: Store) -> None:
    before = setup_team(store)
    for where, start in [({"owner": "marc@acme.ch"}, 20000 + 8000 + 7000),
                         ({"owner": "lea@acme.ch"}, before - 35000),
                         ({"company_segment": "ETI"}, 20000 + 8000 + 7000)]:
        w = waterfall(store, where=where)
        assert w.start_value == pytest.approx(start), where
        assert w.end_value == pytest.approx(value(store, NOW, **where)), where
        adds_up(w)
    marc = waterfall(store, where={"owner": "marc@acme.ch"})
    assert steps(marc) == {MoveKind.NEW: (9100, 2), MoveKind.WON: (-20000, 1),
                           MoveKind.DECREASED: (-2000, 1)}
    assert marc.other == 0
    with pytest.raises(InvalidFilters, match="deal_country is not a mapped field"):
        waterfall(store, where={"deal_country": "CH"}, fields=[])


def test_bad_instants(store: Store) -> None:
    with pytest.raises(RulesError):
        pipeline_waterfall(store.engine, START.replace(tzinfo=None), NOW, fields=None, fx={},
                           currency=None, zone=ZURICH)
    with pytest.raises(ValueError, match="must be after its start"):
        pipeline_waterfall(store.engine, NOW, START, fields=None, fx={}, currency=None,
                           zone=ZURICH)


# --------------------------------------------------------------------------- random stores


def random_deals(rng: random.Random, n: int) -> list[Deal]:
    out = []
    stage_ids = [*STAGES, "ghost"]  # a stage the pipeline does not define
    for i in range(n):
        visits = [(rng.choice(stage_ids), NOW - timedelta(days=rng.randint(-2, 40),
                                                           hours=rng.choice([0, 6])))
                  for _ in range(rng.choice([0, 1, 2, 3, 4]))]
        archived = rng.random() < 0.1
        created = NOW - rng.randint(0, 45) * DAY if rng.random() < 0.95 else None
        out.append(Deal(
            id=f"d{i}", name=None, amount=Decimal(rng.randint(1, 9) * 1000),
            currency=rng.choice(["CHF", "EUR", None]),
            pipeline_id=rng.choice(["sales", "sales", "sales", None, "gone"]),
            stage_id=rng.choice([*stage_ids, None]), owner_id=None, created_at=created,
            close_date=NOW + rng.randint(-30, 30) * DAY if rng.random() < 0.9 else None,
            mrr=None, deal_type=None, modified_at=None,
            stage_history=tuple(StageVisit(s, w, None) for s, w in visits),
            archived=archived, archived_at=NOW - rng.randint(-5, 30) * DAY if archived else None,
        ))
    return out


@pytest.mark.parametrize("seed", [11, 12])
def test_random_stores_match_pipeline_value(store: Store, seed: int) -> None:
    rng = random.Random(seed)
    write(store, "pipelines", pipeline_rows())
    deals = random_deals(rng, 250)
    write(store, "deals", deals)
    for start in (START, NOW - 30 * DAY, NOW - timedelta(days=2, hours=6)):
        w = pipeline_waterfall(store.engine, start, NOW, fields=None, fx=FX, currency=None,
                               zone=ZURICH)
        assert not w.complete
        assert w.start_value == pytest.approx(value(store, start)), start
        assert w.end_value == pytest.approx(value(store, NOW)), start
        adds_up(w)
    # the snapshot holds what pipeline_value counts
    taken = take_pipeline_snapshot(store.engine, date(2026, 11, 16), START)
    ps = tables.pipeline_snapshot
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(ps.c.deal_id, ps.c.amount)).all()
    currency = {d.id: d.currency for d in deals}
    assert taken == len(rows) == compute(store.engine, "pipeline_value", as_of=START,
                                         fx=FX).detail["open_deals"]
    assert sum(a * FX.get(currency[i] or "", 1.0) for i, a in rows) == pytest.approx(
        value(store, START))
    same = waterfall(store, period_end=None)
    assert same.complete and same.shifts == ()
    assert same.start_value == pytest.approx(value(store, START))
    assert not {MoveKind.INCREASED, MoveKind.DECREASED} & {s.kind for s in same.steps}
    # amounts edited: the start keeps the amounts of then, the changes are steps
    old = value(store, START)
    edited = [replace(d, amount=Decimal(rng.randint(1, 9) * 1000)) for d in deals]
    write(store, "deals", edited)
    w = waterfall(store, period_end=None)
    assert w.start_value == pytest.approx(old)
    assert w.end_value == pytest.approx(value(store, NOW))
    adds_up(w)
    changed = {s.kind: s.count for s in w.steps}
    assert changed[MoveKind.INCREASED] and changed[MoveKind.DECREASED]
    # close dates edited
    write(store, "deals", [replace(d, close_date=NOW + rng.randint(-30, 60) * DAY)
                           for d in edited])
    w = waterfall(store)
    adds_up(w)
    assert w.end_value == pytest.approx(value(store, NOW))
    assert {s.kind for s in w.shifts} == {MoveKind.PUSHED, MoveKind.PULLED_IN}


# --------------------------------------------------------------------------- snapshots


def test_snapshot_rows_and_idempotence(store: Store) -> None:
    setup_team(store)
    ps = tables.pipeline_snapshot

    def rows(day: date) -> dict[str, tuple[Any, ...]]:
        with store.engine.connect() as conn:
            return {r[0]: tuple(r[1:]) for r in conn.execute(
                sa.select(ps.c.deal_id, ps.c.amount, ps.c.close_date, ps.c.stage_id,
                          ps.c.pipeline_id, ps.c.owner_id).where(ps.c.taken_on == day))}

    then = rows(date(2026, 11, 16))
    assert set(then) == {"keep", "won", "lost", "pushed", "pulled", "up", "down", "gone",
                         "overdue"}
    assert then["lost"] == (5000, at(2026, 12, 20), "new", "sales", "o1")  # EUR, as stored
    assert then["up"][0] == 3000
    today = date(2026, 11, 23)
    assert take_pipeline_snapshot(store.engine, today, NOW) == 8
    first = rows(today)
    assert take_pipeline_snapshot(store.engine, today, NOW) == 8  # taken again: replaced
    assert rows(today) == first
    assert first["overdue"][2] == "demo" and first["up"][0] == 4000
    assert set(first) == {"keep", "pushed", "pulled", "up", "down", "reopened", "overdue",
                          "new"}
    assert snapshot_days(store.engine) == [date(2026, 11, 16), today]


def test_days_to_keep() -> None:
    today = date(2026, 11, 23)  # a Monday
    every = [today - n * DAY for n in range(60)]
    kept = days_to_keep(every, today)
    assert {d for d in every if d >= today - 10 * DAY} <= kept
    older = sorted(kept - {d for d in every if d >= today - 10 * DAY})
    # Mondays back to 5 weeks, and the first of November
    assert older == [date(2026, 10, 19), date(2026, 10, 26), date(2026, 11, 1),
                     date(2026, 11, 2), date(2026, 11, 9)]
    assert date(2026, 10, 12) not in kept  # 6 weeks before
    # a missing Monday: the first day of that week that has one
    gap = [d for d in every if d != date(2026, 11, 2)]
    assert date(2026, 11, 3) in days_to_keep(gap, today)
    assert days_to_keep([], today) == set()
    assert days_to_keep(every, today, keep_days=0, keep_weeks=0) == {today}


def test_snapshots_are_pruned_as_they_are_taken(store: Store) -> None:
    write(store, "pipelines", pipeline_rows())
    write(store, "deals", team_before())
    first = NOW - 59 * DAY
    for n in range(60):
        when = first + n * DAY
        take_pipeline_snapshot(store.engine, when.astimezone(ZURICH).date(), when)
    days = snapshot_days(store.engine)
    today = NOW.astimezone(ZURICH).date()
    assert set(days) == days_to_keep([first.date() + n * DAY for n in range(60)], today)
    assert len(days) == 16
    assert has_snapshot(store.engine, today) and has_snapshot(store.engine, days[0])
    assert not has_snapshot(store.engine, days[0] - DAY)  # pruned (or never taken)
    assert prune_pipeline_snapshots(store.engine, today, keep_days=3, keep_weeks=0) == [
        d for d in days if d < today - 3 * DAY]
    assert snapshot_days(store.engine) == [today - n * DAY for n in (3, 2, 1, 0)]


# --------------------------------------------------------------------------- stalled deals


def test_stalled_deals(store: Store) -> None:
    setup_team(store)

    def stalled(**kwargs: Any) -> list[tuple[str, int, bool]]:
        kwargs.setdefault("fields", None)
        kwargs.setdefault("fx", FX)
        return [(s.deal_id, s.days_in_stage, s.overdue)
                for s in stalled_deals(store.engine, NOW, zone=ZURICH, **kwargs)]

    # keep entered demo 40 days ago, down 25 days ago, overdue closes 3 days ago; biggest first
    assert stalled() == [("keep", 40, False), ("down", 25, False), ("overdue", 2, True)]
    assert stalled(min_days=24) == stalled()
    assert stalled(min_days=25) == [("keep", 40, False), ("overdue", 2, True)]  # more than
    assert stalled(limit=1) == [("keep", 40, False)]
    assert stalled(where={"owner": "marc@acme.ch"}) == [("down", 25, False)]
    found = stalled_deals(store.engine, NOW, fields=None, fx=FX, crm_link=lambda i: f"u/{i}")
    keep = found[0]
    assert (keep.name, keep.stage, keep.amount, keep.owner, keep.close_date, keep.url,
            keep.stage_entered_at) == ("Deal keep", "Demo", 10000, "lea@acme.ch",
                                       date(2026, 12, 15), "u/keep", NOW - 40 * DAY)
    # a week earlier: won was still open (in demo for 13 days), overdue in new for 23 days
    # and not overdue yet; amounts now
    before = stalled_deals(store.engine, START, fields=None, fx=FX, min_days=10)
    assert [(s.deal_id, s.days_in_stage, s.overdue) for s in before] == [
        ("won", 13, False), ("keep", 33, False), ("down", 18, False), ("overdue", 23, False)]


def test_stalled_counts_from_creation_without_history(store: Store) -> None:
    write(store, "pipelines", pipeline_rows())
    bare = replace(deal("bare", "demo", 500, None, [("new", NOW - 30 * DAY)]),
                   stage_history=())
    write(store, "deals", [bare])
    got = stalled_deals(store.engine, NOW, fields=None, fx={})
    assert [(s.deal_id, s.days_in_stage, s.stage_entered_at) for s in got] == [
        ("bare", 30, None)]


# --------------------------------------------------------------------------- breakdowns


def test_breakdown_by_owner_and_segment(store: Store) -> None:
    setup_team(store)
    period = Period(date(2026, 10, 1), Q4_END)
    config = KeyResult.model_validate({"id": "pipe", "name": "Pipeline", "metric":
                                       "pipeline_value", "target": 100000, "baseline": 0,
                                       "owners": ["lea@acme.ch"]})
    goal = KrGoal("O", 0, config, period,
                  SeriesDef("kr:pipe", "pipeline_value", {}, {}, None, period), Linear(), (),
                  0.0)
    by_owner = breakdown(store.engine, goal, "owner", NOW, fields=None, fx=FX, zone=ZURICH)
    lea = 10000 + 6000 + 4000 + 4000  # keep, pulled, up, overdue
    marc = 8000 + 5000 + 1000 + 8100  # pushed, down, reopened, new
    assert by_owner.rows == (("lea@acme.ch", pytest.approx(lea)),
                             ("marc@acme.ch", pytest.approx(marc)))
    assert (by_owner.kr_id, by_owner.by, by_owner.at) == ("pipe", "owner", NOW)
    assert by_owner.total == pytest.approx(value(store, NOW)) == pytest.approx(lea + marc)
    by_segment = breakdown(store.engine, goal, "segment", NOW, fields=None, fx=FX, zone=ZURICH)
    pme, eti = 10000 + 6000 + 4000, 8000 + 5000 + 8100  # deals linked to c1 / c2
    assert by_segment.rows == (("ETI", pytest.approx(eti)), ("PME", pytest.approx(pme)))
    only = replace(goal, series=replace(goal.series, where={"company_segment": "PME"}))
    assert breakdown(store.engine, only, "segment", NOW, fields=None, fx=FX,
                     zone=ZURICH).rows == (("PME", pytest.approx(pme)),)
    with pytest.raises(ValueError, match="cannot split a KR by 'team'"):
        breakdown(store.engine, goal, "team", NOW, fields=None, fx=FX, zone=ZURICH)


# --------------------------------------------------------------------------- the sandbox team


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Raw, Store]]:
    raw = Raw(generate(now=NOW, seed=7))
    synced = sync(raw.ds, f"sqlite:///{tmp_path_factory.mktemp('moves') / 'syncd.db'}", NOW)
    yield raw, synced
    synced.close()


def test_the_sandbox_month_against_its_raw_data(sandbox: tuple[Raw, Store]) -> None:
    raw, synced = sandbox
    start = NOW - 30 * DAY
    s, e = to_ms(start), to_ms(NOW)

    def open_at(d: RawDeal, t: int) -> bool:
        return d.created <= t and d.stage_at(t) not in WON_STAGES | LOST_STAGES

    want: dict[MoveKind, list[float]] = {}
    for d in raw.deals:
        was, now = open_at(d, s), open_at(d, e)
        kind = (MoveKind.NEW if now and not was else None if now or not was
                else MoveKind.WON if d.stage_at(e) in WON_STAGES else MoveKind.LOST)
        if kind is not None:
            want.setdefault(kind, []).append(raw.chf(d, d.amount))
    assert set(want) == {MoveKind.NEW, MoveKind.WON, MoveKind.LOST}
    w = pipeline_waterfall(synced.engine, start, NOW, fields=MAPPED, fx=raw.fx,
                           currency="CHF", zone=ZURICH)
    assert not w.complete
    assert w.start_value == pytest.approx(raw.pipeline(start)[0])
    assert w.end_value == pytest.approx(raw.pipeline(NOW)[0])
    assert {k: (v.amount, v.count) for k, v in ((s.kind, s) for s in w.steps)} == {
        kind: (pytest.approx(sum(v) * (1 if kind is MoveKind.NEW else -1)), len(v))
        for kind, v in want.items()}
    assert w.other == pytest.approx(0, abs=1e-6)
    assert w.moves and all(m.owner and "@" in m.owner for m in w.moves)
    # with the snapshot of that day: complete, nothing edited since
    take_pipeline_snapshot(synced.engine, start.astimezone(ZURICH).date(), start)
    again = pipeline_waterfall(synced.engine, start, NOW, fields=MAPPED, fx=raw.fx,
                               currency="CHF", zone=ZURICH)
    assert again.complete and again.steps == w.steps and again.shifts == ()
    assert again.start_value == pytest.approx(w.start_value)


def test_the_sandbox_stalled_deals_against_its_raw_data(sandbox: tuple[Raw, Store]) -> None:
    raw, synced = sandbox
    t = to_ms(NOW)
    today = to_ms(datetime(2026, 11, 23, tzinfo=ZURICH))
    rows = []
    for d in raw.deals:
        stage = d.stage_at(t)
        if d.created > t or stage in WON_STAGES | LOST_STAGES:
            continue
        assert stage is not None
        entered = d.entered[stage]
        overdue = 0 < d.close < today
        if entered < t - 21 * 86_400_000 or overdue:
            rows.append((-raw.chf(d, d.amount), entered, d.id, overdue))
    rows.sort()
    assert len(rows) > 5 and any(r[3] for r in rows) and not all(r[3] for r in rows)
    for limit in (5, 50):
        got = stalled_deals(synced.engine, NOW, fields=MAPPED, fx=raw.fx, zone=ZURICH,
                            limit=limit)
        assert [(s.deal_id, s.overdue) for s in got] == [(r[2], r[3]) for r in rows[:limit]]
        assert [s.amount for s in got] == pytest.approx([-r[0] for r in rows[:limit]])

