"""Run a sandbox as its own process (benchmarks put it on the second core).

    python -m syncd.sandbox hubspot --deals 100000 --seed 7 --now 2026-11-02T10:00:00Z \
        --burst-limit 150/10 --token T

Prints one JSON line ``{"url": ..., "token": ..., "deals": N, ...}`` on stdout once it serves,
then serves until SIGTERM or SIGINT and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from types import FrameType

import orjson


def _rate(text: str) -> tuple[int, float] | None:
    """``150/10`` -> (150, 10.0); ``off`` -> None."""
    if text.lower() in ("off", "none", "0"):
        return None
    try:
        count, _, seconds = text.partition("/")
        limit = (int(count), float(seconds or "1"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a rate: use COUNT/SECONDS such as 150/10, or off") from None
    if limit[0] < 1 or limit[1] <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the count and the seconds must be positive")
    return limit


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time such as 2026-11-02T10:00:00Z") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m syncd.sandbox",
                                     description="Run a local CRM sandbox.")
    sub = parser.add_subparsers(dest="crm", required=True)
    hs = sub.add_parser("hubspot", help="the HubSpot CRM v3 sandbox")
    hs.add_argument("--deals", type=int, default=None,
                    help="exactly this many deals (default: the 8-person team's ~220)")
    hs.add_argument("--seed", type=int, default=7)
    hs.add_argument("--now", type=_instant, default=None,
                    help="the dataset's 'now' (ISO 8601; default: the current time)")
    hs.add_argument("--with-deleted", action="store_true",
                    help="add deleted (archived) duplicates: 0.5 %% of deals, 1 %% of contacts")
    hs.add_argument("--token", default="sandbox-token")
    hs.add_argument("--burst-limit", type=_rate, default=None, metavar="N/SECONDS",
                    help="enforce a rolling burst limit, e.g. 150/10 (default: off)")
    hs.add_argument("--search-limit", type=_rate, default=(5, 1.0), metavar="N/SECONDS",
                    help="search requests per window, or off (default: 5/1)")
    hs.add_argument("--retry-after", action="store_true",
                    help="send Retry-After on burst 429s (HubSpot does not)")
    hs.add_argument("--host", default="127.0.0.1")
    hs.add_argument("--port", type=int, default=0, help="default: a free port from the OS")
    hs.add_argument("--log-requests", action="store_true",
                    help="keep a request log in memory (off: a long benchmark would grow it)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.deals is not None and args.deals < 0:
        print(f"error: --deals must be >= 0, not {args.deals}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    from syncd.sandbox.dataset import generate
    from syncd.sandbox.hubspot import HubSpotSandbox

    now = args.now or datetime.now(UTC)
    started = time.perf_counter()
    dataset = generate(now=now, seed=args.seed, deals=args.deals, with_deleted=args.with_deleted)
    generated = time.perf_counter() - started
    sandbox = HubSpotSandbox(
        dataset, token=args.token, burst_limit=args.burst_limit,
        search_limit=args.search_limit, retry_after_header=args.retry_after,
        log_requests=args.log_requests, host=args.host, port=args.port,
    )
    sandbox.warm()
    try:
        sandbox.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    counts = dataset.summary.counts
    line = {"url": sandbox.url, "token": args.token, "now": now.isoformat(), "seed": args.seed,
            **counts, "generated_seconds": round(generated, 3)}
    sys.stdout.write(orjson.dumps(line).decode() + "\n")
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
