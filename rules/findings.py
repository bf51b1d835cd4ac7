"""Findings: what the rules report, and how stale data mutes them.

A :class:`Finding` is a condition that holds at an instant: its kind, its subject (a KR id or
a rule id), a severity, an English reason built from its fields, the numbers involved, the
data source it rests on, and a **fingerprint**. The fingerprint is the sha256 of the sorted
identifying labels (kind, subject, metric, source; JSON-encoded, first 16 hex digits), never
of the values or the severity: the same condition keeps the same fingerprint while its numbers
move or it escalates, so the alert lifecycle in ``syncd/`` posts it once, repeats it, and
resolves it.

Stale data mutes: :func:`mute_stale` marks the findings resting on a stale source as muted,
with the reason and the stale finding's fingerprint, instead of dropping them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from rules.periods import Instant


class FindingKind(StrEnum):
    BEHIND_PACE = "behind_pace"
    PROJECTED_MISS = "projected_miss"
    CHANGE = "change"
    THRESHOLD = "threshold"
    STALE_DATA = "stale_data"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Finding:
    """A condition that holds at ``at``. ``muted_reason`` is set when stale data mutes it."""

    kind: FindingKind
    subject: str
    severity: Severity
    reason: str
    at: Instant
    labels: tuple[tuple[str, str], ...]
    numbers: tuple[tuple[str, float], ...]
    fingerprint: str
    source: str | None = None
    muted_reason: str | None = None
    muted_by: str | None = None

    @property
    def muted(self) -> bool:
        return self.muted_reason is not None

    def number(self, name: str) -> float:
        for key, value in self.numbers:
            if key == name:
                return value
        raise KeyError(name)

    def label(self, name: str) -> str:
        return dict(self.labels)[name]


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable id of a condition: sha256 of its sorted labels (JSON), 16 hex digits."""
    canonical = json.dumps(sorted(labels.items()), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def make_finding(
    kind: FindingKind,
    subject: str,
    severity: Severity,
    reason: str,
    at: Instant,
    labels: Mapping[str, str],
    numbers: Mapping[str, float],
    source: str | None,
) -> Finding:
    every = {"kind": kind.value, "subject": subject, **labels}
    if source is not None:
        every["source"] = source
    return Finding(
        kind=kind,
        subject=subject,
        severity=severity,
        reason=reason,
        at=at,
        labels=tuple(sorted(every.items())),
        numbers=tuple(numbers.items()),
        fingerprint=fingerprint(every),
        source=source,
    )


def mute_stale(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """The findings, in order, with those resting on stale data marked muted.

    A finding is muted by a stale-data finding of its source; a finding without a source
    is muted by any stale-data finding (its data may come from any of them). Stale-data
    findings themselves are never muted.
    """
    every = tuple(findings)
    stale = [f for f in every if f.kind is FindingKind.STALE_DATA]
    if not stale:
        return every
    result = []
    for finding in every:
        cause = None
        if finding.kind is not FindingKind.STALE_DATA:
            cause = next(
                (s for s in stale if finding.source is None or s.source == finding.source),
                None,
            )
        if cause is None:
            result.append(finding)
            continue
        result.append(
            dataclasses.replace(
                finding,
                muted_reason=f"muted because {cause.reason}; it may rest on old data",
                muted_by=cause.fingerprint,
            )
        )
    return tuple(result)
