"""Meter status words: every bit of the seed's four tables decodes to the seed's acronym and description."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smmc.catalogs import CatalogError, InvalidValue, load_catalogs
from smmc.catalogs.meter import CATEGORIES, WORDS

SEED = Path(__file__).parent / "fixtures" / "catalogs" / "seed_meter_status_words.txt"
TITLES = {
    "Normal status word - Tabla 1": "normal1",
    "Normal status word - Tabla 2": "normal2",
    "Extended status word – Table 1": "extended1",
    "Extended status word – Table 2": "extended2",
}


def seed_rows() -> list[tuple[str, int, str, str]]:
    """(word, bit, acronym, description) for every row of the seed's four tables, in the seed's order."""
    rows, word = [], None
    for line in SEED.read_text(encoding="utf-8").splitlines():
        if line.strip() in TITLES:
            word = TITLES[line.strip()]
        elif m := re.fullmatch(r"(\d+)\t(.+)\t(\S+)", line):
            assert word is not None, line
            rows.append((word, int(m.group(1)), m.group(3), m.group(2)))
    return rows


def norm(text: str) -> str:
    return " ".join(text.split())


SEED_ROWS = seed_rows()


@pytest.fixture(scope="module")
def cat():
    return load_catalogs()


def test_seed_excerpt_has_the_four_tables():
    counts = {w: sum(1 for r in SEED_ROWS if r[0] == w) for w in WORDS}
    assert counts == {"normal1": 15, "normal2": 13, "extended1": 12, "extended2": 7}


@pytest.mark.parametrize(("word", "bit", "acronym", "description"), SEED_ROWS, ids=[r[2] for r in SEED_ROWS])
def test_every_seed_bit_decodes_to_the_seed_acronym(cat, word, bit, acronym, description):
    decoded = cat.decode_meter_words({word: 1 << bit})
    assert [(d.word, d.bit, d.acronym, d.listed) for d in decoded] == [(word, bit, acronym, True)]
    flag = decoded[0].flag
    assert flag is cat.meter_flag(acronym)
    assert norm(flag.description) == norm(description)
    assert flag.mask == 1 << bit


def test_catalog_lists_exactly_the_seed_rows(cat):
    assert sorted((f.word, f.bit, f.acronym) for f in cat.meter_flags) == sorted(r[:3] for r in SEED_ROWS)


@pytest.mark.parametrize(
    ("word", "value", "acronyms"),
    [
        ("normal1", 0x0001, ["PUP"]),
        ("normal1", 0x0008, ["AFC"]),
        ("normal1", 0x0009, ["PUP", "AFC"]),
        ("normal1", 0x0020, ["SGR"]),
        ("normal1", 0x8000, ["FVP"]),
        ("normal2", 0x1000, ["SGR_OCC"]),
        ("normal2", 0x0004, ["EG1_F"]),
        ("normal2", 0xC000, ["C2_SCE1", "C2_SCE2"]),
        ("extended1", 0x0008, ["CAPE"]),
        ("extended1", 0x0001, ["WDODG"]),
        ("extended1", 0x0400, ["UNLOCKED"]),
        ("extended1", 0x4000, ["KP_ON"]),
        ("extended2", 0x0008, ["BAT_LOW"]),
        ("extended2", 0x0010, ["TC_Rem"]),
        ("extended2", 0x0040, ["WRNTHD"]),
    ],
)
def test_spot_checks_from_the_seed(cat, word, value, acronyms):
    assert [d.acronym for d in cat.decode_meter_words({word: value})] == acronyms


def test_unlisted_bits_decode_as_bitN_never_as_a_fault(cat):
    listed = {(w, b) for w, b, _a, _d in SEED_ROWS}
    unlisted = [(w, b) for w in WORDS for b in range(16) if (w, b) not in listed]
    assert ("normal1", 8) in unlisted and ("extended2", 15) in unlisted
    for word, bit in unlisted:
        (d,) = cat.decode_meter_words({word: 1 << bit})
        assert (d.acronym, d.listed, d.flag) == (f"bit{bit}", False, None)


def test_several_words_at_once_in_word_then_bit_order(cat):
    decoded = cat.decode_meter_words({"extended2": 0x0008, "normal1": 0x0109})
    assert [(d.word, d.acronym) for d in decoded] == [
        ("normal1", "PUP"),
        ("normal1", "AFC"),
        ("normal1", "bit8"),
        ("extended2", "BAT_LOW"),
    ]
    assert cat.decode_meter_words({"normal1": 0, "normal2": 0}) == []


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ({"normal1": 0x10000}, "over 16 bits"),
        ({"normal1": -1}, "negative"),
        ({"normal1": "0x1"}, "not an integer"),
        ({"normal1": True}, "not an integer"),
        ({"normal3": 1}, "unknown status word"),
    ],
)
def test_bad_word_values_are_invalid(cat, words, message):
    with pytest.raises(InvalidValue, match=message):
        cat.decode_meter_words(words)


def test_unknown_acronym_is_a_catalog_error_not_a_key_error(cat):
    with pytest.raises(CatalogError, match="unknown meter status flag 'NOPE'"):
        cat.meter_flag("NOPE")


def test_metadata_vocabularies_and_per_meter_policy(cat):
    assert cat.meter_categories == CATEGORIES
    for f in cat.meter_flags:
        assert f.category in CATEGORIES
        assert f.severity in ("critical", "warning", "info")
        assert f.maintenance in ("remote", "specialist", "field", "scheduled", "none")
        assert f.summary and len(f.summary) <= 60
        # per_meter only where a single meter must be chased: tamper and hardware faults
        assert f.per_meter == (f.category in ("tamper", "hardware")), f.acronym
    tamper = {f.acronym for f in cat.meter_flags if f.category == "tamper"}
    hardware = {f.acronym for f in cat.meter_flags if f.category == "hardware"}
    assert {"CAPE", "TC_Rem", "UNLOCKED", "INTA"} <= tamper
    assert {"SGR", "DRAM", "DEEP", "DFLA", "DMIS", "DZCR", "DDSP", "WDODG", "BAT_LOW"} <= hardware
    # no meter flag pages: the seed's meter process is remote check, specialist, field order
    assert cat.meter_flag("CAPE").severity == "warning"
    assert {f.severity for f in cat.meter_flags} == {"warning", "info"}
    assert cat.meter_flag("CPF1_1").severity == "info"
