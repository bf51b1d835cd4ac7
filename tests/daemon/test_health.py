"""The health endpoint over real HTTP on 127.0.0.1 (a port from the OS), with an injected
clock: liveness and its stale heartbeat, readiness for each role and failure, Prometheus
metrics read back with the official parser after a cycle and a store refresh (real SQLite)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from connectors.base import SYNC_ORDER
from syncd.daemon.cycle import CycleReport
from syncd.daemon.health import (
    HealthServer,
    HealthServerError,
    HealthState,
    parse_listen,
    refresh,
    start_health_server,
)
from syncd.daemon.metrics import ALERT_STATES, Metrics
from syncd.notify import outbox
from syncd.notify.outbox import Outgoing
from syncd.notify.schedule import Due
from syncd.notify.sender import DeliveryReport
from syncd.store import Store
from syncd.store import tables as t
from syncd.sync import ObjectSummary, SyncSummary

START = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with _OPENER.open(url, timeout=5) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.headers.get("Content-Type", ""), err.read()


def ready(url: str) -> tuple[int, dict[str, object]]:
    status, ctype, body = get(url + "/readyz")
    assert ctype == "application/json"
    return status, json.loads(body)


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state(clock: Clock) -> HealthState:
    return HealthState(clock=clock, stale_after=timedelta(minutes=5))


@pytest.fixture
def metrics(clock: Clock) -> Metrics:
    return Metrics(crm="hubspot", clock=clock)


@pytest.fixture
def server(state: HealthState, metrics: Metrics) -> Iterator[HealthServer]:
    with HealthServer("127.0.0.1:0", state, metrics, poll_interval=0.02) as running:
        yield running


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'syncd.db'}") as opened:
        yield opened


# --------------------------------------------------------------------------- liveness


def test_healthz_is_ok_while_the_loop_beats_and_503_once_the_heartbeat_is_stale(
        server: HealthServer, state: HealthState, clock: Clock) -> None:
    assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}"
    assert get(server.url + "/healthz")[::2] == (200, b"ok\n")
    clock.advance(minutes=4, seconds=59)
    assert get(server.url + "/healthz")[0] == 200
    clock.advance(seconds=2)
    status, _, body = get(server.url + "/healthz")
    assert status == 503
    assert body.startswith(b"stale: no heartbeat for 301s")
    state.heartbeat(clock())
    assert get(server.url + "/healthz")[::2] == (200, b"ok\n")


def test_unknown_paths_are_404_and_nothing_is_logged_to_stderr(
        server: HealthServer, capfd: pytest.CaptureFixture[str]) -> None:
    for path in ("/", "/health", "/metrics/x", "/readyz/"):
        status, _, body = get(server.url + path)
        assert status == 404, path
        assert b"/healthz" in body
    assert capfd.readouterr().err == ""


# --------------------------------------------------------------------------- readiness


def test_readyz_before_the_first_cycle_then_as_leader(
        server: HealthServer, state: HealthState) -> None:
    state.set_role("leader")
    status, body = ready(server.url)
    assert status == 503
    assert body["ready"] is False and body["role"] == "leader"
    assert body["why"] == "starting: the first cycle has not finished"
    state.cycle_finished(ok=False, error="sync failed: HubSpot answered 401\ntraceback...")
    status, body = ready(server.url)
    assert status == 200
    assert body["ready"] is True and body["why"] == "leader: running the jobs"
    assert body["last_cycle"] == {"at": START.isoformat(), "ok": False,
                                  "error": "sync failed: HubSpot answered 401"}


def test_a_standby_is_ready_after_its_first_check(
        server: HealthServer, state: HealthState) -> None:
    assert ready(server.url)[1]["why"] == "starting: the first standby check has not finished"
    state.set_role("standby")
    status, body = ready(server.url)
    assert status == 200
    assert body == body | {"role": "standby", "ready": True, "last_cycle": None,
                           "why": "standby: another replica is the leader"}


@pytest.mark.parametrize("role", ["leader", "standby"])
def test_stopping_is_not_ready_whatever_the_role(
        server: HealthServer, state: HealthState, role: str) -> None:
    state.set_role(role)  # type: ignore[arg-type]
    state.cycle_finished(ok=True)
    assert ready(server.url)[0] == 200
    state.set_stopping()
    status, body = ready(server.url)
    assert (status, body["ready"], body["why"]) == (503, False, "stopping: shutting down")
    assert body["role"] == role


def test_readyz_reports_the_stores_numbers_and_the_age_of_the_last_sync(
        server: HealthServer, state: HealthState, metrics: Metrics, store: Store,
        clock: Clock) -> None:
    for i, obj in enumerate(SYNC_ORDER):
        store.mark_success("hubspot", obj, run_id=1, now=START - timedelta(minutes=10 - i),
                           records_seen=5)
    with store.engine.begin() as conn:
        for n in range(3):
            outbox.enqueue(conn, Outgoing(f"alert:g:{n}", "alert", f"msg {n}"), START)
        conn.execute(sa.update(t.outbox).where(t.outbox.c.dedup_key == "alert:g:0")
                     .values(status="failed", error="channel_not_found"))
    state.set_role("leader")
    state.cycle_finished(ok=True)
    assert refresh(state, metrics, store.engine) is not None
    clock.advance(minutes=2)
    status, body = ready(server.url)
    assert status == 200
    oldest = START - timedelta(minutes=10)  # the oldest object's last success
    assert body["last_sync"] == oldest.isoformat()
    assert body["last_sync_age_s"] == 12 * 60
    assert (body["outbox_backlog"], body["failed_deliveries"]) == (2, 1)


def test_an_unreachable_database_makes_the_process_unready_until_it_answers(
        server: HealthServer, state: HealthState, metrics: Metrics, store: Store,
        tmp_path: Path) -> None:
    state.set_role("standby")
    gone = sa.create_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    try:
        assert refresh(state, metrics, gone) is None
    finally:
        gone.dispose()
    status, body = ready(server.url)
    assert status == 503 and body["ready"] is False
    assert str(body["why"]).startswith("database unreachable: OperationalError")
    assert "\n" not in str(body["why"])
    assert refresh(state, metrics, store.engine) is not None
    assert ready(server.url)[0] == 200


def test_with_an_engine_the_endpoint_reads_the_store_again_once_its_numbers_are_old(
        state: HealthState, metrics: Metrics, store: Store, clock: Clock) -> None:
    state.set_role("standby")
    with HealthServer("127.0.0.1:0", state, metrics, engine=store.engine,
                      refresh_every=timedelta(seconds=15), poll_interval=0.02) as server:
        assert ready(server.url)[1]["outbox_backlog"] == 0
        with store.engine.begin() as conn:
            outbox.enqueue(conn, Outgoing("digest:2026-W48", "digest", "Monday"), START)
        clock.advance(seconds=10)
        assert ready(server.url)[1]["outbox_backlog"] == 0  # read 10 s ago: not again yet
        clock.advance(seconds=6)
        found = samples(get(server.url + "/metrics")[2].decode())
        assert value(found, "syncd_outbox_backlog", status="pending") == 1
        assert ready(server.url)[1]["outbox_backlog"] == 1


# --------------------------------------------------------------------------- metrics


def _report(status: str = "ok") -> CycleReport:
    deals = ObjectSummary("deals", fetched=120, bad_records=3, api_calls=4)
    owners = ObjectSummary("owners", fetched=8, api_calls=1)
    sync = SyncSummary(run_id=7, kind="incremental", status=status,
                       objects={"deals": deals, "owners": owners, "deal 4711": deals},
                       api_calls=5, rate_limited=2, seconds=42.0)
    return CycleReport(started=START, sync=sync, evaluation=SimpleNamespace(),
                       reports=[Due("digest", "digest:2026-W48", START)],
                       delivery=DeliveryReport(sent=4))


def test_metrics_after_a_cycle_and_a_store_refresh(
        server: HealthServer, metrics: Metrics, store: Store, clock: Clock) -> None:
    with store.engine.begin() as conn:
        for n, state in enumerate(["firing", "firing", "pending", "resolved"]):
            conn.execute(t.alert.insert().values(
                fingerprint=f"fp{n}", grp="g", state=state, kind="kr_behind", subject="kr",
                severity="warning", episode=1, since=START, memory={}, updated_at=START))
        outbox.enqueue(conn, Outgoing("alert:g:1", "alert", "behind"), START)
    for obj in SYNC_ORDER:
        store.mark_success("hubspot", obj, run_id=1, now=START, records_seen=1)
    store.mark_failure("salesforce", "deals", run_id=2, now=START, error="401")
    report = _report()
    report.evaluation_seconds = 1.5  # type: ignore[attr-defined]
    clock.advance(minutes=1)
    metrics.observe_cycle(report)
    metrics.set_leader(True)
    facts = metrics.refresh_from_store(store.engine)
    assert facts.alerts == {"firing": 2, "pending": 1, "resolved": 1}

    status, ctype, body = get(server.url + "/metrics")
    assert (status, ctype) == (200, CONTENT_TYPE_LATEST)
    found = samples(body.decode())
    now = START.timestamp() + 60
    assert value(found, "syncd_sync_duration_seconds_count", crm="hubspot", status="ok") == 1
    assert value(found, "syncd_sync_duration_seconds_sum", crm="hubspot", status="ok") == 42
    assert value(found, "syncd_sync_runs_total", crm="hubspot", status="ok") == 1
    assert value(found, "syncd_sync_records_total", crm="hubspot", object="deals") == 120
    assert value(found, "syncd_sync_records_total", crm="hubspot", object="owners") == 8
    assert value(found, "syncd_sync_records_total", crm="hubspot", object="other") == 120
    assert value(found, "syncd_sync_bad_records_total", crm="hubspot", object="deals") == 3
    assert value(found, "syncd_crm_api_calls_total", crm="hubspot") == 5
    assert value(found, "syncd_crm_rate_limited_total", crm="hubspot") == 2
    assert value(found, "syncd_evaluation_duration_seconds_sum") == 1.5
    assert value(found, "syncd_deliveries_sent_total") == 4
    assert value(found, "syncd_cycles_total") == 1
    assert value(found, "syncd_cycle_failures_total") == 0
    assert value(found, "syncd_leader") == 1
    for job in ("sync", "evaluate", "digest", "deliver"):
        assert value(found, "syncd_last_success_timestamp_seconds", job=job) == now
    assert value(found, "syncd_alerts", state="firing") == 2
    assert value(found, "syncd_alerts", state="pending") == 1
    assert value(found, "syncd_alerts", state="recovering") == 0
    assert value(found, "syncd_outbox_backlog", status="pending") == 1
    assert value(found, "syncd_outbox_backlog", status="sending") == 0
    assert value(found, "syncd_outbox_failed") == 0
    last = "syncd_last_successful_sync_timestamp_seconds"
    assert value(found, last, crm="hubspot") == START.timestamp()
    assert not any(name == last and dict(labels).get("crm") == "salesforce"
                   for name, labels in found)  # never succeeded: no series
    assert "deal 4711" not in body.decode()  # an odd object name is not a label
    assert "process_resident_memory_bytes" in {name for name, _ in found}


def test_a_failed_cycle_counts_as_a_failure_and_keeps_the_last_success_times(
        metrics: Metrics, clock: Clock) -> None:
    metrics.observe_cycle(_report())
    clock.advance(minutes=5)
    failed = _report(status="failed")
    failed.errors.append("evaluation: metric x is unknown")
    failed.delivery = DeliveryReport(sent=0, failed=2)
    metrics.observe_cycle(failed)
    metrics.set_leader(False)
    found = samples(metrics.render().decode())
    assert value(found, "syncd_cycles_total") == 2
    assert value(found, "syncd_cycle_failures_total") == 1
    assert value(found, "syncd_sync_runs_total", crm="hubspot", status="failed") == 1
    assert value(found, "syncd_delivery_failures_total") == 2
    assert value(found, "syncd_leader") == 0
    for job in ("sync", "evaluate", "deliver"):  # from the first cycle only
        assert value(found, "syncd_last_success_timestamp_seconds", job=job) == START.timestamp()
    assert value(found, "syncd_last_success_timestamp_seconds", job="digest") == (
        START.timestamp() + 300)


@pytest.mark.parametrize("report", [
    CycleReport(started=START),  # no sync (reports only), no Slack
    SimpleNamespace(ok=False),  # nothing else at all
    SimpleNamespace(ok=True, sync=SimpleNamespace(status=None, objects=None, api_calls="x",
                                                  seconds=-1.0)),
], ids=["no-sync", "bare", "odd-fields"])
def test_observe_cycle_reads_whatever_the_report_holds(
        metrics: Metrics, report: object) -> None:
    metrics.observe_cycle(report)
    found = samples(metrics.render().decode())
    assert value(found, "syncd_cycles_total") == 1
    assert value(found, "syncd_crm_api_calls_total", crm="hubspot") == 0
    assert not any(name == "syncd_last_success_timestamp_seconds" for name, _ in found)


def test_each_metrics_has_its_own_registry(clock: Clock) -> None:
    one, two = Metrics(crm="hubspot", clock=clock), Metrics(crm="salesforce", clock=clock)
    one.observe_cycle(_report())
    assert value(samples(one.render().decode()), "syncd_cycles_total") == 1
    assert value(samples(two.render().decode()), "syncd_cycles_total") == 0
    assert ("syncd_crm_api_calls_total", frozenset({("crm", "salesforce")})) in samples(
        two.render().decode())
    assert not any(m.name.startswith("syncd_") for m in REGISTRY.collect())
    assert set(ALERT_STATES) == {"normal", "pending", "firing", "recovering", "resolved"}


# --------------------------------------------------------------------------- the server


def test_off_starts_nothing_and_a_busy_port_is_one_clear_error(state: HealthState) -> None:
    assert start_health_server("off", state) is None
    server = start_health_server("127.0.0.1:0", state)
    assert server is not None
    try:
        with pytest.raises(HealthServerError, match=r"cannot listen on 127\.0\.0\.1:\d+ .*"
                           r"Set service\.listen"):
            HealthServer(f"127.0.0.1:{server.port}", state)
        assert get(server.url + "/healthz")[0] == 200
    finally:
        server.stop()
    server.stop()  # twice: nothing happens
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):  # nobody listens
        probe.connect(("127.0.0.1", server.port))


def test_metrics_is_404_without_metrics(state: HealthState) -> None:
    with HealthServer("127.0.0.1:0", state, poll_interval=0.02) as server:
        assert get(server.url + "/metrics")[0] == 404


@pytest.mark.parametrize(("listen", "expected"), [
    ("127.0.0.1:9108", ("127.0.0.1", 9108)),
    ("0.0.0.0:0", ("0.0.0.0", 0)),
    ("[::1]:9108", ("::1", 9108)),
    ("localhost:80", ("localhost", 80)),
])
def test_parse_listen(listen: str, expected: tuple[str, int]) -> None:
    assert parse_listen(listen) == expected


@pytest.mark.parametrize("listen", ["9108", "127.0.0.1", "127.0.0.1:99999", "http://x:1"])
def test_parse_listen_refuses_what_is_not_host_port(listen: str) -> None:
    with pytest.raises(HealthServerError, match="host:port"):
        parse_listen(listen)
