"""Benchmark: the daemon at rest, and failover between replicas.

Idle: a real ``syncd run`` process (SQLite, incremental sync every minute) against the HubSpot
and Slack sandboxes of this process, for ``--minutes`` of wall time; its CPU time and RSS are
read from ``/proc`` every second. Reported: average CPU as a share of one core, peak and final
RSS, the cycles it ran. (Targets: under 2 % of one core, under 150 MB.)

Failover: ``--replicas`` ``syncd run`` processes on one PostgreSQL schema; the leader (found
from ``/readyz``) is SIGKILLed ``--kills`` times, each time once it has finished a cycle, and
restarted (as systemd or Kubernetes would); reported: the time until another replica says it
leads, each time, and whether any job ran twice (two syncs overlapping in the ``sync_run``
table, the week's digest posted more than once). (Target: under 30 s each.)

    .venv/bin/python tests/benchmarks/bench_daemon.py --idle --minutes 10
    .venv/bin/python tests/benchmarks/bench_daemon.py --failover --kills 10
    .venv/bin/python tests/benchmarks/bench_daemon.py --smoke          # both, briefly (CI)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT.parent / "shared" / "syncd.example.yaml"
PG_URL = os.environ.get("SYNCD_TEST_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config_text(db_url: str, hubspot: Any, slack: Any, port: int, every: str) -> str:
    body = EXAMPLE.read_text(encoding="utf-8")
    for old, new in {
        "sqlite:///syncd.db": db_url,
        "    # base_url: https://api.hubapi.com      # EU data centre or a local sandbox":
            f"    base_url: {hubspot.url}",
        "# base_url: https://slack.com/api/": f"base_url: {slack.url}",
        "    every: 15m": f"    every: {every}",
    }.items():
        body = body.replace(old, new)
    return body + (f"\nservice:\n  listen: 127.0.0.1:{port}\n  log_format: json\n"
                   "  standby_poll: 2s\n")


def proc_stat(pid: int) -> tuple[float, int]:
    """(CPU seconds, RSS bytes) of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICK
    return cpu, int(fields[21]) * PAGE


def readyz(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return dict(json.loads(r.read()))
    except urllib.error.HTTPError as exc:
        return dict(json.loads(exc.read() or b"{}"))
    except (OSError, ValueError):
        return None


def sandboxes(stack: ExitStack) -> tuple[Any, Any]:
    from syncd.sandbox.dataset import generate
    from syncd.sandbox.hubspot import HubSpotSandbox
    from syncd.sandbox.slack import SlackSandbox

    now = datetime.now(UTC)
    hubspot = stack.enter_context(HubSpotSandbox(generate(now=now, seed=7), search_limit=None,
                                                 log_requests=False))
    slack = stack.enter_context(SlackSandbox(channels={"#ventes-okr": "C0VENTES01"}))
    return hubspot, slack


def start(config: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "syncd", "-c", str(config), "run"],
                                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)


def env_for(hubspot: Any, slack: Any) -> dict[str, str]:
    env = {**os.environ, "HUBSPOT_ACCESS_TOKEN": hubspot.token, "SLACK_BOT_TOKEN": slack.token}
    env.pop("SYNCD_DATABASE_URL", None)
    env.pop("SYNCD_NOW", None)
    return env


def idle(minutes: float, every: str) -> dict[str, Any]:
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        hubspot, slack = sandboxes(stack)
        port = free_port()
        config = Path(tmp) / "syncd.yaml"
        config.write_text(config_text(f"sqlite:///{Path(tmp) / 'syncd.db'}", hubspot, slack,
                                      port, every), encoding="utf-8")
        log = Path(tmp) / "daemon.log"
        proc = start(config, env_for(hubspot, slack), log)
        try:
            deadline = time.monotonic() + 120
            while (readyz(port) or {}).get("ready") is not True:  # the first (full) sync
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit(f"the daemon did not become ready:\n{log.read_text()}")
                time.sleep(0.5)
            cpu0, _ = proc_stat(proc.pid)
            started = time.monotonic()
            samples = []
            while time.monotonic() - started < minutes * 60:
                time.sleep(1)
                samples.append(proc_stat(proc.pid)[1])
            cpu1, rss = proc_stat(proc.pid)
            wall = time.monotonic() - started
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        cycles = log.read_text().count("cycle ok")
        return {
            "idle_minutes": round(wall / 60, 2), "every": every, "cycles_ok": cycles,
            "cpu_share_of_one_core_pct": round(100 * (cpu1 - cpu0) / wall, 2),
            "rss_peak_mb": round(max(samples) / 2**20, 1), "rss_end_mb": round(rss / 2**20, 1),
            "rss_median_mb": round(statistics.median(samples) / 2**20, 1),
        }


def failover(kills: int, replicas: int, pg_url: str) -> dict[str, Any]:
    import sqlalchemy as sa

    schema = "bench_failover_" + uuid.uuid4().hex[:8]
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'create schema "{schema}"'))
    url = f"{pg_url}{'&' if '?' in pg_url else '?'}options=-csearch_path%3D{schema}"
    procs: dict[int, subprocess.Popen[bytes]] = {}
    takeovers: list[float] = []
    try:
        with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
            hubspot, slack = sandboxes(stack)
            env = env_for(hubspot, slack)
            log = Path(tmp) / "daemons.log"
            ports = []
            for i in range(replicas):
                port = free_port()
                config = Path(tmp) / f"syncd-{i}.yaml"
                config.write_text(config_text(url, hubspot, slack, port, "30s"),
                                  encoding="utf-8")
                procs[port] = start(config, env, log)
                ports.append(port)

            def leaders() -> list[int]:
                return [p for p in ports if procs[p].poll() is None
                        and (readyz(p) or {}).get("role") == "leader"]

            deadline = time.monotonic() + 180
            while len(leaders()) != 1:
                if time.monotonic() > deadline:
                    raise SystemExit(f"no single leader:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)
            while not (readyz(leaders()[0]) or {}).get("last_cycle"):  # its first cycle done
                if time.monotonic() > deadline:
                    raise SystemExit(f"the leader never got ready:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)
            for kill in range(kills):
                (leader,) = leaders()
                procs[leader].kill()
                procs[leader].wait()
                killed = time.monotonic()
                while not leaders():
                    if time.monotonic() - killed > 120:
                        raise SystemExit(f"no takeover:\n{log.read_text()[-3000:]}")
                    time.sleep(0.1)
                takeovers.append(time.monotonic() - killed)
                if len(leaders()) > 1:
                    raise SystemExit("two leaders at once")
                (new,) = leaders()
                while not (readyz(new) or {}).get("last_cycle"):  # its first cycle as leader
                    if time.monotonic() - killed > 180:
                        raise SystemExit(f"no cycle after takeover:\n{log.read_text()[-3000:]}")
                    time.sleep(0.2)
                # the killed replica comes back, as systemd or Kubernetes would restart it
                index = ports.index(leader)
                procs[leader] = start(Path(tmp) / f"syncd-{index}.yaml", env, log)
                print(f"# kill {kill + 1}: takeover in {takeovers[-1]:.1f} s", file=sys.stderr)
            digests = sum("Revue OKR" in m.text for m in slack.messages() if not m.is_reply)
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            runs = conn.execute(sa.text(
                "select started_at, coalesce(finished_at, now()) from sync_run "
                "order by started_at")).all()
        engine.dispose()
        overlaps = sum(1 for a, b in itertools.pairwise(runs) if b[0] < a[1])
        return {
            "replicas": replicas, "kills": kills,
            "takeover_s": {"max": round(max(takeovers), 2),
                           "median": round(statistics.median(takeovers), 2),
                           "all": [round(t, 2) for t in takeovers]},
            "sync_runs": len(runs), "overlapping_syncs": overlaps,
            "digests_posted": digests,
        }
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        with admin.begin() as conn:
            conn.execute(sa.text(f'drop schema "{schema}" cascade'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--idle", action="store_true")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--every", default="1m")
    parser.add_argument("--failover", action="store_true")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--pg", default=PG_URL)
    parser.add_argument("--smoke", action="store_true", help="both, briefly (CI)")
    args = parser.parse_args()
    if args.smoke:
        print(json.dumps({"cores": os.cpu_count(), **idle(0.25, "5s")}), flush=True)
        print(json.dumps({"cores": os.cpu_count(), **failover(1, 2, args.pg)}), flush=True)
        return
    if args.idle or not args.failover:
        print(json.dumps({"cores": os.cpu_count(), **idle(args.minutes, args.every)}),
              flush=True)
    if args.failover:
        print(json.dumps({"cores": os.cpu_count(), **failover(args.kills, args.replicas,
                                                              args.pg)}), flush=True)


if __name__ == "__main__":
    main()
