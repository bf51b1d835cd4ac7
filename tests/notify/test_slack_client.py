"""syncd's Slack client against the Slack sandbox: real slack_sdk clients, no patching; the
client's waits go to an injected sleep that records them (and can move the sandbox clock)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from syncd.errors import SyncdError
from syncd.notify.slack import (
    Posted,
    SlackClient,
    SlackError,
    SlackPermanent,
    SlackTransient,
    SlackUnknownOutcome,
    SlackWebhook,
)
from syncd.sandbox.slack import SlackFault, SlackSandbox

NOW = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
CHANNELS = {"#ventes-okr": "C0VENTES01", "#prive": "C0PRIVE001"}
ALERT = "syncd_alert"


def meta(key: str) -> dict[str, Any]:
    return {"event_type": ALERT, "event_payload": {"key": key, "state": "firing"}}


class Clock:
    def __init__(self) -> None:
        self.at = NOW
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.at

    def sleep(self, seconds: float) -> None:
        """The client's sleep: recorded, and the sandbox's time moves on instead."""
        self.slept.append(seconds)
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def slack(clock: Clock) -> Iterator[SlackSandbox]:
    with SlackSandbox(CHANNELS, {"ana@example.ch": "ana"}, bot_not_in=["#prive"],
                      now=clock) as sandbox:
        sandbox.add_channel("#archives", "C0ARCHIVE1", is_archived=True)
        yield sandbox


@pytest.fixture
def client(slack: SlackSandbox, clock: Clock) -> SlackClient:
    return SlackClient(slack.token, slack.url, sleep=clock.sleep, timeout=10)


def no_secret(err: BaseException, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in str(err) and secret not in repr(err)


# ---------------------------------------------------------------------- the happy paths


def test_post_thread_update_and_find_posted(slack: SlackSandbox, client: SlackClient,
                                            clock: Clock) -> None:
    parent = client.post("#ventes-okr", "KR en retard", [{"type": "divider"}],
                         metadata=meta("kr-1"))
    assert parent.channel_id == "C0VENTES01"
    clock.at += timedelta(minutes=5)
    reply = client.post(parent.channel_id, "résolu", None, metadata=meta("kr-1:resolved"),
                        thread_ts=parent.ts)
    client.update(parent.channel_id, parent.ts, "KR rattrapé", None)

    since = NOW - timedelta(minutes=1)
    assert client.find_posted("C0VENTES01", ALERT, "key", "kr-1", oldest=since) == parent
    # a reply is not in the history: it is found in its thread
    assert client.find_posted("C0VENTES01", ALERT, "key", "kr-1:resolved", oldest=since) is None
    assert client.find_posted("C0VENTES01", ALERT, "key", "kr-1:resolved", oldest=since,
                              thread_ts=parent.ts) == reply
    assert client.find_posted("C0VENTES01", "other", "key", "kr-1", oldest=since) is None
    later = NOW + timedelta(minutes=1)  # after the parent was posted
    assert client.find_posted("C0VENTES01", ALERT, "key", "kr-1", oldest=later) is None

    [top, answer] = slack.thread(parent.ts)
    assert (top.text, [e.text for e in top.edits]) == ("KR rattrapé", ["KR en retard"])
    assert (top.unfurl_links, top.unfurl_media) == (False, False)
    assert answer.metadata == meta("kr-1:resolved")
    with pytest.raises(ValueError, match="aware"):
        client.find_posted("C0VENTES01", ALERT, "key", "kr-1", oldest=datetime(2026, 1, 1))  # noqa: DTZ001


def test_find_posted_reads_every_page(slack: SlackSandbox, client: SlackClient) -> None:
    first = client.post("#ventes-okr", "le premier", None, metadata=meta("old"))
    for i in range(205):
        client.post("#ventes-okr", f"m{i}", None, metadata=meta(f"n{i}"))
    slack.clear_log()
    found = client.find_posted("C0VENTES01", ALERT, "key", "old", oldest=NOW)
    assert found == first
    assert len(slack.calls("conversations.history")) == 2


def test_upload_lookup_and_check(slack: SlackSandbox, client: SlackClient) -> None:
    parent = client.post("#ventes-okr", "digest", None)
    file_id = client.upload("C0VENTES01", "rythme.png", b"PNG", title="Rythme",
                            thread_ts=parent.ts)
    [stored] = slack.files()
    assert (stored.id, stored.content, stored.title) == (file_id, b"PNG", "Rythme")
    assert slack.thread(parent.ts)[-1].files == (file_id,)
    assert client.lookup_user("ana@example.ch") == slack.workspace.users["ana@example.ch"].id
    assert client.lookup_user("bob@example.ch") is None
    assert client.check() == "syncd on Sandbox"


def test_webhook_posts(slack: SlackSandbox, clock: Clock) -> None:
    hook = SlackWebhook(slack.webhook_url, sleep=clock.sleep)
    hook.post("alerte", [{"type": "divider"}])
    assert [(m.text, m.via) for m in slack.messages()] == [("alerte", "webhook")]
    assert slack.webhook_url not in repr(hook)


# ---------------------------------------------------------------------- retries


def test_429_waits_retry_after_then_posts_once(slack: SlackSandbox, client: SlackClient,
                                               clock: Clock) -> None:
    slack.inject(SlackFault("429", count=2, method="chat.postMessage", retry_after=1))
    client.post("#ventes-okr", "x", None)
    assert clock.slept == [1.0, 1.0]
    assert len(slack.messages()) == 1
    assert [r.status for r in slack.calls("chat.postMessage")] == [429, 429, 200]


def test_429_longer_than_max_retry_after_is_not_waited_for(slack: SlackSandbox,
                                                           clock: Clock) -> None:
    client = SlackClient(slack.token, slack.url, sleep=clock.sleep, max_retry_after=60)
    slack.inject(SlackFault("429", method="chat.postMessage", retry_after=120))
    with pytest.raises(SlackTransient) as info:
        client.post("#ventes-okr", "x", None)
    assert info.value.retry_after == 120
    assert "120" in str(info.value)
    assert clock.slept == [] and slack.messages() == []


def test_429_after_the_retries_is_transient(slack: SlackSandbox, clock: Clock) -> None:
    client = SlackClient(slack.token, slack.url, sleep=clock.sleep, rate_limit_retries=2)
    slack.inject(SlackFault("429", count=5, retry_after=1))
    with pytest.raises(SlackTransient) as info:
        client.post("#ventes-okr", "x", None)
    assert info.value.retry_after == 1
    assert len(slack.calls("chat.postMessage")) == 3 and slack.messages() == []


def test_channel_rate_limit_is_waited_for_on_the_sandbox_clock(clock: Clock) -> None:
    with SlackSandbox(CHANNELS, now=clock, channel_rate_limit=1.0) as slack:
        client = SlackClient(slack.token, slack.url, sleep=clock.sleep)
        for text in ("1", "2", "3"):
            client.post("#ventes-okr", text, None)
        assert [m.text for m in slack.messages()] == ["1", "2", "3"]
        assert clock.slept == [1.0, 1.0]


@pytest.mark.parametrize("kind", ["500", "503"])
def test_server_error_then_success(slack: SlackSandbox, client: SlackClient, clock: Clock,
                                   kind: Any) -> None:
    slack.inject(SlackFault(kind, method="chat.postMessage"))
    client.post("#ventes-okr", "x", None)
    assert len(slack.messages()) == 1 and len(clock.slept) == 1


def test_server_errors_after_the_retries_are_transient(slack: SlackSandbox,
                                                       client: SlackClient) -> None:
    slack.down()
    with pytest.raises(SlackTransient, match="503"):
        client.post("#ventes-okr", "x", None)
    assert len(slack.calls("chat.postMessage")) == 3  # the first try and 2 retries


def test_refused_connection_is_transient(slack: SlackSandbox, client: SlackClient) -> None:
    slack.down("refuse")
    with pytest.raises(SlackTransient, match="nothing was sent") as info:
        client.post("#ventes-okr", "x", None)
    assert isinstance(info.value.__cause__, OSError)
    slack.up()
    client.post("#ventes-okr", "x", None)
    assert len(slack.messages()) == 1


# ---------------------------------------------------------------------- unknown outcomes


def test_accept_then_drop_is_an_unknown_outcome_found_by_reconciliation(
    slack: SlackSandbox, client: SlackClient
) -> None:
    slack.inject(SlackFault("accept_drop", method="chat.postMessage"))
    with pytest.raises(SlackUnknownOutcome, match="reconcile") as info:
        client.post("#ventes-okr", "digest S48", None, metadata=meta("digest:2026-W48"))
    assert info.value.__cause__ is not None
    assert len(slack.calls("chat.postMessage")) == 1  # no automatic re-send
    [landed] = slack.messages()
    found = client.find_posted("C0VENTES01", ALERT, "key", "digest:2026-W48", oldest=NOW)
    assert found == Posted("C0VENTES01", landed.ts)
    assert len(slack.messages()) == 1


def test_drop_before_processing_is_still_unknown_to_the_client(
    slack: SlackSandbox, client: SlackClient
) -> None:
    slack.inject(SlackFault("drop", method="chat.postMessage"))
    with pytest.raises(SlackUnknownOutcome):
        client.post("#ventes-okr", "x", None, metadata=meta("k"))
    assert client.find_posted("C0VENTES01", ALERT, "key", "k", oldest=NOW) is None


def test_a_dropped_read_is_transient(slack: SlackSandbox, client: SlackClient) -> None:
    slack.inject(SlackFault("drop", method="conversations.history"))
    with pytest.raises(SlackTransient):
        client.find_posted("C0VENTES01", ALERT, "key", "k", oldest=NOW)
    slack.inject(SlackFault("accept_drop", method="chat.update"))
    posted = client.post("#ventes-okr", "x", None)
    with pytest.raises(SlackTransient):  # an update can be sent again
        client.update(posted.channel_id, posted.ts, "y", None)


def test_read_timeout_after_sending_is_an_unknown_outcome(slack: SlackSandbox) -> None:
    client = SlackClient(slack.token, slack.url, timeout=0.2)
    slack.inject(SlackFault("slow", method="chat.postMessage", delay=0.6))
    with pytest.raises(SlackUnknownOutcome):
        client.post("#ventes-okr", "x", None)


@pytest.mark.parametrize(("code", "write", "error"), [
    ("fatal_error", True, SlackUnknownOutcome),
    ("internal_error", True, SlackUnknownOutcome),
    ("service_unavailable", True, SlackTransient),
])
def test_slack_failure_codes(slack: SlackSandbox, client: SlackClient, code: str,
                             write: bool, error: type[SlackError]) -> None:
    slack.inject(SlackFault("error", error=code, method="chat.postMessage"))
    with pytest.raises(error, match=code):
        client.post("#ventes-okr", "x", None)


def test_failed_upload_step_is_transient(slack: SlackSandbox, client: SlackClient) -> None:
    slack.inject(SlackFault("503", count=5, method="upload"))
    with pytest.raises(SlackTransient):
        client.upload("C0VENTES01", "a.png", b"x", title="a")
    assert slack.messages() == []


def test_webhook_retries_and_unknown_outcome(slack: SlackSandbox, clock: Clock) -> None:
    hook = SlackWebhook(slack.webhook_url, sleep=clock.sleep)
    slack.inject(SlackFault("429", method="webhook", retry_after=1))
    hook.post("un", None)
    assert clock.slept == [1.0]
    slack.inject(SlackFault("accept_drop", method="webhook"))
    with pytest.raises(SlackUnknownOutcome) as info:
        hook.post("deux", None)
    no_secret(info.value, slack.webhook_url, slack.webhook_token)
    assert [m.text for m in slack.messages()] == ["un", "deux"]


# ---------------------------------------------------------------------- permanent errors


def _post(channel: str, **kwargs: Any) -> Any:
    return lambda c: c.post(channel, "x", None, **kwargs)


@pytest.mark.parametrize(("setup", "call", "code", "hint"), [
    (None, _post("#prive"), "not_in_channel", "/invite @syncd"),
    (None, _post("#inconnu"), "channel_not_found", "slack.channel"),
    (None, _post("#archives"), "is_archived", "archived"),
    (None, _post("#ventes-okr", thread_ts="1.000001"), "thread_not_found", "new message"),
    ("auth_error:account_inactive", _post("#ventes-okr"), "account_inactive", "reinstall"),
    ("auth_error:token_revoked", _post("#ventes-okr"), "token_revoked", "reinstall"),
    ("scope:chat:write", _post("#ventes-okr"), "missing_scope", "chat:write"),
    ("fault:msg_too_long", _post("#ventes-okr"), "msg_too_long", "rendering"),
    (None, lambda c: c.post("#ventes-okr", "x", [{"type": "header", "text": {
        "type": "plain_text", "text": "h" * 151}}]), "invalid_blocks",
     "[json-pointer:/blocks/0/text/text]"),
    (None, lambda c: c.update("C0VENTES01", "1.000001", "x", None), "message_not_found",
     "1.000001"),
    (None, lambda c: c.upload("#ventes-okr", "a.png", b"x", title="a"), "channel_not_found",
     "slack.channel"),
])
def test_permanent_errors_say_what_to_fix(
    slack: SlackSandbox, client: SlackClient, setup: str | None, call: Any, code: str,
    hint: str,
) -> None:
    if setup is not None:
        kind, _, value = setup.partition(":")
        if kind == "auth_error":
            slack.auth_error = value
        elif kind == "scope":
            slack.scopes.discard(value)
        else:
            slack.inject(SlackFault("error", error=value))
    with pytest.raises(SlackPermanent) as info:
        call(client)
    err = info.value
    assert err.error == code and hint in err.reason and str(err) == err.reason
    assert isinstance(err, SyncdError) and err.__cause__ is not None
    assert slack.messages() == []
    methods = [r.method for r in slack.requests]
    assert len(methods) == len(set(methods))  # never retried
    no_secret(err, slack.token)


def test_a_refused_token_never_shows(slack: SlackSandbox, clock: Clock) -> None:
    token = "xoxb-1234-secret-do-not-print"
    client = SlackClient(token, slack.url, sleep=clock.sleep)
    with pytest.raises(SlackPermanent) as info:
        client.check()
    assert info.value.error == "invalid_auth" and "slack.token" in str(info.value)
    no_secret(info.value, token)
    assert token not in repr(client)
    slack.down("refuse")
    with pytest.raises(SlackTransient) as refused:
        client.post("#ventes-okr", "x", None)
    no_secret(refused.value, token)


def test_a_refused_webhook_url_never_shows(slack: SlackSandbox) -> None:
    url = slack.webhook_url + "0"
    with pytest.raises(SlackPermanent) as info:
        SlackWebhook(url).post("x", None)
    assert info.value.error == "invalid_token" and "slack.webhook_url" in str(info.value)
    no_secret(info.value, url, slack.webhook_token)


def test_an_empty_text_fallback_is_a_programming_error(client: SlackClient) -> None:
    with pytest.raises(ValueError, match="fallback"):
        client.post("#ventes-okr", " ", [{"type": "divider"}])


def test_reconciliation_by_channel_name_after_a_restart(slack: SlackSandbox,
                                                        clock: Clock) -> None:
    before = SlackClient(slack.token, slack.url, sleep=clock.sleep)
    slack.inject(SlackFault("accept_drop", method="chat.postMessage"))
    with pytest.raises(SlackUnknownOutcome):
        before.post("#ventes-okr", "x", None, metadata=meta("outbox:1"))
    after = SlackClient(slack.token, slack.url, sleep=clock.sleep)  # knows no channel id
    found = after.find_posted("#ventes-okr", ALERT, "key", "outbox:1", oldest=NOW)
    assert found == Posted("C0VENTES01", slack.messages()[0].ts)
    assert after.channel_id("#ventes-okr") == "C0VENTES01"
    assert len(slack.calls("conversations.list")) == 1  # then cached
    with pytest.raises(SlackPermanent) as info:
        after.channel_id("#inconnu")
    assert info.value.error == "channel_not_found"
