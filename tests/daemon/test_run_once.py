"""`syncd run --once`: one full cycle against the HubSpot and Slack sandboxes, as cron or CI
would run it; its exit status says whether everything succeeded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syncd.cli import run
from syncd.sandbox.dataset import generate
from syncd.sandbox.hubspot import HubSpotSandbox
from syncd.sandbox.slack import SlackSandbox

NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)  # Monday 07:30 in Zurich
EXAMPLE = Path(__file__).parents[2].parent / "shared" / "syncd.example.yaml"


@pytest.fixture(scope="module")
def hubspot() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(generate(now=NOW, seed=7), search_limit=None) as sandbox:
        yield sandbox


@pytest.fixture
def slack() -> Iterator[SlackSandbox]:
    with SlackSandbox(channels={"#ventes-okr": "C0VENTES01"},
                      users={"lea@acme.ch": "lea"}, now=lambda: NOW) as sandbox:
        yield sandbox


@pytest.fixture
def path(tmp_path: Path, hubspot: HubSpotSandbox, slack: SlackSandbox,
         monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", hubspot.token)
    monkeypatch.setenv("SLACK_BOT_TOKEN", slack.token)
    monkeypatch.setenv("SYNCD_NOW", "2026-11-23T07:30")
    monkeypatch.delenv("SYNCD_DATABASE_URL", raising=False)
    body = EXAMPLE.read_text(encoding="utf-8")
    for old, new in {
        "sqlite:///syncd.db": f"sqlite:///{tmp_path / 'syncd.db'}",
        "    # base_url: https://api.hubapi.com      # EU data centre or a local sandbox":
            f"    base_url: {hubspot.url}",
        "# base_url: https://slack.com/api/": f"base_url: {slack.url}",
        "currency: CHF ": "fx: {EUR: 0.94}\ncurrency: CHF ",
    }.items():
        assert old in body, old
        body = body.replace(old, new)
    target = tmp_path / "syncd.yaml"
    target.write_text(body, encoding="utf-8")
    return str(target)


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def top_level(slack: SlackSandbox) -> list[str]:
    return [m.text for m in slack.messages() if not m.is_reply and m.text]


def test_one_cycle_syncs_evaluates_alerts_posts_the_digest_and_exits_0(capsys, path, slack):
    code, out, err = cli(capsys, "-c", path, "run", "--once")
    assert code == 0, out + err
    assert "Sync full: ok" in out
    assert "Evaluated 4 KRs" in out
    assert "Alerts: 4 change(s), 3 message(s) queued." in out
    assert "Report digest:2026-W48: queued." in out  # Monday 07:30: the digest is due
    assert "Slack: " in out and "failed" not in out
    posted = top_level(slack)
    assert len(posted) == 4 and sum("Revue OKR" in t for t in posted) == 1
    # cron runs it again a quarter of an hour later: nothing new to say
    code, out, err = cli(capsys, "-c", path, "--now", "2026-11-23T07:45", "run", "--once")
    assert code == 0, out + err
    assert "Sync incremental: ok" in out and "Report" not in out
    assert top_level(slack) == posted


def test_a_cycle_whose_messages_cannot_be_delivered_exits_1(capsys, path, slack):
    slack.down("refuse")
    code, out, err = cli(capsys, "-c", path, "run", "--once")
    assert code == 1
    assert "Sync full: ok" in out and "waiting for Slack" in out
    slack.up()
    code, out, err = cli(capsys, "-c", path, "--now", "2026-11-23T07:50", "run", "--once")
    assert code == 0, out + err
    assert len(top_level(slack)) == 4  # everything queued during the outage, once


def test_a_revised_target_is_announced_once_on_its_day(capsys, path, slack):
    # the example revises the pipeline KR to 5x on Monday 9 November, for a competitor's promo
    code, out, err = cli(capsys, "-c", path, "--now", "2026-11-09T08:00", "run", "--once")
    assert code == 0, out + err
    assert "Announcement revision:pipeline:2026-11-09: queued." in out
    revised = [m for m in slack.messages() if m.text.startswith("Cible révisée")]
    assert len(revised) == 1
    blocks = str(revised[0].blocks)
    assert "6x → *5x*" in blocks.replace("\u202f", " ") or "6x → *5x*" in blocks
    assert "Promotion agressive d'un concurrent" in blocks
    code, out, err = cli(capsys, "-c", path, "--now", "2026-11-10T08:00", "run", "--once")
    assert code == 0, out + err
    assert "Announcement" not in out
    assert len([m for m in slack.messages() if m.text.startswith("Cible révisée")]) == 1
