"""``syncd demo``: the whole product on one machine, offline, with no credentials.

It starts the local HubSpot sandbox with the realistic 8-person team and a scripted event (a
competitor's promotion: the open pipeline down about 30 % in the last week, see
:mod:`syncd.sandbox.dataset`) and the local Slack sandbox (channel ``#ventes-okr``, one user per
team member so that mentions resolve), writes a config like ``syncd.example.yaml`` pointing at
both, and runs one full cycle of the daemon (:func:`syncd.daemon.cycle.run_cycle`: sync,
evaluation, alerts, the Monday digest, delivery) at a frozen Monday morning, 07:30 in Zurich.
Then it shows what happened: the sync summary, the KR status table, the alerts and the digest
as Slack received them, and where the digest's charts were written.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rules.periods import local_day, quarter_of
from syncd.clock import Clock, make_clock, system_clock
from syncd.config import load_config
from syncd.daemon.cycle import CycleReport, run_cycle
from syncd.demo_slack import Channel, write_files
from syncd.errors import SyncdError
from syncd.overview import overview
from syncd.render import BarProgress, LineProgress, print_summary
from syncd.sandbox.dataset import Dataset, generate
from syncd.sandbox.hubspot import HubSpotSandbox
from syncd.sandbox.slack import SlackSandbox
from syncd.status import print_status
from syncd.store import Store

ZURICH = ZoneInfo("Europe/Zurich")
CHANNEL = "#ventes-okr"
SCENARIO = "competitor_promo"

DEMO_CONFIG = """\
# Written by `syncd demo`: the same format as syncd.example.yaml, aimed at local sandboxes.
# For a real portal: drop both base_url lines, point database.url at a new file, and set
# HUBSPOT_ACCESS_TOKEN and SLACK_BOT_TOKEN.
timezone: Europe/Zurich
language: fr
currency: CHF
database:
  url: sqlite:///{db}
crm:
  provider: hubspot
  hubspot:
    access_token: ${{HUBSPOT_ACCESS_TOKEN}}
    base_url: {base_url}
  fields:
    deal_mrr: hs_mrr
    company_segment: segment
    company_churned_at: churned_at
  sync:
    every: 15m
fx: {{EUR: {eur_chf}}}

slack:
  token: ${{SLACK_BOT_TOKEN}}
  channel: "{channel}"
  base_url: {slack_url}

schedule:
  weekly_digest: {{day_of_week: mon, hour: 7, minute: 30}}
  monthly_report: {{day: 1st mon, hour: 8, minute: 0}}

okrs:
  - objective: Augmenter le MRR de 20 % ce trimestre
    period: {quarter}
    owner: manager@acme.ch
    goal: {{metric: mrr, change: 20%}}
    key_results:
      - id: conversion-pme
        name: Conversion des leads qualifiés en clients (PME)
        metric: lead_conversion_rate
        where: {{company_segment: PME}}
        params: {{mode: period}}   # the seed's sheet: new customers / qualified leads
        baseline: 18%
        target: 25%
        owners: [lea@acme.ch, marc@acme.ch]
      - id: panier-moyen
        name: Panier moyen (ARPU)
        metric: arpu
        baseline: 1200
        target: 1450
        owners: [julie@acme.ch, paul@acme.ch, sara@acme.ch]
      - id: churn
        name: Churn mensuel
        metric: churn_rate
        baseline: 3%
        target: 2%
        owners: [nina@acme.ch, tom@acme.ch]
      - id: pipeline
        name: Pipeline qualifié (x objectif trimestriel)
        metric: pipeline_coverage
        params: {{quota: 150000}}
        target: 3x
        owners: [manager@acme.ch]

alerts:
  repeat_every: 24h
  send_resolved: true
  behind_pace: {{below: 90%, recover_above: 95%}}
  rules:
    - id: pipeline-drop
      metric: pipeline_value
      change: -25%
      over: 7d
      recover: -15%
      min_base: 10000
    - id: stale-sync
      stale_after: 2h
"""

NEXT_STEPS = """\
[bold]Point the same config at your HubSpot portal and Slack workspace:[/]
  cp {config} syncd.yaml
  # then, in syncd.yaml: delete both base_url lines and set database.url to a
  # new file (the demo's database holds the sandbox's records)
  export HUBSPOT_ACCESS_TOKEN=...  # private app, scopes crm.objects.*.read
  export SLACK_BOT_TOKEN=xoxb-...  # bot scopes: chat:write files:write users:read
                                   # users:read.email channels:read channels:history
  syncd check                      # config, database, what the tokens see
  syncd run                        # the service: syncs, alerts, digests
  Or start from `syncd init`; `syncd status` shows every KR.
"""


def demo_instant(now: str | None, clock: Clock = system_clock) -> datetime:
    """``--now``/``SYNCD_NOW`` (a value without an offset is Zurich time), else 07:30 in
    Zurich on the Monday of the current week: when the digest is due."""
    if now:
        return make_clock(now, ZURICH)()
    today = clock().astimezone(ZURICH).date()
    monday = today - timedelta(days=today.weekday())
    return datetime.combine(monday, time(7, 30), tzinfo=ZURICH).astimezone(UTC)


def run_demo(
    console: Console, *, now: str | None, keep: Path | None, deals: int | None
) -> None:
    instant = demo_instant(now)

    def clock() -> datetime:  # frozen: the whole cycle sees one instant
        return instant

    if keep is None:
        workdir = Path(tempfile.mkdtemp(prefix="syncd-demo-"))
    else:
        workdir = keep
        workdir.mkdir(parents=True, exist_ok=True)
    local = instant.astimezone(ZURICH)
    console.print(f"[bold]syncd demo[/] on {local:%A %Y-%m-%d %H:%M} (Europe/Zurich), "
                  f"in {escape(str(workdir))}")
    dataset = generate(now=instant, deals=deals, scenario=SCENARIO)
    event = dataset.event
    if event is not None:
        console.print(
            f"Scripted event: a competitor's promotion; {event.lost} open deals lost and "
            f"{event.pushed} pushed out in the last 7 days, open pipeline "
            f"{event.pipeline_base_day:,.0f} -> {event.pipeline_after:,.0f} CHF "
            f"({event.day_change:+.1%}).")
    with ExitStack() as stack:
        hubspot = stack.enter_context(HubSpotSandbox(dataset))
        slack = stack.enter_context(SlackSandbox(
            channels={CHANNEL: "C0VENTES01"}, users=team_users(dataset), now=clock))
        console.print(f"HubSpot sandbox on {hubspot.url}, Slack sandbox on {slack.url}")
        config_path, report = _cycle(stack, console, workdir, dataset, hubspot, slack, clock)
        _show(console, config_path, report, slack, workdir)
    if not report.ok:
        raise SyncdError("the demo's cycle did not fully succeed: " + "; ".join(
            report.errors or ["a Slack delivery failed (see above)"]))


def team_users(dataset: Dataset) -> dict[str, str]:
    """E-mail -> Slack name for the team's active owners (mentions resolve by e-mail)."""
    return {o["email"]: o["firstName"] for o in dataset.owners if not o["archived"]}


def _cycle(stack: ExitStack, console: Console, workdir: Path, dataset: Dataset,
           hubspot: HubSpotSandbox, slack: SlackSandbox,
           clock: Clock) -> tuple[Path, CycleReport]:
    config_path = workdir / "syncd.yaml"
    db = workdir / "syncd.db"
    db.unlink(missing_ok=True)
    instant = clock()
    quarter = quarter_of(local_day(instant.astimezone(ZURICH)))
    config_path.write_text(DEMO_CONFIG.format(
        db=db, base_url=hubspot.url, eur_chf=dataset.summary.eur_chf, channel=CHANNEL,
        slack_url=slack.url,
        quarter=f"{quarter.start.year}-Q{(quarter.start.month - 1) // 3 + 1}"),
        encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if k != "SYNCD_DATABASE_URL"}
    environ["HUBSPOT_ACCESS_TOKEN"] = hubspot.token
    environ["SLACK_BOT_TOKEN"] = slack.token
    config = load_config(config_path, environ=environ)
    store = Store.open(config.database.url.get_secret_value())
    stack.callback(store.close)
    progress = BarProgress(Console(stderr=True)) if console.is_terminal else LineProgress()
    with progress:
        report = run_cycle(config, store, clock=clock, progress=progress)
    if report.sync is not None:
        print_summary(console, report.sync)
    if report.sync is None or report.sync.status != "ok":
        raise SyncdError("the demo's sync failed: "
                         f"{getattr(report.sync, 'error', None) or 'it did not run'}")
    show_overview(console, store, config.currency)
    names = {i: f"{okr.objective} ({okr.period.label})" for i, okr in enumerate(config.okrs)}
    if report.evaluation is not None:
        console.print()
        print_status(console, report.evaluation, currency=config.currency, zone=config.tz,
                     objectives=names)
    return config_path, report


def _show(console: Console, config_path: Path, report: CycleReport, slack: SlackSandbox,
          workdir: Path) -> None:
    channel = Channel(console, slack)
    channel.alerts()
    channel.reports()
    charts = write_files(slack.files(), workdir / "charts")
    if charts:
        console.print(f"\n[bold]Charts[/] ({len(charts)}, posted in the digest's thread):")
    for path in charts:
        console.print(f"  {escape(str(path))}", highlight=False)
    delivery = report.delivery
    if delivery is not None:
        console.print(f"Slack: {delivery.sent} message(s) delivered to {CHANNEL}"
                      + (f", {delivery.failed} failed" if delivery.failed else "") + ".")
    console.print(f"The config, the database and the charts stay in {escape(str(workdir))}.\n")
    console.print(NEXT_STEPS.format(config=escape(str(config_path))))


def show_overview(console: Console, store: Store, currency: str) -> None:
    view = overview(store)
    console.print(
        f"\n[bold]What was synced:[/] {view.owners} owners, {view.companies:,} companies, "
        f"{view.contacts:,} contacts, {view.deals:,} deals"
    )
    table = Table(title="Open pipeline by stage", title_justify="left")
    for name in ("pipeline", "stage", "deals", f"amount ({currency})"):
        table.add_column(name, justify="left" if name in ("pipeline", "stage") else "right")
    for line in view.open_pipeline:
        table.add_row(line.pipeline, line.stage, f"{line.deals:,}", f"{line.amount:,.0f}")
    console.print(table)
    segments = Table(title="Customers by segment", title_justify="left")
    for name in ("segment", "active customers", "churned"):
        segments.add_column(name, justify="right" if name != "segment" else "left")
    for seg in view.segments:
        segments.add_row(seg.segment, f"{seg.customers - seg.churned:,}", f"{seg.churned:,}")
    console.print(segments)
