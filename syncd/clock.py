"""Time, injected: every piece of logic takes ``now``; only the entry points read the clock.

``--now`` or ``SYNCD_NOW`` freezes it (tests, demos, replays): ``2026-11-23T07:30``
(interpreted in the configured time zone when it has no offset) or ``2026-11-23T06:30:00Z``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo

from syncd.errors import SyncdError

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def parse_now(text: str, tz: tzinfo = UTC) -> datetime:
    """An ISO-8601 instant; a value without an offset is taken in ``tz``."""
    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise SyncdError(
            f"--now/SYNCD_NOW: {raw!r} is not an ISO-8601 date-time; write it like "
            "2026-11-23T07:30 or 2026-11-23T06:30:00Z"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


def make_clock(frozen: str | None, tz: tzinfo = UTC) -> Clock:
    """The system clock, or a frozen one when ``frozen`` is given."""
    if not frozen:
        return system_clock
    instant = parse_now(frozen, tz)
    return lambda: instant
