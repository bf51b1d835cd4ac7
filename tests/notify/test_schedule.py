"""When the Monday digest is due: 07:30 in Zurich across the DST changes, a restart after the
digest time catches up exactly once, a report too late is reported and not posted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from syncd.config import Config, load_config
from syncd.config_schedule import CronFields
from syncd.notify import outbox
from syncd.notify.schedule import due_reports, fire_times, post_due
from syncd.store import Store
from tests.evaluate.conftest import (  # noqa: F401  (fixtures)
    NOW,
    db,
    raw,
    template,
    write_config,
)

ZURICH = ZoneInfo("Europe/Zurich")
MONDAY_0730 = CronFields(day_of_week="mon", hour="7", minute="30")


@pytest.mark.parametrize(("monday", "utc"), [
    (date(2026, 10, 19), datetime(2026, 10, 19, 5, 30, tzinfo=UTC)),  # summer time
    (date(2026, 10, 26), datetime(2026, 10, 26, 6, 30, tzinfo=UTC)),  # after the last Sunday of Oct
    (date(2027, 3, 22), datetime(2027, 3, 22, 6, 30, tzinfo=UTC)),    # winter time
    (date(2027, 3, 29), datetime(2027, 3, 29, 5, 30, tzinfo=UTC)),    # after the last Sunday of Mar
])
def test_the_digest_fires_at_0730_in_zurich_whatever_the_offset(monday, utc):
    start = datetime.combine(monday - timedelta(days=1), time(), tzinfo=ZURICH)
    fires = list(fire_times(MONDAY_0730, ZURICH, start, start + timedelta(days=3)))
    assert fires == [utc]
    assert fires[0].astimezone(ZURICH).strftime("%a %H:%M") == "Mon 07:30"


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Config:  # noqa: F811
    return load_config(write_config())


@pytest.fixture
def store(db: Path) -> Iterator[Store]:  # noqa: F811
    with Store.open(f"sqlite:///{db}") as store:
        yield store


def digests(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        import sqlalchemy as sa

        from syncd.store import tables as t
        return list(conn.execute(sa.select(t.outbox.c.dedup_key)
                                 .where(t.outbox.c.kind == "digest").order_by(t.outbox.c.id))
                    .scalars())


def test_a_restart_after_the_digest_time_catches_up_exactly_once(store, config):
    monday_0729 = datetime(2026, 11, 23, 6, 29, tzinfo=UTC)
    assert due_reports(store.engine, config, monday_0729) == []  # a new install owes nothing
    restart = datetime(2026, 11, 23, 8, 10, tzinfo=UTC)  # 09:10 in Zurich: syncd was down
    done = post_due(store.engine, config, restart)
    assert [(d.key, d.missed) for d in done if d.kind == "digest"] == [("digest:2026-W48", False)]
    first = [k for k in digests(store) if "#" not in k]
    assert first == ["digest:2026-W48"]
    # the scheduler's own run, late, and a second restart: nothing more
    for again in (restart + timedelta(minutes=1), restart + timedelta(hours=3)):
        assert [d for d in post_due(store.engine, config, again) if d.kind == "digest"] == []
    assert [k for k in digests(store) if "#" not in k] == first
    with store.engine.connect() as conn:
        entry = outbox.by_key(conn, "digest:2026-W48")
    assert entry is not None and "semaine 48" in entry.text


def test_a_digest_too_late_is_reported_missed_not_posted(store, config, caplog):
    week_47 = datetime(2026, 11, 16, 6, 30, tzinfo=UTC)  # the digest of week 47 went out
    assert [d.key for d in post_due(store.engine, config, week_47)
            if d.kind == "digest"] == ["digest:2026-W47"]
    wednesday = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # down from Sunday to Wednesday
    done = [d for d in post_due(store.engine, config, wednesday) if d.kind == "digest"]
    assert [(d.key, d.missed) for d in done] == [("digest:2026-W48", True)]
    with store.engine.connect() as conn:
        late = outbox.by_key(conn, "digest:2026-W48")
    assert late is not None and late.status == "failed"  # listed, posted only on retry
    assert late.error is not None and "missed" in late.error and "alerts retry" in late.error
    assert "not posted" in caplog.text and "digest:2026-W48" in caplog.text
    caplog.clear()
    assert post_due(store.engine, config, wednesday + timedelta(minutes=15)) == []
    assert "digest:2026-W48" not in caplog.text  # reported once


def test_the_digest_of_the_dst_week_is_keyed_by_its_local_week(store, config):
    after_dst = datetime(2026, 10, 26, 6, 30, tzinfo=UTC)  # Monday 07:30 CET
    done = post_due(store.engine, config, after_dst)
    assert [d.key for d in done if d.kind == "digest"] == ["digest:2026-W44"]
    assert [d for d in post_due(store.engine, config, after_dst - timedelta(hours=1))
            if d.kind == "digest" and not d.missed] == []  # 06:30 CET: not due before its time


def test_the_quarter_close_is_posted_once_at_the_first_digest_time_after_the_quarter(
    store, config
):
    new_year = datetime(2027, 1, 1, 9, 0, tzinfo=UTC)  # the quarter has ended: not yet
    assert [d for d in post_due(store.engine, config, new_year) if d.kind == "quarter"] == []
    monday = datetime(2027, 1, 4, 6, 30, tzinfo=UTC)  # Monday 07:30 in Zurich
    done = [d for d in post_due(store.engine, config, monday) if d.kind == "quarter"]
    assert [(d.key, d.missed) for d in done] == [("quarter:2026-Q4", False)]
    with store.engine.connect() as conn:
        close = outbox.by_key(conn, "quarter:2026-Q4")
    assert close is not None and "Bilan OKR" in close.text and close.status == "pending"
    again = [d for d in post_due(store.engine, config, monday + timedelta(hours=1))
             if d.kind == "quarter"]
    assert again == []
