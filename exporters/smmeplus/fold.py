"""The SMMePlus source: folds each ingested file into the exporter's state and publishes its metrics.

State metrics show the newest file of each kind; counters count each row once, across restarts (their
state is persisted in the inbox ledger with every ingested file, see `exporters.core.inbox`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from exporters.core.exposition import Exposition
from exporters.core.inbox import FileRejected, IngestOutcome
from smmc.catalogs import Catalogs

from . import kinds, metrics
from . import read as readers
from .inventory import Inventory, InventoryError, load_inventory
from .shard import Shard

log = logging.getLogger(__name__)

FLAG_ACTIVE_METRIC = "smmc_meter_flag_active"
DEFAULT_PER_METER_SERIES_LIMIT = 10_000
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
_SEP = "\t"


class Counters:
    """The source's cumulative counters, keyed by label-value tuples; JSON round-trip for the ledger."""

    FIELDS = (
        "rows",  # (kind,)
        "rows_rejected",  # (kind, reason)
        "meter_events",  # (concentrator, flag)
        "workorders",  # (source, activity, outcome)
        "workorder_errors",  # (concentrator, category, maintenance)
        "commissioning",  # (event,)
        "series_dropped",  # (metric,)
        "unlisted_bits",  # (word, bit)
    )

    def __init__(self) -> None:
        for name in self.FIELDS:
            setattr(self, name, Counter())
        self.last_ingest: dict[str, float] = {}

    def get(self, name: str) -> Counter[tuple[str, ...]]:
        return getattr(self, name)

    def add(self, name: str, counts: Mapping[Any, int]) -> None:
        target = self.get(name)
        for key, n in counts.items():  # an explicit 0 registers the series (a shard's share may be 0)
            target[key if isinstance(key, tuple) else (key,)] += int(n)

    def to_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            name: {_SEP.join(k): n for k, n in self.get(name).items()} for name in self.FIELDS
        }
        state["last_ingest"] = dict(self.last_ingest)
        return state

    def restore(self, state: Mapping[str, Any]) -> None:
        for name in self.FIELDS:
            self.get(name).clear()
            for key, n in (state.get(name) or {}).items():
                self.get(name)[tuple(key.split(_SEP))] = int(n)
        self.last_ingest = {k: float(v) for k, v in (state.get("last_ingest") or {}).items()}


@dataclass
class FlagRows:
    """Active (meter, concentrator, flag) rows. Names are object arrays that share their `str` objects
    with the state they came from, so taking rows copies references, never text."""

    meters: np.ndarray
    concentrators: np.ndarray
    flags: np.ndarray  # index into the catalog's meter flags

    @classmethod
    def empty(cls) -> FlagRows:
        return cls(np.empty(0, dtype=object), np.empty(0, dtype=object), np.empty(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.flags)

    def take(self, rows: np.ndarray) -> FlagRows:
        return FlagRows(self.meters[rows], self.concentrators[rows], self.flags[rows])

    @classmethod
    def concat(cls, parts: list[FlagRows]) -> FlagRows:
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.meters for p in parts]),
            np.concatenate([p.concentrators for p in parts]),
            np.concatenate([p.flags for p in parts]).astype(np.int64),
        )


@dataclass
class MeterRows:
    """The meters of the newest SWE file: the concentrator of each one's last row (an index into
    `concentrator_names`) and its row count."""

    meters: np.ndarray
    concentrator: np.ndarray
    concentrator_names: np.ndarray
    rows: np.ndarray

    @classmethod
    def empty(cls) -> MeterRows:
        nothing = np.empty(0, dtype=object)
        return cls(nothing, np.empty(0, dtype=np.int64), nothing, np.empty(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.rows)


def _last_per_key(keys: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """Row indices of the newest row per key: by timestamp, the later row in the file on a tie."""
    order = np.argsort(timestamps, kind="stable")[::-1]
    _, first = np.unique(keys[order], return_index=True)
    return order[first]


def _first(keys: np.ndarray, limit: int) -> np.ndarray:
    """Indices of the `limit` smallest rows of `keys` (a sort key per row: a tuple of label arrays,
    the first an int64 array), in that order, comparing the other arrays only among the rows that the
    first one cannot separate. Nothing is computed for the rows beyond the limit but their first key."""
    primary = keys[0]
    if limit <= 0:
        return np.empty(0, dtype=np.int64)
    cut = np.partition(primary, limit - 1)[limit - 1]
    rows = np.flatnonzero(primary <= cut)
    table = pa.table({f"k{i}": pa.array(k[rows]) for i, k in enumerate(keys)})
    order = pc.select_k_unstable(
        table, limit, sort_keys=[(f"k{i}", "ascending") for i in range(len(keys))]
    ).to_numpy()
    return rows[order]


class SmmePlusSource:
    """Implements `exporters.core.inbox.InboxSource` and owns the exporter's exposition parts."""

    def __init__(
        self,
        catalogs: Catalogs,
        exposition: Exposition,
        inventory_path: str | Path | None = None,
        per_meter_series_limit: int = DEFAULT_PER_METER_SERIES_LIMIT,
        shard: Shard | None = None,
    ) -> None:
        self.cat = catalogs
        self.shard = shard or Shard()
        self.flags = catalogs.meter_flags
        self.exposition = exposition
        self.inventory_path = Path(inventory_path) if inventory_path else None
        self.per_meter_series_limit = per_meter_series_limit
        self.counters = Counters()
        self.inventory = Inventory.empty()
        self.inventory_up = 0
        self._inventory_signature: tuple | None = None
        self.files_rejected: Mapping[str, int] = Counter()
        self.up: dict[str, int] = {k.name: 0 for k in kinds.KINDS}
        self.swe_active = FlagRows.empty()
        self.msw_active = FlagRows.empty()
        self.swe_meters = MeterRows.empty()
        self.csw = pd.DataFrame({"csw": [], "reachable": [], "timestamp": []}, index=pd.Index([]))
        self._lock = threading.RLock()
        self._per_meter = np.array([f.per_meter for f in self.flags], dtype=bool)
        self._severity = np.array([SEVERITY_RANK.get(f.severity, 3) for f in self.flags], dtype=np.int64)

    # -- InboxSource ----------------------------------------------------------------------------
    def classify(self, path: Path) -> str | None:
        kind = kinds.classify(path)
        return kind.name if kind else None

    def ingest(self, kind: str, path: Path, *, replay: bool) -> IngestOutcome:
        with self._lock:
            if kind not in kinds.BY_NAME:
                raise FileRejected("unrecognised", f"unknown kind {kind!r}")
            handler = getattr(self, f"_ingest_{kind}")
            rows, rejected = handler(Path(path), replay)
            if not self.shard.owns_fleet_rows:
                rejected = Counter()  # every shard reads the same file: shard 0 reports its bad rows
            self.up[kind] = 1
            if not replay:
                self.counters.add("rows", {(kind,): rows})
                self.counters.add("rows_rejected", {(kind, r): n for r, n in rejected.items()})
                self.counters.last_ingest[kind] = time.time()
            self.publish_health()
            return IngestOutcome(rows=rows, rejected=dict(rejected))

    def counter_state(self) -> dict[str, Any]:
        return self.counters.to_state()

    def restore_counter_state(self, state: dict[str, Any]) -> None:
        with self._lock:
            self.counters.restore(state)
            for kind in self.counters.last_ingest:
                if kind in self.up:
                    self.up[kind] = 1

    def on_files_rejected(self, counts: Mapping[str, int], kind: str | None) -> None:
        """The inbox set aside a file of `kind` (that kind's newest input is unusable), or restored its
        `counts` of files set aside at start-up (`kind` None)."""
        with self._lock:
            self.files_rejected = dict(counts)
            if kind in self.up:
                self.up[kind] = 0
            self.publish_health()

    # -- the kinds --------------------------------------------------------------------------------
    def _ingest_swe(self, path: Path, replay: bool) -> tuple[int, Counter[str]]:
        day = readers.read_swe(path, self.cat)
        owned = self.shard.mask(day.concentrators)  # per concentrator
        shown = np.flatnonzero(day.newest_active & owned[day.newest_concentrator])
        self.swe_active = FlagRows(
            day.meters[day.newest_meter[shown]],
            day.concentrators[day.newest_concentrator[shown]],
            day.newest_flag[shown],
        )
        # a meter (and all its rows) goes with the concentrator of its last row, as in the unsharded fold
        mine = np.flatnonzero(owned[day.meter_concentrator])
        self.swe_meters = MeterRows(
            day.meters[mine], day.meter_concentrator[mine], day.concentrators, day.meter_rows[mine]
        )
        events = day.events * owned[:, None]
        if not replay:
            conc, flag = np.nonzero(events)
            self.counters.add(
                "meter_events",
                {
                    (day.concentrators[c], self.flags[f].acronym): n
                    for c, f, n in zip(conc.tolist(), flag.tolist(), events[conc, flag].tolist(), strict=True)
                },
            )
        self.publish_meters(count_dropped=not replay)
        return int(events.sum()), day.rejected

    def _ingest_msw(self, path: Path, replay: bool) -> tuple[int, Counter[str]]:
        batch = readers.read_msw(path)
        owned = self.shard.mask(batch.concentrators)
        meter_codes, _names = pd.factorize(batch.meters)
        newest = _last_per_key(meter_codes.astype(np.int64), batch.timestamps)
        newest = newest[owned[newest]]
        parts = []
        for i, flag in enumerate(self.flags):
            bits = (batch.words[flag.word][newest] >> flag.bit) & 1
            rows = newest[bits == 1]
            if len(rows):
                parts.append(FlagRows(batch.meters[rows], batch.concentrators[rows], np.full(len(rows), i)))
        self.msw_active = FlagRows.concat(parts)
        if not replay:
            unlisted: Counter[tuple[str, str]] = Counter()
            for word in readers.WORDS:
                listed = sum(1 << f.bit for f in self.flags if f.word == word)
                values = batch.words[word]
                for bit in range(16):
                    if not (listed >> bit) & 1:
                        is_set = ((values >> bit) & 1).astype(bool)
                        if is_set.any():  # registered at 0 by a shard without such a row (see readers)
                            unlisted[(word, str(bit))] += int(is_set[owned].sum())
            self.counters.add("unlisted_bits", unlisted)
        self.publish_meters(count_dropped=not replay)
        return int(owned.sum()), batch.rejected

    def _fold_workorders(self, batch: readers.WoBatch, replay: bool) -> tuple[int, Counter[str]]:
        if not replay:
            self.counters.add("workorders", batch.workorders)
            self.counters.add("workorder_errors", batch.errors)
            self.counters.add("commissioning", batch.commissioning)
            self.publish_counters()
        return batch.rows, batch.rejected

    def _ingest_hpe(self, path: Path, replay: bool) -> tuple[int, Counter[str]]:
        return self._fold_workorders(readers.read_events(path, kinds.HPE, self.cat, self.shard), replay)

    def _ingest_lpe(self, path: Path, replay: bool) -> tuple[int, Counter[str]]:
        return self._fold_workorders(readers.read_events(path, kinds.LPE, self.cat, self.shard), replay)

    def _ingest_technical(self, path: Path, replay: bool) -> tuple[int, Counter[str]]:
        return self._fold_workorders(readers.read_technical(path, self.cat, self.shard), replay)

    def _ingest_csw(self, path: Path, replay: bool) -> tuple[int, Counter[str]]:
        batch = readers.read_csw(path, self.cat)
        self.csw = batch.frame if self.shard.whole else batch.frame[self.shard.mask(batch.frame.index)]
        self.publish_csw()
        return len(self.csw), batch.rejected

    # -- inventory ------------------------------------------------------------------------------
    def _inventory_files(self) -> list[Path]:
        if self.inventory_path is None:
            return []
        if self.inventory_path.is_dir():
            return [self.inventory_path / n for n in ("concentrators.csv", "meters.csv")]
        return [self.inventory_path]

    def refresh_inventory(self, force: bool = False) -> bool:
        """(Re)load the inventory when its files changed. A broken inventory keeps the last good one."""
        if self.inventory_path is None:
            return False
        signature = []
        for f in self._inventory_files():
            try:
                st = f.stat()
                signature.append((str(f), st.st_size, st.st_mtime_ns))
            except FileNotFoundError:
                signature.append((str(f), -1, -1))
        sig = tuple(signature)
        if not force and sig == self._inventory_signature:
            return False
        self._inventory_signature = sig
        try:
            inventory = load_inventory(self.inventory_path)
        except (InventoryError, OSError, ValueError) as exc:
            log.error("inventory %s not loaded: %s", self.inventory_path, exc)
            with self._lock:
                self.inventory_up = 0
                self.publish_health()
            return False
        with self._lock:
            self.inventory = inventory
            self.inventory_up = 1
            self.counters.last_ingest["inventory"] = inventory.loaded_at
            log.info(
                "inventory: %d concentrators, %d meters, %d rows rejected",
                len(inventory.concentrators),
                len(inventory.meters),
                sum(inventory.rows_rejected.values()),
            )
            self.publish_inventory()
            self.publish_meters(count_dropped=False)
            self.publish_csw()
            self.publish_health()
        return True

    # -- publishing -----------------------------------------------------------------------------
    def publish_all(self) -> None:
        with self._lock:
            # the same in every shard: exposed once, by shard 0, so joins on it never meet duplicates
            catalog = metrics.catalog_families(self.cat) if self.shard.owns_fleet_rows else []
            self.exposition.publish("0_catalog", catalog)
            self.publish_inventory()
            self.publish_meters(count_dropped=False)
            self.publish_csw()
            self.publish_counters()
            self.publish_health()

    def publish_inventory(self) -> None:
        self.exposition.publish("1_inventory", metrics.inventory_families(self.shard_inventory()))

    def shard_inventory(self) -> Inventory:
        """The inventory rows this shard exposes: its concentrators, and the meters under them (a meter
        without a concentrator goes to shard 0). Lookups (comuna of a meter) use the whole inventory."""
        if self.shard.whole:
            return self.inventory
        inv = self.inventory
        return Inventory(
            inv.concentrators[self.shard.mask(inv.concentrators.index)],
            inv.meters[self.shard.mask(inv.meters["concentrator"].to_numpy(dtype=object))],
            inv.sources,
            inv.rows_rejected,
            inv.loaded_at,
        )

    def active_flags(self) -> FlagRows:
        """Union of the newest SWE and status-word states: one row per (meter, flag), the SWE row first."""
        frames = [f for f in (self.swe_active, self.msw_active) if len(f)]
        if len(frames) < 2:
            return frames[0] if frames else FlagRows.empty()
        both = FlagRows.concat(frames)
        meter_codes, _meters = pd.factorize(both.meters)
        _keys, first = np.unique(meter_codes * len(self.flags) + both.flags, return_index=True)
        return both.take(np.sort(first))

    def per_meter_rows(self, active: FlagRows) -> tuple[FlagRows, int]:
        """The per-meter flag rows to expose, at most the limit: the most severe first, then by
        concentrator, meter and flag; and how many were left out. The rows past the limit are ranked by
        severity and concentrator only: no series, label or string comparison is made for them."""
        per_meter = active.take(np.flatnonzero(self._per_meter[active.flags]))
        limit = self.per_meter_series_limit
        if len(per_meter) <= limit:
            return per_meter, 0
        conc_codes, concs = pd.factorize(per_meter.concentrators)
        conc_rank = np.empty(len(concs), dtype=np.int64)
        conc_rank[np.argsort(np.asarray(concs, dtype=object), kind="stable")] = np.arange(len(concs))
        primary = self._severity[per_meter.flags] * max(len(concs), 1) + conc_rank[conc_codes]
        kept = _first((primary, per_meter.meters, per_meter.flags), limit)
        return per_meter.take(kept), len(per_meter) - len(kept)

    def publish_meters(self, count_dropped: bool) -> None:
        active = self.active_flags()
        kept, dropped = self.per_meter_rows(active)
        if dropped and count_dropped:
            self.counters.add("series_dropped", {(FLAG_ACTIVE_METRIC,): dropped})
            log.warning(
                "%s: %d series over the limit of %d not exposed",
                FLAG_ACTIVE_METRIC,
                dropped,
                self.per_meter_series_limit,
            )
        families = metrics.meter_families(self.flags, self.inventory, active, kept, self.swe_meters)
        self.exposition.publish("2_meters", families)
        if count_dropped:
            self.publish_counters()

    def publish_csw(self) -> None:
        self.exposition.publish("3_concentrators", metrics.csw_families(self.cat, self.inventory, self.csw))

    def publish_counters(self) -> None:
        self.exposition.publish("4_counters", metrics.counter_families(self.counters))

    def publish_health(self) -> None:
        self.exposition.publish(
            "5_health",
            metrics.health_families(
                self.up,
                self.counters,
                self.files_rejected,
                self.inventory,
                self.inventory_up,
                self.inventory_path,
                self.shard,
            ),
        )
