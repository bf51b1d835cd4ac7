"""Errors of the rules engine, grouped by what the caller must do.

Every error here means "the input is wrong: fix the data or the configuration"; none is
transient, none comes from the outside world (``rules/`` does no I/O). The shell catches
:class:`RulesError` and prints its message as one line, with the config path it knows.

::

    RulesError (ValueError)        bad input: the message says what is wrong and how to fix it
    ├── UnknownMetric (LookupError)  a metric key that is not in the catalog (close matches)
    ├── InvalidParams              a metric's params: unknown, missing, wrong type or value
    ├── InvalidKeyResult           an inconsistent Key Result (revision without a reason,
    │                              milestone outside the period, no baseline where needed...)
    └── InvalidRule                an inconsistent alert rule (recover on the wrong side...)
"""

from __future__ import annotations


class RulesError(ValueError):
    """Bad input to the rules engine; the message says what to fix."""


class UnknownMetric(RulesError, LookupError):
    """A metric key that is not in the catalog."""

    def __init__(self, key: str, close: tuple[str, ...]) -> None:
        self.key = key
        self.close = close
        hint = (
            f"did you mean {', '.join(close)}?"
            if close
            else "run `syncd metrics` to list the catalog"
        )
        super().__init__(f"unknown metric {key!r}: {hint}")


class InvalidParams(RulesError):
    """A metric's parameters do not fit its definition."""


class InvalidKeyResult(RulesError):
    """A Key Result whose figures, dates or revisions contradict each other."""


class InvalidRule(RulesError):
    """An alert rule whose thresholds contradict each other."""
