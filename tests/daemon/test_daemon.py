"""`syncd run` as a real process against the HubSpot and Slack sandboxes: it becomes ready,
runs its cycle, posts the digest once, reloads a good config and refuses a bad one on SIGHUP,
refuses a second daemon on the same SQLite file, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from syncd.sandbox.dataset import generate
from syncd.sandbox.hubspot import HubSpotSandbox
from syncd.sandbox.slack import SlackSandbox

pytestmark = pytest.mark.slow

NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)
EXAMPLE = Path(__file__).parents[2].parent / "shared" / "syncd.example.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def hubspot() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(generate(now=NOW, seed=7), search_limit=None) as sandbox:
        yield sandbox


@pytest.fixture
def slack() -> Iterator[SlackSandbox]:
    with SlackSandbox(channels={"#ventes-okr": "C0VENTES01"}, now=lambda: NOW) as sandbox:
        yield sandbox


class Daemon:
    def __init__(self, tmp: Path, hubspot: HubSpotSandbox, slack: SlackSandbox) -> None:
        self.port = free_port()
        self.config = tmp / "syncd.yaml"
        self.log = tmp / "daemon.log"
        self.env = {**os.environ, "HUBSPOT_ACCESS_TOKEN": hubspot.token,
                    "SLACK_BOT_TOKEN": slack.token, "SYNCD_NOW": "2026-11-23T07:30"}
        self.env.pop("SYNCD_DATABASE_URL", None)
        self.write(every="20s")
        self.procs: list[subprocess.Popen[bytes]] = []
        self.hubspot, self.slack, self.tmp = hubspot, slack, tmp

    def write(self, *, every: str, extra: str = "") -> None:
        body = EXAMPLE.read_text(encoding="utf-8")
        db = self.config.parent / "syncd.db"
        for old, new in {
            "sqlite:///syncd.db": f"sqlite:///{db}",
            "    # base_url: https://api.hubapi.com      # EU data centre or a local sandbox":
                "    base_url: {hubspot}",
            "# base_url: https://slack.com/api/": "base_url: {slack}",
            "    every: 15m": f"    every: {every}",
        }.items():
            assert old in body, old
            body = body.replace(old, new)
        body += f"\nservice:\n  listen: 127.0.0.1:{self.port}\n  log_format: json\n" \
                f"  shutdown_timeout: 10s\n{extra}"
        self.body = body
        self.config.write_text(body, encoding="utf-8")

    def fill(self) -> None:
        self.config.write_text(self.body.replace("{hubspot}", self.hubspot.url)
                               .replace("{slack}", self.slack.url), encoding="utf-8")

    def start(self) -> subprocess.Popen[bytes]:
        self.fill()
        log = self.log.open("ab")
        proc = subprocess.Popen([sys.executable, "-m", "syncd", "-c", str(self.config), "run"],
                                env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs.append(proc)
        return proc

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}",
                                        timeout=5) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def wait(self, what: Callable[[], Any], timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                got = what()
            except OSError:
                got = None
            if got:
                return got
            for proc in self.procs:
                assert proc.poll() is None or proc.returncode == 0, self.log.read_text()
            time.sleep(0.2)
        raise AssertionError(f"timed out; log:\n{self.log.read_text()[-4000:]}")

    def lines(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_text().splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
        return found

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def daemon(tmp_path: Path, hubspot: HubSpotSandbox, slack: SlackSandbox) -> Iterator[Daemon]:
    made = Daemon(tmp_path, hubspot, slack)
    yield made
    made.close()


def test_the_daemon_runs_reloads_refuses_a_second_one_and_stops_cleanly(daemon, slack):
    proc = daemon.start()
    ready = daemon.wait(lambda: daemon.get("/readyz")[0] == 200 and daemon.get("/readyz"))
    assert json.loads(ready[1])["role"] == "leader"
    assert daemon.get("/healthz")[0] == 200
    # the first cycle at Monday 07:30: the alerts and the digest reach Slack, once
    daemon.wait(lambda: any("Revue OKR" in m.text for m in slack.messages()))
    daemon.wait(lambda: len([m for m in slack.messages() if not m.is_reply]) >= 4)
    status, metrics = daemon.get("/metrics")
    assert status == 200 and "syncd_" in metrics
    shown = subprocess.run([sys.executable, "-m", "syncd", "-c", str(daemon.config), "status",
                            "--format", "json", "--no-contributors"], env=daemon.env,
                           capture_output=True, text=True, timeout=120, check=True)
    service = json.loads(shown.stdout)["service"]
    assert service["daemon"]["role"] == "leader" and service["last_sync"] is not None
    assert {job["job"] for job in service["next_jobs"]} >= {"sync", "weekly digest"}

    second = subprocess.run([sys.executable, "-m", "syncd", "-c", str(daemon.config), "run"],
                            env=daemon.env, capture_output=True, text=True, timeout=60,
                            check=False)
    assert second.returncode == 1
    assert "already running" in second.stderr and "Traceback" not in second.stderr

    daemon.config.write_text("timezone: Mars/Olympus\n", encoding="utf-8")  # a bad config
    proc.send_signal(signal.SIGHUP)
    daemon.wait(lambda: any("reload refused" in str(r.get("message")) for r in daemon.lines()))
    assert daemon.get("/healthz")[0] == 200  # still running the previous config
    daemon.fill()
    proc.send_signal(signal.SIGHUP)
    daemon.wait(lambda: any("config reloaded" in str(r.get("message"))
                            for r in daemon.lines()))

    posted = [m.text for m in slack.messages() if not m.is_reply]
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert time.monotonic() - started < 15  # within shutdown_timeout (10 s) and a margin
    assert any("stopped" in str(r.get("message")) for r in daemon.lines())
    assert [m.text for m in slack.messages() if not m.is_reply] == posted
    assert sum("Revue OKR" in t for t in posted) == 1
    runs = {r.get("run_id") for r in daemon.lines() if r.get("run_id")}
    assert runs  # cycles log with their run id
    assert slack.token not in daemon.log.read_text()
    assert daemon.hubspot.token not in daemon.log.read_text()
