"""Injected faults, HubSpot's error bodies, and its rate limits, for the sandbox server.

Faults are FIFO rules: the first rule whose path prefix (and method, when given) matches a
request takes it, and is spent after ``count`` requests. They act before authentication, as a
proxy or a failing backend would.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

FaultKind = Literal[
    "429", "500", "502", "503", "504", "slow", "drop", "drop_after", "401", "403", "not_json"
]
FAULT_KINDS: frozenset[str] = frozenset(FaultKind.__args__)  # type: ignore[attr-defined]

AUTH_MISSING = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
AUTH_EXPIRED = "The OAuth token used to make this call expired 1 day(s) ago."
SCOPES_MESSAGE = (
    "This app hasn't been granted all required scopes to make this call. Read more about "
    "required scopes here: https://developers.hubspot.com/scopes."
)
HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body><h1>Network login"
    b" required</h1><p>Please sign in to continue.</p></body></html>\n"
)


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected failure. ``path`` is a prefix of the request path ("/" matches all).

    kinds: ``"429"`` (with a ``Retry-After`` header when ``retry_after`` is set, body naming
    ``policy``), ``"500"``/``"503"`` (HubSpot JSON), ``"502"``/``"504"`` (the edge proxy's HTML),
    ``"slow"`` (sleep ``delay`` then answer), ``"drop"`` (close without answering),
    ``"drop_after"`` (process and count the request, then close without answering), ``"401"``
    (expired token), ``"403"`` (missing scope), ``"not_json"`` (200 with an HTML page).
    """

    kind: FaultKind
    count: int = 1
    path: str = "/"
    method: str | None = None
    retry_after: float | None = None
    delay: float = 0.0
    policy: str = "TEN_SECONDLY_ROLLING"

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {sorted(FAULT_KINDS)}")
        if self.count < 1:
            raise ValueError(f"fault count must be >= 1, not {self.count}")


class FaultQueue:
    def __init__(self) -> None:
        self._rules: list[list[Any]] = []  # [fault, remaining]
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._rules.append([fault, fault.count])

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pending(self) -> list[tuple[Fault, int]]:
        with self._lock:
            return [(f, n) for f, n in self._rules]

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for rule in self._rules:
                fault: Fault = rule[0]
                if path.startswith(fault.path) and (
                    fault.method is None or fault.method.upper() == method
                ):
                    rule[1] -= 1
                    if rule[1] <= 0:
                        self._rules.remove(rule)
                    return fault
        return None


def correlation_id() -> str:
    return str(uuid.uuid4())


def error(message: str, category: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "error", "message": message,
                            "correlationId": correlation_id()}
    body.update(extra)
    if category is not None:
        body["category"] = category
    return body


def missing_scope(scope: str) -> dict[str, Any]:
    return error(
        SCOPES_MESSAGE, "MISSING_SCOPES",
        errors=[{"message": "One or more of the following scopes are required.",
                 "context": {"requiredGranularScopes": [scope]}}],
    )


def rate_limited(policy: str) -> dict[str, Any]:
    return {
        "status": "error",
        "message": f"You have reached your {policy.lower()} limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": policy,
    }


def expired_token() -> dict[str, Any]:
    return error(AUTH_EXPIRED, "EXPIRED_AUTHENTICATION")


def html_error(status: int, reason: str) -> bytes:
    return (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>"
        f"{status} {reason}</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n"
        "</html>\r\n"
    ).encode()


class RollingWindow:
    """At most ``limit`` requests in any ``seconds``-long window (monotonic clock)."""

    def __init__(self, limit: int, seconds: float) -> None:
        if limit < 1 or seconds <= 0:
            raise ValueError(f"a rate limit needs limit >= 1 and seconds > 0: {limit}/{seconds}")
        self.limit = limit
        self.seconds = seconds
        self._hits: deque[float] = deque()

    def _expire(self, now: float) -> None:
        hits, edge = self._hits, now - self.seconds
        while hits and hits[0] <= edge:
            hits.popleft()

    def acquire(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self._expire(now)
        if len(self._hits) >= self.limit:
            return False
        self._hits.append(now)
        return True

    def remaining(self, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        self._expire(now)
        return max(0, self.limit - len(self._hits))

    def retry_after(self, now: float | None = None) -> int:
        """Whole seconds until a slot frees up (at least 1)."""
        now = time.monotonic() if now is None else now
        self._expire(now)
        if not self._hits:
            return 1
        return max(1, math.ceil(self._hits[0] + self.seconds - now))
