"""IEC 61968-9 EndDeviceEventType codes (`type.domain.subdomain.eventOrAction`) of the SWE/HPE/LPE files."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._yaml import SOURCE, Field, check_entry, check_sections, merge_section, read_yaml, section
from .errors import CatalogError, InvalidValue

FILE_NAME = "cim_event_types.yaml"
TABLES = ("device_types", "domains", "subdomains", "events")
_CODE = re.compile(r"(\d{1,5})\.(\d{1,5})\.(\d{1,5})\.(\d{1,5})")
_KNOWN_FIELDS = (
    Field("code", str),
    Field("meaning", str),
    Field("hes_label", str, required=False),
    Field("flag", str, required=False),
    Field("inferred", bool, required=False, default=False),
    Field("note", str, required=False, default=""),
)


@dataclass(frozen=True)
class EventType:
    code: str
    device_type: str
    domain: str
    subdomain: str
    event: str
    text: str  # the meaning: the catalog's words for a known code, else the four names joined
    flag: str | None  # the meter status flag the head-end raises this code for (PUP, CAPE, AFC)
    hes_label: str | None = None
    known: bool = False  # one of the codes the seed's files use, with a curated meaning
    inferred: bool = False  # the meaning is this project's reading, not the standard's
    note: str = ""
    numbers: tuple[int, int, int, int] = (0, 0, 0, 0)
    unlisted: tuple[str, ...] = ()  # the parts whose number is in no table (vendor-specific)


def parse_code(code: str) -> tuple[int, int, int, int]:
    if not isinstance(code, str) or not (m := _CODE.fullmatch(code.strip())):
        raise InvalidValue(
            f"event code {code!r} is not of the form type.domain.subdomain.event (e.g. 3.26.0.85)"
        )
    a, b, c, d = (int(x) for x in m.groups())
    return a, b, c, d


class CimCatalog:
    def __init__(self, tables: dict[str, dict[int, str]], known: dict[str, dict[str, Any]]) -> None:
        self.tables = tables
        self.known = known
        self.event_type = functools.lru_cache(maxsize=4096)(self._event_type)

    def _event_type(self, code: str) -> EventType:
        numbers = parse_code(code)
        names: list[str] = []
        unlisted: list[str] = []
        for table, n in zip(TABLES, numbers, strict=True):
            name = self.tables[table].get(n)
            if name is None:
                unlisted.append(table)
                name = f"unlisted({n})"
            names.append(name)
        canonical = ".".join(map(str, numbers))
        k = self.known.get(canonical, {})
        text = k.get("meaning") or f"{names[0]}: {names[1]} / {names[2]} / {names[3]}"
        return EventType(
            code=canonical,
            device_type=names[0],
            domain=names[1],
            subdomain=names[2],
            event=names[3],
            text=text,
            flag=k.get("flag"),
            hes_label=k.get("hes_label"),
            known=bool(k),
            inferred=bool(k.get("inferred", False)),
            note=k.get("note", ""),
            numbers=numbers,
            unlisted=tuple(unlisted),
        )

    def code_for_flag(self, acronym: str) -> str | None:
        return next((code for code, k in self.known.items() if k.get("flag") == acronym), None)


def load(base: Path, override: Path | None) -> CimCatalog:
    data = read_yaml(base)
    check_sections(data, (*TABLES, "known_codes"), file=base)
    raw_tables: dict[str, tuple[dict[Any, Any], Path]] = {
        t: (section(data, t, dict, file=base), base) for t in TABLES
    }
    known_raw = section(data, "known_codes", list, file=base)
    if override is not None:
        odata = read_yaml(override)
        check_sections(odata, (*TABLES, "known_codes"), file=override)
        for t in TABLES:
            if t in odata:
                extra = section(odata, t, dict, file=override)
                raw_tables[t] = ({**raw_tables[t][0], **extra}, override)
        if "known_codes" in odata:
            known_raw = merge_section(known_raw, odata, "known_codes", lambda e: e["code"], base, override)
    tables: dict[str, dict[int, str]] = {}
    for t, (mapping, file) in raw_tables.items():
        table: dict[int, str] = {}
        for n, name in mapping.items():
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise CatalogError(f"code {n!r} must be a non-negative integer", file=file, entry=t)
            if not isinstance(name, str) or not name.strip():
                raise CatalogError(f"code {n} must have a name, got {name!r}", file=file, entry=t)
            table[n] = name
        tables[t] = table
    known: dict[str, dict[str, Any]] = {}
    for i, raw in enumerate(known_raw):
        file = raw.get(SOURCE, base) if isinstance(raw, dict) else base
        where = f"known_codes[{i}]" + (f" ({raw['code']})" if isinstance(raw, dict) and "code" in raw else "")
        e = check_entry(raw, _KNOWN_FIELDS, file=file, where=where)
        try:
            numbers = parse_code(e["code"])
        except InvalidValue as exc:
            raise CatalogError(str(exc), file=file, entry=where) from None
        for t, n in zip(TABLES, numbers, strict=True):
            if n not in tables[t]:
                raise CatalogError(f"{t} has no code {n}", file=file, entry=where)
        canonical = ".".join(map(str, numbers))
        if canonical in known:
            raise CatalogError("code listed twice", file=file, entry=where)
        known[canonical] = {**e, SOURCE: file, "where": where}
    return CimCatalog(tables, known)
