"""Bad input never stops the SMMePlus exporter: bad rows are counted by reason, bad files set aside."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_smmeplus import SEED, promtool_check, run_exporter, samples, series, value

from exporters.smmeplus.cli import Exporter

SWE_HEADER = "concentrator\tmeter\tpod\ttype\tdate\tseverity\tisactive\tdescription\n"
SWE_ROW = "TD-0011\tUAAXXDN18204873404\t863901\t3.26.0.85\t2020-09-23\t0\tTRUE\tVoltage interruption (PUP)\n"


@pytest.fixture
def exporter(tmp_path: Path) -> Exporter:
    (tmp_path / "inbox").mkdir()
    e = run_exporter(tmp_path / "inbox", tmp_path / "state")
    yield e
    e.inbox.ledger.close()


def drop(exporter: Exporter, name: str, data: bytes) -> dict:
    (exporter.inbox.inbox_dir / name).write_bytes(data)
    exporter.scan()
    return samples(exporter.exposition.body())


def rejected_reason(exporter: Exporter, name: str) -> str:
    reason_file = exporter.inbox.rejected_dir / f"{name}.reason.txt"
    assert (exporter.inbox.rejected_dir / name).is_file(), f"{name} not in rejected/"
    return reason_file.read_text()


def test_a_cut_file_is_set_aside_whole_and_its_redelivery_counts_once(exporter: Exporter) -> None:
    data = (SEED / "SWE_2020-09-23.csv").read_bytes()
    cut = data[: data.rindex(b"\t0\tTRUE")]  # the last row stops half-way: a file still being written
    s = drop(exporter, "SWE_2020-09-23.csv", cut)
    assert "reason: incomplete_last_line" in rejected_reason(exporter, "SWE_2020-09-23.csv")
    assert value(s, "smmc_source_rows_total", kind="swe") == 0  # nothing ingested half
    assert value(s, "smmc_source_files_rejected_total", kind="swe") == 1
    s = drop(exporter, "SWE_2020-09-23.csv", data)  # the producer delivers the whole file
    assert value(s, "smmc_source_rows_total", kind="swe") == 10
    assert value(s, "smmc_source_up", kind="swe") == 1


def test_wrong_header_sets_the_file_aside(exporter: Exporter) -> None:
    hpe = (SEED / "HPE_2021-07-21.csv").read_bytes()
    s = drop(exporter, "SWE_2021-07-21.csv", hpe)  # an HPE file under an SWE name
    assert "reason: wrong_header" in rejected_reason(exporter, "SWE_2021-07-21.csv")
    assert "isactive" in rejected_reason(exporter, "SWE_2021-07-21.csv")
    assert value(s, "smmc_source_files_rejected_total", kind="swe") == 1
    assert value(s, "smmc_source_up", kind="swe") == 0
    assert value(s, "smmc_source_rows_total", kind="swe") == 0


def test_non_utf8_bytes_are_read_as_latin1(exporter: Exporter) -> None:
    text = SWE_HEADER + SWE_ROW.replace(
        "Voltage interruption (PUP)", "Interrupción de tensión (PUP)"
    ).replace("3.26.0.85", "3.26.0.999")
    s = drop(exporter, "SWE_2020-09-24.csv", text.encode("latin-1"))
    # the unknown code falls back to the acronym in the description, whose accent came through
    assert value(s, "smmc_meter_events_total", concentrator="TD-0011", flag="PUP") == 1
    assert value(s, "smmc_source_rows_rejected_total", kind="swe", reason="malformed") is None


def test_unknown_flag_rows_are_counted_not_kept(exporter: Exporter) -> None:
    text = SWE_HEADER + SWE_ROW + SWE_ROW.replace("3.26.0.85", "9.9.9.9").replace("(PUP)", "(XYZ)")
    s = drop(exporter, "SWE_2020-09-25.csv", text.encode())
    assert value(s, "smmc_source_rows_total", kind="swe") == 1
    assert value(s, "smmc_source_rows_rejected_total", kind="swe", reason="unknown_flag") == 1
    # a status-word bit the catalog does not list is counted by word and bit
    msw = (
        "meter;concentrator;timestamp;normal1;normal2;extended1;extended2\n"
        "M1;TD-1;2021-10-07 01:00:00;0100;0;0;0\n"
    )
    s = drop(exporter, "MeterStatusWords_2021-10-07.csv", msw.encode())
    assert value(s, "smmc_meter_unlisted_bits_total", word="normal1", bit="8") == 1
    assert value(s, "smmc_source_rows_total", kind="msw") == 1


def test_garbage_csw_rows_are_rejected_and_an_all_garbage_file_keeps_the_old_state(
    exporter: Exporter,
) -> None:
    seed = (SEED / "ConcentratorStatusWordAnalyzedReport_2020-03-17.csv").read_text()
    lines = seed.splitlines()
    lines[2] = lines[2].replace("08001E", "ZZZZZZ")
    lines[3] = lines[3].replace("00001E", "1FFFFFFF")  # over 24 bits
    s = drop(
        exporter, "ConcentratorStatusWordAnalyzedReport_2020-03-18.csv", ("\n".join(lines) + "\n").encode()
    )
    assert value(s, "smmc_source_rows_rejected_total", kind="csw", reason="bad_csw") == 2
    assert len(series(s, "smmc_concentrator_status_word")) == 12
    garbage = "concentratorname,isreachable,csw,laststatuswordupdate_utc\nTD-1,1,nothex,3/17/2020 14:17\n"
    s = drop(exporter, "ConcentratorStatusWordAnalyzedReport_2020-03-19.csv", garbage.encode())
    assert "reason: no_valid_rows" in rejected_reason(
        exporter, "ConcentratorStatusWordAnalyzedReport_2020-03-19.csv"
    )
    assert len(series(s, "smmc_concentrator_status_word")) == 12  # the previous report still stands
    assert value(s, "smmc_source_up", kind="csw") == 0


def test_a_fault_in_csw_shows_as_conditions_by_polarity(exporter: Exporter) -> None:
    # T (AMM time-out, set = alarm) and E cleared (LV communication lost, clear = alarm)
    csv = "concentratorname,isreachable,csw,laststatuswordupdate_utc\nTD-9,0,00801A,3/17/2020 14:17\n"
    s = drop(exporter, "ConcentratorStatusWordAnalyzedReport_2020-03-20.csv", csv.encode())
    conditions = {
        dict(labels)["flag"]: dict(labels)["priority"] for labels in series(s, "smmc_concentrator_condition")
    }
    assert conditions == {"T": "alta", "E": "alta"}
    assert value(s, "smmc_concentrator_reachable", concentrator="TD-9") == 0


def test_unrecognised_and_empty_files_are_set_aside(exporter: Exporter) -> None:
    s = drop(exporter, "notes.txt", b"hello\nthis is not a report\n")
    assert "reason: unrecognised" in rejected_reason(exporter, "notes.txt")
    assert value(s, "smmc_source_files_rejected_total", kind="unknown") == 1
    s = drop(exporter, "HPE_2021-07-22.csv", b"")
    assert "reason: unreadable" in rejected_reason(exporter, "HPE_2021-07-22.csv")
    assert value(s, "smmc_source_files_rejected_total", kind="hpe") == 1


def test_bad_values_are_counted_by_reason(exporter: Exporter) -> None:
    rows = [
        SWE_ROW,
        SWE_ROW.replace("2020-09-23", "yesterday"),
        SWE_ROW.replace("TRUE", "maybe"),
        SWE_ROW.replace("TD-0011", ""),
    ]
    s = drop(exporter, "SWE_2020-09-26.csv", (SWE_HEADER + "".join(rows)).encode())
    assert value(s, "smmc_source_rows_total", kind="swe") == 1
    for reason in ("bad_date", "bad_isactive", "missing_field"):
        assert value(s, "smmc_source_rows_rejected_total", kind="swe", reason=reason) == 1
    tech = (SEED / "TechnicalWorkorderCompleted_2021-10-07.csv").read_text().splitlines()
    tech[1] = tech[1].replace('<input checked="" type="checkbox"/>', "perhaps")
    s = drop(exporter, "TechnicalWorkorderCompleted_2021-10-08.csv", ("\n".join(tech) + "\n").encode())
    assert value(s, "smmc_source_rows_rejected_total", kind="technical", reason="bad_is_error") == 1
    assert value(s, "smmc_source_rows_total", kind="technical") == 7


def test_after_all_that_the_exporter_still_ingests_and_its_output_is_valid(exporter: Exporter) -> None:
    drop(exporter, "garbage.csv", bytes(range(256)) * 10)
    drop(exporter, "SWE_2020-09-27.csv", b"\x00\x01\x02")
    shutil.copy(SEED / "HPE_2021-07-21.csv", exporter.inbox.inbox_dir / "HPE_2021-07-21.csv")
    exporter.scan()
    body = exporter.exposition.body()
    s = samples(body)
    assert value(s, "smmc_source_rows_total", kind="hpe") == 17
    assert value(s, "smmc_source_files_rejected_total", kind="swe") == 1
    promtool_check(body)


def test_an_unbalanced_quote_counts_every_line_it_swallowed(exporter: Exporter) -> None:
    lines = (SEED / "HPE_2021-07-21.csv").read_text().splitlines()
    assert len(lines) == 18  # header and 17 rows
    lines[10] = lines[10].replace("\t0\t", '\t0\t"', 1)  # the quote is never closed: rows 10..17 in one field
    s = drop(exporter, "HPE_2021-07-21.csv", ("\n".join(lines) + "\n").encode())
    assert value(s, "smmc_source_rows_total", kind="hpe") == 9
    assert value(s, "smmc_source_rows_rejected_total", kind="hpe", reason="line_break_in_field") == 8
    promtool_check(exporter.exposition.body())


def test_a_quoted_separator_is_data_not_a_column(exporter: Exporter) -> None:
    csv = "concentrator,meter,pod,type,date,severity,isactive,description\n"
    csv += (
        'TD-0011,UAAXXDN18204873404,863901,3.26.0.85,2020-09-23,0,TRUE,"Voltage interruption, long (PUP)"\n'
    )
    s = drop(exporter, "SWE_2020-09-23.csv", csv.encode())
    assert value(s, "smmc_source_rows_total", kind="swe") == 1
    assert value(s, "smmc_meters_with_active_flag", concentrator="TD-0011", comuna="unknown", flag="PUP") == 1


def test_a_header_only_state_file_keeps_the_previous_state(exporter: Exporter) -> None:
    shutil.copy(SEED / "SWE_2020-09-23.csv", exporter.inbox.inbox_dir / "SWE_2020-09-23.csv")
    exporter.scan()
    s = drop(exporter, "SWE_2020-09-24.csv", SWE_HEADER.encode())
    assert "reason: no_valid_rows" in rejected_reason(exporter, "SWE_2020-09-24.csv")
    assert value(s, "smmc_meters_with_active_flag", concentrator="TD-0011", comuna="unknown", flag="PUP") == 1
    assert value(s, "smmc_source_files_rejected_total", kind="swe") == 1
    # a work-order report with no row is a day without work orders, not a broken file
    hpe_header = (SEED / "HPE_2021-07-21.csv").read_text().splitlines()[0] + "\n"
    s = drop(exporter, "HPE_2021-07-22.csv", hpe_header.encode())
    assert value(s, "smmc_source_up", kind="hpe") == 1
    assert value(s, "smmc_source_files_rejected_total", kind="hpe") == 0


def test_a_binary_or_utf16_file_is_unreadable_with_a_printable_reason(exporter: Exporter) -> None:
    s = drop(exporter, "SWE_2020-09-25.csv", (SWE_HEADER + SWE_ROW).encode("utf-16"))
    reason = rejected_reason(exporter, "SWE_2020-09-25.csv")
    assert "reason: unreadable" in reason and "NUL bytes" in reason
    assert value(s, "smmc_source_files_rejected_total", kind="swe") == 1
    s = drop(exporter, "SWE_2020-09-26.csv", b"\x1b[2J\x07garbage\x01\tcolumns\n1\t2\n")
    reason = rejected_reason(exporter, "SWE_2020-09-26.csv")
    assert "reason: wrong_header" in reason
    assert all(c.isprintable() or c == "\n" for c in reason)
