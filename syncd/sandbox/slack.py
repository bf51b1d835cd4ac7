"""A local Slack Web API server that the real slack_sdk clients talk to.

    with SlackSandbox(channels={"#ventes-okr": "C0VENTES01"},
                      users={"ana@example.ch": "ana"}) as slack:
        client = WebClient(token=slack.token, base_url=slack.url)  # .../api/
        client.chat_postMessage(channel="#ventes-okr", text="hello")
        WebhookClient(slack.webhook_url).send(text="hello")
        assert [m.text for m in slack.messages()] == ["hello", "hello"]

Served (shapes as Slack's; see :mod:`syncd.sandbox.slack_methods` for the details and the
choices made where Slack's behaviour could not be checked): ``auth.test``,
``chat.postMessage`` (channel by ``#name`` or id; text cut past 40,000 characters; blocks
checked against Slack's limits, see :mod:`syncd.sandbox.slack_blocks`; ``thread_ts``;
``metadata``; unfurl flags), ``chat.update``, ``users.lookupByEmail``,
``conversations.list``, ``conversations.history`` and ``conversations.replies``
(``oldest``/``latest``/``inclusive``, ``limit``, ``cursor`` pagination,
``include_all_metadata``), the three steps of
``files_upload_v2`` (``files.getUploadURLExternal``, the upload URL, and
``files.completeUploadExternal``), and an incoming webhook (``webhook_url``).

The bot token (``xoxb-...``) and the webhook URL are generated per sandbox. ``auth_error``
(e.g. ``"account_inactive"``, ``"token_revoked"``) makes every Web API call with the right
token fail with that error; ``scopes`` lists the bot's scopes (a method needing another one
answers ``missing_scope``). Channels in ``bot_not_in`` exist but the bot is not a member
(``not_in_channel``); any other channel is ``channel_not_found``.

Time: ``now`` (an injectable clock, aware datetimes) stamps every ``ts``, so ``oldest``
filtering and the per-channel rate limit (``channel_rate_limit``: seconds between two messages
of one channel, answered 429 with ``Retry-After``) follow simulated time.

Faults (thread-safe, see :class:`SlackFault`): ``inject(SlackFault("429", count=2,
method="chat.postMessage"))``; ``down("503")`` answers every request 503 and ``down("refuse")``
closes the listening socket (connections are refused) until ``up()``.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

from syncd.sandbox.slack_faults import ChannelRateLimit, SlackFault, SlackFaultQueue
from syncd.sandbox.slack_http import SlackServer
from syncd.sandbox.slack_methods import ApiError
from syncd.sandbox.slack_workspace import (
    MessageEdit,
    SlackChannel,
    SlackFile,
    SlackMessage,
    SlackUser,
    Workspace,
)

__all__ = [
    "DEFAULT_SCOPES", "MessageEdit", "SlackChannel", "SlackFault", "SlackFile", "SlackMessage",
    "SlackRequest", "SlackSandbox", "SlackUser",
]

DEFAULT_SCOPES = frozenset({
    "chat:write", "files:write", "users:read", "users:read.email", "channels:history",
    "groups:history", "channels:read",
})


@dataclass(frozen=True, slots=True)
class SlackRequest:
    method: str  # "chat.postMessage", "upload", "webhook", or the path of an unknown route
    path: str  # the webhook's token is replaced by "…"
    args: dict[str, Any]  # query and body arguments, without the token
    status: int  # 0 when the connection was closed without an answer
    time: datetime  # when the answer went out, on the sandbox clock
    duration: float  # seconds spent in the server (wall clock)
    fault: str | None = None  # the kind of the injected fault that took the request


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SlackSandbox:
    """The server, its workspace, its faults and its request log."""

    def __init__(
        self,
        channels: Mapping[str, str] | Iterable[str] = ("#general",),
        users: Mapping[str, str] | Iterable[SlackUser] = (),
        *,
        bot_not_in: Iterable[str] = (),
        webhook_channel: str | None = None,
        now: Callable[[], datetime] | None = None,
        channel_rate_limit: float | None = None,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        team: str = "Sandbox",
        bot_name: str = "syncd",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.now = now or _utc_now
        self.workspace = Workspace(channels, users, bot_not_in=bot_not_in, clock=self.now,
                                   team=team, bot_name=bot_name)
        if not self.workspace.channels:
            raise ValueError("a Slack sandbox needs at least one channel")
        ref = webhook_channel or next(iter(self.workspace.channels))
        channel = self.workspace.channel(ref)
        if channel is None:
            raise ValueError(f"webhook_channel {ref!r} is not one of the configured channels")
        self.webhook_channel: SlackChannel = channel
        self.token = f"xoxb-{secrets.randbelow(10**12):012d}-{secrets.token_hex(12)}"
        self.webhook_token = secrets.token_hex(16)
        self.scopes = set(scopes)
        self.auth_error: str | None = None
        self.faults = SlackFaultQueue()
        self.down_mode: Literal["503", "refuse"] | None = None
        self._rate = ChannelRateLimit(channel_rate_limit) if channel_rate_limit else None
        self._uploads: dict[str, str] = {}  # upload URL key -> file id
        self._lock = threading.RLock()
        self._entries: list[SlackRequest] = []
        self._log_lock = threading.Lock()
        self._address = (host, port)
        self._server: SlackServer | None = None
        self._thread: threading.Thread | None = None
        self.root = ""  # http://127.0.0.1:PORT
        self.url = ""  # the Web API's base_url: http://127.0.0.1:PORT/api/

    # ------------------------------------------------------------------ lifecycle

    @property
    def webhook_url(self) -> str:
        return f"{self.root}/webhook/{self.webhook_token}"

    def start(self) -> SlackSandbox:
        if self._server is not None:
            return self
        self._server = SlackServer(self._address, self)
        port = self._server.server_address[1]
        self._address = (self._address[0], port)  # a restart (after down("refuse")) keeps it
        self.root = f"http://{self._address[0]}:{port}"
        self.url = f"{self.root}/api/"
        self._thread = self._server.serve_in_background(f"slack-sandbox:{port}")
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop_serving(self._thread)

    def __enter__(self) -> SlackSandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ faults

    def inject(self, fault: SlackFault) -> None:
        """Queue a fault; rules are tried in the order they were injected."""
        self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    def down(self, how: Literal["503", "refuse"] = "503") -> None:
        """Every request answered 503, or (``"refuse"``) refused: the listening socket is
        closed, on the same port, until :meth:`up`."""
        self.down_mode = how
        if how == "refuse":
            self.stop()

    def up(self) -> None:
        if self.down_mode == "refuse":
            self.start()
        self.down_mode = None

    def _check_channel_rate(self, channel_id: str) -> None:
        if self._rate is None:
            return
        wait = self._rate.acquire(channel_id, self.now())
        if wait is not None:
            raise ApiError("ratelimited", status=429, headers=[("Retry-After", str(wait))])

    # ------------------------------------------------------------------ uploads

    def _upload_key(self, file_id: str) -> str:
        key = secrets.token_hex(12)
        self._uploads[key] = file_id
        return key

    def _store_upload(self, key: str, content: bytes) -> bool:
        file_id = self._uploads.get(key)
        if file_id is None:
            return False
        self.workspace.files[file_id] = replace(self.workspace.files[file_id], content=content)
        return True

    # ------------------------------------------------------------------ records

    def messages(self, channel: str | None = None) -> list[SlackMessage]:
        """Every message accepted (replies included), in ts order; ``channel`` by id or name."""
        with self._lock:
            channel_id = None
            if channel is not None:
                found = self.workspace.channel(channel)
                if found is None:
                    raise KeyError(f"no channel {channel!r} in the sandbox")
                channel_id = found.id
            return self.workspace.snapshot(channel_id)

    def thread(self, ts: str) -> list[SlackMessage]:
        """A thread's parent then its replies, in ts order (empty when no message has ``ts``)."""
        with self._lock:
            msgs = self.workspace.snapshot()
        parent = next((m for m in msgs if m.ts == ts), None)
        if parent is None:
            return []
        root = parent.thread_ts or parent.ts
        return [m for m in msgs if m.channel == parent.channel
                and (m.ts == root or m.thread_ts == root)]

    def files(self) -> list[SlackFile]:
        with self._lock:
            return list(self.workspace.files.values())

    def channel(self, ref: str) -> SlackChannel:
        with self._lock:
            found = self.workspace.channel(ref)
        if found is None:
            raise KeyError(f"no channel {ref!r} in the sandbox")
        return found

    def add_channel(self, name: str, channel_id: str, *, is_member: bool = True,
                    is_archived: bool = False) -> SlackChannel:
        channel = SlackChannel(channel_id, name.lstrip("#"), is_member, is_archived)
        with self._lock:
            self.workspace.channels[channel_id] = channel
        return channel

    def add_user(self, user: SlackUser) -> None:
        with self._lock:
            self.workspace.add_user(user)

    def add_message(self, channel: str, text: str, *, user: str,
                    thread_ts: str | None = None) -> SlackMessage:
        """A message from a person (the bot cannot update it: ``cant_update_message``)."""
        with self._lock:
            ws = self.workspace
            found = ws.channel(channel)
            if found is None:
                raise KeyError(f"no channel {channel!r} in the sandbox")
            parent = None if thread_ts is None else ws.parent_ts(found.id, thread_ts)
            return ws.add_message(found.id, text, [], user=user, via="user",
                                  thread_ts=parent).freeze()

    # ------------------------------------------------------------------ request log

    @property
    def requests(self) -> list[SlackRequest]:
        """Every request answered (or dropped) so far, oldest first (a copy)."""
        with self._log_lock:
            return list(self._entries)

    def calls(self, method: str) -> list[SlackRequest]:
        return [r for r in self.requests if r.method == method]

    def clear_log(self) -> None:
        with self._log_lock:
            self._entries.clear()

    def _append_log(self, method: str, path: str, args: dict[str, Any], status: int,
                    duration: float, fault: str | None) -> None:
        entry = SlackRequest(method, path, args, status, self.now(), duration, fault)
        with self._log_lock:
            self._entries.append(entry)
