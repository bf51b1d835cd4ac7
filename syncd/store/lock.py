"""One sync at a time per database: an exclusive lock held for the length of a sync.

Two syncs writing the same cursors would not corrupt anything (every page is upserted with
its checkpoint in one transaction) but they would fetch everything twice and leave the run log
confusing. A second ``syncd sync`` (or a cron job overlapping a slow run) therefore stops at
once with one clear line.

- SQLite: ``flock`` on ``<database>.lock`` beside the file (released by the kernel when the
  process dies, even on SIGKILL).
- PostgreSQL: a session advisory lock on a dedicated connection (released when the
  connection closes, also when the process dies).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from syncd.errors import SyncdError


class SyncBusyError(SyncdError):
    """Another process holds the sync lock of this database."""


@contextlib.contextmanager
def exclusive(engine: sa.Engine, name: str, shown_url: str) -> Iterator[None]:
    """Hold the lock ``name`` on this database, or raise :class:`SyncBusyError` at once."""
    busy = (
        f"another syncd {name} is already running against {shown_url}; wait for it to "
        "finish (or stop it) and run again"
    )
    if engine.dialect.name == "postgresql":
        # Advisory locks are per database: the key includes the schema, so that two installs
        # in two schemas of one database do not exclude each other.
        key_sql = "hashtextextended('syncd:' || :name || ':' || current_schema(), 0)"
        with engine.connect() as conn:
            got = conn.execute(sa.text(f"select pg_try_advisory_lock({key_sql})"),
                               {"name": name}).scalar()
            conn.commit()
            if not got:
                raise SyncBusyError(busy)
            try:
                yield
            finally:
                conn.execute(sa.text(f"select pg_advisory_unlock({key_sql})"), {"name": name})
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    path = Path(f"{database}.{name}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SyncBusyError(busy) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
