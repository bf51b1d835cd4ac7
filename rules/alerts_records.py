"""The alerts' records: states, policy, memory, transitions, and their JSON form.

See :mod:`rules.alerts` for the whole picture. Every record is frozen; those the store keeps
(:class:`AlertMemory` with its :class:`FindingSnapshot`) have ``to_dict`` / ``from_dict``
giving plain JSON types (ISO 8601 datetimes in UTC, enum values, lists).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from rules.errors import InvalidRule, RulesError
from rules.findings import Finding, FindingKind, Severity


class AlertState(StrEnum):
    NORMAL = "normal"
    PENDING = "pending"
    FIRING = "firing"
    RECOVERING = "recovering"
    RESOLVED = "resolved"


#: The states in which an alert counts as firing for notifications (recovering: not yet resolved).
ACTIVE_STATES = frozenset({AlertState.FIRING, AlertState.RECOVERING})

_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


def severity_rank(severity: Severity) -> int:
    """0 for info, 1 for warning, 2 for critical: escalation is a higher rank."""
    return _SEVERITY_RANK[severity]


def utc(instant: datetime, name: str = "now") -> datetime:
    """``instant`` in UTC; a naive datetime (or anything else) is refused."""
    if not isinstance(instant, datetime) or instant.utcoffset() is None:
        raise RulesError(
            f"alerts: {name} must be an aware datetime (e.g. datetime.now(UTC)), not {instant!r}"
        )
    return instant.astimezone(UTC)


def span(delta: timedelta) -> str:
    """A duration in words for reasons: ``45 min``, ``2 h``, ``1.5 h``, ``3.0 days``."""
    minutes = delta / timedelta(minutes=1)
    if minutes < 60:
        return f"{minutes:.0f} min"
    hours = minutes / 60
    if hours < 48:
        return f"{round(hours, 1):g} h"
    return f"{hours / 24:.1f} days"


def evaluations(count: int) -> str:
    return f"{count} evaluation{'' if count == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """When a finding fires and when its absence resolves it; both conditions of a pair hold.

    ``pending_evaluations`` consecutive evaluations with the finding, held for at least
    ``pending_for``, fire it (1 and 0: at the first evaluation). ``recover_evaluations``
    consecutive evaluations without it, clear for at least ``recover_for``, resolve it.
    """

    pending_evaluations: int = 1
    pending_for: timedelta = timedelta(0)
    recover_evaluations: int = 1
    recover_for: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        for name in ("pending_evaluations", "recover_evaluations"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidRule(
                    f"alert policy: {name} must be a whole number >= 1, not {value!r}"
                )
        for name in ("pending_for", "recover_for"):
            value = getattr(self, name)
            if not isinstance(value, timedelta) or value < timedelta(0):
                raise InvalidRule(f"alert policy: {name} must be a duration >= 0, like 1h")


@dataclass(frozen=True, slots=True)
class FindingSnapshot:
    """What an alert remembers of its last finding: enough to render a resolved notice."""

    kind: FindingKind
    subject: str
    severity: Severity
    reason: str
    labels: tuple[tuple[str, str], ...] = ()
    numbers: tuple[tuple[str, float], ...] = ()
    source: str | None = None

    @classmethod
    def of(cls, finding: Finding) -> FindingSnapshot:
        return cls(
            kind=finding.kind,
            subject=finding.subject,
            severity=finding.severity,
            reason=finding.reason,
            labels=finding.labels,
            numbers=finding.numbers,
            source=finding.source,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "subject": self.subject,
            "severity": self.severity.value,
            "reason": self.reason,
            "labels": [list(pair) for pair in self.labels],
            "numbers": [list(pair) for pair in self.numbers],
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FindingSnapshot:
        with decoding("finding snapshot"):
            return cls(
                kind=FindingKind(data["kind"]),
                subject=str(data["subject"]),
                severity=Severity(data["severity"]),
                reason=str(data["reason"]),
                labels=tuple((str(k), str(v)) for k, v in data.get("labels", ())),
                numbers=tuple((str(k), float(v)) for k, v in data.get("numbers", ())),
                source=data.get("source"),
            )


@dataclass(frozen=True, slots=True)
class AlertMemory:
    """What the store keeps per fingerprint between evaluations.

    ``since``: when the alert entered ``state``. ``episode``: +1 each time it starts firing
    (0 before any). ``present_count`` / ``absent_count``: consecutive evaluations with /
    without the finding. ``first_seen``: start of the current pending/firing streak (kept
    while recovering). ``fired_at`` / ``resolved_at``: of the current or last episode.
    ``inhibited``: its state is frozen (stale source or muted finding), with the reason.
    """

    fingerprint: str
    group: str
    state: AlertState
    since: datetime
    episode: int = 0
    present_count: int = 0
    absent_count: int = 0
    first_seen: datetime | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    last_finding: FindingSnapshot | None = None
    inhibited: bool = False
    inhibited_reason: str | None = None

    @property
    def active(self) -> bool:
        """Firing or recovering: announced as firing, not resolved yet."""
        return self.state in ACTIVE_STATES

    @property
    def severity(self) -> Severity | None:
        return None if self.last_finding is None else self.last_finding.severity

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "group": self.group,
            "state": self.state.value,
            "since": self.since.isoformat(),
            "episode": self.episode,
            "present_count": self.present_count,
            "absent_count": self.absent_count,
            "first_seen": _iso(self.first_seen),
            "fired_at": _iso(self.fired_at),
            "resolved_at": _iso(self.resolved_at),
            "last_finding": None if self.last_finding is None else self.last_finding.to_dict(),
            "inhibited": self.inhibited,
            "inhibited_reason": self.inhibited_reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertMemory:
        with decoding("alert memory"):
            last = data.get("last_finding")
            return cls(
                fingerprint=str(data["fingerprint"]),
                group=str(data["group"]),
                state=AlertState(data["state"]),
                since=parse_instant(data["since"], "since"),
                episode=int(data.get("episode", 0)),
                present_count=int(data.get("present_count", 0)),
                absent_count=int(data.get("absent_count", 0)),
                first_seen=parse_optional(data.get("first_seen"), "first_seen"),
                fired_at=parse_optional(data.get("fired_at"), "fired_at"),
                resolved_at=parse_optional(data.get("resolved_at"), "resolved_at"),
                last_finding=None if last is None else FindingSnapshot.from_dict(last),
                inhibited=bool(data.get("inhibited", False)),
                inhibited_reason=data.get("inhibited_reason"),
            )


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change of one alert: a line of the audit trail users list."""

    fingerprint: str
    group: str
    from_state: AlertState
    to_state: AlertState
    at: datetime
    reason: str
    episode: int


def _iso(instant: datetime | None) -> str | None:
    return None if instant is None else instant.isoformat()


def parse_instant(text: object, name: str) -> datetime:
    if not isinstance(text, str):
        raise RulesError(f"{name} must be an ISO 8601 string, not {text!r}")
    return utc(datetime.fromisoformat(text), name)


def parse_optional(text: object, name: str) -> datetime | None:
    return None if text is None else parse_instant(text, name)


@contextmanager
def decoding(what: str) -> Iterator[None]:
    """Turn a malformed stored record into one RulesError that names what was being read."""
    try:
        yield
    except RulesError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        detail = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
        raise RulesError(f"stored {what} is malformed: {detail}") from exc
