"""`syncd status` and `syncd metrics` as a user runs them."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from rules.catalog import CATALOG
from syncd.cli import run
from syncd.store import tables as t


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture
def path(write_config, monkeypatch):
    monkeypatch.setenv("SYNCD_NOW", "2026-11-23T07:30")
    monkeypatch.setenv("COLUMNS", "120")
    return str(write_config())


def test_status_json_is_stable_for_scripts(capsys, path, raw):
    code, out, _ = cli(capsys, "-c", path, "status", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["version"] == 1 and doc["currency"] == "CHF"
    assert doc["timezone"] == "Europe/Zurich"
    (objective,) = doc["objectives"]
    krs = {kr["id"]: kr for kr in objective["key_results"]}
    assert list(krs) == ["conversion-pme", "panier-moyen", "churn", "pipeline"]
    arpu = krs["panier-moyen"]
    assert set(arpu) >= {"value", "baseline", "target", "original_target", "expected",
                         "progress", "pace", "status", "projection", "week_over_week",
                         "contributors", "owners", "problem", "revision", "score"}
    assert arpu["status"] in {"on_track", "at_risk", "off_track"}
    assert arpu["owners"] == ["julie@acme.ch", "paul@acme.ch", "sara@acme.ch"]
    assert arpu["projection"]["method"].startswith("least-squares")
    assert arpu["projection"]["low"] <= arpu["projection"]["value"] <= arpu["projection"]["high"]
    assert krs["pipeline"]["problem"] and krs["pipeline"]["status"] is None
    assert {f["kind"] for f in doc["findings"]} <= {"behind_pace", "projected_miss", "change",
                                                    "threshold", "stale_data"}


def test_status_table_shows_every_kr_with_its_status(capsys, path):
    code, out, _ = cli(capsys, "-c", path, "status")
    assert code == 0
    for kr in ("conversion-pme", "panier-moyen", "churn", "pipeline"):
        assert kr in out
    assert "off track" in out or "on track" in out or "at risk" in out
    assert "amounts in CHF" in out and "2026-11-23 07:30 CET" in out


def test_status_as_of_a_past_day_reads_history_and_writes_nothing(capsys, path, engine):
    code, out, _ = cli(capsys, "-c", path, "status", "--as-of", "2026-11-09", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["now"] == "2026-11-09T23:59:59.999999+01:00"  # the end of that day in Zurich
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.snapshot)).scalar() == 0


@pytest.mark.parametrize(("args", "needle"), [
    (["status", "--as-of", "last tuesday"], "--as-of"),
    (["status", "--format", "xml"], "xml"),
    (["metrics", "arpo"], "did you mean arpu"),
    (["metrics", "arpu", "--where", "bogus=1"], "cannot be filtered by bogus"),
    (["metrics", "arpu", "--where", "nonsense"], "KEY=VALUE"),
    (["metrics", "revenue", "--window", "2026-Q9"], "not a period"),
    (["metrics", "pipeline_coverage"], "needs params.quota"),
])
def test_metric_and_status_mistakes_are_one_line(capsys, path, args, needle):
    code, _out, err = cli(capsys, "-c", path, *args)
    assert code == 2
    (line,) = [line for line in err.splitlines() if line.startswith(("syncd:", "Error:"))]
    assert needle in line


def test_metrics_lists_the_catalog_and_computes_one_value(capsys, path, raw):
    code, out, _ = cli(capsys, "metrics", "--format", "json")
    assert code == 0
    assert [m["key"] for m in json.loads(out)] == list(CATALOG)
    assert len(CATALOG) >= 22

    code, out, _ = cli(capsys, "-c", path, "metrics", "pipeline_value", "--format", "json",
                       "--as-of", "2026-11-16T12:00")
    assert code == 0
    doc = json.loads(out)
    from datetime import UTC, datetime

    total, _, deals = raw.pipeline(datetime(2026, 11, 16, 11, 0, tzinfo=UTC))
    assert doc["value"] == pytest.approx(total)
    assert doc["detail"]["open_deals"] == deals

    code, out, _ = cli(capsys, "-c", path, "metrics", "lead_conversion_rate", "--where",
                       "company_segment=PME", "--window", "2026-Q3", "--param", "mode=period",
                       "--format", "json")
    assert code == 0
    assert json.loads(out)["window"] == {"start": "2026-07-01", "end": "2026-09-30"}
