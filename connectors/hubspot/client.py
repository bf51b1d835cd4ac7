"""Every HubSpot call goes through :class:`HubSpotHttp`: the official client, our retry policy.

The generated ``hubspot-api-client`` builds URLs, query strings and the Bearer header; we call
its methods with ``_preload_content=False`` and parse the body ourselves with orjson (its model
deserialisation costs ~0.3 ms per record, six times the rest of a sync). Its own urllib3
retries are switched off (``retries=False``) so that this module alone decides:

- proactive throttling: a rolling window sized from ``X-HubSpot-RateLimit-Max`` /
  ``-Interval-Milliseconds`` (HubSpot's burst limit) and a separate per-second limit for the
  search endpoints, which answer without rate-limit headers;
- 429: wait ``Retry-After`` when given, else until the window frees (at least 1 s), with
  jitter; a DAILY policy is not retried (the budget resets at midnight in the portal's zone);
- 5xx, timeouts, dropped connections, non-JSON bodies: exponential backoff with full jitter;
- giving up once ``max_retry_time`` has been spent waiting, with one clear line;
- 401/403: fatal :class:`AuthError` naming the missing scope.

Errors raised (see ``connectors.base``): AuthError, RateLimitError, UpstreamError,
ProtocolError. None of them, nor any log line, ever contains the access token.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import urllib3

from connectors.base import (
    AuthError,
    CallStats,
    ProtocolError,
    RateLimitError,
    UpstreamError,
)

log = logging.getLogger("syncd.connectors.hubspot")

_SCOPE_HINT = (
    "add it to the private app (HubSpot > Settings > Integrations > Private apps > Scopes), "
    "then use the new token"
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retry_time: float = 600.0  # seconds spent waiting on one call before giving up
    base_delay: float = 0.5
    max_delay: float = 30.0
    timeout: float = 30.0  # per request (connect and read)
    search_per_second: int = 4  # HubSpot documents "about 4-5" search requests per second


class _Window:
    """A rolling window limiter: at most ``limit`` events per ``interval`` seconds."""

    def __init__(self, limit: int, interval: float) -> None:
        self.limit = limit
        self.interval = interval
        self.events: deque[float] = deque()

    def delay(self, now: float) -> float:
        while self.events and self.events[0] <= now - self.interval:
            self.events.popleft()
        if len(self.events) < self.limit:
            return 0.0
        return self.events[0] + self.interval - now

    def record(self, now: float) -> None:
        self.events.append(now)


class HubSpotHttp:
    """Calls HubSpot through ``hubspot-api-client`` with throttling and bounded retries."""

    def __init__(
        self,
        access_token: str,
        base_url: str = "https://api.hubapi.com",
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        ssl_ca_cert: str | None = None,
    ) -> None:
        import hubspot  # imported here: ~0.3 s, and only the HubSpot connector needs it

        self.policy = policy or RetryPolicy()
        self.base_url = base_url.rstrip("/")
        extra: dict[str, Any] = {}
        if ssl_ca_cert:
            extra["ssl_ca_cert"] = ssl_ca_cert
        self.client = hubspot.Client.create(
            access_token=access_token, host=self.base_url, retry=False, **extra
        )
        self.stats = CallStats()
        self._sleep = sleep
        self._now = monotonic
        self._rng = rng or random.Random()
        self._burst: _Window | None = None  # sized from the first response's headers
        self._burst_remaining: int | None = None
        self._search = _Window(self.policy.search_per_second, 1.0)

    # ------------------------------------------------------------------ public

    def call(self, what: str, method: Callable[..., Any], *args: Any, search: bool = False,
             **kwargs: Any) -> Any:
        """Run one generated-client ``method`` and return its parsed JSON body.

        ``what`` names the call in errors and logs (``"list deals"``). ``search`` routes the
        call through the search endpoints' own per-second limit.
        """
        kwargs["_preload_content"] = False
        kwargs["_request_timeout"] = (min(10.0, self.policy.timeout), self.policy.timeout)
        waited = 0.0
        attempt = 0
        while True:
            self._throttle(search)
            attempt += 1
            self.stats.api_calls += 1
            try:
                response = method(*args, **kwargs)
                status, headers, body = response.status, response.headers, response.data
                response.release_conn()
            except urllib3.exceptions.HTTPError as exc:  # dropped connection, timeout, refused
                status, headers, body = 0, {}, b""
                failure = _network_failure(exc)
            except Exception as exc:  # noqa: BLE001 - the client wraps non-2xx in ApiException
                status, headers, body, failure = _from_api_exception(exc)
            else:
                failure = ""
            finally:
                # Counted when the answer is back: HubSpot counted it on arrival, somewhere
                # between our send and now, so a window kept on these times never runs ahead
                # of HubSpot's (counting on send caused a 429 at each window's turn).
                self._record(search, self._now())
            self._read_limits(headers)

            if 200 <= status < 300:
                try:
                    return orjson.loads(body)
                except orjson.JSONDecodeError:
                    failure = "a response that is not JSON (a proxy or gateway page?)"
            if status in (401, 403):
                raise _auth_error(what, status, body)
            if status == 429:
                self.stats.rate_limited += 1
                delay = self._rate_limit_delay(what, headers, body)
            elif status == 0 or status >= 500 or failure:
                self.stats.server_errors += 1
                failure = failure or f"HTTP {status}"
                delay = self._backoff(attempt)
            else:
                raise ProtocolError(
                    f"HubSpot rejected {what} with HTTP {status}: {_message(body)}"
                )
            if waited + delay > self.policy.max_retry_time:
                if status == 429:
                    raise RateLimitError(
                        f"HubSpot kept rate limiting {what} for {waited:.0f} s; another app may "
                        "share this token's limit. syncd will retry on its next run.",
                        retry_after=delay,
                    )
                raise UpstreamError(
                    f"HubSpot failed {what} {attempt} times over {waited:.0f} s (last: "
                    f"{failure or 'HTTP ' + str(status)}); check https://status.hubspot.com "
                    "or the base_url. syncd will retry on its next run."
                )
            log.debug("%s: %s, retry %d in %.2f s", what, failure or status, attempt, delay)
            self.stats.retries += 1
            self.stats.waited_seconds += delay
            waited += delay
            self._sleep(delay)

    # ------------------------------------------------------------------ limits

    def _throttle(self, search: bool) -> None:
        now = self._now()
        delay = self._search.delay(now) if search else 0.0
        if not search and self._burst is not None:
            delay = self._burst.delay(now)
            if self._burst_remaining is not None and self._burst_remaining <= 0:
                # Someone else spends this token's budget too: wait for our oldest call to
                # leave the window (or a full window when we have made none).
                oldest = self._burst.events[0] if self._burst.events else now
                delay = max(delay, oldest + self._burst.interval - now)
        if delay > 0:
            self.stats.waited_seconds += delay
            self._sleep(delay)

    def _record(self, search: bool, at: float) -> None:
        if search:
            self._search.record(at)
        elif self._burst is not None:
            self._burst.record(at)

    def _read_limits(self, headers: Mapping[str, str]) -> None:
        limit = _int(headers.get("X-HubSpot-RateLimit-Max"))
        interval = _int(headers.get("X-HubSpot-RateLimit-Interval-Milliseconds"))
        if limit and interval:
            if self._burst is None or self._burst.limit != limit:
                events = self._burst.events if self._burst else deque([self._now()])
                self._burst = _Window(limit, interval / 1000.0)
                self._burst.events = events
            self._burst_remaining = _int(headers.get("X-HubSpot-RateLimit-Remaining"))

    def _rate_limit_delay(self, what: str, headers: Mapping[str, str], body: bytes) -> float:
        payload = _json(body)
        policy = str(payload.get("policyName", "")).upper()
        if policy == "DAILY":
            raise RateLimitError(
                f"HubSpot's daily API limit for this token is spent ({what} refused); it "
                "resets at midnight in the portal's time zone. Lower crm.sync.every or ask "
                "HubSpot for a higher limit."
            )
        retry_after = _float(headers.get("Retry-After"))
        if retry_after is not None:
            return retry_after + self._rng.uniform(0, 0.1)
        window = self._search if policy == "SECONDLY" else self._burst
        wait = 1.0
        if window is not None and window.events:
            wait = max(wait, window.events[0] + window.interval - self._now())
        return wait + self._rng.uniform(0, 0.25)

    def _backoff(self, attempt: int) -> float:
        cap = min(self.policy.max_delay, self.policy.base_delay * 2 ** (attempt - 1))
        return self._rng.uniform(self.policy.base_delay / 2, cap)


# ---------------------------------------------------------------------- helpers


def _network_failure(exc: Exception) -> str:
    """Plain words for urllib3's network errors (never the URL's query or any header)."""
    errors = urllib3.exceptions
    if isinstance(exc, errors.NewConnectionError | errors.NameResolutionError):
        return "could not connect"
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return "timed out"
    if isinstance(exc, urllib3.exceptions.ProtocolError):
        return "connection dropped without an answer"
    if isinstance(exc, urllib3.exceptions.SSLError):
        return "TLS failed (certificate?)"
    return exc.__class__.__name__


def _from_api_exception(exc: Exception) -> tuple[int, Mapping[str, str], bytes, str]:
    status = getattr(exc, "status", None)
    if not isinstance(status, int):
        raise exc
    headers = getattr(exc, "headers", None) or {}
    body = getattr(exc, "body", None) or b""
    if isinstance(body, str):
        body = body.encode()
    failure = "" if status else f"{getattr(exc, 'reason', '') or 'connection failed'}"
    return status, headers, body, failure.splitlines()[0] if failure else ""


def _auth_error(what: str, status: int, body: bytes) -> AuthError:
    payload = _json(body)
    if status == 401:
        return AuthError(
            f"HubSpot refused the access token for {what} (401: invalid, expired or revoked). "
            "Create a new private-app token and set crm.hubspot.access_token "
            "(e.g. HUBSPOT_ACCESS_TOKEN)."
        )
    scopes: list[str] = []
    for err in payload.get("errors") or []:
        context = err.get("context") or {} if isinstance(err, dict) else {}
        for key in ("requiredGranularScopes", "requiredScopes"):
            scopes.extend(str(s) for s in context.get(key) or [])
    if scopes:
        scope = ", ".join(dict.fromkeys(scopes))
        return AuthError(
            f"HubSpot denied {what} (403): the token lacks the scope {scope}; {_SCOPE_HINT}.",
            missing_scope=scope,
        )
    return AuthError(
        f"HubSpot denied {what} (403: {_message(body)}); check the private app's scopes "
        "(crm.objects.deals.read, crm.objects.companies.read, crm.objects.contacts.read, "
        "crm.objects.owners.read)."
    )


def _message(body: bytes) -> str:
    payload = _json(body)
    message = payload.get("message") if payload else None
    text = str(message) if message else body[:200].decode("utf-8", "replace")
    return " ".join(text.split()) or "no details"


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
