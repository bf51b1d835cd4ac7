"""``syncd simulate`` tests: configs written to files, the CLI run in-process, and the sandbox
team synced once into a SQLite store (as the metrics tests build it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syncd.cli import main, run
from syncd.sandbox.dataset import generate
from syncd.simulate_cli import simulate
from tests.metrics.reference import sync

NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)
NOW_TEXT = "2026-11-23T07:30"  # Europe/Zurich

HEAD = """\
timezone: Europe/Zurich
currency: CHF
fx: {{EUR: 0.94}}
database:
  url: {url}
crm:
  provider: hubspot
  hubspot:
    access_token: not-used
okrs:
"""

#: Seed 000's objective and KRs, every baseline given, plus the lead volume the seed leaves
#: out (20 qualified leads a month, as in tests/rules/test_plan.py) and the start MRR.
SEED_OKR = """\
  - objective: Augmenter le revenu récurrent mensuel (MRR) de 20 %
    goal: {metric: mrr, change: 20%}
    period: 2026-Q4
    owner: manager@acme.ch
    key_results:
      - id: mrr
        name: MRR
        metric: mrr
        baseline: 100000
        target: 120000
        owners: [manager@acme.ch]
      - id: leads
        name: Leads qualifiés (trimestre)
        metric: qualified_leads
        baseline: 60
        target: 60
      - id: conversion
        name: Conversion des leads qualifiés en clients
        metric: lead_conversion_rate
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
        owners: [nina@acme.ch]
      - id: pipeline
        name: Pipeline qualifié (x objectif trimestriel)
        metric: pipeline_coverage
        params: {quota: 60000}
        target: 6x
        owners: [manager@acme.ch]
"""


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """``syncd simulate`` on the group, as syncd/cli.py registers it (restored afterwards)."""
    monkeypatch.setitem(main.commands, "simulate", simulate)
    monkeypatch.delenv("SYNCD_DATABASE_URL", raising=False)
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)
    monkeypatch.delenv("SYNCD_NOW", raising=False)


WriteConfig = Callable[..., Path]


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    def write(okrs: str, url: str | None = None, name: str = "syncd.yaml") -> Path:
        path = tmp_path / name
        path.write_text(HEAD.format(url=url or f"sqlite:///{tmp_path / 'empty.db'}") + okrs)
        return path

    return write


Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], registered: None) -> Cli:
    """Run ``syncd -c CONFIG --now NOW simulate ARGS``: (exit code, stdout, stderr)."""

    def call(config: Path, *args: str, now: str = NOW_TEXT) -> tuple[int, str, str]:
        code = run(["-c", str(config), "--now", now, "simulate", *args])
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, out, err

    return call


@pytest.fixture(scope="session")
def sandbox_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The sandbox team (seed 7) synced at NOW into a SQLite file."""
    url = f"sqlite:///{tmp_path_factory.mktemp('simulate') / 'syncd.db'}"
    store = sync(generate(now=NOW, seed=7), url, NOW)
    store.close()
    yield url
