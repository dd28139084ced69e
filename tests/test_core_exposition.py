"""The pre-rendered exposition: text format, escaping, parts, and the HTTP endpoint."""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
import zlib

import pytest

from exporters.core.exposition import Exposition, counter, escape_label_value, format_value, gauge
from exporters.core.server import ExporterServer, parse_listen


def test_family_renders_help_type_and_samples() -> None:
    family = gauge("smmc_example", "An example.\nSecond line", ["concentrator", "flag"])
    family.add(("TD-0011", "PUP"), 3)
    family.add(('TD-"x"\\', "CAPE"), 0.5)
    text = family.render()
    assert text.splitlines() == [
        "# HELP smmc_example An example.\\nSecond line",
        "# TYPE smmc_example gauge",
        'smmc_example{concentrator="TD-0011",flag="PUP"} 3',
        'smmc_example{concentrator="TD-\\"x\\"\\\\",flag="CAPE"} 0.5',
    ]


def test_values_and_escaping() -> None:
    assert format_value(1.0) == "1"
    assert format_value(float("nan")) == "NaN"
    assert format_value(float("-inf")) == "-Inf"
    assert format_value(1.5e-3) == "0.0015"
    assert escape_label_value("a\nb") == "a\\nb"


def test_wrong_label_count_and_counter_name_are_errors() -> None:
    family = gauge("x", "x", ["a"])
    with pytest.raises(ValueError, match="label values"):
        family.add(("1", "2"), 1)
    with pytest.raises(ValueError, match="_total"):
        counter("smmc_rows", "rows")


def test_add_columns_from_parallel_sequences() -> None:
    family = counter("smmc_rows_total", "rows", ["kind"])
    family.add_columns([["swe", "hpe"]], [10, 2])
    assert 'smmc_rows_total{kind="hpe"} 2' in family.render()


def test_add_state_marks_the_current_state_of_a_state_set() -> None:
    family = gauge("smmc_example_state", "A state set.", ["host", "state"])
    family.add_state(("h1",), ("GOOD", "BAD", "UNKNOWN"), "BAD")
    family.add_state(("h2",), ("GOOD", "BAD", "UNKNOWN"), "gone")  # a value not listed: every state 0
    assert family.render().splitlines()[2:] == [
        'smmc_example_state{host="h1",state="GOOD"} 0',
        'smmc_example_state{host="h1",state="BAD"} 1',
        'smmc_example_state{host="h1",state="UNKNOWN"} 0',
        'smmc_example_state{host="h2",state="GOOD"} 0',
        'smmc_example_state{host="h2",state="BAD"} 0',
        'smmc_example_state{host="h2",state="UNKNOWN"} 0',
    ]


def test_parts_are_replaced_whole_and_ordered() -> None:
    exposition = Exposition()
    a = gauge("a_metric", "a")
    a.add((), 1)
    exposition.publish("b-part", [a])
    b = gauge("b_metric", "b")
    b.add((), 2)
    exposition.publish("a-part", [b])
    assert exposition.body().decode().index("b_metric") < exposition.body().decode().index("a_metric")
    a2 = gauge("a_metric", "a")
    a2.add((), 5)
    exposition.publish("b-part", [a2])
    assert b"a_metric 5" in exposition.body() and b"a_metric 1" not in exposition.body()
    assert exposition.parts() == ["a-part", "b-part"]


def test_parse_listen() -> None:
    assert parse_listen("0.0.0.0:9810", 1) == ("0.0.0.0", 9810)
    assert parse_listen(":9811", 1) == ("0.0.0.0", 9811)
    assert parse_listen("", 9812) == ("0.0.0.0", 9812)
    assert parse_listen("[::1]:9", 1) == ("::1", 9)
    with pytest.raises(ValueError):
        parse_listen("host:port", 1)


@pytest.fixture()
def served():
    exposition = Exposition()
    family = gauge("smmc_big", "many series", ["i"])
    family.add_many(((str(i),), i) for i in range(2000))
    exposition.publish("big", [family])
    ready = {"ok": True}
    server = ExporterServer(exposition, "127.0.0.1", 0, ready=lambda: ready["ok"]).start()
    yield server, ready
    server.stop()


def test_server_serves_plain_and_gzip_and_promtool_accepts(served) -> None:
    server, _ = served
    url = f"http://127.0.0.1:{server.port}/metrics"
    plain = urllib.request.urlopen(url).read()
    assert b'smmc_big{i="1999"} 1999' in plain
    assert b"python_info" in plain
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    response = urllib.request.urlopen(request)
    assert response.headers["Content-Encoding"] == "gzip"
    # one gzip member that any client reads whole: zlib's gzip mode stops after the first member
    compressed = response.read()
    decoder = zlib.decompressobj(31)
    unzipped = decoder.decompress(compressed) + decoder.flush()
    assert decoder.eof and not decoder.unused_data
    assert unzipped.split(b"# HELP python_")[0] == plain.split(b"# HELP python_")[0]
    assert b"python_info" in unzipped
    again = urllib.request.urlopen(request).read()  # cached exposition part, fresh runtime part
    assert zlib.decompress(again, 31).startswith(unzipped[:1000])
    check = subprocess.run(["promtool", "check", "metrics"], input=plain, capture_output=True)
    assert check.returncode == 0, check.stderr.decode() + check.stdout.decode()


def test_server_answers_503_until_ready(served) -> None:
    server, ready = served
    ready["ok"] = False
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics")
    assert info.value.code == 503
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz")
    ready["ok"] = True
    assert urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz").read() == b"ok\n"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/nope")
    assert info.value.code == 404


def test_a_new_counter_series_is_held_from_its_first_publish_not_its_latest() -> None:
    """Published again before any scrape, a new series keeps the time it was first published: it is
    released one hold after that, whatever the publishes in between."""
    now = [0.0]
    exposition = Exposition(new_counter_hold_seconds=60, clock=lambda: now[0])

    def publish(value: int) -> None:
        family = counter("smmc_rows_total", "rows", ["kind"])
        family.add(("swe",), value)
        exposition.publish("counters", [family])

    publish(5)
    now[0] = 50.0
    publish(7)
    assert b'smmc_rows_total{kind="swe"} 0\n' in exposition.scrape()[1]
    assert b'smmc_rows_total{kind="swe"} 7\n' in exposition.body()
    now[0] = 61.0
    assert b'smmc_rows_total{kind="swe"} 7\n' in exposition.scrape()[1]
