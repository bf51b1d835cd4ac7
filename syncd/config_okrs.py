"""Configuration sections for the goals: OKRs, their revisions, and alert rules.

Checks that span the file (KR ids unique, a revision names a KR of its objective, dates inside
the period, alert rule ids unique) live in :mod:`syncd.config_checks`: they run on the raw data
so that they report even when another part of the file is invalid.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from syncd.config_values import (
    Duration,
    DurationOrZero,
    Email,
    EmailList,
    Ident,
    NonEmptyStr,
    Percent,
    Quantity,
    Strict,
    invalid,
)

PERIOD_FORMS = "2026-Q4, 2026-11, 2026 or {start: 2026-10-01, end: 2026-12-31}"


def period_bounds(text: str) -> tuple[date, date] | None:
    """``2026-Q4``, ``2026-11`` or ``2026`` -> first and last day; None if not one of those."""
    text = text.strip()
    if match := re.fullmatch(r"(\d{4})-[Qq]([1-4])", text):
        year, quarter = int(match.group(1)), int(match.group(2))
        last_month = quarter * 3
        last_day = calendar.monthrange(year, last_month)[1]
        return date(year, last_month - 2, 1), date(year, last_month, last_day)
    if match := re.fullmatch(r"(\d{4})-(\d{1,2})", text):
        year, month = int(match.group(1)), int(match.group(2))
        if 1 <= month <= 12:
            return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    if re.fullmatch(r"\d{4}", text):
        return date(int(text), 1, 1), date(int(text), 12, 31)
    return None


class Period(Strict):
    """The dates an objective covers, both inclusive."""

    start: date
    end: date

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if isinstance(data, dict | Period):
            return data
        if isinstance(data, int) and not isinstance(data, bool):
            data = str(data)
        bounds = period_bounds(data) if isinstance(data, str) else None
        if bounds is None:
            raise invalid("{value} is not a period", f"Write {PERIOD_FORMS}.")
        return {"start": bounds[0], "end": bounds[1]}

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise invalid("the period ends before it starts", "Swap start and end.")
        return self

    @property
    def label(self) -> str:
        """``2026-Q4``, ``2026-11``, ``2026`` when the dates are exactly one, else a range."""
        for candidate in (
            f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}",
            f"{self.start.year}-{self.start.month:02d}",
            str(self.start.year),
        ):
            if period_bounds(candidate) == (self.start, self.end):
                return candidate
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


_SCALARS = (str, int, float, bool, date)


def _where_value(value: Any) -> Any:
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, list) and all(isinstance(v, _SCALARS) for v in value):
        return value
    raise invalid(
        "{value} is not a filter value",
        "Write one value (PME) or a list of values ([PME, ETI]).",
    )


WhereValue = Annotated[Any, BeforeValidator(_where_value)]


def _no_none(value: Any) -> Any:
    return {} if value is None else value


WINDOW_FORMS = "period, quarter, month, week or a number of trailing days like 30d"


def _window(value: Any) -> Any:
    if value is None:
        return None
    text = str(value).strip().lower() if isinstance(value, str | int) else None
    if text in ("period", "quarter", "month", "week"):
        return text
    if text is not None and (match := re.fullmatch(r"(\d+)\s*d", text)) and int(match.group(1)) > 0:
        return f"{int(match.group(1))}d"
    raise invalid("{value} is not a window", f"Write {WINDOW_FORMS}.")


#: ``period`` (the KR's period so far, the default), ``quarter``/``month``/``week`` (the
#: current one so far) or ``<N>d`` (the trailing N days).
KrWindow = Annotated[str, BeforeValidator(_window)]


def _exponent(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 100:
        return float(value)
    raise invalid("{value} is not a ramp exponent", "Write a positive number: 2 is a slow start, "
                  "0.5 a fast one.")


class TrajectoryConfig(Strict):
    """``{ramp: 2}`` (a slow start; below 1 a fast one) or ``{milestones: {day: value}}``."""

    ramp: Annotated[float, BeforeValidator(_exponent)] | None = None
    milestones: dict[date, Quantity] | None = None

    @model_validator(mode="after")
    def _one(self) -> TrajectoryConfig:
        if (self.ramp is None) == (self.milestones is None):
            raise invalid(
                "a trajectory is either a ramp or milestones",
                "Write {ramp: 2} or {milestones: {2026-10-31: 20%}}, not both or neither.",
            )
        if self.milestones is not None and not self.milestones:
            raise invalid("no milestones are given", "List at least one: {2026-10-31: 20%}.")
        return self


def _trajectory(value: Any) -> Any:
    if value is None or (isinstance(value, str) and value.strip().lower() == "linear"):
        return None
    if isinstance(value, str) and value.strip().lower() == "ramp":
        return {"ramp": 2.0}
    if isinstance(value, dict | TrajectoryConfig):
        return value
    raise invalid(
        "{value} is not a trajectory",
        "Write linear (the default), ramp, {ramp: 2} or {milestones: {2026-10-31: 20%}}.",
    )


Trajectory = Annotated[TrajectoryConfig | None, BeforeValidator(_trajectory)]


class KeyResult(Strict):
    id: Ident = Field(description="a short id unique in the file, like conversion-pme")
    name: NonEmptyStr = Field(description="what the KR measures, in the team's words")
    metric: NonEmptyStr = Field(description="a metric of the catalog, like lead_conversion_rate")
    #: filters, e.g. ``{company_segment: PME}``: field -> value or list of values
    where: Annotated[dict[str, WhereValue], BeforeValidator(_no_none)] = Field(default_factory=dict)
    baseline: Quantity | None = None
    target: Quantity = Field(description="the value to reach, like 25%, 6x or 1450")
    owners: EmailList = Field(default_factory=list)
    params: Annotated[dict[str, Any], BeforeValidator(_no_none)] = Field(default_factory=dict)
    #: where the KR should be along its period (linear when omitted)
    trajectory: Trajectory = None
    #: what a windowed metric (a rate, a sum) is computed over
    window: KrWindow | None = None
    #: a part of the objective's period (the objective's period when omitted)
    period: Period | None = None

    @property
    def direction(self) -> Literal["up", "down"] | None:
        """Whether the KR wants the metric to rise or fall (None without a baseline)."""
        if self.baseline is None or self.baseline.value == self.target.value:
            return None
        return "up" if self.target.value > self.baseline.value else "down"


class Revision(Strict):
    """A mid-period change of a KR's target: dated, justified, announced."""

    date: date
    kr: Ident = Field(description="the id of a KR of this objective")
    target: Quantity = Field(description="the new target, like 5x")
    reason: NonEmptyStr = Field(
        description="why the target changed (it is announced with the revision)"
    )


class Goal(Strict):
    """The objective as a number, for ``syncd simulate``: ``{metric: mrr, change: 20%}``."""

    metric: Literal["mrr"] = "mrr"
    change: Quantity = Field(description="the growth over the period, like 20%")


class Okr(Strict):
    objective: NonEmptyStr = Field(description="the objective, in the team's words")
    #: the objective as a number (read from the objective's words when omitted)
    goal: Goal | None = None
    period: Period = Field(description=f"the period it covers: {PERIOD_FORMS}")
    owner: Email | None = None
    key_results: list[KeyResult] = Field(min_length=1, description="one or more key results")
    revisions: Annotated[list[Revision], BeforeValidator(lambda v: [] if v is None else v)] = Field(
        default_factory=list
    )

    def key_result(self, kr_id: str) -> KeyResult | None:
        return next((kr for kr in self.key_results if kr.id == kr_id), None)


# --------------------------------------------------------------------------- alerts


class BehindPace(Strict):
    """A KR is behind pace below ``below`` of its expected value, back on pace above
    ``recover_above`` (hysteresis: no flapping around one threshold)."""

    below: Percent = 0.9
    recover_above: Percent = 0.95

    @model_validator(mode="after")
    def _hysteresis(self) -> BehindPace:
        if self.recover_above < self.below:
            raise invalid(
                "recover_above is lower than below",
                "Set recover_above at or above below, like below: 90% and recover_above: 95%.",
            )
        return self


class Confirm(Strict):
    """How long a condition must hold (``pending``) or stay gone (``recovery``): ``evaluations``
    in a row, and at least ``for`` (both)."""

    evaluations: int = Field(default=1, ge=1, le=1000)
    for_: DurationOrZero = Field(default=timedelta(0), alias="for")


class AlertRule(Strict):
    id: Ident = Field(description="a short id unique among the rules, like pipeline-drop")
    metric: NonEmptyStr | None = None
    where: Annotated[dict[str, WhereValue], BeforeValidator(_no_none)] = Field(default_factory=dict)
    #: relative (-25%) or absolute change vs the value ``over`` ago
    change: Quantity | None = None
    over: Duration | None = None
    #: the change at which a firing change alert resolves
    recover: Quantity | None = None
    #: ignore when the base value is below this
    min_base: Quantity | None = None
    threshold: Quantity | None = None
    #: fire when the last successful sync is older than this
    stale_after: Duration | None = None
    severity: Literal["info", "warning", "critical"] = "warning"
    #: how long the condition must hold before the alert fires
    for_: Duration | None = Field(default=None, alias="for")

    @model_validator(mode="after")
    def _complete(self) -> AlertRule:
        if self.stale_after is None and self.metric is None:
            raise invalid(
                "the rule watches nothing",
                "Give it a metric (with change and over, or threshold), or stale_after.",
            )
        if self.metric is not None and self.change is None and self.threshold is None:
            raise invalid(
                "the rule has a metric but no condition", "Add change and over, or threshold."
            )
        if self.change is not None and self.over is None:
            raise invalid("change needs over", "Add over: the period to compare with, like 7d.")
        return self


class AlertsConfig(Strict):
    repeat_every: Duration = timedelta(hours=24)
    send_resolved: bool = True
    #: before an alert fires: evaluations in a row with the condition (default: the first)
    pending: Confirm = Field(default_factory=Confirm)
    #: before a firing alert resolves: evaluations in a row without it (meanwhile recovering)
    recovery: Confirm = Field(default_factory=Confirm)
    behind_pace: BehindPace = Field(default_factory=BehindPace)
    rules: list[AlertRule] = Field(default_factory=list)

    @field_validator("behind_pace", mode="before")
    @classmethod
    def _default_pace(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("rules", mode="before")
    @classmethod
    def _no_rules(cls, value: Any) -> Any:
        return [] if value is None else value
