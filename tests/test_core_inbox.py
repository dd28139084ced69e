"""Inbox ingest: once per file, rejected files set aside with a reason, restart without double counting."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from exporters.core.inbox import FileRejected, Inbox, IngestOutcome


class CountingSource:
    """A minimal source: kind from the file name, rows counted; 'bad' lines are rejected rows."""

    def __init__(self) -> None:
        self.rows_total = 0
        self.state: dict[str, list[str]] = {}
        self.replays: list[str] = []
        self.files_rejected: dict[str, int] = {}
        self.rejected_kinds: list[str | None] = []

    def classify(self, path: Path) -> str | None:
        return path.name.split("_")[0] if path.name.split("_")[0] in {"SWE", "HPE"} else None

    def ingest(self, kind: str, path: Path, *, replay: bool) -> IngestOutcome:
        lines = path.read_text().splitlines()
        if not lines or lines[0] != "header":
            raise FileRejected("wrong_header", f"expected 'header', got {lines[:1]}")
        good = [line for line in lines[1:] if line != "bad"]
        self.state[kind] = good
        if replay:
            self.replays.append(kind)
        else:
            self.rows_total += len(good)
        return IngestOutcome(rows=len(good), rejected={"bad_row": len(lines) - 1 - len(good)})

    def counter_state(self) -> dict[str, Any]:
        return {"rows_total": self.rows_total}

    def restore_counter_state(self, state: dict[str, Any]) -> None:
        self.rows_total = state["rows_total"]

    def on_files_rejected(self, counts: Mapping[str, int], kind: str | None) -> None:
        self.files_rejected = dict(counts)
        self.rejected_kinds.append(kind)


def drop(inbox: Path, name: str, text: str, age: float = 10) -> Path:
    tmp = inbox / f".{name}.part"
    tmp.write_text(text)
    then = time.time() - age
    os.utime(tmp, (then, then))
    return tmp.rename(inbox / name)


@pytest.fixture()
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "inbox", tmp_path / "state"


def test_ingests_once_and_moves_files(dirs) -> None:
    inbox_dir, state_dir = dirs
    source = CountingSource()
    inbox = Inbox(inbox_dir, state_dir, source, settle_seconds=0)
    drop(inbox_dir, "SWE_2021-10-07.csv", "header\na\nb\nbad\n")
    records = inbox.scan()
    assert [(r.kind, r.status, r.rows, dict(r.rejected_rows)) for r in records] == [
        ("SWE", "ingested", 2, {"bad_row": 1})
    ]
    assert source.rows_total == 2 and not (inbox_dir / "SWE_2021-10-07.csv").exists()
    assert len(list((state_dir / "processed" / "SWE").iterdir())) == 1
    # the same content dropped again is not counted again
    drop(inbox_dir, "SWE_copy.csv", "header\na\nb\nbad\n")
    assert [r.status for r in inbox.scan()] == ["duplicate"]
    assert source.rows_total == 2


def test_temporary_and_unsettled_files_wait(dirs) -> None:
    inbox_dir, state_dir = dirs
    source = CountingSource()
    inbox = Inbox(inbox_dir, state_dir, source, settle_seconds=5)
    inbox_dir.mkdir(parents=True, exist_ok=True)
    (inbox_dir / "SWE_1.csv.part").write_text("header\na\n")
    (inbox_dir / "SWE_2.csv").write_text("header\na\n")  # just written: mtime is now
    assert inbox.scan() == [] and inbox.scan() == []
    old = time.time() - 60
    os.utime(inbox_dir / "SWE_2.csv", (old, old))
    assert inbox.scan() == []  # first sight of the settled signature
    assert [r.status for r in inbox.scan()] == ["ingested"]


def test_broken_files_are_rejected_with_reason(dirs) -> None:
    inbox_dir, state_dir = dirs
    source = CountingSource()
    inbox = Inbox(inbox_dir, state_dir, source, settle_seconds=0)
    drop(inbox_dir, "SWE_bad.csv", "not the header\n")
    drop(inbox_dir, "whatever.bin", "header\n")
    records = {r.name: r for r in inbox.scan()}
    assert records["SWE_bad.csv"].reason == "wrong_header"
    assert records["whatever.bin"].reason == "unrecognised"
    reason = (inbox_dir / "rejected" / "SWE_bad.csv.reason.txt").read_text()
    assert "reason: wrong_header" in reason and "expected 'header'" in reason
    assert (inbox_dir / "rejected" / "whatever.bin").exists()
    assert inbox.files_rejected == {"SWE": 1, "unknown": 1}
    assert source.files_rejected == {"SWE": 1, "unknown": 1}  # told through the InboxSource protocol
    assert source.rejected_kinds == ["SWE", "unknown"]


def test_unexpected_exception_rejects_file_and_inbox_lives_on(dirs) -> None:
    inbox_dir, state_dir = dirs

    class Exploding(CountingSource):
        def ingest(self, kind: str, path: Path, *, replay: bool) -> IngestOutcome:
            if "boom" in path.name:
                raise ZeroDivisionError("division by zero")
            return super().ingest(kind, path, replay=replay)

    inbox = Inbox(inbox_dir, state_dir, Exploding(), settle_seconds=0)
    drop(inbox_dir, "SWE_boom.csv", "header\n", age=20)
    drop(inbox_dir, "HPE_ok.csv", "header\nx\n", age=10)
    statuses = [(r.name, r.status, r.reason) for r in inbox.scan()]
    assert statuses == [("SWE_boom.csv", "rejected", "parse_error"), ("HPE_ok.csv", "ingested", "")]


def test_restart_restores_counters_and_replays_newest_state(dirs) -> None:
    inbox_dir, state_dir = dirs
    first = CountingSource()
    inbox = Inbox(inbox_dir, state_dir, first, settle_seconds=0)
    drop(inbox_dir, "SWE_1.csv", "header\na\n", age=30)
    drop(inbox_dir, "SWE_2.csv", "header\nb\nc\n", age=20)
    drop(inbox_dir, "HPE_1.csv", "header\nh\n", age=10)
    drop(inbox_dir, "SWE_broken.csv", "nope\n", age=5)
    inbox.scan()
    inbox.ledger.close()
    assert first.rows_total == 4

    second = CountingSource()
    restarted = Inbox(inbox_dir, state_dir, second, settle_seconds=0)
    assert restarted.restore() == ["HPE", "SWE"]
    assert second.rows_total == 4  # not counted again
    assert second.state == {"SWE": ["b", "c"], "HPE": ["h"]}  # the newest file of each kind
    assert restarted.files_rejected == {"SWE": 1}
    assert second.files_rejected == {"SWE": 1} and second.rejected_kinds == [None]
    assert restarted.scan() == []


def test_the_next_scan_comes_when_a_seen_file_settles_not_an_interval_later(dirs) -> None:
    inbox_dir, state_dir = dirs
    inbox = Inbox(inbox_dir, state_dir, CountingSource(), settle_seconds=30)
    assert inbox.next_scan_in(60) == 60  # nothing waiting
    drop(inbox_dir, "SWE_1.csv", "header\nrow\n", age=25)  # settles about 5 s from now
    assert inbox.scan() == []
    assert 0 < inbox.next_scan_in(60) <= 5
    assert inbox.next_scan_in(2) == 2  # never later than the interval
    drop(inbox_dir, "SWE_2.csv", "header\nrow\n", age=100)  # settled already: wanted at the next look
    assert inbox.scan() == []  # (a file is taken on its second look)
    assert inbox.next_scan_in(60) < 1
    taken = inbox.scan()
    assert [r.name for r in taken] == ["SWE_2.csv"]
    assert 0 < inbox.next_scan_in(60) <= 5  # SWE_1 still waits
    inbox.ledger.close()
