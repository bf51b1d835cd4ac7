"""Figures, dates and words as French-Swiss, French and English readers expect them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from rules.metric import Unit
from rules.pace import Status
from syncd.notify.locale import MINUS, Locale, babel_locale_name

NNBSP = "\u202f"  # narrow no-break space: the French group separator
NBSP = "\u00a0"
FR_CH = Locale.of("fr", "CHF", "Europe/Zurich")
FR_FR = Locale.of("fr", "EUR", "Europe/Paris")
EN_CH = Locale.of("en", "CHF", "Europe/Zurich")
EN_US = Locale.of("en", "USD", "America/New_York")


@pytest.mark.parametrize(("language", "currency", "name"), [
    ("fr", "CHF", "fr_CH"), ("fr", "EUR", "fr_FR"), ("fr", "CAD", "fr_CA"),
    ("fr", "USD", "fr_FR"), ("en", "CHF", "en_CH"), ("en", "EUR", "en_IE"),
    ("en", "GBP", "en_GB"), ("en", "USD", "en_US"), ("en", "JPY", "en_US"),
])
def test_babel_locale_from_language_and_currency(language: str, currency: str,
                                                 name: str) -> None:
    assert babel_locale_name(language, currency) == name
    assert Locale.of(language, currency.lower()).name == name


def test_money_in_each_locale() -> None:
    assert FR_CH.money(1200) == f"1’200{NBSP}CHF"
    assert FR_CH.money(1_234_567) == f"1’234’567{NBSP}CHF"
    assert FR_FR.money(1200) == f"1{NNBSP}200{NBSP}€"
    assert FR_FR.money(1200.5, cents=True) == f"1{NNBSP}200,50{NBSP}€"
    assert EN_CH.money(1200) == f"CHF{NBSP}1’200"
    assert EN_US.money(1200) == "$1,200"
    assert FR_CH.money(1450.6) == f"1’451{NBSP}CHF"  # whole units, rounded


def test_percent_multiple_days_and_counts() -> None:
    assert FR_CH.percent(0.183) == "18,3%"  # CLDR fr_CH: no space before %
    assert FR_FR.percent(0.183) == f"18,3{NBSP}%"
    assert FR_FR.percent(0.25) == f"25{NBSP}%"
    assert EN_US.percent(0.183) == "18.3%"
    assert FR_CH.multiple(5.2) == "5,2x"
    assert EN_US.multiple(6) == "6x"
    assert FR_CH.days(35.5) == f"35,5{NBSP}jours"
    assert EN_US.days(1) == "1 day"
    assert FR_CH.value(12, Unit.COUNT) == "12"
    assert FR_FR.value(12_500, Unit.COUNT) == f"12{NNBSP}500"
    assert FR_CH.value(None, Unit.MONEY) == "–"
    assert FR_CH.value(float("nan"), Unit.RATIO) == "–"


@pytest.mark.parametrize(("unit", "value", "expected"), [
    (Unit.MONEY, 1200.0, f"1’200{NBSP}CHF"), (Unit.RATIO, 0.25, "25%"),
    (Unit.MULTIPLE, 6.0, "6x"), (Unit.DAYS, 35.0, f"35{NBSP}jours"), (Unit.COUNT, 3.0, "3"),
])
def test_value_of_each_unit(unit: Unit, value: float, expected: str) -> None:
    assert FR_CH.value(value, unit) == expected


def test_signed_changes_use_a_true_minus_and_points_for_ratios() -> None:
    assert FR_CH.change(-0.03, Unit.RATIO) == f"{MINUS}3{NBSP}pts"
    assert FR_CH.change(0.008, Unit.RATIO) == f"+0,8{NBSP}pt"  # French singular below 2
    assert EN_US.change(0.008, Unit.RATIO) == f"+0.8{NBSP}pts"
    assert FR_FR.change(0.12, Unit.MONEY, relative=True) == f"+12{NBSP}%"
    assert FR_CH.change(-1200, Unit.MONEY) == f"{MINUS}1’200{NBSP}CHF"
    assert FR_CH.change(0, Unit.COUNT) == "±0"
    assert FR_CH.change(None, Unit.COUNT) == "–"


def test_dates_ranges_weeks_and_relative_times() -> None:
    day = date(2026, 11, 23)
    assert FR_CH.date(day) == "23 nov."
    assert FR_CH.date(day, year=True) == "23 nov. 2026"
    assert EN_US.date(day) == "Nov 23"
    assert FR_CH.date_range(date(2026, 11, 16), date(2026, 11, 22)) == "16–22 nov."
    assert "2025" in FR_CH.date_range(date(2025, 12, 29), date(2026, 1, 4))
    assert FR_CH.week(day) == "semaine 48"
    assert EN_US.week(date(2027, 1, 1)) == "week 53"  # ISO: 2027-01-01 is in 2026-W53
    assert FR_CH.quarter(day) == "T4 2026"
    assert EN_CH.quarter(day) == "Q4 2026"
    assert FR_CH.month(day) == "novembre 2026"
    assert FR_CH.ago(timedelta(minutes=12)) == "il y a 12 minutes"
    assert FR_CH.ago(timedelta(hours=3)) == "il y a 3 heures"
    assert EN_US.ago(timedelta(hours=3)) == "3 hours ago"
    assert FR_CH.ago(timedelta(seconds=20)) == "à l'instant"
    assert EN_US.ago(timedelta(0)) == "just now"
    # 06:30 UTC is 07:30 in Zurich (winter time) and 01:30 in New York
    when = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)
    assert FR_CH.datetime(when) == "lun. 23 nov. 07:30"
    assert "1:30" in EN_US.datetime(when)


def test_words() -> None:
    assert FR_CH.status(Status.AT_RISK) == "🟠 à risque"
    assert EN_US.status(Status.OFF_TRACK) == "🔴 off track"
    assert FR_CH.metric("churn_rate") == "Churn clients"
    assert EN_US.metric("churn_rate") == "Customer churn (logo)"
    assert FR_CH.metric("no_such_metric") == "no_such_metric"
    assert FR_CH.join(["a", "b", "c"]) == "a, b et c"
    assert EN_US.join([]) == ""


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="use fr or en"):
        Locale.of("de", "CHF")


def test_negative_values_use_the_true_minus_sign() -> None:
    from syncd.notify.locale import MINUS, Locale

    fr = Locale.of("fr", "CHF", "Europe/Zurich")
    assert fr.percent(-3.32, 0).startswith(MINUS) and "-" not in fr.percent(-3.32, 0)
    assert fr.number(-1.5).startswith(MINUS)
    assert MINUS in fr.money(-1200) and "-" not in fr.money(-1200)
    assert fr.percent(0.25, 0) == fr.percent(0.25, 0).lstrip(MINUS)
