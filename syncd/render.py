"""Terminal output of the sync: a progress bar on a terminal, log lines otherwise, a summary."""

from __future__ import annotations

import logging
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from syncd.sync import ObjectSummary, SyncSummary

log = logging.getLogger("syncd.sync")


class BarProgress:
    """rich progress bars, one per object (used when stderr is a terminal)."""

    def __init__(self, console: Console) -> None:
        self.bars = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[obj]:<10}[/] {task.fields[phase]:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> BarProgress:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()

    def start(self, obj: str, phase: str) -> None:
        self.tasks[obj] = self.bars.add_task("", total=None, obj=obj, phase=phase)

    def advance(self, obj: str, done: int, total: int | None) -> None:
        self.bars.update(self.tasks[obj], completed=done, total=total)

    def finish(self, obj: str, summary: ObjectSummary) -> None:
        task = self.tasks[obj]
        done = self.bars.tasks[self.bars.task_ids.index(task)].completed
        self.bars.update(task, total=max(done, 1) if done else 1, completed=max(done, 1))


class LineProgress:
    """Plain log lines (under a service, in CI, through a pipe): at most one every 5 s."""

    def __init__(self) -> None:
        self.last = 0.0

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def start(self, obj: str, phase: str) -> None:
        log.info("%s: %s sync started", obj, phase)
        self.last = time.monotonic()

    def advance(self, obj: str, done: int, total: int | None) -> None:
        if time.monotonic() - self.last >= 5:
            self.last = time.monotonic()
            log.info("%s: %d of %s records", obj, done, total if total is not None else "?")

    def finish(self, obj: str, summary: ObjectSummary) -> None:
        log.info(
            "%s: %d records (%d new, %d updated, %d archived, %d bad) in %.1f s",
            obj, summary.fetched, summary.created, summary.updated, summary.archived,
            summary.bad_records, summary.seconds,
        )


def summary_table(summary: SyncSummary) -> Table:
    table = Table(title=f"Sync #{summary.run_id} ({summary.kind}): {summary.status}",
                  title_justify="left")
    for name in ("object", "records", "created", "updated", "deleted", "bad", "API calls", "s"):
        table.add_column(name, justify="left" if name == "object" else "right")
    for part in summary.objects.values():
        table.add_row(
            part.object, f"{part.fetched:,}", f"{part.created:,}", f"{part.updated:,}",
            f"{part.archived:,}", f"{part.bad_records:,}", f"{part.api_calls:,}",
            f"{part.seconds:.1f}",
        )
    parts = summary.objects.values()
    table.add_section()
    table.add_row(
        "total", f"{summary.records:,}", f"{sum(p.created for p in parts):,}",
        f"{sum(p.updated for p in parts):,}", f"{sum(p.archived for p in parts):,}",
        f"{sum(p.bad_records for p in parts):,}", f"{summary.api_calls:,}",
        f"{summary.seconds:.1f}",
    )
    return table


def print_summary(console: Console, summary: SyncSummary) -> None:
    console.print(summary_table(summary))
    rate = summary.records / summary.seconds if summary.seconds > 0 else 0.0
    details = [f"{rate:,.0f} records/s"]
    if summary.retries:
        details.append(f"{summary.retries} retries ({summary.rate_limited} rate limited)")
    if summary.reconciled:
        details.append("deleted records reconciled")
    console.print(", ".join(details))
    problems = [p for part in summary.objects.values() for p in part.problems]
    if problems:
        bad = sum(p.bad_records for p in summary.objects.values())
        console.print(
            f"[yellow]{bad:,} records had fields syncd could not read; they were stored "
            "without those fields. Examples:[/]"
        )
        for problem in problems[:8]:
            console.print(f"  {problem}", markup=False, highlight=False)
    if summary.error:
        style = "red" if summary.status == "failed" else "yellow"
        console.print(f"[{style}]{summary.status}: {summary.error}[/]", highlight=False)
