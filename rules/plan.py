"""Does the plan add up? The seed's back-of-the-envelope MRR model, month by month.

    MRR(m) = MRR(m - 1) x (1 - churn) + new_customers(m) x ARPU
    new_customers(m) = qualified_leads(m) x conversion

Four levers, named after the catalog's metrics: ``qualified_leads`` (per month),
``lead_conversion_rate``, ``arpu`` (the monthly revenue a new customer brings) and
``churn_rate`` (monthly, logo). Each has a baseline (today's level) and, when a KR moves it, a
target. MRR(0) is the MRR at the start of the period; the model runs ``months`` months.

Assumptions, stated so the answer can be judged:

- A lever "at target" is at its target from the first month (``ramp=False``, the optimistic
  reading of the seed's sheet) or climbs linearly to reach it in the last month
  (``ramp=True``: month m of M uses baseline + (target - baseline) x m / M).
- Churn applies to the MRR of the previous month, new customers join at the end of the month.
- ARPU here is what a *new* customer brings; the ``arpu`` KR measures all customers, a fair
  proxy when the KR is about pricing and packaging.

What it answers (:func:`plan`):

- MRR month by month with every lever at its baseline and at its target, the growth over the
  period, the objective (start x (1 + growth objective)) and the **gap** (objective - MRR at
  the end with every lever at target; positive means the KRs fall short).
- **Each lever's contribution**, two ways: ``alone`` (only this lever at target, the others at
  baseline, minus all at baseline) and ``shapley`` (its Shapley value: its marginal effect
  averaged over every order in which the levers could reach their targets). The levers
  multiply each other (more leads are worth more at a higher conversion), so the ``alone``
  effects do not add up to the total; the Shapley values do, exactly, and share the
  interaction fairly. The Shapley split is the one to show as "who brings what".
- **What each lever would need** to close the gap: its value that makes MRR reach the
  objective at the end, the others at baseline (``alone``) and the others at target
  (``with_plan``). MRR rises with leads, conversion and ARPU and falls with churn, so the value
  is found by bisection over a sane range (conversion and churn 0-100 %, leads and ARPU up to
  100 times today's); when no value in the range is enough, the lever cannot close the gap on
  its own and the reason says how far it gets.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from rules import catalog
from rules.errors import RulesError
from rules.metric import Unit, format_value

LEVERS: tuple[str, ...] = ("qualified_leads", "lead_conversion_rate", "arpu", "churn_rate")
_SHARES = frozenset({"lead_conversion_rate", "churn_rate"})


@dataclass(frozen=True, slots=True)
class Lever:
    """A lever's level today and, when a KR moves it, its target (None: stays put)."""

    baseline: float
    target: float | None = None

    @property
    def planned(self) -> float:
        return self.baseline if self.target is None else self.target


@dataclass(frozen=True, slots=True)
class PlanInputs:
    """The model's inputs; shares are fractions (0.18 is 18 %), churn is monthly."""

    start_mrr: float
    months: int
    objective_growth: float
    qualified_leads: Lever
    lead_conversion_rate: Lever
    arpu: Lever
    churn_rate: Lever
    ramp: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_mrr) and self.start_mrr > 0):
            raise RulesError(f"the starting MRR must be a positive amount, not {self.start_mrr}")
        if self.months < 1:
            raise RulesError(f"the plan runs at least one month, not {self.months}")
        if not (math.isfinite(self.objective_growth) and self.objective_growth > -1):
            raise RulesError(f"an MRR objective of {self.objective_growth:+.0%} is impossible")
        for key in LEVERS:
            lever = self.lever(key)
            for name, value in (("baseline", lever.baseline), ("target", lever.target)):
                if value is None:
                    continue
                if not math.isfinite(value) or value < 0:
                    raise RulesError(f"{key} {name} must be a positive number, not {value}")
                if key in _SHARES and value > 1:
                    raise RulesError(f"{key} {name} is a share: at most 100 %, not {value:.0%}")

    def lever(self, key: str) -> Lever:
        if key not in LEVERS:
            raise RulesError(f"{key!r} is not a lever of the plan; levers: {', '.join(LEVERS)}")
        lever: Lever = getattr(self, key)
        return lever

    @property
    def goal_mrr(self) -> float:
        return self.start_mrr * (1.0 + self.objective_growth)


def mrr_path(
    start_mrr: float, months: int, start: Mapping[str, float], end: Mapping[str, float]
) -> tuple[float, ...]:
    """MRR at the end of each month, each lever moving linearly from ``start`` (month 0)
    to ``end`` (the last month); pass the same values twice for constant levers."""
    path = []
    mrr = start_mrr
    for month in range(1, months + 1):
        share = month / months
        level = {k: start[k] + (end[k] - start[k]) * share for k in LEVERS}
        new_customers = level["qualified_leads"] * level["lead_conversion_rate"]
        mrr = mrr * (1.0 - level["churn_rate"]) + new_customers * level["arpu"]
        path.append(mrr)
    return tuple(path)


def simulate(
    inputs: PlanInputs, at_target: Collection[str] = (), **overrides: float
) -> tuple[float, ...]:
    """MRR month by month, the levers named in ``at_target`` at their targets, the others at
    baseline; ``overrides`` set a lever's planned value (its target) directly."""
    for key in (*at_target, *overrides):
        inputs.lever(key)
    start = {k: inputs.lever(k).baseline for k in LEVERS}
    end = {k: inputs.lever(k).planned if k in at_target else start[k] for k in LEVERS}
    end.update(overrides)
    if not inputs.ramp:
        start = end
    return mrr_path(inputs.start_mrr, inputs.months, start, end)


@dataclass(frozen=True, slots=True)
class LeverEffect:
    """The MRR a lever adds by the end: ``alone`` and as its ``shapley`` share."""

    key: str
    alone: float
    shapley: float


@dataclass(frozen=True, slots=True)
class LeverNeed:
    """The value a lever would need to reach the objective; None with the ``reason`` when
    no value in the sane range is enough."""

    key: str
    others: str  # "baseline" or "target"
    value: float | None
    reason: str


@dataclass(frozen=True, slots=True)
class PlanResult:
    inputs: PlanInputs
    goal_mrr: float
    baseline_path: tuple[float, ...]
    plan_path: tuple[float, ...]
    effects: tuple[LeverEffect, ...]
    needs: tuple[LeverNeed, ...]

    @property
    def plan_mrr(self) -> float:
        return self.plan_path[-1]

    @property
    def plan_growth(self) -> float:
        return self.plan_mrr / self.inputs.start_mrr - 1.0

    @property
    def gap(self) -> float:
        """Objective minus MRR with every lever at target: > 0 when the KRs fall short."""
        return self.goal_mrr - self.plan_mrr

    @property
    def adds_up(self) -> bool:
        return self.gap <= 0


def plan(inputs: PlanInputs) -> PlanResult:
    """Run the model with the levers at baseline and at target (see the module doc)."""
    moving = tuple(k for k in LEVERS if inputs.lever(k).target is not None)
    return PlanResult(
        inputs=inputs,
        goal_mrr=inputs.goal_mrr,
        baseline_path=simulate(inputs),
        plan_path=simulate(inputs, moving),
        effects=tuple(_effects(inputs, moving)),
        needs=tuple(
            _need(inputs, key, others)
            for key in LEVERS
            for others in ("baseline", "target")
        ),
    )


def _effects(inputs: PlanInputs, moving: tuple[str, ...]) -> list[LeverEffect]:
    end: dict[frozenset[str], float] = {
        frozenset(subset): simulate(inputs, subset)[-1]
        for size in range(len(moving) + 1)
        for subset in itertools.combinations(moving, size)
    }
    n = len(moving)
    effects = []
    for key in LEVERS:
        if key not in moving:
            effects.append(LeverEffect(key, 0.0, 0.0))
            continue
        others = [k for k in moving if k != key]
        shapley = 0.0
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for subset in itertools.combinations(others, size):
                before = frozenset(subset)
                shapley += weight * (end[before | {key}] - end[before])
        effects.append(LeverEffect(key, end[frozenset({key})] - end[frozenset()], shapley))
    return effects


def _need(inputs: PlanInputs, key: str, others: str) -> LeverNeed:
    rest = tuple(k for k in LEVERS if k != key) if others == "target" else ()
    goal = inputs.goal_mrr

    def end_mrr(value: float) -> float:
        return simulate(inputs, rest, **{key: value})[-1]

    lever = inputs.lever(key)
    if key in _SHARES:
        low, high = 0.0, 1.0
    else:
        low, high = 0.0, 100.0 * max(lever.baseline, lever.planned, 1.0)
    unit = catalog.get(key).unit
    how = "on its own" if others == "baseline" else "with the other levers at target"
    falling = key == "churn_rate"
    best = end_mrr(low if falling else high)
    if best < goal:
        limit = format_value(low if falling else high, unit)
        return LeverNeed(
            key,
            others,
            None,
            f"impossible: even with {key} at {limit} ({how}) the MRR would end at "
            f"{format_value(best, Unit.MONEY)}, short of {format_value(goal, Unit.MONEY)}",
        )
    worst = end_mrr(high if falling else low)
    if worst >= goal:
        edge = high if falling else low
        return LeverNeed(key, others, edge, "the objective is reached whatever this lever does")
    for _ in range(200):
        mid = (low + high) / 2.0
        if (end_mrr(mid) >= goal) != falling:
            high = mid
        else:
            low = mid
        if high - low <= 1e-12 * max(1.0, high):
            break
    value = low if falling else high  # the side that reaches the objective
    return LeverNeed(
        key, others, value, f"{key} at {format_value(value, unit)} closes the gap {how}"
    )
