"""``syncd simulate``: does the plan add up? The inputs of :mod:`rules.plan`, from the config
and the synced data, each with where it came from.

For an objective with an MRR goal, :func:`plan_inputs` gathers:

- **the objective's growth**: ``goal: {metric: mrr, change: 20%}``, or, without ``goal:``,
  the percentage in the objective's words when they speak of MRR ("Augmenter le MRR de 20 %
  ce trimestre" -> +20 %; the output says so and how to write ``goal:``);
- **the months**: the objective's period, one per calendar month (a period of odd dates
  counts its days / 30.44, rounded);
- **the levers** (:data:`rules.plan.LEVERS`): a KR on ``qualified_leads``,
  ``lead_conversion_rate``, ``arpu`` or ``churn_rate`` gives that lever's target (the revised
  one in force at ``now``) and, when it has one, its baseline. A count of leads is turned into
  leads per month over the KR's window; a churn KR with ``per: window`` into a monthly rate.
  When several KRs move one lever, the one without ``where:`` filters wins (else the first);
- **the start MRR**, and every baseline the config does not give, from the synced data (a KR
  on ``mrr`` with a baseline gives the start MRR instead).

Data baselines are read as of the **anchor**: the instant just before the period's first day
in the team's zone, or ``now`` when the period has not started yet. Over whole months before
it (``full months`` below: the last calendar months that are over by the anchor):

- start MRR and ARPU: at the anchor;
- qualified leads per month: the last 3 full months / 3;
- lead conversion: the last 6 full months in ``mode: period`` (new customers / qualified
  leads), the model's own definition (new customers = leads x conversion); cohort mode would
  under-read, recent cohorts have not converted yet;
- churn: the monthly logo churn over the last 6 full months (a quarter of a 100-customer
  base sees only a handful of departures).

A data baseline keeps the KR's ``where:`` filters and params (so baseline and target measure
the same thing), except the two above that the model needs (``mode: period``,
``per: month``).

Errors::

    SyncdError
    ├── ConfigError        no MRR goal, an ambiguous goal in the words (exit 2)
    └── SimulateError      a value missing from the synced data, the database failing,
                           inputs the model refuses (exit 1)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from rules import periods as rp
from rules.errors import RulesError
from rules.formulas import monthly_rate
from rules.plan import LEVERS, Lever, PlanInputs
from syncd.errors import ConfigError, Problem, SyncdError

if TYPE_CHECKING:  # kept out of `syncd`'s start-up: the command module imports this one
    import sqlalchemy as sa

    from syncd.config import Config
    from syncd.config_okrs import KeyResult, Okr

#: The ``goal:`` to write, shown by every message about a missing goal.
GOAL_EXAMPLE = "goal: {metric: mrr, change: 20%}"
#: Full months of data behind each data baseline.
LEADS_MONTHS = 3
RATE_MONTHS = 6
_TICK = timedelta(microseconds=1)

LEVER_NAMES: Mapping[str, str] = {
    "qualified_leads": "Qualified leads / month",
    "lead_conversion_rate": "Lead conversion",
    "arpu": "ARPU (new customer)",
    "churn_rate": "Churn / month",
}


class SimulateError(SyncdError):
    """The plan cannot be computed from the data: what is missing and how to give it."""


@dataclass(frozen=True, slots=True)
class LeverSetup:
    """One lever's numbers and where each came from."""

    key: str
    baseline: float
    target: float | None
    baseline_source: str
    target_source: str
    kr: str | None = None


@dataclass(frozen=True, slots=True)
class PlanSetup:
    """The model's inputs for one objective, and where every number came from."""

    index: int
    objective: str
    period: rp.Period
    inputs: PlanInputs
    levers: tuple[LeverSetup, ...]
    start_mrr_source: str
    goal_source: str  # "config" or "text"
    notes: tuple[str, ...] = ()
    data_as_of: date | None = None  # the local day of the anchor, when data was read

    def lever(self, key: str) -> LeverSetup:
        return next(lever for lever in self.levers if lever.key == key)

    @property
    def month_labels(self) -> tuple[str, ...]:
        """``2026-10`` for each month of a period of whole months, else ``M1``, ``M2``..."""
        months = rp.months_of(self.period)
        if len(months) == self.inputs.months and all(
            m == rp.month_of(m.start) for m in months
        ):
            return tuple(f"{m.start.year}-{m.start.month:02d}" for m in months)
        return tuple(f"M{m}" for m in range(1, self.inputs.months + 1))


# --------------------------------------------------------------------------- objectives


_PERCENT = re.compile(r"([-+−]?\s*\d+(?:[.,]\d+)?)\s*%")
_MRR_WORDS = re.compile(
    r"\b(MRR|ARR)\b|recurring revenue|revenus? r[ée]current", re.IGNORECASE
)


def goal_from_text(text: str) -> float | None:
    """The MRR growth an objective's words state ("Augmenter le MRR de 20 %" -> 0.2); None
    when they do not speak of MRR or state no single percentage."""
    if not _MRR_WORDS.search(text):
        return None
    found = {
        float(m.group(1).replace(" ", "").replace(",", ".").replace("−", "-"))
        for m in _PERCENT.finditer(text)
    }
    if len(found) != 1:
        return None
    return found.pop() / 100.0


def mrr_goal(okr: Okr) -> tuple[float, str] | None:
    """``(growth, "config" | "text")`` for an objective with an MRR goal, else None."""
    if okr.goal is not None:
        return okr.goal.change.value, "config"
    growth = goal_from_text(okr.objective)
    return None if growth is None else (growth, "text")


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class _Want:
    """A value to read from the synced data."""

    name: str  # "start_mrr" or a lever
    metric: str
    window: rp.Period | None
    where: Mapping[str, Any]
    params: Mapping[str, Any]
    how: str


def plan_inputs(
    config: Config, okr: Okr, engine: sa.Engine | None, now: datetime, *, ramp: bool = False
) -> PlanSetup:
    """The :class:`~rules.plan.PlanInputs` of ``okr``, from the config and the synced data
    (see the module docstring); ``engine`` may be None when the config gives every value."""
    index = next((i for i, o in enumerate(config.okrs) if o is okr), 0)
    where = f"okrs[{index}]"
    goal = mrr_goal(okr)
    if goal is None:
        raise ConfigError([Problem(
            where, None, f"the objective {okr.objective!r} has no MRR goal",
            f"Add {GOAL_EXAMPLE} (the growth over its period) to simulate it")])
    growth, goal_source = goal
    period = rp.Period(okr.period.start, okr.period.end)
    months, notes = _months(period)
    if goal_source == "text":
        notes.append(
            f"The objective's growth ({growth:+.0%}) was read from its words; write "
            f"{GOAL_EXAMPLE.replace('20%', f'{growth * 100:g}%')} under {where} to set it "
            "explicitly."
        )
    tz = config.tz
    start = datetime.combine(period.start, time(), tzinfo=tz)
    anchor = min(now.astimezone(tz), start - _TICK)
    today = rp.local_day(now.astimezone(tz))

    levers: dict[str, dict[str, Any]] = {}
    wants: list[_Want] = []
    for key in LEVERS:
        kr = _lever_kr(okr, key, notes)
        lever: dict[str, Any] = {"kr": kr.id if kr else None, "target": None,
                                 "target_source": "not moved by a KR"}
        if kr is not None:
            value, source = _target_at(okr, kr, today)
            lever["target"] = _per_month(okr, kr, value)
            lever["target_source"] = source
            if kr.where:
                filters = ", ".join(f"{k}={v}" for k, v in kr.where.items())
                notes.append(f"KR {kr.id} measures {filters} only; the plan applies it to the "
                             "whole business.")
        if kr is not None and kr.baseline is not None:
            lever["baseline"] = _per_month(okr, kr, kr.baseline.value)
            lever["baseline_source"] = f"config (KR {kr.id} baseline)"
        else:
            wants.append(_data_want(key, kr, anchor))
        levers[key] = lever
    start_mrr, start_source = 0.0, ""
    mrr_kr = _mrr_kr(okr)
    if mrr_kr is not None and mrr_kr.baseline is not None:
        start_mrr = mrr_kr.baseline.value
        start_source = f"config (KR {mrr_kr.id} baseline)"
    else:
        wants.insert(0, _Want("start_mrr", "mrr", None, {}, {}, "MRR"))

    data = _read(config, engine, anchor, wants) if wants else {}
    data_day = rp.local_day(anchor) if wants else None
    for want in wants:
        value = data[want.name]
        source = f"synced data as of {_instant(anchor)} ({want.how})"
        if want.name == "start_mrr":
            start_mrr, start_source = value, source
        else:
            levers[want.name].update(baseline=value, baseline_source=source)

    setups = tuple(LeverSetup(key, **levers[key]) for key in LEVERS)
    try:
        inputs = PlanInputs(
            start_mrr=start_mrr, months=months, objective_growth=growth, ramp=ramp,
            **{lever.key: Lever(lever.baseline, lever.target) for lever in setups},
        )
    except RulesError as exc:
        raise SimulateError(f"{where} ({okr.objective}): the plan cannot run: {exc}") from exc
    return PlanSetup(index, okr.objective, period, inputs, setups, start_source, goal_source,
                     tuple(notes), data_day)


def needs_data(okr: Okr) -> bool:
    """Whether :func:`plan_inputs` reads the synced data: a baseline the config lacks."""
    if _mrr_kr(okr) is None:
        return True
    return any(
        (kr := _lever_kr(okr, key, [])) is None or kr.baseline is None for key in LEVERS
    )


def _mrr_kr(okr: Okr) -> KeyResult | None:
    """A KR on the whole MRR with a baseline: it gives the start MRR."""
    return next((kr for kr in okr.key_results
                 if kr.metric == "mrr" and not kr.where and kr.baseline is not None), None)


def _months(period: rp.Period) -> tuple[int, list[str]]:
    count = rp.month_count(period)
    if count == int(count):
        return int(count), []
    months = max(1, round(count))
    return months, [f"The period {period.label} lasts {count:.2f} months; the plan runs "
                    f"{months} whole months."]


def _lever_kr(okr: Okr, key: str, notes: list[str]) -> KeyResult | None:
    krs = [kr for kr in okr.key_results if kr.metric == key]
    if not krs:
        return None
    chosen = next((kr for kr in krs if not kr.where), krs[0])
    others = [kr.id for kr in krs if kr is not chosen]
    if others:
        notes.append(f"{key}: the plan uses KR {chosen.id}; also on it: {', '.join(others)}.")
    return chosen


def _target_at(okr: Okr, kr: KeyResult, today: date) -> tuple[float, str]:
    """The target in force on ``today``: the latest revision dated on or before it."""
    revised = [rev for rev in okr.revisions if rev.kr == kr.id and rev.date <= today]
    if revised:
        rev = max(revised, key=lambda r: r.date)
        return rev.target.value, f"config (KR {kr.id}, revised on {rev.date})"
    return kr.target.value, f"config (KR {kr.id} target)"


def _window_months(okr: Okr, kr: KeyResult) -> float:
    """How many months the KR's window lasts (its values are counted over it)."""
    kind = kr.window or "period"
    if kind == "period":
        chosen = kr.period or okr.period
        return rp.month_count(rp.Period(chosen.start, chosen.end))
    if kind == "quarter":
        return 3.0
    if kind == "month":
        return 1.0
    days = 7 if kind == "week" else int(kind.removesuffix("d"))
    return days / rp.AVERAGE_MONTH_DAYS


def _per_month(okr: Okr, kr: KeyResult, value: float) -> float:
    """A KR value in the model's unit: leads per month, a monthly churn rate."""
    if kr.metric == "qualified_leads":
        return value / _window_months(okr, kr)
    if kr.metric == "churn_rate" and kr.params.get("per") == "window":
        return monthly_rate(value, _window_months(okr, kr))
    return value


def full_months(anchor: datetime, count: int) -> rp.Period:
    """The last ``count`` calendar months over by ``anchor`` (an aware local datetime)."""
    day = rp.local_day(anchor)
    if (anchor + _TICK).date() == day:  # the anchor's own day is not over yet
        day -= timedelta(days=1)
    last = rp.month_of(day)
    if day != last.end:
        last = rp.month_of(last.start - timedelta(days=1))
    first = last.start
    for _ in range(count - 1):
        first = rp.month_of(first - timedelta(days=1)).start
    return rp.Period(first, last.end)


def _span(period: rp.Period) -> str:
    first, last = period.start, period.end
    if first.year == last.year:
        return f"{first:%b}–{last:%b %Y}"
    return f"{first:%b %Y}–{last:%b %Y}"


def _instant(anchor: datetime) -> str:
    """``2026-09-30`` for the end of a day (the period's eve), else the time too."""
    if (anchor + _TICK).time() == time():
        return rp.local_day(anchor).isoformat()
    return anchor.strftime("%Y-%m-%d %H:%M")


def _data_want(key: str, kr: KeyResult | None, anchor: datetime) -> _Want:
    where = dict(kr.where) if kr else {}
    params = dict(kr.params) if kr else {}
    if key == "qualified_leads":
        window = full_months(anchor, LEADS_MONTHS)
        return _Want(key, key, window, where, params,
                     f"qualified leads {_span(window)} / {LEADS_MONTHS}")
    if key == "lead_conversion_rate":
        window = full_months(anchor, RATE_MONTHS)
        params = {k: v for k, v in params.items() if k != "within_days"} | {"mode": "period"}
        return _Want(key, key, window, where, params,
                     f"new customers / qualified leads, {_span(window)}")
    if key == "churn_rate":
        window = full_months(anchor, RATE_MONTHS)
        return _Want(key, key, window, where, params | {"per": "month"},
                     f"monthly churn over {_span(window)}")
    return _Want(key, key, None, where, params, "MRR / active customers")


_HOW_TO_GIVE = {
    "start_mrr": "add a KR on mrr with a baseline (the MRR when the period starts)",
    "qualified_leads": "add a KR on qualified_leads with a baseline (leads over its period)",
    "lead_conversion_rate": "give the KR on lead_conversion_rate a baseline, or add one",
    "arpu": "give the KR on arpu a baseline, or add one",
    "churn_rate": "give the KR on churn_rate a baseline, or add one",
}
_WHAT = {"start_mrr": "the start MRR", **{k: k for k in LEVERS}}


def _read(
    config: Config, engine: sa.Engine | None, anchor: datetime, wants: Sequence[_Want]
) -> dict[str, float]:
    """The values ``wants`` asks for, or :class:`SimulateError` naming the first missing one."""
    import sqlalchemy as sa

    from syncd.metrics import Request, compute_many

    day = rp.local_day(anchor)
    if engine is None:
        first = wants[0]
        raise SimulateError(f"{_WHAT[first.name]} is not in the config and no database was "
                            f"given; {_HOW_TO_GIVE[first.name]}, or run `syncd sync`")
    requests = [Request(w.metric, anchor, w.window, w.where, w.params) for w in wants]
    try:
        values = compute_many(engine, requests, fields=set(config.crm.fields), fx=config.fx,
                              zone=config.tz)
    except sa.exc.SQLAlchemyError as exc:
        raise SimulateError(f"the database failed while reading the baselines: "
                            f"{exc.__class__.__name__}: {exc.args[0] if exc.args else ''}"
                            ) from exc
    except RulesError as exc:
        raise SimulateError(f"a baseline cannot be computed: {exc}") from exc
    found: dict[str, float] = {}
    for want, result in zip(wants, values, strict=True):
        value = result.value
        if want.window is not None and want.metric == "qualified_leads" and value is not None:
            value = value / LEADS_MONTHS
        empty = value is None or (want.name in ("start_mrr", "arpu") and value <= 0)
        if empty:
            reason = result.detail.get("reason")
            why = f" ({reason})" if reason else ""
            raise SimulateError(
                f"{_WHAT[want.name]} is missing: the synced data as of {day} has none"
                f"{why}; {_HOW_TO_GIVE[want.name]}, or run `syncd sync` if the CRM has it"
            )
        assert value is not None
        found[want.name] = float(value)
    return found


# --------------------------------------------------------------------------- month by month


def lever_levels(inputs: PlanInputs, month: int) -> dict[str, float]:
    """Each lever's level in ``month`` (1-based) with the plan's levers at target, exactly
    as :func:`rules.plan.mrr_path` computes it (a ramp climbs from the baseline)."""
    share = month / inputs.months
    levels = {}
    for key in LEVERS:
        lever = inputs.lever(key)
        end = lever.planned
        begin = lever.baseline if inputs.ramp else end
        levels[key] = begin + (end - begin) * share
    return levels


def new_customers(levels: Mapping[str, float]) -> float:
    return levels["qualified_leads"] * levels["lead_conversion_rate"]
