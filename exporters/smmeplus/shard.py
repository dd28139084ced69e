"""Exporter sharding: several SMMePlus exporters read the same inbox and each exposes the rows of its own
concentrators, so an Enel-sized fleet splits into instances whose series are disjoint.

A concentrator belongs to shard `crc32(utf-8 id) mod n` (stable across processes, hosts and Python
versions, unlike `hash()`). A row without a concentrator (a meter of the inventory with none, a rejected
row) belongs to shard 0, so summing any family over the shards gives the unsharded value: nothing is
counted twice and nothing is lost. Series that are the same in every shard (the catalog's info series)
are exposed by shard 0 only, so a join on them never meets duplicates.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index}/{self.count}: need 0 <= i < n")

    @classmethod
    def parse(cls, text: str | None) -> Shard:
        """`"2/4"` -> Shard(2, 4); empty or None -> the whole fleet (0/1)."""
        if text is None or not str(text).strip():
            return cls()
        i, sep, n = str(text).strip().partition("/")
        try:
            if not sep:
                raise ValueError
            return cls(int(i), int(n))
        except ValueError as exc:
            raise ValueError(f"shard {text!r}: expected i/n with 0 <= i < n, e.g. 0/4") from exc

    @property
    def whole(self) -> bool:
        return self.count == 1

    @property
    def owns_fleet_rows(self) -> bool:
        """This shard exposes the rows and series that have no concentrator."""
        return self.index == 0

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, concentrator: str) -> bool:
        return shard_of(concentrator, self.count) == self.index

    def mask(self, concentrators: np.ndarray | pd.Index | pd.Series) -> np.ndarray:
        """A boolean per element: True where the concentrator belongs to this shard. The hash runs once
        per distinct value (a file repeats each concentrator over many rows)."""
        n = len(concentrators)
        if self.whole:
            return np.ones(n, dtype=bool)
        if n == 0:
            return np.zeros(0, dtype=bool)
        codes, uniques = pd.factorize(np.asarray(concentrators, dtype=object), use_na_sentinel=False)
        owned = np.fromiter((self.owns(u) for u in uniques), dtype=bool, count=len(uniques))
        return owned[codes]


def shard_of(concentrator: object, count: int) -> int:
    """The shard of a concentrator id among `count`; a missing or empty id belongs to shard 0."""
    if (
        count <= 1
        or concentrator is None
        or (isinstance(concentrator, float) and concentrator != concentrator)
    ):
        return 0
    text = str(concentrator).strip()
    if not text:
        return 0
    return zlib.crc32(text.encode("utf-8")) % count
