"""Logging set-up for the entry points (handlers are configured here and nowhere else).

A :class:`RedactFilter` on the root handler replaces every registered secret (tokens,
passwords, webhook URLs) with ``***`` in the final message, as a last line of defence: code
never logs secrets on purpose.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable


class RedactFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def add(self, values: Iterable[str | None]) -> None:
        self.secrets.update(v for v in values if v and len(v) >= 6)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            redacted = message
            for secret in self.secrets:
                redacted = redacted.replace(secret, "***")
            if redacted != message:
                record.msg, record.args = redacted, None
        return True


REDACT = RedactFilter()


def setup_logging(verbose: int = 0) -> None:
    """Plain lines on stderr; DEBUG with -vv, INFO with -v, WARNING otherwise."""
    level = logging.WARNING - 10 * min(verbose, 2)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    )
    handler.addFilter(REDACT)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("syncd").setLevel(level)
    # urllib3 logs full URLs at DEBUG (never headers); keep it quiet below -vv.
    logging.getLogger("urllib3").setLevel(logging.DEBUG if verbose >= 3 else logging.WARNING)
