"""The fake OpenGate North API: auth, paging, filter grammar, envelopes, errors, faults and controls,
and its fidelity to a client nobody here wrote (PyPI `opengate-data`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from opengate_data import OpenGateClient

from exporters.core.exposition import Exposition
from exporters.opengate.config import load_datastreams
from exporters.opengate.exporter import OpenGateExporter
from exporters.opengate.read import NorthClient
from simulator import opengate_fleet as fleets
from tests.opengate_helpers import API_KEY, ORG, by_modem, fake_server, samples

SEARCH = "/north/v80/search/entities"
DEVICES = {
    "and": [{"eq": {"provision.administration.organization": ORG}}, {"eq": {"resourceType": "entity.device"}}]
}
SEED_IDS = [row[0] for row in fleets.SEED_NINE]


@pytest.fixture(scope="module")
def server():
    with fake_server(fleets.generate(fixture="seed-nine"), users={"noc@example.org": "s3cret"}) as srv:
        yield srv


@pytest.fixture()
def http(server):
    with httpx.Client(base_url=server.url, headers={"X-ApiKey": API_KEY}, timeout=10) as client:
        yield client
    httpx.delete(f"{server.url}/_fake/fault")


def ids_of(rows):
    return [r["provision"]["device"]["identifier"]["_current"]["value"] for r in rows]


def test_missing_or_wrong_key_is_401_with_an_errors_body(server):
    for headers in ({}, {"X-ApiKey": "wrong"}, {"Authorization": "Bearer not-issued"}):
        r = httpx.post(server.url + SEARCH, json={}, headers=headers)
        assert r.status_code == 401
        assert r.json()["errors"][0]["message"] == "Unauthorized"


def test_bearer_token_from_login_is_accepted(server):
    bad = httpx.post(
        f"{server.url}/north/v80/provision/users/login", json={"email": "noc@example.org", "password": "x"}
    )
    assert bad.status_code == 401
    login = httpx.post(
        f"{server.url}/north/v80/provision/users/login",
        json={"email": "noc@example.org", "password": "s3cret"},
    )
    jwt = login.json()["user"]["jwt"]
    r = httpx.post(server.url + SEARCH, json={"filter": DEVICES}, headers={"Authorization": f"Bearer {jwt}"})
    assert r.status_code == 200 and len(r.json()["entities"]) == 9


def test_pages_are_1_based_and_204_ends_the_list(http):
    seen = []
    for page in (1, 2, 3):
        r = http.post(SEARCH, json={"filter": DEVICES, "limit": {"size": 4, "start": page}})
        assert r.status_code == 200
        assert r.json()["page"] == {"number": page}
        seen += ids_of(r.json()["entities"])
    assert seen == SEED_IDS
    end = http.post(SEARCH, json={"filter": DEVICES, "limit": {"size": 4, "start": 4}})
    assert end.status_code == 204 and end.content == b""
    # page 0 is read as page 1, as opengate-data forces it
    assert (
        ids_of(
            http.post(SEARCH, json={"filter": DEVICES, "limit": {"size": 4, "start": 0}}).json()["entities"]
        )
        == (SEED_IDS[:4])
    )


def test_page_size_above_1000_and_malformed_filters_are_400(http):
    r = http.post(SEARCH, json={"filter": DEVICES, "limit": {"size": 1001, "start": 1}})
    assert r.status_code == 400 and r.json()["errors"][0]["context"][0]["name"] == "limit.size"
    for bad in ({"and": []}, {"regex": {"a": "b"}}, {"eq": {"a": 1, "b": 2}}, {"in": {"a": "notalist"}}, [1]):
        r = http.post(SEARCH, json={"filter": bad})
        assert r.status_code == 400, bad
        assert r.json()["errors"][0]["code"] == "0x0400"
    assert http.post(SEARCH, content=b"{not json").status_code == 400


def test_filter_grammar(http):
    def ids(flt, **params):
        r = http.post(SEARCH, json={"filter": flt}, params=params)
        return [] if r.status_code == 204 else ids_of(r.json()["entities"])

    presence = "device.communicationModules[].subscription.presence"
    assert (
        ids({"and": [DEVICES, {"like": {"provision.device.identifier": "^17CEC5061005.*"}}]}) == SEED_IDS[4:]
    )
    assert ids({"and": [DEVICES, {"eq": {f"{presence}.ip": "NOK"}}]}) == SEED_IDS[:1] + SEED_IDS[2:4]
    assert ids({"and": [DEVICES, {"gte": {f"{presence}.ipRtt": 2000}}]}) == [
        "17CEC50610052672",
        "17CEC50610051980",
    ]
    # type-strict: a number field does not match a string
    assert ids({"and": [DEVICES, {"eq": {f"{presence}.ipRtt": "473"}}]}) == []
    assert ids({"and": [DEVICES, {"exists": {f"{presence}.ipRtt": False}}]}) == ["16CEC50610040344"]
    assert ids({"and": [DEVICES, {"in": {"provision.device.identifier": SEED_IDS[:2]}}]}) == SEED_IDS[:2]
    assert ids({"and": [DEVICES, {"nin": {"provision.device.identifier": SEED_IDS[1:]}}]}) == SEED_IDS[:1]
    assert ids(
        {"and": [DEVICES, {"lt": {f"{presence}.unifiedPresence._current.date": "2021-10-06T21:31:00Z"}}]}
    ) == [
        "17CEC50610052672",
        "17CEC50610051980",
    ]
    assert ids(
        {"or": [{"eq": {"provision.device.identifier": SEED_IDS[0]}}, {"eq": {"resourceType": "nothing"}}]}
    ) == [SEED_IDS[0]]
    # case-insensitive unless caseSensitive=true (query booleans parsed case-insensitively)
    lower = {"and": [DEVICES, {"eq": {"provision.device.identifier": SEED_IDS[0].lower()}}]}
    assert ids(lower, caseSensitive="False") == [SEED_IDS[0]]
    assert ids(lower, caseSensitive="TRUE") == []


def test_select_keeps_only_the_asked_members_and_flattened_form(http):
    body = {
        "filter": {"and": [DEVICES, {"eq": {"provision.device.identifier": "17CEC50610051720"}}]},
        "select": [
            {"name": "provision.device.identifier", "fields": [{"field": "value", "alias": "id"}]},
            {
                "name": "device.communicationModules[].subscription.presence.unifiedPresence",
                "fields": [{"field": "value"}, {"field": "source"}],
            },
        ],
    }
    (doc,) = http.post(SEARCH, json=body).json()["entities"]
    assert doc == {
        "provision": {"device": {"identifier": {"_current": {"value": "17CEC50610051720"}}}},
        "device": {
            "communicationModules": [
                {
                    "subscription": {
                        "presence": {
                            "unifiedPresence": {"_current": {"value": "IP", "source": "DEVICE_PING"}}
                        }
                    }
                }
            ]
        },
    }
    (flat,) = http.post(SEARCH, json=body, params={"flattened": "True"}).json()["entities"]
    assert flat["provision.device.identifier"] == {"_value": {"_current": {"value": "17CEC50610051720"}}}
    (module,) = flat["device.communicationModules[].subscription.presence.unifiedPresence"]
    assert module["_value"]["_current"]["value"] == "IP"


def test_csv_with_accept_text_plain(http):
    body = {
        "filter": {"and": [DEVICES, {"eq": {"provision.device.identifier": "18CEC50610058302"}}]},
        "select": [
            {"name": "provision.device.identifier", "fields": [{"field": "value", "alias": "id"}]},
            {
                "name": "device.communicationModules[].subscription.presence.ipRtt",
                "fields": [{"field": "value", "alias": "rtt"}],
            },
        ],
    }
    r = http.post(SEARCH, json=body, headers={"Accept": "text/plain"})
    assert r.text.splitlines() == ["id;rtt", "18CEC50610058302;473"]


def test_alarms_search_summary_and_close(http):
    r = http.post("/north/v80/search/entities/alarms", json={"filter": {"eq": {"alarm.status": "OPEN"}}})
    alarms = r.json()["alarms"]
    assert len(alarms) == 9 and {a["organization"] for a in alarms} == {ORG}
    assert [a["openingDate"] for a in alarms] == sorted((a["openingDate"] for a in alarms), reverse=True)
    summary = http.post("/north/v80/search/entities/alarms/summary", json={}).json()["summary"]
    groups = {next(iter(g)): next(iter(g.values())) for g in summary["summaryGroup"]}
    assert {i["name"]: i["count"] for i in groups["rule"]["list"]} == {
        "maxTrafficBytesReached": 6,
        "presenceUnreachableThresHold": 3,
    }
    target = alarms[0]["identifier"]
    assert http.post("/north/v80/alarms", json={"action": "CLOSE", "alarms": [target]}).status_code == 200
    closed = http.post(
        "/north/v80/search/entities/alarms", json={"filter": {"eq": {"alarm.status": "CLOSED"}}}
    )
    assert [a["identifier"] for a in closed.json()["alarms"]] == [target]
    nothing = http.post("/north/v80/search/entities/alarms", json={"filter": {"eq": {"alarm.rule": "none"}}})
    assert nothing.status_code == 204


def test_fault_switch_answers_each_fault_then_clears(http, server):
    expectations = {
        "unauthorized": 401,
        "forbidden": 403,
        "rate_limit": 429,
        "server_error": 500,
    }
    for mode, status in expectations.items():
        httpx.put(f"{server.url}/_fake/fault", json={"mode": mode, "retry_after": 3, "count": 1})
        r = http.post(SEARCH, json={"filter": DEVICES})
        assert r.status_code == status, mode
        if mode == "rate_limit":
            assert r.headers["Retry-After"] == "3"
        assert http.post(SEARCH, json={"filter": DEVICES}).status_code == 200, f"{mode} lasted past its count"
    httpx.put(f"{server.url}/_fake/fault", json={"mode": "malformed"})
    with pytest.raises(json.JSONDecodeError):
        json.loads(http.post(SEARCH, json={"filter": DEVICES}).content)
    httpx.delete(f"{server.url}/_fake/fault")
    httpx.put(f"{server.url}/_fake/fault", json={"mode": "slow", "delay": 0.5, "path_contains": "alarms"})
    with pytest.raises(httpx.ReadTimeout):
        http.post("/north/v80/search/entities/alarms", json={}, timeout=0.1)
    assert http.post(SEARCH, json={"filter": DEVICES}, timeout=2).status_code == 200  # other paths unaffected
    assert httpx.put(f"{server.url}/_fake/fault", json={"mode": "bogus"}).status_code == 400


def test_a_client_that_times_out_during_a_slow_fault_is_counted_not_an_application_error():
    import time

    with fake_server(fleets.generate(fixture="seed-nine")) as srv:
        httpx.put(f"{srv.url}/_fake/fault", json={"mode": "slow", "delay": 0.5})
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(srv.url + SEARCH, json={"filter": DEVICES}, headers={"X-ApiKey": API_KEY}, timeout=0.1)
        deadline = time.monotonic() + 5
        stats: dict = {}
        while time.monotonic() < deadline and f"{SEARCH} 499" not in stats:
            time.sleep(0.1)
            stats = httpx.get(f"{srv.url}/_fake/stats").json()["requests"]
    assert stats == {f"{SEARCH} 499": 1}  # before: an unhandled ClientDisconnect traceback, not counted


def test_runtime_controls_change_presence_sim_state_and_alarms(server):
    fleet = fleets.generate(fixture="seed-nine")
    with fake_server(fleet) as srv, httpx.Client(base_url=srv.url, headers={"X-ApiKey": API_KEY}) as http:
        r = httpx.post(
            f"{srv.url}/_fake/devices/17CEC50610051720", json={"unified_presence": "NOT_REGISTERED"}
        )
        assert r.status_code == 200
        flt = {
            "eq": {"device.communicationModules[].subscription.presence.unifiedPresence": "NOT_REGISTERED"}
        }
        assert ids_of(http.post(SEARCH, json={"filter": flt}).json()["entities"]) == ["17CEC50610051720"]
        assert httpx.post(f"{srv.url}/_fake/sims/56958111706", json={"state": "SUSPENDED"}).status_code == 200
        sims = {"eq": {"provision.subscription.administrativeState": "SUSPENDED"}}
        (sim,) = http.post(SEARCH, json={"filter": sims}).json()["entities"]
        assert sim["provision"]["subscription"]["identifier"]["_current"]["value"] == "56958111706"
        new = httpx.post(
            f"{srv.url}/_fake/alarms",
            json={"rule": "presenceUnreachableThresHold", "entity": "17CEC50610051720"},
        )
        assert new.status_code == 201 and new.json()["sub_entity"] == "56958111706"
        assert httpx.post(f"{srv.url}/_fake/devices/nope", json={"rtt_ms": 1}).status_code == 404
        assert httpx.post(f"{srv.url}/_fake/devices/17CEC50610051720", json={"bogus": 1}).status_code == 400


def test_opengate_data_library_sees_the_same_devices_and_alarms_as_the_exporter():
    """Fidelity: Amplia's own Python client, unmodified, against the fake; then the exporter."""
    fleet = fleets.generate(25, seed=7, alarms=12, reference_time="2026-05-10T08:00:00.000Z")
    with fake_server(fleet) as srv:
        client = OpenGateClient(url=srv.url, api_key=API_KEY)
        fb = client.new_filter_builder()
        flt = fb.and_(
            fb.eq("provision.administration.organization", ORG), fb.eq("resourceType", "entity.device")
        ).build()
        select = (
            client.new_select_builder()
            .add("provision.device.identifier", [("value", "id")])
            .add(
                "device.communicationModules[].subscription.presence.unifiedPresence",
                ["value", "date", "source"],
            )
            .build()
        )
        result = (
            client.new_entities_search_builder()
            .with_filter(flt)
            .with_select(select)
            .with_format("dict")
            .build()
            .execute()
        )
        entities = json.loads(result)["entities"]
        ogd_devices = {
            e["provision"]["device"]["identifier"]["_current"]["value"]: e["device"]["communicationModules"][
                0
            ]["subscription"]["presence"]["unifiedPresence"]["_current"]["value"]
            for e in entities
        }
        ab = client.new_filter_builder()  # a fresh builder: build() returns its live dict
        alarm_flt = ab.and_(ab.neq("alarm.status", "CLOSED"), ab.eq("alarm.organization", ORG)).build()
        alarms = json.loads(
            client.new_alarm_search_builder().with_filter(alarm_flt).with_format("dict").build_execute()
        )["alarms"]
        ogd_open = {
            (a["entityIdentifier"], a["rule"], a["severity"])
            for a in alarms
            if a["resourceType"] == "entity.device"
        }
        ogd_sim_open = {
            (a["entityIdentifier"], a["rule"], a["severity"], a["openingDate"])
            for a in alarms
            if a["resourceType"] == "entity.subscription"
        }
        # pandas format and an explicit single page also work against the fake
        frame = client.new_entities_search_builder().with_filter(flt).with_format("pandas").build().execute()
        assert len(frame) == 25
        one_page = (
            client.new_entities_search_builder()
            .with_filter(flt)
            .with_limit(10, 3)
            .with_format("dict")
            .build()
            .execute()
        )
        assert len(json.loads(one_page)["entities"]) == 5
        # and an error comes back as the library's error dict, not an exception
        bad = (
            OpenGateClient(url=srv.url, api_key="wrong")
            .new_entities_search_builder()
            .with_filter(flt)
            .build()
            .execute()
        )
        assert bad["status_code"] == 401

        exposition = Exposition()
        exporter = OpenGateExporter(
            NorthClient(srv.url, API_KEY, page_size=7), ORG, load_datastreams(), exposition
        )
        exporter.poll()
        parsed = samples(exposition.body())

    assert len(ogd_devices) == 25
    assert set(by_modem(parsed, "opengate_modem_present")) == set(ogd_devices)
    assert {m: v for m, v in by_modem(parsed, "opengate_modem_present").items()} == {
        m: float(p == "IP") for m, p in ogd_devices.items()
    }
    exporter_open = {
        (dict(k)["modem"], dict(k)["rule"], dict(k)["severity"]) for k in parsed["opengate_alarm_open"]
    }
    assert exporter_open == ogd_open and len(ogd_open) > 0
    # the SIM alarms (the seed's "Listado de alarmas simcard") with their opening dates
    exporter_sim_open = {
        (dict(k)["sim"], dict(k)["rule"], dict(k)["severity"], fleets.iso(datetime.fromtimestamp(v, UTC)))
        for k, v in parsed["opengate_sim_alarm_open_since_timestamp_seconds"].items()
    }
    assert exporter_sim_open == ogd_sim_open and len(ogd_sim_open) == 1
