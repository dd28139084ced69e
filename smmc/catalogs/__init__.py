"""The project's vocabulary: meter status-word flags, the concentrator status word (CSW), work-order errors
and IEC 61968-9 event codes. The data are the YAML files beside this module; they are loaded and validated
once, and a site override directory (files of the same names) changes entries without code changes.

    from smmc.catalogs import load_catalogs
    cat = load_catalogs()                       # or load_catalogs("/etc/smmc/catalogs")
    cat.decode_meter_words({"normal1": 0x0009}) # PUP, AFC
    cat.decode_csw("08001E").healthy            # True
    cat.classify_wo_error("[READ_METER_MACADDRESS] [TB ACK_40] REPEATER 1 FAILURE").maintenance  # "field"
    cat.event_type("3.12.29.212").flag          # "CAPE"
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path

from . import cim, csw, meter, workorders
from .cim import EventType
from .csw import CswDecoding, CswFlag, CswFlagState
from .errors import CatalogError, InvalidValue
from .meter import DecodedBit, MeterFlag
from .workorders import WoErrorMatch, WoErrorRule

__all__ = [
    "CATALOG_DIR",
    "OVERRIDE_ENV",
    "CatalogError",
    "Catalogs",
    "CswDecoding",
    "CswFlag",
    "CswFlagState",
    "DecodedBit",
    "EventType",
    "InvalidValue",
    "MeterFlag",
    "WoErrorMatch",
    "WoErrorRule",
    "load_catalogs",
]

CATALOG_DIR = Path(__file__).resolve().parent
OVERRIDE_ENV = "SMMC_CATALOG_OVERRIDES"
FILES = (meter.FILE_NAME, csw.FILE_NAME, workorders.FILE_NAME, cim.FILE_NAME)


class Catalogs:
    """All four catalogs, validated. Lookups never raise KeyError: CatalogError or InvalidValue instead."""

    def __init__(
        self,
        meter_words: meter.MeterWords,
        csw_catalog: csw.CswCatalog,
        wo_errors: workorders.WoErrorCatalog,
        events: cim.CimCatalog,
        *,
        base_dir: Path,
        override_dir: Path | None,
    ) -> None:
        self.meter_words = meter_words
        self.csw = csw_catalog
        self.wo_errors = wo_errors
        self.events = events
        self.base_dir = base_dir
        self.override_dir = override_dir
        self.classify_wo_error = wo_errors.classify  # lru-cached
        self.event_type = events.event_type  # lru-cached

    # meter status words
    @property
    def meter_flags(self) -> tuple[MeterFlag, ...]:
        return self.meter_words.flags

    meter_categories = meter.CATEGORIES

    def meter_flag(self, acronym: str) -> MeterFlag:
        return self.meter_words.flag(acronym)

    def decode_meter_words(self, words: Mapping[str, int]) -> list[DecodedBit]:
        return self.meter_words.decode(words)

    # concentrator status word
    @property
    def csw_flags(self) -> tuple[CswFlag, ...]:
        return self.csw.flags

    def csw_flag(self, letter: str) -> CswFlag:
        return self.csw.flag(letter)

    def decode_csw(self, value: int | str) -> CswDecoding:
        return self.csw.decode(value)

    # work-order errors
    @property
    def wo_error_categories(self) -> tuple[str, ...]:
        return self.wo_errors.categories

    @property
    def wo_error_rules(self) -> tuple[WoErrorRule, ...]:
        return self.wo_errors.rules


def load_catalogs(override_dir: str | Path | None = None, *, base_dir: str | Path | None = None) -> Catalogs:
    """Load and validate the catalogs once per (base, override) pair.

    `override_dir` defaults to the SMMC_CATALOG_OVERRIDES environment variable; an empty value means none.
    `base_dir` is for tests; the shipped catalogs are the default.
    """
    if override_dir is None:
        override_dir = os.environ.get(OVERRIDE_ENV) or None
    base = Path(base_dir).resolve() if base_dir is not None else CATALOG_DIR
    override = Path(override_dir).resolve() if override_dir is not None else None
    return _load(base, override)


@functools.lru_cache(maxsize=8)
def _load(base: Path, override: Path | None) -> Catalogs:
    overrides = _override_files(override) if override is not None else {}

    def part(name: str) -> tuple[Path, Path | None]:
        path = base / name
        if not path.is_file():
            raise CatalogError("catalog file is missing", file=path)
        return path, overrides.get(name)

    meter_words = meter.load(*part(meter.FILE_NAME))
    csw_catalog = csw.load(*part(csw.FILE_NAME))
    wo_errors = workorders.load(*part(workorders.FILE_NAME))
    events = cim.load(*part(cim.FILE_NAME))
    for code, known in events.known.items():
        flag = known.get("flag")
        if flag is not None and flag not in meter_words.by_acronym:
            raise CatalogError(
                f"flag {flag!r} of code {code} is not a meter status flag ({meter.FILE_NAME})",
                file=known[cim.SOURCE],
                entry=known["where"],
            )
    return Catalogs(meter_words, csw_catalog, wo_errors, events, base_dir=base, override_dir=override)


def _override_files(directory: Path) -> dict[str, Path]:
    if not directory.is_dir():
        raise CatalogError("override directory does not exist", file=directory)
    found: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix not in (".yaml", ".yml"):
            continue
        if path.name not in FILES:
            raise CatalogError(f"not a catalog file name; expected one of {', '.join(FILES)}", file=path)
        found[path.name] = path
    return found
