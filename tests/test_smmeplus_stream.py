"""The SWE file is streamed and folded block by block: the fold must equal a row-by-row reading of the
file whatever the block size, and the per-meter series limit must choose its rows before any series is
built."""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from test_smmeplus import run_exporter, samples, series

from exporters.core import exposition
from exporters.core.tabular import parse_timestamps
from exporters.smmeplus import fold, metrics, read
from smmc.catalogs import FILES, OVERRIDE_ENV, load_catalogs

HEADER = ["concentrator", "meter", "pod", "type", "date", "severity", "isactive", "description"]
CONCENTRATORS = ["TD-1", "TD-2", " TD-2", "TD-3 ", "TD-10", ""]
METERS = [f"M{i:03d}" for i in range(40)] + [" M001", "M002 ", ""]
EVENTS = [
    ("3.26.0.85", "Voltage interruption (PUP)"),
    ("3.12.29.212", "Cover opened (CAPE)"),
    ("3.23.1.79", "Fraud (AFC)"),
    ("0.0.0.0", "Something else (DZCR)"),  # unknown code: the acronym in brackets names the flag
    ("0.0.0.0", "no acronym"),
    ("9.9", " Voltage interruption (PUP) "),
]
DATES = ["2021-10-07", "2021-10-07 10:00:00", "2021-10-06", "10/7/2021 1:16:39 AM", "yesterday", "", "None"]
ACTIVE = ["TRUE", "FALSE", "true", "0", "1", " TRUE", "maybe", ""]


def write_swe(path: Path, rng: random.Random, rows: int) -> list[list[str]]:
    table = []
    for i in range(rows):
        code, description = rng.choice(EVENTS)
        table.append(
            [
                rng.choice(CONCENTRATORS),
                rng.choice(METERS),
                str(i),
                code,
                rng.choice(DATES),
                "0",
                rng.choice(ACTIVE),
                description,
            ]
        )
    path.write_text("\n".join("\t".join(r) for r in [HEADER, *table]) + "\n", encoding="utf-8")
    return table


def reference(table: list[list[str]]) -> dict:
    """The fold's documented meaning, one row at a time."""
    cat = load_catalogs()
    resolve = read.swe_flag_resolver(cat)
    times = {d: parse_timestamps(pd.Series([d.strip()]))[0] for d in DATES}
    rejected: Counter[str] = Counter()
    newest: dict[tuple[str, int], tuple[float, str, bool]] = {}
    meters: dict[str, list] = {}
    events: Counter[tuple[str, int]] = Counter()
    kept = 0
    for conc, meter, _pod, code, date, _sev, isactive, description in table:
        conc, meter = conc.strip(), meter.strip()
        flag = resolve(code.strip(), description.strip())
        active = read._truthy(isactive.strip())
        if not conc or not meter:
            rejected["missing_field"] += 1
        elif flag < 0:
            rejected["unknown_flag"] += 1
        elif active < 0:
            rejected["bad_isactive"] += 1
        elif math.isnan(times[date]):
            rejected["bad_date"] += 1
        else:
            kept += 1
            ts = times[date]
            if (meter, flag) not in newest or ts >= newest[(meter, flag)][0]:  # a later row wins a tie
                newest[(meter, flag)] = (ts, conc, active == 1)
            meters.setdefault(meter, [0, ""])
            meters[meter][0] += 1
            meters[meter][1] = conc
            events[(conc, flag)] += 1
    return {
        "rows": kept,
        "rejected": dict(rejected),
        "newest": {k: (c, a) for k, (_ts, c, a) in newest.items()},
        "meters": {m: tuple(v) for m, v in meters.items()},
        "events": dict(events),
    }


def folded(day: read.SweDay) -> dict:
    conc_of = day.concentrators
    events = {(conc_of[c], f): int(day.events[c, f]) for c, f in zip(*np.nonzero(day.events), strict=True)}
    return {
        "rows": day.rows,
        "rejected": dict(day.rejected),
        "newest": {
            (day.meters[m], int(f)): (conc_of[c], bool(a))
            for m, f, c, a in zip(
                day.newest_meter, day.newest_flag, day.newest_concentrator, day.newest_active, strict=True
            )
        },
        "meters": {
            m: (int(n), conc_of[c])
            for m, n, c in zip(day.meters, day.meter_rows, day.meter_concentrator, strict=True)
        },
        "events": events,
    }


@pytest.mark.parametrize("seed", range(6))
def test_the_streamed_fold_equals_a_row_by_row_reading(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "SWE_2021-10-07.csv"
    table = write_swe(path, random.Random(seed), rows=1500)
    expected = reference(table)
    assert expected["rows"] and expected["newest"]  # the draw has kept rows and rejected ones
    assert len(expected["rejected"]) == 4
    cat = load_catalogs()
    for block_size in (200, 4096, 1 << 22):  # from a few rows per block to the whole file in one
        assert folded(read.read_swe(path, cat, block_size=block_size)) == expected


def critical_and_warning(override_dir: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """Two per-meter flags of different severity: CAPE raised to critical by a site override (the
    shipped catalog rates every per-meter flag a warning), and a warning one."""
    (override_dir / FILES[0]).write_text(
        "flags:\n  - {word: extended1, bit: 3, severity: critical}\n", encoding="utf-8"
    )
    monkeypatch.setenv(OVERRIDE_ENV, str(override_dir))
    flags = load_catalogs().meter_flags
    critical = next(f.acronym for f in flags if f.per_meter and f.severity == "critical")
    warning = next(f.acronym for f in flags if f.per_meter and f.severity == "warning")
    return critical, warning


def write_per_meter_day(path: Path, acronyms: tuple[str, str]) -> list[tuple[str, str, str]]:
    """Meters with one or both of two per-meter flags, active."""
    rows, active = [], []
    rng = random.Random(7)
    for _ in range(90):
        conc, meter = f"TD-{rng.randrange(9)}", f"M{rng.randrange(10**6):06d}"
        for acronym in rng.sample(acronyms, rng.randint(1, 2)):
            rows.append([conc, meter, "1", "0.0.0.0", "2021-10-07", "0", "TRUE", f"event ({acronym})"])
            active.append((meter, conc, acronym))
    path.write_text("\n".join("\t".join(r) for r in [HEADER, *rows]) + "\n")
    return active


def test_the_per_meter_limit_chooses_its_rows_before_any_series_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    overrides = tmp_path / "overrides"
    overrides.mkdir()
    critical, warning = critical_and_warning(overrides, monkeypatch)
    active = write_per_meter_day(inbox / "SWE_2021-10-07.csv", (critical, warning))
    limit = 25
    rendered: list[int] = []  # label rows handed to the family of per-meter series
    built: list[int] = []  # rows handed to meter_families as per-meter series
    add_columns, meter_families = exposition.MetricFamily.add_columns, metrics.meter_families

    def spy_add_columns(self, columns, values):
        if self.name == fold.FLAG_ACTIVE_METRIC:
            rendered.append(len(values))
        return add_columns(self, columns, values)

    def spy_meter_families(flags, inventory, active_rows, per_meter, swe_meters):
        built.append(len(per_meter))
        return meter_families(flags, inventory, active_rows, per_meter, swe_meters)

    monkeypatch.setattr(exposition.MetricFamily, "add_columns", spy_add_columns)
    monkeypatch.setattr(metrics, "meter_families", spy_meter_families)
    exporter = run_exporter(inbox, tmp_path / "state", per_meter_series_limit=limit)
    try:
        s = samples(exporter.exposition.body())
    finally:
        exporter.inbox.ledger.close()
    assert len(active) > limit
    assert built[-1] == limit and rendered[-1] == limit  # never more than the limit, at no stage
    severity = {critical: 0, warning: 1}
    expected = sorted(active, key=lambda r: (severity[r[2]], r[1], r[0], r[2]))[:limit]
    exposed = series(s, "smmc_meter_flag_active")
    assert {(dict(k)["meter"], dict(k)["concentrator"], dict(k)["flag"]) for k in exposed} == set(expected)
    assert (
        s[("smmc_series_dropped_total", frozenset({("metric", fold.FLAG_ACTIVE_METRIC)}))]
        == len(active) - limit
    )


def test_names_numbered_alike_with_colliding_hashes() -> None:
    """Meter numbering by hashed lookup gives the numbers of a plain first-appearance dict, also when
    names share a hash (a hash function with 5 values forces the dict fallback)."""
    rng = np.random.default_rng(7)
    pool = [f"UAA{i:07d}" for i in range(2000)]
    for hash_names in (None, lambda v: np.array([sum(map(ord, x)) % 5 for x in v], dtype=np.uint64)):
        names = read._Names() if hash_names is None else read._Names(hash_names)
        expected: dict[str, int] = {}
        for _ in range(10):
            drawn = rng.choice(pool, size=int(rng.integers(0, 400))).tolist()
            block = list(dict.fromkeys(drawn))  # a block's distinct names, in order of appearance
            for name in block:
                expected.setdefault(name, len(expected))
            numbers = names(pa.array(block, type=pa.string()))
            assert numbers.tolist() == [expected[n] for n in block]
        assert names.names().tolist() == list(expected)
        assert (names.ids is None) == (hash_names is None)


class _PlainStream(read.TableStream):
    """A stream that parses every column into strings (the SWE fold asks for dictionary columns)."""

    @property
    def dictionary_columns(self) -> frozenset[int]:
        return frozenset()

    @dictionary_columns.setter
    def dictionary_columns(self, value: frozenset[int]) -> None:
        pass


@pytest.mark.parametrize("seed", range(3))
def test_dictionary_columns_fold_as_string_columns(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SWE fold reads its columns as the CSV reader's dictionary arrays; it folds exactly as from
    string columns, also when a row with a line break in a field (an unbalanced quote) is dropped and
    leaves values in a block's dictionary that no kept row has."""
    path = tmp_path / "SWE_2021-10-07.csv"
    rng = random.Random(seed)
    table = write_swe(path, rng, rows=600)
    lines = path.read_text(encoding="utf-8").splitlines()
    at = rng.randrange(100, 500)
    fields = lines[at].split("\t")
    # a concentrator and a meter no other row has, and a quote never closed
    fields[0], fields[1], fields[7] = "TD-ONLY-HERE", "ONLY-HERE", '"' + fields[7]
    lines[at] = "\t".join(fields)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert len(table) == 600
    cat = load_catalogs()
    for block_size in (300, 4096, 1 << 22):
        with_dictionaries = read.read_swe(path, cat, block_size=block_size)
        assert with_dictionaries.rejected[read.SPANNING_LINES] > 0
        with monkeypatch.context() as m:
            m.setattr(read, "TableStream", _PlainStream)
            with_strings = read.read_swe(path, cat, block_size=block_size)
        assert folded(with_dictionaries) == folded(with_strings)
        assert with_dictionaries.meters.tolist() == with_strings.meters.tolist()
        assert with_dictionaries.concentrators.tolist() == with_strings.concentrators.tolist()
        assert "TD-ONLY-HERE" not in with_dictionaries.concentrators.tolist()


def test_a_large_counter_family_is_sorted_as_python_sorts_its_labels() -> None:
    """Thousands of (concentrator, flag) counter series are sorted in C: the same lines, in the same
    order, as `sorted` on the label tuples (non-ASCII names included)."""
    rng = random.Random(5)
    counters = fold.Counters()
    names = ["TD-1", "TD-10", "TD-2", "Ñuñoa-3", "td-1", "TD-1 ", "Zé", "Z", "ā", "😀"]
    counters.add(
        "meter_events",
        {(f"{rng.choice(names)}{i % 700}", rng.choice(["PUP", "CAPE", "AFC", "ÑF"])): i for i in range(3000)},
    )
    assert len(counters.meter_events) > 1000
    family = metrics.counter_families(counters)[0]
    expected = exposition.counter(family.name, family.help, family.labelnames)
    expected.add_many(sorted(counters.meter_events.items()))
    assert family.render() == expected.render()
