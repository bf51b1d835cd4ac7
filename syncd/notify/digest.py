"""The Monday digest, the monthly report and the quarter close, as Slack messages.

Plain data in (an :class:`~syncd.evaluate.Evaluation`, the records of
:mod:`syncd.notify.model`, a :class:`~syncd.notify.locale.Locale`, ``now``), a list of
:class:`~syncd.notify.blocks.Message` out: no database, no clock. Each KR is one
:class:`~syncd.notify.blocks.Part` (its lines, its chart in the thread), so a long digest is
split between KRs, never inside one (:func:`~syncd.notify.blocks.split_messages`).

- **Weekly** (before the 30-minute review): per objective and KR the value, the target (and
  the revised one), the value expected by now, the status, the week-over-week change and the
  projection; the alerts fired and resolved this week; the pipeline waterfall; stalled deals;
  "Priorités pour les 7 prochains jours" (:mod:`syncd.notify.actions`); freshness.
- **Monthly** (before the 60-minute review): the gap analysis per KR (actual, expected,
  target, what is needed per week), the month's trend, the breakdowns by owner and segment,
  the month's target revisions with their reasons.
- **Quarter close**: the OKR scorecard (0.0 to 1.0 per KR and objective, against the original
  and the revised targets) and the biggest movers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

from rules.periods import iso_week_of, local_day, month_of
from rules.scoring import rounded
from rules.series import SeriesLike
from syncd.evaluate import Evaluation
from syncd.notify.actions import priority_actions
from syncd.notify.blocks import (
    MAX_BLOCKS,
    Block,
    Message,
    Part,
    context,
    divider,
    escape,
    header,
    sections,
    split_messages,
)
from syncd.notify.chart import kr_chart
from syncd.notify.digest_sections import (
    actions_blocks,
    breakdown_line,
    by_objective,
    events_blocks,
    footer,
    gap_lines,
    kr_parts,
    kr_title,
    movers_lines,
    period_name,
    period_note,
    score_text,
    scorecard_line,
    stalled_blocks,
    summary,
    unit_of,
    waterfall_blocks,
)
from syncd.notify.locale import Locale
from syncd.notify.messages import Mentions, contributors_text, freshness_text, people
from syncd.notify.model import (
    Action,
    AlertEvent,
    Breakdown,
    Freshness,
    StalledDeal,
    Waterfall,
)


def render_weekly(evaluation: Evaluation, *, loc: Locale, now: datetime, freshness: Freshness,
                  mentions: Mentions | None = None, events: Sequence[AlertEvent] = (),
                  waterfall: Waterfall | None = None, stalled: Sequence[StalledDeal] = (),
                  actions: Sequence[Action] | None = None, charts: bool = True,
                  max_blocks: int = MAX_BLOCKS,
                  undelivered: Sequence[str] = ()) -> list[Message]:
    """The Monday digest; ``actions`` default to :func:`~syncd.notify.actions.priority_actions`.
    ``undelivered``: messages Slack refused since the last digest (with why), listed so they
    are not lost from sight."""
    known = mentions or {}
    today = local_day(loc.local(now))
    week = iso_week_of(today)
    title = loc.say(f"📊 Revue OKR — {loc.week(today)} ({loc.date_range(week.start, week.end)})",
                    f"📊 OKR review — {loc.week(today)} ({loc.date_range(week.start, week.end)})")
    chosen = actions if actions is not None else priority_actions(
        evaluation, loc, stalled=stalled, waterfall=waterfall)
    items: list[Block | Part] = [header(title), context(summary(evaluation, loc),
                                                        period_note(evaluation, loc))]
    if freshness.stale or freshness.last_sync is None:
        items.append(context(freshness_text(freshness, loc)))
    if undelivered:
        lines = [loc.say(f"⚠️ *{len(undelivered)} message(s) non délivré(s)* "
                         "(corriger, puis `syncd alerts retry`) :",
                         f"⚠️ *{len(undelivered)} message(s) not delivered* "
                         "(fix, then `syncd alerts retry`):")]
        lines += [f"• {escape(u)}" for u in undelivered[:5]]
        items += sections("\n".join(lines))
    items += [*actions_blocks(chosen, loc, known), divider()]
    items += kr_parts(evaluation, loc, known, charts)
    items += [divider(), *events_blocks(events, evaluation, loc)]
    if waterfall is not None:
        items += waterfall_blocks(waterfall, loc, known)
    if stalled:
        items += stalled_blocks(stalled, loc, known)
    items.append(footer(freshness, loc, now))
    text = f"{title} — {summary(evaluation, loc)}"
    if freshness.stale:
        text += loc.say(" ⚠️ données anciennes", " ⚠️ stale data")
    return split_messages(items, text, max_blocks=max_blocks)



# --------------------------------------------------------------------------- monthly


def render_monthly(evaluation: Evaluation, *, loc: Locale, now: datetime, freshness: Freshness,
                   mentions: Mentions | None = None, breakdowns: Sequence[Breakdown] = (),
                   trends: Mapping[str, SeriesLike] | None = None, month: date | None = None,
                   charts: bool = False, max_blocks: int = MAX_BLOCKS) -> list[Message]:
    """The monthly report of ``month`` (any day of it; by default the month before ``now``'s:
    the report is posted at the start of the next one). ``trends``: a KR's daily values over
    the month when longer than ``KrResult.series``."""
    known = mentions or {}
    today = local_day(loc.local(now))
    period = month_of(month or (today.replace(day=1) - timedelta(days=1)))
    span = (period.start, period.end)
    title = loc.say(f"📅 Rapport mensuel OKR — {loc.month(period.start)}",
                    f"📅 Monthly OKR report — {loc.month(period.start)}")
    extra: dict[str, list[str]] = {}
    for r in evaluation.krs:
        lines = gap_lines(r, loc, span, (trends or {}).get(r.goal.id))
        lines += [breakdown_line(b, unit_of(r), loc) for b in breakdowns if b.kr_id == r.goal.id]
        lines += contributors_text(r, loc, known)
        extra[r.goal.id] = lines
    items: list[Block | Part] = [header(title), context(summary(evaluation, loc))]
    for objective, results in by_objective(evaluation):
        items.append(header("🎯 " + objective))
        for r in results:
            owners = people(list(r.goal.config.owners), known, loc) or "–"
            chart = kr_chart(r, loc) if charts else None
            items.append(Part((*sections("\n".join([kr_title(r, loc), *extra[r.goal.id]])),
                               context(owners)), (chart,) if chart else ()))
    revised = [(r, rev) for r in evaluation.krs for rev in r.goal.revisions
               if rev.date in period]
    lines = [loc.say("*Révisions de cibles du mois*", "*Target revisions this month*")]
    for r, rev in sorted(revised, key=lambda x: x[1].date):
        before = [x.target for x in r.goal.revisions if x.date < rev.date]
        old = before[-1] if before else r.goal.config.target.value
        unit = unit_of(r)
        lines.append(f"🔧 *{escape(r.goal.config.name)}* : " * loc.fr
                     + f"🔧 *{escape(r.goal.config.name)}*: " * (not loc.fr)
                     + f"{loc.value(old, unit)} → {loc.value(rev.target, unit)}, "
                     + loc.say(f"le {loc.date(rev.date)}", f"on {loc.date(rev.date)}")
                     + f" — {escape(rev.reason)}")
    if not revised:
        lines.append(loc.say("Aucune révision ce mois-ci.", "No revision this month."))
    items += [divider(), *sections("\n".join(lines)), footer(freshness, loc, now)]
    return split_messages(items, f"{title} — {summary(evaluation, loc)}",
                          max_blocks=max_blocks)



# --------------------------------------------------------------------------- quarter


def render_quarter(evaluation: Evaluation, *, loc: Locale, now: datetime, freshness: Freshness,
                   mentions: Mentions | None = None, movers: int = 3,
                   max_blocks: int = MAX_BLOCKS) -> list[Message]:
    """The quarter close: the scorecard against original and revised targets, the movers."""
    known = mentions or {}
    period = next((r.goal.period for r in evaluation.krs), None)
    name = period_name(period, loc) if period is not None else ""
    title = loc.say(f"🏁 Bilan OKR — {name}", f"🏁 OKR close — {name}")
    items: list[Block | Part] = [header(title)]
    overall = []
    for index, (objective, results) in enumerate(by_objective(evaluation)):
        items.append(header("🎯 " + objective))
        score = evaluation.objectives.get(results[0].goal.objective_index if results else index)
        if score is not None:
            overall.append(loc.number(rounded(score.score), 1))
            items.extend(sections(loc.say(
                f"Score de l'objectif {score_text(score.score, loc, score.colour)} · contre les "
                f"cibles révisées {score_text(score.revised_score, loc, score.revised_colour)}",
                f"Objective score {score_text(score.score, loc, score.colour)} · against revised "
                f"targets {score_text(score.revised_score, loc, score.revised_colour)}")))
        for r in results:
            items.append(Part((*sections(scorecard_line(r, loc)),
                               context(people(list(r.goal.config.owners), known, loc) or "–"))))
    items += [divider(), *sections("\n".join(movers_lines(evaluation, loc, known, movers))),
              footer(freshness, loc, now)]
    text = title + (loc.say(" — scores ", " — scores ") + ", ".join(overall) if overall else "")
    return split_messages(items, text, max_blocks=max_blocks)


