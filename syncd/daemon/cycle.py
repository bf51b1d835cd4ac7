"""One cycle of the daemon: sync, evaluate, step the alerts, deliver, and the reports due.

:func:`run_cycle` is what ``syncd run --once`` runs, what the scheduler runs after each
incremental sync, and what ``syncd demo`` runs at its frozen Monday morning::

    sync (the CRM into the store; a failure is recorded, the rest still runs on the data
          already stored, and a failing sync becomes the stale-data alert once too old)
    -> evaluate (today's snapshots, findings)
    -> alerts (states, audit trail, messages queued: one transaction)
    -> today's pipeline snapshot (once per local day: the digest's pushed / pulled-in deals)
    -> reports due (the Monday digest, the monthly report: once per week / month)
    -> deliver the outbox

Nothing here raises for a CRM, Slack or data problem: each step's outcome is in the
:class:`CycleReport`, whose ``ok`` says whether everything succeeded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from syncd.errors import SyncdError

log = logging.getLogger("syncd.daemon.cycle")


@dataclass
class CycleReport:
    started: datetime
    sync: Any = None  # SyncSummary
    evaluation: Any = None  # Evaluation
    evaluation_seconds: float | None = None
    alerts: Any = None  # lifecycle Outcome
    reports: list[Any] = field(default_factory=list)  # schedule.Due
    announced: list[str] = field(default_factory=list)  # revision announcements queued
    delivery: Any = None  # sender DeliveryReport (None: no Slack)
    snapshot: int | None = None  # open deals in today's pipeline snapshot (None: not taken)
    errors: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        sync_ok = self.sync is None or self.sync.status == "ok"
        delivered = self.delivery is None or self.delivery.ok
        return sync_ok and delivered and not self.errors and not self.interrupted


def _slack(config: Any) -> tuple[Any, Any]:
    from syncd.notify_cli import slack_clients

    return slack_clients(config)


def _announce(engine: Any, config: Any, evaluation: Any, now: datetime,
              client: Any) -> list[str]:
    """Queue the announcements of target revisions taking effect (once each)."""
    from syncd.notify import mentions
    from syncd.notify.announce import queue_revisions

    emails = {e for r in evaluation.krs for e in r.goal.config.owners}
    people = mentions.resolve(engine, emails, now, overrides=config.slack.mentions,
                              client=client)
    return queue_revisions(engine, config, now, mentions=people, results=evaluation.krs)


def run_cycle(config: Any, store: Any, *, clock: Callable[[], datetime],
              connector: Any = None, stop: threading.Event | None = None,
              full: bool = False, progress: Any = None, parallel_after: int | None = None,
              run_id: str | None = None, sync: bool = True) -> CycleReport:
    """One cycle against ``store`` (see the module docstring). ``connector`` None: made
    from the config (and closed). ``sync`` False: the steps after the sync only."""
    from syncd.connect import make_connector
    from syncd.evaluate import Evaluator
    from syncd.notify import moves, schedule
    from syncd.notify.alerting import notify
    from syncd.notify.sender import Sender
    from syncd.sync import PARALLEL_AFTER, Syncer

    report = CycleReport(started=clock())
    stop = stop or threading.Event()
    if sync:
        own = connector is None
        connector = connector or make_connector(config)
        try:
            syncer = Syncer(store, connector, clock=clock, stop=stop, progress=progress,
                            reconcile_every=config.crm.sync.reconcile_every,
                            parallel_after=PARALLEL_AFTER if parallel_after is None
                            else parallel_after)
            report.sync = syncer.run(full=full)
        except SyncdError as exc:  # e.g. another process is syncing this database
            report.errors.append(f"sync: {exc}")
            log.error("sync: %s", exc)
        finally:
            if own:
                connector.close()
        if (report.sync is not None and report.sync.status == "interrupted") or stop.is_set():
            report.interrupted = True
            return report
    client, webhook = _slack(config)
    now = clock()
    engine = store.engine
    if config.okrs or config.alerts.rules:
        try:
            started = time.perf_counter()
            report.evaluation = Evaluator(engine, config).evaluate(now)
            report.evaluation_seconds = time.perf_counter() - started
            report.alerts = notify(engine, config, report.evaluation, now, client=client,
                                   run_id=run_id)
            if config.slack is not None:
                report.announced = _announce(engine, config, report.evaluation, now, client)
        except SyncdError as exc:
            report.errors.append(f"evaluation: {exc}")
            log.error("evaluation failed: %s", exc)
    try:
        day = now.astimezone(config.tz).date()
        if not moves.has_snapshot(engine, day):
            report.snapshot = moves.take_pipeline_snapshot(engine, day, now)
        if config.okrs:
            report.reports = schedule.post_due(engine, config, now, client=client,
                                               grace=config.schedule.grace)
    except SyncdError as exc:
        report.errors.append(f"reports: {exc}")
        log.error("reports failed: %s", exc)
    if client is not None or webhook is not None:
        report.delivery = Sender(engine, channel=config.slack.channel, clock=clock,
                                 transport=client, webhook=webhook).deliver()
    return report
