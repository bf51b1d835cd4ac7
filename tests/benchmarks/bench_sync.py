"""Benchmark: full and incremental HubSpot syncs from the sandbox, against the fetch floor.

Prints one JSON line of figures. The sandbox runs as its own process (the second core); every
measured phase runs in a fresh child process so its peak RSS is its own.

    python tests/benchmarks/bench_sync.py --deals 100000           # throughput vs floor
    python tests/benchmarks/bench_sync.py --deals 20000 --burst 150/10 --only ratelimited
    python tests/benchmarks/bench_sync.py --deals 1000000 --only full   # peak RSS
    python tests/benchmarks/bench_sync.py --smoke                  # CI: tiny, all phases

Figures: records/s end to end, the "fetch and discard" floor (same connector, same pages,
records built and dropped, nothing stored) and the raw fetch (pages only, no records), API
calls against the minimum ceil(records / page size) per object, calls of an incremental sync
with nothing changed, wall time against the rate-limit floor, peak RSS.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def start_sandbox(deals: int, burst: str | None) -> tuple[subprocess.Popen[str], str, str]:
    cmd = [sys.executable, "-m", "syncd.sandbox", "hubspot", "--deals", str(deals),
           "--now", NOW.isoformat()]
    if burst:
        cmd += ["--burst-limit", burst]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise SystemExit("the sandbox did not start")
    info = json.loads(line)
    return proc, info["url"], info["token"]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_children_rss_mb() -> float:
    """The largest finished child's peak (the sync's writer process)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def connector(url: str, token: str) -> Any:
    from connectors.base import FieldMap
    from connectors.hubspot import HubSpotConnector

    fields = FieldMap(deal={"mrr": "hs_mrr"},
                      company={"segment": "segment", "churned_at": "churned_at"})
    return HubSpotConnector.create(access_token=token, base_url=url, fields=fields)


def child_floor(url: str, token: str, *, parse: bool = True) -> dict[str, Any]:
    """Fetch and discard: the same pages through the same connector, nothing stored.

    ``parse``: the connector's records are built (the floor), or the raw pages are only
    fetched and counted (``raw_fetch``: HTTP and JSON, no records)."""
    from connectors.base import SYNC_ORDER

    conn = connector(url, token)
    started = time.perf_counter()
    records = 0
    for obj in SYNC_ORDER:
        for page in conn.fetch(obj, None, NOW):
            records += len(list(page.records)) if parse else len(page.records)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "records": records,
            "records_per_s": round(records / seconds), "api_calls": conn.stats.api_calls,
            "peak_rss_mb": round(peak_rss_mb(), 1)}


def child_full(url: str, token: str, incremental: bool) -> dict[str, Any]:
    from syncd.store import Store
    from syncd.sync import Syncer

    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/bench.db")
        conn = connector(url, token)
        started = time.perf_counter()
        summary = Syncer(store, conn, clock=lambda: NOW).run()
        seconds = time.perf_counter() - started
        per_object = {name: {"records": part.fetched, "api_calls": part.api_calls}
                      for name, part in summary.objects.items()}
        out: dict[str, Any] = {
            "status": summary.status, "seconds": round(seconds, 2),
            "records": summary.records, "records_per_s": round(summary.records / seconds),
            "api_calls": summary.api_calls, "rate_limited": summary.rate_limited,
            "objects": per_object, "peak_rss_mb": round(peak_rss_mb(), 1),
            "writer_peak_rss_mb": round(peak_children_rss_mb(), 1),
        }
        if incremental:
            later = NOW + timedelta(minutes=15)
            inc = Syncer(store, conn, clock=lambda: later).run()
            out["incremental_nothing_changed"] = {
                "status": inc.status, "api_calls": inc.api_calls,
                "objects": {n: p.api_calls for n, p in inc.objects.items()},
            }
        store.close()
    return out


def run_child(mode: str, url: str, token: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--url", url, "--token", token],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )
    if out.returncode != 0:
        raise SystemExit(f"benchmark child {mode} failed:\n{out.stderr}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def minimum_calls(objects: dict[str, dict[str, int]]) -> int:
    """ceil(records / 100) per listed object, 1 for owners and pipelines, +4 archived lists."""
    total = 0
    for name, part in objects.items():
        if name in ("deals", "companies", "contacts"):
            total += max(1, math.ceil(part["records"] / 100))
        else:
            total += 1
    return total + 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--burst", default=None, help="sandbox burst limit, e.g. 150/10")
    parser.add_argument("--only", choices=["floor", "full", "ratelimited"], action="append")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        if args.child in ("floor", "raw_fetch"):
            result = child_floor(args.url, args.token, parse=args.child == "floor")
        else:
            result = child_full(args.url, args.token, incremental=args.child == "full")
        print(json.dumps(result))
        return

    deals = 1500 if args.smoke else args.deals
    phases = args.only or ["floor", "full", "ratelimited"]
    figures: dict[str, Any] = {"deals": deals, "cores": os.cpu_count(),
                               "python": sys.version.split()[0]}
    if {"floor", "full"} & set(phases):
        proc, url, token = start_sandbox(deals, args.burst)
        try:
            if "floor" in phases:
                figures["floor"] = run_child("floor", url, token)
                figures["raw_fetch"] = run_child("raw_fetch", url, token)
            if "full" in phases:
                full = run_child("full", url, token)
                full["min_api_calls"] = minimum_calls(full["objects"])
                full["api_calls_over_min_pct"] = round(
                    100 * (full["api_calls"] / full["min_api_calls"] - 1), 2)
                figures["full"] = full
            if "floor" in figures and "full" in figures:
                figures["full_to_floor_ratio"] = round(
                    figures["full"]["seconds"] / figures["floor"]["seconds"], 2)
                figures["full_to_raw_fetch_ratio"] = round(
                    figures["full"]["seconds"] / figures["raw_fetch"]["seconds"], 2)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    if "ratelimited" in phases:
        burst = args.burst or ("40/2" if args.smoke else "150/10")
        limit, window = (float(x) for x in burst.split("/"))
        rl_deals = deals if args.smoke else min(deals, 20_000)
        proc, url, token = start_sandbox(rl_deals, burst)
        try:
            rl = run_child("ratelimited", url, token)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        # The earliest moment the last request may start under a rolling window of `limit`
        # per `window` seconds: each block of `limit` calls waits one window after the one
        # before it. (429s do not count against the window.)
        calls = rl["api_calls"] - rl["rate_limited"]
        floor = (math.ceil(calls / limit) - 1) * window
        figures["ratelimited"] = {
            "deals": rl_deals, "burst": burst, "status": rl["status"],
            "seconds": rl["seconds"], "requests": rl["api_calls"],
            "rate_limited_429s": rl["rate_limited"], "rate_floor_s": round(floor, 2),
            "ratio_to_rate_floor": round(rl["seconds"] / floor, 3) if floor else None,
        }
    print(json.dumps(figures))
    failed = [k for k in ("full", "ratelimited") if figures.get(k, {}).get("status", "ok") != "ok"]
    if failed:
        raise SystemExit(f"sync failed in: {', '.join(failed)}")


if __name__ == "__main__":
    main()
