"""Delivers the outbox to Slack: once, in order, never lost, never doubled.

For each row, in id order (see :mod:`syncd.notify.outbox`):

1. A row left ``sending`` (a crash, a dropped connection) is first looked for in the
   channel's history: every post carries message metadata with its outbox id and dedup key
   (``event_type`` :data:`EVENT_TYPE`). Found: it is marked sent, not posted again. Not
   found: it is posted again.
2. The row is claimed (``pending`` -> ``sending``, committed) and posted: a reply in the
   thread of the message of ``thread_of``, an edit (``chat.update``) of the message of
   ``update_of``, or a new message. Charts are uploaded in its thread afterwards.
3. The outcome is committed: ``sent`` (with the message's channel id and ``ts``);
   ``failed`` with the reason for a permanent error (never retried blindly: a user fixes the
   cause and runs ``syncd alerts retry``); back to ``pending`` with a retry time for a
   transient one, which stops this round (order is kept: later rows wait). An unknown
   outcome is reconciled at once, as in 1.

Retries of 429 (``Retry-After``) and 5xx happen inside :class:`~syncd.notify.slack.SlackClient`
first; the backoff here is for what is left (an outage): 30 s, doubling, at most 15 min.

Webhook mode has no ``ts``: no threads (replies are posted on their own), no edits (skipped,
noted on the row), no reconciliation (an unknown outcome counts as sent, noted: a webhook
cannot be asked, and a duplicate is worse than a doubt the row records).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa

from syncd.notify import outbox
from syncd.notify.outbox import Entry
from syncd.notify.slack import (
    Posted,
    SlackError,
    SlackPermanent,
    SlackTransient,
    SlackUnknownOutcome,
)
from syncd.store import tables as t

log = logging.getLogger("syncd.notify.sender")

#: The metadata event type of every message syncd posts.
EVENT_TYPE = "syncd_outbox"
#: How far back before a row was claimed its message is looked for.
RECONCILE_MARGIN = timedelta(minutes=5)


class Transport(Protocol):
    """What the sender needs of Slack (:class:`~syncd.notify.slack.SlackClient`)."""

    def post(self, channel: str, text: str, blocks: list[dict[str, Any]] | None, *,
             metadata: dict[str, Any] | None = None, thread_ts: str | None = None) -> Posted: ...

    def update(self, channel_id: str, ts: str, text: str,
               blocks: list[dict[str, Any]] | None) -> None: ...

    def find_posted(self, channel_id: str, event_type: str, key: str, key_value: str, *,
                    oldest: datetime, thread_ts: str | None = None) -> Posted | None: ...

    def upload(self, channel_id: str, filename: str, content: bytes, *, title: str,
               thread_ts: str | None = None) -> str: ...


class Webhook(Protocol):
    def post(self, text: str, blocks: list[dict[str, Any]] | None) -> None: ...


@dataclass(frozen=True, slots=True)
class Backoff:
    first: timedelta = timedelta(seconds=30)
    factor: float = 2.0
    most: timedelta = timedelta(minutes=15)

    def after(self, attempts: int) -> timedelta:
        delay = self.first * (self.factor ** max(0, attempts - 1))
        return min(delay, self.most)


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    reconciled: int = 0  # found already posted after a crash: not posted again
    retry_at: datetime | None = None  # set when a transient error stopped the round
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.retry_at is None


class Sender:
    """Delivers pending outbox rows of ``engine`` through ``transport`` (a bot token's
    :class:`~syncd.notify.slack.SlackClient`) or ``webhook``."""

    def __init__(self, engine: sa.Engine, *, channel: str | None,
                 clock: Callable[[], datetime], transport: Transport | None = None,
                 webhook: Webhook | None = None, backoff: Backoff | None = None) -> None:
        if (transport is None) == (webhook is None):
            raise ValueError("give one of transport and webhook")
        self._engine = engine
        self._channel = channel
        self._clock = clock
        self._transport = transport
        self._webhook = webhook
        self._backoff = backoff or Backoff()

    def deliver(self, *, limit: int | None = None) -> DeliveryReport:
        """Deliver due rows in order until none is left, one must wait, or ``limit``."""
        report = DeliveryReport()
        done = 0
        while limit is None or done < limit:
            with self._engine.begin() as conn:
                entry = outbox.head(conn)
            if entry is None:
                break
            now = self._clock()
            if entry.status == "pending" and entry.not_before and entry.not_before > now:
                report.retry_at = entry.not_before
                break
            if not self._one(entry, now, report):
                break
            done += 1
        return report

    # ------------------------------------------------------------------ one row

    def _one(self, entry: Entry, now: datetime, report: DeliveryReport) -> bool:
        """Deliver ``entry``; False when the round must stop (retry later)."""
        if entry.status == "sending":
            try:
                found = self._reconcile(entry)
            except SlackError as exc:
                return self._retry(entry, now, exc, report)
            if found is not None:
                with self._engine.begin() as conn:
                    outbox.mark_sent(conn, entry.id, now, channel_id=found.channel_id,
                                     ts=found.ts, note="found already posted after a restart")
                report.reconciled += 1
                log.info("outbox %s was already posted (found after a restart)", entry.id)
                return self._files(entry.id, found, report)
            with self._engine.begin() as conn:
                outbox.mark_retry(conn, entry.id, now, "not found after a restart: posting")
        with self._engine.begin() as conn:
            if not outbox.claim(conn, entry.id, now):
                return True  # another sender took it
        try:
            posted = self._send(entry)
        except SlackPermanent as exc:
            with self._engine.begin() as conn:
                outbox.mark_failed(conn, entry.id, str(exc))
            report.failed += 1
            report.errors.append(f"{entry.dedup_key}: {exc}")
            log.warning("outbox %s (%s) failed: %s", entry.id, entry.dedup_key, exc)
            return True
        except SlackUnknownOutcome as exc:
            log.warning("outbox %s: %s; checking the channel", entry.id, exc)
            if self._webhook is not None:
                with self._engine.begin() as conn:
                    outbox.mark_sent(conn, entry.id, self._clock(), channel_id=None, ts=None,
                                     note=f"outcome unknown ({exc}); a webhook cannot be checked")
                report.sent += 1
                return True
            refreshed = self._reload(entry.id)
            return self._one(refreshed, self._clock(), report) if refreshed else True
        except SlackTransient as exc:
            return self._retry(entry, now, exc, report)
        with self._engine.begin() as conn:
            outbox.mark_sent(conn, entry.id, self._clock(),
                             channel_id=posted.channel_id if posted else None,
                             ts=posted.ts if posted else None,
                             note=None if posted or self._webhook else "nothing to edit")
        report.sent += 1
        return self._files(entry.id, posted, report)

    def _retry(self, entry: Entry, now: datetime, exc: SlackError,
               report: DeliveryReport) -> bool:
        wait = self._backoff.after(entry.attempts + 1)
        if isinstance(exc, SlackTransient) and exc.retry_after:
            wait = max(wait, timedelta(seconds=exc.retry_after))
        when = now + wait
        with self._engine.begin() as conn:
            outbox.mark_retry(conn, entry.id, when, str(exc))
        report.retry_at = when
        report.errors.append(f"{entry.dedup_key}: {exc}")
        log.warning("outbox %s: %s; next try at %s", entry.id, exc, when.isoformat())
        return False

    def _reload(self, outbox_id: int) -> Entry | None:
        with self._engine.begin() as conn:
            return outbox.get(conn, outbox_id)

    # ------------------------------------------------------------------ Slack calls

    def _metadata(self, entry: Entry) -> dict[str, Any]:
        return {"event_type": EVENT_TYPE,
                "event_payload": {"outbox_id": str(entry.id), "key": entry.dedup_key}}

    def _parent(self, outbox_id: int | None) -> Entry | None:
        if outbox_id is None:
            return None
        parent = self._reload(outbox_id)
        if parent is None or parent.status != "sent" or not parent.ts:
            return None
        return parent

    def _send(self, entry: Entry) -> Posted | None:
        if self._webhook is not None:
            if entry.update_of is not None:
                return None  # a webhook cannot edit a message
            self._webhook.post(entry.text, entry.blocks)
            return None
        assert self._transport is not None
        if entry.update_of is not None:
            target = self._parent(entry.update_of)
            if target is None or target.channel_id is None or target.ts is None:
                return None  # the message to edit was never posted
            self._transport.update(target.channel_id, target.ts, entry.text, entry.blocks)
            return Posted(target.channel_id, target.ts)
        parent = self._parent(entry.thread_of)
        channel = (parent.channel_id if parent and parent.channel_id
                   else entry.channel or self._channel)
        if channel is None:
            raise SlackPermanent("no channel: set slack.channel in the config")
        return self._transport.post(channel, entry.text, entry.blocks,
                                    metadata=self._metadata(entry),
                                    thread_ts=parent.ts if parent else None)

    def _channel_id(self, entry: Entry) -> str | None:
        """The channel ``entry`` went to: its thread's id, one learned from an earlier post
        to the same channel, or its name (``conversations.list`` finds the id)."""
        parent = self._parent(entry.thread_of)
        if parent is not None and parent.channel_id:
            return parent.channel_id
        name = entry.channel or self._channel
        if name and not name.startswith("#"):
            return name
        o = t.outbox.c
        with self._engine.begin() as conn:
            known = conn.execute(
                sa.select(o.channel_id)
                .where(o.channel == entry.channel if entry.channel else o.channel.is_(None),
                       o.channel_id.is_not(None), o.update_of.is_(None))
                .order_by(o.id.desc()).limit(1)
            ).scalar()
        return str(known) if known else name  # the client looks a #name up

    def _reconcile(self, entry: Entry) -> Posted | None:
        """The message of a row left ``sending``, if Slack has it."""
        if self._webhook is not None or entry.update_of is not None:
            return None  # an edit is safe to repeat; a webhook cannot be asked
        assert self._transport is not None
        channel_id = self._channel_id(entry)
        if channel_id is None:
            log.warning("outbox %s: cannot check the channel (its id is unknown); posting "
                        "again", entry.id)
            return None
        since = (entry.sending_at or entry.created_at) - RECONCILE_MARGIN
        parent = self._parent(entry.thread_of)
        return self._transport.find_posted(channel_id, EVENT_TYPE, "outbox_id", str(entry.id),
                                           oldest=since, thread_ts=parent.ts if parent else None)

    def _files(self, outbox_id: int, posted: Posted | None, report: DeliveryReport) -> bool:
        if posted is None or self._transport is None:
            return True
        with self._engine.begin() as conn:
            pending = [f for f in outbox.files(conn, outbox_id) if f[3] is None]
        for name, title, content, _ in pending:
            try:
                file_id = self._transport.upload(posted.channel_id, name, content,
                                                 title=title or name, thread_ts=posted.ts)
            except SlackError as exc:  # the message is out; a chart is not worth a retry loop
                report.errors.append(f"outbox {outbox_id} file {name}: {exc}")
                log.warning("outbox %s: chart %s not uploaded: %s", outbox_id, name, exc)
                continue
            with self._engine.begin() as conn:
                outbox.mark_file(conn, outbox_id, name, file_id)
        return True

