"""Alembic environment for syncd's schema.

Run only through :func:`syncd.store.migrate.upgrade` (``Store.open`` calls it): the caller
hands over an open connection, already inside the transaction that holds the migration lock,
in ``config.attributes["connection"]``. There is no ``alembic.ini`` and no offline mode.

A new migration is written by hand in ``versions/`` (``NNNN_<what>.py``, ``down_revision`` the
previous one). ``tests/store/test_migrations.py`` fails until the migrated schema matches the
tables in ``syncd/store/tables.py`` on SQLite and PostgreSQL.
"""

from __future__ import annotations

from alembic import context

from syncd.store.migrate import VERSION_TABLE
from syncd.store.tables import METADATA


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None or context.is_offline_mode():
        raise RuntimeError(
            "syncd's migrations run from syncd.store.migrate.upgrade (Store.open), "
            "not from the alembic command line"
        )
    context.configure(
        connection=connection,
        target_metadata=METADATA,
        version_table=VERSION_TABLE,
        # SQLite cannot ALTER most things: alembic's batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
