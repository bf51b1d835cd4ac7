"""Numbers, money, dates and words as the team reads them, from (language, currency, zone).

Every figure goes through babel (CLDR data): no hand-built separators. The babel locale is
chosen from the language and the reporting currency (:func:`babel_locale_name`):

======== =========== =========== ===================================================
language currency    babel       ``1200`` money, ``0.183`` ratio
======== =========== =========== ===================================================
fr       CHF         fr_CH (*)   ``1’200 CHF``, ``18,3%``
fr       EUR         fr_FR       ``1 200 €``, ``18,3 %`` (narrow no-break spaces)
fr       CAD         fr_CA       ``1 200 $``
fr       other       fr_FR       ``1 200 USD``
en       CHF         en_CH       ``CHF 1’200``, ``18.3%``
en       EUR         en_IE       ``€1,200``
en       GBP         en_GB       ``£1,200``
en       CAD/AUD     en_CA/en_AU
en       other       en_US       ``$1,200``
======== =========== =========== ===================================================

(*) CLDR's French-Swiss data groups thousands with a narrow space; Swiss practice (and the
team's own sheets: ``1'200 CHF``) groups with an apostrophe, the symbol CLDR gives de_CH,
it_CH and en_CH. fr_CH here keeps every French-Swiss rule but takes that group symbol from
CLDR's de_CH.

Money is shown in whole units (a digest is not a ledger); ``money(..., cents=True)`` keeps
the currency's decimals. Signed changes use a true minus sign (``−3 pts``).
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale as BabelLocale
from babel import dates as bdates
from babel import numbers as bnumbers
from babel import units as bunits
from babel.lists import format_list

from rules import catalog
from rules.errors import RulesError
from rules.metric import Unit
from rules.pace import Status

MINUS = "\u2212"

_FR = {"CHF": "fr_CH", "EUR": "fr_FR", "CAD": "fr_CA"}
_EN = {"CHF": "en_CH", "EUR": "en_IE", "GBP": "en_GB", "CAD": "en_CA", "AUD": "en_AU",
       "USD": "en_US"}


def babel_locale_name(language: str, currency: str) -> str:
    """The CLDR locale whose conventions the messages follow (table in the module doc)."""
    if language == "fr":
        return _FR.get(currency.upper(), "fr_FR")
    return _EN.get(currency.upper(), "en_US")


class _SwissLocale(BabelLocale):
    """A CLDR locale grouping thousands with the Swiss apostrophe (de_CH's group symbol)."""

    @property
    def number_symbols(self) -> Any:
        base = super().number_symbols
        group = BabelLocale.parse("de_CH").number_symbols["latn"]["group"]
        return {system: ({**symbols, "group": group} if system == "latn" else symbols)
                for system, symbols in base.items()}


def _babel(name: str) -> BabelLocale:
    if name == "fr_CH":
        return _SwissLocale("fr", "CH")
    return BabelLocale.parse(name)


#: The catalog's metric titles in French (English titles come from the catalog).
_METRIC_FR = {
    "mrr": "MRR (revenu récurrent mensuel)", "mrr_growth": "Croissance du MRR",
    "revenue": "Chiffre d'affaires signé", "revenue_yoy_growth": "Chiffre d'affaires vs N-1",
    "new_customers": "Nouveaux clients",
    "lead_conversion_rate": "Conversion leads qualifiés → clients",
    "win_rate": "Taux de closing", "average_deal_value": "Valeur moyenne des deals",
    "arpu": "Panier moyen (ARPU)", "churn_rate": "Churn clients",
    "revenue_churn_rate": "Churn de revenu", "retention_rate": "Rétention clients",
    "net_revenue_retention": "Rétention nette du revenu (NRR)",
    "pipeline_value": "Pipeline ouvert", "weighted_pipeline_value": "Pipeline pondéré",
    "pipeline_coverage": "Couverture du pipeline", "qualified_leads": "Leads qualifiés",
    "qualified_leads_per_rep": "Leads qualifiés par commercial et par mois",
    "mql_to_sql_rate": "Taux MQL → SQL", "sales_cycle_days": "Durée du cycle de vente",
    "segment_revenue_share": "Part du chiffre d'affaires d'un segment",
    "quota_attainment": "Atteinte du quota",
}

_STATUS = {
    Status.ON_TRACK: ("🟢", "en bonne voie", "on track"),
    Status.AT_RISK: ("🟠", "à risque", "at risk"),
    Status.OFF_TRACK: ("🔴", "hors trajectoire", "off track"),
}


@dataclass(frozen=True, slots=True)
class Locale:
    """How messages read for one team: ``Locale.of("fr", "CHF", "Europe/Zurich")``."""

    language: str
    currency: str
    timezone: str
    babel: BabelLocale = field(init=False, repr=False, compare=False)
    zone: dt.tzinfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.language not in ("fr", "en"):
            raise ValueError(f"language {self.language!r} is not supported; use fr or en")
        object.__setattr__(self, "babel", _babel(babel_locale_name(self.language,
                                                                   self.currency)))
        object.__setattr__(self, "zone", ZoneInfo(self.timezone))

    @classmethod
    def of(cls, language: str, currency: str = "CHF", timezone: str = "UTC") -> Locale:
        return cls(language, currency.upper(), timezone)

    @property
    def name(self) -> str:
        """The babel locale's name, like ``fr_CH``."""
        return str(self.babel)

    @property
    def fr(self) -> bool:
        return self.language == "fr"

    def say(self, fr: str, en: str) -> str:
        """The text in the team's language (the other is kept next to it in the code)."""
        return fr if self.fr else en

    # ------------------------------------------------------------------ numbers

    def number(self, value: float, digits: int = 1) -> str:
        """``1’234,5``: grouped, at most ``digits`` decimals."""
        pattern = "#,##0" + ("." + "#" * digits if digits else "")
        return _minus(bnumbers.format_decimal(value, pattern, locale=self.babel))

    def money(self, value: float, *, cents: bool = False) -> str:
        """``1’200 CHF`` (fr_CH), ``1 200 €`` (fr_FR), ``CHF 1’200`` (en_CH)."""
        if cents:
            return _minus(bnumbers.format_currency(value, self.currency, locale=self.babel))
        pattern = copy.copy(self.babel.currency_formats["standard"])
        pattern.frac_prec = (0, 0)
        return _minus(bnumbers.format_currency(value, self.currency, format=pattern,
                                               locale=self.babel, currency_digits=False))

    def compact_money(self, value: float) -> str:
        """``1,2 M CHF``: for chart axes."""
        return bnumbers.format_compact_currency(value, self.currency, locale=self.babel,
                                                fraction_digits=1)

    def percent(self, fraction: float, digits: int = 1) -> str:
        """``18,3 %`` (fr_FR), ``18,3%`` (fr_CH), ``25 %``: at most ``digits`` decimals."""
        pattern = copy.copy(self.babel.percent_formats[None])
        pattern.frac_prec = (0, digits)
        return _minus(bnumbers.format_percent(fraction, pattern, locale=self.babel))

    def multiple(self, value: float) -> str:
        """``5,2x`` (fr), ``6x``."""
        return f"{self.number(value, 1)}x"

    def days(self, value: float) -> str:
        """``35 jours``, ``35.5 days``."""
        return bunits.format_unit(value, "duration-day", format="#,##0.#", locale=self.babel)

    def value(self, value: float | None, unit: Unit) -> str:
        """A value of a metric in ``unit`` (``–`` when there is none)."""
        if value is None or not math.isfinite(value):
            return "–"
        if unit is Unit.MONEY:
            return self.money(value)
        if unit is Unit.RATIO:
            return self.percent(value)
        if unit is Unit.MULTIPLE:
            return self.multiple(value)
        if unit is Unit.DAYS:
            return self.days(value)
        return self.number(value)

    def compact(self, value: float, unit: Unit) -> str:
        """A short form for chart axes (``1,2 M CHF``, ``18 %``)."""
        if unit is Unit.MONEY and abs(value) >= 10_000:
            return self.compact_money(value)
        if unit is Unit.RATIO:
            return self.percent(value, 0 if abs(value) >= 0.1 else 1)
        if unit is Unit.DAYS:
            return self.number(value, 0)
        return self.value(value, unit)

    def change(self, delta: float | None, unit: Unit, *, relative: bool = False) -> str:
        """A signed change: ``+12 %`` (relative), ``−3 pts`` (ratio points), ``+1’200 CHF``."""
        if delta is None or not math.isfinite(delta):
            return "–"
        sign = "+" if delta > 0 else MINUS if delta < 0 else "±"
        size = abs(delta)
        if relative:
            return sign + self.percent(size)
        if unit is Unit.RATIO:
            points = size * 100
            word = "pt" if self.babel.plural_form(round(points, 1)) == "one" else "pts"
            return f"{sign}{self.number(points)}\u00a0{word}"
        return sign + self.value(size, unit)

    # ------------------------------------------------------------------ time

    def local(self, when: dt.datetime) -> dt.datetime:
        return when.astimezone(self.zone)

    def date(self, day: dt.date | dt.datetime, *, year: bool = False) -> str:
        """``23 nov.``, ``Nov 23``; ``23 nov. 2026`` with ``year``."""
        if isinstance(day, dt.datetime):
            day = self.local(day)
        return bdates.format_skeleton("yMMMd" if year else "MMMd", day, locale=self.babel)

    def weekday_date(self, day: dt.date | dt.datetime) -> str:
        """``lun. 23 nov.``, ``Mon, Nov 23``."""
        if isinstance(day, dt.datetime):
            day = self.local(day)
        return bdates.format_skeleton("MMMEd", day, locale=self.babel)

    def time(self, when: dt.datetime) -> str:
        """``07:30`` (``7:30 AM`` in en_US), in the team's zone."""
        return bdates.format_time(self.local(when), "short", locale=self.babel)

    def datetime(self, when: dt.datetime) -> str:
        """``lun. 23 nov. 07:30`` in the team's zone."""
        return f"{self.weekday_date(when)} {self.time(when)}"

    def date_range(self, start: dt.date, end: dt.date) -> str:
        """``16–22 nov.``, ``Nov 16 – 22``; with years when they differ from each other."""
        skeleton = "MMMd" if start.year == end.year else "yMMMd"
        return bdates.format_interval(start, end, skeleton, locale=self.babel)

    def ago(self, delta: dt.timedelta) -> str:
        """``il y a 12 minutes``, ``3 hours ago``; under a minute ``à l'instant``, ``just
        now`` (a negative delta reads ``in …``)."""
        if dt.timedelta(0) <= delta < dt.timedelta(minutes=1):
            return self.say("à l'instant", "just now")
        return bdates.format_timedelta(-delta, add_direction=True, locale=self.babel)

    def duration(self, delta: dt.timedelta) -> str:
        """``12 minutes``, ``3 heures``."""
        return bdates.format_timedelta(delta, locale=self.babel)

    def week(self, day: dt.date) -> str:
        """``semaine 48``, ``week 48`` (ISO weeks: Monday to Sunday)."""
        number = day.isocalendar()[1]
        return self.say(f"semaine {number}", f"week {number}")

    def quarter(self, day: dt.date) -> str:
        """``T4 2026``, ``Q4 2026``."""
        return bdates.format_skeleton("yQQQ", day, locale=self.babel)

    def month(self, day: dt.date) -> str:
        """``novembre 2026``, ``November 2026``."""
        return bdates.format_skeleton("yMMMM", day, locale=self.babel)

    # ------------------------------------------------------------------ words

    def status(self, status: Status) -> str:
        """``🟠 à risque``, ``🟢 on track``."""
        emoji, fr, en = _STATUS[status]
        return f"{emoji} {self.say(fr, en)}"

    def status_word(self, status: Status) -> str:
        """``à risque``, ``on track``."""
        _, fr, en = _STATUS[status]
        return self.say(fr, en)

    def metric(self, key: str) -> str:
        """The metric's title in the team's language (its key when unknown)."""
        try:
            english = catalog.get(key).title
        except RulesError:
            return key
        return _METRIC_FR.get(key, english) if self.fr else english

    def status_emoji(self, status: Status) -> str:
        return _STATUS[status][0]

    def join(self, items: list[str]) -> str:
        """``a, b et c`` / ``a, b and c``."""
        return format_list(items, locale=self.babel) if items else ""


def _minus(text: str) -> str:
    """A negative number with the true minus sign (U+2212), as the signed changes have:
    babel writes the ASCII hyphen."""
    return MINUS + text[1:] if text.startswith("-") else text


def from_config(config: Any) -> Locale:
    """The locale of a :class:`syncd.config.Config` (its ``language``, ``currency``,
    ``timezone``)."""
    return Locale.of(config.language, config.currency, config.timezone)


STATUS_EMOJI: Mapping[Status, str] = {s: e for s, (e, _, _) in _STATUS.items()}

__all__ = ["MINUS", "STATUS_EMOJI", "Locale", "babel_locale_name", "from_config"]
