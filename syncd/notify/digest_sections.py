"""The pieces of the digests: one KR's lines, the gap analysis, the scorecard line, the
pipeline waterfall, stalled deals, the week's alerts, the priorities, the footer.

Each returns mrkdwn text or Block Kit blocks within Slack's limits
(:mod:`syncd.notify.blocks`); :mod:`syncd.notify.digest` assembles them into messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

from rules import catalog
from rules.metric import Unit
from rules.pace import NotEnoughData, Status
from rules.periods import Period, local_day, month_of, quarter_of
from rules.scoring import Colour, rounded
from rules.series import Point, SeriesLike, points
from syncd.evaluate import Evaluation, KrResult
from syncd.notify.blocks import (
    Block,
    ChartFile,
    Part,
    context,
    escape,
    header,
    link,
    sections,
)
from syncd.notify.chart import kr_chart
from syncd.notify.locale import Locale
from syncd.notify.messages import Mentions, contributors_text, freshness_text, people
from syncd.notify.messages import person as _person
from syncd.notify.model import (
    Action,
    AlertEvent,
    Breakdown,
    DealMove,
    Freshness,
    MoveKind,
    StalledDeal,
    Waterfall,
)

_SCORE = {Colour.GREEN: "🟢", Colour.YELLOW: "🟡", Colour.RED: "🔴"}
_STEP = {
    MoveKind.NEW: ("➕", "Nouveaux", "New"), MoveKind.WON: ("🏆", "Gagnés", "Won"),
    MoveKind.LOST: ("❌", "Perdus", "Lost"), MoveKind.PUSHED: ("⏩", "Repoussés", "Pushed out"),
    MoveKind.PULLED_IN: ("⏪", "Avancés", "Pulled in"),
    MoveKind.INCREASED: ("📈", "Montant en hausse", "Increased"),
    MoveKind.DECREASED: ("📉", "Montant en baisse", "Decreased"),
}
_EVENT_KINDS = {
    "behind_pace": ("en retard sur la trajectoire", "behind pace"),
    "projected_miss": ("projection sous la cible", "projected to miss"),
    "change": ("variation anormale", "unusual change"),
    "threshold": ("seuil franchi", "threshold crossed"),
    "stale_data": ("données anciennes", "stale data"),
}
_TOP_MOVES = 5
_TOP_STALLED = 8


def unit_of(r: KrResult) -> Unit:
    return catalog.get(r.goal.config.metric).unit


def by_objective(ev: Evaluation) -> list[tuple[str, list[KrResult]]]:
    groups: dict[int, tuple[str, list[KrResult]]] = {}
    for r in ev.krs:
        groups.setdefault(r.goal.objective_index, (r.goal.objective, []))[1].append(r)
    return [groups[i] for i in sorted(groups)]


def summary(ev: Evaluation, loc: Locale) -> str:
    counts = {s: sum(1 for r in ev.krs if r.evaluation and r.evaluation.status is s)
              for s in Status}
    missing = sum(1 for r in ev.krs if r.evaluation is None)
    parts = [f"{loc.status_emoji(s)} {counts[s]} {loc.status_word(s)}" for s in Status]
    if missing:
        parts.append(loc.say(f"⚪ {missing} sans données", f"⚪ {missing} without data"))
    return loc.say(f"{len(ev.krs)} KR : ", f"{len(ev.krs)} KRs: ") + " · ".join(parts)


def target_text(r: KrResult, loc: Locale) -> str:
    e, unit = r.evaluation, unit_of(r)
    if e is None:
        return loc.value(r.goal.config.target.value, unit)
    if e.revision is None:
        return loc.value(e.target, unit)
    now, first = loc.value(e.target, unit), loc.value(e.original_target, unit)
    return loc.say(f"{now} (révisée, initiale {first})", f"{now} (revised, originally {first})")


def projection_text(r: KrResult, loc: Locale) -> str:
    e = r.evaluation
    if e is None or isinstance(e.projection, NotEnoughData):
        return loc.say("projection : pas assez de données", "projection: not enough data")
    p, unit = e.projection, unit_of(r)
    low, high = loc.value(p.low, unit), loc.value(p.high, unit)
    band = "" if low == high else loc.say(f" ({low} à {high})", f" ({low} to {high})")
    return loc.say(f"projection {loc.value(p.value, unit)} au {loc.date(p.at)}{band}",
                   f"projected {loc.value(p.value, unit)} by {loc.date(p.at)}{band}")


def period_name(period: Period, loc: Locale) -> str:
    """``T4 2026``, ``novembre 2026``, else the period's dates."""
    if period == quarter_of(period.start):
        return loc.quarter(period.start)
    if period == month_of(period.start):
        return loc.month(period.start)
    return loc.date_range(period.start, period.end)


def kr_title(r: KrResult, loc: Locale) -> str:
    e = r.evaluation
    emoji = loc.status_emoji(e.status) if e is not None else "⚪"
    return f"{emoji} *{escape(r.goal.config.name or r.goal.id)}* `{escape(r.goal.id)}`"


def problem_text(r: KrResult, loc: Locale) -> str:
    """Why a KR has no evaluation, in the team's language (the evaluator's ``problem`` is
    English, for logs and the JSON)."""
    value = r.value
    detail = value.detail if value is not None else {}
    remaining, quota = detail.get("remaining"), detail.get("quota")
    if value is None:
        return loc.say("la métrique n'a pas pu être calculée", "the metric was not computed")
    if isinstance(remaining, int | float) and remaining <= 0 and isinstance(quota, int | float):
        won = detail.get("won")
        done = loc.money(won) if isinstance(won, int | float) else "–"
        return loc.say(f"l'objectif de revenus ({loc.money(quota)}) est déjà atteint ({done} "
                       "gagnés) : il ne reste rien à couvrir",
                       f"the revenue quota ({loc.money(quota)}) is already met ({done} won): "
                       "nothing is left to cover")
    if detail.get("reason") == "the window starts after as_of":
        return loc.say("la période n'a pas encore commencé", "the period has not started yet")
    if value.value is None:
        return loc.say("pas encore de données pour la calculer (base à zéro)",
                       "no data to compute it yet (nothing to divide by)")
    return escape(r.problem or loc.say("aucune valeur", "no value"))


def kr_lines(r: KrResult, loc: Locale, mentions: Mentions) -> tuple[str, str]:
    """(section text, context text) of one KR in the weekly digest."""
    e, unit = r.evaluation, unit_of(r)
    owners = people(list(r.goal.config.owners), mentions, loc) or "–"
    if e is None:
        body = loc.say(f"Pas d'évaluation : {problem_text(r, loc)}",
                       f"Not evaluated: {problem_text(r, loc)}")
        return f"{kr_title(r, loc)}\n{body}", owners
    week = loc.change(e.week_over_week.absolute if e.week_over_week else None, unit)
    body = loc.say(
        f"*{loc.value(e.actual, unit)}* · attendu {loc.value(e.expected, unit)} · cible "
        f"{target_text(r, loc)} · {loc.status_word(e.status)} · 7 j : {week}",
        f"*{loc.value(e.actual, unit)}* · expected {loc.value(e.expected, unit)} · target "
        f"{target_text(r, loc)} · {loc.status_word(e.status)} · 7d: {week}")
    rhythm = loc.say(f"rythme {loc.percent(e.pace, 0)}", f"pace {loc.percent(e.pace, 0)}")
    note = f"{projection_text(r, loc)} · {rhythm} · {owners}"
    if e.revision is not None:
        note += loc.say(f" · révisée le {loc.date(e.revision.date)} : ",
                        f" · revised on {loc.date(e.revision.date)}: ") + escape(
                            e.revision.reason)
    return f"{kr_title(r, loc)}\n{body}", note


def kr_parts(ev: Evaluation, loc: Locale, mentions: Mentions,
              charts: bool, extra: Mapping[str, list[str]] | None = None) -> list[Block | Part]:
    out: list[Block | Part] = []
    for objective, results in by_objective(ev):
        out.append(header(loc.say("🎯 ", "🎯 ") + objective))
        for r in results:
            text, note = kr_lines(r, loc, mentions)
            lines = [text, *(extra or {}).get(r.goal.id, [])]
            files: tuple[ChartFile, ...] = ()
            if charts:
                chart = kr_chart(r, loc)
                files = (chart,) if chart is not None else ()
            out.append(Part((*sections("\n".join(lines)), context(note)), files))
    return out


def events_blocks(events: Sequence[AlertEvent], ev: Evaluation, loc: Locale) -> list[Block]:
    names = {r.goal.id: r.goal.config.name for r in ev.krs}
    fired = [e for e in events if e.event == "fired"]
    resolved = [e for e in events if e.event == "resolved"]
    head = loc.say(f"*Alertes de la semaine* : 🔔 {len(fired)} déclenchée(s) · ✅ "
                   f"{len(resolved)} résolue(s)",
                   f"*Alerts this week*: 🔔 {len(fired)} fired · ✅ {len(resolved)} resolved")
    lines = [head]
    for e in sorted(events, key=lambda e: (e.at, e.subject)):
        what = _EVENT_KINDS.get(e.kind, (e.kind, e.kind))
        emoji = "✅" if e.event == "resolved" else "🔔"
        title = escape(names.get(e.subject) or e.subject)
        lines.append(f"{emoji} {loc.weekday_date(e.at)} · *{title}* — {loc.say(*what)}")
    if not events:
        lines.append(loc.say("Aucune alerte cette semaine.", "No alerts this week."))
    return sections("\n".join(lines))


def _deal(move: DealMove | StalledDeal, mentions: Mentions) -> str:
    owner = f" · {_person(move.owner, mentions)}" if move.owner else ""
    return f"{link(move.url, move.name)}{owner}"


def waterfall_blocks(w: Waterfall, loc: Locale, mentions: Mentions) -> list[Block]:
    """The open pipeline from ``w.start`` to ``w.end``: its steps and the largest moves."""
    rel = (w.end_value - w.start_value) / w.start_value if w.start_value else None
    moved = f" ({loc.change(rel, Unit.MONEY, relative=True)})" if rel is not None else ""
    span = loc.date_range(local_day(loc.local(w.start)), local_day(loc.local(w.end)))
    lines = [loc.say(f"*Pipeline ouvert* ({span}) : {loc.money(w.start_value)} → "
                     f"*{loc.money(w.end_value)}*{moved}",
                     f"*Open pipeline* ({span}): {loc.money(w.start_value)} → "
                     f"*{loc.money(w.end_value)}*{moved}")]
    for step in w.steps:
        emoji, fr, en = _STEP[step.kind]
        lines.append(f"{emoji} {loc.say(fr, en)} ({step.count}) : "
                     f"{loc.change(step.amount, Unit.MONEY)}")
    for step in w.shifts:  # close dates moved: the value stays in the pipeline
        emoji, fr, en = _STEP[step.kind]
        lines.append(f"{emoji} {loc.say(fr, en)} ({step.count}) : "
                     + loc.say(f"{loc.money(abs(step.amount))} de closing déplacé",
                               f"{loc.money(abs(step.amount))} of closing moved"))
    if abs(w.other) >= 0.5:  # an "other" that rounds to 0 says nothing
        other = loc.change(w.other, Unit.MONEY)
        lines.append(loc.say(f"… Autres modifications : {other}", f"… Other edits: {other}"))
    if not w.complete:
        lines.append(loc.say("_Reports, avancements et changements de montant inconnus : pas "
                             "d'état du pipeline au début de la période._",
                             "_Pushed, pulled-in and amount changes unknown: no pipeline "
                             "snapshot at the start._"))
    if w.moves:
        lines.append(loc.say("*Plus gros mouvements*", "*Largest moves*"))
        for m in w.moves[:_TOP_MOVES]:
            _, fr, en = _STEP[m.kind]
            lines.append(f"• {_deal(m, mentions)} · {loc.say(fr, en).lower()} · "
                         f"{loc.change(m.amount, Unit.MONEY)}")
    return sections("\n".join(lines))


def stalled_blocks(deals: Sequence[StalledDeal], loc: Locale,
                   mentions: Mentions) -> list[Block]:
    top = sorted(deals, key=lambda d: (-d.days_in_stage, d.name))
    lines = [loc.say(f"*Deals bloqués* ({len(deals)})", f"*Stalled deals* ({len(deals)})")]
    for d in top[:_TOP_STALLED]:
        stage = escape(d.stage or "?")
        days = loc.days(d.days_in_stage)
        amount = f" · {loc.money(d.amount)}" if d.amount is not None else ""
        lines.append(f"• {_deal(d, mentions)} · " + loc.say(f"{stage} depuis {days}",
                                                            f"{stage} for {days}") + amount)
    if len(top) > _TOP_STALLED:
        more = len(top) - _TOP_STALLED
        lines.append(loc.say(f"… et {more} autres", f"… and {more} more"))
    return sections("\n".join(lines))


def actions_blocks(actions: Sequence[Action], loc: Locale, mentions: Mentions) -> list[Block]:
    lines = [loc.say("*Priorités pour les 7 prochains jours*", "*Priorities for the next 7 days*")]
    for n, a in enumerate(actions, start=1):
        who = f" → {people(list(a.owners), mentions, loc)}" if a.owners else ""
        lines.append(f"{n}. {escape(a.text)}{who}")
    if not actions:
        lines.append(loc.say("Rien d'urgent : tout est sur la trajectoire.",
                             "Nothing urgent: everything is on track."))
    return sections("\n".join(lines))


def footer(freshness: Freshness, loc: Locale, now: datetime) -> Block:
    return context(freshness_text(freshness, loc),
                   loc.say(f"Généré le {loc.datetime(now)}", f"Generated {loc.datetime(now)}"))


def period_note(ev: Evaluation, loc: Locale) -> str:
    e = next((r.evaluation for r in ev.krs if r.evaluation is not None), None)
    if e is None:
        return ""
    period = next(r.goal.period for r in ev.krs if r.evaluation is e)
    left = (period.end - local_day(loc.local(ev.now))).days
    name, share = period_name(period, loc), loc.percent(e.elapsed, 0)
    return loc.say(f"{name} · {share} écoulé · {left} jours restants",
                   f"{name} · {share} elapsed · {left} days left")



def _trend(points_: SeriesLike, month: tuple[date, date]) -> tuple[Point, Point] | None:
    inside = [p for p in points(points_) if month[0] - timedelta(days=1) <= p.day <= month[1]]
    return (inside[0], inside[-1]) if len(inside) >= 2 else None


def gap_lines(r: KrResult, loc: Locale, month: tuple[date, date],
              series: SeriesLike | None = None) -> list[str]:
    """The monthly gap analysis of one KR: actual vs expected vs target, the weekly effort
    left, the month's trend."""
    e, unit = r.evaluation, unit_of(r)
    if e is None:
        return [loc.say(f"Pas d'évaluation : {problem_text(r, loc)}",
                        f"Not evaluated: {problem_text(r, loc)}")]
    gap, left = loc.change(e.actual - e.expected, unit), loc.change(e.target - e.actual, unit)
    lines = [loc.say(
        f"Réel *{loc.value(e.actual, unit)}* · attendu {loc.value(e.expected, unit)} (écart "
        f"{gap}) · cible {target_text(r, loc)} (reste {left}) · rythme {loc.percent(e.pace, 0)}",
        f"Actual *{loc.value(e.actual, unit)}* · expected {loc.value(e.expected, unit)} (gap "
        f"{gap}) · target {target_text(r, loc)} ({left} to go) · pace {loc.percent(e.pace, 0)}")]
    days = (r.goal.period.end - local_day(e.at)).days
    if days >= 7 and e.actual != e.target:
        weekly = loc.change((e.target - e.actual) / (days / 7), unit)
        end = loc.date(r.goal.period.end)
        lines.append(loc.say(f"Il faut {weekly} par semaine jusqu'au {end}",
                             f"Needs {weekly} a week until {end}"))
    trend = _trend(series if series is not None else r.series, month)
    if trend is not None:
        first, last = trend
        moved = loc.change(last.value - first.value, unit)
        span = loc.date_range(first.day, last.day)
        lines.append(loc.say(f"Tendance du mois : {moved} ({span})",
                             f"Month's trend: {moved} ({span})"))
    return lines


def breakdown_line(b: Breakdown, unit: Unit, loc: Locale) -> str:
    by = {"owner": ("Par responsable", "By owner"), "segment": ("Par segment", "By segment")}
    word = loc.say(*by.get(b.by, (b.by, b.by)))
    rows = " · ".join(f"{escape(label)} {loc.value(value, unit)}" for label, value in b.rows)
    return f"{word}{loc.say(' : ', ': ')}{rows or '–'}"



def score_text(value: float, loc: Locale, colour: Colour) -> str:
    return f"{_SCORE[colour]} *{loc.number(rounded(value), 1)}*"



def scorecard_line(r: KrResult, loc: Locale) -> str:
    unit, s, e = unit_of(r), r.score, r.evaluation
    name = f"*{escape(r.goal.config.name or r.goal.id)}* `{escape(r.goal.id)}`"
    if s is None:
        if e is None:
            return f"⚪ {name}\n" + loc.say("Pas de score : ", "No score: ") + problem_text(r, loc)
        return (f"⏳ {name}\n" + loc.say("Provisoire (période en cours) : ", "Provisional "
                                          "(period not over): ")
                + f"{loc.value(e.actual, unit)} · {loc.percent(e.progress.shown, 0)}")
    line = f"{score_text(s.score, loc, s.colour)} · {name}\n" + loc.say(
        f"Valeur finale {loc.value(s.final_value, unit)} · cible "
        f"{loc.value(s.original_target, unit)}",
        f"Final value {loc.value(s.final_value, unit)} · target "
        f"{loc.value(s.original_target, unit)}")
    if s.revised_target is not None:
        line += loc.say(f" · cible révisée {loc.value(s.revised_target, unit)} → ",
                        f" · revised target {loc.value(s.revised_target, unit)} → ")
        line += score_text(s.revised_score, loc, s.revised_colour)
    return line


def movers_lines(ev: Evaluation, loc: Locale, mentions: Mentions, n: int) -> list[str]:
    ranked = sorted((r for r in ev.krs if r.evaluation is not None),
                    key=lambda r: (-(r.evaluation.progress.raw if r.evaluation else 0),
                                   r.goal.id))
    lines = [loc.say("*Plus forts mouvements* (depuis la référence)",
                     "*Biggest movers* (since the baseline)")]
    back = [r for r in ranked if r.evaluation and r.evaluation.progress.raw < 0]
    for r in [*ranked[:n], *[b for b in back[-n:] if b not in ranked[:n]]]:
        e, unit = r.evaluation, unit_of(r)
        assert e is not None
        moved = loc.change(e.actual - e.baseline, unit)
        lines.append(f"{'📈' if e.progress.raw >= 0 else '📉'} *{escape(r.goal.config.name)}* "
                     f"{moved} ({loc.percent(e.progress.raw, 0)} "
                     + loc.say("du chemin)", "of the way)"))
        lines += [f"    {c}" for c in contributors_text(r, loc, mentions)]
    return lines

