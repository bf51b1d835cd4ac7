"""DESIGN.md's dependency direction, enforced: syncd -> rules, syncd -> connectors, nothing back.

- ``rules`` and ``connectors`` never import ``syncd``, and never each other;
- ``rules`` imports no I/O library and never reads the clock (``now`` is a parameter).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

IO_MODULES = {
    "socket", "http", "urllib", "urllib3", "requests", "httpx", "aiohttp", "ssl",
    "sqlite3", "sqlalchemy", "sqlmodel", "psycopg", "psycopg2", "alembic",
    "hubspot", "simple_salesforce", "slack_sdk", "apscheduler",
    "subprocess", "os", "shutil", "pathlib", "io", "tempfile", "logging.handlers",
    "time", "threading", "asyncio", "multiprocessing", "select", "signal",
}
CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}


def imports_of(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def clock_reads(source: str) -> list[str]:
    reads = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in CLOCK_CALLS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in {"datetime", "date", "time"}
        ):
            reads.append(f"{node.func.value.id}.{node.func.attr}() line {node.lineno}")
    return reads


def violations(package: str) -> list[str]:
    bad = []
    files = sorted((ROOT / package).rglob("*.py"))
    for path in files:
        source = path.read_text()
        rel = path.relative_to(ROOT)
        for name in imports_of(source):
            top = name.split(".")[0]
            if top == "syncd":
                bad.append(f"{rel}: imports {name} (only syncd may import {package})")
            if package == "rules" and top == "connectors":
                bad.append(f"{rel}: imports {name} (rules and connectors stay apart)")
            if package == "connectors" and top == "rules":
                bad.append(f"{rel}: imports {name} (rules and connectors stay apart)")
            if package == "rules" and (name in IO_MODULES or top in IO_MODULES):
                bad.append(f"{rel}: imports the I/O library {name} (rules/ stays pure)")
        if package == "rules":
            bad.extend(f"{rel}: reads the clock with {r}" for r in clock_reads(source))
    return bad


@pytest.mark.parametrize("package", ["rules", "connectors"])
def test_package_respects_the_dependency_direction(package: str) -> None:
    assert list((ROOT / package).rglob("*.py")), f"{package}/ has no modules to check"
    assert violations(package) == []


def test_the_checker_catches_what_it_claims_to() -> None:
    offending = (
        "import sqlite3\nfrom syncd.store import Store\nfrom connectors.base import Deal\n"
        "from datetime import datetime\nx = datetime.now()\n"
    )
    names = imports_of(offending)
    assert {"sqlite3", "syncd.store", "connectors.base"} <= names
    assert clock_reads(offending) == ["datetime.now() line 5"]
