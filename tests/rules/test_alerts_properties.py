"""Properties of the alert lifecycle over any sequence of present / absent / muted findings.

Three alerts: A and B in one group, C in another; random policies, repeat intervals, silences
and gaps between evaluations. Whatever happens, the notices of a group must tell a coherent
story: no second ``firing`` without a ``resolved`` in between (send_resolved, no silences),
no notice without a change unless the repeat interval elapsed, every resolved fingerprint
announced before and resolved once, and never the same dedup key twice.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.alerts import AlertPolicy, Notice, NoticeKind, Silence, default_group, silenced_by
from rules.findings import Finding, Severity
from tests.rules.test_alerts_harness import Driver, at, finding

SUBJECTS = {"A": "pipeline-drop", "B": "pipeline-drop", "C": "churn"}


def build(name: str, mark: str) -> Finding:
    severity = Severity.CRITICAL if mark == "!" else Severity.WARNING
    return finding(name, severity, muted=mark == "~", subject=SUBJECTS[name])


FP = {n: build(n, "").fingerprint for n in SUBJECTS}
GROUP_OF = {n: default_group(build(n, "")) for n in SUBJECTS}

evaluations = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=240),  # minutes since the previous evaluation
        st.dictionaries(st.sampled_from(sorted(SUBJECTS)), st.sampled_from(["", "!", "~"])),
    ),
    min_size=1,
    max_size=40,
)
policies = st.builds(
    AlertPolicy,
    pending_evaluations=st.integers(1, 3),
    pending_for=st.sampled_from([timedelta(0), timedelta(minutes=30), timedelta(hours=2)]),
    recover_evaluations=st.integers(1, 3),
    recover_for=st.sampled_from([timedelta(0), timedelta(hours=1)]),
)
repeats = st.sampled_from([timedelta(hours=1), timedelta(hours=4), timedelta(days=1)])


@st.composite
def silence_lists(draw: st.DrawFn) -> list[Silence]:
    silences = []
    for index in range(draw(st.integers(0, 2))):
        start = draw(st.integers(0, 12))
        length = draw(st.integers(1, 12))
        target = draw(st.sampled_from(sorted(SUBJECTS)))
        by_group = draw(st.booleans())
        silences.append(
            Silence(
                f"s{index}",
                None if by_group else FP[target],
                GROUP_OF[target] if by_group else None,
                at(start),
                at(start + length),
            )
        )
    return silences


Status = dict[str, tuple[bool, bool, bool]]  # fingerprint -> (active, inhibited, silenced)
History = list[tuple[datetime, list[Notice], Status]]


def run(steps: list[tuple[int, dict[str, str]]], driver: Driver) -> History:
    """Evaluate every step: the notices of each instant and each alert's status then, with
    check (b) on the way."""
    now = at(0)
    history = []
    before: dict[str, frozenset[tuple[str, bool, str | None, bool, bool]]] = {}
    last_sent: dict[str, datetime] = {}
    for minutes, present in steps:
        now += timedelta(minutes=minutes)
        start = len(driver.notices)
        driver.evaluate(now, [build(n, mark) for n, mark in sorted(present.items())])
        sent = driver.notices[start:]
        status = {
            m.fingerprint: (
                m.active,
                m.inhibited,
                silenced_by(m.fingerprint, m.group, driver.silences, now) is not None,
            )
            for m in driver.memories.values()
        }
        history.append((now, sent, status))
        # (b) nothing changed since the previous evaluation and no repeat due: no notice
        for group in {m.group for m in driver.memories.values()}:
            seen = frozenset(
                (
                    m.fingerprint,
                    m.active,
                    None if m.severity is None else m.severity.value,
                    m.inhibited,
                    silenced_by(m.fingerprint, group, driver.silences, now) is not None,
                )
                for m in driver.memories.values()
                if m.group == group
            )
            ours = [n for n in sent if n.group == group]
            repeat_due = group in last_sent and now - last_sent[group] >= driver.repeat_every
            if before.get(group) == seen and not repeat_due:
                assert ours == [], f"{group} notified at {now} though nothing changed"
            before[group] = seen
            if ours:
                last_sent[group] = now
    return history


def check_story(history: History, driver: Driver) -> None:
    by_group: dict[str, list[tuple[datetime, Notice]]] = defaultdict(list)
    for now, sent, _ in history:
        assert len({n.group for n in sent}) == len(sent), "two notices for a group at once"
        for notice in sent:
            by_group[notice.group].append((now, notice))
    keys = [n.dedup_key for _, sent, _ in history for n in sent]
    assert len(keys) == len(set(keys)), "(d) a dedup key repeated"
    for notices in by_group.values():
        announced: dict[str, bool] = {}
        fired_episodes: set[int] = set()
        previous: tuple[datetime, Notice] | None = None
        for now, notice in notices:
            assert notice.seq == (previous[1].seq + 1 if previous else 1)
            if notice.kind is NoticeKind.FIRING:
                assert notice.episode not in fired_episodes
                assert notice.episode == (previous[1].episode + 1 if previous else 1)
                fired_episodes.add(notice.episode)
            else:
                assert previous is not None and notice.episode == previous[1].episode
            if notice.kind is NoticeKind.REPEAT:
                assert previous is not None and now - previous[0] >= driver.repeat_every
                assert notice.firing and not notice.new and not notice.resolved
            if notice.kind is NoticeKind.RESOLVED:
                # (c) a resolved notice follows a firing notice of the same episode
                assert notice.episode in fired_episodes and not notice.firing
            for fp in notice.resolved:
                assert announced.get(fp), f"{fp} resolved but never announced, or twice"
                announced[fp] = False
            for fp in notice.firing:
                announced[fp] = True
            if not driver.send_resolved:
                assert notice.kind is not NoticeKind.RESOLVED and not notice.resolved
            previous = (now, notice)


@settings(max_examples=300, deadline=None)
@given(evaluations, policies, repeats, st.booleans())
def test_any_sequence_tells_a_coherent_story(
    steps: list[tuple[int, dict[str, str]]],
    policy: AlertPolicy,
    repeat_every: timedelta,
    send_resolved: bool,
) -> None:
    driver = Driver(policy, repeat_every, send_resolved)
    history = run(steps, driver)
    check_story(history, driver)
    if send_resolved:
        # (a) never two firing notices without a resolved notice in between
        for group in GROUP_OF.values():
            kinds = [n.kind for _, sent, _ in history for n in sent if n.group == group]
            opening = [k for k in kinds if k in (NoticeKind.FIRING, NoticeKind.RESOLVED)]
            assert all(a != b for a, b in pairwise(opening)), kinds
            if opening:
                assert opening[0] is NoticeKind.FIRING


@settings(max_examples=300, deadline=None)
@given(evaluations, policies, repeats, st.booleans(), silence_lists())
def test_silences_keep_the_story_coherent(
    steps: list[tuple[int, dict[str, str]]],
    policy: AlertPolicy,
    repeat_every: timedelta,
    send_resolved: bool,
    silences: list[Silence],
) -> None:
    driver = Driver(policy, repeat_every, send_resolved, silences)
    history = run(steps, driver)
    check_story(history, driver)
    for now, sent, _ in history:
        for notice in sent:
            for fp in (*notice.firing, *notice.new, *notice.resolved):
                assert silenced_by(fp, notice.group, silences, now) is None, "a silenced alert"
    # when a silence ends on an alert that still fires, it is announced again as new
    for (_, _, before), (now, sent, after) in pairwise(history):
        for fp, (active, inhibited, silenced) in after.items():
            was_silenced = fp in before and before[fp][2]
            if was_silenced and not silenced and active and not inhibited:
                assert any(fp in n.new for n in sent), f"{fp} not re-announced at {now}"


@settings(max_examples=200, deadline=None)
@given(evaluations, policies, repeats, st.booleans())
def test_the_state_machine_alone_never_depends_on_the_decision(
    steps: list[tuple[int, dict[str, str]]],
    policy: AlertPolicy,
    repeat_every: timedelta,
    send_resolved: bool,
) -> None:
    """Silences never change states: the same findings give the same transitions."""
    plain = Driver(policy, repeat_every, send_resolved)
    everything = [Silence("all", None, g, at(-1), at(10_000)) for g in set(GROUP_OF.values())]
    silenced = Driver(policy, repeat_every, send_resolved, everything)
    run(steps, plain)
    run(steps, silenced)
    assert plain.transitions == silenced.transitions
    assert plain.memories == silenced.memories
    assert silenced.notices == []
