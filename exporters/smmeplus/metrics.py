"""The SMMePlus exporter's metric families, built from its state at ingest time (never at scrape time).

docs/metrics.md ("SMMePlus exporter") documents every name here; dashboards and rules depend on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from exporters.core.exposition import MetricFamily, counter, gauge
from smmc.catalogs import Catalogs, MeterFlag

from . import kinds
from .inventory import Inventory
from .shard import Shard

if TYPE_CHECKING:
    from .fold import Counters, FlagRows, MeterRows


def catalog_families(cat: Catalogs) -> list[MetricFamily]:
    flag_info = gauge(
        "smmc_meter_flag_info",
        "Every meter status-word flag of the catalog, with its category, severity and maintenance rung.",
        ["flag", "word", "bit", "category", "severity", "maintenance", "per_meter"],
    )
    for f in cat.meter_flags:
        flag_info.add(
            [f.acronym, f.word, f.bit, f.category, f.severity, f.maintenance, str(f.per_meter).lower()], 1
        )
    csw_info = gauge(
        "smmc_concentrator_flag_info",
        "Every concentrator status-word (CSW) flag of the catalog: its letter, name, bit and alarm polarity.",
        ["flag", "name", "bit", "polarity", "priority", "inferred_bit"],
    )
    for c in cat.csw_flags:
        csw_info.add([c.letter, c.name, c.bit, c.polarity, c.priority, str(c.inferred_bit).lower()], 1)
    return [flag_info, csw_info]


def inventory_families(inventory: Inventory) -> list[MetricFamily]:
    info = gauge(
        "smmc_concentrator_info",
        "A concentrator of the inventory: its comuna, coordinates and the OpenGate modem that carries it.",
        ["concentrator", "comuna", "latitude", "longitude", "modem"],
    )
    c = inventory.concentrators
    if len(c):
        info.add_columns([c.index, c["comuna"], c["latitude"], c["longitude"], c["modem"]], [1] * len(c))
    meters = gauge(
        "smmc_meters",
        'Meters in the inventory by comuna and "Medicion en TD" (measured at the transformer).',
        ["comuna", "measured_at_td"],
    )
    if len(inventory.meters):
        m = inventory.meters
        comuna, td = inventory.meter_comuna_and_td(
            m.index.to_numpy(dtype=object), m["concentrator"].to_numpy()
        )
        grouped = pd.DataFrame({"comuna": comuna, "td": td}).groupby(["comuna", "td"]).size()
        meters.add_columns(
            [grouped.index.get_level_values(0), grouped.index.get_level_values(1)],
            grouped.to_numpy().tolist(),
        )
    return [info, meters]


def meter_families(
    flags: Sequence[MeterFlag],
    inventory: Inventory,
    active: FlagRows,
    per_meter: FlagRows,
    swe_meters: MeterRows,
) -> list[MetricFamily]:
    acronyms = np.array([f.acronym for f in flags], dtype=object)
    with_flag = gauge(
        "smmc_meters_with_active_flag",
        "Meters whose flag is active in the newest state (SWE isactive, decoded status words), "
        "by concentrator.",
        ["concentrator", "comuna", "flag"],
    )
    if len(active):
        (concentrators, flag), count = _count_by((active.concentrators, active.flags))
        with_flag.add_columns(
            [concentrators, inventory.concentrator_comuna(concentrators), acronyms[flag]], count
        )
    flag_active = gauge(
        "smmc_meter_flag_active",
        "1 for each meter with an active per-meter flag (catalog per_meter), "
        "capped by --per-meter-series-limit.",
        ["meter", "concentrator", "flag"],
    )
    if len(per_meter):
        flag_active.add_columns(
            [per_meter.meters, per_meter.concentrators, acronyms[per_meter.flags]], [1] * len(per_meter)
        )
    with_events = gauge(
        "smmc_meters_with_events",
        'Meters with at least one event or alarm in the newest SWE file, by comuna and "Medicion en TD".',
        ["comuna", "measured_at_td"],
    )
    events = gauge(
        "smmc_meter_events",
        'Event rows in the newest SWE file, by comuna and "Medicion en TD".',
        ["comuna", "measured_at_td"],
    )
    if len(swe_meters):
        if len(inventory.meters):  # a meter's comuna and TD split come from the meter inventory
            concentrators = swe_meters.concentrator_names[swe_meters.concentrator]
            comuna, td = inventory.meter_comuna_and_td(swe_meters.meters, concentrators)
            meters, rows = np.ones(len(swe_meters), dtype=np.int64), swe_meters.rows
        else:  # its concentrator's comuna, TD unknown ("false"): counted per concentrator first
            names = swe_meters.concentrator_names
            meters = np.bincount(swe_meters.concentrator, minlength=len(names))
            rows = np.bincount(swe_meters.concentrator, weights=swe_meters.rows, minlength=len(names))
            present = np.flatnonzero(meters)
            names, meters, rows = names[present], meters[present], rows[present]
            comuna, td = inventory.concentrator_comuna(names), np.full(len(names), "false", dtype=object)
        labels, meter_count = _count_by((comuna, td), weights=meters)
        _labels, row_count = _count_by((comuna, td), weights=rows)
        with_events.add_columns(labels, meter_count)
        events.add_columns(labels, row_count)
    distinct = distinct_meter_families(flags, inventory, active.meters, active.concentrators, active.flags)
    return [with_flag, *distinct, flag_active, with_events, events]


def _count_by(
    columns: tuple[np.ndarray, ...], weights: np.ndarray | None = None
) -> tuple[list[np.ndarray], list[int]]:
    """Rows (or the sum of `weights`) per distinct combination of the label columns, sorted by the
    labels as a pandas group-by would: counted on integer codes, each distinct label compared once."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    uniques = []
    for column in columns:
        codes, values = pd.factorize(column, sort=True)
        key = key * max(len(values), 1) + codes
        uniques.append(np.asarray(values, dtype=object) if values.dtype == object else np.asarray(values))
    space = int(np.prod([max(len(u), 1) for u in uniques]))
    if space <= 4 * len(key) + 1024:  # counted over every combination, in label order, without a sort
        totals = np.bincount(key, weights=weights, minlength=space)
        groups = np.flatnonzero(np.bincount(key, minlength=space))
        totals = totals[groups]
    else:
        groups, inverse = np.unique(key, return_inverse=True)
        totals = np.bincount(inverse.reshape(-1), weights=weights, minlength=len(groups))
    labels = []
    for values in reversed(uniques):
        labels.append(values[groups % max(len(values), 1)])
        groups = groups // max(len(values), 1)
    return labels[::-1], totals.astype(np.int64).tolist()


SEVERITIES = ("critical", "warning", "info")


def distinct_meter_families(
    flags: Sequence[MeterFlag],
    inventory: Inventory,
    meters: np.ndarray,
    concentrators: np.ndarray,
    codes: np.ndarray,
) -> list[MetricFamily]:
    """Distinct meters with an active flag, per concentrator, from the active (meter, concentrator, flag
    index) rows: by the meter's most severe flag (the series of a concentrator add up to its meters with
    any flag) and per category (a meter with flags of two categories is in both). A meter is counted
    under the concentrator of its first active row. Counted on integer codes."""
    by_severity = gauge(
        "smmc_meters_flagged",
        "Distinct meters with at least one active flag, by concentrator and the most severe of their flags "
        "(summed over severity: meters with any active flag).",
        ["concentrator", "comuna", "severity"],
    )
    by_category = gauge(
        "smmc_meters_flagged_by_category",
        "Distinct meters with at least one active flag of the catalog category, by concentrator.",
        ["concentrator", "comuna", "category"],
    )
    if not len(codes):
        return [by_severity, by_category]
    category_names = np.array(sorted({f.category for f in flags}), dtype=object)
    flag_rank = np.array([SEVERITIES.index(f.severity) for f in flags], dtype=np.int64)
    flag_category = np.searchsorted(category_names, np.array([f.category for f in flags], dtype=object))
    meter_code, meter_names = pd.factorize(meters)  # codes in order of first appearance
    conc_code, conc_names = pd.factorize(pd.Series(concentrators, dtype=object).fillna(""))
    conc_names = np.asarray(conc_names, dtype=object)
    # a meter's first row is where its code first appears: there the running maximum of the codes grows
    first = meter_code > np.maximum.accumulate(np.concatenate(([-1], meter_code[:-1])))
    home = conc_code[first]  # per meter code
    worst = np.full(len(meter_names), len(SEVERITIES), dtype=np.int64)
    np.minimum.at(worst, meter_code, flag_rank[codes])
    _add_counts(
        by_severity, inventory, conc_names, home * len(SEVERITIES) + worst, np.array(SEVERITIES, dtype=object)
    )
    n_categories = len(category_names)
    seen = np.zeros(len(meter_names) * n_categories, dtype=bool)  # (meter, category) pairs, each once
    seen[meter_code.astype(np.int64) * n_categories + flag_category[codes]] = True
    pairs = np.flatnonzero(seen)
    keys = home[pairs // n_categories] * n_categories + pairs % n_categories
    _add_counts(by_category, inventory, conc_names, keys, category_names)
    return [by_severity, by_category]


def _add_counts(
    family: MetricFamily, inventory: Inventory, conc_names: np.ndarray, keys: np.ndarray, values: np.ndarray
) -> None:
    """Count `keys` (concentrator code * len(values) + value code) into (concentrator, comuna, value)."""
    counts = np.bincount(keys, minlength=len(conc_names) * len(values))
    present = np.flatnonzero(counts)
    concentrators = conc_names[present // len(values)]
    family.add_columns(
        [concentrators, inventory.concentrator_comuna(concentrators), values[present % len(values)]],
        counts[present].tolist(),
    )


def csw_families(cat: Catalogs, inventory: Inventory, csw: pd.DataFrame) -> list[MetricFamily]:
    word = gauge(
        "smmc_concentrator_status_word",
        "The raw 24-bit concentrator status word (CSW) of the newest report.",
        ["concentrator"],
    )
    condition = gauge(
        "smmc_concentrator_condition",
        "1 for each CSW flag in its alarm state (by the catalog's polarity) in the newest report.",
        ["concentrator", "comuna", "flag", "priority"],
    )
    reachable = gauge(
        "smmc_concentrator_reachable",
        "1 when the newest CSW report marks the concentrator reachable, else 0.",
        ["concentrator"],
    )
    stamp = gauge(
        "smmc_concentrator_status_word_timestamp_seconds",
        "When the concentrator last updated its status word (laststatuswordupdate_utc), Unix seconds.",
        ["concentrator"],
    )
    if len(csw):
        names = csw.index.to_numpy(dtype=object)
        values = csw["csw"].to_numpy()
        word.add_columns([names], values.tolist())
        reachable.add_columns([names], csw["reachable"].to_numpy().tolist())
        stamp.add_columns([names], csw["timestamp"].to_numpy().tolist())
        distinct = {int(v): cat.decode_csw(int(v)).alarms for v in np.unique(values)}
        alarmed = [(i, a) for i, v in enumerate(values.tolist()) for a in distinct[v]]
        if alarmed:
            rows = np.array([i for i, _ in alarmed])
            comunas = inventory.concentrator_comuna(names)
            condition.add_columns(
                [
                    names[rows],
                    comunas[rows],
                    [a.letter for _, a in alarmed],
                    [a.priority for _, a in alarmed],
                ],
                [1] * len(alarmed),
            )
    return [word, condition, reachable, stamp]


def _counter_family(
    counters: Counters, field: str, name: str, help_text: str, labels: Sequence[str]
) -> MetricFamily:
    family = counter(name, help_text, labels)
    values = counters.get(field)
    if len(values) < 1000 or not labels:
        family.add_many(sorted(values.items()))
        return family
    # many series (per concentrator and flag): sorted by label values in C, in the order of `sorted`
    # (UTF-8 byte order is code point order); a label tuple of the wrong length fails as in `add_many`
    keys = list(values)
    if any(len(k) != len(labels) for k in keys):
        family.add_many(sorted(values.items()))
        return family
    columns = [np.array(c, dtype=object) for c in zip(*keys, strict=True)]
    try:
        table = pa.table({f"l{i}": pa.array(c, type=pa.string()) for i, c in enumerate(columns)})
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a label value that is not a string: sorted in Python
        family.add_many(sorted(values.items()))
        return family
    sort_keys = [(f"l{i}", "ascending") for i in range(len(columns))]
    order = pc.sort_indices(table, sort_keys=sort_keys).to_numpy()
    counts = np.fromiter(values.values(), dtype=np.int64, count=len(keys))[order]
    family.add_columns([c[order] for c in columns], counts.tolist())
    return family


def counter_families(counters: Counters) -> list[MetricFamily]:
    return [
        _counter_family(
            counters,
            "meter_events",
            "smmc_meter_events_total",
            "SWE event rows ingested.",
            ["concentrator", "flag"],
        ),
        _counter_family(
            counters,
            "workorders",
            "smmc_workorders_total",
            "Work-order results ingested (HPE, LPE and the technical work-order report), by outcome.",
            ["source", "activity", "outcome"],
        ),
        _counter_family(
            counters,
            "workorder_errors",
            "smmc_workorder_errors_total",
            "Failed work orders by concentrator and the catalog's error category and maintenance rung.",
            ["concentrator", "category", "maintenance"],
        ),
        _counter_family(
            counters,
            "commissioning",
            "smmc_meter_commissioning_total",
            "Meter commissioning and decommissioning events (LPE).",
            ["event"],
        ),
        _counter_family(
            counters,
            "series_dropped",
            "smmc_series_dropped_total",
            "Series left out by a series limit, summed over every state build from an ingested file.",
            ["metric"],
        ),
        _counter_family(
            counters,
            "unlisted_bits",
            "smmc_meter_unlisted_bits_total",
            "Status-word rows with a set bit the catalog does not list, by word and bit.",
            ["word", "bit"],
        ),
    ]


def health_families(
    up: Mapping[str, int],
    counters: Counters,
    files_rejected: Mapping[str, int],
    inventory: Inventory,
    inventory_up: int,
    inventory_path: Path | None,
    shard: Shard | None = None,
) -> list[MetricFamily]:
    shard = shard or Shard()
    up_family = gauge(
        "smmc_source_up",
        "1 when the newest file of the kind was ingested (or the inventory loaded), 0 when it was set aside "
        "or none has arrived yet.",
        ["kind"],
    )
    for kind in kinds.KINDS:
        up_family.add([kind.name], up.get(kind.name, 0))
    if inventory_path is not None:
        up_family.add(["inventory"], inventory_up)
    last = gauge(
        "smmc_source_last_ingest_timestamp_seconds",
        "When a file of the kind was last ingested (or the inventory loaded), Unix seconds.",
        ["kind"],
    )
    for kind, ts in sorted(counters.last_ingest.items()):
        last.add([kind], ts)
    rows = counter("smmc_source_rows_total", "Rows ingested, by file kind.", ["kind"])
    for kind in kinds.KINDS:
        rows.add([kind.name], counters.rows.get((kind.name,), 0))
    rejected = counter(
        "smmc_source_rows_rejected_total", "Rows skipped, by file kind and reason.", ["kind", "reason"]
    )
    rejected.add_many(sorted(counters.rows_rejected.items()))
    files = counter(
        "smmc_source_files_rejected_total",
        "Files moved to rejected/ (unreadable, unrecognised, wrong header, no valid row), by kind.",
        ["kind"],
    )
    # registered at 0 (unrecognised files as "unknown" too) so the first rejection is an increase
    for kind in sorted({*(k.name for k in kinds.KINDS), "unknown", *files_rejected}):
        files.add([kind], files_rejected.get(kind, 0))
    inventory_rejected = gauge(
        "smmc_inventory_rows_rejected",
        "Rows of the loaded inventory that were skipped, by reason.",
        ["reason"],
    )
    if shard.owns_fleet_rows:  # every shard loads the same inventory: shard 0 reports its bad rows
        inventory_rejected.add_many(((r,), n) for r, n in sorted(inventory.rows_rejected.items()) if n)
    shard_index = gauge(
        "smmc_source_shard_index",
        "This exporter's shard index i of --shard i/n (0 when not sharded).",
    )
    shard_index.add([], shard.index)
    shard_count = gauge(
        "smmc_source_shards",
        "The number of shards n of --shard i/n the concentrators are split into (1 when not sharded).",
    )
    shard_count.add([], shard.count)
    return [up_family, last, rows, rejected, files, inventory_rejected, shard_index, shard_count]
