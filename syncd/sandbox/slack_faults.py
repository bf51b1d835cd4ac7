"""Injected faults and the per-channel rate limit of the Slack sandbox.

Faults are FIFO rules: the first rule whose ``method`` matches a request (None matches every
request; Web API methods are named like ``chat.postMessage``, the incoming webhook
``webhook`` and the file upload URL ``upload``) takes it, and is spent after ``count``
requests. They act before authentication, as Slack's edge or a failing backend would, except
``accept_drop``, which lets the request through and then loses the answer.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

SlackFaultKind = Literal["429", "500", "503", "error", "drop", "accept_drop", "accept_hang",
                         "slow"]
FAULT_KINDS: frozenset[str] = frozenset(SlackFaultKind.__args__)  # type: ignore[attr-defined]

#: The ``error`` Slack puts in the JSON body of each status the sandbox can inject.
STATUS_ERRORS = {429: "ratelimited", 500: "fatal_error", 503: "service_unavailable"}


@dataclass(frozen=True, slots=True)
class SlackFault:
    """One injected failure.

    kinds: ``"429"`` (``Retry-After: retry_after`` and ``{"ok": false, "error":
    "ratelimited"}``; nothing is processed), ``"500"``/``"503"`` (Slack's JSON error body;
    nothing is processed), ``"error"`` (HTTP 200 with ``{"ok": false, "error": error}``, e.g.
    ``account_inactive`` or ``msg_too_long``; nothing is processed), ``"drop"`` (the connection
    is closed without an answer and nothing is processed, like a proxy dying), ``"accept_drop"``
    (the request IS processed and recorded, then the connection is closed without an answer),
    ``"accept_hang"`` (the request IS processed and recorded, then the answer waits ``delay``
    seconds: a client killed meanwhile never learns it was posted), ``"slow"`` (answer
    normally). ``delay`` seconds are slept first, whatever the kind (``accept_hang``: after).
    """

    kind: SlackFaultKind
    count: int = 1
    method: str | None = None
    retry_after: int = 1
    delay: float = 0.0
    error: str = "internal_error"

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {sorted(FAULT_KINDS)}")
        if self.count < 1:
            raise ValueError(f"fault count must be >= 1, not {self.count}")
        if self.retry_after < 0 or self.delay < 0:
            raise ValueError("retry_after and delay are seconds >= 0")


class SlackFaultQueue:
    """Thread-safe FIFO of fault rules."""

    def __init__(self) -> None:
        self._rules: list[tuple[SlackFault, list[int]]] = []  # (fault, [remaining])
        self._lock = threading.Lock()

    def add(self, fault: SlackFault) -> None:
        with self._lock:
            self._rules.append((fault, [fault.count]))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pending(self) -> list[tuple[SlackFault, int]]:
        with self._lock:
            return [(f, n[0]) for f, n in self._rules]

    def take(self, method: str) -> SlackFault | None:
        with self._lock:
            for rule in self._rules:
                fault, remaining = rule
                if fault.method is None or fault.method == method:
                    remaining[0] -= 1
                    if remaining[0] <= 0:
                        self._rules.remove(rule)
                    return fault
        return None


class ChannelRateLimit:
    """At most one message per ``interval`` seconds per channel, on the sandbox's clock.

    On the sandbox clock (not the wall clock) so a test whose client "sleeps" by advancing that
    clock sees the limit lift exactly when Slack's would.
    """

    def __init__(self, interval: float) -> None:
        if interval <= 0:
            raise ValueError(f"a channel rate limit needs an interval > 0, not {interval}")
        self.interval = interval
        self._last: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def acquire(self, channel_id: str, now: datetime) -> int | None:
        """None when a message may go to the channel now (it is then counted), else the
        whole seconds to wait (at least 1), for a ``Retry-After`` header."""
        with self._lock:
            last = self._last.get(channel_id)
            if last is not None:
                elapsed = (now - last).total_seconds()
                if elapsed < self.interval:
                    return max(1, math.ceil(self.interval - elapsed))
            self._last[channel_id] = now
        return None
