"""Logging set-up for the entry points (handlers are configured here and nowhere else).

Two formats on one stream (stderr by default):

- ``text``: ``12:00:01 INFO syncd.sync: [run 3f2a1c] message``, for a person at a terminal;
- ``json``: one JSON object per line (``ts`` in UTC, ``level``, ``logger``, ``message``,
  ``run_id``, and ``exc`` / ``stack`` when there is one), for journald, a container runtime
  or a log shipper;
- ``auto``: text when the stream is a terminal, JSON lines otherwise (under a service).

The run id: the daemon wraps each cycle in ``with run_context(new_run_id()):``; every line
logged inside it carries the id, in both formats. Helper threads the cycle starts (the sync's
page fetcher, a writer) do not inherit a context variable, so lines without one of their own
fall back to the run the process is in (the outermost active ``run_context``).

A :class:`RedactFilter` on the handler replaces every registered secret (tokens, passwords,
webhook URLs) with ``***`` in the final message, and both formatters redact the exception
and stack text too, as a last line of defence: code never logs secrets on purpose.
"""

from __future__ import annotations

import contextvars
import json
import logging
import secrets
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

LogFormat = Literal["auto", "text", "json"]


class RedactFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def add(self, values: Iterable[str | None]) -> None:
        self.secrets.update(v for v in values if v and len(v) >= 6)

    def redact(self, text: str) -> str:
        """``text`` with every registered secret replaced by ``***`` (longest first, so a
        secret containing another is replaced whole)."""
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            redacted = self.redact(message)
            if redacted != message:
                record.msg, record.args = redacted, None
        return True


REDACT = RedactFilter()

# --------------------------------------------------------------------------- run id

_RUN_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("syncd_run_id", default=None)
_process_run: str | None = None
_process_lock = threading.Lock()


def new_run_id() -> str:
    """A short random id for one cycle (6 hex digits: enough to tell a day's runs apart)."""
    return secrets.token_hex(3)


def current_run_id() -> str | None:
    """The run id of this context, else the run the process is in, else None."""
    return _RUN_ID.get() or _process_run


@contextmanager
def run_context(run_id: str | None = None) -> Iterator[str]:
    """Tag every log line inside the block with ``run_id`` (a new one when None)."""
    global _process_run
    run_id = run_id or new_run_id()
    token = _RUN_ID.set(run_id)
    with _process_lock:
        owner = _process_run is None
        if owner:
            _process_run = run_id
    try:
        yield run_id
    finally:
        _RUN_ID.reset(token)
        if owner:
            with _process_lock:
                _process_run = None


class RunIdFilter(logging.Filter):
    """Sets ``record.run_id`` (None outside a run) for the formatters."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "run_id", None) is None:
            record.run_id = current_run_id()
        return True


# --------------------------------------------------------------------------- formatters


class TextFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL logger: [run id] message``, secrets redacted everywhere (the message,
    the exception and the stack)."""

    def __init__(self, redact: RedactFilter = REDACT) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s: %(run_prefix)s%(message)s", "%H:%M:%S"
        )
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        run_id = getattr(record, "run_id", None)
        record.run_prefix = f"[run {run_id}] " if run_id else ""
        return self._redact.redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line; every string redacted before encoding (so a secret is found
    even when JSON would have escaped one of its characters)."""

    def __init__(self, redact: RedactFilter = REDACT) -> None:
        super().__init__()
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC)
        data: dict[str, Any] = {
            "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": self._redact.redact(record.getMessage()),
            "run_id": getattr(record, "run_id", None),
        }
        if record.exc_info:
            data["exc"] = self._redact.redact(self.formatException(record.exc_info))
        elif record.exc_text:
            data["exc"] = self._redact.redact(record.exc_text)
        if record.stack_info:
            data["stack"] = self._redact.redact(self.formatStack(record.stack_info))
        return json.dumps(data, ensure_ascii=False, default=str)


def _chosen(fmt: LogFormat, stream: TextIO) -> Literal["text", "json"]:
    if fmt != "auto":
        return fmt
    isatty = getattr(stream, "isatty", None)
    try:
        return "text" if isatty is not None and isatty() else "json"
    except ValueError:  # a closed stream
        return "json"


def setup_logging(verbose: int = 0, fmt: LogFormat = "text",
                  stream: TextIO | None = None) -> logging.Handler:
    """One handler on the root logger, writing to ``stream`` (stderr) in ``fmt``; syncd's
    level is DEBUG with -vv, INFO with -v, WARNING otherwise. Returns the handler."""
    if fmt not in ("auto", "text", "json"):
        raise ValueError(f"log format {fmt!r} is not one of auto, text, json")
    stream = stream if stream is not None else sys.stderr
    level = logging.WARNING - 10 * min(verbose, 2)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if _chosen(fmt, stream) == "json" else TextFormatter())
    handler.addFilter(REDACT)
    handler.addFilter(RunIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("syncd").setLevel(level)
    # urllib3 logs full URLs at DEBUG (never headers); keep it quiet below -vv.
    logging.getLogger("urllib3").setLevel(logging.DEBUG if verbose >= 3 else logging.WARNING)
    return handler


__all__ = [
    "REDACT",
    "JsonFormatter",
    "LogFormat",
    "RedactFilter",
    "RunIdFilter",
    "TextFormatter",
    "current_run_id",
    "new_run_id",
    "run_context",
    "setup_logging",
]
