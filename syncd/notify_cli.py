"""``syncd digest``, ``syncd alerts ...`` and ``syncd notify``: the reports, the alerts'
states and audit trail, snoozes, and delivering the outbox."""

from __future__ import annotations

import json
import secrets
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import sqlalchemy as sa
from rich.markup import escape
from rich.table import Table

from syncd.cli import EXIT_FAILED, EXIT_USAGE, _load, _open_store, fail
from syncd.clock import make_clock, parse_now
from syncd.errors import SyncdError

if TYPE_CHECKING:
    from syncd.cli import Context
    from syncd.notify.sender import DeliveryReport


def slack_clients(config: Any) -> tuple[Any, Any]:
    """(bot-token client, webhook client) for the config's slack section (one is None)."""
    from syncd.notify.slack import SlackClient, SlackWebhook

    slack = config.slack
    if slack is None:
        return None, None
    if slack.token is not None:
        return SlackClient(slack.token.get_secret_value(), slack.base_url), None
    return None, SlackWebhook(slack.webhook_url.get_secret_value())


def deliver(engine: sa.Engine, config: Any, clock: Any) -> DeliveryReport | None:
    """Deliver the outbox now; None without a slack section."""
    from syncd.notify.sender import Sender

    client, webhook = slack_clients(config)
    if client is None and webhook is None:
        return None
    return Sender(engine, channel=config.slack.channel, clock=clock, transport=client,
                  webhook=webhook).deliver()


def delivery_line(report: DeliveryReport | None) -> str:
    if report is None:
        return "Slack is not configured: nothing delivered."
    parts = [f"{report.sent} message(s) sent"]
    if report.reconciled:
        parts.append(f"{report.reconciled} found already posted")
    if report.failed:
        parts.append(f"{report.failed} failed (see syncd alerts list)")
    if report.retry_at is not None:
        parts.append(f"waiting for Slack, next try at {report.retry_at:%Y-%m-%d %H:%M} UTC")
    return "Slack: " + ", ".join(parts) + "."


# --------------------------------------------------------------------------- digest


def _month(text: str) -> date:
    try:
        year, month = text.strip().split("-")
        return date(int(year), int(month), 1)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a month; write it like 2026-11",
                                 param_hint="--month") from None


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date; write it like 2026-11-23",
                                 param_hint=option) from None


@click.command()
@click.option("--week", metavar="DATE", help="The digest of the ISO week holding DATE "
              "(as of that week's digest time); default: this week, as of now.")
@click.option("--month", metavar="YYYY-MM", help="The monthly report of that month instead.")
@click.option("--quarter", is_flag=True, help="The quarter close (OKR scorecard) instead.")
@click.option("--post", is_flag=True, help="Post it through the outbox (once per week/month).")
@click.option("--preview", is_flag=True, help="Show it here, post nothing (the default).")
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write its Block Kit JSON to this file.")
@click.option("--force", is_flag=True, help="With --post: post it again even if already sent.")
@click.pass_obj
def digest(ctx: Context, week: str | None, month: str | None, quarter: bool, post: bool,
           preview: bool, json_path: Path | None, force: bool) -> None:
    """The Monday pre-review digest (or --month report, --quarter close): preview or post."""
    from syncd.notify import reports
    from syncd.notify.preview import show

    if sum(bool(x) for x in (week, month, quarter)) > 1:
        raise click.UsageError("choose one of --week, --month and --quarter")
    if post and preview:
        raise click.UsageError("choose --post or --preview, not both")
    if force and not post:
        raise click.UsageError("--force only goes with --post")
    config = _load(ctx)
    if post and config.slack is None:
        fail("--post needs a slack section in the config (a bot token or a webhook_url)",
             EXIT_USAGE)
    clock = make_clock(ctx.now, config.tz)
    now = clock()
    store = _open_store(config)
    try:
        client, _ = slack_clients(config)
        if month:
            report = reports.build_monthly(store.engine, config, now, month=_month(month),
                                           client=client)
        elif quarter:
            report = reports.build_quarter(store.engine, config, now, client=client)
        else:
            report = reports.build_weekly(store.engine, config, now,
                                          week_of=_day(week, "--week") if week else None,
                                          client=client)
        if json_path is not None:
            try:
                json_path.write_text(json.dumps(reports.payload(report), ensure_ascii=False,
                                                indent=2), encoding="utf-8")
            except OSError as exc:
                fail(f"cannot write {json_path}: {exc.strerror or exc}; choose a writable "
                     "path for --json", EXIT_USAGE)
        if not post:
            for i, message in enumerate(report.messages, 1):
                show(ctx.out, message.text, message.blocks, [f.filename for f in message.files],
                     title=f"{report.key} ({i}/{len(report.messages)}) · {message.text[:60]}")
            if json_path is not None:
                ctx.out.print(f"Block Kit JSON written to {json_path}.")
            return
        ids, new = reports.queue(store.engine, report, now, channel=config.slack.channel,
                                 force=force)
        if not new:
            status = reports.sent_reports(store.engine, [report.key]).get(report.key, "queued")
            ctx.out.print(f"{report.key} is already {status}: not posted again "
                          "(--force posts it again).")
        else:
            ctx.out.print(f"Queued {report.key}: {len(ids)} message(s).")
        result = deliver(store.engine, config, clock)
        ctx.out.print(delivery_line(result))
        if result is not None and result.failed:
            raise SystemExit(EXIT_FAILED)
    finally:
        store.close()


# --------------------------------------------------------------------------- notify


@click.command()
@click.pass_obj
def notify(ctx: Context) -> None:
    """Deliver the messages waiting in the outbox (alerts, digests) to Slack now."""
    config = _load(ctx)
    store = _open_store(config)
    try:
        result = deliver(store.engine, config, make_clock(ctx.now, config.tz))
    finally:
        store.close()
    ctx.out.print(delivery_line(result))
    if result is not None and result.failed:
        raise SystemExit(EXIT_FAILED)


# --------------------------------------------------------------------------- alerts


@click.group()
def alerts() -> None:
    """The alerts: their states, their audit trail, snoozes, failed deliveries."""


def _when(config: Any, value: datetime | None) -> str:
    return "–" if value is None else value.astimezone(config.tz).strftime("%Y-%m-%d %H:%M")


@alerts.command("list")
@click.option("--all", "show_all", is_flag=True, help="Resolved and never-fired ones too.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_obj
def list_alerts(ctx: Context, show_all: bool, fmt: str) -> None:
    """Alerts pending, firing or recovering (and snoozes, failed deliveries)."""
    from syncd.notify import outbox
    from syncd.notify.lifecycle import load_silences
    from syncd.store import tables as t

    config = _load(ctx)
    now = make_clock(ctx.now, config.tz)()
    store = _open_store(config)
    try:
        with store.engine.connect() as conn:
            query = sa.select(t.alert).order_by(t.alert.c.grp, t.alert.c.fingerprint)
            if not show_all:
                query = query.where(t.alert.c.state.in_(("pending", "firing", "recovering")))
            rows = conn.execute(query).all()
            silences = load_silences(conn, now)
            backlog = outbox.backlog(conn)
    finally:
        store.close()
    snoozed: dict[str, datetime] = {}
    for s in silences:
        if s.starts_at <= now:
            for r in rows:
                if s.matches(r.fingerprint, r.grp):
                    snoozed[r.fingerprint] = max(snoozed.get(r.fingerprint, s.ends_at), s.ends_at)
    if fmt == "json":
        ctx.out.print_json(json.dumps({
            "alerts": [{
                "fingerprint": r.fingerprint, "group": r.grp, "state": r.state, "kind": r.kind,
                "subject": r.subject, "severity": r.severity, "since": r.since.isoformat(),
                "episode": r.episode, "reason": (r.memory.get("last_finding") or {}).get("reason"),
                "muted": bool(r.memory.get("inhibited")),
                "snoozed_until": snoozed[r.fingerprint].isoformat()
                if r.fingerprint in snoozed else None,
            } for r in rows],
            "outbox": {"pending": backlog.pending, "sending": backlog.sending,
                       "sent": backlog.sent, "failed": backlog.failed},
            "failed": [{"id": f.id, "key": f.dedup_key, "error": f.error}
                       for f in backlog.failures],
        }))
        return
    if not rows:
        ctx.out.print("No alert is firing." if not show_all else "No alert yet.")
    else:
        table = Table(show_edge=False, header_style="bold")
        for column in ("fingerprint", "state", "alert", "severity", "since", "note"):
            table.add_column(column)
        for r in rows:
            last = r.memory.get("last_finding") or {}
            notes = []
            if r.memory.get("inhibited"):
                notes.append("muted (stale data)")
            if r.fingerprint in snoozed:
                notes.append(f"snoozed until {_when(config, snoozed[r.fingerprint])}")
            colour = {"firing": "red", "pending": "yellow", "recovering": "cyan"}.get(r.state,
                                                                                     "green")
            table.add_row(r.fingerprint, f"[{colour}]{r.state}[/]",
                          escape(str(last.get("reason") or f"{r.kind} {r.subject}")),
                          r.severity or "–", _when(config, r.since), ", ".join(notes))
        ctx.out.print(table)
    line = (f"Outbox: {backlog.pending} pending, {backlog.sending} sending, "
            f"{backlog.failed} failed.")
    ctx.out.print(line)
    for f in backlog.failures:
        ctx.out.print(f"  [red]failed[/] #{f.id} {escape(f.dedup_key)}: {escape(f.error or '')} "
                      f"(fix it, then: syncd alerts retry {f.id})")


@alerts.command()
@click.argument("target", required=False)
@click.option("--since", metavar="DATE", help="Only transitions from this day on.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.pass_obj
def history(ctx: Context, target: str | None, since: str | None, limit: int) -> None:
    """The audit trail: every state change of every alert (or of one), with its reason."""
    from syncd.store import tables as t

    config = _load(ctx)
    tr = t.alert_transition.c
    query = sa.select(t.alert_transition).order_by(tr.at.desc(), tr.id.desc()).limit(limit)
    if target:
        query = query.where(sa.or_(tr.fingerprint == target, tr.grp == target,
                                   tr.grp == f"kr:{target}", tr.grp == f"rule:{target}"))
    if since:
        start = datetime.combine(_day(since, "--since"), datetime.min.time(), tzinfo=config.tz)
        query = query.where(tr.at >= start)
    store = _open_store(config)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(query).all()
    finally:
        store.close()
    if not rows:
        ctx.out.print("No alert transition" + (f" for {target}." if target else " yet."))
        return
    table = Table(show_edge=False, header_style="bold")
    for column in ("when", "fingerprint", "group", "change", "reason"):
        table.add_column(column)
    for r in reversed(rows):
        table.add_row(_when(config, r.at), r.fingerprint, r.grp,
                      f"{r.from_state or 'new'} → {r.to_state}", escape(r.reason))
    ctx.out.print(table)


def _target(conn: sa.Connection, target: str) -> tuple[str | None, str | None]:
    """(fingerprint, group) a snooze target names: a fingerprint, a group (kr:x, rule:x),
    or a KR or rule id."""
    from syncd.store import tables as t

    a = t.alert.c
    if conn.execute(sa.select(a.fingerprint).where(a.fingerprint == target)).first():
        return target, None
    for group in (target, f"kr:{target}", f"rule:{target}", f"stale:{target}"):
        if conn.execute(sa.select(a.grp).where(a.grp == group).limit(1)).first():
            return None, group
    raise click.BadParameter(
        f"no alert has the fingerprint, group, KR or rule id {target!r}; see syncd alerts "
        "list --all", param_hint="TARGET")


def _until(config: Any, now: datetime, until: str | None, for_: str | None) -> datetime:
    from syncd.config_values import parse_duration

    if (until is None) == (for_ is None):
        raise click.UsageError("give --until DATE or --for DURATION (like 4h or 2d)")
    if for_ is not None:
        try:
            return now + parse_duration(for_)
        except ValueError:
            raise click.BadParameter(f"{for_!r} is not a duration; write it like 4h, 2d or 1w",
                                     param_hint="--for") from None
    assert until is not None
    try:
        day = date.fromisoformat(until.strip())
        return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=config.tz)
    except ValueError:
        pass
    try:
        return parse_now(until, config.tz)
    except SyncdError:
        raise click.BadParameter(f"{until!r} is not a date or instant; write 2026-11-30 or "
                                 "2026-11-30T08:00", param_hint="--until") from None


@alerts.command()
@click.argument("target")
@click.option("--until", metavar="DATE|ISO", help="Until the end of that day, or that instant.")
@click.option("--for", "for_", metavar="DURATION", help="For that long: 4h, 2d, 1w.")
@click.option("--reason", metavar="TEXT", help="Why (shown in syncd alerts list).")
@click.pass_obj
def snooze(ctx: Context, target: str, until: str | None, for_: str | None,
           reason: str | None) -> None:
    """Mute an alert's notices (fingerprint, or a KR/rule id for its group) until a time;
    it keeps being evaluated, and when the snooze ends while it still fires it is posted."""
    from syncd.store import tables as t

    config = _load(ctx)
    now = make_clock(ctx.now, config.tz)()
    ends = _until(config, now, until, for_)
    if ends <= now:
        raise click.BadParameter("that time has passed already", param_hint="--until/--for")
    store = _open_store(config)
    try:
        with store.engine.begin() as conn:
            fingerprint, group = _target(conn, target)
            silence_id = secrets.token_hex(4)
            conn.execute(t.silence.insert().values(
                id=silence_id, fingerprint=fingerprint, grp=group, starts_at=now, ends_at=ends,
                reason=reason, created_by="cli", created_at=now))
    finally:
        store.close()
    ctx.out.print(f"Snoozed {fingerprint or group} until {_when(config, ends)} "
                  f"(snooze {silence_id}; syncd alerts unsnooze {target} ends it).")


@alerts.command()
@click.argument("target")
@click.pass_obj
def unsnooze(ctx: Context, target: str) -> None:
    """End the running snoozes of an alert (fingerprint, KR or rule id, or snooze id) now."""
    from syncd.store import tables as t

    config = _load(ctx)
    now = make_clock(ctx.now, config.tz)()
    s = t.silence.c
    store = _open_store(config)
    try:
        with store.engine.begin() as conn:
            by_id = sa.and_(s.id == target, s.ends_at > now)
            ended = conn.execute(t.silence.update().where(by_id).values(ends_at=now)).rowcount
            if not ended:
                fingerprint, group = _target(conn, target)
                match = s.fingerprint == fingerprint if fingerprint else s.grp == group
                ended = conn.execute(t.silence.update().where(match, s.ends_at > now,
                                                              s.starts_at <= now)
                                     .values(ends_at=now)).rowcount
    finally:
        store.close()
    if not ended:
        ctx.out.print(f"{target} has no running snooze.")
    else:
        ctx.out.print(f"Ended {ended} snooze(s) of {target}; its next evaluation may post it.")


@alerts.command()
@click.argument("outbox_id", type=int, required=False)
@click.option("--all-failed", is_flag=True, help="Every failed delivery.")
@click.pass_obj
def retry(ctx: Context, outbox_id: int | None, all_failed: bool) -> None:
    """Queue a failed delivery again (after fixing its cause), and deliver."""
    from syncd.notify import outbox
    from syncd.store import tables as t

    if (outbox_id is None) == (not all_failed):
        raise click.UsageError("give an outbox id (see syncd alerts list) or --all-failed")
    config = _load(ctx)
    clock = make_clock(ctx.now, config.tz)
    store = _open_store(config)
    try:
        with store.engine.begin() as conn:
            if all_failed:
                ids = list(conn.execute(sa.select(t.outbox.c.id)
                                        .where(t.outbox.c.status == "failed")).scalars())
            else:
                assert outbox_id is not None
                ids = [outbox_id]
            done = [i for i in ids if outbox.requeue(conn, i, clock())]
        if not done:
            fail(f"no failed delivery {'to retry' if all_failed else f'#{outbox_id}'}; see "
                 "syncd alerts list", EXIT_USAGE)
        ctx.out.print(f"Queued {len(done)} failed delivery(ies) again.")
        result = deliver(store.engine, config, clock)
    finally:
        store.close()
    ctx.out.print(delivery_line(result))
    if result is not None and result.failed:
        raise SystemExit(EXIT_FAILED)
