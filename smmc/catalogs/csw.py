"""LVM concentrator status word (CSW): 24 bits, 18 lettered flags, each an alarm when set or when clear."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from ._yaml import SOURCE, Field, check_entry, check_sections, merge_section, read_yaml, section
from .bits import BitFlag, within_bits
from .errors import CatalogError, InvalidValue

FILE_NAME = "concentrator_status_word.yaml"
WIDTH = 24
POLARITIES = ("set", "clear", "none")
PRIORITIES = ("alta", "media", "baja")

_FLAG_FIELDS = (
    Field("letter", str),
    Field("name", str),
    Field("description", str),
    Field("polarity", str, POLARITIES),
    Field("priority", str, PRIORITIES),
)
_LAYOUT_FIELDS = (
    Field("inferred", bool, required=False, default=False),
    Field("note", str, required=False, default=""),
    Field("bits", dict),
)


@dataclass(frozen=True)
class CswFlag(BitFlag):
    letter: str
    name: str
    description: str
    bit: int
    polarity: str
    priority: str
    inferred_bit: bool

    def in_alarm(self, is_set: bool) -> bool:
        return (self.polarity == "set" and is_set) or (self.polarity == "clear" and not is_set)


class CswFlagState(NamedTuple):
    flag: CswFlag
    is_set: bool
    in_alarm: bool


@dataclass(frozen=True)
class CswDecoding:
    value: int
    flags: list[CswFlagState]  # every flag of the catalog, most significant bit first
    alarms: list[CswFlag]  # the flags in their alarm state
    unlisted_bits: list[int]  # set bits no flag owns (e.g. bit 19 of 08001E), never a fault
    layout_inferred: bool

    @property
    def healthy(self) -> bool:
        return not self.alarms

    @property
    def hex(self) -> str:
        return f"{self.value:06X}"


class CswCatalog:
    def __init__(self, flags: tuple[CswFlag, ...], *, layout_inferred: bool, layout_note: str) -> None:
        self.flags = tuple(sorted(flags, key=lambda f: -f.bit))
        self.layout_inferred = layout_inferred
        self.layout_note = layout_note
        self.by_letter = {f.letter: f for f in self.flags}
        self.listed_mask = sum(f.mask for f in self.flags)

    def flag(self, letter: str) -> CswFlag:
        try:
            return self.by_letter[letter]
        except KeyError:
            raise CatalogError(f"unknown CSW flag {letter!r}", file=FILE_NAME) from None

    def decode(self, value: int | str) -> CswDecoding:
        v = parse_csw(value)
        states = [CswFlagState(f, bool(v & f.mask), f.in_alarm(bool(v & f.mask))) for f in self.flags]
        unlisted = v & ~self.listed_mask
        return CswDecoding(
            value=v,
            flags=states,
            alarms=[s.flag for s in states if s.in_alarm],
            unlisted_bits=[b for b in range(WIDTH - 1, -1, -1) if unlisted >> b & 1],
            layout_inferred=self.layout_inferred,
        )


def parse_csw(value: int | str) -> int:
    """A CSW as the report writes it (6 hex digits, `0x` allowed) or as an integer; at most 24 bits."""
    if isinstance(value, bool):
        raise InvalidValue(f"CSW {value!r} is not a number")
    if isinstance(value, int):
        v = value
        shown = f"0x{value:X}" if value >= 0 else str(value)
    elif isinstance(value, str):
        text = value.strip()
        digits = text[2:] if text[:2].lower() == "0x" else text
        if not digits or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise InvalidValue(f"CSW {value!r} is not a hexadecimal number")
        v = int(digits, 16)
        shown = text
    else:
        raise InvalidValue(f"CSW {value!r} is not a number")
    return within_bits(v, WIDTH, f"CSW {shown}", "FFFFFF")


def load(base: Path, override: Path | None) -> CswCatalog:
    data = read_yaml(base)
    check_sections(data, ("width", "layout", "flags"), file=base)
    if data.get("width") != WIDTH:
        raise CatalogError(f"'width' must be {WIDTH}", file=base)
    layout_raw, layout_file = section(data, "layout", dict, file=base), base
    entries = section(data, "flags", list, file=base)
    if override is not None:
        odata = read_yaml(override)
        check_sections(odata, ("layout", "flags"), file=override)
        if "layout" in odata:  # a layout is replaced as a whole: a partial one could not be checked
            layout_raw, layout_file = section(odata, "layout", dict, file=override), override
        if "flags" in odata:
            entries = merge_section(entries, odata, "flags", lambda e: e["letter"], base, override)
    layout = check_entry(layout_raw, _LAYOUT_FIELDS, file=layout_file, where="layout")
    bits = _check_layout_bits(layout["bits"], layout_file)

    flags: list[CswFlag] = []
    for i, raw in enumerate(entries):
        file = raw.get(SOURCE, base) if isinstance(raw, dict) else base
        where = f"flags[{i}]" + (f" ({raw['letter']})" if isinstance(raw, dict) and "letter" in raw else "")
        e = check_entry(raw, _FLAG_FIELDS, file=file, where=where)
        if len(e["letter"]) != 1 or not e["letter"].isupper():
            raise CatalogError(f"letter {e['letter']!r} must be one capital letter", file=file, entry=where)
        if any(f.letter == e["letter"] for f in flags):
            raise CatalogError(f"letter {e['letter']} listed twice", file=file, entry=where)
        if e["letter"] not in bits:
            raise CatalogError(
                f"layout has no bit for letter {e['letter']}", file=layout_file, entry="layout.bits"
            )
        flags.append(CswFlag(bit=bits[e["letter"]], inferred_bit=layout["inferred"], **e))
    extra = sorted(set(bits) - {f.letter for f in flags})
    if extra:
        raise CatalogError(
            f"bits given for letters no flag has: {', '.join(extra)}", file=layout_file, entry="layout.bits"
        )
    return CswCatalog(tuple(flags), layout_inferred=layout["inferred"], layout_note=layout["note"])


def _check_layout_bits(bits: dict[Any, Any], file: Path) -> dict[str, int]:
    owner: dict[int, str] = {}
    for letter, bit in bits.items():
        if not isinstance(letter, str) or isinstance(bit, bool) or not isinstance(bit, int):
            raise CatalogError(
                f"{letter!r}: {bit!r} must be a letter and a bit number", file=file, entry="layout.bits"
            )
        if not 0 <= bit < WIDTH:
            raise CatalogError(
                f"{letter}: bit {bit} is outside 0..{WIDTH - 1}", file=file, entry="layout.bits"
            )
        if bit in owner:
            raise CatalogError(
                f"{letter} and {owner[bit]} both claim bit {bit}", file=file, entry="layout.bits"
            )
        owner[bit] = letter
    return dict(bits)
