"""Prometheus metrics of one daemon process, served on ``/metrics`` by :mod:`syncd.daemon.health`.

A :class:`Metrics` owns its own ``CollectorRegistry`` (never the global one), so tests and a
reloaded daemon can make as many as they like. Two ways in:

- :meth:`Metrics.observe_cycle` after each cycle: what the cycle did (sync duration, records,
  API calls and 429s, evaluation duration, deliveries, the last success of each job);
- :meth:`Metrics.refresh_from_store` after each cycle and on each standby check: what the
  database says (alerts by state, outbox backlog and failures, last successful sync), so a
  standby replica reports the same numbers as the leader.

Labels are bounded: CRM names, object names, states, job names. Never a deal id, an e-mail
or anything read from the CRM's data, and never a secret.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from connectors.base import SYNC_ORDER
from rules.alerts_records import AlertState
from syncd.notify import outbox
from syncd.store import tables as t

log = logging.getLogger("syncd.daemon.metrics")

#: The jobs whose last success is a ``syncd_last_success_timestamp_seconds`` series.
JOBS = ("sync", "evaluate", "digest", "report", "deliver")
SYNC_STATUSES = ("ok", "failed", "interrupted")
ALERT_STATES = tuple(state.value for state in AlertState)
_OBJECTS = frozenset(SYNC_ORDER)

_SYNC_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
_EVAL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


@dataclass(frozen=True, slots=True)
class StoreFacts:
    """What :meth:`Metrics.refresh_from_store` read (the readiness endpoint shows it too)."""

    alerts: Mapping[str, int] = field(default_factory=dict)  # state -> alerts
    pending: int = 0
    sending: int = 0
    failed: int = 0
    #: When every object was last synced successfully (the oldest of them), per CRM; absent
    #: while some object of that CRM never succeeded.
    last_sync_by_crm: Mapping[str, datetime] = field(default_factory=dict)

    @property
    def backlog(self) -> int:
        return self.pending + self.sending

    @property
    def last_sync(self) -> datetime | None:
        return min(self.last_sync_by_crm.values(), default=None)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _count(value: Any) -> int:
    """A non-negative int from a report's field (anything odd counts as 0)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _seconds(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


class Metrics:
    """The daemon's metrics. ``crm``: the label of the CRM calls (``config.crm.provider``);
    ``clock``: when a job succeeded (aware datetimes); ``process``: also export the
    process's memory, CPU and file descriptors (``process_*``) and Python's version."""

    def __init__(self, *, crm: str = "unknown", clock: Callable[[], datetime] = _utcnow,
                 process: bool = True) -> None:
        self.crm = crm
        self._clock = clock
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        if process:
            ProcessCollector(registry=reg)
            PlatformCollector(registry=reg)
        self.sync_duration = Histogram(
            "syncd_sync_duration_seconds", "How long a CRM sync took, by outcome.",
            ["crm", "status"], buckets=_SYNC_BUCKETS, registry=reg)
        self.sync_runs = Counter(
            "syncd_sync_runs", "CRM syncs run, by outcome (ok, failed, interrupted).",
            ["crm", "status"], registry=reg)
        self.records = Counter(
            "syncd_sync_records", "Records fetched from the CRM and stored, by object.",
            ["crm", "object"], registry=reg)
        self.bad_records = Counter(
            "syncd_sync_bad_records", "Records stored with problems (nulls, unknown stages, "
            "bad numbers), by object.", ["crm", "object"], registry=reg)
        self.api_calls = Counter(
            "syncd_crm_api_calls", "Calls made to the CRM's API.", ["crm"], registry=reg)
        self.rate_limited = Counter(
            "syncd_crm_rate_limited", "CRM API calls answered 429 (rate limited).",
            ["crm"], registry=reg)
        self.last_sync = Gauge(
            "syncd_last_successful_sync_timestamp_seconds",
            "When every object of the CRM was last synced successfully (the oldest of them), "
            "from the database.", ["crm"], registry=reg)
        self.evaluation_duration = Histogram(
            "syncd_evaluation_duration_seconds",
            "How long evaluating the Key Results and alert rules took.",
            buckets=_EVAL_BUCKETS, registry=reg)
        self.alerts = Gauge(
            "syncd_alerts", "Alerts by state, from the database.", ["state"], registry=reg)
        self.outbox_backlog = Gauge(
            "syncd_outbox_backlog", "Slack messages not delivered yet (pending: waiting; "
            "sending: claimed, outcome not known yet).", ["status"], registry=reg)
        self.outbox_failed = Gauge(
            "syncd_outbox_failed", "Slack messages Slack refused for good (see syncd notify).",
            registry=reg)
        self.deliveries = Counter(
            "syncd_deliveries_sent", "Slack messages delivered by this process.", registry=reg)
        self.delivery_failures = Counter(
            "syncd_delivery_failures", "Slack messages that failed for good in this process.",
            registry=reg)
        self.job_success = Gauge(
            "syncd_last_success_timestamp_seconds",
            "When each job last succeeded in this process (sync, evaluate, digest, report, "
            "deliver).", ["job"], registry=reg)
        self.leader = Gauge(
            "syncd_leader", "1 while this process is the leader (runs the jobs), else 0.",
            registry=reg)
        self.cycles = Counter("syncd_cycles", "Cycles run by this process.", registry=reg)
        self.cycle_failures = Counter(
            "syncd_cycle_failures", "Cycles in which some step failed or was interrupted.",
            registry=reg)
        # Series that exist from the start, so rate() and absent() behave before the first run.
        self.api_calls.labels(crm)
        self.rate_limited.labels(crm)
        for state in ALERT_STATES:
            self.alerts.labels(state).set(0)
        for status in ("pending", "sending"):
            self.outbox_backlog.labels(status).set(0)

    # ------------------------------------------------------------------ in

    def set_leader(self, leader: bool) -> None:
        self.leader.set(1 if leader else 0)

    def observe_evaluation(self, seconds: float) -> None:
        if seconds >= 0:
            self.evaluation_duration.observe(seconds)

    def observe_cycle(self, report: Any, *, crm: str | None = None) -> None:
        """Count what one :class:`~syncd.daemon.cycle.CycleReport` says it did. Read
        defensively: any part may be missing (no sync, no Slack, an evaluation that failed)."""
        crm = crm or self.crm
        now = self._clock().timestamp()
        self.cycles.inc()
        ok = getattr(report, "ok", False)
        if not ok:
            self.cycle_failures.inc()
        errors = [str(e) for e in getattr(report, "errors", None) or ()]
        sync = getattr(report, "sync", None)
        if sync is not None:
            self._observe_sync(sync, crm, now)
        evaluated = getattr(report, "evaluation", None) is not None
        if evaluated and not any(e.startswith("evaluation") for e in errors):
            self.job_success.labels("evaluate").set(now)
        seconds = _seconds(getattr(report, "evaluation_seconds", None))
        if evaluated and seconds is not None:
            self.evaluation_duration.observe(seconds)
        for due in getattr(report, "reports", None) or ():
            kind = getattr(due, "kind", None)
            if kind in ("digest", "report") and not getattr(due, "missed", False):
                self.job_success.labels(kind).set(now)
        delivery = getattr(report, "delivery", None)
        if delivery is not None:
            self.deliveries.inc(_count(getattr(delivery, "sent", 0)))
            self.delivery_failures.inc(_count(getattr(delivery, "failed", 0)))
            if getattr(delivery, "ok", False):
                self.job_success.labels("deliver").set(now)

    def _observe_sync(self, sync: Any, crm: str, now: float) -> None:
        status = str(getattr(sync, "status", ""))
        status = status if status in SYNC_STATUSES else "other"
        self.sync_runs.labels(crm, status).inc()
        seconds = _seconds(getattr(sync, "seconds", None))
        if seconds is not None:
            self.sync_duration.labels(crm, status).observe(seconds)
        self.api_calls.labels(crm).inc(_count(getattr(sync, "api_calls", 0)))
        self.rate_limited.labels(crm).inc(_count(getattr(sync, "rate_limited", 0)))
        objects = getattr(sync, "objects", None)
        for name, summary in (objects.items() if isinstance(objects, Mapping) else ()):
            obj = name if name in _OBJECTS else "other"
            self.records.labels(crm, obj).inc(_count(getattr(summary, "fetched", 0)))
            self.bad_records.labels(crm, obj).inc(_count(getattr(summary, "bad_records", 0)))
        if status == "ok":
            self.job_success.labels("sync").set(now)

    def refresh_from_store(self, engine: sa.Engine) -> StoreFacts:
        """Set the gauges the database knows (alerts by state, outbox, last successful sync)
        and return what was read. Raises SQLAlchemy's error when the database is unreachable
        (:func:`syncd.daemon.health.refresh` turns that into "not ready")."""
        facts = read_store(engine)
        counts = dict.fromkeys(ALERT_STATES, 0)
        for state, count in facts.alerts.items():
            key = state if state in counts else "other"
            counts[key] = counts.get(key, 0) + count
        for state, count in counts.items():
            self.alerts.labels(state).set(count)
        self.outbox_backlog.labels("pending").set(facts.pending)
        self.outbox_backlog.labels("sending").set(facts.sending)
        self.outbox_failed.set(facts.failed)
        for crm, when in facts.last_sync_by_crm.items():
            self.last_sync.labels(crm).set(when.timestamp())
        return facts

    # ------------------------------------------------------------------ out

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


def read_store(engine: sa.Engine) -> StoreFacts:
    """Alerts by state, the outbox's backlog and the last successful sync per CRM, in one
    connection."""
    s = t.sync_state.c
    with engine.connect() as conn:
        alerts = {
            str(state): int(count) for state, count in conn.execute(
                sa.select(t.alert.c.state, sa.func.count()).group_by(t.alert.c.state))
        }
        backlog = outbox.backlog(conn, failures=0)
        rows = conn.execute(
            sa.select(s.source, sa.func.min(s.last_success_at),
                      sa.func.count() - sa.func.count(s.last_success_at))
            .group_by(s.source)
        ).all()
    last = {str(src): when for src, when, never in rows if when is not None and not never}
    return StoreFacts(alerts=alerts, pending=backlog.pending, sending=backlog.sending,
                      failed=backlog.failed, last_sync_by_crm=last)


__all__ = ["ALERT_STATES", "JOBS", "Metrics", "StoreFacts", "read_store"]
