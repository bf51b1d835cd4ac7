"""Alert records one by one: step's details, evaluate_all, silences, decide's edges, JSON."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rules.alerts import (
    AlertMemory,
    AlertPolicy,
    AlertState,
    Decision,
    FindingSnapshot,
    NoticeKind,
    NotifyLog,
    Silence,
    active,
    decide,
    default_group,
    evaluate_all,
    silenced_by,
    step,
)
from rules.drift import stale_data
from rules.errors import InvalidRule, RulesError
from rules.findings import FindingKind, Severity, mute_stale
from tests.rules.test_alerts_harness import GROUP, T0, at, finding

ZURICH = ZoneInfo("Europe/Zurich")
DAY = timedelta(days=1)

# --------------------------------------------------------------------------- step


def test_nothing_and_no_memory_is_nothing() -> None:
    assert step(None, None, T0, AlertPolicy()) == (None, None)


def test_immediate_fire_is_one_transition_with_a_reason() -> None:
    memory, transition = step(None, finding("A"), T0, AlertPolicy())
    assert memory is not None and transition is not None
    assert (transition.from_state, transition.to_state) == (AlertState.NORMAL, AlertState.FIRING)
    assert transition.reason == "pipeline_value -28% over 7d (A); fired after 1 evaluation"
    assert (transition.group, transition.episode, transition.at) == (GROUP, 1, T0)
    assert (memory.state, memory.since, memory.fired_at, memory.first_seen) == (
        AlertState.FIRING, T0, T0, T0,
    )
    assert memory.last_finding == FindingSnapshot.of(finding("A"))


def test_reasons_of_pending_and_recovery() -> None:
    policy = AlertPolicy(
        pending_evaluations=3, pending_for=timedelta(hours=2), recover_evaluations=2
    )
    memory, pending = step(None, finding("A"), at(0), policy)
    assert pending is not None
    assert pending.reason.endswith("; pending, fires after 3 evaluations and 2 h held")
    memory, _ = step(memory, finding("A"), at(1), policy)
    memory, fired = step(memory, finding("A"), at(2.5), policy)
    assert fired is not None and fired.reason.endswith("fired after 3 evaluations over 2.5 h")
    memory, recovering = step(memory, None, at(3), policy)
    assert recovering is not None
    assert recovering.reason == "condition cleared, recovering: resolves after 2 evaluations"
    memory, resolved = step(memory, None, at(4), policy)
    assert resolved is not None
    assert resolved.reason == "condition cleared for 2 evaluations over 1 h, resolved"
    assert memory is not None and memory.resolved_at == at(4)
    assert memory.last_finding is not None  # still there to render the resolved notice


def test_back_from_recovering_says_so() -> None:
    policy = AlertPolicy(recover_evaluations=2)
    memory, _ = step(None, finding("A"), at(0), policy)
    memory, _ = step(memory, None, at(1), policy)
    memory, back = step(memory, finding("A"), at(2), policy)
    assert back is not None
    assert back.reason.endswith("back after 1 evaluation clear, still episode 1")


def test_nothing_changed_gives_the_same_memory_back() -> None:
    memory, _ = step(None, finding("A"), at(0), AlertPolicy())
    memory, _ = step(memory, None, at(1), AlertPolicy())
    assert memory is not None and memory.state is AlertState.RESOLVED
    again, transition = step(memory, None, at(2), AlertPolicy())
    assert again is memory and transition is None


def test_counters_while_firing() -> None:
    memory, _ = step(None, finding("A"), at(0), AlertPolicy())
    memory, _ = step(memory, finding("A", Severity.CRITICAL), at(1), AlertPolicy())
    assert memory is not None
    assert (memory.present_count, memory.absent_count, memory.since) == (2, 0, at(0))
    assert memory.severity is Severity.CRITICAL


def test_inhibition_freezes_and_records_why() -> None:
    policy = AlertPolicy(pending_evaluations=3)
    memory, _ = step(None, finding("A"), at(0), policy)
    assert memory is not None
    muted = finding("A", muted=True)
    frozen, transition = step(memory, muted, at(1), policy, inhibited=True)
    assert transition is None and frozen is not None
    assert frozen.inhibited and frozen.inhibited_reason == "muted because hubspot is stale"
    assert (frozen.state, frozen.present_count, frozen.since) == (AlertState.PENDING, 1, at(0))
    same, _ = step(frozen, muted, at(2), policy, inhibited=True)
    assert same is frozen
    absent, _ = step(frozen, None, at(3), policy, inhibited=True)
    assert absent is not None and absent.inhibited_reason == "inhibited: its data source is stale"
    lifted, _ = step(absent, finding("A"), at(4), policy)
    assert lifted is not None and not lifted.inhibited and lifted.inhibited_reason is None
    assert (lifted.state, lifted.present_count) == (AlertState.PENDING, 2)


def test_a_new_inhibited_finding_gets_no_memory() -> None:
    assert step(None, finding("A", muted=True), T0, AlertPolicy(), inhibited=True) == (None, None)


def test_step_refuses_naive_and_backward_times_and_foreign_findings() -> None:
    with pytest.raises(RulesError, match="aware datetime"):
        step(None, finding("A"), datetime(2026, 10, 5, 8), AlertPolicy())  # noqa: DTZ001
    memory, _ = step(None, finding("A"), at(2), AlertPolicy())
    with pytest.raises(RulesError, match="must move forward in time"):
        step(memory, None, at(1), AlertPolicy())
    with pytest.raises(RulesError, match="pass each fingerprint its own memory"):
        step(memory, finding("B"), at(3), AlertPolicy())


def test_instants_in_any_zone_are_stored_in_utc() -> None:
    memory, transition = step(None, finding("A"), T0.astimezone(ZURICH), AlertPolicy())
    assert memory is not None and transition is not None
    assert memory.since.tzinfo is UTC and memory.since == T0 and transition.at.tzinfo is UTC


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pending_evaluations": 0}, "pending_evaluations must be a whole number >= 1"),
        ({"recover_evaluations": True}, "recover_evaluations must be a whole number >= 1"),
        ({"pending_for": timedelta(minutes=-1)}, "pending_for must be a duration >= 0"),
        ({"recover_for": 3600}, "recover_for must be a duration >= 0"),
    ],
)
def test_policy_says_what_is_wrong(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRule, match=message):
        AlertPolicy(**changes)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- evaluate_all


def test_default_groups_by_kind_family() -> None:
    assert default_group(finding("A", kind=FindingKind.BEHIND_PACE, subject="kr-1")) == "kr:kr-1"
    assert default_group(finding("A", kind=FindingKind.PROJECTED_MISS, subject="kr-1")) == (
        "kr:kr-1"
    )
    assert default_group(finding("A", kind=FindingKind.THRESHOLD, subject="r")) == "rule:r"
    assert default_group(finding("A")) == GROUP
    stale = stale_data("hubspot", None, T0, timedelta(hours=2))
    assert stale is not None and default_group(stale) == "stale:hubspot"


def test_evaluate_all_groups_new_alerts_with_group_of_and_keeps_stored_groups() -> None:
    memories, _ = evaluate_all({}, [finding("A")], at(0), AlertPolicy(), group_of=lambda f: "x")
    assert [m.group for m in memories.values()] == ["x"]
    memories, _ = evaluate_all(memories, [finding("A")], at(1), AlertPolicy())
    assert [m.group for m in memories.values()] == ["x"]


def test_stale_data_freezes_absent_alerts_of_its_source_only() -> None:
    hubspot = finding("A")
    salesforce = finding("B", source="salesforce")
    memories, _ = evaluate_all({}, [hubspot, salesforce], at(0), AlertPolicy())
    stale = stale_data("hubspot", at(-30), at(1), timedelta(hours=24))
    assert stale is not None
    memories, transitions = evaluate_all(memories, mute_stale([stale]), at(1), AlertPolicy())
    by_fp = {m.fingerprint: m for m in memories.values()}
    assert by_fp[hubspot.fingerprint].state is AlertState.FIRING
    assert by_fp[hubspot.fingerprint].inhibited
    assert by_fp[salesforce.fingerprint].state is AlertState.RESOLVED
    assert sorted((t.fingerprint, t.to_state) for t in transitions) == sorted(
        [(salesforce.fingerprint, AlertState.RESOLVED), (stale.fingerprint, AlertState.FIRING)]
    )
    assert not by_fp[stale.fingerprint].inhibited  # stale data is never muted itself


def test_muted_findings_from_mute_stale_are_inhibited() -> None:
    stale = stale_data("hubspot", None, T0, timedelta(hours=2))
    assert stale is not None
    memories, transitions = evaluate_all({}, mute_stale([finding("A"), stale]), T0, AlertPolicy())
    assert [t.fingerprint for t in transitions] == [stale.fingerprint]
    assert set(memories) == {stale.fingerprint}


def test_evaluate_all_refuses_duplicates_and_misfiled_memories() -> None:
    with pytest.raises(RulesError, match="report each condition once"):
        evaluate_all({}, [finding("A"), finding("A", Severity.CRITICAL)], T0, AlertPolicy())
    memories, _ = evaluate_all({}, [finding("A")], T0, AlertPolicy())
    (memory,) = memories.values()
    with pytest.raises(RulesError, match="is stored under"):
        evaluate_all({"elsewhere": memory}, [], at(1), AlertPolicy())


def test_transitions_come_ordered_by_group_then_fingerprint() -> None:
    found = [finding(n, subject=s) for n, s in [("A", "z"), ("B", "a"), ("C", "z"), ("D", "a")]]
    _, transitions = evaluate_all({}, found, T0, AlertPolicy())
    keys = [(t.group, t.fingerprint) for t in transitions]
    assert keys == sorted(keys) and len(keys) == 4


# --------------------------------------------------------------------------- silences


def test_silence_boundaries_and_matching() -> None:
    fp = finding("A").fingerprint
    by_fp = Silence("s1", fp, None, at(1), at(3))
    both = Silence("s2", fp, "rule:other", at(0), at(9))
    assert [active(by_fp, at(h)) for h in (0.99, 1, 2.99, 3)] == [False, True, True, False]
    assert silenced_by(fp, GROUP, [by_fp, both], at(2)) is by_fp
    assert silenced_by(fp, "rule:other", [by_fp, both], at(5)) is both
    assert silenced_by(fp, GROUP, [both], at(5)) is None
    longer = Silence("s3", None, GROUP, at(0), at(5))
    assert silenced_by(fp, GROUP, [by_fp, longer], at(2)) is longer


def test_silences_say_what_is_wrong() -> None:
    with pytest.raises(InvalidRule, match="give a fingerprint or a group"):
        Silence("s1", None, None, at(0), at(1))
    with pytest.raises(InvalidRule, match="must come after starts_at"):
        Silence("s1", "fp", None, at(1), at(1))
    with pytest.raises(RulesError, match="silence s1: ends_at must be an aware datetime"):
        Silence("s1", "fp", None, at(0), datetime(2026, 10, 6))  # noqa: DTZ001


# --------------------------------------------------------------------------- decide


def firing_memory(name: str, hours: float = 0, **changes: object) -> AlertMemory:
    memory, _ = step(None, finding(name), at(hours), AlertPolicy())
    assert memory is not None
    return replace(memory, **changes)  # type: ignore[arg-type]


def decide_now(log: NotifyLog | None, *memories: AlertMemory, hours: float = 1, **kw: object):
    options: dict[str, object] = {"repeat_every": timedelta(hours=4), "send_resolved": True}
    options.update(kw)
    silences = options.pop("silences", ())
    return decide(GROUP, log, memories, silences, at(hours), **options)  # type: ignore[arg-type]


def test_nothing_to_say_and_no_log_is_no_decision() -> None:
    assert decide_now(None) == Decision(None, None)
    resolved = firing_memory("A", state=AlertState.RESOLVED)
    assert decide_now(None, resolved) == Decision(None, None)


def test_an_unchanged_log_comes_back_as_is() -> None:
    a = firing_memory("A")
    first = decide_now(None, a, hours=0)
    assert first.notice is not None and first.notice.kind is NoticeKind.FIRING
    again = decide_now(first.log, a, hours=1)
    assert again.notice is None and again.log is first.log


def test_a_silence_changes_the_log_without_a_notice() -> None:
    a = firing_memory("A")
    first = decide_now(None, a, hours=0)
    snooze = Silence("s1", a.fingerprint, None, at(1), at(2), "on holiday", "manager")
    quiet = decide_now(first.log, a, hours=1, silences=[snooze])
    assert quiet.notice is None
    assert quiet.log == NotifyLog(GROUP, 1, frozenset(), frozenset(), at(0), 1, ())


def test_an_announced_fingerprint_without_memory_counts_as_resolved() -> None:
    a, b = firing_memory("A"), firing_memory("B")
    first = decide_now(None, a, b, hours=0)
    later = decide_now(first.log, a, hours=1)
    assert later.notice is not None
    assert (later.notice.kind, later.notice.resolved) == (NoticeKind.UPDATE, (b.fingerprint,))


def test_recovering_still_counts_as_firing() -> None:
    a = firing_memory("A")
    first = decide_now(None, a, hours=0)
    recovering = firing_memory("A", state=AlertState.RECOVERING, since=at(1))
    assert decide_now(first.log, recovering, hours=1).notice is None
    assert decide_now(first.log, recovering, hours=4).notice is not None


def test_decide_refuses_what_does_not_fit() -> None:
    with pytest.raises(RulesError, match="pass decide the memories of its group only"):
        decide_now(None, firing_memory("A", group="rule:other"))
    with pytest.raises(RulesError, match="the log of rule:other was passed"):
        decide_now(NotifyLog("rule:other"))
    with pytest.raises(InvalidRule, match="repeat_every must be positive"):
        decide_now(None, repeat_every=timedelta(0))
    with pytest.raises(RulesError, match="aware datetime"):
        decide(GROUP, None, [], [], datetime(2026, 10, 5), repeat_every=DAY, send_resolved=True)  # noqa: DTZ001


def test_notice_fields_of_a_first_notice() -> None:
    a, b = firing_memory("A"), firing_memory("B")
    decision = decide_now(None, a, b, hours=0)
    notice = decision.notice
    assert notice is not None and decision.log is not None
    fps = tuple(sorted([a.fingerprint, b.fingerprint]))
    assert (notice.kind, notice.episode, notice.seq) == (NoticeKind.FIRING, 1, 1)
    assert (notice.firing, notice.new, notice.resolved, notice.escalated) == (fps, fps, (), ())
    assert notice.dedup_key == f"alert:{GROUP}:1:firing:1"
    assert decision.log == NotifyLog(
        GROUP, 1, frozenset(fps), frozenset(), at(0), 1,
        tuple((fp, Severity.WARNING) for fp in fps),
    )


# --------------------------------------------------------------------------- JSON


def test_memory_round_trips_through_json() -> None:
    memory = AlertMemory(
        fingerprint="0123456789abcdef",
        group=GROUP,
        state=AlertState.RECOVERING,
        since=at(5).astimezone(ZURICH),
        episode=3,
        present_count=0,
        absent_count=2,
        first_seen=at(1),
        fired_at=at(2),
        resolved_at=None,
        last_finding=FindingSnapshot.of(finding("A", Severity.CRITICAL)),
        inhibited=True,
        inhibited_reason="muted because hubspot is stale",
    )
    data = json.loads(json.dumps(memory.to_dict()))
    back = AlertMemory.from_dict(data)
    assert back == memory
    assert back.since.tzinfo is UTC
    assert data["last_finding"]["numbers"] == [["change", -0.28]]
    bare = AlertMemory("fp", GROUP, AlertState.NORMAL, T0)
    assert AlertMemory.from_dict(json.loads(json.dumps(bare.to_dict()))) == bare


def test_log_round_trips_through_json() -> None:
    log = NotifyLog(
        GROUP, 4, frozenset({"b", "a"}), frozenset({"c"}), at(3), 17,
        (("a", Severity.CRITICAL), ("b", Severity.WARNING)),
    )
    data = json.loads(json.dumps(log.to_dict()))
    assert data["firing"] == ["a", "b"] and data["severities"] == {"a": "critical", "b": "warning"}
    assert NotifyLog.from_dict(data) == log
    assert NotifyLog.from_dict({"group": GROUP}) == NotifyLog(GROUP)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"group": GROUP, "state": "firing", "since": T0.isoformat()}, "missing key 'fingerprint'"),
        ({"fingerprint": "f", "group": GROUP, "state": "on fire", "since": T0.isoformat()},
         "'on fire' is not a valid AlertState"),
        ({"fingerprint": "f", "group": GROUP, "state": "firing", "since": "2026-10-05T08:00"},
         "since must be an aware datetime"),
        ({"fingerprint": "f", "group": GROUP, "state": "firing", "since": 5},
         "since must be an ISO 8601 string"),
    ],
)
def test_a_malformed_stored_memory_is_one_error(data: dict[str, object], message: str) -> None:
    with pytest.raises(RulesError, match=message):
        AlertMemory.from_dict(data)


def test_a_malformed_stored_log_is_one_clear_error() -> None:
    with pytest.raises(RulesError, match="stored notification log is malformed"):
        NotifyLog.from_dict({"group": GROUP, "severities": {"a": "fatal"}})


def test_policy_of_gives_a_group_its_own_pending_policy() -> None:
    """An alert rule's ``for`` delays its own group only."""
    slow, fast = finding("A", subject="slow"), finding("B", subject="fast")
    patient = AlertPolicy(pending_evaluations=2)

    def policy_of(group: str) -> AlertPolicy:
        return patient if group == default_group(slow) else AlertPolicy()

    memories, moved = evaluate_all({}, [slow, fast], at(0), AlertPolicy(), policy_of=policy_of)
    states = {m.fingerprint: m.state for m in memories.values()}
    assert states == {slow.fingerprint: AlertState.PENDING, fast.fingerprint: AlertState.FIRING}
    memories, moved = evaluate_all(memories, [slow, fast], at(1), AlertPolicy(),
                                   policy_of=policy_of)
    assert [(t.fingerprint, t.to_state) for t in moved] == [(slow.fingerprint, AlertState.FIRING)]
