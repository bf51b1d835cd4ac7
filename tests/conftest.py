"""Shared fixtures: real SQLite files and a real PostgreSQL schema per test.

PostgreSQL is the server on 127.0.0.1:5432 (trust auth, database ``test``, user ``postgres``),
or ``SYNCD_TEST_POSTGRES_URL``. Each test gets a fresh schema, dropped afterwards, so tests
can run in parallel. When the server is unreachable the PostgreSQL variants are skipped on a
developer machine and FAIL in CI (``CI=true``): CI must never pass without them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_URL = os.environ.get(
    "SYNCD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _pg_unavailable() -> str | None:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except sa.exc.SQLAlchemyError as exc:
        return f"PostgreSQL at {PG_URL} is unreachable: {exc.__class__.__name__}"
    return None


_PG_STATUS: list[str | None] = []


def require_postgres() -> None:
    if not _PG_STATUS:
        _PG_STATUS.append(_pg_unavailable())
    reason = _PG_STATUS[0]
    if reason is None:
        return
    if _in_ci():
        pytest.fail(f"{reason}; CI=true requires it (start it, or set SYNCD_TEST_POSTGRES_URL)")
    pytest.skip(reason)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh, empty schema."""
    require_postgres()
    import sqlalchemy as sa

    schema = "t_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'create schema "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'drop schema "{schema}" cascade'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'syncd.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Every store test runs on both SQLite and PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))
