"""syncd's Slack client: one small wrapper around slack_sdk's ``WebClient`` and
``WebhookClient``, with errors grouped by what the caller must do.

Errors: the tree (``SlackError``: ``SlackPermanent``, ``SlackTransient``,
``SlackUnknownOutcome``) and the translation of slack_sdk errors, at the edge (``raise ... from
exc``), live in :mod:`syncd.notify.slack_errors`, which draws the tree and says when a failed
request may have been carried out; this module re-exports all of them.

Retries: the ``WebClient`` gets exactly two retry handlers, subclasses of slack_sdk's
``RateLimitErrorRetryHandler`` (429: waits ``Retry-After``, safe because Slack did not process
the request) and ``ServerErrorRetryHandler`` (500 and 503, with backoff), both waiting with the
injected ``sleep``. There is deliberately no ``ConnectionErrorRetryHandler`` (slack_sdk's
default): it re-sends ``chat.postMessage`` after a dropped connection, which double-posts when
Slack had accepted the first one. A ``Retry-After`` above ``max_retry_after`` is not waited for:
the call raises :class:`SlackTransient` with that ``retry_after`` at once. Caveat of the binding
retry policy: a 500 on ``chat.postMessage`` is re-sent by ``ServerErrorRetryHandler``.

Reconciliation: every post the outbox makes carries message metadata (``event_type`` and an
``event_payload`` with the outbox key). :meth:`SlackClient.find_posted` pages through
``conversations.history`` (``include_all_metadata``) from ``oldest`` for a top-level message
with that metadata; replies are not in the history, so for a reply pass its parent's
``thread_ts`` and the thread (``conversations.replies``) is scanned instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
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

# The error tree and its translation, re-exported (``X as X``): imports from here keep working.
from syncd.notify.slack_errors import BAD_MESSAGE as BAD_MESSAGE
from syncd.notify.slack_errors import MAYBE_DONE_CODES as MAYBE_DONE_CODES
from syncd.notify.slack_errors import RESTRICTED as RESTRICTED
from syncd.notify.slack_errors import TOKEN_GONE as TOKEN_GONE
from syncd.notify.slack_errors import TRANSIENT_CODES as TRANSIENT_CODES
from syncd.notify.slack_errors import WRITES as WRITES
from syncd.notify.slack_errors import SlackError as SlackError
from syncd.notify.slack_errors import SlackPermanent as SlackPermanent
from syncd.notify.slack_errors import SlackTransient as SlackTransient
from syncd.notify.slack_errors import SlackUnknownOutcome as SlackUnknownOutcome
from syncd.notify.slack_errors import permanent_reason as permanent_reason
from syncd.notify.slack_errors import retry_after as retry_after
from syncd.notify.slack_errors import translate as translate
from syncd.notify.slack_errors import translate_webhook as translate_webhook

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


# ---------------------------------------------------------------------- retries


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

