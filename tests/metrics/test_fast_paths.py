"""What the fast metric queries rely on, and that they keep the rules of syncd.metrics.sql.

The deal keeps a summary of its history and company links (``last_visit_*``,
``company_count``, ``sole_company_id``): written by ``write_page``, filled by migration 0003
for deals stored before it. The open pipeline and MRR read it instead of the child tables;
here they are checked, on both dialects, against the rules computed by hand over records
with every shape the shortcuts have to get right: stages unknown to the stage table, a deal
without pipeline, history after the instant, ties, a last visit that is not the current stage,
no history, several companies, archived deals and companies.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic import command

from connectors.base import Company, Deal, Pipeline, Stage, StageVisit
from syncd.metrics import Request, compute_many
from syncd.store import Store, migrate, tables

NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)
DAY = timedelta(days=1)
FX = {"EUR": 0.9}
PIPELINES = {  # stage: (probability, closed, won)
    "sales": {"new": (0.2, False, False), "demo": (0.5, False, False),
              "won": (1.0, True, True), "lost": (0.0, True, False)},
    "upsell": {"talk": (0.3, False, False), "offer": (None, False, False),
               "gained": (1.0, True, True), "dropped": (0.0, True, False)},
}
#: Stage ids no pipeline defines (a stage deleted in the CRM), pipelines never synced (sorting
#: before, between and after the known ones).
UNKNOWN = ("ghost", "limbo")
UNSYNCED = ("nowhere", "tundra", "zz-gone")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    yield s
    s.close()


def pipelines() -> list[Pipeline]:
    return [
        Pipeline(pid, pid.title(), i, tuple(
            Stage(sid, pid, sid, j, p, closed, won)
            for j, (sid, (p, closed, won)) in enumerate(stages.items())))
        for i, (pid, stages) in enumerate(PIPELINES.items())
    ]


def companies(rng: random.Random, n: int) -> list[Company]:
    out = []
    for i in range(n):
        since = NOW - rng.randint(0, 60) * DAY if rng.random() < 0.7 else None
        churned = since + rng.randint(0, 60) * DAY if since and rng.random() < 0.4 else None
        archived = rng.random() < 0.1
        out.append(Company(f"c{i}", None, None, "PME", None, since, churned, None, None, None,
                           archived=archived,
                           archived_at=NOW - rng.randint(0, 30) * DAY if archived else None))
    return out


def deals(rng: random.Random, n: int, n_companies: int) -> list[Deal]:
    out = []
    for i in range(n):
        pid = rng.choice([*PIPELINES, None, *UNSYNCED])
        stage_ids = [*PIPELINES.get(pid or "", {"x": None}), *UNKNOWN]
        created = NOW - rng.randint(0, 40) * DAY if rng.random() < 0.95 else None
        visits = []
        for _ in range(rng.choice([0, 1, 2, 3, 4])):
            when = NOW - timedelta(days=rng.randint(-2, 40), hours=rng.choice([0, 6]))
            visits.append(StageVisit(rng.choice(stage_ids), when, None))
        archived = rng.random() < 0.1
        out.append(Deal(
            id=f"d{i}", name=None, amount=Decimal(rng.randint(1, 9) * 1000),
            currency=rng.choice(["CHF", "EUR", None]), pipeline_id=pid,
            stage_id=rng.choice([*stage_ids, None]), owner_id=None, created_at=created,
            close_date=(NOW + timedelta(days=rng.randint(-30, 30))
                        if rng.random() < 0.9 else None),
            mrr=Decimal(rng.randint(1, 9) * 100) if rng.random() < 0.9 else None,
            deal_type=None, modified_at=None,
            company_ids=tuple(f"c{rng.randrange(n_companies + 2)}"
                              for _ in range(rng.choice([0, 1, 1, 1, 2, 3]))),
            stage_history=tuple(visits), archived=archived,
            archived_at=NOW - rng.randint(-5, 30) * DAY if archived else None,
        ))
    return out


# --------------------------------------------------------------------------- the rules by hand


def exists(created: datetime | None, archived: bool, archived_at: datetime | None,
           at: datetime) -> bool:
    if not archived:
        return created is None or created <= at
    return created is not None and created <= at and archived_at is not None and (
        archived_at > at)


def stage_at(deal: Deal, at: datetime) -> str | None:
    kept: dict[str, StageVisit] = {}  # the store keeps each stage's latest visit
    for visit in deal.stage_history:
        if visit.stage_id not in kept or visit.entered_at >= kept[visit.stage_id].entered_at:
            kept[visit.stage_id] = visit
    seen = [(v.entered_at, v.stage_id) for v in kept.values() if v.entered_at <= at]
    return max(seen)[1] if seen else None


def rate(deal: Deal) -> float:
    return FX.get(deal.currency or "", 1.0)


@dataclass
class Pipe:
    total: float = 0.0
    weighted: float = 0.0
    deals: int = 0


def pipeline(all_deals: list[Deal], at: datetime) -> Pipe:
    out = Pipe()
    for d in all_deals:
        if not exists(d.created_at, d.archived, d.archived_at, at):
            continue
        then = stage_at(d, at)
        stage = PIPELINES.get(d.pipeline_id or "", {}).get(then or d.stage_id or "")
        closed = stage is not None and stage[1]
        if closed and not (then is None and (d.close_date is None or d.close_date > at)):
            continue
        amount = float(d.amount or 0) * rate(d)
        out.total += amount
        out.weighted += 0.0 if closed or stage is None else amount * (stage[0] or 0.0)
        out.deals += 1
    return out


def mrr(all_deals: list[Deal], by_id: dict[str, Company], at: datetime) -> tuple[float, int]:
    total, n = 0.0, 0
    for d in all_deals:
        stage = PIPELINES.get(d.pipeline_id or "", {}).get(d.stage_id or "")
        if not (stage and stage[2] and d.close_date and d.close_date <= at
                and exists(d.created_at, d.archived, d.archived_at, at)):
            continue
        if not any(
            (c := by_id.get(cid)) is not None and c.customer_since is not None
            and c.customer_since <= at and (c.churned_at is None or c.churned_at > at)
            and (not c.archived or (c.archived_at is not None and c.archived_at > at))
            for cid in d.company_ids
        ):
            continue
        total += float(d.mrr or 0) * rate(d)
        n += 1
    return total, n


# --------------------------------------------------------------------------- tests


def summary(engine: sa.Engine) -> dict[str, tuple[object, ...]]:
    d = tables.deal
    cols = [d.c.last_visit_stage_id, d.c.last_visit_at, d.c.prev_visit_stage_id,
            d.c.prev_visit_at, d.c.company_count, d.c.sole_company_id]
    with engine.connect() as conn:
        return {row[0]: tuple(row[1:]) for row in conn.execute(sa.select(d.c.id, *cols))}


def write(store: Store, obj: str, records: list[object]) -> None:
    store.write_page("hubspot", obj, records, None, run_id=1, now=NOW)


def test_write_page_keeps_the_deals_last_visit_and_links(store: Store) -> None:
    t0 = NOW - 10 * DAY
    tie = [StageVisit("new", t0, None), StageVisit("demo", t0, None)]  # same instant
    again = [StageVisit("new", t0, None), StageVisit("demo", t0 + DAY, None),
             StageVisit("new", t0 + 2 * DAY, None)]  # back to new
    records = [
        *deals(random.Random(1), 1, 1),
        Deal("tie", None, None, None, "sales", "demo", None, None, None, None, None, None,
             company_ids=("c1", "c1"), stage_history=tuple(tie)),
        Deal("again", None, None, None, "sales", "new", None, None, None, None, None, None,
             company_ids=("c1", "c2"), stage_history=tuple(again)),
        Deal("bare", None, None, None, "sales", "new", None, None, None, None, None, None),
    ]
    write(store, "deals", records)
    got = summary(store.engine)
    # ties: the greater stage id first; links deduplicated
    assert got["tie"] == ("new", t0, "demo", t0, 1, "c1")
    assert got["again"] == ("new", t0 + 2 * DAY, "demo", t0 + DAY, 2, None)
    assert got["bare"] == (None, None, None, None, 0, None)
    # rewritten with its new history and links
    write(store, "deals", [Deal("bare", None, None, None, "sales", "demo", None, None, None,
                                None, None, None, company_ids=("c9",),
                                stage_history=(StageVisit("demo", t0, None),))])
    assert summary(store.engine)["bare"] == ("demo", t0, None, None, 1, "c9")
    store.mark_archived("hubspot", "deals", [], None, run_id=1, now=NOW)


def test_migration_0003_fills_the_summary_of_deals_stored_before(db_url: str) -> None:
    records = deals(random.Random(2), 60, 10)
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), "0002")
    old = sa.table("deal", *[  # the deal table at 0002
        sa.column(c.name, c.type) for c in tables.deal.c
        if c.name in {"id", "amount", "currency", "pipeline_id", "stage_id", "created_at",
                      "close_date", "mrr", "archived", "archived_at"}])
    with engine.begin() as conn:
        for d in records:
            conn.execute(sa.insert(old).values({c.name: getattr(d, c.name) for c in old.c}))
            for cid in dict.fromkeys(d.company_ids):
                conn.execute(sa.insert(tables.deal_company).values(deal_id=d.id, company_id=cid))
            kept: dict[str, StageVisit] = {}
            for v in d.stage_history:
                if v.stage_id not in kept or v.entered_at >= kept[v.stage_id].entered_at:
                    kept[v.stage_id] = v
            for v in kept.values():
                conn.execute(sa.insert(tables.deal_stage_history).values(
                    deal_id=d.id, stage_id=v.stage_id, entered_at=v.entered_at))
    engine.dispose()
    migrated = Store.open(db_url)  # 0002 -> head
    try:
        backfilled = summary(migrated.engine)
        write(migrated, "deals", records)  # what write_page says for the same records
        assert backfilled == summary(migrated.engine)
        assert {v[4] for v in backfilled.values()} >= {0, 1, 2}
        assert any(v[2] for v in backfilled.values())
    finally:
        migrated.close()


@pytest.mark.parametrize("seed", [3, 4])
def test_open_pipeline_and_mrr_keep_the_rules(store: Store, seed: int) -> None:
    rng = random.Random(seed)
    all_companies = companies(rng, 25)
    all_deals = deals(rng, 300, 25)
    write(store, "pipelines", pipelines())
    write(store, "companies", all_companies)
    write(store, "deals", all_deals)
    by_id = {c.id: c for c in all_companies}
    # before everything, on a visit's instant, between, now, after every change
    instants = [NOW - 50 * DAY, NOW - 7 * DAY, NOW - timedelta(days=7, hours=6), NOW,
                NOW + 3 * DAY]
    requests = [Request(key, at, params=params) for at in instants for key, params in [
        ("pipeline_value", {}), ("weighted_pipeline_value", {}),
        ("pipeline_value", {"min_probability": 0.3}), ("mrr", {})]]
    got = iter(compute_many(store.engine, requests, fx=FX))
    for at in instants:
        want = pipeline(all_deals, at)
        total, weighted, qualified, monthly = next(got), next(got), next(got), next(got)
        assert (total.value, total.detail["open_deals"]) == (pytest.approx(want.total),
                                                             want.deals), at
        assert weighted.value == pytest.approx(want.weighted), at
        assert qualified.value <= total.value
        assert (monthly.value, monthly.detail["won_deals"]) == pytest.approx(
            mrr(all_deals, by_id, at)), at
