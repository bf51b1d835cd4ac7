"""Alert messages: what moved, by how much, against what, since when, who owns it.

:func:`render_alert` turns an alert group's notice (``firing``, ``update``, ``repeat``,
``resolved``: the values of ``rules.alerts.NoticeKind``) into a :class:`Message`; every
message ends with the data's freshness and warns when the data is stale.
:func:`render_resolved_update` is the first message of the group once resolved (for
``chat.update``): marked ``✅ Résolu``, its title struck through.

Shared with the digests: :func:`person` (``<@U123>``, or the e-mail when Slack does not know
it), :func:`freshness_text`, :func:`title_of`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from rules import catalog
from rules.findings import Finding, FindingKind, Severity
from rules.metric import Unit
from rules.pace import Status
from rules.series import Contribution
from syncd.evaluate import KrResult
from syncd.notify.blocks import Message, context, escape, link, mention, sections
from syncd.notify.locale import Locale
from syncd.notify.model import Freshness

#: e-mail -> Slack user id (None: Slack does not know that e-mail)
Mentions = Mapping[str, "str | None"]
#: (kind, key) -> URL or None; kinds: ``kr``, ``rule``, ``deal``, ``owner``, ``segment``
LinkBuilder = Callable[[str, str], "str | None"]

KINDS = ("firing", "update", "repeat", "resolved")
_SEVERITY = {Severity.CRITICAL: "🔴", Severity.WARNING: "🟠", Severity.INFO: "🔵"}
_DIMENSIONS = {"owner": ("Par responsable", "By owner"),
               "company_segment": ("Par segment", "By segment"),
               "deal": ("Par deal", "By deal")}


# --------------------------------------------------------------------------- shared


def person(email: str, mentions: Mentions) -> str:
    """``<@U123>`` for a known e-mail, else the e-mail itself (escaped): never fails."""
    uid = mentions.get(email) or mentions.get(email.strip().lower())
    return mention(uid) if uid else escape(email)


def people(emails: Sequence[str], mentions: Mentions, loc: Locale) -> str:
    return loc.join([person(e, mentions) for e in emails])


def freshness_text(freshness: Freshness, loc: Locale) -> str:
    """``Données à jour il y a 12 minutes``, or a ⚠️ warning when stale or never synced."""
    if freshness.last_sync is None:
        return loc.say("⚠️ Aucune synchronisation CRM réussie : ces chiffres ne sont pas fiables",
                       "⚠️ No successful CRM sync yet: these figures cannot be trusted")
    age = loc.ago(max(freshness.now - freshness.last_sync, timedelta(0)))
    when = loc.datetime(freshness.last_sync)
    if freshness.stale:
        return loc.say(
            f"⚠️ Données anciennes : dernière synchronisation CRM réussie {age} ({when}), "
            "les chiffres peuvent avoir changé depuis",
            f"⚠️ Stale data: last successful CRM sync {age} ({when}); figures may have "
            "changed since")
    return loc.say(f"Données à jour {age}", f"Data updated {age}")


def title_of(finding: Finding, kr: KrResult | None, loc: Locale) -> str:
    """The subject in words: the KR's name, else the metric's title, else the rule id."""
    if kr is not None:
        return kr.goal.config.name or kr.goal.id
    metric = dict(finding.labels).get("metric")
    if metric:
        return loc.metric(metric)
    return finding.subject


def unit_of(finding: Finding) -> Unit:
    metric = dict(finding.labels).get("metric")
    try:
        return catalog.get(metric).unit if metric else Unit.COUNT
    except LookupError:
        return Unit.COUNT


def contributors_text(kr: KrResult, loc: Locale, mentions: Mentions,
                      links: LinkBuilder | None = None) -> list[str]:
    """``Par responsable : <@U1> +2 pts, marc@acme.ch −1 pt`` per dimension (7-day moves)."""
    unit = catalog.get(kr.goal.config.metric).unit
    lines = []
    for dim, moves in kr.contributors.items():
        if not moves:
            continue
        words = _DIMENSIONS.get(dim, (dim, dim))
        shown = ", ".join(f"{_label(dim, c, mentions, links)} {loc.change(c.delta, unit)}"
                          for c in moves)
        lines.append(f"{loc.say(words[0], words[1])}{loc.say(' : ', ': ')}{shown}")
    return lines


def _label(dim: str, c: Contribution, mentions: Mentions, links: LinkBuilder | None) -> str:
    if dim == "owner" and "@" in c.label:
        return person(c.label, mentions)
    url = links(dim if dim != "company_segment" else "segment", c.label) if links else None
    return link(url, c.label)


# --------------------------------------------------------------------------- one finding


def days_ago(days: int, loc: Locale, fr: bool) -> str:
    if not days:
        return "avant" if fr else "before"
    return f"il y a {days} jours" if fr else f"{days} days earlier"


def finding_text(f: Finding, kr: KrResult | None, loc: Locale) -> tuple[str, str]:
    """(headline, detail) of one finding, in the team's language, figures localized."""
    name = f"*{escape(title_of(f, kr, loc))}*"
    unit = unit_of(f)
    n = dict(f.numbers)

    def v(key: str) -> str:
        return loc.value(n.get(key), unit)

    if f.kind is FindingKind.BEHIND_PACE:
        status = Status.OFF_TRACK if f.severity is Severity.CRITICAL else Status.AT_RISK
        head = loc.say(f"{name} est {loc.status_word(status)}",
                       f"{name} is {loc.status_word(status)}")
        detail = loc.say(
            f"*{v('actual')}* pour *{v('expected')}* attendus à ce jour · cible {v('target')} "
            f"· rythme {loc.percent(n.get('pace', 0), 0)} · "
            f"{loc.percent(n.get('elapsed', 0), 0)} de la période écoulée",
            f"*{v('actual')}* vs *{v('expected')}* expected by now · target {v('target')} "
            f"· pace {loc.percent(n.get('pace', 0), 0)} · "
            f"{loc.percent(n.get('elapsed', 0), 0)} of the period elapsed")
        gap = n.get("actual", 0) - n.get("expected", 0)
        detail += loc.say(f"\nÉcart à la trajectoire : {loc.change(gap, unit)}",
                          f"\nGap to the expected path: {loc.change(gap, unit)}")
        return head, detail
    if f.kind is FindingKind.PROJECTED_MISS:
        end = kr.goal.period.end if kr is not None else None
        by = loc.say(f" au {loc.date(end)}", f" by {loc.date(end)}") if end else ""
        head = loc.say(f"{name} devrait manquer sa cible", f"{name} is projected to miss "
                       "its target")
        band = "" if v("low") == v("high") else loc.say(
            f" (fourchette {v('low')} à {v('high')})", f" (range {v('low')} to {v('high')})")
        detail = loc.say(
            f"Projection *{v('projected')}*{by}{band} pour une cible de *{v('target')}*",
            f"Projected *{v('projected')}*{by}{band} vs a target of *{v('target')}*")
        return head, detail
    if f.kind is FindingKind.CHANGE:
        change, base = n.get("change", 0.0), n.get("base", 0.0)
        if "relative" in n:
            relative = bool(n["relative"])
        else:  # a finding stored before the rule's kind was recorded
            relative = base != 0 and abs((n.get("current", 0.0) - base) / abs(base)
                                         - change) < 1e-9
        moved = loc.change(change, unit, relative=relative)
        days = int(n.get("over_days", 0))
        span = loc.say(f" en {days} jours", f" over {days} days") if days else ""
        head = loc.say(f"{name} : {moved}{span}", f"{name}: {moved}{span}")
        detail = loc.say(
            f"*{v('current')}* contre {v('base')} {days_ago(days, loc, True)} · seuil "
            f"{loc.change(n.get('threshold'), unit, relative=relative)}, résolu au-delà de "
            f"{loc.change(n.get('recover'), unit, relative=relative)} · règle `{f.subject}`",
            f"*{v('current')}* vs {v('base')} {days_ago(days, loc, False)} · alert at "
            f"{loc.change(n.get('threshold'), unit, relative=relative)}, resolved past "
            f"{loc.change(n.get('recover'), unit, relative=relative)} · rule `{f.subject}`")
        return head, detail
    if f.kind is FindingKind.THRESHOLD:
        head = loc.say(f"{name} a franchi son seuil", f"{name} crossed its threshold")
        detail = loc.say(f"*{v('value')}* pour un seuil de {v('threshold')} · règle "
                         f"`{f.subject}`",
                         f"*{v('value')}* vs a threshold of {v('threshold')} · rule "
                         f"`{f.subject}`")
        return head, detail
    if f.kind is FindingKind.STALE_DATA:
        source = escape(f.source or "CRM")
        limit = loc.duration(timedelta(hours=n.get("stale_after_hours", 0)))
        if "age_hours" in n:
            age = loc.duration(timedelta(hours=n["age_hours"]))
            detail = loc.say(f"Dernière synchronisation réussie il y a {age} (seuil : {limit})",
                             f"Last successful sync {age} ago (limit: {limit})")
        else:
            detail = loc.say(f"Aucune synchronisation réussie (seuil : {limit})",
                             f"No successful sync yet (limit: {limit})")
        head = loc.say(f"*Données {source} anciennes* : les alertes sur ces données sont "
                       "en sourdine", f"*Stale {source} data*: alerts on it are muted")
        return head, detail
    return name, escape(f.reason)


# --------------------------------------------------------------------------- alerts


def _prefix(kind: str, loc: Locale, since: datetime | None) -> str:
    if kind == "update":
        return loc.say("🔁 Mise à jour", "🔁 Update")
    if kind == "repeat":
        when = f" {loc.say('depuis', 'since')} {loc.datetime(since)}" if since else ""
        return loc.say(f"⏰ Toujours actif{when}", f"⏰ Still firing{when}")
    if kind == "resolved":
        return loc.say("✅ Résolu", "✅ Resolved")
    return ""


def render_alert(kind: str, findings: Sequence[Finding], *, loc: Locale,
                 freshness: Freshness, kr: KrResult | None = None,
                 mentions: Mentions | None = None, links: LinkBuilder | None = None,
                 since: datetime | None = None, owners: Sequence[str] = ()) -> Message:
    """The Slack message of one alert group's notice.

    ``findings``: the group's findings (for ``resolved``, the last known ones). ``kr``: the
    KR they are about, for its owners, target and contributors. ``owners``: who to mention
    when the subject is not a KR (a rule). ``since``: when the group first fired.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown notice kind {kind!r}; use one of {', '.join(KINDS)}")
    if not findings:
        raise ValueError("an alert needs at least one finding")
    known = mentions or {}
    first = findings[0]
    heads: list[str] = []
    body: list[str] = []
    for f in findings:
        head, detail = finding_text(f, kr, loc)
        emoji = "✅" if kind == "resolved" else _SEVERITY.get(f.severity, "🔵")
        heads.append(head)
        body.append(f"{emoji} {head}\n{detail}")
        if f.muted and kind != "resolved":
            body.append(loc.say("🔇 En sourdine : ces chiffres reposent sur des données "
                                "anciennes", "🔇 Muted: these figures rest on stale data"))
    prefix = _prefix(kind, loc, since)
    if prefix:
        body.insert(0, f"*{prefix}*" + (loc.say(" — dernières valeurs connues",
                                                " — last known values")
                                        if kind == "resolved" else ""))
    who = list(kr.goal.config.owners) if kr is not None else list(owners)
    if who:
        body.append(loc.say("Responsables : ", "Owners: ") + people(who, known, loc))
    if kr is not None and kind != "resolved":
        body.extend(contributors_text(kr, loc, known, links))
    notes = [freshness_text(freshness, loc)]
    if since is not None and kind != "repeat":
        notes.append(loc.say(f"Active depuis {loc.datetime(since)}",
                             f"Firing since {loc.datetime(since)}"))
    url = links("kr" if kr is not None else "rule", first.subject) if links else None
    if url:
        notes.append(link(url, loc.say("Ouvrir dans le CRM", "Open in the CRM")))
    blocks = [*sections("\n".join(body)), context(*notes)]
    plain = _plain(prefix + loc.say(" : ", ": ") if prefix else "", heads[0], loc)
    if freshness.stale:
        plain += loc.say(" (données anciennes)", " (stale data)")
    return Message(plain, tuple(blocks))


def _plain(prefix: str, head: str, loc: Locale) -> str:
    """The notification text: no mrkdwn stars, entities turned back into characters."""
    text = head.replace("*", "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;",
                                                                                  "&")
    return f"{prefix}{text}"


def render_resolved_update(findings: Sequence[Finding], *, loc: Locale, resolved_at: datetime,
                           freshness: Freshness, kr: KrResult | None = None,
                           since: datetime | None = None,
                           links: LinkBuilder | None = None) -> Message:
    """The group's first message once resolved (``chat.update``): ``✅ Résolu`` and the
    original headline struck through, no mentions (an update notifies nobody anyway)."""
    if not findings:
        raise ValueError("a resolved alert needs its last known finding")
    lines = []
    heads = []
    for f in findings:
        head, detail = finding_text(f, kr, loc)
        heads.append(head)
        lines.append(f"~{head.replace('*', '')}~\n{detail}")
    lasted = ""
    if since is not None:
        lasted = loc.say(f" après {loc.duration(resolved_at - since)}",
                         f" after {loc.duration(resolved_at - since)}")
    top = loc.say(f"✅ *Résolu* le {loc.datetime(resolved_at)}{lasted}",
                  f"✅ *Resolved* on {loc.datetime(resolved_at)}{lasted}")
    notes = [freshness_text(freshness, loc)]
    url = links("kr" if kr is not None else "rule", findings[0].subject) if links else None
    if url:
        notes.append(link(url, loc.say("Ouvrir dans le CRM", "Open in the CRM")))
    blocks = [*sections("\n".join([top, *lines])), context(*notes)]
    return Message(_plain(loc.say("✅ Résolu : ", "✅ Resolved: "), heads[0], loc),
                   tuple(blocks))


__all__ = [
    "KINDS", "LinkBuilder", "Mentions", "contributors_text", "finding_text",
    "freshness_text", "people", "person", "render_alert", "render_resolved_update",
    "title_of",
]
