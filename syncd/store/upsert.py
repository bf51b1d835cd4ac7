"""The write side: canonical records to rows, and dialect-native upsert statements.

Everything here is SQLAlchemy Core built once per :class:`~syncd.store.Store` and executed with
executemany (``INSERT ... ON CONFLICT (pk) DO UPDATE SET col = excluded.col``, native on SQLite
and PostgreSQL); no ORM object is ever made per row. The statements write_page runs per page
go through :class:`BulkInsert` (and on SQLite :class:`SQLiteRunner`), which cut the per-row
cost on both dialects.

Rows are tuples in the table's column order (``*_values`` builders, one per table, checked
against the tables at import), built straight from the records with the page's
:class:`Binding`: on SQLite that binding already applies what the column types would (UTC
text for datetimes, JSON text, floats, 1/0), so the tuples go to the driver as they are; on
PostgreSQL it leaves the values to SQLAlchemy's bind processing.

Row builders are defensive where bad CRM data would otherwise break a whole page:

* duplicate ids in one page keep the last record (one statement cannot upsert a row twice);
* a deal's repeated stage keeps its latest visit, repeated company ids are dropped;
* money the column cannot hold (NaN, infinity, 10^14 or more) is stored as NULL and
  reported in the record's ``problems``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import Insert

from connectors.base import Company, Contact, Deal, Owner, Pipeline, StageVisit, Tombstone
from syncd.store import tables
from syncd.store.types import MONEY_LIMIT, DayTexts, SQLiteTexts, bind_error

Row = dict[str, Any]
#: One row to write: its values in the table's column order, as the page's Binding made them.
Values = tuple[Any, ...]
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
      compiled (:attr:`sql`) runs through :class:`SQLiteRunner` with the rows as they are:
      the page's :class:`Binding` already made them what the column types bind.
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

    def __call__(self, conn: sa.Connection | SQLiteRunner, rows: Sequence[Values]) -> None:
        if isinstance(conn, SQLiteRunner):
            if rows:
                conn.executemany(self.sql, rows)
            return
        for batch in chunks(rows):
            arrays = zip(*batch, strict=True)
            conn.execute(self.stmt, {c: list(a) for c, a in zip(self.columns, arrays, strict=True)})


class SQLiteInsert:
    """An INSERT compiled once for SQLite and bound positionally from a mapping of values.

    Does for one row what SQLAlchemy's execute would: the columns' bind processors, and the
    scalar Python defaults of columns not given (``sync_state.records_seen``).
    """

    def __init__(
        self, stmt: Insert, table: sa.Table, dialect: Dialect, keys: Sequence[str]
    ) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
        self.sql = compiled.string
        defaults: dict[str, Any] = {}
        for col in compiled.insert_prefetch:
            if col.default is None or not col.default.is_scalar:
                raise ValueError(f"{col}: only scalar Python defaults are supported")
            defaults[col.key] = col.default.arg  # type: ignore[attr-defined]
        binds: list[tuple[str, Callable[[Any], Any] | None, Any]] = []
        for name in compiled.positiontup or ():
            if name not in keys and name not in defaults:
                raise ValueError(f"{table}: the statement binds {name}, which has no value")
            col = table.c[name]
            binds.append((name, col.type.dialect_impl(dialect).bind_processor(dialect),
                          defaults.get(name)))
        self._binds = tuple(binds)

    def params(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        bound = []
        for name, process, default in self._binds:
            value = values.get(name, default)
            if process is not None:
                try:
                    value = process(value)
                except (TypeError, ValueError) as exc:
                    raise bind_error(exc, self.sql) from exc
            bound.append(value)
        return tuple(bound)


def sqlite_in_json(table: sa.Table, column: str, dialect: Dialect, *, delete: bool) -> str:
    """``SELECT count(*)`` / ``DELETE`` of the rows whose ``column`` is in a JSON list.

    Bound with ONE parameter, the ids as JSON text (:func:`json_ids`): the SQL text is the
    same whatever the number of ids, so SQLite prepares it once per connection.
    """
    quote = dialect.identifier_preparer.quote
    where = f"WHERE {quote(column)} IN (SELECT value FROM json_each(?))"
    if delete:
        return f"DELETE FROM {quote(table.name)} {where}"
    return f"SELECT count(*) FROM {quote(table.name)} {where}"


def json_ids(ids: Sequence[str]) -> str:
    """The parameter of :func:`sqlite_in_json`."""
    return orjson.dumps(list(ids)).decode()


class SQLiteRunner:
    """Runs SQL text with positional parameters in ``conn``'s transaction, on SQLite.

    Straight on the DBAPI cursor: SQLAlchemy's per-statement work (execution context,
    parameter distilling, result wrapping: tens of µs) is much of a small statement's cost.
    When something listens to statement execution (``before_cursor_execute``,
    ``handle_error``, ...: tracing, tests that inject failures) every statement goes through
    ``exec_driver_sql`` instead, so that it sees exactly the same SQL and parameters. Driver
    errors are SQLAlchemy's ``DBAPIError`` subclasses either way.
    """

    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn
        events, dialect_events = conn.dispatch, conn.dialect.dispatch
        watched = (
            events.before_execute
            or events.after_execute
            or events.before_cursor_execute
            or events.after_cursor_execute
            or dialect_events.handle_error
            or dialect_events.do_execute
            or dialect_events.do_executemany
        )
        driver = conn.connection.driver_connection
        self._cursor: Any = None if watched or driver is None else driver.cursor()
        self._error: type[Exception] = conn.dialect.loaded_dbapi.Error

    def __enter__(self) -> SQLiteRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._cursor is not None:
            self._cursor.close()

    def fetchall(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        if self._cursor is None:
            result = self._conn.exec_driver_sql(sql, params)
            return list(result) if result.returns_rows else []
        try:
            rows: list[Any] = self._cursor.execute(sql, params).fetchall()
            return rows
        except self._error as exc:
            raise self._wrap(exc, sql, params, False) from exc

    def execute(self, sql: str, params: tuple[Any, ...]) -> None:
        self.fetchall(sql, params)

    def executemany(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        if self._cursor is None:
            self._conn.exec_driver_sql(sql, list(rows))
            return
        try:
            self._cursor.executemany(sql, rows)
        except self._error as exc:
            raise self._wrap(exc, sql, rows, True) from exc

    def _wrap(self, exc: Exception, sql: str, params: Any, many: bool) -> Exception:
        return sa.exc.DBAPIError.instance(
            sql, params, exc, self._error, dialect=self._conn.dialect, ismulti=many
        )


# --------------------------------------------------------------------------- binding


class _Memo(dict[Any, Any]):
    """``memo[value]``: ``convert(value)``, computed once per distinct value (then a dict hit).

    For hashable values whose equal values bind alike (flags). A failed conversion is raised
    as :func:`~syncd.store.types.bind_error` of ``statement``.
    """

    __slots__ = ("_convert", "_statement")

    def __init__(self, convert: Callable[[Any], Any], statement: str) -> None:
        super().__init__({None: convert(None)})
        self._convert = convert
        self._statement = statement

    def __missing__(self, value: Any) -> Any:
        try:
            bound = self[value] = self._convert(value)
        except (TypeError, ValueError) as exc:
            raise bind_error(exc, self._statement) from exc
        return bound


def _checked(convert: Callable[[Any], Any], statement: str) -> Callable[[Any], Any]:
    def bind(value: Any) -> Any:
        try:
            return convert(value)
        except (TypeError, ValueError) as exc:
            raise bind_error(exc, statement) from exc

    return bind


def _same(value: T) -> T:
    return value


class _Same:
    """``same[value] is value``: the lookups of a Binding that leaves values as they are."""

    __slots__ = ()

    def __getitem__(self, value: T) -> T:
        return value


class _Lookup(Protocol):
    def __getitem__(self, value: Any, /) -> Any: ...


class Binding:
    """What the rows of one page bind: built by :meth:`Binder.page`, used by the builders.

    ``when[datetime]``, ``flag[bool]``: lookups; ``json(value)``, ``real(number)``: calls;
    ``now``: the page's ``synced_at``, bound.
    """

    __slots__ = ("flag", "json", "now", "real", "when")

    def __init__(
        self,
        when: _Lookup,
        flag: _Lookup,
        json: Callable[[Any], Any],
        real: Callable[[Any], Any],
        now: Any,
    ) -> None:
        self.when, self.flag, self.json, self.real = when, flag, json, real
        self.now = when[now]


class Binder:
    """How one dialect binds the values of the written columns.

    SQLite: exactly what the column types' bind processors give (the rows then skip
    SQLAlchemy), converting each distinct datetime and flag once per page. PostgreSQL: the
    values themselves (SQLAlchemy binds them, with the unnest arrays).
    """

    def __init__(self, dialect: Dialect) -> None:
        self._sqlite = dialect.name == "sqlite"
        if not self._sqlite:
            return

        def processor(col: sa.Column[Any]) -> Callable[[Any], Any]:
            process = col.type.dialect_impl(dialect).bind_processor(dialect)
            assert process is not None, col
            return process

        self._days = DayTexts()
        self._flag = processor(tables.deal.c.archived)
        self._real = processor(tables.deal.c.amount)
        # What the JSON type's processor calls for a list or a dict (written values are
        # nothing else, or None), one call layer less; checked against it.
        self._to_json: Callable[[Any], str] = (
            getattr(dialect, "_json_serializer", None) or json.dumps
        )
        sample = {"a": [1, None, "é"], "b": {"c": 1.5}}
        if self._to_json(sample) != processor(tables.deal.c.custom)(sample):
            raise AssertionError("JSON is not bound as SQLAlchemy binds it")

    def page(self, now: Any, statement: str) -> Binding:
        """The binding of one page written at ``now``; errors name ``statement``."""
        if not self._sqlite:
            return Binding(_Same(), _Same(), _same, _same, now)
        to_json = self._to_json

        def bind_json(value: Any) -> str | None:
            if value is None:
                return None
            try:
                return to_json(value)
            except (TypeError, ValueError) as exc:
                raise bind_error(exc, statement) from exc

        return Binding(
            SQLiteTexts(self._days, statement),
            _Memo(self._flag, statement),
            bind_json,
            _checked(self._real, statement),
            now,
        )


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


def owner_values(rec: Owner, b: Binding) -> Values:
    return (
        rec.id,
        rec.email,
        rec.first_name,
        rec.last_name,
        rec.user_id,
        b.json(list(rec.teams)),
        b.flag[rec.archived],
        b.now,
    )


def pipeline_values(rec: Pipeline, b: Binding) -> Values:
    return (rec.id, rec.label, rec.display_order, b.flag[rec.archived])


def stage_values(rec: Pipeline, b: Binding) -> list[Values]:
    """The pipeline's stages, keyed by the pipeline's id (last one wins on a repeated id)."""
    flag, real = b.flag, b.real
    rows = {
        st.id: (
            rec.id,
            st.id,
            st.label,
            st.display_order,
            real(st.probability),
            flag[st.is_closed],
            flag[st.is_won],
        )
        for st in rec.stages
    }
    return list(rows.values())


def deal_values(rec: Deal, b: Binding) -> Values:
    problems = list(rec.problems)
    amount = _money(rec.amount, "amount", problems)
    mrr = _money(rec.mrr, "mrr", problems)
    when, real, json = b.when, b.real, b.json
    return (
        rec.id,
        rec.name,
        real(amount),
        rec.currency,
        rec.pipeline_id,
        rec.stage_id,
        rec.owner_id,
        when[rec.created_at],
        when[rec.close_date],
        real(mrr),
        rec.deal_type,
        when[rec.modified_at],
        json(dict(rec.custom)),
        b.flag[rec.archived],
        when[rec.archived_at],
        json(problems) if problems else None,
        b.now,
        *last_visits(rec, when),
        *companies(rec),
    )


def last_visits(rec: Deal, when: _Lookup) -> tuple[Any, Any, Any, Any]:
    """(stage, entered at) of the last and of the previous visit the history keeps (one per
    stage, :func:`deal_history_values`), latest first (ties: the greater stage id): what
    ``deal.last_visit_*`` and ``deal.prev_visit_*`` keep of it; None where there is none."""
    kept = _latest_per_stage(rec)
    if not kept:
        return None, None, None, None
    if len(kept) == 1:
        (only,) = kept
        return only.stage_id, when[only.entered_at], None, None
    last, prev = sorted(kept, key=lambda v: (v.entered_at, v.stage_id), reverse=True)[:2]
    return last.stage_id, when[last.entered_at], prev.stage_id, when[prev.entered_at]


def companies(rec: Deal) -> tuple[int, str | None]:
    """(how many companies, the company if just one): what ``deal.company_count`` and
    ``deal.sole_company_id`` keep of the deal's links."""
    ids = dict.fromkeys(rec.company_ids)
    return len(ids), next(iter(ids)) if len(ids) == 1 else None


def _latest_per_stage(rec: Deal) -> list[StageVisit]:
    """The deal's visits, a stage visited twice by its latest visit."""
    latest: dict[str, StageVisit] = {}
    for visit in rec.stage_history:
        seen = latest.get(visit.stage_id)
        if seen is None or visit.entered_at >= seen.entered_at:
            latest[visit.stage_id] = visit
    return list(latest.values())


def deal_history_values(rec: Deal, b: Binding) -> list[Values]:
    """One row per stage: a stage visited twice keeps its latest visit."""
    when = b.when
    return [(rec.id, v.stage_id, when[v.entered_at], when[v.exited_at])
            for v in _latest_per_stage(rec)]


def deal_company_values(rec: Deal, b: Binding) -> list[Values]:
    return [(rec.id, cid) for cid in dict.fromkeys(rec.company_ids)]


def company_values(rec: Company, b: Binding) -> Values:
    when, json = b.when, b.json
    return (
        rec.id,
        rec.name,
        rec.domain,
        rec.segment,
        rec.lifecycle_stage,
        when[rec.customer_since],
        when[rec.churned_at],
        rec.owner_id,
        when[rec.created_at],
        when[rec.modified_at],
        json(dict(rec.custom)),
        b.flag[rec.archived],
        when[rec.archived_at],
        json(list(rec.problems)) if rec.problems else None,
        b.now,
    )


def contact_values(rec: Contact, b: Binding) -> Values:
    when, json = b.when, b.json
    return (
        rec.id,
        rec.email,
        rec.lifecycle_stage,
        rec.company_id,
        rec.owner_id,
        when[rec.created_at],
        when[rec.modified_at],
        when[rec.became_lead_at],
        when[rec.became_mql_at],
        when[rec.became_sql_at],
        when[rec.became_opportunity_at],
        when[rec.became_customer_at],
        json(dict(rec.custom)),
        b.flag[rec.archived],
        when[rec.archived_at],
        json(list(rec.problems)) if rec.problems else None,
        b.now,
    )


#: The column order of each builder's tuples; checked against the tables below.
COLUMNS: dict[str, tuple[str, ...]] = {
    "owner": ("id", "email", "first_name", "last_name", "user_id", "teams", "archived",
              "synced_at"),
    "pipeline": ("id", "label", "display_order", "archived"),
    "stage": ("pipeline_id", "id", "label", "display_order", "probability", "is_closed",
              "is_won"),
    "deal": ("id", "name", "amount", "currency", "pipeline_id", "stage_id", "owner_id",
             "created_at", "close_date", "mrr", "deal_type", "modified_at", "custom",
             "archived", "archived_at", "problems", "synced_at", "last_visit_stage_id",
             "last_visit_at", "prev_visit_stage_id", "prev_visit_at", "company_count",
             "sole_company_id"),
    "deal_stage_history": ("deal_id", "stage_id", "entered_at", "exited_at"),
    "deal_company": ("deal_id", "company_id"),
    "company": ("id", "name", "domain", "segment", "lifecycle_stage", "customer_since",
                "churned_at", "owner_id", "created_at", "modified_at", "custom", "archived",
                "archived_at", "problems", "synced_at"),
    "contact": ("id", "email", "lifecycle_stage", "company_id", "owner_id", "created_at",
                "modified_at", "became_lead_at", "became_mql_at", "became_sql_at",
                "became_opportunity_at", "became_customer_at", "custom", "archived",
                "archived_at", "problems", "synced_at"),
}
for _name, _columns in COLUMNS.items():
    if tuple(c.name for c in tables.METADATA.tables[_name].columns) != _columns:
        raise AssertionError(f"upsert.COLUMNS[{_name!r}] does not follow the table's columns")


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


ValuesBuilder = Callable[[Any, Binding], Values]
