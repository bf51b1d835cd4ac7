"""The HubSpot sandbox, driven by the real hubspot-api-client (and raw HTTP where the client
would hide what is checked: comma-joined params, headers, bodies of errors)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import hubspot
import orjson
import pytest
import urllib3
from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.deals import ApiException, PublicObjectSearchRequest

from syncd.sandbox.dataset import Dataset, generate
from syncd.sandbox.hubspot import Fault, HubSpotSandbox
from syncd.sandbox.hubspot_table import parse_time_ms, to_ms

NOW = datetime(2026, 11, 2, 10, 15, 30, 123000, tzinfo=UTC)
RATE_HEADERS = (
    "X-HubSpot-RateLimit-Max", "X-HubSpot-RateLimit-Remaining",
    "X-HubSpot-RateLimit-Interval-Milliseconds", "X-HubSpot-RateLimit-Daily",
    "X-HubSpot-RateLimit-Daily-Remaining",
)
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z"


@pytest.fixture(scope="module")
def team() -> Dataset:
    return generate(now=NOW)


@pytest.fixture(scope="module")
def with_deleted() -> Dataset:
    return generate(now=NOW, with_deleted=True)


@pytest.fixture(scope="module")
def big() -> Dataset:
    """About 5,000 deals, 7,000 companies and 15,000 contacts: past the 10,000 search cap."""
    return generate(now=NOW, deals=5000)


@pytest.fixture
def hs(team: Dataset) -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(team, search_limit=None) as sandbox:
        yield sandbox


@pytest.fixture
def pool() -> Iterator[urllib3.PoolManager]:
    manager = urllib3.PoolManager(retries=False)
    yield manager
    manager.clear()


def client(sandbox: HubSpotSandbox, token: str | None = None) -> hubspot.Client:
    return hubspot.Client.create(access_token=token or sandbox.token, host=sandbox.url)


def call(
    pool: urllib3.PoolManager, sandbox: HubSpotSandbox, method: str, path: str,
    *, token: str | None = "", body: Any = None,
) -> urllib3.BaseHTTPResponse:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token or sandbox.token}"
    return pool.request(method, sandbox.url + path, headers=headers,
                        body=None if body is None else orjson.dumps(body))


def live_ids(dataset: Dataset, obj: str) -> list[str]:
    table = dataset.table(obj)
    return sorted((str(table.ids[p]) for p in range(len(table)) if not table.archived[p]), key=int)


def search(sandbox: HubSpotSandbox, obj: str, body: dict[str, Any]) -> dict[str, Any]:
    api = getattr(client(sandbox).crm, obj).search_api
    response = api.do_search(body, _preload_content=False)
    return dict(orjson.loads(response.data))


# --------------------------------------------------------------------------- list endpoint


def test_list_pages_to_the_end_in_id_order_with_the_requested_properties(
    hs: HubSpotSandbox, team: Dataset
) -> None:
    api = client(hs).crm.deals.basic_api
    wanted = ["dealname", "amount", "dealstage", "hs_v2_date_entered_closedwon", "no_such_prop"]
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = api.get_page(limit=100, after=after, properties=wanted)
        pages += 1
        for deal in page.results:
            seen.append(deal.id)
            assert set(deal.properties) == {
                "dealname", "amount", "dealstage", "hs_v2_date_entered_closedwon",
                "hs_object_id", "createdate", "hs_lastmodifieddate"}
            assert deal.properties["hs_object_id"] == deal.id
            assert all(v is None or isinstance(v, str) for v in deal.properties.values())
            assert deal.updated_at is not None and deal.archived is False
        if page.paging is None:
            break
        assert page.paging.next.link.startswith(hs.url + "/crm/v3/objects/deals?")
        after = page.paging.next.after
    assert seen == live_ids(team, "deals")
    assert pages == -(-len(seen) // 100)
    assert len(hs.requests) == pages
    assert hs.requests[0].query["properties"] == wanted
    assert hs.requests[0].query["limit"] == ["100"]


def test_comma_joined_params_give_the_same_page_as_repeated_ones(
    hs: HubSpotSandbox, pool: urllib3.PoolManager
) -> None:
    joined = call(pool, hs, "GET", "/crm/v3/objects/deals?limit=5&properties=dealname,amount"
                  "&associations=companies")
    repeated = call(pool, hs, "GET", "/crm/v3/objects/deals?limit=5&properties=dealname"
                    "&properties=amount&associations=companies")
    assert joined.status == repeated.status == 200
    first = orjson.loads(joined.data)["results"][0]
    assert orjson.loads(joined.data)["results"] == orjson.loads(repeated.data)["results"]
    assert set(first["properties"]) == {"dealname", "amount", "hs_object_id", "createdate",
                                        "hs_lastmodifieddate"}
    company = first["associations"]["companies"]["results"]
    assert [c["type"] for c in company] == ["deal_to_company", "deal_to_company_unlabeled"]
    assert company[0]["id"] == company[1]["id"]


def test_the_paging_link_is_absolute_and_leads_to_the_next_page(
    hs: HubSpotSandbox, pool: urllib3.PoolManager
) -> None:
    first = orjson.loads(call(pool, hs, "GET", "/crm/v3/objects/companies?limit=2").data)
    link = first["paging"]["next"]["link"]
    following = pool.request("GET", link, headers={"Authorization": f"Bearer {hs.token}"})
    second = orjson.loads(following.data)
    assert second["results"][0]["id"] == first["paging"]["next"]["after"] or (
        int(second["results"][0]["id"]) > int(first["results"][-1]["id"]))
    assert [r["id"] for r in second["results"]] != [r["id"] for r in first["results"]]


def test_default_properties_when_none_are_requested(hs: HubSpotSandbox) -> None:
    crm = client(hs).crm
    deal = crm.deals.basic_api.get_page(limit=1).results[0]
    assert set(deal.properties) == {"amount", "closedate", "createdate", "dealname",
                                    "dealstage", "hs_lastmodifieddate", "hs_object_id",
                                    "pipeline"}
    contact = crm.contacts.basic_api.get_page(limit=1).results[0]
    assert set(contact.properties) == {"createdate", "email", "firstname", "hs_object_id",
                                       "lastmodifieddate", "lastname"}


@pytest.mark.parametrize(("clamp", "status", "count"), [(True, 200, 100), (False, 400, 0)])
def test_a_limit_over_100_is_clamped_or_refused(
    team: Dataset, pool: urllib3.PoolManager, clamp: bool, status: int, count: int
) -> None:
    with HubSpotSandbox(team, clamp_limits=clamp) as sandbox:
        response = call(pool, sandbox, "GET", "/crm/v3/objects/contacts?limit=250")
    assert response.status == status
    body = orjson.loads(response.data)
    assert len(body.get("results", [])) == count
    if status == 400:
        assert body["category"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("flag", ["true", "True"])
def test_archived_listing_shows_only_archived_records(
    with_deleted: Dataset, pool: urllib3.PoolManager, flag: str
) -> None:
    table = with_deleted.contacts
    expected = [str(table.ids[p]) for p in table.id_order if table.archived[p]]
    assert expected, "with_deleted adds deleted duplicates"
    with HubSpotSandbox(with_deleted) as hs:
        body = orjson.loads(
            call(pool, hs, "GET", f"/crm/v3/objects/contacts?archived={flag}&limit=100").data)
        live = orjson.loads(
            call(pool, hs, "GET", "/crm/v3/objects/contacts?archived=False&limit=100").data)
        bad = call(pool, hs, "GET", "/crm/v3/objects/contacts?archived=maybe")
    assert [r["id"] for r in body["results"]] == expected
    assert "paging" not in body
    assert all(r["archived"] is True and r["archivedAt"] for r in body["results"])
    assert not {r["id"] for r in live["results"]} & set(expected)
    assert bad.status == 400


def test_archive_and_restore_move_a_record_between_the_listings(
    hs: HubSpotSandbox, team: Dataset
) -> None:
    api = client(hs).crm.deals.basic_api
    deal_id = live_ids(team, "deals")[3]
    at = NOW + timedelta(minutes=5)
    hs.archive("deals", deal_id, at=at)
    archived = {d.id: d for d in api.get_page(limit=100, archived=True).results}
    assert archived[deal_id].archived_at == at
    assert deal_id not in {d.id for d in api.get_page(limit=100).results}
    hs.restore("deals", deal_id, at=at + timedelta(minutes=1))
    restored = {d.id: d for d in api.get_page(limit=100).results}
    assert restored[deal_id].updated_at == at + timedelta(minutes=1)
    assert team.deals.archived[team.deals.id_order[0]] == 0, "the dataset itself is untouched"


# --------------------------------------------------------------------------- edits and clock


def test_upsert_creates_and_updates_records_with_the_given_or_clock_time(team: Dataset) -> None:
    clock_now = NOW + timedelta(hours=1)
    with HubSpotSandbox(team, clock=lambda: clock_now, search_limit=None) as sandbox:
        sandbox.upsert("deals", "42", {"dealname": "Test", "amount": "abc", "dealstage": None},
                       company_ids=[])
        api = client(sandbox).crm.deals.basic_api
        deal = api.get_by_id("42", properties=["dealname", "amount", "dealstage", "custom_x"])
        assert deal.properties["amount"] == "abc"  # bad data comes through as typed
        assert deal.properties["dealstage"] is None
        assert "custom_x" not in deal.properties
        assert deal.properties["hs_lastmodifieddate"] == "2026-11-02T11:15:30.123Z"
        assert deal.updated_at == clock_now
        later = NOW + timedelta(days=1, milliseconds=877)
        sandbox.upsert("deals", "42", {"custom_x": "1"}, modified_at=later)
        deal = api.get_by_id("42", properties=["dealname", "custom_x"], associations=["companies"])
        assert deal.properties == {"dealname": "Test", "custom_x": "1", "hs_object_id": "42",
                                   "createdate": "2026-11-02T11:15:30.123Z",
                                   "hs_lastmodifieddate": "2026-11-03T10:15:31Z"}
        assert deal.associations is None
        first = api.get_page(limit=1).results[0]
        assert first.id == "42", "the smallest id comes first"


def test_touch_many_gives_records_one_shared_timestamp(hs: HubSpotSandbox, team: Dataset) -> None:
    ids = live_ids(team, "contacts")[:30]
    at = NOW + timedelta(minutes=3)
    assert hs.touch_many("contacts", ids, at) == 30
    found = search(hs, "contacts", {"limit": 100, "filterGroups": [{"filters": [
        {"propertyName": "lastmodifieddate", "operator": "EQ", "value": str(to_ms(at))}]}]})
    assert found["total"] == 30
    assert sorted(r["id"] for r in found["results"]) == sorted(ids)
    assert {r["updatedAt"] for r in found["results"]} == {"2026-11-02T10:18:30.123Z"}


def test_search_lag_hides_fresh_edits_for_a_while(team: Dataset) -> None:
    with HubSpotSandbox(team, search_limit=None, search_lag=0.3) as sandbox:
        sandbox.upsert("companies", "77", {"name": "Fresh SA"}, modified_at=NOW)
        query = {"filterGroups": [{"filters": [
            {"propertyName": "name", "operator": "EQ", "value": "fresh sa"}]}]}
        assert search(sandbox, "companies", query)["total"] == 0
        time.sleep(0.35)
        assert search(sandbox, "companies", query)["total"] == 1


# --------------------------------------------------------------------------- search


def test_search_on_a_modified_range_returns_every_match_once(
    hs: HubSpotSandbox, team: Dataset
) -> None:
    lo, hi = to_ms(NOW - timedelta(days=60)), to_ms(NOW - timedelta(days=10))
    table = team.deals
    expected = sorted(
        (str(table.ids[p]) for p in range(len(table))
         if not table.archived[p] and lo <= table.modified[p] <= hi), key=int)
    assert 20 < len(expected) < len(table)
    got: list[str] = []
    after = "0"
    while after is not None:
        page = search(hs, "deals", {
            "limit": 7, "after": after, "sorts": ["hs_object_id"], "properties": ["dealname"],
            "filterGroups": [{"filters": [
                {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(lo)},
                {"propertyName": "hs_lastmodifieddate", "operator": "LTE", "value": str(hi)},
            ]}]})
        assert page["total"] == len(expected)
        got += [r["id"] for r in page["results"]]
        after = page.get("paging", {}).get("next", {}).get("after")
    assert got == expected
    assert set(page["results"][0]["properties"]) == {"dealname", "hs_object_id", "createdate",
                                                     "hs_lastmodifieddate"}


def test_search_sorts_by_strings_and_objects_in_both_directions(hs: HubSpotSandbox) -> None:
    def ids(sorts: list[Any]) -> list[str]:
        return [r["id"] for r in search(hs, "companies", {"limit": 50, "sorts": sorts})["results"]]

    ascending = ids(["hs_object_id"])
    assert ascending == sorted(ascending, key=int)
    assert ids([{"propertyName": "hs_object_id", "direction": "DESCENDING"}])[:5] == sorted(
        ids(["-hs_object_id"]), key=int, reverse=True)[:5]
    by_date = search(hs, "companies", {"limit": 100, "sorts": ["-hs_lastmodifieddate"]})["results"]
    stamps = [parse_time_ms(r["properties"]["hs_lastmodifieddate"]) or 0 for r in by_date]
    assert stamps == sorted(stamps, reverse=True)


@pytest.mark.parametrize(("filters", "check"), [
    ([{"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"}],
     lambda p: p["dealstage"] == "closedwon"),
    ([{"propertyName": "pipeline", "operator": "IN", "values": ["81530417"]}],
     lambda p: p["pipeline"] == "81530417"),
    ([{"propertyName": "dealstage", "operator": "NEQ", "value": "closedwon"}],
     lambda p: p["dealstage"] != "closedwon"),
    ([{"propertyName": "dealstage", "operator": "NOT_IN", "values": ["closedwon", "closedlost"]}],
     lambda p: p["dealstage"] not in ("closedwon", "closedlost")),
    ([{"propertyName": "amount", "operator": "NOT_HAS_PROPERTY"}],
     lambda p: p["amount"] is None),
    ([{"propertyName": "amount", "operator": "HAS_PROPERTY"},
      {"propertyName": "amount", "operator": "BETWEEN", "value": "10000", "highValue": "20000"}],
     lambda p: 10000 <= float(p["amount"]) <= 20000),
    ([{"propertyName": "amount", "operator": "GT", "value": "30000"}],
     lambda p: float(p["amount"]) > 30000),
    ([{"propertyName": "dealname", "operator": "CONTAINS_TOKEN", "value": "*analytics*"}],
     lambda p: "analytics" in p["dealname"].lower()),
    ([{"propertyName": "closedate", "operator": "LT", "value": "2026-06-01T00:00:00Z"}],
     lambda p: p["closedate"] < "2026-06-01"),
])
def test_search_operators_agree_with_the_data(
    hs: HubSpotSandbox, team: Dataset, filters: list[dict[str, Any]], check: Any
) -> None:
    props = ["dealstage", "pipeline", "amount", "dealname", "closedate"]
    rows = [r for r in team.deals.rows(props) if r["archived"] == "false"]
    expected = {r["id"] for r in rows if _safe(check, r)}
    assert 0 < len(expected) < len(rows), "the case must select something, not everything"
    result = search(hs, "deals", {"limit": 200, "properties": props,
                                  "filterGroups": [{"filters": filters}]})
    assert result["total"] == len(expected)
    assert {r["id"] for r in result["results"]} == expected


def test_neq_and_not_in_also_match_records_without_the_property(
    hs: HubSpotSandbox, team: Dataset
) -> None:
    rows = [r for r in team.deals.rows(["amount"]) if r["archived"] == "false"]
    value = next(r["amount"] for r in rows if r["amount"] is not None)
    assert any(r["amount"] is None for r in rows)
    expected = {r["id"] for r in rows if r["amount"] != value}
    for f in ({"propertyName": "amount", "operator": "NEQ", "value": value},
              {"propertyName": "amount", "operator": "NOT_IN", "values": [value]}):
        result = search(hs, "deals", {"limit": 200, "filterGroups": [{"filters": [f]}]})
        assert result["total"] == len(expected)


def _safe(check: Any, row: dict[str, Any]) -> bool:
    try:
        return bool(check(row))
    except (TypeError, ValueError):
        return False


def test_filter_groups_are_ored_and_hs_object_id_is_numeric(
    hs: HubSpotSandbox, team: Dataset
) -> None:
    ids = live_ids(team, "deals")
    result = search(hs, "deals", {"limit": 200, "filterGroups": [
        {"filters": [{"propertyName": "hs_object_id", "operator": "LTE", "value": ids[1]}]},
        {"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": ids[-3]}]},
    ]})
    assert sorted(r["id"] for r in result["results"]) == sorted(ids[:2] + ids[-2:])


def test_search_never_returns_archived_records(with_deleted: Dataset) -> None:
    table = with_deleted.contacts
    archived = {str(table.ids[p]) for p in range(len(table)) if table.archived[p]}
    assert archived
    with HubSpotSandbox(with_deleted, search_limit=None) as hs:
        result = search(hs, "contacts", {"limit": 200, "after": "0"})
        ids = {r["id"] for r in result["results"]}
        while "paging" in result:
            result = search(hs, "contacts", {"limit": 200,
                                             "after": result["paging"]["next"]["after"]})
            ids |= {r["id"] for r in result["results"]}
    assert not ids & archived
    assert ids == set(live_ids(with_deleted, "contacts"))


@pytest.mark.parametrize(("body", "text"), [
    ({"filterGroups": [{"filters": []}] * 6}, "filter groups"),
    ({"filterGroups": [{"filters": [{"propertyName": "amount", "operator": "HAS_PROPERTY"}] * 11}]},
     "filters in filterGroups[0]"),
    ({"filterGroups": [{"filters": [{"propertyName": "amount", "operator": "HAS_PROPERTY"}] * 9}]
      * 3}, "Too many filters: 27"),
    ({"after": "9900", "limit": 200}, "10000"),
    ({"filterGroups": [{"filters": [{"propertyName": "amount", "operator": "LIKE"}]}]},
     "unknown operator"),
    ({"filterGroups": [{"filters": [{"propertyName": "nope", "operator": "HAS_PROPERTY"}]}]},
     "does not exist"),
    ({"filterGroups": [{"filters": [
        {"propertyName": "closedate", "operator": "GT", "value": "yesterday"}]}]}, "datetime"),
])
def test_search_refuses_what_hubspot_refuses(
    hs: HubSpotSandbox, pool: urllib3.PoolManager, body: dict[str, Any], text: str
) -> None:
    response = call(pool, hs, "POST", "/crm/v3/objects/deals/search", body=body)
    assert response.status == 400
    error = orjson.loads(response.data)
    assert error["status"] == "error" and error["category"] == "VALIDATION_ERROR"
    assert text in error["message"] and error["correlationId"]


def test_search_caps_at_10000_results_but_reports_the_full_total(big: Dataset) -> None:
    contacts = len(live_ids(big, "contacts"))
    assert contacts > 10_000
    with HubSpotSandbox(big, search_limit=None) as sandbox:
        last = search(sandbox, "contacts", {"limit": 200, "after": "9800"})
        assert last["total"] == contacts
        assert len(last["results"]) == 200
        assert last["paging"]["next"]["after"] == "10000"
        with pytest.raises(ApiException) as refused:
            client(sandbox).crm.deals.search_api.do_search(
                PublicObjectSearchRequest(limit=200, after="10000"))
        assert refused.value.status == 400
        clamped = search(sandbox, "contacts", {"limit": 1000})
        assert len(clamped["results"]) == 200


def test_records_sharing_one_timestamp_past_the_cap_are_reachable_by_id(big: Dataset) -> None:
    """The Airbyte fix: stay on the timestamp, move on with hs_object_id GT the last id."""
    ids = live_ids(big, "contacts")[:10_500]
    stamp = NOW + timedelta(minutes=1)
    with HubSpotSandbox(big, search_limit=None) as sandbox:
        sandbox.touch_many("contacts", ids, stamp)
        seen: list[str] = []
        last = "0"
        while True:
            page = search(sandbox, "contacts", {
                "limit": 200, "sorts": ["hs_object_id"], "filterGroups": [{"filters": [
                    {"propertyName": "lastmodifieddate", "operator": "EQ",
                     "value": str(to_ms(stamp))},
                    {"propertyName": "hs_object_id", "operator": "GT", "value": last}]}]})
            seen += [r["id"] for r in page["results"]]
            if "paging" not in page:
                break
            last = seen[-1]
        assert seen == ids


def test_search_answers_carry_no_rate_limit_headers(
    hs: HubSpotSandbox, pool: urllib3.PoolManager
) -> None:
    response = call(pool, hs, "POST", "/crm/v3/objects/deals/search", body={"limit": 1})
    assert response.status == 200
    assert not any(h in response.headers for h in RATE_HEADERS)


def test_search_over_its_per_second_limit_answers_429_secondly(team: Dataset) -> None:
    with HubSpotSandbox(team, search_limit=(2, 1.0)) as sandbox, \
            urllib3.PoolManager(retries=False) as pool:
        statuses = [call(pool, sandbox, "POST", "/crm/v3/objects/deals/search", body={}).status
                    for _ in range(3)]
        limited = call(pool, sandbox, "POST", "/crm/v3/objects/deals/search", body={})
        listing = call(pool, sandbox, "GET", "/crm/v3/objects/deals?limit=1")
    assert statuses == [200, 200, 429]
    body = orjson.loads(limited.data)
    assert body["policyName"] == "SECONDLY" and body["errorType"] == "RATE_LIMIT"
    assert "Retry-After" not in limited.headers
    assert listing.status == 200, "the search limit does not touch other endpoints"


# --------------------------------------------------------------------------- associations, owners


def test_associations_batch_read_reports_ids_without_associations_as_errors(
    hs: HubSpotSandbox, team: Dataset
) -> None:
    deal_ids = live_ids(team, "deals")[:3]
    hs.upsert("deals", "7", {"dealname": "Orphan"}, company_ids=[])
    batch = client(hs).crm.associations.v4.batch_api
    request = BatchInputPublicFetchAssociationsBatchRequest(
        inputs=[{"id": i} for i in [*deal_ids, "7", "123"]])
    raw = batch.get_page("deals", "companies", request, _preload_content=False)
    assert raw.status == 207
    body = orjson.loads(raw.data)
    assert body["status"] == "COMPLETE" and body["numErrors"] == 2
    assert [r["from"]["id"] for r in body["results"]] == deal_ids
    to = body["results"][0]["to"][0]
    assert isinstance(to["toObjectId"], int)
    assert to["associationTypes"][0] == {"category": "HUBSPOT_DEFINED", "typeId": 5,
                                         "label": "Primary"}
    assert {e["context"]["fromObjectId"][0] for e in body["errors"]} == {"7", "123"}
    assert body["errors"][0]["subCategory"] == "crm.associations.NO_ASSOCIATIONS_FOUND"
    parsed = batch.get_page("deals", "companies",
                            BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": "7"}]))
    assert parsed.results == [] and parsed.num_errors == 1


def test_associations_batch_read_takes_at_most_1000_inputs(
    hs: HubSpotSandbox, pool: urllib3.PoolManager
) -> None:
    body = {"inputs": [{"id": str(i)} for i in range(1001)]}
    response = call(pool, hs, "POST", "/crm/v4/associations/deals/companies/batch/read", body=body)
    assert response.status == 400


def test_pipelines_have_hubspot_stage_metadata(hs: HubSpotSandbox) -> None:
    pipelines = client(hs).crm.pipelines.pipelines_api.get_all("deals").results
    default = next(p for p in pipelines if p.id == "default")
    stages = {s.id: s.metadata for s in default.stages}
    assert list(stages) == ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled",
                            "decisionmakerboughtin", "contractsent", "closedwon", "closedlost"]
    assert stages["closedwon"] == {"isClosed": "true", "probability": "1.0"}
    assert stages["closedlost"] == {"isClosed": "true", "probability": "0.0"}
    assert stages["qualifiedtobuy"] == {"isClosed": "false", "probability": "0.4"}
    assert len(pipelines) == 2
    hs.add_pipeline_stage("default", "onhold", "On hold", probability=None)
    added = client(hs).crm.pipelines.pipelines_api.get_by_id("deals", "default").stages[-1]
    assert added.id == "onhold" and added.metadata == {"isClosed": "false"}


def test_owners_page_with_and_without_trailing_slash(
    hs: HubSpotSandbox, pool: urllib3.PoolManager
) -> None:
    api = client(hs).crm.owners.owners_api
    first = api.get_page(limit=3)
    rest = api.get_page(limit=500, after=first.paging.next.after)
    emails = [o.email for o in first.results + rest.results]
    assert emails == ["manager@acme.ch", "lea@acme.ch", "marc@acme.ch", "julie@acme.ch",
                      "tom@acme.ch", "paul@acme.ch", "sara@acme.ch", "nina@acme.ch"]
    assert rest.paging is None
    assert [o.email for o in api.get_page(archived=True).results] == ["alex@acme.ch"]
    bare = orjson.loads(call(pool, hs, "GET", "/crm/v3/owners?limit=600").data)
    assert len(bare["results"]) == 8
    lea = bare["results"][1]
    assert lea["firstName"] == "Léa" and lea["teams"][0]["primary"] is True
    assert isinstance(lea["userId"], int)


# --------------------------------------------------------------------------- auth, scopes, limits


def test_missing_and_wrong_tokens_get_hubspot_401_bodies(
    hs: HubSpotSandbox, pool: urllib3.PoolManager
) -> None:
    missing = call(pool, hs, "GET", "/crm/v3/objects/deals", token=None)
    assert missing.status == 401
    body = orjson.loads(missing.data)
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["message"].startswith("Authentication credentials not found.")
    with pytest.raises(ApiException) as wrong:
        client(hs, token="pat-eu1-wrong").crm.deals.basic_api.get_page()
    assert wrong.value.status == 401
    body = orjson.loads(wrong.value.body)
    assert body["category"] == "EXPIRED_AUTHENTICATION" and "expired" in body["message"]
    assert not any(h in missing.headers for h in RATE_HEADERS)


def test_a_missing_scope_is_named_in_a_403(team: Dataset, pool: urllib3.PoolManager) -> None:
    with HubSpotSandbox(team, scopes={"crm.objects.companies.read"}) as sandbox:
        denied = call(pool, sandbox, "GET", "/crm/v3/objects/deals")
        pipelines = call(pool, sandbox, "GET", "/crm/v3/pipelines/deals")
        owners = call(pool, sandbox, "GET", "/crm/v3/owners/")
        allowed = call(pool, sandbox, "GET", "/crm/v3/objects/companies")
    assert (denied.status, pipelines.status, owners.status, allowed.status) == (403, 403, 403, 200)
    body = orjson.loads(denied.data)
    assert body["category"] == "MISSING_SCOPES"
    assert body["message"].startswith("This app hasn't been granted all required scopes")
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.deals.read"]
    assert orjson.loads(owners.data)["errors"][0]["context"]["requiredGranularScopes"] == [
        "crm.objects.owners.read"]


def test_a_burst_over_the_rolling_window_gets_429s_that_do_not_count(
    team: Dataset, pool: urllib3.PoolManager
) -> None:
    with HubSpotSandbox(team, burst_limit=(3, 1.0)) as sandbox:
        ok = [call(pool, sandbox, "GET", "/crm/v3/owners/") for _ in range(3)]
        counted_until = time.monotonic() + 1.0  # when the last of the three leaves the window
        time.sleep(0.4)
        limited = [call(pool, sandbox, "GET", "/crm/v3/owners/") for _ in range(2)]
        time.sleep(max(0.0, counted_until + 0.05 - time.monotonic()))
        # The 429s at +0.5 s did not count: once the first three leave the window, three pass.
        again = [call(pool, sandbox, "GET", "/crm/v3/owners/").status for _ in range(3)]
    assert [r.status for r in ok] == [200, 200, 200]
    assert [r.headers["X-HubSpot-RateLimit-Remaining"] for r in ok] == ["2", "1", "0"]
    assert [r.status for r in limited] == [429, 429]
    body = orjson.loads(limited[0].data)
    assert body == {"status": "error", "message": "You have reached your ten_secondly_rolling "
                    "limit.", "errorType": "RATE_LIMIT", "correlationId": body["correlationId"],
                    "policyName": "TEN_SECONDLY_ROLLING"}
    assert "Retry-After" not in limited[0].headers
    assert limited[0].headers["X-HubSpot-RateLimit-Max"] == "3"
    assert again == [200, 200, 200]


def test_burst_429_can_carry_retry_after(team: Dataset, pool: urllib3.PoolManager) -> None:
    with HubSpotSandbox(team, burst_limit=(1, 10.0), retry_after_header=True) as sandbox:
        call(pool, sandbox, "GET", "/crm/v3/owners/")
        limited = call(pool, sandbox, "GET", "/crm/v3/owners/")
    assert limited.status == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 10


def test_rate_limit_headers_and_the_daily_budget(team: Dataset, pool: urllib3.PoolManager) -> None:
    with HubSpotSandbox(team, daily_limit=3, burst_limit=(150, 10.0)) as sandbox:
        answers = [call(pool, sandbox, "GET", path) for path in (
            "/crm/v3/objects/deals", "/crm/v3/pipelines/deals", "/crm/v3/owners/",
            "/crm/v3/objects/deals")]
    with HubSpotSandbox(team) as unlimited:  # no burst limit: none reported, none obeyed
        plain = call(pool, unlimited, "GET", "/crm/v3/owners/")
    assert "X-HubSpot-RateLimit-Max" not in plain.headers
    assert "X-HubSpot-RateLimit-Daily" in plain.headers
    for response in answers[:3]:
        assert response.status == 200
        assert all(h in response.headers for h in RATE_HEADERS)
        assert response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert [r.headers["X-HubSpot-RateLimit-Daily-Remaining"] for r in answers] == [
        "2", "1", "0", "0"]
    assert answers[3].status == 429
    assert orjson.loads(answers[3].data)["policyName"] == "DAILY"


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(("fault", "status", "content_type", "check"), [
    (Fault("429", retry_after=2), 429, "application/json",
     lambda r, b: r.headers["Retry-After"] == "2" and b["errorType"] == "RATE_LIMIT"),
    (Fault("429", policy="SECONDLY"), 429, "application/json",
     lambda r, b: "Retry-After" not in r.headers and b["policyName"] == "SECONDLY"),
    (Fault("500"), 500, "application/json", lambda r, b: b["status"] == "error"),
    (Fault("503"), 503, "application/json", lambda r, b: b["status"] == "error"),
    (Fault("502"), 502, "text/html", lambda r, b: b is None),
    (Fault("504"), 504, "text/html", lambda r, b: b is None),
    (Fault("401"), 401, "application/json",
     lambda r, b: b["category"] == "EXPIRED_AUTHENTICATION"),
    (Fault("403", path="/crm/v3/objects/contacts"), 403, "application/json",
     lambda r, b: b["errors"][0]["context"]["requiredGranularScopes"] == [
         "crm.objects.contacts.read"]),
    (Fault("not_json"), 200, "text/html", lambda r, b: b is None),
])
def test_fault_kinds_answer_like_a_failing_hubspot_or_proxy(
    hs: HubSpotSandbox, pool: urllib3.PoolManager, fault: Fault, status: int, content_type: str,
    check: Any,
) -> None:
    hs.inject(fault)
    response = call(pool, hs, "GET", "/crm/v3/objects/contacts?limit=1")
    assert response.status == status
    assert response.headers["Content-Type"].startswith(content_type)
    try:
        body = orjson.loads(response.data)
    except orjson.JSONDecodeError:
        body = None
    assert check(response, body)
    assert hs.requests[-1].fault == fault.kind
    after = call(pool, hs, "GET", "/crm/v3/objects/contacts?limit=1")
    assert after.status == 200 and hs.requests[-1].fault is None, "one fault, one request"


def test_faults_match_by_path_and_method_in_fifo_order_and_count(
    hs: HubSpotSandbox, pool: urllib3.PoolManager
) -> None:
    hs.inject(Fault("503", count=2, path="/crm/v3/owners", method="GET"))
    hs.inject(Fault("500", path="/crm/v3/"))
    assert call(pool, hs, "POST", "/crm/v3/objects/deals/search", body={}).status == 500
    assert call(pool, hs, "GET", "/crm/v3/owners/").status == 503
    assert call(pool, hs, "GET", "/crm/v3/owners/").status == 503
    assert call(pool, hs, "GET", "/crm/v3/owners/").status == 200


def test_a_slow_fault_delays_a_normal_answer(hs: HubSpotSandbox) -> None:
    hs.inject(Fault("slow", delay=0.2))
    started = time.perf_counter()
    page = client(hs).crm.deals.basic_api.get_page(limit=2)
    assert time.perf_counter() - started >= 0.2
    assert len(page.results) == 2
    assert hs.requests[-1].status == 200 and hs.requests[-1].duration >= 0.2


@pytest.mark.parametrize("kind", ["drop", "drop_after"])
def test_dropped_connections_get_no_answer(
    hs: HubSpotSandbox, pool: urllib3.PoolManager, kind: str
) -> None:
    before = call(pool, hs, "GET", "/crm/v3/owners/")
    remaining = int(before.headers["X-HubSpot-RateLimit-Daily-Remaining"])
    hs.inject(Fault(kind))  # type: ignore[arg-type]
    with pytest.raises(urllib3.exceptions.ProtocolError):
        call(pool, hs, "GET", "/crm/v3/owners/")
    assert hs.requests[-1].status == 0 and hs.requests[-1].fault == kind
    after = call(pool, hs, "GET", "/crm/v3/owners/")
    used = remaining - int(after.headers["X-HubSpot-RateLimit-Daily-Remaining"])
    assert used == (2 if kind == "drop_after" else 1), "drop_after counts the lost request"


# --------------------------------------------------------------------------- log, keep-alive


def test_the_request_log_records_what_was_asked_and_answered(hs: HubSpotSandbox) -> None:
    search(hs, "deals", {"limit": 3, "sorts": ["hs_object_id"]})
    entry = hs.requests[-1]
    assert (entry.method, entry.path, entry.status) == ("POST", "/crm/v3/objects/deals/search", 200)
    assert entry.body == {"limit": 3, "sorts": ["hs_object_id"]}
    assert entry.query == {} and entry.time.tzinfo is not None
    hs.clear_log()
    assert hs.requests == []


def test_connections_are_kept_alive_between_requests(hs: HubSpotSandbox) -> None:
    with urllib3.HTTPConnectionPool("127.0.0.1", int(hs.url.rsplit(":", 1)[1]), maxsize=1,
                                    block=True) as one:
        for _ in range(5):
            response = one.request("GET", "/crm/v3/owners/",
                                   headers={"Authorization": f"Bearer {hs.token}"})
            assert response.status == 200
        assert one.num_connections == 1


# --------------------------------------------------------------------------- its own process


@pytest.mark.slow
def test_runs_as_a_process_that_prints_its_url_and_stops_on_sigterm() -> None:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncd.sandbox", "hubspot", "--deals", "300", "--seed", "3",
         "--now", "2026-11-02T10:15:30Z", "--token", "t-123", "--burst-limit", "150/10"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        assert proc.stdout is not None
        ready = orjson.loads(proc.stdout.readline())
        assert ready["token"] == "t-123" and ready["url"].startswith("http://127.0.0.1:")
        assert 290 <= ready["deals"] <= 310
        sandbox_client = hubspot.Client.create(access_token="t-123", host=ready["url"])
        page = sandbox_client.crm.deals.basic_api.get_page(limit=100, properties=["dealname"])
        assert len(page.results) == 100
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert "Traceback" not in err
