"""What a metric is: its unit, its good direction, its window, its filters and parameters.

The catalog of metrics (:mod:`rules.catalog`) is data made of these records. Vocabulary:

- **unit**: ``count`` (customers, leads), ``money`` (in the reporting currency, e.g. CHF),
  ``ratio`` (a fraction: 0.18 is 18 %), ``days``, ``multiple`` (6.0 is "6x").
- **direction**: whether a rise is good news (``higher_is_better``, e.g. MRR) or bad news
  (``lower_is_better``, e.g. churn). A Key Result's own direction comes from its baseline and
  target; the metric's direction only breaks ties.
- **window**: a ``point_in_time`` metric is read at one instant (MRR on 30 November, open
  pipeline today); an ``over_window`` metric sums or compares what happened between two dates
  (revenue of the quarter, customers churned in October).
- **filters**: the ``where:`` keys the metric accepts. Standard ones (``owner``, ``pipeline``,
  ``deal_type``, ``company_segment``, ``amount_min``, ``amount_max``) plus any field mapped in
  ``crm.fields`` on the records the metric is built from (``deal_*``, ``company_*``,
  ``contact_*``).
- **params**: choices that change the definition, each with a default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class Unit(StrEnum):
    COUNT = "count"
    MONEY = "money"
    RATIO = "ratio"
    DAYS = "days"
    MULTIPLE = "multiple"


class Direction(StrEnum):
    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"


class Window(StrEnum):
    POINT_IN_TIME = "point_in_time"
    OVER_WINDOW = "over_window"


class ParamKind(StrEnum):
    CHOICE = "choice"
    MONEY = "money"
    NUMBER = "number"
    INTEGER = "integer"
    BOOL = "bool"
    TEXT = "text"


#: Every standard ``where:`` key; metrics built from deals accept all of them.
STANDARD_FILTERS: tuple[str, ...] = (
    "owner",
    "pipeline",
    "deal_type",
    "company_segment",
    "amount_min",
    "amount_max",
)


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a metric's definition.

    ``default`` is used when the config omits it; a ``required`` parameter has no default.
    ``minimum``/``maximum`` bound numbers; ``choices`` lists the values of a ``choice``.
    """

    name: str
    kind: ParamKind
    description: str
    default: str | float | int | bool | None = None
    required: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric of the catalog: a stable ``key`` and what a sales manager needs to read it.

    ``records`` are the CRM objects it is computed from: their mapped fields (``deal_*``...)
    are accepted as filters on top of the standard ``filters`` listed.
    """

    key: str
    title: str
    definition: str
    unit: Unit
    direction: Direction
    window: Window
    records: tuple[str, ...]
    filters: tuple[str, ...]
    params: tuple[Param, ...] = ()
    #: growth rates go below zero; every other value (counts, money, rates, days,
    #: multiples) cannot, so a projection of it is floored at 0
    signed: bool = False

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    @property
    def higher_is_better(self) -> bool:
        return self.direction is Direction.HIGHER_IS_BETTER


def format_value(value: float, unit: Unit) -> str:
    """A value as a sales manager reads it in an English message.

    ``0.183`` ratio -> ``18.3%``; ``104250`` money -> ``104,250``; ``5.5`` multiple -> ``5.5x``;
    ``35`` days -> ``35.0 days``; ``12`` count -> ``12``. The currency symbol and the French
    formats are the renderer's job (``syncd/``).
    """
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if unit is Unit.RATIO:
        return f"{value * 100:.1f}%"
    if unit is Unit.MONEY:
        return f"{value:,.0f}"
    if unit is Unit.MULTIPLE:
        return f"{value:.1f}x"
    if unit is Unit.DAYS:
        return f"{value:.1f} days"
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.1f}"
