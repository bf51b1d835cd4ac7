"""Silences and the notification decision per group (see :mod:`rules.alerts`).

:func:`decide` is Alertmanager's dedup stage (``needsUpdate``) for one group: from the group's
:class:`NotifyLog` (what was last announced), the alerts' memories, the silences and ``now``,
it returns the :class:`Notice` to queue, if any, and the log to persist with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from rules.alerts_records import (
    AlertMemory,
    decoding,
    parse_optional,
    severity_rank,
    utc,
)
from rules.errors import InvalidRule, RulesError
from rules.findings import Severity

# --------------------------------------------------------------------------- silences


@dataclass(frozen=True, slots=True)
class Silence:
    """A snooze from ``starts_at`` (included) to ``ends_at`` (excluded).

    It matches a fingerprint, a group, or both (both must then match); one without either
    would silence everything and is refused. Deleting a silence means ending it now.
    """

    id: str
    fingerprint: str | None
    group: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str | None = None
    created_by: str | None = None

    def __post_init__(self) -> None:
        utc(self.starts_at, f"silence {self.id}: starts_at")
        utc(self.ends_at, f"silence {self.id}: ends_at")
        if self.fingerprint is None and self.group is None:
            raise InvalidRule(
                f"silence {self.id}: give a fingerprint or a group to silence, not neither"
            )
        if self.ends_at <= self.starts_at:
            raise InvalidRule(
                f"silence {self.id}: ends_at ({self.ends_at.isoformat()}) must come after "
                f"starts_at ({self.starts_at.isoformat()})"
            )

    def matches(self, fingerprint: str, group: str) -> bool:
        return (self.fingerprint is None or self.fingerprint == fingerprint) and (
            self.group is None or self.group == group
        )


def active(silence: Silence, now: datetime) -> bool:
    """Whether ``silence`` is in force at ``now`` (start included, end excluded)."""
    now = utc(now)
    return silence.starts_at <= now < silence.ends_at


def silenced_by(
    fingerprint: str, group: str, silences: Iterable[Silence], now: datetime
) -> Silence | None:
    """The active silence matching the alert, the one ending last if several; else None."""
    now = utc(now)
    matching = [s for s in silences if active(s, now) and s.matches(fingerprint, group)]
    return max(matching, key=lambda s: (s.ends_at, s.id), default=None)


# --------------------------------------------------------------------------- the log


@dataclass(frozen=True, slots=True)
class NotifyLog:
    """What was last announced for a group; the store keeps it, one per group.

    ``episode``: the group's notice episode (+1 at each ``firing`` notice). ``firing`` /
    ``resolved``: fingerprints last announced firing / resolved. ``severities``: the severity
    last announced per firing fingerprint (sorted pairs). ``sent_count``: notices queued for
    the group over its whole life (the ``seq`` of dedup keys; never reset).
    """

    group: str
    episode: int = 0
    firing: frozenset[str] = frozenset()
    resolved: frozenset[str] = frozenset()
    last_sent_at: datetime | None = None
    sent_count: int = 0
    severities: tuple[tuple[str, Severity], ...] = ()

    def severity_of(self, fingerprint: str) -> Severity | None:
        return dict(self.severities).get(fingerprint)

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "episode": self.episode,
            "firing": sorted(self.firing),
            "resolved": sorted(self.resolved),
            "last_sent_at": None if self.last_sent_at is None else self.last_sent_at.isoformat(),
            "sent_count": self.sent_count,
            "severities": {fp: severity.value for fp, severity in self.severities},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NotifyLog:
        with decoding("notification log"):
            return cls(
                group=str(data["group"]),
                episode=int(data.get("episode", 0)),
                firing=frozenset(str(fp) for fp in data.get("firing", ())),
                resolved=frozenset(str(fp) for fp in data.get("resolved", ())),
                last_sent_at=parse_optional(data.get("last_sent_at"), "last_sent_at"),
                sent_count=int(data.get("sent_count", 0)),
                severities=_severities(
                    (str(fp), Severity(value)) for fp, value in data.get("severities", {}).items()
                ),
            )


def _severities(pairs: Iterable[tuple[str, Severity]]) -> tuple[tuple[str, Severity], ...]:
    return tuple(sorted(pairs))


# --------------------------------------------------------------------------- notices


class NoticeKind(StrEnum):
    FIRING = "firing"  # first notice of a group episode
    UPDATE = "update"  # new fingerprints, an escalation, or a partial resolution
    REPEAT = "repeat"  # nothing changed, repeat_every elapsed
    RESOLVED = "resolved"  # everything announced has resolved (send_resolved)


@dataclass(frozen=True, slots=True)
class Notice:
    """A message to queue for a group. ``firing``: every fingerprint firing now (silenced and
    inhibited ones left out); ``new``: announced for the first time in this group episode (or
    again after a silence); ``resolved``: announced firing before, resolved now;
    ``escalated``: firing before, at a higher severity now."""

    group: str
    kind: NoticeKind
    episode: int
    firing: tuple[str, ...]
    new: tuple[str, ...]
    resolved: tuple[str, ...]
    seq: int
    dedup_key: str
    escalated: tuple[str, ...] = ()


def dedup_key(group: str, episode: int, kind: NoticeKind, seq: int) -> str:
    """``alert:<group>:<episode>:<kind>:<seq>``: the same decision gives the same key."""
    return f"alert:{group}:{episode}:{kind.value}:{seq}"


@dataclass(frozen=True, slots=True)
class Decision:
    """The notice to queue (None: nothing to send) and the log to persist with it (None: no
    log yet and none needed). Persist the log in the transaction that queues the notice."""

    notice: Notice | None
    log: NotifyLog | None


def decide(
    group: str,
    log: NotifyLog | None,
    memories: Iterable[AlertMemory],
    silences: Iterable[Silence],
    now: datetime,
    *,
    repeat_every: timedelta,
    send_resolved: bool,
) -> Decision:
    """Whether ``group`` needs a notice at ``now``, and its log afterwards.

    ``memories``: every alert of the group (an announced fingerprint without a memory counts
    as resolved). Order: inhibited alerts are frozen (left in the log as they were, neither
    new nor resolved), silenced ones are dropped from the log (so they count as new when the
    silence ends while they still fire, and nothing is said if they resolved meanwhile), then
    the dedup rules of :mod:`rules.alerts` pick the notice.
    """
    now = utc(now)
    if repeat_every <= timedelta(0):
        raise InvalidRule(f"alerts of {group}: repeat_every must be positive, like 4h")
    if log is not None and log.group != group:
        raise RulesError(f"alerts: the log of {log.group} was passed to decide {group}")
    silence_list = tuple(silences)
    by_fp: dict[str, AlertMemory] = {}
    for memory in memories:
        if memory.group != group:
            raise RulesError(
                f"alerts: {memory.fingerprint} belongs to {memory.group}, not {group}; "
                "pass decide the memories of its group only"
            )
        by_fp[memory.fingerprint] = memory
    prior = log if log is not None else NotifyLog(group)

    silenced = {fp for fp in by_fp if silenced_by(fp, group, silence_list, now) is not None}
    silenced |= {fp for fp in prior.firing if silenced_by(fp, group, silence_list, now)}
    frozen = {fp for fp, m in by_fp.items() if m.inhibited and fp not in silenced}
    firing = {
        fp for fp, m in by_fp.items() if m.active and fp not in silenced and fp not in frozen
    }
    announced = prior.firing - silenced
    last = {fp: sev for fp, sev in prior.severities if fp in announced}
    new = firing - announced
    resolved = announced - firing - frozen
    escalated = {
        fp for fp in firing & announced if fp in last and _rank(by_fp[fp]) > severity_rank(last[fp])
    }
    keep = firing | (announced & frozen)

    kind: NoticeKind | None = None
    if new and not announced:
        kind = NoticeKind.FIRING
    elif new or escalated or (resolved and keep and send_resolved):
        kind = NoticeKind.UPDATE
    elif resolved and not keep:
        kind = NoticeKind.RESOLVED if send_resolved else None
    elif (
        firing
        and prior.last_sent_at is not None
        and now - prior.last_sent_at >= repeat_every
    ):
        kind = NoticeKind.REPEAT

    if kind is None:
        quiet = NotifyLog(
            group,
            prior.episode,
            frozenset(keep),
            prior.resolved - silenced,
            prior.last_sent_at,
            prior.sent_count,
            _severities((fp, sev) for fp, sev in last.items() if fp in keep),
        )
        if log is None and quiet == prior:
            return Decision(None, None)
        return Decision(None, log if quiet == log else quiet)

    episode = prior.episode + 1 if kind is NoticeKind.FIRING else prior.episode
    seq = prior.sent_count + 1
    told_resolved = frozenset(resolved) if send_resolved else frozenset()
    severities = {fp: sev for fp, sev in last.items() if fp in announced & frozen}
    severities.update({fp: _severity(by_fp[fp]) for fp in firing})
    notice = Notice(
        group=group,
        kind=kind,
        episode=episode,
        firing=tuple(sorted(firing)),
        new=tuple(sorted(new)),
        resolved=tuple(sorted(told_resolved)),
        seq=seq,
        dedup_key=dedup_key(group, episode, kind, seq),
        escalated=tuple(sorted(escalated)),
    )
    after = NotifyLog(
        group,
        episode,
        frozenset(keep),
        told_resolved,
        now,
        seq,
        _severities(severities.items()),
    )
    return Decision(notice, after)


def _severity(memory: AlertMemory) -> Severity:
    return memory.severity or Severity.WARNING


def _rank(memory: AlertMemory) -> int:
    return severity_rank(_severity(memory))
