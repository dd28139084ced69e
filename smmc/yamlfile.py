"""Reading the YAML files people edit (catalogs, thresholds, actions, schedules, scenarios, site configs):
parsed safely, duplicate keys refused instead of silently keeping the last one, and every problem raised
as the caller's own error type with a one-line message that names the file."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import yaml

ErrorType = Callable[[str], Exception]


class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's parser when built with it
    """SafeLoader that refuses duplicate mapping keys."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *anchor`: merged keys may be overridden by the mapping's own (YAML's merge)
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, Hashable) and key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key] + 1})", key_node.start_mark
            )
        if isinstance(key, Hashable):
            seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str, where: str, error: ErrorType) -> Any:
    """The document in `text`; `where` names its origin in the message of `error`."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader: no arbitrary objects
    except yaml.YAMLError as exc:
        raise error(f"{where}: not valid YAML: {' '.join(str(exc).split())}") from None


def read_yaml(path: str | Path, error: ErrorType) -> Any:
    """The document in the file `path` (None when it is empty)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read: {exc}") from None
    return parse_yaml(text, str(path), error)


def read_mapping(path: str | Path, error: ErrorType, *, empty_ok: bool = False) -> dict[str, Any]:
    """The mapping at the top of the file `path`; an empty file is {} when `empty_ok`."""
    data = read_yaml(path, error)
    if data is None and empty_ok:
        return {}
    if not isinstance(data, dict):
        raise error(f"{path}: expected a mapping at the top level")
    return data
