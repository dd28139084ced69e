"""Reading the head-end's delimited text files: encoding, delimiter, header and dates.

SMMePlus and Cloudera files arrive as tab, comma or semicolon separated text, in UTF-8 or Latin-1,
with header names in any case. `read_table` parses a file in one vectorised pass (pyarrow's CSV
reader) into a DataFrame of strings with normalised column names, counting malformed rows instead of
failing on them.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
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
    header, delimiter, encoding = read_header(path)
    if required:
        missing = sorted(required - set(header))
        if missing:
            raise TableError(f"missing column(s) {', '.join(missing)}; header is {', '.join(header)}")
    raw = Path(path).read_bytes()
    if encoding != "utf-8":
        raw = raw.decode(encoding).encode("utf-8")
    elif raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    # undecodable bytes in a UTF-8 file beyond the sniff window: keep the row, replace the bytes
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        raw = raw.decode("utf-8", errors="replace").encode("utf-8")

    malformed: list[str] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        malformed.append((row.text or "")[:200])
        return "skip"

    names = _unique(header)
    try:
        arrow = _parse(raw, names, delimiter, on_invalid, block_size=1 << 24)
    except (pa.ArrowInvalid, ValueError) as exc:
        if "straddl" not in str(exc):
            raise TableError(f"unreadable as {_delimiter_name(delimiter)}-separated text: {exc}") from exc
        # a line longer than a parse block: parse the file as one block instead of rejecting it
        malformed.clear()
        try:
            arrow = _parse(raw, names, delimiter, on_invalid, block_size=len(raw) + 1)
        except (pa.ArrowInvalid, ValueError) as again:
            raise TableError(f"unreadable as {_delimiter_name(delimiter)}-separated text: {again}") from again
    frame = arrow.to_pandas(types_mapper=None)
    frame.columns = names
    frame, line_break = _drop_rows_spanning_lines(raw, frame)
    return Table(
        frame=frame,
        delimiter=delimiter,
        encoding=encoding,
        header=header,
        rows_malformed=len(malformed),
        malformed_examples=malformed[:max_examples],
        rows_line_break=line_break,
    )


def _parse(
    raw: bytes,
    names: list[str],
    delimiter: str,
    on_invalid: Callable[[pacsv.InvalidRow], str],
    block_size: int,
) -> pa.Table:
    return pacsv.read_csv(
        io.BytesIO(raw),
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=block_size),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter,
            quote_char='"',
            newlines_in_values=False,
            ignore_empty_lines=True,
            invalid_row_handler=on_invalid,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def _drop_rows_spanning_lines(raw: bytes, frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Drop rows with a line break inside a field; return the frame and the input lines they covered.
    Only a quoted field can hold a line break, so a file without a quote character (the common case)
    costs one byte scan."""
    if b'"' not in raw or frame.empty:
        return frame, 0
    rows = np.zeros(len(frame), dtype=bool)
    for column in frame.columns:
        rows |= frame[column].str.contains("\n", regex=False).to_numpy(dtype=bool)
    if not rows.any():
        return frame, 0
    text = frame[rows].agg("\t".join, axis=1)
    lines = sum(sum(1 for line in t.splitlines() if line.strip()) for t in text)
    return frame[~rows].reset_index(drop=True), lines


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

    Naive times are read in `tz` (e.g. "America/Santiago" for local report times).
    """
    text = values.astype("string").str.strip()
    result = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    pending = text.notna() & (text != "") & (text.str.lower() != "none")
    for fmt in _DATE_FORMATS:
        if not pending.any():
            break
        subset = text[pending]
        parsed = pd.to_datetime(subset, format=fmt, errors="coerce")
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
            ok = parsed.notna()
            result.loc[ok[ok].index] = parsed[ok]
        else:
            ok = parsed.notna()
            result.loc[ok[ok].index] = parsed[ok]
            if tz != "UTC":
                # in the repeated hour at the end of daylight saving, take the first (DST) reading
                first = np.ones(int(ok.sum()), dtype=bool)
                local = parsed[ok].dt.tz_localize(tz, ambiguous=first, nonexistent="shift_forward")
                result.loc[ok[ok].index] = local.dt.tz_convert("UTC").dt.tz_localize(None)
        pending &= result.isna()
    seconds = result.astype("int64").to_numpy().astype("float64") / 1e9
    seconds[result.isna().to_numpy()] = np.nan
    return seconds
