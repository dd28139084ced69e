"""Parse each SMMePlus file kind into typed, validated arrays in one vectorised pass.

Every column is factorised once; lookups, classifications and date parsing then run once per distinct
value (a 1,000,000-row SWE file has a handful of distinct event types and descriptions), and the result
is mapped back to the rows with numpy indexing. Rows that fail a check are dropped and counted by reason.
A reader raises `FileRejected` for a file it cannot use at all, before anything is folded into the state.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from exporters.core.inbox import FileRejected
from exporters.core.tabular import BLOCK_BYTES, TableError, TableStream, parse_timestamps, read_table
from smmc.catalogs import CatalogError, Catalogs

from .kinds import CSW, CSW_PIVOT_HEADER, HPE, LPE, MSW, SWE, TECHNICAL, Kind, canonical_columns
from .shard import Shard

WORDS = ("normal1", "normal2", "extended1", "extended2")
UNSPECIFIED = "unspecified"
SPANNING_LINES = "line_break_in_field"  # rows-rejected reason: a field holding a line break
_TRUE = frozenset({"true", "1", "yes", "y", "t", "si", "sí", "x", "checked", "verdadero"})
_FALSE = frozenset({"false", "0", "no", "n", "f", "", "unchecked", "falso"})
_ACRONYM = re.compile(r"\(\s*([A-Za-z0-9_]+)\s*\)\s*$")
_COMMISSIONING = re.compile(r"meter\s+(de)?commissioned", re.IGNORECASE)
_HEX = re.compile(r"(?:0[xX])?[0-9a-fA-F]{1,8}")


@dataclass
class Column:
    """A factorised string column: `codes` index `uniques` (stripped of surrounding blanks)."""

    codes: np.ndarray
    uniques: np.ndarray

    @classmethod
    def of(cls, series: pd.Series) -> Column:
        codes, uniques = pd.factorize(series, sort=False)
        stripped = pd.Index(uniques, dtype=object).astype(str).str.strip()
        recodes, cleaned = pd.factorize(stripped, sort=False)
        codes = recodes[codes] if len(recodes) else codes
        return cls(np.asarray(codes, dtype=np.int64), np.asarray(cleaned, dtype=object))

    def map(self, fn: Callable[[str], object], dtype: object = object) -> np.ndarray:
        """`fn` applied once per distinct value, spread back to every row."""
        mapped = np.array([fn(u) for u in self.uniques], dtype=dtype)
        return mapped[self.codes] if len(mapped) else np.empty(len(self.codes), dtype=dtype)

    def values(self) -> np.ndarray:
        return self.uniques[self.codes] if len(self.uniques) else np.empty(0, dtype=object)

    def timestamps(self, tz: str = "UTC") -> np.ndarray:
        parsed = parse_timestamps(pd.Series(self.uniques, dtype=object), tz=tz)
        return parsed[self.codes] if len(parsed) else np.empty(len(self.codes))


class Rejections:
    """Accumulates row rejections: a row is counted once, under the first reason that hits it."""

    def __init__(self, n: int, initial: Mapping[str, int] | None = None) -> None:
        self.bad = np.zeros(n, dtype=bool)
        self.counts: Counter[str] = Counter(initial or {})

    def reject(self, mask: np.ndarray, reason: str) -> None:
        new = mask & ~self.bad
        count = int(new.sum())
        if count:
            self.counts[reason] += count
            self.bad |= new

    @property
    def keep(self) -> np.ndarray:
        return ~self.bad

    def dates(self, column: pd.Series) -> np.ndarray:
        """The column as epoch seconds; a row whose date does not parse is rejected as `bad_date`."""
        ts = Column.of(column).timestamps()
        self.reject(np.isnan(ts), "bad_date")
        return ts

    def keep_rows(self, kind: Kind) -> np.ndarray:
        """The rows kept, or `FileRejected` when the file must be set aside (`_require_rows`)."""
        keep = self.keep
        _require_rows(kind, len(self.bad), int(keep.sum()), self.counts)
        return keep


def load_frame(path, kind: Kind) -> tuple[pd.DataFrame, Counter[str]]:
    """The file as a frame of strings with canonical column names, and its malformed-row count."""
    table, columns = _open_checked(lambda: read_table(path), kind)
    frame = table.frame
    frame.columns = _dedupe(columns)
    malformed = table.rows_malformed
    if table.header and table.header[0] == CSW_PIVOT_HEADER:
        # the pivot header's second line holds the first column's name alone: part of the header
        malformed -= sum(1 for e in table.malformed_examples if e.strip().lower() == "concentratorname")
        first = frame.columns[0]
        if len(frame) and frame[first].iat[0].strip().lower() == "concentratorname":
            frame = frame.iloc[1:].reset_index(drop=True)
    rejected: Counter[str] = Counter()
    if malformed:
        rejected["malformed"] = malformed
    if table.rows_line_break:
        rejected[SPANNING_LINES] = table.rows_line_break
    return frame, rejected


def _printable(text: str, limit: int = 300) -> str:
    """A header quoted in a reason file and a log line: control bytes shown as `?`, length capped."""
    shown = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return shown + ("..." if len(text) > limit else "")


def _dedupe(columns: list[str]) -> list[str]:
    seen: Counter[str] = Counter()
    out = []
    for c in columns:
        out.append(c if not seen[c] else f"{c}_{seen[c]}")
        seen[c] += 1
    return out


STATE_KINDS = frozenset({SWE.name, MSW.name, CSW.name})


def _require_rows(kind: Kind, total: int, kept: int, rejected: Counter[str]) -> None:
    """A file whose every row is bad is set aside: folding it would wipe the state it replaces. So is
    a header-only file of a kind that carries state (a failed export, not a fleet with nothing active);
    a header-only work-order report is a day without work orders."""
    if kept == 0 and (total or rejected):
        reasons = ", ".join(f"{r}={n}" for r, n in sorted(rejected.items()))
        raise FileRejected("no_valid_rows", f"no usable {kind.name} row ({reasons})")
    if kept == 0 and kind.name in STATE_KINDS:
        raise FileRejected(
            "no_valid_rows", f"a header and no {kind.name} row: the previous state is kept, not wiped"
        )


def _truthy(value: str) -> int:
    text = value.strip().lower()
    if text in _TRUE or ("checked" in text and "unchecked" not in text and "<input" in text):
        return 1
    if text in _FALSE or text.startswith("<input"):
        return 0
    return -1


# -- SWE: meter events and alarms ------------------------------------------------------------------
@dataclass
class SweDay:
    """An SWE file folded: per meter, per (meter, flag) and per (concentrator, flag), never per row."""

    rows: int  # rows kept
    rejected: Counter[str]
    concentrators: np.ndarray  # object: concentrator names
    meters: np.ndarray  # object: names of the meters with a kept row
    meter_rows: np.ndarray  # per meter: its kept rows
    meter_concentrator: np.ndarray  # per meter: index of the concentrator of its last row in the file
    events: np.ndarray  # (concentrator, flag) -> kept rows
    # the newest row of each (meter, flag): by date, the later row in the file on a tie
    newest_meter: np.ndarray
    newest_flag: np.ndarray
    newest_concentrator: np.ndarray
    newest_active: np.ndarray  # bool


def swe_flag_resolver(cat: Catalogs) -> Callable[[str, str], int]:
    """(event type code, description) -> index of the catalog meter flag, or -1 when neither the code
    (IEC 61968-9, via the catalog) nor the acronym in the description's trailing brackets names one."""
    index = {f.acronym.upper(): i for i, f in enumerate(cat.meter_flags)}

    def resolve(code: str, description: str) -> int:
        try:
            flag = cat.event_type(code).flag
        except (CatalogError, ValueError):
            flag = None
        if flag and flag.upper() in index:
            return index[flag.upper()]
        m = _ACRONYM.search(description)
        if m and m.group(1).upper() in index:
            return index[m.group(1).upper()]
        return -1

    return resolve


def read_swe(path, cat: Catalogs, block_size: int = BLOCK_BYTES) -> SweDay:
    """Stream an SWE file block by block into a `SweDay`: memory grows with the meters and
    concentrators it names, not with its rows."""
    stream, columns = open_stream(path, SWE, block_size)
    encoded = ("meter", "concentrator", "type", "description", "isactive", "date")
    stream.dictionary_columns = frozenset(columns[c] for c in encoded)
    resolve = swe_flag_resolver(cat)
    fold = stream.fold(lambda: SweFold(columns, resolve, len(cat.meter_flags)))
    rejected = _stream_rejections(stream)
    return fold.finish(rejected)


def open_stream(path, kind: Kind, block_size: int = BLOCK_BYTES) -> tuple[TableStream, dict[str, int]]:
    """The file's block stream and the position of each canonical column, or `FileRejected`."""
    stream, columns = _open_checked(lambda: TableStream(path, block_size=block_size), kind)
    return stream, {c: i for i, c in enumerate(_dedupe(columns))}


class _HasHeader(Protocol):
    @property
    def header(self) -> list[str]: ...


_Opened = TypeVar("_Opened", bound=_HasHeader)


def _open_checked(open_file: Callable[[], _Opened], kind: Kind) -> tuple[_Opened, list[str]]:
    """The file opened (read whole or as a stream) and its canonical column names; `FileRejected` when
    it cannot be read or its header lacks a column the kind requires."""
    try:
        opened = open_file()
    except TableError as exc:
        raise FileRejected("unreadable", str(exc)) from exc
    except UnicodeDecodeError as exc:
        raise FileRejected("bad_encoding", str(exc)) from exc
    columns = canonical_columns(opened.header)
    missing = sorted(kind.required - set(columns))
    if missing:
        raise FileRejected(
            "wrong_header",
            f"a {kind.name} file needs column(s) {', '.join(missing)}; "
            f"its header is {_printable(', '.join(opened.header))}",
        )
    return opened, columns


def _stream_rejections(stream: TableStream) -> Counter[str]:
    rejected: Counter[str] = Counter()
    if stream.rows_malformed:
        rejected["malformed"] = stream.rows_malformed
    if stream.rows_line_break:
        rejected[SPANNING_LINES] = stream.rows_line_break
    return rejected


def _encode(column: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Codes and distinct values of a string column (or a dictionary column, as the CSV reader makes
    them), in order of first appearance, values stripped of surrounding blanks."""
    if pa.types.is_dictionary(column.type):
        codes = column.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        uniques = column.dictionary
        if len(codes) and np.bincount(codes, minlength=len(uniques)).all():
            return _trimmed(codes, uniques)
        column = column.dictionary_decode()  # values of dropped rows only: encoded again, without them
    encoded = pc.dictionary_encode(column)
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return _trimmed(codes, encoded.dictionary)


def _trimmed(codes: np.ndarray, uniques: pa.Array) -> tuple[np.ndarray, pa.Array]:
    stripped = pc.utf8_trim_whitespace(uniques)
    if not stripped.equals(uniques):
        again = pc.dictionary_encode(stripped)
        codes = again.indices.to_numpy(zero_copy_only=False).astype(np.int64)[codes]
        uniques = again.dictionary
    return codes, uniques


class _Lookup:
    """A per-file cache: each distinct string is looked up (or parsed) once, whatever block it is in."""

    def __init__(self, fn: Callable[[list[str]], list], dtype: object) -> None:
        self.fn, self.dtype, self.seen = fn, dtype, {}

    def __call__(self, uniques: pa.Array) -> np.ndarray:
        values = uniques.to_pylist()
        new = [v for v in values if v not in self.seen]
        if new:
            self.seen.update(zip(new, self.fn(new), strict=True))
        return np.array([self.seen[v] for v in values], dtype=self.dtype)


def _hash_names(values: np.ndarray) -> np.ndarray:
    """64-bit hashes of an object array of strings, computed in C (pandas' SipHash, fixed key)."""
    return pd.util.hash_array(values, categorize=False)


class _Names:
    """Distinct names numbered in order of first appearance, across blocks.

    The names seen are kept as a sorted array of their 64-bit hashes (with each one's number): a block's
    distinct names are looked up with one `searchsorted`, not a Python dict operation per name. A hash
    that matches is confirmed by comparing the names; if two different names ever share a hash (about
    one chance in 10^8 for 400,000 names), numbering goes on through a dict, with the same numbers."""

    def __init__(self, hash_names: Callable[[np.ndarray], np.ndarray] = _hash_names) -> None:
        self.hash_names = hash_names
        self.hashes = np.empty(0, dtype=np.uint64)  # sorted
        self.hash_ids = np.empty(0, dtype=np.int64)  # the number of the name of each hash
        self.all = np.empty(0, dtype=object)  # by number (grows by doubling; `count` in use)
        self.count = 0
        self.ids: dict[str, int] | None = None  # the dict, once two names shared a hash

    def __call__(self, uniques: pa.Array) -> np.ndarray:
        """The number of each of a block's distinct names, numbering the new ones."""
        names = uniques.to_numpy(zero_copy_only=False)
        if self.ids is not None:
            return self._by_dict(names)
        hashes = self.hash_names(names)
        by_hash = np.argsort(hashes)  # looked up in hash order: the table is read in order
        hashes, values = hashes[by_hash], names[by_hash]
        at = np.searchsorted(self.hashes, hashes)
        found = at < len(self.hashes)
        found[found] = self.hashes[at[found]] == hashes[found]
        if (hashes[1:] == hashes[:-1]).any() or not np.array_equal(
            self.all[self.hash_ids[at[found]]], values[found]
        ):  # two of the block's names, or one and a name seen before, share a hash
            self.ids = dict(zip(self.all[: self.count].tolist(), range(self.count), strict=True))
            return self._by_dict(names)
        numbers = np.empty(len(values), dtype=np.int64)
        numbers[found] = self.hash_ids[at[found]]
        new = np.flatnonzero(~found)
        if len(new):
            # in order of first appearance: a block's distinct names are in the order they appear in it
            first = np.sort(by_hash[new])
            numbers_new = np.empty(len(by_hash), dtype=np.int64)
            numbers_new[first] = np.arange(self.count, self.count + len(new))
            numbers[new] = numbers_new[by_hash[new]]
            self._append(names[first])
            self.hashes = np.insert(self.hashes, at[new], hashes[new])
            self.hash_ids = np.insert(self.hash_ids, at[new], numbers[new])
        out = np.empty(len(values), dtype=np.int64)
        out[by_hash] = numbers
        return out

    def _append(self, names: np.ndarray) -> None:
        end = self.count + len(names)
        if end > len(self.all):
            grown = np.empty(max(end, 2 * len(self.all)), dtype=object)
            grown[: self.count] = self.all[: self.count]
            self.all = grown
        self.all[self.count : end] = names
        self.count = end

    def _by_dict(self, values: np.ndarray) -> np.ndarray:
        ids, out = self.ids, np.empty(len(values), dtype=np.int64)
        assert ids is not None
        new = []
        for i, name in enumerate(values.tolist()):
            number = ids.get(name)
            if number is None:
                number = ids[name] = len(ids)
                new.append(name)
            out[i] = number
        self._append(np.array(new, dtype=object))
        return out

    def __len__(self) -> int:
        return self.count

    def names(self) -> np.ndarray:
        return self.all[: self.count].copy()


def _grow(array: np.ndarray, size: int) -> np.ndarray:
    if size <= len(array):
        return array
    out = np.zeros(max(size, 2 * len(array)), dtype=array.dtype)
    out[: len(array)] = array
    return out


class SweFold:
    """Folds SWE blocks, in file order, into per-meter and per-(meter, flag) state (see `SweDay`)."""

    def __init__(self, columns: dict[str, int], resolve: Callable[[str, str], int], nflags: int) -> None:
        self.columns = columns
        self.nflags = nflags
        self.total = 0
        self.kept = 0
        self.rejected: Counter[str] = Counter()
        self.meter_names, self.concentrator_names = _Names(), _Names()
        self.types, self.descriptions = _Names(), _Names()
        self.pair_flag: dict[tuple[int, int], int] = {}
        self.resolve = resolve
        self.truthy = _Lookup(lambda vs: [_truthy(v) for v in vs], np.int8)
        self.dates = _Lookup(lambda vs: parse_timestamps(pd.Series(vs, dtype=object)).tolist(), np.float64)
        self.meter_rows = np.zeros(0, dtype=np.int64)
        self.meter_concentrator = np.zeros(0, dtype=np.int64)
        self.events = np.zeros(0, dtype=np.int64)  # concentrator * nflags + flag
        # the newest row per (meter, flag), sorted by key = meter * nflags + flag
        self.keys = np.zeros(0, dtype=np.int64)
        self.ts = np.zeros(0, dtype=np.float64)
        self.conc = np.zeros(0, dtype=np.int64)
        self.active = np.zeros(0, dtype=bool)
        self.size = 0  # of those arrays, the part in use (they grow by doubling)

    def _column(self, batch: pa.RecordBatch, name: str) -> tuple[np.ndarray, pa.Array]:
        return _encode(batch.column(self.columns[name]))

    def add(self, batch: pa.RecordBatch) -> None:
        n = batch.num_rows
        self.total += n
        rej = Rejections(n)
        m_codes, m_uniques = self._column(batch, "meter")
        c_codes, c_uniques = self._column(batch, "concentrator")
        empty_m = pc.equal(m_uniques, "").to_numpy(zero_copy_only=False)
        empty_c = pc.equal(c_uniques, "").to_numpy(zero_copy_only=False)
        rej.reject(empty_m[m_codes] | empty_c[c_codes], "missing_field")
        flags = self._flags(batch)
        rej.reject(flags < 0, "unknown_flag")
        a_codes, a_uniques = self._column(batch, "isactive")
        active = self.truthy(a_uniques)[a_codes]
        rej.reject(active < 0, "bad_isactive")
        d_codes, d_uniques = self._column(batch, "date")
        ts = self.dates(d_uniques)[d_codes]
        rej.reject(np.isnan(ts), "bad_date")
        self.rejected.update(rej.counts)
        keep = np.flatnonzero(rej.keep)
        if not len(keep):
            return
        self.kept += len(keep)
        local = m_codes[keep]  # the block's own meter numbers (its distinct names)
        ids = self.meter_names(m_uniques)  # -> the file's
        conc = self.concentrator_names(c_uniques)[c_codes[keep]]
        flags, active = flags[keep], active[keep] == 1
        nflags = self.nflags
        # every step below is linear in the block's rows: counts, and "last" and "newest" as maxima of
        # row positions, never a sort of the rows
        self.events = _grow(self.events, len(self.concentrator_names) * nflags)
        self.events += np.bincount(conc * nflags + flags, minlength=len(self.events))
        self.meter_rows = _grow(self.meter_rows, len(self.meter_names))
        self.meter_concentrator = _grow(self.meter_concentrator, len(self.meter_names))
        self.meter_rows[ids] += np.bincount(local, minlength=len(ids))
        last = np.full(len(ids), -1, dtype=np.int64)
        np.maximum.at(last, local, np.arange(len(local)))
        named = np.flatnonzero(last >= 0)
        self.meter_concentrator[ids[named]] = conc[last[named]]
        # the newest row of each (meter, flag): the greatest (date rank, position)
        dates = self.dates(d_uniques)
        _distinct, rank = np.unique(np.nan_to_num(dates, nan=-np.inf), return_inverse=True)
        order = rank.reshape(-1)[d_codes[keep]] * len(local) + np.arange(len(local))
        seen_flags = np.flatnonzero(np.bincount(flags, minlength=nflags))
        flag_slot = np.zeros(nflags, dtype=np.int64)
        flag_slot[seen_flags] = np.arange(len(seen_flags))
        slots = local * len(seen_flags) + flag_slot[flags]
        best = np.full(len(ids) * len(seen_flags), -1, dtype=np.int64)
        np.maximum.at(best, slots, order)
        present = np.flatnonzero(best >= 0)
        rows = best[present] % len(local)
        keys = ids[present // len(seen_flags)] * nflags + seen_flags[present % len(seen_flags)]
        by_key = np.argsort(keys)
        rows = rows[by_key]
        self._fold_newest(keys[by_key], ts[keep][rows], conc[rows], active[rows])

    def _flags(self, batch: pa.RecordBatch) -> np.ndarray:
        t_codes, t_uniques = self._column(batch, "type")
        d_codes, d_uniques = self._column(batch, "description")
        t_ids, d_ids = self.types(t_uniques), self.descriptions(d_uniques)
        types, descriptions = t_uniques.to_pylist(), d_uniques.to_pylist()
        width = max(len(d_uniques), 1)
        combined = t_codes * width + d_codes
        if len(t_uniques) * width <= 4 * len(combined) + 1024:  # the pairs seen, without a sort
            pair_codes = np.flatnonzero(np.bincount(combined, minlength=len(t_uniques) * width))
            pairs = np.zeros(len(t_uniques) * width, dtype=np.int64)
            pairs[pair_codes] = np.arange(len(pair_codes))
            pairs = pairs[combined]
        else:
            pair_codes, pairs = np.unique(combined, return_inverse=True)
        resolved = np.empty(len(pair_codes), dtype=np.int64)
        for i, p in enumerate(pair_codes.tolist()):
            key = (int(t_ids[p // width]), int(d_ids[p % width]))
            flag = self.pair_flag.get(key)
            if flag is None:
                flag = self.pair_flag[key] = self.resolve(types[p // width], descriptions[p % width])
            resolved[i] = flag
        return resolved[pairs.reshape(-1)]

    def _fold_newest(
        self, block_keys: np.ndarray, ts: np.ndarray, conc: np.ndarray, active: np.ndarray
    ) -> None:
        """The block's newest row per key (`block_keys` sorted, distinct; the block's rows are later than
        every row folded before) replaces the state's row of that key unless the state's is newer."""
        size = self.size
        at = np.searchsorted(self.keys[:size], block_keys)
        found = at < size
        found[found] = self.keys[at[found]] == block_keys[found]
        newer = found.copy()
        newer[found] = ts[found] >= self.ts[at[found]]
        target = at[newer]
        self.ts[target], self.conc[target], self.active[target] = ts[newer], conc[newer], active[newer]
        new = np.flatnonzero(~found)
        if not len(new):
            return
        # keys past the last one (a meter first seen in this block) are appended; others inserted
        tail = new[at[new] == size]
        middle = new[at[new] < size]
        if len(middle):
            where = at[middle]
            self.keys = np.insert(self.keys[:size], where, block_keys[middle])
            self.ts = np.insert(self.ts[:size], where, ts[middle])
            self.conc = np.insert(self.conc[:size], where, conc[middle])
            self.active = np.insert(self.active[:size], where, active[middle])
            size += len(middle)
        end = size + len(tail)
        self.keys, self.ts = _grow(self.keys, end), _grow(self.ts, end)
        self.conc, self.active = _grow(self.conc, end), _grow(self.active, end)
        self.keys[size:end], self.ts[size:end] = block_keys[tail], ts[tail]
        self.conc[size:end], self.active[size:end] = conc[tail], active[tail]
        self.size = end

    def finish(self, rejected: Counter[str]) -> SweDay:
        rejected.update(self.rejected)
        _require_rows(SWE, self.total, self.kept, rejected)
        size, nflags = len(self.meter_names), self.nflags
        rows = self.meter_rows[:size]
        with_rows = np.flatnonzero(rows)  # a meter named only by rejected rows is not a meter of the day
        renumber = np.full(size, -1, dtype=np.int64)
        renumber[with_rows] = np.arange(len(with_rows))
        concentrators = self.concentrator_names.names()
        return SweDay(
            rows=self.kept,
            rejected=rejected,
            concentrators=concentrators,
            meters=self.meter_names.names()[with_rows],
            meter_rows=rows[with_rows],
            meter_concentrator=self.meter_concentrator[with_rows],
            events=_grow(self.events, len(concentrators) * nflags)[: len(concentrators) * nflags].reshape(
                len(concentrators), nflags
            ),
            newest_meter=renumber[self.keys[: self.size] // nflags],
            newest_flag=self.keys[: self.size] % nflags,
            newest_concentrator=self.conc[: self.size],
            newest_active=self.active[: self.size],
        )


# -- MeterStatusWords: four 16-bit words per meter -------------------------------------------------
@dataclass
class MswBatch:
    rows: int
    rejected: Counter[str]
    meters: np.ndarray
    concentrators: np.ndarray
    timestamps: np.ndarray
    words: dict[str, np.ndarray]  # word -> uint16 per row


def _hex16(text: str) -> int:
    if not _HEX.fullmatch(text):
        return -1
    value = int(text, 16)
    return value if value <= 0xFFFF else -1


def read_msw(path) -> MswBatch:
    frame, malformed = load_frame(path, MSW)
    n = len(frame)
    rej = Rejections(n, malformed)
    meter, conc = Column.of(frame["meter"]), Column.of(frame["concentrator"])
    rej.reject(meter.map(lambda v: v == "", bool) | conc.map(lambda v: v == "", bool), "missing_field")
    words = {w: Column.of(frame[w]).map(_hex16, np.int64) for w in WORDS}
    for values in words.values():
        rej.reject(values < 0, "bad_status_word")
    ts = rej.dates(frame["timestamp"])
    keep = rej.keep_rows(MSW)
    kept = int(keep.sum())
    return MswBatch(
        rows=kept,
        rejected=rej.counts,
        meters=meter.values()[keep],
        concentrators=conc.values()[keep],
        timestamps=ts[keep],
        words={w: v[keep].astype(np.uint16) for w, v in words.items()},
    )


# -- HPE, LPE and the technical work-order report --------------------------------------------------
@dataclass(frozen=True)
class WoResult:
    activity: str
    outcome: str  # ok | error
    category: str
    maintenance: str
    commissioning: str | None  # commissioned | decommissioned (LPE)


@dataclass
class WoBatch:
    source: str  # hpe | lpe | technical
    rows: int
    rejected: Counter[str]
    workorders: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (source, activity, outcome)
    errors: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (concentrator, category, maint)
    commissioning: Counter[str] = field(default_factory=Counter)


def activity_label(text: str | None) -> str:
    """`READ_METER_MACADDRESS` / `Concentrator Modification` -> `read_meter_macaddress` /
    `concentrator_modification`: one spelling for the label whatever report it came from."""
    if not text or not text.strip():
        return UNSPECIFIED
    return re.sub(r"[^0-9a-z]+", "_", text.strip().lower()).strip("_") or UNSPECIFIED


def event_result(cat: Catalogs, description: str) -> WoResult:
    """An HPE/LPE description: a commissioning event, "OK", or an error the catalog classifies."""
    m = _COMMISSIONING.fullmatch(description.strip())
    if m:
        event = "decommissioned" if m.group(1) else "commissioned"
        activity = "decommissioning" if m.group(1) else "commissioning"
        return WoResult(activity, "ok", "ok", "none", event)
    match = cat.classify_wo_error(description)
    activity = match.activity
    if activity is None and "commission" in match.detail.lower():
        activity = "decommissioning" if "decommission" in match.detail.lower() else "commissioning"
    return WoResult(activity_label(activity), match.outcome, match.category, match.maintenance, None)


def _aggregate(
    source: str,
    n: int,
    rej: Rejections,
    conc: Column,
    result_codes: np.ndarray,
    results: list[WoResult],
    shard: Shard | None = None,
) -> WoBatch:
    valid = rej.keep
    keep = valid
    if shard is not None and not shard.whole:
        keep = valid & shard.mask(conc.uniques)[conc.codes]
    kept = int(keep.sum())
    batch = WoBatch(source=source, rows=kept, rejected=rej.counts)
    codes = result_codes[keep]
    counts = np.bincount(codes, minlength=len(results)) if len(results) else np.zeros(0, dtype=np.int64)
    # a shard also registers, at 0, the label sets the whole file has: each shard's series is then born
    # with the unsharded one, and increase() summed over the shards equals the unsharded increase
    in_file = counts if keep is valid else np.bincount(result_codes[valid], minlength=len(results))
    for result, count, seen in zip(results, counts, in_file, strict=True):
        if seen:
            batch.workorders[(source, result.activity, result.outcome)] += int(count)
            if result.commissioning:
                batch.commissioning[result.commissioning] += int(count)
    is_error = np.array([r.outcome == "error" for r in results], dtype=bool)
    if len(results):
        error_rows = is_error[codes]
        conc_codes = conc.codes[keep][error_rows]
        # group errors by (concentrator, category, maintenance) without a per-row Python loop
        cm_codes, cms = pd.factorize(pd.Index([(r.category, r.maintenance) for r in results]))
        cm = cm_codes[codes[error_rows]]
        combined = conc_codes * max(len(cms), 1) + cm
        keys, n_per_key = np.unique(combined, return_counts=True)
        width = max(len(cms), 1)
        for key, count in zip(keys.tolist(), n_per_key.tolist(), strict=True):
            category, maintenance = cms[key % width]
            batch.errors[(conc.uniques[key // width], category, maintenance)] += count
    return batch


def read_events(path, kind: Kind, cat: Catalogs, shard: Shard | None = None) -> WoBatch:
    """HPE or LPE: one row per work-order result or event; with `shard`, only its concentrators' rows
    are counted (the file is validated whole)."""
    assert kind in (HPE, LPE)
    frame, malformed = load_frame(path, kind)
    n = len(frame)
    rej = Rejections(n, malformed)
    conc = Column.of(frame["concentrator"])
    rej.reject(conc.map(lambda v: v == "", bool), "missing_field")
    rej.dates(frame["date"])
    descriptions = Column.of(frame["description"])
    rej.reject(descriptions.map(lambda v: v == "", bool), "missing_field")
    results = [event_result(cat, d) for d in descriptions.uniques]
    rej.keep_rows(kind)
    return _aggregate(kind.name, n, rej, conc, descriptions.codes, results, shard)


def read_technical(path, cat: Catalogs, shard: Shard | None = None) -> WoBatch:
    frame, malformed = load_frame(path, TECHNICAL)
    n = len(frame)
    rej = Rejections(n, malformed)
    conc = Column.of(frame["concentrator"])
    rej.reject(conc.map(lambda v: v == "", bool), "missing_field")
    is_error = Column.of(frame["is_error"]).map(_truthy, np.int8)
    rej.reject(is_error < 0, "bad_is_error")
    end = frame["enddate_utc"] if "enddate_utc" in frame else frame.get("startdate_utc")
    if end is not None:
        rej.dates(end)
    activities = Column.of(frame["activity_type"])
    errors = Column.of(frame["error_description"])
    # one result per distinct (activity, is_error, error text) triple
    na, ne = max(len(activities.uniques), 1), max(len(errors.uniques), 1)
    triple = (activities.codes * ne + errors.codes) * 2 + (is_error == 1)
    triple_codes, triples = pd.factorize(triple)
    results = []
    for t in triples.tolist():
        failed, rest = t % 2, t // 2
        activity = activity_label(activities.uniques[rest // ne] if rest // ne < na else "")
        if failed:
            match = cat.classify_wo_error(errors.uniques[rest % ne])
            results.append(WoResult(activity, "error", match.category, match.maintenance, None))
        else:
            results.append(WoResult(activity, "ok", "ok", "none", None))
    rej.keep_rows(TECHNICAL)
    codes = np.asarray(triple_codes, dtype=np.int64)
    return _aggregate("technical", n, rej, conc, codes, results, shard)


# -- ConcentratorStatusWordAnalyzedReport ----------------------------------------------------------
@dataclass
class CswBatch:
    rows: int
    rejected: Counter[str]
    frame: pd.DataFrame  # index concentrator; columns csw (int), reachable (int), timestamp (float)


def read_csw(path, cat: Catalogs) -> CswBatch:
    frame, malformed = load_frame(path, CSW)
    n = len(frame)
    rej = Rejections(n, malformed)
    conc = Column.of(frame["concentratorname"])
    rej.reject(conc.map(lambda v: v == "", bool), "missing_field")

    def word(text: str) -> int:
        try:
            return cat.decode_csw(text).value
        except (ValueError, CatalogError):
            return -1

    csw = Column.of(frame["csw"]).map(word, np.int64)
    rej.reject(csw < 0, "bad_csw")
    reachable = Column.of(frame["isreachable"]).map(_truthy, np.int8)
    rej.reject(reachable < 0, "bad_isreachable")
    ts = rej.dates(frame["laststatuswordupdate_utc"])
    keep = rej.keep_rows(CSW)
    out = pd.DataFrame(
        {"csw": csw[keep], "reachable": reachable[keep].astype(np.int64), "timestamp": ts[keep]},
        index=pd.Index(conc.values()[keep], name="concentrator"),
    )
    duplicated = out.index.duplicated(keep="last")
    if duplicated.any():
        rej.counts["duplicate"] += int(duplicated.sum())
        out = out[~duplicated]
    return CswBatch(rows=len(out), rejected=rej.counts, frame=out)
