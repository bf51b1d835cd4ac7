"""syncd's database: SQLModel tables, alembic migrations, dialect-native upserts, sync state.

Use :meth:`Store.open` (it migrates); the table objects are in :mod:`syncd.store.tables` for
the metric queries.
"""

from __future__ import annotations

from syncd.store.migrate import StoreError
from syncd.store.store import PageResult, Store, SyncRunInfo, SyncState

__all__ = ["PageResult", "Store", "StoreError", "SyncRunInfo", "SyncState"]
