"""Drift findings, driven day by day with an injected ``now`` (Alertmanager-style tables)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.drift import (
    ChangeRule,
    Side,
    ThresholdRule,
    behind_pace,
    change_finding,
    projected_miss,
    stale_data,
    threshold_finding,
)
from rules.errors import InvalidRule, RulesError, UnknownMetric
from rules.findings import Finding, FindingKind, Severity, fingerprint, mute_stale
from rules.pace import Status, evaluate_kr
from rules.periods import parse_period
from rules.targets import KeyResultSpec

ZURICH = ZoneInfo("Europe/Zurich")
Q4 = parse_period("2026-Q4")
CONVERSION = KeyResultSpec("conversion-pme", "lead_conversion_rate", 0.25, Q4, baseline=0.18)
CHURN = KeyResultSpec("churn", "churn_rate", 0.02, Q4, baseline=0.03)


def day(n: int) -> date:
    """Day ``n`` of Q4 (1 = 1 October)."""
    return date(2026, 10, 1) + timedelta(days=n - 1)


# --------------------------------------------------------------------------- behind pace

def at_pace(n: int, pace: float) -> float:
    """The value that makes ``pace`` on day ``n`` (past the 5 % floor)."""
    return 0.18 + pace * 0.07 * n / 92


STORY = [
    # day, pace of the day, status, severity of the finding (None: no finding)
    (5, 0.0, Status.ON_TRACK, None),  # 5 % elapsed: too early to judge
    (9, 0.0, Status.ON_TRACK, None),  # 9.8 %: still too early
    (10, 0.0, Status.OFF_TRACK, Severity.CRITICAL),  # 10.9 %: nothing done, off track
    (20, 0.72, Status.OFF_TRACK, Severity.CRITICAL),  # under 75 %: stays off track
    (27, 0.80, Status.AT_RISK, Severity.WARNING),  # recovered from off track, not on track
    (34, 0.93, Status.AT_RISK, Severity.WARNING),  # between 90 % and 95 %: holds
    (41, 0.96, Status.ON_TRACK, None),  # back on track above 95 %
    (48, 0.92, Status.ON_TRACK, None),  # between the thresholds: holds, no flapping
    (55, 0.89, Status.AT_RISK, Severity.WARNING),  # under 90 %: fires
]


def test_behind_pace_day_by_day() -> None:
    previous = Status.ON_TRACK
    fingerprints = set()
    for n, pace, status, severity in STORY:
        now = day(n)
        result = evaluate_kr(CONVERSION, at_pace(n, pace), now, previous=previous)
        assert result.pace == pytest.approx(pace), n
        assert result.status is status, n
        finding = behind_pace(result, source="hubspot")
        assert (finding.severity if finding else None) == severity, n
        if finding:
            fingerprints.add(finding.fingerprint)
            assert finding.kind is FindingKind.BEHIND_PACE and finding.subject == "conversion-pme"
            assert finding.number("pace") == pytest.approx(pace)
        previous = result.status
    assert len(fingerprints) == 1, "one condition, one fingerprint, whatever the severity"


def test_the_behind_pace_reason_reads_like_a_sentence() -> None:
    result = evaluate_kr(CONVERSION, 0.19, day(46), previous=Status.ON_TRACK)
    finding = behind_pace(result)
    assert finding is not None
    assert finding.reason == (
        "KR conversion-pme is off track: 19.0% vs 21.5% expected by now on the way to 25.0% "
        "(29% of the expected progress, 50% of the period elapsed)"
    )


# --------------------------------------------------------------------------- projected miss


def series_of(values: list[float], first: int = 1) -> list[tuple[date, float]]:
    return [(day(first + i), v) for i, v in enumerate(values)]


NOISE = [-0.04, 0.04, -0.04, 0.04, -0.04, 0.04, -0.04]  # mirrored below: no slope


@pytest.mark.parametrize(
    ("spec", "values", "now", "missed"),
    [
        # flat at 19 %: the whole band sits under 25 %
        (CONVERSION, [0.19] * 30, day(30), True),
        # rising 0.1 point a day from 18 %: about 27 % by the end, no miss
        (CONVERSION, [0.18 + 0.001 * i for i in range(30)], day(30), False),
        # churn stuck at 3 %: the band is above the 2 % target
        (CHURN, [0.03] * 20, day(20), True),
        (CHURN, [0.03 - 0.0002 * i for i in range(20)], day(20), False),
        # too early in the period (5 days of 92), even if flat
        (CONVERSION, [0.18] * 5, day(5), False),
        # flat trend at 19.4 %, under the target, but so noisy that the band reaches 25 %:
        # no certain miss
        (CONVERSION, [0.20 + e for e in NOISE + NOISE[::-1]], day(14), False),
    ],
)
def test_projected_miss(spec: KeyResultSpec, values: list, now: date, missed: bool) -> None:
    result = evaluate_kr(spec, values[-1], now, series=series_of(values))
    finding = projected_miss(result)
    assert (finding is not None) is missed
    if finding:
        assert finding.kind is FindingKind.PROJECTED_MISS and finding.subject == spec.id
        assert finding.number("target") == spec.target


def test_no_projected_miss_without_a_projection() -> None:
    result = evaluate_kr(CONVERSION, 0.18, day(40), series=series_of([0.18, 0.18]))
    assert projected_miss(result) is None


def test_the_projected_miss_reason() -> None:
    result = evaluate_kr(CHURN, 0.03, day(20), series=series_of([0.03] * 20))
    finding = projected_miss(result)
    assert finding is not None
    assert finding.reason == (
        "KR churn is projected to miss its target: 3.0% by 2026-12-31 "
        "(80% band 3.0% to 3.0%) vs a target of 2.0%"
    )


# --------------------------------------------------------------------------- change


DROP = ChangeRule(
    "pipeline-drop",
    "pipeline_value",
    change=-0.25,
    over=timedelta(days=7),
    recover=-0.15,
    min_base=10_000,
    source="hubspot",
)

def test_a_change_rule_fires_and_resolves_with_hysteresis() -> None:
    story = [
        (1, 100_000.0, False),  # no history yet
        (8, 80_000.0, False),  # -20 %: not yet
        (15, 59_000.0, True),  # -26 %: fires
        (22, 49_000.0, True),  # -17 % vs 59k: between -25 % and -15 %, keeps firing
        (29, 45_000.0, False),  # -8 %: resolved
        (36, 30_000.0, True),  # 6 December, -33 %: fires again
    ]
    series: list[tuple[date, float]] = []
    firing = False
    fingerprints = set()
    for n, value, expected_firing in story:
        now = date(2026, 10, 31) + timedelta(days=n)  # day n of November
        series.append((now, value))
        finding = change_finding(DROP, series, now, was_firing=firing)
        firing = finding is not None
        assert firing is expected_firing, n
        if finding:
            fingerprints.add(finding.fingerprint)
    assert len(fingerprints) == 1


@pytest.mark.parametrize(
    ("rule", "base", "current", "was_firing", "fires"),
    [
        (DROP, 100_000.0, 75_000.0, False, True),  # exactly -25 %
        (DROP, 100_000.0, 75_001.0, False, False),
        (DROP, 100_000.0, 85_000.0, True, True),  # exactly -15 % while firing: holds
        (DROP, 100_000.0, 85_001.0, True, False),
        (DROP, 100_000.0, 150_000.0, False, False),  # one direction only: a rise is fine
        (DROP, 9_000.0, 1_000.0, False, False),  # base under min_base: ignored
        (DROP, 10_000.0, 1_000.0, False, True),
        (
            dataclasses.replace(DROP, change=0.30, recover=None),  # a rise rule
            100_000.0, 130_000.0, False, True,
        ),
        (dataclasses.replace(DROP, change=0.30, recover=None), 100_000.0, 60_000.0, False, False),
        (
            dataclasses.replace(DROP, relative=False, change=-20_000.0, recover=None),
            100_000.0, 79_000.0, False, True,
        ),
        (dataclasses.replace(DROP, min_base=None), 0.0, -5.0, False, False),  # no % from 0
    ],
)
def test_change_rule_table(
    rule: ChangeRule, base: float, current: float, was_firing: bool, fires: bool
) -> None:
    series = [(date(2026, 11, 2), base), (date(2026, 11, 9), current)]
    finding = change_finding(rule, series, date(2026, 11, 9), was_firing=was_firing)
    assert (finding is not None) is fires


def test_the_change_reason_and_numbers() -> None:
    series = [(date(2026, 11, 2), 100_000.0), (date(2026, 11, 9), 73_000.0)]
    finding = change_finding(DROP, series, datetime(2026, 11, 9, 7, 30, tzinfo=ZURICH))
    assert finding is not None
    assert finding.reason == (
        "pipeline_value fell 27% over 7 days: 73,000 on 2026-11-09 vs 100,000 on 2026-11-02 "
        "(rule pipeline-drop: alert at -25%, resolved above -15%)"
    )
    assert finding.number("change") == pytest.approx(-0.27)
    assert (finding.severity, finding.source, finding.subject) == (
        Severity.WARNING, "hubspot", "pipeline-drop",
    )


@pytest.mark.parametrize(
    ("kw", "error", "fragment"),
    [
        ({"change": 0.0}, InvalidRule, "fires all the time"),
        ({"over": timedelta(hours=36)}, InvalidRule, "whole days"),
        ({"over": timedelta(0)}, InvalidRule, "whole days"),
        ({"recover": -0.30}, InvalidRule, "between 0 and change"),
        ({"recover": 0.10}, InvalidRule, "between 0 and change"),
        ({"min_base": -1.0}, InvalidRule, "min_base is a size"),
        ({"metric": "pipeline"}, UnknownMetric, "pipeline_value"),
    ],
)
def test_inconsistent_change_rules_are_refused(kw: dict, error: type, fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        dataclasses.replace(DROP, **kw)


# --------------------------------------------------------------------------- threshold


@pytest.mark.parametrize(
    ("rule", "value", "was_firing", "fires"),
    [
        (ThresholdRule("cov", "pipeline_coverage", 3.0), 2.9, False, True),  # below by default
        (ThresholdRule("cov", "pipeline_coverage", 3.0), 3.0, False, False),
        (ThresholdRule("cov", "pipeline_coverage", 3.0, recover=3.5), 3.2, True, True),
        (ThresholdRule("cov", "pipeline_coverage", 3.0, recover=3.5), 3.5, True, False),
        (ThresholdRule("cov", "pipeline_coverage", 3.0, recover=3.5), 3.2, False, False),
        (ThresholdRule("churn", "churn_rate", 0.04), 0.05, False, True),  # above by default
        (ThresholdRule("churn", "churn_rate", 0.04), 0.03, False, False),
        (ThresholdRule("big", "pipeline_value", 1e6, when=Side.ABOVE), 2e6, False, True),
    ],
)
def test_threshold_rule_table(
    rule: ThresholdRule, value: float, was_firing: bool, fires: bool
) -> None:
    finding = threshold_finding(rule, value, day(40), was_firing=was_firing)
    assert (finding is not None) is fires


def test_the_threshold_reason() -> None:
    finding = threshold_finding(ThresholdRule("churn", "churn_rate", 0.04), 0.051, day(40))
    assert finding is not None
    assert finding.reason == "churn_rate is 5.1%, above 4.0% (rule churn)"


def test_a_recover_level_on_the_bad_side_is_refused() -> None:
    with pytest.raises(InvalidRule, match="good side of the threshold"):
        ThresholdRule("cov", "pipeline_coverage", 3.0, recover=2.5)
    with pytest.raises(InvalidRule, match="below"):
        ThresholdRule("churn", "churn_rate", 0.04, recover=0.05)


# --------------------------------------------------------------------------- stale data

NOW = datetime(2026, 11, 16, 7, 30, tzinfo=ZURICH)


@pytest.mark.parametrize(
    ("last", "stale", "fragment"),
    [
        (NOW - timedelta(minutes=119), False, None),
        (NOW - timedelta(hours=2), False, None),  # exactly the limit: still fresh
        (NOW - timedelta(hours=2, seconds=1), True, "last successful sync 2.0 h ago"),
        (NOW - timedelta(days=3), True, "last successful sync 3.0 days ago"),
        (None, True, "no successful sync of hubspot yet"),
        (NOW + timedelta(minutes=5), False, None),  # a clock a little ahead: not stale
        ((NOW - timedelta(hours=3)).astimezone(UTC), True, "3.0 h ago"),  # zones don't matter
    ],
)
def test_stale_data(last: datetime | None, stale: bool, fragment: str | None) -> None:
    finding = stale_data("hubspot", last, NOW, timedelta(hours=2))
    assert (finding is not None) is stale
    if finding:
        assert fragment is not None and fragment in finding.reason
        assert finding.kind is FindingKind.STALE_DATA and finding.source == "hubspot"


def test_stale_data_needs_aware_instants_and_a_positive_limit() -> None:
    with pytest.raises(RulesError, match="aware datetime"):
        stale_data("hubspot", datetime(2026, 11, 16), NOW, timedelta(hours=2))  # noqa: DTZ001
    with pytest.raises(RulesError, match="aware datetime"):
        stale_data("hubspot", None, date(2026, 11, 16), timedelta(hours=2))  # type: ignore[arg-type]
    with pytest.raises(InvalidRule, match="stale_after must be positive"):
        stale_data("hubspot", None, NOW, timedelta(0))


def test_stale_data_mutes_the_findings_of_its_source_and_drops_nothing() -> None:
    drop = change_finding(
        DROP, [(date(2026, 11, 9), 100_000.0), (date(2026, 11, 16), 70_000.0)], NOW
    )
    other = dataclasses.replace(DROP, id="sf-drop", source="salesforce")
    sf_drop = change_finding(
        other, [(date(2026, 11, 9), 100_000.0), (date(2026, 11, 16), 70_000.0)], NOW
    )
    pace = behind_pace(evaluate_kr(CONVERSION, 0.18, day(46)))  # no source: any stale mutes
    stale = stale_data("hubspot", NOW - timedelta(hours=5), NOW, timedelta(hours=2))
    assert drop and sf_drop and pace and stale
    result = mute_stale([drop, sf_drop, stale, pace])
    assert [f.subject for f in result] == [
        "pipeline-drop", "sf-drop", "stale-sync", "conversion-pme",
    ]
    muted = {f.subject: f for f in result if f.muted}
    assert set(muted) == {"pipeline-drop", "conversion-pme"}
    assert muted["pipeline-drop"].muted_by == stale.fingerprint
    assert muted["pipeline-drop"].muted_reason == (
        f"muted because {stale.reason}; it may rest on old data"
    )
    # muting keeps everything else, fingerprint included
    assert dataclasses.replace(muted["pipeline-drop"], muted_reason=None, muted_by=None) == drop


def test_without_stale_data_nothing_is_muted() -> None:
    pace = behind_pace(evaluate_kr(CONVERSION, 0.18, day(46)))
    assert pace is not None
    assert mute_stale([pace]) == (pace,)


# --------------------------------------------------------------------------- fingerprints


@given(st.floats(1e4, 1e7), st.floats(0.0, 1e7), st.booleans(), st.sampled_from([7, 14]))
def test_fingerprints_do_not_change_when_values_change(
    base: float, current: float, was_firing: bool, over: int
) -> None:
    rule = dataclasses.replace(DROP, change=-0.01, recover=None, over=timedelta(days=over))
    start, now = date(2026, 11, 1), date(2026, 11, 1) + timedelta(days=over)
    reference = change_finding(rule, [(start, 100_000.0), (now, 1.0)], now)
    finding = change_finding(rule, [(start, base), (now, current)], now, was_firing=was_firing)
    assert reference is not None
    if finding is not None:
        assert finding.fingerprint == reference.fingerprint
        assert finding.numbers != reference.numbers or base == 100_000.0


@given(st.floats(0.0, 0.5), st.floats(0.0, 0.5), st.integers(10, 92))
def test_behind_pace_fingerprints_ignore_values_and_time(a: float, b: float, n: int) -> None:
    first = behind_pace(evaluate_kr(CONVERSION, 0.18 + a * 0.01, day(n)))
    second = behind_pace(evaluate_kr(CONVERSION, 0.18 + b * 0.01, day(max(10, n - 5))))
    if first and second:
        assert first.fingerprint == second.fingerprint


def test_fingerprints_tell_conditions_apart() -> None:
    series = [(date(2026, 11, 2), 100_000.0), (date(2026, 11, 9), 50_000.0)]
    rules = [
        DROP,
        dataclasses.replace(DROP, id="other"),
        dataclasses.replace(DROP, source="salesforce"),
        dataclasses.replace(DROP, metric="mrr"),
    ]
    findings = [change_finding(rule, series, date(2026, 11, 9)) for rule in rules]
    assert len({f.fingerprint for f in findings if f is not None}) == 4
    assert fingerprint({"a": "1", "b": "2"}) == fingerprint({"b": "2", "a": "1"})
    assert fingerprint({"a": "1=b"}) != fingerprint({"a": "1", "b": ""})


def test_a_finding_is_frozen() -> None:
    finding = behind_pace(evaluate_kr(CONVERSION, 0.18, day(46)))
    assert isinstance(finding, Finding)
    with pytest.raises(dataclasses.FrozenInstanceError):
        finding.reason = "x"  # type: ignore[misc]
    with pytest.raises(KeyError):
        finding.number("nothing")
