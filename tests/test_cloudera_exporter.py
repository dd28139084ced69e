"""The Cloudera exporter end to end: the seed's report through the exposition, a file replaced daily, an
HTTP URL (a real local server), bad inputs counted while the last good report keeps serving, the HTTP
endpoint, the CLI, the simulator, and `promtool check metrics` on the output."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporters.cloudera.exporter import ClouderaExporter
from exporters.cloudera.read import ReportFetcher
from exporters.cloudera.schedule import load_schedule, parse_schedule
from exporters.core.poller import FetchError, RetryPolicy
from exporters.core.server import ExporterServer
from simulator import cloudera as sim

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "tests" / "fixtures" / "cloudera" / "seed_report.tsv"
EXAMPLE = ROOT / "exporters" / "cloudera" / "jobs.example.yml"
SANTIAGO = ZoneInfo("America/Santiago")
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
CRITICAL_LATE = {"smt mother Flow", "son flow 1"}


def local(*parts: int) -> float:
    return datetime(*parts, tzinfo=SANTIAGO).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def samples(body: bytes) -> dict[tuple[str, frozenset], float]:
    out = {}
    for family in text_string_to_metric_families(body.decode("utf-8")):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(body: bytes, name: str, **labels: str) -> float | None:
    return samples(body).get((name, frozenset(labels.items())))


def exporter_for(
    location: str, clock: Clock, schedule_path: Path = EXAMPLE, **fetch_kwargs
) -> ClouderaExporter:
    fetch_kwargs.setdefault("settle_seconds", 0)
    fetcher = ReportFetcher(location, clock=clock, **fetch_kwargs)
    return ClouderaExporter(fetcher, load_schedule(schedule_path), clock=clock)


def test_seed_report_metrics() -> None:
    clock = Clock(local(2020, 2, 4, 8, 0))
    exporter = exporter_for(str(SEED), clock)
    exporter.poll()
    body = exporter.exposition.body()
    expected_jobs = {
        ("ok", "critical"): 3,
        ("ok", "non_critical"): 3,
        ("late", "critical"): 2,
        ("late", "non_critical"): 1,
        ("failed", "critical"): 0,
        ("failed", "non_critical"): 0,
        ("unknown", "critical"): 0,
        ("unknown", "non_critical"): 0,
    }
    for (status, criticality), n in expected_jobs.items():
        assert value(body, "cloudera_jobs", status=status, criticality=criticality) == n
    for job in CRITICAL_LATE:
        assert value(body, "cloudera_job_status", job=job, criticality="critical", status="late") == 1
        assert value(body, "cloudera_job_status", job=job, criticality="critical", status="ok") == 0
        assert value(body, "cloudera_job_last_run_timestamp_seconds", job=job, criticality="critical") is None
    assert value(body, "cloudera_job_status", job="ebmer", criticality="non_critical", status="late") == 1
    nco = {"job": "NCO - Chile - Ingesta y Procesamiento", "criticality": "critical"}
    assert value(body, "cloudera_job_status", status="ok", **nco) == 1
    assert value(body, "cloudera_job_last_success_timestamp_seconds", **nco) == pytest.approx(
        local(2020, 2, 4, 5, 32, 45, 779000)
    )
    assert value(body, "cloudera_job_last_run_timestamp_seconds", **nco) == pytest.approx(
        local(2020, 2, 4, 5, 32, 45, 779000)
    )
    assert value(body, "cloudera_job_deadline_timestamp_seconds", job=nco["job"]) == local(2020, 2, 4, 7, 0)
    # every job has exactly one status at 1
    per_job: dict[str, float] = {}
    for (name, labels), v in samples(body).items():
        if name == "cloudera_job_status":
            job = dict(labels)["job"]
            per_job[job] = per_job.get(job, 0) + v
    assert per_job == {job: 1 for job in per_job} and len(per_job) == 9
    assert value(body, "cloudera_report_up") == 1
    assert value(body, "cloudera_report_last_success_timestamp_seconds") == clock.now
    assert value(body, "cloudera_report_rows") == 9
    assert value(body, "cloudera_jobs_unscheduled") == 0
    assert value(body, "cloudera_schedule_jobs") == 9
    assert value(body, "cloudera_report_rows_rejected_total", reason="bad_timestamp") == 0


def test_seed_report_without_a_schedule_keeps_the_reports_verdict(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yml"
    empty.write_text("jobs: []\n")
    exporter = exporter_for(str(SEED), Clock(local(2020, 2, 4, 8, 0)), empty)
    exporter.poll()
    body = exporter.exposition.body()
    assert value(body, "cloudera_jobs", status="ok", criticality="critical") == 3
    assert value(body, "cloudera_jobs", status="late", criticality="critical") == 2
    assert value(body, "cloudera_jobs", status="late", criticality="non_critical") == 1
    assert value(body, "cloudera_jobs_unscheduled") == 9
    assert value(body, "cloudera_job_deadline_timestamp_seconds", job="ebmer") is None


def test_a_scheduled_job_missing_from_the_report_turns_late_at_its_deadline(tmp_path: Path) -> None:
    report = tmp_path / "report.tsv"
    # the seed's report without NCO (deadline 07:00)
    report.write_text(
        "".join(line for line in SEED.read_text().splitlines(True) if not line.startswith("NCO"))
    )
    clock = Clock(local(2020, 2, 4, 6, 59, 59))
    exporter = exporter_for(str(report), clock)
    exporter.poll()
    nco = {"job": "NCO - Chile - Ingesta y Procesamiento", "criticality": "critical"}
    assert value(exporter.exposition.body(), "cloudera_job_status", status="unknown", **nco) == 1
    clock.now = local(2020, 2, 4, 7, 0)
    exporter.poll()  # unchanged report, re-evaluated
    body = exporter.exposition.body()
    assert value(body, "cloudera_job_status", status="late", **nco) == 1
    assert value(body, "cloudera_jobs", status="late", criticality="critical") == 3


def test_report_file_replaced_daily(tmp_path: Path) -> None:
    schedule = load_schedule(EXAMPLE)
    path = tmp_path / "cloudera.csv"
    sim.write_report(sim.generate_report(schedule, date(2024, 5, 2), late=["son flow 1"]), path)
    clock = Clock(local(2024, 5, 2, 9, 0))
    exporter = exporter_for(str(path), clock)
    exporter.poll()
    body = exporter.exposition.body()
    assert value(body, "cloudera_job_status", job="son flow 1", criticality="critical", status="late") == 1
    first_change = value(body, "cloudera_report_last_change_timestamp_seconds")
    # next morning, before the new report arrives: yesterday's late job stays late, the others are ok
    clock.now = local(2024, 5, 3, 0, 30)
    exporter.poll()
    body = exporter.exposition.body()
    assert value(body, "cloudera_job_status", job="son flow 1", criticality="critical", status="late") == 1
    assert value(body, "cloudera_jobs", status="ok", criticality="critical") == 4
    assert value(body, "cloudera_report_last_change_timestamp_seconds") == first_change
    # the new day's report replaces the file: everything ran
    sim.write_report(sim.generate_report(schedule, date(2024, 5, 3)), path)
    clock.now = local(2024, 5, 3, 9, 0)
    exporter.poll()
    body = exporter.exposition.body()
    assert value(body, "cloudera_jobs", status="ok", criticality="critical") == 5
    assert value(body, "cloudera_jobs", status="ok", criticality="non_critical") == 4
    assert value(body, "cloudera_report_last_change_timestamp_seconds") == clock.now
    # the day after, no new report: every job turns late at its own deadline
    clock.now = local(2024, 5, 4, 3, 30)
    exporter.poll()
    body = exporter.exposition.body()
    late = {
        dict(labels)["job"]
        for (name, labels), v in samples(body).items()
        if name == "cloudera_job_status" and dict(labels)["status"] == "late" and v == 1
    }
    assert late == {"smt mother Flow", "son flow 1", "eOrder - Chile - Ingesta y Procesamiento"}


def test_a_file_being_written_is_read_next_cycle(tmp_path: Path) -> None:
    path = tmp_path / "cloudera.tsv"
    shutil.copy(SEED, path)
    clock = Clock(os.stat(path).st_mtime + 0.5)
    exporter = exporter_for(str(path), clock, settle_seconds=2)
    exporter.poll()
    assert value(exporter.exposition.body(), "cloudera_report_up") == 0
    assert value(exporter.exposition.body(), "cloudera_report_rows") == 0
    clock.now += 5
    exporter.poll()
    assert value(exporter.exposition.body(), "cloudera_report_rows") == 9


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        (b"proceso\thora_ejecucion\testado_final\tcriticidad\nsmt mot", "no_valid_rows"),
        (b"name,when,state\nA,2020-02-04,OK\n", "wrong_header"),
        (b'[{"proceso": "A", "hora_ejecucion": ', "malformed_json"),
        (b"", "empty"),
    ],
)
def test_a_broken_report_is_counted_once_and_the_last_good_one_keeps_serving(
    tmp_path: Path, broken: bytes, reason: str
) -> None:
    path = tmp_path / "report.txt"
    shutil.copy(SEED, path)
    clock = Clock(local(2020, 2, 4, 8, 0))
    exporter = exporter_for(str(path), clock)
    exporter.poll()
    good = exporter.exposition.body()
    path.write_bytes(broken)
    for _ in range(3):  # the same broken content on three cycles counts once
        with pytest.raises(Exception) as info:
            exporter.poll()
        assert getattr(info.value, "reason", None) in (reason, "unchanged_bad")
    body = exporter.exposition.body()
    assert value(body, "cloudera_report_up") == 0
    assert value(body, "cloudera_report_failures_total", reason=reason) == 1
    assert value(body, "cloudera_report_last_success_timestamp_seconds") == clock.now
    for status in ("ok", "late"):
        for criticality in ("critical", "non_critical"):
            labels = {"status": status, "criticality": criticality}
            assert value(body, "cloudera_jobs", **labels) == value(good, "cloudera_jobs", **labels)
    assert exporter.last_error is not None and "unchanged_bad" in exporter.last_error
    # fixed: up again
    shutil.copy(SEED, path)
    exporter.poll()
    assert value(exporter.exposition.body(), "cloudera_report_up") == 1


def test_bad_rows_are_counted_by_reason_in_the_exposition(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    path.write_text(
        "proceso,hora_ejecucion,estado_final,criticidad\n"
        "MSASCL,2020-02-04 04:07:29,OK,No Critico\n"
        "ebmer,2020-13-45 99:00,OK,No Critico\n"
        "bases_tecnica.py,2020-02-04 04:30:08,OK,Importante\n"
        "icmt_datalog2.py,2020-02-04 04:01:11\n"
    )
    exporter = exporter_for(str(path), Clock(local(2020, 2, 4, 8, 0)))
    exporter.poll()
    body = exporter.exposition.body()
    assert value(body, "cloudera_report_rows_rejected_total", reason="bad_timestamp") == 1
    assert value(body, "cloudera_report_rows_rejected_total", reason="unknown_criticality") == 1
    assert value(body, "cloudera_report_rows_rejected_total", reason="malformed_row") == 1
    assert value(body, "cloudera_report_rows") == 1 and value(body, "cloudera_report_up") == 1
    # the rejected rows' jobs are late, because no usable success of theirs arrived
    assert value(body, "cloudera_job_status", job="ebmer", criticality="non_critical", status="late") == 1


def test_missing_report_file_is_counted(tmp_path: Path) -> None:
    exporter = exporter_for(str(tmp_path / "nothing.csv"), Clock(local(2020, 2, 4, 8, 0)))
    with pytest.raises(FetchError):
        exporter.poll()
    body = exporter.exposition.body()
    assert value(body, "cloudera_report_failures_total", reason="missing_file") == 1
    assert value(body, "cloudera_report_up") == 0
    assert value(body, "cloudera_jobs", status="unknown", criticality="critical") == 5


# -- HTTP ------------------------------------------------------------------------------------------------
class ReportServer:
    """A real HTTP server on 127.0.0.1 serving a scripted sequence of responses, with ETag support."""

    def __init__(self) -> None:
        self.body = b""
        self.content_type = "text/tab-separated-values"
        self.status = 200
        self.requests: list[dict[str, str]] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                owner.requests.append(dict(self.headers))
                etag = f'"{hash(owner.body) & 0xFFFFFFFF:x}"'
                if owner.status == 200 and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                body = owner.body if owner.status == 200 else b"error\n"
                self.send_response(owner.status)
                self.send_header("Content-Type", owner.content_type)
                self.send_header("Content-Length", str(len(body)))
                if owner.status == 200:
                    self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/reports/cloudera"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def report_server() -> Iterator[ReportServer]:
    server = ReportServer()
    yield server
    server.close()


def test_report_from_an_http_url(report_server: ReportServer) -> None:
    report_server.body = SEED.read_bytes()
    clock = Clock(local(2020, 2, 4, 8, 0))
    exporter = exporter_for(
        report_server.url, clock, token="s3cret", retry=RetryPolicy(attempts=2), sleep=lambda s: None
    )
    exporter.poll()
    body = exporter.exposition.body()
    assert value(body, "cloudera_jobs", status="late", criticality="critical") == 2
    assert report_server.requests[0]["Authorization"] == "Bearer s3cret"
    # unchanged: a conditional request answered 304, still up
    exporter.poll()
    assert report_server.requests[1].get("If-None-Match")
    assert value(exporter.exposition.body(), "cloudera_report_up") == 1

    # server errors: retried, then counted; the last good report keeps serving
    report_server.status = 500
    with pytest.raises(FetchError):
        exporter.poll()
    body = exporter.exposition.body()
    assert value(body, "cloudera_report_failures_total", reason="http_500") == 1
    assert value(body, "cloudera_report_up") == 0
    assert value(body, "cloudera_jobs", status="ok", criticality="critical") == 3
    assert len(report_server.requests) == 4  # two attempts for the 500
    report_server.status = 404
    with pytest.raises(FetchError):
        exporter.poll()
    assert value(exporter.exposition.body(), "cloudera_report_failures_total", reason="http_404") == 1
    report_server.status = 401
    with pytest.raises(FetchError):
        exporter.poll()
    assert value(exporter.exposition.body(), "cloudera_report_failures_total", reason="http_401") == 1

    # a malformed JSON body, then a good JSON one
    report_server.status = 200
    report_server.content_type = "application/json"
    report_server.body = b'[{"proceso": "smt mother Flow", '
    with pytest.raises(Exception, match="JSON"):
        exporter.poll()
    assert value(exporter.exposition.body(), "cloudera_report_failures_total", reason="malformed_json") == 1
    rows = sim.generate_report(load_schedule(EXAMPLE), date(2020, 2, 4))
    report_server.body = sim.render(rows, "json").encode()
    exporter.poll()
    body = exporter.exposition.body()
    assert value(body, "cloudera_report_up") == 1
    assert value(body, "cloudera_jobs", status="ok", criticality="critical") == 5


def test_unreachable_url_is_counted_as_transport() -> None:
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler) as probe:
        port = probe.server_address[1]
    exporter = exporter_for(
        f"http://127.0.0.1:{port}/gone", Clock(0.0), retry=RetryPolicy(attempts=1), sleep=lambda s: None
    )
    with pytest.raises(FetchError):
        exporter.poll()
    assert value(exporter.exposition.body(), "cloudera_report_failures_total", reason="transport") == 1


# -- the endpoint, promtool, the CLI ---------------------------------------------------------------------
def test_http_endpoint_serves_the_exposition_and_promtool_accepts_it(tmp_path: Path) -> None:
    exporter = exporter_for(str(SEED), Clock(local(2020, 2, 4, 8, 0)))
    exporter.poll()
    with pytest.raises(FetchError):  # add a failure reason so the counters are exercised too
        ClouderaExporter(ReportFetcher(str(tmp_path / "none")), parse_schedule(None)).poll()
    server = ExporterServer(exporter.exposition, "127.0.0.1", 0, title="cloudera test").start()
    try:
        response = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=10)
    finally:
        server.stop()
    assert response.status_code == 200
    assert value(response.content, "cloudera_jobs", status="late", criticality="critical") == 2
    result = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=response.content, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert result.stdout.decode().strip() == "" and result.stderr.decode().strip() == ""


def test_cli_once_prints_a_valid_exposition(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    assert sim.main(["--out", str(out), "--date", "2020-02-04", "--late", "smt mother Flow"]) == 0
    env = {**os.environ, "SMMC_CLOUDERA_REPORT": str(out), "SMMC_CLOUDERA_SCHEDULE": str(EXAMPLE)}
    result = subprocess.run(
        [sys.executable, "-m", "smmc.cli", "exporter", "cloudera", "--once"],
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()
    body = result.stdout
    assert value(body, "cloudera_report_up") == 1
    assert value(body, "cloudera_report_rows") == 9
    assert (
        value(body, "cloudera_job_status", job="smt mother Flow", criticality="critical", status="late") == 1
    )
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, timeout=60)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    # an invalid schedule is refused with its reason
    bad = tmp_path / "bad.yml"
    bad.write_text("jobs:\n  - name: X\n    criticality: medium\n    deadline: '06:00'\n")
    result = subprocess.run(
        [sys.executable, "-m", "smmc.cli", "exporter", "cloudera", "--once", "--schedule", str(bad)],
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 2 and b"criticality" in result.stderr


def test_cli_serves_metrics_until_terminated(tmp_path: Path) -> None:
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler) as probe:
        port = probe.server_address[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smmc.cli",
            "exporter",
            "cloudera",
            "--report",
            str(SEED),
            "--schedule",
            str(EXAMPLE),
            "--listen",
            f"127.0.0.1:{port}",
            "--interval",
            "1s",
            "--settle",
            "0",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        body = b""
        for _ in range(200):
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
                # the parsed sample, not a substring: the HELP line reads "cloudera_report_up 1 when ..."
                if response.status_code == 200 and value(response.content, "cloudera_report_up") == 1:
                    body = response.content
                    break
            except httpx.TransportError:
                pass
            threading.Event().wait(0.1)
        assert body, "the exporter never served a good report"
        health = [line for line in body.decode().splitlines() if line.startswith("cloudera_report")]
        assert value(body, "cloudera_report_rows") == 9, health
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else ""


# -- the simulator -----------------------------------------------------------------------------------------
def test_simulator_api_and_cli(tmp_path: Path) -> None:
    schedule = sim.example_schedule()
    assert set(sim.critical_jobs(schedule)) >= CRITICAL_LATE
    rows = sim.generate_report(schedule, date(2024, 5, 2), late=["smt mother Flow"], failed=["ebmer"])
    assert rows == sim.generate_report(schedule, date(2024, 5, 2), late=["smt mother Flow"], failed=["ebmer"])
    by_job = {r.job: r for r in rows}
    assert by_job["smt mother Flow"].run is None and by_job["smt mother Flow"].status == "late"
    assert by_job["ebmer"].status == "failed"
    for spec in schedule.jobs:  # every run happens before its deadline
        run = by_job[spec.name].run
        if run is not None:
            assert run.time() < spec.deadline and run.date() == date(2024, 5, 2)
    with pytest.raises(ValueError, match="not in the schedule"):
        sim.generate_report(schedule, date(2024, 5, 2), late=["nope"])
    with pytest.raises(ValueError, match="both"):
        sim.generate_report(schedule, date(2024, 5, 2), late=["ebmer"], failed=["ebmer"])
    out = tmp_path / "r.csv"
    assert sim.main(["--out", str(out), "--date", "2024-05-02", "--failed", "MSASCL", "--format", "csv"]) == 0
    exporter = exporter_for(str(out), Clock(local(2024, 5, 2, 12, 0)))
    exporter.poll()
    body = exporter.exposition.body()
    assert value(body, "cloudera_job_status", job="MSASCL", criticality="non_critical", status="failed") == 1
    assert value(body, "cloudera_jobs", status="ok", criticality="critical") == 5
    assert sim.main(["--out", str(out), "--late", "nope"]) == 2
