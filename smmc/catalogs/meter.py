"""Meter status words: the four 16-bit words of a NEXY-M meter and the flag behind each listed bit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ._yaml import SOURCE, Field, check_entry, check_sections, merge_section, read_yaml, section
from .bits import BitFlag, within_bits
from .errors import CatalogError, InvalidValue

FILE_NAME = "meter_status_words.yaml"

Word = Literal["normal1", "normal2", "extended1", "extended2"]
WORDS: tuple[Word, ...] = ("normal1", "normal2", "extended1", "extended2")
WORD_WIDTH = 16
CATEGORIES = (
    "power",
    "clock",
    "communication",
    "firmware",
    "hardware",
    "tamper",
    "billing",
    "contract",
    "event_register",
    "configuration",
    "prepayment",
)
SEVERITIES = ("critical", "warning", "info")
MAINTENANCE = ("remote", "specialist", "field", "scheduled", "none")

_FLAG_FIELDS = (
    Field("word", str, WORDS),
    Field("bit", int),
    Field("acronym", str),
    Field("summary", str),
    Field("description", str),
    Field("category", str, CATEGORIES),
    Field("severity", str, SEVERITIES),
    Field("maintenance", str, MAINTENANCE),
    Field("per_meter", bool),
)
_WORD_FIELDS = (Field("title", str), Field("width", int, (WORD_WIDTH,)))


@dataclass(frozen=True)
class MeterFlag(BitFlag):
    word: Word
    bit: int
    acronym: str
    description: str
    category: str
    severity: str
    maintenance: str
    per_meter: bool
    summary: str


@dataclass(frozen=True)
class DecodedBit:
    """A set bit of a status word. `listed` is False for a bit the seed does not list (acronym `bitN`)."""

    word: Word
    bit: int
    acronym: str
    listed: bool
    flag: MeterFlag | None


class MeterWords:
    """The validated flags of the four words, indexed by word and bit and by acronym."""

    def __init__(self, flags: tuple[MeterFlag, ...], titles: Mapping[str, str]) -> None:
        self.flags = flags
        self.titles = dict(titles)
        self.by_word: dict[str, dict[int, MeterFlag]] = {w: {} for w in WORDS}
        for f in flags:
            self.by_word[f.word][f.bit] = f
        self.by_acronym = {f.acronym: f for f in flags}

    def flag(self, acronym: str) -> MeterFlag:
        try:
            return self.by_acronym[acronym]
        except KeyError:
            raise CatalogError(f"unknown meter status flag {acronym!r}", file=FILE_NAME) from None

    def decode(self, words: Mapping[str, int]) -> list[DecodedBit]:
        """The set bits of the given words (any subset of the four), in word order then bit order."""
        unknown = sorted(set(words) - set(WORDS))
        if unknown:
            raise InvalidValue(f"unknown status word(s) {', '.join(unknown)}; known: {', '.join(WORDS)}")
        out: list[DecodedBit] = []
        for word in WORDS:
            if word not in words:
                continue
            value = check_word_value(word, words[word])
            listed = self.by_word[word]
            bit = 0
            while value:
                if value & 1:
                    flag = listed.get(bit)
                    acronym = flag.acronym if flag else f"bit{bit}"
                    out.append(DecodedBit(word, bit, acronym, flag is not None, flag))
                value >>= 1
                bit += 1
        return out


def check_word_value(word: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(f"{word}: {value!r} is not an integer")
    shown = f"0x{value:X}" if value >= 0 else str(value)
    return within_bits(value, WORD_WIDTH, f"{word}: {shown}", "0xFFFF")


def load(base: Path, override: Path | None) -> MeterWords:
    data = read_yaml(base)
    check_sections(data, ("words", "flags"), file=base)
    words = section(data, "words", dict, file=base)
    if sorted(words) != sorted(WORDS):
        raise CatalogError(f"section 'words' must list exactly {', '.join(WORDS)}", file=base)
    titles = {w: check_entry(words[w], _WORD_FIELDS, file=base, where=f"words.{w}")["title"] for w in WORDS}
    entries = section(data, "flags", list, file=base)
    if override is not None:
        odata = read_yaml(override)
        check_sections(odata, ("flags",), file=override)
        entries = merge_section(entries, odata, "flags", lambda e: (e["word"], e["bit"]), base, override)
    flags: list[MeterFlag] = []
    seen_acronyms: dict[str, str] = {}
    seen_bits: set[tuple[str, int]] = set()
    for i, raw in enumerate(entries):
        file = raw.get(SOURCE, base) if isinstance(raw, dict) else base
        where = _where(raw, i)
        e = check_entry(raw, _FLAG_FIELDS, file=file, where=where)
        if not 0 <= e["bit"] < WORD_WIDTH:
            raise CatalogError(f"bit {e['bit']} is outside 0..{WORD_WIDTH - 1}", file=file, entry=where)
        if (e["word"], e["bit"]) in seen_bits:
            raise CatalogError("bit listed twice", file=file, entry=where)
        seen_bits.add((e["word"], e["bit"]))
        if e["acronym"] in seen_acronyms:
            raise CatalogError(
                f"acronym {e['acronym']!r} is already used by {seen_acronyms[e['acronym']]}",
                file=file,
                entry=where,
            )
        if e["acronym"].lower().startswith("bit") and e["acronym"][3:].isdigit():
            raise CatalogError(
                "acronyms of the form bitN are reserved for unlisted bits", file=file, entry=where
            )
        seen_acronyms[e["acronym"]] = where
        flags.append(MeterFlag(**e))
    flags.sort(key=lambda f: (WORDS.index(f.word), f.bit))
    return MeterWords(tuple(flags), titles)


def _where(raw: Any, index: int) -> str:
    if isinstance(raw, dict) and "word" in raw and "bit" in raw:
        acronym = f" {raw['acronym']}" if "acronym" in raw else ""
        return f"flags[{index}] ({raw['word']} bit {raw['bit']}{acronym})"
    return f"flags[{index}]"
