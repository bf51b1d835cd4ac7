"""The errors the application shows to its user.

Every error the CLI prints as one clear line (what is wrong, where, how to fix) and exits
non-zero for derives from :class:`SyncdError`; anything else is a bug and may show a traceback::

    SyncdError                     base: ``str(err)`` is the line the user reads
    └── ConfigError                the configuration is unusable; ``problems`` lists every
                                   problem found (one line each), not just the first

Connector errors (``connectors.base.ConnectorError``) are translated into a ``SyncdError`` at
the edge that calls the connector, with ``raise SyncdError(...) from exc``.

No message ever contains a secret: messages are built from paths, line numbers and the
offending value only when that value is neither a secret nor read from the environment.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class SyncdError(Exception):
    """Base of every error the CLI reports as one line and a non-zero exit code."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a configuration file.

    ``path`` is the dotted path of the value (``okrs[0].key_results[2].target``; empty for the
    file as a whole), ``line`` its 1-based line in the file (None when the value is not in the
    file, e.g. a missing key of a missing section or an environment override), ``message``
    what is wrong (no trailing period) and ``hint`` how to fix it (a sentence, or empty).
    """

    path: str
    line: int | None
    message: str
    hint: str = ""

    def format(self, source: str = "") -> str:
        """One line, e.g. ``syncd.yaml:23 okrs[0].target: "25 %" is not ... Write it like 25%.``"""
        if source and self.line is not None:
            where = f"{source}:{self.line}"
        elif source:
            where = source
        elif self.line is not None:
            where = f"line {self.line}"
        else:
            where = ""
        head = " ".join(part for part in (where, self.path) if part)
        text = f"{head}: {self.message}" if head else self.message
        if self.hint:
            text = f"{text}. {self.hint}"
        return text


class ConfigError(SyncdError):
    """The configuration cannot be used. ``problems`` holds every problem found, in file order.

    ``str(err)`` is one line for a single problem; for several, a first line saying how many,
    then one line per problem.
    """

    def __init__(self, problems: Iterable[Problem], *, source: str = "") -> None:
        self.problems: list[Problem] = list(problems)
        self.source = source
        super().__init__(self._text())

    def _text(self) -> str:
        if len(self.problems) == 1:
            return self.problems[0].format(self.source)
        where = self.source or "the configuration"
        lines = [f"{where}: {len(self.problems)} problems"]
        lines.extend(p.format(self.source) for p in self.problems)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._text()

    def __repr__(self) -> str:
        return f"ConfigError({len(self.problems)} problems, source={self.source!r})"
