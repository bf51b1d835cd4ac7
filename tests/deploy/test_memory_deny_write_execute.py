"""deploy/systemd/syncd.service sets ``MemoryDenyWriteExecute=yes``: syncd must work without
writable and executable memory. A JIT, a libffi closure without static trampolines or a
library with text relocations would fail there, far from any test; these run syncd's code
paths under the same seccomp rule (``deny_write_execute.py``) in a subprocess: every
dependency imported, a chart drawn with matplotlib, the store migrated on SQLite and
PostgreSQL, and the offline demo (sync, evaluation, alerts) end to end.

The rule is written for x86_64 Linux; elsewhere these tests are skipped.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

HELPER = Path(__file__).with_name("deny_write_execute.py")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux" or platform.machine() != "x86_64",
                       reason="the seccomp rule is written for x86_64 Linux"),
]

WORKLOAD = """
import ctypes, io, sys, tempfile
import alembic, apscheduler, babel.numbers, hubspot, numpy, orjson, prometheus_client
import psycopg, pydantic, simple_salesforce, slack_sdk, sqlalchemy, xlsxwriter
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from syncd.store import Store

fig = Figure(figsize=(6.4, 3.2), dpi=100)
FigureCanvasAgg(fig)
ax = fig.add_subplot()
ax.plot([1, 2, 3], [1200, 1310, 1290], label="Panier moyen")
ax.set_title("Churn mensuel · 2 %")
png = io.BytesIO()
fig.savefig(png, format="png")
assert png.getvalue().startswith(b"\\x89PNG"), "no PNG"

x = numpy.arange(14.0)
slope, _ = numpy.polyfit(x, 3 * x + 1, 1)
assert abs(slope - 3) < 1e-9

callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda v: v + 1)
assert callback(1) == 2

url = sys.argv[1] if len(sys.argv) > 1 else None
with tempfile.TemporaryDirectory() as tmp:
    with Store.open(url or f"sqlite:///{tmp}/syncd.db"):
        pass
print("workload ok")
"""


def run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(HELPER), *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_the_rule_refuses_writable_executable_memory() -> None:
    code = ("import ctypes, mmap\n"
            "m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE)\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "address = ctypes.addressof(ctypes.c_char.from_buffer(m))\n"
            "assert libc.mprotect(ctypes.c_void_p(address), 4096, 5) == -1\n"
            "assert ctypes.get_errno() == 1\n")
    done = run(["-c", code], timeout=60)
    assert done.returncode == 0, done.stderr
    assert "deny-write-execute: active" in done.stderr


def test_syncd_code_paths_work_under_the_rule() -> None:
    done = run(["-c", WORKLOAD], timeout=180)
    assert done.returncode == 0, done.stderr
    assert "workload ok" in done.stdout


@pytest.mark.postgres
def test_postgresql_works_under_the_rule(pg_url: str) -> None:
    done = run(["-c", WORKLOAD, pg_url], timeout=180)
    assert done.returncode == 0, done.stderr
    assert "workload ok" in done.stdout


def test_the_demo_runs_under_the_rule(tmp_path: Path) -> None:
    done = run(["-m", "syncd", "demo", "--keep", str(tmp_path / "demo")], timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "deny-write-execute: active" in done.stderr
