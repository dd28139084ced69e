"""Durations as operators write them in flags and config files: `250ms`, `60s`, `5m`, `1h`, `7d`, `2w`,
or a bare number of seconds."""

from __future__ import annotations

import re

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*")
UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, None: 1.0}


def parse_duration(text: str | float | int) -> float:
    """Seconds; ValueError naming the text when it is not a duration."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"invalid duration {text!r}: must not be negative")
        return float(text)
    match = _DURATION.fullmatch(str(text))
    if not match:
        raise ValueError(f"invalid duration {text!r}: expected e.g. 250ms, 60s, 5m, 1h, 7d")
    return float(match.group(1)) * UNIT_SECONDS[match.group(2)]
