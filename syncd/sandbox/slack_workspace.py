"""The Slack sandbox's workspace: channels, users, messages and files, and its records.

Not thread-safe by itself: the sandbox holds its lock around every use. Message ``ts`` values
come from the sandbox clock, as Slack's do (``"1700000000.000100"``: seconds, a dot, six
digits), and are unique and increasing within the workspace: a message posted at the same
instant as the previous one (a frozen clock) gets the previous ``ts`` plus 100 µs.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

Via = Literal["api", "webhook", "upload", "user"]


def make_id(prefix: str, seed: str) -> str:
    """A Slack-looking id (``C0A1B2C3D4E``), the same for the same seed."""
    digest = base64.b32encode(hashlib.sha1(seed.encode()).digest()).decode()
    return prefix + digest[:10]


def ts_micros(ts: str) -> int:
    """``"1700000000.000100"`` (or ``"1700000000"``, ``"1700000000.5"``) in microseconds;
    ValueError when it is not a timestamp."""
    try:
        value = Decimal(ts.strip())
    except InvalidOperation:
        raise ValueError(f"{ts!r} is not a Slack timestamp") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{ts!r} is not a Slack timestamp")
    return int(value * 1_000_000)


def format_ts(micros: int) -> str:
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


@dataclass(frozen=True, slots=True)
class SlackChannel:
    id: str
    name: str  # without the leading "#"
    is_member: bool = True  # is the bot in it
    is_archived: bool = False


@dataclass(frozen=True, slots=True)
class SlackUser:
    id: str
    email: str
    name: str
    real_name: str = ""
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class MessageEdit:
    """One ``chat.update``: the content it replaced, and when (the ``edited.ts``)."""

    edited_ts: str
    text: str
    blocks: tuple[dict[str, Any], ...]
    metadata: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """A message as the sandbox holds it (a copy: editing it changes nothing)."""

    channel: str  # channel id
    ts: str
    text: str
    blocks: tuple[dict[str, Any], ...] = ()
    thread_ts: str | None = None  # set on replies (and on a parent once it has replies)
    metadata: dict[str, Any] | None = None
    files: tuple[str, ...] = ()  # file ids
    user: str = ""  # the poster's user id (the bot's for the API and uploads)
    via: Via = "api"
    unfurl_links: bool | None = None
    unfurl_media: bool | None = None
    edits: tuple[MessageEdit, ...] = ()  # oldest first

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts


@dataclass(frozen=True, slots=True)
class SlackFile:
    id: str
    filename: str
    length: int  # announced by files.getUploadURLExternal
    content: bytes | None = None  # None until the upload URL received it
    title: str | None = None
    channel: str | None = None  # shared in, after files.completeUploadExternal
    thread_ts: str | None = None
    initial_comment: str | None = None
    completed: bool = False


@dataclass(slots=True)
class _Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    metadata: dict[str, Any] | None
    files: list[str]
    user: str
    via: Via
    unfurl_links: bool | None = None
    unfurl_media: bool | None = None
    edits: list[MessageEdit] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)  # reply ts values, on a parent

    def freeze(self) -> SlackMessage:
        return SlackMessage(
            channel=self.channel, ts=self.ts, text=self.text,
            blocks=tuple(copy.deepcopy(self.blocks)),
            thread_ts=self.thread_ts if (self.replies or self.thread_ts != self.ts) else None,
            metadata=copy.deepcopy(self.metadata), files=tuple(self.files), user=self.user,
            via=self.via, unfurl_links=self.unfurl_links, unfurl_media=self.unfurl_media,
            edits=tuple(self.edits),
        )


class Workspace:
    """Channels by id and name, users by e-mail, and every message and file, in ts order."""

    def __init__(
        self,
        channels: Mapping[str, str] | Iterable[str],
        users: Mapping[str, str] | Iterable[SlackUser],
        *,
        bot_not_in: Iterable[str],
        clock: Callable[[], datetime],
        team: str,
        bot_name: str,
    ) -> None:
        self.clock = clock
        self.team = team
        self.team_id = make_id("T", team)
        self.bot_name = bot_name
        self.bot_user_id = make_id("U", "bot:" + bot_name)
        self.bot_id = make_id("B", "bot:" + bot_name)
        self.app_id = make_id("A", "app:" + bot_name)
        self.channels: dict[str, SlackChannel] = {}
        outside = {n.lstrip("#") for n in bot_not_in}
        pairs = channels.items() if isinstance(channels, Mapping) else (
            (name, make_id("C", name.lstrip("#"))) for name in channels)
        for name, channel_id in pairs:
            bare = name.lstrip("#")
            self.channels[channel_id] = SlackChannel(channel_id, bare, bare not in outside)
        unknown = outside - {c.name for c in self.channels.values()}
        if unknown:
            raise ValueError(f"bot_not_in names unknown channels: {sorted(unknown)}")
        self.users: dict[str, SlackUser] = {}
        if isinstance(users, Mapping):
            for email, name in users.items():
                self.add_user(SlackUser(make_id("U", email.lower()), email, name, name))
        else:
            for user in users:
                self.add_user(user)
        self.messages: list[_Message] = []  # in ts order
        self.by_ts: dict[tuple[str, str], _Message] = {}
        self.files: dict[str, SlackFile] = {}
        self._last_micros = 0
        self._file_seq = 0

    # ------------------------------------------------------------------ lookups

    def add_user(self, user: SlackUser) -> None:
        self.users[user.email.lower()] = user

    def channel(self, ref: str) -> SlackChannel | None:
        """By id (``C...``) or by name (``#name`` or ``name``)."""
        if ref in self.channels:
            return self.channels[ref]
        bare = ref.lstrip("#")
        return next((c for c in self.channels.values() if c.name == bare), None)

    def next_ts(self) -> str:
        micros = int(self.clock().timestamp() * 1_000_000)
        micros = max(micros, self._last_micros + 100)
        self._last_micros = micros
        return format_ts(micros)

    def next_file_id(self) -> str:
        self._file_seq += 1
        return make_id("F", f"{self.team_id}:{self._file_seq}")

    # ------------------------------------------------------------------ messages

    def add_message(
        self, channel: str, text: str, blocks: list[dict[str, Any]], *, user: str, via: Via,
        thread_ts: str | None = None, metadata: dict[str, Any] | None = None,
        files: list[str] | None = None, unfurl_links: bool | None = None,
        unfurl_media: bool | None = None,
    ) -> _Message:
        ts = self.next_ts()
        msg = _Message(channel, ts, text, blocks, thread_ts or ts, metadata, files or [], user,
                       via, unfurl_links, unfurl_media)
        self.messages.append(msg)
        self.by_ts[(channel, ts)] = msg
        if thread_ts is not None:
            self.by_ts[(channel, thread_ts)].replies.append(ts)
        return msg

    def parent_ts(self, channel: str, thread_ts: str) -> str | None:
        """The ts of the thread's parent for a ts in the channel (a reply's ts gives its
        parent's, as Slack does), None when no message has that ts."""
        msg = self.by_ts.get((channel, thread_ts))
        return None if msg is None else msg.thread_ts

    def snapshot(self, channel: str | None = None) -> list[SlackMessage]:
        return [m.freeze() for m in self.messages if channel is None or m.channel == channel]
