"""The CLI as a user meets it: one clear line for every mistake, never a traceback or a secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syncd.cli import run
from syncd.sandbox.dataset import generate
from syncd.sandbox.hubspot import HubSpotSandbox

NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)
TOKEN_ENV = "HUBSPOT_ACCESS_TOKEN"

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


@pytest.fixture(scope="module")
def sandbox():
    with HubSpotSandbox(generate(now=NOW, seed=2, deals=150), search_limit=None) as sb:
        yield sb


@pytest.fixture
def env(monkeypatch, sandbox):
    monkeypatch.setenv(TOKEN_ENV, sandbox.token)
    monkeypatch.setenv("SYNCD_NOW", "2026-11-23T07:30")
    monkeypatch.delenv("SYNCD_DATABASE_URL", raising=False)
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)


def write_config(tmp_path: Path, sandbox, url: str | None = None) -> Path:
    path = tmp_path / "syncd.yaml"
    path.write_text(CONFIG.format(url=url or f"sqlite:///{tmp_path / 'syncd.db'}",
                                  base=sandbox.url))
    return path


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_init_writes_a_starter_once(tmp_path, capsys, env):
    target = tmp_path / "syncd.yaml"
    code, out, _ = cli(capsys, "-c", str(target), "init")
    assert code == 0 and target.exists() and "syncd check" in out
    code, _, err = cli(capsys, "-c", str(target), "init")
    assert code != 0 and "--force" in err and len(err.strip().splitlines()) == 1


def test_check_reports_every_config_problem_at_once(tmp_path, capsys, env):
    path = tmp_path / "syncd.yaml"
    path.write_text("timezone: Mars/Olympus\nlanguage: de\ncrm:\n  provider: hubspot\n"
                    "  hubspot:\n    access_token: x\n  sync:\n    every: soon\nbogus: 1\n")
    code, _, err = cli(capsys, "-c", str(path), "check")
    assert code == 2
    lines = err.strip().splitlines()
    for needle in ("timezone", "language", "crm.sync.every", "bogus"):
        assert any(needle in line and str(path.name) in line for line in lines), needle
    assert "nothing was contacted" in lines[-1]


def test_check_tests_the_database_and_the_crm(tmp_path, capsys, env, sandbox):
    path = write_config(tmp_path, sandbox)
    code, out, err = cli(capsys, "-c", str(path), "check")
    assert code == 0, err
    for obj in ("owners", "pipelines", "companies", "contacts", "deals"):
        assert obj in out
    assert "150 records" in out
    assert sandbox.token not in out + err


def test_check_with_a_refused_token_says_what_to_do(tmp_path, capsys, env, sandbox,
                                                    monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "pat-eu1-revoked-token-00000")
    path = write_config(tmp_path, sandbox)
    code, out, err = cli(capsys, "-c", str(path), "check")
    assert code == 1
    assert "401" in err and "access_token" in err
    assert "pat-eu1-revoked-token-00000" not in out + err


def test_sync_prints_a_summary_and_a_json_line(tmp_path, capsys, env, sandbox):
    path = write_config(tmp_path, sandbox)
    code, out, err = cli(capsys, "-c", str(path), "sync")
    assert code == 0, err
    assert "deals" in out and "full" in out and "API calls" in out
    code, out, err = cli(capsys, "-c", str(path), "sync", "--json")
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["kind"] == "incremental" and summary["status"] == "ok"
    assert summary["api_calls"] == 5


def test_a_sync_evaluates_the_krs_and_stores_todays_snapshot(tmp_path, capsys, env, sandbox):
    path = write_config(tmp_path, sandbox)
    path.write_text(path.read_text() + (
        "okrs:\n  - objective: Churn\n    period: 2026-Q4\n    key_results:\n"
        "      - {id: churn, name: Churn, metric: churn_rate, baseline: 3%, target: 2%}\n"))
    code, out, err = cli(capsys, "-c", str(path), "sync")
    assert code == 0, err
    assert "Evaluated 1 KRs" in out
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'syncd.db'}")
    with engine.connect() as conn:
        days = conn.execute(sa.text(
            "SELECT day, live FROM snapshot WHERE series = 'kr:churn' ORDER BY day")).all()
    engine.dispose()
    assert days[-1] == ("2026-11-23", 1)  # today's, live; the days before reconstructed
    assert len(days) == 15 and not any(live for _, live in days[:-1])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--now", "yesterday", "sync"], "ISO-8601"),
        (["-c", "/nonexistent/syncd.yaml", "sync"], "syncd init"),
        (["sync", "--fulll"], "No such option"),
        (["frobnicate"], "No such command"),
    ],
)
def test_user_mistakes_end_in_one_clear_line(args, needle, capsys, env):
    code, _out, err = cli(capsys, *args)
    assert code == 2
    assert needle in err


def test_an_unreachable_database_is_one_line_without_the_password(tmp_path, capsys, env,
                                                                   sandbox):
    url = "postgresql+psycopg://syncd:s3cret-pw@127.0.0.1:1/syncd"
    path = write_config(tmp_path, sandbox, url=url)
    code, out, err = cli(capsys, "-c", str(path), "sync")
    assert code == 1
    assert "s3cret-pw" not in out + err
    assert "127.0.0.1" in err


def test_no_secret_in_debug_logs_of_a_real_process(tmp_path, sandbox):
    path = write_config(tmp_path, sandbox)
    env = {**os.environ, TOKEN_ENV: sandbox.token, "SYNCD_NOW": "2026-11-23T07:30"}
    env.pop("SYNCD_DATABASE_URL", None)
    proc = subprocess.run(
        [sys.executable, "-m", "syncd", "-vvv", "-c", str(path), "sync"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "syncd.connectors.hubspot" in proc.stderr or "syncd.sync" in proc.stderr
    assert sandbox.token not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_check_gives_up_quickly_on_an_unreachable_crm(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path / "syncd.yaml"
    path.write_text(CONFIG.format(url=f"sqlite:///{tmp_path / 'syncd.db'}",
                                  base=f"http://127.0.0.1:{port}"))
    env = {**os.environ, TOKEN_ENV: "pat-test-000000"}
    env.pop("SYNCD_DATABASE_URL", None)
    # a real process with a timeout: if the retry bound breaks, this fails instead of hanging
    proc = subprocess.run([sys.executable, "-m", "syncd", "-c", str(path), "check"],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1
    assert "could not connect" in proc.stderr and "base_url" in proc.stderr
    assert "ok database" in proc.stdout and "Traceback" not in proc.stderr


def test_check_tests_slack_and_lists_failed_deliveries(tmp_path, capsys, env, sandbox,
                                                        monkeypatch):
    from syncd.notify import outbox
    from syncd.notify.outbox import Outgoing
    from syncd.sandbox.slack import SlackSandbox
    from syncd.store import Store

    with SlackSandbox(channels={"#ventes-okr": "C0VENTES01", "#prive": "C0PRIVE001"},
                      bot_not_in=("#prive",)) as slack:
        monkeypatch.setenv("SLACK_BOT_TOKEN", slack.token)
        path = write_config(tmp_path, sandbox)
        body = path.read_text() + (
            f'slack:\n  token: ${{SLACK_BOT_TOKEN}}\n  channel: "#ventes-okr"\n'
            f"  base_url: {slack.url}\n")
        path.write_text(body)
        code, out, err = cli(capsys, "-c", str(path), "check")
        assert code == 0, err
        assert "ok slack: syncd on Sandbox, channel #ventes-okr (C0VENTES01)" in out
        with Store.open(f"sqlite:///{tmp_path / 'syncd.db'}") as store, \
                store.engine.begin() as conn:
            failed, _ = outbox.enqueue(conn, Outgoing("alert:kr:x:1:firing:0", "alert", "x"),
                                       NOW)
            outbox.mark_failed(conn, failed, "the bot is not in #prive: invite it there "
                                             "with /invite @syncd")
        code, out, err = cli(capsys, "-c", str(path), "check")
        assert code == 1
        assert f"delivery #{failed} (alert:kr:x:1:firing:0) failed" in err
        assert f"syncd alerts retry {failed}" in err
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-0000-revoked")
        code, out, err = cli(capsys, "-c", str(path), "check")
        assert code == 1 and "slack:" in err and "xoxb-0000-revoked" not in out + err
