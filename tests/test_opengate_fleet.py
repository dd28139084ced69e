"""The OpenGate fleet generator: seed counts, determinism, the named fixtures, coherence with the
SMMePlus inventory, the CLI, and the fake built from an inventory."""

from __future__ import annotations

import json
from collections import Counter

import httpx
import pytest

from simulator import opengate_fleet as fleets
from tests.opengate_helpers import API_KEY, fake_server


def test_default_fleet_follows_the_seed_counts():
    fleet = fleets.generate()
    assert Counter(s["state"] for s in fleet["sims"]) == {"ACTIVE": 3046, "READY": 752}
    assert len(fleet["devices"]) == 3046
    assert Counter(a["rule"] for a in fleet["alarms"]) == {
        "maxTrafficBytesReached": 345,
        "presenceUnreachableThresHold": 98,
    }
    assert Counter(a["severity"] for a in fleet["alarms"]) == {"URGENT": 345, "INFORMATIVE": 98}
    assert Counter(a["status"] for a in fleet["alarms"]) == {"OPEN": 431, "CLOSED": 12}
    devices = {d["id"]: d for d in fleet["devices"]}
    assert len({s["id"] for s in fleet["sims"]}) == len(fleet["sims"])
    assert all(devices[d]["sim"] for d in devices)
    for alarm in fleet["alarms"]:
        if alarm["rule"] == "presenceUnreachableThresHold":
            assert devices[alarm["entity"]]["unified_presence"] == "NOT_REGISTERED"
        if alarm["status"] == "CLOSED":
            assert alarm["opening_date"] < alarm["closure_date"] <= fleet["reference_time"]


def test_deterministic_for_a_seed_and_different_across_seeds():
    assert fleets.generate(50, seed=3) == fleets.generate(50, seed=3)
    assert fleets.generate(50, seed=3)["devices"] != fleets.generate(50, seed=4)["devices"]


def test_counts_scale_and_can_be_set():
    fleet = fleets.generate(4000, spare_sims=0, alarms=500)
    assert len(fleet["devices"]) == 4000 and len(fleet["sims"]) == 4000 and len(fleet["alarms"]) == 500
    assert fleets.allocate(10, {"a": 345, "b": 98}) == {"a": 8, "b": 2}


def test_seed_nine_fixture_is_the_seed_table():
    fleet = fleets.generate(fixture="seed-nine")
    rows = {d["id"]: d for d in fleet["devices"]}
    assert list(rows) == [r[0] for r in fleets.SEED_NINE]
    assert rows["17CEC50610052672"]["rtt_ms"] == 2074 and rows["17CEC50610052672"]["ip_presence"] == "OK"
    assert rows["16CEC50610040344"]["rtt_ms"] is None and rows["16CEC50610040344"]["ip_presence"] == "NOK"
    assert [a["entity"] for a in fleet["alarms"]][:2] == ["1107003370", "1107002052"]
    with pytest.raises(ValueError, match="unknown fixture"):
        fleets.generate(fixture="nope")


def test_inventory_gives_one_router_per_concentrator_with_its_modem_and_coordinates(tmp_path):
    inventory = tmp_path / "concentrators.csv"
    inventory.write_text(
        "concentrator,comuna,latitude,longitude,modem\n"
        "TD-0011,Santiago,-33.4372,-70.6506,16CEC50610040344\n"
        "TD-1134,Maipu,-33.5100,-70.7570,18CEC50610058302\n"
        "TD-2000,Puente Alto,-33.6100,-70.5750,17CEC50610051720\n"
    )
    placements = fleets.placements_from_inventory(inventory)
    fleet = fleets.generate(seed=2, placements=placements)
    assert [(d["id"], d["latitude"], d["longitude"]) for d in fleet["devices"]] == [
        ("16CEC50610040344", -33.4372, -70.6506),
        ("18CEC50610058302", -33.51, -70.757),
        ("17CEC50610051720", -33.61, -70.575),
    ]
    assert Counter(s["state"] for s in fleet["sims"])["READY"] == round(3 * 752 / 3046)
    with fake_server(fleet) as srv:
        r = httpx.post(
            f"{srv.url}/north/v80/search/entities",
            headers={"X-ApiKey": API_KEY},
            json={"filter": {"eq": {"resourceType": "entity.device"}}},
        )
        positions = {
            e["provision"]["device"]["identifier"]["_current"]["value"]: e["provision"]["device"]["location"][
                "_current"
            ]["value"]["position"]["coordinates"]
            for e in r.json()["entities"]
        }
    assert positions["18CEC50610058302"] == [-70.757, -33.51]  # GeoJSON: [lon, lat]


def test_cli_writes_a_fleet_file_and_rebase_moves_dates(tmp_path, capsys):
    out = tmp_path / "fleet.json"
    assert fleets.main(["--out", str(out), "--modems", "20", "--seed", "5"]) == 0
    fleet = fleets.load_fleet(out)
    assert len(fleet["devices"]) == 20 and fleet["format"] == fleets.FORMAT
    moved = fleets.rebase(fleet, fleets.parse_iso("2021-10-07T23:35:00.000Z"))
    before = fleets.parse_iso(fleet["devices"][0]["presence_date"])
    after = fleets.parse_iso(moved["devices"][0]["presence_date"])
    assert after - before == fleets.parse_iso("2021-10-07T23:35:00Z") - fleets.parse_iso(
        fleet["reference_time"]
    )
    assert moved["reference_time"] == "2021-10-07T23:35:00.000Z"
    (tmp_path / "bad.json").write_text(json.dumps({"devices": []}))
    with pytest.raises(ValueError, match="not an OpenGate fleet"):
        fleets.load_fleet(tmp_path / "bad.json")
    assert fleets.main(["--inventory", str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv" in capsys.readouterr().err
