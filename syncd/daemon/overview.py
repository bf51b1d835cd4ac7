"""The daemon's health as ``syncd status`` shows it: the last successful sync, the outbox,
the next scheduled jobs (from the config), and what the running daemon says of itself on
``/readyz`` (its role, its last cycle) when it can be reached."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from syncd.store import tables as t


@dataclass(frozen=True, slots=True)
class ServiceView:
    last_sync: datetime | None
    pending: int
    failed: int
    next_jobs: tuple[tuple[str, datetime], ...]  # (job, when), soonest first
    daemon: dict[str, Any] | None  # /readyz's answer, None: not reachable
    daemon_problem: str | None  # why it could not be asked


def next_jobs(config: Any, now: datetime, last_sync: datetime | None) -> list[tuple[str, datetime]]:
    from syncd.notify.schedule import fire_times

    jobs: list[tuple[str, datetime]] = []
    every = config.crm.sync.every
    if last_sync is not None:
        jobs.append(("sync", max(last_sync + every, now)))
    for name, fields in (("weekly digest", config.schedule.weekly_digest),
                         ("monthly report", config.schedule.monthly_report)):
        if fields is not None:
            fire = next(iter(fire_times(fields, config.tz, now, now + timedelta(days=62))), None)
            if fire is not None:
                jobs.append((name, fire))
    return sorted(jobs, key=lambda job: job[1])


def ask_daemon(listen: str, timeout: float = 2.0) -> tuple[dict[str, Any] | None, str | None]:
    """``/readyz`` of the daemon listening on ``listen``: (its JSON, None) or (None, why)."""
    if listen == "off":
        return None, "service.listen is off"
    host, _, port = listen.rpartition(":")
    if host in ("0.0.0.0", "::", "[::]", ""):
        host = "127.0.0.1"
    url = f"http://{host}:{port}/readyz"
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # local: no proxy
        with opener.open(url, timeout=timeout) as answer:
            return dict(json.loads(answer.read())), None
    except urllib.error.HTTPError as exc:  # 503: running but not ready; the body says why
        try:
            return dict(json.loads(exc.read())), None
        except ValueError:
            return None, f"{url} answered {exc.code}"
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"no daemon answers on {url} ({reason})"


def service_view(engine: sa.Engine, config: Any, now: datetime, *,
                 ask: bool = True) -> ServiceView:
    o = t.outbox.c
    with engine.connect() as conn:
        stamps = conn.execute(sa.select(t.sync_state.c.last_success_at)).scalars().all()
        counts: dict[str, int] = {
            status: int(n) for status, n in
            conn.execute(sa.select(o.status, sa.func.count()).group_by(o.status))}
    last = None if not stamps or any(s is None for s in stamps) else min(stamps)
    daemon, problem = ask_daemon(config.service.listen) if ask else (None, "not asked")
    return ServiceView(last, int(counts.get("pending", 0)) + int(counts.get("sending", 0)),
                       int(counts.get("failed", 0)), tuple(next_jobs(config, now, last)),
                       daemon, problem)


def view_json(view: ServiceView) -> dict[str, Any]:
    return {
        "last_sync": None if view.last_sync is None else view.last_sync.isoformat(),
        "outbox_pending": view.pending,
        "outbox_failed": view.failed,
        "next_jobs": [{"job": job, "at": when.isoformat()} for job, when in view.next_jobs],
        "daemon": view.daemon,
        "daemon_problem": view.daemon_problem,
    }


def view_lines(view: ServiceView, zone: Any) -> list[str]:
    def at(when: datetime) -> str:
        return when.astimezone(zone).strftime("%a %Y-%m-%d %H:%M")

    lines = []
    daemon = view.daemon
    if daemon is not None:
        cycle = daemon.get("last_cycle") or {}
        state = "ready" if daemon.get("ready") else f"not ready ({daemon.get('why')})"
        line = f"Daemon: {daemon.get('role', '?')}, {state}"
        if cycle.get("at"):
            line += f"; last cycle {cycle['at']} " + ("ok" if cycle.get("ok")
                                                       else f"failed: {cycle.get('error')}")
        lines.append(line + ".")
    else:
        lines.append(f"Daemon: {view.daemon_problem}.")
    lines.append("Last successful sync: " + (at(view.last_sync) if view.last_sync else "never")
                 + f"; outbox: {view.pending} waiting, {view.failed} failed"
                 + (" (syncd alerts list)" if view.failed else "") + ".")
    if view.next_jobs:
        lines.append("Next: " + ", ".join(f"{job} {at(when)}" for job, when in view.next_jobs)
                     + ".")
    return lines
