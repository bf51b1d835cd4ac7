"""The Monday digest, the monthly report and the quarter close, in French and English."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import sqlalchemy as sa

from rules.drift import stale_data
from rules.pace import Status
from rules.targets import Revision
from syncd.config import Config
from syncd.evaluate import Evaluation, evaluate
from syncd.notify.actions import PriorityKind, priorities, priority_actions
from syncd.notify.blocks import MAX_BLOCKS, Message, problems
from syncd.notify.digest import render_monthly, render_quarter, render_weekly
from syncd.notify.locale import from_config
from syncd.notify.messages import render_alert
from syncd.notify.model import (
    AlertEvent,
    Breakdown,
    DealMove,
    Freshness,
    MoveKind,
    StalledDeal,
    Waterfall,
    WaterfallStep,
)
from tests.evaluate.conftest import NOW as SANDBOX_NOW
from tests.evaluate.conftest import (  # noqa: F401  (fixtures: the synced sandbox team)
    config,
    db,
    engine,
    raw,
    template,
    write_config,
)
from tests.notify.builders import (
    EN,
    FR_CH,
    FRESH,
    MENTIONS,
    NOW,
    STALE,
    evaluation,
    goal,
    ramp,
    result,
    team,
)

NBSP = "\u00a0"


def text_of(messages: list[Message]) -> str:
    out = []
    for m in messages:
        for block in m.blocks:
            if isinstance(block.get("text"), dict):
                out.append(block["text"]["text"])
            out += [e.get("text", "") for e in block.get("elements", [])]
    return "\n".join(out)


def valid(messages: list[Message]) -> None:
    assert messages
    for m in messages:
        assert problems(m) == [], problems(m)


WATERFALL = Waterfall(
    start=NOW - timedelta(days=7), end=NOW, start_value=412_000.0, end_value=398_500.0,
    steps=(WaterfallStep(MoveKind.NEW, 85_000.0, 12), WaterfallStep(MoveKind.WON, -40_000.0, 3),
           WaterfallStep(MoveKind.LOST, -28_500.0, 2),
           WaterfallStep(MoveKind.PUSHED, -30_000.0, 2)),
    moves=(DealMove("d1", "Acme <SA>", MoveKind.WON, -25_000.0, "lea@acme.ch",
                    url="https://app.hubspot.com/deal/d1"),
           DealMove("d2", "Beta & Co", MoveKind.PUSHED, -20_000.0, "marc@acme.ch")),
)
STALLED = (StalledDeal("d3", "Gamma", "Proposition", 45, 12_000.0, "lea@acme.ch"),
           StalledDeal("d4", "Delta", "Négociation", 30, 30_000.0, "paul@acme.ch"))
EVENTS = (AlertEvent(NOW - timedelta(days=3), "f1", "conversion-pme", "behind_pace", "fired",
                     "KR conversion-pme is at risk", "warning"),
          AlertEvent(NOW - timedelta(days=1), "f2", "pipeline-drop", "change", "resolved",
                     "pipeline_value fell 27%", "warning"))


def test_weekly_digest_in_french() -> None:
    messages = render_weekly(evaluation(team()), loc=FR_CH, now=NOW, freshness=FRESH,
                             mentions=MENTIONS, events=EVENTS, waterfall=WATERFALL,
                             stalled=STALLED)
    valid(messages)
    text = text_of(messages)
    assert messages[0].text.startswith("📊 Revue OKR — semaine 48 (23–29 nov.) — 4 KR : ")
    assert "T4 2026 · 58% écoulé · 38 jours restants" in text
    assert "🎯 Augmenter le MRR de 20 % ce trimestre" in text
    assert ("🟠 *Conversion des leads qualifiés en clients (PME)* `conversion-pme`\n"
            "*21,6%* · attendu 22,1% · cible 25% · à risque · 7 j : +0,3") in text
    assert f"*1’380{NBSP}CHF* · attendu 1’345{NBSP}CHF · cible 1’450{NBSP}CHF" in text
    assert "cible 5x (révisée, initiale 6x)" in text
    assert "révisée le 9 nov. : Promotion agressive d'un concurrent" in text
    assert "projection 23,4% au 31 déc." in text
    assert "<@U0LEA> et marc@acme.ch" in text
    assert ("*Priorités pour les 7 prochains jours*\n"
            "1. Plan de rattrapage pour *Churn mensuel*") in text
    assert "🔔 1 déclenchée(s) · ✅ 1 résolue(s)" in text
    assert ("*Conversion des leads qualifiés en clients (PME)* — en retard sur la "
            "trajectoire") in text
    assert f"*Pipeline ouvert* (16–23 nov.) : 412’000{NBSP}CHF → *398’500{NBSP}CHF* (−3,3%)" in text
    assert f"➕ Nouveaux (12) : +85’000{NBSP}CHF" in text
    assert ("<https://app.hubspot.com/deal/d1|Acme &lt;SA&gt;> · <@U0LEA> · gagnés · "
            f"−25’000{NBSP}CHF") in text
    assert "Beta &amp; Co · marc@acme.ch" in text
    assert f"Gamma · <@U0LEA> · Proposition depuis 45{NBSP}jours" in text
    assert "Données à jour il y a 12 minutes" in text
    files = [f.filename for m in messages for f in m.files]
    assert files == ["conversion-pme.png", "panier-moyen.png", "churn.png", "pipeline.png"]


def test_weekly_digest_in_english_on_stale_data() -> None:
    messages = render_weekly(evaluation(team()), loc=EN, now=NOW, freshness=STALE,
                             mentions=MENTIONS, charts=False)
    valid(messages)
    text = text_of(messages)
    assert messages[0].text.startswith("📊 OKR review — week 48 (23–29 Nov) — 4 KRs: ")
    assert messages[0].text.endswith("⚠️ stale data")
    assert f"*CHF{NBSP}1’380* · expected CHF{NBSP}1’345 · target CHF{NBSP}1’450" in text
    assert "*Priorities for the next 7 days*" in text
    assert text.count("⚠️ Stale data: last successful CRM sync 5 hours ago") == 2  # top, foot
    assert "No alerts this week." in text
    assert all(not m.files for m in messages)


def test_forty_krs_split_into_valid_messages_without_losing_any() -> None:
    results = []
    for n in range(40):
        kr = goal(f"kr-{n:02d}", f"Key result numéro {n} <segment {n % 4}>",
                  "lead_conversion_rate", "18%", "25%", index=n // 10,
                  objective=f"Objectif {n // 10}")
        results.append(result(kr, ramp(0.19, 0.20 + n / 1000)))
    messages = render_weekly(evaluation(results), loc=FR_CH, now=NOW, freshness=FRESH,
                             mentions=MENTIONS, charts=False, stalled=STALLED,
                             waterfall=WATERFALL, events=EVENTS)
    assert len(messages) >= 2
    valid(messages)
    total = len(messages)
    for n, m in enumerate(messages, start=1):
        assert len(m.blocks) <= MAX_BLOCKS
        assert m.text.endswith(f"({n}/{total})")
    text = text_of(messages)
    for n in range(40):
        assert f"`kr-{n:02d}`" in text
        assert f"Key result numéro {n} &lt;segment {n % 4}&gt;" in text
    for n in range(4):
        assert f"🎯 Objectif {n}" in text
    assert "Données à jour il y a 12 minutes" in text


def test_priority_actions_are_ranked_and_owned() -> None:
    results = team()
    ev = evaluation(results)
    found = priorities(ev, stalled=STALLED, waterfall=WATERFALL)
    assert [p.kind for p in found] == [PriorityKind.OFF_TRACK, PriorityKind.PROJECTED_MISS,
                                       PriorityKind.STALLED, PriorityKind.PUSHED]
    assert found[0].subject == "churn" and found[0].owners == ("nina@acme.ch", "tom@acme.ch")
    assert found[2].owners == ("paul@acme.ch", "lea@acme.ch")  # largest deals first
    # stale data comes first; muted findings count for nothing
    stale = stale_data("hubspot", NOW - timedelta(hours=5), NOW, timedelta(hours=2))
    assert stale is not None
    ev_stale = replace(ev, findings=(stale,))
    kinds = [p.kind for p in priorities(ev_stale)]
    assert kinds[0] is PriorityKind.STALE_DATA
    assert PriorityKind.PROJECTED_MISS not in kinds  # its finding is gone
    # at least three actions: on-track KRs fill in, nearest to falling behind first
    calm = [r for r in results if r.evaluation and r.evaluation.status is Status.ON_TRACK]
    few = priorities(evaluation(calm, findings=()), minimum=3)
    assert [p.kind for p in few] == [PriorityKind.KEEP_PACE] * 2
    assert [p.subject for p in few] == ["pipeline", "panier-moyen"]  # pace 1.21 < 1.24
    assert len(priorities(ev, stalled=STALLED, waterfall=WATERFALL, limit=3)) == 3
    words = priority_actions(ev, EN, stalled=STALLED)
    assert words[0].text.startswith("Recovery plan for *Churn mensuel*: 3.2% vs 2.4% expected")
    assert "Follow up the 2 stalled deals" in words[2].text


def test_monthly_report() -> None:
    results = team()
    breakdowns = [Breakdown("conversion-pme", "owner", (("lea@acme.ch", 0.23),
                                                        ("marc@acme.ch", 0.20))),
                  Breakdown("panier-moyen", "segment", (("PME", 1300.0), ("ETI", None)))]
    messages = render_monthly(evaluation(results), loc=FR_CH, now=NOW, freshness=FRESH,
                              mentions=MENTIONS, breakdowns=breakdowns, month=date(2026, 11, 1))
    valid(messages)
    text = text_of(messages)
    assert messages[0].text.startswith("📅 Rapport mensuel OKR — novembre 2026")
    assert (f"Réel *21,6%* · attendu 22,1% (écart −0,5{NBSP}pt) · cible 25% (reste "
            f"+3,4{NBSP}pts) · rythme 89%") in text
    assert f"Il faut +0,6{NBSP}pt par semaine jusqu'au 31 déc." in text
    assert f"Tendance du mois : +0,6{NBSP}pt (10–23 nov.)" in text
    assert "Par responsable : lea@acme.ch 23% · marc@acme.ch 20%" in text
    assert f"Par segment : PME 1’300{NBSP}CHF · ETI –" in text
    assert ("🔧 *Pipeline qualifié (x objectif trimestriel)* : 6x → 5x, le 9 nov. — "
            "Promotion agressive") in text
    october = render_monthly(evaluation(results), loc=EN, now=NOW, freshness=FRESH,
                             month=date(2026, 10, 5))
    assert "No revision this month." in text_of(october)
    # by default, the month before now's (the report opens the next month)
    default = render_monthly(evaluation(results), loc=EN, now=NOW, freshness=FRESH)
    assert default[0].text.startswith("📅 Monthly OKR report — October 2026")


def test_quarter_scorecard() -> None:
    end = NOW.replace(year=2027, month=1, day=4)
    conversion = goal("conversion-pme", "Conversion PME", "lead_conversion_rate", "18%", "25%")
    pipeline = goal("pipeline", "Pipeline", "pipeline_coverage", "3x", "6x",
                    ("manager@acme.ch",), params={"quota": 60000},
                    revisions=[Revision(date(2026, 11, 9), 5.0, "Promotion concurrente")])
    churn = goal("churn", "Churn", "churn_rate", "3%", "2%")
    results = [result(conversion, ramp(0.22, 0.236), now=end, scored=True),
               result(pipeline, ramp(4.5, 5.0), now=end, scored=True),
               result(churn, ramp(0.030, 0.031), now=end, scored=True)]
    ev: Evaluation = evaluation(results, findings=(), now=end)
    messages = render_quarter(ev, loc=FR_CH, now=end, freshness=replace(FRESH, now=end,
                                                                         last_sync=end),
                              mentions=MENTIONS)
    valid(messages)
    text = text_of(messages)
    assert messages[0].text.startswith("🏁 Bilan OKR — T4 2026 — scores 0,")
    assert "🟢 *0,8* · *Conversion PME* `conversion-pme`\nValeur finale 23,6% · cible 25%" in text
    assert "Valeur finale 5x · cible 6x · cible révisée 5x → 🟢 *1*" in text
    assert "🔴 *0* · *Churn*" in text
    assert "Score de l'objectif 🟡 *0,5* · contre les cibles révisées 🟡 *0,6*" in text
    assert "*Plus forts mouvements*" in text
    assert f"📉 *Churn* +0,1{NBSP}pt" in text
    assert "Données à jour à l'instant" in text
    english = text_of(render_quarter(ev, loc=EN, now=end, freshness=FRESH))
    assert "Objective score 🟡 *0.5* · against revised targets 🟡 *0.6*" in english



def test_sandbox_team_digest(engine: sa.Engine, config: Config) -> None:  # noqa: F811
    """The real evaluator on the synced sandbox team (tests/evaluate's fixtures)."""
    ev = evaluate(engine, config, SANDBOX_NOW, save=False, contributors=True)
    loc = from_config(config)
    fresh = Freshness(ev.last_sync, timedelta(hours=2), SANDBOX_NOW)
    messages = render_weekly(ev, loc=loc, now=SANDBOX_NOW, freshness=fresh, mentions=MENTIONS)
    valid(messages)
    text = text_of(messages)
    assert ev.krs
    for r in ev.krs:
        assert f"`{r.goal.id}`" in text
    assert "Priorités pour les 7 prochains jours" in text
    assert f"{NBSP}CHF" in text
    charts = [f for m in messages for f in m.files]
    assert len(charts) == sum(1 for r in ev.krs if r.evaluation is not None)
    for finding in ev.findings:
        kr = next((r for r in ev.krs if r.goal.id == finding.subject), None)
        for kind in ("firing", "repeat", "resolved"):
            alert = render_alert(kind, [finding], loc=loc, freshness=fresh, kr=kr)
            assert problems(alert) == []
