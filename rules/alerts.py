"""Alerts: the state machine per fingerprint and the notification decision per group (pure).

Findings come in at each evaluation; this module says how each alert's state moves and
whether its group needs a Slack notice. ``syncd/`` keeps the records (:class:`AlertMemory`
per fingerprint, :class:`NotifyLog` per group, :class:`Silence`) and writes the transition,
the log and the outbox row in one transaction. Nothing here reads a clock: ``now`` is a
parameter, an aware datetime (naive ones are refused; everything stored is UTC).

State machine (:func:`step`, per fingerprint; ``P`` = finding present, ``A`` = absent)::

                  P, not yet N evaluations / pending_for
         ┌────────┐ ──────────────────────────────────────▶ ┌─────────┐
         │ normal │ ◀────────────── A (never fired) ─────── │ pending │ ── P, still waiting ─┐
         └────────┘                                         └─────────┘ ◀──────────────────┘
             │  P, pending_evaluations=1 and pending_for=0       │ P, N evaluations and
             │  (one transition, normal → firing)                 │ pending_for held
             ▼                                                    ▼
         ┌────────┐ ◀─────────────────────────────────────────────┘       episode += 1
         │ firing │ ◀──── P: back, same episode, no notice ────┐
         └────────┘ ── A, waiting for recover_evaluations ──▶ ┌────────────┐ ── A, waiting ─┐
             │          / recover_for                         │ recovering │ ◀──────────────┘
             │ A, recover_evaluations=1 and recover_for=0     └────────────┘
             ▼ (one transition, firing → resolved)                 │ A, M evaluations and
         ┌──────────┐ ◀────────────────────────────────────────────┘ recover_for held
         │ resolved │ ── A: stays resolved, no transition
         └──────────┘ ── P: like normal (pending, or firing at once: a new episode);
                          a pending that clears goes back to resolved

- Each step makes at most one transition: when the policy fires at the first evaluation the
  audit trail shows ``normal → firing`` (or ``resolved → firing``), never a zero-length
  ``pending``; likewise ``firing → resolved`` when one clear evaluation resolves.
- Inhibited (the finding is muted, or its source is stale, :func:`evaluate_all`): the state
  is frozen like Grafana's "keep last state" on no data: no transition, counters and
  ``since`` unchanged, the memory records ``inhibited`` and why. A new fingerprint that is
  inhibited gets no memory at all.
- A severity change while firing is not a transition; the decision detects an escalation
  from the severity last announced (kept in the group's :class:`NotifyLog`).

Notification decision (:func:`decide`, per group, after the evaluation), in this order:

1. **Inhibition**: inhibited alerts are frozen in the log: if they were announced they stay
   announced (neither new nor resolved, not repeated), otherwise they are not announced.
2. **Silences** (:func:`silenced_by`): never change the state machine. A silenced
   fingerprint is dropped from the group's log without a notice, so when the silence ends
   while it still fires it is new again (a ``firing`` notice, or an ``update`` if the group
   still fires), and if it resolved meanwhile nothing is said: the silence was the user's
   way of saying "I know" (as in Alertmanager, which filters silenced alerts before dedup).
3. **Dedup** (Alertmanager's ``needsUpdate``): with *firing* = the group's alerts firing or
   recovering, not silenced, not inhibited, and *announced* = the log's firing set,

   - nothing announced and something fires: ``firing`` (the group's episode += 1);
   - new fingerprints fire, one escalated (warning → critical) above the severity last
     announced, or (``send_resolved``) some but not all announced ones resolved: ``update``;
   - everything announced resolved: ``resolved`` with ``send_resolved``, else no notice;
     either way the log's episode ends (its firing set empties) and a later firing is a new
     episode with a new ``firing`` notice;
   - else, still firing and ``repeat_every`` elapsed since the last notice (exactly
     ``repeat_every`` counts): ``repeat``;
   - else nothing. Without ``send_resolved``, resolved fingerprints leave the log quietly.

   The :class:`Decision` holds the notice and the log to persist **if it is queued** (a log
   can change without a notice: silenced or quietly resolved fingerprints dropped). Dedup
   keys (``alert:<group>:<episode>:<kind>:<seq>``, ``seq`` counting every notice of the
   group) are deterministic, so two processes deciding from the same log produce the same
   key and the store's unique index keeps one.

Modules: :mod:`rules.alerts_records` (records and their JSON form), :mod:`rules.alerts_machine`
(:func:`step`, :func:`evaluate_all`), :mod:`rules.alerts_notices` (silences, :func:`decide`).
"""

from __future__ import annotations

from rules.alerts_machine import default_group, evaluate_all, step
from rules.alerts_notices import (
    Decision,
    Notice,
    NoticeKind,
    NotifyLog,
    Silence,
    active,
    decide,
    dedup_key,
    silenced_by,
)
from rules.alerts_records import (
    ACTIVE_STATES,
    AlertMemory,
    AlertPolicy,
    AlertState,
    FindingSnapshot,
    Transition,
    severity_rank,
)

__all__ = [
    "ACTIVE_STATES",
    "AlertMemory",
    "AlertPolicy",
    "AlertState",
    "Decision",
    "FindingSnapshot",
    "Notice",
    "NoticeKind",
    "NotifyLog",
    "Silence",
    "Transition",
    "active",
    "decide",
    "dedup_key",
    "default_group",
    "evaluate_all",
    "severity_rank",
    "silenced_by",
    "step",
]
