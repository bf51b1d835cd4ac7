"""The ``schedule`` section: APScheduler 3 cron fields for the digest and the report.

Each field is checked by building a ``CronTrigger`` from it alone (so the error names the
field), then the whole trigger is built in the configured time zone. Numeric ``day_of_week``
is refused: APScheduler 3 reads 0 as Monday where crontab reads Sunday (apscheduler#286).
"""

from __future__ import annotations

import re
from datetime import date, timedelta, tzinfo
from typing import Annotated, Any

from apscheduler.triggers.cron import CronTrigger
from pydantic import BeforeValidator, ValidationInfo, field_validator, model_validator

from syncd.config_values import Duration, Strict, invalid

CRON_FIELDS = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")
_APS_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CRONTAB_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _day_names(expr: str, names: tuple[str, ...]) -> str:
    return re.sub(
        r"(?<![*/])\b\d+\b",
        lambda m: names[int(m.group())] if int(m.group()) < len(names) else m.group(),
        expr,
    )


class CronFields(Strict):
    """APScheduler 3 cron fields, evaluated in the configured time zone."""

    year: str | None = None
    month: str | None = None
    day: str | None = None
    week: str | None = None
    day_of_week: str | None = None
    hour: str | None = None
    minute: str | None = None
    second: str | None = None
    start_date: date | None = None
    end_date: date | None = None
    jitter: int | None = None

    @field_validator(*CRON_FIELDS, mode="before")
    @classmethod
    def _expression(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise invalid(
                "{value} is not a cron expression", "Write it like 7, */15, mon-fri or 1st mon."
            )
        text = str(value).strip()
        name = info.field_name or ""
        if name == "day_of_week" and any(
            re.fullmatch(r"\d+(-\d+)?(/\d+)?", part) for part in text.split(",")
        ):
            raise invalid(
                "{value} is a day number, and APScheduler reads 0 as Monday (crontab: Sunday)",
                f'Write day names: "{_day_names(text, _APS_DAYS)}" as APScheduler reads it, '
                f'"{_day_names(text, _CRONTAB_DAYS)}" as crontab does.',
                safe_hint="Write day names like mon or mon-fri.",
            )
        try:
            CronTrigger(**{name: text}, timezone="UTC")
        except ValueError as exc:
            raise invalid(
                f"{{value}} is not a valid {name}",
                f"APScheduler says: {exc}.",
                safe_hint="See APScheduler's cron trigger expressions.",
            ) from None
        return text

    @model_validator(mode="after")
    def _trigger(self, info: ValidationInfo) -> CronFields:
        tz = (info.context or {}).get("tz", "UTC")
        try:
            self.trigger(tz)
        except (ValueError, TypeError) as exc:
            raise invalid(
                "these cron fields do not make a schedule", f"APScheduler says: {exc}."
            ) from None
        return self

    def fields(self) -> dict[str, Any]:
        """The fields that are set, as ``CronTrigger`` keyword arguments."""
        return {k: v for k, v in self.model_dump().items() if v is not None}

    def trigger(self, tz: tzinfo | str) -> CronTrigger:
        return CronTrigger(**self.fields(), timezone=tz)


def _none_disables(value: Any) -> Any:
    if value is False or (isinstance(value, str) and value.strip().lower() == "off"):
        return None
    return value


class ScheduleConfig(Strict):
    """When the digest and the report are posted; null (or off) disables one."""

    weekly_digest: Annotated[CronFields | None, BeforeValidator(_none_disables)] = CronFields(
        day_of_week="mon", hour="7", minute="30"
    )
    monthly_report: Annotated[CronFields | None, BeforeValidator(_none_disables)] = CronFields(
        day="1st mon", hour="8", minute="0"
    )
    #: how late a report may still be posted (syncd was down at its time); later, it is
    #: recorded as a failed delivery, never skipped silently
    grace: Duration = timedelta(hours=12)
