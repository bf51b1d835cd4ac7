"""One HubSpot object type as the sandbox server sees it: a dataset table plus the edits tests make.

The table's arrays are shared with the :class:`~syncd.sandbox.dataset.Dataset` until the first
edit, then copied (``_own``), so a dataset can feed several sandboxes and is never changed.
An edited or added record lives in ``overlay`` as a full dict of property strings; ``ids``,
``created``, ``modified`` and ``archived`` stay authoritative for every record, so paging and
search indexes need no overlay lookups.

Indexes: ``id_order`` (positions by id, for list paging and ``hs_object_id`` ranges) and
``mod_index`` (positions by modified time then id, built on first use, for search ranges on
``hs_lastmodifieddate`` / ``lastmodifieddate``). Callers hold the sandbox lock.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable
from typing import Any

from syncd.sandbox.hubspot_table import (
    Column,
    PropType,
    Table,
    TsColumn,
    format_ms,
    parse_time_ms,
    text_key,
)

Record = dict[str, Any]
#: association type ids (primary, unlabeled) and labels, by (from object, to object)
ASSOCIATION_TYPES = {
    ("deals", "companies"): (5, 341, "deal_to_company"),
    ("contacts", "companies"): (1, 279, "contact_to_company"),
}
_REBUILD_OVER = 2_000  # touching more records than this drops the modified index


class ObjectStore:
    def __init__(self, table: Table) -> None:
        self.object = table.object
        self.table = table
        self.n_base = len(table)
        self.ids = table.ids
        self.created = table.created
        self.modified = table.modified
        self.archived = table.archived
        self.company_ids = table.company_ids
        self.id_order = table.id_order
        self.columns: dict[str, Column] = table.columns
        self.types: dict[str, PropType] = table.property_types()
        self.modified_property = table.modified_property
        self.default_properties = table.default_properties
        self.overlay: dict[int, dict[str, str | None]] = {}
        self.extra_companies: dict[int, tuple[int, ...]] = {}
        self.version = 0
        self.hidden: dict[int, float] = {}  # pos -> monotonic time it shows up in search
        self._mod_index: array[int] | None = None
        self._owned = False

    # ------------------------------------------------------------------ lookups

    def __len__(self) -> int:
        return len(self.ids)

    def pos_of(self, record_id: int) -> int | None:
        order, ids = self.id_order, self.ids
        i = bisect_left(order, record_id, key=ids.__getitem__)
        if i < len(order) and ids[order[i]] == record_id:
            return order[i]
        return None

    def companies_of(self, pos: int) -> tuple[int, ...]:
        extra = self.extra_companies.get(pos)
        if extra is not None:
            return extra
        if self.company_ids is None:
            return ()
        cid = self.company_ids[pos]
        return (cid,) if cid else ()

    def mod_index(self) -> array[int]:
        """Positions sorted by (modified time, id)."""
        if self._mod_index is None:
            modified = self.modified
            # id_order is sorted by id; a stable sort on the time keeps ids ascending on ties.
            self._mod_index = array("q", sorted(self.id_order, key=modified.__getitem__))
        return self._mod_index

    def value(self, pos: int, prop: str) -> str | None:
        ov = self.overlay.get(pos)
        if ov is not None:
            return ov.get(prop)
        if prop == "hs_object_id":
            return str(self.ids[pos])
        if prop == "createdate":
            return format_ms(self.created[pos])
        if prop == self.modified_property:
            return format_ms(self.modified[pos])
        col = self.columns.get(prop)
        return None if col is None else col.get(pos)

    def key_getter(self, prop: str) -> Callable[[int], Any]:
        """pos -> the comparable value of ``prop`` (epoch ms, float, lower-cased text, None)."""
        if prop == "hs_object_id":
            return self.ids.__getitem__
        if prop == "createdate":
            return self.created.__getitem__
        if prop == self.modified_property:
            return self.modified.__getitem__
        typ = self.types.get(prop, "string")
        col = self.columns.get(prop)
        base: Callable[[int], Any] = col.key if col is not None else _none
        overlay = self.overlay
        if not overlay:
            return base

        def get(pos: int) -> Any:
            ov = overlay.get(pos)
            return base(pos) if ov is None else text_key(ov.get(prop), typ)

        return get

    # ------------------------------------------------------------------ reading pages

    def list_page(
        self, after: int | None, limit: int, archived: bool
    ) -> tuple[list[int], int | None]:
        """Up to ``limit`` positions with id >= ``after``; the next ``after`` or None at the end."""
        order, ids, arch = self.id_order, self.ids, self.archived
        i = 0 if after is None else bisect_left(order, after, key=ids.__getitem__)
        out: list[int] = []
        n = len(order)
        while i < n:
            pos = order[i]
            i += 1
            if (arch[pos] != 0) is archived:
                if len(out) == limit:
                    return out, ids[out[-1]] + 1
                out.append(pos)
        return out, None

    def renderer(
        self,
        requested: Iterable[str] | None,
        *,
        associations: Iterable[str] = (),
        history: Iterable[str] = (),
    ) -> Callable[[int], Record]:
        """A function rendering one record as HubSpot's list and search endpoints do."""
        names = self.property_names(requested)
        # (name, timestamp array or None, getter): timestamps, the bulk of a deal's
        # properties and mostly unset, are read inline rather than through a call.
        specs = [(n, *self._spec(n)) for n in names]
        overlay, ids, created, modified, archived = (
            self.overlay, self.ids, self.created, self.modified, self.archived)
        modified_property = self.modified_property
        assoc = ASSOCIATION_TYPES.get((self.object, "companies"))
        with_companies = assoc is not None and "companies" in set(associations)
        history_props = [h for h in dict.fromkeys(history) if h in self.types]

        def render(pos: int) -> Record:
            ov = overlay.get(pos)
            if ov is None:
                props = {}
                for n, arr, get in specs:
                    if arr is None:
                        props[n] = get(pos)
                    else:
                        v = arr[pos]
                        props[n] = format_ms(v) if v else None
            else:
                props = {n: ov.get(n) for n in names}
            rec: Record = {
                "id": str(ids[pos]),
                "properties": props,
                "createdAt": props.get("createdate") or format_ms(created[pos]),
                "updatedAt": props.get(modified_property) or format_ms(modified[pos]),
                "archived": archived[pos] != 0,
            }
            if archived[pos]:
                rec["archivedAt"] = format_ms(archived[pos])
            if history_props:
                rec["propertiesWithHistory"] = {h: self.history(pos, h) for h in history_props}
            if with_companies and assoc is not None:
                cids = self.companies_of(pos)
                if cids:
                    label = assoc[2]
                    results = []
                    for cid in cids:
                        results.append({"id": str(cid), "type": label})
                        results.append({"id": str(cid), "type": f"{label}_unlabeled"})
                    rec["associations"] = {"companies": {"results": results}}
            return rec

        return render

    def property_names(self, requested: Iterable[str] | None) -> list[str]:
        """What a response carries: the defaults, or the known requested ones plus the built-ins."""
        if requested is None:
            return sorted(self.default_properties)
        known = {p for p in requested if p in self.types}
        known.update(("hs_object_id", "createdate", self.modified_property))
        return sorted(known)

    def history(self, pos: int, prop: str) -> list[dict[str, Any]]:
        """Newest first. ``dealstage`` is rebuilt from the stage-entered dates."""
        if prop == "dealstage" and pos not in self.overlay:
            visits = []
            for name, col in self.columns.items():
                if name.startswith("hs_v2_date_entered_"):
                    ms = col.key(pos)
                    if ms is not None:
                        visits.append((int(ms), name[len("hs_v2_date_entered_"):]))
            visits.sort(reverse=True)
            return [_history_entry(stage, ms) for ms, stage in visits]
        value = self.value(pos, prop)
        return [] if value is None else [_history_entry(value, self.modified[pos])]

    def _spec(self, name: str) -> tuple[array[int] | None, Callable[[int], str | None]]:
        if name == "hs_object_id":
            ids = self.ids
            return None, lambda pos: str(ids[pos])
        if name == "createdate":
            return self.created, _none
        if name == self.modified_property:
            return self.modified, _none
        col = self.columns.get(name)
        if isinstance(col, TsColumn):
            return col.values, _none
        return None, col.get if col is not None else _none

    def hide(self, positions: Iterable[int], until: float) -> None:
        """Keep records out of search results until ``until`` (the search index lags)."""
        for pos in positions:
            self.hidden[pos] = until

    def hidden_now(self, now: float) -> set[int]:
        for pos in [p for p, until in self.hidden.items() if until <= now]:
            del self.hidden[pos]
        return set(self.hidden)

    # ------------------------------------------------------------------ edits

    def _own(self) -> None:
        """Copy the shared arrays before the first edit: the dataset stays untouched."""
        if self._owned:
            return
        self.ids = array("q", self.ids)
        self.created = array("q", self.created)
        self.modified = array("q", self.modified)
        self.archived = array("q", self.archived)
        if self.company_ids is not None:
            self.company_ids = array("q", self.company_ids)
        self.id_order = array("q", self.id_order)
        self._owned = True

    def _materialize(self, pos: int) -> dict[str, str | None]:
        ov = self.overlay.get(pos)
        if ov is None:
            ov = {name: col.get(pos) for name, col in self.columns.items()}
            ov["hs_object_id"] = str(self.ids[pos])
            ov["createdate"] = format_ms(self.created[pos])
            ov[self.modified_property] = format_ms(self.modified[pos])
            self.overlay[pos] = ov
        return ov

    def _set_modified(self, pos: int, ms: int) -> None:
        index = self._mod_index
        if index is not None:
            old = (self.modified[pos], self.ids[pos])
            i = bisect_left(index, old, key=self._mod_key)
            if i < len(index) and index[i] == pos:
                del index[i]
            else:  # pragma: no cover - the index and the arrays disagree: rebuild later
                self._mod_index = None
        self.modified[pos] = ms
        if self._mod_index is not None:
            insort(self._mod_index, pos, key=self._mod_key)
        ov = self.overlay.get(pos)
        if ov is not None:
            ov[self.modified_property] = format_ms(ms)

    def _mod_key(self, pos: int) -> tuple[int, int]:
        return (self.modified[pos], self.ids[pos])

    def upsert(
        self,
        record_id: int,
        properties: dict[str, str | None],
        modified_ms: int,
        company_ids: list[int] | None,
    ) -> int:
        self._own()
        pos = self.pos_of(record_id)
        if pos is None:
            created = parse_time_ms(properties.get("createdate")) or modified_ms
            pos = len(self.ids)
            self.ids.append(record_id)
            self.created.append(created)
            self.modified.append(modified_ms)
            self.archived.append(0)
            if self.company_ids is not None:
                self.company_ids.append(0)
            insort(self.id_order, pos, key=self.ids.__getitem__)
            self.overlay[pos] = {
                "hs_object_id": str(record_id),
                "createdate": format_ms(created),
                self.modified_property: format_ms(modified_ms),
            }
            if self._mod_index is not None:
                insort(self._mod_index, pos, key=self._mod_key)
        else:
            self._materialize(pos)
            new_created = parse_time_ms(properties.get("createdate"))
            if new_created is not None:
                self.created[pos] = new_created
            self._set_modified(pos, modified_ms)
        ov = self.overlay[pos]
        for name, value in properties.items():
            if name in ("hs_object_id", self.modified_property):
                continue
            if name not in self.types:
                self.types[name] = _infer_type(value)
            ov[name] = value
        ov["createdate"] = format_ms(self.created[pos])
        if company_ids is not None:
            self.extra_companies[pos] = tuple(company_ids)
            if self.object == "contacts":
                ov["associatedcompanyid"] = str(company_ids[0]) if company_ids else None
        self.version += 1
        return pos

    def archive(self, record_id: int, at_ms: int) -> None:
        pos = self._existing(record_id)
        self._own()
        self.archived[pos] = at_ms
        self._set_modified(pos, at_ms)
        self.version += 1

    def restore(self, record_id: int, at_ms: int) -> int:
        pos = self._existing(record_id)
        self._own()
        self.archived[pos] = 0
        self._set_modified(pos, at_ms)
        self.version += 1
        return pos

    def touch_many(self, record_ids: Iterable[int], ms: int) -> list[int]:
        positions = [self._existing(i) for i in record_ids]
        self._own()
        if len(positions) > _REBUILD_OVER:
            self._mod_index = None
        for pos in positions:
            self._set_modified(pos, ms)
        self.version += 1
        return positions

    def _existing(self, record_id: int) -> int:
        pos = self.pos_of(record_id)
        if pos is None:
            raise KeyError(f"no {self.object} record with id {record_id}")
        return pos


def _none(pos: int) -> None:
    return None


def _history_entry(value: str, ms: int) -> dict[str, Any]:
    return {"value": value, "timestamp": format_ms(ms), "sourceType": "CRM_UI",
            "sourceId": "userId:9581002", "updatedByUserId": 9581002}


def _infer_type(value: str | None) -> PropType:
    """A property first seen in an upsert: a number, a datetime, or text."""
    if value is None:
        return "string"
    try:
        float(value)
    except ValueError:
        pass
    else:
        return "number"
    if len(value) >= 10 and value[4:5] == "-" and parse_time_ms(value) is not None:
        return "datetime"
    return "string"
