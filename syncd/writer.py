"""Store writes in a second process, so that fetching and storing use both cores.

In one process a full sync is bound by the GIL: parsing pages and writing them take turns.
:class:`ProcessWriter` runs ``Store.write_page`` in a child process that receives each batch
as the connector's raw bytes (:class:`connectors.base.LazyRecords`), parses them there and
writes them, in order, each batch with its cursor in one transaction as before. The parent
only fetches. At most ``depth`` batches are in flight; results come back in order.

Crash safety is unchanged: the child commits batches in the order they were sent, each with
its checkpoint. If the parent dies (even SIGKILL), the child finishes the batch it holds,
sees the pipe close and exits; anything not committed is fetched again by the next run. The
child ignores SIGINT: Ctrl-C reaches the parent, which stops sending and waits for the child
to finish what it already has.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

from syncd.errors import SyncdError
from syncd.store import PageResult


@dataclass(frozen=True, slots=True)
class WriteResult:
    result: PageResult
    problems: tuple[str, ...]  # a few examples: "deals 123: amount: 'abc' is not a number"


class WriterError(SyncdError):
    """The writer process failed (its message says why) or died."""


def sample_problems(obj: str, records: Sequence[Any], result: PageResult) -> tuple[str, ...]:
    out: list[str] = []
    if result.with_problems:
        for record in records:
            for problem in getattr(record, "problems", ()):
                out.append(f"{obj} {record.id}: {problem}")
                if len(out) >= 5:
                    return tuple(out)
    return tuple(out)


def _serve(url: str, conn: Connection) -> None:  # pragma: no cover - runs in the child
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from syncd.store import Store

    store = Store.open(url)
    try:
        while True:
            try:
                message = conn.recv()
            except EOFError:  # the parent is gone
                return
            if message is None:
                return
            source, obj, records, checkpoint, run_id, now = message
            try:
                result = store.write_page(source, obj, records, checkpoint, run_id=run_id,
                                          now=now)
            except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
                # One line: a driver error's text can carry the statement and its rows.
                first = (str(exc).strip().splitlines() or [""])[0][:300]
                conn.send(("error", f"{exc.__class__.__name__}: {first}"))
                return
            conn.send(("ok", WriteResult(result, sample_problems(obj, records, result))))
    finally:
        store.close()


class ProcessWriter:
    """``write_page`` in a child process, pipelined ``depth`` batches deep."""

    def __init__(self, url: str, *, depth: int = 2) -> None:
        context = multiprocessing.get_context("spawn")  # never fork a process with threads
        self._conn, child = context.Pipe()
        self._proc = context.Process(target=_serve, args=(url, child), name="syncd-writer",
                                     daemon=True)
        self._proc.start()
        child.close()
        self.depth = depth
        self._pending: deque[int] = deque()

    def submit(self, source: str, obj: str, records: Sequence[Any],
               checkpoint: Mapping[str, Any] | None, *, run_id: int, now: datetime
               ) -> list[WriteResult]:
        """Queue one batch; returns the results that are ready (oldest first)."""
        done = []
        while len(self._pending) >= self.depth:
            done.append(self._receive())
        try:
            self._conn.send((source, obj, records, checkpoint, run_id, now))
        except (BrokenPipeError, OSError):
            raise WriterError("the writer process died; see the log above") from None
        self._pending.append(len(records))
        return done

    def drain(self) -> list[WriteResult]:
        """Wait for every batch sent so far."""
        return [self._receive() for _ in range(len(self._pending))]

    def _receive(self) -> WriteResult:
        try:
            kind, payload = self._conn.recv()
        except (EOFError, OSError):
            raise WriterError(
                f"the writer process died (exit code {self._proc.exitcode}); the next run "
                "resumes from the last stored batch"
            ) from None
        self._pending.popleft()
        if kind == "error":
            raise WriterError(f"storing a batch failed: {payload}")
        assert isinstance(payload, WriteResult)
        return payload

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self._conn.send(None)
        self._proc.join(timeout=30)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
        self._conn.close()
