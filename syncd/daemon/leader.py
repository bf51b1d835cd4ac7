"""Leadership among replicas: of the ``syncd run`` processes sharing a database, one leads.

APScheduler 3's job store cannot be shared by running schedulers, so with several replicas
exactly one process, the leader, runs the jobs; the others stand by and take over when it
dies. :class:`Leadership` is that role for one process and one database::

    with Leadership(url, standby_poll=config.service.standby_poll) as lead:
        while not stop.is_set():
            if lead.wait_until_leader(stop):   # a standby polls every standby_poll
                ...start the scheduler; each job begins with ``if not lead.guard(): return``
                ...every few seconds: ``if not lead.check(): pause the scheduler``

PostgreSQL: a session advisory lock, ``pg_try_advisory_lock(key)``, held on a connection of
its own (never the store's pool). The key is ``syncd.store.lock.advisory_key(conn, "daemon")``:
a hash of ``syncd:daemon:<schema>`` (advisory locks belong to one database), distinct from the
``sync`` lock's key, so two installs in two schemas or databases never exclude each other. The
lock lives as long as the session: it is released when the process exits or dies (SIGKILL
included) or when the server ends the session. How fast a standby takes over:

- The leader's process dies (crash, SIGKILL, OOM): its kernel closes the socket, the backend
  reads end-of-file and ends the session at once, the lock is free; a standby takes it at its
  next poll, within ``standby_poll`` (5 s by default) plus a round trip. Measured in the tests.
- The leader's host or network dies: the backend notices through the TCP keepalives this
  session asks for (``tcp_keepalives_idle=5``, ``_interval=5``, ``_count=3``: about 20 s of
  silence) or ``tcp_user_timeout`` (10 s of unacknowledged data), ends the session and frees
  the lock: takeover within about 20 s + ``standby_poll``, under 30 s.
- The old leader notices sooner than the server frees the lock: :meth:`Leadership.guard`
  re-checks at most every ``recheck`` seconds (2 s), and a check on a dead link fails within
  the client's ``tcp_user_timeout`` (10 s; keepalives 5/5/3 and a 5 s ``statement_timeout``
  too), so it stops starting jobs about 12 s after the link died, before the lock is freed.
- A stopped process (SIGSTOP, a debugger) still has a live socket: it stays leader. That is
  not a death; ``/readyz`` shows it.

Jobs never start unless :meth:`Leadership.guard` says this process leads, but a job already
running when the lock is lost runs to its end. The store's dedup keys are the last line of
defence should two processes ever overlap: outbox rows are unique per message key (an alert is
queued and posted once), a weekly digest and a monthly report are keyed by their period (sent
once per week / month), a sync page commits with its cursor (a second writer re-upserts the
same rows), and one sync at a time holds the ``sync`` lock (``syncd.store.lock``).

SQLite: one daemon per database. ``flock`` on ``<database>.daemon.lock``, held for the
process's life and released by the kernel when it dies; a second ``syncd run`` on the same
file stops at once with :class:`DaemonBusy`. Once it holds the lock a SQLite daemon leads.

The :class:`Term` of a leadership names it in logs: ``token`` increases each time leadership
of the database is taken (PostgreSQL: the server's transaction id, ``txid_current()``, taken
just after the lock, so no table and no migration; SQLite: a counter kept in the lock file),
``holder`` is the backend pid (PostgreSQL) or the process id (SQLite).

Errors::

    SyncdError
    └── DaemonBusy    SQLite: another ``syncd run`` holds this database; stop it first

Connection problems with PostgreSQL never raise: a standby keeps polling (``last_error`` says
why it failed, logged once per distinct reason), a leader loses its leadership and stands by.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from syncd.clock import Clock, system_clock
from syncd.errors import SyncdError
from syncd.store.lock import advisory_key, lock_path, try_flock
from syncd.store.migrate import _parse_url

log = logging.getLogger("syncd.daemon.leader")

LOCK_NAME = "daemon"

#: libpq settings of the leadership connection: notice a dead server or link within seconds
CONNECT_ARGS: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,  # ms of unacknowledged data before the link counts as dead
    "connect_timeout": 5,
    "application_name": "syncd daemon",
}

#: the same on the server's side, so that it frees the lock of a vanished client in ~20 s
SESSION_SETTINGS = (
    "SET statement_timeout = 5000",
    "SET tcp_keepalives_idle = 5",
    "SET tcp_keepalives_interval = 5",
    "SET tcp_keepalives_count = 3",
    "SET tcp_user_timeout = 10000",
)

# Is the advisory lock ``key`` (a bigint: high half in classid, low half in objid, objsubid 1)
# held by this very session?
_HELD_SQL = sa.text(
    "select count(*) from pg_locks where locktype = 'advisory' and granted"
    " and pid = pg_backend_pid() and objsubid = 1"
    " and database = (select oid from pg_database where datname = current_database())"
    " and classid = ((cast(:key as bigint) >> 32) & 4294967295)::oid"
    " and objid = (cast(:key as bigint) & 4294967295)::oid"
)

Role = Literal["leader", "standby"]


class DaemonBusy(SyncdError):
    """SQLite: another ``syncd run`` holds this database (one daemon per SQLite file)."""


@dataclass(frozen=True, slots=True)
class Term:
    """One leadership, for logs and ``/readyz``."""

    token: int  # increases each time leadership of this database is taken
    holder: int  # PostgreSQL backend pid, or the process id on SQLite
    acquired_at: datetime

    def __str__(self) -> str:
        return f"term {self.token} (holder {self.holder}, since {self.acquired_at.isoformat()})"


def _seconds(value: timedelta | float) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Leadership:
    """Whether this process leads the ``syncd run`` processes of one database.

    ``url`` is the database URL (as in the config; a password is never shown), ``standby_poll``
    how often :meth:`wait_until_leader` tries to take over (``service.standby_poll``),
    ``recheck`` the longest :meth:`guard` trusts the last check. ``clock`` gives the wall time
    of a term's start, ``timer`` the monotonic seconds that pace re-checks.

    Thread-safe: the scheduler's workers may call :meth:`guard` while the main loop calls
    :meth:`check`. Entering the context tries to take the lead at once (SQLite: or raises
    :class:`DaemonBusy`); leaving it releases everything.
    """

    def __init__(
        self,
        url: str | sa.URL,
        *,
        standby_poll: timedelta | float = 5.0,
        recheck: timedelta | float = 2.0,
        clock: Clock = system_clock,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        parsed = _parse_url(url) if isinstance(url, str) else url
        self.url = parsed.render_as_string(hide_password=True)
        self.standby_poll = _seconds(standby_poll)
        self.recheck = _seconds(recheck)
        self._parsed = parsed
        self._clock = clock
        self._timer = timer
        self._lock = threading.RLock()
        self._term: Term | None = None
        self._checked_at = 0.0
        #: why the last attempt or check failed (None: it did not)
        self.last_error: str | None = None
        self._postgresql = parsed.get_backend_name() != "sqlite"
        self._engine: sa.Engine | None = None
        self._conn: sa.Connection | None = None
        self._key: int | None = None
        self._fd: int | None = None
        self._path: Path | None = None

    # ------------------------------------------------------------------ state

    @property
    def term(self) -> Term | None:
        """The current leadership (None: standby)."""
        return self._term

    @property
    def is_leader(self) -> bool:
        """This process held the lock at the last acquisition or check."""
        return self._term is not None

    @property
    def role(self) -> Role:
        return "leader" if self._term is not None else "standby"

    @property
    def token(self) -> int | None:
        """The fencing token of the current term (None: standby)."""
        return None if self._term is None else self._term.token

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Leadership:
        try:
            self.try_acquire()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Leadership({self.url!r}, role={self.role!r}, term={self._term})"

    def try_acquire(self) -> bool:
        """Take the lead if it is free, without waiting; True when this process leads.

        PostgreSQL: False while another process leads or the server is unreachable (see
        ``last_error``). SQLite: raises :class:`DaemonBusy` when another daemon holds the file.
        Already leading: the same as :meth:`check`.
        """
        with self._lock:
            if self._term is not None:
                return self.check()
            if self._postgresql:
                return self._acquire_postgresql()
            return self._acquire_sqlite()

    def check(self) -> bool:
        """Verify that this process still holds the lock (one query on PostgreSQL); when it
        does not, leadership is lost at once: logged, ``role`` becomes standby, False."""
        with self._lock:
            if self._term is None:
                return False
            held = self._held_postgresql() if self._postgresql else self._held_sqlite()
            if held:
                self._checked_at = self._timer()
            return held

    def guard(self) -> bool:
        """Whether a job may run now: the scheduler calls it before each job. Cheap: trusts a
        check younger than ``recheck`` seconds, else checks again."""
        with self._lock:
            if self._term is None:
                return False
            if self._timer() - self._checked_at < self.recheck:
                return True
            return self.check()

    def wait_until_leader(self, stop: threading.Event) -> bool:
        """Try to take the lead every ``standby_poll`` seconds until it succeeds (True) or
        ``stop`` is set (False)."""
        while not stop.is_set():
            if self.try_acquire():
                return True
            stop.wait(self.standby_poll)
        return False

    def release(self) -> None:
        """Give up the lead (a standby may take it at once); this process may try again."""
        with self._lock:
            term = self._term
            self._term = None
            if self._postgresql:
                if term is not None and self._conn is not None and self._key is not None:
                    try:
                        self._conn.execute(sa.text("select pg_advisory_unlock(:key)"),
                                           {"key": self._key})
                    except sa.exc.SQLAlchemyError as exc:
                        log.debug("unlock failed (the session's end frees it): %s", exc)
                self._drop_connection()
            elif self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
                self._fd = None
            if term is not None:
                log.info("gave up the lead of %s (%s)", self.url, term)

    def close(self) -> None:
        """Release, and close the leadership connection for good."""
        with self._lock:
            self.release()
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    # ------------------------------------------------------------------ PostgreSQL

    def _connection(self) -> sa.Connection:
        if self._conn is not None:
            return self._conn
        if self._engine is None:
            extra = {k: v for k, v in CONNECT_ARGS.items() if k not in self._parsed.query}
            self._engine = sa.create_engine(self._parsed, poolclass=NullPool,
                                            isolation_level="AUTOCOMMIT", connect_args=extra)
        conn = self._engine.connect()
        try:
            for statement in SESSION_SETTINGS:
                conn.execute(sa.text(statement))
            key = advisory_key(conn, LOCK_NAME)
        except BaseException:
            conn.close()
            raise
        if key is None:
            conn.close()
            raise SyncdError(
                f"the search_path of {self.url} names no existing schema: create the schema "
                "or fix options=-csearch_path=... in the database URL"
            )
        self._conn, self._key = conn, key
        return conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.close()
        except sa.exc.SQLAlchemyError as exc:  # closing a connection that already died
            log.debug("closing the leadership connection: %s", exc)

    def _acquire_postgresql(self) -> bool:
        try:
            conn = self._connection()
            got = conn.execute(sa.text("select pg_try_advisory_lock(:key)"),
                               {"key": self._key}).scalar()
            if not got:
                self._note(None)
                return False
            token, backend = conn.execute(
                sa.text("select txid_current(), pg_backend_pid()")).one()
        except sa.exc.SQLAlchemyError as exc:
            self._drop_connection()
            self._note(f"cannot reach PostgreSQL: {self._reason(exc)}")
            return False
        self._note(None)
        self._start(Term(token=int(token), holder=int(backend), acquired_at=self._clock()))
        return True

    def _held_postgresql(self) -> bool:
        if self._conn is None:
            self._lose("no connection to PostgreSQL")
            return False
        try:
            held = self._conn.execute(_HELD_SQL, {"key": self._key}).scalar()
        except sa.exc.SQLAlchemyError as exc:
            self._lose(f"the connection to PostgreSQL was lost: {self._reason(exc)}")
            return False
        if not held:
            self._lose("PostgreSQL no longer lists this session's advisory lock")
            return False
        return True

    def _reason(self, exc: sa.exc.SQLAlchemyError) -> str:
        """The driver's message on one line, without the password should it ever echo it."""
        orig = getattr(exc, "orig", None) or exc
        text = " ".join(line.strip() for line in str(orig).splitlines() if line.strip())
        text = text.split(" (Background on this error", 1)[0]
        if self._parsed.password:
            text = text.replace(str(self._parsed.password), "***")
        return text

    # ------------------------------------------------------------------ SQLite

    def _acquire_sqlite(self) -> bool:
        database = self._parsed.database
        if not database or database == ":memory:":
            self._start(Term(token=1, holder=os.getpid(), acquired_at=self._clock()))
            return True
        path = lock_path(database, LOCK_NAME)
        try:
            fd = try_flock(path)
        except OSError as exc:
            raise SyncdError(
                f"cannot open the lock file {path}: {exc.strerror or exc}; check that this "
                f"user may write in {path.parent}"
            ) from exc
        if fd is None:
            holder = _read_lock_file(path)[0]
            who = f" (pid {holder})" if holder else ""
            raise DaemonBusy(
                f"another syncd run{who} is already running against {self.url}; stop it first "
                "(SQLite allows one daemon per database: use PostgreSQL for replicas)"
            )
        token = _read_fd(fd)[1] + 1
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {token}\n".encode(), 0)
        self._fd, self._path = fd, path
        self._start(Term(token=token, holder=os.getpid(), acquired_at=self._clock()))
        return True

    def _held_sqlite(self) -> bool:
        if self._fd is None or self._path is None:
            return True  # in memory: nothing to share
        try:
            named = os.stat(self._path)
        except FileNotFoundError:
            named = None
        held = os.fstat(self._fd)
        if named is None or (named.st_dev, named.st_ino) != (held.st_dev, held.st_ino):
            # Someone deleted or replaced the lock file: another daemon could lock the new one.
            self._lose(f"the lock file {self._path} was deleted or replaced")
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
            return False
        return True

    # ------------------------------------------------------------------ shared

    def _start(self, term: Term) -> None:
        self._term = term
        self._checked_at = self._timer()
        log.info("leading %s (%s)", self.url, term)

    def _lose(self, reason: str) -> None:
        term, self._term = self._term, None
        self.last_error = reason
        log.warning("lost the lead of %s (%s): %s; standing by", self.url, term, reason)
        if self._postgresql:
            self._drop_connection()

    def _note(self, error: str | None) -> None:
        """Record a standby's last failure, logged once per distinct reason."""
        if error != self.last_error:
            if error is not None:
                log.warning("standing by on %s: %s; trying again every %gs", self.url, error,
                            self.standby_poll)
            elif self.last_error is not None:
                log.info("PostgreSQL at %s answers again", self.url)
        self.last_error = error


def _read_fd(fd: int) -> tuple[int | None, int]:
    """(pid, token) written in a lock file; (None, 0) when empty or unreadable."""
    parts = os.pread(fd, 100, 0).decode(errors="replace").split()
    try:
        pid = int(parts[0])
    except (IndexError, ValueError):
        return None, 0
    try:
        token = int(parts[1])
    except (IndexError, ValueError):
        token = 0
    return pid, token


def _read_lock_file(path: Path) -> tuple[int | None, int]:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            return _read_fd(fd)
        finally:
            os.close(fd)
    return None, 0


__all__ = ["CONNECT_ARGS", "DaemonBusy", "Leadership", "Role", "Term"]
