"""docs/catalogs.md stays true: its tables and `smmc decode` examples are what the catalogs give."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from smmc.catalogs import load_catalogs
from smmc.decode.cli import main

DOC = Path(__file__).resolve().parent.parent / "docs" / "catalogs.md"


def rows(first_cell: str) -> list[list[str]]:
    """Table rows of the doc whose first cell matches `first_cell` (a regex), cells stripped of backticks."""
    out = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("| "):
            cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
            if re.fullmatch(first_cell, cells[0]):
                out.append(cells)
    return out


@pytest.fixture(scope="module")
def cat():
    return load_catalogs()


def test_meter_flag_table(cat):
    expected = [
        [
            f.word,
            str(f.bit),
            f.acronym,
            f.category,
            f.severity,
            f.maintenance,
            "yes" if f.per_meter else "no",
            f.summary,
        ]
        for f in cat.meter_flags
    ]
    assert rows(r"normal[12]|extended[12]") == expected


def test_csw_table(cat):
    never = {"set": "set", "clear": "clear", "none": "never"}
    expected = [
        [str(f.bit), f.letter, f.name, never[f.polarity], f.priority, f.description] for f in cat.csw_flags
    ]
    assert rows(r"\d+")[: len(expected)] == expected


def test_workorder_error_table(cat):
    got = rows(r"[a-z_]+")
    got = [r for r in got if r[0] in cat.wo_errors.by_id]
    assert [(r[0], r[2], r[3], r[4]) for r in got] == [
        (r.id, r.category, r.maintenance, r.object) for r in cat.wo_error_rules
    ]


def test_decode_examples_are_the_real_output(capsys):
    text = DOC.read_text(encoding="utf-8")
    block = text.split("## `smmc decode`", 1)[1]
    examples = re.findall(r"^\$ smmc decode (.+)\n((?:(?!\$ |```).*\n)*)", block, flags=re.MULTILINE)
    assert len(examples) == 4
    for command, shown in examples:
        assert main(shlex.split(command)) == 0
        out = capsys.readouterr().out
        assert shown.rstrip("\n") == out.rstrip("\n"), command
