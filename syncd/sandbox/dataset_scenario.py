"""The sandbox dataset's scenarios (``generate(..., scenario=...)`` in
:mod:`syncd.sandbox.dataset`): each scripts an event on top of the default story, drawn from its
own random stream so that everything else stays identical. Opt-in: without a scenario the output
is exactly the default team's. ``Dataset.event`` says what was put in (:class:`Event`).

- ``"competitor_promo"``: a competitor's promotion hits during the week before ``now``. Open
  deals (drawn at random, open at ``now`` and having an amount) are lost to it one by one, each
  at a random moment after the end of the Zurich day 7 days before ``now`` (the base of a
  7-day change rule, which reads a day's value as of its end) and after its current stage was
  entered: ``closedlost`` or ``Perdu`` entered then, ``closedate`` set to that instant,
  ``closed_lost_reason`` set. Losses stop once the open pipeline (the sum of the CHF amounts of
  the deals open at an instant) stands 30 % below its value at the end of that day; a loss
  that would take it past -35 % is skipped. With the default team this is also its drop from
  7 days before ``now`` (-32.5 %). About a third of the deals still open, those due within 60
  days, are pushed out by 4 to 9 weeks (``closedate`` moved, modified during the week). This
  is what ``syncd demo`` shows: the ``pipeline_value -25 % over 7d`` rule fires on Monday.
"""

from __future__ import annotations

import random
from array import array
from dataclasses import dataclass
from datetime import datetime

from syncd.sandbox.hubspot_account import (
    DAY,
    LOST_STAGES,
    STAGE_IDS,
    WON_STAGES,
    zurich_midnight,
)
from syncd.sandbox.hubspot_records import DealArrays
from syncd.sandbox.hubspot_table import NULL_INT, from_ms

SCENARIOS = ("competitor_promo",)
PROMO_WEEK = 7 * DAY
PROMO_DROP = 0.30  # the open pipeline's drop over the week the scenario aims at ...
PROMO_MAX_DROP = 0.35  # ... and never goes past (a loss that would overshoot is skipped)
PROMO_PUSHED = 1 / 3  # of the deals left open and due within 60 days, the share pushed out
HOUR = 3_600_000
LOST_REASONS = (None, "Concurrent : promotion -30 % sur la première année")


@dataclass(frozen=True, slots=True)
class Event:
    """What a scenario scripted, as generation put it in (open pipeline in CHF, live deals)."""

    scenario: str
    start: datetime  # now - 7 days
    pipeline_before: float  # the open pipeline at ``start``
    pipeline_after: float  # the open pipeline at ``now``
    base_day_end: datetime  # the end of the Zurich day of ``start``; no loss before it
    pipeline_base_day: float  # the open pipeline then
    lost: int  # open deals lost to the competitor during the week
    pushed: int  # open deals whose close date moved out during the week

    @property
    def change(self) -> float:
        """The open pipeline's relative change over the week (-0.30: down 30 %)."""
        before = self.pipeline_before
        return self.pipeline_after / before - 1 if before else 0.0

    @property
    def day_change(self) -> float:
        """The change a 7-day rule reads: ``now`` vs the end of the day 7 days before."""
        before = self.pipeline_base_day
        return self.pipeline_after / before - 1 if before else 0.0


def _chf(de: DealArrays, pos: int, eur_chf: float) -> float:
    amount = de.amount[pos]
    if amount == NULL_INT:
        return 0.0
    return amount / 100 * (eur_chf if de.currency[pos] == 2 else 1.0)


def _open_at(de: DealArrays, pos: int, at: int) -> bool:
    if de.archived[pos] or de.created[pos] > at:
        return False
    stage = de.stage[pos] - 1
    closed = STAGE_IDS[stage] in WON_STAGES or STAGE_IDS[stage] in LOST_STAGES
    return not closed or de.entered[stage][pos] > at


def _pipeline_at(de: DealArrays, at: int, eur_chf: float) -> float:
    return sum(_chf(de, p, eur_chf) for p in range(len(de.created)) if _open_at(de, p, at))


def competitor_promo(de: DealArrays, *, seed: int, now: int, report_now: int,
                     eur_chf: float) -> tuple[Event, array[int]]:
    """The ``competitor_promo`` scenario (module docstring), drawn from its own random stream.

    Changes the deals of ``de`` in place and returns the event and each deal's
    ``closed_lost_reason`` (an index into :data:`LOST_REASONS`). ``now`` is the last moment
    anything happens, ``report_now`` the dataset's ``now``; the caller counts the ``event.lost``
    deals as decided in the window."""
    rng = random.Random(f"{seed}:competitor_promo")
    start = report_now - PROMO_WEEK
    day_end = zurich_midnight(zurich_midnight(start) + 26 * HOUR) - 1
    before, after = _pipeline_at(de, start, eur_chf), _pipeline_at(de, report_now, eur_chf)
    at_day_end = _pipeline_at(de, day_end, eur_chf)
    reasons = array("B", bytes(len(de.created)))
    candidates = [p for p in range(len(de.created))
                  if _open_at(de, p, report_now) and _chf(de, p, eur_chf) > 0]
    rng.shuffle(candidates)
    lost: set[int] = set()
    for pos in candidates:
        if after <= at_day_end * (1 - PROMO_DROP):
            break
        if after - _chf(de, pos, eur_chf) < at_day_end * (1 - PROMO_MAX_DROP):
            continue
        stage = de.stage[pos] - 1
        first, last = max(day_end, de.entered[stage][pos]) + HOUR, now - HOUR
        if first >= last:
            continue
        at = first + int(rng.random() * (last - first))
        lost_stage = STAGE_IDS.index("closedlost" if de.pipeline[pos] == 1 else "81530422")
        de.exited[stage][pos] = at
        de.entered[lost_stage][pos] = at
        de.stage[pos] = 1 + lost_stage
        de.close[pos] = at
        de.modified[pos] = at + int(rng.random() * min(2 * HOUR, now - at))
        reasons[pos] = 1
        after -= _chf(de, pos, eur_chf)
        lost.add(pos)
    pushed = 0
    for pos in range(len(de.created)):
        if (pos in lost or not _open_at(de, pos, report_now)
                or de.close[pos] > now + 60 * DAY or rng.random() >= PROMO_PUSHED):
            continue
        de.close[pos] = zurich_midnight(de.close[pos] + int((28 + rng.random() * 35) * DAY))
        low = max(start, de.modified[pos])  # pushed during the week, after any other edit
        de.modified[pos] = low + int(rng.random() * (now - low))
        pushed += 1
    event = Event("competitor_promo", from_ms(start), round(before, 2), round(after, 2),
                  from_ms(day_end), round(at_day_end, 2), len(lost), pushed)
    return event, reasons
