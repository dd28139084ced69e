"""IEC 61968-9 event codes: every part of the seed's codes is named; the SWE flags line up with the meter
catalog; malformed codes are invalid, unknown numbers are unlisted, not errors."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from smmc.catalogs import InvalidValue, load_catalogs

FIXTURES = Path(__file__).parent / "fixtures" / "catalogs"


def tsv(name: str) -> list[dict[str, str]]:
    with (FIXTURES / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


@pytest.fixture(scope="module")
def cat():
    return load_catalogs()


@pytest.mark.parametrize(
    ("code", "parts", "flag"),
    [
        ("3.26.0.85", ("ElectricMeter", "Power", "NA", "Failed"), "PUP"),
        ("3.12.29.212", ("ElectricMeter", "Security", "Cover", "Removed"), "CAPE"),
        ("3.23.1.79", ("ElectricMeter", "Network", "Access", "Error"), "AFC"),
        ("3.21.87.85", ("ElectricMeter", "Metrology", "Readings", "Failed"), None),
        ("3.21.87.30", ("ElectricMeter", "Metrology", "Readings", "Execute"), None),
        ("3.39.74.42", ("ElectricMeter", "AssociatedDevice", "Association", "Connected"), None),
        ("3.39.74.68", ("ElectricMeter", "AssociatedDevice", "Association", "Disconnected"), None),
    ],
)
def test_every_part_of_the_seed_codes_is_named(cat, code, parts, flag):
    e = cat.event_type(code)
    assert (e.device_type, e.domain, e.subdomain, e.event) == parts
    assert e.known and e.unlisted == () and e.flag == flag and e.code == code
    assert e.text and e.hes_label


def test_swe_sample_types_raise_the_flag_in_their_description(cat):
    rows = tsv("seed_swe.tsv")
    assert len(rows) == 10
    for row in rows:
        acronym = re.search(r"\((\w+)\)\s*$", row["description"]).group(1)
        e = cat.event_type(row["type"])
        assert e.flag == acronym
        assert cat.meter_flag(acronym).acronym == acronym


def test_lpe_and_hpe_sample_types_are_the_labels_the_seed_gives(cat):
    for row in tsv("seed_lpe.tsv"):
        assert cat.event_type(row["type"]).hes_label == row["description"]
    hpe = {row["type"] for row in tsv("seed_hpe.tsv")}
    assert hpe == {"3.21.87.85", "3.21.87.30"}
    assert cat.event_type(
        "3.21.87.30"
    ).inferred  # Execute used as "work order OK": not the standard's reading


def test_full_tables_and_the_public_copies_known_errors_not_copied(cat):
    tables = cat.events.tables
    assert len(tables["domains"]) == 33 and len(tables["events"]) >= 149 and len(tables["subdomains"]) >= 170
    assert tables["events"][31] == "ColdStarted" and tables["events"][64] == "Expired"
    assert tables["events"][84] == "DisconnectFailed" and tables["events"][297] == "CreateFailed"
    assert (
        tables["subdomains"][296] == "PhaseBReactivePower"
        and tables["subdomains"][297] == "PhaseCReactivePower"
    )
    assert tables["device_types"][10] == "Collector" and tables["domains"][26] == "Power"


def test_unknown_numbers_are_unlisted_not_errors(cat):
    e = cat.event_type("3.22.0.999")
    assert (e.domain, e.event, e.unlisted) == ("unlisted(22)", "unlisted(999)", ("domains", "events"))
    assert (e.known, e.flag) == (False, None)
    other = cat.event_type("0.26.38.85")  # Connexo's power-down code: composed from the tables
    assert other.text == "NA: Power / Voltage / Failed" and not other.known


def test_codes_are_normalised(cat):
    assert cat.event_type(" 3.026.0.85 ").code == "3.26.0.85"


@pytest.mark.parametrize(
    "code", ["3.26.0", "3.26.0.85.1", "a.b.c.d", "", "3..0.85", "3.26.0.-85", "3,26,0,85"]
)
def test_malformed_codes_are_invalid(cat, code):
    with pytest.raises(InvalidValue, match=r"type\.domain\.subdomain\.event"):
        cat.event_type(code)


def test_code_for_flag(cat):
    assert cat.events.code_for_flag("CAPE") == "3.12.29.212"
    assert cat.events.code_for_flag("DRAM") is None
