"""The OpenGate exporter against the fake North API: every metric's value for the seed's fleet, paging,
each fault with the exporter still serving and `opengate_up 0`, recovery, and `promtool check metrics`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import httpx
import pytest

from exporters.core.exposition import Exposition
from exporters.core.poller import Poller, RetryPolicy
from exporters.core.server import ExporterServer
from exporters.opengate.config import ConfigError, load_datastreams
from exporters.opengate.exporter import OpenGateExporter
from exporters.opengate.read import NorthClient
from simulator import opengate_fleet as fleets
from tests.opengate_helpers import API_KEY, ORG, by_modem, fake_server, samples

REFERENCE = fleets.parse_iso(fleets.REFERENCE_TIME).timestamp()
SEED_PRESENCE = {row[0]: (row[3], row[4], fleets.parse_iso(row[2]).timestamp()) for row in fleets.SEED_NINE}
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


class Rig:
    """A fake, an exporter polling it (small pages, quick retries), its /metrics server and a poller."""

    def __init__(self, server, *, page_size: int = 4, timeout: float = 2.0, datastreams=None) -> None:
        self.server = server
        self.sleeps: list[float] = []
        # new counter series are scraped at 0 once before their value (exporters/core/exposition.py)
        self.exposition = Exposition(new_counter_hold_seconds=0)
        self.client = NorthClient(
            server.url,
            API_KEY,
            page_size=page_size,
            timeout=timeout,
            policy=RetryPolicy(attempts=2, initial_backoff=0.01, max_backoff=0.05, max_retry_after=2.0),
            sleep=self._sleep,
        )
        self.exporter = OpenGateExporter(
            self.client, ORG, datastreams or load_datastreams(), self.exposition, clock=lambda: REFERENCE
        )
        self.http = ExporterServer(self.exposition, "127.0.0.1", 0, include_runtime_metrics=False).start()
        self.poller = Poller("opengate", self.exporter.poll, 60, on_failure=self.exporter.on_failure)

    def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        time.sleep(min(seconds, 0.05))

    def cycle(self) -> dict:
        self.poller.run_once()
        return self.scrape()

    def scrape(self) -> dict:
        first = httpx.get(f"http://127.0.0.1:{self.http.port}/metrics", timeout=5)
        assert first.status_code == 200
        r = httpx.get(f"http://127.0.0.1:{self.http.port}/metrics", timeout=5)
        assert r.status_code == 200
        return samples(r.content)

    def fault(self, **body) -> None:
        httpx.put(f"{self.server.url}/_fake/fault", json=body).raise_for_status()

    def close(self) -> None:
        httpx.delete(f"{self.server.url}/_fake/fault")
        self.http.stop()
        self.exporter.close()


def value(parsed, name, **labels) -> float:
    return parsed[name][tuple(sorted(labels.items()))]


@pytest.fixture()
def nine():
    with fake_server(fleets.generate(fixture="seed-nine")) as server:
        rig = Rig(server)
        yield rig
        rig.close()


def test_seed_nine_modems_metric_by_metric(nine):
    m = nine.cycle()
    assert value(m, "opengate_up") == 1
    present = by_modem(m, "opengate_modem_present")
    ip = by_modem(m, "opengate_modem_ip_presence")
    rtt = by_modem(m, "opengate_modem_rtt_seconds")
    when = by_modem(m, "opengate_modem_presence_timestamp_seconds")
    assert set(present) == set(SEED_PRESENCE)
    for modem, (ok, rtt_ms, date) in SEED_PRESENCE.items():
        assert ip[modem] == (1.0 if ok == "OK" else 0.0), modem
        assert present[modem] == (1.0 if ok == "OK" else 0.0), modem
        assert when[modem] == date
        if rtt_ms is None:
            assert modem not in rtt
        else:
            assert rtt[modem] == pytest.approx(rtt_ms / 1000)
    assert rtt["17CEC50610052672"] == pytest.approx(2.074)
    assert (
        value(
            m,
            "opengate_modem_presence_info",
            modem="16CEC50610040344",
            unified_presence="GPRS",
            source="DEVICE_PING",
        )
        == 1
    )
    sent = by_modem(m, "opengate_modem_daily_sent_bytes")
    received = by_modem(m, "opengate_modem_daily_received_bytes")
    assert sent["18CEC50610058302"] + received["18CEC50610058302"] == 29_410_000
    assert sent["18CEC50610061022"] + received["18CEC50610061022"] == 135_040
    assert "16CEC50610040344" not in sent  # the seed shows no traffic for it
    assert (
        by_modem(m, "opengate_modem_traffic_timestamp_seconds")["17CEC50610051720"]
        == SEED_PRESENCE["17CEC50610051720"][2]
    )
    assert by_modem(m, "opengate_modem_signal_strength_dbm")["17CEC50610051970"] == -69
    info = {dict(k)["modem"]: dict(k) for k in m["opengate_modem_info"]}
    assert info["17CEC50610051720"] == {
        "modem": "17CEC50610051720",
        "iccid": "8956020056958111706",
        "imsi": "730026958111706",
        "msisdn": "56958111706",
        "admin_state": "ACTIVE",
        "latitude": "-33.4113",
        "longitude": "-70.601",
    }
    assert value(m, "opengate_sims", state="ACTIVE", billable="true") == 9
    assert value(m, "opengate_sims", state="READY", billable="false") == 0
    # one SIM state series per modem: the state of the SIM fitted in it
    sim_states = {dict(k)["modem"]: (dict(k)["state"], v) for k, v in m["opengate_modem_sim_state"].items()}
    assert sim_states == {modem: ("ACTIVE", 1.0) for modem in SEED_PRESENCE}
    assert value(m, "opengate_alarms", rule="maxTrafficBytesReached", severity="URGENT", status="OPEN") == 6
    assert (
        value(
            m, "opengate_alarms", rule="presenceUnreachableThresHold", severity="INFORMATIVE", status="OPEN"
        )
        == 3
    )
    assert (
        value(
            m,
            "opengate_alarm_open",
            modem="18CEC50610058301",
            rule="presenceUnreachableThresHold",
            severity="INFORMATIVE",
        )
        == 1
    )
    assert len(m["opengate_alarm_open"]) == 9
    assert value(m, "opengate_modems") == 9
    assert value(m, "opengate_last_success_timestamp_seconds") == REFERENCE
    assert value(m, "opengate_poll_duration_seconds") > 0


def test_paging_walks_every_page_until_204(nine):
    m = nine.cycle()
    # 9 devices and 9 SIMs in pages of 4: 3 full pages then 204 for each search; 9 alarms likewise
    devices = "/north/v80/search/entities"
    assert value(m, "opengate_requests_total", endpoint=devices, code="200") == 6
    assert value(m, "opengate_requests_total", endpoint=devices, code="204") == 2
    assert value(m, "opengate_requests_total", endpoint="/north/v80/search/entities/alarms", code="200") == 3
    assert value(m, "opengate_requests_total", endpoint="/north/v80/search/entities/alarms", code="204") == 1
    stats = httpx.get(f"{nine.server.url}/_fake/stats").json()["requests"]
    assert stats[f"{devices} 204"] == 2


def test_page_of_ends_paging_without_the_extra_request():
    with fake_server(fleets.generate(fixture="seed-nine"), page_of=True) as server:
        rig = Rig(server, page_size=5)
        try:
            m = rig.cycle()
        finally:
            rig.close()
    assert value(m, "opengate_requests_total", endpoint="/north/v80/search/entities", code="200") == 4
    assert ("code", "204") not in {kv for k in m["opengate_requests_total"] for kv in k}
    assert len(by_modem(m, "opengate_modem_present")) == 9


def test_seed_fleet_sim_states_and_alarm_mix():
    with fake_server(fleets.generate(fixture="seed")) as server:
        rig = Rig(server, page_size=1000, timeout=30)
        try:
            m = rig.cycle()
        finally:
            rig.close()
    assert value(m, "opengate_up") == 1
    assert value(m, "opengate_sims", state="ACTIVE", billable="true") == 3046
    assert value(m, "opengate_sims", state="READY", billable="false") == 752
    assert sum(m["opengate_sims"].values()) == 3798
    # per modem: one series each, and the 752 spare SIMs (in no router) add none
    assert len(m["opengate_modem_sim_state"]) == 3046
    assert {dict(k)["state"] for k in m["opengate_modem_sim_state"]} == {"ACTIVE"}
    alarms = {tuple(v for _, v in k): n for k, n in m["opengate_alarms"].items()}
    by_rule: dict[str, float] = {}
    by_status: dict[str, float] = {}
    for labels, n in m["opengate_alarms"].items():
        d = dict(labels)
        by_rule[d["rule"]] = by_rule.get(d["rule"], 0) + n
        by_status[d["status"]] = by_status.get(d["status"], 0) + n
    assert by_rule == {"maxTrafficBytesReached": 345, "presenceUnreachableThresHold": 98}
    assert by_status == {"OPEN": 431, "CLOSED": 12}
    assert sum(alarms.values()) == 443
    assert len(by_modem(m, "opengate_modem_present")) == 3046
    assert by_modem(m, "opengate_modem_rtt_seconds")["17CEC50610051720"] == pytest.approx(1.803)
    # the presenceUnreachable alarms name modems that are indeed not present
    unreachable = {
        dict(k)["modem"]
        for k in m["opengate_alarm_open"]
        if dict(k)["rule"] == "presenceUnreachableThresHold"
    }
    present = by_modem(m, "opengate_modem_present")
    assert unreachable and all(present.get(x) == 0 for x in unreachable)


FAULTS = [
    ("unauthorized", "http_401"),
    ("forbidden", "http_403"),
    ("rate_limit", "http_429"),
    ("server_error", "http_500"),
    ("slow", "timeout"),
    ("malformed", "malformed_json"),
]


@pytest.mark.parametrize(("mode", "reason"), FAULTS)
def test_each_fault_keeps_serving_last_good_data_with_up_0_then_recovers(nine, mode, reason):
    good = nine.cycle()
    assert value(good, "opengate_up") == 1
    nine.client._http.timeout = httpx.Timeout(0.3)
    nine.fault(mode=mode, retry_after=1, delay=1.0)
    bad = nine.cycle()
    assert value(bad, "opengate_up") == 0
    assert value(bad, "opengate_poll_failures_total", reason=reason) == 1
    # the last good fleet data is still served, with its timestamp
    assert by_modem(bad, "opengate_modem_present") == by_modem(good, "opengate_modem_present")
    assert value(bad, "opengate_last_success_timestamp_seconds") == value(
        good, "opengate_last_success_timestamp_seconds"
    )
    if mode == "rate_limit":
        assert any(1.0 <= s <= 1.1 for s in nine.sleeps)  # Retry-After (plus jitter) between attempts
    if mode in ("unauthorized", "forbidden"):
        # not retried: one response per search, and the poller backs off five intervals
        assert (
            value(bad, "opengate_requests_total", endpoint="/north/v80/search/entities", code=reason[-3:])
            <= 2
        )
        assert nine.poller.run_once() == 300
    httpx.delete(f"{nine.server.url}/_fake/fault")
    nine.client._http.timeout = httpx.Timeout(2.0)
    recovered = nine.cycle()
    assert value(recovered, "opengate_up") == 1
    assert by_modem(recovered, "opengate_modem_present") == by_modem(good, "opengate_modem_present")


def test_a_failed_cycle_counts_every_response_of_its_searches(nine):
    """All three searches get their 401; the failed cycle's health shows all three, not a cycle late."""
    nine.fault(mode="unauthorized")
    m = nine.cycle()
    assert value(m, "opengate_up") == 0
    served = httpx.get(f"{nine.server.url}/_fake/stats").json()["requests"]
    counted = {f"{dict(k)['endpoint']} {dict(k)['code']}": v for k, v in m["opengate_requests_total"].items()}
    assert counted == served
    assert counted == {"/north/v80/search/entities 401": 2, "/north/v80/search/entities/alarms 401": 1}


def test_a_transient_429_is_absorbed_by_retry_after(nine):
    nine.fault(mode="rate_limit", retry_after=1, count=1)
    m = nine.cycle()
    assert value(m, "opengate_up") == 1
    assert [s for s in nine.sleeps if s >= 1.0]
    assert sum(v for k, v in m["opengate_requests_total"].items() if ("code", "429") in k) == 1


def test_runtime_changes_show_in_the_next_poll(nine):
    nine.cycle()
    url = nine.server.url
    httpx.post(
        f"{url}/_fake/devices/17CEC50610051720",
        json={"unified_presence": "NOT_REGISTERED", "ip_presence": "NOK"},
    )
    httpx.post(f"{url}/_fake/sims/56958111706", json={"state": "SUSPENDED"})
    httpx.post(
        f"{url}/_fake/alarms", json={"rule": "presenceUnreachableThresHold", "entity": "17CEC50610051720"}
    )
    m = nine.cycle()
    assert by_modem(m, "opengate_modem_present")["17CEC50610051720"] == 0
    assert by_modem(m, "opengate_modem_ip_presence")["17CEC50610051720"] == 0
    assert value(m, "opengate_sims", state="SUSPENDED", billable="true") == 1
    assert value(m, "opengate_sims", state="ACTIVE", billable="true") == 8
    # the SIM 56958111706 is the one in router 17CEC50610051720: its state moves, the router's does not
    sim_states = [dict(k) for k in m["opengate_modem_sim_state"] if dict(k)["modem"] == "17CEC50610051720"]
    assert sim_states == [{"modem": "17CEC50610051720", "state": "SUSPENDED"}]
    assert value(m, "opengate_modem_sim_state", modem="17CEC50610051720", state="SUSPENDED") == 1
    assert len(m["opengate_modem_sim_state"]) == 9
    info = [dict(k) for k in m["opengate_modem_info"] if dict(k)["modem"] == "17CEC50610051720"]
    assert info[0]["admin_state"] == "ACTIVE"
    assert (
        value(
            m,
            "opengate_alarm_open",
            modem="17CEC50610051720",
            rule="presenceUnreachableThresHold",
            severity="INFORMATIVE",
        )
        == 1
    )


def test_bad_records_are_counted_not_fatal(nine):
    from exporters.opengate.fold import fold

    ds = load_datastreams()
    devices = [
        {"provision": {"device": {}}},
        {"provision": {"device": {"identifier": {"_current": {"value": "A"}}}}},
        {"provision": {"device": {"identifier": {"_current": {"value": "A"}}}}},
        {
            "provision": {"device": {"identifier": {"_current": {"value": "B"}}}},
            "device": {
                "communicationModules": [
                    {"subscription": {"presence": {"ipRtt": {"_current": {"value": "fast"}}}}}
                ]
            },
        },
    ]
    sim_state = {"subscription": {"administrativeState": {"_current": {"value": {"state": "ACTIVE"}}}}}
    devices.append(
        {
            "provision": {
                "device": {"identifier": {"_current": {"value": "C"}}, "communicationModules": [sim_state]}
            }
        }
    )
    state = fold(devices, [{"provision": {}}], [{"rule": "x"}], ds)
    assert [m.id for m in state.modems] == ["A", "B", "C"]
    assert [m.sim_state for m in state.modems] == [None, None, None]  # a state that is not a name is dropped
    assert state.rejected == {
        ("device", "no_identifier"): 1,
        ("device", "duplicate"): 1,
        ("device", "invalid_value"): 2,
        ("sim", "no_state"): 1,
        ("alarm", "missing_field"): 1,
    }


def test_site_datastreams_file_overrides_ids(tmp_path, nine):
    site = tmp_path / "site.yaml"
    site.write_text(
        "devices:\n  rtt: device.communicationModules[].subscription.presence.rttMs\nunits:\n  rtt: s\n"
    )
    ds = load_datastreams(site)
    assert ds.devices["rtt"].endswith("rttMs") and ds.rtt_unit_seconds == 1.0
    assert ds.devices["identifier"] == "provision.device.identifier"  # untouched keys keep the defaults
    rig = Rig(nine.server, datastreams=ds)
    try:
        m = rig.cycle()
    finally:
        rig.close()
    assert "opengate_modem_rtt_seconds" not in m  # the fake has no such datastream
    assert len(by_modem(m, "opengate_modem_present")) == 9
    (tmp_path / "bad.yaml").write_text("devices:\n  nonsense: x\n")
    with pytest.raises(ConfigError, match="unknown keys: nonsense"):
        load_datastreams(tmp_path / "bad.yaml")


def test_promtool_check_metrics_accepts_the_output(nine):
    nine.cycle()
    nine.fault(mode="server_error")
    nine.cycle()
    body = httpx.get(f"http://127.0.0.1:{nine.http.port}/metrics").content
    result = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_cli_serves_metrics_and_never_logs_the_key(tmp_path):
    with fake_server(fleets.generate(fixture="seed-nine")) as server:
        key_file = tmp_path / "key"
        key_file.write_text(API_KEY + "\n")
        env = {k: v for k, v in os.environ.items() if k != "OPENGATE_API_KEY"}
        argv = ["exporter", "opengate", "--url", server.url, "--organization", ORG, "--listen", "127.0.0.1:0"]
        argv += ["--interval", "1s", "--api-key-file", str(key_file), "--log-level", "DEBUG"]
        command = [sys.executable, "-m", "smmc.cli", *argv]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        try:
            port = None
            deadline = time.monotonic() + 30
            lines = []
            while port is None and time.monotonic() < deadline:
                line = proc.stdout.readline().decode()
                lines.append(line)
                if "serving http://" in line:
                    port = int(line.rsplit(":", 1)[1].split("/")[0])
            assert port, "".join(lines)
            up = None
            while time.monotonic() < deadline:
                parsed = samples(httpx.get(f"http://127.0.0.1:{port}/metrics").content)
                up = parsed.get("opengate_up", {}).get(())
                if up == 1:
                    break
                time.sleep(0.2)
            assert up == 1
            assert len(by_modem(parsed, "opengate_modem_present")) == 9
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=15)
        log = "".join(lines) + out.decode()
        assert API_KEY not in log
        assert proc.returncode == 0


def test_cli_refuses_to_start_without_a_key(capsys, monkeypatch):
    from exporters.opengate.cli import main

    monkeypatch.delenv("OPENGATE_API_KEY", raising=False)
    assert main(["--url", "http://127.0.0.1:9", "--organization", ORG]) == 2
    assert "OPENGATE_API_KEY" in capsys.readouterr().err


def test_accounting_address_and_alarm_ages_of_the_seed_nine(nine):
    """The seed's "Summarized Accounting" (month totals, started sessions), the per-SIM table's IP and the
    open alarms' opening dates, as the fake's fleet has them."""
    m = nine.cycle()
    fleet = {d["id"]: d for d in fleets.generate(fixture="seed-nine")["devices"]}
    for name, field in (
        ("opengate_modem_monthly_sent_bytes", "month_sent_bytes"),
        ("opengate_modem_monthly_received_bytes", "month_received_bytes"),
        ("opengate_modem_daily_sessions_started", "sessions_started"),
    ):
        expected = {modem: float(d[field]) for modem, d in fleet.items() if d[field] is not None}
        assert by_modem(m, name) == expected, name
    # the month so far (the 6th of October) is about six days of the day's traffic
    ratio = (
        by_modem(m, "opengate_modem_monthly_sent_bytes")["18CEC50610058302"]
        / by_modem(m, "opengate_modem_daily_sent_bytes")["18CEC50610058302"]
    )
    assert 6 * 0.85 <= ratio <= 6 * 1.15
    assert "16CEC50610040344" not in by_modem(m, "opengate_modem_monthly_sent_bytes")  # no traffic shown
    addresses = {dict(k)["modem"]: (dict(k)["ip"], dict(k)["apn"]) for k in m["opengate_modem_address_info"]}
    assert addresses["17CEC50610051720"] == ("10.117.13.188", "m2m.enel.cl")
    assert (
        value(
            m,
            "opengate_alarm_open_since_timestamp_seconds",
            modem="18CEC50610058301",
            rule="presenceUnreachableThresHold",
            severity="INFORMATIVE",
        )
        == fleets.parse_iso("2021-10-06T23:02:02.000Z").timestamp()
    )
    assert len(m["opengate_alarm_open_since_timestamp_seconds"]) == 9
    # the fixture has no SIM alarms: the family is there, empty
    assert "opengate_sim_alarm_open_since_timestamp_seconds" not in m
