"""Benchmark: the Monday digest of the example config over a large store, and delivering
1,000 queued alerts through the Slack sandbox while it answers 429s.

Digest: the example config (``../shared/syncd.example.yaml``) pointed at the store that
``bench_evaluate.py`` builds (N deals, kept in ``~/.cache/syncd-bench`` / a PostgreSQL schema).
Its KR snapshots are cleared first, so the first build is a fresh install's (14 days of 5
series reconstructed); then warm builds (what every Monday costs). Reported: each part
(evaluation, pipeline snapshot, waterfall, stalled deals, rendering with the charts) and the
peak RSS of the process.

Delivery: ``--alerts`` rows queued in a fresh SQLite store, delivered by the sender through
the real slack_sdk client to the sandbox, whose per-channel rate limit (one message per second
of simulated time) answers most posts 429 with ``Retry-After: 1``; the client's sleep advances
the simulated clock, so the figure is syncd's own cost per message, 429 round trips included.
It checks that every message arrived once, in order.

    .venv/bin/python tests/benchmarks/bench_notify.py --deals 1000000 --sqlite --pg
    .venv/bin/python tests/benchmarks/bench_notify.py --smoke     # tiny, both databases (CI)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_evaluate as be  # noqa: E402

EXAMPLE = be.ROOT.parent / "shared" / "syncd.example.yaml"


def _config(url: str, tmp: Path) -> Any:
    from syncd.config import load_config

    body = EXAMPLE.read_text(encoding="utf-8").replace("sqlite:///syncd.db", url)
    body = body.replace("currency: CHF ", "fx: {EUR: 0.94}\ncurrency: CHF ")
    path = tmp / "syncd.yaml"
    path.write_text(body, encoding="utf-8")
    os.environ.setdefault("HUBSPOT_ACCESS_TOKEN", "pat-bench")
    os.environ.setdefault("SLACK_BOT_TOKEN", "xoxb-bench")
    return load_config(path)


def _timed(call: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = call(*args, **kwargs)
    return time.perf_counter() - started, value


def digest(url: str, runs: int) -> dict[str, Any]:
    """Build the weekly digest as of the benchmark's Monday: cold once, then warm."""
    import sqlalchemy as sa

    from syncd.evaluate import Evaluator
    from syncd.notify import moves, reports
    from syncd.notify.alerting import freshness_of
    from syncd.notify.digest import render_weekly
    from syncd.notify.locale import from_config
    from syncd.store import Store
    from syncd.store import tables as t

    now = be.NOW.astimezone(UTC)
    with tempfile.TemporaryDirectory() as tmp, Store.open(url) as store:
        config = _config(url, Path(tmp))
        engine = store.engine
        with engine.begin() as conn:
            conn.execute(sa.delete(t.snapshot))
            conn.execute(sa.delete(t.pipeline_snapshot))
        cold, report = _timed(reports.build_weekly, engine, config, now)
        parts: dict[str, list[float]] = {}
        whole = []
        zone, fields = config.tz, set(config.crm.fields)
        loc = from_config(config)
        for _ in range(runs):
            whole.append(_timed(reports.build_weekly, engine, config, now)[0])
            spent, ev = _timed(Evaluator(engine, config).evaluate, now)
            parts.setdefault("evaluate", []).append(spent)
            spent, _ = _timed(moves.take_pipeline_snapshot, engine, now.date(), now)
            parts.setdefault("pipeline_snapshot", []).append(spent)
            spent, w = _timed(moves.pipeline_waterfall, engine, now - timedelta(days=7), now,
                              fields=fields, fx=config.fx, currency=config.currency, zone=zone)
            parts.setdefault("waterfall", []).append(spent)
            spent, stalled = _timed(moves.stalled_deals, engine, now, fields=fields,
                                    fx=config.fx, zone=zone)
            parts.setdefault("stalled_deals", []).append(spent)
            spent, _ = _timed(render_weekly, ev, loc=loc, now=now,
                              freshness=freshness_of(config, ev, now), waterfall=w,
                              stalled=stalled)
            parts.setdefault("render_with_charts", []).append(spent)
        return {
            "cold_s": round(cold, 3),
            "warm_s": {"min": round(min(whole), 3), "median": round(statistics.median(whole), 3)},
            "parts_ms": {k: round(1000 * min(v), 1) for k, v in parts.items()},
            "messages": len(report.messages),
            "blocks": sum(len(m.blocks) for m in report.messages),
            "charts": sum(len(m.files) for m in report.messages),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }


class SimClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def delivery(alerts: int) -> dict[str, Any]:
    """Queue ``alerts`` rows and deliver them through the rate-limited Slack sandbox."""
    import logging

    from syncd.notify import outbox
    from syncd.notify.outbox import Outgoing
    from syncd.notify.sender import Sender
    from syncd.notify.slack import SlackClient
    from syncd.sandbox.slack import SlackSandbox
    from syncd.store import Store

    logging.getLogger("syncd.notify").setLevel(logging.ERROR)  # every 429 is expected here
    clock = SimClock(be.NOW.astimezone(UTC))
    with tempfile.TemporaryDirectory() as tmp, \
            Store.open(f"sqlite:///{Path(tmp) / 'syncd.db'}") as store, \
            SlackSandbox(channels={"#ventes-okr": "C0VENTES01"}, now=clock,
                         channel_rate_limit=1.0) as slack:
        queued_s, _ = _timed(_queue, store, alerts, clock.now, outbox, Outgoing)
        client = SlackClient(slack.token, slack.url, sleep=clock.sleep, rate_limit_retries=5)
        sender = Sender(store.engine, channel="#ventes-okr", clock=clock, transport=client)
        spent, report = _timed(sender.deliver)
        texts = [m.text for m in slack.messages()]
        posts = slack.calls("chat.postMessage")
        limited = sum(1 for c in posts if c.status == 429)
        assert texts == [f"alert {i}" for i in range(alerts)], "lost, doubled or reordered"
        assert report.sent == alerts and report.ok
        return {
            "alerts": alerts, "queue_s": round(queued_s, 3), "deliver_s": round(spent, 3),
            "per_message_ms": round(1000 * spent / alerts, 2),
            "posts": len(posts), "answered_429": limited,
            "simulated_minutes": round((clock.now - be.NOW.astimezone(UTC)).total_seconds()
                                       / 60, 1),
        }


def _queue(store: Any, alerts: int, now: datetime, outbox: Any, outgoing: Any) -> None:
    with store.engine.begin() as conn:
        for i in range(alerts):
            outbox.enqueue(conn, outgoing(f"alert:bench:{i}:firing:0", "alert", f"alert {i}"),
                           now)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--pg", nargs="?", const=be.PG_URL, metavar="URL")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get(
        "SYNCD_BENCH_CACHE", Path.home() / ".cache" / "syncd-bench")))
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        task = json.loads(args.child)
        print(json.dumps(digest(task["url"], task["runs"])))
        return
    deals, runs, alerts = args.deals, args.runs, args.alerts
    dialects = ["sqlite"] if args.sqlite or not args.pg else []
    if args.pg:
        dialects.append("postgresql")
    with tempfile.TemporaryDirectory() as tmp:
        cache, keep = args.cache, True
        if args.smoke:
            deals, runs, alerts, cache, keep = 2_000, 1, 50, Path(tmp), False
            dialects = ["sqlite", "postgresql"]
            problem = be.pg_problem(args.pg or be.PG_URL)
            if problem and os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
                raise SystemExit(f"{problem}; CI=true requires it")
            if problem:
                dialects = ["sqlite"]
        stores = be.Stores(cache, args.pg or be.PG_URL, rebuild=args.smoke, keep=keep)
        try:
            for dialect in dialects:
                url, _ = stores.url(dialect, deals)
                out = _child_digest(url, runs)
                print(json.dumps({"digest": dialect, "deals": deals, "cores": os.cpu_count(),
                                  **out}), flush=True)
        finally:
            stores.drop_made()
    print(json.dumps({"delivery": "slack sandbox, 429 on most posts", **delivery(alerts)}),
          flush=True)


def _child_digest(url: str, runs: int) -> dict[str, Any]:
    import subprocess

    out = subprocess.run([sys.executable, __file__, "--child",
                          json.dumps({"url": url, "runs": runs})],
                         check=True, stdout=subprocess.PIPE, text=True, cwd=be.ROOT)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    main()
