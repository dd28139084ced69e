"""What the two status-word catalogs (the meters' four words, the concentrators' CSW) share: a flag
is a bit of a word, and a word is a number of a fixed width."""

from __future__ import annotations

from .errors import InvalidValue


class BitFlag:
    """A flag that owns one bit of its word (the subclass, a frozen dataclass, declares `bit`)."""

    bit: int

    @property
    def mask(self) -> int:
        return 1 << self.bit


def within_bits(value: int, width: int, shown: str, largest: str) -> int:
    """`value` when it fits `width` unsigned bits, else `InvalidValue` naming it as `shown` (and the
    largest value allowed, as the catalog's users write it)."""
    if value < 0:
        raise InvalidValue(f"{shown} is negative")
    if value >> width:
        raise InvalidValue(f"{shown} is over {width} bits (max {largest})")
    return value
