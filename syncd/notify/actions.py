""""Priorités pour les 7 prochains jours": 3 to 5 actions from the findings and KR statuses.

Pure: the evaluation, the stalled deals and the pipeline waterfall go in, ranked
:class:`Priority` records come out (:func:`priorities`), then words
(:func:`actions`, :class:`~syncd.notify.model.Action`). The ranking, highest first:

1. stale CRM data (every other figure rests on it), weight 100;
2. KRs off track (80 + how far behind), with their projected miss folded in;
3. KRs projected to miss while not off track (60);
4. a change rule firing, e.g. the pipeline -25 % in a week (55 + size of the move);
5. KRs at risk (50 + how far behind);
6. a threshold rule firing (45);
7. stalled deals (40 + their number, at most 10), owners of the largest three;
8. deals pushed out of the period (35), from the waterfall.

One action per subject; muted findings count for nothing (their data is stale: rule 1 says
so). Fewer than ``minimum`` actions: the on-track KRs closest to falling behind fill in
("keep the pace", weight 10 + shortfall).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from rules import catalog
from rules.findings import Finding, FindingKind
from rules.metric import Unit
from rules.pace import Projection, Status
from syncd.evaluate import Evaluation, KrResult
from syncd.notify.locale import Locale
from syncd.notify.model import Action, MoveKind, StalledDeal, Waterfall


class PriorityKind(StrEnum):
    STALE_DATA = "stale_data"
    OFF_TRACK = "off_track"
    PROJECTED_MISS = "projected_miss"
    CHANGE = "change"
    AT_RISK = "at_risk"
    THRESHOLD = "threshold"
    STALLED = "stalled"
    PUSHED = "pushed"
    KEEP_PACE = "keep_pace"


@dataclass(frozen=True, slots=True)
class Priority:
    kind: PriorityKind
    subject: str
    weight: float
    owners: tuple[str, ...] = ()
    result: KrResult | None = None
    finding: Finding | None = None
    deals: tuple[StalledDeal, ...] = ()
    amount: float = 0.0
    count: int = 0


def _behind(result: KrResult) -> float:
    e = result.evaluation
    return 0.0 if e is None else min(max(1.0 - e.pace, 0.0), 1.0)


def priorities(evaluation: Evaluation, *, stalled: Sequence[StalledDeal] = (),
               waterfall: Waterfall | None = None, limit: int = 5,
               minimum: int = 3) -> list[Priority]:
    """The ``limit`` most pressing actions (see the module doc), highest weight first."""
    found: list[Priority] = []
    live = [f for f in evaluation.findings if not f.muted]
    missing = {f.subject for f in live if f.kind is FindingKind.PROJECTED_MISS}
    for f in live:
        if f.kind is FindingKind.STALE_DATA:
            found.append(Priority(PriorityKind.STALE_DATA, f.subject, 100.0, finding=f))
        elif f.kind is FindingKind.CHANGE:
            found.append(Priority(PriorityKind.CHANGE, f.subject,
                                  55.0 + min(abs(f.number("change")), 1.0) * 10, finding=f))
        elif f.kind is FindingKind.THRESHOLD:
            found.append(Priority(PriorityKind.THRESHOLD, f.subject, 45.0, finding=f))
    for result in evaluation.krs:
        e = result.evaluation
        if e is None or result.score is not None:
            continue
        owners = tuple(result.goal.config.owners)
        if e.status is Status.OFF_TRACK:
            found.append(Priority(PriorityKind.OFF_TRACK, result.goal.id,
                                  80.0 + 10 * _behind(result), owners, result))
        elif result.goal.id in missing:
            found.append(Priority(PriorityKind.PROJECTED_MISS, result.goal.id, 60.0, owners,
                                  result))
        elif e.status is Status.AT_RISK:
            found.append(Priority(PriorityKind.AT_RISK, result.goal.id,
                                  50.0 + 10 * _behind(result), owners, result))
    if stalled:
        top = sorted(stalled, key=lambda d: (-(d.amount or 0.0), -d.days_in_stage, d.name))
        owners = tuple(dict.fromkeys(d.owner for d in top[:3] if d.owner))
        found.append(Priority(PriorityKind.STALLED, "stalled", 40.0 + min(len(top), 10),
                              owners, deals=tuple(top[:3]), count=len(top),
                              amount=sum(d.amount or 0.0 for d in top)))
    if waterfall is not None:
        pushed = [s for s in (*waterfall.steps, *waterfall.shifts)
                  if s.kind is MoveKind.PUSHED and s.count]
        if pushed:
            moves = [m for m in waterfall.moves if m.kind is MoveKind.PUSHED]
            owners = tuple(dict.fromkeys(m.owner for m in moves[:3] if m.owner))
            found.append(Priority(PriorityKind.PUSHED, "pushed", 35.0, owners,
                                  count=sum(s.count for s in pushed),
                                  amount=sum(s.amount for s in pushed)))
    seen: set[str] = set()
    ranked = []
    for p in sorted(found, key=lambda p: (-p.weight, p.subject)):
        if p.subject not in seen:
            seen.add(p.subject)
            ranked.append(p)
    if len(ranked) < minimum:
        calm = [r for r in evaluation.krs if r.goal.id not in seen and r.evaluation is not None
                and r.score is None and r.evaluation.status is Status.ON_TRACK]
        calm.sort(key=lambda r: (r.evaluation.pace if r.evaluation else 0.0, r.goal.id))
        ranked += [Priority(PriorityKind.KEEP_PACE, r.goal.id, 10.0 + 10 * _behind(r),
                            tuple(r.goal.config.owners), r)
                   for r in calm[:minimum - len(ranked)]]
    return ranked[:limit]


def _name(result: KrResult | None, subject: str) -> str:
    return f"*{result.goal.config.name}*" if result is not None else f"`{subject}`"


def describe(p: Priority, loc: Locale, now: datetime) -> str:
    """The action in words: mrkdwn stars, no links nor mentions, user text (KR and deal
    names) not escaped: the renderer escapes the whole line."""
    r = p.result
    name = _name(r, p.subject)
    e = r.evaluation if r is not None else None
    if e is not None and r is not None:
        unit = catalog.get(r.goal.config.metric).unit
        actual, expected = loc.value(e.actual, unit), loc.value(e.expected, unit)
        target, end = loc.value(e.target, unit), loc.date(r.goal.period.end)
        if p.kind is PriorityKind.OFF_TRACK:
            return loc.say(
                f"Plan de rattrapage pour {name} : {actual} contre {expected} attendus, "
                f"cible {target} au {end}",
                f"Recovery plan for {name}: {actual} vs {expected} expected, target "
                f"{target} by {end}")
        if p.kind is PriorityKind.PROJECTED_MISS and isinstance(e.projection, Projection):
            projected = loc.value(e.projection.value, unit)
            return loc.say(
                f"Décider pour {name} : la tendance mène à {projected} pour une cible de "
                f"{target} (action corrective, ou révision justifiée)",
                f"Decide on {name}: the trend leads to {projected} vs a target of {target} "
                "(a corrective action, or a justified revision)")
        if p.kind is PriorityKind.AT_RISK:
            return loc.say(
                f"Revoir les leviers de {name} : {actual} contre {expected} attendus "
                f"(rythme {loc.percent(e.pace, 0)})",
                f"Review the levers of {name}: {actual} vs {expected} expected "
                f"(pace {loc.percent(e.pace, 0)})")
        if p.kind is PriorityKind.KEEP_PACE:
            return loc.say(f"Garder le rythme sur {name} ({actual}, cible {target})",
                           f"Keep the pace on {name} ({actual}, target {target})")
    f = p.finding
    if p.kind is PriorityKind.STALE_DATA and f is not None:
        return loc.say("Rétablir la synchronisation CRM : les chiffres de ce digest peuvent "
                       "être anciens", "Restore the CRM sync: this digest's figures may be old")
    if p.kind is PriorityKind.CHANGE and f is not None:
        key = dict(f.labels).get("metric", f.subject)
        unit = catalog.get(key).unit if key in catalog.CATALOG else Unit.COUNT
        base = dict(f.numbers).get("base", 0.0)
        relative = base != 0 and abs((f.number("current") - base) / abs(base)
                                     - f.number("change")) < 1e-9
        moved = loc.change(f.number("change"), unit, relative=relative)
        return loc.say(f"Comprendre le mouvement de *{loc.metric(key)}* ({moved}) et réagir",
                       f"Understand the move of *{loc.metric(key)}* ({moved}) and respond")
    if p.kind is PriorityKind.THRESHOLD and f is not None:
        metric = loc.metric(dict(f.labels).get("metric", f.subject))
        return loc.say(f"Ramener *{metric}* du bon côté de son seuil",
                       f"Bring *{metric}* back past its threshold")
    if p.kind is PriorityKind.STALLED:
        top = ", ".join(d.name for d in p.deals)
        return loc.say(f"Relancer les {p.count} deals bloqués ({loc.money(p.amount)}), "
                       f"d'abord : {top}",
                       f"Follow up the {p.count} stalled deals ({loc.money(p.amount)}), "
                       f"first: {top}")
    if p.kind is PriorityKind.PUSHED:
        return loc.say(f"Requalifier les {p.count} deals repoussés hors de la période "
                       f"({loc.money(abs(p.amount))})",
                       f"Requalify the {p.count} deals pushed out of the period "
                       f"({loc.money(abs(p.amount))})")
    return name


def actions(found: Sequence[Priority], loc: Locale, now: datetime) -> tuple[Action, ...]:
    """The priorities as :class:`Action` records (text, owners' e-mails, subject)."""
    return tuple(Action(describe(p, loc, now), p.owners, p.subject) for p in found)


def priority_actions(evaluation: Evaluation, loc: Locale, *,
                     stalled: Sequence[StalledDeal] = (), waterfall: Waterfall | None = None,
                     limit: int = 5) -> tuple[Action, ...]:
    """:func:`priorities` then :func:`actions`: the digest's default."""
    return actions(priorities(evaluation, stalled=stalled, waterfall=waterfall, limit=limit),
                   loc, evaluation.now)


__all__ = ["Priority", "PriorityKind", "actions", "describe", "priorities",
           "priority_actions"]
