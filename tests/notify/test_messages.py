"""Alert messages: figures localized, owners mentioned (or named), freshness always stated."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from rules.drift import ChangeRule, change_finding, stale_data
from rules.findings import Finding
from rules.series import Point
from syncd.evaluate import KrResult
from syncd.notify.blocks import Message, problems
from syncd.notify.messages import person, render_alert, render_resolved_update
from syncd.notify.model import Freshness
from tests.notify.builders import (
    EN,
    FR_CH,
    FR_FR,
    FRESH,
    MENTIONS,
    NOW,
    STALE,
    findings_of,
    goal,
    result,
    team,
)

NBSP = "\u00a0"


def body(message: Message) -> str:
    """Every text of the message's blocks, in order."""
    out = []
    for block in message.blocks:
        if isinstance(block.get("text"), dict):
            out.append(block["text"]["text"])
        out += [e.get("text", "") for e in block.get("elements", [])]
        out += [f["text"] for f in block.get("fields", [])]
    return "\n".join(out)


def conversion() -> tuple[list[Finding], KrResult]:
    results = team()
    kr = results[0]
    return [f for f in findings_of(results) if f.subject == kr.goal.id], kr


def crm(kind: str, key: str) -> str | None:
    return f"https://app.hubspot.com/{kind}/{key}?view=1&tab=2" if kind == "kr" else None


def test_firing_behind_pace_in_french() -> None:
    group, kr = conversion()
    message = render_alert("firing", group, loc=FR_CH, freshness=FRESH, kr=kr,
                           mentions=MENTIONS, links=crm, since=NOW - timedelta(days=2))
    text = body(message)
    assert problems(message) == []
    assert message.text == "Conversion des leads qualifiés en clients (PME) est à risque"
    assert "*21,6%* pour *22,1%* attendus à ce jour · cible 25%" in text
    assert "Écart à la trajectoire : −0,5" in text
    assert "devrait manquer sa cible" in text
    assert "Responsables : <@U0LEA> et marc@acme.ch" in text  # marc unknown to Slack
    assert "Par responsable : <@U0LEA> +1" in text
    assert "Données à jour il y a 12 minutes" in text
    assert "Active depuis sam. 21 nov. 07:30" in text
    assert "<https://app.hubspot.com/kr/conversion-pme?view=1&amp;tab=2|Ouvrir dans le CRM>" in text


def test_repeat_in_english_on_stale_data_warns() -> None:
    group, kr = conversion()
    message = render_alert("repeat", group, loc=EN, freshness=STALE, kr=kr,
                           mentions=MENTIONS, since=NOW - timedelta(days=2))
    text = body(message)
    assert message.text.startswith("⏰ Still firing since Sat, 21 Nov 07:30: Conversion")
    assert message.text.endswith("(stale data)")
    assert "*21.6%* vs *22.1%* expected by now · target 25%" in text
    assert "⚠️ Stale data: last successful CRM sync 5 hours ago" in text
    assert "Owners: <@U0LEA> and marc@acme.ch" in text


def test_never_synced_is_a_warning_too() -> None:
    group, kr = conversion()
    never = Freshness(None, timedelta(hours=2), NOW)
    text = body(render_alert("firing", group, loc=FR_CH, freshness=never, kr=kr))
    assert "⚠️ Aucune synchronisation CRM réussie" in text
    assert "marc@acme.ch" in text and "lea@acme.ch" in text  # no mentions given: names


def test_change_rule_alert_in_euros() -> None:
    rule = ChangeRule("pipeline-drop", "pipeline_value", -0.25, timedelta(days=7),
                      recover=-0.15, min_base=10_000)
    finding = change_finding(rule, [Point(date(2026, 11, 16), 400_000.0),
                                    Point(date(2026, 11, 23), 290_000.0)], NOW)
    assert finding is not None
    message = render_alert("firing", [finding], loc=FR_FR, freshness=FRESH,
                           owners=["manager@acme.ch"], mentions=MENTIONS)
    text = body(message)
    assert message.text == f"Pipeline ouvert : −27,5{NBSP}% en 7 jours"  # over the rule's window
    assert f"*290\u202f000{NBSP}€* contre 400\u202f000{NBSP}€ il y a 7 jours" in text
    assert f"seuil −25{NBSP}%, résolu au-delà de −15{NBSP}%" in text
    assert "Responsables : <@U0MGR>" in text


def test_stale_data_alert() -> None:
    finding = stale_data("hubspot", NOW - timedelta(hours=5), NOW, timedelta(hours=2))
    assert finding is not None
    text = body(render_alert("firing", [finding], loc=FR_CH, freshness=STALE))
    assert ("Dernière synchronisation réussie il y a 5\u00a0heures (seuil : 2\u00a0heures)"
            in text)
    assert "en sourdine" in text


def test_update_and_resolved_notices() -> None:
    group, kr = conversion()
    update = render_alert("update", group, loc=FR_CH, freshness=FRESH, kr=kr)
    assert update.text.startswith("🔁 Mise à jour : ")
    resolved = render_alert("resolved", group, loc=FR_CH, freshness=FRESH, kr=kr)
    assert resolved.text.startswith("✅ Résolu : ")
    assert "dernières valeurs connues" in body(resolved)
    assert "Données à jour" in body(resolved)


def test_resolved_update_of_the_first_message() -> None:
    group, kr = conversion()
    message = render_resolved_update(group, loc=FR_CH, resolved_at=NOW, freshness=FRESH,
                                     kr=kr, since=NOW - timedelta(days=2))
    text = body(message)
    assert problems(message) == []
    assert text.startswith("✅ *Résolu* le lun. 23 nov. 07:30 après 2\u00a0jours")
    assert "~Conversion des leads qualifiés en clients (PME) est à risque~" in text
    assert "<@" not in text  # an update pings nobody


def test_user_text_is_escaped() -> None:
    kr = goal("r-d", "R&D <interne> > PME", "arpu", 1200, 1450, ("a&b@acme.ch",))
    r = result(kr, [1000.0, 1001.0, 1002.0, 1003.0])
    findings = findings_of([r])
    assert findings
    text = body(render_alert("firing", findings, loc=EN, freshness=FRESH, kr=r))
    assert "R&amp;D &lt;interne&gt; &gt; PME" in text
    assert "a&amp;b@acme.ch" in text
    assert "<interne>" not in text


def test_person_never_fails() -> None:
    assert person("lea@acme.ch", MENTIONS) == "<@U0LEA>"
    assert person("LEA@acme.ch ", {"lea@acme.ch": "U1"}) == "<@U1>"
    assert person("marc@acme.ch", MENTIONS) == "marc@acme.ch"
    assert person("nobody@acme.ch", {}) == "nobody@acme.ch"


def test_bad_calls_are_refused() -> None:
    group, _ = conversion()
    with pytest.raises(ValueError, match="firing, update, repeat, resolved"):
        render_alert("fired", group, loc=EN, freshness=FRESH)
    with pytest.raises(ValueError):
        render_alert("firing", [], loc=EN, freshness=FRESH)
