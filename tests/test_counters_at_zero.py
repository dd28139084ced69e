"""A counter's new label set is scraped at 0 before its first value, so `increase()` sees the first event.

Prometheus takes the first sample of a series as its baseline: a concentrator whose work-order error
counter enters at 12 has an increase of 0, and WorkOrderErrorsRetry never fires for its first errors. The
shared exposition (exporters/core/exposition.py) shows every new series of a counter family at 0 until a
scrape has seen the 0 and the hold time has passed; the receiver creates its label sets at 0 up front.
One test per counter family of every exporter, and a check that no counter family goes untested.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporters.core.exposition import Exposition, counter, gauge
from exporters.smmeplus.cli import Exporter

SEED = Path(__file__).parent / "fixtures" / "seed"


def counters(body: bytes) -> dict[str, dict[frozenset, float]]:
    """counter family -> {labels: value} (the `_total` samples only)."""
    out: dict[str, dict[frozenset, float]] = {}
    for family in text_string_to_metric_families(body.decode("utf-8")):
        if family.type != "counter":
            continue
        name = family.name + "_total"
        out[name] = {
            frozenset(s.labels.items()): s.value for s in family.samples if s.name.endswith("_total")
        }
    return out


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the mechanism --------------------------------------------------------------------------------------
def _errors(values: dict[str, float]) -> list:
    family = counter("smmc_workorder_errors_total", "errors", ["concentrator"])
    family.add_many(((k,), v) for k, v in sorted(values.items()))
    return [family]


def test_a_new_series_is_scraped_at_zero_then_at_its_value_after_the_hold():
    clock = Clock()
    exposition = Exposition(new_counter_hold_seconds=60, clock=clock)
    exposition.publish("c", _errors({"TD-1": 3}))
    exposition.baseline()  # TD-1 is restored state: Prometheus has it already
    exposition.scrape()
    exposition.publish("c", _errors({"TD-1": 4, "TD-2": 12}))  # TD-2's first errors
    first = counters(exposition.scrape()[1])["smmc_workorder_errors_total"]
    assert first[frozenset({("concentrator", "TD-1")})] == 4  # a known series moves at once
    assert first[frozenset({("concentrator", "TD-2")})] == 0
    assert (
        counters(exposition.body())["smmc_workorder_errors_total"][frozenset({("concentrator", "TD-2")})]
        == 12
    )
    clock.now += 59
    assert (
        counters(exposition.scrape()[1])["smmc_workorder_errors_total"][frozenset({("concentrator", "TD-2")})]
        == 0
    )  # not before the hold: the other Prometheus replica may not have scraped yet
    clock.now += 1
    later = counters(exposition.scrape()[1])["smmc_workorder_errors_total"]
    assert later[frozenset({("concentrator", "TD-2")})] == 12


def test_the_value_waits_for_a_scrape_that_saw_the_zero():
    clock = Clock()
    exposition = Exposition(new_counter_hold_seconds=0, clock=clock)
    exposition.publish("c", _errors({}))
    exposition.publish("c", _errors({"TD-2": 12}))
    clock.now += 3600  # however long nobody scrapes, the first scrape still gets the 0
    assert counters(exposition.scrape()[1])["smmc_workorder_errors_total"] == {
        frozenset({("concentrator", "TD-2")}): 0
    }
    assert counters(exposition.scrape()[1])["smmc_workorder_errors_total"] == {
        frozenset({("concentrator", "TD-2")}): 12
    }


def test_gauges_are_never_held_and_versions_change_on_release():
    clock = Clock()
    exposition = Exposition(new_counter_hold_seconds=0, clock=clock)
    g = gauge("smmc_meters_with_active_flag", "g", ["concentrator"])
    g.add(("TD-9",), 7)
    exposition.publish("g", [g, *_errors({"TD-9": 5})])
    version, body = exposition.scrape()
    assert b'smmc_meters_with_active_flag{concentrator="TD-9"} 7' in body
    assert b'smmc_workorder_errors_total{concentrator="TD-9"} 0' in body
    version2, body2 = exposition.scrape()
    assert version2 > version and b'smmc_workorder_errors_total{concentrator="TD-9"} 5' in body2


# -- SMMePlus: every counter family ---------------------------------------------------------------------
SMMEPLUS_FAMILIES = (
    "smmc_meter_events_total",
    "smmc_workorders_total",
    "smmc_workorder_errors_total",
    "smmc_meter_commissioning_total",
    "smmc_series_dropped_total",
    "smmc_meter_unlisted_bits_total",
    "smmc_source_rows_total",
    "smmc_source_rows_rejected_total",
    "smmc_source_files_rejected_total",
    "smmc_source_scan_failures_total",
)


@pytest.fixture(scope="module")
def smmeplus_scrapes(tmp_path_factory) -> dict[str, object]:
    """Scrapes of an exporter that restored an empty state, then ingested the seed's files plus a bad row,
    an unlisted status-word bit and an unrecognised file, with a per-meter series limit of 1."""
    tmp = tmp_path_factory.mktemp("smmeplus")
    inbox = tmp / "inbox"
    inbox.mkdir()
    exporter = Exporter(inbox, tmp / "state", None, per_meter_series_limit=1, settle_seconds=0)
    exporter.exposition.new_counter_hold_seconds = 0
    exporter.restore()
    before = counters(exporter.exposition.scrape()[1])
    for f in SEED.glob("*.csv"):
        shutil.copy(f, inbox / f.name)
    swe = (SEED / "SWE_2020-09-23.csv").read_text(encoding="utf-8")
    (inbox / "SWE_2020-09-24.csv").write_text(swe + "broken row\n", encoding="utf-8")
    msw = (SEED / "MeterStatusWords_2020-09-23.csv").read_text(encoding="utf-8")
    (inbox / "MeterStatusWords_2020-09-24.csv").write_text(
        msw + "M1\tTD-1\t2020-09-24 06:00:00\t0100\t0000\t0000\t0000\n", encoding="utf-8"
    )
    (inbox / "notes.txt").write_text("not a report\n", encoding="utf-8")
    # one scan while the inbox is gone (an unmounted share) fails and is counted
    inbox.rename(tmp / "unmounted")
    stop = threading.Event()
    exporter.inbox.run(stop, 0, scan=lambda: (stop.set(), exporter.inbox.scan()))
    (tmp / "unmounted").rename(inbox)
    exporter.scan()
    first = counters(exporter.exposition.scrape()[1])
    second = counters(exporter.exposition.scrape()[1])
    real = counters(exporter.exposition.body())
    exporter.inbox.ledger.close()
    return {"before": before, "first": first, "second": second, "real": real}


@pytest.mark.parametrize("family", SMMEPLUS_FAMILIES)
def test_smmeplus_counter_family_starts_at_zero(smmeplus_scrapes, family):
    before, first, second, real = (smmeplus_scrapes[k] for k in ("before", "first", "second", "real"))
    assert family in real, f"{family} is not exposed"
    assert any(v > 0 for v in real[family].values()), f"the test's input does not exercise {family}"
    for labels, value in first[family].items():
        if labels not in before.get(family, {}):
            assert value == 0, f"{family}{dict(labels)} entered at {value}, not at 0"
        else:
            assert value == real[family][labels]
    assert second[family] == real[family]
    # every series that moved reached Prometheus at a value below its first real one
    for labels, value in real[family].items():
        if value > 0:
            assert min(before.get(family, {}).get(labels, 0), first[family][labels]) < value


def test_every_smmeplus_counter_family_is_tested(smmeplus_scrapes):
    assert set(smmeplus_scrapes["real"]) == set(SMMEPLUS_FAMILIES)


def test_restored_counters_are_not_zeroed_again(tmp_path):
    """After a restart the restored counters are shown at their values: a 0 would be a counter reset
    followed by a jump, an increase that never happened."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(SEED / "HPE_2021-07-21.csv", inbox / "HPE_2021-07-21.csv")
    first = Exporter(inbox, tmp_path / "state", None, settle_seconds=0)
    first.restore()
    first.scan()
    first.inbox.ledger.close()
    again = Exporter(inbox, tmp_path / "state", None, settle_seconds=0)
    again.restore()
    scraped = counters(again.exposition.scrape()[1])["smmc_workorder_errors_total"]
    assert scraped == counters(again.exposition.body())["smmc_workorder_errors_total"]
    assert sum(scraped.values()) > 0
    again.inbox.ledger.close()


# -- OpenGate and Cloudera: their families through the same exposition ---------------------------------
def test_opengate_counter_families_start_at_zero():
    from exporters.core.poller import PollHealth
    from exporters.opengate.metrics import health_families

    health = PollHealth()
    exposition = Exposition(new_counter_hold_seconds=0)
    exposition.publish("health", health_families(health))
    before = counters(exposition.scrape()[1])
    health.polls = 3
    health.requests[("/north/v80/search/entities", "200")] += 6
    health.failures["http_500"] += 1
    exposition.publish("health", health_families(health))
    first = counters(exposition.scrape()[1])
    second = counters(exposition.scrape()[1])
    families = {"opengate_polls_total", "opengate_requests_total", "opengate_poll_failures_total"}
    assert set(first) == families
    for family in families:
        assert all(v == 0 for k, v in first[family].items() if k not in before.get(family, {}))
        # a series Prometheus saw at 0 (polls_total, published at 0 before the first poll) moves at once
        assert any(v > 0 for v in second[family].values())
    new = frozenset({("endpoint", "/north/v80/search/entities"), ("code", "200")})
    assert (first["opengate_requests_total"][new], second["opengate_requests_total"][new]) == (0, 6)


def test_cloudera_counter_families_start_at_zero():
    from exporters.cloudera.exporter import ClouderaExporter, ReportFetcher
    from exporters.cloudera.schedule import load_schedule

    exposition = Exposition(new_counter_hold_seconds=0)
    schedule = Path(__file__).resolve().parents[1] / "exporters" / "cloudera" / "jobs.example.yml"
    fetcher = ReportFetcher(str(Path(__file__).parent / "fixtures" / "cloudera" / "seed_report.tsv"))
    exporter = ClouderaExporter(fetcher, load_schedule(schedule), exposition)
    exporter.poll()
    before = counters(exposition.scrape()[1])
    exporter.rows_rejected["malformed_row"] += 2  # a reason registered at 0 up front
    exporter.failures["http_503"] += 1  # a reason first seen now
    exporter.publish(exporter.clock())
    first = counters(exposition.scrape()[1])
    second = counters(exposition.scrape()[1])
    rejected = frozenset({("reason", "malformed_row")})
    assert before["cloudera_report_rows_rejected_total"][rejected] == 0
    assert first["cloudera_report_rows_rejected_total"][rejected] == 2
    new = frozenset({("reason", "http_503")})
    assert new not in before["cloudera_report_failures_total"]
    assert (first["cloudera_report_failures_total"][new], second["cloudera_report_failures_total"][new]) == (
        0,
        1,
    )
    assert {n for n in first if n.startswith("cloudera_")} == {
        "cloudera_report_rows_rejected_total",
        "cloudera_report_failures_total",
    }


# -- the receiver: prometheus_client counters, every label set created at 0 ------------------------------
def test_receiver_counters_exist_at_zero_before_the_first_event(tmp_path):
    from prometheus_client import generate_latest

    from receiver.config import ACTION_TYPES
    from receiver.metrics import ACTION_RESULTS, NOTIFICATION_STATUSES, ReceiverMetrics
    from receiver.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    metrics = ReceiverMetrics(store, receivers=["smmc-actions", "noc-notify", "watchdog"])
    parsed = counters(generate_latest(metrics.registry))
    assert set(parsed) == {
        "smmc_receiver_notifications_total",
        "smmc_receiver_actions_total",
        "smmc_receiver_store_errors_total",
    }
    notifications = parsed["smmc_receiver_notifications_total"]
    for receiver in ("smmc-actions", "noc-notify", "watchdog", "unknown"):
        for status in NOTIFICATION_STATUSES:
            assert notifications[frozenset({("receiver", receiver), ("status", status)})] == 0
    actions = parsed["smmc_receiver_actions_total"]
    assert len(actions) == len(ACTION_TYPES) * len(ACTION_RESULTS) and set(actions.values()) == {0}
    assert parsed["smmc_receiver_store_errors_total"] == {frozenset(): 0}
