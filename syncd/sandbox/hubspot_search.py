"""``POST /crm/v3/objects/{type}/search`` for the sandbox: validation, matching, sorting, paging.

Filter groups are OR-ed, filters inside a group AND-ed. A group with a range on the modified
date or on ``hs_object_id`` starts from the matching slice of an index (bisect) instead of
scanning every record; the rest of its filters run on that slice only. The sorted matches of
the last few queries are cached per data version, so paging through a result costs one slice.

Limits (``crm-apis.md``): ``limit`` at most 200 (clamped by default), at most 10,000 results
per query (``after + limit > 10000`` is a 400), 5 groups, 10 filters per group, 25 in total.
Archived records never match. Without ``sorts``, results come by ascending id. Nulls sort last.
With a ``search_lag``, records edited less than that many seconds ago do not match yet.
Semantics picked where HubSpot's are not documented: ``NEQ`` and ``NOT_IN`` match records
without a value; ``CONTAINS_TOKEN`` is a case-insensitive substring match where ``*`` is a
wildcard; text compares case-insensitively.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from syncd.sandbox.hubspot_store import ObjectStore
from syncd.sandbox.hubspot_table import parse_time_ms

MAX_LIMIT = 200
MAX_RESULTS = 10_000
MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 10
MAX_FILTERS = 25
OPERATORS = frozenset({
    "EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY",
    "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN",
})
_RANGE = frozenset({"EQ", "LT", "LTE", "GT", "GTE", "BETWEEN"})
_TEXT_PROPS = {
    "deals": ("dealname",),
    "companies": ("name", "domain", "website"),
    "contacts": ("email", "firstname", "lastname", "phone", "company"),
}


class SearchError(ValueError):
    """A request HubSpot would answer with 400 VALIDATION_ERROR."""


@dataclass(frozen=True, slots=True)
class Filter:
    prop: str
    op: str
    value: Any = None  # parsed to the property's comparable form
    high: Any = None
    values: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class Query:
    groups: tuple[tuple[Filter, ...], ...]
    sorts: tuple[tuple[str, bool], ...]  # (property, descending)
    properties: tuple[str, ...] | None
    limit: int
    after: int
    text: str | None
    cache_key: bytes


def parse_query(body: Any, store: ObjectStore, *, clamp_limit: bool = True) -> Query:
    if not isinstance(body, dict):
        raise SearchError("Invalid input JSON: the search body must be a JSON object")
    limit = _int(body.get("limit"), "limit", default=10)
    if limit > MAX_LIMIT:
        if not clamp_limit:
            raise SearchError(f"limit must be at most {MAX_LIMIT}, not {limit}")
        limit = MAX_LIMIT
    if limit < 0:
        raise SearchError(f"limit must be positive, not {limit}")
    after = _int(body.get("after"), "after", default=0)
    if after < 0:
        raise SearchError(f"after must be a non-negative offset, not {after}")
    if after + limit > MAX_RESULTS:
        raise SearchError(
            f"The search API returns at most {MAX_RESULTS} results per query: after ({after}) "
            f"+ limit ({limit}) is past it. Narrow the query (e.g. hs_object_id GT the last id)."
        )
    raw_groups = body.get("filterGroups") or []
    if not isinstance(raw_groups, list):
        raise SearchError("Invalid input JSON: filterGroups must be a list")
    if body.get("filters"):
        raw_groups = [*raw_groups, {"filters": body["filters"]}]
    if len(raw_groups) > MAX_GROUPS:
        raise SearchError(f"Too many filter groups: {len(raw_groups)} (at most {MAX_GROUPS})")
    groups = []
    total = 0
    for gi, group in enumerate(raw_groups):
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise SearchError(f"Invalid input JSON: filterGroups[{gi}].filters must be a list")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise SearchError(
                f"Too many filters in filterGroups[{gi}]: {len(filters)} "
                f"(at most {MAX_FILTERS_PER_GROUP} per group)")
        total += len(filters)
        groups.append(tuple(_filter(f, store, f"filterGroups[{gi}].filters[{fi}]")
                            for fi, f in enumerate(filters)))
    if total > MAX_FILTERS:
        raise SearchError(f"Too many filters: {total} (at most {MAX_FILTERS} in all groups)")
    sorts = tuple(_sort(s, store) for s in body.get("sorts") or [])
    props = body.get("properties")
    if props is not None and not (
        isinstance(props, list) and all(isinstance(p, str) for p in props)
    ):
        raise SearchError("Invalid input JSON: properties must be a list of strings")
    text = body.get("query")
    if text is not None and not isinstance(text, str):
        raise SearchError("Invalid input JSON: query must be a string")
    key = orjson.dumps([body.get("filterGroups"), body.get("filters"), body.get("sorts"), text],
                       option=orjson.OPT_SORT_KEYS)
    return Query(tuple(groups), sorts, tuple(props) if props is not None else None, limit, after,
                 text or None, key)


def _int(value: Any, name: str, *, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise SearchError(f"{name} must be a number, not {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SearchError(f"{name} must be a number, not {value!r}") from None


def _parse_value(value: Any, prop: str, typ: str, where: str) -> Any:
    if value is None:
        raise SearchError(f"{where}: a value is required for property {prop}")
    if typ in ("datetime", "date"):
        ms = parse_time_ms(value)
        if ms is None:
            raise SearchError(f"{where}: {value!r} is not a valid datetime for {prop} "
                              "(use epoch milliseconds)")
        return ms
    if typ == "number" or prop == "hs_object_id":
        try:
            return float(value) if prop != "hs_object_id" else int(str(value))
        except ValueError:
            raise SearchError(f"{where}: {value!r} is not a number ({prop})") from None
    return str(value).lower()


def _filter(raw: Any, store: ObjectStore, where: str) -> Filter:
    if not isinstance(raw, dict):
        raise SearchError(f"Invalid input JSON: {where} must be an object")
    prop, op = raw.get("propertyName"), raw.get("operator")
    if not isinstance(prop, str) or prop not in store.types:
        raise SearchError(f"{where}: property {prop!r} does not exist on {store.object}")
    if op not in OPERATORS:
        raise SearchError(f"{where}: unknown operator {op!r}")
    typ = store.types[prop]
    if op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        return Filter(prop, op)
    if op in ("IN", "NOT_IN"):
        values = raw.get("values")
        if not isinstance(values, list) or not values:
            raise SearchError(f"{where}: {op} needs a non-empty 'values' list")
        return Filter(prop, op, values=tuple(_parse_value(v, prop, typ, where) for v in values))
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = raw.get("value")
        if not isinstance(token, str):
            raise SearchError(f"{where}: {op} needs a string value")
        pattern = re.compile(".*".join(re.escape(p) for p in token.lower().split("*")))
        return Filter(prop, op, value=pattern)
    value = _parse_value(raw.get("value"), prop, typ, where)
    high = _parse_value(raw.get("highValue"), prop, typ, where) if op == "BETWEEN" else None
    return Filter(prop, op, value=value, high=high)


def _sort(raw: Any, store: ObjectStore) -> tuple[str, bool]:
    if isinstance(raw, str):
        desc = raw.startswith("-")
        prop: Any = raw[1:] if desc else raw
    elif isinstance(raw, dict):
        prop = raw.get("propertyName")
        direction = str(raw.get("direction", "ASCENDING")).upper()
        if direction not in ("ASCENDING", "DESCENDING"):
            raise SearchError(f"sort direction must be ASCENDING or DESCENDING, not {direction!r}")
        desc = direction == "DESCENDING"
    else:
        raise SearchError("Invalid input JSON: sorts must be strings or objects")
    if not isinstance(prop, str) or prop not in store.types:
        raise SearchError(f"cannot sort by {prop!r}: no such property on {store.object}")
    return prop, desc


# --------------------------------------------------------------------------- running


def _predicate(f: Filter, store: ObjectStore) -> Callable[[int], bool]:
    key = store.key_getter(f.prop)
    op, v = f.op, f.value
    if op == "EQ":
        return lambda p: key(p) == v
    if op == "NEQ":
        return lambda p: key(p) != v
    if op == "HAS_PROPERTY":
        return lambda p: key(p) is not None
    if op == "NOT_HAS_PROPERTY":
        return lambda p: key(p) is None
    if op in ("IN", "NOT_IN"):
        values = set(f.values)
        if op == "IN":
            return lambda p: key(p) in values
        return lambda p: key(p) not in values
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        want = op == "CONTAINS_TOKEN"
        search = v.search

        def token(p: int) -> bool:
            x = key(p)
            return (x is not None and search(str(x)) is not None) is want

        return token
    compare = {
        "LT": lambda x: x < v, "LTE": lambda x: x <= v, "GT": lambda x: x > v,
        "GTE": lambda x: x >= v, "BETWEEN": lambda x: v <= x <= f.high,
    }[op]

    def ranged(p: int) -> bool:
        x = key(p)
        return x is not None and compare(x)

    return ranged


def _bounds(f: Filter) -> tuple[int | None, int | None] | None:
    """Inclusive integer bounds of a range filter on epoch ms or ids."""
    if f.op not in _RANGE:
        return None
    v = int(f.value)
    if f.op == "EQ":
        return v, v
    if f.op == "LT":
        return None, v - 1
    if f.op == "LTE":
        return None, v
    if f.op == "GT":
        return v + 1, None
    if f.op == "GTE":
        return v, None
    return v, int(f.high)  # BETWEEN


def _slice(index: Sequence[int], key: Callable[[int], int],
           lo: int | None, hi: int | None) -> Sequence[int]:
    from bisect import bisect_left, bisect_right

    start = 0 if lo is None else bisect_left(index, lo, key=key)
    end = len(index) if hi is None else bisect_right(index, hi, key=key)
    return index[start:max(start, end)]


def _group_matches(
    store: ObjectStore, group: tuple[Filter, ...], text: Any, hidden: set[int]
) -> list[int]:
    best: Sequence[int] = store.id_order
    used: list[Filter] = []
    for prop, index, key in (
        ("hs_object_id", store.id_order, store.ids.__getitem__),
        (store.modified_property, None, store.modified.__getitem__),
    ):
        ranged = [f for f in group if f.prop == prop and _bounds(f) is not None]
        if not ranged:
            continue
        lows = [b[0] for b in map(_bounds, ranged) if b is not None and b[0] is not None]
        highs = [b[1] for b in map(_bounds, ranged) if b is not None and b[1] is not None]
        cand = _slice(store.mod_index() if index is None else index, key,
                      max(lows) if lows else None, min(highs) if highs else None)
        if not used or len(cand) < len(best):
            best, used = cand, ranged
    preds = [_predicate(f, store) for f in group if f not in used]
    if text is not None:
        preds.append(text)
    if hidden:
        preds.append(lambda p: p not in hidden)
    archived = store.archived
    if not preds:
        return [p for p in best if not archived[p]]
    if len(preds) == 1:
        pred = preds[0]
        return [p for p in best if not archived[p] and pred(p)]
    return [p for p in best if not archived[p] and all(pr(p) for pr in preds)]


def _text_predicate(store: ObjectStore, text: str) -> Callable[[int], bool]:
    needle = text.lower()
    getters = [store.key_getter(p) for p in _TEXT_PROPS.get(store.object, ()) if p in store.types]

    def match(p: int) -> bool:
        return any(needle in str(g(p) or "") for g in getters)

    return match


def _sorted(
    store: ObjectStore, positions: list[int], sorts: tuple[tuple[str, bool], ...]
) -> list[int]:
    ids = store.ids
    positions.sort(key=ids.__getitem__)
    for prop, desc in reversed(sorts):
        if prop == "hs_object_id":
            positions.sort(key=ids.__getitem__, reverse=desc)
            continue
        key = store.key_getter(prop)
        if desc:
            positions.sort(key=lambda p: (key(p) is not None, key(p)), reverse=True)
        else:
            positions.sort(key=lambda p: (key(p) is None, key(p)))
    return positions


class SearchCache:
    """The sorted matches of the last few queries, valid for one data version."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, int, bytes], list[int]] = OrderedDict()

    def get(self, key: tuple[str, int, bytes]) -> list[int] | None:
        hit = self._entries.get(key)
        if hit is not None:
            self._entries.move_to_end(key)
        return hit

    def put(self, key: tuple[str, int, bytes], value: list[int]) -> None:
        self._entries[key] = value
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


def run(store: ObjectStore, query: Query, cache: SearchCache) -> tuple[int, list[int]]:
    """(total matches, the positions of the requested page)."""
    key = (store.object, store.version, query.cache_key)
    hidden = store.hidden_now(time.monotonic()) if store.hidden else set()
    matches = None if hidden else cache.get(key)
    if matches is None:
        text = _text_predicate(store, query.text) if query.text else None
        groups = query.groups or ((),)
        if len(groups) == 1:
            matches = _group_matches(store, groups[0], text, hidden)
        else:
            union: set[int] = set()
            for group in groups:
                union.update(_group_matches(store, group, text, hidden))
            matches = list(union)
        matches = _sorted(store, matches, query.sorts)
        if not hidden:
            cache.put(key, matches)
    return len(matches), matches[query.after:query.after + query.limit]
