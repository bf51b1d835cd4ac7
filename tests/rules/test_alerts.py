"""Alert lifecycle tables: findings at injected instants -> every transition and every notice.

Each row of a case is (hours after T0, findings present, all the events of that evaluation);
an event missing or extra fails the row (see test_alerts_harness.py for the notation).
Alertmanager's dedup_stage tests are the model: a fixed clock, one decision per row.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from rules.alerts import (
    AlertMemory,
    AlertPolicy,
    AlertState,
    NoticeKind,
    NotifyLog,
    Silence,
    dedup_key,
)
from tests.rules.test_alerts_harness import (
    GROUP,
    Driver,
    at,
    finding,
    memories_by_name,
    parse,
    replay,
)

FIRE_A = ["A normal>firing", "notice:firing A"]


def silence(
    ident: str, who: str | None, start: float, end: float, *, group: str | None = None
) -> Silence:
    return Silence(
        ident,
        None if who is None else finding(who).fingerprint,
        group,
        at(start),
        at(end),
        reason="known: end-of-quarter clean-up",
        created_by="manager@example.ch",
    )


Rows = list[tuple[float, str, list[str]]]

CASES: dict[str, tuple[Driver, Rows]] = {
    "fires at the first evaluation, resolves at the first clear one": (
        Driver(),
        [
            (0, "A", FIRE_A),
            (1, "A", []),
            (2, "", ["A firing>resolved", "notice:resolved -A"]),
            (3, "", []),
            (9, "", []),
        ],
    ),
    "pending for 3 evaluations": (
        Driver(AlertPolicy(pending_evaluations=3)),
        [
            (0, "A", ["A normal>pending"]),
            (1, "A", []),
            (2, "A", ["A pending>firing", "notice:firing A"]),
            (3, "A", []),
        ],
    ),
    "pending for a duration": (
        Driver(AlertPolicy(pending_for=timedelta(hours=2))),
        [
            (0, "A", ["A normal>pending"]),
            (1, "A", []),
            (1.99, "A", []),
            (2, "A", ["A pending>firing", "notice:firing A"]),
        ],
    ),
    "pending needs both the evaluations and the duration": (
        Driver(AlertPolicy(pending_evaluations=2, pending_for=timedelta(hours=2))),
        [
            (0, "A", ["A normal>pending"]),
            (0.5, "A", []),  # 2 evaluations, 30 min
            (1.5, "A", []),
            (2, "A", ["A pending>firing", "notice:firing A"]),
        ],
    ),
    "a flap inside pending never notifies": (
        Driver(AlertPolicy(pending_evaluations=3)),
        [
            (0, "A", ["A normal>pending"]),
            (1, "", ["A pending>normal"]),
            (2, "A", ["A normal>pending"]),
            (3, "A", []),
            (4, "", ["A pending>normal"]),
            (5, "", []),
        ],
    ),
    "recovering, then back to firing: same episode, no notice": (
        Driver(AlertPolicy(recover_evaluations=2)),
        [
            (0, "A", FIRE_A),
            (1, "", ["A firing>recovering"]),
            (2, "A", ["A recovering>firing"]),
            (3, "", ["A firing>recovering"]),
            (4, "", ["A recovering>resolved", "notice:resolved -A"]),
        ],
    ),
    "recovering for a duration": (
        Driver(AlertPolicy(recover_for=timedelta(hours=2))),
        [
            (0, "A", FIRE_A),
            (1, "", ["A firing>recovering"]),
            (2, "", []),
            (3, "", ["A recovering>resolved", "notice:resolved -A"]),
        ],
    ),
    "after resolved, a new finding is a new episode with a new firing notice": (
        Driver(),
        [
            (0, "A", FIRE_A),
            (1, "", ["A firing>resolved", "notice:resolved -A"]),
            (2, "A", ["A resolved>firing", "notice:firing A"]),
        ],
    ),
    "a pending after resolved that clears goes back to resolved": (
        Driver(AlertPolicy(pending_evaluations=2)),
        [
            (0, "A", ["A normal>pending"]),
            (1, "A", ["A pending>firing", "notice:firing A"]),
            (2, "", ["A firing>resolved", "notice:resolved -A"]),
            (3, "A", ["A resolved>pending"]),
            (4, "", ["A pending>resolved"]),
        ],
    ),
    "without send_resolved: no resolved notice, the next firing is a new episode": (
        Driver(send_resolved=False),
        [
            (0, "A", FIRE_A),
            (1, "", ["A firing>resolved"]),
            (2, "", []),
            (3, "A", ["A resolved>firing", "notice:firing A"]),
        ],
    ),
    "repeat after repeat_every exactly, not before": (
        Driver(repeat_every=timedelta(hours=4)),
        [
            (0, "A", FIRE_A),
            (1, "A", []),
            (3 + 59 / 60, "A", []),
            (4, "A", ["notice:repeat A"]),
            (7, "A", []),
            (8, "A", ["notice:repeat A"]),
        ],
    ),
    "no repeat once resolved": (
        Driver(repeat_every=timedelta(hours=1)),
        [
            (0, "A", FIRE_A),
            (1, "", ["A firing>resolved", "notice:resolved -A"]),
            (2, "", []),
            (3, "", []),
        ],
    ),
    "a new fingerprint in a firing group: update; partial resolution: update": (
        Driver(),
        [
            (0, "A", FIRE_A),
            (1, "A B", ["B normal>firing", "notice:update A,B +B"]),
            (2, "A B", []),
            (3, "A", ["B firing>resolved", "notice:update A -B"]),
            (4, "", ["A firing>resolved", "notice:resolved -A"]),
        ],
    ),
    "an update restarts the repeat clock": (
        Driver(repeat_every=timedelta(hours=4)),
        [
            (0, "A", FIRE_A),
            (2, "A B", ["B normal>firing", "notice:update A,B +B"]),
            (4, "A B", []),
            (6, "A B", ["notice:repeat A,B"]),
        ],
    ),
    "without send_resolved a partial resolution is quiet, a return is new": (
        Driver(send_resolved=False),
        [
            (0, "A B", ["A normal>firing", "B normal>firing", "notice:firing A,B"]),
            (1, "A", ["B firing>resolved"]),
            (2, "A B", ["B resolved>firing", "notice:update A,B +B"]),
            (3, "", ["A firing>resolved", "B firing>resolved"]),
            (4, "B", ["B resolved>firing", "notice:firing B"]),
        ],
    ),
    "an escalation is an update; a de-escalation and its return are not": (
        Driver(repeat_every=timedelta(hours=4)),
        [
            (0, "A", FIRE_A),
            (1, "A!", ["notice:update A ^A"]),
            (2, "A", []),
            (3, "A!", []),
            (4, "A", []),
            (5, "A", ["notice:repeat A"]),  # announces warning
            (6, "A!", ["notice:update A ^A"]),
        ],
    ),
    "a new fingerprint and an escalation in one update": (
        Driver(),
        [
            (0, "A", FIRE_A),
            (1, "A! B", ["B normal>firing", "notice:update A,B +B ^A"]),
        ],
    ),
    "a silence suppresses, its expiry re-notifies": (
        Driver(silences=[silence("s1", "A", 0, 10)]),
        [
            (0, "A", ["A normal>firing"]),
            (4, "A", []),
            (9, "A", []),
            (10, "A", ["notice:firing A"]),
        ],
    ),
    "a silence on an announced alert drops it; on expiry it counts as new (update)": (
        Driver(silences=[silence("s1", "B", 1, 5)]),
        [
            (0, "A B", ["A normal>firing", "B normal>firing", "notice:firing A,B"]),
            (1, "A B", []),
            (4, "A B", ["notice:repeat A"]),
            (5, "A B", ["notice:update A,B +B"]),
        ],
    ),
    "silenced, then resolved during the silence: nothing is said": (
        Driver(silences=[silence("s1", "A", 1, 3)]),
        [
            (0, "A", FIRE_A),
            (1, "A", []),
            (2, "", ["A firing>resolved"]),
            (3, "", []),
            (5, "", []),
            (6, "A", ["A resolved>firing", "notice:firing A"]),
        ],
    ),
    "a silence of a whole group": (
        Driver(silences=[silence("s1", None, 1, 3, group=GROUP)]),
        [
            (0, "A", FIRE_A),
            (1, "A B", ["B normal>firing"]),
            (2, "A", ["B firing>resolved"]),
            (3, "A", ["notice:firing A"]),
        ],
    ),
    "a silence of another group changes nothing": (
        Driver(silences=[silence("s1", None, 0, 9, group="rule:other")]),
        [(0, "A", FIRE_A), (1, "", ["A firing>resolved", "notice:resolved -A"])],
    ),
    "a muted finding freezes the state and sends nothing": (
        Driver(repeat_every=timedelta(hours=2)),
        [
            (0, "A", FIRE_A),
            (1, "A~", []),
            (2, "A~", []),  # no repeat while inhibited
            (5, "A~", []),
            (6, "A", ["notice:repeat A"]),
            (7, "", ["A firing>resolved", "notice:resolved -A"]),
        ],
    ),
    "a muted new finding starts nothing": (
        Driver(),
        [(0, "A~", []), (1, "A~", []), (2, "A", FIRE_A)],
    ),
    "a muted finding keeps a pending count as it was": (
        Driver(AlertPolicy(pending_evaluations=2)),
        [
            (0, "A", ["A normal>pending"]),
            (1, "A~", []),
            (2, "A", ["A pending>firing", "notice:firing A"]),
        ],
    ),
    "an inhibited alert is neither new nor resolved for its group": (
        Driver(),
        [
            (0, "A B", ["A normal>firing", "B normal>firing", "notice:firing A,B"]),
            (1, "A~", ["B firing>resolved", "notice:update -B"]),
            (2, "A~ C", ["C normal>firing", "notice:update C +C"]),
            (3, "A", ["C firing>resolved", "notice:update A -C"]),
        ],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_lifecycle(case: str) -> None:
    driver, rows = CASES[case]
    assert replay(rows, driver) == []


def test_episodes_increment_per_alert_and_per_group() -> None:
    driver = Driver()
    for hours, spec in [(0, "A"), (1, ""), (2, "A"), (3, ""), (4, "A")]:
        driver.evaluate(at(hours), parse(spec))
    assert [(n.kind, n.episode) for n in driver.notices] == [
        (NoticeKind.FIRING, 1),
        (NoticeKind.RESOLVED, 1),
        (NoticeKind.FIRING, 2),
        (NoticeKind.RESOLVED, 2),
        (NoticeKind.FIRING, 3),
    ]
    assert memories_by_name(driver.memories)["A"].episode == 3
    assert [t.episode for t in driver.transitions] == [1, 1, 2, 2, 3]
    assert driver.logs[GROUP].episode == 3


def test_recovering_back_to_firing_keeps_the_episode() -> None:
    driver = Driver(AlertPolicy(recover_evaluations=3))
    for hours, spec in [(0, "A"), (1, ""), (2, ""), (3, "A"), (4, "")]:
        driver.evaluate(at(hours), parse(spec))
    memory = memories_by_name(driver.memories)["A"]
    assert (memory.state, memory.episode, memory.fired_at) == (AlertState.RECOVERING, 1, at(0))
    assert [t.episode for t in driver.transitions] == [1, 1, 1, 1]


LONG_RUN = [
    (0, "A"), (1, "A B"), (2, "A! B"), (5, "A! B"), (6, "A"), (9, "A"), (10, ""),
    (11, "A"), (15, "A"), (16, ""), (17, "B"), (18, ""),
]


def test_dedup_keys_are_deterministic_and_distinct() -> None:
    def keys() -> list[str]:
        driver = Driver(repeat_every=timedelta(hours=3))
        for hours, spec in LONG_RUN:
            driver.evaluate(at(hours), parse(spec))
        return [n.dedup_key for n in driver.notices]

    first = keys()
    assert first == keys()
    assert len(set(first)) == len(first)
    assert first == [
        f"alert:{GROUP}:1:firing:1",
        f"alert:{GROUP}:1:update:2",
        f"alert:{GROUP}:1:update:3",
        f"alert:{GROUP}:1:repeat:4",
        f"alert:{GROUP}:1:update:5",
        f"alert:{GROUP}:1:repeat:6",
        f"alert:{GROUP}:1:resolved:7",
        f"alert:{GROUP}:2:firing:8",
        f"alert:{GROUP}:2:repeat:9",
        f"alert:{GROUP}:2:resolved:10",
        f"alert:{GROUP}:3:firing:11",
        f"alert:{GROUP}:3:resolved:12",
    ]
    assert dedup_key(GROUP, 2, NoticeKind.REPEAT, 9) == first[8]


def test_two_deciders_from_the_same_stored_state_produce_the_same_notice() -> None:
    one, two = Driver(), Driver()
    for driver in (one, two):
        driver.evaluate(at(0), parse("A"))
        driver.evaluate(at(1), parse("A B"))
    assert one.notices == two.notices
    assert one.logs == two.logs


def round_trip(driver: Driver) -> Driver:
    """A restarted process: memories and logs through JSON text, as the store keeps them."""
    memories = json.loads(json.dumps({fp: m.to_dict() for fp, m in driver.memories.items()}))
    logs = json.loads(json.dumps({g: log.to_dict() for g, log in driver.logs.items()}))
    return Driver(
        driver.policy,
        driver.repeat_every,
        driver.send_resolved,
        driver.silences,
        {fp: AlertMemory.from_dict(data) for fp, data in memories.items()},
        {g: NotifyLog.from_dict(data) for g, data in logs.items()},
    )


def test_a_restart_from_the_stored_records_sends_nothing_twice() -> None:
    driver = Driver(AlertPolicy(recover_evaluations=2), repeat_every=timedelta(hours=4))
    driver.evaluate(at(0), parse("A B!"))
    driver.evaluate(at(1), parse("A"))
    restarted = round_trip(driver)
    assert restarted.memories == driver.memories
    assert restarted.logs == driver.logs
    assert replay(
        [
            (2, "A", ["B recovering>resolved", "notice:update A -B"]),
            (3, "A", []),
            (6, "A", ["notice:repeat A"]),
        ],
        restarted,
    ) == []


def test_the_first_evaluation_of_a_stored_firing_alert_is_quiet() -> None:
    prior = Driver()
    prior.evaluate(at(0), parse("A"))
    memory = memories_by_name(prior.memories)["A"]
    log = prior.logs[GROUP]
    driver = Driver(memories={memory.fingerprint: memory}, logs={GROUP: log})
    rows = [(1, "A", []), (2, "", ["A firing>resolved", "notice:resolved -A"])]
    assert replay(rows, driver) == []
