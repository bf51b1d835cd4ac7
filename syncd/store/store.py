"""The Store: syncd's database, as the sync engine sees it.

``Store.open(url)`` connects, migrates to the newest schema and returns a store whose methods
each run in one transaction. A page of records and its checkpoint commit together
(:meth:`Store.write_page`), so a crash loses nothing and duplicates nothing.

Errors::

    syncd.errors.SyncdError
    └── StoreError    one line for the user: what is wrong, where, what to check. Never
                      contains a password: URLs are shown as ``user:***@host``. Raised by
                      ``Store.open`` (defined in ``syncd.store.migrate``).

Programming errors (a naive datetime, a tombstone given to ``write_page``, an unknown object
name) raise ``ValueError``/``TypeError`` as usual.

SQLite: WAL journal, ``synchronous=NORMAL``, checkpoints every 4,000 WAL pages, 30 s busy
timeout, foreign keys off (records may name ids not synced yet). syncd emits ``BEGIN`` itself
(the Python 3.11 driver would not before a SELECT), ``BEGIN IMMEDIATE`` for the store's writes
so that concurrent writers queue on the busy timeout instead of failing. PostgreSQL: sessions
run with ``TimeZone=UTC`` so ``date_trunc``/``extract`` agree with SQLite's UTC text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connectors.base import Company, Contact, Deal, Owner, Pipeline, Record, Tombstone
from syncd.store import migrate, tables
from syncd.store import upsert as up

log = logging.getLogger("syncd.store")


@dataclass(frozen=True, slots=True)
class PageResult:
    created: int
    updated: int
    with_problems: int


@dataclass(frozen=True, slots=True)
class SyncState:
    """A copy of one ``sync_state`` row: where (source, object) stands."""

    source: str
    object: str
    cursor: dict[str, Any] | None
    last_success_at: datetime | None
    last_run_id: int | None
    last_error: str | None
    last_error_at: datetime | None
    records_seen: int
    last_reconcile_at: datetime | None

    @property
    def failing(self) -> bool:
        """The last outcome was an error."""
        if self.last_error_at is None:
            return False
        return self.last_success_at is None or self.last_error_at > self.last_success_at


@dataclass(frozen=True, slots=True)
class SyncRunInfo:
    id: int
    source: str
    kind: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    summary: dict[str, Any] | None
    error: str | None


@dataclass(frozen=True, slots=True)
class _Child:
    """Rows write_page replaces with each record: deleted by ``key``, then inserted anew."""

    table: sa.Table
    key: str
    values: Callable[[Any, up.Binding], list[up.Values]]


@dataclass(frozen=True, slots=True)
class _ObjectSpec:
    table: sa.Table
    kind: type
    values: up.ValuesBuilder
    children: tuple[_Child, ...] = ()

    @property
    def written(self) -> tuple[str, ...]:
        """Every table write_page writes for this object."""
        return (self.table.name, *(child.table.name for child in self.children))


_OBJECTS: dict[str, _ObjectSpec] = {
    "owners": _ObjectSpec(tables.owner, Owner, up.owner_values),
    "pipelines": _ObjectSpec(
        tables.pipeline,
        Pipeline,
        up.pipeline_values,
        (_Child(tables.stage, "pipeline_id", up.stage_values),),
    ),
    "companies": _ObjectSpec(tables.company, Company, up.company_values),
    "contacts": _ObjectSpec(tables.contact, Contact, up.contact_values),
    "deals": _ObjectSpec(
        tables.deal,
        Deal,
        up.deal_values,
        (
            _Child(tables.deal_stage_history, "deal_id", up.deal_history_values),
            _Child(tables.deal_company, "deal_id", up.deal_company_values),
        ),
    ),
}
#: PostgreSQL: rows written to an object's tables (by this process) after which its tables
#: are analysed; each time the next threshold is ten times higher. See Store._analyze.
_FIRST_ANALYZE = 5_000
_TABLE_OF_OBJECT = {name: spec.table.name for name, spec in _OBJECTS.items()}
_MAX_ERROR_CHARS = 4000


def _spec(obj: str) -> _ObjectSpec:
    try:
        return _OBJECTS[obj]
    except KeyError:
        raise ValueError(f"unknown object {obj!r}: expected one of {sorted(_OBJECTS)}") from None


class Store:
    """syncd's database. Create with :meth:`open`; every method is one transaction."""

    dialect: str
    engine: sa.Engine
    #: The URL with its password masked: safe to log and show.
    url: str

    def __init__(self, engine: sa.Engine, url: str) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.url = url
        self._written: dict[str, int] = {}
        self._analyze_at: dict[str, int] = {}
        self._writer = engine.execution_options(**{migrate.SQLITE_BEGIN: "IMMEDIATE"})
        d = self.dialect

        def bulk(table: sa.Table, *, upsert: bool = False) -> up.BulkInsert:
            return up.BulkInsert(table, engine.dialect, upsert=upsert)

        self._binder = up.Binder(engine.dialect)
        self._upserts = {name: bulk(s.table, upsert=True) for name, s in _OBJECTS.items()}
        #: Per object, per child table: how write_page deletes its rows (by the parents' ids)
        #: and inserts the new ones.
        self._insert_children = {
            name: [bulk(child.table) for child in spec.children] for name, spec in _OBJECTS.items()
        }
        self._delete_children = {
            name: [
                sa.delete(child.table).where(up.in_ids(child.table.c[child.key], d))
                for child in spec.children
            ]
            for name, spec in _OBJECTS.items()
        }
        self._problems_at = {
            name: up.COLUMNS[s.table.name].index("problems")
            for name, s in _OBJECTS.items()
            if "problems" in s.table.c
        }
        self._count_ids = {
            n: sa.select(sa.func.count()).select_from(s.table).where(up.in_ids(s.table.c.id, d))
            for n, s in _OBJECTS.items()
        }
        # SQLite: the same as SQL text, bound with the ids as one JSON list.
        self._sqlite_count_ids = {
            n: up.sqlite_in_json(s.table, "id", engine.dialect, delete=False)
            for n, s in _OBJECTS.items()
        }
        self._sqlite_delete_children = {
            n: [up.sqlite_in_json(c.table, c.key, engine.dialect, delete=True) for c in s.children]
            for n, s in _OBJECTS.items()
        }
        self._archived_of_ids = {
            n: sa.select(s.table.c.id, s.table.c.archived).where(up.in_ids(s.table.c.id, d))
            for n, s in _OBJECTS.items()
        }
        self._archive = {
            name: up.upsert(
                d,
                spec.table,
                [c for c in ("id", "archived", "archived_at", "synced_at") if c in spec.table.c],
                where=spec.table.c.archived == sa.false(),
            )
            for name, spec in _OBJECTS.items()
        }
        cursor_keys = ["source", "object", "cursor", "last_run_id"]
        self._save_cursor = up.upsert(d, tables.sync_state, cursor_keys)
        self._sqlite_save_cursor = (
            up.SQLiteInsert(self._save_cursor, tables.sync_state, engine.dialect, cursor_keys)
            if d == "sqlite"
            else None
        )
        st = tables.sync_state
        excluded = up.insert(d, st).excluded  # type: ignore[attr-defined]
        self._save_success = up.upsert(
            d,
            st,
            [
                "source",
                "object",
                "last_success_at",
                "last_run_id",
                "records_seen",
                "last_reconcile_at",
            ],
            set_={
                "records_seen": st.c.records_seen + excluded.records_seen,
                "last_reconcile_at": sa.func.coalesce(
                    excluded.last_reconcile_at, st.c.last_reconcile_at
                ),
            },
        )
        self._save_failure = up.upsert(
            d, st, ["source", "object", "last_error", "last_error_at", "last_run_id"]
        )

    # ------------------------------------------------------------------ life cycle

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect to ``url`` (``sqlite:///path`` or ``postgresql://...``), migrate, return.

        Raises :class:`StoreError` when the database cannot be reached, created or written,
        or was migrated by a newer syncd.
        """
        engine, shown = migrate.open_engine(url)
        return cls(engine, shown)

    def close(self) -> None:
        """Release the connections (on SQLite, first refresh the planner's statistics)."""
        if self.dialect == "sqlite":
            try:
                with self.engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA analysis_limit = 1000")  # bounds the work
                    conn.exec_driver_sql("PRAGMA optimize")
            except sa.exc.DBAPIError as exc:
                log.warning("could not optimise the SQLite database %s: %s", self.url, exc.orig)
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url})"

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on success."""
        with self._writer.begin() as conn:
            yield conn

    # ------------------------------------------------------------------ records

    def write_page(
        self,
        source: str,
        obj: str,
        records: Sequence[Record],
        checkpoint: Mapping[str, Any] | None,
        *,
        run_id: int,
        now: datetime,
    ) -> PageResult:
        """Upsert a page of ``obj`` records and save ``checkpoint``, in one transaction.

        Deals also replace their stage history and company links; pipelines replace their
        stages. ``checkpoint=None`` leaves the saved cursor as it is. A record arriving with
        ``archived=False`` is live (a restore in the CRM): what arrives is what is stored.
        """
        spec = _spec(obj)
        latest: dict[str, Any] = {}
        for rec in records:
            if not isinstance(rec, spec.kind):
                raise TypeError(
                    f"write_page({obj!r}) got a {type(rec).__name__}: expected "
                    f"{spec.kind.__name__}"
                    + (" (use mark_archived)" if isinstance(rec, Tombstone) else "")
                )
            latest[rec.id] = rec
        ids = list(latest)
        page = list(latest.values())
        upsert = self._upserts[obj]
        bind = self._binder.page(now, upsert.sql)
        rows = [spec.values(rec, bind) for rec in page]
        children = [
            [row for rec in page for row in child.values(rec, bind)] for child in spec.children
        ]
        if self.dialect == "sqlite":
            with self._writer.begin() as conn:
                existing = self._write_sqlite(conn, obj, ids, rows, children, source, checkpoint,
                                              run_id)
        else:
            with self._writer.begin() as conn:
                existing = sum(row[0] for row in self._for_ids(conn, self._count_ids[obj], ids))
                upsert(conn, rows)
                for delete, insert, child_rows in zip(
                    self._delete_children[obj], self._insert_children[obj], children, strict=True
                ):
                    self._for_ids(conn, delete, ids)
                    insert(conn, child_rows)
                if checkpoint is not None:
                    self._checkpoint(conn, source, obj, checkpoint, run_id)
            self._analyze(obj, len(rows))
        at = self._problems_at.get(obj)
        with_problems = 0 if at is None else sum(1 for row in rows if row[at] is not None)
        return PageResult(len(ids) - existing, existing, with_problems)

    def _write_sqlite(
        self,
        conn: sa.Connection,
        obj: str,
        ids: list[str],
        rows: list[up.Values],
        children: list[list[up.Values]],
        source: str,
        checkpoint: Mapping[str, Any] | None,
        run_id: int,
    ) -> int:
        """write_page's statements on SQLite; how many of ``ids`` existed before.

        Plain SQL text through :class:`~syncd.store.upsert.SQLiteRunner`, ids bound as one
        JSON list: no statement is compiled here, and no row goes through SQLAlchemy.
        """
        existing = 0
        with up.SQLiteRunner(conn) as run:
            if ids:
                id_list = up.json_ids(ids)
                existing = int(run.fetchall(self._sqlite_count_ids[obj], (id_list,))[0][0])
                self._upserts[obj](run, rows)
                for delete, insert, child_rows in zip(
                    self._sqlite_delete_children[obj],
                    self._insert_children[obj],
                    children,
                    strict=True,
                ):
                    run.execute(delete, (id_list,))
                    insert(run, child_rows)
            if checkpoint is not None:
                save = self._sqlite_save_cursor
                assert save is not None
                values = {"source": source, "object": obj, "cursor": dict(checkpoint),
                          "last_run_id": run_id}
                run.execute(save.sql, save.params(values))
        return existing

    def _analyze(self, obj: str, written: int) -> None:
        """Give PostgreSQL's planner statistics while a large sync fills the tables.

        Without them (a fresh table, before autovacuum's first pass, or autovacuum off) it
        estimates ``id = ANY(:ids)`` to match half the table and scans it for every page: the
        first full sync slows down quadratically. ANALYZE samples at most 30,000 rows (a few
        ms to ~100 ms); it runs once this process has written 5,000 records of ``obj``, then
        50,000, 500,000...
        """
        done = self._written.get(obj, 0) + written
        self._written[obj] = done
        if done < self._analyze_at.get(obj, _FIRST_ANALYZE):
            return
        self._analyze_at[obj] = done * 10
        names = ", ".join(
            self.engine.dialect.identifier_preparer.quote(t) for t in _spec(obj).written
        )
        try:
            with self.engine.begin() as conn:
                conn.exec_driver_sql(f"ANALYZE {names}")
        except sa.exc.DBAPIError as exc:  # the page is committed: only the statistics are late
            log.warning("could not ANALYZE %s: %s", names, exc.orig)
        else:
            log.debug("analysed %s after %d %s written", names, done, obj)

    def mark_archived(
        self,
        source: str,
        obj: str,
        tombstones: Sequence[Tombstone],
        checkpoint: Mapping[str, Any] | None,
        *,
        run_id: int,
        now: datetime,
    ) -> int:
        """Mark records archived, in one transaction with ``checkpoint``.

        Returns how many were newly marked: live records, plus unknown ids, which get a
        minimal archived row so that nothing the CRM said is lost. Records already archived
        are left as they are (their ``archived_at`` included).
        """
        table = _spec(obj).table
        latest = {t.id: t for t in tombstones}
        with self._writer.begin() as conn:
            found = self._for_ids(conn, self._archived_of_ids[obj], list(latest))
            archived = {row.id: row.archived for row in found}
            fresh = [
                up.tombstone_row(table, t, now) for t in latest.values() if not archived.get(t.id)
            ]
            for rows in up.chunks(fresh):
                conn.execute(self._archive[obj], rows)
            if checkpoint is not None:
                self._checkpoint(conn, source, obj, checkpoint, run_id)
        return len(fresh)

    @staticmethod
    def _for_ids(conn: sa.Connection, stmt: sa.Executable, ids: Sequence[str]) -> list[Any]:
        """Run ``stmt`` (bound on ``ids``) per batch of ids; all the rows it returns."""
        found: list[Any] = []
        for batch in up.chunks(ids):
            result = conn.execute(stmt, {"ids": list(batch)})
            if result.returns_rows:
                found.extend(result)
        return found

    def _checkpoint(
        self, conn: sa.Connection, source: str, obj: str, checkpoint: Mapping[str, Any], run_id: int
    ) -> None:
        conn.execute(
            self._save_cursor,
            {"source": source, "object": obj, "cursor": dict(checkpoint), "last_run_id": run_id},
        )

    # ------------------------------------------------------------------ sync state

    def get_state(self, source: str, obj: str) -> SyncState | None:
        st = tables.sync_state
        stmt = sa.select(st).where(st.c.source == source, st.c.object == obj)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).one_or_none()
        return None if row is None else SyncState(**row._asdict())

    def mark_success(
        self,
        source: str,
        obj: str,
        *,
        run_id: int,
        now: datetime,
        records_seen: int,
        reconciled: bool = False,
    ) -> None:
        """Record a successful pass: ``records_seen`` adds to the running total."""
        with self._writer.begin() as conn:
            conn.execute(
                self._save_success,
                {
                    "source": source,
                    "object": obj,
                    "last_success_at": now,
                    "last_run_id": run_id,
                    "records_seen": records_seen,
                    "last_reconcile_at": now if reconciled else None,
                },
            )

    def mark_failure(
        self, source: str, obj: str, *, run_id: int, now: datetime, error: str
    ) -> None:
        with self._writer.begin() as conn:
            conn.execute(
                self._save_failure,
                {
                    "source": source,
                    "object": obj,
                    "last_error": error[:_MAX_ERROR_CHARS],
                    "last_error_at": now,
                    "last_run_id": run_id,
                },
            )

    def reset_cursor(self, source: str, obj: str) -> None:
        """Forget the checkpoint: the next sync of ``obj`` reads everything (``--full``)."""
        st = tables.sync_state
        with self._writer.begin() as conn:
            conn.execute(
                sa.update(st).where(st.c.source == source, st.c.object == obj).values(cursor=None)
            )

    # ------------------------------------------------------------------ runs

    def start_run(self, source: str, kind: str, *, now: datetime) -> int:
        if kind not in tables.RUN_KINDS:
            raise ValueError(f"unknown run kind {kind!r}: expected one of {tables.RUN_KINDS}")
        run = tables.sync_run
        stmt = sa.insert(run).values(source=source, kind=kind, started_at=now, status="running")
        # A run still "running" here was killed or crashed (its pages are kept; this run
        # resumes from its last checkpoint): close it in the log so it does not stay open.
        abandoned = (
            sa.update(run)
            .where(run.c.source == source, run.c.status == "running")
            .values(status="interrupted", finished_at=now,
                    error="the process ended without finishing (killed or crashed); "
                          "the next run resumed from its last stored page")
        )
        with self._writer.begin() as conn:
            conn.execute(abandoned)
            key = conn.execute(stmt).inserted_primary_key
        assert key is not None
        return int(key[0])

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        now: datetime,
        summary: Mapping[str, Any],
        error: str | None = None,
    ) -> None:
        if status not in tables.RUN_STATUSES or status == "running":
            raise ValueError(f"unknown final status {status!r}: expected ok, failed or interrupted")
        run = tables.sync_run
        stmt = (
            sa.update(run)
            .where(run.c.id == run_id)
            .values(
                status=status,
                finished_at=now,
                summary=dict(summary),
                error=None if error is None else error[:_MAX_ERROR_CHARS],
            )
        )
        with self._writer.begin() as conn:
            if conn.execute(stmt).rowcount != 1:
                raise ValueError(f"no sync run with id {run_id}")

    def recent_runs(self, limit: int = 10) -> list[SyncRunInfo]:
        run = tables.sync_run
        stmt = sa.select(run).order_by(run.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [SyncRunInfo(**row._asdict()) for row in conn.execute(stmt)]

    # ------------------------------------------------------------------ counts

    def count(self, table: str, *, include_archived: bool = False) -> int:
        """Rows in ``table`` (a table name, or an object name such as ``"deals"``)."""
        name = _TABLE_OF_OBJECT.get(table, table)
        try:
            t = tables.METADATA.tables[name]
        except KeyError:
            raise ValueError(f"unknown table {table!r}") from None
        stmt = sa.select(sa.func.count()).select_from(t)
        if not include_archived and "archived" in t.c:
            stmt = stmt.where(t.c.archived == sa.false())
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def problem_count(self, obj: str) -> int:
        """Live records of ``obj`` stored with parse problems."""
        t = _spec(obj).table
        if "problems" not in t.c:
            return 0
        stmt = (
            sa.select(sa.func.count())
            .select_from(t)
            .where(t.c.archived == sa.false(), t.c.problems.is_not(None))
        )
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())
