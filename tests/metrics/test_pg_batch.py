"""A PostgreSQL batch runs on two connections that read one exported snapshot: the same values
as request by request, and a write committed mid-batch is seen by neither connection."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from syncd.metrics import compute, compute_many
from syncd.metrics.compute import PG_WORKERS
from syncd.sandbox.dataset import generate
from syncd.store import Store

from .reference import MAPPED, Raw, sync
from .test_batch import NOW, REQUESTS

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def raw() -> Raw:
    return Raw(generate(now=NOW, seed=11, deals=300))


@pytest.fixture
def store(pg_url: str, raw: Raw) -> Iterator[Store]:
    store = sync(raw.ds, pg_url, NOW)
    yield store
    store.close()


def test_the_batch_gives_each_request_its_own_value_on_two_connections(
    store: Store, raw: Raw
) -> None:
    assert PG_WORKERS == 2
    alone = [compute(store.engine, r.key, as_of=r.as_of, window=r.window, where=r.where,
                     params=r.params, fx=raw.fx, fields=MAPPED) for r in REQUESTS]
    batch = compute_many(store.engine, REQUESTS, fx=raw.fx, fields=MAPPED)
    assert batch == alone
    total, _, _ = raw.pipeline(NOW)
    assert batch[4].key == "pipeline_value"
    assert batch[4].value == pytest.approx(total, abs=0.01)


def test_a_write_committed_during_the_batch_is_seen_by_no_connection(
    store: Store, raw: Raw
) -> None:
    engine = store.engine
    requests = [r for r in REQUESTS if r.key in ("pipeline_value", "mrr")]
    before = compute_many(engine, requests, fx=raw.fx, fields=MAPPED)
    lead: list[Any] = []
    used: set[int] = set()
    other_started = threading.Event()

    def on_exported(conn: sa.Connection, cursor: Any, statement: str, *args: Any) -> None:
        if "pg_export_snapshot" in statement:
            lead.append(conn.connection.driver_connection)
            # committed after the snapshot was taken: the batch must not see it
            with engine.begin() as writer:
                writer.execute(sa.text("UPDATE deal SET amount = amount * 1000, mrr = mrr * 1000"))

    def on_execute(conn: sa.Connection, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.startswith("SELECT") or not lead:
            return
        raw_conn = conn.connection.driver_connection
        used.add(id(raw_conn))
        if raw_conn is lead[0]:
            # the snapshot's owner waits until the importing connection has read too,
            # so both take part whatever the threads' timing
            assert other_started.wait(10), "the second connection never ran a query"
        else:
            other_started.set()

    sa.event.listen(engine, "after_cursor_execute", on_exported)
    sa.event.listen(engine, "before_cursor_execute", on_execute)
    try:
        during = compute_many(engine, requests, fx=raw.fx, fields=MAPPED)
    finally:
        sa.event.remove(engine, "before_cursor_execute", on_execute)
        sa.event.remove(engine, "after_cursor_execute", on_exported)
    assert len(used) == 2
    assert during == before
    after = compute_many(engine, requests, fx=raw.fx, fields=MAPPED)
    assert [a.value for a in after] != [b.value for b in before]  # the write did matter


def test_without_a_second_connection_the_batch_reads_on_one(store: Store, raw: Raw,
                                                            caplog: pytest.LogCaptureFixture
                                                            ) -> None:
    alone = compute_many(store.engine, REQUESTS, fx=raw.fx, fields=MAPPED)
    tight = sa.create_engine(store.engine.url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    try:
        with caplog.at_level("WARNING", "syncd.metrics"):
            batch = compute_many(tight, REQUESTS, fx=raw.fx, fields=MAPPED)
    finally:
        tight.dispose()
    assert batch == alone
    assert "reading on one connection only" in caplog.text
