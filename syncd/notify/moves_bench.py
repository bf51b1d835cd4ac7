"""A benchmark hook: how long the digest's queries take on a store (no timing in tests).

::

    from syncd.notify.moves_bench import measure
    print(measure(store.engine, now, zone=ZoneInfo("Europe/Zurich"), fx={"EUR": 0.94}))

It **writes** pipeline snapshots into the store (for the local days of ``now`` - 7 days and of
``now``, replacing theirs, and prunes older ones as the daemon would): run it on a benchmark
store, not a production one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, tzinfo
from typing import Any

import sqlalchemy as sa

from syncd.notify.moves import pipeline_waterfall, stalled_deals, take_pipeline_snapshot


def _best(runs: int, call: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(max(1, runs)):
        started = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - started)
    return best, result


def measure(engine: sa.Engine, now: datetime, *, zone: tzinfo, fx: Mapping[str, float],
            runs: int = 3) -> dict[str, Any]:
    """Seconds (the best of ``runs``) of: a snapshot a week before ``now``, one at ``now``, the
    week's waterfall (complete, against the first), the stalled deals; with what they found."""
    start = now - timedelta(days=7)
    day0, day1 = start.astimezone(zone).date(), now.astimezone(zone).date()
    snap0, rows0 = _best(runs, lambda: take_pipeline_snapshot(engine, day0, start))
    snap1, rows1 = _best(runs, lambda: take_pipeline_snapshot(engine, day1, now))
    fall, w = _best(runs, lambda: pipeline_waterfall(
        engine, start, now, fields=None, fx=fx, currency=None, zone=zone))
    stuck, stalled = _best(runs, lambda: stalled_deals(engine, now, fields=None, fx=fx,
                                                       zone=zone))
    return {
        "snapshot_week_ago_s": round(snap0, 3), "snapshot_now_s": round(snap1, 3),
        "snapshot_rows": [rows0, rows1], "waterfall_s": round(fall, 3),
        "waterfall_complete": w.complete, "waterfall_moves": len(w.moves),
        "stalled_s": round(stuck, 3), "stalled": len(stalled),
    }
