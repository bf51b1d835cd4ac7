"""End-of-period OKR grading: 0.0 to 1.0 per Key Result and per objective.

- **A KR's score** is its progress from baseline to target with the value at the end of the
  period, clamped to 0..1: conversion 18 % -> 25 % ending at 23.6 % scores 0.8. It is given
  twice: against the **original** target and against the **revised** one (the target in
  force at the end, after dated revisions), so a lowered target never hides what was first
  promised. Without revisions both are the same. A "hold the line" KR (target equal to its
  baseline) scores 1.0 on the right side of its target and 0.0 on the wrong one.
- **An objective's score** is the mean of its KRs' scores (optionally weighted). Scores are
  clamped before averaging, so an overshoot on one KR cannot hide a miss on another.
- **Colours**, the usual OKR bands on the score rounded to one decimal (half up): 0.0-0.3
  red, 0.4-0.6 yellow, 0.7-1.0 green. "0.7 is a success" for ambitious OKRs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from rules.errors import RulesError
from rules.pace import progress_toward
from rules.targets import KeyResultSpec


class Colour(StrEnum):
    RED = "red"
    YELLOW = "yellow"
    GREEN = "green"


def rounded(score: float) -> float:
    """The score to one decimal, half up (0.65 -> 0.7), as OKR sheets show it."""
    return float(Decimal(repr(score)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def colour(score: float) -> Colour:
    """Red up to 0.3, yellow from 0.4 to 0.6, green from 0.7 (on the rounded score)."""
    shown = rounded(score)
    if shown <= 0.3:
        return Colour.RED
    if shown <= 0.6:
        return Colour.YELLOW
    return Colour.GREEN


@dataclass(frozen=True, slots=True)
class KrScore:
    """A KR's grade against its original target and against its revised one.

    ``raw`` values are the unclamped progress (1.3: 30 % past the target; -0.2: backwards).
    ``revised_target`` is None when the KR was never revised; the revised figures then equal
    the original ones.
    """

    kr_id: str
    final_value: float
    original_target: float
    revised_target: float | None
    score: float
    raw: float
    revised_score: float
    revised_raw: float

    @property
    def colour(self) -> Colour:
        return colour(self.score)

    @property
    def revised_colour(self) -> Colour:
        return colour(self.revised_score)


def score_kr(spec: KeyResultSpec, final_value: float) -> KrScore:
    """Grade ``spec`` with its value at the end of the period."""
    if not math.isfinite(final_value):
        raise RulesError(f"KR {spec.id}: the final value {final_value!r} is not a number")
    baseline = spec.require_baseline()
    original = progress_toward(baseline, spec.original_target, final_value, spec.direction)
    revised = progress_toward(baseline, spec.final_target, final_value, spec.direction)
    return KrScore(
        kr_id=spec.id,
        final_value=final_value,
        original_target=spec.original_target,
        revised_target=spec.final_target if spec.revisions else None,
        score=original.shown,
        raw=original.raw,
        revised_score=revised.shown,
        revised_raw=revised.raw,
    )


@dataclass(frozen=True, slots=True)
class ObjectiveScore:
    """The (weighted) mean of the KRs' scores, against original and revised targets."""

    score: float
    revised_score: float
    krs: tuple[KrScore, ...]
    weights: tuple[float, ...]

    @property
    def colour(self) -> Colour:
        return colour(self.score)

    @property
    def revised_colour(self) -> Colour:
        return colour(self.revised_score)


def score_objective(
    scores: Sequence[KrScore], weights: Sequence[float] | None = None
) -> ObjectiveScore:
    """The objective's grade: the mean of its KRs' clamped scores (equal weights unless
    ``weights``, one positive number per KR, are given)."""
    if not scores:
        raise RulesError("an objective needs at least one scored KR")
    chosen = tuple(weights) if weights is not None else (1.0,) * len(scores)
    if len(chosen) != len(scores):
        raise RulesError(f"{len(chosen)} weights for {len(scores)} KRs; give one per KR")
    if any(not (math.isfinite(w) and w > 0) for w in chosen):
        raise RulesError("KR weights must be positive numbers")
    total = math.fsum(chosen)
    return ObjectiveScore(
        score=math.fsum(s.score * w for s, w in zip(scores, chosen, strict=True)) / total,
        revised_score=math.fsum(
            s.revised_score * w for s, w in zip(scores, chosen, strict=True)
        )
        / total,
        krs=tuple(scores),
        weights=chosen,
    )
