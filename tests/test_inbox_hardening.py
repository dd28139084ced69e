"""Inbox hardening (issue 15): one bad file never wedges the inbox, odd directory entries are set aside
unread, names are escaped, half-written files wait, and file and line sizes are bounded."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import pytest
from test_core_inbox import CountingSource, drop

from exporters.core.exposition import Exposition
from exporters.core.inbox import Inbox, fit_name, printable


@pytest.fixture()
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "inbox", tmp_path / "state"


def test_a_250_character_name_is_ingested_and_the_next_file_too(dirs) -> None:
    inbox_dir, state_dir = dirs
    source = CountingSource()
    inbox = Inbox(inbox_dir, state_dir, source, settle_seconds=0)
    long_name = "SWE_" + "x" * 242 + ".csv"  # 250 characters: with the processed/ prefix, above NAME_MAX
    (inbox_dir / long_name).write_text("header\na\n")
    os.utime(inbox_dir / long_name, (time.time() - 20, time.time() - 20))
    drop(inbox_dir, "SWE_next-day.csv", "header\nb\nc\n", age=10)
    records = inbox.scan()
    assert [(r.status, r.rows) for r in records] == [("ingested", 1), ("ingested", 2)]
    assert source.rows_total == 3 and sorted(os.listdir(inbox_dir)) == ["rejected"]
    assert inbox.scan_failures == {"scan": 0, "file": 0}


def test_a_file_that_cannot_be_handled_is_set_aside_and_the_scan_goes_on(dirs) -> None:
    inbox_dir, state_dir = dirs

    class FailingLedgerSource(CountingSource):
        def counter_state(self) -> dict:
            raise OSError(36, "File name too long")  # what the move raised: any error after the parse

    inbox = Inbox(inbox_dir, state_dir, FailingLedgerSource(), settle_seconds=0)
    drop(inbox_dir, "SWE_1.csv", "header\na\n", age=20)
    drop(inbox_dir, "HPE_1.csv", "header\nb\n", age=10)
    records = inbox.scan()
    assert [(r.name, r.status, r.reason) for r in records] == [
        ("SWE_1.csv", "rejected", "internal_error"),
        ("HPE_1.csv", "rejected", "internal_error"),
    ]
    assert "File name too long" in (inbox_dir / "rejected" / "SWE_1.csv.reason.txt").read_text()
    assert inbox.scan_failures["file"] == 2


def test_a_failing_scan_is_counted_exposed_and_logged_once(dirs, caplog) -> None:
    inbox_dir, state_dir = dirs
    exposition = Exposition()
    inbox = Inbox(inbox_dir, state_dir, CountingSource(), settle_seconds=0, exposition=exposition)
    inbox.scan()
    assert b'smmc_source_scan_failures_total{stage="scan"} 0' in exposition.body()
    (inbox_dir / "rejected").rmdir()
    inbox_dir.rmdir()  # the inbox disappears (an unmounted share): every scan fails
    stop = threading.Event()
    with caplog.at_level(logging.INFO, logger="exporters.core.inbox"):
        worker = threading.Thread(target=inbox.run, args=(stop, 0.01))
        worker.start()
        deadline = time.monotonic() + 30
        while inbox.scan_failures["scan"] < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        worker.join()
    assert inbox.scan_failures["scan"] >= 5
    assert len([r for r in caplog.records if "inbox scan failed" in r.getMessage()]) == 1
    assert b'smmc_source_scan_failures_total{stage="scan"} 0' not in exposition.body()


def test_symlinks_fifos_and_directories_are_set_aside_unread(dirs, tmp_path, caplog) -> None:
    inbox_dir, state_dir = dirs
    source = CountingSource()
    inbox = Inbox(inbox_dir, state_dir, source, settle_seconds=0)
    secret = tmp_path / "secret.txt"
    secret.write_text("header\nTOP-SECRET-VALUE\n")
    (inbox_dir / "SWE_link.csv").symlink_to(secret)
    os.mkfifo(inbox_dir / "SWE_fifo.csv")
    (inbox_dir / "SWE_dir.csv").mkdir()
    with caplog.at_level(logging.DEBUG, logger="exporters.core.inbox"):
        records = {r.name: r for r in inbox.scan()}
    assert {n: r.reason for n, r in records.items()} == {
        "SWE_link.csv": "not_a_regular_file",
        "SWE_fifo.csv": "not_a_regular_file",
        "SWE_dir.csv": "not_a_regular_file",
    }
    assert source.rows_total == 0 and secret.read_text().startswith("header")  # the target is untouched
    reasons = "".join(p.read_text() for p in (inbox_dir / "rejected").glob("*.reason.txt"))
    assert "TOP-SECRET" not in reasons and "symbolic link" in reasons and "FIFO" in reasons
    assert "TOP-SECRET" not in caplog.text
    assert (inbox_dir / "rejected" / "SWE_link.csv").is_symlink()  # moved as itself


def test_control_characters_in_names_are_escaped_in_logs_and_reasons(dirs, caplog) -> None:
    inbox_dir, state_dir = dirs
    inbox = Inbox(inbox_dir, state_dir, CountingSource(), settle_seconds=0)
    forged = "SWE_x\n2026-01-01 INFO ingested SWE_forged.csv (SWE): 999 rows\x1b[2J.csv"
    drop(inbox_dir, forged, "not the header\n")
    with caplog.at_level(logging.INFO, logger="exporters.core.inbox"):
        [record] = inbox.scan()
    assert record.status == "rejected"
    assert all("\n" not in r.getMessage() and "\x1b" not in r.getMessage() for r in caplog.records)
    assert "SWE_x\\n2026" in caplog.text
    [reason] = (inbox_dir / "rejected").glob("*.reason.txt")
    assert reason.read_text().splitlines()[0] == "file: " + printable(forged)
    assert printable("a\tb\udcff") == "a\\tb\\udcff"


def test_a_file_still_being_written_is_not_ingested_half(dirs) -> None:
    inbox_dir, state_dir = dirs
    source = CountingSource()
    inbox = Inbox(inbox_dir, state_dir, source, settle_seconds=1, incomplete_grace_seconds=300)
    path = inbox_dir / "SWE_2026-05-04.csv"
    path.write_text("header\na\nb\nc")  # the writer paused mid-line, longer than the settle time
    old = time.time() - 10
    os.utime(path, (old, old))
    assert inbox.scan() == [] and inbox.scan() == [] and source.rows_total == 0
    with path.open("a") as fh:
        fh.write("ontinued\nd\n")
    os.utime(path, (old + 1, old + 1))
    inbox.scan()  # first sight of the new signature
    [record] = inbox.scan()
    assert (record.status, record.rows) == ("ingested", 4) and source.state["SWE"] == [
        "a",
        "b",
        "continued",
        "d",
    ]


def test_a_cut_file_past_the_grace_time_is_set_aside_whole(dirs) -> None:
    inbox_dir, state_dir = dirs
    source = CountingSource()
    inbox = Inbox(inbox_dir, state_dir, source, settle_seconds=1, incomplete_grace_seconds=60)
    drop(inbox_dir, "SWE_cut.csv", "header\na\nb", age=120)
    inbox.scan()
    [record] = inbox.scan()
    assert (record.status, record.reason, record.kind) == ("rejected", "incomplete_last_line", "SWE")
    assert source.rows_total == 0


def test_files_and_lines_above_the_limits_are_set_aside_before_parsing(dirs) -> None:
    inbox_dir, state_dir = dirs
    source = CountingSource()
    inbox = Inbox(inbox_dir, state_dir, source, settle_seconds=0, max_file_bytes=1000, max_line_bytes=100)
    drop(inbox_dir, "SWE_big.csv", "header\n" + "row\n" * 300, age=30)
    drop(inbox_dir, "SWE_line.csv", "header\n" + "x" * 101 + "\nok\n", age=20)
    drop(inbox_dir, "SWE_fine.csv", "header\n" + "x" * 100 + "\n", age=10)
    records = {r.name: r for r in inbox.scan()}
    assert records["SWE_big.csv"].reason == "file_too_large"
    assert records["SWE_line.csv"].reason == "line_too_long"
    assert "101 bytes" in records["SWE_line.csv"].message
    assert records["SWE_fine.csv"].status == "ingested" and source.rows_total == 1


@pytest.mark.parametrize("name", ["a" * 300, "é" * 200 + ".csv", "SWE_" + "y" * 251])
def test_fitted_names_fit_the_file_system(name: str) -> None:
    fitted = fit_name(name, 40)
    assert len(os.fsencode(fitted)) + 40 <= 255 and fit_name(name, 40) == fitted
    assert fit_name("short.csv", 40) == "short.csv"
