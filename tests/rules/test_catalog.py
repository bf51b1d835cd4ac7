"""The metric catalog: keys, definitions, units, and the checks built on them."""

from __future__ import annotations

import pytest

from rules import catalog
from rules.catalog import CATALOG, filter_problems, get, resolve_params, target_unit_problem
from rules.errors import InvalidParams, RulesError, UnknownMetric
from rules.metric import Direction, Unit, Window, format_value

REQUIRED_KEYS = {
    "mrr", "mrr_growth", "revenue", "revenue_yoy_growth", "new_customers",
    "lead_conversion_rate", "win_rate", "average_deal_value", "arpu", "churn_rate",
    "revenue_churn_rate", "retention_rate", "net_revenue_retention", "pipeline_value",
    "weighted_pipeline_value", "pipeline_coverage", "qualified_leads",
    "qualified_leads_per_rep", "mql_to_sql_rate", "sales_cycle_days",
    "segment_revenue_share", "quota_attainment",
}


def test_the_catalog_holds_every_metric_the_issue_names() -> None:
    assert set(CATALOG) >= REQUIRED_KEYS


@pytest.mark.parametrize("key", sorted(CATALOG))
def test_every_metric_is_complete_and_readable(key: str) -> None:
    metric = CATALOG[key]
    assert metric.key == key
    assert metric.title and metric.definition
    assert len(metric.definition) <= 300, "a definition a sales manager reads at a glance"
    assert metric.records and set(metric.records) <= {"deal", "company", "contact"}
    assert "owner" in metric.filters
    # Every optional param's default passes the metric's own validation.
    required = {p.name: _sample(p.kind.value) for p in metric.params if p.required}
    resolved = resolve_params(metric, required)
    assert set(resolved) == {p.name for p in metric.params}


def _sample(kind: str) -> object:
    return {"money": 60000, "text": "PME"}[kind]


@pytest.mark.parametrize(
    ("key", "unit", "direction", "window"),
    [
        ("mrr", Unit.MONEY, Direction.HIGHER_IS_BETTER, Window.POINT_IN_TIME),
        ("pipeline_value", Unit.MONEY, Direction.HIGHER_IS_BETTER, Window.POINT_IN_TIME),
        ("revenue", Unit.MONEY, Direction.HIGHER_IS_BETTER, Window.OVER_WINDOW),
        ("new_customers", Unit.COUNT, Direction.HIGHER_IS_BETTER, Window.OVER_WINDOW),
        ("churn_rate", Unit.RATIO, Direction.LOWER_IS_BETTER, Window.OVER_WINDOW),
        ("revenue_churn_rate", Unit.RATIO, Direction.LOWER_IS_BETTER, Window.OVER_WINDOW),
        ("sales_cycle_days", Unit.DAYS, Direction.LOWER_IS_BETTER, Window.OVER_WINDOW),
        ("pipeline_coverage", Unit.MULTIPLE, Direction.HIGHER_IS_BETTER, Window.POINT_IN_TIME),
        ("arpu", Unit.MONEY, Direction.HIGHER_IS_BETTER, Window.POINT_IN_TIME),
        ("lead_conversion_rate", Unit.RATIO, Direction.HIGHER_IS_BETTER, Window.OVER_WINDOW),
    ],
)
def test_units_directions_and_windows(
    key: str, unit: Unit, direction: Direction, window: Window
) -> None:
    metric = get(key)
    assert (metric.unit, metric.direction, metric.window) == (unit, direction, window)


@pytest.mark.parametrize(
    ("key", "params", "expected"),
    [
        ("lead_conversion_rate", {}, {"mode": "cohort", "within_days": None}),
        ("lead_conversion_rate", {"mode": "period"}, {"mode": "period", "within_days": None}),
        ("churn_rate", {}, {"per": "month"}),
        ("pipeline_coverage", {"quota": 60000}, {"quota": 60000, "min_probability": 0.0}),
        ("sales_cycle_days", {}, {"statistic": "mean"}),
        ("mrr", {}, {}),
    ],
)
def test_params_get_their_defaults(key: str, params: dict[str, object], expected: dict) -> None:
    assert dict(resolve_params(get(key), params)) == expected


@pytest.mark.parametrize(
    ("key", "params", "fragments"),
    [
        ("pipeline_coverage", {}, ["pipeline_coverage needs params.quota"]),
        ("lead_conversion_rate", {"mdoe": "cohort"}, ["no param 'mdoe'", "did you mean mode?"]),
        ("lead_conversion_rate", {"mode": "rolling"}, ["'rolling' is not one of cohort, period"]),
        ("pipeline_coverage", {"quota": "lots"}, ["params.quota: 'lots' is not a number"]),
        ("pipeline_coverage", {"quota": True}, ["params.quota: True is not a number"]),
        ("pipeline_value", {"min_probability": 1.5}, ["min_probability: 1.5 is above 1"]),
        ("lead_conversion_rate", {"within_days": 2.5}, ["2.5 is not a whole number"]),
        ("mrr", {"quota": 1}, ["mrr has no param 'quota'; it takes no params"]),
    ],
)
def test_bad_params_say_what_to_fix(
    key: str, params: dict[str, object], fragments: list[str]
) -> None:
    with pytest.raises(InvalidParams) as caught:
        resolve_params(get(key), params)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_every_param_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidParams) as caught:
        resolve_params(get("pipeline_coverage"), {"min_probability": -1, "quotas": 5})
    lines = str(caught.value).splitlines()
    assert len(lines) == 3
    assert any("did you mean quota?" in line for line in lines)


def test_an_unknown_metric_lists_close_matches() -> None:
    with pytest.raises(UnknownMetric) as caught:
        get("conversion_rate")
    assert "unknown metric 'conversion_rate'" in str(caught.value)
    assert "lead_conversion_rate" in caught.value.close
    assert isinstance(caught.value, LookupError) and isinstance(caught.value, RulesError)


def test_an_unknown_metric_without_close_match_points_to_the_listing() -> None:
    with pytest.raises(UnknownMetric, match="syncd metrics"):
        get("zzzz")


@pytest.mark.parametrize(
    ("key", "written", "fragments"),
    [
        ("arpu", "number", None),
        ("mrr", "number", None),
        ("lead_conversion_rate", "percent", None),
        ("churn_rate", "percent", None),
        ("pipeline_coverage", "multiple", None),
        ("sales_cycle_days", "number", None),
        ("arpu", "percent", ["percentage", "arpu is an amount of money", "1450", "mrr_growth"]),
        ("new_customers", "percent", ["new_customers is a count", "a number like 30"]),
        ("lead_conversion_rate", "number", ["a plain number", "a percentage like 25%"]),
        ("churn_rate", "multiple", ["a multiple", "fit only pipeline_coverage"]),
        ("pipeline_coverage", "percent", ["pipeline_coverage is a multiple", "like 6x"]),
        ("pipeline_coverage", "number", ["a multiple like 6x"]),
        ("sales_cycle_days", "percent", ["a number of days like 35"]),
    ],
)
def test_target_units_must_fit_the_metric(
    key: str, written: str, fragments: list[str] | None
) -> None:
    problem = target_unit_problem(get(key), written)
    if fragments is None:
        assert problem is None
    else:
        assert problem is not None
        for fragment in fragments:
            assert fragment in problem


def test_the_unit_message_names_what_was_written() -> None:
    problem = target_unit_problem(get("arpu"), "percent", what="baseline")
    assert problem is not None and problem.startswith("the baseline is a percentage")


@pytest.mark.parametrize(
    ("key", "keys", "mapped", "fragments"),
    [
        ("lead_conversion_rate", ["company_segment", "owner"], None, []),
        ("lead_conversion_rate", ["pipeline"], None, ["cannot be filtered by pipeline"]),
        ("churn_rate", ["deal_type"], None, ["churn_rate cannot be filtered by deal_type"]),
        ("mrr", ["deal_region", "amount_min"], None, []),
        ("mrr", ["deal_region"], ["deal_mrr"], ["deal_region is not a mapped field"]),
        ("mrr", ["deal_region"], ["deal_region"], []),
        ("mrr", ["region"], None, ["mrr cannot be filtered by region; it accepts owner"]),
        ("mrr", ["region", "contact_source"], None, ["by region", "by contact_source"]),
    ],
)
def test_filters_fit_the_records_a_metric_is_built_from(
    key: str, keys: list[str], mapped: list[str] | None, fragments: list[str]
) -> None:
    problems = filter_problems(get(key), keys, mapped_fields=mapped)
    assert len(problems) == len(fragments)
    for problem, fragment in zip(problems, fragments, strict=True):
        assert fragment in problem


def test_a_filter_problem_lists_what_the_metric_accepts() -> None:
    (problem,) = filter_problems(get("churn_rate"), ["pipeline"])
    assert problem.endswith("it accepts owner, company_segment, company_*")


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (0.183, Unit.RATIO, "18.3%"),
        (104250.4, Unit.MONEY, "104,250"),
        (5.46, Unit.MULTIPLE, "5.5x"),
        (35, Unit.DAYS, "35.0 days"),
        (12.0, Unit.COUNT, "12"),
        (27.5, Unit.COUNT, "27.5"),
    ],
)
def test_values_read_like_a_sales_manager_writes_them(value: float, unit: Unit, text: str) -> None:
    assert format_value(value, unit) == text


def test_the_catalog_cannot_be_changed_by_a_caller() -> None:
    with pytest.raises(TypeError):
        catalog.CATALOG["mrr"] = get("arpu")  # type: ignore[index]
