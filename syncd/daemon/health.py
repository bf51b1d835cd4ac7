"""The health endpoint: ``/healthz``, ``/readyz`` and ``/metrics`` on ``service.listen``.

The daemon owns a :class:`HealthState` and keeps it current; a small threaded HTTP server
(:class:`HealthServer`) answers from it, so a request never waits on the scheduler or the
database::

    GET /healthz  liveness: 200 "ok" while the main loop beats (HealthState.heartbeat);
                  503 once the last beat is older than ``stale_after`` (5 minutes): a wedged
                  scheduler gets its process restarted
    GET /readyz   readiness: 200 when ready, else 503; a JSON body either way (role, last
                  successful sync and its age, outbox backlog, failed deliveries, why)
    GET /metrics  Prometheus text (Metrics.render)
    anything else 404

Readiness: the leader and a standby are both ready (a standby is a valid replica). Not ready
while stopping, while the database is unreachable (the last read failed), or before the first
cycle (leader) or the first standby check finished. A failing CRM or Slack does not make the
process unready: restarting it would not help, the stale-data alert and the metrics say it.

Errors::

    SyncdError
    └── HealthServerError   the address cannot be listened on (in use, not local, no right)
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import urlsplit

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST

from syncd.daemon.metrics import Metrics, StoreFacts, read_store
from syncd.errors import SyncdError
from syncd.logs import REDACT

log = logging.getLogger("syncd.daemon.health")

Role = Literal["leader", "standby"]


class HealthServerError(SyncdError):
    """``service.listen`` cannot be listened on."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).isoformat()


def _age(now: datetime, when: datetime | None) -> float | None:
    return None if when is None else round(max((now - when).total_seconds(), 0.0), 3)


def _one_line(text: str, limit: int = 200) -> str:
    first = REDACT.redact(text.strip().splitlines()[0] if text.strip() else "")
    return first if len(first) <= limit else first[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    why: str
    body: dict[str, Any]


class HealthState:
    """What the daemon tells the health endpoint; every method is thread-safe. ``now``
    arguments default to ``clock()``."""

    def __init__(self, *, clock: Callable[[], datetime] = _utcnow,
                 stale_after: timedelta = timedelta(minutes=5)) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.stale_after = stale_after
        self.started = clock()
        self._heartbeat = self.started
        self._role: Role = "standby"
        self._checked = False
        self._stopping = False
        self._db_error: str | None = None
        self._facts: StoreFacts | None = None
        self._cycle_at: datetime | None = None
        self._cycle_ok: bool | None = None
        self._cycle_error: str | None = None

    def now(self) -> datetime:
        return self._clock()

    # ------------------------------------------------------------------ the daemon writes

    def heartbeat(self, now: datetime | None = None) -> None:
        """The main loop is alive (call it at least every ``stale_after`` / 2)."""
        with self._lock:
            self._heartbeat = now or self._clock()

    def set_role(self, role: Role) -> None:
        """The outcome of a leadership check; a standby's first one makes it ready."""
        if role not in ("leader", "standby"):
            raise ValueError(f"role {role!r} is not leader or standby")
        with self._lock:
            self._role = role
            self._checked = self._checked or role == "standby"

    def cycle_finished(self, ok: bool, error: str | None = None,
                       now: datetime | None = None) -> None:
        """The leader finished a cycle (``error``: one line on what failed)."""
        when = now or self._clock()
        with self._lock:
            self._checked = True
            self._cycle_at, self._cycle_ok = when, ok
            self._cycle_error = None if ok or not error else _one_line(error)
            self._heartbeat = max(self._heartbeat, when)

    def observe_cycle(self, report: Any, now: datetime | None = None) -> None:
        """:meth:`cycle_finished` from a :class:`~syncd.daemon.cycle.CycleReport`."""
        problems = [str(e) for e in getattr(report, "errors", None) or ()]
        sync = getattr(report, "sync", None)
        if sync is not None and getattr(sync, "status", "ok") != "ok":
            problems.insert(0, f"sync {sync.status}: {getattr(sync, 'error', None)}")
        delivery = getattr(report, "delivery", None)
        if delivery is not None and not getattr(delivery, "ok", True):
            problems.append("Slack: " + "; ".join(getattr(delivery, "errors", [])[:1]))
        if getattr(report, "interrupted", False):
            problems.append("interrupted")
        self.cycle_finished(bool(getattr(report, "ok", False)), " | ".join(problems), now)

    def standby_checked(self, now: datetime | None = None) -> None:
        """A standby tried to become the leader (and stayed a standby)."""
        when = now or self._clock()
        with self._lock:
            self._checked = True
            self._heartbeat = max(self._heartbeat, when)

    def store_read(self, facts: StoreFacts) -> None:
        """The database answered: its numbers, and it is reachable."""
        with self._lock:
            self._facts, self._db_error = facts, None

    def database_down(self, error: str) -> None:
        with self._lock:
            self._db_error = _one_line(error) or "unreachable"

    def set_stopping(self) -> None:
        with self._lock:
            self._stopping = True

    # ------------------------------------------------------------------ the endpoint reads

    def liveness(self, now: datetime | None = None) -> tuple[bool, str]:
        now = now or self._clock()
        with self._lock:
            age = (now - self._heartbeat).total_seconds()
        if age > self.stale_after.total_seconds():
            return False, (f"stale: no heartbeat for {age:.0f}s "
                           f"(limit {self.stale_after.total_seconds():.0f}s)")
        return True, "ok"

    def readiness(self, now: datetime | None = None) -> Readiness:
        now = now or self._clock()
        with self._lock:
            role, facts, db_error = self._role, self._facts, self._db_error
            checked, stopping = self._checked, self._stopping
            cycle_at, cycle_ok, cycle_error = self._cycle_at, self._cycle_ok, self._cycle_error
        if stopping:
            ready, why = False, "stopping: shutting down"
        elif db_error is not None:
            ready, why = False, f"database unreachable: {db_error}"
        elif not checked:
            first = "cycle" if role == "leader" else "standby check"
            ready, why = False, f"starting: the first {first} has not finished"
        elif role == "leader":
            ready, why = True, "leader: running the jobs"
        else:
            ready, why = True, "standby: another replica is the leader"
        last_sync = facts.last_sync if facts is not None else None
        body: dict[str, Any] = {
            "role": role,
            "ready": ready,
            "why": why,
            "last_sync": _iso(last_sync),
            "last_sync_age_s": _age(now, last_sync),
            "outbox_backlog": facts.backlog if facts is not None else None,
            "failed_deliveries": facts.failed if facts is not None else None,
            "last_cycle": None if cycle_at is None else {
                "at": _iso(cycle_at), "ok": cycle_ok, "error": cycle_error},
            "started": _iso(self.started),
        }
        return Readiness(ready, why, body)


def refresh(state: HealthState, metrics: Metrics | None, engine: sa.Engine) -> StoreFacts | None:
    """Read the database's numbers into ``metrics`` and ``state``; None (and ``state`` not
    ready) when the database cannot be reached."""
    try:
        facts = metrics.refresh_from_store(engine) if metrics else read_store(engine)
    except sa.exc.SQLAlchemyError as exc:
        reason = f"{type(exc).__name__}: {getattr(exc, 'orig', None) or exc}"
        log.warning("health: the database cannot be read: %s", _one_line(reason))
        state.database_down(reason)
        return None
    state.store_read(facts)
    return facts


# --------------------------------------------------------------------------- HTTP


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], family: socket.AddressFamily,
                 state: HealthState, metrics: Metrics | None, engine: sa.Engine | None,
                 refresh_every: timedelta) -> None:
        self.address_family = family
        self.state = state
        self.metrics = metrics
        self.engine = engine
        self.refresh_every = refresh_every
        self._refreshed: datetime | None = None
        self._refresh_lock = threading.Lock()
        super().__init__(address, _Handler)

    def refresh_if_old(self) -> None:
        """With an engine: read the database's numbers again when the last read is older
        than ``refresh_every`` (one reader at a time; probes in between get the last read)."""
        if self.engine is None:
            return
        with self._refresh_lock:
            now = self.state.now()
            if self._refreshed is not None and now - self._refreshed < self.refresh_every:
                return
            self._refreshed = now
            refresh(self.state, self.metrics, self.engine)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "syncd"
    sys_version = ""

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        state, metrics = self.server.state, self.server.metrics
        if path == "/healthz":
            alive, text = state.liveness()
            self._send(200 if alive else 503, (text + "\n").encode(), "text/plain; charset=utf-8")
        elif path == "/readyz":
            self.server.refresh_if_old()
            readiness = state.readiness()
            body = json.dumps(readiness.body, ensure_ascii=False).encode() + b"\n"
            self._send(200 if readiness.ready else 503, body, "application/json")
        elif path == "/metrics" and metrics is not None:
            self.server.refresh_if_old()
            self._send(200, metrics.render(), CONTENT_TYPE_LATEST)
        else:
            self._send(404, b"not found: try /healthz, /readyz or /metrics\n",
                       "text/plain; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9108`` for IPv6) -> (host, port); port 0: any free port."""
    match = re.fullmatch(r"\[([0-9a-fA-F:]+)\]:(\d{1,5})|([A-Za-z0-9.\-]+):(\d{1,5})",
                         listen.strip())
    if match is None or int(match.group(2) or match.group(4)) > 65535:
        raise HealthServerError(f"{listen!r} is not an address to listen on: write host:port, "
                                "like 127.0.0.1:9108")
    if match.group(1):
        return match.group(1), int(match.group(2))
    return match.group(3), int(match.group(4))


class HealthServer:
    """The endpoint, bound at construction (``port`` is known at once, also for port 0)
    and served by a daemon thread between :meth:`start` and :meth:`stop`.

    ``engine``: /readyz and /metrics read the database's numbers again (:func:`refresh`)
    when the last read is older than ``refresh_every``, so a standby's numbers stay current
    and an unreachable database makes the process unready within that time.
    ``poll_interval``: how long :meth:`stop` may wait for the serving thread to notice."""

    def __init__(self, listen: str, state: HealthState, metrics: Metrics | None = None, *,
                 engine: sa.Engine | None = None,
                 refresh_every: timedelta = timedelta(seconds=15),
                 poll_interval: float = 0.5) -> None:
        host, port = parse_listen(listen)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            self._httpd = _Server((host, port), family, state, metrics, engine, refresh_every)
        except OSError as exc:
            raise HealthServerError(
                f"cannot listen on {listen} for /healthz, /readyz and /metrics: "
                f"{exc.strerror or exc}. Set service.listen to a free local address "
                "(host:port), or off.") from exc
        self.host = host
        self.port: int = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None
        self._poll = poll_interval  # how soon stop() is noticed

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> HealthServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever,
                                            kwargs={"poll_interval": self._poll},
                                            name="syncd-health", daemon=True)
            self._thread.start()
            log.info("health: listening on %s (/healthz, /readyz, /metrics)", self.url)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> HealthServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_health_server(listen: str, state: HealthState, metrics: Metrics | None = None, *,
                        engine: sa.Engine | None = None) -> HealthServer | None:
    """The started endpoint on ``listen`` (``service.listen``), or None when it is "off"."""
    if listen.strip().lower() in ("off", ""):
        return None
    return HealthServer(listen, state, metrics, engine=engine).start()


__all__ = [
    "HealthServer",
    "HealthServerError",
    "HealthState",
    "Readiness",
    "Role",
    "parse_listen",
    "refresh",
    "start_health_server",
]
