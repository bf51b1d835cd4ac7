"""The write side: canonical records to rows, and dialect-native upsert statements.

Everything here is SQLAlchemy Core built once per :class:`~syncd.store.Store` and executed with
executemany (``INSERT ... ON CONFLICT (pk) DO UPDATE SET col = excluded.col``, native on SQLite
and PostgreSQL); no ORM object is ever made per row. The statements write_page runs per page
go through :class:`BulkInsert`, which cuts the per-row cost on both dialects.

Row builders are defensive where bad CRM data would otherwise break a whole page:

* duplicate ids in one page keep the last record (one statement cannot upsert a row twice);
* a deal's repeated stage keeps its latest visit, repeated company ids are dropped;
* money the column cannot hold (NaN, infinity, 10^14 or more) is stored as NULL and
  reported in the record's ``problems``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import Insert

from connectors.base import Company, Contact, Deal, Owner, Pipeline, StageVisit, Tombstone
from syncd.store.types import MONEY_LIMIT

Row = dict[str, Any]
T = TypeVar("T")

#: Rows per executemany call and ids per ``IN (...)`` list: far below SQLite's 32,766 bound
#: parameters and PostgreSQL's 65,535, large enough that a normal page is one statement.
BATCH = 1000


def chunks(items: Sequence[T], size: int = BATCH) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --------------------------------------------------------------------------- statements


def insert(dialect: str, table: sa.Table) -> Insert:
    """``INSERT`` in the dialect's own flavour (the one with ``on_conflict_do_update``)."""
    if dialect == "sqlite":
        return sqlite.insert(table)
    if dialect == "postgresql":
        return postgresql.insert(table)
    raise ValueError(f"unsupported dialect {dialect!r}")


def in_ids(column: sa.ColumnElement[str], dialect: str) -> sa.ColumnElement[bool]:
    """``column IN (:ids)``, bound as a list of strings under the name ``ids``.

    PostgreSQL gets ``column = ANY(:ids)``: one array parameter instead of one per id, so the
    statement text is the same whatever the number of ids and psycopg prepares it once.
    """
    if dialect == "postgresql":
        return column == sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(sa.String())))
    return column.in_(sa.bindparam("ids", expanding=True))


def upsert(
    dialect: str,
    table: sa.Table,
    columns: Iterable[str] | None = None,
    *,
    set_: Mapping[str, Any] | None = None,
    where: sa.ColumnElement[bool] | None = None,
) -> Insert:
    """``INSERT ... ON CONFLICT (primary key) DO UPDATE``.

    By default every non-key column in ``columns`` (all of them when None) takes the incoming
    value; ``set_`` overrides with expressions (``excluded`` is the incoming row).
    """
    return on_conflict_update(insert(dialect, table), table, columns, set_=set_, where=where)


def on_conflict_update(
    stmt: Insert,
    table: sa.Table,
    columns: Iterable[str] | None = None,
    *,
    set_: Mapping[str, Any] | None = None,
    where: sa.ColumnElement[bool] | None = None,
) -> Insert:
    """Add ``ON CONFLICT (primary key) DO UPDATE`` to a dialect's ``INSERT`` (see upsert)."""
    keys = [col.name for col in table.primary_key.columns]
    names = [c.name for c in table.columns] if columns is None else list(columns)
    excluded = stmt.excluded  # type: ignore[attr-defined]
    values: dict[str, Any] = {name: excluded[name] for name in names if name not in keys}
    if set_:
        values.update(set_)
    return stmt.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=keys, set_=values, where=where
    )


def _array_of(item: sa.types.TypeEngine[Any]) -> postgresql.ARRAY[Any]:
    # dimensions=1: a JSON value that is itself a list (``problems``, ``teams``) is one
    # element, not a second dimension for SQLAlchemy to descend into.
    return postgresql.ARRAY(item, dimensions=1)


class BulkInsert:
    """Many rows into every column of one table: a plain INSERT, or an upsert on the key.

    A page of 100 deals is ~900 rows (deals, stage visits, company links), so the generic
    path, ``conn.execute(stmt, list_of_dicts)``, is too slow on both dialects:

    * PostgreSQL: psycopg's executemany pipelines one statement per row, each planned and run
      on its own by the server. Here the rows travel as one array per column, in one
      statement per :data:`BATCH` rows: ``INSERT ... SELECT * FROM unnest(:id::VARCHAR[], ...)``
      (one round trip, which also matters when the server is not on localhost).
    * SQLite: SQLAlchemy spends ~2 µs per row on generic parameter handling. Here the SQL it
      compiled runs through ``exec_driver_sql`` with row tuples, after the bind processors of
      the column types (``UTCDateTime``, JSON, ...) were applied in a tight loop: the driver
      receives exactly the values SQLAlchemy would send.
    """

    def __init__(self, table: sa.Table, dialect: Dialect, *, upsert: bool) -> None:
        self.table = table
        self.columns = tuple(col.name for col in table.columns)
        self._postgresql = dialect.name == "postgresql"
        stmt: Insert
        if self._postgresql:
            arrays = [sa.bindparam(c.name, type_=_array_of(c.type)) for c in table.columns]
            rows = sa.func.unnest(*arrays).table_valued(*self.columns).render_derived()
            stmt = postgresql.insert(table).from_select(self.columns, sa.select(*rows.c))
        else:
            stmt = insert(dialect.name, table)
        self.stmt = on_conflict_update(stmt, table) if upsert else stmt
        compiled = self.stmt.compile(dialect=dialect, column_keys=list(self.columns))
        if not self._postgresql and list(compiled.positiontup or ()) != list(self.columns):
            raise ValueError(f"{table.name}: the statement binds {compiled.positiontup}")
        self.sql = compiled.string
        self._pick = itemgetter(*self.columns)  # a tuple: every table has 2 columns or more
        processors = []
        for index, col in enumerate(table.columns):
            proc = col.type.dialect_impl(dialect).bind_processor(dialect)
            if proc is not None:
                processors.append((index, proc))
        self._processors = tuple(processors)

    def __call__(self, conn: sa.Connection, rows: Sequence[Row]) -> None:
        for batch in chunks(rows):
            if self._postgresql:
                conn.execute(self.stmt, {c: [row[c] for row in batch] for c in self.columns})
            else:
                conn.exec_driver_sql(self.sql, self._encode(batch))

    def _encode(self, batch: Sequence[Row]) -> list[tuple[Any, ...]]:
        try:
            return self._process(batch)
        except (TypeError, ValueError) as exc:
            # As SQLAlchemy reports a bind processor's error (e.g. a naive datetime).
            name = f"{type(exc).__module__}.{type(exc).__name__}"
            raise sa.exc.StatementError(f"({name}) {exc}", self.sql, None, exc) from exc

    def _process(self, batch: Sequence[Row]) -> list[tuple[Any, ...]]:
        pick, processors = self._pick, self._processors
        params = []
        for row in batch:
            values = list(pick(row))
            for index, proc in processors:
                values[index] = proc(values[index])
            params.append(tuple(values))
        return params


# --------------------------------------------------------------------------- rows


def _money(value: Decimal | float | None, name: str, problems: list[str]) -> Decimal | float | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        storable = value.is_finite() and abs(value) < MONEY_LIMIT
    else:
        storable = math.isfinite(value) and abs(value) < MONEY_LIMIT
    if storable:
        return value
    problems.append(f"{name}: {value} is out of the storable range (|x| < 1e14)")
    return None


def owner_row(rec: Owner, now: datetime) -> Row:
    return {
        "id": rec.id,
        "email": rec.email,
        "first_name": rec.first_name,
        "last_name": rec.last_name,
        "user_id": rec.user_id,
        "teams": list(rec.teams),
        "archived": rec.archived,
        "synced_at": now,
    }


def pipeline_row(rec: Pipeline, now: datetime) -> Row:
    return {
        "id": rec.id,
        "label": rec.label,
        "display_order": rec.display_order,
        "archived": rec.archived,
    }


def stage_rows(rec: Pipeline) -> list[Row]:
    """The pipeline's stages, keyed by the pipeline's id (last one wins on a repeated id)."""
    rows = {
        st.id: {
            "pipeline_id": rec.id,
            "id": st.id,
            "label": st.label,
            "display_order": st.display_order,
            "probability": st.probability,
            "is_closed": st.is_closed,
            "is_won": st.is_won,
        }
        for st in rec.stages
    }
    return list(rows.values())


def deal_row(rec: Deal, now: datetime) -> Row:
    problems = list(rec.problems)
    amount = _money(rec.amount, "amount", problems)
    mrr = _money(rec.mrr, "mrr", problems)
    return {
        "id": rec.id,
        "name": rec.name,
        "amount": amount,
        "currency": rec.currency,
        "pipeline_id": rec.pipeline_id,
        "stage_id": rec.stage_id,
        "owner_id": rec.owner_id,
        "created_at": rec.created_at,
        "close_date": rec.close_date,
        "mrr": mrr,
        "deal_type": rec.deal_type,
        "modified_at": rec.modified_at,
        "custom": dict(rec.custom),
        "archived": rec.archived,
        "archived_at": rec.archived_at,
        "problems": problems or None,
        "synced_at": now,
    }


def deal_history_rows(rec: Deal) -> list[Row]:
    """One row per stage: a stage visited twice keeps its latest visit."""
    latest: dict[str, StageVisit] = {}
    for visit in rec.stage_history:
        seen = latest.get(visit.stage_id)
        if seen is None or visit.entered_at >= seen.entered_at:
            latest[visit.stage_id] = visit
    return [
        {
            "deal_id": rec.id,
            "stage_id": v.stage_id,
            "entered_at": v.entered_at,
            "exited_at": v.exited_at,
        }
        for v in latest.values()
    ]


def deal_company_rows(rec: Deal) -> list[Row]:
    return [{"deal_id": rec.id, "company_id": cid} for cid in dict.fromkeys(rec.company_ids)]


def company_row(rec: Company, now: datetime) -> Row:
    return {
        "id": rec.id,
        "name": rec.name,
        "domain": rec.domain,
        "segment": rec.segment,
        "lifecycle_stage": rec.lifecycle_stage,
        "customer_since": rec.customer_since,
        "churned_at": rec.churned_at,
        "owner_id": rec.owner_id,
        "created_at": rec.created_at,
        "modified_at": rec.modified_at,
        "custom": dict(rec.custom),
        "archived": rec.archived,
        "archived_at": rec.archived_at,
        "problems": list(rec.problems) or None,
        "synced_at": now,
    }


def contact_row(rec: Contact, now: datetime) -> Row:
    return {
        "id": rec.id,
        "email": rec.email,
        "lifecycle_stage": rec.lifecycle_stage,
        "company_id": rec.company_id,
        "owner_id": rec.owner_id,
        "created_at": rec.created_at,
        "modified_at": rec.modified_at,
        "became_lead_at": rec.became_lead_at,
        "became_mql_at": rec.became_mql_at,
        "became_sql_at": rec.became_sql_at,
        "became_opportunity_at": rec.became_opportunity_at,
        "became_customer_at": rec.became_customer_at,
        "custom": dict(rec.custom),
        "archived": rec.archived,
        "archived_at": rec.archived_at,
        "problems": list(rec.problems) or None,
        "synced_at": now,
    }


def tombstone_row(table: sa.Table, rec: Tombstone, now: datetime) -> Row:
    """The columns a tombstone sets: the minimal archived row of a record never seen.

    ``archived_at`` is the CRM's date, or ``now`` (when syncd learnt of it) if it gave none.
    """
    row: Row = {"id": rec.id, "archived": True}
    if "archived_at" in table.c:
        row["archived_at"] = rec.archived_at or now
    if "synced_at" in table.c:
        row["synced_at"] = now
    return row


RowBuilder = Callable[[Any, datetime], Row]
