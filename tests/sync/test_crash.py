"""Crash safety: SIGKILL a real `syncd sync` mid-run, run again, compare with a clean sync."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from syncd.sandbox.dataset import generate
from syncd.sandbox.hubspot import Fault, HubSpotSandbox

from .helpers import dump

NOW = "2026-11-23T06:30:00Z"
DEALS = 1500

CONFIG = """\
timezone: Europe/Zurich
database:
  url: {url}
crm:
  provider: hubspot
  hubspot:
    access_token: ${{HUBSPOT_ACCESS_TOKEN}}
    base_url: {base}
"""


def run_sync(config, token, *, wait=True):
    # the writer process takes over after the first batch: the kill lands while it works
    env = {**os.environ, "HUBSPOT_ACCESS_TOKEN": token, "SYNCD_NOW": NOW,
           "SYNCD_PARALLEL_AFTER": "500"}
    env.pop("SYNCD_DATABASE_URL", None)
    cmd = [sys.executable, "-m", "syncd", "-c", str(config), "sync"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    if wait:
        out, err = proc.communicate(timeout=180)
        return proc.returncode, out, err
    return proc


def run_statuses(url):
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("select status from sync_run order by id")).scalars().all()
    engine.dispose()
    return list(rows)


def deal_count(url):
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("select count(*) from deal")).scalar_one()
    except sa.exc.DBAPIError:
        return 0
    finally:
        engine.dispose()


def slow_sandbox(seed):
    """A sandbox whose deal pages are slowed down, so a signal lands in the middle of them."""
    data = generate(now=datetime.fromisoformat(NOW).astimezone(UTC), seed=seed, deals=DEALS)
    sandbox = HubSpotSandbox(data, search_limit=None)
    sandbox.inject(Fault("slow", count=10_000, path="/crm/v3/objects/deals", delay=0.08))
    return sandbox


def start_and_wait_for(config, url, token, deals):
    """Start `syncd sync` and return it once `deals` deals are committed."""
    proc = run_sync(config, token, wait=False)
    deadline = time.monotonic() + 120
    while deal_count(url) < deals:
        if proc.poll() is not None:
            pytest.fail(f"the sync ended too early: {proc.communicate()}")
        assert time.monotonic() < deadline, "the sync never got going"
        time.sleep(0.05)
    return proc


@pytest.mark.slow
def test_sigkill_mid_sync_then_rerun_equals_a_clean_full_sync(db_url, tmp_path):
    with slow_sandbox(5) as sandbox:
        config = tmp_path / "syncd.yaml"
        config.write_text(CONFIG.format(url=db_url, base=sandbox.url))
        proc = start_and_wait_for(config, db_url, sandbox.token, 300)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)  # reaps it and closes its pipes
        assert proc.returncode == -signal.SIGKILL
        assert 300 <= deal_count(db_url) < DEALS  # really killed in the middle

        code, _out, err = run_sync(config, sandbox.token)
        assert code == 0, err
        assert deal_count(db_url) == DEALS
        assert run_statuses(db_url) == ["interrupted", "ok"]  # the killed run is closed

        clean = tmp_path / "clean.yaml"
        clean_url = f"sqlite:///{tmp_path / 'clean.db'}"
        clean.write_text(CONFIG.format(url=clean_url, base=sandbox.url))
        code, _out, err = run_sync(clean, sandbox.token)
        assert code == 0, err

    assert dump(db_url) == dump(clean_url)


@pytest.mark.slow
def test_ctrl_c_stops_after_the_page_and_the_next_run_resumes(db_url, tmp_path):
    with slow_sandbox(6) as sandbox:
        config = tmp_path / "syncd.yaml"
        config.write_text(CONFIG.format(url=db_url, base=sandbox.url))
        proc = start_and_wait_for(config, db_url, sandbox.token, 200)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "interrupted" in out and "Traceback" not in err
        assert "stopping after the current page" in err
        stopped_at = deal_count(db_url)
        assert 200 <= stopped_at < DEALS

        code, out, err = run_sync(config, sandbox.token)
        assert code == 0, err
        assert deal_count(db_url) == DEALS
        assert run_statuses(db_url) == ["interrupted", "ok"]
