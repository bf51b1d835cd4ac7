"""When the weekly digest and the monthly report are due, with catch-up after downtime.

A report is due at each fire time of its ``schedule`` cron fields, in the team's time zone
(APScheduler 3's ``CronTrigger``: wall-clock time, so "Monday 07:30" stays 07:30 across DST
changes, 06:30 UTC in winter and 05:30 UTC in summer). :func:`due_reports` returns the
latest fire time not older than ``grace`` whose report is not queued yet: the scheduled run,
a run that started late, and a restart after the digest time all find the same report, and
its key (``digest:<ISO week>``, ``report:<month>``) lets only one of them queue it. A fire
time older than ``grace`` is not posted (Monday's digest on Thursday would mislead) but is
reported as missed, never skipped silently.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from apscheduler.triggers.cron import CronTrigger

from syncd.notify import reports
from syncd.store import tables as t

log = logging.getLogger("syncd.notify.schedule")

#: How late a scheduled report may still go out (a restart after the digest time).
DEFAULT_GRACE = timedelta(hours=12)


def trigger(fields: Any, zone: Any) -> CronTrigger:
    return CronTrigger(timezone=zone, **fields.model_dump(exclude_none=True))


def fire_times(fields: Any, zone: Any, start: datetime, end: datetime) -> Iterator[datetime]:
    """Fire times in [start, end], in order (aware, in ``zone``)."""
    cron = trigger(fields, zone)
    previous: datetime | None = None
    at = start
    while True:
        fire = cron.get_next_fire_time(previous, at)
        if fire is None or fire > end:
            return
        yield fire
        previous, at = fire, fire + timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Due:
    kind: str  # "digest" | "report"
    key: str  # the report's outbox key
    scheduled: datetime  # the fire time it belongs to
    missed: bool = False  # older than the grace: not posted, reported


def _key(kind: str, fire: datetime, zone: Any) -> str:
    local = fire.astimezone(zone).date()
    if kind == "digest":
        return reports.digest_key(local)
    previous_month = local.replace(day=1) - timedelta(days=1)
    return f"report:{previous_month:%Y-%m}"


def _queued(engine: sa.Engine, keys: list[str]) -> set[str]:
    if not keys:
        return set()
    o = t.outbox.c
    with engine.connect() as conn:
        return set(conn.execute(sa.select(o.dedup_key).where(o.dedup_key.in_(keys))).scalars())


def _first_queued(engine: sa.Engine, kind: str) -> datetime | None:
    o = t.outbox.c
    with engine.connect() as conn:
        first = conn.execute(sa.select(sa.func.min(o.created_at)).where(o.kind == kind)).scalar()
    return first if isinstance(first, datetime) else None


def due_reports(engine: sa.Engine, config: Any, now: datetime, *,
                grace: timedelta = DEFAULT_GRACE,
                look_back: timedelta = timedelta(days=35)) -> list[Due]:
    """The scheduled reports not queued yet: due (latest fire time within ``grace``) or
    missed (older, within ``look_back``, once a report of its kind was ever queued: a new
    install owes nothing), oldest first."""
    zone = config.tz
    found: list[Due] = []
    for kind, fields in (("digest", config.schedule.weekly_digest),
                         ("report", config.schedule.monthly_report)):
        if fields is None:
            continue
        fires = list(fire_times(fields, zone, now - look_back, now))
        first = _first_queued(engine, kind)
        # a new install owes nothing from before it ran (only a report due right now)
        fires = ([f for f in fires[-1:] if now - f <= grace] if first is None
                 else [f for f in fires if f >= first - grace])
        keys = [_key(kind, f, zone) for f in fires]
        queued = _queued(engine, keys)
        for index, (fire, key) in enumerate(zip(fires, keys, strict=True)):
            if key in queued or any(k == key for k in keys[index + 1:]):
                continue
            found.append(Due(kind, key, fire, missed=now - fire > grace))
    found += _quarters_due(engine, config, now, grace)
    found.sort(key=lambda d: d.scheduled)
    return found


def _quarters_due(engine: sa.Engine, config: Any, now: datetime,
                  grace: timedelta) -> list[Due]:
    """The close of each OKR period that has ended: due at the first weekly digest time
    after its last day (before the next weekly review; Monday 08:00 without a digest)."""
    from syncd.goals import kr_goals

    zone = config.tz
    found = []
    for period in {goal.period for goal in kr_goals(config)}:
        ended = datetime.combine(period.end + timedelta(days=1), datetime.min.time(),
                                 tzinfo=zone)
        if ended > now or now - ended > timedelta(days=40):
            continue
        fields = config.schedule.weekly_digest
        fire = next(iter(fire_times(fields, zone, ended, ended + timedelta(days=8))), None) \
            if fields is not None else None
        fire = fire or ended + timedelta(hours=8)
        key = f"quarter:{period.label}"
        if fire > now or key in _queued(engine, [key]):
            continue
        found.append(Due("quarter", key, fire, missed=now - fire > grace))
    return found


def post_due(engine: sa.Engine, config: Any, now: datetime, *,
             grace: timedelta = DEFAULT_GRACE, client: Any = None) -> list[Due]:
    """Queue each due report once. A missed one is built and queued as *failed* with the
    reason (so it shows in ``syncd alerts list`` and ``syncd alerts retry`` posts it late);
    it is reported once. Returns both kinds."""
    done = []
    for due in due_reports(engine, config, now, grace=grace):
        if due.kind == "digest":  # as of its scheduled time: the figures the team expects
            report = reports.build_weekly(engine, config, now, client=client,
                                          week_of=due.scheduled.astimezone(config.tz).date())
        elif due.kind == "quarter":
            report = reports.build_quarter(engine, config, now, client=client,
                                           period=due.key.removeprefix("quarter:"))
        else:
            first_day = due.scheduled.astimezone(config.tz).date().replace(day=1)
            report = reports.build_monthly(engine, config, now, client=client,
                                           month=first_day - timedelta(days=1))
        channel = config.slack.channel if config.slack is not None else None
        if due.missed:
            reason = (f"missed: due at {due.scheduled.isoformat()} while syncd was not running, "
                      f"more than {grace} ago; not posted so late (syncd alerts retry posts it)")
            reports.queue(engine, report, now, channel=channel, failed=reason)
            log.warning("the %s %s %s", due.kind, due.key, reason)
        else:
            reports.queue(engine, report, now, channel=channel)
            log.info("queued the %s %s (due at %s)", due.kind, due.key,
                     due.scheduled.isoformat())
        done.append(due)
    return done

