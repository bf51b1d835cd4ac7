"""The endpoints of the HubSpot sandbox: request in, (status, JSON payload) out.

Routing happens before authentication so that the rate limiter knows whether a request is a
search (its own per-second policy, no rate-limit headers) and the scope check knows which
scope a request needs. Every handler runs under the sandbox lock.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from syncd.sandbox import hubspot_search
from syncd.sandbox.hubspot_faults import error
from syncd.sandbox.hubspot_store import ASSOCIATION_TYPES, ObjectStore
from syncd.sandbox.hubspot_table import format_ms, to_ms

if TYPE_CHECKING:
    from syncd.sandbox.hubspot import HubSpotSandbox

Query = dict[str, list[str]]
Result = tuple[int, Any]

LIST_MAX = 100
LIST_MAX_WITH_HISTORY = 50
OWNERS_MAX = 500
ASSOCIATION_INPUTS_MAX = 1000
OBJECTS = {
    "deals": "deals", "deal": "deals", "0-3": "deals",
    "companies": "companies", "company": "companies", "0-2": "companies",
    "contacts": "contacts", "contact": "contacts", "0-1": "contacts",
}
SINGULAR = {"deals": "deal", "companies": "company", "contacts": "contact"}
SCOPES = {
    "deals": "crm.objects.deals.read",
    "companies": "crm.objects.companies.read",
    "contacts": "crm.objects.contacts.read",
    "owners": "crm.objects.owners.read",
}


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400, category: str | None = "VALIDATION_ERROR"):
        super().__init__(message)
        self.status = status
        self.payload = error(message, category)


@dataclass(frozen=True, slots=True)
class Route:
    run: Callable[[HubSpotSandbox, Query, Any], Result]
    scopes: tuple[str, ...]  # what the token needs; the first missing one is reported
    search: bool = False


def _object(name: str) -> str:
    obj = OBJECTS.get(name)
    if obj is None:
        raise BadRequest(f"Unable to infer object type from: {name}")
    return obj


_ROUTES: list[tuple[str, re.Pattern[str], Callable[..., Route]]] = []


def _route(method: str, pattern: str) -> Callable[[Callable[..., Route]], Callable[..., Route]]:
    def register(fn: Callable[..., Route]) -> Callable[..., Route]:
        _ROUTES.append((method, re.compile(pattern), fn))
        return fn
    return register


def resolve(method: str, path: str) -> Route | None:
    """The route of a request; a Route that answers 400/404/405 when it names nothing valid."""
    matched_path = False
    for route_method, pattern, make in _ROUTES:
        m = pattern.fullmatch(path)
        if m is None:
            continue
        matched_path = True
        if route_method == method:
            try:
                return make(*m.groups())
            except BadRequest as exc:
                return _fail(exc)
    if matched_path:
        return _fail(BadRequest(f"Method {method} is not supported here", 405, None))
    return None


def _fail(exc: BadRequest) -> Route:
    return Route(lambda sb, q, b: (exc.status, exc.payload), ())


# --------------------------------------------------------------------------- query params


def _multi(query: Query, name: str) -> list[str] | None:
    """Repeated and comma-joined values alike; None when the parameter is absent."""
    if name not in query:
        return None
    return [p.strip() for v in query[name] for p in v.split(",") if p.strip()]


def _one(query: Query, name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _bool(query: Query, name: str) -> bool:
    value = _one(query, name)
    if value is None or value == "":
        return False
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise BadRequest(f"{name} must be true or false, not {value!r}")


def _limit(sb: HubSpotSandbox, query: Query, default: int, maximum: int) -> int:
    raw = _one(query, "limit")
    if raw is None or raw == "":
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise BadRequest(f"limit must be a number, not {raw!r}") from None
    if limit < 1:
        raise BadRequest(f"limit must be at least 1, not {limit}")
    if limit > maximum:
        if not sb.clamp_limits:
            raise BadRequest(f"limit must be at most {maximum}, not {limit}")
        limit = maximum
    return limit


def _after(query: Query) -> int | None:
    raw = _one(query, "after")
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise BadRequest(f"after must be a paging cursor returned by HubSpot, not {raw!r}")
    return int(raw)


def _next_link(sb: HubSpotSandbox, path: str, query: Query, after: str) -> str:
    pairs = [(k, v) for k, values in query.items() if k != "after" for v in values]
    pairs.append(("after", after))
    return f"{sb.url}{path}?{urlencode(pairs)}"


# --------------------------------------------------------------------------- objects


@_route("GET", r"/crm/v3/objects/([^/]+)/?")
def _list_route(name: str) -> Route:
    obj = _object(name)

    def run(sb: HubSpotSandbox, query: Query, body: Any) -> Result:
        store = sb.stores[obj]
        history = _multi(query, "propertiesWithHistory") or []
        limit = _limit(sb, query, 10, LIST_MAX_WITH_HISTORY if history else LIST_MAX)
        render = store.renderer(_multi(query, "properties"),
                                associations=_multi(query, "associations") or (), history=history)
        positions, next_after = store.list_page(_after(query), limit, _bool(query, "archived"))
        payload: dict[str, Any] = {"results": [render(p) for p in positions]}
        if next_after is not None:
            after = str(next_after)
            payload["paging"] = {"next": {
                "after": after, "link": _next_link(sb, f"/crm/v3/objects/{name}", query, after)}}
        return 200, payload

    return Route(run, (SCOPES[obj],))


@_route("GET", r"/crm/v3/objects/([^/]+)/([^/]+)/?")
def _read_route(name: str, record_id: str) -> Route:
    obj = _object(name)

    def run(sb: HubSpotSandbox, query: Query, body: Any) -> Result:
        store = sb.stores[obj]
        pos = store.pos_of(int(record_id)) if record_id.isdigit() else None
        if pos is None or (store.archived[pos] != 0) != _bool(query, "archived"):
            return 404, error("resource not found")
        render = store.renderer(_multi(query, "properties"),
                                associations=_multi(query, "associations") or (),
                                history=_multi(query, "propertiesWithHistory") or ())
        return 200, render(pos)

    return Route(run, (SCOPES[obj],))


@_route("POST", r"/crm/v3/objects/([^/]+)/search/?")
def _search_route(name: str) -> Route:
    obj = _object(name)

    def run(sb: HubSpotSandbox, query: Query, body: Any) -> Result:
        store = sb.stores[obj]
        try:
            q = hubspot_search.parse_query(body, store, clamp_limit=sb.clamp_limits)
        except hubspot_search.SearchError as exc:
            raise BadRequest(str(exc)) from None
        total, positions = hubspot_search.run(store, q, sb.search_cache)
        render = store.renderer(q.properties)
        payload: dict[str, Any] = {"total": total, "results": [render(p) for p in positions]}
        if q.after + q.limit < total:
            payload["paging"] = {"next": {"after": str(q.after + q.limit)}}
        return 200, payload

    return Route(run, (SCOPES[obj],), search=True)


# --------------------------------------------------------------------------- associations


@_route("POST", r"/crm/v4/associations/([^/]+)/([^/]+)/batch/read/?")
def _associations_route(from_name: str, to_name: str) -> Route:
    from_obj, to_obj = _object(from_name), _object(to_name)

    def run(sb: HubSpotSandbox, query: Query, body: Any) -> Result:
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            raise BadRequest("Invalid input JSON: expected {\"inputs\": [{\"id\": ...}]}")
        if len(inputs) > ASSOCIATION_INPUTS_MAX:
            raise BadRequest(f"Batch input may not exceed {ASSOCIATION_INPUTS_MAX} inputs, "
                             f"got {len(inputs)}")
        started = format_ms(to_ms(datetime.now(UTC)))
        store: ObjectStore = sb.stores[from_obj]
        types = ASSOCIATION_TYPES.get((from_obj, to_obj))
        results, errors = [], []
        for item in inputs:
            raw_id = str(item.get("id", ""))
            pos = store.pos_of(int(raw_id)) if raw_id.isdigit() else None
            cids = store.companies_of(pos) if pos is not None and types is not None else ()
            if pos is not None and store.archived[pos]:
                cids = ()
            if cids and types is not None:
                results.append({"from": {"id": raw_id}, "to": [
                    {"toObjectId": cid, "associationTypes": [
                        {"category": "HUBSPOT_DEFINED", "typeId": types[0], "label": "Primary"},
                        {"category": "HUBSPOT_DEFINED", "typeId": types[1], "label": None},
                    ]} for cid in cids]})
            else:
                errors.append({
                    "status": "error", "category": "OBJECT_NOT_FOUND",
                    "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                    "message": f"No {SINGULAR[to_obj]} is associated with "
                               f"{SINGULAR[from_obj]} {raw_id}.",
                    "context": {"fromObjectId": [raw_id],
                                "fromObjectType": [SINGULAR[from_obj]],
                                "toObjectType": [SINGULAR[to_obj]]},
                })
        payload: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            payload["numErrors"] = len(errors)
            payload["errors"] = errors
        payload["startedAt"] = started
        payload["completedAt"] = format_ms(to_ms(datetime.now(UTC)))
        return (207 if errors else 200), payload

    return Route(run, (SCOPES[from_obj], SCOPES[to_obj]))


# --------------------------------------------------------------------------- pipelines, owners


@_route("GET", r"/crm/v3/pipelines/([^/]+)/?")
def _pipelines_route(name: str) -> Route:
    obj = _object(name)

    def run(sb: HubSpotSandbox, query: Query, body: Any) -> Result:
        return 200, {"results": list(sb.pipelines) if obj == "deals" else []}

    return Route(run, (SCOPES[obj],))


@_route("GET", r"/crm/v3/pipelines/([^/]+)/([^/]+)/?")
def _pipeline_route(name: str, pipeline_id: str) -> Route:
    obj = _object(name)

    def run(sb: HubSpotSandbox, query: Query, body: Any) -> Result:
        for pipeline in sb.pipelines if obj == "deals" else []:
            if pipeline["id"] == pipeline_id:
                return 200, pipeline
        return 404, error(f"Unable to find pipeline with id {pipeline_id}", "OBJECT_NOT_FOUND")

    return Route(run, (SCOPES[obj],))


@_route("GET", r"/crm/v3/owners/?")
def _owners_route() -> Route:
    def run(sb: HubSpotSandbox, query: Query, body: Any) -> Result:
        limit = _limit(sb, query, 100, OWNERS_MAX)
        start = _after(query) or 0
        archived = _bool(query, "archived")
        email = _one(query, "email")
        owners = [o for o in sb.owners if o["archived"] == archived
                  and (email is None or o["email"] == email)]
        page = owners[start:start + limit]
        payload: dict[str, Any] = {"results": page}
        if start + limit < len(owners):
            after = str(start + limit)
            payload["paging"] = {"next": {
                "after": after, "link": _next_link(sb, "/crm/v3/owners/", query, after)}}
        return 200, payload

    return Route(run, (SCOPES["owners"],))


@_route("GET", r"/crm/v3/owners/([^/]+)/?")
def _owner_route(owner_id: str) -> Route:
    def run(sb: HubSpotSandbox, query: Query, body: Any) -> Result:
        archived = _bool(query, "archived")
        for owner in sb.owners:
            if owner["id"] == owner_id and owner["archived"] == archived:
                return 200, owner
        return 404, error("resource not found")

    return Route(run, (SCOPES["owners"],))
