"""The Slack sandbox, driven by the real slack_sdk clients (no retry handlers, so that every
answer the server gives is seen as it is)."""

from __future__ import annotations

import re
import urllib.error
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.client import RemoteDisconnected
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from syncd.sandbox.slack import SlackFault, SlackSandbox

NOW = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
CHANNELS = {"#ventes-okr": "C0VENTES01", "#direction": "C0DIRECT01", "#prive": "C0PRIVE001"}
USERS = {"ana@example.ch": "ana", "luc@example.ch": "luc"}
TS = re.compile(r"^\d{10}\.\d{6}$")


class Clock:
    def __init__(self, at: datetime = NOW) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def slack(clock: Clock) -> Iterator[SlackSandbox]:
    with SlackSandbox(CHANNELS, USERS, bot_not_in=["#prive"], now=clock) as sandbox:
        yield sandbox


@pytest.fixture
def web(slack: SlackSandbox) -> WebClient:
    return WebClient(token=slack.token, base_url=slack.url, retry_handlers=[])


def api_error(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        call()
    return info.value


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


# ---------------------------------------------------------------------- messages


def test_post_by_name_answers_the_channel_id_and_increasing_ts(
    slack: SlackSandbox, web: WebClient
) -> None:
    first = web.chat_postMessage(channel="#ventes-okr", text="un", blocks=[section("*un*")])
    second = web.chat_postMessage(channel="C0VENTES01", text="deux")
    assert first["channel"] == second["channel"] == "C0VENTES01"
    assert TS.match(first["ts"]) and TS.match(second["ts"])
    assert first["ts"].startswith(str(int(NOW.timestamp())))  # the sandbox clock's instant
    assert float(second["ts"]) > float(first["ts"])  # unique although the clock is frozen
    assert first["message"]["text"] == "un"
    assert first["message"]["blocks"] == [section("*un*")]
    assert [(m.channel, m.text) for m in slack.messages()] == [
        ("C0VENTES01", "un"), ("C0VENTES01", "deux")]
    assert slack.messages("#direction") == []


def test_thread_update_and_history_with_metadata(
    slack: SlackSandbox, web: WebClient, clock: Clock
) -> None:
    meta = {"event_type": "syncd_alert", "event_payload": {"key": "kr-1:behind"}}
    parent = web.chat_postMessage(channel="#ventes-okr", text="KR en retard", metadata=meta,
                                  unfurl_links=False)
    clock.advance(60)
    reply = web.chat_postMessage(channel="#ventes-okr", text="détails",
                                 thread_ts=parent["ts"])
    web.chat_update(channel="C0VENTES01", ts=parent["ts"], text="KR rattrapé",
                    blocks=[section("ok")])

    plain = web.conversations_history(channel="C0VENTES01")
    assert [m["text"] for m in plain["messages"]] == ["KR rattrapé"]  # replies stay in threads
    assert "metadata" not in plain["messages"][0]
    full = web.conversations_history(channel="C0VENTES01", include_all_metadata=True)
    top = full["messages"][0]
    assert top["metadata"] == meta
    assert top["reply_count"] == 1 and top["latest_reply"] == reply["ts"]
    assert top["edited"]["ts"]
    replies = web.conversations_replies(channel="C0VENTES01", ts=parent["ts"])
    assert [m["text"] for m in replies["messages"]] == ["KR rattrapé", "détails"]

    stored = slack.thread(reply["ts"])
    assert [m.text for m in stored] == ["KR rattrapé", "détails"]
    assert stored[0].unfurl_links is False
    assert [(e.text, e.blocks) for e in stored[0].edits] == [("KR en retard", ())]
    assert stored[0].blocks == (section("ok"),)
    assert stored[1].thread_ts == parent["ts"] and stored[1].is_reply


def test_history_pages_with_cursors_and_follows_simulated_time(
    web: WebClient, clock: Clock
) -> None:
    posted = []
    for i in range(5):
        posted.append(web.chat_postMessage(channel="#ventes-okr", text=f"m{i}")["ts"])
        clock.advance(3600)
    seen, cursor, pages = [], None, 0
    while True:
        page = web.conversations_history(channel="C0VENTES01", limit=2, cursor=cursor)
        pages += 1
        seen += [m["ts"] for m in page["messages"]]
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        assert page["has_more"] is bool(cursor)
        if not cursor:
            break
    assert pages == 3
    assert seen == posted[::-1]  # newest first, each once
    since = f"{(NOW + timedelta(hours=2)).timestamp():.6f}"
    recent = web.conversations_history(channel="C0VENTES01", oldest=since, inclusive=True)
    assert [m["text"] for m in recent["messages"]] == ["m4", "m3", "m2"]
    latest = web.conversations_history(channel="C0VENTES01", latest=posted[1])
    assert [m["text"] for m in latest["messages"]] == ["m0"]
    assert api_error(lambda: web.conversations_history(
        channel="C0VENTES01", cursor="bm9wZQ==")).response["error"] == "invalid_cursor"


def test_text_past_40000_characters_is_cut(slack: SlackSandbox, web: WebClient) -> None:
    web.chat_postMessage(channel="#ventes-okr", text="x" * 40_005)
    assert len(slack.messages()[0].text) == 40_000


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(("call", "error"), [
    (lambda w: w.chat_postMessage(channel="#prive", text="x"), "not_in_channel"),
    (lambda w: w.chat_postMessage(channel="#inconnu", text="x"), "channel_not_found"),
    (lambda w: w.api_call("chat.postMessage", json={"channel": "#ventes-okr"}), "no_text"),
    (lambda w: w.chat_postMessage(channel="#ventes-okr", text="x", thread_ts="1.000001"),
     "thread_not_found"),
    (lambda w: w.chat_postMessage(channel="#ventes-okr", text="x",
                                  metadata={"event_type": "a"}), "invalid_metadata_format"),
    (lambda w: w.chat_update(channel="C0VENTES01", ts="1.000001", text="x"),
     "message_not_found"),
    (lambda w: w.conversations_history(channel="#ventes-okr"), "channel_not_found"),
    (lambda w: w.users_lookupByEmail(email="personne@example.ch"), "users_not_found"),
    (lambda w: w.api_call("chat.unknownThing"), "unknown_method"),
])
def test_errors_are_slacks(web: WebClient, call: Any, error: str) -> None:
    assert api_error(lambda: call(web)).response["error"] == error


def test_update_of_a_persons_message_is_refused(slack: SlackSandbox, web: WebClient) -> None:
    theirs = slack.add_message("#ventes-okr", "salut", user="U0ANA00001")
    answer = api_error(lambda: web.chat_update(channel="C0VENTES01", ts=theirs.ts, text="x"))
    assert answer.response["error"] == "cant_update_message"
    assert answer.response.status_code == 200


def test_lookup_by_email(web: WebClient) -> None:
    user = web.users_lookupByEmail(email="Ana@Example.ch")["user"]
    assert user["name"] == "ana" and user["id"].startswith("U")
    assert user["profile"]["email"] == "ana@example.ch"


def test_authentication(slack: SlackSandbox, web: WebClient) -> None:
    me = web.auth_test()
    assert me["user"] == "syncd" and me["team"] == "Sandbox" and me["bot_id"].startswith("B")
    assert slack.token.startswith("xoxb-")
    wrong = WebClient(token="xoxb-1-wrong", base_url=slack.url, retry_handlers=[])
    assert api_error(wrong.auth_test).response["error"] == "invalid_auth"
    anonymous = WebClient(base_url=slack.url, retry_handlers=[])
    assert api_error(anonymous.auth_test).response["error"] == "not_authed"
    slack.auth_error = "account_inactive"
    assert api_error(web.auth_test).response["error"] == "account_inactive"
    slack.auth_error = None
    slack.scopes.discard("chat:write")
    answer = api_error(lambda: web.chat_postMessage(channel="#ventes-okr", text="x"))
    assert (answer.response["error"], answer.response["needed"]) == ("missing_scope",
                                                                      "chat:write")
    assert all(slack.token not in str(r) for r in slack.requests)


# ---------------------------------------------------------------------- blocks


@pytest.mark.parametrize(("blocks", "pointer"), [
    ([section("x")] * 51, "/blocks"),
    ([section("x" * 3001)], "/blocks/0/text/text"),
    ([{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}],
     "/blocks/0/text/text"),
    ([{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}], "/blocks/0/text/type"),
    ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "x"}] * 11}],
     "/blocks/0/fields"),
    ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * 2001}]}],
     "/blocks/0/fields/0/text"),
    ([{"type": "divider"}, {"type": "bogus"}], "/blocks/1/type"),
])
def test_blocks_past_slacks_limits_are_refused(
    slack: SlackSandbox, web: WebClient, blocks: list[dict[str, Any]], pointer: str
) -> None:
    answer = api_error(lambda: web.chat_postMessage(channel="#ventes-okr", text="x",
                                                    blocks=blocks))
    assert answer.response["error"] == "invalid_blocks"
    assert any(e.endswith(f"[json-pointer:{pointer}]") for e in answer.response["errors"])
    assert answer.response["response_metadata"]["messages"][0].startswith("[ERROR] ")
    assert slack.messages() == []


def test_blocks_at_slacks_limits_are_accepted(slack: SlackSandbox, web: WebClient) -> None:
    fields = [{"type": "mrkdwn", "text": "y" * 2000}] * 10
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        section("x" * 3000),
        {"type": "section", "fields": fields},
        *[{"type": "divider"}] * 47,
    ]
    web.chat_postMessage(channel="#ventes-okr", text="x", blocks=blocks)
    assert len(slack.messages()[0].blocks) == 50


# ---------------------------------------------------------------------- files, webhook


def test_files_upload_v2_end_to_end(slack: SlackSandbox, web: WebClient) -> None:
    parent = web.chat_postMessage(channel="#ventes-okr", text="digest")
    answer = web.files_upload_v2(channel="C0VENTES01", filename="pace.png",
                                 content=b"\x89PNG...", title="Rythme",
                                 initial_comment="graphique", thread_ts=parent["ts"])
    file_id = answer["file"]["id"]
    assert answer["file"]["title"] == "Rythme"
    [stored] = slack.files()
    assert (stored.id, stored.content, stored.channel) == (file_id, b"\x89PNG...", "C0VENTES01")
    assert [(m.text, m.files) for m in slack.thread(parent["ts"])] == [
        ("digest", ()), ("graphique", (file_id,))]
    assert [r.method for r in slack.requests[1:]] == [
        "files.getUploadURLExternal", "upload", "files.completeUploadExternal"]


def test_webhook(slack: SlackSandbox) -> None:
    answer = WebhookClient(slack.webhook_url, retry_handlers=[]).send(
        text="alerte", blocks=[section("*alerte*")])
    assert (answer.status_code, answer.body) == (200, "ok")
    [message] = slack.messages()
    assert (message.channel, message.text, message.via) == ("C0VENTES01", "alerte", "webhook")
    wrong = WebhookClient(slack.webhook_url + "0", retry_handlers=[]).send(text="x")
    assert (wrong.status_code, wrong.body) == (403, "invalid_token")
    bad = WebhookClient(slack.webhook_url, retry_handlers=[]).send(
        text="x", blocks=[section("x" * 3001)])
    assert (bad.status_code, bad.body) == (400, "invalid_blocks")
    assert len(slack.messages()) == 1
    assert all(slack.webhook_token not in r.path for r in slack.requests)


# ---------------------------------------------------------------------- faults


def test_429_fault_has_retry_after_and_records_nothing(
    slack: SlackSandbox, web: WebClient
) -> None:
    slack.inject(SlackFault("429", method="chat.postMessage", retry_after=7))
    web.auth_test()  # another method: not taken by the fault
    answer = api_error(lambda: web.chat_postMessage(channel="#ventes-okr", text="x"))
    assert answer.response.status_code == 429
    assert answer.response["error"] == "ratelimited"
    assert answer.response.headers["Retry-After"] == "7"
    assert slack.messages() == []
    web.chat_postMessage(channel="#ventes-okr", text="x")  # the fault is spent
    assert len(slack.messages()) == 1
    assert [(r.method, r.status, r.fault) for r in slack.requests] == [
        ("auth.test", 200, None), ("chat.postMessage", 429, "429"),
        ("chat.postMessage", 200, None)]


@pytest.mark.parametrize(("kind", "status", "error"), [
    ("500", 500, "fatal_error"), ("503", 503, "service_unavailable")])
def test_server_error_faults(
    slack: SlackSandbox, web: WebClient, kind: Any, status: int, error: str
) -> None:
    slack.inject(SlackFault(kind, count=2))
    for _ in range(2):
        answer = api_error(web.auth_test)
        assert (answer.response.status_code, answer.response["error"]) == (status, error)
    assert web.auth_test()["ok"]


def test_error_fault_answers_200_with_the_code(slack: SlackSandbox, web: WebClient) -> None:
    slack.inject(SlackFault("error", error="msg_too_long"))
    answer = api_error(lambda: web.chat_postMessage(channel="#ventes-okr", text="x"))
    assert (answer.response.status_code, answer.response["error"]) == (200, "msg_too_long")
    assert slack.messages() == []


@pytest.mark.parametrize(("kind", "recorded"), [("drop", 0), ("accept_drop", 1)])
def test_dropped_answers(slack: SlackSandbox, web: WebClient, kind: Any, recorded: int) -> None:
    slack.inject(SlackFault(kind, method="chat.postMessage"))
    with pytest.raises(RemoteDisconnected):
        web.chat_postMessage(channel="#ventes-okr", text="x")
    assert len(slack.messages()) == recorded
    assert [(r.status, r.fault) for r in slack.calls("chat.postMessage")] == [(0, kind)]


def test_down_then_up(slack: SlackSandbox, web: WebClient) -> None:
    slack.down()
    assert api_error(web.auth_test).response.status_code == 503
    slack.down("refuse")
    with pytest.raises(urllib.error.URLError) as info:
        web.auth_test()
    assert isinstance(info.value.reason, ConnectionRefusedError)
    slack.up()
    assert web.auth_test()["ok"]  # the same URL again


def test_channel_rate_limit_follows_the_sandbox_clock(clock: Clock) -> None:
    with SlackSandbox(CHANNELS, now=clock, channel_rate_limit=1.0) as slack:
        web = WebClient(token=slack.token, base_url=slack.url, retry_handlers=[])
        web.chat_postMessage(channel="#ventes-okr", text="1")
        web.chat_postMessage(channel="#direction", text="other channel")
        answer = api_error(lambda: web.chat_postMessage(channel="#ventes-okr", text="2"))
        assert answer.response.status_code == 429
        assert answer.response.headers["Retry-After"] == "1"
        clock.advance(1)
        web.chat_postMessage(channel="#ventes-okr", text="2")
        assert [m.text for m in slack.messages("#ventes-okr")] == ["1", "2"]


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        SlackFault("418")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="count"):
        SlackFault("500", count=0)
    with pytest.raises(ValueError, match="unknown channels"):
        SlackSandbox(CHANNELS, bot_not_in=["#nowhere"])
