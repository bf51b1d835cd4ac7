"""HubSpot as pages of canonical records: full listing first, then a modified-date cursor.

Checkpoints (opaque to the caller, stored with each page):

- ``{"mode": "full", "after": "<list token>", "started_at": ms}``: a first sync in progress
  through the list endpoint (100 per page, with associations). When it ends the cursor becomes
  ``{"mode": "incremental", "since": started_at}``: whatever changed while it ran is re-read.
- ``{"mode": "incremental", "since": ms}``: later syncs search ``modified >= since - lookback``
  and ``modified <= until`` (the sync's start; the cursor never moves past it), sorted by
  ``hs_object_id`` and paged by keyset (``hs_object_id > last id``) rather than by offset, so a
  window never meets the 10,000-result cap even when more than 10,000 records share one
  timestamp (airbytehq/airbyte#43317). ``lookback`` covers the search index's lag.
- ``{"mode": "incremental", "since": ms, "until": ms, "after_id": n}``: a window interrupted
  by a crash. The next run finishes it, then searches from its ``until`` to the new start.

Search returns no associations: deal pages are followed by one batch read of their companies.
Archived records never show in search: :meth:`fetch_archived` lists them separately.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import orjson

from connectors.base import (
    AccessReport,
    AuthError,
    Connector,
    FieldMap,
    LazyRecords,
    ObjectAccess,
    ObjectName,
    Page,
    Pipeline,
    Tombstone,
)
from connectors.hubspot.client import HubSpotHttp, RetryPolicy
from connectors.hubspot.parse import (
    CompanyParser,
    ContactParser,
    DealParser,
    PageDecoder,
    parse_owner,
    parse_pipeline,
    parse_tombstone,
    to_epoch_ms,
)

log = logging.getLogger("syncd.connectors.hubspot")

LIST_LIMIT = 100  # HubSpot's maximum for the list endpoints
SEARCH_LIMIT = 200  # and for search
OWNERS_LIMIT = 500
ASSOCIATION_BATCH = 1000

#: The property each object's modified-date cursor is kept on.
MODIFIED_PROPERTY: dict[str, str] = {
    "deals": "hs_lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "contacts": "lastmodifieddate",
}


class HubSpotConnector(Connector):
    """Reads owners, deal pipelines, companies, contacts and deals from one HubSpot portal."""

    name = "hubspot"

    def __init__(
        self, http: HubSpotHttp, fields: FieldMap, *, lookback: timedelta = timedelta(minutes=5)
    ) -> None:
        self.http = http
        self.stats = http.stats
        self.fields = fields
        self.lookback_ms = int(lookback.total_seconds() * 1000)
        self._pipelines: list[Pipeline] | None = None
        self._companies = CompanyParser(fields.company)
        self._contacts = ContactParser(fields.contact)

    @classmethod
    def create(
        cls,
        *,
        access_token: str,
        base_url: str,
        fields: FieldMap,
        timeout: float = 30.0,
        max_retry_time: float = 600.0,
        lookback: timedelta = timedelta(minutes=5),
    ) -> HubSpotConnector:
        policy = RetryPolicy(timeout=timeout, max_retry_time=max_retry_time)
        return cls(HubSpotHttp(access_token, base_url, policy=policy), fields, lookback=lookback)

    # ------------------------------------------------------------------ interface

    def fetch(
        self, obj: ObjectName, state: Mapping[str, Any] | None, until: datetime
    ) -> Iterator[Page[Any]]:
        if obj == "owners":
            return self._owners(archived=False)
        if obj == "pipelines":
            return self._pipeline_page()
        until_ms = to_epoch_ms(until)
        if state and state.get("mode") == "incremental":
            return self._incremental(obj, state, until_ms)
        return self._full(obj, state or {}, until_ms)

    def fetch_archived(
        self, obj: ObjectName, state: Mapping[str, Any] | None
    ) -> Iterator[Page[Tombstone]]:
        if obj == "owners":
            return self._owners(archived=True)
        if obj == "pipelines":
            return iter(())
        return self._archived(obj, (state or {}).get("after"))

    def check(self) -> AccessReport:
        results: list[ObjectAccess] = []
        probes: list[tuple[str, Any]] = [
            ("owners", lambda: f"{len(self._owner_page(None, False)[0])} owners (first page)"),
            ("pipelines", self._describe_pipelines),
        ]
        for obj in ("companies", "contacts", "deals"):
            probes.append((obj, lambda obj=obj: f"{self._count(obj):,} records"))
        for obj, probe in probes:
            try:
                results.append(ObjectAccess(obj, True, probe()))
            except AuthError as exc:
                if exc.missing_scope is None:
                    raise
                results.append(ObjectAccess(obj, False, f"missing scope {exc.missing_scope}"))
        return AccessReport(account=self.http.base_url, objects=tuple(results))

    # ------------------------------------------------------------------ small objects

    def _owner_page(self, after: str | None, archived: bool) -> tuple[list[Any], str | None]:
        api = self.http.client.crm.owners.owners_api
        kwargs: dict[str, Any] = {"limit": OWNERS_LIMIT, "archived": archived}
        if after:
            kwargs["after"] = after
        body = self.http.call("list owners", api.get_page, **kwargs)
        return body.get("results") or [], _next_after(body)

    def _owners(self, *, archived: bool) -> Iterator[Page[Any]]:
        after: str | None = None
        while True:
            raw, after = self._owner_page(after, archived)
            records: list[Any] = [
                parse_tombstone(r) if archived else parse_owner(r) for r in raw
            ]
            yield Page(records, {}, api_calls=1, done=after is None)
            if after is None:
                return

    def pipelines(self) -> list[Pipeline]:
        if self._pipelines is None:
            api = self.http.client.crm.pipelines.pipelines_api
            body = self.http.call("list deal pipelines", api.get_all, object_type="deals")
            self._pipelines = [parse_pipeline(p) for p in body.get("results") or []]
        return self._pipelines

    def _pipeline_page(self) -> Iterator[Page[Pipeline]]:
        self._pipelines = None  # always re-read: stages change
        pipelines = self.pipelines()
        yield Page(pipelines, {}, api_calls=1, done=True)

    def _describe_pipelines(self) -> str:
        self._pipelines = None
        pipelines = self.pipelines()
        stages = sum(len(p.stages) for p in pipelines)
        return f"{len(pipelines)} deal pipelines, {stages} stages"

    def _count(self, obj: str) -> int:
        api = getattr(self.http.client.crm, obj).search_api
        body = self.http.call(
            f"count {obj}", api.do_search, public_object_search_request={"limit": 1},
            search=True,
        )
        return int(body.get("total") or 0)

    # ------------------------------------------------------------------ big objects

    def _parser(self, obj: str) -> tuple[list[str], Any]:
        if obj == "deals":
            deals = DealParser(self.fields.deal, self.pipelines())
            return deals.properties(), deals.parse
        if obj == "companies":
            return self._companies.properties(), self._companies.parse
        if obj == "contacts":
            return self._contacts.properties(), self._contacts.parse
        raise ValueError(f"unknown object {obj!r}")

    def _full(self, obj: str, state: Mapping[str, Any], until_ms: int) -> Iterator[Page[Any]]:
        properties, parse = self._parser(obj)
        decode = PageDecoder(parse)
        api = getattr(self.http.client.crm, obj).basic_api
        started_at = int(state.get("started_at") or until_ms)
        after: str | None = state.get("after")
        associations = ["companies"] if obj == "deals" else None
        while True:
            kwargs: dict[str, Any] = {
                "limit": LIST_LIMIT, "properties": properties, "archived": False,
            }
            if associations:
                kwargs["associations"] = associations
            if after:
                kwargs["after"] = after
            body = self.http.call(f"list {obj}", api.get_page, **kwargs)
            results = body.get("results") or []
            # parsed where they are used (maybe in a writer process): see LazyRecords
            records = LazyRecords([orjson.dumps(results)], len(results), decode)
            after = _next_after(body)
            if after is None:
                checkpoint: dict[str, Any] = {"mode": "incremental", "since": started_at}
            else:
                checkpoint = {"mode": "full", "after": after, "started_at": started_at}
            yield Page(records, checkpoint, api_calls=1, done=after is None)
            if after is None:
                return

    def _incremental(
        self, obj: str, state: Mapping[str, Any], until_ms: int
    ) -> Iterator[Page[Any]]:
        since = int(state["since"])
        if "until" in state:  # finish the window a crash interrupted, then go on from it
            old_until = int(state["until"])
            yield from self._window(obj, since, old_until, int(state.get("after_id") or 0),
                                    final=False)
            since = old_until
        yield from self._window(obj, since, until_ms, 0, final=True)

    def _window(
        self, obj: str, since: int, until: int, after_id: int, *, final: bool
    ) -> Iterator[Page[Any]]:
        properties, parse = self._parser(obj)
        api = getattr(self.http.client.crm, obj).search_api
        modified = MODIFIED_PROPERTY[obj]
        while True:
            body = {
                "limit": SEARCH_LIMIT,
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                "properties": properties,
                "filterGroups": [{"filters": [
                    {"propertyName": modified, "operator": "GTE",
                     "value": str(max(0, since - self.lookback_ms))},
                    {"propertyName": modified, "operator": "LTE", "value": str(until)},
                    {"propertyName": "hs_object_id", "operator": "GT", "value": str(after_id)},
                ]}],
            }
            page = self.http.call(
                f"search {obj}", api.do_search, public_object_search_request=body, search=True
            )
            raw = page.get("results") or []
            calls = 1
            links: dict[str, tuple[str, ...]] | None = None
            if obj == "deals" and raw:
                links = self._deal_companies([str(r["id"]) for r in raw])
                calls += 1
            if links is None:
                records = [parse(r) for r in raw]
            else:
                records = [parse(r, links.get(str(r["id"]), ())) for r in raw]
            more = len(raw) >= SEARCH_LIMIT and page.get("paging") is not None
            if raw:
                after_id = max(after_id, max(int(r["id"]) for r in raw))
            if more:
                checkpoint: dict[str, Any] = {
                    "mode": "incremental", "since": since, "until": until, "after_id": after_id,
                }
            else:
                checkpoint = {"mode": "incremental", "since": until}
            yield Page(records, checkpoint, api_calls=calls, done=final and not more,
                       total=page.get("total"))
            if not more:
                return

    def _deal_companies(self, deal_ids: list[str]) -> dict[str, tuple[str, ...]]:
        api = self.http.client.crm.associations.v4.batch_api
        links: dict[str, list[str]] = {}
        for start in range(0, len(deal_ids), ASSOCIATION_BATCH):
            chunk = deal_ids[start : start + ASSOCIATION_BATCH]
            body = self.http.call(
                "read deal-company associations", api.get_page,
                from_object_type="deals", to_object_type="companies",
                batch_input_public_fetch_associations_batch_request={
                    "inputs": [{"id": i} for i in chunk]
                },
            )
            for result in body.get("results") or []:
                source = str((result.get("from") or {}).get("id"))
                targets = [str(t["toObjectId"]) for t in result.get("to") or []
                           if "toObjectId" in t]
                links.setdefault(source, []).extend(targets)
        return {k: tuple(dict.fromkeys(v)) for k, v in links.items()}

    def _archived(self, obj: str, after: str | None) -> Iterator[Page[Tombstone]]:
        api = getattr(self.http.client.crm, obj).basic_api
        while True:
            kwargs: dict[str, Any] = {
                "limit": LIST_LIMIT, "archived": True, "properties": ["hs_object_id"],
            }
            if after:
                kwargs["after"] = after
            body = self.http.call(f"list archived {obj}", api.get_page, **kwargs)
            records = [parse_tombstone(r) for r in body.get("results") or []]
            after = _next_after(body)
            yield Page(records, {"after": after} if after else {}, api_calls=1,
                       done=after is None)
            if after is None:
                return

    def close(self) -> None:
        self._pipelines = None


def _next_after(body: Mapping[str, Any]) -> str | None:
    paging = body.get("paging") or {}
    after = (paging.get("next") or {}).get("after")
    return str(after) if after else None
