"""The North API's search semantics for the fake OpenGate: filter, select, sort, flatten, CSV.

Documents are nested OpenGate entities (each datastream value wrapped in `{"_current": {...}}`) or flat
alarm objects. A path is dotted; `[]` (or any list met on the way) fans out over the elements; a path
ending in `._current.date` / `._current.at` / `._current.source` reads that member of the envelope,
otherwise a datastream path reads `_current.value`. Comparisons are type-strict, as in the platform's
lake: a string field only matches a JSON string.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

OPERATORS = ("eq", "neq", "like", "gt", "lt", "gte", "lte", "in", "nin", "exists")
ENVELOPE_FIELDS = ("value", "date", "at", "source", "sourceInfo", "provType")


class QueryError(ValueError):
    """A malformed filter, select or sort: the API answers 400 with an `errors[]` body."""


def values_at(doc: Any, path: str, flat: bool = False) -> list[Any]:
    """Every value the path reaches. `flat` documents (alarms) hold plain values, no envelopes."""
    parts = [p for p in path.split(".") if p]
    member = "value"
    if not flat and len(parts) >= 2 and parts[-2] == "_current" and parts[-1] in ENVELOPE_FIELDS:
        member = parts[-1]
        parts = parts[:-2]
    out: list[Any] = []
    _collect(doc, parts, member, flat, out)
    return out


def _collect(node: Any, parts: list[str], member: str, flat: bool, out: list[Any]) -> None:
    if isinstance(node, list):
        for item in node:
            _collect(item, parts, member, flat, out)
        return
    if not parts:
        if flat:
            if node is not None:
                out.append(node)
            return
        envelope = node.get("_current") if isinstance(node, dict) else None
        if isinstance(envelope, dict) and member in envelope:
            out.append(envelope[member])
        return
    if not isinstance(node, dict):
        return
    key = parts[0][:-2] if parts[0].endswith("[]") else parts[0]
    if key in node:
        _collect(node[key], parts[1:], member, flat, out)


def _same_type(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return True
    return type(a) is type(b)


def _fold(value: Any, case_sensitive: bool) -> Any:
    return value.lower() if isinstance(value, str) and not case_sensitive else value


def compile_filter(spec: Any, *, flat: bool = False, case_sensitive: bool = False) -> Callable[[Any], bool]:
    """A predicate for the filter grammar `{"and"|"or": [...]}` / `{"<op>": {"<path>": value}}`."""
    if spec is None or spec == {}:
        return lambda doc: True
    if not isinstance(spec, dict) or len(spec) != 1:
        raise QueryError(f"a filter node must be an object with one key, got {spec!r:.120}")
    ((op, arg),) = spec.items()
    if op in ("and", "or"):
        if not isinstance(arg, list) or not arg:
            raise QueryError(f"'{op}' needs a non-empty list of conditions")
        parts = [compile_filter(c, flat=flat, case_sensitive=case_sensitive) for c in arg]
        return (
            (lambda doc: all(p(doc) for p in parts))
            if op == "and"
            else (lambda doc: any(p(doc) for p in parts))
        )
    if op not in OPERATORS:
        raise QueryError(f"unknown filter operator {op!r}")
    if not isinstance(arg, dict) or len(arg) != 1:
        raise QueryError(f"'{op}' needs an object with exactly one field path")
    ((path, expected),) = arg.items()
    if not isinstance(path, str) or not path:
        raise QueryError(f"'{op}': the field path must be a non-empty string")
    if flat and path.startswith("alarm."):
        path = path[len("alarm.") :]
    get = lambda doc: values_at(doc, path, flat)  # noqa: E731
    cs = case_sensitive
    if op == "exists":
        if not isinstance(expected, bool):
            raise QueryError("'exists' takes true or false")
        return lambda doc: bool(get(doc)) is expected
    if op in ("in", "nin"):
        if not isinstance(expected, list):
            raise QueryError(f"'{op}' takes a list")
        wanted = [_fold(e, cs) for e in expected]

        def member(doc: Any) -> bool:
            return any(_same_type(v, e) and _fold(v, cs) == e for v in get(doc) for e in wanted)

        return member if op == "in" else (lambda doc: not member(doc))
    if op == "like":
        if not isinstance(expected, str):
            raise QueryError("'like' takes a regular expression string")
        try:
            pattern = re.compile(expected, 0 if cs else re.IGNORECASE)
        except re.error as exc:
            raise QueryError(f"'like': invalid regular expression: {exc}") from exc
        return lambda doc: any(isinstance(v, str) and pattern.search(v) for v in get(doc))
    if isinstance(expected, dict | list):
        raise QueryError(f"'{op}' takes a scalar value")
    target = _fold(expected, cs)
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "eq": lambda a, b: a == b,
        "neq": lambda a, b: a != b,
        "gt": lambda a, b: a > b,
        "lt": lambda a, b: a < b,
        "gte": lambda a, b: a >= b,
        "lte": lambda a, b: a <= b,
    }
    test = compare[op]
    if op == "neq":
        return lambda doc: not any(_same_type(v, target) and _fold(v, cs) == target for v in get(doc))
    return lambda doc: any(_same_type(v, target) and test(_fold(v, cs), target) for v in get(doc))


def parse_select(select: Any) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """`[{"name": path, "fields": [{"field": f, "alias": a}]}]` -> [(path, [(field, alias)])]."""
    if select is None:
        return []
    if not isinstance(select, list):
        raise QueryError("'select' must be a list")
    out = []
    for entry in select:
        if isinstance(entry, str):
            out.append((entry, [("value", None)]))
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise QueryError("each select entry needs a 'name'")
        fields = entry.get("fields") or [{"field": "value"}]
        parsed = []
        for f in fields:
            if not isinstance(f, dict) or f.get("field") not in ENVELOPE_FIELDS:
                raise QueryError(f"select {entry['name']}: unknown field {f!r:.80}")
            parsed.append((f["field"], f.get("alias")))
        out.append((entry["name"], parsed))
    return out


def _project(node: Any, parts: list[str], fields: list[str]) -> Any:
    if not parts:
        envelope = node.get("_current") if isinstance(node, dict) else None
        if not isinstance(envelope, dict):
            return None
        return {"_current": {f: envelope[f] for f in fields if f in envelope}}
    if not isinstance(node, dict):
        return None
    key = parts[0][:-2] if parts[0].endswith("[]") else parts[0]
    child = node.get(key)
    if isinstance(child, list):
        items = [_project(item, parts[1:], fields) for item in child]
        return None if all(i is None for i in items) else {key: [i or {} for i in items]}
    sub = _project(child, parts[1:], fields) if child is not None else None
    return None if sub is None else {key: sub}


def _merge(into: dict[str, Any], part: dict[str, Any]) -> None:
    for key, value in part.items():
        if key not in into:
            into[key] = value
        elif isinstance(value, dict) and isinstance(into[key], dict):
            _merge(into[key], value)
        elif isinstance(value, list) and isinstance(into[key], list):
            for i, item in enumerate(value):
                if i < len(into[key]) and isinstance(item, dict) and isinstance(into[key][i], dict):
                    _merge(into[key][i], item)
                elif i >= len(into[key]):
                    into[key].append(item)


def project(doc: dict[str, Any], select: list[tuple[str, list[tuple[str, str | None]]]]) -> dict[str, Any]:
    """The document reduced to the selected datastreams and envelope members, at their own paths."""
    if not select:
        return doc
    out: dict[str, Any] = {}
    for path, fields in select:
        part = _project(doc, path.split("."), [f for f, _ in fields])
        if part is not None:
            _merge(out, part)
    return out


def flatten(doc: dict[str, Any]) -> dict[str, Any]:
    """The `flattened=true` form: full datastream paths as keys, `{"_value": {"_current": ...}}` values;
    an array datastream is a list of `{"_index": {...}, "_value": {...}}`."""
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str, index: dict[str, Any] | None) -> None:
        if not isinstance(node, dict):
            return
        if "_current" in node:
            entry = {"_value": {"_current": node["_current"]}}
            if index is not None:
                out.setdefault(prefix, []).append({"_index": index, **entry})
            else:
                out[prefix] = entry
            return
        for key, child in node.items():
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(child, list):
                for element in child:
                    ident = element.get("identifier") if isinstance(element, dict) else None
                    element_index = {"path": f"{path}[].identifier", "value": ident or {}}
                    walk(element, f"{path}[]", element_index)
            else:
                walk(child, path, index)

    walk(doc, "", None)
    return out


def sort_key_fn(sort: Any, flat: bool) -> list[tuple[Callable[[Any], Any], bool]]:
    if sort is None:
        return []
    params = sort.get("parameters") if isinstance(sort, dict) else None
    if not isinstance(params, list):
        raise QueryError('\'sort\' must be {"parameters": [{"name", "type"}]}')
    keys = []
    for p in params:
        if not isinstance(p, dict) or not isinstance(p.get("name"), str):
            raise QueryError("each sort parameter needs a 'name'")
        kind = p.get("type", "ASCENDING")
        if kind not in ("ASCENDING", "DESCENDING"):
            raise QueryError("sort type must be ASCENDING or DESCENDING")
        path = p["name"][len("alarm.") :] if flat and p["name"].startswith("alarm.") else p["name"]
        keys.append((lambda doc, path=path: (values_at(doc, path, flat) or [None])[0], kind == "DESCENDING"))
    return keys


def apply_sort(docs: list[Any], sort: Any, flat: bool) -> list[Any]:
    out = list(docs)
    for key, descending in reversed(sort_key_fn(sort, flat)):
        present = [d for d in out if key(d) is not None]
        missing = [d for d in out if key(d) is None]
        try:
            present.sort(key=lambda d: (str(type(key(d))), key(d)), reverse=descending)
        except TypeError as exc:
            raise QueryError(f"cannot sort: {exc}") from exc
        out = present + missing
    return out


def csv_rows(
    docs: list[Any], select: list[tuple[str, list[tuple[str, str | None]]]], flat: bool
) -> Iterator[str]:
    """`text/plain` answers: `;`-separated, one column per selected field (alias or path.field)."""
    columns = [(path, f, alias or f"{path}.{f}") for path, fields in select for f, alias in fields]
    yield ";".join(c for _, _, c in columns)
    for doc in docs:
        cells = []
        for path, member, _ in columns:
            found = values_at(doc, path if flat or member == "value" else f"{path}._current.{member}", flat)
            cells.append("" if not found else str(found[0]).replace(";", ","))
        yield ";".join(cells)
