"""The sync engine end to end: sandbox -> connector -> store, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime, timedelta

import pytest

from connectors.base import FieldMap
from connectors.hubspot import HubSpotConnector, HubSpotHttp, RetryPolicy
from syncd.sandbox.dataset import generate
from syncd.sandbox.hubspot import Fault, HubSpotSandbox
from syncd.store import Store
from syncd.sync import PARALLEL_AFTER, Syncer

from .helpers import dump

NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)
FIELDS = FieldMap(deal={"mrr": "hs_mrr"}, company={"segment": "segment",
                                                    "churned_at": "churned_at"})


@pytest.fixture(scope="module")
def dataset():
    return generate(now=NOW, seed=11, deals=320)


@pytest.fixture
def sandbox(dataset):
    with HubSpotSandbox(dataset, search_limit=None) as sb:
        yield sb


def make_syncer(store, sandbox, now=NOW, *, token=None, stop=None, progress=None,
                batch_records=1000, parallel_after=None):
    http = HubSpotHttp(token or sandbox.token, sandbox.url,
                       policy=RetryPolicy(search_per_second=1000, timeout=5, max_retry_time=5))
    connector = HubSpotConnector(http, FIELDS)
    return Syncer(store, connector, clock=lambda: now, stop=stop, progress=progress,
                  reconcile_every=timedelta(hours=6), batch_records=batch_records,
                  parallel_after=PARALLEL_AFTER if parallel_after is None else parallel_after)


def test_first_sync_copies_everything_with_the_minimum_of_calls(db_url, sandbox, dataset):
    store = Store.open(db_url)
    summary = make_syncer(store, sandbox).run()
    assert summary.status == "ok" and summary.kind == "full"
    counts = {name: part.fetched for name, part in summary.objects.items()}
    assert counts["deals"] == len(dataset.deals)
    assert counts["companies"] == len(dataset.companies)
    assert counts["contacts"] == len(dataset.contacts)
    assert counts["owners"] == 8
    assert store.count("deal") == len(dataset.deals)
    assert store.count("company") == len(dataset.companies)
    assert store.count("contact") == len(dataset.contacts)
    assert summary.objects["deals"].created == len(dataset.deals)
    # list pages of 100, one call for owners and pipelines, one per archived listing
    minimum = 2 + sum(math.ceil(n / 100) for n in (len(dataset.deals), len(dataset.companies),
                                                   len(dataset.contacts)))
    assert summary.reconciled
    assert summary.api_calls == minimum + 4
    store.close()


def test_incremental_sync_with_nothing_changed_costs_one_call_per_object(db_url, sandbox):
    store = Store.open(db_url)
    make_syncer(store, sandbox).run()
    sandbox.clear_log()
    summary = make_syncer(store, sandbox, NOW + timedelta(minutes=15)).run()
    assert summary.kind == "incremental" and summary.status == "ok"
    assert summary.records == 8 + 2  # owners and pipelines are re-read whole
    assert len(sandbox.requests) == 5
    store.close()


def test_changes_and_deletes_reach_the_store(db_url, sandbox, dataset):
    store = Store.open(db_url)
    make_syncer(store, sandbox).run()
    some = [str(i) for i in dataset.deal_ids()][:5]
    sandbox.upsert("deals", some[0], {"amount": "4321", "dealstage": "closedwon",
                                      "pipeline": "default"},
                   modified_at=NOW + timedelta(minutes=2))
    sandbox.archive("deals", some[1], NOW + timedelta(minutes=3))
    later = NOW + timedelta(hours=7)  # the deleted-records reconcile is due again
    summary = make_syncer(store, sandbox, later).run()
    assert summary.objects["deals"].updated == 1
    assert summary.objects["deals"].created == 0
    assert summary.objects["deals"].archived == 1
    assert store.count("deal") == len(dataset.deals) - 1
    assert store.count("deal", include_archived=True) == len(dataset.deals)
    store.close()


def test_bad_records_are_counted_and_never_abort(db_url, sandbox):
    sandbox.upsert("deals", "990001", {"amount": "douze", "dealstage": "nope",
                                       "pipeline": "default"}, modified_at=NOW)
    store = Store.open(db_url)
    summary = make_syncer(store, sandbox).run()
    assert summary.status == "ok"
    assert summary.objects["deals"].bad_records == 1
    assert any("990001" in p and "amount" in p for p in summary.objects["deals"].problems)
    assert store.problem_count("deals") == 1
    store.close()


def test_an_auth_failure_is_recorded_and_reported_not_raised(db_url, sandbox):
    store = Store.open(db_url)
    summary = make_syncer(store, sandbox, token="pat-na1-not-the-right-one").run()
    assert summary.status == "failed"
    assert "401" in summary.error and "pat-na1-not-the-right-one" not in summary.error
    state = store.get_state("hubspot", "owners")
    assert state is not None and state.last_error and state.last_success_at is None
    assert store.recent_runs(1)[0].status == "failed"
    store.close()


class StopAfter:
    """A progress sink that asks the sync to stop after N pages of deals."""

    def __init__(self, stop: threading.Event, pages: int) -> None:
        self.stop, self.pages = stop, pages

    def start(self, obj, phase):
        pass

    def advance(self, obj, done, total):
        if obj == "deals":
            self.pages -= 1
            if self.pages <= 0:
                self.stop.set()

    def finish(self, obj, summary):
        pass


def test_a_stopped_sync_resumes_and_ends_equal_to_a_clean_one(db_url, sqlite_url, sandbox,
                                                               tmp_path):
    store = Store.open(db_url)
    stop = threading.Event()
    first = make_syncer(store, sandbox, stop=stop, progress=StopAfter(stop, 2),
                        batch_records=100).run()
    assert first.status == "interrupted"
    assert 0 < store.count("deal") < 320
    # the fetch thread ended with the run (a daemon must not leak one per stopped sync)
    assert not [t for t in threading.enumerate() if t.name == "syncd-fetch" and t.is_alive()]
    second = make_syncer(store, sandbox).run()
    assert second.status == "ok"
    assert second.objects["deals"].created == 320 - first.objects["deals"].created
    store.close()

    clean_url = f"sqlite:///{tmp_path / 'clean.db'}"
    clean = Store.open(clean_url)
    make_syncer(clean, sandbox).run()
    clean.close()
    assert dump(db_url) == dump(clean_url)


def test_a_sync_survives_transient_faults(db_url, sandbox, dataset):
    sandbox.inject(Fault("503", count=2, path="/crm/v3/objects/deals"))
    sandbox.inject(Fault("429", count=1, path="/crm/v3/objects/contacts", retry_after=0.05))
    store = Store.open(db_url)
    summary = make_syncer(store, sandbox).run()
    assert summary.status == "ok"
    assert store.count("deal") == len(dataset.deals)
    assert summary.retries == 3 and summary.rate_limited == 1
    store.close()


def test_a_second_sync_on_the_same_database_stops_at_once(db_url, sandbox):
    from syncd.store.lock import SyncBusyError, exclusive

    store = Store.open(db_url)
    with exclusive(store.engine, "sync", store.url), pytest.raises(SyncBusyError) as err:
        make_syncer(store, sandbox).run()
    assert "already running" in str(err.value)
    assert sandbox.requests == []  # nothing was fetched
    assert make_syncer(store, sandbox).run().status == "ok"  # free again afterwards
    store.close()


@pytest.mark.parametrize("parallel_after", [0, 150])
def test_the_writer_process_stores_exactly_what_an_in_process_sync_stores(
        db_url, sandbox, tmp_path, parallel_after):
    """Full passes handed to the writer process (from the first batch, or after one) end in
    the same rows, counts and problems as writes done in this process."""
    sandbox.upsert("deals", "990002", {"amount": "n/a", "dealstage": "closedwon",
                                       "pipeline": "default"}, modified_at=NOW)
    store = Store.open(db_url)
    summary = make_syncer(store, sandbox, batch_records=100,
                          parallel_after=parallel_after).run()
    store.close()
    assert summary.status == "ok"
    assert summary.objects["deals"].created == 321
    assert summary.objects["deals"].bad_records == 1
    assert any("990002" in p for p in summary.objects["deals"].problems)

    local_url = f"sqlite:///{tmp_path / 'local.db'}"
    local = Store.open(local_url)
    syncer = make_syncer(local, sandbox, batch_records=100)
    syncer.parallel_writes = False
    assert syncer.run().status == "ok"
    local.close()
    assert dump(db_url) == dump(local_url)


class KillWriter:
    """A progress sink that kills the writer process after the first batch of deals."""

    def __init__(self) -> None:
        self.syncer = None

    def start(self, obj, phase):
        pass

    def advance(self, obj, done, total):
        writer = self.syncer._process_writer
        if obj == "deals" and writer is not None and writer._proc.is_alive():
            writer._proc.kill()
            writer._proc.join()

    def finish(self, obj, summary):
        pass


def test_a_dead_writer_process_fails_the_run_in_one_line_and_the_next_run_completes(
        db_url, sandbox, dataset):
    store = Store.open(db_url)
    killer = KillWriter()
    syncer = make_syncer(store, sandbox, batch_records=100, parallel_after=0,
                         progress=killer)
    killer.syncer = syncer
    summary = syncer.run()
    assert summary.status == "failed"
    assert "writer process died" in summary.error and "\n" not in summary.error
    assert store.get_state("hubspot", "deals").last_error
    again = make_syncer(store, sandbox, batch_records=100, parallel_after=0).run()
    assert again.status == "ok"
    assert store.count("deal") == len(dataset.deals)
    store.close()
