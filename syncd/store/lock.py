"""One sync at a time per database: an exclusive lock held for the length of a sync.

Two syncs writing the same cursors would not corrupt anything (every page is upserted with
its checkpoint in one transaction) but they would fetch everything twice and leave the run log
confusing. A second ``syncd sync`` (or a cron job overlapping a slow run) therefore stops at
once with one clear line.

- SQLite: ``flock`` on ``<database>.lock`` beside the file (released by the kernel when the
  process dies, even on SIGKILL).
- PostgreSQL: a session advisory lock on a dedicated connection (released when the
  connection closes, also when the process dies).

The two building blocks, :func:`advisory_key` and :func:`try_flock`, are shared with the
daemon's leadership among replicas (``syncd.daemon.leader``), which holds its own lock
(``daemon``) for the life of the process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from syncd.errors import SyncdError

# Advisory locks are per database: the key includes the schema, so that two installs in two
# schemas of one database do not exclude each other, and the lock's name, so that the sync
# lock and the daemon's leadership are distinct locks.
_KEY_SQL = "hashtextextended('syncd:' || :name || ':' || current_schema(), 0)"


class SyncBusyError(SyncdError):
    """Another process holds the sync lock of this database."""


def advisory_key(conn: sa.Connection, name: str) -> int | None:
    """The 64-bit advisory lock key of the lock ``name`` in ``conn``'s database and schema
    (None when the search_path names no existing schema)."""
    key = conn.execute(sa.text(f"select {_KEY_SQL}"), {"name": name}).scalar()
    return None if key is None else int(key)


def lock_path(database: str, name: str) -> Path:
    """The file beside a SQLite database whose ``flock`` is the lock ``name``."""
    return Path(f"{database}.{name}.lock")


def try_flock(path: Path) -> int | None:
    """An open descriptor on ``path`` (created if missing) holding an exclusive ``flock``, or
    None when another open file holds it (this process's included). The kernel releases the
    lock when the descriptor is closed, also when the process dies."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def exclusive(engine: sa.Engine, name: str, shown_url: str) -> Iterator[None]:
    """Hold the lock ``name`` on this database, or raise :class:`SyncBusyError` at once."""
    busy = (
        f"another syncd {name} is already running against {shown_url}; wait for it to "
        "finish (or stop it) and run again"
    )
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            key = advisory_key(conn, name)
            got = conn.execute(sa.text("select pg_try_advisory_lock(:key)"),
                               {"key": key}).scalar()
            conn.commit()
            if not got:
                raise SyncBusyError(busy)
            try:
                yield
            finally:
                conn.execute(sa.text("select pg_advisory_unlock(:key)"), {"key": key})
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    fd = try_flock(lock_path(database, name))
    if fd is None:
        raise SyncBusyError(busy)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
