"""A failing cycle backs off (x2 each time, at most 30 min) instead of hammering the CRM, and
a success resets it; the failure is reported with what went wrong."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from syncd.config import Config
from syncd.daemon.cycle import CycleReport
from syncd.daemon.service import Daemon

NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)


class Jobs:
    """Records the scheduler calls the daemon makes (the real APScheduler is exercised by the
    process tests)."""

    def __init__(self) -> None:
        self.moved: list[datetime] = []

    def modify_job(self, job_id: str, **changes: Any) -> None:
        assert job_id == "cycle"
        self.moved.append(changes["next_run_time"])


def daemon(every: str) -> tuple[Daemon, Jobs]:
    config = Config.model_validate({
        "crm": {"provider": "hubspot", "hubspot": {"access_token": "pat-x"},
                "sync": {"every": every}}})
    made = Daemon(Path("syncd.yaml"), config, clock=lambda: NOW, load=lambda p: config)
    jobs = Jobs()
    made._scheduler = jobs  # a recorder in place of the BackgroundScheduler
    return made, jobs


def failed() -> CycleReport:
    sync = SimpleNamespace(status="failed", error="HubSpot answered 503 five times")
    return CycleReport(started=NOW, sync=sync)


def test_failures_back_off_doubling_up_to_30_minutes_and_a_success_resets(caplog):
    made, jobs = daemon("5m")
    caplog.set_level(logging.ERROR, "syncd.daemon")
    delays = []
    for _ in range(6):
        before = datetime.now().astimezone()
        made._after(failed(), 1.0)
        if jobs.moved:
            delays.append(round((jobs.moved[-1] - before).total_seconds() / 60))
            jobs.moved.clear()
        else:
            delays.append(5)  # the interval itself: nothing to move
    assert delays == [5, 10, 20, 30, 30, 30]
    assert "cycle failed (6 in a row): sync failed: HubSpot answered 503" in caplog.text
    made._after(CycleReport(started=NOW), 1.0)
    assert made._failures == 0
    made._after(failed(), 1.0)
    assert jobs.moved == []  # the first failure after a success waits the usual interval


def test_an_interval_longer_than_the_cap_is_kept_as_it_is(caplog):
    made, jobs = daemon("1h")
    caplog.set_level(logging.ERROR, "syncd.daemon")
    for _ in range(3):
        made._after(failed(), 1.0)
    assert jobs.moved == []  # never sooner than the interval, never later than it either
    assert caplog.text.count(f"next try in {timedelta(hours=1)}") == 3
