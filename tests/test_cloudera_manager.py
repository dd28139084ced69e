"""The Cloudera resource collector against the fake Cloudera Manager: the fake's fidelity to Cloudera's own
generated client (PyPI `cm-client`), every resource metric's value, the bad inputs (401, 5xx, timeouts,
malformed JSON, a slow server) with the last good data serving and `cloudera_manager_up 0`, recovery,
the fold on arbitrary JSON (Hypothesis), the CLI, and `promtool check metrics` on the output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import cm_client
import httpx
import pytest
from cm_client.rest import ApiException
from hypothesis import given, settings
from hypothesis import strategies as st

from exporters.cloudera.exporter import ResourceCollector
from exporters.cloudera.fold import (
    HDFS_QUERY,
    HOST_QUERY,
    Resources,
    fold_hdfs_series,
    fold_host_series,
    fold_hosts,
    fold_services,
)
from exporters.cloudera.read import ManagerClient
from exporters.core.exposition import Exposition
from exporters.core.poller import AuthError, FetchError, Poller, RetryPolicy
from simulator import cloudera_cluster as sim
from simulator.fake_cloudera import create_app, parse_tsquery
from simulator.serving import ServerThread
from tests.opengate_helpers import samples

USER, PASSWORD = "monitor", "s3cret-cm"
# a fixed instant: 03:30 in Santiago, the night's ingestion at its peak
NOW = datetime(2026, 11, 30, 6, 30, 0, tzinfo=UTC).timestamp()
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
TIB = 2**40


@pytest.fixture()
def cluster() -> sim.SimCluster:
    return sim.generate(workers=4, seed=7)


@pytest.fixture()
def fake(cluster: sim.SimCluster) -> Iterator[ServerThread]:
    server = ServerThread(create_app(cluster, {USER: PASSWORD}, clock=lambda: NOW)).start()
    try:
        yield server
    finally:
        server.stop()


def collector(
    url: str, *, password: str = PASSWORD, timeout: float = 2.0, **kwargs: Any
) -> ResourceCollector:
    client = ManagerClient(
        url,
        USER,
        password,
        timeout=timeout,
        policy=RetryPolicy(attempts=2, initial_backoff=0.01, max_backoff=0.02, max_retry_after=0.05),
        sleep=lambda s: time.sleep(min(s, 0.05)),
    )
    return ResourceCollector(client, Exposition(), clock=lambda: NOW, **kwargs)


def value(body: bytes, name: str, **labels: str) -> float | None:
    return samples(body).get(name, {}).get(tuple(sorted(labels.items())))


def fault(server: ServerThread, **body: Any) -> None:
    httpx.put(f"{server.url}/_fake/fault", json=body).raise_for_status()


# --- the fake against cm-client ----------------------------------------------------------------------


def cm_api(url: str, password: str = PASSWORD) -> cm_client.ApiClient:
    """cm-client's configuration is a process-wide singleton: the credential is set before each use."""
    cm_client.configuration.username, cm_client.configuration.password = USER, password
    return cm_client.ApiClient(f"{url}/api/v45")


def test_cm_client_reads_clusters_services_hosts_and_timeseries(fake, cluster) -> None:
    api = cm_api(fake.url)
    clusters = cm_client.ClustersResourceApi(api).read_clusters(view="summary")
    assert [c.name for c in clusters.items] == [cluster.name]
    assert clusters.items[0].display_name == "Data Lake Chile"
    services = cm_client.ServicesResourceApi(api).read_services(cluster.name, view="summary")
    assert {s.name: (s.type, s.service_state, s.health_summary) for s in services.items} == {
        s.name: (s.type, "STARTED", "GOOD") for s in cluster.services
    }
    assert services.items[0].cluster_ref.cluster_name == cluster.name
    hosts = cm_client.HostsResourceApi(api).read_hosts(view="full")
    assert sorted(h.hostname for h in hosts.items) == sorted(h.hostname for h in cluster.hosts)
    worker = next(h for h in hosts.items if h.hostname.startswith("cdp-worker-01"))
    assert (worker.health_summary, worker.num_cores, worker.total_phys_mem_bytes) == ("GOOD", 32, 256 * 2**30)
    assert worker.health_checks[0].summary == "GOOD"

    ts_api = cm_client.TimeSeriesResourceApi(api)
    answer = ts_api.query_time_series(
        query=HOST_QUERY, _from="2026-11-30T06:20:00.000Z", to="2026-11-30T06:30:00.000Z"
    )
    (response,) = answer.items
    assert response.time_series_query == HOST_QUERY
    assert len(response.time_series) == 3 * len(cluster.hosts)
    cpu = next(
        s
        for s in response.time_series
        if s.metadata.metric_name == "cpu_percent" and s.metadata.attributes["hostname"] == worker.hostname
    )
    assert cpu.metadata.unit_numerators == ["percent"]
    assert len(cpu.data) == 11  # one point a minute, both ends included
    assert cpu.data[-1].timestamp == "2026-11-30T06:30:00.000Z"
    assert cpu.data[-1].value == cluster.cpu_percent(cluster.host(worker.hostname), NOW)
    # the POST form (ApiTimeSeriesRequest) gives the same answer
    posted = ts_api.query_time_series_0(
        body=cm_client.ApiTimeSeriesRequest(
            query=HDFS_QUERY, _from="2026-11-30T06:25:00.000Z", to="2026-11-30T06:30:00.000Z"
        )
    )
    capacity = next(s for s in posted.items[0].time_series if s.metadata.metric_name == "dfs_capacity")
    assert capacity.data[-1].value == 4 * 12 * 8 * TIB
    assert capacity.metadata.attributes["serviceName"] == "hdfs"


def test_cm_client_sees_the_fakes_errors(fake, cluster) -> None:
    with pytest.raises(ApiException) as bad_password:
        cm_client.ClustersResourceApi(cm_api(fake.url, "wrong")).read_clusters()
    assert bad_password.value.status == 401
    assert bad_password.value.headers["WWW-Authenticate"] == 'Basic realm="Cloudera Manager"'
    api = cm_api(fake.url)
    with pytest.raises(ApiException) as missing:
        cm_client.ServicesResourceApi(api).read_services("no-such-cluster")
    assert missing.value.status == 404
    assert json.loads(missing.value.body)["message"] == "Cluster 'no-such-cluster' not found."
    with pytest.raises(ApiException) as bad_query:
        cm_client.TimeSeriesResourceApi(api).query_time_series(query="select where")
    assert bad_query.value.status == 400


def test_session_cookie_replaces_basic_auth_and_versions_are_checked(fake) -> None:
    with httpx.Client(base_url=fake.url) as http:
        assert http.get("/api/version", auth=(USER, PASSWORD)).text == "v45"
        assert "CLOUDERA_MANAGER_SESSIONID" in http.cookies
        assert http.get("/api/v41/clusters").status_code == 200  # the cookie alone
        assert http.get("/api/v46/clusters").status_code == 404
    assert httpx.get(f"{fake.url}/api/v45/clusters").status_code == 401


def test_tsquery_subset() -> None:
    assert parse_tsquery('SELECT a, b_c WHERE category = HOST AND hostname = "x.y"') == (
        ["a", "b_c"],
        [("category", "HOST"), ("hostname", "x.y")],
    )
    assert parse_tsquery("select a") == (["a"], [])
    for bad in ("", "select", "select a/1024", "select a where x > 1", "delete a"):
        with pytest.raises(ValueError):
            parse_tsquery(bad)


# --- the collector against the fake ------------------------------------------------------------------


def test_every_resource_metric_from_the_fake(fake, cluster) -> None:
    c = collector(fake.url)
    c.poll()
    body = c.exposition.body()
    assert value(body, "cloudera_manager_up") == 1
    assert value(body, "cloudera_manager_last_success_timestamp_seconds") == NOW
    for host in cluster.hosts:
        labels = {"cluster": cluster.name, "host": host.hostname}
        assert value(body, "cloudera_host_health", **labels, health="GOOD") == 1
        assert value(body, "cloudera_host_health", **labels, health="BAD") == 0
        assert value(body, "cloudera_host_maintenance_mode", **labels) == 0
        assert value(body, "cloudera_host_cpu_usage_ratio", **labels) == pytest.approx(
            cluster.cpu_percent(host, NOW) / 100
        )
        assert value(body, "cloudera_host_memory_used_bytes", **labels) == cluster.memory_used(host, NOW)
        assert value(body, "cloudera_host_memory_total_bytes", **labels) == host.memory_bytes
    # the night's ingestion: the workers are busier than the edge node
    worker = value(body, "cloudera_host_cpu_usage_ratio", cluster=cluster.name, host="cdp-worker-01.enel.cl")
    edge = value(body, "cloudera_host_cpu_usage_ratio", cluster=cluster.name, host="cdp-edge-01.enel.cl")
    assert worker is not None and edge is not None and worker > 0.6 > edge
    for svc in cluster.services:
        labels = {"cluster": cluster.name, "service": svc.name, "type": svc.type}
        assert value(body, "cloudera_service_state", **labels, state="STARTED") == 1
        assert value(body, "cloudera_service_state", **labels, state="STOPPED") == 0
        assert value(body, "cloudera_service_health", **labels, health="GOOD") == 1
    hdfs = {"cluster": cluster.name, "service": "hdfs"}
    assert value(body, "cloudera_hdfs_capacity_bytes", **hdfs) == 384 * TIB
    assert value(body, "cloudera_hdfs_used_bytes", **hdfs) == cluster.hdfs_used(NOW)
    assert value(body, "cloudera_hdfs_non_dfs_used_bytes", **hdfs) == cluster.hdfs_non_dfs(NOW)
    assert value(body, "cloudera_manager_newest_sample_timestamp_seconds", query="host") == NOW
    assert value(body, "cloudera_manager_requests_total", endpoint="timeseries", code="200") == 2
    assert "cloudera_manager_records_rejected" not in samples(body)


def test_health_state_and_storage_changes_reach_the_metrics(fake, cluster) -> None:
    c = collector(fake.url)
    httpx.post(f"{fake.url}/_fake/hosts/cdp-worker-02.enel.cl", json={"health": "BAD"}).raise_for_status()
    httpx.post(
        f"{fake.url}/_fake/services/impala", json={"state": "STOPPED", "health": "BAD"}
    ).raise_for_status()
    httpx.post(f"{fake.url}/_fake/hdfs", json={"used_ratio": 0.93}).raise_for_status()
    c.poll()
    body = c.exposition.body()
    assert (
        value(body, "cloudera_host_health", cluster=cluster.name, host="cdp-worker-02.enel.cl", health="BAD")
        == 1
    )
    impala = {"cluster": cluster.name, "service": "impala", "type": "IMPALA"}
    assert value(body, "cloudera_service_state", **impala, state="STOPPED") == 1
    assert value(body, "cloudera_service_health", **impala, health="BAD") == 1
    assert value(body, "cloudera_hdfs_used_bytes", cluster=cluster.name, service="hdfs") == int(
        384 * TIB * 0.93
    )


def test_an_unknown_cluster_fails_the_poll(fake) -> None:
    c = collector(fake.url, clusters=["elsewhere"])
    with pytest.raises(FetchError) as failed:
        c.poll()
    assert failed.value.reason == "unknown_cluster"


@pytest.mark.parametrize(
    ("fault_body", "reason"),
    [
        ({"mode": "unauthorized"}, "http_401"),
        ({"mode": "server_error"}, "http_500"),
        ({"mode": "rate_limit", "retry_after": 0}, "http_503"),
        ({"mode": "malformed", "path_contains": "timeseries"}, "malformed_json"),
        ({"mode": "slow", "delay": 3.0, "path_contains": "timeseries"}, "timeout"),
    ],
)
def test_bad_answers_keep_the_last_good_data_and_recover(fake, fault_body, reason) -> None:
    c = collector(fake.url, timeout=1.0)
    poller = Poller("cloudera-manager", c.poll, 60, on_failure=c.on_failure)
    poller.run_once()
    good = samples(c.exposition.body())
    fault(fake, **fault_body)
    delay = poller.run_once()
    fault(fake, mode="none")
    body = c.exposition.body()
    assert value(body, "cloudera_manager_up") == 0
    assert value(body, "cloudera_manager_poll_failures_total", reason=reason) == 1
    assert sum(samples(body)["cloudera_manager_poll_failures_total"].values()) == 1
    # a rejected credential waits five intervals before the next try; anything else one
    assert delay == (300 if reason == "http_401" else 60)
    # the resource metrics still read the last good poll
    assert samples(body)["cloudera_hdfs_capacity_bytes"] == good["cloudera_hdfs_capacity_bytes"]
    assert samples(body)["cloudera_host_cpu_usage_ratio"] == good["cloudera_host_cpu_usage_ratio"]
    poller.run_once()
    assert value(c.exposition.body(), "cloudera_manager_up") == 1


def test_a_slow_server_within_the_timeout_is_waited_for(fake) -> None:
    c = collector(fake.url, timeout=5.0)
    fault(fake, mode="slow", delay=0.5, count=2)
    c.poll()
    assert value(c.exposition.body(), "cloudera_manager_up") == 1


def test_wrong_password_is_not_retried(fake) -> None:
    c = collector(fake.url, password="wrong")
    with pytest.raises(AuthError):
        c.poll()
    stats = httpx.get(f"{fake.url}/_fake/stats").json()["requests"]
    assert stats == {"/api/version 401": 1}


def test_unreachable_server_is_transport() -> None:
    c = collector("http://127.0.0.1:9")
    with pytest.raises(FetchError) as failed:
        c.poll()
    assert failed.value.reason == "transport"


# --- the fold on what a server may send ---------------------------------------------------------------


def test_fold_counts_what_it_cannot_read() -> None:
    state = Resources()
    hosts = fold_hosts(
        [
            {"hostId": "h1", "hostname": "a", "healthSummary": "GOOD", "clusterRef": {"clusterName": "c"}},
            {"hostId": "h1", "hostname": "a-again", "healthSummary": "GOOD"},
            {"hostname": "no-id"},
            {"hostId": "h3", "hostname": "c", "healthSummary": "SICK"},
            "not an object",
        ],
        None,
        state,
    )
    assert set(hosts) == {"h1", "h3"} and hosts["h3"].health == "NOT_AVAILABLE"
    fold_services(
        "c", [{"name": "hdfs", "type": "HDFS", "serviceState": "STARTED", "healthSummary": "GOOD"}, {}], state
    )
    fold_host_series(
        [
            {
                "metadata": {
                    "metricName": "cpu_percent",
                    "unitNumerators": ["percent"],
                    "attributes": {"hostId": "h1"},
                },
                "data": [
                    {"timestamp": "2026-11-30T06:29:00.000Z", "value": 40},
                    {"timestamp": "2026-11-30T06:30:00.000Z", "value": 50.5},
                    {"timestamp": "garbage", "value": 1},
                    {"timestamp": "2026-11-30T06:31:00.000Z", "value": "NaN"},
                ],
            },
            {
                "metadata": {
                    "metricName": "cpu_percent",
                    "unitNumerators": ["bytes"],
                    "attributes": {"hostId": "h1"},
                }
            },
            {
                "metadata": {"metricName": "physical_memory_used", "attributes": {"hostId": "zz"}},
                "data": [{"timestamp": "2026-11-30T06:30:00Z", "value": 1}],
            },
            {"metadata": {"metricName": "load_1"}, "data": []},
        ],
        hosts,
        state,
    )
    fold_hdfs_series(
        [{"metadata": {"metricName": "dfs_capacity", "attributes": {}}, "data": []}], None, state
    )
    assert state.host_usage == {("c", "a"): {"cpu_percent": 0.505}}
    assert dict(state.rejected) == {
        ("host", "duplicate"): 1,
        ("host", "no_identifier"): 2,
        ("host", "invalid_value"): 1,
        ("service", "no_identifier"): 1,
        ("host_timeseries", "invalid_point"): 2,
        ("host_timeseries", "unexpected_unit"): 1,
        ("host_timeseries", "unknown_host"): 1,
        ("host_timeseries", "unknown_metric"): 1,
        ("hdfs_timeseries", "no_data"): 1,
    }


JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    ["hostId", "hostname", "healthSummary", "clusterRef", "name", "type", "serviceState", "maintenanceMode",
     "metadata", "data", "metricName", "attributes", "unitNumerators", "timestamp", "value"]
)  # fmt: skip
DOCS = st.lists(st.dictionaries(KEYS, JSON, max_size=6) | JSON, max_size=6)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(hosts=DOCS, services=DOCS, host_series=DOCS, hdfs_series=DOCS)
def test_fold_never_raises_on_arbitrary_json(hosts, services, host_series, hdfs_series) -> None:
    state = Resources()
    by_id = fold_hosts(hosts, None, state)
    fold_services("c", services, state)
    fold_host_series(host_series, by_id, state)
    fold_hdfs_series(hdfs_series, None, state)
    assert all(isinstance(v, float) for usage in state.host_usage.values() for v in usage.values())
    assert all(n > 0 for n in state.rejected.values())


# --- exposition and CLI ------------------------------------------------------------------------------


def test_promtool_accepts_the_exposition(fake, tmp_path) -> None:
    c = collector(fake.url)
    c.poll()
    path = tmp_path / "metrics.prom"
    path.write_bytes(c.exposition.body())
    result = subprocess.run(
        [PROMTOOL, "check", "metrics"], stdin=path.open("rb"), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cli_once_reads_cloudera_manager_without_a_report(fake, tmp_path) -> None:
    password_file = tmp_path / "cm_password"
    password_file.write_text(PASSWORD + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMMC_CLOUDERA")}
    result = subprocess.run(
        [sys.executable, "-m", "smmc.cli", "exporter", "cloudera", "--once", "--cm-url", fake.url,
         "--cm-user", USER, "--cm-password-file", str(password_file)],
        capture_output=True, env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    assert value(result.stdout, "cloudera_manager_up") == 1
    assert (
        value(result.stdout, "cloudera_hdfs_capacity_bytes", cluster=sim.CLUSTER_NAME, service="hdfs")
        == 384 * TIB
    )
    # no report configured: the report's metrics are not there, rather than a report that is "down"
    assert "cloudera_report_up" not in samples(result.stdout)
