"""SMMePlus exporter sharding (`--shard i/n`): n exporters over one shared simulated inbox split the
concentrators into disjoint sets, their series together are the unsharded exporter's, and every rule
expression (recording and alerting, rules/*.rules.yml) evaluated by a real Prometheus over the shards'
series gives the values it gives over the unsharded exporter's series."""

from __future__ import annotations

import datetime as dt
import math
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from test_smmeplus import samples

from exporters.core.exposition import escape_label_value
from exporters.smmeplus.cli import Exporter, main
from exporters.smmeplus.shard import Shard, shard_of
from simulator import smmeplus as sim

REPO = Path(__file__).resolve().parents[1]
DAY = dt.date(2021, 10, 7)
SHARDS = 3
# per instance, about that instance's own reading of the inbox: compared per shard, not summed
PER_INSTANCE = {
    "smmc_source_up",
    "smmc_source_last_ingest_timestamp_seconds",
    "smmc_source_files_rejected_total",
    "smmc_source_shard_index",
    "smmc_source_shards",
    "smmc_source_scan_failures_total",
    "smmc_source_last_scan_success_timestamp_seconds",
}


def test_shard_parse_and_stable_hash() -> None:
    assert Shard.parse("2/4") == Shard(2, 4) and Shard.parse("") == Shard(0, 1) and Shard.parse(None).whole
    for bad in ("4/4", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(ValueError):
            Shard.parse(bad)
    # crc32, not Python's per-process randomised hash(): the same shard in every process and release
    assert shard_of("TD-0011", 4) == 2762845100 % 4 == 0 and shard_of("TD-0011", 3) == 2762845100 % 3 == 2
    assert shard_of("", 4) == shard_of(None, 4) == 0
    names = [f"TD-{i}" for i in range(2000)]
    sizes = [sum(shard_of(n, 4) == i for n in names) for i in range(4)]
    assert min(sizes) > 400  # an even spread, not a degenerate one


def test_cli_refuses_a_bad_shard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--inbox", str(tmp_path), "--shard", "3/3", "--once"]) == 2
    assert "--shard" in capsys.readouterr().err


def _fleet() -> sim.Fleet:
    fleet = sim.build_fleet(700, seed=11, meters_per_concentrator=10)
    # a meter the inventory lists without a concentrator: a fleet row, owned by shard 0
    orphan = fleet.meters.iloc[[0]].assign(meter="UAAEEDN150099999999", concentrator="")
    fleet.meters = sim.pd.concat([fleet.meters, orphan], ignore_index=True)
    return fleet


def _write_day(fleet: sim.Fleet, date: dt.date, inbox: Path) -> None:
    sim.write_day(sim.simulate_day(fleet, seed=11, date=date), inbox)
    swe = inbox / f"SWE_{date.isoformat()}.csv"
    with open(swe, "a", encoding="utf-8") as fh:  # bad rows: counted once over the shards, by shard 0
        fh.write("a wrong-width row\n")
        fh.write("TD-1\tUAAEEDN150000001\t1\t3.26.0.85\tnot a date\tHIGH\tTrue\tPower Up (PUP)\n")


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, sim.Fleet]]:
    base = tmp_path_factory.mktemp("shard")
    fleet = _fleet()
    sim.write_inventory(fleet, base / "inventory")
    _write_day(fleet, DAY, base / "inbox")
    yield base / "inbox", base / "inventory", fleet


def _exporter(inbox: Path, inventory: Path | None, state: Path, shard: Shard | None) -> Exporter:
    # the unsharded exporter reads the same shared inbox (it must not move the shards' files away)
    exporter = Exporter(inbox, state, inventory, settle_seconds=0, shard=shard, shared_inbox=True)
    exporter.restore()
    exporter.scan()
    return exporter


def _split(body_samples: dict) -> tuple[dict, dict]:
    """(name, labels) -> value, split into the per-instance health and the data samples."""
    health = {k: v for k, v in body_samples.items() if k[0] in PER_INSTANCE}
    data = {k: v for k, v in body_samples.items() if k[0] not in PER_INSTANCE}
    return health, data


def _check_shards_against_whole(whole_body: bytes, shard_bodies: list[bytes]) -> None:
    whole_health, whole = _split(samples(whole_body))
    parts = [_split(samples(b)) for b in shard_bodies]
    by_concentrator: dict[tuple, list[int]] = defaultdict(list)
    summed: dict[tuple, float] = defaultdict(float)
    owned: list[set[str]] = [set() for _ in shard_bodies]
    for i, (health, data) in enumerate(parts):
        for kind in ("swe", "hpe", "lpe", "csw", "technical", "msw"):
            assert health[("smmc_source_up", frozenset({("kind", kind)}))] == 1
        assert health[("smmc_source_shard_index", frozenset())] == i
        assert health[("smmc_source_shards", frozenset())] == len(shard_bodies)
        for key, v in data.items():
            labels = dict(key[1])
            if labels.get("concentrator"):
                assert shard_of(labels["concentrator"], len(shard_bodies)) == i, key
                by_concentrator[key].append(i)
                owned[i].add(labels["concentrator"])
                assert whole.get(key) == v, key
            else:
                summed[key] += v
    assert all(owned), "every shard owns some concentrators"
    for a in range(len(owned)):
        for b in range(a + 1, len(owned)):
            assert not owned[a] & owned[b]
    whole_concentrators = {dict(k[1])["concentrator"] for k in whole if dict(k[1]).get("concentrator")}
    assert set().union(*owned) == whole_concentrators
    assert all(len(shards) == 1 for shards in by_concentrator.values())
    with_concentrator = {k for k in whole if dict(k[1]).get("concentrator")}
    assert set(by_concentrator) == with_concentrator
    fleet_wide = {k: v for k, v in whole.items() if k not in with_concentrator}
    assert {k for k, v in summed.items() if v} == {k for k, v in fleet_wide.items() if v}
    for key, v in fleet_wide.items():
        assert math.isclose(summed.get(key, 0.0), v), (key, summed.get(key), v)
    # the families whose sums matter most are present and non-trivial
    names = {k[0] for k, v in fleet_wide.items() if v}
    for name in (
        "smmc_meters",
        "smmc_meter_events",
        "smmc_meters_with_events",
        "smmc_workorders_total",
        "smmc_source_rows_total",
        "smmc_source_rows_rejected_total",
        "smmc_meter_flag_info",
    ):
        assert name in names, name
    assert whole_health[("smmc_source_shards", frozenset())] == 1


def test_shards_are_disjoint_and_sum_to_the_unsharded_exporter(
    inbox: tuple[Path, Path, sim.Fleet], tmp_path: Path
) -> None:
    inbox_dir, inventory, fleet = inbox
    files = sorted(p.name for p in inbox_dir.iterdir() if p.is_file())
    whole = _exporter(inbox_dir, inventory, tmp_path / "whole", None)
    shards = [_exporter(inbox_dir, inventory, tmp_path / f"s{i}", Shard(i, SHARDS)) for i in range(SHARDS)]
    try:
        # a shared inbox is only read: every reader saw every file, none was moved
        assert sorted(p.name for p in inbox_dir.iterdir() if p.is_file()) == files
        _check_shards_against_whole(whole.exposition.body(), [s.exposition.body() for s in shards])
        # the inventory's meter without a concentrator is counted by shard 0 alone
        meters = [samples(s.exposition.body()) for s in shards]
        total = [sum(v for (n, _l), v in m.items() if n == "smmc_meters") for m in meters]
        assert sum(total) == len(fleet.meters)
        # a second scan takes nothing again (same name, size and mtime)
        assert shards[1].scan() == []
    finally:
        for e in (whole, *shards):
            e.inbox.ledger.close()


def test_a_broken_file_in_a_shared_inbox_stays_and_is_rejected_once(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "SWE_2021-10-08.csv").write_text("this is not\na head-end file\n", encoding="utf-8")
    exporter = _exporter(inbox, None, tmp_path / "s0", Shard(0, 2))
    try:
        assert [r.status for r in exporter.inbox.last_records] == ["rejected"]
        assert (inbox / "SWE_2021-10-08.csv").exists()  # another shard still has to read it
        reasons = list((tmp_path / "s0" / "rejected").glob("*.reason.txt"))
        assert len(reasons) == 1 and "reason: unreadable" in reasons[0].read_text()
        assert exporter.scan() == []
        body = samples(exporter.exposition.body())
        assert body[("smmc_source_files_rejected_total", frozenset({("kind", "swe")}))] == 1
    finally:
        exporter.inbox.ledger.close()
    again = _exporter(inbox, None, tmp_path / "s0", Shard(0, 2))  # a restart: known by content
    try:
        assert [r.status for r in again.inbox.last_records] == ["duplicate"]
        body = samples(again.exposition.body())
        assert body[("smmc_source_files_rejected_total", frozenset({("kind", "swe")}))] == 1
    finally:
        again.inbox.ledger.close()


def test_a_restarted_shard_reads_nothing_twice(inbox: tuple[Path, Path, sim.Fleet], tmp_path: Path) -> None:
    inbox_dir, inventory, _fleet = inbox
    first = _exporter(inbox_dir, inventory, tmp_path / "s1", Shard(1, SHARDS))
    before = first.exposition.body()
    first.inbox.ledger.close()
    again = _exporter(inbox_dir, inventory, tmp_path / "s1", Shard(1, SHARDS))
    try:
        assert {r.status for r in again.inbox.last_records} == {"duplicate"}
        drop = {
            "smmc_source_last_ingest_timestamp_seconds",
            "smmc_source_last_scan_success_timestamp_seconds",
        }
        strip = lambda body: {k: v for k, v in samples(body).items() if k[0] not in drop}  # noqa: E731
        assert strip(again.exposition.body()) == strip(before)
    finally:
        again.inbox.ledger.close()


# -- the rules over the shards' series, on a real Prometheus ---------------------------------------------


def _openmetrics(snapshots: list[tuple[float, dict[str, bytes]]]) -> str:
    """Timestamped samples of every instance's exposition, as OpenMetrics text for the TSDB backfill."""
    series: dict[str, dict[tuple, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    for ts, bodies in snapshots:
        for instance, body in bodies.items():
            for (name, labels), v in samples(body).items():
                key = tuple(sorted({**dict(labels), "job": "smmeplus", "instance": instance}.items()))
                series[name][key].append((ts, v))
    lines = []
    for name in sorted(series):
        lines.append(f"# TYPE {name} unknown")
        for key, points in series[name].items():
            labels = ",".join(f'{k}="{escape_label_value(str(v))}"' for k, v in key)
            lines.extend(f"{name}{{{labels}}} {v!r} {ts:.3f}" for ts, v in points)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _rule_expressions() -> list[tuple[str, str]]:
    out = []
    for path in sorted((REPO / "rules").glob("*.rules.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                out.append((rule.get("record") or rule["alert"], rule["expr"]))
    return out


def _vector(result: list[dict]) -> dict[frozenset, float]:
    return {frozenset(r["metric"].items()): float(r["value"][1]) for r in result}


def test_rule_expressions_over_shards_equal_the_unsharded_values(
    inbox: tuple[Path, Path, sim.Fleet], tmp_path: Path
) -> None:
    from e2e.harness import ProcessGroup, Prometheus

    inbox_dir, inventory, fleet = inbox
    whole = _exporter(inbox_dir, inventory, tmp_path / "whole", None)
    shards = [_exporter(inbox_dir, inventory, tmp_path / f"s{i}", Shard(i, SHARDS)) for i in range(SHARDS)]
    exporters = {"whole": whole, **{f"shard-{i}": s for i, s in enumerate(shards)}}
    day1 = {name: e.exposition.body() for name, e in exporters.items()}
    _write_day(fleet, DAY + dt.timedelta(days=1), inbox_dir)  # counters grow
    for e in exporters.values():
        e.scan()
    day2 = {name: e.exposition.body() for name, e in exporters.items()}
    for e in exporters.values():
        e.inbox.ledger.close()
    _check_shards_against_whole(day2["whole"], [day2[f"shard-{i}"] for i in range(SHARDS)])

    # the same timestamps in both TSDBs: day 1 at T-1d and T-1h, day 2 at T. The windows of increase()
    # ([1h], [1d]) then start and end on a sample, so its extrapolation is the identity for every series
    # and a sum of increases is the increase of the sum; instant queries at T see day 2
    at = float(int(time.time()) // 60 * 60 - 120)
    times = [(at - 86400, day1), (at - 3600, day1), (at, day2)]
    sets = {
        "whole": [(t, {"whole": b["whole"]}) for t, b in times],
        "shards": [(t, {k: v for k, v in b.items() if k != "whole"}) for t, b in times],
    }
    group = ProcessGroup(tmp_path / "prom")
    proms: dict[str, Prometheus] = {}
    try:
        for name, snapshots in sets.items():
            om = tmp_path / f"{name}.om"
            om.write_text(_openmetrics(snapshots), encoding="utf-8")
            data = group.workdir / name / "data"
            subprocess.run(
                ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(om), str(data)],
                check=True,
                capture_output=True,
                timeout=120,
            )
            proms[name] = Prometheus(group, {"global": {"evaluation_interval": "1m"}}, name=name)
        for prom in proms.values():
            prom.wait_ready()
        compared = nonempty = 0
        grew: set[str] = set()
        for rule, expr in _rule_expressions():
            if "smmc_" not in expr or "smmc_source_" in expr:
                continue  # not the exporter's, or about each instance's own ingest (compared above)
            got = {}
            for name, prom in proms.items():
                response = httpx.get(
                    f"{prom.url}/api/v1/query", params={"query": expr, "time": at}, timeout=30
                )
                response.raise_for_status()
                got[name] = _vector(response.json()["data"]["result"])
            assert got["shards"].keys() == got["whole"].keys(), rule
            for labels, v in got["whole"].items():
                assert math.isclose(got["shards"][labels], v, rel_tol=1e-9), (rule, dict(labels))
            compared += 1
            nonempty += bool(got["whole"])
            if rule.endswith(("increase1d", "increase1h")) and any(v > 0 for v in got["whole"].values()):
                grew.add(rule)
        assert compared >= 20 and nonempty >= 12, (compared, nonempty)
        # the counters did grow between the days: the sums of increases are not sums of zeros
        assert {"source_outcome:smmc_workorders:increase1d", "flag:smmc_meter_events:increase1h"} <= grew
    finally:
        for prom in proms.values():
            prom.close()
        group.close()
