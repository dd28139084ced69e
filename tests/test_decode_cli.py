"""`smmc decode`: tables for people, --json for scripts, one stderr line and exit 2 for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from smmc.decode.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_meter_table(capsys):
    rc, out, err = run(capsys, "meter", "--normal1", "0x0009", "--extended2", "0x0008")
    assert (rc, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["normal1", "=", "0x0009", "(9)"]
    assert lines[1].split() == ["extended2", "=", "0x0008", "(8)"]
    assert lines[3].split()[:7] == ["WORD", "BIT", "FLAG", "CATEGORY", "SEVERITY", "MAINTENANCE", "PER-METER"]
    rows = [line.split()[:7] for line in lines[4:]]
    assert rows == [
        ["normal1", "0", "PUP", "power", "warning", "remote", "no"],
        ["normal1", "3", "AFC", "communication", "warning", "remote", "no"],
        ["extended2", "3", "BAT_LOW", "hardware", "warning", "field", "yes"],
    ]
    assert "Backup battery failure" in lines[-1]


def test_meter_decimal_unlisted_and_empty(capsys):
    rc, out, _ = run(capsys, "meter", "--normal1", "256")
    assert rc == 0 and "bit8" in out and "unlisted in the seed; not a fault" in out
    rc, out, _ = run(capsys, "meter", "--normal2", "0")
    assert rc == 0 and out.rstrip().endswith("no flag set")


def test_meter_json(capsys):
    rc, out, _ = run(capsys, "meter", "--extended1", "0x0008", "--normal2", "4096", "--json")
    data = json.loads(out)
    assert rc == 0
    assert data["words"] == {
        "normal2": {"value": 4096, "hex": "0x1000"},
        "extended1": {"value": 8, "hex": "0x0008"},
    }
    assert [(f["word"], f["acronym"], f["listed"]) for f in data["flags"]] == [
        ("normal2", "SGR_OCC", True),
        ("extended1", "CAPE", True),
    ]
    cape = data["flags"][1]
    assert (cape["category"], cape["severity"], cape["maintenance"], cape["per_meter"]) == (
        "tamper",
        "warning",
        "remote",
        True,
    )


def test_csw_table_and_json(capsys):
    rc, out, _ = run(capsys, "csw", "08001E")
    assert rc == 0
    assert out.startswith("CSW 08001E  healthy: no flag in alarm\nlayout: inferred")
    assert any(line.split()[:4] == ["19", "-", "bit19", "set"] for line in out.splitlines())
    rc, out, _ = run(capsys, "csw", "0x000016", "--json")  # O clear: alarm
    data = json.loads(out)
    assert rc == 0 and data["healthy"] is False and data["alarms"] == ["O"] and data["hex"] == "000016"
    rc, out, _ = run(capsys, "csw", "00101E")
    assert "1 flag(s) in alarm: U PLC Modem Failure (alta)" in out.splitlines()[0]


def test_event(capsys):
    rc, out, _ = run(capsys, "event", "3.12.29.212")
    assert rc == 0
    assert out.splitlines()[0] == "3.12.29.212  Meter cover removed"
    assert "Security" in out and "Cover" in out and "Removed" in out
    assert "CAPE (extended1 bit 3; tamper, warning, remote)" in out
    rc, out, _ = run(capsys, "event", "3.26.0.85", "--json")
    data = json.loads(out)
    assert (data["domain"], data["flag"], data["known"]) == ({"code": 26, "name": "Power"}, "PUP", True)


def test_wo_error(capsys):
    rc, out, _ = run(capsys, "wo-error", "[READ_BILLING_PREVIOUSPERIOD] [TB ACK_23] NODE NOT REACHABLE AGENT")
    assert rc == 0
    pairs = {line.split(None, 1)[0]: line.split(None, 1)[1] for line in out.splitlines()}
    assert pairs["outcome"] == "error"
    assert pairs["error"] == "node_not_reachable (seed row: NODE NOT REACHABLE)"
    assert (pairs["category"], pairs["maintenance"]) == ("meter_reachability", "field")
    assert (pairs["activity"], pairs["tb_ack"], pairs["detail"]) == (
        "READ_BILLING_PREVIOUSPERIOD",
        "TB_ACK_23",
        "NODE NOT REACHABLE AGENT",
    )
    rc, out, _ = run(capsys, "wo-error", "Something new", "--json")
    assert rc == 0 and json.loads(out)["code"] == "unclassified"
    rc, out, _ = run(capsys, "wo-error", "OK")
    assert rc == 0 and out.splitlines()[0].split() == ["outcome", "ok"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["meter", "--normal1", "zz"], "smmc decode meter: --normal1 'zz' is not a number"),
        (["meter", "--normal1", "-3"], "smmc decode meter: --normal1 '-3' is not a number"),
        (["meter", "--extended2", "0x10000"], "smmc decode meter: --extended2 0x10000 is over 16 bits"),
        (["meter", "--normal2", "65536"], "smmc decode meter: --normal2 65536 is over 16 bits"),
        (["meter"], "smmc decode meter: give at least one of --normal1"),
        (["meter", "--normal5", "1"], "smmc decode: unrecognized arguments: --normal5 1"),
        (["csw", "1000000"], "smmc decode csw: CSW 1000000 is over 24 bits"),
        (["csw", "0x1FFFFFF"], "smmc decode csw: CSW 0x1FFFFFF is over 24 bits"),
        (["csw", "hello"], "smmc decode csw: CSW 'hello' is not a hexadecimal number"),
        (["event", "3.26.0"], "smmc decode event: event code '3.26.0' is not of the form"),
        (["event", "power"], "smmc decode event: event code 'power' is not of the form"),
        (["bogus"], "smmc decode: argument {meter,csw,event,wo-error}: invalid choice: 'bogus'"),
        ([], "smmc decode: the following arguments are required"),
        (["csw"], "smmc decode csw: the following arguments are required: value"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_2(capsys, argv, message):
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(message), err


def test_broken_override_is_exit_1_with_the_reason(capsys, tmp_path):
    (tmp_path / "concentrator_status_word.yaml").write_text("layout:\n  bits: {A: 99}\n", encoding="utf-8")
    rc, out, err = run(capsys, "csw", "1E", "--catalogs", str(tmp_path))
    assert rc == 1 and out == ""
    assert err.startswith(
        f"smmc decode: catalog error: {tmp_path}/concentrator_status_word.yaml: layout.bits: A"
    )


def test_help_exits_0(capsys):
    rc, out, _ = run(capsys, "meter", "--help")
    assert rc == 0 and "--extended1" in out and "--json" in out


def test_through_the_smmc_command():
    ok = subprocess.run(
        [sys.executable, "-m", "smmc.cli", "decode", "csw", "00001E"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0 and ok.stdout.startswith("CSW 00001E  healthy")
    bad = subprocess.run(
        [sys.executable, "-m", "smmc.cli", "decode", "meter", "--normal1", "0x1FFFF"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == "smmc decode meter: --normal1 0x1FFFF is over 16 bits (max 0xFFFF = 65535)\n"


def test_a_reader_that_stops_early_is_not_an_error():
    """`smmc decode csw FFFFFF | head -3`: no BrokenPipeError traceback, exit 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "smmc.cli", "decode", "csw", "FFFFFF"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader is gone before the table is written
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 0, stderr
    assert stderr == ""
