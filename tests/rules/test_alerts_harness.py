"""A driver for the alert tables: evaluations at injected instants, then each group's decision.

Findings are named by one letter; a spec like ``"A B! C~"`` means A present (warning), B
present (critical), C present but muted. Every evaluation yields the events it caused, as
short strings, so a table row lists **all** of them and any extra notice fails the row:

- ``"A normal>firing"``: a transition of A;
- ``"notice:firing A"``, ``"notice:update A,B +B"``, ``"notice:update A ^A"`` (escalated),
  ``"notice:update B -A"``, ``"notice:repeat A"``, ``"notice:resolved -A"``.

(No tests here: the tables live in test_alerts.py and test_alerts_properties.py.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from rules.alerts import (
    AlertMemory,
    AlertPolicy,
    Notice,
    NoticeKind,
    NotifyLog,
    Silence,
    Transition,
    decide,
    evaluate_all,
)
from rules.findings import Finding, FindingKind, Severity, make_finding

T0 = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
SUBJECT = "pipeline-drop"
GROUP = f"rule:{SUBJECT}"


def at(hours: float) -> datetime:
    """The instant ``hours`` after T0 (Monday 5 October 2026, 08:00 UTC)."""
    return T0 + timedelta(hours=hours)


def finding(
    name: str,
    severity: Severity = Severity.WARNING,
    *,
    muted: bool = False,
    subject: str = SUBJECT,
    kind: FindingKind = FindingKind.CHANGE,
    source: str | None = "hubspot",
    now: datetime = T0,
) -> Finding:
    """The finding called ``name``: its fingerprint depends on the name, not the severity."""
    made = make_finding(
        kind,
        subject,
        severity,
        f"pipeline_value -28% over 7d ({name})",
        now,
        {"metric": "pipeline_value", "name": name},
        {"change": -0.28},
        source,
    )
    if muted:
        made = replace(made, muted_reason="muted because hubspot is stale", muted_by="stale")
    return made


def parse(spec: str) -> list[Finding]:
    """``"A B! C~"`` -> A (warning), B (critical), C (muted)."""
    found = []
    for token in spec.split():
        name = token.rstrip("!~")
        severity = Severity.CRITICAL if "!" in token else Severity.WARNING
        found.append(finding(name, severity, muted="~" in token))
    return found


NAMES = {finding(letter).fingerprint: letter for letter in "ABCDEFGH"}


def name(fp: str) -> str:
    return NAMES.get(fp, fp)


def show_transition(t: Transition) -> str:
    return f"{name(t.fingerprint)} {t.from_state}>{t.to_state}"


def names(fps: Iterable[str]) -> str:
    return ",".join(sorted(name(fp) for fp in fps))


def show_notice(n: Notice) -> str:
    parts = [f"notice:{n.kind}"]
    if n.firing:
        parts.append(names(n.firing))
    if n.new and n.kind is not NoticeKind.FIRING:
        parts.append("+" + names(n.new))
    if n.resolved:
        parts.append("-" + names(n.resolved))
    if n.escalated:
        parts.append("^" + names(n.escalated))
    return " ".join(parts)


@dataclass
class Driver:
    """The shell's loop in miniature: evaluate, then decide every group, persist both."""

    policy: AlertPolicy = field(default_factory=AlertPolicy)
    repeat_every: timedelta = timedelta(hours=4)
    send_resolved: bool = True
    silences: Sequence[Silence] = ()
    memories: dict[str, AlertMemory] = field(default_factory=dict)
    logs: dict[str, NotifyLog] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)

    def evaluate(self, now: datetime, findings: Iterable[Finding]) -> list[str]:
        self.memories, transitions = evaluate_all(self.memories, findings, now, self.policy)
        self.transitions.extend(transitions)
        events = sorted(show_transition(t) for t in transitions)
        for notice in self.decide_all(now):
            events.append(show_notice(notice))
        return events

    def decide_all(self, now: datetime) -> list[Notice]:
        groups = sorted({m.group for m in self.memories.values()} | set(self.logs))
        sent = []
        for group in groups:
            decision = decide(
                group,
                self.logs.get(group),
                [m for m in self.memories.values() if m.group == group],
                self.silences,
                now,
                repeat_every=self.repeat_every,
                send_resolved=self.send_resolved,
            )
            if decision.log is not None:
                self.logs[group] = decision.log
            if decision.notice is not None:
                sent.append(decision.notice)
        self.notices.extend(sent)
        return sent


def replay(
    rows: Sequence[tuple[float, str, Sequence[str]]], driver: Driver
) -> list[tuple[float, list[str], list[str]]]:
    """Each row (hours after T0, findings spec, expected events) -> (hours, got, expected),
    for the rows where they differ."""
    wrong = []
    for hours, spec, expected in rows:
        got = driver.evaluate(at(hours), parse(spec))
        if got != list(expected):
            wrong.append((hours, got, list(expected)))
    return wrong


def memories_by_name(memories: Mapping[str, AlertMemory]) -> dict[str, AlertMemory]:
    return {name(fp): memory for fp, memory in memories.items()}
