"""Contract tests: the real hubspot-api-client, through our connector, against the sandbox."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from connectors.base import AuthError, Deal, FieldMap, RateLimitError, UpstreamError
from connectors.hubspot import HubSpotConnector, HubSpotHttp, RetryPolicy
from syncd.sandbox.dataset import generate
from syncd.sandbox.hubspot import Fault, HubSpotSandbox

NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)
FIELDS = FieldMap(
    deal={"mrr": "hs_mrr", "deal_type": "dealtype"},
    company={"segment": "segment", "churned_at": "churned_at"},
)


class Sleeps:
    """An injected sleep: records every wait instead of sleeping (the clock moves on)."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.t = 1000.0

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.t += seconds

    def monotonic(self) -> float:
        return self.t


def connector(sandbox: HubSpotSandbox, *, token: str | None = None, sleeps: Sleeps | None = None,
              max_retry_time: float = 60.0) -> HubSpotConnector:
    sleeps = sleeps or Sleeps()
    http = HubSpotHttp(
        token or sandbox.token, sandbox.url,
        policy=RetryPolicy(max_retry_time=max_retry_time, search_per_second=1000, timeout=5),
        sleep=sleeps.sleep, monotonic=sleeps.monotonic,
    )
    return HubSpotConnector(http, FIELDS, lookback=timedelta(minutes=5))


@pytest.fixture(scope="module")
def dataset():
    return generate(now=NOW, seed=7, deals=450)


@pytest.fixture
def sandbox(dataset):
    with HubSpotSandbox(dataset, search_limit=None) as sb:
        yield sb


def drain(conn, obj, state=None, until=NOW):
    pages = list(conn.fetch(obj, state, until))
    return [r for p in pages for r in p.records], pages


def test_full_listing_pages_to_the_end_with_minimum_calls(sandbox, dataset):
    conn = connector(sandbox)
    deals, pages = drain(conn, "deals")
    expected = len(dataset.deals)
    assert len(deals) == expected == len({d.id for d in deals})
    assert len(pages) == math.ceil(expected / 100)
    assert [p.done for p in pages] == [False] * (len(pages) - 1) + [True]
    assert pages[-1].checkpoint == {"mode": "incremental", "since": int(NOW.timestamp() * 1000)}
    # every deal came with its company association and a stage history from hs_v2_date_*
    assert sum(1 for d in deals if d.company_ids) >= expected * 0.95
    assert sum(1 for d in deals if d.stage_history) >= expected * 0.95
    assert all(isinstance(d, Deal) and not d.problems for d in deals)


def test_a_full_sync_resumes_from_its_checkpoint(sandbox, dataset):
    conn = connector(sandbox)
    pages = conn.fetch("deals", None, NOW)
    first = next(pages)
    rest, _ = drain(connector(sandbox), "deals", dict(first.checkpoint))
    ids = [d.id for d in first.records] + [d.id for d in rest]
    assert sorted(ids) == sorted(str(i) for i in dataset.deal_ids())


def test_incremental_sees_only_changes_and_costs_one_call_when_nothing_changed(sandbox):
    conn = connector(sandbox)
    _, pages = drain(conn, "deals")
    state = pages[-1].checkpoint
    sandbox.clear_log()
    later = NOW + timedelta(minutes=15)
    changed, pages = drain(conn, "deals", state, later)
    assert changed == []  # nothing modified since the full sync started (minus the lookback)
    assert len(sandbox.requests) == 1 and len(pages) == 1
    assert pages[-1].checkpoint == {"mode": "incremental", "since": int(later.timestamp() * 1000)}

    sandbox.upsert("deals", "900001", {"dealname": "Nouveau", "amount": "1500",
                                       "dealstage": "appointmentscheduled", "pipeline": "default"},
                   modified_at=later + timedelta(minutes=1), company_ids=[])
    sandbox.clear_log()
    changed, _ = drain(conn, "deals", pages[-1].checkpoint, later + timedelta(minutes=30))
    assert [d.id for d in changed] == ["900001"]
    assert changed[0].amount == Decimal("1500")
    # one search page and one association batch read
    assert len(sandbox.requests) == 2


def test_equal_timestamps_at_page_boundaries_lose_and_repeat_nothing(sandbox, dataset):
    conn = connector(sandbox)
    _, pages = drain(conn, "deals")
    stamp = NOW + timedelta(minutes=3)
    ids = [str(i) for i in dataset.deal_ids()][:401]  # 2 full pages of 200 and one record
    sandbox.touch_many("deals", ids, stamp)
    changed, pages2 = drain(conn, "deals", pages[-1].checkpoint, NOW + timedelta(minutes=10))
    got = [d.id for d in changed]
    assert sorted(got) == sorted(ids) and len(got) == len(set(got))
    assert len(pages2) == 3


def test_more_than_10k_records_sharing_one_timestamp():
    big = generate(now=NOW, seed=3, deals=10_500)
    with HubSpotSandbox(big, search_limit=None) as sandbox:
        conn = connector(sandbox)
        state = {"mode": "incremental", "since": int(NOW.timestamp() * 1000)}
        stamp = NOW + timedelta(minutes=2)
        ids = [str(i) for i in big.deal_ids()]
        sandbox.touch_many("deals", ids, stamp)
        changed, _pages = drain(conn, "deals", state, NOW + timedelta(minutes=10))
        got = [d.id for d in changed]
        assert len(got) == len(ids) == len(set(got))
        # no search request ever asked past HubSpot's 10,000-result cap
        searches = [r for r in sandbox.requests if r.path.endswith("/search")]
        assert all(int((r.body or {}).get("after") or 0) + 200 <= 10_000 for r in searches)
        assert all(r.status == 200 for r in sandbox.requests)


def test_an_interrupted_window_is_finished_then_continued(sandbox, dataset):
    conn = connector(sandbox)
    since = int(NOW.timestamp() * 1000)
    ids = [str(i) for i in dataset.deal_ids()][:300]
    sandbox.touch_many("deals", ids, NOW + timedelta(minutes=1))
    first = next(conn.fetch("deals", {"mode": "incremental", "since": since},
                            NOW + timedelta(minutes=5)))
    assert first.checkpoint["after_id"] and not first.done
    # a crash here; meanwhile an early record changes again, after the old window's end
    sandbox.touch_many("deals", ids[:1], NOW + timedelta(minutes=7))
    rest, _ = drain(connector(sandbox), "deals", dict(first.checkpoint), NOW + timedelta(minutes=9))
    got = {d.id for d in first.records} | {d.id for d in rest}
    assert got == set(ids)
    assert ids[0] in {d.id for d in rest}  # re-read by the continuation window


def test_archived_records_are_listed_for_reconciliation(sandbox, dataset):
    conn = connector(sandbox)
    gone = [str(i) for i in dataset.deal_ids()][:3]
    for i in gone:
        sandbox.archive("deals", i, NOW)
    tombstones = [t for p in conn.fetch_archived("deals", None) for t in p.records]
    assert {t.id for t in tombstones} >= set(gone)
    assert all(t.archived_at is not None for t in tombstones)
    live, _ = drain(conn, "deals")
    assert not set(gone) & {d.id for d in live}


def test_429_with_retry_after_is_honoured(sandbox):
    sleeps = Sleeps()
    conn = connector(sandbox, sleeps=sleeps)
    sandbox.inject(Fault("429", count=2, path="/crm/v3/owners", retry_after=3))
    owners, _ = drain(conn, "owners")
    assert len(owners) == 8
    assert conn.stats.rate_limited == 2
    assert len([w for w in sleeps.waits if w >= 3]) == 2


def test_429_without_retry_after_backs_off_at_least_a_second(sandbox):
    sleeps = Sleeps()
    conn = connector(sandbox, sleeps=sleeps)
    sandbox.inject(Fault("429", count=3, path="/crm/v3/objects/deals/search"))
    state = {"mode": "incremental", "since": int(NOW.timestamp() * 1000)}
    drain(conn, "deals", state, NOW + timedelta(minutes=1))
    assert conn.stats.rate_limited == 3
    assert len(sleeps.waits) >= 3 and all(w >= 1.0 for w in sleeps.waits[:3])


def test_5xx_and_dropped_connections_are_retried(sandbox, dataset):
    conn = connector(sandbox)
    sandbox.inject(Fault("503", count=2, path="/crm/v3/objects/companies"))
    sandbox.inject(Fault("drop", count=1, path="/crm/v3/objects/companies"))
    sandbox.inject(Fault("not_json", count=1, path="/crm/v3/objects/companies"))
    companies, _ = drain(conn, "companies")
    assert len(companies) == len(dataset.companies)
    assert conn.stats.server_errors == 4


def test_persistent_5xx_gives_up_after_the_bounded_time_with_one_clear_line(sandbox):
    sleeps = Sleeps()
    conn = connector(sandbox, sleeps=sleeps, max_retry_time=20)
    sandbox.inject(Fault("500", count=1000, path="/crm/v3/pipelines"))
    with pytest.raises(UpstreamError) as err:
        drain(conn, "pipelines")
    assert sum(sleeps.waits) <= 20
    message = str(err.value)
    assert "list deal pipelines" in message and "\n" not in message
    assert sandbox.token not in message


def test_persistent_429_becomes_a_rate_limit_error(sandbox):
    sleeps = Sleeps()
    conn = connector(sandbox, sleeps=sleeps, max_retry_time=10)
    sandbox.inject(Fault("429", count=1000, path="/crm/v3/owners", retry_after=2))
    with pytest.raises(RateLimitError):
        drain(conn, "owners")


def test_401_is_fatal_and_says_what_to_do(sandbox):
    conn = connector(sandbox, token="pat-na1-wrong-token-123456")
    with pytest.raises(AuthError) as err:
        drain(conn, "owners")
    message = str(err.value)
    assert "401" in message and "access_token" in message
    assert "pat-na1-wrong-token-123456" not in message
    assert len(sandbox.requests) == 1  # never retried


def test_403_names_the_missing_scope(dataset):
    scopes = {"crm.objects.owners.read", "crm.objects.companies.read",
              "crm.objects.contacts.read"}
    with HubSpotSandbox(dataset, scopes=scopes, search_limit=None) as sandbox:
        conn = connector(sandbox)
        with pytest.raises(AuthError) as err:
            drain(conn, "pipelines")
        assert err.value.missing_scope == "crm.objects.deals.read"
        report = conn.check()
        access = {a.object: a for a in report.objects}
        assert access["owners"].readable and access["companies"].readable
        assert not access["deals"].readable
        assert "crm.objects.deals.read" in access["deals"].detail


def test_malformed_records_are_kept_with_their_problems(sandbox):
    conn = connector(sandbox)
    sandbox.upsert("deals", "900002", {
        "dealname": None, "amount": "12'000", "closedate": "next tuesday",
        "dealstage": "stage-that-does-not-exist", "pipeline": "default",
        "deal_currency_code": "franc", "hs_mrr": "NaN", "createdate": "2026-10-01T08:00:00Z",
    }, modified_at=NOW, company_ids=[])
    deals, _ = drain(conn, "deals")
    bad = next(d for d in deals if d.id == "900002")
    assert bad.amount is None and bad.close_date is None and bad.currency is None
    assert bad.mrr is None
    assert bad.stage_id == "stage-that-does-not-exist"  # kept: the metrics can show it
    assert bad.created_at == datetime(2026, 10, 1, 8, tzinfo=UTC)
    joined = " | ".join(bad.problems)
    for needle in ("amount", "closedate", "dealstage", "deal_currency_code", "hs_mrr"):
        assert needle in joined
    assert len(deals) > 1 and sum(1 for d in deals if d.problems) == 1


def test_check_reports_what_the_token_can_see(sandbox, dataset):
    report = connector(sandbox).check()
    access = {a.object: a for a in report.objects}
    assert set(access) == {"owners", "pipelines", "companies", "contacts", "deals"}
    assert all(a.readable for a in access.values())
    assert f"{len(dataset.deals):,} records" == access["deals"].detail


def test_the_burst_window_is_respected_without_a_single_429(dataset):
    with HubSpotSandbox(dataset, burst_limit=(10, 0.5), search_limit=None) as sandbox:
        http = HubSpotHttp(sandbox.token, sandbox.url, policy=RetryPolicy(timeout=5))
        conn = HubSpotConnector(http, FIELDS)
        companies, _pages = drain(conn, "companies")
        contacts, _ = drain(conn, "contacts")
        assert len(companies) == len(dataset.companies)
        assert len(contacts) == len(dataset.contacts)
        statuses = [r.status for r in sandbox.requests]
        assert len(statuses) >= 20  # enough calls to cross several windows
        assert 429 not in statuses and conn.stats.rate_limited == 0


def test_search_stays_under_its_per_second_limit(dataset):
    with HubSpotSandbox(dataset, search_limit=(5, 1.0)) as sandbox:
        http = HubSpotHttp(sandbox.token, sandbox.url, policy=RetryPolicy(timeout=5))
        conn = HubSpotConnector(http, FIELDS)
        since = int(NOW.timestamp() * 1000)
        ids = [str(i) for i in dataset.deal_ids()]
        sandbox.touch_many("deals", ids, NOW + timedelta(minutes=1))
        for obj in ("deals", "companies", "contacts"):
            drain(conn, obj, {"mode": "incremental", "since": since}, NOW + timedelta(minutes=5))
        searches = [r for r in sandbox.requests if r.path.endswith("/search")]
        assert len(searches) >= 5
        assert all(r.status == 200 for r in searches)


def test_custom_properties_named_in_the_field_map_are_synced(sandbox):
    fields = FieldMap(deal={"mrr": "hs_mrr", "region": "acme_region"},
                      company={"segment": "segment", "vertical": "acme_vertical"},
                      contact={"source": "hs_analytics_source"})
    http = HubSpotHttp(sandbox.token, sandbox.url, policy=RetryPolicy(search_per_second=1000))
    conn = HubSpotConnector(http, fields)
    sandbox.upsert("deals", "900003", {"dealname": "Romandie", "acme_region": "VD",
                                       "dealstage": "closedwon", "pipeline": "default"},
                   modified_at=NOW)
    deals, _ = drain(conn, "deals")
    custom = next(d for d in deals if d.id == "900003").custom
    assert custom == {"region": "VD"}
    assert all(set(d.custom) == {"region"} for d in deals)  # the key is there, maybe None
    searched = [r for r in sandbox.requests if "acme_region" in str(r.query)]
    assert searched  # the property was asked for
    companies, _ = drain(conn, "companies")
    assert all(set(c.custom) == {"vertical"} for c in companies)
