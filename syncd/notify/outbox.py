"""The outbox: messages queued in the transaction that decided them, delivered later, once.

A row's life::

    pending --(claimed)--> sending --(Slack answered ok)--> sent
       ^                      |  \\--(permanent error)--> failed   (never retried blindly)
       |                      |
       +--(transient error: not_before = when to try again)
                              |
                              +--(crash / dropped connection: outcome unknown)
                                  stays "sending": reconciled against the channel's history
                                  (the message's metadata carries the row's id) before any
                                  re-send

``dedup_key`` is unique: :func:`enqueue` of a key already queued does nothing and returns the
existing row's id, so deciding the same thing twice (a crash and rerun, a second replica, the
same digest week posted twice) queues it once.

Order: rows are delivered in id order. A row waiting for its retry time holds back the rows
after it (an outage delays everything, then everything arrives in the order it was decided);
a failed row does not.

Every function takes the connection of the caller's transaction: the lifecycle queues a row
in the same transaction that writes the alert's new state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from syncd.store import tables as t


@dataclass(frozen=True, slots=True)
class ChartFile:
    """A file to upload in the thread of its message."""

    name: str
    content: bytes
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to queue. ``channel`` None: the configured default channel."""

    dedup_key: str
    kind: str  # "alert", "digest", "report", "update", ...
    text: str
    blocks: Sequence[Mapping[str, Any]] | None = None
    channel: str | None = None
    thread_of: int | None = None  # the outbox row whose message this one replies to
    update_of: int | None = None  # the outbox row whose message this one edits
    files: tuple[ChartFile, ...] = ()
    not_before: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # kept in the payload, not sent


@dataclass(frozen=True, slots=True)
class Entry:
    """An outbox row as read back."""

    id: int
    dedup_key: str
    kind: str
    channel: str | None
    text: str
    blocks: list[dict[str, Any]] | None
    thread_of: int | None
    update_of: int | None
    status: str
    attempts: int
    created_at: datetime
    not_before: datetime | None
    sending_at: datetime | None
    sent_at: datetime | None
    channel_id: str | None
    ts: str | None
    error: str | None
    extra: Mapping[str, Any]


def _insert(conn: sa.Connection) -> Any:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(t.outbox)
    if dialect == "sqlite":
        return sqlite.insert(t.outbox)
    raise NotImplementedError(f"the outbox needs SQLite or PostgreSQL, not {dialect}")


def enqueue(conn: sa.Connection, item: Outgoing, now: datetime) -> tuple[int, bool]:
    """Queue ``item`` unless its dedup key is already queued: (the row's id, whether this
    call queued it)."""
    payload = {"text": item.text, "blocks": list(item.blocks) if item.blocks else None,
               "extra": dict(item.extra)}
    stmt = (
        _insert(conn)
        .values(dedup_key=item.dedup_key, kind=item.kind, channel=item.channel, payload=payload,
                thread_of=item.thread_of, update_of=item.update_of, status="pending",
                attempts=0, created_at=now, not_before=item.not_before)
        .on_conflict_do_nothing(index_elements=["dedup_key"])
        .returning(t.outbox.c.id)
    )
    new_id = conn.execute(stmt).scalar_one_or_none()
    if new_id is None:
        existing = conn.execute(
            sa.select(t.outbox.c.id).where(t.outbox.c.dedup_key == item.dedup_key)
        ).scalar_one()
        return int(existing), False
    if item.files:
        conn.execute(t.outbox_file.insert(), [
            {"outbox_id": new_id, "name": f.name, "title": f.title, "content": f.content}
            for f in item.files
        ])
    return int(new_id), True


def _entry(row: Any) -> Entry:
    payload = row.payload or {}
    return Entry(
        id=row.id, dedup_key=row.dedup_key, kind=row.kind, channel=row.channel,
        text=payload.get("text") or "", blocks=payload.get("blocks"),
        thread_of=row.thread_of, update_of=row.update_of, status=row.status,
        attempts=row.attempts, created_at=row.created_at, not_before=row.not_before,
        sending_at=row.sending_at, sent_at=row.sent_at, channel_id=row.channel_id, ts=row.ts,
        error=row.error, extra=payload.get("extra") or {},
    )


def get(conn: sa.Connection, outbox_id: int) -> Entry | None:
    row = conn.execute(sa.select(t.outbox).where(t.outbox.c.id == outbox_id)).first()
    return None if row is None else _entry(row)


def by_key(conn: sa.Connection, dedup_key: str) -> Entry | None:
    row = conn.execute(sa.select(t.outbox).where(t.outbox.c.dedup_key == dedup_key)).first()
    return None if row is None else _entry(row)


def head(conn: sa.Connection) -> Entry | None:
    """The next row to deliver (the lowest id still pending or sending), due or not."""
    row = conn.execute(
        sa.select(t.outbox)
        .where(t.outbox.c.status.in_(("pending", "sending")))
        .order_by(t.outbox.c.id)
        .limit(1)
    ).first()
    return None if row is None else _entry(row)


def files(conn: sa.Connection, outbox_id: int) -> list[tuple[str, str | None, bytes, str | None]]:
    """The row's files: (name, title, content, Slack file id once uploaded)."""
    f = t.outbox_file
    return [
        (r.name, r.title, bytes(r.content), r.file_id)
        for r in conn.execute(
            sa.select(f).where(f.c.outbox_id == outbox_id).order_by(f.c.name)
        )
    ]


def claim(conn: sa.Connection, outbox_id: int, now: datetime) -> bool:
    """Mark a pending row ``sending`` (before posting); False if another sender took it."""
    o = t.outbox.c
    done = conn.execute(
        t.outbox.update()
        .where(o.id == outbox_id, o.status == "pending")
        .values(status="sending", sending_at=now, attempts=o.attempts + 1)
    )
    return done.rowcount == 1


def mark_sent(conn: sa.Connection, outbox_id: int, now: datetime, *,
              channel_id: str | None, ts: str | None, note: str | None = None) -> None:
    conn.execute(
        t.outbox.update().where(t.outbox.c.id == outbox_id)
        .values(status="sent", sent_at=now, channel_id=channel_id, ts=ts, error=note,
                not_before=None)
    )


def mark_file(conn: sa.Connection, outbox_id: int, name: str, file_id: str) -> None:
    """The file is in Slack: keep its id, drop its bytes (charts would pile up weekly)."""
    f = t.outbox_file
    conn.execute(
        f.update().where(f.c.outbox_id == outbox_id, f.c.name == name)
        .values(file_id=file_id, content=b"")
    )


def mark_failed(conn: sa.Connection, outbox_id: int, reason: str) -> None:
    conn.execute(
        t.outbox.update().where(t.outbox.c.id == outbox_id)
        .values(status="failed", error=reason, not_before=None)
    )


def mark_retry(conn: sa.Connection, outbox_id: int, not_before: datetime, reason: str) -> None:
    """Back to ``pending``, not before ``not_before`` (a transient error)."""
    conn.execute(
        t.outbox.update().where(t.outbox.c.id == outbox_id)
        .values(status="pending", not_before=not_before, error=reason)
    )


def requeue(conn: sa.Connection, outbox_id: int, now: datetime) -> bool:
    """A failed row back to pending (``syncd alerts retry``, after fixing the cause)."""
    o = t.outbox.c
    done = conn.execute(
        t.outbox.update().where(o.id == outbox_id, o.status == "failed")
        .values(status="pending", not_before=None, error=None)
    )
    return done.rowcount == 1


@dataclass(frozen=True, slots=True)
class Backlog:
    pending: int
    sending: int
    sent: int
    failed: int
    oldest_pending: datetime | None
    failures: tuple[Entry, ...]  # the most recent failed rows, newest first


def backlog(conn: sa.Connection, *, failures: int = 10) -> Backlog:
    o = t.outbox.c
    counts = dict.fromkeys(t.OUTBOX_STATUSES, 0)
    for status, count in conn.execute(sa.select(o.status, sa.func.count()).group_by(o.status)):
        counts[status] = int(count)
    oldest = conn.execute(
        sa.select(sa.func.min(o.created_at)).where(o.status.in_(("pending", "sending")))
    ).scalar()
    failed = tuple(
        _entry(r) for r in conn.execute(
            sa.select(t.outbox).where(o.status == "failed").order_by(o.id.desc()).limit(failures)
        )
    )
    return Backlog(counts.get("pending", 0), counts.get("sending", 0), counts.get("sent", 0),
                   counts.get("failed", 0), oldest, failed)
