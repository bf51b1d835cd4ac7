"""The alert lifecycle's store side: an evaluation's findings in, alert states, audit trail
and queued messages out, all in ONE transaction.

:func:`apply` loads every alert's memory, steps them with :func:`rules.alerts.evaluate_all`,
records the transitions, then for each group asks :func:`rules.alerts.decide` whether a notice
is due (silences applied first) and queues the rendered message in the outbox with the
notice's deterministic dedup key. The group's log is written in the same transaction. A crash
before the commit leaves nothing (the next evaluation decides again, identically); after it,
everything is there and the sender delivers it. Two processes deciding the same notice queue
it once (the dedup key is unique).

Threads: a group's first notice (``firing``) starts a message; its later notices (``update``,
``repeat``, ``resolved``) reply in that message's thread, and a ``resolved`` notice also
queues an edit of the first message (it then says "resolved").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

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
from rules.findings import Finding
from syncd.notify import outbox
from syncd.notify.outbox import ChartFile, Outgoing
from syncd.store import tables as t

log = logging.getLogger("syncd.notify.lifecycle")


@dataclass(frozen=True, slots=True)
class Rendered:
    """A notice as a message, and for a ``resolved`` notice the first message's new look."""

    text: str
    blocks: Sequence[Mapping[str, Any]] | None = None
    files: tuple[ChartFile, ...] = ()
    edit_text: str | None = None
    edit_blocks: Sequence[Mapping[str, Any]] | None = None


#: Renders a notice of a group from its alerts' memories (by fingerprint) and the findings
#: of this evaluation (by fingerprint).
Renderer = Callable[[Notice, Mapping[str, AlertMemory], Mapping[str, Finding]], Rendered]


@dataclass(frozen=True, slots=True)
class Settings:
    policy: AlertPolicy
    repeat_every: Any  # timedelta
    send_resolved: bool
    channel: str | None
    #: group -> its own policy (an alert rule's ``for``), else ``policy``
    policies: Mapping[str, AlertPolicy] = field(default_factory=dict)


def settings_of(config: Any) -> Settings:
    """The lifecycle's settings from a :class:`~syncd.config.Config`."""
    alerts = config.alerts
    policy = AlertPolicy(pending_evaluations=alerts.pending.evaluations,
                         pending_for=alerts.pending.for_,
                         recover_evaluations=alerts.recovery.evaluations,
                         recover_for=alerts.recovery.for_)
    policies = {
        f"rule:{rule.id}": AlertPolicy(pending_evaluations=policy.pending_evaluations,
                                       pending_for=rule.for_,
                                       recover_evaluations=policy.recover_evaluations,
                                       recover_for=policy.recover_for)
        for rule in alerts.rules if rule.for_ is not None
    }
    slack = config.slack
    return Settings(policy=policy, repeat_every=alerts.repeat_every,
                    send_resolved=alerts.send_resolved,
                    channel=None if slack is None else slack.channel, policies=policies)


@dataclass
class Outcome:
    transitions: list[Transition] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    queued: list[int] = field(default_factory=list)  # outbox ids queued by this call
    memories: dict[str, AlertMemory] = field(default_factory=dict)


# --------------------------------------------------------------------------- reading


def load_memories(conn: sa.Connection) -> dict[str, AlertMemory]:
    return {
        row.fingerprint: AlertMemory.from_dict(row.memory)
        for row in conn.execute(sa.select(t.alert.c.fingerprint, t.alert.c.memory))
    }


def load_silences(conn: sa.Connection, now: datetime | None = None) -> list[Silence]:
    """Every silence (or those still running at ``now``)."""
    s = t.silence.c
    query = sa.select(t.silence)
    if now is not None:
        query = query.where(s.ends_at > now)
    return [
        Silence(id=r.id, fingerprint=r.fingerprint, group=r.grp, starts_at=r.starts_at,
                ends_at=r.ends_at, reason=r.reason, created_by=r.created_by)
        for r in conn.execute(query.order_by(s.starts_at, s.id))
    ]


def load_logs(conn: sa.Connection) -> dict[str, tuple[NotifyLog | None, int | None]]:
    return {
        row.grp: (None if row.log is None else NotifyLog.from_dict(row.log),
                  row.parent_outbox_id)
        for row in conn.execute(sa.select(t.alert_group))
    }


# --------------------------------------------------------------------------- writing


def _upsert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]],
            keys: Sequence[str]) -> None:
    if not rows:
        return
    insert = (postgresql.insert(table) if conn.dialect.name == "postgresql"
              else sqlite.insert(table))
    columns = [c for c in rows[0] if c not in keys]
    stmt = insert.on_conflict_do_update(
        index_elements=list(keys), set_={c: insert.excluded[c] for c in columns}
    )
    conn.execute(stmt, rows)


def _memory_row(memory: AlertMemory, now: datetime) -> dict[str, Any]:
    last = memory.last_finding
    return {
        "fingerprint": memory.fingerprint, "grp": memory.group, "state": memory.state.value,
        "kind": last.kind.value if last else "unknown",
        "subject": last.subject if last else memory.group,
        "severity": last.severity.value if last else None, "episode": memory.episode,
        "since": memory.since, "memory": memory.to_dict(), "updated_at": now,
    }


def apply(engine: sa.Engine, findings: Sequence[Finding], now: datetime, settings: Settings,
          *, render: Renderer | None, run_id: str | None = None) -> Outcome:
    """Step every alert with ``findings`` at ``now`` and queue the notices due (see the
    module docstring). ``render`` None: no Slack; states and the audit trail only, and no
    notice is decided, so alerts still firing when Slack is set up are announced then."""
    outcome = Outcome()
    by_fp = {f.fingerprint: f for f in findings}
    with engine.begin() as conn:
        before = load_memories(conn)
        memories, transitions = _step(before, findings, now, settings)
        outcome.memories, outcome.transitions = memories, transitions
        changed = [m for fp, m in memories.items() if before.get(fp) != m]
        _upsert(conn, t.alert, [_memory_row(m, now) for m in changed], ["fingerprint"])
        if transitions:
            conn.execute(t.alert_transition.insert(), [
                {"fingerprint": tr.fingerprint, "grp": tr.group,
                 "from_state": tr.from_state.value if tr.from_state else None,
                 "to_state": tr.to_state.value, "at": tr.at, "episode": tr.episode,
                 "reason": tr.reason, "run_id": run_id}
                for tr in transitions
            ])
        if render is None:  # no Slack: nothing is announced, so nothing is marked announced
            return _logged(outcome, transitions)
        logs = load_logs(conn)
        silences = load_silences(conn, now)
        groups: dict[str, dict[str, AlertMemory]] = {}
        for memory in memories.values():
            groups.setdefault(memory.group, {})[memory.fingerprint] = memory
        for group in sorted(set(groups) | set(logs)):
            old_log, parent = logs.get(group, (None, None))
            members = groups.get(group, {})
            decision = decide(group, old_log, members.values(), silences, now,
                              repeat_every=settings.repeat_every,
                              send_resolved=settings.send_resolved)
            if decision.notice is not None:
                outcome.notices.append(decision.notice)
                parent = _queue(conn, decision.notice, parent, members, by_fp, now,
                                settings, render, outcome)
            if decision.log != old_log or decision.notice is not None:
                _upsert(conn, t.alert_group, [{
                    "grp": group,
                    "log": None if decision.log is None else decision.log.to_dict(),
                    "parent_outbox_id": parent, "updated_at": now,
                }], ["grp"])
    return _logged(outcome, transitions)


def _logged(outcome: Outcome, transitions: Sequence[Transition]) -> Outcome:
    for tr in transitions:
        log.info("alert %s (%s): %s -> %s: %s", tr.fingerprint, tr.group,
                 tr.from_state.value if tr.from_state else "-", tr.to_state.value, tr.reason)
    return outcome


def _step(before: Mapping[str, AlertMemory], findings: Sequence[Finding], now: datetime,
          settings: Settings) -> tuple[dict[str, AlertMemory], list[Transition]]:
    def policy_of(group: str) -> AlertPolicy:
        return settings.policies.get(group, settings.policy)

    return evaluate_all(before, findings, now, settings.policy, policy_of=policy_of)


def _queue(conn: sa.Connection, notice: Notice, parent: int | None,
           members: Mapping[str, AlertMemory], by_fp: Mapping[str, Finding], now: datetime,
           settings: Settings, render: Renderer, outcome: Outcome) -> int | None:
    """Queue ``notice`` (and for ``resolved`` the edit of the first message); the group's
    thread parent afterwards."""
    rendered = render(notice, members, by_fp)
    first = notice.kind is NoticeKind.FIRING
    outbox_id, new = outbox.enqueue(conn, Outgoing(
        dedup_key=notice.dedup_key, kind="alert", text=rendered.text, blocks=rendered.blocks,
        channel=settings.channel, thread_of=None if first else parent, files=rendered.files,
        extra={"group": notice.group, "notice": notice.kind.value, "episode": notice.episode},
    ), now)
    if new:
        outcome.queued.append(outbox_id)
    if first:
        return outbox_id
    if notice.kind is NoticeKind.RESOLVED and parent is not None and rendered.edit_text:
        edit_id, new = outbox.enqueue(conn, Outgoing(
            dedup_key=f"{notice.dedup_key}:edit", kind="update", text=rendered.edit_text,
            blocks=rendered.edit_blocks, channel=settings.channel, update_of=parent,
        ), now)
        if new:
            outcome.queued.append(edit_id)
    return parent
