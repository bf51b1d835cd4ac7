"""Periods and windows on the team's calendar: quarters, months, ISO weeks, trailing days.

All arithmetic here is on calendar dates. Time zones are the caller's job: it converts
``now`` to the team's zone (``Europe/Zurich``) before calling, and this module reads the
wall-clock date and time of that value. Conventions, used by every module of ``rules/``:

- A :class:`Period` covers whole days, ``start`` and ``end`` both included (``2026-Q4`` is
  2026-10-01 to 2026-12-31, 92 days).
- An instant is either an aware ``datetime`` (its wall-clock reading counts) or a ``date``,
  which means **the end of that day**: "as of 2026-12-31" includes all of the 31st, so the
  quarter is then fully elapsed. A naive ``datetime`` is refused: it has no defined zone.
- The **position** of an instant in a period is the number of days elapsed since the start
  of its first day, between 0 and the period's length; the **elapsed share** is position /
  length, between 0 and 1. Every day counts as one day, also the 23- and 25-hour days of a
  daylight-saving change.
- ISO weeks run Monday to Sunday; week 1 is the week with the year's first Thursday.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from rules.errors import RulesError

#: What ``now`` may be: an aware datetime (wall-clock reading) or a date (its end).
Instant = date | datetime

#: The average Gregorian month, in days (365.2425 / 12).
AVERAGE_MONTH_DAYS = 30.436875


@dataclass(frozen=True, slots=True)
class Period:
    """Whole days from ``start`` to ``end``, both included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if isinstance(self.start, datetime) or isinstance(self.end, datetime):
            raise RulesError("a period is made of dates, not datetimes; pass .date() values")
        if self.end < self.start:
            raise RulesError(
                f"the period ends ({self.end}) before it starts ({self.start}); swap them"
            )

    @property
    def days(self) -> int:
        """Its length in days (a quarter: 90 to 92)."""
        return (self.end - self.start).days + 1

    def __contains__(self, day: object) -> bool:
        if isinstance(day, datetime):
            day = day.date()
        return isinstance(day, date) and self.start <= day <= self.end

    @property
    def label(self) -> str:
        """``2026-Q4``, ``2026-11``, ``2026-W45``, ``2026`` when exact, else a date range."""
        start = self.start
        if self == quarter_of(start):
            return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
        if self == month_of(start):
            return f"{start.year}-{start.month:02d}"
        if self == iso_week_of(start):
            return iso_week_label(start)
        if self == year_of(start):
            return str(start.year)
        return f"{start.isoformat()}..{self.end.isoformat()}"

    def shifted_years(self, years: int) -> Period:
        """The same dates ``years`` later (earlier when negative); 29 February becomes the
        28th in a common year."""
        return Period(_add_years(self.start, years), _add_years(self.end, years))


def _add_years(day: date, years: int) -> date:
    year = day.year + years
    return date(year, day.month, min(day.day, calendar.monthrange(year, day.month)[1]))


# --------------------------------------------------------------------------- constructors


def quarter_of(day: date) -> Period:
    """The calendar quarter holding ``day``."""
    first_month = 3 * ((day.month - 1) // 3) + 1
    last_month = first_month + 2
    return Period(
        date(day.year, first_month, 1),
        date(day.year, last_month, calendar.monthrange(day.year, last_month)[1]),
    )


def month_of(day: date) -> Period:
    """The calendar month holding ``day``."""
    return Period(
        date(day.year, day.month, 1),
        date(day.year, day.month, calendar.monthrange(day.year, day.month)[1]),
    )


def year_of(day: date) -> Period:
    return Period(date(day.year, 1, 1), date(day.year, 12, 31))


def iso_week_of(day: date) -> Period:
    """The ISO week (Monday to Sunday) holding ``day``."""
    monday = day - timedelta(days=day.weekday())
    return Period(monday, monday + timedelta(days=6))


def iso_week(day: date) -> tuple[int, int]:
    """``(ISO year, week number)``: 2026-12-31 is in ``(2026, 53)``, 2027-01-01 too."""
    iso_year, week, _ = day.isocalendar()
    return iso_year, week


def iso_week_label(day: date) -> str:
    """``2026-W45``: the label the Monday digest is keyed by."""
    iso_year, week = iso_week(day)
    return f"{iso_year}-W{week:02d}"


def trailing_days(end: date, days: int) -> Period:
    """The ``days`` days ending on ``end`` included (``trailing_days(d, 7)``: d-6 .. d)."""
    if days < 1:
        raise RulesError(f"a trailing window needs at least one day, not {days}")
    return Period(end - timedelta(days=days - 1), end)


def months_of(period: Period) -> tuple[Period, ...]:
    """The calendar months overlapping ``period``, cut to it."""
    months = []
    cursor = period.start
    while cursor <= period.end:
        month = month_of(cursor)
        months.append(Period(max(month.start, period.start), min(month.end, period.end)))
        cursor = month.end + timedelta(days=1)
    return tuple(months)


def month_count(period: Period) -> float:
    """How many months ``period`` lasts: whole calendar months count as 1 each; any other
    span counts its days / 30.436875 (the average month)."""
    months = months_of(period)
    if all(m == month_of(m.start) for m in months):
        return float(len(months))
    return period.days / AVERAGE_MONTH_DAYS


_PERIOD_FORMS = "2026-Q4, 2026-11, 2026-W45 or 2026"


def parse_period(text: str) -> Period:
    """``2026-Q4``, ``2026-11``, ``2026-W45`` (ISO week) or ``2026`` as a :class:`Period`."""
    cleaned = text.strip()
    if match := re.fullmatch(r"(\d{4})-[Qq]([1-4])", cleaned):
        return quarter_of(date(int(match.group(1)), 3 * int(match.group(2)), 1))
    if match := re.fullmatch(r"(\d{4})-[Ww](\d{1,2})", cleaned):
        year, week = int(match.group(1)), int(match.group(2))
        try:
            return iso_week_of(date.fromisocalendar(year, week, 1))
        except ValueError:
            raise RulesError(f"{year} has no ISO week {week}; write {_PERIOD_FORMS}") from None
    if match := re.fullmatch(r"(\d{4})-(\d{1,2})", cleaned):
        month = int(match.group(2))
        if 1 <= month <= 12:
            return month_of(date(int(match.group(1)), month, 1))
    if re.fullmatch(r"\d{4}", cleaned):
        return year_of(date(int(cleaned), 1, 1))
    raise RulesError(f"{text!r} is not a period; write {_PERIOD_FORMS}")


# --------------------------------------------------------------------------- instants


def local_day(now: Instant) -> date:
    """The calendar day of ``now`` (refusing naive datetimes)."""
    if isinstance(now, datetime):
        _require_aware(now)
        return now.date()
    return now


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.tzinfo.utcoffset(now) is None:
        raise RulesError(
            f"{now.isoformat()} has no time zone; convert now to the team's zone "
            "(an aware datetime) or pass a date"
        )


def day_fraction(now: Instant) -> float:
    """How much of its day ``now`` has run through, 0 to 1 (a date: 1, its end)."""
    if isinstance(now, datetime):
        _require_aware(now)
        seconds = now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6
        return seconds / 86400
    return 1.0


def raw_position(period: Period, now: Instant) -> float:
    """Days elapsed from the start of ``period`` to ``now``, unclamped (negative before)."""
    return (local_day(now) - period.start).days + day_fraction(now)


def position(period: Period, now: Instant) -> float:
    """Days of ``period`` elapsed at ``now``, between 0 and ``period.days``."""
    return min(max(raw_position(period, now), 0.0), float(period.days))


def day_position(period: Period, day: date) -> float:
    """The position of the end of ``day`` (may lie outside the period: negative before)."""
    return (day - period.start).days + 1.0


def elapsed_share(period: Period, now: Instant) -> float:
    """The share of ``period`` elapsed at ``now``: 0 before its first day, 1 after its last."""
    return position(period, now) / period.days
