"""The ``syncd`` command. Every user mistake ends in one clear line and a non-zero exit.

Exit codes: 0 success, 1 the CRM or database failed, 2 bad config or arguments,
130 interrupted (Ctrl-C; the next run resumes).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import click
from rich.console import Console

from connectors.base import ConnectorError
from rules.errors import RulesError
from syncd.clock import make_clock, parse_now
from syncd.errors import ConfigError, SyncdError
from syncd.logs import REDACT, setup_logging

log = logging.getLogger("syncd.cli")

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
CHECK_RETRY_SECONDS = 10.0  # `syncd check` is interactive: give up on a dead CRM quickly


class Context:
    def __init__(self, config: Path, now: str | None, verbose: int = 0) -> None:
        self.config_path = config
        self.now = now
        self.verbose = verbose
        self.out = Console(highlight=False)
        self.err = Console(stderr=True, highlight=False)


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"syncd: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", "config", type=click.Path(path_type=Path), default="syncd.yaml",
              envvar="SYNCD_CONFIG", show_default=True, help="The config file.")
@click.option("--now", envvar="SYNCD_NOW", metavar="ISO",
              help="Freeze the clock (tests, demos): 2026-11-23T07:30 or ...Z.")
@click.option("-v", "--verbose", count=True, help="More log lines (-vv for debug).")
@click.version_option(package_name="syncd")
@click.pass_context
def main(ctx: click.Context, config: Path, now: str | None, verbose: int) -> None:
    """syncd: live OKR tracking from your CRM, with drift alerts in Slack."""
    setup_logging(verbose)
    if now:
        try:
            parse_now(now)
        except SyncdError as exc:
            raise click.BadParameter(str(exc).split(": ", 1)[-1], param_hint="--now") from None
    ctx.obj = Context(config, now, verbose)


# ---------------------------------------------------------------------- helpers


def _load(ctx: Context) -> Any:
    from syncd.config import load_config

    config = load_config(ctx.config_path)
    REDACT.add(config.secret_values())
    return config


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """First Ctrl-C/SIGTERM: finish the current page and stop. Second Ctrl-C: abort."""
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()
        click.echo("syncd: stopping after the current page (Ctrl-C again to abort)", err=True)

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _parallel_after() -> int:
    """``SYNCD_PARALLEL_AFTER``: records a full pass writes before using a writer process."""
    from syncd.sync import PARALLEL_AFTER

    raw = os.environ.get("SYNCD_PARALLEL_AFTER", "").strip()
    if not raw:
        return PARALLEL_AFTER
    if not raw.isdigit():
        raise click.BadParameter(f"{raw!r} is not a whole number of records (e.g. 5000)",
                                 param_hint="SYNCD_PARALLEL_AFTER")
    return int(raw)


def _progress(ctx: Context) -> Any:
    from syncd.render import BarProgress, LineProgress

    if ctx.err.is_terminal:
        return BarProgress(ctx.err)
    logging.getLogger("syncd").setLevel(min(logging.getLogger("syncd").level, logging.INFO))
    return LineProgress()


# ---------------------------------------------------------------------- commands


@main.command()
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.pass_obj
def init(ctx: Context, force: bool, path: Path | None) -> None:
    """Write a commented starter config (default: the -c path, syncd.yaml)."""
    from syncd.config import write_starter

    target = path or ctx.config_path
    write_starter(target, force=force)
    ctx.out.print(f"Wrote {target}. Next: set HUBSPOT_ACCESS_TOKEN, then run `syncd check`.")


@main.command()
@click.pass_obj
def check(ctx: Context) -> None:
    """Validate the config (every problem at once), then test the database and the CRM."""
    try:
        config = _load(ctx)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem.format(exc.source or str(ctx.config_path)), err=True)
        fail(f"{len(exc.problems)} problem(s) in {ctx.config_path}; nothing was contacted",
             EXIT_USAGE)
    ctx.out.print(f"[green]ok[/] config {ctx.config_path}")
    problems = 0

    from syncd.store import Store

    backlog = None
    try:
        store = Store.open(config.database.url.get_secret_value())
        try:
            from syncd.notify import outbox

            with store.engine.connect() as conn:
                backlog = outbox.backlog(conn)
        finally:
            store.close()
        ctx.out.print(f"[green]ok[/] database {config.redacted_url()}")
    except SyncdError as exc:
        problems += 1
        click.echo(f"database: {exc}", err=True)

    from syncd.connect import make_connector

    try:
        connector = make_connector(config, max_retry_time=CHECK_RETRY_SECONDS)
        report = connector.check()
    except (ConnectorError, SyncdError) as exc:
        problems += 1
        click.echo(f"crm.{config.crm.provider}: {exc}", err=True)
    else:
        ctx.out.print(f"[green]ok[/] {config.crm.provider} at {report.account}")
        for access in report.objects:
            mark = "[green]ok[/]" if access.readable else "[red]no[/]"
            ctx.out.print(f"   {mark} {access.object:<10} {access.detail}")
            problems += 0 if access.readable else 1
    problems += _check_slack(ctx, config, backlog)
    if problems:
        fail(f"{problems} problem(s) found", EXIT_FAILED)


def _check_slack(ctx: Context, config: Any, backlog: Any) -> int:
    """Slack: the token and the channel answer; deliveries that failed. The problem count."""
    from syncd.notify.slack import SlackClient, SlackError, SlackWebhook

    problems = 0
    slack = config.slack
    if slack is None:
        ctx.out.print("[dim]--[/] slack not configured: alerts and digests stay in the database")
    elif slack.token is not None:
        client = SlackClient(slack.token.get_secret_value(), slack.base_url,
                             timeout=CHECK_RETRY_SECONDS, rate_limit_retries=1,
                             server_error_retries=1)
        try:
            who = client.check()
            channel = client.channel_id(slack.channel)
            ctx.out.print(f"[green]ok[/] slack: {who}, channel {slack.channel} ({channel})")
        except SlackError as exc:
            problems += 1
            click.echo(f"slack: {exc}", err=True)
    else:
        SlackWebhook(slack.webhook_url.get_secret_value())
        ctx.out.print("[green]ok[/] slack: incoming webhook set (not called: it would post)")
    if backlog is not None:
        for failed in backlog.failures:
            problems += 1
            click.echo(f"slack: delivery #{failed.id} ({failed.dedup_key}) failed: "
                       f"{failed.error} (then: syncd alerts retry {failed.id})", err=True)
        if backlog.pending or backlog.sending:
            ctx.out.print(f"[yellow]..[/] outbox: {backlog.pending + backlog.sending} "
                          "message(s) waiting (syncd notify delivers them)")
    return problems


@main.command()
@click.option("--full", is_flag=True, help="Re-read everything instead of what changed.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON line.")
@click.option("--no-evaluate", is_flag=True,
              help="Do not evaluate the KRs (and store today's snapshots) after the sync.")
@click.pass_obj
def sync(ctx: Context, full: bool, as_json: bool, no_evaluate: bool) -> None:
    """Run one sync from the CRM into the database, then evaluate the KRs (today's
    snapshots) and print a summary."""
    from syncd.connect import make_connector
    from syncd.render import print_summary
    from syncd.store import Store
    from syncd.sync import Syncer

    config = _load(ctx)
    clock = make_clock(ctx.now, config.tz)
    store = Store.open(config.database.url.get_secret_value())
    connector = make_connector(config)
    try:
        with _stop_on_signals() as stop, _progress(ctx) as progress:
            syncer = Syncer(store, connector, clock=clock, progress=progress, stop=stop,
                            reconcile_every=config.crm.sync.reconcile_every,
                            parallel_after=_parallel_after())
            summary = syncer.run(full=full)
    finally:
        connector.close()
        store.close()
    if as_json:
        click.echo(json.dumps(summary.as_dict(), default=str))
    else:
        print_summary(ctx.out, summary)
    if summary.status == "ok" and config.okrs and not no_evaluate:
        _evaluate_after_sync(ctx, config, clock(), quiet=as_json)
    if summary.status == "interrupted":
        sys.exit(EXIT_INTERRUPTED)
    if summary.status != "ok":
        sys.exit(EXIT_FAILED)


def _evaluate_after_sync(ctx: Context, config: Any, now: Any, *, quiet: bool) -> None:
    from collections import Counter

    from syncd.evaluate import Evaluator
    from syncd.notify.alerting import notify as queue_alerts
    from syncd.notify_cli import deliver, delivery_line, slack_clients

    store = _open_store(config)
    try:
        ev = Evaluator(store.engine, config).evaluate(now)
        client, _ = slack_clients(config)
        outcome = queue_alerts(store.engine, config, ev, now, client=client)
        sent = deliver(store.engine, config, lambda: now)
    finally:
        store.close()
    if quiet:
        return
    counts = Counter(r.evaluation.status.value.replace("_", " ") if r.evaluation else "no value"
                     for r in ev.krs)
    shown = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    active = sum(1 for f in ev.findings if not f.muted)
    ctx.out.print(f"Evaluated {len(ev.krs)} KRs: {shown}; {active} finding(s). "
                  "Details: syncd status")
    if outcome.transitions:
        ctx.out.print(f"Alerts: {len(outcome.transitions)} change(s), {len(outcome.queued)} "
                      "message(s) queued. Details: syncd alerts list")
    if sent is not None and (sent.sent or sent.failed or sent.retry_at):
        ctx.out.print(delivery_line(sent))


def _instant(ctx: Context, config: Any, as_of: str | None) -> Any:
    """``--as-of``: a day (its end, in the team's zone) or an ISO instant; else now."""
    from datetime import date

    from syncd.evaluate import end_of_day

    if not as_of:
        return make_clock(ctx.now, config.tz)()
    text = as_of.strip()
    try:
        return end_of_day(date.fromisoformat(text), config.tz)
    except ValueError:
        pass
    try:
        return parse_now(text, config.tz)
    except SyncdError:
        raise click.BadParameter(
            f"{text!r} is not a date or instant; write 2026-11-16 or 2026-11-16T07:30",
            param_hint="--as-of") from None


def _open_store(config: Any) -> Any:
    from syncd.store import Store

    return Store.open(config.database.url.get_secret_value())


@main.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="A table for people, stable JSON for scripts.")
@click.option("--as-of", "as_of", metavar="DATE",
              help="Evaluate as of a past day (its end) or instant, from history.")
@click.option("--no-contributors", is_flag=True,
              help="Skip the owners/segments that moved each KR (faster on big stores).")
@click.pass_obj
def status(ctx: Context, fmt: str, as_of: str | None, no_contributors: bool) -> None:
    """Every KR: value, expected by now, progress, pace, status, projection, 7-day change."""
    from syncd.evaluate import Evaluator
    from syncd.status import print_status, status_json

    config = _load(ctx)
    if not config.okrs:
        fail("the config has no okrs; add an objective and its key_results (see "
             "`syncd init`)", EXIT_USAGE)
    from syncd.daemon.overview import service_view, view_json, view_lines

    now = _instant(ctx, config, as_of)
    store = _open_store(config)
    try:
        ev = Evaluator(store.engine, config).evaluate(
            now, save=as_of is None, contributors=not no_contributors)
        service = service_view(store.engine, config, now, ask=as_of is None)
    finally:
        store.close()
    names = {i: f"{okr.objective} ({okr.period.label})" for i, okr in enumerate(config.okrs)}
    if fmt == "json":
        doc = status_json(ev, currency=config.currency, timezone=config.timezone,
                          objectives=names)
        doc["service"] = view_json(service)
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        print_status(ctx.out, ev, currency=config.currency, zone=config.tz, objectives=names)
        for line in view_lines(service, config.tz):
            ctx.out.print(line, markup=False, highlight=False)


def _pairs(values: tuple[str, ...], option: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE, like company_segment=PME",
                                     param_hint=option)
        parsed: Any = raw.strip()
        with suppress(ValueError):
            parsed = float(parsed) if "." in parsed else int(parsed)
        if isinstance(parsed, str) and "," in parsed:
            parsed = [p.strip() for p in parsed.split(",") if p.strip()]
        out[key.strip()] = parsed
    return out


@main.command()
@click.argument("key", required=False)
@click.option("--where", "where", multiple=True, metavar="KEY=VALUE",
              help="Filter, repeatable: company_segment=PME, owner=lea@acme.ch, "
                   "pipeline=default (a,b for several).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A metric parameter, repeatable: quota=60000, mode=period.")
@click.option("--window", metavar="PERIOD",
              help="What a windowed metric covers: 2026-Q4, 2026-11, 2026-W45, 2026 or 30d.")
@click.option("--as-of", "as_of", metavar="DATE", help="As of a past day (its end) or instant.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.pass_obj
def metrics(ctx: Context, key: str | None, where: tuple[str, ...], params: tuple[str, ...],
            window: str | None, as_of: str | None, fmt: str) -> None:
    """The metric catalog, or one metric's value (with filters, window, as of a date)."""
    from syncd.metrics_cli import print_catalog, print_value

    if key is None:
        print_catalog(ctx.out, as_json=fmt == "json")
        return
    config = _load(ctx)
    now = _instant(ctx, config, as_of)
    store = _open_store(config)
    try:
        print_value(ctx.out, store.engine, config, key, now=now,
                    where=_pairs(where, "--where"), params=_pairs(params, "--param"),
                    window=window, as_json=fmt == "json")
    finally:
        store.close()


@main.command()
@click.option("--keep", type=click.Path(path_type=Path, file_okay=False),
              help="Write the demo's database, config and charts in this directory "
                   "(default: a new temporary directory, kept and printed).")
@click.option("--deals", type=click.IntRange(min=1), default=None,
              help="Size of the generated dataset (default: the 8-person team).")
@click.pass_obj
def demo(ctx: Context, keep: Path | None, deals: int | None) -> None:
    """Offline demo: local HubSpot and Slack sandboxes, a realistic team whose pipeline just
    dropped, one full cycle on a Monday morning: alerts and the digest as Slack got them."""
    from syncd.demo import run_demo

    run_demo(ctx.out, now=ctx.now, keep=keep, deals=deals)


from syncd.daemon_cli import run_command  # noqa: E402  (registered likewise)
from syncd.notify_cli import alerts, digest, notify  # noqa: E402  (registered likewise)
from syncd.simulate_cli import simulate  # noqa: E402  (registered after the group exists)

main.add_command(simulate)
for _command in (alerts, digest, notify, run_command):
    main.add_command(_command)


# ---------------------------------------------------------------------- entry point


def run(argv: list[str] | None = None) -> int:
    """Run the CLI, turning every known error into one line (tests call this)."""
    handlers: list[tuple[type[BaseException], Callable[[BaseException], int]]] = [
        (ConfigError, _config_error),
        (SyncdError, lambda e: _line(str(e), EXIT_FAILED)),
        (ConnectorError, lambda e: _line(str(e), EXIT_FAILED)),
        (RulesError, lambda e: _line(str(e), EXIT_USAGE)),
        (KeyboardInterrupt, lambda e: _line("interrupted; the next run resumes",
                                            EXIT_INTERRUPTED)),
    ]
    try:
        main.main(args=argv, prog_name="syncd", standalone_mode=False)
    except click.exceptions.Abort:
        return _line("aborted", EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_FAILED
    except Exception as exc:
        for kind, handle in handlers:
            if isinstance(exc, kind):
                return handle(exc)
        log.debug("internal error", exc_info=True)
        return _line(
            f"internal error: {exc.__class__.__name__}: {exc} (run with -vv for details; "
            "please report it)", EXIT_FAILED,
        )
    except KeyboardInterrupt:
        return _line("interrupted; the next run resumes", EXIT_INTERRUPTED)
    return 0


def _config_error(exc: BaseException) -> int:
    assert isinstance(exc, ConfigError)
    for problem in exc.problems:
        click.echo(problem.format(exc.source), err=True)
    if len(exc.problems) > 1:
        click.echo(f"syncd: {len(exc.problems)} problems in the config", err=True)
    return EXIT_USAGE


def _line(message: str, code: int) -> int:
    click.echo(f"syncd: {message}", err=True)
    return code


def entry() -> None:
    sys.exit(run())
