"""Compact, column-oriented record tables for the HubSpot sandbox, and HubSpot's time formats.

A million deals as one dict of Python strings each would cost several gigabytes, so a
:class:`Table` keeps each property in a column: timestamps as epoch milliseconds in an
``array('q')``, enumerations as byte codes into a small vocabulary, money as cents, and
names and e-mails computed from the record's position when asked. The server
(:mod:`syncd.sandbox.hubspot_store`) never writes into a table: it copies the few arrays it
changes and keeps edited records in an overlay.

Times are rendered like HubSpot (Java's ``Instant.toString()``): ``2026-11-02T10:15:30.123Z``,
and without the fraction when the milliseconds are zero (``2026-11-02T00:00:00Z``, which is
how ``date`` properties, stored as midnight UTC, come out).
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

PropType = Literal["datetime", "date", "number", "string", "enumeration", "bool"]

#: Null marker of timestamp columns (no CRM timestamp is the epoch itself).
NULL_TS = 0
#: Null marker of integer columns.
NULL_INT = -(2**63)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS_SUFFIX = ["Z"] + [f".{i:03d}Z" for i in range(1, 1000)]
_DAY_PREFIX: dict[int, str] = {}
_HMS: list[str] = []  # "HH:MM:SS" for each second of a day, filled on first use


def _fill_hms() -> list[str]:
    if not _HMS:
        _HMS.extend(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400))
    return _HMS


def _day_prefix(day: int) -> str:
    prefix = _DAY_PREFIX[day] = (date(1970, 1, 1) + timedelta(days=day)).isoformat() + "T"
    return prefix


def format_ms(ms: int) -> str:
    """Epoch milliseconds as HubSpot writes them (``2026-11-02T10:15:30.123Z``)."""
    secs, milli = divmod(ms, 1000)
    day, sod = divmod(secs, 86400)
    prefix = _DAY_PREFIX.get(day) or _day_prefix(day)
    return f"{prefix}{(_HMS or _fill_hms())[sod]}{_MS_SUFFIX[milli]}"


def to_ms(dt: datetime) -> int:
    """An aware datetime as epoch milliseconds (naive datetimes are refused)."""
    if dt.tzinfo is None:
        raise ValueError(f"{dt!r} is naive: pass an aware datetime (e.g. tzinfo=UTC)")
    delta = dt - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


_NUMERIC = re.compile(r"-?\d+")


def parse_time_ms(value: object) -> int | None:
    """Epoch milliseconds (number or digit string) or ISO 8601 text as epoch ms; None if neither.

    A date alone (``2026-11-02``) is midnight UTC; a time without offset is read as UTC.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _NUMERIC.fullmatch(text):
        return int(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return to_ms(parsed)


def format_cents(cents: int) -> str:
    """``1440000`` -> ``"14400"``; ``123450`` -> ``"1234.5"`` (HubSpot keeps what was typed)."""
    whole, frac = divmod(cents, 100)
    if frac == 0:
        return str(whole)
    return f"{whole}.{frac:02d}".rstrip("0")


# --------------------------------------------------------------------------- columns
#
# Every column answers ``get(pos)`` (the string HubSpot would return, or None) and
# ``key(pos)`` (a value search can compare: epoch ms, a number, or lower-cased text).


class TsColumn:
    """Epoch milliseconds; ``date`` columns hold midnight UTC."""

    __slots__ = ("type", "values")

    def __init__(self, values: array[int], type: PropType = "datetime") -> None:
        self.values = values
        self.type: PropType = type

    def get(self, pos: int) -> str | None:
        v = self.values[pos]
        return None if v == NULL_TS else format_ms(v)

    def key(self, pos: int) -> int | None:
        v = self.values[pos]
        return None if v == NULL_TS else v


class IntColumn:
    """Integers; with ``cents=True`` the values are hundredths, rendered like ``"1234.5"``."""

    __slots__ = ("cents", "type", "values")

    def __init__(self, values: array[int], *, cents: bool = False) -> None:
        self.values = values
        self.cents = cents
        self.type: PropType = "number"

    def get(self, pos: int) -> str | None:
        v = self.values[pos]
        if v == NULL_INT:
            return None
        return format_cents(v) if self.cents else str(v)

    def key(self, pos: int) -> float | None:
        v = self.values[pos]
        if v == NULL_INT:
            return None
        return v / 100 if self.cents else float(v)


class CatColumn:
    """Codes into a vocabulary whose entry 0 is usually None (unset)."""

    __slots__ = ("codes", "keys", "type", "vocab")

    def __init__(
        self, codes: array[int], vocab: Sequence[str | None], type: PropType = "enumeration"
    ) -> None:
        self.codes = codes
        self.vocab = list(vocab)
        self.type: PropType = type
        self.keys: list[Any] = [text_key(v, type) for v in self.vocab]

    def get(self, pos: int) -> str | None:
        return self.vocab[self.codes[pos]]

    def key(self, pos: int) -> Any:
        return self.keys[self.codes[pos]]


class FuncColumn:
    """A value computed from the record's position (names, e-mails, derived flags)."""

    __slots__ = ("fn", "type")

    def __init__(self, fn: Callable[[int], str | None], type: PropType = "string") -> None:
        self.fn = fn
        self.type: PropType = type

    def get(self, pos: int) -> str | None:
        return self.fn(pos)

    def key(self, pos: int) -> Any:
        v = self.fn(pos)
        return None if v is None else text_key(v, self.type)


Column = TsColumn | IntColumn | CatColumn | FuncColumn


def text_key(value: str | None, type: PropType) -> Any:
    """The comparable form of a property's text, by type (None stays None)."""
    if value is None:
        return None
    if type in ("datetime", "date"):
        return parse_time_ms(value)
    if type == "number":
        try:
            return float(value)
        except ValueError:
            return None
    return value.lower()



# --------------------------------------------------------------------------- tables


class Table:
    """One object type's records, by position; ids, times and associations as arrays.

    ``modified`` is the value of ``modified_property`` (``hs_lastmodifieddate``, or
    ``lastmodifieddate`` for contacts) and of ``updatedAt``. ``archived`` holds the archive
    time, 0 for live records. ``company_ids`` holds the one associated company id (0: none).
    ``id_order`` lists positions by ascending id.
    """

    def __init__(
        self,
        object: str,
        *,
        ids: array[int],
        created: array[int],
        modified: array[int],
        archived: array[int],
        columns: dict[str, Column],
        default_properties: tuple[str, ...],
        modified_property: str,
        company_ids: array[int] | None = None,
        id_order: array[int] | None = None,
    ) -> None:
        self.object = object
        self.ids = ids
        self.created = created
        self.modified = modified
        self.archived = archived
        self.columns = columns
        self.default_properties = default_properties
        self.modified_property = modified_property
        self.company_ids = company_ids
        if id_order is None:
            id_order = array("q", sorted(range(len(ids)), key=ids.__getitem__))
        self.id_order = id_order

    def __len__(self) -> int:
        return len(self.ids)

    def value(self, pos: int, prop: str) -> str | None:
        """The property as HubSpot would return it, including the built-in ones."""
        if prop == "hs_object_id":
            return str(self.ids[pos])
        if prop == "createdate":
            return format_ms(self.created[pos])
        if prop == self.modified_property:
            return format_ms(self.modified[pos])
        col = self.columns.get(prop)
        return None if col is None else col.get(pos)

    def rows(self, props: Sequence[str] | None = None) -> Iterator[dict[str, str | None]]:
        """Every record (archived ones too) as ``{"id", "archived", **properties}``; for tests."""
        names = list(props) if props is not None else self.property_names()
        for pos in self.id_order:
            row: dict[str, str | None] = {
                "id": str(self.ids[pos]),
                "archived": "true" if self.archived[pos] else "false",
            }
            for name in names:
                row[name] = self.value(pos, name)
            if self.company_ids is not None:
                cid = self.company_ids[pos]
                row["_company_id"] = str(cid) if cid else None
            yield row

    def property_names(self) -> list[str]:
        builtin = ["hs_object_id", "createdate", self.modified_property]
        return builtin + sorted(self.columns)

    def property_types(self) -> dict[str, PropType]:
        types: dict[str, PropType] = {name: col.type for name, col in self.columns.items()}
        types.update(
            {"hs_object_id": "number", "createdate": "datetime", self.modified_property: "datetime"}
        )
        return types


def empty_table(
    object: str, *, default_properties: tuple[str, ...], modified_property: str,
    columns: dict[str, Column] | None = None, with_company: bool = False,
) -> Table:
    """A table with no records (the columns only declare the property catalogue)."""
    return Table(
        object,
        ids=array("q"),
        created=array("q"),
        modified=array("q"),
        archived=array("q"),
        columns=columns or {},
        default_properties=default_properties,
        modified_property=modified_property,
        company_ids=array("q") if with_company else None,
        id_order=array("q"),
    )
