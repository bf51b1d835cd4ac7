"""The Monday digest, the monthly report and the quarter close: built from the store and
queued in the outbox under one key per report, so a report is posted once.

Keys: ``digest:<ISO year>-W<week>``, ``report:<YYYY-MM>``, ``quarter:<period>``. A report
split over several messages queues them together in one transaction; the first message
carries the key itself, the others ``<key>#2``, ``#3``... Queueing a report whose key is
already queued queues nothing (``force`` adds a suffix with the instant: a deliberate
second post).

When: the weekly digest of a week is built as of that week's scheduled digest time
(``schedule.weekly_digest`` in the team's zone), or as of now when that time has not come.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from apscheduler.triggers.cron import CronTrigger

from rules.periods import iso_week_of
from syncd.evaluate import Evaluation, Evaluator
from syncd.notify import chart, mentions, moves, outbox
from syncd.notify.alerting import deal_link, freshness_of
from syncd.notify.blocks import Message
from syncd.notify.digest import render_monthly, render_quarter, render_weekly
from syncd.notify.locale import from_config
from syncd.notify.model import AlertEvent
from syncd.notify.outbox import ChartFile, Outgoing
from syncd.store import tables as t

WEEK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Report:
    kind: str  # "digest" | "report" | "quarter"
    key: str
    at: datetime  # the instant the figures are as of
    messages: tuple[Message, ...]


def digest_key(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"digest:{year}-W{week:02d}"


def scheduled_digest(config: Any, day: date) -> datetime:
    """When the digest of ``day``'s ISO week is due: the first fire time of
    ``schedule.weekly_digest`` in that week (Monday 07:30 with the example's schedule)."""
    zone = config.tz
    monday = iso_week_of(day).start
    start = datetime.combine(monday, time(), tzinfo=zone)
    if config.schedule.weekly_digest is None:  # disabled: as of Monday 07:30
        return start + timedelta(hours=7, minutes=30)
    trigger = _trigger(config.schedule.weekly_digest, zone)
    fire = trigger.get_next_fire_time(None, start)
    if fire is None or fire >= start + WEEK:
        return start
    return fire.astimezone(zone)


def _trigger(fields: Any, zone: Any) -> CronTrigger:
    values = {k: v for k, v in fields.model_dump(exclude_none=True).items()}
    return CronTrigger(timezone=zone, **values)


def alert_events(engine: sa.Engine, start: datetime, end: datetime) -> list[AlertEvent]:
    """Alerts that fired or resolved in (start, end], oldest first: a digest built at ``end``
    comes after the alerts stepped in the same cycle (``run_cycle``), at that very instant."""
    tr, a = t.alert_transition.c, t.alert.c
    query = (
        sa.select(tr.at, tr.fingerprint, tr.to_state, tr.reason, a.subject, a.kind, a.severity)
        .select_from(t.alert_transition.join(t.alert, t.alert.c.fingerprint == tr.fingerprint))
        .where(tr.at > start, tr.at <= end, tr.to_state.in_(("firing", "resolved")))
        .order_by(tr.at, tr.id)
    )
    with engine.connect() as conn:
        return [
            AlertEvent(at=r.at, fingerprint=r.fingerprint, subject=r.subject, kind=r.kind,
                       event="fired" if r.to_state == "firing" else "resolved",
                       reason=r.reason, severity=r.severity or "warning")
            for r in conn.execute(query)
        ]


def undelivered(engine: sa.Engine, since: datetime) -> list[str]:
    """Deliveries that failed for good since ``since`` (what, and why)."""
    o = t.outbox.c
    query = (sa.select(o.id, o.dedup_key, o.error).where(o.status == "failed",
                                                         o.created_at >= since)
             .order_by(o.id))
    with engine.connect() as conn:
        return [f"#{r.id} {r.dedup_key}: {r.error}" for r in conn.execute(query)]


def _people(engine: sa.Engine, config: Any, ev: Evaluation, now: datetime,
            client: mentions.Lookup | None) -> dict[str, str | None]:
    emails = {e for r in ev.krs for e in r.goal.config.owners}
    emails |= {okr.owner for okr in config.okrs if okr.owner}
    overrides = config.slack.mentions if config.slack is not None else {}
    return mentions.resolve(engine, emails, now, overrides=overrides, client=client)


def _evaluate(engine: sa.Engine, config: Any, at: datetime, now: datetime) -> Evaluation:
    # a past instant is evaluated without touching today's live snapshot
    return Evaluator(engine, config).evaluate(at, save=at >= now - timedelta(minutes=1))


def build_weekly(engine: sa.Engine, config: Any, now: datetime, *, week_of: date | None = None,
                 client: mentions.Lookup | None = None) -> Report:
    zone = config.tz
    day = week_of or now.astimezone(zone).date()
    at = min(scheduled_digest(config, day), now) if week_of is not None else now
    ev = _evaluate(engine, config, at, now)
    fields = set(config.crm.fields)
    period_end = max((r.goal.period.end for r in ev.krs), default=None)
    if at == now:  # today's open pipeline, for next week's pushed / pulled-in deals
        moves.take_pipeline_snapshot(engine, at.astimezone(zone).date(), now)
    link = deal_link(config)
    waterfall = moves.pipeline_waterfall(engine, at - WEEK, at, fields=fields, fx=config.fx,
                                         currency=config.currency, zone=zone,
                                         period_end=period_end, crm_link=link)
    stalled = moves.stalled_deals(engine, at, fields=fields, fx=config.fx, zone=zone,
                                  crm_link=link)
    events = alert_events(engine, at - WEEK, at)
    loc = from_config(config)
    with chart.worker():
        messages = render_weekly(ev, loc=loc, now=at, freshness=freshness_of(config, ev, at),
                                 mentions=_people(engine, config, ev, now, client),
                                 events=events, waterfall=waterfall, stalled=stalled,
                                 undelivered=undelivered(engine, at - WEEK))
    return Report("digest", digest_key(at.astimezone(zone).date()), at, tuple(messages))


def build_monthly(engine: sa.Engine, config: Any, now: datetime, *, month: date | None = None,
                  client: mentions.Lookup | None = None) -> Report:
    """The report of ``month`` (default: the month before now's), as of its last instant
    (or now, for the month under way)."""
    zone = config.tz
    today = now.astimezone(zone).date()
    first = (month or (today.replace(day=1) - timedelta(days=1))).replace(day=1)
    after = (first + timedelta(days=32)).replace(day=1)
    at = min(datetime.combine(after, time(), tzinfo=zone) - timedelta(microseconds=1), now)
    ev = _evaluate(engine, config, at, now)
    fields = set(config.crm.fields)
    breakdowns = [
        moves.breakdown(engine, r.goal, by, at, fields=fields, fx=config.fx, zone=zone)
        for r in ev.krs if r.value is not None for by in ("owner", "segment")
    ]
    with chart.worker():
        messages = render_monthly(ev, loc=from_config(config), now=at,
                                  freshness=freshness_of(config, ev, at),
                                  mentions=_people(engine, config, ev, now, client),
                                  breakdowns=breakdowns, month=first)
    return Report("report", f"report:{first:%Y-%m}", at, tuple(messages))


def build_quarter(engine: sa.Engine, config: Any, now: datetime, *,
                  client: mentions.Lookup | None = None, period: str | None = None) -> Report:
    """The OKR scorecard as of now (after a period's end: its final scores); ``period`` (a
    label like ``2026-Q4``): that period's KRs only."""
    ev = _evaluate(engine, config, now, now)
    if period is not None:
        ev = dataclasses.replace(ev, krs=tuple(r for r in ev.krs
                                               if r.goal.period.label == period))
    periods = sorted({r.goal.period.label for r in ev.krs})
    messages = render_quarter(ev, loc=from_config(config), now=now,
                              freshness=freshness_of(config, ev, now),
                              mentions=_people(engine, config, ev, now, client))
    return Report("quarter", f"quarter:{'+'.join(periods) or 'none'}", now, tuple(messages))


def queue(engine: sa.Engine, report: Report, now: datetime, *, channel: str | None,
          force: bool = False, failed: str | None = None) -> tuple[list[int], bool]:
    """Queue ``report``'s messages: (their outbox ids, whether this call queued them).
    ``failed``: queue them as failed with that reason (a report too late to post)."""
    key = report.key + (f":force:{now.isoformat()}" if force else "")
    ids: list[int] = []
    with engine.begin() as conn:
        existing = outbox.by_key(conn, key)
        if existing is not None:
            return [existing.id], False
        for index, message in enumerate(report.messages):
            outbox_id, _ = outbox.enqueue(conn, Outgoing(
                dedup_key=key if index == 0 else f"{key}#{index + 1}", kind=report.kind,
                text=message.text, blocks=message.blocks, channel=channel,
                files=_files(message),
                extra={"report": report.key, "part": index + 1, "of": len(report.messages)},
            ), now)
            ids.append(outbox_id)
            if failed is not None:
                outbox.mark_failed(conn, outbox_id, failed)
    return ids, True


def _files(message: Message) -> tuple[ChartFile, ...]:
    return tuple(ChartFile(f.filename, f.content, f.title) for f in message.files)


def payload(report: Report) -> list[dict[str, Any]]:
    """The Block Kit JSON of each message (``syncd digest --json``)."""
    return [{**m.payload(), "files": [f.filename for f in m.files]} for m in report.messages]


def sent_reports(engine: sa.Engine, keys: Sequence[str]) -> dict[str, str]:
    """The status of each report key's first message, for the keys queued."""
    o = t.outbox.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(o.dedup_key, o.status).where(o.dedup_key.in_(keys)))
        return {key: status for key, status in rows}
