"""`syncd digest`, `syncd alerts ...` and `syncd notify` as a user runs them, against the
synced sandbox team and the Slack sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from syncd.cli import run
from syncd.sandbox.slack import SlackSandbox
from tests.evaluate.conftest import (  # noqa: F401  (fixtures)
    NOW,
    db,
    raw,
    template,
    write_config,
)


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture
def slack() -> Iterator[SlackSandbox]:
    with SlackSandbox(channels={"#ventes-okr": "C0VENTES01"},
                      users={"lea@acme.ch": "lea"}, now=lambda: NOW) as sandbox:
        yield sandbox


@pytest.fixture
def path(write_config, slack, monkeypatch) -> str:  # noqa: F811
    monkeypatch.setenv("SYNCD_NOW", "2026-11-23T07:30")
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("SLACK_BOT_TOKEN", slack.token)
    return str(write_config(**{"# base_url: https://slack.com/api/": f"base_url: {slack.url}"}))


def test_digest_preview_shows_the_message_and_writes_its_block_kit(capsys, path, slack,
                                                                   tmp_path):
    target = tmp_path / "digest.json"
    code, out, err = cli(capsys, "-c", path, "digest", "--json", str(target))
    assert code == 0, err
    assert "digest:2026-W48" in out and "Revue OKR" in out and "semaine 48" in out
    for name in ("Conversion des leads", "Panier moyen", "Churn mensuel"):
        assert name in out
    assert "1’" in out and "CHF" in out  # Swiss grouping from babel
    # the pipeline KR has nothing left to cover: said in French, not the evaluator's English
    assert "est déjà atteint" in out and "is undefined" not in out
    messages = json.loads(target.read_text(encoding="utf-8"))
    assert messages and all(m["text"] and m["blocks"] for m in messages)
    assert len(messages[0]["blocks"]) <= 50
    assert slack.messages() == []  # a preview posts nothing


def test_digest_post_sends_the_week_once_unless_forced(capsys, path, slack):
    code, out, err = cli(capsys, "-c", path, "digest", "--post")
    assert code == 0, err
    assert "Queued digest:2026-W48" in out and "sent" in out
    posted = [m for m in slack.messages() if not m.is_reply and m.text]
    assert len(posted) >= 1 and "Revue OKR" in posted[0].text
    charts = len(slack.files())
    assert charts == 3  # one per KR with a value, in the digest's thread
    code, out, err = cli(capsys, "-c", path, "digest", "--post")
    assert code == 0 and "already sent" in out, out + err
    assert [m for m in slack.messages() if not m.is_reply and m.text] == posted
    code, out, _ = cli(capsys, "-c", path, "digest", "--post", "--force")
    assert code == 0 and len([m for m in slack.messages() if not m.is_reply and m.text]) == (
        2 * len(posted))


def test_alerts_after_a_sync_cycle_list_snooze_history(capsys, path, slack):
    from syncd.config import load_config
    from syncd.evaluate import evaluate
    from syncd.notify.alerting import notify
    from syncd.store import Store

    config = load_config(__import__("pathlib").Path(path))
    with Store.open(config.database.url.get_secret_value()) as store:
        notify(store.engine, config, evaluate(store.engine, config, NOW), NOW)
    code, out, _ = cli(capsys, "-c", path, "alerts", "list")
    assert code == 0 and out.count("firing") >= 4 and "Outbox: 3 pending" in out
    code, out, _ = cli(capsys, "-c", path, "alerts", "snooze", "panier-moyen", "--for", "2d",
                       "--reason", "plan de rattrapage en cours")
    assert code == 0 and "Snoozed kr:panier-moyen until 2026-11-25 07:30" in out
    code, out, _ = cli(capsys, "-c", path, "alerts", "list", "--format", "json")
    doc = json.loads(out)
    snoozed = [a for a in doc["alerts"] if a["snoozed_until"]]
    assert {a["group"] for a in snoozed} == {"kr:panier-moyen"} and len(snoozed) == 2
    code, out, _ = cli(capsys, "-c", path, "alerts", "history", "churn")
    assert code == 0 and "→ firing" in out and "kr:churn" in out
    code, out, _ = cli(capsys, "-c", path, "alerts", "unsnooze", "panier-moyen")
    assert code == 0 and "Ended 1 snooze" in out
    code, out, _ = cli(capsys, "-c", path, "notify")
    assert code == 0 and "3 message(s) sent" in out
    assert len(slack.messages()) == 3


@pytest.mark.parametrize(("args", "needle"), [
    (["digest", "--week", "lundi"], "is not a date"),
    (["digest", "--month", "novembre"], "is not a month"),
    (["digest", "--week", "2026-11-16", "--month", "2026-10"], "choose one of"),
    (["digest", "--force"], "--force only goes with --post"),
    (["alerts", "snooze", "nothing-like-this", "--for", "2h"], "no alert has"),
    (["alerts", "snooze", "churn", "--for", "2 parsecs"], "is not a duration"),
    (["alerts", "snooze", "churn"], "give --until DATE or --for"),
    (["alerts", "retry"], "give an outbox id"),
    (["digest", "--json", "/no/such/dir/digest.json"], "cannot write /no/such/dir/digest.json"),
])
def test_bad_arguments_get_one_line_and_exit_2(capsys, path, args, needle):
    code, out, err = cli(capsys, "-c", path, *args)
    assert code == 2, out + err
    assert needle in err
    assert len([line for line in err.splitlines() if line.strip()]) <= 3


def test_with_the_portal_id_the_digest_links_deals_to_hubspot(capsys, write_config, slack,  # noqa: F811
                                                              monkeypatch, tmp_path):
    monkeypatch.setenv("SYNCD_NOW", "2026-11-23T07:30")
    path = write_config(**{
        "    access_token: ${HUBSPOT_ACCESS_TOKEN}   # private-app token":
            "    access_token: ${HUBSPOT_ACCESS_TOKEN}\n    portal_id: 4242\n"
            "    app_url: https://app-eu1.hubspot.com",
        "# base_url: https://slack.com/api/": f"base_url: {slack.url}"})
    target = tmp_path / "digest.json"
    code, _, err = cli(capsys, "-c", str(path), "digest", "--json", str(target))
    assert code == 0, err
    text = target.read_text(encoding="utf-8")
    assert "<https://app-eu1.hubspot.com/contacts/4242/record/0-3/" in text


def test_the_monthly_report_and_the_quarter_close_preview(capsys, path):
    code, out, err = cli(capsys, "-c", path, "digest", "--month", "2026-10")
    assert code == 0, err
    assert "report:2026-10" in out and "Rapport mensuel" in out and "octobre" in out
    code, out, err = cli(capsys, "-c", path, "digest", "--quarter")
    assert code == 0, err
    assert "quarter:2026-Q4" in out and "Bilan OKR" in out and "Provisoire" in out
    code, out, err = cli(capsys, "-c", path, "--now", "2027-01-04T08:00", "digest", "--quarter")
    assert code == 0, err
    assert "Provisoire" not in out and "Score de l'objectif" in out  # the quarter's close
