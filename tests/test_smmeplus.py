"""SMMePlus exporter on the seed's sample rows (tests/fixtures/seed/): every file kind, asserted values."""

from __future__ import annotations

import calendar
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporters.smmeplus.cli import Exporter

SEED = Path(__file__).parent / "fixtures" / "seed"
PROMTOOL = "/usr/bin/promtool"


def samples(body: bytes) -> dict[tuple[str, frozenset], float]:
    """(sample name, labels) -> value, for every sample of an exposition."""
    out = {}
    for family in text_string_to_metric_families(body.decode("utf-8")):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(body_samples: dict, name: str, **labels: str) -> float | None:
    return body_samples.get((name, frozenset(labels.items())))


def series(body_samples: dict, name: str) -> dict[frozenset, float]:
    return {labels: v for (n, labels), v in body_samples.items() if n == name}


def run_exporter(inbox: Path, state: Path, inventory: Path | None = None, **kw) -> Exporter:
    exporter = Exporter(inbox, state, inventory, settle_seconds=0, **kw)
    exporter.restore()
    exporter.scan()
    return exporter


def promtool_check(body: bytes) -> None:
    result = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


@pytest.fixture
def seed_inbox(tmp_path: Path) -> Path:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for f in SEED.glob("*.csv"):
        shutil.copy(f, inbox / f.name)
    return inbox


@pytest.fixture
def seed_exporter(seed_inbox: Path, tmp_path: Path) -> Exporter:
    exporter = run_exporter(seed_inbox, tmp_path / "state")
    yield exporter
    exporter.inbox.ledger.close()


def test_every_seed_file_is_ingested_whole(seed_exporter: Exporter) -> None:
    s = samples(seed_exporter.exposition.body())
    rows = {"swe": 10, "hpe": 17, "lpe": 10, "csw": 14, "technical": 8, "msw": 3}
    for kind, n in rows.items():
        assert value(s, "smmc_source_rows_total", kind=kind) == n, kind
        assert value(s, "smmc_source_up", kind=kind) == 1
        assert value(s, "smmc_source_files_rejected_total", kind=kind) == 0
        assert value(s, "smmc_source_last_ingest_timestamp_seconds", kind=kind) > 0
    # present at 0 before any unrecognised file, so the first one is an increase for SourceFileRejected
    assert value(s, "smmc_source_files_rejected_total", kind="unknown") == 0
    assert series(s, "smmc_source_rows_rejected_total") == {}
    assert not list((seed_exporter.inbox.rejected_dir).iterdir())


def test_swe_sample_meter_has_pup_cape_and_afc_active(seed_exporter: Exporter) -> None:
    s = samples(seed_exporter.exposition.body())
    for flag in ("PUP", "CAPE", "AFC"):
        labels = {"concentrator": "TD-0011", "comuna": "unknown", "flag": flag}
        assert value(s, "smmc_meters_with_active_flag", **labels) == 1
    assert value(s, "smmc_meter_events_total", concentrator="TD-0011", flag="PUP") == 6
    assert value(s, "smmc_meter_events_total", concentrator="TD-0011", flag="CAPE") == 2
    assert value(s, "smmc_meter_events_total", concentrator="TD-0011", flag="AFC") == 2
    # CAPE is a per-meter flag in the catalog, PUP and AFC are not
    per_meter = series(s, "smmc_meter_flag_active")
    meter_labels = {labels for labels in per_meter if ("meter", "UAAXXDN18204873404") in labels}
    assert meter_labels == {
        frozenset({"meter": "UAAXXDN18204873404", "concentrator": "TD-0011", "flag": "CAPE"}.items())
    }
    # the seed's Control Room table: one meter with events, ten event rows
    assert value(s, "smmc_meters_with_events", comuna="unknown", measured_at_td="false") == 1
    assert value(s, "smmc_meter_events", comuna="unknown", measured_at_td="false") == 10


def test_hpe_sample_errors_per_category(seed_exporter: Exporter) -> None:
    s = samples(seed_exporter.exposition.body())
    errors = series(s, "smmc_workorder_errors_total")

    def total(category: str, source_concentrators: set[str] | None = None) -> float:
        return sum(
            v
            for labels, v in errors.items()
            if ("category", category) in labels
            and (source_concentrators is None or dict(labels)["concentrator"] in source_concentrators)
        )

    hpe_concentrators = {
        "TD-96202",
        "TD-9495",
        "TD-2739",
        "TD-1134",
        "TD-5621",
        "TD-2741",
        "TD-2749",
        "TD-6289",
    }
    # 10 repeater failures and 2 "NODE NOT REACHABLE AGENT": meter reachability, field maintenance
    assert total("meter_reachability", hpe_concentrators) == 12
    assert total("phase_missing", hpe_concentrators) == 1
    assert value(s, "smmc_workorder_errors_total", concentrator="TD-96202", category="meter_reachability",
                 maintenance="field") == 3  # fmt: skip
    assert value(s, "smmc_workorder_errors_total", concentrator="TD-5621", category="meter_reachability",
                 maintenance="field") == 3  # fmt: skip
    assert (
        value(s, "smmc_workorders_total", source="hpe", activity="read_meter_macaddress", outcome="error")
        == 9
    )
    assert (
        value(s, "smmc_workorders_total", source="hpe", activity="read_meter_data_v2_11", outcome="error")
        == 2
    )
    assert value(s, "smmc_workorders_total", source="hpe", activity="unspecified", outcome="ok") == 4


def test_lpe_commissioning_and_technical_decommissionings_of_td47(seed_exporter: Exporter) -> None:
    s = samples(seed_exporter.exposition.body())
    assert value(s, "smmc_meter_commissioning_total", event="commissioned") == 2
    assert value(s, "smmc_meter_commissioning_total", event="decommissioned") == 8
    assert value(s, "smmc_workorders_total", source="lpe", activity="decommissioning", outcome="ok") == 8
    # the seven "Concentrator is unreachable [Open socket is failed]" decommissionings of TD-47
    assert value(s, "smmc_workorder_errors_total", concentrator="TD-47", category="concentrator_reachability",
                 maintenance="field") == 7  # fmt: skip
    assert (
        value(s, "smmc_workorders_total", source="technical", activity="decommissioning", outcome="error")
        == 7
    )
    # "[REDACTED]" is an error the catalog cannot classify: counted, never dropped
    assert value(s, "smmc_workorder_errors_total", concentrator="TD-2087", category="unclassified",
                 maintenance="none") == 1  # fmt: skip


def test_csw_sample_is_healthy_with_raw_words_and_timestamps(seed_exporter: Exporter) -> None:
    s = samples(seed_exporter.exposition.body())
    words = series(s, "smmc_concentrator_status_word")
    assert len(words) == 14
    assert value(s, "smmc_concentrator_status_word", concentrator="TD-27997") == 0x08001E
    assert value(s, "smmc_concentrator_status_word", concentrator="TD-56050") == 0x00001E
    assert value(s, "smmc_concentrator_reachable", concentrator="TD-4854") == 1
    stamp = calendar.timegm((2020, 3, 17, 14, 17, 0))
    assert value(s, "smmc_concentrator_status_word_timestamp_seconds", concentrator="TD-27997") == stamp
    assert value(
        s, "smmc_concentrator_status_word_timestamp_seconds", concentrator="TD-50342"
    ) == calendar.timegm((2020, 1, 29, 4, 0, 0))
    # 00001E and 08001E: B, O, E set (healthy by polarity), bit 19 unlisted: no condition in alarm
    assert series(s, "smmc_concentrator_condition") == {}


def test_status_words_newest_reading_wins(seed_exporter: Exporter) -> None:
    s = samples(seed_exporter.exposition.body())
    for flag in ("DRAM", "BAT_LOW"):
        assert (
            value(s, "smmc_meter_flag_active", meter="UAAEEDN18204794666", concentrator="TD-96202", flag=flag)
            == 1
        )
    # the older reading had PUP; the newer one cleared it
    assert (
        value(s, "smmc_meters_with_active_flag", concentrator="TD-96202", comuna="unknown", flag="PUP")
        is None
    )
    # words of the sample meter agree with its SWE flags; PAD comes only from the status word
    assert value(s, "smmc_meters_with_active_flag", concentrator="TD-0011", comuna="unknown", flag="PAD") == 1


def test_distinct_meters_count_a_meter_with_four_flags_once(seed_exporter: Exporter) -> None:
    from smmc.catalogs import load_catalogs

    s = samples(seed_exporter.exposition.body())
    td0011 = {
        dict(labels)["flag"]: v
        for labels, v in series(s, "smmc_meters_with_active_flag").items()
        if ("concentrator", "TD-0011") in labels
    }
    # one meter, four flags (PUP, CAPE, AFC from SWE; PAD from the status word): the per-flag family sums to 4
    assert set(td0011) == {"PUP", "CAPE", "AFC", "PAD"} and sum(td0011.values()) == 4
    cat = load_catalogs()
    worst = min(("critical", "warning", "info").index(cat.meter_flag(f).severity) for f in td0011)
    by_severity = {
        dict(labels)["severity"]: v
        for labels, v in series(s, "smmc_meters_flagged").items()
        if ("concentrator", "TD-0011") in labels
    }
    assert by_severity == {("critical", "warning", "info")[worst]: 1}
    by_category = {
        dict(labels)["category"]: v
        for labels, v in series(s, "smmc_meters_flagged_by_category").items()
        if ("concentrator", "TD-0011") in labels
    }
    assert by_category == dict.fromkeys({cat.meter_flag(f).category for f in td0011}, 1)
    # TD-96202's meter has DRAM and BAT_LOW: counted once as well
    assert (
        sum(
            v
            for labels, v in series(s, "smmc_meters_flagged").items()
            if ("concentrator", "TD-96202") in labels
        )
        == 1
    )


def test_catalog_info_series(seed_exporter: Exporter) -> None:
    s = samples(seed_exporter.exposition.body())
    info = series(s, "smmc_meter_flag_info")
    cape = [dict(labels) for labels in info if ("flag", "CAPE") in labels]
    assert cape == [
        {"flag": "CAPE", "word": "extended1", "bit": "3", "category": "tamper", "severity": "warning",
         "maintenance": "remote", "per_meter": "true"}
    ]  # fmt: skip
    assert len(series(s, "smmc_concentrator_flag_info")) == 18


def test_inventory_labels_comunas_and_td_split(tmp_path: Path, seed_inbox: Path) -> None:
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "concentrators.csv").write_text(
        "concentrator,comuna,latitude,longitude,modem\n"
        "TD-0011,Santiago,-33.4378,-70.6505,17CEC50610051720\n"
        "TD-27997,Ñuñoa,-33.4569,-70.5979,17CEC50610051970\n",
        encoding="utf-8",
    )
    (inventory / "meters.csv").write_text(
        "meter,concentrator,pod,comuna,medicion_en_td\n"
        "UAAXXDN18204873404,TD-0011,863901,SANTIAGO,True\n"
        "UAAEEDN18204794666,TD-96202,502497,,False\n",
        encoding="utf-8",
    )
    exporter = run_exporter(seed_inbox, tmp_path / "state", inventory)
    s = samples(exporter.exposition.body())
    exporter.inbox.ledger.close()
    assert value(s, "smmc_concentrator_info", concentrator="TD-0011", comuna="SANTIAGO", latitude="-33.4378",
                 longitude="-70.6505", modem="17CEC50610051720") == 1  # fmt: skip
    assert (
        value(s, "smmc_meters_with_active_flag", concentrator="TD-0011", comuna="SANTIAGO", flag="PUP") == 1
    )
    assert value(s, "smmc_meters_with_events", comuna="SANTIAGO", measured_at_td="true") == 1
    assert value(s, "smmc_meter_events", comuna="SANTIAGO", measured_at_td="true") == 10
    assert value(s, "smmc_meters", comuna="SANTIAGO", measured_at_td="true") == 1
    # a meter without a comuna of its own and a concentrator outside the inventory
    assert value(s, "smmc_meters", comuna="unknown", measured_at_td="false") == 1
    assert value(s, "smmc_source_up", kind="inventory") == 1
    # accents are folded as in the seed's table
    assert value(s, "smmc_concentrator_info", concentrator="TD-27997", comuna="NUNOA", latitude="-33.4569",
                 longitude="-70.5979", modem="17CEC50610051970") == 1  # fmt: skip


def test_exposition_passes_promtool(seed_exporter: Exporter) -> None:
    promtool_check(seed_exporter.exposition.body())
