"""A restart of the SMMePlus exporter neither double-counts nor loses state, and it serves /metrics only
once its state is rebuilt. The command itself runs as a real process with options from the environment."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from test_smmeplus import SEED, promtool_check, run_exporter, samples, value

from exporters.core.server import ExporterServer
from exporters.smmeplus.cli import Exporter


def _without_ingest_times(body: bytes) -> dict:
    moving = ("smmc_source_last_ingest_timestamp_seconds", "smmc_source_last_scan_success_timestamp_seconds")
    return {k: v for k, v in samples(body).items() if k[0] not in moving}


def test_restart_rebuilds_state_and_counters_without_double_counting(tmp_path: Path) -> None:
    inbox, state = tmp_path / "inbox", tmp_path / "state"
    inbox.mkdir()
    for f in SEED.glob("*.csv"):
        shutil.copy(f, inbox / f.name)
    first = run_exporter(inbox, state)
    before = first.exposition.body()
    first.inbox.ledger.close()

    second = Exporter(inbox, state, settle_seconds=0)
    replayed = second.restore()
    assert sorted(replayed) == ["csw", "hpe", "lpe", "msw", "swe", "technical"]
    after = second.exposition.body()
    # every series identical: state from the replayed newest files, counters from the ledger
    scan_time = "smmc_source_last_scan_success_timestamp_seconds"  # when this process last scanned
    assert {k: v for k, v in samples(after).items() if k[0] != scan_time} == {
        k: v for k, v in samples(before).items() if k[0] != scan_time
    }

    # the same HPE file delivered again is recognised by content and not counted twice
    shutil.copy(SEED / "HPE_2021-07-21.csv", inbox / "HPE_2021-07-21-resent.csv")
    second.scan()
    s = samples(second.exposition.body())
    assert value(s, "smmc_source_rows_total", kind="hpe") == 17
    assert (
        value(s, "smmc_workorders_total", source="hpe", activity="read_meter_macaddress", outcome="error")
        == 9
    )

    # a new HPE file adds exactly its rows
    hpe = (SEED / "HPE_2021-07-21.csv").read_text().splitlines()
    (inbox / "HPE_2021-07-22.csv").write_text("\n".join(hpe[:3]).replace("2021-07-21", "2021-07-22") + "\n")
    second.scan()
    s = samples(second.exposition.body())
    assert value(s, "smmc_source_rows_total", kind="hpe") == 19
    assert (
        value(s, "smmc_workorders_total", source="hpe", activity="read_meter_macaddress", outcome="error")
        == 11
    )
    # the SWE state and its counters were not touched by any of this
    assert value(s, "smmc_meter_events_total", concentrator="TD-0011", flag="PUP") == 6
    assert (
        value(s, "smmc_meters_with_active_flag", concentrator="TD-0011", comuna="unknown", flag="CAPE") == 1
    )
    second.inbox.ledger.close()

    third = Exporter(inbox, state, settle_seconds=0)
    third.restore()
    assert _without_ingest_times(third.exposition.body()) == _without_ingest_times(second.exposition.body())
    third.inbox.ledger.close()


def test_metrics_are_not_served_before_the_state_is_restored(tmp_path: Path) -> None:
    inbox, state = tmp_path / "inbox", tmp_path / "state"
    inbox.mkdir()
    shutil.copy(SEED / "SWE_2020-09-23.csv", inbox / "SWE_2020-09-23.csv")
    run_exporter(inbox, state).inbox.ledger.close()

    exporter = Exporter(inbox, state, settle_seconds=0)
    server = ExporterServer(exporter.exposition, "127.0.0.1", 0, ready=exporter.ready.is_set).start()
    try:
        url = f"http://127.0.0.1:{server.port}"
        assert httpx.get(url + "/metrics").status_code == 503
        assert httpx.get(url + "/healthz").status_code == 503
        exporter.restore()
        response = httpx.get(url + "/metrics")
        assert response.status_code == 200
        s = samples(response.content)
        assert (
            value(s, "smmc_meters_with_active_flag", concentrator="TD-0011", comuna="unknown", flag="PUP")
            == 1
        )
        promtool_check(response.content)
    finally:
        server.stop()
        exporter.inbox.ledger.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_command_watches_the_inbox_and_survives_sigterm(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    port = _free_port()
    env = dict(
        os.environ,
        SMMC_SMMEPLUS_INBOX=str(inbox),
        # the inbox does not exist yet: without this the command refuses to start (a mistyped path)
        SMMC_SMMEPLUS_CREATE_INBOX="1",
        SMMC_SMMEPLUS_STATE_DIR=str(tmp_path / "state"),
        SMMC_SMMEPLUS_LISTEN=f"127.0.0.1:{port}",
        SMMC_SMMEPLUS_SETTLE_SECONDS="0.2",
        SMMC_SMMEPLUS_SCAN_INTERVAL="0.2",
    )
    cmd = [
        sys.executable,
        "-c",
        "import sys; from smmc.cli import main; sys.exit(main())",
        "exporter",
        "smmeplus",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 60
        body = b""
        written = False
        while time.monotonic() < deadline:
            try:
                response = httpx.get(url, timeout=2, headers={"Accept-Encoding": "identity"})
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            if response.status_code == 200 and not written:
                # the inbox convention: write under a temporary name, then rename into place
                tmp = inbox / ".SWE_2020-09-23.csv.part"
                shutil.copy(SEED / "SWE_2020-09-23.csv", tmp)
                os.replace(tmp, inbox / "SWE_2020-09-23.csv")
                written = True
            body = response.content
            if b'smmc_source_rows_total{kind="swe"} 10' in body:
                break
            time.sleep(0.2)
        assert b'smmc_source_rows_total{kind="swe"} 10' in body, body[-2000:]
        assert b"python_info" in body  # the process' own runtime metrics come along
        promtool_check(body)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
