"""Property test of the SMMePlus readers behind the inbox (issue 15): whatever bytes a file of any kind
holds, a scan ingests rows or sets the file aside with a reason a reader gave; no exception escapes the
scan, and none reaches the inbox's catch-all (`parse_error`, `internal_error`)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporters.smmeplus.exporter import Exporter
from exporters.smmeplus.kinds import KINDS

CATCH_ALL = {"parse_error", "internal_error"}
_numbers = itertools.count()

VALUES = st.sampled_from(
    ["", "TD-0011", "UAAXXDN18204873404", "3.26.0.85", "2020-09-23", "10/7/2021 1:16:39 AM", "TRUE", "false",
     "0", "-1", "FFFF", "0x1", "1" * 30, "nan", "None", "OK", "[READ] TB_ACK_40 error", '"', "é", "\x00"]
) | st.text(max_size=12)  # fmt: skip


@st.composite
def file_bytes(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(KINDS))
    name = f"{kind.file_prefix}_2026-05-{next(_numbers) % 28 + 1:02d}-{next(_numbers)}.csv"
    if draw(st.booleans()):
        return name, draw(st.binary(max_size=400)) + b"\n"
    delimiter = draw(st.sampled_from(["\t", ";", ","]))
    columns = sorted(kind.required | kind.signature) + draw(st.lists(st.text(max_size=6), max_size=2))
    columns = draw(st.permutations(columns))[: len(columns) - draw(st.integers(0, 1))]
    rows = draw(st.lists(st.lists(VALUES, min_size=len(columns) - 1, max_size=len(columns) + 1), max_size=8))
    text = "\n".join(delimiter.join(r) for r in [list(columns), *rows]) + "\n"
    encoding = draw(st.sampled_from(["utf-8", "latin-1", "utf-16"]))
    return name, text.encode(encoding, errors="replace")


@pytest.fixture(scope="module")
def exporter(tmp_path_factory) -> Exporter:
    root = tmp_path_factory.mktemp("smmeplus-properties")
    (root / "inbox").mkdir()
    e = Exporter(root / "inbox", root / "state", settle_seconds=0)
    e.restore()
    yield e
    e.inbox.ledger.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=file_bytes())
def test_any_bytes_give_rows_or_a_reason(exporter: Exporter, case: tuple[str, bytes]) -> None:
    name, data = case
    path: Path = exporter.inbox.inbox_dir / name
    path.write_bytes(data)
    records = exporter.scan()  # raises nothing, whatever the file holds
    assert [r.name for r in records] == [name]
    [record] = records
    assert record.status in ("ingested", "rejected", "duplicate"), record
    assert record.reason not in CATCH_ALL, (record.reason, record.message, data[:200])
    assert not path.exists()
