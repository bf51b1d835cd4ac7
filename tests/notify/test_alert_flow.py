"""The alert flow end to end on the sandbox team with the example config: evaluate, step the
alerts, queue, deliver to the Slack sandbox through slack_sdk. Each step checks the exact
messages Slack holds, so any unexpected extra message fails the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from syncd.config import Config, load_config
from syncd.evaluate import evaluate
from syncd.notify.alerting import notify
from syncd.notify.sender import Sender
from syncd.notify.slack import SlackClient
from syncd.sandbox.slack import SlackSandbox
from syncd.store import Store
from syncd.store import tables as t
from tests.evaluate.conftest import (  # noqa: F401  (fixtures)
    NOW,
    db,
    raw,
    template,
    write_config,
)

CHANNEL_ID = "C0VENTES01"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def slack(clock: Clock) -> Iterator[SlackSandbox]:
    users = {"lea@acme.ch": "lea", "manager@acme.ch": "manager", "julie@acme.ch": "julie"}
    with SlackSandbox(channels={"#ventes-okr": CHANNEL_ID}, users=users, now=clock) as sandbox:
        yield sandbox


@pytest.fixture
def store(db: Path) -> Iterator[Store]:  # noqa: F811
    with Store.open(f"sqlite:///{db}") as store:
        yield store


@pytest.fixture
def config(write_config: Callable[..., Path], slack: SlackSandbox,  # noqa: F811
           monkeypatch: pytest.MonkeyPatch) -> Config:
    path = write_config(**{"# base_url: https://slack.com/api/": f"base_url: {slack.url}"})
    monkeypatch.setenv("SLACK_BOT_TOKEN", slack.token)
    return load_config(path)


def cycle(store: Store, config: Config, slack: SlackSandbox, at: datetime) -> None:
    """What the daemon does after each sync: evaluate, notify, deliver."""
    assert config.slack is not None and config.slack.token is not None
    client = SlackClient(config.slack.token.get_secret_value(), config.slack.base_url,
                         sleep=lambda s: None, timeout=5)
    ev = evaluate(store.engine, config, at)
    notify(store.engine, config, ev, at, client=client)
    report = Sender(store.engine, channel=config.slack.channel, clock=lambda: at,
                    transport=client).deliver()
    assert report.ok, report.errors


def synced(store: Store, at: datetime) -> None:
    """A successful sync at ``at`` (as the syncer records it)."""
    with store.engine.begin() as conn:
        conn.execute(t.sync_state.update().values(last_success_at=at))


def top_level(slack: SlackSandbox) -> list[str]:
    return [m.text for m in slack.messages() if not m.is_reply]


def replies(slack: SlackSandbox) -> list[str]:
    return [m.text for m in slack.messages() if m.is_reply]


def test_each_condition_is_announced_once_repeated_after_a_day_and_resolved_visibly(
    store, config, slack, clock
):
    cycle(store, config, slack, NOW)
    first = top_level(slack)
    # the sandbox team at Monday 07:30: conversion and ARPU behind pace (ARPU also projected
    # to miss), churn projected to miss: three KRs, three messages, in French
    assert len(first) == 3 and replies(slack) == []
    assert any("conversion-pme" in m or "Conversion" in m for m in first)
    blocks_text = "".join(str(m.blocks) for m in slack.messages())
    lea = SlackClient(slack.token, slack.url).lookup_user("lea@acme.ch")
    assert f"<@{lea}>" in blocks_text  # a KR owner Slack knows is mentioned
    assert "marc@acme.ch" in blocks_text  # one it does not know is named, never dropped
    assert "Par responsable" in blocks_text  # who moved the KR over the week

    for minutes in (15, 30, 45, 60):  # later syncs, same conditions: nothing new
        later = NOW + timedelta(minutes=minutes)
        synced(store, later)
        cycle(store, config, slack, later)
    assert len(slack.messages()) == 3

    # no sync for a day: the stale-data alert fires and mutes the KPI alerts (no repeat of
    # alerts resting on old data)
    stale_at = NOW + timedelta(hours=23)
    cycle(store, config, slack, stale_at)
    assert len(top_level(slack)) == 4 and replies(slack) == []
    assert "stale" in top_level(slack)[-1].lower() or "anciennes" in top_level(slack)[-1]

    # a sync succeeds again: the stale alert resolves in its thread and its first message
    # says so; the KPI alerts, firing for more than repeat_every (24 h), repeat in theirs
    back = NOW + timedelta(hours=25)
    synced(store, back)
    cycle(store, config, slack, back)
    assert len(top_level(slack)) == 4
    stale_parent = slack.messages()[3]
    assert stale_parent.edits, "the first message of the resolved alert was not updated"
    assert stale_parent.text.startswith("✅")
    assert len(replies(slack)) == 4  # one resolved notice + three repeats
    threads = {m.thread_ts for m in slack.messages() if m.is_reply}
    assert threads == {m.ts for m in slack.messages() if not m.is_reply}

    cycle(store, config, slack, back + timedelta(minutes=15))
    assert len(slack.messages()) == 8  # nothing more


def test_the_audit_trail_and_states_survive_a_restart_without_resending(
    store, config, slack, clock
):
    cycle(store, config, slack, NOW)
    with store.engine.connect() as conn:
        trail = conn.execute(sa.select(t.alert_transition.c.to_state,
                                       t.alert_transition.c.reason)).all()
        states = dict(conn.execute(sa.select(t.alert.c.fingerprint, t.alert.c.state)).all())
    assert len(trail) == 4 and {s for s, _ in trail} == {"firing"}
    assert all(reason for _, reason in trail)
    assert set(states.values()) == {"firing"}
    store.close()
    with Store.open(store.url) as again:  # a new process: everything comes from the store
        cycle(again, config, slack, NOW + timedelta(minutes=15))
    assert len(slack.messages()) == 3


def test_a_snoozed_alert_is_posted_when_its_snooze_ends_while_it_still_fires(
    store, config, slack, clock
):
    with store.engine.begin() as conn:  # snoozed before it ever fired: syncd alerts snooze
        conn.execute(t.silence.insert().values(
            id="s1", fingerprint=None, grp="kr:panier-moyen", starts_at=NOW,
            ends_at=NOW + timedelta(hours=2), reason="plan en cours", created_by="test",
            created_at=NOW))
    cycle(store, config, slack, NOW)
    assert len(top_level(slack)) == 2  # conversion and churn; ARPU is snoozed
    assert not any("Panier moyen" in str(m.blocks) for m in slack.messages())
    later = NOW + timedelta(hours=1)
    synced(store, later)
    cycle(store, config, slack, later)
    assert len(slack.messages()) == 2  # still snoozed
    expired = NOW + timedelta(hours=2, minutes=15)
    synced(store, expired)
    cycle(store, config, slack, expired)
    assert len(top_level(slack)) == 3 and replies(slack) == []
    assert "Panier moyen" in str(slack.messages()[-1].blocks)


def test_alerts_firing_before_slack_was_set_up_are_announced_once_it_is(
    store, config, slack, clock
):
    without = config.model_copy(update={"slack": None})
    ev = evaluate(store.engine, without, NOW)
    outcome = notify(store.engine, without, ev, NOW)
    assert len(outcome.transitions) == 4 and outcome.queued == []  # tracked, not announced
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.alert_group)).scalar() == 0
    later = NOW + timedelta(hours=1)
    synced(store, later)
    cycle(store, config, slack, later)  # Slack is configured now
    assert len(top_level(slack)) == 3
