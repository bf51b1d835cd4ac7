"""syncd's Slack client: one small wrapper around slack_sdk's ``WebClient`` and
``WebhookClient``, with errors grouped by what the caller must do.

Errors (every one is a :class:`~syncd.errors.SyncdError`: ``str(err)`` is one line that says
what to fix; no message ever contains the token or the webhook URL)::

    SyncdError
    └── SlackError                  base of everything below
        ├── SlackPermanent          Slack refused the request and will refuse it again: never
        │                           retried. ``error`` is Slack's code (channel_not_found,
        │                           not_in_channel, invalid_auth, missing_scope, invalid_blocks,
        │                           ...), ``reason`` names the fix.
        ├── SlackTransient          nothing was done; try again later, after ``retry_after``
        │                           seconds when Slack said so (429 beyond ``max_retry_after``
        │                           or still 429 after the retries, 500/503 after the retries,
        │                           Slack unreachable before the request was sent).
        └── SlackUnknownOutcome     the request may have been carried out (the connection broke
                                    or timed out after the request was sent, or Slack answered
                                    ``fatal_error``/``internal_error``/a gateway error): before
                                    posting again, look for it with :meth:`SlackClient.find_posted`.

slack_sdk errors are translated here, at the edge (``raise ... from exc``).

Retries: the ``WebClient`` gets exactly two retry handlers, subclasses of slack_sdk's
``RateLimitErrorRetryHandler`` (429: waits ``Retry-After``, safe because Slack did not process
the request) and ``ServerErrorRetryHandler`` (500 and 503, with backoff), both waiting with the
injected ``sleep``. There is deliberately no ``ConnectionErrorRetryHandler`` (slack_sdk's
default): it re-sends ``chat.postMessage`` after a dropped connection, which double-posts when
Slack had accepted the first one. A ``Retry-After`` above ``max_retry_after`` is not waited for:
the call raises :class:`SlackTransient` with that ``retry_after`` at once.

Sent or not? urllib wraps every error raised while connecting and writing the request in a
``URLError``: then the request never reached Slack whole, and the error is transient. An error
raised once the request is written (``RemoteDisconnected``, a reset, a read timeout, a cut
answer) comes bare: then Slack may have acted, and for the methods that create something
(``chat.postMessage``, ``files.completeUploadExternal``, the webhook) it is an unknown outcome.
The other methods are safe to repeat (``chat.update`` writes the same content again), so for
them it is transient. The same split applies to 502/504 answers (a gateway may have passed the
request on) and to Slack's ``fatal_error``/``internal_error`` ("some aspect of the operation
may have succeeded"). Caveat of the binding retry policy: a 500 on ``chat.postMessage`` is
re-sent by ``ServerErrorRetryHandler``.

Reconciliation: every post the outbox makes carries message metadata (``event_type`` and an
``event_payload`` with the outbox key). :meth:`SlackClient.find_posted` pages through
``conversations.history`` (``include_all_metadata``) from ``oldest`` for a top-level message
with that metadata; replies are not in the history, so for a reply pass its parent's
``thread_ts`` and the thread (``conversations.replies``) is scanned instead.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient

from syncd.errors import SyncdError

__all__ = [
    "Posted", "SlackClient", "SlackError", "SlackPermanent", "SlackTransient",
    "SlackUnknownOutcome", "SlackWebhook",
]

log = logging.getLogger("syncd.notify.slack")
Sleep = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class Posted:
    """Where a message landed: its channel's id and its ``ts`` (Slack's message id)."""

    channel_id: str
    ts: str


# ---------------------------------------------------------------------- errors


class SlackError(SyncdError):
    """Base of every Slack failure; ``reason`` (also ``str(err)``) says what to do."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def scrub(self, secret: str) -> SlackError:
        """This error with ``secret`` (a token, a webhook URL) blanked out of its message."""
        if secret and secret in self.reason:
            self.reason = self.reason.replace(secret, "<secret>")
            self.args = (self.reason,)
        return self


class SlackPermanent(SlackError):
    """Slack refused the request and would refuse it again: fix the cause, do not retry."""

    def __init__(self, reason: str, error: str = "") -> None:
        super().__init__(reason)
        self.error = error  # Slack's error code, e.g. "not_in_channel"


class SlackTransient(SlackError):
    """Nothing was done: try again later (not before ``retry_after`` seconds when known)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class SlackUnknownOutcome(SlackError):
    """The request may have been carried out: reconcile (``find_posted``) before re-sending."""


#: The requests that create something, so that sending them twice shows twice.
WRITES = frozenset({"chat.postMessage", "files.completeUploadExternal", "webhook"})
#: Codes Slack answers when it did nothing and may succeed later.
TRANSIENT_CODES = frozenset({
    "ratelimited", "rate_limited", "service_unavailable", "request_timeout",
    "team_added_to_org",
})
#: Codes after which "some aspect of the operation may have succeeded" (Slack's words).
MAYBE_DONE_CODES = frozenset({"fatal_error", "internal_error"})
TOKEN_GONE = frozenset({
    "account_inactive", "token_revoked", "token_expired", "no_permission",
    "org_login_required", "ekm_access_denied", "team_access_not_granted",
    "two_factor_setup_required", "app_deleted",
})
BAD_MESSAGE = frozenset({
    "invalid_blocks", "invalid_blocks_format", "invalid_arguments", "invalid_metadata_format",
    "invalid_metadata_schema", "msg_too_long", "msg_blocks_too_long", "no_text",
    "too_many_attachments", "invalid_attachments", "markdown_text_conflict", "invalid_json",
    "invalid_form_data", "invalid_cursor", "invalid_ts_oldest", "invalid_ts_latest",
})
RESTRICTED = frozenset({
    "restricted_action", "restricted_action_read_only_channel",
    "restricted_action_thread_only_channel", "restricted_action_non_threadable_channel",
    "posting_to_general_channel_denied", "action_prohibited",
})


def permanent_reason(code: str, what: str, channel: str | None, ts: str | None, bot: str,
                     data: dict[str, Any]) -> str:
    """What to fix after Slack answered ``code`` while doing ``what``."""
    where = channel or "the channel"
    if code == "channel_not_found":
        return (f"{what}: Slack has no channel {where} the bot can see: check slack.channel "
                "(a private channel needs the bot invited)")
    if code == "not_in_channel":
        return f"{what}: the bot is not in {where}: invite it there with /invite @{bot}"
    if code in ("is_archived", "channel_is_archived"):
        return f"{what}: {where} is archived: unarchive it or set another slack.channel"
    if code in ("invalid_auth", "not_authed"):
        return (f"{what}: Slack refused the bot token ({code}): set slack.token to the "
                "installed app's bot token (xoxb-...)")
    if code in TOKEN_GONE:
        return (f"{what}: the Slack token no longer works ({code}): reinstall the app in the "
                "workspace and put its new bot token in slack.token")
    if code == "missing_scope":
        needed = data.get("needed") or "the one the method needs"
        return (f"{what}: the Slack app lacks the scope {needed}: add it under OAuth & "
                "Permissions, reinstall the app and update slack.token")
    if code in BAD_MESSAGE:
        details = data.get("errors") or (data.get("response_metadata") or {}).get("messages")
        more = f": {'; '.join(map(str, details))}" if details else ""
        return (f"{what}: Slack refused the request as malformed ({code}){more}; this is a "
                "bug in syncd's message rendering, please report it")
    if code in ("message_not_found", "cant_update_message", "edit_window_closed",
                "thread_not_found"):
        return (f"{what}: Slack cannot use message {ts or '?'} in {where} ({code}): it was "
                "deleted or is not the bot's; post a new message instead")
    if code in RESTRICTED:
        return (f"{what}: the workspace does not let the bot post in {where} ({code}): allow "
                "the app there or set another slack.channel")
    if code == "users_not_found":
        return f"{what}: no Slack user has this e-mail address"
    return f"{what}: Slack refused the request ({code})"


def _gone_before_sending(exc: BaseException) -> bool:
    """urllib wraps in URLError what fails while connecting and writing the request."""
    return isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError)


def translate(exc: BaseException, *, what: str, method: str, write: bool,
              channel: str | None, ts: str | None, bot: str, host: str) -> SlackError:
    """The SlackError for a slack_sdk or urllib error raised while doing ``what``."""
    if isinstance(exc, SlackApiError):
        response = exc.response
        data = response.data if isinstance(response.data, dict) else {}
        return _from_answer(int(response.status_code), str(data.get("error") or ""), data,
                            retry_after(response.headers), what=what, write=write,
                            channel=channel, ts=ts, bot=bot)
    if isinstance(exc, urllib.error.HTTPError):  # the upload URL answers like this
        with contextlib.suppress(OSError):
            exc.close()  # its socket, which nobody else closes
        return _from_answer(exc.code, f"http_{exc.code}", {}, retry_after(exc.headers),
                            what=what, write=write, channel=channel, ts=ts, bot=bot)
    if _gone_before_sending(exc):
        reason = getattr(exc, "reason", exc)
        return SlackTransient(f"{what}: cannot reach Slack at {host} ({reason}); nothing was "
                              "sent: check the network, proxy and slack.base_url")
    if isinstance(exc, OSError) or type(exc).__module__ == "http.client":
        kind = type(exc).__name__
        if write:
            return SlackUnknownOutcome(
                f"{what}: the connection to Slack broke after the request was sent ({kind}); "
                "it may have been posted: reconcile before sending it again")
        return SlackTransient(f"{what}: the connection to Slack broke ({kind}); retry later")
    if isinstance(exc, SlackClientError):
        return SlackPermanent(f"{what}: the Slack client refused the request "
                              f"({type(exc).__name__}); check slack.base_url", "client_error")
    return SlackPermanent(f"{what}: unexpected answer from Slack ({type(exc).__name__})",
                          "bad_answer")


def _from_answer(status: int, code: str, data: dict[str, Any], wait: float | None, *,
                 what: str, write: bool, channel: str | None, ts: str | None,
                 bot: str) -> SlackError:
    if status == 429 or code in ("ratelimited", "rate_limited"):
        after = f"; Slack asks to wait {wait:g} s" if wait is not None else ""
        return SlackTransient(f"{what}: rate-limited by Slack{after}", wait)
    if status in (500, 503) or code in TRANSIENT_CODES:
        return SlackTransient(f"{what}: Slack is failing (HTTP {status}, {code or 'no code'}) "
                              "after the retries; nothing was posted, try again later")
    if status >= 500 or code in MAYBE_DONE_CODES:
        if write:
            return SlackUnknownOutcome(
                f"{what}: Slack failed midway (HTTP {status}, {code or 'no code'}); it may "
                "have been posted: reconcile before sending it again")
        return SlackTransient(f"{what}: Slack failed (HTTP {status}, {code}); retry later")
    if not code:
        code = f"http_{status}"
    return SlackPermanent(permanent_reason(code, what, channel, ts, bot, data), code)


def translate_webhook(status: int, body: str, wait: float | None) -> SlackError:
    """The SlackError for an incoming webhook's non-200 answer (a plain-text code)."""
    code = body.strip() if body.strip().replace("_", "").isalnum() else f"http_{status}"
    if code in ("invalid_token", "no_service", "no_service_id", "no_team", "team_disabled"):
        return SlackPermanent(
            f"posting to the Slack webhook: Slack refused the webhook URL ({code}): create a "
            "new incoming webhook for the app and set slack.webhook_url to it", code)
    return _from_answer(status, code, {}, wait, what="posting to the Slack webhook",
                        write=True, channel="the webhook's channel", ts=None, bot="syncd")


# ---------------------------------------------------------------------- retries


def retry_after(headers: Any) -> float | None:
    """The ``Retry-After`` seconds of a response's headers (a dict of lists or of strings, or
    an ``HTTPMessage``), None when absent or unreadable."""
    if headers is None:
        return None
    for name in headers:
        if str(name).lower() == "retry-after":
            value = headers[name]
            if isinstance(value, list):
                value = value[0] if value else None
            try:
                seconds = float(value)
            except (TypeError, ValueError):
                return None
            return seconds if math.isfinite(seconds) and seconds >= 0 else None
    return None


class RateLimitRetry(RateLimitErrorRetryHandler):
    """slack_sdk's 429 handler, sleeping ``Retry-After`` with the injected ``sleep`` and
    declining to wait longer than ``max_retry_after``."""

    def __init__(self, max_retry_count: int, sleep: Sleep, max_retry_after: float) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.sleep = sleep
        self.max_retry_after = max_retry_after

    def _can_retry(
        self, *, state: RetryState, request: HttpRequest,
        response: HttpResponse | None = None, error: Exception | None = None,
    ) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        wait = retry_after(response.headers) if response is not None else None
        return wait is None or wait <= self.max_retry_after

    def prepare_for_next_attempt(
        self, *, state: RetryState, request: HttpRequest,
        response: HttpResponse | None = None, error: Exception | None = None,
    ) -> None:
        wait = retry_after(response.headers) if response is not None else None
        wait = 1.0 if wait is None else wait
        log.warning("Slack rate-limited a request; waiting %s s before retrying", wait)
        state.next_attempt_requested = True
        self.sleep(wait)
        state.increment_current_attempt()


class ServerErrorRetry(ServerErrorRetryHandler):
    """slack_sdk's 500/503 handler (exponential backoff), sleeping with the injected ``sleep``."""

    def __init__(self, max_retry_count: int, sleep: Sleep) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.sleep = sleep

    def prepare_for_next_attempt(
        self, *, state: RetryState, request: HttpRequest,
        response: HttpResponse | None = None, error: Exception | None = None,
    ) -> None:
        wait = self.interval_calculator.calculate_sleep_duration(state.current_attempt)
        status = response.status_code if response is not None else "?"
        log.warning("Slack answered %s; retrying in %.1f s", status, wait)
        state.next_attempt_requested = True
        self.sleep(wait)
        state.increment_current_attempt()


def retry_handlers(sleep: Sleep, max_retry_after: float, rate_limit_retries: int,
                   server_error_retries: int) -> list[RetryHandler]:
    return [RateLimitRetry(rate_limit_retries, sleep, max_retry_after),
            ServerErrorRetry(server_error_retries, sleep)]


class _WebClient(WebClient):
    """A WebClient that remembers the last Web API method it called, so that an error raised
    inside ``files_upload_v2`` is attributed to the step that failed."""

    last_method = ""

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        self.last_method = api_method
        return super().api_call(api_method, **kwargs)

    def _upload_file(self, **kwargs: Any) -> Any:
        self.last_method = "upload"
        return super()._upload_file(**kwargs)


# ---------------------------------------------------------------------- Web API


class SlackClient:
    """A bot token's view of Slack: post, update, reconcile, mention, upload, check."""

    def __init__(
        self,
        token: str,
        base_url: str,
        *,
        timeout: float = 30.0,
        sleep: Sleep = time.sleep,
        max_retry_after: float = 900.0,
        rate_limit_retries: int = 3,
        server_error_retries: int = 2,
    ) -> None:
        if not base_url.endswith("/"):
            base_url += "/"
        self._token = token
        self.base_url = base_url
        self.bot_name = "syncd"  # replaced by the real name once check() ran
        self._channel_ids: dict[str, str] = {}  # "#name" -> id
        self._web = _WebClient(
            token=token, base_url=base_url, timeout=timeout,  # type: ignore[arg-type]
            retry_handlers=retry_handlers(sleep, max_retry_after, rate_limit_retries,
                                          server_error_retries),
        )

    def __repr__(self) -> str:
        return f"SlackClient(base_url={self.base_url!r})"

    def _call(self, what: str, call: Callable[[], SlackResponse], *,
              channel: str | None = None, ts: str | None = None) -> SlackResponse:
        self._web.last_method = ""
        try:
            return call()
        except (SlackClientError, OSError, ValueError) as exc:
            method = self._web.last_method
            err = translate(exc, what=what, method=method, write=method in WRITES,
                            channel=channel, ts=ts, bot=self.bot_name,
                            host=urlsplit(self.base_url).netloc)
            raise err.scrub(self._token) from exc

    def post(
        self, channel: str, text: str, blocks: list[dict[str, Any]] | None, *,
        metadata: dict[str, Any] | None = None, thread_ts: str | None = None,
    ) -> Posted:
        """Post to a channel (``#name`` or id); ``text`` is the notification fallback and must
        not be empty. ``metadata`` is ``{"event_type": ..., "event_payload": {...}}``."""
        if not text.strip():
            raise ValueError("a Slack message needs a non-empty text fallback")
        response = self._call(
            f"posting to {channel}",
            lambda: self._web.chat_postMessage(
                channel=channel, text=text, blocks=blocks, metadata=metadata,
                thread_ts=thread_ts, unfurl_links=False, unfurl_media=False),
            channel=channel)
        posted = Posted(str(response["channel"]), str(response["ts"]))
        if channel.startswith("#"):
            self._channel_ids[channel] = posted.channel_id
        log.info("posted to %s (ts %s)", posted.channel_id, posted.ts)
        return posted

    def update(self, channel_id: str, ts: str, text: str,
               blocks: list[dict[str, Any]] | None) -> None:
        """Replace a message's text (and its blocks, when given)."""
        if not text.strip():
            raise ValueError("a Slack message needs a non-empty text fallback")
        self._call(
            f"updating message {ts} in {channel_id}",
            lambda: self._web.chat_update(channel=channel_id, ts=ts, text=text, blocks=blocks),
            channel=channel_id, ts=ts)
        log.info("updated %s in %s", ts, channel_id)

    def channel_id(self, channel: str) -> str:
        """The id of a channel given as ``#name`` (an id is returned as it is): learnt from
        earlier posts, else looked up with ``conversations.list`` (scope ``channels:read``)."""
        if not channel.startswith("#"):
            return channel
        if channel in self._channel_ids:
            return self._channel_ids[channel]
        name, cursor = channel[1:], None
        while True:
            response = self._call(
                f"looking up the id of {channel}",
                lambda c=cursor: self._web.conversations_list(  # type: ignore[misc]
                    types="public_channel,private_channel", exclude_archived=True,
                    limit=1000, cursor=c),
                channel=channel)
            for found in response.get("channels") or []:
                if found.get("name") == name:
                    self._channel_ids[channel] = str(found["id"])
                    return self._channel_ids[channel]
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                raise SlackPermanent(permanent_reason(
                    "channel_not_found", f"looking up the id of {channel}", channel, None,
                    self.bot_name, {}), "channel_not_found")

    def find_posted(
        self, channel_id: str, event_type: str, key: str, key_value: str, *,
        oldest: datetime, thread_ts: str | None = None,
    ) -> Posted | None:
        """The message posted since ``oldest`` whose metadata has ``event_type`` and
        ``event_payload[key] == key_value``, or None. ``channel_id`` may also be a ``#name``
        (see :meth:`channel_id`). Top-level messages only (newest match
        first), unless ``thread_ts`` is given: then that thread's replies (first match)."""
        if oldest.tzinfo is None:
            raise ValueError("find_posted needs an aware datetime for oldest")
        channel_id = self.channel_id(channel_id)
        since = f"{oldest.timestamp():.6f}"
        cursor: str | None = None
        while True:
            if thread_ts is None:
                response = self._call(
                    f"reading the history of {channel_id}",
                    lambda c=cursor: self._web.conversations_history(  # type: ignore[misc]
                        channel=channel_id, oldest=since, inclusive=True, limit=200,
                        include_all_metadata=True, cursor=c),
                    channel=channel_id)
            else:
                response = self._call(
                    f"reading thread {thread_ts} in {channel_id}",
                    lambda c=cursor: self._web.conversations_replies(  # type: ignore[misc]
                        channel=channel_id, ts=thread_ts, oldest=since, inclusive=True,
                        limit=200, include_all_metadata=True, cursor=c),
                    channel=channel_id, ts=thread_ts)
            for message in response.get("messages") or []:
                if thread_ts is not None and message.get("ts") == thread_ts:
                    continue  # the parent itself
                meta = message.get("metadata") or {}
                payload = meta.get("event_payload") or {}
                if (meta.get("event_type") == event_type and key in payload
                        and str(payload[key]) == key_value):
                    return Posted(channel_id, str(message["ts"]))
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                return None

    def lookup_user(self, email: str) -> str | None:
        """The Slack user id of an e-mail (for ``<@U...>`` mentions), None when nobody in the
        workspace has it. Cache the answer: the method is rate-limited (Tier 3)."""
        try:
            response = self._call(f"looking up the Slack user of {email}",
                                  lambda: self._web.users_lookupByEmail(email=email))
        except SlackPermanent as exc:
            if exc.error == "users_not_found":
                return None
            raise
        return str(response["user"]["id"])

    def upload(self, channel_id: str, filename: str, content: bytes, *, title: str,
               thread_ts: str | None = None) -> str:
        """Share a file in a channel (by id), in a thread when ``thread_ts`` is given; the
        file's id."""
        response = self._call(
            f"uploading {filename} to {channel_id}",
            lambda: self._web.files_upload_v2(
                channel=channel_id, filename=filename, content=content, title=title,
                thread_ts=thread_ts),
            channel=channel_id, ts=thread_ts)
        files = response.get("files") or []
        file_id = str(files[0]["id"])
        log.info("uploaded %s to %s (file %s)", filename, channel_id, file_id)
        return file_id

    def check(self) -> str:
        """``auth.test``: "<bot> on <workspace>"; SlackPermanent when the token is refused."""
        response = self._call("checking the Slack token", self._web.auth_test)
        self.bot_name = str(response.get("user") or self.bot_name)
        return f"{self.bot_name} on {response.get('team')}"


# ---------------------------------------------------------------------- webhook


class SlackWebhook:
    """An incoming webhook: posts only (no ``ts``, so no threads, updates or reconciliation)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        sleep: Sleep = time.sleep,
        max_retry_after: float = 900.0,
        rate_limit_retries: int = 3,
        server_error_retries: int = 2,
    ) -> None:
        self._url = url
        self._client = WebhookClient(
            url, timeout=timeout,  # type: ignore[arg-type]
            retry_handlers=retry_handlers(sleep, max_retry_after, rate_limit_retries,
                                          server_error_retries))

    def __repr__(self) -> str:
        return "SlackWebhook(url=<secret>)"

    def post(self, text: str, blocks: list[dict[str, Any]] | None) -> None:
        if not text.strip():
            raise ValueError("a Slack message needs a non-empty text fallback")
        try:
            response = self._client.send(text=text, blocks=blocks, unfurl_links=False,
                                         unfurl_media=False)
        except (SlackClientError, OSError, ValueError) as exc:
            err = translate(exc, what="posting to the Slack webhook", method="webhook",
                            write=True, channel=None, ts=None, bot="syncd", host="the webhook")
            raise err.scrub(self._url) from exc
        if response.status_code == 200:
            log.info("posted to the Slack webhook")
            return
        error = translate_webhook(response.status_code, response.body or "",
                                  retry_after(response.headers))
        raise error.scrub(self._url)

