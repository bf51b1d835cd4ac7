"""Two `syncd run` replicas on one PostgreSQL database: exactly one leads; SIGKILL it and the
other takes over well within 30 s; the week's digest is posted once across them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from syncd.sandbox.dataset import generate
from syncd.sandbox.hubspot import HubSpotSandbox
from syncd.sandbox.slack import SlackSandbox
from tests.daemon.test_daemon import EXAMPLE, free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)


def readyz(port: int) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
            return dict(json.loads(answer.read()))
    except urllib.error.HTTPError as exc:
        return dict(json.loads(exc.read() or b"{}"))
    except (OSError, ValueError):
        return {}


@pytest.fixture
def replicas(pg_url: str, tmp_path: Path) -> Iterator[tuple[list[Any], SlackSandbox, Path]]:
    with HubSpotSandbox(generate(now=NOW, seed=7), search_limit=None) as hubspot, \
            SlackSandbox(channels={"#ventes-okr": "C0VENTES01"}, now=lambda: NOW) as slack:
        env = {**os.environ, "HUBSPOT_ACCESS_TOKEN": hubspot.token,
               "SLACK_BOT_TOKEN": slack.token, "SYNCD_NOW": "2026-11-23T07:30"}
        env.pop("SYNCD_DATABASE_URL", None)
        log = tmp_path / "replicas.log"
        running = []
        for i in range(2):
            port = free_port()
            body = EXAMPLE.read_text(encoding="utf-8")
            for old, new in {
                "sqlite:///syncd.db": pg_url,
                "    # base_url: https://api.hubapi.com      # EU data centre or a local sandbox":
                    f"    base_url: {hubspot.url}",
                "# base_url: https://slack.com/api/": f"base_url: {slack.url}",
                "    every: 15m": "    every: 20s",
            }.items():
                body = body.replace(old, new)
            body += (f"\nservice:\n  listen: 127.0.0.1:{port}\n  log_format: json\n"
                     "  standby_poll: 1s\n")
            config = tmp_path / f"syncd-{i}.yaml"
            config.write_text(body, encoding="utf-8")
            with log.open("ab") as out:
                proc = subprocess.Popen([sys.executable, "-m", "syncd", "-c", str(config), "run"],
                                        env=env, stdout=out, stderr=subprocess.STDOUT)
            running.append((proc, port))
            if i == 0:  # the first one migrates the schema and leads
                deadline = time.monotonic() + 60
                while readyz(port).get("role") != "leader":
                    assert time.monotonic() < deadline, log.read_text()[-3000:]
                    time.sleep(0.2)
        try:
            yield running, slack, log
        finally:
            for proc, _ in running:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()


def test_the_standby_takes_over_when_the_leader_is_killed(replicas):
    running, slack, log = replicas
    (first, first_port), (_second, second_port) = running
    deadline = time.monotonic() + 60
    while readyz(second_port).get("role") != "standby":
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)
    assert readyz(first_port)["role"] == "leader"
    while not any("Revue OKR" in m.text for m in slack.messages()):
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)
    first.kill()
    first.wait()
    killed = time.monotonic()
    while readyz(second_port).get("role") != "leader":
        assert time.monotonic() - killed < 30, log.read_text()[-3000:]
        time.sleep(0.1)
    took = time.monotonic() - killed
    assert took < 10  # standby_poll is 1 s: the lock is free as soon as the session ends
    # the new leader runs its cycle: nothing the first one posted is posted again
    while not readyz(second_port).get("ready"):
        assert time.monotonic() - killed < 60, log.read_text()[-3000:]
        time.sleep(0.2)
    digests = [m for m in slack.messages() if "Revue OKR" in m.text and not m.is_reply]
    assert len(digests) == 1
    top = [m.text for m in slack.messages() if not m.is_reply]
    assert len(top) == len(set(top))
