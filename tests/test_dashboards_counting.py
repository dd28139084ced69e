"""Every count panel of the Control Room counts distinct objects: a meter with four flags is one meter, a
concentrator with three conditions is one concentrator, and two exporter shards add up to the fleet.

A simulated fleet (several flags on many meters, CSW conditions) is ingested by two SMMePlus exporter
shards; a real Prometheus scrapes both and evaluates the repository's recording rules; each count panel's
query (`smmc.dashboards.panel_queries()`, variables at All) is compared with the distinct objects
counted here from the shards' own state (which meter has which flag, which concentrator which CSW).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from e2e.harness import ProcessGroup, Prometheus, serve_exposition, wait_for

from exporters.smmeplus.cli import Exporter
from exporters.smmeplus.fold import FlagRows
from exporters.smmeplus.shard import Shard, shard_of
from simulator import smmeplus as sim
from smmc.catalogs import load_catalogs
from smmc.dashboards import panel_queries

REPO = Path(__file__).resolve().parents[1]
DAY = dt.date(2021, 10, 7)
SHARDS = 2
SEVERITIES = ("critical", "warning", "info")


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Exporter]]:
    base = tmp_path_factory.mktemp("counting")
    fleet = sim.build_fleet(400, seed=5, meters_per_concentrator=10)
    sim.write_inventory(fleet, base / "inventory")
    # six SWE rows per meter: many meters end the day with several flags active
    sim.write_day(sim.simulate_day(fleet, seed=5, date=DAY, swe_rows=6 * len(fleet.meters)), base / "inbox")
    # and a later status-word reading of every 20th meter with two hardware (DRAM, DEEP), two tamper
    # (INTA, CAPE) flags and BAT_LOW: several flags of one category on one meter
    (msw,) = (base / "inbox").glob("MeterStatusWords_*")
    with open(msw, "a", encoding="utf-8") as fh:
        for meter, concentrator in fleet.meters[["meter", "concentrator"]].iloc[::20].itertuples(index=False):
            fh.write(f"{meter}\t{concentrator}\t{DAY.isoformat()} 23:59:59\t0000\t0000\t003A\t0008\n")
    _put_conditions(base / "inbox")
    exporters = []
    for i in range(SHARDS):
        exporter = Exporter(
            base / "inbox", base / f"state{i}", base / "inventory", settle_seconds=0,
            shard=Shard(i, SHARDS), shared_inbox=True,
        )  # fmt: skip
        exporter.restore()
        exporter.scan()
        exporters.append(exporter)
    try:
        yield exporters
    finally:
        for exporter in exporters:
            exporter.inbox.ledger.close()


def _put_conditions(inbox: Path) -> None:
    """Every third concentrator of the CSW report gets a status word with several conditions in alarm (of
    every priority), every seventh one with a single one: concentrators with several conditions."""
    cat = load_catalogs()
    every = 0
    for flag in cat.csw_flags:  # each flag at its alarm state: set when "set" alarms, clear when "clear"
        if flag.polarity == "set":
            every |= 1 << flag.bit
    single = next(f for f in cat.csw_flags if f.polarity == "set")
    (path,) = inbox.glob("ConcentratorStatusWordAnalyzedReport_*")
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, index in enumerate(range(2, len(lines))):  # after the two header lines
        fields = lines[index].split("\t")
        if n % 3 == 0:
            fields[4] = f"{every:06X}"
        elif n % 7 == 0:
            fields[4] = f"{1 << single.bit:06X}"
        lines[index] = "\t".join(fields)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def prometheus(shards: list[Exporter], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    bodies = [e.exposition.body() for e in shards]
    servers = [serve_exposition(lambda body=body: body) for body in bodies]
    group = ProcessGroup(tmp_path_factory.mktemp("counting-prometheus"))
    try:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(REPO / "rules" / "recording.rules.yml")],
            "scrape_configs": [
                {
                    "job_name": "smmeplus",
                    "static_configs": [{"targets": [f"127.0.0.1:{s.server_address[1]}" for s in servers]}],
                }
            ],
        }
        prom = Prometheus(group, config)
        prom.wait_ready()
        # the recording rules' newest evaluation must have seen both shards: an evaluation between the
        # first and the second shard's first scrape leaves partial sums behind for a second
        wait_for(
            lambda: (
                len(prom.query("count by (instance) (smmc_meters_flagged)")) == SHARDS
                and prom.query(
                    "sum(comuna_severity:smmc_meters_flagged:sum) == sum(smmc_meters_flagged)"
                    " and sum(last_over_time(smmc_meters_flagged[5s])) == sum(smmc_meters_flagged)"
                )
            ),
            60,
            "both shards scraped and the recording rules evaluated",
            processes=group,
        )
        yield prom
    finally:
        group.close()
        for server in servers:
            server.shutdown()
            server.server_close()


# -- the truth, from the shards' state ------------------------------------------------------------------


class Truth:
    """Distinct objects, counted from what the shards hold (not from their metrics)."""

    def __init__(self, shards: list[Exporter]) -> None:
        cat = load_catalogs()
        flags = cat.meter_flags
        active = FlagRows.concat([e.source.active_flags() for e in shards])
        codes = active.flags
        self.active = pd.DataFrame(
            {
                "meter": active.meters,
                "concentrator": active.concentrators,
                "flag": [flags[c].acronym for c in codes],
                "severity": [flags[c].severity for c in codes],
                "category": [flags[c].category for c in codes],
                "per_meter": [flags[c].per_meter for c in codes],
            }
        )
        inventory = shards[0].source.inventory
        self.meters_in_inventory = len(inventory.meters)
        self.known_concentrators = set(inventory.concentrators.index)
        home = self.active.drop_duplicates("meter").set_index("meter")["concentrator"]
        worst = (
            self.active.assign(rank=self.active["severity"].map(SEVERITIES.index))
            .groupby("meter")["rank"]
            .min()
        )
        self.worst = {meter: SEVERITIES[rank] for meter, rank in worst.items()}
        self.alarmed = {m for m, s in self.worst.items() if s != "info"}
        self.alarmed_per_concentrator = Counter(home[m] for m in self.alarmed)
        comuna = dict(
            zip(home.unique(), inventory.concentrator_comuna(home.unique().astype(object)), strict=True)
        )
        self.alarmed_per_comuna = Counter(comuna[home[m]] for m in self.alarmed)
        self.csw: dict[str, list] = {}
        self.reachable: dict[str, int] = {}
        for e in shards:
            for name, row in e.source.csw.iterrows():
                self.csw[name] = cat.decode_csw(int(row["csw"])).alarms
                self.reachable[name] = int(row["reachable"])

    def meters_by_worst_severity(self) -> dict[str, float]:
        return dict(Counter(self.worst.values()))

    def meters_by_category(self) -> dict[str, float]:
        return dict(Counter(self.active.drop_duplicates(["meter", "category"])["category"]))

    def meters_by_flag(self) -> dict[str, float]:
        return dict(Counter(self.active.drop_duplicates(["meter", "flag"])["flag"]))

    def concentrators_by_priority(self) -> dict[str, float]:
        return dict(Counter(p for alarms in self.csw.values() for p in {a.priority for a in alarms}))

    def concentrators_by_condition(self) -> dict[str, float]:
        return dict(
            Counter(a.letter for alarms in self.csw.values() for a in {a.letter: a for a in alarms}.values())
        )

    def with_condition(self) -> int:
        return sum(1 for alarms in self.csw.values() if alarms)


@pytest.fixture(scope="module")
def truth(shards: list[Exporter]) -> Truth:
    t = Truth(shards)
    # the fixture is what the test is about: meters with several flags, spread over both shards
    flags_per_meter = t.active.groupby("meter").size()
    same_category = t.active.groupby(["meter", "category"]).size()
    assert (same_category >= 2).sum() >= 10, "too few meters with two flags of one category"
    assert (flags_per_meter >= 3).sum() >= 10, "too few meters with several flags to prove anything"
    assert len(t.active) > len(flags_per_meter) * 1.5
    assert t.with_condition() > 10 and max(len(alarms) for alarms in t.csw.values()) >= 3
    homes = t.active.drop_duplicates("meter")["concentrator"]
    assert {shard_of(c, SHARDS) for c in homes} == set(range(SHARDS))
    return t


def _by(result: list[dict], label: str) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for sample in result:
        out[sample["metric"].get(label, "")] += float(sample["value"][1])
    return dict(out)


def _scalar(result: list[dict]) -> float:
    (sample,) = result
    return float(sample["value"][1])


# (dashboard uid, panel title) -> (how to read the first query's result, what it must equal)
Check = Callable[[list[dict], Truth], tuple[object, object]]
COUNT_PANELS: dict[tuple[str, str], Check] = {
    ("smmc-meters", "Share of meters with an alarm"): lambda r, t: (
        round(_scalar(r), 9),
        round(len(t.alarmed) / t.meters_in_inventory, 9),
    ),
    ("smmc-meters", "Meters with an active flag, by most severe flag"): lambda r, t: (
        _by(r, "severity"),
        t.meters_by_worst_severity(),
    ),
    ("smmc-meters", "Meters with an active event or alarm, by severity"): lambda r, t: (
        _by(r, "severity"),
        t.meters_by_worst_severity(),
    ),
    ("smmc-meters", "Meters by alarm category"): lambda r, t: (_by(r, "category"), t.meters_by_category()),
    ("smmc-meters", "Meters by event and alarm type"): lambda r, t: (_by(r, "flag"), t.meters_by_flag()),
    ("smmc-meters", "Top 10 concentrators by meters with an alarm"): lambda r, t: (
        sorted(_by(r, "concentrator").values(), reverse=True),
        sorted(t.alarmed_per_concentrator.values(), reverse=True)[:10],
    ),
    ("smmc-meters", "Top 10 comunas by meters with an alarm"): lambda r, t: (
        sorted(_by(r, "comuna").values(), reverse=True),
        sorted(t.alarmed_per_comuna.values(), reverse=True)[:10],
    ),
    ("smmc-meters", "Meters with alarms: heat map"): lambda r, t: (
        _by(r, "concentrator"),
        {c: n for c, n in t.alarmed_per_concentrator.items() if c in t.known_concentrators},
    ),
    ("smmc-meters", "Meters with an active per-meter flag"): lambda r, t: (
        sorted((s["metric"]["meter"], s["metric"]["flag"]) for s in r),
        sorted(
            (m, f)
            for m, f, c, pm in t.active[["meter", "flag", "concentrator", "per_meter"]].itertuples(
                index=False
            )
            if pm and c in t.known_concentrators
        ),
    ),
    ("smmc-concentrators", "Share of concentrators with a condition"): lambda r, t: (
        round(_scalar(r), 9),
        round(t.with_condition() / len([c for c in t.csw if c in t.known_concentrators]), 9),
    ),
    ("smmc-concentrators", "Concentrators with a condition now, by priority"): lambda r, t: (
        _by(r, "priority"),
        {p: t.concentrators_by_priority().get(p, 0) for p in ("alta", "media", "baja")},  # zeros shown
    ),
    ("smmc-concentrators", "Concentrators with a condition, by priority"): lambda r, t: (
        _by(r, "priority"),
        t.concentrators_by_priority(),
    ),
    ("smmc-concentrators", "Concentrators with each status-word condition"): lambda r, t: (
        _by(r, "flag"),
        t.concentrators_by_condition(),
    ),
    ("smmc-concentrators", "Unreachable concentrators"): lambda r, t: (
        _scalar(r),
        float(sum(1 for c, up in t.reachable.items() if not up and c in t.known_concentrators)),
    ),
    ("smmc-concentrators", "Concentrators reporting a status word"): lambda r, t: (
        _scalar(r),
        float(len([c for c in t.csw if c in t.known_concentrators])),
    ),
}


def test_the_count_panels_are_all_checked() -> None:
    titles = {(uid, title) for uid, title, _ in panel_queries()}
    assert set(COUNT_PANELS) <= titles, set(COUNT_PANELS) - titles


@pytest.mark.parametrize("panel", sorted(COUNT_PANELS), ids=lambda key: f"{key[0]}/{key[1]}")
def test_count_panel_counts_distinct_objects(
    panel: tuple[str, str], prometheus: Prometheus, truth: Truth
) -> None:
    expr = next(e for uid, title, e in panel_queries() if (uid, title) == panel)
    got, expected = COUNT_PANELS[panel](prometheus.query(expr), truth)
    assert got == expected, f"{panel}: {expr}"
