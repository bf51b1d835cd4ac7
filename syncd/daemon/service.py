"""``syncd run``: the daemon. APScheduler 3 in the team's time zone drives the jobs; one
leader among the replicas runs them; signals stop it cleanly or reload its config.

Jobs (all on one worker thread, so two never overlap; ``coalesce``: runs missed while the
process was busy or asleep run once)::

    cycle     every crm.sync.every, and at start: sync -> evaluate -> alerts -> pipeline
              snapshot -> reports due (catch-up within schedule.grace) -> delivery
              (:func:`syncd.daemon.cycle.run_cycle`); a failing cycle backs off (x2 each
              time, at most 30 min) instead of hammering the CRM
    digest    schedule.weekly_digest (cron, misfire grace = schedule.grace): the reports due
    report    schedule.monthly_report: likewise
    deliver   every minute: the outbox (messages waiting for Slack after an outage)

A digest is posted once per ISO week whoever runs it (the scheduled job, a late cycle, a
restarted process, another replica): its outbox key is unique.

Leadership (:mod:`syncd.daemon.leader`): on PostgreSQL every replica runs the scheduler but
only the holder of the advisory lock runs jobs; the others retry every
``service.standby_poll``. On SQLite a second daemon on the same file is refused.

Signals: SIGTERM/SIGINT stop after the current page (the sync checkpoints every page; the
outbox commits every message), within ``service.shutdown_timeout``; a second one exits at
once (a SIGKILL at any moment loses nothing either). SIGHUP reloads the config: validated
first; a bad config is reported and the running one is kept.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from syncd.daemon.cycle import CycleReport, run_cycle
from syncd.errors import ConfigError, SyncdError
from syncd.logs import new_run_id, run_context

log = logging.getLogger("syncd.daemon")

MAX_BACKOFF = timedelta(minutes=30)
DELIVER_EVERY = timedelta(minutes=1)


class Daemon:
    """One ``syncd run`` process (see the module docstring)."""

    def __init__(self, config_path: Path, config: Any, *, clock: Callable[[], datetime],
                 load: Callable[[Path], Any]) -> None:
        self.config_path = config_path
        self.config = config
        self.clock = clock
        self._load = load
        self.stop = threading.Event()
        self._reload = threading.Event()
        self._failures = 0
        self._cycles = 0
        self._store: Any = None
        self._leader: Any = None
        self._health: Any = None
        self._server: Any = None
        self._metrics: Any = None
        self._scheduler: BackgroundScheduler | None = None
        self._job_running = threading.Lock()
        self._signals = 0

    # ------------------------------------------------------------------ life

    def run(self) -> int:
        """Run until stopped; the exit code."""
        from syncd.daemon.health import HealthServer, HealthState
        from syncd.daemon.leader import Leadership
        from syncd.daemon.metrics import Metrics
        from syncd.notify import chart
        from syncd.store import Store

        chart.isolate()  # charts in a child process: matplotlib never stays resident
        url = self.config.database.url.get_secret_value()
        self._store = Store.open(url)
        self._metrics = Metrics(crm=self.config.crm.provider)
        self._health = HealthState(clock=self.clock)
        self._leader = Leadership(url, standby_poll=self.config.service.standby_poll)
        self._leader.__enter__()  # SQLite: raises DaemonBusy when another daemon runs
        try:
            if self.config.service.listen != "off":
                self._server = HealthServer(self.config.service.listen, self._health,
                                            self._metrics, engine=self._store.engine)
                self._server.start()
            self._install_signals()
            self._start_scheduler()
            log.info("syncd run started (%s, %s)", self.config.redacted_url(),
                     "leader" if self._leader.is_leader else "standby")
            self._loop()
        finally:
            self._shutdown()
        return 0

    def _loop(self) -> None:
        poll = self.config.service.standby_poll.total_seconds()
        next_try = 0.0
        while not self.stop.wait(1.0):
            self._health.heartbeat(self.clock())
            if self._reload.is_set():
                self._reload.clear()
                self.reload()
            if time.monotonic() >= next_try:
                next_try = time.monotonic() + poll
                self._lead()

    def _lead(self) -> None:
        was = self._leader.is_leader
        now_leader = self._leader.try_acquire() if not was else self._leader.check()
        if now_leader != was:
            log.warning("this process is now %s", "the leader" if now_leader else "a standby")
            if now_leader and self._scheduler is not None:
                self._scheduler.modify_job("cycle", next_run_time=datetime.now().astimezone())
        self._health.set_role("leader" if now_leader else "standby")
        self._metrics.set_leader(now_leader)

    def _shutdown(self) -> None:
        self._health and self._health.set_stopping()
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        # a second signal: no waiting (nothing is lost: every page and message is committed)
        limit = 0.0 if self._signals > 1 else self.config.service.shutdown_timeout.total_seconds()
        if self._job_running.acquire(timeout=limit):  # the current job finished its page
            self._job_running.release()
        else:
            log.warning("the current job did not finish within %s s; exiting anyway (the next "
                        "run resumes from the last committed page)", limit)
        for closing in (self._server, self._leader, self._store):
            if closing is None:
                continue
            try:
                if closing is self._server:
                    closing.stop()
                elif closing is self._leader:
                    closing.__exit__(None, None, None)
                else:
                    closing.close()
            except (OSError, SyncdError) as exc:
                log.warning("while stopping: %s", exc)
        log.info("syncd run stopped")

    # ------------------------------------------------------------------ signals

    def _install_signals(self) -> None:
        def stop(signum: int, frame: FrameType | None) -> None:
            self._signals += 1
            if self._signals > 1:
                log.warning("second signal: exiting now")
                raise SystemExit(130)
            log.info("stopping after the current page (signal %s)", signum)
            self.stop.set()

        def reload(signum: int, frame: FrameType | None) -> None:
            self._reload.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reload)

    def reload(self) -> bool:
        """Read the config again; keep the running one if the new one is bad."""
        try:
            new = self._load(self.config_path)
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("config reload: %s", problem.format(exc.source))
            log.error("config reload refused (%d problem(s)); still running the previous "
                      "config", len(exc.problems))
            return False
        old_url = self.config.database.url.get_secret_value()
        if new.database.url.get_secret_value() != old_url:
            log.error("config reload refused: database.url changed; restart syncd to switch "
                      "databases (still running the previous config)")
            return False
        self.config = new
        if self._scheduler is not None:
            self._schedule_jobs(self._scheduler, replace=True)
        log.info("config reloaded from %s", self.config_path)
        return True

    # ------------------------------------------------------------------ jobs

    def _start_scheduler(self) -> None:
        scheduler = BackgroundScheduler(
            timezone=self.config.tz,
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        self._schedule_jobs(scheduler, replace=False)
        scheduler.start()
        self._scheduler = scheduler

    def _schedule_jobs(self, scheduler: BackgroundScheduler, *, replace: bool) -> None:
        from syncd.notify.schedule import trigger

        config = self.config
        every = config.crm.sync.every
        grace = int(config.schedule.grace.total_seconds())
        first = None if replace else datetime.now().astimezone()
        scheduler.add_job(self._cycle_job, IntervalTrigger(seconds=int(every.total_seconds())),
                          id="cycle", replace_existing=True, next_run_time=first,
                          misfire_grace_time=int(every.total_seconds()))
        for name, fields in (("digest", config.schedule.weekly_digest),
                             ("report", config.schedule.monthly_report)):
            if fields is None:
                if replace and scheduler.get_job(name):
                    scheduler.remove_job(name)
                continue
            scheduler.add_job(self._reports_job, trigger(fields, config.tz), id=name,
                              replace_existing=True, misfire_grace_time=grace)
        scheduler.add_job(self._deliver_job,
                          IntervalTrigger(seconds=int(DELIVER_EVERY.total_seconds())),
                          id="deliver", replace_existing=True, misfire_grace_time=60)

    def _guarded(self, name: str, work: Callable[[], None]) -> None:
        if self.stop.is_set() or not self._leader.guard():
            return
        with self._job_running, run_context(new_run_id()):
            try:
                work()
            except SyncdError as exc:
                log.error("%s failed: %s", name, exc)
            except Exception:  # a job must never take the scheduler down
                log.exception("%s failed unexpectedly", name)

    def _cycle_job(self) -> None:
        self._guarded("cycle", self._cycle)

    def _cycle(self) -> None:
        started = time.perf_counter()
        report = run_cycle(self.config, self._store, clock=self.clock, stop=self.stop)
        self._cycles += 1
        from syncd.daemon.health import refresh

        self._metrics.observe_cycle(report)
        self._health.observe_cycle(report)
        refresh(self._health, self._metrics, self._store.engine)  # DB down: not ready
        self._after(report, time.perf_counter() - started)

    def _after(self, report: CycleReport, seconds: float) -> None:
        if report.interrupted:
            return
        if report.ok:
            if self._failures:
                log.info("the cycle succeeds again after %d failure(s)", self._failures)
            self._failures = 0
            log.info("cycle ok in %.1f s", seconds)
            return
        self._failures += 1
        every = self.config.crm.sync.every
        delay = min(every * (2 ** (self._failures - 1)), max(MAX_BACKOFF, every))
        problems = list(report.errors)
        if report.sync is not None and report.sync.status != "ok":
            problems.insert(0, f"sync {report.sync.status}: {report.sync.error}")
        if report.delivery is not None and not report.delivery.ok:
            problems.append("Slack: " + "; ".join(report.delivery.errors[:3]))
        log.error("cycle failed (%d in a row): %s; next try in %s", self._failures,
                  " | ".join(problems) or "see above", delay)
        if self._scheduler is not None and delay > every:
            self._scheduler.modify_job("cycle", next_run_time=datetime.now().astimezone()
                                       + delay)

    def _reports_job(self) -> None:
        self._guarded("reports", lambda: self._cycle_parts(sync=False))

    def _cycle_parts(self, *, sync: bool) -> None:
        report = run_cycle(self.config, self._store, clock=self.clock, stop=self.stop,
                           sync=sync)
        self._metrics.observe_cycle(report)

    def _deliver_job(self) -> None:
        def deliver() -> None:
            from syncd.notify_cli import deliver

            result = deliver(self._store.engine, self.config, self.clock)
            if result is not None and (result.sent or result.failed):
                log.info("delivered %d message(s), %d failed", result.sent, result.failed)

        self._guarded("deliver", deliver)


def run_once(config: Any, *, clock: Callable[[], datetime]) -> CycleReport:
    """``syncd run --once``: one full cycle in this process (the sync lock keeps it from
    overlapping a running daemon's sync)."""
    from syncd.store import Store

    with Store.open(config.database.url.get_secret_value()) as store, \
            run_context(new_run_id()):
        return run_cycle(config, store, clock=clock)
