"""What a digest or a report is made of, as typed records (no SQL rows, no Slack blocks).

The queries in :mod:`syncd.notify.moves` fill these; the renderers turn them into Block Kit.
Amounts are in the reporting currency (``Config.currency``), instants are aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum


class MoveKind(StrEnum):
    """How an open-pipeline deal moved during a window (the waterfall's steps)."""

    NEW = "new"              # created (or entered the open pipeline) in the window
    WON = "won"              # reached a won stage in the window
    LOST = "lost"            # reached a closed, not won stage in the window
    PUSHED = "pushed"        # close date moved later, past the end of the period
    PULLED_IN = "pulled_in"  # close date moved earlier, into the period
    INCREASED = "increased"  # amount went up
    DECREASED = "decreased"  # amount went down


@dataclass(frozen=True, slots=True)
class DealMove:
    deal_id: str
    name: str
    kind: MoveKind
    amount: float                        # the amount that counts for this step (signed: + adds)
    owner: str | None = None             # owner's e-mail when known, else a display name
    stage: str | None = None             # stage label now
    close_date: date | None = None
    previous_close_date: date | None = None
    previous_amount: float | None = None
    url: str | None = None               # the CRM record, when the portal is known


@dataclass(frozen=True, slots=True)
class WaterfallStep:
    kind: MoveKind
    amount: float                        # signed contribution to the pipeline
    count: int


@dataclass(frozen=True, slots=True)
class Waterfall:
    """The open pipeline at ``start`` and at ``end`` and the steps between them."""

    start: datetime
    end: datetime
    start_value: float
    end_value: float
    steps: tuple[WaterfallStep, ...]
    moves: tuple[DealMove, ...]          # the largest moves first, at most a few dozen
    #: False when close dates or amounts of ``start`` are unknown (no earlier pipeline
    #: snapshot): pushed / pulled in / increased / decreased are then not reported
    complete: bool = True
    #: the part of the difference no step explains (edits not tracked), so the steps add up
    other: float = 0.0
    #: close-date moves (PUSHED, PULLED_IN): deals that stay in the pipeline, so not part of
    #: ``steps`` (``start_value + sum(steps) + other == end_value``); amounts signed for the
    #: period's pipeline (pushed out: negative)
    shifts: tuple[WaterfallStep, ...] = ()
    #: the pipeline snapshot ``start``'s amounts and close dates come from (None: incomplete)
    snapshot_on: date | None = None
    #: the last day of the period pushed / pulled in refer to (None: any later / earlier move)
    period_end: date | None = None
    currency: str | None = None          # the reporting currency of every amount


@dataclass(frozen=True, slots=True)
class StalledDeal:
    deal_id: str
    name: str
    stage: str | None
    days_in_stage: int
    amount: float | None
    owner: str | None = None
    close_date: date | None = None
    url: str | None = None
    #: open with a close date already past (a stalled deal may be overdue only)
    overdue: bool = False
    stage_entered_at: datetime | None = None  # None: no stage history (counted from creation)


@dataclass(frozen=True, slots=True)
class Freshness:
    """How fresh the data is: the last successful sync, and whether it is stale."""

    last_sync: datetime | None
    stale_after: timedelta | None
    now: datetime

    @property
    def age(self) -> timedelta | None:
        return None if self.last_sync is None else self.now - self.last_sync

    @property
    def stale(self) -> bool:
        if self.last_sync is None:
            return True
        return self.stale_after is not None and self.now - self.last_sync > self.stale_after


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """An alert that fired or resolved (for "this week" in the digest)."""

    at: datetime
    fingerprint: str
    subject: str                         # KR id or rule id
    kind: str                            # finding kind: behind_pace, change, ...
    event: str                           # "fired" | "resolved"
    reason: str
    severity: str


@dataclass(frozen=True, slots=True)
class Action:
    """A priority action for the next 7 days, derived from the findings."""

    text: str
    owners: tuple[str, ...] = ()         # e-mails, rendered as mentions
    subject: str | None = None


@dataclass(frozen=True, slots=True)
class Breakdown:
    """A KR's value split by owner or by segment (monthly gap analysis)."""

    kr_id: str
    by: str                              # "owner" | "segment"
    rows: tuple[tuple[str, float | None], ...] = field(default_factory=tuple)
    total: float | None = None           # the KR's value over every group (and none)
    at: datetime | None = None           # the instant the values are as of
