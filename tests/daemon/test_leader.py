"""Leadership among replicas: real PostgreSQL sessions, real SQLite lock files, real processes
killed with SIGKILL."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from syncd.daemon.leader import DaemonBusy, Leadership
from syncd.store.lock import exclusive

NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)

# A replica in miniature: tries to lead every 0.2 s, says when it starts leading, and while it
# leads (guard() checked before every tick, as the scheduler does before each job) records one
# tick row per 0.2 s in the test's schema.
CONTENDER = r"""
import os, sys, time
import sqlalchemy as sa
from sqlalchemy.pool import NullPool
from syncd.daemon.leader import Leadership

url, ticks = sys.argv[1], sys.argv[2] == "ticks"
engine = sa.create_engine(url, poolclass=NullPool) if ticks else None
with Leadership(url, standby_poll=0.2, recheck=0) as lead:
    print("READY", os.getpid(), flush=True)
    leading = False
    while True:
        if not lead.is_leader:
            lead.try_acquire()
        if lead.is_leader and not leading:
            print("LEADER", os.getpid(), lead.token, flush=True)
        leading = lead.is_leader
        if engine is not None and lead.guard():
            with engine.begin() as conn:
                conn.execute(sa.text("insert into tick (pid) values (:pid)"),
                             {"pid": os.getpid()})
        time.sleep(0.2)
"""


class Contenders:
    """Replica processes whose stdout lines arrive, timestamped, in one queue."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        self.lines: queue.Queue[tuple[float, int, list[str]]] = queue.Queue()
        self._readers: list[threading.Thread] = []

    def start(self, url: str, mode: str = "plain") -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-c", CONTENDER, url, mode], text=True,
                                stdout=subprocess.PIPE, cwd=Path(__file__).parents[2])
        self.procs.append(proc)
        reader = threading.Thread(target=self._read, args=(proc,), daemon=True)
        reader.start()
        self._readers.append(reader)
        return proc

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.put((time.monotonic(), proc.pid, line.split()))

    def expect(self, word: str, timeout: float) -> tuple[float, int, list[str]]:
        """The next line starting with ``word`` (other lines are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                at, pid, words = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                codes = [p.poll() for p in self.procs]
                raise AssertionError(
                    f"no {word} line within {timeout}s (exit codes {codes})") from None
            if words and words[0] == word:
                return at, pid, words

    def until(self, done: Callable[[list[str]], bool],
              timeout: float) -> list[tuple[float, int, list[str]]]:
        """Every line until ``done(first words so far)`` holds."""
        deadline = time.monotonic() + timeout
        out: list[tuple[float, int, list[str]]] = []
        while not done([w[0] for _, _, w in out if w]):
            try:
                out.append(self.lines.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                codes = [p.poll() for p in self.procs]
                raise AssertionError(f"only {out} within {timeout}s (exit codes {codes})") from None
        return out

    def drain(self, seconds: float) -> list[tuple[float, int, list[str]]]:
        """Every line that arrives within ``seconds``."""
        time.sleep(seconds)
        out = []
        while not self.lines.empty():
            out.append(self.lines.get_nowait())
        return out

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
        for reader in self._readers:
            reader.join(timeout=10)
        for proc in self.procs:
            assert proc.stdout is not None
            proc.stdout.close()


@pytest.fixture
def contenders() -> Iterator[Contenders]:
    group = Contenders()
    try:
        yield group
    finally:
        group.close()


@pytest.fixture
def admin(pg_url: str) -> Iterator[sa.Engine]:
    """A plain engine on the test's schema, for the test's own queries."""
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def _terminate(admin: sa.Engine, backend: int) -> None:
    with admin.connect() as conn:
        assert conn.execute(sa.text("select pg_terminate_backend(:pid)"), {"pid": backend}).scalar()
        # pg_terminate_backend only signals: wait until the backend is gone
        for _ in range(100):
            gone = not conn.execute(sa.text("select count(*) from pg_stat_activity where pid = :p"),
                                    {"p": backend}).scalar()
            if gone:
                return
            time.sleep(0.02)
    raise AssertionError(f"backend {backend} still alive")


class FakeTimer:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------ PostgreSQL, in process


@pytest.mark.postgres
def test_one_of_two_leads_and_a_release_hands_over(pg_url: str) -> None:
    with Leadership(pg_url, clock=lambda: NOW) as first, Leadership(pg_url) as second:
        assert (first.role, second.role) == ("leader", "standby")
        assert first.is_leader and not second.is_leader
        assert first.term is not None and first.term.acquired_at == NOW
        assert second.term is None and second.token is None and second.last_error is None
        assert first.check() and first.guard()
        assert not second.try_acquire() and not second.check() and not second.guard()
        old = first.token
        assert old is not None

        first.release()
        assert first.role == "standby" and not first.guard()
        assert second.try_acquire() and second.role == "leader"
        assert second.token is not None and second.token > old  # increases with each term
        assert not first.try_acquire()


@pytest.mark.postgres
def test_a_leader_whose_backend_is_terminated_loses_the_lead_at_once(
        pg_url: str, admin: sa.Engine, caplog: pytest.LogCaptureFixture) -> None:
    with Leadership(pg_url) as lead:
        assert lead.term is not None
        first = lead.term
        _terminate(admin, first.holder)

        assert not lead.check()
        assert lead.role == "standby" and lead.term is None and not lead.guard()
        assert lead.last_error is not None
        assert lead.last_error.startswith("the connection to PostgreSQL was lost")
        assert "\n" not in lead.last_error
        assert any(r.levelname == "WARNING" and "lost the lead" in r.getMessage()
                   for r in caplog.records)

        # nobody else holds it: the next poll takes it back, in a new term
        assert lead.try_acquire()
        assert lead.token is not None and lead.token > first.token
        assert lead.term is not None and lead.term.holder != first.holder


@pytest.mark.postgres
def test_guard_trusts_a_check_for_recheck_seconds_only(pg_url: str, admin: sa.Engine) -> None:
    timer = FakeTimer()
    with Leadership(pg_url, recheck=2, timer=timer) as lead:
        assert lead.term is not None
        _terminate(admin, lead.term.holder)
        timer.now += 1.9
        assert lead.guard()  # a check 1.9 s old is trusted: no query
        timer.now += 0.2
        assert not lead.guard()  # 2.1 s: checks, finds the connection gone
        assert lead.role == "standby"


@pytest.mark.postgres
def test_the_daemon_lock_is_apart_from_the_sync_lock_and_per_schema(
        pg_url: str, admin: sa.Engine) -> None:
    other = "t_" + uuid.uuid4().hex[:12]
    with admin.connect() as conn:
        conn.execute(sa.text(f'create schema "{other}"'))
    other_url = pg_url.rsplit("%3D", 1)[0] + "%3D" + other
    engine = sa.create_engine(pg_url)
    try:
        with exclusive(engine, "sync", pg_url), Leadership(pg_url) as lead, \
                Leadership(other_url) as elsewhere:
            assert lead.is_leader and elsewhere.is_leader
            assert lead.term is not None and elsewhere.term is not None
            with admin.connect() as conn:
                names: dict[int, str] = dict(conn.execute(sa.text(
                    "select pid, application_name from pg_stat_activity")).all())
            assert names[lead.term.holder] == "syncd daemon"  # its own connection
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'drop schema "{other}" cascade'))


def test_an_unreachable_server_leaves_a_standby_polling_without_a_secret() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    url = f"postgresql://syncd:s3cret-pw@127.0.0.1:{port}/test"
    with Leadership(url) as lead:
        assert lead.role == "standby" and not lead.try_acquire() and not lead.guard()
        assert lead.last_error is not None
        assert lead.last_error.startswith("cannot reach PostgreSQL: ")
        assert "s3cret-pw" not in lead.last_error + repr(lead) + lead.url
        assert "\n" not in lead.last_error


@pytest.mark.postgres
def test_wait_until_leader_polls_until_the_lead_is_free_or_stop(pg_url: str) -> None:
    stop = threading.Event()
    with Leadership(pg_url) as first, Leadership(pg_url, standby_poll=0.05) as second:
        timer = threading.Timer(0.3, first.release)
        timer.start()
        started = time.monotonic()
        assert second.wait_until_leader(stop)
        timer.join()
        assert 0.25 < time.monotonic() - started < 2
        stop.set()
        assert not first.wait_until_leader(stop)  # stopped: gives up without taking it


# ------------------------------------------------------------------ SQLite, in process


def test_sqlite_refuses_a_second_daemon_with_one_clear_line(sqlite_url: str) -> None:
    with Leadership(sqlite_url) as first:
        assert first.role == "leader" and first.token == 1 and first.check() and first.guard()
        assert first.term is not None and first.term.holder == os.getpid()
        with pytest.raises(DaemonBusy) as err:
            Leadership(sqlite_url).__enter__()
        assert str(err.value) == (
            f"another syncd run (pid {os.getpid()}) is already running against {sqlite_url}; "
            "stop it first (SQLite allows one daemon per database: use PostgreSQL for replicas)"
        )
    with Leadership(sqlite_url) as again:  # released on exit
        assert again.is_leader and again.token == 2  # the lock file counts the terms


def test_sqlite_loses_the_lead_when_its_lock_file_is_deleted(sqlite_url: str) -> None:
    with Leadership(sqlite_url) as lead:
        Path(sqlite_url.removeprefix("sqlite:///") + ".daemon.lock").unlink()
        assert not lead.check() and lead.role == "standby"
        assert lead.last_error is not None and "deleted or replaced" in lead.last_error
        assert lead.try_acquire()  # nobody else took the new file


def test_an_in_memory_sqlite_daemon_always_leads() -> None:
    with Leadership("sqlite://") as lead:
        assert lead.is_leader and lead.check() and lead.guard()


# ------------------------------------------------------------------ real processes


@pytest.mark.slow
@pytest.mark.postgres
def test_three_replicas_one_leader_and_a_killed_leader_is_replaced_within_seconds(
        pg_url: str, admin: sa.Engine, contenders: Contenders) -> None:
    with admin.connect() as conn:
        conn.execute(sa.text("create table tick (id bigserial primary key, pid integer not null)"))
    for _ in range(3):
        contenders.start(pg_url, "ticks")
    lines = contenders.until(lambda seen: seen.count("READY") == 3 and "LEADER" in seen, 15)
    lines += contenders.drain(0.6)  # three polls of each standby
    leaders = [(pid, w) for _, pid, w in lines if w[0] == "LEADER"]
    assert len(leaders) == 1, leaders  # exactly one of the three leads
    leader, first_token = leaders[0][0], int(leaders[0][1][2])

    proc = next(p for p in contenders.procs if p.pid == leader)
    proc.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    proc.wait(timeout=5)
    at, successor, words = contenders.expect("LEADER", timeout=10)
    takeover = at - killed_at
    assert successor != leader and int(words[2]) > first_token
    assert takeover < 5, f"takeover took {takeover:.2f}s"  # poll 0.2 s; the target is 30 s
    assert [w for _, _, w in contenders.drain(1.0) if w[0] == "LEADER"] == []

    # Only a process holding the lock (guard() before each tick) ever wrote: the ticks, in
    # commit order, are one run of the first leader then one run of its successor.
    with admin.connect() as conn:
        pids = conn.execute(sa.text("select pid from tick order by id")).scalars().all()
    runs = [pid for i, pid in enumerate(pids) if i == 0 or pids[i - 1] != pid]
    assert runs == [leader, successor], runs
    assert pids.count(leader) >= 3 and pids.count(successor) >= 3


@pytest.mark.slow
def test_sqlite_a_killed_daemon_frees_its_database_for_the_next(
        sqlite_url: str, contenders: Contenders) -> None:
    proc = contenders.start(sqlite_url)
    contenders.expect("LEADER", timeout=15)
    with pytest.raises(DaemonBusy) as err:
        Leadership(sqlite_url).__enter__()
    assert f"(pid {proc.pid})" in str(err.value) and "stop it first" in str(err.value)

    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=5)
    with Leadership(sqlite_url) as lead:  # the kernel released the flock with the process
        assert lead.is_leader and lead.token == 2
