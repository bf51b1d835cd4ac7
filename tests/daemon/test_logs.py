"""Logs: JSON lines under a service, text on a terminal, the run id on every line (also from a
helper thread of the run), and registered secrets never written, in a message or a traceback."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections.abc import Iterator
from datetime import datetime

import pytest

from syncd.logs import REDACT, current_run_id, new_run_id, run_context, setup_logging

# A quote and a backslash: JSON escapes them, so redacting after encoding would miss it.
SECRET = 'pat-eu1-"s3cr3t\\token'
log = logging.getLogger("syncd.test.logs")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """setup_logging configures the process: put everything back after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in ("syncd", "urllib3")}
    secrets = set(REDACT.secrets)
    REDACT.add([SECRET])
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)
    REDACT.secrets.clear()
    REDACT.secrets.update(secrets)


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def fail_with_secret() -> None:
    try:
        raise RuntimeError(f"HubSpot refused token {SECRET}")
    except RuntimeError:
        log.exception("sync failed with %s", SECRET)


def test_json_lines_carry_the_run_id_and_the_fields_a_shipper_needs() -> None:
    stream = io.StringIO()
    setup_logging(1, "json", stream)
    log.info("before the run")
    with run_context("3f2a1c") as run_id:
        assert run_id == current_run_id() == "3f2a1c"
        log.warning("synced %d records of %s", 12, "deals")
    log.debug("not shown at -v")
    records = [json.loads(line) for line in lines(stream)]
    assert [r["message"] for r in records] == ["before the run", "synced 12 records of deals"]
    assert [r["run_id"] for r in records] == [None, "3f2a1c"]
    assert records[1]["level"] == "WARNING" and records[1]["logger"] == "syncd.test.logs"
    ts = datetime.fromisoformat(records[1]["ts"])
    assert ts.utcoffset() is not None and ts.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert records[1]["ts"].endswith("Z")
    assert "exc" not in records[1]


def test_text_lines_carry_the_run_id_when_there_is_one() -> None:
    stream = io.StringIO()
    setup_logging(1, "text", stream)
    with run_context("abc123"):
        log.info("cycle ok in %.1f s", 2.0)
    log.info("idle")
    first, second = lines(stream)
    assert re.fullmatch(r"\d\d:\d\d:\d\d INFO syncd\.test\.logs: \[run abc123\] cycle ok in 2\.0 s",
                        first)
    assert second.endswith("syncd.test.logs: idle") and "[run" not in second


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_secret_never_reaches_the_log_in_a_message_or_a_traceback(fmt: str) -> None:
    stream = io.StringIO()
    setup_logging(0, fmt, stream)  # type: ignore[arg-type]
    with run_context("feed01"):
        fail_with_secret()
    out = stream.getvalue()
    assert SECRET not in out
    assert "s3cr3t" not in out
    assert "RuntimeError: HubSpot refused token ***" in (
        json.loads(out)["exc"] if fmt == "json" else out)
    if fmt == "json":
        record = json.loads(out)
        assert record["message"] == "sync failed with ***"
        assert record["run_id"] == "feed01" and "Traceback" in record["exc"]
    else:
        assert "[run feed01] sync failed with ***" in out


def test_auto_is_text_on_a_terminal_and_json_lines_otherwise() -> None:
    terminal, pipe = Terminal(), io.StringIO()
    setup_logging(1, "auto", terminal)
    log.info("hello")
    setup_logging(1, "auto", pipe)
    log.info("hello")
    assert lines(terminal)[0].endswith("syncd.test.logs: hello")
    assert json.loads(lines(pipe)[0])["message"] == "hello"


def test_the_default_stays_text_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(1)
    log.info("plain")
    assert capsys.readouterr().err.rstrip().endswith("INFO syncd.test.logs: plain")


def test_a_helper_thread_of_the_run_logs_with_its_run_id() -> None:
    stream = io.StringIO()
    setup_logging(1, "json", stream)
    with run_context("77aa00"):
        helper = threading.Thread(target=lambda: log.info("page fetched"))
        helper.start()
        helper.join()
    helper = threading.Thread(target=lambda: log.info("after the run"))
    helper.start()
    helper.join()
    assert [json.loads(line)["run_id"] for line in lines(stream)] == ["77aa00", None]


def test_run_contexts_nest_and_restore() -> None:
    with run_context() as outer:
        assert re.fullmatch(r"[0-9a-f]{6}", outer)
        with run_context("inner1"):
            assert current_run_id() == "inner1"
        assert current_run_id() == outer
    assert current_run_id() is None
    assert len({new_run_id() for _ in range(50)}) > 45


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="auto, text, json"):
        setup_logging(0, "yaml", io.StringIO())  # type: ignore[arg-type]
