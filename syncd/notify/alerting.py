"""After an evaluation: step the alerts and queue their messages, rendered in the config's
language (:func:`notify`). The sender (:mod:`syncd.notify.sender`) delivers them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from rules.alerts import AlertMemory, FindingSnapshot, Notice, NoticeKind
from rules.findings import Finding
from syncd.evaluate import Evaluation, Evaluator, KrResult
from syncd.goals import stale_rules
from syncd.notify import lifecycle, mentions
from syncd.notify.lifecycle import Outcome, Rendered
from syncd.notify.locale import Locale, from_config
from syncd.notify.messages import render_alert, render_resolved_update
from syncd.notify.model import Freshness


def freshness_of(config: Any, evaluation: Evaluation, now: datetime) -> Freshness:
    """The data's freshness; stale past the shortest ``stale_after`` (else 2 h)."""
    limits = [r.stale_after for r in stale_rules(config) if r.stale_after is not None]
    return Freshness(evaluation.last_sync, min(limits, default=timedelta(hours=2)), now)


def deal_link(config: Any) -> Callable[[str], str | None] | None:
    """A deal id's CRM page, when the config knows the portal (``crm.hubspot.portal_id``)."""
    hubspot = getattr(config.crm, "hubspot", None)
    if hubspot is None or hubspot.portal_id is None:
        return None
    return lambda deal_id: hubspot.record_url("deal", deal_id)


def links_of(config: Any) -> Callable[[str, str], str | None] | None:
    """The messages' link builder: (kind, key) -> URL; deals only (a KR has no CRM page)."""
    deal = deal_link(config)
    if deal is None:
        return None
    return lambda kind, key: deal(key) if kind == "deal" else None


def as_finding(memory: AlertMemory) -> Finding:
    """The last finding an alert remembers, for a notice once it has gone (resolved)."""
    last: FindingSnapshot | None = memory.last_finding
    if last is None:
        raise ValueError(f"alert {memory.fingerprint} remembers no finding")
    return Finding(kind=last.kind, subject=last.subject, severity=last.severity,
                   reason=last.reason, at=memory.since, labels=last.labels,
                   numbers=last.numbers, fingerprint=memory.fingerprint, source=last.source)


def owners_of(config: Any, subject_kr: KrResult | None) -> list[str]:
    """Who an alert mentions: the KR's owners, else (a rule, stale data) the objectives'."""
    if subject_kr is not None:
        return list(subject_kr.goal.config.owners)
    return sorted({okr.owner for okr in config.okrs if okr.owner})


class AlertRenderer:
    """Renders notices for :func:`lifecycle.apply` (the lifecycle's ``render``)."""

    def __init__(self, config: Any, evaluation: Evaluation, loc: Locale, freshness: Freshness,
                 people: Mapping[str, str | None],
                 explain: Callable[[KrResult], KrResult] | None = None) -> None:
        self._config = config
        self._explain = explain
        self._explained: dict[str, KrResult] = {}
        self._evaluation = evaluation
        self._loc = loc
        self._freshness = freshness
        self._people = people

    def _kr(self, group: str) -> KrResult | None:
        if not group.startswith("kr:"):
            return None
        kr_id = group.removeprefix("kr:")
        return next((r for r in self._evaluation.krs if r.goal.id == kr_id), None)

    def __call__(self, notice: Notice, members: Mapping[str, AlertMemory],
                 current: Mapping[str, Finding]) -> Rendered:
        wanted: Sequence[str] = notice.firing
        if notice.kind is NoticeKind.RESOLVED or not wanted:
            wanted = notice.resolved
        findings = [current[fp] if fp in current else as_finding(members[fp])
                    for fp in wanted if fp in current or fp in members]
        kr = self._kr(notice.group)
        if kr is not None and self._explain is not None and notice.kind is not NoticeKind.RESOLVED:
            if kr.goal.id not in self._explained:  # who moved it: only for a KR being posted
                self._explained[kr.goal.id] = self._explain(kr)
            kr = self._explained[kr.goal.id]
        fired = [m.fired_at for fp, m in members.items() if fp in wanted and m.fired_at]
        since = min(fired) if fired else None
        message = render_alert(notice.kind.value, findings, loc=self._loc,
                               freshness=self._freshness, kr=kr, mentions=self._people,
                               since=since, owners=owners_of(self._config, kr),
                               links=links_of(self._config))
        if notice.kind is not NoticeKind.RESOLVED:
            return Rendered(message.text, message.blocks)
        resolved = [m.resolved_at for fp, m in members.items() if fp in wanted and m.resolved_at]
        edit = render_resolved_update(findings, loc=self._loc,
                                      resolved_at=max(resolved, default=self._freshness.now),
                                      freshness=self._freshness, kr=kr, since=since)
        return Rendered(message.text, message.blocks, edit_text=edit.text,
                        edit_blocks=edit.blocks)


def notify(engine: sa.Engine, config: Any, evaluation: Evaluation, now: datetime, *,
           client: mentions.Lookup | None = None, run_id: str | None = None) -> Outcome:
    """Step the alerts with ``evaluation``'s findings; queue the notices due when Slack is
    configured (``client`` looks up @-mentions; None: cached ones and e-mails only)."""
    settings = lifecycle.settings_of(config)
    render = None
    if config.slack is not None:
        emails = {e for r in evaluation.krs for e in r.goal.config.owners}
        emails |= {okr.owner for okr in config.okrs if okr.owner}
        people = mentions.resolve(engine, emails, now, overrides=config.slack.mentions,
                                  client=client)
        evaluator = Evaluator(engine, config)
        render = AlertRenderer(config, evaluation, from_config(config),
                               freshness_of(config, evaluation, now), people,
                               explain=lambda r: evaluator.contributors_of(r, evaluation.now))
    return lifecycle.apply(engine, evaluation.findings, now, settings, render=render,
                           run_id=run_id)
