"""The alert state machine per fingerprint (see :mod:`rules.alerts` for the whole picture).

:func:`step` moves one :class:`~rules.alerts_records.AlertMemory` by one evaluation;
:func:`evaluate_all` steps every fingerprint of an evaluation, known or new. Pure: ``now`` is
a parameter, nothing is read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from rules.alerts_records import (
    AlertMemory,
    AlertPolicy,
    AlertState,
    FindingSnapshot,
    Transition,
    evaluations,
    span,
    utc,
)
from rules.errors import RulesError
from rules.findings import Finding, FindingKind

# --------------------------------------------------------------------------- groups


def default_group(finding: Finding) -> str:
    """``kr:<kr_id>`` (behind pace, projected miss), ``rule:<rule_id>`` (change, threshold),
    ``stale:<source>`` (stale data)."""
    if finding.kind in (FindingKind.BEHIND_PACE, FindingKind.PROJECTED_MISS):
        return f"kr:{finding.subject}"
    if finding.kind is FindingKind.STALE_DATA:
        return f"stale:{finding.source or finding.subject}"
    return f"rule:{finding.subject}"


# --------------------------------------------------------------------------- one step


def step(
    memory: AlertMemory | None,
    finding: Finding | None,
    now: datetime,
    policy: AlertPolicy,
    *,
    inhibited: bool = False,
    group: str | None = None,
) -> tuple[AlertMemory | None, Transition | None]:
    """One evaluation of one fingerprint: its next memory and the transition, if any.

    ``finding`` is the condition at ``now`` (None: absent). ``inhibited`` freezes the state
    (stale source or muted finding): no transition, counters unchanged, the memory records
    the reason. ``group`` names the group of a new alert (default :func:`default_group`); an
    existing alert keeps its group. The same memory object comes back when nothing changed.
    """
    now = utc(now)
    if finding is not None and memory is not None and finding.fingerprint != memory.fingerprint:
        raise RulesError(
            f"alerts: finding {finding.fingerprint} stepped against the memory of "
            f"{memory.fingerprint}; pass each fingerprint its own memory"
        )
    if memory is not None and now < memory.since:
        raise RulesError(
            f"alerts: evaluation at {now.isoformat()} is earlier than {memory.fingerprint}'s "
            f"last change at {memory.since.isoformat()}; evaluations must move forward in time"
        )
    if memory is None:
        if finding is None or inhibited:
            return None, None
        memory = AlertMemory(
            finding.fingerprint, group or default_group(finding), AlertState.NORMAL, now
        )
    if inhibited:
        reason = (
            finding.muted_reason
            if finding is not None and finding.muted_reason
            else "inhibited: its data source is stale"
        )
        if memory.inhibited and memory.inhibited_reason == reason:
            return memory, None
        return dataclasses.replace(memory, inhibited=True, inhibited_reason=reason), None
    if memory.inhibited:
        memory = dataclasses.replace(memory, inhibited=False, inhibited_reason=None)
    if finding is not None:
        return _present(memory, finding, now, policy)
    return _absent(memory, now, policy)


def _transition(
    before: AlertMemory, after: AlertMemory, now: datetime, reason: str
) -> Transition:
    return Transition(
        after.fingerprint, after.group, before.state, after.state, now, reason, after.episode
    )


def _present(
    memory: AlertMemory, finding: Finding, now: datetime, policy: AlertPolicy
) -> tuple[AlertMemory, Transition | None]:
    snapshot = FindingSnapshot.of(finding)
    state = memory.state
    if state is AlertState.FIRING:
        return dataclasses.replace(
            memory, present_count=memory.present_count + 1, absent_count=0, last_finding=snapshot
        ), None
    if state is AlertState.RECOVERING:
        after = dataclasses.replace(
            memory,
            state=AlertState.FIRING,
            since=now,
            present_count=1,
            absent_count=0,
            last_finding=snapshot,
        )
        reason = (
            f"{finding.reason}; back after {evaluations(memory.absent_count)} clear, "
            f"still episode {memory.episode}"
        )
        return after, _transition(memory, after, now, reason)
    # normal, resolved or pending: count towards firing
    pending = state is AlertState.PENDING
    count = memory.present_count + 1 if pending else 1
    first = memory.first_seen if pending and memory.first_seen is not None else now
    held = now - first
    if count >= policy.pending_evaluations and held >= policy.pending_for:
        after = dataclasses.replace(
            memory,
            state=AlertState.FIRING,
            since=now,
            episode=memory.episode + 1,
            present_count=count,
            absent_count=0,
            first_seen=first,
            fired_at=now,
            resolved_at=None,
            last_finding=snapshot,
        )
        over = f" over {span(held)}" if held else ""
        reason = f"{finding.reason}; fired after {evaluations(count)}{over}"
        return after, _transition(memory, after, now, reason)
    after = dataclasses.replace(
        memory,
        state=AlertState.PENDING,
        since=memory.since if pending else now,
        present_count=count,
        absent_count=0,
        first_seen=first,
        last_finding=snapshot,
    )
    if pending:
        return after, None
    needs = [evaluations(policy.pending_evaluations)]
    if policy.pending_for:
        needs.append(f"{span(policy.pending_for)} held")
    reason = f"{finding.reason}; pending, fires after {' and '.join(needs)}"
    return after, _transition(memory, after, now, reason)


def _absent(
    memory: AlertMemory, now: datetime, policy: AlertPolicy
) -> tuple[AlertMemory, Transition | None]:
    state = memory.state
    if state in (AlertState.NORMAL, AlertState.RESOLVED):
        return memory, None
    if state is AlertState.PENDING:
        after = dataclasses.replace(
            memory,
            state=AlertState.RESOLVED if memory.episode else AlertState.NORMAL,
            since=now,
            present_count=0,
            absent_count=1,
            first_seen=None,
        )
        reason = (
            f"condition cleared after {evaluations(memory.present_count)} pending, "
            "before firing"
        )
        return after, _transition(memory, after, now, reason)
    recovering = state is AlertState.RECOVERING
    count = memory.absent_count + 1 if recovering else 1
    cleared_since = memory.since if recovering else now
    held = now - cleared_since
    if count >= policy.recover_evaluations and held >= policy.recover_for:
        after = dataclasses.replace(
            memory,
            state=AlertState.RESOLVED,
            since=now,
            present_count=0,
            absent_count=count,
            first_seen=None,
            resolved_at=now,
        )
        over = f" over {span(held)}" if held else ""
        reason = f"condition cleared for {evaluations(count)}{over}, resolved"
        return after, _transition(memory, after, now, reason)
    after = dataclasses.replace(
        memory, state=AlertState.RECOVERING, since=cleared_since, present_count=0,
        absent_count=count,
    )
    if recovering:
        return after, None
    needs = [evaluations(policy.recover_evaluations)]
    if policy.recover_for:
        needs.append(f"{span(policy.recover_for)} clear")
    reason = f"condition cleared, recovering: resolves after {' and '.join(needs)}"
    return after, _transition(memory, after, now, reason)


# --------------------------------------------------------------------------- all at once


def evaluate_all(
    memories: Mapping[str, AlertMemory],
    findings: Iterable[Finding],
    now: datetime,
    policy: AlertPolicy,
    *,
    group_of: Callable[[Finding], str] = default_group,
    policy_of: Callable[[str], AlertPolicy] | None = None,
) -> tuple[dict[str, AlertMemory], list[Transition]]:
    """Step every fingerprint, known (``memories``, by fingerprint) or new (``findings``).

    A muted finding is inhibited. An alert whose finding is absent is inhibited when a
    stale-data finding of this evaluation covers its last finding's source (the rule of
    :func:`rules.findings.mute_stale`): no data is not "resolved". Returns every memory
    (unchanged ones included) and the transitions, ordered by group then fingerprint.
    ``policy_of`` gives a group its own policy (an alert rule's ``for``), else ``policy``.
    """
    now = utc(now)
    by_fingerprint: dict[str, Finding] = {}
    for finding in findings:
        if finding.fingerprint in by_fingerprint:
            raise RulesError(
                f"alerts: two findings share the fingerprint {finding.fingerprint} "
                f"({finding.kind.value} {finding.subject}); report each condition once"
            )
        by_fingerprint[finding.fingerprint] = finding
    stale = {
        f.source
        for f in by_fingerprint.values()
        if f.kind is FindingKind.STALE_DATA and not f.muted
    }
    result: dict[str, AlertMemory] = {}
    transitions: list[Transition] = []
    for fp in sorted(set(memories) | set(by_fingerprint)):
        memory = memories.get(fp)
        if memory is not None and memory.fingerprint != fp:
            raise RulesError(f"alerts: memory of {memory.fingerprint} is stored under {fp}")
        present = by_fingerprint.get(fp)
        if present is not None:
            inhibited = present.muted
        else:
            inhibited = memory is not None and _covered_by_stale(memory, stale)
        group = group_of(present) if present is not None and memory is None else None
        own = policy
        if policy_of is not None:
            own = policy_of(memory.group if memory is not None else group or "")
        after, transition = step(memory, present, now, own, inhibited=inhibited, group=group)
        if after is not None:
            result[fp] = after
        if transition is not None:
            transitions.append(transition)
    transitions.sort(key=lambda t: (t.group, t.fingerprint))
    return result, transitions


def _covered_by_stale(memory: AlertMemory, stale: set[str | None]) -> bool:
    last = memory.last_finding
    if not stale or last is None or last.kind is FindingKind.STALE_DATA:
        return False
    return last.source is None or last.source in stale
