"""Benchmark: ``Store.write_page`` alone, on the pages of a full HubSpot sync from the sandbox.

Prints one JSON line of figures. The sandbox runs as its own process; every page of owners,
pipelines, companies, contacts and deals is fetched once through the connector and kept in
memory, then written with ``write_page`` into a fresh SQLite file (and, with ``--postgres``,
into a fresh PostgreSQL schema), timed by wall clock and by this process's CPU time; then
every page once more into the same database ("rewrite": all updates).

    python tests/benchmarks/bench_store.py --deals 20000          # ~107k records
    python tests/benchmarks/bench_store.py --deals 20000 --profile
    python tests/benchmarks/bench_store.py --smoke                # CI: tiny

Figures per backend: records, pages, created, updated, seconds (wall), cpu_seconds,
us_per_record (CPU), and the same for the rewrite. ``--repeat`` keeps the run with the least
CPU (shared machines are noisy).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sync import NOW, connector, start_sandbox

OBJECTS = ("owners", "pipelines", "companies", "contacts", "deals")


def fetch_pages(deals: int) -> list[tuple[str, Any]]:
    proc, url, token = start_sandbox(deals, None)
    try:
        conn = connector(url, token)
        pages = [(obj, page) for obj in OBJECTS for page in conn.fetch(obj, None, NOW)]
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return pages


def write_all(url: str, pages: list[tuple[str, Any]], profile: bool) -> dict[str, Any]:
    """Every page into a fresh database (all inserts), then every page again (all updates)."""
    from syncd.store import Store

    store = Store.open(url)
    try:
        run_id = store.start_run("hubspot", "full", now=NOW)
        first = write_pass(store, pages, run_id, profile)
        again = write_pass(store, pages, run_id, False)
    finally:
        store.close()
    return {**first, "rewrite": again}


def write_pass(store: Any, pages: list[tuple[str, Any]], run_id: int,
               profile: bool) -> dict[str, Any]:
    profiler = cProfile.Profile() if profile else None
    created = updated = 0
    wall, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    for obj, page in pages:
        result = store.write_page("hubspot", obj, page.records, page.checkpoint,
                                  run_id=run_id, now=NOW)
        created += result.created
        updated += result.updated
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if profiler:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    records = sum(len(page.records) for _, page in pages)
    return {"records": records, "pages": len(pages), "created": created, "updated": updated,
            "seconds": round(wall, 3), "cpu_seconds": round(cpu, 3),
            "us_per_record": round(1e6 * cpu / max(records, 1), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deals", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=1, help="SQLite runs (best is kept)")
    parser.add_argument("--postgres", metavar="URL", help="also write into a fresh schema there")
    parser.add_argument("--profile", action="store_true", help="cProfile to stderr")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    args = parser.parse_args()

    deals = 300 if args.smoke else args.deals
    started = time.perf_counter()
    pages = fetch_pages(deals)
    figures: dict[str, Any] = {"deals": deals, "cores": os.cpu_count(),
                               "python": sys.version.split()[0],
                               "fetch_seconds": round(time.perf_counter() - started, 2)}
    runs = []
    for _ in range(1 if args.smoke else max(1, args.repeat)):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(write_all(f"sqlite:///{tmp}/bench.db", pages, args.profile))
    figures["sqlite"] = min(runs, key=lambda r: r["cpu_seconds"])
    if args.postgres:
        figures["postgresql"] = write_postgres(args.postgres, pages, args.profile)
    print(json.dumps(figures))


def write_postgres(url: str, pages: list[tuple[str, Any]], profile: bool) -> dict[str, Any]:
    import sqlalchemy as sa

    schema = "bench_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'create schema "{schema}"'))
    sep = "&" if "?" in url else "?"
    try:
        return write_all(f"{url}{sep}options=-csearch_path%3D{schema}", pages, profile)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'drop schema "{schema}" cascade'))
        admin.dispose()


if __name__ == "__main__":
    main()
