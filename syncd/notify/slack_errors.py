"""Slack's errors, grouped by what the caller must do, and the translation of slack_sdk's and
urllib's errors into them (used by :mod:`syncd.notify.slack`, which re-exports every name).

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
                                    posting again, look for it with
                                    :meth:`~syncd.notify.slack.SlackClient.find_posted`.

slack_sdk errors are translated here, at the edge (the client raises ``translate(...) from exc``).

Sent or not? urllib wraps every error raised while connecting and writing the request in a
``URLError``: then the request never reached Slack whole, and the error is transient. An error
raised once the request is written (``RemoteDisconnected``, a reset, a read timeout, a cut
answer) comes bare: then Slack may have acted, and for the methods that create something
(``chat.postMessage``, ``files.completeUploadExternal``, the webhook) it is an unknown outcome.
The other methods are safe to repeat (``chat.update`` writes the same content again), so for
them it is transient. The same split applies to 502/504 answers (a gateway may have passed the
request on) and to Slack's ``fatal_error``/``internal_error`` ("some aspect of the operation
may have succeeded"). (A 500 on ``chat.postMessage`` is re-sent by the client's retry policy
before any translation: see :mod:`syncd.notify.slack`.)
"""

from __future__ import annotations

import contextlib
import math
import urllib.error
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError

from syncd.errors import SyncdError

__all__ = [
    "BAD_MESSAGE", "MAYBE_DONE_CODES", "RESTRICTED", "TOKEN_GONE", "TRANSIENT_CODES", "WRITES",
    "SlackError", "SlackPermanent", "SlackTransient", "SlackUnknownOutcome", "permanent_reason",
    "retry_after", "translate", "translate_webhook",
]


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


# ---------------------------------------------------------------------- Retry-After


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
