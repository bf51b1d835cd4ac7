"""The Store on SQLite and PostgreSQL: upserts, checkpoints, archiving, runs, types, errors."""

from __future__ import annotations

import logging
import socket
import traceback
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.base import (
    Company,
    Contact,
    Deal,
    Owner,
    Pipeline,
    Stage,
    StageVisit,
    Tombstone,
)
from syncd.errors import SyncdError
from syncd.store import PageResult, Store, StoreError, tables

NOW = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
CET = timezone(timedelta(hours=2))
NEW_YORK = timezone(timedelta(hours=-4))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    yield s
    s.close()


def deal(id: str = "d1", **changes: Any) -> Deal:
    base = Deal(
        id=id,
        name="Acme renewal",
        amount=Decimal("12000.50"),
        currency="CHF",
        pipeline_id="default",
        stage_id="appointmentscheduled",
        owner_id="o1",
        created_at=datetime(2024, 1, 10, 8, 0, tzinfo=UTC),
        close_date=datetime(2024, 6, 30, tzinfo=UTC),
        mrr=Decimal("1000.04"),
        deal_type="newbusiness",
        modified_at=datetime(2024, 4, 30, 17, 45, 12, 345000, tzinfo=UTC),
        company_ids=("c1",),
        stage_history=(
            StageVisit("appointmentscheduled", datetime(2024, 1, 10, 8, 0, tzinfo=UTC), None),
        ),
        custom={"segment": "PME", "région": "Romandie"},
    )
    return replace(base, **changes)


def rows(store: Store, table: sa.Table, *order: str) -> list[dict[str, Any]]:
    stmt = sa.select(table).order_by(*(table.c[name] for name in order))
    with store.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(stmt)]


def row(store: Store, table: sa.Table, id: str) -> dict[str, Any]:
    with store.engine.connect() as conn:
        return dict(conn.execute(sa.select(table).where(table.c.id == id)).one()._mapping)


def write(store: Store, obj: str, records: list[Any], checkpoint: Any = None) -> PageResult:
    return store.write_page("hubspot", obj, records, checkpoint, run_id=1, now=NOW)


# --------------------------------------------------------------------------- upserts


def test_deal_insert_then_update_counts_and_replaces_fields(store: Store) -> None:
    first = write(store, "deals", [deal("d1"), deal("d2", problems=("amount: 'abc'",))])
    assert first == PageResult(created=2, updated=0, with_problems=1)

    stored = row(store, tables.deal, "d1")
    assert stored["name"] == "Acme renewal"
    assert stored["amount"] == 12000.5
    assert stored["mrr"] == pytest.approx(1000.04)
    assert stored["modified_at"] == datetime(2024, 4, 30, 17, 45, 12, 345000, tzinfo=UTC)
    assert stored["custom"] == {"segment": "PME", "région": "Romandie"}
    assert stored["problems"] is None
    assert stored["synced_at"] == NOW
    assert row(store, tables.deal, "d2")["problems"] == ["amount: 'abc'"]
    assert store.problem_count("deals") == 1

    changed = deal("d2", name="Acme 2025", amount=None, stage_id="closedwon", custom={})
    second = store.write_page("hubspot", "deals", [changed, deal("d3")], None, run_id=1, now=LATER)
    assert second == PageResult(created=1, updated=1, with_problems=0)

    stored = row(store, tables.deal, "d2")
    assert (stored["name"], stored["amount"], stored["stage_id"]) == (
        "Acme 2025",
        None,
        "closedwon",
    )
    assert stored["custom"] == {}
    assert stored["problems"] is None  # cleared, as SQL NULL
    assert stored["synced_at"] == LATER
    assert store.problem_count("deals") == 0
    assert store.count("deals") == 3


def company(id: str = "c1", **changes: Any) -> Company:
    base = Company(
        id=id,
        name="Acme SA",
        domain="acme.ch",
        segment="PME",
        lifecycle_stage="customer",
        customer_since=datetime(2023, 3, 1, tzinfo=UTC),
        churned_at=None,
        owner_id="o1",
        created_at=datetime(2022, 1, 1, tzinfo=UTC),
        modified_at=datetime(2024, 4, 1, tzinfo=UTC),
        custom={"vertical": "retail"},
    )
    return replace(base, **changes)


def contact(id: str = "k1", **changes: Any) -> Contact:
    base = Contact(
        id=id,
        email="anne@acme.ch",
        lifecycle_stage="salesqualifiedlead",
        company_id="c1",
        owner_id="o1",
        created_at=datetime(2024, 2, 1, tzinfo=UTC),
        modified_at=datetime(2024, 4, 2, tzinfo=UTC),
        became_lead_at=datetime(2024, 2, 1, tzinfo=UTC),
        became_mql_at=datetime(2024, 2, 10, tzinfo=UTC),
        became_sql_at=datetime(2024, 3, 1, tzinfo=UTC),
    )
    return replace(base, **changes)


def owner(id: str = "o1", **changes: Any) -> Owner:
    base = Owner(
        id=id,
        email="marie@example.ch",
        first_name="Marie",
        last_name="Dubois",
        user_id="u1",
        teams=("Romandie", "Upsell"),
    )
    return replace(base, **changes)


@pytest.mark.parametrize(
    ("obj", "table", "make", "changes", "expected"),
    [
        (
            "companies",
            tables.company,
            company,
            {"segment": "ETI", "churned_at": datetime(2024, 4, 30, tzinfo=UTC), "problems": ("x",)},
            {"segment": "ETI", "churned_at": datetime(2024, 4, 30, tzinfo=UTC), "problems": ["x"]},
        ),
        (
            "contacts",
            tables.contact,
            contact,
            {"lifecycle_stage": "customer", "became_customer_at": LATER, "company_id": None},
            {"lifecycle_stage": "customer", "became_customer_at": LATER, "company_id": None},
        ),
        (
            "owners",
            tables.owner,
            owner,
            {"email": "marie.dubois@example.ch", "teams": (), "archived": True},
            {"email": "marie.dubois@example.ch", "teams": [], "archived": True},
        ),
    ],
)
def test_other_objects_insert_then_update(
    store: Store,
    obj: str,
    table: sa.Table,
    make: Any,
    changes: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    assert write(store, obj, [make()]) == PageResult(1, 0, 0)
    before = row(store, table, make().id)
    assert write(store, obj, [make(**changes)]).updated == 1
    after = row(store, table, make().id)
    assert {key: after[key] for key in expected} == expected
    untouched = set(before) - set(expected) - {"synced_at"}
    assert {k: after[k] for k in untouched} == {k: before[k] for k in untouched}


def test_owner_and_contact_fields_round_trip(store: Store) -> None:
    write(store, "owners", [owner()])
    write(store, "contacts", [contact()])
    assert row(store, tables.owner, "o1") == {
        "id": "o1",
        "email": "marie@example.ch",
        "first_name": "Marie",
        "last_name": "Dubois",
        "user_id": "u1",
        "teams": ["Romandie", "Upsell"],
        "archived": False,
        "synced_at": NOW,
    }
    stored = row(store, tables.contact, "k1")
    assert stored["became_sql_at"] == datetime(2024, 3, 1, tzinfo=UTC)
    assert stored["became_opportunity_at"] is None
    assert stored["custom"] == {}


def test_a_repeated_id_in_one_page_keeps_the_last_record(store: Store) -> None:
    result = write(store, "deals", [deal("d1", name="old"), deal("d1", name="new")])
    assert result == PageResult(created=1, updated=0, with_problems=0)
    assert row(store, tables.deal, "d1")["name"] == "new"


def test_money_the_column_cannot_hold_is_stored_null_and_reported(store: Store) -> None:
    result = write(store, "deals", [deal(amount=Decimal("1e15"), mrr=Decimal("NaN"))])
    assert result.with_problems == 1
    stored = row(store, tables.deal, "d1")
    assert (stored["amount"], stored["mrr"]) == (None, None)
    assert len(stored["problems"]) == 2
    assert stored["problems"][0].startswith("amount: ")


def test_pages_larger_than_one_batch(store: Store) -> None:
    contacts = [contact(f"k{i}", email=f"{i}@acme.ch") for i in range(5_100)]
    assert write(store, "contacts", contacts) == PageResult(5_100, 0, 0)
    assert write(store, "contacts", contacts[:2_500]) == PageResult(0, 2_500, 0)
    assert store.count("contacts") == 5_100


# --------------------------------------------------------------------------- deal links


def test_deal_history_and_company_links_are_replaced_not_duplicated(store: Store) -> None:
    t = datetime(2024, 1, 1, tzinfo=UTC)
    history = tuple(
        StageVisit(f"s{k}", t + timedelta(days=k), t + timedelta(days=k + 1)) for k in range(7)
    )
    write(store, "deals", [deal("d1", stage_history=history, company_ids=("c1", "c2"))])
    write(store, "deals", [deal("d1", stage_history=history, company_ids=("c1", "c2"))])
    assert len(rows(store, tables.deal_stage_history, "stage_id")) == 7
    assert [r["company_id"] for r in rows(store, tables.deal_company, "company_id")] == ["c1", "c2"]

    moved = (*history[:2], StageVisit("s9", t + timedelta(days=30), None))
    write(store, "deals", [deal("d1", stage_history=moved, company_ids=("c3", "c3"))])
    got = rows(store, tables.deal_stage_history, "stage_id")
    assert [(r["deal_id"], r["stage_id"]) for r in got] == [
        ("d1", "s0"),
        ("d1", "s1"),
        ("d1", "s9"),
    ]
    assert got[2]["entered_at"] == t + timedelta(days=30)
    assert got[2]["exited_at"] is None
    assert [r["company_id"] for r in rows(store, tables.deal_company, "company_id")] == ["c3"]


def test_a_stage_visited_twice_keeps_the_latest_visit(store: Store) -> None:
    t = datetime(2024, 1, 1, tzinfo=UTC)
    visits = (
        StageVisit("s1", t, t + timedelta(days=1)),
        StageVisit("s2", t + timedelta(days=1), t + timedelta(days=2)),
        StageVisit("s1", t + timedelta(days=2), None),
    )
    write(store, "deals", [deal("d1", stage_history=visits)])
    got = {r["stage_id"]: r for r in rows(store, tables.deal_stage_history, "stage_id")}
    assert got["s1"]["entered_at"] == t + timedelta(days=2)
    assert got["s1"]["exited_at"] is None


def test_other_deals_links_are_left_alone(store: Store) -> None:
    write(store, "deals", [deal("d1", company_ids=("c1",)), deal("d2", company_ids=("c2",))])
    write(store, "deals", [deal("d1", company_ids=())])
    assert [
        (r["deal_id"], r["company_id"]) for r in rows(store, tables.deal_company, "deal_id")
    ] == [("d2", "c2")]


def pipeline(*stage_ids: str, id: str = "default") -> Pipeline:
    stages = tuple(
        Stage(sid, id, sid.title(), n, n / 10, sid.startswith("closed"), sid == "closedwon")
        for n, sid in enumerate(stage_ids)
    )
    return Pipeline(id=id, label="Sales", display_order=0, stages=stages)


def test_pipelines_replace_their_stages(store: Store) -> None:
    write(store, "pipelines", [pipeline("new", "demo", "closedwon"), pipeline("a", id="upsell")])
    assert write(store, "pipelines", [pipeline("new", "closedwon", "closedlost")]).updated == 1
    got = [(r["pipeline_id"], r["id"]) for r in rows(store, tables.stage, "pipeline_id", "id")]
    assert got == [
        ("default", "closedlost"),
        ("default", "closedwon"),
        ("default", "new"),
        ("upsell", "a"),
    ]
    won = next(r for r in rows(store, tables.stage, "id") if r["id"] == "closedwon")
    assert (won["is_closed"], won["is_won"], won["probability"]) == (True, True, 0.1)


def test_write_page_refuses_tombstones_and_wrong_records(store: Store) -> None:
    with pytest.raises(TypeError, match="mark_archived"):
        write(store, "deals", [Tombstone("d1", NOW)])
    with pytest.raises(TypeError, match="expected Deal"):
        write(store, "deals", [company()])
    with pytest.raises(ValueError, match="unknown object 'leads'"):
        write(store, "leads", [])
    assert store.count("deals") == 0


# --------------------------------------------------------------------------- checkpoints


def test_a_page_and_its_checkpoint_commit_together(store: Store) -> None:
    write(store, "deals", [deal("d1")], {"after": "d1"})

    def fail_on_cursor(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "sync_state" in statement:
            raise RuntimeError("crash between the records and the checkpoint")

    sa.event.listen(store.engine, "before_cursor_execute", fail_on_cursor)
    try:
        with pytest.raises(RuntimeError, match="crash between"):
            write(store, "deals", [deal("d1", name="changed"), deal("d2")], {"after": "d2"})
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", fail_on_cursor)

    assert store.count("deals") == 1
    assert row(store, tables.deal, "d1")["name"] == "Acme renewal"
    assert rows(store, tables.deal_company, "deal_id") == [{"deal_id": "d1", "company_id": "c1"}]
    state = store.get_state("hubspot", "deals")
    assert state is not None and state.cursor == {"after": "d1"}


def test_checkpoint_none_leaves_the_cursor_and_reset_clears_it(store: Store) -> None:
    assert store.get_state("hubspot", "deals") is None
    cursor = {"after": "d1", "since": "2024-05-01T09:30:00Z", "ids": [1, 2], "n": None}
    store.write_page("hubspot", "deals", [deal("d1")], cursor, run_id=7, now=NOW)
    write(store, "deals", [deal("d2")], None)
    state = store.get_state("hubspot", "deals")
    assert state is not None
    assert (state.cursor, state.last_run_id) == (cursor, 7)
    assert store.get_state("salesforce", "deals") is None

    store.reset_cursor("hubspot", "deals")
    state = store.get_state("hubspot", "deals")
    assert state is not None and state.cursor is None


def test_success_and_failure_bookkeeping(store: Store) -> None:
    store.mark_success("hubspot", "deals", run_id=1, now=NOW, records_seen=120)
    store.mark_failure("hubspot", "deals", run_id=2, now=LATER, error="HubSpot 503")
    state = store.get_state("hubspot", "deals")
    assert state is not None
    assert (state.records_seen, state.last_success_at, state.last_reconcile_at) == (120, NOW, None)
    assert (state.last_error, state.last_error_at, state.last_run_id) == ("HubSpot 503", LATER, 2)
    assert state.failing

    later = LATER + timedelta(hours=1)
    store.mark_success("hubspot", "deals", run_id=3, now=later, records_seen=5, reconciled=True)
    store.mark_success("hubspot", "deals", run_id=4, now=later, records_seen=1)
    state = store.get_state("hubspot", "deals")
    assert state is not None
    assert (state.records_seen, state.last_reconcile_at, state.last_run_id) == (126, later, 4)
    assert state.last_error == "HubSpot 503"  # kept as history
    assert not state.failing


# --------------------------------------------------------------------------- archiving


def test_mark_archived_known_unknown_and_repeated(store: Store) -> None:
    write(store, "deals", [deal("d1"), deal("d2")])
    gone = datetime(2024, 4, 2, tzinfo=UTC)
    newly = store.mark_archived(
        "hubspot",
        "deals",
        [Tombstone("d1", gone), Tombstone("d9", None)],
        {"archived_after": "x"},
        run_id=3,
        now=NOW,
    )
    assert newly == 2
    assert store.count("deals") == 1
    assert store.count("deals", include_archived=True) == 3
    d1 = row(store, tables.deal, "d1")
    assert (d1["archived"], d1["archived_at"], d1["name"]) == (True, gone, "Acme renewal")
    d9 = row(store, tables.deal, "d9")
    assert (d9["archived"], d9["archived_at"], d9["name"]) == (True, NOW, None)
    state = store.get_state("hubspot", "deals")
    assert state is not None and state.cursor == {"archived_after": "x"}

    again = store.mark_archived(
        "hubspot", "deals", [Tombstone("d1", LATER)], None, run_id=4, now=LATER
    )
    assert again == 0
    assert row(store, tables.deal, "d1")["archived_at"] == gone  # first date kept

    # Restored in the CRM: the next upsert makes it live again.
    write(store, "deals", [deal("d1")])
    assert store.count("deals") == 2


def test_mark_archived_on_tables_without_archived_at(store: Store) -> None:
    write(store, "owners", [owner("o1")])
    assert (
        store.mark_archived("hubspot", "owners", [Tombstone("o1", NOW)], None, run_id=1, now=NOW)
        == 1
    )
    assert (
        store.mark_archived("hubspot", "pipelines", [Tombstone("p1", NOW)], None, run_id=1, now=NOW)
        == 1
    )
    assert store.count("owners") == 0
    assert store.count("pipeline", include_archived=True) == 1


def test_counts(store: Store) -> None:
    write(store, "companies", [company("c1"), company("c2", problems=("segment: ?",))])
    write(store, "companies", [company("c3", archived=True, problems=("x",))])
    assert store.count("company") == store.count("companies") == 2
    assert store.count("companies", include_archived=True) == 3
    assert store.problem_count("companies") == 1  # live ones only
    assert store.problem_count("owners") == 0
    assert store.count("sync_run") == 0
    with pytest.raises(ValueError, match="unknown table"):
        store.count("leads")


# --------------------------------------------------------------------------- runs


def test_runs_log(store: Store) -> None:
    first = store.start_run("hubspot", "full", now=NOW)
    second = store.start_run("hubspot", "incremental", now=LATER)
    store.finish_run(first, status="ok", now=NOW + timedelta(minutes=2), summary={"deals": 120})
    store.finish_run(
        second, status="failed", now=LATER, summary={}, error="token expired: rotate it"
    )

    runs = store.recent_runs()
    assert [r.id for r in runs] == [second, first]
    assert (runs[0].kind, runs[0].status, runs[0].error) == (
        "incremental",
        "failed",
        "token expired: rotate it",
    )
    assert runs[1].summary == {"deals": 120}
    assert runs[1].started_at == NOW and runs[1].finished_at == NOW + timedelta(minutes=2)
    assert [r.id for r in store.recent_runs(limit=1)] == [second]

    running = store.start_run("hubspot", "full", now=LATER)
    assert store.recent_runs(1)[0].status == "running"
    store.finish_run(running, status="interrupted", now=LATER, summary={})

    with pytest.raises(ValueError, match="unknown run kind"):
        store.start_run("hubspot", "partial", now=NOW)
    with pytest.raises(ValueError, match="final status"):
        store.finish_run(first, status="running", now=NOW, summary={})
    with pytest.raises(ValueError, match="no sync run with id 999"):
        store.finish_run(999, status="ok", now=NOW, summary={})


# --------------------------------------------------------------------------- types


def test_datetimes_come_back_aware_utc_and_sort_in_sql(store: Store) -> None:
    closes = {
        "a": datetime(2024, 3, 31, 23, 30, tzinfo=NEW_YORK),  # 2024-04-01 03:30 UTC
        "b": datetime(2024, 4, 1, 1, 0, tzinfo=CET),  # 2024-03-31 23:00 UTC
        "c": datetime(2024, 3, 31, 23, 59, 59, 999999, tzinfo=UTC),
        "d": datetime(2024, 4, 1, 0, 0, 0, 1, tzinfo=UTC),
        "e": datetime(1999, 12, 31, tzinfo=UTC),
    }
    write(store, "deals", [deal(k, close_date=v) for k, v in closes.items()])

    for key, value in closes.items():
        back = row(store, tables.deal, key)["close_date"]
        assert back == value and back.utcoffset() == timedelta(0) and back.tzinfo is UTC

    d = tables.deal
    with store.engine.connect() as conn:
        ordered = conn.scalars(sa.select(d.c.id).order_by(d.c.close_date)).all()
        since = conn.scalars(
            sa.select(d.c.id)
            .where(d.c.close_date >= datetime(2024, 4, 1, 2, 0, tzinfo=CET))
            .order_by(d.c.id)
        ).all()
        month = (
            sa.func.strftime("%Y-%m", d.c.close_date)
            if store.dialect == "sqlite"
            else sa.func.to_char(d.c.close_date, "YYYY-MM")
        )
        months = {id: m for id, m in conn.execute(sa.select(d.c.id, month))}
    assert ordered == sorted(closes, key=lambda k: closes[k])
    assert since == ["a", "d"]  # 2024-04-01 00:00 UTC and later
    assert months == {
        "a": "2024-04",
        "b": "2024-03",
        "c": "2024-03",
        "d": "2024-04",
        "e": "1999-12",
    }


def test_sqlite_stores_fixed_width_utc_text(sqlite_url: str) -> None:
    with Store.open(sqlite_url) as store:
        write(store, "deals", [deal(close_date=datetime(2024, 4, 1, 1, 0, tzinfo=CET))])
        with store.engine.connect() as conn:
            raw = conn.exec_driver_sql("SELECT close_date, created_at FROM deal").one()
    assert raw == ("2024-03-31 23:00:00.000000+00:00", "2024-01-10 08:00:00.000000+00:00")


def test_a_naive_datetime_is_refused(store: Store) -> None:
    naive = datetime(2024, 4, 1)  # noqa: DTZ001
    with pytest.raises(sa.exc.StatementError, match="naive datetime") as info:
        write(store, "deals", [deal(close_date=naive)])
    assert isinstance(info.value.orig, ValueError)
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        store.start_run("hubspot", "full", now=naive)
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        store.mark_success("hubspot", "deals", run_id=1, now=naive, records_seen=1)
    with pytest.raises(sa.exc.StatementError, match="takes a datetime, not str"):
        write(store, "deals", [deal(close_date="2024-04-01")])
    assert store.count("deals") == 0


def test_custom_json_round_trips_and_is_queryable(store: Store) -> None:
    custom = {"segment": "PME", "région": "Genève", "empty": None, "quote": 'a "b" \\ c'}
    write(store, "deals", [deal("d1", custom=custom), deal("d2", custom={"segment": "ETI"})])
    assert row(store, tables.deal, "d1")["custom"] == custom
    segment = tables.deal.c.custom["segment"].as_string()
    with store.engine.connect() as conn:
        found = conn.scalars(sa.select(tables.deal.c.id).where(segment == "PME")).all()
    assert found == ["d1"]


# --------------------------------------------------------------------------- opening


def test_sqlite_runs_in_wal_mode_with_the_documented_pragmas(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'dir' / 'syncd.db'}"
    with Store.open(url) as store:
        assert store.dialect == "sqlite"
        with store.engine.connect() as conn:
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            }
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 1,
        "busy_timeout": 30000,
        "foreign_keys": 0,
    }


def test_an_uncreatable_sqlite_path_is_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot create the directory") as info:
        Store.open(f"sqlite:///{blocker / 'syncd.db'}")
    assert str(blocker) in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, SyncdError)  # the CLI prints it as one line

    with pytest.raises(StoreError, match="cannot open the SQLite database"):
        Store.open(f"sqlite:///{tmp_path}")  # a directory, not a file


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("host", ["nonexistent.invalid", "127.0.0.1"])
def test_a_password_never_appears_in_errors_or_logs(
    host: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cr3t-Pa55"
    port = _closed_port()
    url = f"postgresql://syncd:{secret}@{host}:{port}/syncd?connect_timeout=3"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(StoreError) as info:
        Store.open(url)
    message = str(info.value)
    assert f"cannot connect to PostgreSQL at {host}:{port}" in message
    assert "check that the server is running" in message and "syncd:***@" in message
    assert "\n" not in message
    everything = "".join(traceback.format_exception(info.value)) + repr(info.value) + caplog.text
    assert secret not in everything


def test_an_unparseable_url_is_not_echoed() -> None:
    with pytest.raises(StoreError, match="cannot be parsed") as info:
        Store.open("postgresql://user:p@ss:word@host:notaport/db")
    assert "p@ss" not in str(info.value)
    with pytest.raises(StoreError, match="unsupported database 'mysql'"):
        Store.open("mysql://root:hunter2@localhost/syncd")
