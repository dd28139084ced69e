"""The optional inventory: which concentrator and comuna a meter belongs to, and where a concentrator is.

`--inventory PATH` is a directory holding `concentrators.csv` (concentrator, comuna, latitude, longitude,
modem) and optionally `meters.csv` (meter, concentrator, pod, comuna, medicion_en_td), or a single file of
either kind, recognised by its header. Without an inventory every series carries `comuna="unknown"`.
"""

from __future__ import annotations

import logging
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from exporters.core.tabular import TableError, read_header, read_table

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
CONCENTRATOR_COLUMNS = frozenset({"concentrator", "comuna", "latitude", "longitude", "modem"})
METER_COLUMNS = frozenset({"meter", "concentrator"})
_TRUE = {"true", "1", "yes", "y", "si", "sí", "t", "verdadero"}
_FALSE = {"false", "0", "no", "n", "f", "falso", ""}


class InventoryError(Exception):
    pass


def normalise_comuna(name: str) -> str:
    """`Ñuñoa ` -> `NUNOA`: the seed writes comunas upper case without accents."""
    text = unicodedata.normalize("NFKD", str(name).strip())
    text = "".join(c for c in text if not unicodedata.combining(c)).upper()
    return " ".join(text.split()) or UNKNOWN


def _clean_unique(values: pd.Series, fn) -> pd.Series:
    """Apply `fn` once per distinct value (inventories repeat a few comunas over many rows)."""
    codes, uniques = pd.factorize(values)
    mapped = np.array([fn(u) for u in uniques], dtype=object)
    return pd.Series(mapped[codes] if len(uniques) else np.array([], dtype=object), index=values.index)


@dataclass
class Inventory:
    # index: concentrator; columns: comuna, latitude, longitude, modem (strings)
    concentrators: pd.DataFrame
    # index: meter; columns: concentrator, pod, comuna, measured_at_td ("true"/"false")
    meters: pd.DataFrame
    sources: tuple[str, ...] = ()
    rows_rejected: Counter[str] = field(default_factory=Counter)
    loaded_at: float = 0.0

    @classmethod
    def empty(cls) -> Inventory:
        return cls(
            pd.DataFrame(columns=["comuna", "latitude", "longitude", "modem"], index=pd.Index([], name="c")),
            pd.DataFrame(columns=["concentrator", "pod", "comuna", "measured_at_td"], index=pd.Index([])),
        )

    def concentrator_comuna(self, concentrators: np.ndarray) -> np.ndarray:
        """The comuna of each concentrator name, "unknown" where the inventory does not list it."""
        if len(self.concentrators) == 0:
            return np.full(len(concentrators), UNKNOWN, dtype=object)
        found = self.concentrators["comuna"].reindex(concentrators)
        return found.fillna(UNKNOWN).to_numpy(dtype=object)

    def meter_comuna_and_td(
        self, meters: np.ndarray, concentrators: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per meter: its comuna (meters.csv, else its concentrator's, else "unknown") and whether it is
        measured at the transformer ("Medicion en TD"; "false" when the inventory does not say)."""
        by_concentrator = self.concentrator_comuna(concentrators)
        if len(self.meters) == 0:
            return by_concentrator, np.full(len(meters), "false", dtype=object)
        rows = self.meters.reindex(meters)
        comuna = rows["comuna"].to_numpy(dtype=object)
        missing = pd.isna(comuna) | (comuna == UNKNOWN)
        comuna[missing] = by_concentrator[missing]
        td = rows["measured_at_td"].fillna("false").to_numpy(dtype=object)
        return comuna, td


def _read(path: Path) -> tuple[str, pd.DataFrame, int]:
    header, _d, _e = read_header(path)
    columns = set(header)
    if columns >= CONCENTRATOR_COLUMNS:
        table = read_table(path, required=set(CONCENTRATOR_COLUMNS))
        return "concentrators", table.frame, table.rows_malformed
    if columns >= METER_COLUMNS:
        table = read_table(path, required=set(METER_COLUMNS))
        return "meters", table.frame, table.rows_malformed
    raise InventoryError(
        f"{path}: header {', '.join(header)} is neither a concentrator inventory "
        f"({', '.join(sorted(CONCENTRATOR_COLUMNS))}) nor a meter inventory "
        f"({', '.join(sorted(METER_COLUMNS))})"
    )


def load_inventory(path: str | Path) -> Inventory:
    """Read the inventory at `path` (directory or file). Raises InventoryError when nothing is usable."""
    path = Path(path)
    if path.is_dir():
        files = [p for p in (path / "concentrators.csv", path / "meters.csv") if p.is_file()]
        if not files:
            raise InventoryError(f"{path}: holds neither concentrators.csv nor meters.csv")
    elif path.is_file():
        files = [path]
    else:
        raise InventoryError(f"{path}: no such file or directory")
    inventory = Inventory.empty()
    rejected: Counter[str] = Counter()
    for file in files:
        try:
            what, frame, malformed = _read(file)
        except TableError as exc:
            raise InventoryError(f"{file}: {exc}") from exc
        if malformed:
            rejected["malformed"] += malformed
        if what == "concentrators":
            inventory.concentrators = _concentrators(frame, rejected)
        else:
            inventory.meters = _meters(frame, rejected)
    inventory.sources = tuple(str(f) for f in files)
    inventory.rows_rejected = rejected
    inventory.loaded_at = time.time()
    return inventory


def _concentrators(frame: pd.DataFrame, rejected: Counter[str]) -> pd.DataFrame:
    name = frame["concentrator"].str.strip()
    lat = pd.to_numeric(frame["latitude"].str.strip(), errors="coerce")
    lon = pd.to_numeric(frame["longitude"].str.strip(), errors="coerce")
    bad_coords = lat.isna() | lon.isna() | ~lat.between(-90, 90) | ~lon.between(-180, 180)
    missing = name == ""
    rejected["missing_concentrator"] += int(missing.sum())
    rejected["bad_coordinates"] += int((bad_coords & ~missing).sum())
    keep = ~(missing | bad_coords)
    out = pd.DataFrame(
        {
            "comuna": _clean_unique(frame["comuna"], normalise_comuna)[keep].to_numpy(dtype=object),
            # label values keep the file's own text: a re-formatted float would not join with OpenGate
            "latitude": frame["latitude"].str.strip()[keep].to_numpy(dtype=object),
            "longitude": frame["longitude"].str.strip()[keep].to_numpy(dtype=object),
            "modem": frame["modem"].str.strip()[keep].to_numpy(dtype=object),
        },
        index=pd.Index(name[keep].to_numpy(dtype=object), name="concentrator"),
    )
    duplicated = out.index.duplicated(keep="last")
    rejected["duplicate"] += int(duplicated.sum())
    return out[~duplicated]


def _meters(frame: pd.DataFrame, rejected: Counter[str]) -> pd.DataFrame:
    meter = frame["meter"].str.strip()
    missing = meter == ""
    rejected["missing_meter"] += int(missing.sum())
    keep = ~missing
    n = len(frame)
    comuna = (
        _clean_unique(frame["comuna"], lambda c: normalise_comuna(c) if str(c).strip() else UNKNOWN)
        if "comuna" in frame
        else pd.Series([UNKNOWN] * n, index=frame.index)
    )
    if "medicion_en_td" in frame:

        def td(value: str) -> str:
            text = str(value).strip().lower()
            return "true" if text in _TRUE else "false" if text in _FALSE else "invalid"

        measured = _clean_unique(frame["medicion_en_td"], td)
        invalid = (measured == "invalid") & keep
        rejected["bad_medicion_en_td"] += int(invalid.sum())
        keep &= ~invalid
    else:
        measured = pd.Series(["false"] * n, index=frame.index)
    pod = frame["pod"].str.strip() if "pod" in frame else pd.Series([""] * n, index=frame.index)
    out = pd.DataFrame(
        {
            "concentrator": frame["concentrator"].str.strip()[keep].to_numpy(dtype=object),
            "pod": pod[keep].to_numpy(dtype=object),
            "comuna": comuna[keep].to_numpy(dtype=object),
            "measured_at_td": measured[keep].to_numpy(dtype=object),
        },
        index=pd.Index(meter[keep].to_numpy(dtype=object), name="meter"),
    )
    duplicated = out.index.duplicated(keep="last")
    rejected["duplicate"] += int(duplicated.sum())
    return out[~duplicated]
