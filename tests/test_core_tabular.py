"""Delimited-file reading: separators, encodings, headers, malformed rows and the seed's date forms."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from exporters.core.tabular import (
    TableError,
    TableStream,
    normalise_header,
    parse_timestamps,
    read_header,
    read_table,
)


@pytest.mark.parametrize("sep", ["\t", ",", ";"])
def test_each_separator(tmp_path: Path, sep: str) -> None:
    path = tmp_path / "f.csv"
    path.write_text(
        sep.join(["Concentrator", "Meter", "IsActive"]) + "\n" + sep.join(["TD-1", "M1", "TRUE"]) + "\n"
    )
    table = read_table(path, required={"meter"})
    assert table.delimiter == sep
    assert list(table.frame.columns) == ["concentrator", "meter", "isactive"]
    assert table.frame.iloc[0].tolist() == ["TD-1", "M1", "TRUE"]


def test_latin1_and_bom_and_headers(tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes("comuna;n\nÑUÑOA;1\n".encode("latin-1"))
    table = read_table(latin)
    assert table.encoding == "latin-1" and table.frame["comuna"][0] == "ÑUÑOA"
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffProceso,Estado_Final\nx,OK\n".encode())
    assert read_header(bom)[0] == ["proceso", "estado_final"]
    assert normalise_header(" StartDate  UTC ") == "startdate_utc"


def test_malformed_rows_are_counted_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "f.tsv"
    path.write_text("a\tb\tc\n1\t2\t3\n1\t2\n1\t2\t3\t4\n4\t5\t6\n")
    table = read_table(path)
    assert len(table.frame) == 2
    assert table.rows_malformed == 2
    assert table.malformed_examples == ["1\t2", "1\t2\t3\t4"]


def test_unusable_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(TableError, match="empty"):
        read_table(empty)
    noheader = tmp_path / "x.csv"
    noheader.write_text("justoneword\n")
    with pytest.raises(TableError, match="separator"):
        read_table(noheader)
    wrong = tmp_path / "w.csv"
    wrong.write_text("x,y\n1,2\n")
    with pytest.raises(TableError, match="missing column"):
        read_table(wrong, required={"meter", "x"})


def test_seed_date_forms() -> None:
    values = pd.Series(
        [
            "2020-09-23",
            "2020-04-04 23:29:48.053",
            "3/17/2020 14:17",
            "10/7/2021 1:16:39 AM",
            "None",
            "garbage",
        ]
    )
    got = parse_timestamps(values)
    assert got[0] == pd.Timestamp("2020-09-23", tz="UTC").timestamp()
    assert got[1] == pytest.approx(pd.Timestamp("2020-04-04 23:29:48.053", tz="UTC").timestamp())
    assert got[2] == pd.Timestamp("2020-03-17 14:17", tz="UTC").timestamp()
    assert got[3] == pd.Timestamp("2021-10-07 01:16:39", tz="UTC").timestamp()
    assert math.isnan(got[4]) and math.isnan(got[5])


def test_local_time_including_the_repeated_hour() -> None:
    # Chile left daylight saving at 2020-04-05 00:00 local: 23:29 on the 4th happened twice; the seed's
    # LPE sample has exactly such a timestamp. The first (UTC-3) reading is taken.
    got = parse_timestamps(pd.Series(["2020-04-04 23:29:48", "2020-07-01 12:00"]), tz="America/Santiago")
    assert got[0] == pd.Timestamp("2020-04-05 02:29:48", tz="UTC").timestamp()
    assert got[1] == pd.Timestamp("2020-07-01 16:00", tz="UTC").timestamp()


def test_binary_header_is_unusable(tmp_path: Path) -> None:
    path = tmp_path / "utf16.csv"
    path.write_bytes("a\tb\n1\t2\n".encode("utf-16-le"))
    with pytest.raises(TableError, match="NUL bytes"):
        read_table(path)


def test_unbalanced_quote_rows_are_dropped_and_their_lines_counted(tmp_path: Path) -> None:
    path = tmp_path / "q.tsv"
    path.write_text('a\tb\n1\t"open quote\n2\tx\n3\ty"\n4\tz\n5\t"quoted\tseparator"\n')
    table = read_table(path)
    assert table.frame["a"].tolist() == ["4", "5"]
    assert table.frame["b"].tolist()[1] == "quoted\tseparator"
    assert table.rows_line_break == 3


def test_a_line_longer_than_a_parse_block_does_not_lose_the_file(tmp_path: Path) -> None:
    path = tmp_path / "long.tsv"
    huge = "x" * (33 << 20)  # over two 16 MiB parse blocks
    path.write_text(f"a\tb\n1\t{huge}\n2\tok\n3\n")
    table = read_table(path)
    assert table.frame["a"].tolist() == ["1", "2"]
    assert len(table.frame["b"][0]) == len(huge)
    assert table.rows_malformed == 1


def test_a_value_parses_the_same_whatever_it_is_parsed_with() -> None:
    # a file read block by block parses each block's dates apart: an offset among naive times, offsets
    # that differ, or a date past 2262 must not change (or fail) the other values' times
    values = ["2021-10-07T10:00:00Z", "2021-10-07", "2021-10-07T10:00:00+02:00", "9999-12-31", "x"]
    together = parse_timestamps(pd.Series(values))
    alone = [parse_timestamps(pd.Series([v]))[0] for v in values]
    assert together[:4].tolist() == alone[:4]
    assert together[0] == pd.Timestamp("2021-10-07 10:00", tz="UTC").timestamp()
    assert together[2] == pd.Timestamp("2021-10-07 08:00", tz="UTC").timestamp()
    assert together[3] == pd.Timestamp("9999-12-31", tz="UTC").timestamp()
    assert math.isnan(together[4]) and math.isnan(alone[4])


def test_a_streamed_file_folds_the_same_in_any_block_size(tmp_path: Path) -> None:
    path = tmp_path / "f.tsv"
    rows = [f"{i}\tv{i}\t{'x' * (i % 7)}" for i in range(3000)]
    rows[10] = "short"
    rows[2000] = '1\t"open\n2\tb\tc\n3"\tc'
    path.write_text("a\tb\tc\n" + "\n".join(rows) + "\n")
    whole = read_table(path)
    for block_size in (1 << 10, 1 << 12, 1 << 20):
        stream = TableStream(path, block_size=block_size)
        blocks = stream.fold(Collected)
        assert len(blocks.batches) > 1 or block_size == 1 << 20
        got = pa.Table.from_batches(blocks.batches, schema=stream.schema).column("b").to_pylist()
        assert got == whole.frame["b"].tolist()
        assert (stream.rows_malformed, stream.rows_line_break) == (whole.rows_malformed, 3)


class Collected:
    def __init__(self) -> None:
        self.batches: list[pa.RecordBatch] = []

    def add(self, batch: pa.RecordBatch) -> None:
        self.batches.append(batch)
