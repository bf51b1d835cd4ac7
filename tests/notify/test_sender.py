"""The outbox sender against the Slack sandbox, through the real slack_sdk: once, in order,
threads and edits, errors sorted by what to do, outages waited out, crashes reconciled.
Every test checks the exact list of messages Slack received: an unexpected extra one fails."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from syncd.notify import outbox
from syncd.notify.outbox import ChartFile, Outgoing
from syncd.notify.sender import EVENT_TYPE, Sender
from syncd.notify.slack import SlackClient, SlackWebhook
from syncd.sandbox.slack import SlackFault, SlackSandbox
from syncd.store import Store

START = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)
CHANNEL = "#ventes-okr"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def slack(clock: Clock) -> Iterator[SlackSandbox]:
    with SlackSandbox(channels={CHANNEL: "C0VENTES01", "#other": "C0OTHER001"},
                      bot_not_in=("#other",), now=clock) as sandbox:
        yield sandbox


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store.open(db_url) as store:
        yield store


def client(slack: SlackSandbox) -> SlackClient:
    return SlackClient(slack.token, slack.url, sleep=lambda s: None, timeout=5)


def sender(store: Store, slack: SlackSandbox, clock: Clock) -> Sender:
    return Sender(store.engine, channel=CHANNEL, clock=clock, transport=client(slack))


def queue(store: Store, *items: Outgoing, now: datetime = START) -> list[int]:
    with store.engine.begin() as conn:
        return [outbox.enqueue(conn, item, now)[0] for item in items]


def row(store: Store, outbox_id: int) -> outbox.Entry:
    with store.engine.begin() as conn:
        entry = outbox.get(conn, outbox_id)
    assert entry is not None
    return entry


def texts(slack: SlackSandbox) -> list[str]:
    return [m.text for m in slack.messages()]


def test_rows_go_out_once_in_order_with_their_outbox_id(store, slack, clock):
    ids = queue(store, *(Outgoing(f"k{i}", "alert", f"message {i}") for i in range(3)))
    report = sender(store, slack, clock).deliver()
    assert (report.sent, report.failed, report.ok) == (3, 0, True)
    assert texts(slack) == ["message 0", "message 1", "message 2"]
    for outbox_id, message in zip(ids, slack.messages(), strict=True):
        assert message.metadata == {"event_type": EVENT_TYPE,
                                    "event_payload": {"outbox_id": str(outbox_id),
                                                      "key": f"k{ids.index(outbox_id)}"}}
        sent = row(store, outbox_id)
        assert (sent.status, sent.ts, sent.channel_id) == ("sent", message.ts, "C0VENTES01")
    assert sender(store, slack, clock).deliver().sent == 0  # nothing left: nothing again
    assert len(slack.messages()) == 3


def test_the_same_dedup_key_is_queued_once(store, slack, clock):
    first = queue(store, Outgoing("digest:2026-W48", "digest", "the digest"))
    again = queue(store, Outgoing("digest:2026-W48", "digest", "the digest, again"))
    assert first == again
    sender(store, slack, clock).deliver()
    assert texts(slack) == ["the digest"]


def test_follow_ups_reply_in_the_thread_and_edits_change_the_first_message(
    store, slack, clock
):
    [first] = queue(store, Outgoing("a:1:firing", "alert", "pipeline -28%",
                                    files=(ChartFile("pipeline.png", b"\x89PNG...", "Pipeline"),)))
    [repeat, edit] = queue(store, Outgoing("a:1:repeat", "alert", "still -28%", thread_of=first),
                           Outgoing("a:1:edit", "update", "RESOLVED pipeline -28%",
                                    update_of=first))
    report = sender(store, slack, clock).deliver()
    assert report.sent == 3 and report.errors == []
    parent = row(store, first)
    thread = slack.thread(parent.ts)
    [chart] = slack.files()
    assert chart.filename == "pipeline.png"
    assert [m.text or m.files for m in thread] == [
        "RESOLVED pipeline -28%", (chart.id,), "still -28%"]
    assert thread[0].edits and thread[0].edits[0].text == "pipeline -28%"
    assert thread[1].thread_ts == thread[2].thread_ts == parent.ts
    assert row(store, edit).ts == parent.ts and row(store, repeat).ts != parent.ts
    with store.engine.connect() as conn:  # uploaded: its id is kept, its bytes are not
        assert outbox.files(conn, first) == [("pipeline.png", "Pipeline", b"", chart.id)]
    assert len(slack.messages()) == 3  # the parent (edited), the reply, the chart's message


def test_a_rate_limit_is_waited_out_inside_the_client(store, slack, clock):
    slack.inject(SlackFault("429", count=2, method="chat.postMessage", retry_after=1))
    queue(store, Outgoing("k", "alert", "hello"))
    report = sender(store, slack, clock).deliver()
    assert report.ok and texts(slack) == ["hello"]
    assert len(slack.calls("chat.postMessage")) == 3


def test_a_permanent_error_fails_its_row_with_the_fix_and_never_retries(store, slack, clock):
    bad, good = queue(store, Outgoing("k1", "alert", "to a channel I am not in",
                                      channel="#other"),
                      Outgoing("k2", "alert", "to the right channel"))
    report = sender(store, slack, clock).deliver()
    assert (report.sent, report.failed) == (1, 1)
    failed = row(store, bad)
    assert failed.status == "failed"
    assert "/invite" in (failed.error or "") and "#other" in (failed.error or "")
    assert texts(slack) == ["to the right channel"]
    calls = len(slack.calls("chat.postMessage"))
    clock.advance(hours=2)
    assert sender(store, slack, clock).deliver().sent == 0
    assert len(slack.calls("chat.postMessage")) == calls  # not retried blindly
    with store.engine.begin() as conn:
        assert outbox.backlog(conn).failed == 1
        assert outbox.requeue(conn, bad, clock.now)
    slack.add_channel("#other", "C0OTHER001", is_member=True)
    assert sender(store, slack, clock).deliver().sent == 1
    assert row(store, good).status == "sent"


def test_a_dropped_answer_after_slack_accepted_is_found_not_posted_again(store, slack, clock):
    slack.inject(SlackFault("accept_drop", method="chat.postMessage"))
    [outbox_id] = queue(store, Outgoing("k", "alert", "only once"))
    report = sender(store, slack, clock).deliver()
    assert report.reconciled == 1 and report.ok
    assert texts(slack) == ["only once"]
    entry = row(store, outbox_id)
    assert entry.status == "sent" and entry.ts == slack.messages()[0].ts


def test_a_row_left_sending_by_a_crash_is_reconciled_before_any_resend(store, slack, clock):
    [posted, lost] = queue(store, Outgoing("k1", "alert", "landed before the crash"),
                           Outgoing("k2", "alert", "never reached Slack"))
    first = sender(store, slack, clock)
    assert first.deliver(limit=1).sent == 1  # learns the channel's id
    with store.engine.begin() as conn:  # as a crash leaves them: claimed, outcome not saved
        conn.execute(sa.text("UPDATE outbox SET status = 'sending', ts = NULL, sending_at = "
                             ":at WHERE id IN (:a, :b)"),
                     {"at": outbox.get(conn, posted).sent_at, "a": posted, "b": lost})
    clock.advance(minutes=3)
    report = sender(store, slack, clock).deliver()
    assert (report.reconciled, report.sent) == (1, 1)
    assert texts(slack) == ["landed before the crash", "never reached Slack"]


def test_an_hour_long_outage_delays_everything_then_delivers_once_in_order(
    store, slack, clock
):
    slack.down("503")
    queue(store, *(Outgoing(f"k{i}", "alert", f"alert {i}") for i in range(5)))
    send = sender(store, slack, clock)
    tries = 0
    while clock.now < START + timedelta(hours=1):
        report = send.deliver()
        assert report.sent == 0
        if report.retry_at is not None:
            tries += 1
        clock.advance(minutes=1)
        if clock.now >= START + timedelta(minutes=20) and slack.down_mode == "503":
            slack.down("refuse")  # and then the host stops answering at all
    assert slack.messages() == [] and tries >= 5
    with store.engine.begin() as conn:
        waiting = outbox.backlog(conn)
    assert (waiting.pending, waiting.sent) == (5, 0)
    slack.up()
    clock.advance(minutes=16)  # past the longest backoff
    report = send.deliver()
    assert report.sent == 5 and report.ok
    assert texts(slack) == [f"alert {i}" for i in range(5)]


def test_a_webhook_posts_without_threads_or_edits(store, slack, clock):
    [first] = queue(store, Outgoing("a", "alert", "fired"))
    queue(store, Outgoing("b", "alert", "still", thread_of=first),
          Outgoing("c", "update", "resolved", update_of=first))
    send = Sender(store.engine, channel=None, clock=clock,
                  webhook=SlackWebhook(slack.webhook_url))
    report = send.deliver()
    assert report.sent == 3
    assert texts(slack) == ["fired", "still"]
    assert all(m.thread_ts is None for m in slack.messages())
