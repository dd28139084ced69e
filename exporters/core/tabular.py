"""Reading the head-end's delimited text files: encoding, delimiter, header and dates.

SMMePlus and Cloudera files arrive as tab, comma or semicolon separated text, in UTF-8 or Latin-1,
with header names in any case. `TableStream` parses a file block by block (pyarrow's streaming CSV
reader) into record batches of strings with normalised column names, counting malformed rows instead of
failing on them; `read_table` collects those blocks into one DataFrame for files small enough to hold.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

_DELIMITERS = ("\t", ";", ",")
_SNIFF_BYTES = 64 * 1024


class TableError(Exception):
    """The file cannot be read as a table at all (empty, no header, undecodable)."""


@dataclass
class Table:
    frame: pd.DataFrame
    delimiter: str
    encoding: str
    header: list[str]
    rows_malformed: int = 0
    malformed_examples: list[str] = field(default_factory=list)
    # rows whose quoted field held a line break: the producers write one row per line, so such a row is
    # an unbalanced quote that swallowed the lines after it; dropped, and the lines it covered counted
    rows_line_break: int = 0


def normalise_header(name: str) -> str:
    """`  StartDate UTC ` -> `startdate_utc`."""
    return re.sub(r"[\s\-]+", "_", name.strip().strip('"').strip().lower())


def sniff_encoding(head: bytes) -> str:
    """UTF-8 when the bytes decode as UTF-8 (a BOM is dropped), else Latin-1 (which decodes anything)."""
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # a multi-byte character cut by the sniff window is still UTF-8
        if exc.start >= len(head) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"
        return "latin-1"


def sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    if counts[best] == 0:
        raise TableError("the header has no tab, semicolon or comma separator")
    return best


def read_header(path: Path) -> tuple[list[str], str, str]:
    """The normalised header, the delimiter and the encoding, from the first bytes of a file."""
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if not head.strip():
        raise TableError("the file is empty")
    encoding = sniff_encoding(head)
    text = head.decode(encoding, errors="replace").lstrip("\ufeff")
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    if "\x00" in first_line:
        raise TableError(
            "binary content (NUL bytes in the header): not UTF-8 or Latin-1 text (UTF-16 is not read)"
        )
    delimiter = sniff_delimiter(first_line)
    return [normalise_header(h) for h in first_line.split(delimiter)], delimiter, encoding


def read_table(path: Path, required: set[str] | None = None, max_examples: int = 5) -> Table:
    """Parse a whole delimited file into strings. Rows with the wrong number of fields are counted
    and skipped; a missing required column is a `TableError` naming the columns."""
    stream = TableStream(path, required, max_examples=max_examples)
    blocks = stream.fold(_Collect)
    table = pa.Table.from_batches(blocks.batches, schema=stream.schema)
    frame = table.to_pandas(types_mapper=None)
    frame.columns = stream.names
    return Table(
        frame=frame,
        delimiter=stream.delimiter,
        encoding=stream.encoding,
        header=stream.header,
        rows_malformed=stream.rows_malformed,
        malformed_examples=stream.malformed_examples,
        rows_line_break=stream.rows_line_break,
    )


class _Collect:
    def __init__(self) -> None:
        self.batches: list[pa.RecordBatch] = []

    def add(self, batch: pa.RecordBatch) -> None:
        self.batches.append(batch)


class BlockFold(Protocol):
    def add(self, batch: pa.RecordBatch) -> None: ...


F = TypeVar("F", bound=BlockFold)

# Bytes of the file read and parsed at a time: the memory a streamed file needs beyond its folded state
# (the chunk, its table of strings, and what a fold makes of one block), whatever the file's size.
BLOCK_BYTES = 4 << 20
# pyarrow parses a chunk in blocks of this size on its threads; a line longer than that (rare) makes
# the chunk be parsed again as one block.
_PARSE_BLOCK = 1 << 20
_DICTIONARY = pa.dictionary(pa.int32(), pa.string())


class TableStream:
    """A delimited file read a chunk of whole lines at a time, each parsed by pyarrow's CSV reader into a
    record batch of strings named `names`: memory bounded by a chunk, not by the file.

    The header is read (and `required` checked) when the stream is made; `batches` then parses the rest.
    Rows with the wrong number of fields are counted and skipped (`rows_malformed`); rows with a line
    break inside a quoted field are dropped and the input lines they covered counted (`rows_line_break`):
    the producers write one row per line, so such a row is an unbalanced quote that swallowed the lines
    after it. Undecodable bytes in a UTF-8 file become U+FFFD, the row is kept. A chunk ends at a line
    end (a line longer than a chunk makes that chunk longer), so every fix applies to the chunk alone.
    """

    def __init__(
        self,
        path: Path,
        required: set[str] | None = None,
        block_size: int = BLOCK_BYTES,
        max_examples: int = 5,
    ) -> None:
        self.path = Path(path)
        self.header, self.delimiter, self.encoding = read_header(self.path)
        if required:
            missing = sorted(required - set(self.header))
            if missing:
                raise TableError(
                    f"missing column(s) {', '.join(missing)}; header is {', '.join(self.header)}"
                )
        self.names = _unique(self.header)
        self.schema = pa.schema([(n, pa.string()) for n in self.names])
        # columns (by position) parsed straight into dictionary arrays (codes into the block's distinct
        # values, in order of first appearance): a fold that numbers a column's values then skips
        # building the column's strings and hashing them again
        self.dictionary_columns: frozenset[int] = frozenset()
        self.block_size = block_size
        self.max_examples = max_examples
        self.rows_malformed = 0
        self.malformed_examples: list[str] = []
        self.rows_line_break = 0

    def fold(self, start: Callable[[], F]) -> F:
        """Feed every block, in file order, to the fold `start()` makes, and return it."""
        fold = start()
        for batch in self.batches():
            fold.add(batch)
        return fold

    def batches(self) -> Iterator[pa.RecordBatch]:
        self.rows_malformed, self.malformed_examples, self.rows_line_break = 0, [], 0
        first = True
        for chunk in self._chunks():
            table = self._parse(chunk, skip_header=first).combine_chunks()  # one batch per chunk
            first = False
            for batch in table.to_batches():
                if batch.num_rows:
                    batch, lines = _drop_rows_spanning_lines(batch)
                    self.rows_line_break += lines
                    yield batch

    def _chunks(self) -> Iterator[pa.Buffer]:
        """The file in chunks of whole lines (UTF-8), about `block_size` bytes each."""
        with open(self.path, "rb") as fh:
            rest = b""
            while True:
                data = fh.read(self.block_size)
                if not data:
                    if rest:
                        yield self._utf8(rest)
                    return
                data = rest + data if rest else data
                end = data.rfind(b"\n") + 1
                if end == 0:  # no line end yet: a line longer than a chunk
                    rest = data
                    continue
                rest = data[end:]
                yield self._utf8(pa.py_buffer(data)[:end] if rest else data)

    def _utf8(self, chunk: bytes | pa.Buffer) -> pa.Buffer:
        if self.encoding != "utf-8":  # a chunk ends at a line end, never inside a character
            return pa.py_buffer(memoryview(chunk).tobytes().decode(self.encoding).encode("utf-8"))
        return chunk if isinstance(chunk, pa.Buffer) else pa.py_buffer(chunk)

    def _parse(self, chunk: pa.Buffer, skip_header: bool) -> pa.Table:
        block_size, replaced = _PARSE_BLOCK, False
        while True:
            try:
                return self._parse_as(chunk, skip_header, block_size)
            except (pa.ArrowInvalid, ValueError) as exc:
                text = str(exc)
                if "straddl" in text and block_size <= chunk.size:
                    block_size = chunk.size + 1  # a line longer than a parse block: one block
                elif "UTF8" in text and self.encoding == "utf-8" and not replaced:
                    # undecodable bytes beyond the sniff window: keep the row, replace the bytes
                    text = chunk.to_pybytes().decode("utf-8", errors="replace")
                    chunk, replaced = pa.py_buffer(text.encode("utf-8")), True
                else:
                    raise TableError(
                        f"unreadable as {_delimiter_name(self.delimiter)}-separated text: {exc}"
                    ) from exc

    def _parse_as(self, chunk: pa.Buffer, skip_header: bool, block_size: int) -> pa.Table:
        malformed: list[str] = []

        def on_invalid(row: pacsv.InvalidRow) -> str:
            malformed.append((row.text or "")[:200])
            return "skip"

        table = pacsv.read_csv(
            pa.BufferReader(chunk),
            read_options=pacsv.ReadOptions(
                column_names=self.names, skip_rows=1 if skip_header else 0, block_size=block_size
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=self.delimiter,
                quote_char='"',
                newlines_in_values=False,
                ignore_empty_lines=True,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={
                    n: _DICTIONARY if i in self.dictionary_columns else pa.string()
                    for i, n in enumerate(self.names)
                },
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        # counted once the chunk parsed: a chunk parsed again is not counted twice
        self.rows_malformed += len(malformed)
        room = self.max_examples - len(self.malformed_examples)
        self.malformed_examples += malformed[: max(room, 0)]
        return table


def _drop_rows_spanning_lines(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, int]:
    """Drop rows with a line break inside a field; return the batch and the input lines they covered.
    A block without a line break in any value (the common case) costs one byte search per column."""
    spanning = None
    for column in batch.columns:
        values = column.dictionary if pa.types.is_dictionary(column.type) else column
        data = values.buffers()[2]
        if data is not None and data.to_pybytes().find(b"\n") >= 0:
            hit = pc.match_substring(values, "\n")
            if values is not column:
                hit = pc.take(hit, column.indices)
            spanning = hit if spanning is None else pc.or_(spanning, hit)
    if spanning is None or not pc.any(spanning).as_py():
        return batch, 0
    rows = batch.filter(spanning).to_pylist()  # a dictionary column gives its values
    text = ["\t".join(row.values()) for row in rows]
    lines = sum(sum(1 for line in t.splitlines() if line.strip()) for t in text)
    return batch.filter(pc.invert(spanning)), lines


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(names):
        name = name or f"column_{i}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return out


def _delimiter_name(delimiter: str) -> str:
    return {"\t": "tab", ";": "semicolon", ",": "comma"}[delimiter]


# The seed's date forms, tried in this order on the values the previous form could not parse.
_DATE_FORMATS = (
    "ISO8601",  # 2020-09-23, 2020-04-04 23:29:48.053, 2020-02-04 04:01:11.450000
    "%m/%d/%Y %I:%M:%S %p",  # 10/7/2021 1:16:39 AM
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",  # 3/17/2020 14:17
    "%m/%d/%Y",
)


def parse_timestamps(values: pd.Series, tz: str = "UTC") -> np.ndarray:
    """Seconds since the epoch (float64) for each value; NaN where no known form parses.

    Naive times are read in `tz` (e.g. "America/Santiago" for local report times). A value's result
    depends on that value alone, never on the others parsed with it (a file read block by block gets
    the same times as one read whole): times with an offset among naive ones, or dates beyond 2262, are
    parsed like any other.
    """
    text = values.astype("string").str.strip()
    seconds = np.full(len(text), np.nan)
    pending = (text.notna() & (text != "") & (text.str.lower() != "none")).to_numpy(dtype=bool)
    for fmt in _DATE_FORMATS:
        if not pending.any():
            break
        rows = np.flatnonzero(pending)
        got = _seconds(text.iloc[rows].reset_index(drop=True), fmt, tz)
        seconds[rows] = got
        pending[rows] = np.isnan(got)
    return seconds


def _seconds(text: pd.Series, fmt: str, tz: str) -> np.ndarray:
    try:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    except ValueError:
        # offsets that differ between the values, or an offset beside naive times: each kind apart
        aware = np.array([_has_offset(v, fmt) for v in text], dtype=bool)
        out = np.full(len(text), np.nan)
        out[~aware] = _seconds(text[~aware].reset_index(drop=True), fmt, tz)
        utc = pd.to_datetime(text[aware], format=fmt, errors="coerce", utc=True)
        out[aware] = _epoch(utc.dt.tz_localize(None))
        return out
    if getattr(parsed.dt, "tz", None) is not None:
        return _epoch(parsed.dt.tz_convert("UTC").dt.tz_localize(None))
    if tz == "UTC":
        return _epoch(parsed)
    ok = parsed.notna().to_numpy()
    out = np.full(len(text), np.nan)
    # in the repeated hour at the end of daylight saving, take the first (DST) reading
    first = np.ones(int(ok.sum()), dtype=bool)
    local = parsed[ok].dt.tz_localize(tz, ambiguous=first, nonexistent="shift_forward")
    out[ok] = _epoch(local.dt.tz_convert("UTC").dt.tz_localize(None))
    return out


def _has_offset(value: str, fmt: str) -> bool:
    try:
        return pd.to_datetime(value, format=fmt).tzinfo is not None
    except (ValueError, TypeError, OverflowError):
        return False


def _epoch(naive: pd.Series) -> np.ndarray:
    """Naive UTC datetimes (any resolution) as float seconds, NaN for NaT."""
    values = naive.to_numpy()
    unit, _count = np.datetime_data(values.dtype)
    scale = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit]
    out = values.astype("int64").astype("float64") / scale
    out[np.isnat(values)] = np.nan
    return out
