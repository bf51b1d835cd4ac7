"""Announcements: a KR target revised mid-period is announced in Slack when it takes effect,
once, with its reason (the monthly report lists the month's revisions again).

A revision is announced from its day on, for :data:`WITHIN` (a revision dated further back
when syncd first sees it is history, not news). The key ``revision:<kr>:<date>`` makes it
once, whoever runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from rules import catalog
from syncd.evaluate import KrResult
from syncd.goals import KrGoal, kr_goals
from syncd.notify import outbox
from syncd.notify.blocks import Message, context, escape, sections
from syncd.notify.locale import Locale, from_config
from syncd.notify.messages import Mentions, people
from syncd.notify.outbox import Outgoing

#: how long after its date a revision is still announced
WITHIN = timedelta(days=7)


def revision_message(goal: KrGoal, day: date, loc: Locale, mentions: Mentions,
                     result: KrResult | None = None) -> Message:
    """The announcement of ``goal``'s revision dated ``day``."""
    revision = next(r for r in goal.revisions if r.date == day)
    earlier = [r.target for r in goal.revisions if r.date < day]
    old = earlier[-1] if earlier else goal.config.target.value
    unit = catalog.get(goal.config.metric).unit
    name = escape(goal.config.name or goal.id)
    moved = f"{loc.value(old, unit)} → *{loc.value(revision.target, unit)}*"
    lines = [
        loc.say(f"🔧 *Cible révisée* : {name} `{escape(goal.id)}`",
                f"🔧 *Target revised*: {name} `{escape(goal.id)}`"),
        loc.say(f"{moved}, à compter du {loc.date(day)}", f"{moved}, from {loc.date(day)}"),
        loc.say(f"Raison : {escape(revision.reason)}", f"Reason: {escape(revision.reason)}"),
    ]
    if result is not None and result.value is not None and result.value.value is not None:
        lines.append(loc.say(f"Valeur actuelle : {loc.value(result.value.value, unit)}",
                             f"Current value: {loc.value(result.value.value, unit)}"))
    notes = [loc.say("Le score sera donné contre la cible d'origine et la cible révisée.",
                     "The score will be given against both the original and the revised "
                     "target.")]
    owners = people(list(goal.config.owners), mentions, loc)
    if owners:
        notes.insert(0, loc.say(f"Responsables : {owners}", f"Owners: {owners}"))
    text = loc.say(f"Cible révisée : {goal.config.name or goal.id} "
                   f"{loc.value(old, unit)} → {loc.value(revision.target, unit)}",
                   f"Target revised: {goal.config.name or goal.id} "
                   f"{loc.value(old, unit)} → {loc.value(revision.target, unit)}")
    return Message(text, (*sections("\n".join(lines)), context(*notes)))


def queue_revisions(engine: sa.Engine, config: Any, now: datetime, *,
                    mentions: Mentions | None = None,
                    results: Sequence[KrResult] = ()) -> list[str]:
    """Queue the announcements of the revisions in force since at most :data:`WITHIN`; the
    keys queued by this call."""
    today = now.astimezone(config.tz).date()
    loc = from_config(config)
    by_id = {r.goal.id: r for r in results}
    channel = config.slack.channel if config.slack is not None else None
    queued = []
    with engine.begin() as conn:
        for goal in kr_goals(config):
            for revision in goal.revisions:
                if not today - WITHIN < revision.date <= today:
                    continue
                key = f"revision:{goal.id}:{revision.date.isoformat()}"
                message = revision_message(goal, revision.date, loc, mentions or {},
                                           by_id.get(goal.id))
                _, new = outbox.enqueue(conn, Outgoing(
                    dedup_key=key, kind="announcement", text=message.text,
                    blocks=message.blocks, channel=channel), now)
                if new:
                    queued.append(key)
    return queued
