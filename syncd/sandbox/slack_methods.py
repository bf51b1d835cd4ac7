"""The Web API methods of the Slack sandbox, on the workspace (called under the sandbox lock).

Arguments arrive as Slack accepts them: a form body (every value a string; ``blocks``,
``metadata`` and ``files`` JSON-encoded), a JSON body (values as JSON), or the query string.
An error is ``{"ok": false, "error": "<code>"}`` with HTTP 200, as Slack answers.

Choices where Slack's behaviour could not be checked: a ``thread_ts`` naming no message in the
channel is refused with ``thread_not_found``; a missing required argument other than
``channel``/``text`` gets ``invalid_arguments``; message ``metadata`` is listed by
``conversations.history``/``replies`` only with ``include_all_metadata``; files are shared
(their message posted) at once by ``files.completeUploadExternal``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from syncd.sandbox.slack_blocks import MAX_TEXT, block_errors
from syncd.sandbox.slack_workspace import (
    MessageEdit,
    SlackChannel,
    SlackFile,
    Workspace,
    _Message,
    ts_micros,
)

if TYPE_CHECKING:
    from syncd.sandbox.slack import SlackSandbox

Args = dict[str, Any]
Headers = list[tuple[str, str]]


class ApiError(Exception):
    """An ``{"ok": false}`` answer."""

    def __init__(self, error: str, status: int = 200, headers: Headers | None = None,
                 **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.headers = headers or []
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.error, **self.extra}


# ---------------------------------------------------------------------- arguments


def _str(args: Args, key: str) -> str | None:
    value = args.get(key)
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _bool(args: Args, key: str) -> bool | None:
    value = args.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true")


def _json(args: Args, key: str, error: str) -> Any:
    value = args.get(key)
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError(error) from None
    return value


def _int(args: Args, key: str, default: int, most: int) -> int:
    value = args.get(key)
    try:
        number = int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        raise ApiError("invalid_limit") from None
    return default if number < 1 else min(number, most)


def _ts(args: Args, key: str, error: str) -> int | None:
    value = _str(args, key)
    if value is None:
        return None
    try:
        return ts_micros(value)
    except ValueError:
        raise ApiError(error) from None


def _member_channel(ws: Workspace, ref: str | None, *, by_name: bool) -> SlackChannel:
    if ref is None:
        raise ApiError("channel_not_found")
    channel = ws.channel(ref) if by_name else ws.channels.get(ref)
    if channel is None:
        raise ApiError("channel_not_found")
    if channel.is_archived:
        raise ApiError("is_archived")
    if not channel.is_member:
        raise ApiError("not_in_channel")
    return channel


def message_content(args: Args, *, require: bool = True) -> tuple[str, list[dict[str, Any]]]:
    blocks = _json(args, "blocks", "invalid_blocks_format")
    if blocks is not None:
        problems = block_errors(blocks)
        if problems:
            raise ApiError("invalid_blocks", errors=problems,
                           response_metadata={"messages": [f"[ERROR] {p}" for p in problems]})
    text = _str(args, "text") or ""
    if require and not text and not blocks and not args.get("attachments"):
        raise ApiError("no_text")
    return text[:MAX_TEXT], list(blocks or [])


def _metadata(args: Args) -> dict[str, Any] | None:
    metadata = _json(args, "metadata", "invalid_metadata_format")
    if metadata is None:
        return None
    if not (isinstance(metadata, dict) and isinstance(metadata.get("event_type"), str)
            and metadata["event_type"] and isinstance(metadata.get("event_payload"), dict)):
        raise ApiError("invalid_metadata_format")
    return {"event_type": metadata["event_type"], "event_payload": metadata["event_payload"]}


# ---------------------------------------------------------------------- JSON shapes


def file_json(sb: SlackSandbox, file_id: str) -> dict[str, Any]:
    f = sb.workspace.files[file_id]
    return {
        "id": f.id, "name": f.filename, "title": f.title or f.filename,
        "mimetype": "application/octet-stream", "filetype": f.filename.rpartition(".")[2],
        "size": f.length, "user": sb.workspace.bot_user_id, "is_external": False,
        "channels": [f.channel] if f.channel else [], "groups": [], "ims": [],
        "url_private": f"{sb.root}/files/{f.id}/{f.filename}",
        "permalink": f"{sb.root}/files/{f.id}",
    }


def message_json(sb: SlackSandbox, msg: _Message, *, metadata: bool) -> dict[str, Any]:
    ws = sb.workspace
    body: dict[str, Any] = {"type": "message", "text": msg.text, "user": msg.user,
                            "ts": msg.ts, "team": ws.team_id}
    if msg.via != "user":
        body.update(bot_id=ws.bot_id, app_id=ws.app_id)
    if msg.via == "webhook":
        body["subtype"] = "bot_message"
    if msg.blocks:
        body["blocks"] = msg.blocks
    if msg.files:
        body["files"] = [file_json(sb, f) for f in msg.files]
    if msg.thread_ts != msg.ts:
        body.update(thread_ts=msg.thread_ts,
                    parent_user_id=ws.by_ts[(msg.channel, str(msg.thread_ts))].user)
    elif msg.replies:
        users = sorted({ws.by_ts[(msg.channel, r)].user for r in msg.replies})
        body.update(thread_ts=msg.ts, reply_count=len(msg.replies), reply_users=users,
                    reply_users_count=len(users), latest_reply=msg.replies[-1])
    if msg.edits:
        body["edited"] = {"user": msg.user, "ts": msg.edits[-1].edited_ts}
    if metadata and msg.metadata is not None:
        body["metadata"] = msg.metadata
    return body


# ---------------------------------------------------------------------- methods


def auth_test(sb: SlackSandbox, args: Args) -> dict[str, Any]:
    ws = sb.workspace
    return {"url": "https://sandbox.slack.com/", "team": ws.team, "user": ws.bot_name,
            "team_id": ws.team_id, "user_id": ws.bot_user_id, "bot_id": ws.bot_id,
            "is_enterprise_install": False}


def chat_post_message(sb: SlackSandbox, args: Args) -> dict[str, Any]:
    ws = sb.workspace
    channel = _member_channel(ws, _str(args, "channel"), by_name=True)
    text, blocks = message_content(args)
    metadata = _metadata(args)
    thread_ts = _str(args, "thread_ts")
    if thread_ts is not None:
        thread_ts = ws.parent_ts(channel.id, thread_ts)
        if thread_ts is None:
            raise ApiError("thread_not_found")
    sb._check_channel_rate(channel.id)
    msg = ws.add_message(channel.id, text, blocks, user=ws.bot_user_id, via="api",
                         thread_ts=thread_ts, metadata=metadata,
                         unfurl_links=_bool(args, "unfurl_links"),
                         unfurl_media=_bool(args, "unfurl_media"))
    return {"channel": channel.id, "ts": msg.ts,
            "message": message_json(sb, msg, metadata=True)}


def chat_update(sb: SlackSandbox, args: Args) -> dict[str, Any]:
    ws = sb.workspace
    channel = _member_channel(ws, _str(args, "channel"), by_name=False)
    ts = _str(args, "ts")
    msg = ws.by_ts.get((channel.id, ts)) if ts is not None else None
    if msg is None:
        raise ApiError("message_not_found")
    if msg.via not in ("api", "upload"):
        raise ApiError("cant_update_message")
    text, blocks = message_content(args, require=False)
    if not text and not blocks and "blocks" not in args:
        raise ApiError("no_text")
    metadata = _metadata(args)
    edit_ts = ws.next_ts()
    msg.edits.append(MessageEdit(edit_ts, msg.text, tuple(msg.blocks), msg.metadata))
    msg.text = text
    if "blocks" in args:
        msg.blocks = blocks
    if metadata is not None:
        msg.metadata = metadata
    return {"channel": channel.id, "ts": msg.ts, "text": msg.text,
            "message": message_json(sb, msg, metadata=True)}


def users_lookup_by_email(sb: SlackSandbox, args: Args) -> dict[str, Any]:
    ws = sb.workspace
    email = _str(args, "email")
    user = ws.users.get(email.lower()) if email else None
    if user is None or user.deleted:
        raise ApiError("users_not_found")
    return {"user": {
        "id": user.id, "team_id": ws.team_id, "name": user.name, "deleted": False,
        "real_name": user.real_name or user.name, "is_bot": False, "tz": "Europe/Zurich",
        "profile": {"email": user.email, "real_name": user.real_name or user.name,
                    "display_name": user.name},
    }}


def _cursor(args: Args) -> int | None:
    cursor = _str(args, "cursor")
    if cursor is None:
        return None
    try:
        kind, _, ts = base64.b64decode(cursor, validate=True).decode().partition(":")
        if kind != "next_ts":
            raise ValueError(cursor)
        return ts_micros(ts)
    except ValueError:
        raise ApiError("invalid_cursor") from None


def _page(sb: SlackSandbox, msgs: list[_Message], args: Args, limit: int) -> dict[str, Any]:
    oldest = _ts(args, "oldest", "invalid_ts_oldest")
    latest = _ts(args, "latest", "invalid_ts_latest")
    inclusive = bool(_bool(args, "inclusive"))

    def inside(m: _Message) -> bool:
        at = ts_micros(m.ts)
        if oldest is not None and (at < oldest or (at == oldest and not inclusive)):
            return False
        return latest is None or at < latest or (at == latest and inclusive)

    picked = [m for m in msgs if inside(m)]
    page, rest = picked[:limit], picked[limit:]
    metadata = bool(_bool(args, "include_all_metadata"))
    body: dict[str, Any] = {
        "messages": [message_json(sb, m, metadata=metadata) for m in page],
        "has_more": bool(rest),
    }
    if rest:
        cursor = base64.b64encode(f"next_ts:{rest[0].ts}".encode()).decode()
        body["response_metadata"] = {"next_cursor": cursor}
    return body


def conversations_history(sb: SlackSandbox, args: Args) -> dict[str, Any]:
    ws = sb.workspace
    channel = _member_channel(ws, _str(args, "channel"), by_name=False)
    limit = _int(args, "limit", 100, 999)
    start = _cursor(args)
    msgs = [m for m in reversed(ws.messages) if m.channel == channel.id and m.thread_ts == m.ts
            and (start is None or ts_micros(m.ts) <= start)]
    return {**_page(sb, msgs, args, limit), "pin_count": 0, "channel_actions_count": 0}


def conversations_replies(sb: SlackSandbox, args: Args) -> dict[str, Any]:
    ws = sb.workspace
    channel = _member_channel(ws, _str(args, "channel"), by_name=False)
    ts = _str(args, "ts")
    parent = ws.by_ts.get((channel.id, ts)) if ts is not None else None
    if parent is None:
        raise ApiError("thread_not_found")
    parent = ws.by_ts[(channel.id, str(parent.thread_ts))]
    limit = _int(args, "limit", 1000, 1000)
    start = _cursor(args)
    msgs = [parent, *(ws.by_ts[(channel.id, r)] for r in parent.replies)]
    msgs = [m for m in msgs if start is None or ts_micros(m.ts) >= start]
    return _page(sb, msgs, args, limit)


def files_get_upload_url(sb: SlackSandbox, args: Args) -> dict[str, Any]:
    filename = _str(args, "filename")
    length = _str(args, "length")
    if filename is None or length is None or not length.isdigit():
        raise ApiError("invalid_arguments")
    ws = sb.workspace
    file_id = ws.next_file_id()
    ws.files[file_id] = SlackFile(file_id, filename, int(length))
    return {"upload_url": f"{sb.root}/upload/v1/{sb._upload_key(file_id)}", "file_id": file_id}


def files_complete_upload(sb: SlackSandbox, args: Args) -> dict[str, Any]:
    ws = sb.workspace
    files = _json(args, "files", "invalid_arguments")
    if not isinstance(files, list) or not files or not all(
            isinstance(f, dict) and isinstance(f.get("id"), str) for f in files):
        raise ApiError("invalid_arguments")
    for f in files:
        known = ws.files.get(f["id"])
        if known is None or known.completed:
            raise ApiError("file_not_found")
        if known.content is None:
            raise ApiError("file_upload_not_completed")
    channel_ref = _str(args, "channel_id") or (_str(args, "channels") or "").split(",")[0]
    channel = _member_channel(ws, channel_ref, by_name=False) if channel_ref else None
    thread_ts = _str(args, "thread_ts")
    if thread_ts is not None:
        if channel is None:
            raise ApiError("invalid_arguments")
        thread_ts = ws.parent_ts(channel.id, thread_ts)
        if thread_ts is None:
            raise ApiError("thread_not_found")
    comment = _str(args, "initial_comment")
    ids = [f["id"] for f in files]
    for f in files:
        ws.files[f["id"]] = replace(
            ws.files[f["id"]], title=f.get("title") or None, completed=True,
            channel=channel.id if channel else None, thread_ts=thread_ts,
            initial_comment=comment)
    if channel is not None:
        ws.add_message(channel.id, comment or "", [], user=ws.bot_user_id, via="upload",
                       thread_ts=thread_ts, files=ids)
    return {"files": [file_json(sb, i) for i in ids]}


def conversations_list(sb: SlackSandbox, args: Args) -> dict[str, Any]:
    """Every channel (the bot's or not), by name; ``exclude_archived``, ``limit``, ``cursor``."""
    channels = sorted(sb.workspace.channels.values(), key=lambda c: c.name)
    if _bool(args, "exclude_archived"):
        channels = [c for c in channels if not c.is_archived]
    limit = _int(args, "limit", 100, 1000)
    cursor = _str(args, "cursor")
    start = 0
    if cursor is not None:
        try:
            kind, _, offset = base64.b64decode(cursor, validate=True).decode().partition(":")
            if kind != "offset" or not offset.isdigit():
                raise ValueError(cursor)
        except ValueError:
            raise ApiError("invalid_cursor") from None
        start = int(offset)
    page = channels[start:start + limit]
    more = start + limit < len(channels)
    next_cursor = base64.b64encode(f"offset:{start + limit}".encode()).decode() if more else ""
    return {"channels": [{"id": c.id, "name": c.name, "is_channel": True, "is_private": False,
                          "is_archived": c.is_archived, "is_member": c.is_member}
                         for c in page],
            "response_metadata": {"next_cursor": next_cursor}}


Method = Callable[["SlackSandbox", Args], dict[str, Any]]

#: method name -> (handler, the bot scope it needs, or None)
METHODS: dict[str, tuple[Method, str | None]] = {
    "auth.test": (auth_test, None),
    "chat.postMessage": (chat_post_message, "chat:write"),
    "chat.update": (chat_update, "chat:write"),
    "users.lookupByEmail": (users_lookup_by_email, "users:read.email"),
    "conversations.history": (conversations_history, "channels:history"),
    "conversations.replies": (conversations_replies, "channels:history"),
    "conversations.list": (conversations_list, "channels:read"),
    "files.getUploadURLExternal": (files_get_upload_url, "files:write"),
    "files.completeUploadExternal": (files_complete_upload, "files:write"),
}
