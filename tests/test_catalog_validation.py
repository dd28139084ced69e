"""A wrong catalog (shipped or a site override) is a clear error that names the file, the entry and the
problem, at load time, never a KeyError later."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from smmc.catalogs import CATALOG_DIR, FILES, OVERRIDE_ENV, CatalogError, load_catalogs

METER, CSW, WO, CIM = FILES


@pytest.fixture
def base(tmp_path: Path) -> Path:
    d = tmp_path / "catalogs"
    d.mkdir()
    for name in FILES:
        shutil.copy(CATALOG_DIR / name, d / name)
    return d


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"test setup: {old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def load_error(**kwargs) -> str:
    with pytest.raises(CatalogError) as err:
        load_catalogs(**kwargs)
    return str(err.value)


def test_the_copied_catalogs_load(base):
    assert len(load_catalogs(base_dir=base).meter_flags) == 47


@pytest.mark.parametrize(
    ("file", "old", "new", "entry", "problem"),
    [
        (
            METER,
            "severity: warning\n    maintenance: remote\n    per_meter: true\n"
            "  - word: extended1\n    bit: 4\n",
            "severity: urgent\n    maintenance: remote\n    per_meter: true\n"
            "  - word: extended1\n    bit: 4\n",
            "(extended1 bit 3 CAPE)",
            "field 'severity' is 'urgent'; allowed: critical, warning, info",
        ),
        (METER, "    acronym: ORD\n", "", "(normal1 bit 1)", "missing field 'acronym'"),
        (
            METER,
            "    acronym: ORD\n",
            "    acronym: PUP\n",
            "(normal1 bit 1 PUP)",
            "acronym 'PUP' is already used",
        ),
        (
            METER,
            "  - word: extended2\n    bit: 6\n",
            "  - word: extended2\n    bit: 16\n",
            "(extended2 bit 16",
            "bit 16 is outside 0..15",
        ),
        (
            METER,
            "  - word: extended2\n    bit: 6\n",
            "  - word: extended2\n    bit: 5\n",
            "(extended2 bit 5",
            "bit listed twice",
        ),
        (
            METER,
            "    acronym: WRNTHD\n",
            "    acronym: WRNTHD\n    colour: red\n",
            "(extended2 bit 6 WRNTHD)",
            "unknown field(s) colour",
        ),
        (
            METER,
            "    per_meter: false\n",
            "    per_meter: 'no'\n",
            "(normal1 bit 0 PUP)",
            "field 'per_meter' must be true or false",
        ),
        (
            METER,
            "    category: power\n",
            "    category: grid\n",
            "(normal1 bit 0 PUP)",
            "field 'category' is 'grid'",
        ),
        (METER, "    acronym: ORD\n", "    acronym: ORD\n    acronym: ORD2\n", "", "duplicate key 'acronym'"),
        (CSW, "priority: media}", "priority: high}", "flags[0] (A)", "field 'priority' is 'high'"),
        (
            CSW,
            "{letter: R, name: Dis,",
            "{letter: Q, name: Dis,",
            "layout.bits",
            "layout has no bit for letter Q",
        ),
        (
            CSW,
            "  - {letter: R, name: Dis, description: Not used, polarity: none, priority: baja}\n",
            "",
            "layout.bits",
            "bits given for letters no flag has: R",
        ),
        (CSW, "O: 3, E: 2", "O: 3, E: 3", "layout.bits", "both claim bit 3"),
        (
            CSW,
            "polarity: clear, priority: alta}",
            "polarity: inverted, priority: alta}",
            "flags[15] (E)",
            "field 'polarity' is 'inverted'",
        ),
        (
            WO,
            "pattern: 'ADDRESS ERROR'",
            "pattern: 'ADDRESS (ERROR'",
            "errors[10] (address_error)",
            "is not a valid regex",
        ),
        (WO, "pattern: 'BAD FIELD'", "pattern: 'BAD FIELDS'", "bad_field", "is not matched by its pattern"),
        (
            WO,
            "pattern: 'Concentrator is unreachable'",
            "pattern: 'Concentrator is unreachable.*'",
            "concentrator_unreachable_socket",
            "is taken by the earlier entry 'concentrator_unreachable'",
        ),
        (
            WO,
            "    maintenance: retry\n",
            "    maintenance: later\n",
            "(id_already_in_trape)",
            "field 'maintenance' is 'later'",
        ),
        (WO, "  - id: wrong_key\n", "  - id: bad_field\n", "(bad_field)", "id listed twice"),
        (
            CIM,
            "    flag: CAPE\n",
            "    flag: CAP\n",
            "known_codes[1] (3.12.29.212)",
            "flag 'CAP' of code 3.12.29.212",
        ),
        (CIM, 'code: "3.23.1.79"', 'code: "3.23.1"', "known_codes[2]", "not of the form"),
        (CIM, 'code: "3.23.1.79"', 'code: "3.22.1.79"', "known_codes[2]", "domains has no code 22"),
        (CIM, "  26: Power\n", "  26: ''\n", "domains", "code 26 must have a name"),
        (CIM, "\nknown_codes:", "\nknown_codez:", "", "unknown section(s) known_codez"),
    ],
)
def test_broken_shipped_catalog(base, file, old, new, entry, problem):
    edit(base / file, old, new)
    message = load_error(base_dir=base)
    assert str(base / file) in message
    assert entry in message
    assert problem in message


def test_invalid_yaml_names_the_file_and_line(base):
    edit(base / WO, 'error: "GB_NACK_255', "error: GB_NACK_255")
    message = load_error(base_dir=base)
    assert str(base / WO) in message and "not valid YAML" in message and "line 83" in message


def test_missing_file(base):
    (base / CIM).unlink()
    assert load_error(base_dir=base) == f"{base / CIM}: catalog file is missing"


def test_top_level_not_a_mapping(base):
    (base / METER).write_text("- 1\n- 2\n", encoding="utf-8")
    assert load_error(base_dir=base) == f"{base / METER}: expected a mapping at the top level"


def test_broken_override_names_the_override_file(tmp_path):
    override = tmp_path / "site"
    override.mkdir()
    (override / METER).write_text("flags:\n  - {word: extended1, bit: 3, severity: page}\n", encoding="utf-8")
    message = load_error(override_dir=override)
    assert message.startswith(f"{override / METER}: flags[")
    assert "(extended1 bit 3 CAPE)" in message and "field 'severity' is 'page'" in message


def test_override_of_a_new_bit_must_be_complete(tmp_path):
    (tmp_path / METER).write_text("flags:\n  - {word: normal1, bit: 8, acronym: NEW8}\n", encoding="utf-8")
    message = load_error(override_dir=tmp_path)
    assert f"{tmp_path / METER}: flags[47] (normal1 bit 8 NEW8): missing field 'summary'" == message


def test_override_sections_are_checked(tmp_path):
    (tmp_path / METER).write_text("words: {}\n", encoding="utf-8")
    assert "unknown section(s) words (allowed: flags)" in load_error(override_dir=tmp_path)


def test_unknown_override_file_name_is_refused(tmp_path):
    (tmp_path / "meter_status_word.yaml").write_text("flags: []\n", encoding="utf-8")
    message = load_error(override_dir=tmp_path)
    assert "meter_status_word.yaml: not a catalog file name" in message


def test_missing_override_directory(tmp_path):
    assert "override directory does not exist" in load_error(override_dir=tmp_path / "nope")


def test_a_site_override_changes_entries_and_adds_bits(tmp_path):
    (tmp_path / METER).write_text(
        """flags:
  - {word: extended1, bit: 3, severity: critical}
  - word: normal1
    bit: 8
    acronym: SITE8
    summary: Site-specific bit 8
    description: Documented by the site's meter vendor
    category: configuration
    severity: info
    maintenance: none
    per_meter: false
""",
        encoding="utf-8",
    )
    cat = load_catalogs(tmp_path)
    assert cat.meter_flag("CAPE").severity == "critical"
    assert cat.meter_flag("CAPE").description.startswith("Meter case opening")
    assert [d.acronym for d in cat.decode_meter_words({"normal1": 0x0100})] == ["SITE8"]
    assert load_catalogs().meter_flag("CAPE").severity == "warning"  # the shipped catalog is untouched


def test_override_from_the_environment_and_caching(tmp_path, monkeypatch):
    (tmp_path / METER).write_text(
        "flags:\n  - {word: normal1, bit: 0, severity: critical}\n", encoding="utf-8"
    )
    monkeypatch.setenv(OVERRIDE_ENV, str(tmp_path))
    cat = load_catalogs()
    assert cat.meter_flag("PUP").severity == "critical" and cat.override_dir == tmp_path.resolve()
    assert load_catalogs() is cat
    monkeypatch.setenv(OVERRIDE_ENV, "")
    assert load_catalogs().meter_flag("PUP").severity == "warning"
