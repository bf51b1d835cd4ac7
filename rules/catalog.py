"""The metric catalog: every metric a Key Result or an alert rule can name, as data.

``syncd metrics`` prints these definitions; the SQL in ``syncd/`` computes exactly what they
say. Ratios are fractions (0.25 is 25 %). A "window" is the period a metric is computed over
(the KR's period, a month, an ISO week, the trailing N days); "as of" a past date means with
the data as it stood then, rebuilt from stage history and dates.

Choices made where teams differ (each alternative is a parameter):

- **Conversion is measured on cohorts** (``mode: cohort``): of the leads qualified during the
  window, the share that became customers. Sales teams use it because each lead is counted
  once, the rate stays between 0 and 100 %, and it answers "are our leads converting better?"
  without being fooled by a month that closes many old leads. Its cost: recent cohorts have
  not had time to convert yet, so the latest value under-reads until the cohort matures
  (``within_days`` caps the time a lead is given, making old and new cohorts comparable).
  ``mode: period`` (customers won in the window / leads qualified in the window) reacts
  faster but mixes leads of different months and can exceed 100 %.
- **Churn is logo churn, per month** (``churn_rate``): customers lost / customers at the start
  of the window, turned into the equivalent monthly rate so that a quarter's figure compares
  with the seed's "3 % per month" (see :func:`rules.formulas.monthly_rate`).
- **ARPU is MRR per active customer** at an instant (the seed's "panier moyen").
- **Pipeline coverage** divides open pipeline by the quota still to win in the period.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from types import MappingProxyType

from rules.errors import InvalidParams, UnknownMetric
from rules.metric import STANDARD_FILTERS, Direction, Metric, Param, ParamKind, Unit, Window

_UP = Direction.HIGHER_IS_BETTER
_DOWN = Direction.LOWER_IS_BETTER
_POINT = Window.POINT_IN_TIME
_OVER = Window.OVER_WINDOW

_DEALS = STANDARD_FILTERS
_COMPANIES = ("owner", "company_segment")
_CONTACTS = ("owner", "company_segment")

_MODE = Param(
    "mode",
    ParamKind.CHOICE,
    "cohort: leads qualified in the window, converted by the as-of date; "
    "period: conversions in the window / leads qualified in the window",
    default="cohort",
    choices=("cohort", "period"),
)
_WITHIN = Param(
    "within_days",
    ParamKind.INTEGER,
    "cohort mode: count a conversion only within this many days of qualification",
    minimum=1,
)
_PER = Param(
    "per",
    ParamKind.CHOICE,
    "month: the equivalent monthly rate; window: the raw share over the window",
    default="month",
    choices=("month", "window"),
)
_QUOTA = Param(
    "quota", ParamKind.MONEY, "the period's new-revenue target", required=True, minimum=0
)
_MIN_PROBABILITY = Param(
    "min_probability",
    ParamKind.NUMBER,
    "keep only deals in stages at least this likely to close (0.2 = qualified pipeline)",
    default=0.0,
    minimum=0.0,
    maximum=1.0,
)
_STAGE = Param(
    "stage",
    ParamKind.CHOICE,
    "the lifecycle stage that makes a lead qualified",
    default="sql",
    choices=("sql", "mql"),
)


def _metric(
    key: str,
    title: str,
    definition: str,
    unit: Unit,
    direction: Direction,
    window: Window,
    records: tuple[str, ...],
    filters: tuple[str, ...],
    *params: Param,
) -> Metric:
    return Metric(key, title, definition, unit, direction, window, records, filters, params,
                  signed=key in _SIGNED)


#: the metrics that go below zero (growth rates); every other one is floored at 0
_SIGNED = frozenset({"mrr_growth", "revenue_yoy_growth"})


_METRICS: tuple[Metric, ...] = (
    _metric(
        "mrr", "Monthly recurring revenue",
        "The sum of the monthly recurring amount (deal_mrr) of won deals whose company is "
        "a customer at that instant (not churned).",
        Unit.MONEY, _UP, _POINT, ("deal", "company"), _DEALS,
    ),
    _metric(
        "mrr_growth", "MRR growth",
        "(MRR at the end of the window - MRR at its start) / MRR at its start. "
        "+20 % over a quarter: MRR ended 20 % above where it began.",
        Unit.RATIO, _UP, _OVER, ("deal", "company"), _DEALS,
    ),
    _metric(
        "revenue", "Revenue (closed won)",
        "The sum of the amounts of deals won (by close date) in the window.",
        Unit.MONEY, _UP, _OVER, ("deal", "company"), _DEALS,
    ),
    _metric(
        "revenue_yoy_growth", "Revenue vs last year",
        "(Revenue of the window - revenue of the same dates one year earlier) / the latter.",
        Unit.RATIO, _UP, _OVER, ("deal", "company"), _DEALS,
    ),
    _metric(
        "new_customers", "New customers",
        "Companies whose first won deal closed in the window.",
        Unit.COUNT, _UP, _OVER, ("deal", "company"), _DEALS,
    ),
    _metric(
        "lead_conversion_rate", "Qualified lead to customer conversion",
        "Of the leads qualified in the window, the share whose company became a customer "
        "(cohort, the default). mode: period divides the window's new customers by its "
        "qualified leads instead.",
        Unit.RATIO, _UP, _OVER, ("contact", "company"), _CONTACTS, _MODE, _WITHIN,
    ),
    _metric(
        "win_rate", "Win rate",
        "Deals won / deals closed (won or lost) in the window. basis: amount weighs each deal "
        "by its amount.",
        Unit.RATIO, _UP, _OVER, ("deal", "company"), _DEALS,
        Param("basis", ParamKind.CHOICE, "count deals, or weigh them by amount",
              default="count", choices=("count", "amount")),
    ),
    _metric(
        "average_deal_value", "Average deal value",
        "The mean amount of the deals won in the window.",
        Unit.MONEY, _UP, _OVER, ("deal", "company"), _DEALS,
    ),
    _metric(
        "arpu", "Average revenue per customer (panier moyen)",
        "MRR divided by the number of customers active at that instant.",
        Unit.MONEY, _UP, _POINT, ("deal", "company"), _DEALS,
    ),
    _metric(
        "churn_rate", "Customer churn (logo)",
        "Customers lost in the window / customers active at its start, as a monthly rate "
        "by default (per: window for the raw share).",
        Unit.RATIO, _DOWN, _OVER, ("company",), _COMPANIES, _PER,
    ),
    _metric(
        "revenue_churn_rate", "Revenue churn (gross)",
        "MRR lost in the window from customers who left (and from downgrades unless "
        "include_contraction is false) / MRR at its start; monthly by default. Upsells do "
        "not offset it.",
        Unit.RATIO, _DOWN, _OVER, ("deal", "company"), _DEALS, _PER,
        Param("include_contraction", ParamKind.BOOL, "count downgrades as churned revenue",
              default=True),
    ),
    _metric(
        "retention_rate", "Customer retention (logo)",
        "Of the customers active at the start of the window, the share still customers at "
        "its end.",
        Unit.RATIO, _UP, _OVER, ("company",), _COMPANIES,
    ),
    _metric(
        "net_revenue_retention", "Net revenue retention (NRR)",
        "MRR at the end of the window of the customers active at its start (upsells, "
        "downgrades and churn included) / their MRR at the start. New customers are left "
        "out; above 100 % the base grows on its own.",
        Unit.RATIO, _UP, _OVER, ("deal", "company"), _DEALS,
    ),
    _metric(
        "pipeline_value", "Open pipeline",
        "The sum of the amounts of deals open at that instant (neither won nor lost), "
        "rebuilt from stage history for past dates.",
        Unit.MONEY, _UP, _POINT, ("deal", "company"), _DEALS, _MIN_PROBABILITY,
    ),
    _metric(
        "weighted_pipeline_value", "Weighted pipeline",
        "Open pipeline where each deal counts for its amount times its stage's probability "
        "of closing.",
        Unit.MONEY, _UP, _POINT, ("deal", "company"), _DEALS,
    ),
    _metric(
        "pipeline_coverage", "Pipeline coverage",
        "Open pipeline / the quota still to win (quota - revenue won since the start of the "
        "period). 6x: six of open deals for each one left to sign. Undefined once the quota "
        "is met.",
        Unit.MULTIPLE, _UP, _POINT, ("deal", "company"), _DEALS, _QUOTA, _MIN_PROBABILITY,
    ),
    _metric(
        "qualified_leads", "Qualified leads",
        "Leads that became sales-qualified in the window (stage: mql counts "
        "marketing-qualified leads).",
        Unit.COUNT, _UP, _OVER, ("contact", "company"), _CONTACTS, _STAGE,
    ),
    _metric(
        "qualified_leads_per_rep", "Qualified leads per rep per month",
        "Qualified leads / reps / months in the window. reps defaults to the number of "
        "owners of at least one of those leads; set it when some reps had none.",
        Unit.COUNT, _UP, _OVER, ("contact", "company"), _CONTACTS, _STAGE,
        Param("reps", ParamKind.INTEGER, "the number of reps sharing the leads", minimum=1),
        Param("per", ParamKind.CHOICE, "per month, or over the whole window",
              default="month", choices=("month", "window")),
    ),
    _metric(
        "mql_to_sql_rate", "MQL to SQL rate",
        "Of the leads marketing-qualified in the window, the share that became "
        "sales-qualified (cohort by default, like lead_conversion_rate).",
        Unit.RATIO, _UP, _OVER, ("contact", "company"), _CONTACTS, _MODE, _WITHIN,
    ),
    _metric(
        "sales_cycle_days", "Sales cycle length",
        "Days from a deal's creation to its win, averaged over the deals won in the window "
        "(statistic: median for the median).",
        Unit.DAYS, _DOWN, _OVER, ("deal", "company"), _DEALS,
        Param("statistic", ParamKind.CHOICE, "mean or median", default="mean",
              choices=("mean", "median")),
    ),
    _metric(
        "segment_revenue_share", "Revenue share of a segment",
        "Revenue of the window from deals whose company's field (default company_segment) "
        "equals segment / all revenue of the window matching the other filters.",
        Unit.RATIO, _UP, _OVER, ("deal", "company"), _DEALS,
        Param("segment", ParamKind.TEXT, "the segment's value, like Médical", required=True),
        Param("field", ParamKind.TEXT, "the mapped field holding the segment",
              default="company_segment"),
    ),
    _metric(
        "quota_attainment", "Quota attainment",
        "Revenue won in the window / quota.",
        Unit.RATIO, _UP, _OVER, ("deal", "company"), _DEALS, _QUOTA,
    ),
)

#: Every metric by key, in the order ``syncd metrics`` lists them.
CATALOG: Mapping[str, Metric] = MappingProxyType({m.key: m for m in _METRICS})


def get(key: str) -> Metric:
    """The metric ``key``; :class:`UnknownMetric` lists the close matches otherwise."""
    metric = CATALOG.get(key)
    if metric is None:
        raise UnknownMetric(key, tuple(difflib.get_close_matches(key, list(CATALOG), n=3)))
    return metric


# --------------------------------------------------------------------------- targets

#: The unit a value is written in, as the config parses it: ``25%``, ``6x``, ``1450``.
WRITTEN_UNITS: Mapping[Unit, str] = MappingProxyType(
    {
        Unit.COUNT: "number",
        Unit.MONEY: "number",
        Unit.DAYS: "number",
        Unit.RATIO: "percent",
        Unit.MULTIPLE: "multiple",
    }
)
_EXAMPLES = {
    Unit.COUNT: "a number like 30",
    Unit.MONEY: "an amount like 1450",
    Unit.DAYS: "a number of days like 35",
    Unit.RATIO: "a percentage like 25%",
    Unit.MULTIPLE: "a multiple like 6x",
}
_NOUNS = {
    Unit.COUNT: "a count",
    Unit.MONEY: "an amount of money",
    Unit.DAYS: "a number of days",
    Unit.RATIO: "a rate",
    Unit.MULTIPLE: "a multiple",
}
_WRITTEN_NOUNS = {"percent": "a percentage", "multiple": "a multiple", "number": "a plain number"}


def target_unit_problem(metric: Metric, written: str, *, what: str = "target") -> str | None:
    """Why a value written as ``written`` (``percent``, ``multiple`` or ``number``) does not
    fit ``metric``, or None when it does.

    Counts, money and days take plain numbers; rates take percentages; multiples take ``6x``.
    """
    if written not in _WRITTEN_NOUNS:
        return f"{written!r} is not a unit; write {_EXAMPLES[metric.unit]}"
    if WRITTEN_UNITS[metric.unit] == written:
        return None
    message = (
        f"the {what} is {_WRITTEN_NOUNS[written]} but {metric.key} is "
        f"{_NOUNS[metric.unit]}; write {_EXAMPLES[metric.unit]}"
    )
    if written == "percent" and metric.unit in (Unit.MONEY, Unit.COUNT):
        message += " (for a relative goal, use a growth metric such as mrr_growth)"
    if written == "multiple":
        multiples = ", ".join(m.key for m in CATALOG.values() if m.unit is Unit.MULTIPLE)
        message += f" (multiples fit only {multiples})"
    return message


# --------------------------------------------------------------------------- filters

_FIELD_KEY = re.compile(r"(deal|company|contact)_[a-z][a-z0-9_]*")


def filter_problems(
    metric: Metric, keys: Collection[str], *, mapped_fields: Collection[str] | None = None
) -> list[str]:
    """One message per ``where:`` key that ``metric`` cannot be filtered by.

    A key is accepted when it is one of the metric's standard filters, or a field key
    (``<record>_<name>``) on a record the metric is built from; when ``mapped_fields`` is
    given, such a field must also be mapped in ``crm.fields``.
    """
    problems = []
    accepted = ", ".join([*metric.filters, *(f"{r}_*" for r in metric.records)])
    for key in keys:
        if key in metric.filters:
            continue
        field = _FIELD_KEY.fullmatch(key)
        if field and field.group(1) in metric.records:
            if mapped_fields is None or key in mapped_fields:
                continue
            problems.append(
                f"{key} is not a mapped field; map it under crm.fields (like {key}: "
                "your_crm_property) or remove the filter"
            )
            continue
        problems.append(f"{metric.key} cannot be filtered by {key}; it accepts {accepted}")
    return problems


# --------------------------------------------------------------------------- params


def resolve_params(metric: Metric, given: Mapping[str, object]) -> Mapping[str, object]:
    """The metric's parameters with defaults filled in; every problem reported at once.

    Raises :class:`InvalidParams` whose message lists each problem on its own line.
    """
    problems: list[str] = []
    names = [p.name for p in metric.params]
    for name in given:
        if metric.param(name) is None:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"did you mean {close[0]}?" if close else (
                f"it takes {', '.join(names)}" if names else "it takes no params"
            )
            problems.append(f"{metric.key} has no param {name!r}; {hint}")
    resolved: dict[str, object] = {}
    for param in metric.params:
        if param.name not in given or given[param.name] is None:
            if param.required:
                problems.append(f"{metric.key} needs params.{param.name}: {param.description}")
            resolved[param.name] = param.default
            continue
        value = given[param.name]
        problem = _param_problem(param, value)
        if problem:
            problems.append(f"{metric.key} params.{param.name}: {problem}")
        resolved[param.name] = value
    if problems:
        raise InvalidParams("\n".join(problems))
    return MappingProxyType(resolved)


def _param_problem(param: Param, value: object) -> str | None:
    kind = param.kind
    if kind is ParamKind.CHOICE:
        if value not in param.choices:
            return f"{value!r} is not one of {', '.join(param.choices)}"
        return None
    if kind is ParamKind.BOOL:
        return None if isinstance(value, bool) else f"{value!r} is not true or false"
    if kind is ParamKind.TEXT:
        return None if isinstance(value, str) and value.strip() else f"{value!r} is not text"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{value!r} is not a number"
    if kind is ParamKind.INTEGER and not isinstance(value, int):
        return f"{value!r} is not a whole number"
    if param.minimum is not None and value < param.minimum:
        return f"{value!r} is below {param.minimum:g}"
    if param.maximum is not None and value > param.maximum:
        return f"{value!r} is above {param.maximum:g}"
    return None
