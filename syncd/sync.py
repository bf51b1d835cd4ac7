"""One sync run: pull every object from the connector and store it, page by page.

Each page is written together with the connector's checkpoint in one transaction
(``Store.write_page``), so a crash at any point loses nothing and duplicates nothing: the next
run resumes from the last committed page. Fetching runs one page ahead in a helper thread
(network waits and SQLite writes both release the GIL), so HTTP and storage overlap.

A stop request (``stop`` event, set by Ctrl-C or SIGTERM) is honoured between pages: the page
in flight is committed, the run is logged as ``interrupted``, and the next run resumes.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from connectors.base import (
    INCREMENTAL_OBJECTS,
    SYNC_ORDER,
    Connector,
    ConnectorError,
    LazyRecords,
    ObjectName,
    Page,
)
from syncd.store import Store
from syncd.store.lock import exclusive
from syncd.writer import ProcessWriter, WriterError, WriteResult, sample_problems

log = logging.getLogger("syncd.sync")

#: Records a full pass writes in-process before handing the rest to a writer process.
PARALLEL_AFTER = 5_000

#: Objects whose archived/deleted records the reconcile pass lists.
RECONCILED: tuple[ObjectName, ...] = ("owners", "companies", "contacts", "deals")


@dataclass(slots=True)
class ObjectSummary:
    object: str
    fetched: int = 0
    created: int = 0
    updated: int = 0
    archived: int = 0
    bad_records: int = 0
    api_calls: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)  # a few examples, for the summary


@dataclass(slots=True)
class SyncSummary:
    run_id: int
    kind: str  # full | incremental
    status: str = "running"  # ok | failed | interrupted
    objects: dict[str, ObjectSummary] = field(default_factory=dict)
    api_calls: int = 0
    retries: int = 0
    rate_limited: int = 0
    seconds: float = 0.0
    reconciled: bool = False
    error: str | None = None

    @property
    def records(self) -> int:
        return sum(o.fetched for o in self.objects.values())

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["records"] = self.records
        return data


class Progress(Protocol):
    """What the CLI shows while a sync runs (a progress bar, or log lines)."""

    def start(self, obj: str, phase: str) -> None: ...
    def advance(self, obj: str, done: int, total: int | None) -> None: ...
    def finish(self, obj: str, summary: ObjectSummary) -> None: ...


class _Quiet:
    def start(self, obj: str, phase: str) -> None:
        pass

    def advance(self, obj: str, done: int, total: int | None) -> None:
        pass

    def finish(self, obj: str, summary: ObjectSummary) -> None:
        pass


class Interrupted(Exception):
    """The stop event was set; the run ended cleanly between two pages."""


class Syncer:
    """Runs syncs of one connector into one store."""

    def __init__(
        self,
        store: Store,
        connector: Connector,
        *,
        clock: Callable[[], datetime],
        reconcile_every: timedelta = timedelta(hours=6),
        progress: Progress | None = None,
        stop: threading.Event | None = None,
        batch_records: int = 1000,
        parallel_writes: bool = True,
        parallel_after: int = PARALLEL_AFTER,
    ) -> None:
        self.store = store
        self.connector = connector
        self.source = connector.name
        self.clock = clock
        self.reconcile_every = reconcile_every
        self.progress = progress or _Quiet()
        self.stop = stop or threading.Event()
        self.batch_records = batch_records
        self.parallel_writes = parallel_writes
        self.parallel_after = parallel_after
        self._process_writer: ProcessWriter | None = None

    def run(self, *, full: bool = False) -> SyncSummary:
        """Sync every object once. Never raises for CRM trouble: the summary says what failed.

        Raises :class:`~syncd.store.lock.SyncBusyError` when another sync holds this database.
        """
        with exclusive(self.store.engine, "sync", self.store.url):
            try:
                return self._run(full)
            finally:
                if self._process_writer is not None:
                    self._process_writer.close()
                    self._process_writer = None

    def _run(self, full: bool) -> SyncSummary:
        until = self.clock()
        if full:
            for obj in INCREMENTAL_OBJECTS:
                self.store.reset_cursor(self.source, obj)
        kind = "full" if full or any(self._needs_full(o) for o in INCREMENTAL_OBJECTS) else (
            "incremental"
        )
        run_id = self.store.start_run(self.source, kind, now=until)
        summary = SyncSummary(run_id=run_id, kind=kind)
        started = time.monotonic()
        stats0 = asdict(self.connector.stats)
        current: ObjectName = SYNC_ORDER[0]
        try:
            for current in SYNC_ORDER:
                self._sync_object(current, until, summary)
            if full or self._reconcile_due(until):
                for current in RECONCILED:
                    self._reconcile_object(current, summary)
                summary.reconciled = True
            summary.status = "ok"
        except Interrupted:
            summary.status = "interrupted"
            summary.error = "stopped by request; the next run resumes where this one stopped"
        except (ConnectorError, WriterError) as exc:
            summary.status = "failed"
            summary.error = str(exc)
            self.store.mark_failure(self.source, current, run_id=run_id, now=self.clock(),
                                    error=str(exc))
        finally:
            stats = asdict(self.connector.stats)
            summary.api_calls = stats["api_calls"] - stats0["api_calls"]
            summary.retries = stats["retries"] - stats0["retries"]
            summary.rate_limited = stats["rate_limited"] - stats0["rate_limited"]
            summary.seconds = time.monotonic() - started
            if summary.status == "running":  # an unexpected error is on its way up
                summary.status = "failed"
                summary.error = "internal error (see the log)"
            self.store.finish_run(run_id, status=summary.status, now=self.clock(),
                                  summary=summary.as_dict(), error=summary.error)
        log.info(
            "sync %s %s: %d records, %d API calls, %.1f s",
            kind, summary.status, summary.records, summary.api_calls, summary.seconds,
        )
        return summary

    # ------------------------------------------------------------------ objects

    def _needs_full(self, obj: str) -> bool:
        state = self.store.get_state(self.source, obj)
        cursor = state.cursor if state else None
        return not cursor or cursor.get("mode") != "incremental"

    def _reconcile_due(self, now: datetime) -> bool:
        state = self.store.get_state(self.source, "deals")
        last = state.last_reconcile_at if state else None
        return last is None or now - last >= self.reconcile_every

    def _sync_object(self, obj: ObjectName, until: datetime, summary: SyncSummary) -> None:
        state = self.store.get_state(self.source, obj)
        cursor = state.cursor if state else None
        phase = "incremental" if cursor and cursor.get("mode") == "incremental" else "full"
        part = summary.objects.setdefault(obj, ObjectSummary(obj))
        self.progress.start(obj, phase if obj in INCREMENTAL_OBJECTS else "read")
        began = time.monotonic()
        total: int | None = None
        # A big full pass parses and stores in a second process (both cores); small and
        # incremental passes stay here (a process costs ~0.5 s to start), so the switch happens
        # once this pass has written PARALLEL_AFTER records. Batches stay in order: every batch
        # before the switch is committed when the first one goes to the writer.
        big_pass = phase == "full" and obj in INCREMENTAL_OBJECTS
        writer: ProcessWriter | None = None
        try:
            for page in self._batched(self._prefetch(self.connector.fetch(obj, cursor, until))):
                if writer is None and big_pass and part.fetched >= self.parallel_after:
                    writer = self._writer()
                if writer is not None:
                    results = writer.submit(
                        self.source, obj, page.records, page.checkpoint or None,
                        run_id=summary.run_id, now=self.clock(),
                    )
                else:
                    result = self.store.write_page(
                        self.source, obj, page.records, page.checkpoint or None,
                        run_id=summary.run_id, now=self.clock(),
                    )
                    results = [WriteResult(result, sample_problems(obj, page.records, result))]
                for written in results:
                    self._count(part, written)
                part.fetched += len(page.records)
                part.api_calls += page.api_calls
                if page.total is not None and total is None:
                    total = page.total
                self.progress.advance(obj, part.fetched, total)
        except BaseException:
            if writer is not None:  # let what was sent be committed before the run ends
                with contextlib.suppress(WriterError):
                    for written in writer.drain():
                        self._count(part, written)
            raise
        if writer is not None:
            for written in writer.drain():
                self._count(part, written)
        part.seconds += time.monotonic() - began
        self.store.mark_success(self.source, obj, run_id=summary.run_id, now=self.clock(),
                                records_seen=part.fetched)
        self.progress.finish(obj, part)

    @staticmethod
    def _count(part: ObjectSummary, written: WriteResult) -> None:
        part.created += written.result.created
        part.updated += written.result.updated
        part.bad_records += written.result.with_problems
        part.problems.extend(written.problems[: max(0, 5 - len(part.problems))])

    def _writer(self) -> ProcessWriter | None:
        if not self.parallel_writes:
            return None
        if self._process_writer is None:
            self._process_writer = ProcessWriter(self.store.engine.url.render_as_string(
                hide_password=False))
        return self._process_writer

    def _reconcile_object(self, obj: ObjectName, summary: SyncSummary) -> None:
        part = summary.objects.setdefault(obj, ObjectSummary(obj))
        self.progress.start(obj, "deleted records")
        began = time.monotonic()
        seen = 0
        for page in self._prefetch(self.connector.fetch_archived(obj, None)):
            part.archived += self.store.mark_archived(
                self.source, obj, page.records, None, run_id=summary.run_id, now=self.clock()
            )
            part.api_calls += page.api_calls
            seen += len(page.records)
            self.progress.advance(obj, seen, None)
        part.seconds += time.monotonic() - began
        self.store.mark_success(self.source, obj, run_id=summary.run_id, now=self.clock(),
                                records_seen=part.fetched, reconciled=True)
        self.progress.finish(obj, part)

    # ------------------------------------------------------------------ batching

    def _batched(self, pages: Iterator[Page[Any]]) -> Iterator[Page[Any]]:
        """Merge consecutive pages into one write of about ``batch_records`` records.

        The merged page carries the LAST page's checkpoint, so its records and that cursor
        still commit in one transaction: a crash loses nothing and duplicates nothing, it only
        re-fetches at most one batch. Fewer, larger transactions halve SQLite's commit cost.
        """
        records: Sequence[Any] = []
        calls = 0
        total: int | None = None
        last: Page[Any] | None = None
        for page in pages:
            joined = records.joined(page.records) if isinstance(records, LazyRecords) else None
            if joined is not None:
                records = joined
            elif not records and isinstance(page.records, LazyRecords):
                records = page.records
            else:
                records = [*records, *page.records]
            calls += page.api_calls
            total = page.total if total is None else total
            last = page
            if len(records) >= self.batch_records or page.done:
                yield Page(records, page.checkpoint, api_calls=calls, done=page.done,
                           total=total)
                records, calls, last = [], 0, None
        if last is not None:  # a pass that ended without a page marked done
            yield Page(records, last.checkpoint, api_calls=calls, done=True, total=total)

    # ------------------------------------------------------------------ prefetch

    def _prefetch(self, pages: Iterator[Page[Any]]) -> Iterator[Page[Any]]:
        """Yield ``pages`` while a helper thread fetches the next one."""
        box: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=2)
        halt = threading.Event()

        def hand_over(item: tuple[str, Any]) -> bool:
            """Queue ``item`` unless the consumer has gone (then the thread just ends)."""
            while not halt.is_set():
                try:
                    box.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            try:
                for page in pages:
                    if not hand_over(("page", page)):
                        return
                hand_over(("end", None))
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
                hand_over(("error", exc))

        worker = threading.Thread(target=produce, name="syncd-fetch", daemon=True)
        worker.start()
        try:
            while True:
                if self.stop.is_set():
                    raise Interrupted()
                try:
                    kind, item = box.get(timeout=0.2)
                except queue.Empty:
                    continue
                if kind == "end":
                    return
                if kind == "error":
                    raise item
                yield item
        finally:
            halt.set()
            worker.join(timeout=5)
