"""A sender process killed (SIGKILL) after Slack accepted its message and before it could
commit: restarted, it finds the message in the channel and does not post it again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from syncd.notify import outbox
from syncd.notify.outbox import Outgoing
from syncd.notify.sender import Sender
from syncd.notify.slack import SlackClient
from syncd.sandbox.slack import SlackFault, SlackSandbox
from syncd.store import Store

pytestmark = pytest.mark.slow

NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)

SENDER = """
import os, sys
from datetime import datetime
from syncd.notify.sender import Sender
from syncd.notify.slack import SlackClient
from syncd.store import Store

now = datetime.fromisoformat(os.environ["SENDER_NOW"])
with Store.open(os.environ["SENDER_DB"]) as store:
    client = SlackClient(os.environ["SENDER_TOKEN"], os.environ["SENDER_URL"], timeout=120)
    Sender(store.engine, channel="#ventes-okr", clock=lambda: now, transport=client).deliver()
"""


def test_a_sender_killed_between_slacks_accept_and_its_commit_posts_once(db_url):
    with SlackSandbox(channels={"#ventes-okr": "C0VENTES01"}, now=lambda: NOW) as slack, \
            Store.open(db_url) as store:
        with store.engine.begin() as conn:
            first, _ = outbox.enqueue(conn, Outgoing("alert:kr:x:1:firing:0", "alert",
                                                     "pipeline −28 %"), NOW)
            outbox.enqueue(conn, Outgoing("alert:kr:x:1:repeat:1", "alert", "toujours −28 %",
                                          thread_of=first), NOW)
        slack.inject(SlackFault("accept_hang", method="chat.postMessage", delay=60))
        env = {**os.environ, "SENDER_DB": db_url, "SENDER_TOKEN": slack.token,
               "SENDER_URL": slack.url, "SENDER_NOW": NOW.isoformat()}
        proc = subprocess.Popen([sys.executable, "-c", SENDER], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while not slack.messages() and time.monotonic() < deadline:
                assert proc.poll() is None, proc.communicate()[0].decode()
                time.sleep(0.05)
            assert len(slack.messages()) == 1, "Slack never accepted the first message"
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate()  # reaps it and closes its pipe
        with store.engine.begin() as conn:
            left = outbox.get(conn, first)
        assert left is not None and left.status == "sending" and left.ts is None

        client = SlackClient(slack.token, slack.url, sleep=lambda s: None, timeout=5)
        report = Sender(store.engine, channel="#ventes-okr", clock=lambda: NOW,
                        transport=client).deliver()
        assert (report.reconciled, report.sent, report.failed) == (1, 1, 0)
        messages = slack.messages()
        assert [m.text for m in messages] == ["pipeline −28 %", "toujours −28 %"]
        assert messages[1].thread_ts == messages[0].ts  # the reply found its parent's ts
        # (the killed request is still held by the sandbox: only the reply is in its log)
        assert [c.args["text"] for c in slack.calls("chat.postMessage")] == ["toujours −28 %"]
