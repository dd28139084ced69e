"""deploy/remote-write/: the example remote_write configurations for Grafana Mimir, Thanos Receive and a
VictoriaMetrics cluster pass `promtool check config`, alone and merged into prometheus/prometheus.yml, and
a real Prometheus sends through each block (its queue, headers, credentials file, write relabelling and
external labels) to a real remote-write receiver on 127.0.0.1 (Prometheus' own /api/v1/write: the same
remote-write protocol the three back ends accept)."""

from __future__ import annotations

import copy
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import prometheus_client
import pytest
import yaml
from e2e.harness import ProcessGroup, free_port, prometheus_binary, wait_for, wait_http_ok
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "deploy" / "remote-write").glob("*.yml"))
BACKENDS = {
    "mimir.yml": "/api/v1/push",
    "thanos-receive.yml": "/api/v1/receive",
    "victoriametrics-cluster.yml": "/insert/42/prometheus/api/v1/write",
}


def _promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is needed (Debian package prometheus)"
    return found


def _check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_promtool(), "check", "config", str(path)], capture_output=True, text=True, timeout=60
    )


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_one_example_per_backend() -> None:
    assert sorted(p.name for p in EXAMPLES) == sorted(BACKENDS)


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_passes_promtool_check_config(example: Path) -> None:
    result = _check_config(example)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_merged_into_the_stack_prometheus_yml_passes_promtool(example: Path, tmp_path: Path) -> None:
    merged = merge(_load(REPO / "prometheus" / "prometheus.yml"), _load(example))
    merged["rule_files"] = [str(REPO / "rules" / "*.rules.yml")]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(merged, sort_keys=False))
    result = _check_config(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout and "rules found" in result.stdout


def test_promtool_rejects_a_broken_remote_write(tmp_path: Path) -> None:
    broken = _load(REPO / "deploy" / "remote-write" / "mimir.yml")
    broken["remote_write"][0]["queue_config"]["max_shards"] = "many"
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump(broken))
    assert _check_config(path).returncode != 0


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_keeps_secrets_in_files_and_the_stack_labels(example: Path) -> None:
    config = _load(example)
    stack = _load(REPO / "prometheus" / "prometheus.yml")
    assert config["global"]["external_labels"].items() >= stack["global"]["external_labels"].items()
    [rw] = config["remote_write"]
    assert urlsplit(rw["url"]).scheme == "https"
    assert urlsplit(rw["url"]).path == BACKENDS[example.name]
    auth = rw.get("basic_auth") or rw.get("authorization")
    assert auth is not None
    assert "password" not in auth and "credentials" not in auth  # only *_file forms
    assert any(k.endswith("_file") for k in auth)


def merge(stack: dict[str, Any], example: dict[str, Any]) -> dict[str, Any]:
    """What docs/scaling.md tells an operator to do: add the example's external labels and remote_write."""
    out = copy.deepcopy(stack)
    out.setdefault("global", {}).setdefault("external_labels", {}).update(
        example["global"]["external_labels"]
    )
    out["remote_write"] = copy.deepcopy(example["remote_write"])
    return out


# --- a real Prometheus sends through each block ----------------------------------------------------


@pytest.fixture
def python_target() -> Iterator[str]:
    """A prometheus_client endpoint (python_gc_* and python_info, like our exporters) on 127.0.0.1."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = prometheus_client.generate_latest(prometheus_client.REGISTRY)
            self.send_response(200)
            self.send_header("Content-Type", prometheus_client.CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[ProcessGroup]:
    group = ProcessGroup(tmp_path)
    try:
        yield group
    finally:
        group.close()


def _prometheus(group: ProcessGroup, name: str, config: dict[str, Any], *flags: str) -> str:
    binary = prometheus_binary()
    assert binary, "prometheus is needed (Debian package prometheus)"
    port = free_port()
    workdir = group.workdir / name
    workdir.mkdir(parents=True)
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    group.spawn(
        name,
        [
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=info",
            *flags,
        ],
    )
    url = f"http://127.0.0.1:{port}"
    wait_http_ok(f"{url}/-/ready", 60, group)
    return url


def _query(url: str, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10)
    response.raise_for_status()
    return response.json()["data"]["result"]


def _own_metrics(url: str) -> dict[str, float]:
    """The sender's own remote-storage counters, summed over queues (it does not scrape itself)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("prometheus_remote_storage_samples"):
                totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def test_a_real_prometheus_sends_through_every_example(
    processes: ProcessGroup, python_target: str, tmp_path: Path
) -> None:
    receiver = _prometheus(
        processes, "receiver", {"global": {"scrape_interval": "1m"}}, "--web.enable-remote-write-receiver"
    )
    secret = tmp_path / "remote-write-secret"
    secret.write_text("not-a-real-secret\n")
    for example in EXAMPLES:
        config = _load(example)
        [rw] = config["remote_write"]
        # Only the address (loopback receiver) and the secret file's path change; the queue, headers,
        # relabelling, metadata and external labels are the example's.
        rw["url"] = f"{receiver}/api/v1/write"
        for auth_key, file_key in (("basic_auth", "password_file"), ("authorization", "credentials_file")):
            if auth_key in rw:
                rw[auth_key][file_key] = str(secret)
        job = f"rw-{example.stem}"
        config["global"].update({"scrape_interval": "1s", "scrape_timeout": "1s"})
        config["scrape_configs"] = [{"job_name": job, "static_configs": [{"targets": [python_target]}]}]
        sender = _prometheus(processes, f"sender-{example.stem}", config)

        external = config["global"]["external_labels"]
        selector = ",".join([f'job="{job}"'] + [f'{k}="{v}"' for k, v in external.items()])
        wait_for(
            lambda sel=selector: _query(receiver, f"python_info{{{sel}}}"),
            90,
            f"{example.name}: python_info with the external labels at the receiver",
            processes=processes,
        )
        # the scrape's own up series arrived too, and what write_relabel_configs drops did not
        assert _query(receiver, f"up{{{selector}}}")
        assert _query(sender, f'python_gc_objects_collected_total{{job="{job}"}}'), "the sender scraped it"
        assert _query(receiver, f'{{__name__=~"python_gc_.*",job="{job}"}}') == []
        sent = _own_metrics(sender)
        assert sent["prometheus_remote_storage_samples_total"] > 0
        assert sent["prometheus_remote_storage_samples_failed_total"] == 0
        processes.processes[-1].stop()
