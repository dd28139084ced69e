"""The shared panel builders of smmc/dashboards/panels.py that the dashboards state their panels with."""

from __future__ import annotations

import json

from grafana_foundation_sdk.cog.encoder import JSONEncoder

from smmc.dashboards import panels as p
from smmc.dashboards.panels import Query


def _json(builder) -> dict:
    return json.loads(json.dumps(builder.build(), cls=JSONEncoder))


def _organize(panel: dict) -> dict:
    (organize,) = [t["options"] for t in panel["transformations"] if t["id"] == "organize"]
    return organize


def test_a_value_column_is_the_field_of_its_query_and_keyed_by_its_header():
    panel = _json(
        p.table(
            "Hosts",
            "Every host.",
            [Query("host_health == 1")],
            columns={"host": "Host", "health": "Health"},
            values={"CPU": Query("host_cpu_ratio"), "Memory": Query("host_memory_bytes")},
            join_by="host",
            column_units={"CPU": "percentunit"},
        )
    )
    assert [t["refId"] for t in panel["targets"]] == ["A", "B", "C"]
    assert [t["expr"] for t in panel["targets"]] == [
        "host_health == 1",
        "host_cpu_ratio",
        "host_memory_bytes",
    ]
    organize = _organize(panel)
    assert organize["renameByName"] == {
        "host": "Host",
        "health": "Health",
        "Value #B": "CPU",
        "Value #C": "Memory",
    }
    assert organize["indexByName"] == {"host": 0, "health": 1, "Value #B": 2, "Value #C": 3}
    (units,) = panel["fieldConfig"]["overrides"]
    assert units["matcher"]["options"] == "CPU"
    assert units["properties"] == [{"id": "unit", "value": "percentunit"}]


def test_a_lone_query_has_the_plain_value_field():
    panel = _json(
        p.table("Comunas", "Per comuna.", [], columns={"comuna": "Comuna"}, values={"Meters": Query("m")})
    )
    assert _organize(panel)["renameByName"] == {"comuna": "Comuna", "Value": "Meters"}
    assert p.value_field(0, 1) == "Value"
    assert p.value_field(2, 3) == "Value #C"


def test_grouped_series_are_named_by_their_labels():
    query = p.by("count", ["action", "result"], "x")
    assert query == Query("count by (action, result) (x)", "{{action}}: {{result}}")
    bars = _json(p.breakdown("B", "d", "x", ["state"], steps=p.NEUTRAL))
    assert [(t["expr"], t["legendFormat"]) for t in bars["targets"]] == [
        ("sort_desc(sum by (state) (x))", "{{state}}")
    ]
    top = _json(p.top_concentrators("T", "d", "x", aggregation="count", steps=p.OK_ONLY))
    assert top["targets"][0]["expr"] == "topk(10, count by (concentrator) (x))"
    assert top["fieldConfig"]["defaults"]["links"][0]["url"].startswith("/d/smmc-concentrators/")


def test_presets_state_the_defaults_of_their_family():
    up = _json(p.up_stat("Source", "d", [Query("min(x_up)")], up="read", down="failing"))
    assert up["fieldConfig"]["defaults"]["unit"] == "none"
    (mapping,) = up["fieldConfig"]["defaults"]["mappings"]
    assert {v: (r["text"], r["color"]) for v, r in mapping["options"].items()} == {
        "1": ("read", "green"),
        "0": ("failing", "red"),
    }
    hourly = _json(p.hourly("H", "d", [p.increase_by("x_total", ["kind"])]))
    assert hourly["interval"] == "1h" and hourly["fieldConfig"]["defaults"]["unit"] == "short"
    assert hourly["targets"][0]["expr"] == "sum by (kind) (increase(x_total[1h]))"
    assert p.levels(1, 5) == ((None, "green"), (1, "orange"), (5, "red"))
    assert p.any_is("blue") == ((None, "green"), (1, "blue"))
