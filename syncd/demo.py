"""``syncd demo``: the whole path on one machine, offline, with no credentials.

It starts the local HubSpot sandbox on loopback with the realistic 8-person team, writes a
config like ``syncd.example.yaml`` pointing at it, and runs the same code a real install runs
(config loading, connector, store, sync), then shows what was synced.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from rules.periods import local_day, quarter_of
from syncd.clock import make_clock
from syncd.config import load_config
from syncd.connect import make_connector
from syncd.evaluate import Evaluator
from syncd.overview import overview
from syncd.render import BarProgress, LineProgress, print_summary
from syncd.sandbox.dataset import generate
from syncd.sandbox.hubspot import HubSpotSandbox
from syncd.status import print_status
from syncd.store import Store
from syncd.sync import Syncer

DEMO_CONFIG = """\
# Written by `syncd demo`: the same format as syncd.example.yaml, aimed at a local sandbox.
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
[bold]Point the same thing at your portal:[/]
  syncd init                       # writes a commented syncd.yaml
  export HUBSPOT_ACCESS_TOKEN=...  # private app, scopes crm.objects.*.read
  syncd check                      # config, database, what the token sees
  syncd sync                       # full sync first, then only what changed
  syncd status                     # every KR: value, pace, status, projection
  syncd metrics                    # the metric catalog; syncd metrics KEY for a value
"""


def run_demo(
    console: Console, *, now: str | None, keep: Path | None, deals: int | None
) -> None:
    with ExitStack() as stack:
        if keep is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="syncd-demo-")))
        else:
            workdir = keep
            workdir.mkdir(parents=True, exist_ok=True)
        probe = make_clock(now)
        instant = probe()
        console.print(f"[bold]syncd demo[/] at {instant:%Y-%m-%d %H:%M} UTC, in {workdir}")

        dataset = generate(now=instant, deals=deals)
        sandbox = stack.enter_context(HubSpotSandbox(dataset))
        console.print(f"HubSpot sandbox listening on {sandbox.url}")

        config_path = workdir / "syncd.yaml"
        db = workdir / "syncd.db"
        if db.exists():
            db.unlink()
        quarter = quarter_of(local_day(instant.astimezone(ZoneInfo("Europe/Zurich"))))
        config_path.write_text(DEMO_CONFIG.format(
            db=db, base_url=sandbox.url, eur_chf=dataset.summary.eur_chf,
            quarter=f"{quarter.start.year}-Q{(quarter.start.month - 1) // 3 + 1}"))
        environ = {k: v for k, v in os.environ.items() if k != "SYNCD_DATABASE_URL"}
        environ["HUBSPOT_ACCESS_TOKEN"] = sandbox.token
        config = load_config(config_path, environ=environ)

        store = Store.open(config.database.url.get_secret_value())
        stack.callback(store.close)
        connector = make_connector(config)
        stack.callback(connector.close)
        progress = BarProgress(Console(stderr=True)) if console.is_terminal else LineProgress()
        with progress:
            summary = Syncer(
                store, connector, clock=make_clock(now, config.tz), progress=progress,
                reconcile_every=config.crm.sync.reconcile_every,
            ).run()
        print_summary(console, summary)
        show_overview(console, store, config.currency)
        evaluation = Evaluator(store.engine, config).evaluate(instant, contributors=True)
        names = {i: f"{okr.objective} ({okr.period.label})" for i, okr in enumerate(config.okrs)}
        console.print()
        print_status(console, evaluation, currency=config.currency, zone=config.tz,
                     objectives=names)
        if keep is not None:
            console.print(f"Kept {config_path} and {db}.")
        console.print(NEXT_STEPS)


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
