"""``syncd run [--once]``: the daemon, or one full cycle for cron, CI and tests."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from syncd.cli import EXIT_FAILED, _load
from syncd.clock import make_clock
from syncd.logs import setup_logging

if TYPE_CHECKING:
    from syncd.cli import Context
    from syncd.daemon.cycle import CycleReport


def cycle_lines(report: CycleReport) -> list[str]:
    """What one cycle did, a line per step."""
    from syncd.notify_cli import delivery_line

    lines = []
    sync = report.sync
    if sync is not None:
        line = (f"Sync {sync.kind}: {sync.status}, {sync.records} record(s), "
                f"{sync.api_calls} API call(s)")
        if sync.error:
            line += f": {sync.error}"
        lines.append(line + ".")
    ev = report.evaluation
    if ev is not None:
        counts = Counter(r.evaluation.status.value.replace("_", " ") if r.evaluation
                         else "no value" for r in ev.krs)
        shown = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        active = sum(1 for f in ev.findings if not f.muted)
        lines.append(f"Evaluated {len(ev.krs)} KRs: {shown}; {active} finding(s).")
    if report.alerts is not None:
        lines.append(f"Alerts: {len(report.alerts.transitions)} change(s), "
                     f"{len(report.alerts.queued)} message(s) queued.")
    for key in report.announced:
        lines.append(f"Announcement {key}: queued.")
    for due in report.reports:
        lines.append(f"Report {due.key}: " + ("missed (recorded as a failed delivery)"
                                              if due.missed else "queued") + ".")
    if report.delivery is not None or report.evaluation is not None:
        lines.append(delivery_line(report.delivery))
    lines += [f"Problem: {e}" for e in report.errors]
    return lines


@click.command("run")
@click.option("--once", is_flag=True,
              help="One full cycle (sync, evaluate, alerts, reports due, delivery), then exit: "
                   "0 if everything succeeded, 1 otherwise.")
@click.pass_obj
def run_command(ctx: Context, once: bool) -> None:
    """Run the daemon: syncs on schedule, alerts, the Monday digest, health on
    service.listen. SIGTERM stops it cleanly, SIGHUP reloads the config."""
    from syncd.daemon.service import Daemon, run_once

    config = _load(ctx)
    # the daemon says what it does (INFO); --once prints its own summary
    setup_logging(ctx.verbose if once else max(ctx.verbose, 1),
                  fmt="text" if once else config.service.log_format)
    clock = make_clock(ctx.now, config.tz)
    if once:
        report = run_once(config, clock=clock)
        for line in cycle_lines(report):
            ctx.out.print(line, highlight=False, markup=False)
        if not report.ok:
            raise SystemExit(130 if report.interrupted else EXIT_FAILED)
        return

    def load(path: Path) -> Any:
        from syncd.config import load_config

        return load_config(path)

    raise SystemExit(Daemon(ctx.config_path, config, clock=clock, load=load).run())
