"""A local HubSpot CRM v3 server that behaves like the real one for what a sync uses.

    with HubSpotSandbox(generate(now=now)) as hs:
        client = hubspot.Client.create(access_token=hs.token, host=hs.url)
        client.crm.deals.basic_api.get_page(limit=100, properties=["dealname"])

Served (shapes as HubSpot's, see ``/work/shared/reference/crm-apis.md``):

- ``GET /crm/v3/objects/{deals|companies|contacts}`` (and ``/{id}``): ``limit`` (default 10,
  at most 100, or 50 with ``propertiesWithHistory``), ``after`` (the next id), ``properties``,
  ``associations``, ``propertiesWithHistory`` (repeated or comma-joined), ``archived``.
- ``POST /crm/v3/objects/{type}/search``: see :mod:`syncd.sandbox.hubspot_search`.
- ``POST /crm/v4/associations/{from}/{to}/batch/read``: at most 1,000 inputs; an input without
  associations is reported in ``errors`` (``NO_ASSOCIATIONS_FOUND``) and the answer is a 207.
- ``GET /crm/v3/pipelines/deals`` (and ``/{id}``), ``GET /crm/v3/owners/`` (and ``/{id}``).

Choices where HubSpot's behaviour could not be checked: a ``limit`` over the maximum is clamped
(``clamp_limits=False`` answers 400 instead); a wrong token gets HubSpot's expired-token body
(``EXPIRED_AUTHENTICATION``), a missing one ``INVALID_AUTHENTICATION``; the search-window 400
text is the sandbox's own. ``search_lag`` mimics the search index lagging writes: an edited
record stays out of search results for that many seconds (it disappears rather than showing
its old values), which is what a sync's lookback window is for.

Deal-company associations come as HubSpot sends them: twice, as the primary type and the
unlabeled one (``deal_to_company`` and ``deal_to_company_unlabeled``;
v4 type ids 5 and 341).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from syncd.sandbox.dataset import Dataset
from syncd.sandbox.hubspot_faults import Fault, FaultQueue
from syncd.sandbox.hubspot_http import Limits, SandboxServer, utc_now
from syncd.sandbox.hubspot_search import SearchCache
from syncd.sandbox.hubspot_store import ObjectStore
from syncd.sandbox.hubspot_table import format_ms, to_ms

__all__ = ["Fault", "HubSpotSandbox", "RequestLog"]

OBJECT_NAMES = ("deals", "companies", "contacts")


@dataclass(frozen=True, slots=True)
class RequestLog:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any  # the parsed JSON body, or None
    status: int  # 0 when the connection was closed without an answer
    time: datetime  # when the answer went out (UTC, wall clock)
    duration: float  # seconds spent in the server, faults' sleeps included
    fault: str | None = None  # the kind of the injected fault that took the request


class HubSpotSandbox:
    """The server, its data (thread-safe to edit while it runs), its faults and its log."""

    def __init__(
        self,
        dataset: Dataset | None = None,
        *,
        token: str = "sandbox-token",
        burst_limit: tuple[int, float] | None = None,
        search_limit: tuple[int, float] | None = (5, 1.0),
        daily_limit: int = 500_000,
        scopes: set[str] | None = None,
        clock: Callable[[], datetime] | None = None,
        retry_after_header: bool = False,
        clamp_limits: bool = True,
        search_lag: float = 0.0,
        log_requests: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._clock = clock or utc_now
        if dataset is None:
            dataset = Dataset.empty(self._clock())
        self.dataset = dataset
        self.token = token
        self.scopes = set(scopes) if scopes is not None else None
        self.clamp_limits = clamp_limits
        self.search_lag = search_lag
        self.log_requests = log_requests
        self.owners: list[dict[str, Any]] = [dict(o) for o in dataset.owners]
        self.pipelines: list[dict[str, Any]] = [
            dict(p, stages=[dict(s) for s in p["stages"]]) for p in dataset.pipelines]
        self.stores = {name: ObjectStore(dataset.table(name)) for name in OBJECT_NAMES}
        self.search_cache = SearchCache()
        self.faults = FaultQueue()
        self._limits = Limits(burst=burst_limit, search=search_limit, daily=daily_limit,
                              retry_after_header=retry_after_header)
        self._lock = threading.RLock()
        self._entries: list[RequestLog] = []
        self._log_lock = threading.Lock()
        self._address = (host, port)
        self._server: SandboxServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> HubSpotSandbox:
        if self._server is not None:
            return self
        self._server = SandboxServer(self._address, self)
        port = self._server.server_address[1]
        self.url = f"http://{self._address[0]}:{port}"
        self._thread = self._server.serve_in_background(f"hubspot-sandbox:{port}")
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop_serving(self._thread)

    def __enter__(self) -> HubSpotSandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def warm(self) -> None:
        """Build the search indexes now rather than on the first search."""
        with self._lock:
            for store in self.stores.values():
                store.mod_index()

    # ------------------------------------------------------------------ request log

    @property
    def requests(self) -> list[RequestLog]:
        """Every request answered (or dropped) so far, oldest first (a copy)."""
        with self._log_lock:
            return list(self._entries)

    def clear_log(self) -> None:
        with self._log_lock:
            self._entries.clear()

    def _append_log(self, method: str, path: str, query: dict[str, list[str]], body: Any,
             status: int, duration: float, fault: str | None) -> None:
        if not self.log_requests:
            return
        entry = RequestLog(method, path, query, body, status, utc_now(), duration, fault)
        with self._log_lock:
            self._entries.append(entry)

    # ------------------------------------------------------------------ faults

    def inject(self, fault: Fault) -> None:
        """Queue a fault; rules are tried in the order they were injected."""
        self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    # ------------------------------------------------------------------ data

    def _store(self, obj: str) -> ObjectStore:
        try:
            return self.stores[obj]
        except KeyError:
            raise KeyError(f"unknown object {obj!r}: use deals, companies or contacts") from None

    def _ms(self, at: datetime | None) -> int:
        return to_ms(at if at is not None else self._clock())

    def upsert(
        self, obj: str, id: str, properties: dict[str, str | None], *,
        modified_at: datetime | None = None, company_ids: list[str] | None = None,
    ) -> None:
        """Create or update a record. Its modified date and ``updatedAt`` become ``modified_at``
        (default: the sandbox clock's now). ``company_ids`` replaces its associated companies."""
        if not str(id).isdigit():
            raise ValueError(f"HubSpot ids are numeric strings, not {id!r}")
        companies = None if company_ids is None else [int(c) for c in company_ids]
        with self._lock:
            store = self._store(obj)
            pos = store.upsert(int(id), dict(properties), self._ms(modified_at), companies)
            self._lag(store, [pos])

    def archive(self, obj: str, id: str, at: datetime | None = None) -> None:
        with self._lock:
            self._store(obj).archive(int(id), self._ms(at))

    def restore(self, obj: str, id: str, at: datetime | None = None) -> None:
        with self._lock:
            store = self._store(obj)
            self._lag(store, [store.restore(int(id), self._ms(at))])

    def touch_many(self, obj: str, ids: Iterable[str], modified_at: datetime) -> int:
        """A HubSpot batch update: every record gets exactly the same modified time."""
        with self._lock:
            store = self._store(obj)
            positions = store.touch_many((int(i) for i in ids), to_ms(modified_at))
            self._lag(store, positions)
            return len(positions)

    def _lag(self, store: ObjectStore, positions: list[int]) -> None:
        if self.search_lag > 0:
            store.hide(positions, time.monotonic() + self.search_lag)

    def set_owner(
        self, id: str, email: str, first_name: str | None = None, last_name: str | None = None,
        *, user_id: int | None = None, teams: Iterable[tuple[str, str]] = (),
        archived: bool = False,
    ) -> None:
        """Add or replace an owner; ``teams`` are (id, name) pairs, the first one primary."""
        stamp = format_ms(self._ms(None))
        owner = {
            "id": id, "email": email, "type": "PERSON", "firstName": first_name,
            "lastName": last_name, "userId": None if archived else user_id,
            "userIdIncludingInactive": user_id, "createdAt": stamp, "updatedAt": stamp,
            "archived": archived,
            "teams": [{"id": t, "name": n, "primary": i == 0} for i, (t, n) in enumerate(teams)],
        }
        with self._lock:
            for i, existing in enumerate(self.owners):
                if existing["id"] == id:
                    owner["createdAt"] = existing["createdAt"]
                    self.owners[i] = owner
                    return
            self.owners.append(owner)

    def add_pipeline_stage(
        self, pipeline_id: str, stage_id: str, label: str, *, probability: float | None,
        is_closed: bool = False, display_order: int | None = None,
    ) -> None:
        """Add a stage (``probability`` None leaves it out, as some portals do)."""
        stamp = format_ms(self._ms(None))
        with self._lock:
            pipeline = next((p for p in self.pipelines if p["id"] == pipeline_id), None)
            if pipeline is None:
                raise KeyError(f"no pipeline {pipeline_id!r}")
            metadata = {"isClosed": "true" if is_closed else "false"}
            if probability is not None:
                metadata["probability"] = str(float(probability))
            stages = pipeline["stages"]
            stages.append({
                "id": stage_id, "label": label, "archived": False,
                "displayOrder": len(stages) if display_order is None else display_order,
                "createdAt": stamp, "updatedAt": stamp,
                "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT", "metadata": metadata,
            })
            pipeline["updatedAt"] = stamp

    def record(self, obj: str, id: str) -> dict[str, str | None] | None:
        """Every property of one record as the sandbox holds it (None if unknown)."""
        with self._lock:
            store = self._store(obj)
            pos = store.pos_of(int(id))
            if pos is None:
                return None
            return {name: store.value(pos, name) for name in sorted(store.types)}

