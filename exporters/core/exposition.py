"""Pre-rendered Prometheus text exposition.

A source builds `MetricFamily` objects when its state changes (at ingest or poll time), and publishes
them as one *part* of an `Exposition`. The text is rendered once per publish; a scrape only
concatenates bytes, so it costs the same at 50 series and at 50,000.

New counter series are shown at 0 first. A counter whose label set appears with its first event (a
concentrator's first work-order errors, a new rejection reason) would otherwise enter Prometheus at its
first value: Prometheus takes that sample as the baseline and `increase()` stays 0, so nothing fires. A
scrape (`scrape()`) therefore gets every label set of a counter family that has not been scraped before
at 0, and its real value only once a scrape has seen the 0 and `new_counter_hold_seconds` have passed (the
scrape interval or more, so both Prometheus replicas of an HA pair see the 0). `baseline()` takes what is
published as already known: an exporter calls it after restoring its counters at start, whose series
Prometheus already has at their values. `body()` is always the real state.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# how long a new counter series stays at 0 after its first scrape; env overrides the default
NEW_COUNTER_HOLD_ENV = "SMMC_NEW_COUNTER_HOLD_SECONDS"
DEFAULT_NEW_COUNTER_HOLD_SECONDS = 60.0

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

    def add_state(self, labelvalues: Sequence[object], states: Iterable[str], current: str) -> None:
        """A state set: a sample per state (the last label), 1 for the `current` one and 0 for the others."""
        for state in states:
            self.add((*labelvalues, state), 1 if state == current else 0)

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

    def render(self, at_zero: set[str] | frozenset[str] = frozenset()) -> str:
        """The family in the text format; samples whose series key (`name{labels}`) is in `at_zero`
        are rendered with the value 0."""
        help_text = self.help.replace("\\", "\\\\").replace("\n", "\\n")
        head = f"# HELP {self.name} {help_text}\n# TYPE {self.name} {self.type}\n"
        if not self._lines:
            return head
        lines = self._lines
        if at_zero:
            lines = [f"{key} 0" if (key := _series_key(line)) in at_zero else line for line in lines]
        return head + "\n".join(lines) + "\n"

    def series_keys(self) -> list[str]:
        """`name{labels}` of every sample, in order."""
        return [_series_key(line) for line in self._lines]


def _series_key(line: str) -> str:
    return line[: line.rindex(" ")]


def gauge(name: str, help_text: str, labelnames: Sequence[str] = ()) -> MetricFamily:
    return MetricFamily(name, "gauge", help_text, tuple(labelnames))


def counter(name: str, help_text: str, labelnames: Sequence[str] = ()) -> MetricFamily:
    if not name.endswith("_total"):
        raise ValueError(f"counter {name} must end in _total")
    return MetricFamily(name, "counter", help_text, tuple(labelnames))


def render(families: Iterable[MetricFamily]) -> bytes:
    return "".join(f.render() for f in families).encode("utf-8")


@dataclass
class _Held:
    """A new counter series shown at 0 until released."""

    since: float  # when it was first published
    scraped: bool = False  # a scrape has served its 0


class Exposition:
    """The exporter's current exposition: named parts, each replaced whole when its source publishes.

    A part is the rendered text of one or more families; a family must belong to one part only
    (the text format forbids a family split in two blocks). New counter series are shown at 0 first
    (see the module's docstring).
    """

    def __init__(
        self,
        new_counter_hold_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if new_counter_hold_seconds is None:
            new_counter_hold_seconds = float(
                os.environ.get(NEW_COUNTER_HOLD_ENV) or DEFAULT_NEW_COUNTER_HOLD_SECONDS
            )
        self.new_counter_hold_seconds = new_counter_hold_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._parts: dict[str, bytes] = {}
        self._shown_parts: dict[str, bytes | None] = {}  # None: rendered at its next scrape
        self._families: dict[str, list[MetricFamily]] = {}
        # part -> {(counter family, series key): held}
        self._held: dict[str, dict[tuple[str, str], _Held]] = {}
        self._pending: dict[str, float] = {}  # part -> when it was published, its held series not worked out
        self._known: dict[str, set[str]] = {}  # counter family -> series keys shown at their value
        self._body: bytes = b""
        self._shown: bytes | None = b""
        self._version = 0

    def publish(self, part: str, families: Iterable[MetricFamily]) -> None:
        families = list(families)
        real = render(families)
        now = self._clock()
        with self._lock:
            self._settle(part)  # the previous publish's new series keep the time they were first published
            self._families[part] = families
            self._parts[part] = real
            # which counter series are new is worked out when a scrape (or the next publish) needs it:
            # `--once` and `body()` never do
            self._pending[part] = now
            self._shown_parts[part] = None
            self._rebuild()

    def _settle(self, part: str) -> None:
        """Work out the held series of `part`'s pending publish (see `publish`)."""
        if part not in self._pending:
            return
        now = self._pending.pop(part)
        old = self._held.get(part, {})
        held: dict[tuple[str, str], _Held] = {}
        for f in self._families[part]:
            if f.type != "counter":
                continue
            known = self._known.get(f.name, set())
            for key in f.series_keys():
                if key not in known:
                    held[(f.name, key)] = old.get((f.name, key)) or _Held(now)
        self._set_held(part, held)

    def _set_held(self, part: str, held: dict[tuple[str, str], _Held]) -> None:
        if not held:
            self._held.pop(part, None)
            self._shown_parts[part] = self._parts[part]
            return
        self._held[part] = held
        self._shown_parts[part] = None  # rendered by the next scrape (`--once` and `body()` never need it)

    def _render_shown(self, part: str) -> bytes:
        """The part as a scrape shows it: its held counter series at 0."""
        zero: dict[str, set[str]] = {}
        for name, key in self._held.get(part, {}):
            zero.setdefault(name, set()).add(key)
        families = self._families[part]
        return "".join(f.render(zero.get(f.name, frozenset())) for f in families).encode()

    def _rebuild(self) -> None:
        self._body = b"".join(self._parts[k] for k in sorted(self._parts))
        self._shown = None
        self._version += 1

    def _shown_body(self) -> bytes:
        if self._shown is None:
            for part, shown in self._shown_parts.items():
                if shown is None:
                    held = part in self._held
                    self._shown_parts[part] = self._render_shown(part) if held else self._parts[part]
            self._shown = b"".join(self._shown_parts[k] or b"" for k in sorted(self._shown_parts))
        return self._shown

    def baseline(self) -> None:
        """Take every counter series published so far as known: shown at its value from now on (after a
        restore, Prometheus already has these series at these values)."""
        with self._lock:
            self._pending.clear()  # every series of those publishes is known from now on
            for families in self._families.values():
                for f in families:
                    if f.type == "counter":
                        self._known.setdefault(f.name, set()).update(f.series_keys())
            for part in list(self._held):
                self._set_held(part, {})
            self._rebuild()

    def scrape(self) -> tuple[int, bytes]:
        """What one scrape gets, and its version: a new counter series at 0 until a scrape has served its
        0 and the hold time has passed since it was published."""
        with self._lock:
            for part in list(self._pending):
                self._settle(part)
            now = self._clock()
            changed = False
            for part, held in list(self._held.items()):
                ready = {
                    k for k, h in held.items() if h.scraped and now - h.since >= self.new_counter_hold_seconds
                }
                if not ready:
                    continue
                for name, key in ready:
                    self._known.setdefault(name, set()).add(key)
                self._set_held(part, {k: h for k, h in held.items() if k not in ready})
                changed = True
            if changed:
                self._rebuild()
            for held in self._held.values():
                for h in held.values():
                    h.scraped = True
            return self._version, self._shown_body()

    def body(self) -> bytes:
        """The real state (every counter at its value), as `--once` prints it and tests read it."""
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
