"""Metric queries: the SQL that computes what :mod:`rules.catalog` defines, as of any date.

::

    compute(engine, "pipeline_value", as_of=now - timedelta(days=7), where={"owner": ...})
    compute_many(engine, [Request("pipeline_value", as_of=now), Request("arpu", as_of=now)])

Modules: :mod:`~syncd.metrics.compute` (entry points, validation, windows, the queries a
batch shares), :mod:`~syncd.metrics.deals` and :mod:`~syncd.metrics.people` (one handler per
metric),
:mod:`~syncd.metrics.sql` (point-in-time building blocks), :mod:`~syncd.metrics.filters`
(``where:``), :mod:`~syncd.metrics.value` (the result and the window as instants).

Errors are :mod:`rules.errors`' (``UnknownMetric``, ``InvalidParams``) plus
:class:`~syncd.metrics.value.InvalidFilters`, all ``RulesError``: the caller prints the message.
"""

from __future__ import annotations

from syncd.metrics.compute import Request, compute, compute_many
from syncd.metrics.value import InvalidFilters, MetricValue, Span

__all__ = ["InvalidFilters", "MetricValue", "Request", "Span", "compute", "compute_many"]
