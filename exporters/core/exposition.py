"""Pre-rendered Prometheus text exposition.

A source builds `MetricFamily` objects when its state changes (at ingest or poll time), and publishes
them as one *part* of an `Exposition`. The text is rendered once per publish; a scrape only
concatenates bytes, so it costs the same at 50 series and at 50,000.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_TYPES = {"gauge", "counter", "info", "untyped"}


def escape_label_value(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return value


def format_value(value: float) -> str:
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e15):
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


@dataclass
class MetricFamily:
    """One metric family: name, type, help text, label names and its samples.

    Counters are named with their `_total` suffix here (`smmc_meter_events_total`), as they appear in
    the text format.
    """

    name: str
    type: str
    help: str
    labelnames: tuple[str, ...] = ()
    _lines: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ValueError(f"metric {self.name}: unknown type {self.type!r}")
        self.labelnames = tuple(self.labelnames)
        self._prefixes = [f'{n}="' for n in self.labelnames]
        labels = ",".join(f'{n}="{{}}"' for n in self.labelnames)
        self._template = f"{self.name}{{{{{labels}}}}} {{}}" if self.labelnames else f"{self.name} {{}}"

    def add(self, labelvalues: Sequence[object], value: float) -> None:
        if len(labelvalues) != len(self.labelnames):
            raise ValueError(
                f"metric {self.name}: {len(labelvalues)} label values for labels {self.labelnames}"
            )
        if self.labelnames:
            labels = ",".join(
                p + escape_label_value(str(v)) + '"' for p, v in zip(self._prefixes, labelvalues, strict=True)
            )
            self._lines.append(f"{self.name}{{{labels}}} {format_value(value)}")
        else:
            self._lines.append(f"{self.name} {format_value(value)}")

    def add_many(self, rows: Iterable[tuple[Sequence[object], float]]) -> None:
        labels, values = [], []
        for labelvalues, value in rows:
            if len(labelvalues) != len(self.labelnames):
                raise ValueError(
                    f"metric {self.name}: {len(labelvalues)} label values for labels {self.labelnames}"
                )
            labels.append(labelvalues)
            values.append(value)
        columns = list(zip(*labels, strict=True)) if labels else [()] * len(self.labelnames)
        self.add_columns(columns, values)

    def add_columns(self, columns: Sequence[Sequence[object]], values: Sequence[float]) -> None:
        """Add one sample per row of parallel label columns (e.g. from a pandas group-by). Renders a
        column at a time: a label value is escaped only when its column holds a character to escape."""
        if len(columns) != len(self.labelnames):
            raise ValueError(f"metric {self.name}: {len(columns)} label columns for {self.labelnames}")
        texts = []
        for column in columns:
            text = [str(v) for v in column]
            if len(text) != len(values):
                raise ValueError(f"metric {self.name}: {len(text)} label values for {len(values)} samples")
            joined = "".join(text)
            if "\\" in joined or '"' in joined or "\n" in joined:
                text = [escape_label_value(t) for t in text]
            texts.append(text)
        self._lines.extend(map(self._template.format, *texts, map(format_value, values)))

    def __len__(self) -> int:
        return len(self._lines)

    def render(self) -> str:
        help_text = self.help.replace("\\", "\\\\").replace("\n", "\\n")
        head = f"# HELP {self.name} {help_text}\n# TYPE {self.name} {self.type}\n"
        if not self._lines:
            return head
        return head + "\n".join(self._lines) + "\n"


def gauge(name: str, help_text: str, labelnames: Sequence[str] = ()) -> MetricFamily:
    return MetricFamily(name, "gauge", help_text, tuple(labelnames))


def counter(name: str, help_text: str, labelnames: Sequence[str] = ()) -> MetricFamily:
    if not name.endswith("_total"):
        raise ValueError(f"counter {name} must end in _total")
    return MetricFamily(name, "counter", help_text, tuple(labelnames))


def render(families: Iterable[MetricFamily]) -> bytes:
    return "".join(f.render() for f in families).encode("utf-8")


class Exposition:
    """The exporter's current exposition: named parts, each replaced whole when its source publishes.

    A part is the rendered text of one or more families; a family must belong to one part only
    (the text format forbids a family split in two blocks).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: dict[str, bytes] = {}
        self._body: bytes = b""
        self._version = 0

    def publish(self, part: str, families: Iterable[MetricFamily]) -> None:
        self.publish_bytes(part, render(families))

    def publish_bytes(self, part: str, body: bytes) -> None:
        with self._lock:
            self._parts[part] = body
            self._body = b"".join(self._parts[k] for k in sorted(self._parts))
            self._version += 1

    def body(self) -> bytes:
        return self._body

    @property
    def version(self) -> int:
        return self._version

    def parts(self) -> list[str]:
        return sorted(self._parts)


def single(family: MetricFamily, value: float | None) -> MetricFamily:
    """`family` with its one unlabelled sample, or with none while `value` is unknown (never a made-up 0)."""
    if value is not None:
        family.add((), value)
    return family
