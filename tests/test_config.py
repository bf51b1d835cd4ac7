"""syncd.config: the user's contract (syncd.yaml) and its error reporting."""

from __future__ import annotations

import traceback
import typing
import zoneinfo
from datetime import date, timedelta
from pathlib import Path
from textwrap import dedent

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr

from syncd.config import Config, load_config, starter_text, write_starter
from syncd.config_okrs import AlertsConfig, Period
from syncd.config_sections import (
    DatabaseConfig,
    HubSpotConfig,
    SalesforceConfig,
    SlackConfig,
)
from syncd.config_values import Quantity, format_duration, parse_duration
from syncd.errors import ConfigError, Problem, SyncdError

EXAMPLE = Path(__file__).parents[2] / "shared" / "syncd.example.yaml"
TOKEN = "pat-eu1-0123456789abcdef"
ENV = {"HUBSPOT_ACCESS_TOKEN": TOKEN, "SLACK_BOT_TOKEN": "xoxb-111-222-abc"}

MINIMAL = """\
crm:
  provider: hubspot
  hubspot:
    access_token: ${HUBSPOT_ACCESS_TOKEN}
"""

OKR = """\
okrs:
  - objective: Augmenter le MRR de 20 % ce trimestre
    period: 2026-Q4
    key_results:
      - id: conversion-pme
        name: Conversion
        metric: lead_conversion_rate
        baseline: 18%
        target: 25%
      - id: pipeline
        name: Pipeline
        metric: pipeline_coverage
        params: {quota: 60000}
        target: 6x
"""


def write(tmp_path: Path, text: str, name: str = "syncd.yaml") -> Path:
    path = tmp_path / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


def line_of(path: Path, needle: str, nth: int = 1) -> int:
    """The 1-based line of the ``nth`` line containing ``needle`` (found by text, not YAML)."""
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    return hits[nth - 1]


def problems_of(path: Path, environ: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=ENV if environ is None else environ)
    return info.value.problems


def only_problem(path: Path, environ: dict[str, str] | None = None) -> Problem:
    problems = problems_of(path, environ)
    assert len(problems) == 1, problems
    return problems[0]


# --------------------------------------------------------------------------- the example


@pytest.fixture
def example() -> Config:
    if not EXAMPLE.exists():
        pytest.skip(f"{EXAMPLE} is absent")
    return load_config(EXAMPLE, environ=ENV)


def test_example_loads_with_expected_values(example: Config) -> None:
    assert example.timezone == "Europe/Zurich"
    assert example.tz == zoneinfo.ZoneInfo("Europe/Zurich")
    assert (example.language, example.currency) == ("fr", "CHF")
    assert example.source_path == EXAMPLE.resolve()
    assert (
        example.database.url.get_secret_value() == f"sqlite:///{EXAMPLE.parent.resolve()}/syncd.db"
    )

    assert example.crm.provider == "hubspot"
    assert example.crm.hubspot is not None
    assert example.crm.hubspot.access_token.get_secret_value() == TOKEN
    assert example.crm.hubspot.base_url == "https://api.hubapi.com"
    assert example.crm.hubspot.timeout == timedelta(seconds=30)
    assert example.crm.sync.every == timedelta(minutes=15)
    assert example.crm.sync.lookback == timedelta(minutes=5)
    assert example.crm.sync.reconcile_every == timedelta(hours=6)
    assert example.crm.sync.max_retry_time == timedelta(minutes=10)

    assert example.slack is not None
    assert example.slack.token is not None
    assert example.slack.token.get_secret_value() == ENV["SLACK_BOT_TOKEN"]
    assert example.slack.channel == "#ventes-okr"
    assert example.slack.base_url == "https://slack.com/api/"

    digest = example.schedule.weekly_digest
    report = example.schedule.monthly_report
    assert digest is not None and report is not None
    assert digest.fields() == {"day_of_week": "mon", "hour": "7", "minute": "30"}
    assert report.fields() == {"day": "1st mon", "hour": "8", "minute": "0"}
    assert str(digest.trigger(example.tz).timezone) == "Europe/Zurich"

    okr = example.okrs[0]
    assert okr.period == Period(start=date(2026, 10, 1), end=date(2026, 12, 31))
    assert okr.period.label == "2026-Q4"
    assert okr.owner == "manager@acme.ch"
    conversion = okr.key_result("conversion-pme")
    assert conversion is not None
    assert conversion.target == Quantity(value=0.25, unit="percent")
    assert conversion.baseline == Quantity(value=0.18, unit="percent")
    assert conversion.where == {"company_segment": "PME"}
    assert conversion.owners == ["lea@acme.ch", "marc@acme.ch"]
    assert conversion.direction == "up"
    arpu = okr.key_result("panier-moyen")
    assert arpu is not None and arpu.target == Quantity(value=1450, unit="number")
    churn = okr.key_result("churn")
    assert churn is not None and churn.direction == "down"
    pipeline = okr.key_result("pipeline")
    assert pipeline is not None
    assert pipeline.target == Quantity(value=6.0, unit="multiple")
    assert str(pipeline.target) == "6x"
    assert pipeline.params == {"quota": 60000}
    (revision,) = okr.revisions
    assert revision.date == date(2026, 11, 9)
    assert revision.kr == "pipeline"
    assert revision.target == Quantity(value=5.0, unit="multiple")
    assert revision.reason.startswith("Promotion agressive d'un concurrent")

    alerts = example.alerts
    assert alerts.repeat_every == timedelta(hours=24)
    assert alerts.send_resolved is True
    assert (alerts.behind_pace.below, alerts.behind_pace.recover_above) == (0.9, 0.95)
    drop, stale = alerts.rules
    assert drop.id == "pipeline-drop"
    assert drop.change == Quantity(value=-0.25, unit="percent")
    assert drop.over == timedelta(days=7)
    assert drop.recover == Quantity(value=-0.15, unit="percent")
    assert drop.min_base == Quantity(value=10000, unit="number")
    assert stale.stale_after == timedelta(hours=2)


def test_field_map_has_hubspot_defaults_and_the_user_s_fields(example: Config) -> None:
    fields = example.field_map()
    assert dict(fields.deal) == {"mrr": "hs_mrr", "deal_type": "dealtype"}
    assert dict(fields.company) == {"segment": "segment", "churned_at": "churned_at"}
    assert dict(fields.contact) == {}


def test_field_map_for_salesforce_custom_and_removed_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        crm:
          provider: salesforce
          salesforce:
            instance_url: https://acme.my.salesforce.com
            session_id: ${SF_SESSION_ID}
          fields:
            company_churned_at: null
            contact_persona: Persona__c
        """,
    )
    config = load_config(path, environ={"SF_SESSION_ID": "00Dxx!session"})
    fields = config.field_map()
    assert dict(fields.deal) == {"mrr": "MRR__c", "deal_type": "Type"}
    assert dict(fields.company) == {"segment": "Segment__c"}
    assert dict(fields.contact) == {"persona": "Persona__c"}


# --------------------------------------------------------------------------- starter file


def test_starter_loads_with_only_the_hubspot_token(tmp_path: Path) -> None:
    path = tmp_path / "syncd.yaml"
    write_starter(path, force=False)
    config = load_config(path, environ={"HUBSPOT_ACCESS_TOKEN": TOKEN})
    assert config.slack is None
    assert config.timezone == "Europe/Zurich"
    assert [kr.id for kr in config.okrs[0].key_results] == [
        "conversion-pme",
        "panier-moyen",
        "churn",
        "pipeline",
    ]
    assert config.database.url.get_secret_value() == f"sqlite:///{tmp_path.resolve()}/syncd.db"
    assert "# slack:" in starter_text()


def test_starter_has_the_example_s_sections(tmp_path: Path) -> None:
    if not EXAMPLE.exists():
        pytest.skip(f"{EXAMPLE} is absent")
    import yaml

    example = yaml.safe_load(EXAMPLE.read_text())
    starter = yaml.safe_load(starter_text())
    assert set(example) - set(starter) == {"slack"}  # commented out: Slack is optional
    assert set(example["crm"]) <= set(starter["crm"])
    assert set(example["alerts"]) <= set(starter["alerts"])


def test_write_starter_refuses_to_overwrite(tmp_path: Path) -> None:
    path = write(tmp_path, "mine: true\n")
    with pytest.raises(SyncdError, match=r"already exists.*--force"):
        write_starter(path, force=False)
    assert path.read_text() == "mine: true\n"
    write_starter(path, force=True)
    assert path.read_text() == starter_text()
    assert [p.name for p in tmp_path.iterdir()] == ["syncd.yaml"]  # no temporary file left


def test_write_starter_into_a_missing_directory_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SyncdError, match="does not exist"):
        write_starter(tmp_path / "nope" / "syncd.yaml", force=False)


# --------------------------------------------------------------------------- every problem at once


def test_five_mistakes_in_five_sections_are_reported_together(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        timezone: Europe/Zurich
        language: de
        crm:
          provider: hubspot
          hubspot:
            access_token: ${HUBSPOT_ACCESS_TOKEN}
            timout: 30s
        schedule:
          weekly_digest: {day_of_week: 0, hour: 7}
        okrs:
          - objective: O
            period: 2026-Q4
            key_results:
              - id: a
                name: A
                metric: arpu
                target: "25 %"
        alerts:
          repeat_every: 24 hours
        """,
    )
    problems = problems_of(path)
    got = [(p.path, p.line) for p in problems]
    assert got == [
        ("language", line_of(path, "language: de")),
        ("crm.hubspot.timout", line_of(path, "timout")),
        ("schedule.weekly_digest.day_of_week", line_of(path, "weekly_digest")),
        ("okrs[0].key_results[0].target", line_of(path, '"25 %"')),
        ("alerts.repeat_every", line_of(path, "24 hours")),
    ]
    text = str(ConfigError(problems, source="syncd.yaml"))
    assert text.splitlines()[0] == "syncd.yaml: 5 problems"
    assert len(text.splitlines()) == 6


def test_a_problem_formats_as_one_line_with_file_line_path_and_fix(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + OKR.replace("target: 25%", 'target: "25 %"'))
    problem = only_problem(path)
    assert problem.format("syncd.yaml") == (
        f"syncd.yaml:{line_of(path, '25 %')} okrs[0].key_results[0].target: "
        '"25 %" is not a number, percentage (25%) or multiple (6x). Write it like 25%.'
    )


def test_cross_checks_report_even_when_other_sections_are_broken(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL.replace("provider: hubspot", "provider: hubspott")
        + OKR.replace("id: pipeline", "id: conversion-pme"),
    )
    paths = {p.path for p in problems_of(path)}
    assert paths == {"crm.provider", "okrs[0].key_results[1].id"}


# --------------------------------------------------------------------------- one mistake each


def test_unknown_top_level_key_suggests_the_closest(tmp_path: Path) -> None:
    path = write(tmp_path, "timzone: UTC\n" + MINIMAL)
    problem = only_problem(path)
    assert (problem.path, problem.line) == ("timzone", 1)
    assert 'unknown key "timzone"' in problem.message
    assert 'Did you mean "timezone"?' in problem.hint
    assert "Allowed here: timezone, language, currency, fx, database, crm" in problem.hint


def test_unknown_nested_key_suggests_the_closest(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + OKR.replace("target: 6x", "target: 6x\n        ownr: x"))
    problem = only_problem(path)
    assert problem.path == "okrs[0].key_results[1].ownr"
    assert problem.line == line_of(path, "ownr")
    assert 'Did you mean "owner' in problem.hint  # owners
    assert "baseline, target, owners" in problem.hint


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("15", "Write a duration like 15s or 15m"),
        ("1.5h", "1h30m"),
        ("15 minutes", "Write it like 15m."),
        ("0s", "longer than zero"),
        ("fortnight", "30s, 15m, 2h, 7d or 1w"),
    ],
)
def test_bad_duration_says_the_accepted_forms(tmp_path: Path, value: str, hint: str) -> None:
    path = write(tmp_path, MINIMAL + f"  sync:\n    every: {value}\n")
    problem = only_problem(path)
    assert (problem.path, problem.line) == ("crm.sync.every", 6)
    assert hint in problem.hint


def test_bad_timezone_suggests_the_closest(tmp_path: Path) -> None:
    path = write(tmp_path, "timezone: Europe/Zürich\n" + MINIMAL)
    problem = only_problem(path)
    assert (problem.path, problem.line) == ("timezone", 1)
    assert "not an IANA time zone" in problem.message
    assert '"Europe/Zurich"' in problem.hint


def test_bad_quantity_suggests_the_cleaned_value(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + OKR.replace("target: 6x", "target: 1,5x"))
    problem = only_problem(path)
    assert problem.path == "okrs[0].key_results[1].target"
    assert problem.hint == "Write it like 1.5x."


def test_duplicate_kr_id_names_the_first_use(tmp_path: Path) -> None:
    text = MINIMAL + OKR + OKR.replace("okrs:\n", "").replace("conversion-pme", "other")
    path = write(tmp_path, text)
    problem = only_problem(path)
    assert problem.path == "okrs[1].key_results[1].id"
    assert problem.line == line_of(path, "id: pipeline", nth=2)
    assert f"okrs[0].key_results[1].id, line {line_of(path, 'id: pipeline')}" in problem.message


def test_revision_without_reason(tmp_path: Path) -> None:
    revision = "    revisions:\n      - {date: 2026-11-09, kr: pipeline, target: 5x}\n"
    path = write(tmp_path, MINIMAL + OKR + revision)
    problem = only_problem(path)
    assert (problem.path, problem.line) == ("okrs[0].revisions[0].reason", line_of(path, "5x}"))
    assert problem.message == "required but missing"
    assert "why the target changed" in problem.hint


def test_revision_with_an_empty_reason(tmp_path: Path) -> None:
    revision = "    revisions:\n      - {date: 2026-11-09, kr: pipeline, target: 5x, reason: ' '}\n"
    problem = only_problem(write(tmp_path, MINIMAL + OKR + revision))
    assert problem.path == "okrs[0].revisions[0].reason"
    assert problem.message == "empty value"


def test_revision_naming_an_unknown_kr(tmp_path: Path) -> None:
    revision = "    revisions:\n      - {date: 2026-11-09, kr: pipline, target: 5x, reason: r}\n"
    path = write(tmp_path, MINIMAL + OKR + revision)
    problem = only_problem(path)
    assert problem.path == "okrs[0].revisions[0].kr"
    assert problem.message == '"pipline" is not a KR of this objective'
    assert problem.hint.startswith('Did you mean "pipeline"?')


def test_revision_outside_the_period_or_in_another_unit(tmp_path: Path) -> None:
    revision = "    revisions:\n      - {date: 2027-01-09, kr: pipeline, target: 5%, reason: r}\n"
    problems = problems_of(write(tmp_path, MINIMAL + OKR + revision))
    assert [p.path for p in problems] == [
        "okrs[0].revisions[0].date",
        "okrs[0].revisions[0].target",
    ]
    assert "outside the objective's period (2026-10-01 to 2026-12-31)" in problems[0].message


def test_numeric_day_of_week_is_refused_with_names(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "schedule:\n  weekly_digest: {day_of_week: 0-4, hour: 7}\n")
    problem = only_problem(path)
    assert (problem.path, problem.line) == ("schedule.weekly_digest.day_of_week", 6)
    assert "APScheduler reads 0 as Monday" in problem.message
    assert '"mon-fri" as APScheduler reads it, "sun-thu" as crontab does' in problem.hint


def test_invalid_cron_expression_reports_apscheduler_s_reason(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "schedule:\n  monthly_report: {day: 1st mon, hour: 24}\n")
    problem = only_problem(path)
    assert problem.path == "schedule.monthly_report.hour"
    assert "higher than the maximum value (23)" in problem.hint


def test_a_schedule_set_to_null_is_disabled(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, MINIMAL + "schedule:\n  weekly_digest: null\n"), environ=ENV
    )
    assert config.schedule.weekly_digest is None
    assert config.schedule.monthly_report is not None


def test_yaml_syntax_error_is_one_problem_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "okrs:\n  - objective: [unclosed\n    period: 2026-Q4\n")
    problem = only_problem(path)
    assert problem.path == ""
    assert problem.message.startswith("YAML syntax error")
    assert problem.line is not None and problem.line >= 6


def test_tabs_get_their_own_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "crm:\n\tprovider: hubspot\n")
    problem = only_problem(path)
    assert problem.line == 2
    assert "tabs" in problem.hint


def test_duplicate_key_is_a_problem(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "language: fr\nlanguage: en\n")
    problem = only_problem(path)
    assert (problem.path, problem.line) == ("language", 6)
    assert "appears twice (first on line 5)" in problem.message


def test_missing_file_says_to_run_syncd_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "syncd.yaml", environ={})
    (problem,) = info.value.problems
    assert "does not exist" in problem.message
    assert "syncd init" in problem.hint
    assert str(info.value).startswith(f"{tmp_path / 'syncd.yaml'}: ")


def test_missing_section_of_the_provider(tmp_path: Path) -> None:
    problem = only_problem(write(tmp_path, "crm:\n  provider: salesforce\n"))
    assert (problem.path, problem.line) == ("crm", 1)
    assert "the salesforce section is missing" in problem.message


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("{username: u, password: p}", "the password login also needs security_token"),
        ("{username: u, password: p, security_token: t, session_id: s}", "several login flows"),
        ("{consumer_key: k, consumer_secret: s}", "client credentials login also needs domain"),
        ("{instance_url: https://acme.my.salesforce.com}", "no login is configured"),
    ],
)
def test_salesforce_needs_exactly_one_complete_login(
    tmp_path: Path, section: str, message: str
) -> None:
    problem = only_problem(
        write(tmp_path, f"crm:\n  provider: salesforce\n  salesforce: {section}\n")
    )
    assert problem.path == "crm.salesforce"
    assert message in problem.message


# --------------------------------------------------------------------------- environment


def test_missing_env_var_is_named_with_the_file_alternative(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    problem = only_problem(path, environ={})
    assert (problem.path, problem.line) == ("crm.hubspot.access_token", 4)
    assert problem.message == "environment variable HUBSPOT_ACCESS_TOKEN is not set"
    assert problem.hint == ("Export it or set HUBSPOT_ACCESS_TOKEN_FILE to a file that holds it.")


def test_secret_from_a_file_is_stripped(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text(f"  {TOKEN}\n")
    config = load_config(
        write(tmp_path, MINIMAL), environ={"HUBSPOT_ACCESS_TOKEN_FILE": str(secret)}
    )
    assert config.crm.hubspot is not None
    assert config.crm.hubspot.access_token.get_secret_value() == TOKEN


def test_any_variable_may_come_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "tz").write_text("Europe/Paris\n")
    path = write(tmp_path, "timezone: ${SYNCD_TZ}\n" + MINIMAL)
    config = load_config(path, environ={**ENV, "SYNCD_TZ_FILE": str(tmp_path / "tz")})
    assert config.timezone == "Europe/Paris"


def test_unreadable_file_is_named_never_read_out(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-token"
    problem = only_problem(
        write(tmp_path, MINIMAL), environ={"HUBSPOT_ACCESS_TOKEN_FILE": str(missing)}
    )
    assert problem.path == "crm.hubspot.access_token"
    assert f"cannot read HUBSPOT_ACCESS_TOKEN_FILE ({missing})" in problem.message


def test_a_file_that_is_not_text_is_not_quoted(tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(b"\xff\xfe" + TOKEN.encode())
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, MINIMAL), environ={"HUBSPOT_ACCESS_TOKEN_FILE": str(blob)})
    assert str(blob) in str(info.value)
    assert TOKEN not in str(info.value)


def test_variable_and_its_file_together_are_ambiguous(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text(TOKEN)
    problem = only_problem(
        write(tmp_path, MINIMAL),
        environ={"HUBSPOT_ACCESS_TOKEN": TOKEN, "HUBSPOT_ACCESS_TOKEN_FILE": str(secret)},
    )
    assert "both HUBSPOT_ACCESS_TOKEN and HUBSPOT_ACCESS_TOKEN_FILE are set" in problem.message


def test_default_and_escape_in_references(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "timezone: ${SYNCD_TZ:-Europe/Zurich}\n"
        + MINIMAL
        + "okrs:\n  - objective: costs $${HOME}\n    period: 2026-11\n"
        + "    key_results: [{id: k, name: K, metric: mrr, target: 1}]\n",
    )
    config = load_config(path, environ=ENV)
    assert config.timezone == "Europe/Zurich"
    assert config.okrs[0].objective == "costs ${HOME}"
    assert config.okrs[0].period.label == "2026-11"


def test_syncd_database_url_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "database:\n  url: sqlite:///here.db\n" + MINIMAL)
    url = "postgres://syncd:s3cr3t-pw@db.internal:5432/syncd"
    config = load_config(path, environ={**ENV, "SYNCD_DATABASE_URL": url})
    assert config.database.url.get_secret_value() == (
        "postgresql+psycopg://syncd:s3cr3t-pw@db.internal:5432/syncd"
    )
    assert config.database.redacted_url() == "postgresql+psycopg://syncd:***@db.internal:5432/syncd"
    assert "s3cr3t-pw" not in repr(config)


def test_a_bad_override_names_the_variable_not_the_url(tmp_path: Path) -> None:
    url = "mysql://root:s3cr3t-pw@db/syncd"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, MINIMAL), environ={**ENV, "SYNCD_DATABASE_URL": url})
    (problem,) = info.value.problems
    assert (problem.path, problem.line) == ("database.url", None)
    assert problem.message == (
        'the database scheme "mysql" is not supported (set by SYNCD_DATABASE_URL)'
    )
    assert "postgresql+psycopg://user@host/db" in problem.hint
    assert "s3cr3t-pw" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///syncd.db", "sqlite:///{dir}/syncd.db"),
        ("sqlite:///data/syncd.db?timeout=5", "sqlite:///{dir}/data/syncd.db?timeout=5"),
        ("sqlite:////var/lib/syncd/syncd.db", "sqlite:////var/lib/syncd/syncd.db"),
        ("sqlite://", "sqlite://"),
        ("postgresql+psycopg://syncd@db/syncd", "postgresql+psycopg://syncd@db/syncd"),
        ("postgresql://syncd@db/syncd", "postgresql+psycopg://syncd@db/syncd"),
    ],
)
def test_database_url_is_normalised(tmp_path: Path, url: str, expected: str) -> None:
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    path = write(conf_dir, f"database:\n  url: {url}\n" + MINIMAL)
    config = load_config(path, environ=ENV)
    assert config.database.url.get_secret_value() == expected.format(dir=conf_dir.resolve())


def test_default_database_is_next_to_the_config_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), environ=ENV)
    assert config.database.url.get_secret_value() == f"sqlite:///{tmp_path.resolve()}/syncd.db"
    assert config.database.is_sqlite


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("mysql://u@h/db", "sqlite:///path/to/syncd.db or postgresql+psycopg://user@host/db"),
        ("postgresql+psycopg2://u@h/db", "psycopg 3"),
        ("sqlite://relative.db", "three slashes"),
        ("syncd.db", "sqlite:///path/to/syncd.db"),
    ],
)
def test_unsupported_database_urls(tmp_path: Path, url: str, hint: str) -> None:
    problem = only_problem(write(tmp_path, f"database:\n  url: {url}\n" + MINIMAL))
    assert (problem.path, problem.line) == ("database.url", 2)
    assert hint in problem.format()


# --------------------------------------------------------------------------- secrets


SECRET = "hunter2-SUPER-secret"


@pytest.mark.parametrize(
    ("text", "environ"),
    [
        # malformed secrets from the environment
        (MINIMAL, {"HUBSPOT_ACCESS_TOKEN": f"{SECRET} oops"}),
        (MINIMAL + "slack: {webhook_url: '${HOOK}'}\n", {**ENV, "HOOK": SECRET}),
        (MINIMAL + "slack: {token: '${TOK}'}\n", {**ENV, "TOK": f"{SECRET}\nx"}),
        # malformed secrets written in the file
        (
            "crm:\n  provider: salesforce\n  salesforce:\n"
            f"    username: u\n    password: '{SECRET} x'\n    security_token: 1\n",
            {},
        ),
        (MINIMAL + f"slack: {{webhook_url: '{SECRET}'}}\n", ENV),
        (MINIMAL + f"database: {{url: 'mysql://root:{SECRET}@db/x'}}\n", ENV),
        (MINIMAL + f"database: {{url: 'postgresql://root:{SECRET}@db:port/x'}}\n", ENV),
        # a secret under a misspelt key, or in a field that is not a secret
        (MINIMAL.replace("access_token: ${HUBSPOT_ACCESS_TOKEN}", f"acess_token: {SECRET}"), {}),
        (
            MINIMAL + "slack: {token: x, channel: '${HUBSPOT_ACCESS_TOKEN}'}\n",
            {"HUBSPOT_ACCESS_TOKEN": SECRET},
        ),
        (
            MINIMAL + "alerts: {repeat_every: '${HUBSPOT_ACCESS_TOKEN}'}\n",
            {"HUBSPOT_ACCESS_TOKEN": SECRET},
        ),
        ("timezone: ${HUBSPOT_ACCESS_TOKEN}\n" + MINIMAL, {"HUBSPOT_ACCESS_TOKEN": SECRET}),
    ],
)
def test_secrets_never_appear_in_errors(tmp_path: Path, text: str, environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ=environ)
    err = info.value
    shown = "\n".join(
        [str(err), repr(err), *map(repr, err.problems), *traceback.format_exception(err)]
    )
    assert SECRET not in shown
    assert "hunter2" not in shown
    assert err.__cause__ is None


def test_secrets_never_appear_in_the_config_repr(tmp_path: Path) -> None:
    text = MINIMAL + "slack: {webhook_url: '${HOOK}'}\ndatabase: {url: '${DB}'}\n"
    environ = {
        "HUBSPOT_ACCESS_TOKEN": SECRET,
        "HOOK": f"https://hooks.slack.com/services/{SECRET}",
        "DB": f"postgresql://syncd:{SECRET}@db/syncd",
    }
    config = load_config(write(tmp_path, text), environ=environ)
    assert SECRET not in repr(config)
    assert SECRET not in str(config)
    assert SECRET not in config.database.redacted_url()
    assert SECRET not in repr(config.model_dump())


def test_secret_values_lists_every_credential_for_log_redaction(tmp_path: Path) -> None:
    text = MINIMAL + "slack: {token: '${TOK}', channel: '#x'}\ndatabase: {url: '${DB}'}\n"
    environ = {"HUBSPOT_ACCESS_TOKEN": TOKEN, "TOK": "xoxb-1", "DB": "postgres://u:p%40ss@h/d"}
    config = load_config(write(tmp_path, text), environ=environ)
    assert set(config.secret_values()) == {
        TOKEN,
        "xoxb-1",
        "postgresql+psycopg://u:p%40ss@h/d",
        "p@ss",
    }
    assert config.redacted_url() == "postgresql+psycopg://u:***@h/d"


def test_every_credential_field_is_a_secret() -> None:
    def unwrap(tp: object) -> object:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return unwrap(args[0]) if args else tp

    credentials: list[tuple[type[BaseModel], str]] = [
        (HubSpotConfig, "access_token"),
        (SalesforceConfig, "password"),
        (SalesforceConfig, "security_token"),
        (SalesforceConfig, "consumer_secret"),
        (SalesforceConfig, "session_id"),
        (SlackConfig, "token"),
        (SlackConfig, "webhook_url"),
        (DatabaseConfig, "url"),
    ]
    for model, name in credentials:
        assert unwrap(model.model_fields[name].annotation) is SecretStr, (model, name)


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("7d", timedelta(days=7)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(minutes=90)),
        ("1w2d3h4m5s", timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
        ("1h 30m", timedelta(minutes=90)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "m", "15M", "30m1h", "1.5h", "-5m", "5 min"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**8))
def test_format_duration_reads_back(seconds: int) -> None:
    delta = timedelta(seconds=seconds)
    assert parse_duration(format_duration(delta)) == delta


@pytest.mark.parametrize(
    ("raw", "value", "unit", "text"),
    [
        ("18%", 0.18, "percent", "18%"),
        ("-25%", -0.25, "percent", "-25%"),
        ("12.5%", 0.125, "percent", "12.5%"),
        ("6x", 6.0, "multiple", "6x"),
        ("1.5x", 1.5, "multiple", "1.5x"),
        (1450, 1450.0, "number", "1450"),
        ("1450", 1450.0, "number", "1450"),
        (0.5, 0.5, "number", "0.5"),
    ],
)
def test_quantities(raw: object, value: float, unit: str, text: str) -> None:
    quantity = Quantity.model_validate(raw)
    assert (quantity.value, quantity.unit, str(quantity)) == (value, unit, text)


def test_periods(tmp_path: Path) -> None:
    assert Period.model_validate("2026-Q1") == Period(start=date(2026, 1, 1), end=date(2026, 3, 31))
    assert Period.model_validate("2028-02").end == date(2028, 2, 29)
    assert Period.model_validate(2026).label == "2026"
    custom = Period.model_validate({"start": date(2026, 10, 6), "end": date(2026, 12, 18)})
    assert custom.label == "2026-10-06..2026-12-18"
    assert date(2026, 11, 1) in custom


def test_behind_pace_needs_percentages_and_hysteresis() -> None:
    with pytest.raises(ValueError, match="recover_above is lower"):
        AlertsConfig.model_validate({"behind_pace": {"below": "95%", "recover_above": "90%"}})
    with pytest.raises(ValueError, match="not a percentage"):
        AlertsConfig.model_validate({"behind_pace": {"below": 0.9}})


def test_models_are_frozen(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), environ=ENV)
    with pytest.raises(ValueError, match="frozen"):
        config.timezone = "UTC"


# ----------------------------------------------------------------- goals vs the metric catalog

@pytest.mark.parametrize(("old", "new", "where", "needle", "hint"), [
    ("metric: lead_conversion_rate", "metric: lead_convertion_rate",
     "okrs[0].key_results[0].metric", '"lead_convertion_rate" is not a metric',
     "Did you mean lead_conversion_rate"),
    ("baseline: 18%\n        target: 25%", "baseline: 18%\n        target: 25%\n"
     "      - id: arpu\n        name: ARPU\n        metric: arpu\n        target: 20%",
     "okrs[0].key_results[1].target", "the target is a percentage but arpu is an amount",
     "Write an amount like 1450"),
    ("        target: 6x\n", "        target: 6x\n        period: 2027-01\n",
     "okrs[0].key_results[1].period", "outside the objective's (2026-10-01 to 2026-12-31)",
     "part of the objective's period"),
    ("metric: pipeline_coverage", "metric: pipeline_coverage\n        where: {company_sector: x}",
     "okrs[0].key_results[1].where.company_sector", "company_sector is not a mapped field",
     "crm.fields"),
    ("        params: {quota: 60000}\n", "", "okrs[0].key_results[1].params",
     "needs params.quota", "Add params: {quota: ...}"),
])
def test_goals_that_do_not_fit_the_catalog_get_one_clear_error_each(
        tmp_path, old, new, where, needle, hint):
    text = (MINIMAL + OKR).replace(old, new)
    problem = only_problem(write(tmp_path, text))
    assert problem.path == where
    assert needle in problem.message
    assert hint in problem.hint
    assert problem.line is not None


def test_a_revision_without_reason_is_one_clear_error(tmp_path):
    text = MINIMAL + OKR + "    revisions:\n      - {date: 2026-11-09, kr: pipeline, target: 5x}\n"
    problem = only_problem(write(tmp_path, text))
    assert problem.path == "okrs[0].revisions[0].reason"
    assert "why the target changed" in problem.hint


def test_trajectories_and_windows_parse_and_bad_ones_say_how(tmp_path):
    good = (MINIMAL + OKR).replace(
        "        target: 25%\n",
        "        target: 25%\n        window: 90d\n"
        "        trajectory: {milestones: {2026-10-31: 20%, 2026-11-30: 22%}}\n")
    kr = load_config(write(tmp_path, good), environ=ENV).okrs[0].key_results[0]
    assert kr.window == "90d"
    assert kr.trajectory is not None and kr.trajectory.milestones is not None
    assert [q.value for q in kr.trajectory.milestones.values()] == [0.20, 0.22]
    bad = good.replace("window: 90d", "window: fortnight").replace(
        "trajectory: {milestones: {2026-10-31: 20%, 2026-11-30: 22%}}", "trajectory: zigzag")
    problems = problems_of(write(tmp_path, bad))
    assert {p.path for p in problems} == {"okrs[0].key_results[0].window",
                                          "okrs[0].key_results[0].trajectory"}
    assert all(p.hint.startswith("Write ") for p in problems)
