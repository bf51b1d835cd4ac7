"""Benchmark: one evaluation of the example config's OKR set and alert rules over a large store.

Prints one JSON line of figures per dialect and size. The store is filled directly (no
sandbox, no connector): realistic rows bulk-inserted into the store's own tables after
``Store.open`` has migrated them, ~2 years of history before now (2026-11-23 07:30 Zurich):
N deals (two pipelines, open stages with probabilities, won, lost, ~5 stage visits each),
N/5 companies (PME/ETI/GE, customer since their first won deal, some churned), N/2 contacts
(MQL, SQL and customer dates), 50 owners. Filled once per size and kept: a SQLite file under
``--cache`` (default ~/.cache/syncd-bench), a PostgreSQL schema
``bench_evaluate_<N>_<version>``; ``--rebuild`` refills. A store kept from an older schema
is migrated when opened (the first timing run then includes nothing of it: the migration
runs before).

    python tests/benchmarks/bench_evaluate.py                     # 1M deals, SQLite
    python tests/benchmarks/bench_evaluate.py --pg                # 1M deals, PostgreSQL
    python tests/benchmarks/bench_evaluate.py --pg URL --sqlite   # both, another server
    python tests/benchmarks/bench_evaluate.py --scale 10000,100000,1000000 --pg --sqlite
    python tests/benchmarks/bench_evaluate.py --smoke             # CI: tiny, both dialects

``--smoke`` builds 2,000 deals in a temporary directory and a schema it drops; without
PostgreSQL it runs SQLite alone, except with ``CI=true`` where that is an error.

The 10 computations (each now and 7 days before, as of that instant): lead_conversion_rate
of PME over the quarter, arpu, churn_rate over the quarter, pipeline_coverage (quota 60,000)
and pipeline_value. Timed as one ``compute_many`` call ("batch") and each alone with
``compute`` ("alone", in milliseconds), ``--runs`` times: min and median. Building happens in
its own process, then the timing runs in a fresh process: ``peak_rss_mb`` is that
evaluating process's peak (imports included, data building excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

ZURICH = ZoneInfo("Europe/Zurich")
NOW = datetime(2026, 11, 23, 7, 30, tzinfo=ZURICH)
QUARTER = (date(2026, 10, 1), date(2026, 12, 31))
FX = {"EUR": 0.94}
PG_URL = os.environ.get("SYNCD_TEST_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
#: Bump when the generated data changes: cached stores of another version are not reused.
DATA_VERSION = "v1"
DAY = 86_400.0
BATCH = 20_000

STAGES = {  # pipeline: (open stages with their probability, won stage, lost stage)
    "default": ((("appointmentscheduled", 0.2), ("qualifiedtobuy", 0.4),
                 ("presentationscheduled", 0.6), ("decisionmakerboughtin", 0.8),
                 ("contractsent", 0.9)), "closedwon", "closedlost"),
    "81530417": ((("81530418", 0.3), ("81530419", 0.6), ("81530420", 0.8)),
                 "81530421", "81530422"),
}
SEGMENTS = ("PME",) * 6 + ("ETI",) * 3 + ("GE",)


def requests() -> list[Any]:
    from rules.periods import Period
    from syncd.metrics import Request

    quarter = Period(*QUARTER)
    return [
        Request(key, at.astimezone(UTC), window, where, params)
        for at in (NOW, NOW - timedelta(days=7))
        for key, window, where, params in [
            ("lead_conversion_rate", quarter, {"company_segment": "PME"}, {}),
            ("arpu", None, {}, {}),
            ("churn_rate", quarter, {}, {}),
            ("pipeline_coverage", quarter, {}, {"quota": 60000}),
            ("pipeline_value", None, {}, {}),
        ]
    ]


# --------------------------------------------------------------------------- the data


class Rows:
    """Generates the store's rows (seeded), as dicts of column values (epoch-second floats
    for datetimes, converted by the writer)."""

    def __init__(self, deals: int, seed: int = 1) -> None:
        self.n = deals
        self.rng = random.Random(seed)
        self.now = NOW.timestamp()
        self.start = self.now - 730 * DAY
        self.owners = [f"7521{i:04d}" for i in range(50)]
        companies = max(deals // 5, 1)
        self.company_created = [self.now - self.rng.uniform(0, 1000) * DAY
                                for _ in range(companies)]
        self.first_won: list[float | None] = [None] * companies

    def stage_rows(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        pipelines, stages = [], []
        for order, (pid, (open_stages, won, lost)) in enumerate(STAGES.items()):
            pipelines.append({"id": pid, "label": pid.title(), "display_order": order,
                              "archived": False})
            for i, (sid, p) in enumerate(open_stages):
                stages.append({"pipeline_id": pid, "id": sid, "label": sid, "display_order": i,
                               "probability": p, "is_closed": False, "is_won": False})
            for sid, p, w in ((won, 1.0, True), (lost, 0.0, False)):
                stages.append({"pipeline_id": pid, "id": sid, "label": sid,
                               "display_order": len(open_stages) + w, "probability": p,
                               "is_closed": True, "is_won": w})
        return pipelines, stages

    def owner_rows(self) -> list[dict[str, Any]]:
        return [{"id": o, "email": f"rep{i}@acme.ch", "first_name": f"Rep{i}",
                 "archived": False} for i, o in enumerate(self.owners)]

    def deals(self) -> Any:
        """Batches of (deal rows, stage history rows, deal_company rows)."""
        rng, now = self.rng, self.now
        batch: tuple[list[Any], list[Any], list[Any]] = ([], [], [])
        for i in range(self.n):
            pid = "default" if rng.random() < 0.9 else "81530417"
            open_stages, won, lost = STAGES[pid]
            created = rng.uniform(self.start, now)
            fate = rng.random()  # won, lost at some stage, or stalled in an open stage
            reach = len(open_stages) if fate < 0.3 else rng.randint(3, len(open_stages))
            path = [s for s, _ in open_stages[:reach]]
            if fate < 0.3:
                path.append(won)
            elif fate < 0.85:
                path.append(lost)
            when, visits = created, []
            for k, stage in enumerate(path):
                if k:
                    when += rng.expovariate(1 / 9) * DAY
                if when > now:
                    break
                visits.append((stage, when))
            stage, entered = visits[-1]
            closed = stage in (won, lost)
            close = entered if closed else created + rng.uniform(30, 150) * DAY
            amount = round(rng.lognormvariate(9.3, 0.8), 2)
            currency = "EUR" if rng.random() < 0.25 else "CHF"
            archived = rng.random() < 0.01
            deal_id = f"{10_000_000 + i}"
            batch[0].append({
                "id": deal_id, "name": f"Deal {i}", "amount": amount, "currency": currency,
                "pipeline_id": pid, "stage_id": stage, "owner_id": rng.choice(self.owners),
                "created_at": created, "close_date": close if rng.random() < 0.97 else None,
                "mrr": round(amount / 12, 2) if rng.random() < 0.9 else None,
                "deal_type": "newbusiness" if pid == "default" else "existingbusiness",
                "modified_at": max(entered, created), "custom": '{"source": "web"}',
                "archived": archived,
                "archived_at": rng.uniform(created, now) if archived else None,
                "synced_at": now, **last_visit(visits),
            })
            for k, (sid, at) in enumerate(visits):
                left = visits[k + 1][1] if k + 1 < len(visits) else None
                batch[1].append({"deal_id": deal_id, "stage_id": sid, "entered_at": at,
                                 "exited_at": left})
            links = 0 if rng.random() < 0.02 else 2 if rng.random() < 0.02 else 1
            companies = rng.sample(range(len(self.first_won)), links)
            for c in companies:
                batch[2].append({"deal_id": deal_id, "company_id": f"{20_000_000 + c}"})
                if stage == won and not archived:
                    seen = self.first_won[c]
                    self.first_won[c] = entered if seen is None else min(seen, entered)
            batch[0][-1].update(company_count=links, sole_company_id=(
                f"{20_000_000 + companies[0]}" if links == 1 else None))
            if len(batch[0]) >= BATCH:
                yield batch
                batch = ([], [], [])
        yield batch

    def companies(self) -> Any:
        rng, now = self.rng, self.now
        rows: list[dict[str, Any]] = []
        for c, created in enumerate(self.company_created):
            since = self.first_won[c]
            churned = None
            if since is not None and rng.random() < 0.2:
                churned = rng.uniform(since, now)
            archived = rng.random() < 0.005
            rows.append({
                "id": f"{20_000_000 + c}", "name": f"Company {c}", "domain": f"c{c}.ch",
                "segment": rng.choice(SEGMENTS) if rng.random() < 0.97 else None,
                "lifecycle_stage": "customer" if since else "lead", "customer_since": since,
                "churned_at": churned, "owner_id": rng.choice(self.owners),
                "created_at": min(created, since or created), "modified_at": now,
                "custom": '{"country": "Switzerland"}', "archived": archived,
                "archived_at": now - DAY if archived else None, "problems": None,
                "synced_at": now,
            })
            if len(rows) >= BATCH:
                yield rows
                rows = []
        yield rows

    def contacts(self) -> Any:
        rng, now = self.rng, self.now
        rows: list[dict[str, Any]] = []
        companies = len(self.first_won)
        for i in range(max(self.n // 2, 1)):
            c = rng.randrange(companies) if rng.random() < 0.9 else None
            created = rng.uniform(self.start, now)
            mql = created + rng.expovariate(1 / 10) * DAY if rng.random() < 0.5 else None
            sql = mql + rng.expovariate(1 / 10) * DAY if mql and rng.random() < 0.5 else None
            since = self.first_won[c] if c is not None else None
            customer = since if since is not None and rng.random() < 0.7 else None
            rows.append({
                "id": f"{30_000_000 + i}", "email": f"p{i}@example.ch",
                "lifecycle_stage": "customer" if customer else "lead",
                "company_id": None if c is None else f"{20_000_000 + c}",
                "owner_id": rng.choice(self.owners), "created_at": created, "modified_at": now,
                "became_lead_at": created,
                "became_mql_at": mql if mql and mql <= now else None,
                "became_sql_at": sql if sql and sql <= now else None,
                "became_customer_at": customer, "custom": None, "archived": False,
                "synced_at": now,
            })
            if len(rows) >= BATCH:
                yield rows
                rows = []
        yield rows


def last_visit(visits: list[tuple[str, float]]) -> dict[str, Any]:
    """What ``Store.write_page`` keeps on the deal of its history (schema 0003 on; with the
    links' ``company_count`` and ``sole_company_id``). Each stage is visited once here."""
    ranked = sorted(visits, key=lambda v: (v[1], v[0]), reverse=True)
    prev = ranked[1] if len(ranked) > 1 else (None, None)
    return {"last_visit_stage_id": ranked[0][0], "last_visit_at": ranked[0][1],
            "prev_visit_stage_id": prev[0], "prev_visit_at": prev[1]}


def build(url: str, deals: int) -> dict[str, Any]:
    """Fill an empty migrated store at ``url``; how long it took and what it holds.

    The record tables' secondary indexes (the store's own, from ``tables``) are dropped for
    the load and created again after it; then statistics as the store would have them
    (SQLite: ANALYZE as ``PRAGMA optimize`` runs it; PostgreSQL: what autovacuum does)."""
    import sqlalchemy as sa

    from syncd.store import Store, tables

    started = time.perf_counter()
    store = Store.open(url)
    loaded = [tables.owner, tables.pipeline, tables.stage, tables.deal,
              tables.deal_stage_history, tables.deal_company, tables.company, tables.contact]
    indexes = [ix for table in loaded for ix in table.indexes]
    with store.engine.begin() as conn:
        for ix in indexes:
            ix.drop(conn)
    rows = Rows(deals)
    pipelines, stages = rows.stage_rows()
    counts: dict[str, int] = {}
    raw = store.engine.raw_connection()
    try:
        write = Writer(raw, store.dialect)
        write(tables.owner, rows.owner_rows())
        write(tables.pipeline, pipelines)
        write(tables.stage, stages)
        for deal, history, links in rows.deals():
            for table, batch in ((tables.deal, deal), (tables.deal_stage_history, history),
                                 (tables.deal_company, links)):
                write(table, batch)
                counts[table.name] = counts.get(table.name, 0) + len(batch)
        for table, batches in ((tables.company, rows.companies()),
                               (tables.contact, rows.contacts())):
            for batch in batches:
                write(table, batch)
                counts[table.name] = counts.get(table.name, 0) + len(batch)
        raw.commit()
    finally:
        raw.close()
    with store.engine.begin() as conn:
        for ix in indexes:
            ix.create(conn)
        if store.dialect == "sqlite":
            conn.exec_driver_sql("PRAGMA analysis_limit = 1000")
            conn.exec_driver_sql("ANALYZE")
        conn.execute(sa.insert(tables.sync_state).values(
            source="bench_evaluate", object=DATA_VERSION, records_seen=deals))
    if store.dialect == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    store.close()
    return {"build_seconds": round(time.perf_counter() - started, 1), "rows": counts}


class Writer:
    """Bulk inserts on a DBAPI connection: executemany on SQLite, COPY on PostgreSQL."""

    def __init__(self, raw: Any, dialect: str) -> None:
        self.raw, self.dialect = raw, dialect

    def value(self, column: Any, value: Any) -> Any:
        from syncd.store.types import UTCDateTime, to_sqlite_text

        if value is None or not isinstance(column.type, UTCDateTime):
            return value
        when = datetime.fromtimestamp(value, UTC)
        return to_sqlite_text(when) if self.dialect == "sqlite" else when

    def __call__(self, table: Any, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        columns = [c for c in table.c if c.name in rows[0]]
        names = ", ".join(c.name for c in columns)
        values = [tuple(self.value(c, row.get(c.name)) for c in columns) for row in rows]
        cursor = self.raw.cursor()
        if self.dialect == "sqlite":
            marks = ", ".join("?" for _ in columns)
            cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", values)
        else:
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                for value in values:
                    copy.write_row(value)
        cursor.close()


class Stores:
    """Where the filled stores live: SQLite files under ``cache``, PostgreSQL schemas."""

    def __init__(self, cache: Path, pg_url: str, *, rebuild: bool, keep: bool) -> None:
        self.cache, self.pg_url, self.rebuild, self.keep = cache, pg_url, rebuild, keep
        self.made: list[str] = []

    def url(self, dialect: str, deals: int) -> tuple[str, dict[str, Any] | None]:
        """The URL of a filled store of ``deals`` deals, built (in a child process) if
        there is none yet; with the build's figures when it was built now."""
        name = f"evaluate_{deals}_{DATA_VERSION}"
        if dialect == "sqlite":
            self.cache.mkdir(parents=True, exist_ok=True)
            path = self.cache / f"{name}.db"
            url = f"sqlite:///{path}"
            if self.rebuild or not path.exists() or not _complete(url):
                for stale in self.cache.glob(f"{path.name}*"):
                    stale.unlink()
                return url, _child({"build": url, "deals": deals})
            return url, None
        schema = f"bench_{name}"
        sep = "&" if "?" in self.pg_url else "?"
        url = f"{self.pg_url}{sep}options=-csearch_path%3D{schema}"
        if not self.keep:
            self.made.append(schema)
        if not self.rebuild and _complete(url):
            return url, None
        self._sql(f'drop schema if exists "{schema}" cascade', f'create schema "{schema}"')
        return url, _child({"build": url, "deals": deals})

    def drop_made(self) -> None:
        """Drop the PostgreSQL schemas of a run that does not keep them (``--smoke``)."""
        for schema in self.made:
            self._sql(f'drop schema if exists "{schema}" cascade')

    def _sql(self, *statements: str) -> None:
        import sqlalchemy as sa

        admin = sa.create_engine(self.pg_url)
        with admin.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
        admin.dispose()


def _complete(url: str) -> bool:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return bool(conn.scalar(sa.text(
                "select count(*) from sync_state where source = 'bench_evaluate'")))
    except sa.exc.DBAPIError:
        return False
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- timing


def evaluate(url: str, runs: int) -> dict[str, Any]:
    """Time the batch and each computation alone (in this process: its RSS is reported)."""
    from syncd.metrics import compute, compute_many
    from syncd.store import Store

    store = Store.open(url)  # migrates a cached store built by an older schema
    engine = store.engine
    todo = requests()
    batch: list[float] = []
    alone: dict[str, list[float]] = {}
    values = []
    for _ in range(runs):
        started = time.perf_counter()
        values = compute_many(engine, todo, fx=FX, zone=ZURICH)
        batch.append(time.perf_counter() - started)
        for r in todo:
            started = time.perf_counter()
            compute(engine, r.key, as_of=r.as_of, window=r.window, where=r.where,
                    params=r.params, fx=FX, zone=ZURICH)
            alone.setdefault(_name(r.key, r.as_of), []).append(time.perf_counter() - started)
    engine.dispose()
    return {
        "batch_s": {"min": round(min(batch), 3), "median": round(statistics.median(batch), 3)},
        "alone_ms": {k: {"min": round(1000 * min(v), 1),
                         "median": round(1000 * statistics.median(v), 1)}
                     for k, v in alone.items()},
        "alone_sum_s": round(sum(min(v) for v in alone.values()), 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "values": {_name(v.key, v.as_of): None if v.value is None else round(v.value, 4)
                   for v in values},
    }


def _name(key: str, at: datetime) -> str:
    return f"{key}@{'now' if at == NOW else '-7d'}"


def _child(task: dict[str, Any]) -> dict[str, Any]:
    """Run ``task`` in a fresh interpreter; its JSON answer."""
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(task)],
                         check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def pg_problem(url: str) -> str | None:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except sa.exc.SQLAlchemyError as exc:
        return f"PostgreSQL at {url} is unreachable: {exc.__class__.__name__}"
    return None


def table(results: list[dict[str, Any]]) -> list[str]:
    """How the batch's cost grows with the deals, per dialect."""
    lines = ["# dialect     deals  batch min  median  x prev size  us/deal  peak RSS MB"]
    previous: dict[str, float] = {}
    for r in results:
        median = r["batch_s"]["median"]
        grow = previous.get(r["dialect"])
        lines.append(
            f"# {r['dialect']:<10} {r['deals']:>8} {r['batch_s']['min']:>9.3f} {median:>7.3f}"
            f"  {'' if grow is None else f'{median / grow:>11.1f}':>11}"
            f"  {1e6 * median / r['deals']:>7.2f}  {r['peak_rss_mb']:>11.1f}")
        previous[r["dialect"]] = median
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--scale", help="comma-separated deal counts, e.g. 10000,100000,1000000")
    parser.add_argument("--sqlite", action="store_true", help="SQLite (the default alone)")
    parser.add_argument("--pg", nargs="?", const=PG_URL, metavar="URL",
                        help=f"PostgreSQL (default {PG_URL}), a schema per size")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get(
        "SYNCD_BENCH_CACHE", Path.home() / ".cache" / "syncd-bench")),
        help="where the SQLite stores are kept between runs")
    parser.add_argument("--rebuild", action="store_true", help="refill the cached stores")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        task = json.loads(args.child)
        if "build" in task:
            print(json.dumps(build(task["build"], task["deals"])))
        else:
            print(json.dumps(evaluate(task["evaluate"], task["runs"])))
        return

    sizes = [int(s) for s in args.scale.split(",")] if args.scale else [args.deals]
    dialects = ["sqlite"] if args.sqlite or not args.pg else []
    pg_url = args.pg or PG_URL
    if args.pg:
        dialects.append("postgresql")
    runs, cache = args.runs, args.cache
    with tempfile.TemporaryDirectory() as tmp:
        if args.smoke:
            sizes, runs, cache, dialects = [2_000], 2, Path(tmp), ["sqlite", "postgresql"]
            problem = pg_problem(pg_url)
            if problem and os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
                raise SystemExit(f"{problem}; CI=true requires it")
            if problem:
                print(f"# {problem}: SQLite only", file=sys.stderr)
                dialects = ["sqlite"]
        stores = Stores(cache, pg_url, rebuild=args.rebuild or args.smoke, keep=not args.smoke)
        results = []
        try:
            for deals in sizes:
                for dialect in dialects:
                    url, built = stores.url(dialect, deals)
                    figures = {"dialect": dialect, "deals": deals, "cores": os.cpu_count(),
                               **(built or {"build_seconds": None}),
                               **_child({"evaluate": url, "runs": runs})}
                    results.append(figures)
                    print(json.dumps(figures), flush=True)
        finally:
            stores.drop_made()
    print("\n".join(table(sorted(results, key=lambda r: (r["dialect"], r["deals"])))))


if __name__ == "__main__":
    main()
