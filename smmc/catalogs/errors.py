"""The two ways a catalog lookup can go wrong: the catalog itself is wrong, or the value asked about is."""

from __future__ import annotations

from pathlib import Path


class CatalogError(Exception):
    """A catalog file is wrong (or a lookup names something the catalog does not have).

    The message always names the file, the entry and the problem, so a broken site override is fixed
    from the message alone.
    """

    def __init__(self, problem: str, *, file: str | Path | None = None, entry: str | None = None) -> None:
        self.file = str(file) if file is not None else None
        self.entry = entry
        self.problem = problem
        parts = [p for p in (self.file, entry, problem) if p]
        super().__init__(": ".join(parts))


class InvalidValue(ValueError):
    """A value given to a decoder is not decodable: not a number, too wide, a malformed code."""
