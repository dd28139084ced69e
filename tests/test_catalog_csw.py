"""Concentrator status word: the seed's 18 flags, the inferred default layout, polarity and site layouts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smmc.catalogs import CatalogError, InvalidValue, load_catalogs

FIXTURES = Path(__file__).parent / "fixtures" / "catalogs"


def seed_legend() -> list[tuple[str, str, str]]:
    """(letter, name, description) in the seed's listing order."""
    rows = []
    for line in (FIXTURES / "seed_csw_legend.txt").read_text(encoding="utf-8").splitlines():
        head, description = line.split("\t")
        letter, name = head.split(" ", 1)
        rows.append((letter, name, description))
    return rows


def seed_report_csws() -> list[str]:
    lines = (FIXTURES / "seed_csw_report.txt").read_text(encoding="utf-8").splitlines()
    return [line.split("\t")[4] for line in lines if re.match(r"TD-\d+\t", line)]


LEGEND = seed_legend()


@pytest.fixture(scope="module")
def cat():
    return load_catalogs()


def test_the_eighteen_flags_of_the_seed(cat):
    assert len(LEGEND) == 18
    by_letter = {f.letter: f for f in cat.csw_flags}
    assert list(by_letter) == [letter for letter, _n, _d in LEGEND]  # most significant first = listing order
    for letter, name, description in LEGEND:
        assert (by_letter[letter].name, by_letter[letter].description) == (name, description)


def test_default_layout_is_the_listing_order_ending_at_bit_0(cat):
    expected = {letter: len(LEGEND) - 1 - i for i, (letter, _n, _d) in enumerate(LEGEND)}
    assert {f.letter: f.bit for f in cat.csw_flags} == expected
    assert (expected["R"], expected["G"], expected["E"], expected["O"], expected["B"], expected["A"]) == (
        0,
        1,
        2,
        3,
        4,
        17,
    )
    assert all(f.inferred_bit for f in cat.csw_flags)
    assert cat.csw.layout_inferred


@pytest.mark.parametrize("letter", ["U", "Z", "I", "J", "K", "L", "T"])
def test_alarm_when_set(cat, letter):
    flag = cat.csw_flag(letter)
    assert flag.polarity == "set"
    healthy = cat.decode_csw("00001E")
    assert flag not in healthy.alarms
    d = cat.decode_csw(0x1E | flag.mask)
    assert d.alarms == [flag] and not d.healthy


@pytest.mark.parametrize("letter", ["O", "E", "B"])
def test_alarm_when_clear(cat, letter):
    flag = cat.csw_flag(letter)
    assert flag.polarity == "clear"
    d = cat.decode_csw(0x1E & ~flag.mask)
    assert d.alarms == [flag] and not d.healthy


def test_every_flag_has_a_control_room_priority(cat):
    assert {f.priority for f in cat.csw_flags} <= {"alta", "media", "baja"}
    assert cat.csw_flag("U").priority == "alta"
    assert {f.letter for f in cat.csw_flags if f.polarity == "none"} == {"F", "C", "M", "G", "R"}


def test_seed_report_values_decode_healthy(cat):
    values = seed_report_csws()
    assert sorted(set(values)) == ["00001E", "08001E"] and len(values) == 14
    for value in values:
        d = cat.decode_csw(value)
        assert d.healthy, value
        assert [s.flag.letter for s in d.flags if s.is_set] == ["B", "O", "E", "G"]
    assert cat.decode_csw("00001E").unlisted_bits == []
    assert cat.decode_csw("08001E").unlisted_bits == [19]


def test_every_state_is_reported_and_in_alarm_follows_polarity(cat):
    d = cat.decode_csw(0xFFFFFF)
    assert d.unlisted_bits == [23, 22, 21, 20, 19, 18]
    assert len(d.flags) == 18 and all(s.is_set for s in d.flags)
    assert {s.flag.letter for s in d.flags if s.in_alarm} == {
        "A",
        "S",
        "T",
        "L",
        "U",
        "I",
        "J",
        "K",
        "Y",
        "Z",
    }
    assert {f.letter for f in cat.decode_csw(0).alarms} == {"B", "O", "E"}


@pytest.mark.parametrize("text", ["08001E", "0x08001E", "0X08001e", " 08001E ", 0x08001E])
def test_value_forms(cat, text):
    assert cat.decode_csw(text).value == 0x08001E


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1000000", "over 24 bits"),
        (0x1000000, "over 24 bits"),
        ("ZZ", "not a hexadecimal number"),
        ("", "not a hexadecimal number"),
        ("0x", "not a hexadecimal number"),
        (-1, "negative"),
        (1.5, "not a number"),
    ],
)
def test_bad_values(cat, value, message):
    with pytest.raises(InvalidValue, match=message):
        cat.decode_csw(value)


BYTE_GROUPED = """\
layout:
  inferred: false
  note: site layout, byte-grouped
  bits: {A: 23, S: 22, T: 21, L: 20, F: 19, U: 18, C: 17, M: 16, I: 9, J: 8, K: 7, Y: 6, Z: 5, B: 4,
         O: 3, E: 2, G: 1, R: 0}
"""


def test_a_site_layout_file_changes_the_bits_without_code(tmp_path):
    (tmp_path / "concentrator_status_word.yaml").write_text(BYTE_GROUPED, encoding="utf-8")
    cat = load_catalogs(tmp_path)
    assert not cat.csw.layout_inferred and cat.csw_flag("F").bit == 19
    d = cat.decode_csw("08001E")
    assert d.unlisted_bits == [] and cat.csw_flag("F") in [s.flag for s in d.flags if s.is_set]
    assert d.healthy  # F (CONN-C completion) is never an alarm


def test_a_site_can_change_a_flag_priority_and_polarity(tmp_path):
    (tmp_path / "concentrator_status_word.yaml").write_text(
        "flags:\n  - {letter: G, polarity: clear, priority: media}\n", encoding="utf-8"
    )
    cat = load_catalogs(tmp_path)
    g = cat.csw_flag("G")
    assert (g.polarity, g.priority, g.description) == (
        "clear",
        "media",
        "Daylight saving time period configured.",
    )
    assert [f.letter for f in cat.decode_csw("00001C").alarms] == ["G"]


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("{A: 17, S: 17}", "S and A both claim bit 17|A and S both claim bit 17"),
        ("{A: 24}", "A: bit 24 is outside 0..23"),
        ("{A: 17}", "layout has no bit for letter S"),
    ],
)
def test_a_wrong_site_layout_is_a_clear_error(tmp_path, layout, message):
    path = tmp_path / "concentrator_status_word.yaml"
    path.write_text(f"layout:\n  bits: {layout}\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=message) as err:
        load_catalogs(tmp_path)
    assert str(path) in str(err.value) and "layout.bits" in str(err.value)


def test_unknown_letter_is_a_catalog_error(cat):
    with pytest.raises(CatalogError, match="unknown CSW flag 'Q'"):
        cat.csw_flag("Q")
