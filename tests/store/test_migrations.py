"""Migrations: from empty, idempotent, equal to the tables, concurrent, refusing a newer schema."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from syncd.store import Store, StoreError, migrate, tables

NOW = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
EXPECTED_TABLES = {
    "owner",
    "pipeline",
    "stage",
    "deal",
    "deal_stage_history",
    "deal_company",
    "company",
    "contact",
    "sync_state",
    "sync_run",
    "snapshot",
    "alert",
    "alert_transition",
    "alert_group",
    "silence",
    "outbox",
    "outbox_file",
    "slack_user",
    "pipeline_snapshot",
    migrate.VERSION_TABLE,
}


def schema_diff(store: Store, metadata: sa.MetaData) -> list[Any]:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "version_table": migrate.VERSION_TABLE,
                "compare_type": True,
                "compare_server_default": True,
            },
        )
        return list(compare_metadata(context, metadata))


def test_open_migrates_an_empty_database_and_reopening_changes_nothing(db_url: str) -> None:
    store = Store.open(db_url)
    try:
        assert set(sa.inspect(store.engine).get_table_names()) == EXPECTED_TABLES
        with store.engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.head_revision()
        run_id = store.start_run("hubspot", "full", now=NOW)
    finally:
        store.close()

    again = Store.open(db_url)
    try:
        with again.engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.head_revision()
            assert conn.scalar(sa.text(f"SELECT count(*) FROM {migrate.VERSION_TABLE}")) == 1
        assert [run.id for run in again.recent_runs()] == [run_id]
    finally:
        again.close()


def test_migrated_schema_matches_the_tables(db_url: str) -> None:
    with Store.open(db_url) as store:
        assert schema_diff(store, tables.METADATA) == []


def test_schema_comparison_catches_a_table_change_without_migration(db_url: str) -> None:
    """The test above is only worth something if a change it should catch makes it fail."""
    changed = sa.MetaData()
    for table in tables.METADATA.tables.values():
        table.to_metadata(changed)
    changed.tables["deal"].append_column(sa.Column("forecast_category", sa.String()))
    changed.tables["company"].c.segment.nullable = False
    sa.Index("ix_contact_email", changed.tables["contact"].c.email)

    with Store.open(db_url) as store:
        kinds = {(d[0] if isinstance(d, tuple) else d[0][0]) for d in schema_diff(store, changed)}
    assert {"add_column", "modify_nullable", "add_index"} <= kinds


def test_a_database_from_a_newer_syncd_is_refused(db_url: str) -> None:
    with Store.open(db_url) as store, store.engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {migrate.VERSION_TABLE} SET version_num = '9999'"))

    with pytest.raises(StoreError, match=r"schema version 9999, newer than") as info:
        Store.open(db_url)
    assert "upgrade syncd" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.slow
def test_processes_opening_a_fresh_database_together_all_succeed(
    db_url: str, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    script = textwrap.dedent(
        """
        import sys, time
        from datetime import UTC, datetime
        from pathlib import Path
        from syncd.store import Store

        url, go = sys.argv[1], Path(sys.argv[2])
        while not go.exists():
            time.sleep(0.005)
        store = Store.open(url)
        store.start_run("hubspot", "full", now=datetime(2024, 1, 1, tzinfo=UTC))
        store.close()
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, db_url, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    go.touch()
    outcomes = [
        (proc.wait(timeout=120), proc.stderr.read() if proc.stderr else "") for proc in procs
    ]
    for proc in procs:
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
    assert [code for code, _ in outcomes] == [0, 0, 0, 0], [err for _, err in outcomes]

    with Store.open(db_url) as store:
        assert len(store.recent_runs()) == 4
        assert schema_diff(store, tables.METADATA) == []
