"""Column types that behave the same on SQLite and PostgreSQL.

``UTCDateTime``
    Timezone-aware UTC datetimes in and out on both dialects. A naive datetime is a
    programming error and raises ``ValueError`` (SQLAlchemy wraps it in ``StatementError``).
    PostgreSQL stores ``timestamptz``. SQLite stores fixed-width ISO-8601 text in UTC,
    ``2024-05-01 09:30:00.000000+00:00`` (32 characters), so that:

    * string comparison and ``ORDER BY`` sort chronologically (every value has the same width
      and the same offset);
    * SQLite's date functions read it (``date(col)``, ``strftime('%Y-%m', col)``,
      ``julianday(col)``);
    * it compares sensibly with what those functions return (``datetime('now')`` gives
      ``2024-05-01 09:30:00``: same separator, a prefix of ours).

    Text without an offset (written by hand in SQL) is read back as UTC.

``MONEY``
    ``Numeric(20, 6, asdecimal=False)``: ``numeric(20, 6)`` on PostgreSQL, NUMERIC affinity on
    SQLite; ``Decimal`` or ``float`` in, ``float`` out. ``asdecimal=False`` is what keeps
    SQLAlchemy from warning that SQLite has no native decimal (pytest turns warnings into
    errors). A float holds 15-16 significant digits: exact to the cent up to 10^13.

``JSON_DOC``
    ``JSON`` (``jsonb`` on PostgreSQL, so metric queries can filter on ``custom->>'x'``).
    Python ``None`` is stored as SQL ``NULL``, never the JSON text ``null``: ``problems IS NULL``
    means "no problems".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

#: Width of a SQLite datetime: ``YYYY-MM-DD HH:MM:SS.ffffff+00:00``.
SQLITE_DATETIME_WIDTH = 32

MONEY = sa.Numeric(20, 6, asdecimal=False)
#: The largest magnitude ``numeric(20, 6)`` holds (PostgreSQL refuses more).
MONEY_LIMIT = 10**14

JSON_DOC: TypeEngine[Any] = sa.JSON(none_as_null=True).with_variant(
    JSONB(none_as_null=True), "postgresql"
)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes: ``timestamptz`` on PostgreSQL, fixed-width UTC text on SQLite."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(SQLITE_DATETIME_WIDTH))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any]:
        # Overridden (rather than only process_bind_param) to skip a call layer per value:
        # write_page binds ~2,000 datetimes per page of 100 deals.
        return to_sqlite_text if dialect.name == "sqlite" else _check_aware

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        return self.bind_processor(dialect)(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        if value.tzinfo is UTC:
            return value
        return value.astimezone(UTC)


def _as_utc(value: object) -> datetime:
    """``value`` as an aware datetime in UTC; naive or not a datetime: a programming error."""
    if not isinstance(value, datetime):
        raise TypeError(f"a UTCDateTime column takes a datetime, not {type(value).__name__}")
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(
            f"naive datetime {value.isoformat()} given to a UTCDateTime column: "
            "pass a timezone-aware datetime (e.g. datetime.now(UTC))"
        )
    return value.astimezone(UTC) if offset else value


def _check_aware(value: datetime | None) -> datetime | None:
    if value is None or (type(value) is datetime and value.tzinfo is UTC):
        return value
    return _as_utc(value)


def to_sqlite_text(value: datetime | None) -> str | None:
    """What a UTCDateTime column binds on SQLite for ``value`` (the reference conversion)."""
    if value is None:
        return None
    if type(value) is not datetime or value.tzinfo is not UTC:
        value = _as_utc(value)
    # utcoffset() == 0 here, so isoformat() ends in "+00:00" whatever the tzinfo.
    return value.isoformat(" ", "microseconds")


def bind_error(exc: Exception, statement: str) -> sa.exc.StatementError:
    """``exc`` raised by a bind conversion, wrapped as SQLAlchemy wraps a bind processor's."""
    name = f"{type(exc).__module__}.{type(exc).__name__}"
    return sa.exc.StatementError(f"({name}) {exc}", statement, None, exc)


#: ``"HH:MM:"`` for every minute of a day and ``"SS."`` for every second: see SQLiteTexts.
_MINUTES = tuple(f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60))
_SECONDS = tuple(f"{s:02d}." for s in range(60))


class DayTexts(dict[date, str]):
    """``days[day]``: ``"YYYY-MM-DD "``, the date part of the SQLite text of a datetime.

    Meant to live as long as a store (a sync meets a few thousand distinct days); cleared
    when it holds 100,000 of them.
    """

    __slots__ = ()

    def __missing__(self, day: date) -> str:
        if len(self) >= 100_000:
            self.clear()
        text = self[day] = day.isoformat() + " "
        return text


class SQLiteTexts(dict[Any, str | None]):
    """``texts[value]``: :func:`to_sqlite_text` of ``value``, each UTC datetime converted once.

    For writing many rows straight through the driver (one mapping per page of records): after
    the first lookup a UTC datetime (what the connectors make) is a dict hit, and
    ``synced_at`` is the same ``now`` on every row. Only UTC datetimes are remembered: equal
    ones are the same instant, hence the same text. Any other value is converted on every
    lookup (two datetimes of one time zone that differ only by ``fold`` compare equal but are
    an hour apart), and refused as the column type would refuse it: :func:`bind_error` of
    ``statement``. A naive datetime never equals an aware one, so it never hits.

    A miss costs about half of ``isoformat``: the date, hour-and-minute and second parts are
    looked up, only the microseconds formatted.
    """

    __slots__ = ("_days", "_statement")

    def __init__(self, days: DayTexts, statement: str) -> None:
        super().__init__({None: None})
        self._days = days
        self._statement = statement

    def __missing__(self, value: Any) -> str | None:
        if type(value) is datetime and value.tzinfo is UTC:
            # == value.isoformat(" ", "microseconds"): the offset of UTC is "+00:00".
            text = self[value] = (
                self._days[value.date()]
                + _MINUTES[value.hour * 60 + value.minute]
                + _SECONDS[value.second]
                + "%06d+00:00" % value.microsecond  # noqa: UP031 - faster than format()
            )
            return text
        try:
            return to_sqlite_text(value)
        except (TypeError, ValueError) as exc:
            raise bind_error(exc, self._statement) from exc
