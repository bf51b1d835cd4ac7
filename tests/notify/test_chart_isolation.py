"""A daemon renders its charts in a child process that exits after the report: the same
PNG bytes, and matplotlib never loaded in the daemon itself."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
from datetime import date
from rules.metric import Unit
from syncd.notify import chart
from syncd.notify.locale import Locale

data = chart.ChartData(
    title="Panier moyen", unit=Unit.MONEY, start=date(2026, 10, 1), end=date(2026, 12, 31),
    today=date(2026, 11, 23), actual=((date(2026, 10, 1), 1200.0), (date(2026, 11, 23), 1135.0)),
    expected=((date(2026, 10, 1), 1200.0), (date(2026, 12, 31), 1450.0)), target=1450.0)
loc = Locale.of("fr", "CHF", "Europe/Zurich")
chart.isolate()
with chart.worker():
    first = chart._render(data, loc)
    second = chart._render(data, loc)
assert first[:8] == b"\\x89PNG\\r\\n\\x1a\\n" and first == second, "not the same PNG"
assert "matplotlib" not in sys.modules, "matplotlib was loaded in the daemon's process"
chart.isolate(False)
assert chart._render(data, loc) == first  # the same bytes rendered in-process
print("ok", len(first))
"""


def test_charts_render_in_a_child_process_with_the_same_bytes() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("ok ")
