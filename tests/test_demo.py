"""`syncd demo` as a newcomer runs it: one cycle on the sandboxes at a frozen Monday morning,
shown in the terminal (alerts and digest as Slack received them), charts on disk."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syncd.cli import run
from syncd.demo import demo_instant

PNG = b"\x89PNG\r\n\x1a\n"


def demo(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = run(["demo", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out


def test_the_demo_shows_the_cycle_the_alerts_the_digest_and_the_charts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCD_NOW", "2026-11-23T07:30")  # a Monday, Zurich time
    monkeypatch.setenv("COLUMNS", "120")
    code, out = demo(capsys, "--keep", str(tmp_path))
    assert code == 0
    assert "on Monday 2026-11-23 07:30 (Europe/Zurich)" in out
    # in this order: sync summary, KR status, alerts, the digest, the charts, next steps
    marks = ["Sync #1 (full): ok", "KR status as of 2026-11-23 07:30", "Alerts posted to Slack",
             "digest:2026-W48 as posted to Slack", "Charts (", "Point the same config at"]
    at = [out.index(m) for m in marks]
    assert at == sorted(at)
    alerts = out[at[2]:at[3]]
    drop = re.search(r"Pipeline ouvert : −(\d+),\d%", alerts)
    assert drop is not None and 25 <= int(drop.group(1)) <= 35, alerts
    assert "pipeline-drop" in alerts and "@Claire" in alerts  # the manager, mentioned by name
    digest = out[at[3]:at[4]]
    assert "Revue OKR — semaine 48" in digest and digest.count("📎 in the thread:") == 4
    assert "pipeline-drop" in digest  # the week's alerts: those just fired count
    charts = re.findall(r"^\s+(\S+\.png)$", out[at[4]:at[5]], flags=re.MULTILINE)
    assert len(charts) == 4
    for chart in charts:
        path = Path(chart)
        assert path.parent == tmp_path / "charts" and path.read_bytes().startswith(PNG)
    assert "SLACK_BOT_TOKEN" in out and "HUBSPOT_ACCESS_TOKEN" in out and "syncd" in out[at[5]:]
    assert (tmp_path / "syncd.yaml").is_file() and (tmp_path / "syncd.db").is_file()
    # the config is the user's format, tokens by reference only
    config = (tmp_path / "syncd.yaml").read_text(encoding="utf-8")
    assert "${SLACK_BOT_TOKEN}" in config and "xoxb-" not in config


def test_the_demo_scales_and_writes_a_temporary_directory_when_not_kept(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("SYNCD_NOW", "2026-06-01T07:30")  # summer time: 05:30 UTC
    code, out = demo(capsys, "--deals", "600")
    assert code == 0
    assert re.search(r"What was synced: 8 owners, [\d,]+ companies, [\d,]+ contacts, 600 deals",
                     out)
    assert re.search(r"Pipeline ouvert : −\d+,\d%", out)
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("syncd-demo-")]
    assert len(kept) == 1 and len(list((kept[0] / "charts").glob("*.png"))) >= 3


@pytest.mark.parametrize(("today", "expected"), [
    (datetime(2026, 11, 23, 17, 35, tzinfo=UTC), datetime(2026, 11, 23, 6, 30, tzinfo=UTC)),
    (datetime(2026, 11, 29, 23, 30, tzinfo=UTC), datetime(2026, 11, 30, 6, 30, tzinfo=UTC)),
    (datetime(2026, 7, 2, 12, 0, tzinfo=UTC), datetime(2026, 6, 29, 5, 30, tzinfo=UTC)),
])
def test_by_default_the_demo_runs_at_07_30_zurich_on_this_weeks_monday(
    today: datetime, expected: datetime
) -> None:
    assert demo_instant(None, clock=lambda: today) == expected
    assert demo_instant("2026-11-24T09:00") == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
