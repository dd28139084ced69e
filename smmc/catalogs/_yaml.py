"""Strict YAML reading and entry validation shared by the catalog parts.

Every problem becomes a CatalogError naming the file, the entry and what is wrong; nothing surfaces later
as a KeyError or a TypeError in an exporter.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smmc.yamlfile import read_mapping

from .errors import CatalogError

# Key under which each list entry remembers the file it came from (for error messages after a merge).
SOURCE = "_source_file"


def read_yaml(path: Path) -> dict[str, Any]:
    return read_mapping(path, CatalogError)


@dataclass(frozen=True)
class Field:
    """One field of a catalog entry: its type, allowed values, and whether it must be present."""

    name: str
    kind: type | tuple[type, ...]
    choices: tuple[Any, ...] | None = None
    required: bool = True
    default: Any = None


def _type_ok(value: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool):  # bool is an int in Python; a flag's bit number must not be `true`
        return bool in kinds
    return isinstance(value, kinds)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", int: "an integer", bool: "true or false", list: "a list", dict: "a mapping"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def check_entry(entry: Any, fields: Iterable[Field], *, file: Path | str, where: str) -> dict[str, Any]:
    """Validate one entry against its fields; return it with defaults filled and the source key dropped."""
    if not isinstance(entry, dict):
        raise CatalogError(f"expected a mapping, got {type(entry).__name__}", file=file, entry=where)
    fields = tuple(fields)
    known = {f.name for f in fields}
    unknown = sorted(set(entry) - known - {SOURCE})
    if unknown:
        raise CatalogError(
            f"unknown field(s) {', '.join(unknown)} (allowed: {', '.join(sorted(known))})",
            file=file,
            entry=where,
        )
    out: dict[str, Any] = {}
    for f in fields:
        if f.name not in entry or entry[f.name] is None:
            if f.required:
                raise CatalogError(f"missing field '{f.name}'", file=file, entry=where)
            out[f.name] = f.default
            continue
        value = entry[f.name]
        if not _type_ok(value, f.kind):
            raise CatalogError(
                f"field '{f.name}' must be {_kind_name(f.kind)}, got {value!r}", file=file, entry=where
            )
        if isinstance(value, str) and not value.strip():
            raise CatalogError(f"field '{f.name}' is empty", file=file, entry=where)
        if f.choices is not None and value not in f.choices:
            raise CatalogError(
                f"field '{f.name}' is {value!r}; allowed: {', '.join(map(str, f.choices))}",
                file=file,
                entry=where,
            )
        out[f.name] = value
    return out


def section(data: dict[str, Any], name: str, kind: type, *, file: Path) -> Any:
    if name not in data:
        raise CatalogError(f"missing section '{name}'", file=file)
    value = data[name]
    if not isinstance(value, kind):
        raise CatalogError(f"section '{name}' must be {_kind_name(kind)}", file=file)
    return value


def check_sections(data: dict[str, Any], allowed: Iterable[str], *, file: Path) -> None:
    allowed = set(allowed)
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise CatalogError(
            f"unknown section(s) {', '.join(map(str, unknown))} (allowed: {', '.join(sorted(allowed))})",
            file=file,
        )


def merge_list(
    base: list[Any],
    override: Any,
    key: Callable[[dict[str, Any]], Hashable],
    *,
    base_file: Path,
    override_file: Path,
    section_name: str,
) -> list[dict[str, Any]]:
    """Merge override entries into base entries by key: fields of a known key replace the base's fields,
    an unknown key adds an entry at the end. Each entry remembers the file its last change came from."""
    merged: list[dict[str, Any]] = []
    index: dict[Hashable, int] = {}
    for i, entry in enumerate(base):
        if not isinstance(entry, dict):
            raise CatalogError("expected a mapping", file=base_file, entry=f"{section_name}[{i}]")
        entry = {**entry, SOURCE: entry.get(SOURCE, base_file)}
        index[_key_of(entry, key, base_file, f"{section_name}[{i}]")] = len(merged)
        merged.append(entry)
    if not isinstance(override, list):
        raise CatalogError(f"section '{section_name}' must be a list", file=override_file)
    for i, entry in enumerate(override):
        if not isinstance(entry, dict):
            raise CatalogError("expected a mapping", file=override_file, entry=f"{section_name}[{i}]")
        k = _key_of(entry, key, override_file, f"{section_name}[{i}]")
        if k in index:
            merged[index[k]] = {**merged[index[k]], **entry, SOURCE: override_file}
        else:
            index[k] = len(merged)
            merged.append({**entry, SOURCE: override_file})
    return merged


def _key_of(
    entry: dict[str, Any], key: Callable[[dict[str, Any]], Hashable], file: Path, where: str
) -> Hashable:
    try:
        return key(entry)
    except KeyError as exc:
        raise CatalogError(f"missing key field {exc.args[0]!r}", file=file, entry=where) from None


def merge_section(
    entries: list[Any],
    override_data: dict[str, Any],
    name: str,
    key: Callable[[dict[str, Any]], Hashable],
    base_file: Path,
    override_file: Path,
) -> list[dict[str, Any]]:
    """`merge_list` of the list section `name` of an override file (none: the base entries, annotated)."""
    return merge_list(
        entries,
        override_data.get(name, []),
        key,
        base_file=base_file,
        override_file=override_file,
        section_name=name,
    )
