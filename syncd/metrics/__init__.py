"""Metric queries: the SQL that computes what :mod:`rules.catalog` defines, as of any date.

::

    compute(engine, "pipeline_value", as_of=now - timedelta(days=7), where={"owner": ...})

Modules: :mod:`~syncd.metrics.compute` (entry point, validation, windows),
:mod:`~syncd.metrics.deals` and :mod:`~syncd.metrics.people` (one handler per metric),
:mod:`~syncd.metrics.sql` (point-in-time building blocks), :mod:`~syncd.metrics.filters`
(``where:``), :mod:`~syncd.metrics.value` (the result and the window as instants).

Errors are :mod:`rules.errors`' (``UnknownMetric``, ``InvalidParams``) plus
:class:`~syncd.metrics.value.InvalidFilters`, all ``RulesError``: the caller prints the message.
"""

from __future__ import annotations

from syncd.metrics.compute import compute
from syncd.metrics.value import InvalidFilters, MetricValue, Span

__all__ = ["InvalidFilters", "MetricValue", "Span", "compute"]
