"""The SMMePlus file kinds: how each is recognised (file name first, then header) and its columns.

Header names are compared after `exporters.core.tabular.normalise_header` (lower case, spaces -> `_`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from exporters.core.tabular import TableError, read_header


@dataclass(frozen=True)
class Kind:
    name: str  # label value of `kind` in the health metrics
    file_prefix: str  # the seed's file name convention, e.g. SWE_2021-10-07.csv
    required: frozenset[str]  # normalised columns a file of this kind must have
    signature: frozenset[str]  # columns that identify the kind when the file name does not
    description: str


SWE = Kind(
    "swe",
    "SWE",
    frozenset({"concentrator", "meter", "type", "date", "isactive", "description"}),
    frozenset({"isactive"}),
    "meter events and alarms",
)
HPE = Kind(
    "hpe",
    "HPE",
    frozenset({"concentrator", "meter", "type", "date", "correlationid", "description"}),
    frozenset({"correlationid"}),
    "high-priority work-order results",
)
LPE = Kind(
    "lpe",
    "LPE",
    frozenset({"concentrator", "meter", "type", "date", "description"}),
    frozenset({"externalrequest", "breakerstate"}),
    "normal/low-priority events: reachability, commissioning",
)
CSW = Kind(
    "csw",
    "ConcentratorStatusWordAnalyzedReport",
    frozenset({"concentratorname", "isreachable", "csw", "laststatuswordupdate_utc"}),
    frozenset({"csw"}),
    "concentrator status words",
)
TECHNICAL = Kind(
    "technical",
    "TechnicalWorkorderCompleted",
    frozenset({"idwork", "concentrator", "activity_type", "is_error", "error_description"}),
    frozenset({"idwork"}),
    "technical work orders completed",
)
MSW = Kind(
    "msw",
    "MeterStatusWords",
    frozenset({"meter", "concentrator", "timestamp", "normal1", "normal2", "extended1", "extended2"}),
    frozenset({"normal1", "extended1"}),
    "meter status-word dump (four 16-bit words in hex)",
)

KINDS: tuple[Kind, ...] = (SWE, HPE, LPE, CSW, TECHNICAL, MSW)
BY_NAME = {k.name: k for k in KINDS}

# The seed's CSW report carries a pivot-table header: "Meter_status_word_analysis" over the first
# column, whose real name ("concentratorname") sits alone on the next line.
CSW_PIVOT_HEADER = "meter_status_word_analysis"
_ALIASES = {
    CSW_PIVOT_HEADER: "concentratorname",
    "concentrator_name": "concentratorname",
    "serialnumb": "serialnumber",
    "serial_number": "serialnumber",
}


def canonical_columns(header: list[str]) -> list[str]:
    return [_ALIASES.get(h, h) for h in header]


def kind_from_name(name: str) -> Kind | None:
    stem = Path(name).name.lower()
    for kind in KINDS:
        prefix = kind.file_prefix.lower()
        if stem.startswith(prefix) and re.match(r"[_\-. ]|$", stem[len(prefix) : len(prefix) + 1]):
            return kind
    return None


def kind_from_header(columns: set[str]) -> Kind | None:
    """The one kind whose signature and required columns the header has, else None."""
    matches = [k for k in KINDS if k.signature <= columns and k.required <= columns]
    # LPE's required columns are a subset of SWE's and HPE's: its signature tells them apart
    return matches[0] if len(matches) == 1 else None


def classify(path: Path) -> Kind | None:
    kind = kind_from_name(path.name)
    if kind is not None:
        return kind
    try:
        header, _delimiter, _encoding = read_header(path)
    except (TableError, OSError):
        return None
    return kind_from_header(set(canonical_columns(header)))
