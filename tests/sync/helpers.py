"""Shared by the sync tests: compare two stores row by row, across dialects."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from syncd.store import tables

TABLES = ("owner", "pipeline", "stage", "company", "contact", "deal", "deal_stage_history",
          "deal_company")
VOLATILE = {"synced_at"}


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every record table as sorted rows (decoded by the store's own column types, so a
    PostgreSQL store and a SQLite store compare equal), without bookkeeping columns."""
    engine = sa.create_engine(url)
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for name in TABLES:
            table = tables.METADATA.tables[name]
            cols = [c for c in table.columns if c.name not in VOLATILE]
            rows = conn.execute(sa.select(*cols)).all()
            out[name] = sorted(tuple(_norm(v) for v in row) for row in rows)
    engine.dispose()
    return out


def _norm(value: Any) -> str:
    # SQLite hands back 14040 where PostgreSQL says 14040.0: the same money.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(float(value))
    return repr(value)
