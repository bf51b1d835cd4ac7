"""The last arithmetic step of the catalog's definitions, shared by the SQL side and tests.

The SQL in ``syncd/`` computes the sums and counts (won amounts, customers at a date, leads of
a cohort); these functions turn them into the metric exactly as :mod:`rules.catalog` defines
it, so that the definition lives in one place. A value that is undefined (a rate over zero
customers, coverage once the quota is met) is ``None``, never 0 and never an exception: the
shell shows it as "n/a".
"""

from __future__ import annotations

import math

from rules.errors import RulesError


def share(part: float, whole: float) -> float | None:
    """``part / whole``: conversion, win rate, retention, segment share; None if whole is 0."""
    if whole == 0:
        return None
    return part / whole


def growth(current: float, previous: float) -> float | None:
    """``(current - previous) / previous``: MRR growth, revenue vs last year; None if the
    previous value is 0 (growth from nothing has no percentage)."""
    if previous == 0:
        return None
    return (current - previous) / abs(previous)


def monthly_rate(window_rate: float, months: float) -> float:
    """The monthly rate that, compounded over ``months``, loses ``window_rate``:
    ``1 - (1 - window_rate) ** (1 / months)``.

    A quarter that lost 8.73 % of its customers churned 3 % a month
    (``0.97 ** 3 = 0.9127``). It is what ``churn_rate`` and ``revenue_churn_rate`` report by
    default, so a quarter compares with the seed's monthly figures.
    """
    if months <= 0:
        raise RulesError(f"a window of {months} months has no monthly rate; give a window")
    if not 0.0 <= window_rate <= 1.0:
        raise RulesError(f"a churn share must be between 0 and 100 %, not {window_rate:.4f}")
    if window_rate == 1.0:
        return 1.0
    return -math.expm1(math.log1p(-window_rate) / months)  # exact for tiny rates too


def coverage(open_pipeline: float, quota: float, won: float) -> float | None:
    """``pipeline_coverage``: open pipeline / (quota - won so far); None once the quota is
    met (nothing left to cover)."""
    remaining = quota - won
    if remaining <= 0:
        return None
    return open_pipeline / remaining


def per_rep_per_month(leads: float, reps: int, months: float) -> float | None:
    """``qualified_leads_per_rep``: leads / reps / months; None without reps or months."""
    if reps <= 0 or months <= 0:
        return None
    return leads / reps / months
