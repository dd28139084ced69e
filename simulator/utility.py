"""`smmc simulate utility`: one coherent simulated utility, its scenarios, and the demo loop.

The parts come from the generators of each source, used through their importable APIs:
- `simulator.smmeplus`: the fleet (concentrators, their modems, meters) and each day's SWE,
  HPE, LPE, CSW, technical and meter-status-word files;
- `simulator.opengate_fleet`: the OpenGate fleet, one router per concentrator of the same
  inventory (the concentrator's `modem` is the OpenGate device id);
- `simulator.cloudera`: the Cloudera job report for the example schedule.

Output directory (what docker-compose.yml mounts and the end-to-end test reads):

    DIR/utility.json                  the utility: seed, size, the last day, active scenarios, their targets
    DIR/scenarios                     optional control file: scenario names, one a line, re-read every day
    DIR/smmeplus/inventory/           concentrators.csv, meters.csv
    DIR/smmeplus/inbox/               the daily files (written under a temporary name, then renamed)
    DIR/opengate/fleet.json           the fleet `smmc fake opengate --fleet` serves
    DIR/cloudera/jobs.yml             the schedule `smmc exporter cloudera --schedule` reads
    DIR/cloudera/report.csv           the job status report, replaced every day

Each call emits the next day. SMMePlus days follow the simulated calendar (day 0 is `--start-date`; the
command defaults it to today, the `Utility` class never reads the calendar: a caller passes the date, or
a `today` function). The day's background noise is drawn from (seed, date); the concentrators the
named scenarios act on carry none (`simulator.smmeplus.quiet`), so a scenario's effects are all they show.
The Cloudera report is written "as of now" on the `clock` (the real clock by default), because its
exporter judges deadlines on the real clock: a job whose run time today has not come yet shows its
previous run. A late job that has already succeeded today cannot become late again the same day (the
exporter trusts the success), so the "late critical job" scenario shows from the first report that has
it, or from the next day's cycle.
The fake OpenGate serves what it loaded at start; with `--opengate-fake URL` each day's router and SIM
states of the scenario targets are pushed to it through its `/_fake/` control API.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from exporters.cloudera.schedule import Schedule, load_schedule
from simulator import cloudera as cloudera_sim
from simulator import opengate_fleet
from simulator import smmeplus as smmeplus_sim
from simulator.scenarios import Scenario, ScenarioError, load_all, load_scenario
from smmc.options import OptionParser, fail, positive_int, url_with_scheme, writable_dir

log = logging.getLogger("smmc.simulate.utility")

FORMAT = "smmc-utility/1"
STATE_FILE = "utility.json"
CONTROL_FILE = "scenarios"
# SWE rows per meter and day. The seed's Control Room table counts about 241,000 events of 95,290
# meters in a day; over the Enel-sized fleet of 500,000 meters that is 0.48 events per meter.
SWE_ROWS_PER_METER = 0.48
METERS_PER_CONCENTRATOR = 50.0
# The utility's OpenGate fleet is an attended one. The seed's OpenGate screens show a backlog, 443 device
# alarms on 3,046 routers (431 open, opened over days and left open), and 5 % of routers failing the IP
# ping is the `smmc simulate opengate` default; an ordinary day of a watched fleet has the day's problems:
# about 1 router in 100 with a new device alarm (at least one, so the alarm views have data) and 1 in 100
# failing its IP presence check (docs/simulator.md).
OPENGATE_ALARMS_PER_ROUTER = 0.01
OPENGATE_NOK_SHARE = 0.01
# the round-trip time of a scenario's router (the generator's median): no ModemRttHigh of its own
QUIET_RTT_MS = 550
HEALTHY_PRESENCE = ("IP", "OK")
# The device fields a scenario changes, and how the fake OpenGate's control API names them.
MODEM_FIELDS = {"present": "unified_presence", "ip_presence": "ip_presence", "admin_state": "admin_state"}
ABSENT_PRESENCE = "NOT_REGISTERED"


class UtilityError(ValueError):
    pass


@dataclass
class DayRecord:
    index: int
    date: dt.date
    scenarios: list[str]
    targets: dict[str, dict[str, Any]]
    files: dict[str, str] = field(default_factory=dict)
    emitted_at: float = 0.0


class Utility:
    """The simulated utility in `out`: build once (or reload from utility.json), then `emit_day()`."""

    def __init__(
        self,
        out: str | Path,
        meters: int,
        seed: int = 1,
        *,
        start_date: dt.date | None = None,
        meters_per_concentrator: float = METERS_PER_CONCENTRATOR,
        swe_rows_per_meter: float = SWE_ROWS_PER_METER,
        opengate_fake: str | None = None,
        schedule_path: str | Path = cloudera_sim.EXAMPLE_SCHEDULE,
        today: Callable[[], dt.date] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`start_date` is day 0; without it, the saved utility's, else `today()`; without any of them
        a UtilityError (no simulated day depends on the date it runs at unless the caller says so).
        `clock` (Unix seconds) times the Cloudera report and the records: the exporter that reads the
        report judges deadlines on the real clock, so the default is the real clock."""
        self.out = Path(out)
        self.meters = meters
        self.seed = seed
        self.meters_per_concentrator = meters_per_concentrator
        self.swe_rows_per_meter = swe_rows_per_meter
        self.opengate_fake = opengate_fake.rstrip("/") if opengate_fake else None
        state = self._load_state()
        same = state and (state["seed"], state["meters"], state["meters_per_concentrator"]) == (
            seed,
            meters,
            meters_per_concentrator,
        )
        self.state: dict[str, Any] = state if same else {}
        self.clock = clock
        if start_date is None and self.state:
            start_date = dt.date.fromisoformat(self.state["start_date"])
        if start_date is None and today is not None:
            start_date = today()
        if start_date is None:
            raise UtilityError("a new utility needs its start date (day 0)")
        self.start_date: dt.date = start_date
        self.fleet = smmeplus_sim.build_fleet(meters, seed, meters_per_concentrator)
        self.paths = {
            "inventory": self.out / "smmeplus" / "inventory",
            "inbox": self.out / "smmeplus" / "inbox",
            "fleet": self.out / "opengate" / "fleet.json",
            "schedule": self.out / "cloudera" / "jobs.yml",
            "report": self.out / "cloudera" / "report.csv",
        }
        self.base_fleet = opengate_fleet.generate(
            placements=[
                (str(m), float(lat), float(lon))
                for m, lat, lon in self.fleet.concentrators[["modem", "latitude", "longitude"]].itertuples(
                    index=False
                )
            ],
            seed=seed,
            alarms=max(1, round(OPENGATE_ALARMS_PER_ROUTER * len(self.fleet.concentrators))),
            nok_share=OPENGATE_NOK_SHARE,
        )
        self._schedule_source = Path(schedule_path)
        self.schedule: Schedule = load_schedule(self._schedule_source)
        self._ranked = self._rank_concentrators()
        self.reserved = self._scenario_concentrators()
        self._quiet_routers()

    # ------------------------------------------------------------------------------------------------
    # the coherent parts

    def _load_state(self) -> dict[str, Any]:
        path = self.out / STATE_FILE
        if not path.exists():
            return {}
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) and state.get("format") == FORMAT else {}

    def _rank_concentrators(self) -> list[str]:
        """Concentrators a scenario may break: those whose router is healthy in OpenGate's base fleet,
        largest (most meters) first, ties by name. A scenario's `concentrator_rank` indexes this list."""
        sizes = self.fleet.meters.groupby("concentrator").size()
        devices = {d["id"]: d for d in self.base_fleet["devices"]}
        healthy = []
        for conc, modem in self.fleet.concentrators[["concentrator", "modem"]].itertuples(index=False):
            device = devices.get(modem)
            if device and (device["unified_presence"], device["ip_presence"]) == HEALTHY_PRESENCE:
                healthy.append((-int(sizes.get(conc, 0)), conc))
        return [conc for _size, conc in sorted(healthy)]

    def _scenario_concentrators(self) -> set[str]:
        """The concentrators the named scenarios act on (those this utility is big enough for)."""
        out = set()
        for scenario in load_all().values():
            if scenario.concentrator_rank is not None and scenario.concentrator_rank < len(self._ranked):
                out.add(self._ranked[scenario.concentrator_rank])
        return out

    def _quiet_routers(self) -> None:
        """The routers of the scenarios' concentrators carry no noise either: a healthy round-trip time,
        and no device alarm (a traffic alarm the generator put on one goes to another router, so the
        alarm views keep their data; a presence alarm cannot be on a present router)."""
        by_conc = self.fleet.concentrators.set_index("concentrator")["modem"]
        modems = {str(by_conc[c]) for c in self.reserved}
        others = [d for d in self.base_fleet["devices"] if d["id"] not in modems]
        for device in self.base_fleet["devices"]:
            if device["id"] in modems and device["rtt_ms"] is not None:
                device["rtt_ms"] = min(int(device["rtt_ms"]), QUIET_RTT_MS)
        alarms = []
        for i, alarm in enumerate(self.base_fleet["alarms"]):
            if alarm["entity"] in modems:
                if alarm["rule"] != opengate_fleet.TRAFFIC_RULE or not others:
                    continue
                other = others[i % len(others)]
                alarm = {**alarm, "entity": other["id"], "sub_entity": other["sim"]}
            alarms.append(alarm)
        self.base_fleet["alarms"] = alarms

    def jump_to(self, date: dt.date) -> None:
        """Make `date` the next day emitted (a later date than the last one): the simulated calendar skips
        ahead, e.g. to run the same scenarios on another date on the same stack."""
        last = self.state.get("date")
        if last and date <= dt.date.fromisoformat(last):
            raise UtilityError(f"cannot jump back to {date}: the last day emitted is {last}")
        self.start_date = date - dt.timedelta(days=int(self.state.get("day", -1)) + 1)

    def targets(self, scenario: Scenario) -> dict[str, Any]:
        """The objects the scenario acts on: concentrator, its comuna, modem and SIM; or a Cloudera job."""
        out: dict[str, Any] = {}
        if scenario.concentrator_rank is not None:
            rank = scenario.concentrator_rank
            if rank >= len(self._ranked):
                raise UtilityError(
                    f"scenario {scenario.name} needs concentrator rank {rank}, but the utility has "
                    f"{len(self._ranked)} concentrators with a healthy router: simulate more meters"
                )
            conc = self._ranked[rank]
            row = self.fleet.concentrators.set_index("concentrator").loc[conc]
            device = next(d for d in self.base_fleet["devices"] if d["id"] == row["modem"])
            out.update(concentrator=conc, comuna=row["comuna"], modem=row["modem"], sim=device["sim"])
            out["meters"] = int((self.fleet.meters["concentrator"] == conc).sum())
        cloudera = scenario.effects.get("cloudera")
        if cloudera:
            wanted = cloudera.get("criticality", "critical")
            jobs = [j.name for j in self.schedule.jobs if j.criticality == wanted]
            if not jobs:
                raise UtilityError(f"scenario {scenario.name}: no {wanted} job in the schedule")
            out["job"] = jobs[0]
        return out

    def write_inventory(self) -> None:
        smmeplus_sim.write_inventory(self.fleet, self.paths["inventory"])
        self.paths["schedule"].parent.mkdir(parents=True, exist_ok=True)
        if not self.paths["schedule"].exists():
            shutil.copyfile(self._schedule_source, self.paths["schedule"])

    # ------------------------------------------------------------------------------------------------
    # one day

    def emit_day(
        self, scenarios: list[Scenario] | tuple[Scenario, ...] = (), now: float | None = None
    ) -> DayRecord:
        """Write the next day of every source with `scenarios` in effect; returns what was written."""
        index = int(self.state.get("day", -1)) + 1
        date = self.start_date + dt.timedelta(days=index)
        targets = {s.name: self.targets(s) for s in scenarios}
        self.write_inventory()
        record = DayRecord(index, date, [s.name for s in scenarios], targets, emitted_at=self.clock())

        # a router's state first: in the field a dead router is seen before its concentrator's report
        fleet = self.fleet_for(scenarios, targets)
        write_json_atomic(self.paths["fleet"], fleet)
        record.files["fleet"] = str(self.paths["fleet"])
        if self.opengate_fake:
            self.push_to_fake(fleet, targets)

        rows = self.cloudera_report(scenarios, targets, now)
        cloudera_sim.write_report(rows, self.paths["report"], "csv")
        record.files["report"] = str(self.paths["report"])

        day = smmeplus_sim.simulate_day(
            self.fleet, self.seed, date, swe_rows=max(1, round(self.swe_rows_per_meter * self.meters))
        )
        # no background noise on any scenario's objects: on, off, before and after
        quiet = set(self.reserved)
        quiet |= {t["concentrator"] for t in targets.values() if "concentrator" in t}
        quiet |= {t["concentrator"] for t in self.state.get("targets", {}).values() if "concentrator" in t}
        smmeplus_sim.quiet(day, quiet)
        for scenario in scenarios:
            apply_smmeplus_effects(day, self.fleet, scenario, targets[scenario.name])
        # scenarios that were on yesterday and are off today: their devices report the recovery
        active = {s.name for s in scenarios}
        for name in self.state.get("scenarios", []):
            if name in active:
                continue
            try:
                ended = load_scenario(name)
            except ScenarioError:
                continue
            recover_smmeplus(day, self.fleet, ended, self.state.get("targets", {}).get(name, {}))
        written = smmeplus_sim.write_day(day, self.paths["inbox"])
        record.files.update({kind: str(path) for kind, path in written.items()})
        for scenario in scenarios:
            garbage = scenario.effects.get("garbage")
            if garbage:
                path = write_garbage(self.paths["inbox"], garbage.get("kind", "swe"), date)
                record.files[f"garbage:{scenario.name}"] = str(path)

        known = dict(self.state.get("touched_modems", {}))
        for t in targets.values():
            if "modem" in t:
                known[t["modem"]] = t["sim"]
        self.state = {
            "format": FORMAT,
            "seed": self.seed,
            "meters": self.meters,
            "meters_per_concentrator": self.meters_per_concentrator,
            "concentrators": len(self.fleet.concentrators),
            "start_date": self.start_date.isoformat(),
            "day": index,
            "date": date.isoformat(),
            "emitted_at": record.emitted_at,
            "scenarios": record.scenarios,
            "targets": targets,
            "touched_modems": known,
            "files": record.files,
        }
        write_json_atomic(self.out / STATE_FILE, self.state)
        return record

    def fleet_for(self, scenarios: list[Scenario] | tuple[Scenario, ...], targets: dict[str, dict]) -> dict:
        fleet = copy.deepcopy(self.base_fleet)
        devices = {d["id"]: d for d in fleet["devices"]}
        sims = {s["id"]: s for s in fleet["sims"]}
        for scenario in scenarios:
            effect = scenario.effects.get("modem")
            if not effect:
                continue
            target = targets[scenario.name]
            device = devices[target["modem"]]
            device.update(modem_changes(effect))
            if "sim_state" in effect:
                sims[target["sim"]]["state"] = str(effect["sim_state"])
        return fleet

    def push_to_fake(self, fleet: dict, targets: dict[str, dict]) -> None:
        """Bring the fake OpenGate's scenario routers and SIMs to today's state (also restores the ones a
        finished scenario had broken). A failure is logged; the next day pushes again."""
        touched = dict(self.state.get("touched_modems", {}))
        for t in targets.values():
            if "modem" in t:
                touched[t["modem"]] = t["sim"]
        devices = {d["id"]: d for d in fleet["devices"]}
        sims = {s["id"]: s for s in fleet["sims"]}
        try:
            with httpx.Client(base_url=self.opengate_fake, timeout=10.0) as client:
                for modem, sim in touched.items():
                    device = devices[modem]
                    body = {
                        "unified_presence": device["unified_presence"],
                        "ip_presence": device["ip_presence"],
                        "admin_state": device["admin_state"],
                        "rtt_ms": device["rtt_ms"],
                    }
                    client.post(f"/_fake/devices/{modem}", json=body).raise_for_status()
                    client.post(f"/_fake/sims/{sim}", json={"state": sims[sim]["state"]}).raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("could not update the fake OpenGate at %s: %s", self.opengate_fake, exc)

    def cloudera_report(
        self,
        scenarios: list[Scenario] | tuple[Scenario, ...],
        targets: dict[str, dict],
        now: float | None = None,
    ) -> list[cloudera_sim.SimulatedRow]:
        """The report as of `now` (real clock, schedule's time zone), with the scenarios' late/failed jobs."""
        late, failed = set(), set()
        for scenario in scenarios:
            effect = scenario.effects.get("cloudera")
            if effect:
                status = effect.get("status", "late")
                (late if status == "late" else failed).add(targets[scenario.name]["job"])
        local_now = dt.datetime.fromtimestamp(self.clock() if now is None else now, self.schedule.tz)
        today = local_now.date()
        current = cloudera_sim.generate_report(self.schedule, today, late=late, failed=failed)
        yesterday = cloudera_sim.generate_report(self.schedule, today - dt.timedelta(days=1))
        previous = {r.job: r for r in yesterday}
        naive_now = local_now.replace(tzinfo=None)
        rows = []
        for row in current:
            if row.run is not None and row.run > naive_now and row.job not in failed:
                # not run yet today: the report still shows the previous cycle's run
                row = previous.get(row.job, row)
            rows.append(row)
        return sorted(rows, key=lambda r: r.status != "ok")


def modem_changes(effect: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if "present" in effect:
        changes["unified_presence"] = "IP" if effect["present"] else ABSENT_PRESENCE
        if not effect["present"]:
            changes["rtt_ms"] = None
    if "ip_presence" in effect:
        changes["ip_presence"] = str(effect["ip_presence"])
    if "admin_state" in effect:
        changes["admin_state"] = str(effect["admin_state"])
    return changes


def _chosen_meters(fleet: smmeplus_sim.Fleet, conc: str, share: float) -> pd.DataFrame:
    meters = fleet.meters[fleet.meters["concentrator"] == conc]
    return meters.iloc[: max(1, int(np.ceil(share * len(meters))))]


def _swe_rows(day: smmeplus_sim.Day, conc: str, meters: pd.DataFrame, flags: list[str], active: bool) -> None:
    """Append one SWE row per meter and flag; appended last, it is the newest state of that meter and
    flag, the one the exporter keeps."""
    rows = []
    for flag in flags:
        code = _event_code(flag)
        if code is None:  # no head-end event for this flag: only the status words carry it
            continue
        text = _event_text(code, flag)
        for meter, pod in meters[["meter", "pod"]].itertuples(index=False):
            rows.append(
                {
                    "concentrator": conc,
                    "meter": meter,
                    "pod": pod,
                    "type": code,
                    "date": day.date.isoformat(),
                    "severity": "0",
                    "isactive": "TRUE" if active else "FALSE",
                    "description": text,
                }
            )
    if rows:
        day.swe = pd.concat([day.swe, pd.DataFrame(rows, columns=day.swe.columns)], ignore_index=True)
    if flags:
        day.msw = _status_words_with(day.msw, meters, conc, flags, day.date, active)


def _meter_flags(
    day: smmeplus_sim.Day, fleet: smmeplus_sim.Fleet, scenario: Scenario, target: dict[str, Any], active: bool
) -> str | None:
    """The scenario's meter flags raised (`active`) or cleared on its concentrator; that concentrator."""
    conc = target.get("concentrator")
    effect = scenario.effects.get("meters")
    if conc is not None and effect:
        chosen = _chosen_meters(fleet, conc, float(effect.get("share", 1.0)))
        _swe_rows(day, conc, chosen, list(effect.get("flags", [])), active=active)
    return conc


def recover_smmeplus(
    day: smmeplus_sim.Day, fleet: smmeplus_sim.Fleet, scenario: Scenario, target: dict[str, Any]
) -> None:
    """The day after a scenario ends: its meters report their flags cleared, its concentrator is back."""
    conc = _meter_flags(day, fleet, scenario, target, active=False)
    effect = scenario.effects.get("concentrator")
    if conc is not None and effect and "reachable" in effect:
        day.csw.loc[day.csw["concentratorname"] == conc, "isreachable"] = "1"


def apply_smmeplus_effects(
    day: smmeplus_sim.Day, fleet: smmeplus_sim.Fleet, scenario: Scenario, target: dict[str, Any]
) -> None:
    """Edit the day's frames for the scenario's concentrator (the generator's frames are editable)."""
    conc = _meter_flags(day, fleet, scenario, target, active=True)
    if conc is None:
        return
    effect = scenario.effects.get("concentrator")
    if effect and "reachable" in effect:
        mask = day.csw["concentratorname"] == conc
        day.csw.loc[mask, "isreachable"] = "1" if effect["reachable"] else "0"
    if effect and "conditions" in effect:
        letters = effect["conditions"]
        if letters == "all":
            letters = [f.letter for f in _catalogs().csw_flags if f.polarity in ("set", "clear")]
        smmeplus_sim.set_conditions(day, conc, [str(x) for x in letters])
    effect = scenario.effects.get("workorders")
    if effect:
        text = str(effect["error"])
        chosen = _chosen_meters(fleet, conc, float(effect.get("share", 1.0)))
        extra = pd.DataFrame(
            {
                "concentrator": conc,
                "meter": chosen["meter"].to_numpy(),
                "pod": chosen["pod"].to_numpy(),
                "type": "3.21.87.85",
                "date": day.date.isoformat(),
                "correlationid": (day.date - dt.timedelta(days=1)).strftime("%d%m%Y") + "120000",
                "severity": "0",
                "description": text,
            },
            columns=day.hpe.columns,
        )
        day.hpe = pd.concat([day.hpe, extra.fillna("")], ignore_index=True)


def _catalogs():
    from smmc.catalogs import load_catalogs

    return load_catalogs()


def _event_code(flag: str) -> str:
    return _catalogs().events.code_for_flag(flag)


def _event_text(code: str, flag: str) -> str:
    return _catalogs().event_type(code).hes_label or f"({flag})"


def _status_words_with(
    msw: pd.DataFrame, meters: pd.DataFrame, conc: str, flags: list[str], date: dt.date, active: bool = True
) -> pd.DataFrame:
    """The status-word dump with the flags set (or cleared) for the meters (rows added or updated)."""
    cat = _catalogs()
    out = msw.copy()
    index = {m: i for i, m in enumerate(out["meter"].to_numpy())}
    new_rows = []
    for meter in meters["meter"]:
        if meter in index:
            continue
        new_rows.append(
            {
                "meter": meter,
                "concentrator": conc,
                "timestamp": f"{date.isoformat()} 12:00:00",
                "normal1": "0000",
                "normal2": "0000",
                "extended1": "0000",
                "extended2": "0000",
            }
        )
    if new_rows:
        out = pd.concat([out, pd.DataFrame(new_rows, columns=out.columns)], ignore_index=True)
    mask = out["meter"].isin(set(meters["meter"]))
    for flag in flags:
        f = cat.meter_flag(flag)
        out.loc[mask, f.word] = [
            f"{(int(text, 16) | f.mask) if active else (int(text, 16) & ~f.mask):04X}"
            for text in out.loc[mask, f.word]
        ]
    return out


def write_garbage(inbox: Path, kind: str, date: dt.date) -> Path:
    """An unusable file of the kind's name: a wrong header, bytes that are not UTF-8, a truncated row."""
    prefix = {"swe": "SWE", "hpe": "HPE", "lpe": "LPE", "csw": "ConcentratorStatusWordAnalyzedReport"}[kind]
    path = inbox / f"{prefix}_{date.isoformat()}_resend.csv"
    tmp = inbox / f".{path.name}.part"
    inbox.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(b"\xff\xfe\x00garbage;\x9c\x80\nnot a header at all\n\x00\x01\x02 TD-1;UAA")
    os.replace(tmp, path)
    return path


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------------
# command line


def _scenario_names(args: argparse.Namespace, out: Path) -> list[str]:
    names = list(args.scenario or [])  # --scenario, or $SMMC_SIM_SCENARIOS (comma separated)
    control = out / CONTROL_FILE
    if control.exists():
        names += [
            line.split("#", 1)[0].strip()
            for line in control.read_text(encoding="utf-8").splitlines()
            if line.split("#", 1)[0].strip()
        ]
    return list(dict.fromkeys(names))


def simulator_off() -> bool:
    """SMMC_SIMULATOR=off: the stack reads real sources and the simulator writes nothing."""
    return os.environ.get("SMMC_SIMULATOR", "on").strip().lower() in ("off", "0", "false", "no")


def build_parser() -> OptionParser:
    # the variables are the compose stack's (.env.example): SMMC_SIM_METERS, SMMC_SIM_DAY_SECONDS, ...
    p = OptionParser(
        prog="smmc simulate utility",
        env_prefix="SMMC_SIM_",
        description="Write the next day of the whole simulated utility (SMMePlus files and inventory, the "
        "OpenGate fleet, the Cloudera report), with scenarios; with --loop-seconds, a new day every N s.",
    )
    p.add_argument("--out", help="output directory (see the module documentation); required")
    p.add_argument("--meters", type=positive_int, help="meters in the utility (a few to 500000); required")
    p.add_argument("--seed", type=int, default=1, help="the utility is deterministic for a seed")
    p.add_argument(
        "--scenario",
        action="append",
        metavar="NAME",
        env="SMMC_SIM_SCENARIOS",
        help="switch a scenario on (repeatable; a name from simulator/scenarios/ or a YAML path); "
        "the variable is comma separated; also the file DIR/scenarios, re-read every day "
        "(`smmc stack scenario NAME on` writes it)",
    )
    p.add_argument(
        "--loop-seconds",
        type=float,
        env="SMMC_SIM_DAY_SECONDS",
        help="emit a new day every N seconds until stopped",
    )
    p.add_argument(
        "--start-date",
        type=dt.date.fromisoformat,
        help="date of day 0 (default: $SMMC_SIM_START_DATE, else the saved utility's, else today, UTC)",
    )
    p.add_argument(
        "--meters-per-concentrator",
        type=float,
        default=METERS_PER_CONCENTRATOR,
        help=f"average concentrator size (default {METERS_PER_CONCENTRATOR:g})",
    )
    p.add_argument(
        "--swe-rows-per-meter",
        type=float,
        default=SWE_ROWS_PER_METER,
        help=f"SWE event rows per meter and day (default {SWE_ROWS_PER_METER}, the seed's rate)",
    )
    p.add_argument(
        "--opengate-fake",
        metavar="URL",
        type=url_with_scheme,
        help="push scenario router/SIM states to this fake",
    )
    p.add_argument(
        "--list-scenarios",
        action="store_true",
        help="list the named scenarios and exit (nothing else needed)",
    )
    return p


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_scenarios:
        for name, scenario in load_all().items():
            print(f"{name:<38} {scenario.description}")
        return 0
    if args.out is None or args.meters is None:
        missing = [flag for flag, value in (("--out", args.out), ("--meters", args.meters)) if value is None]
        parser.error(f"missing {' and '.join(missing)}")
    try:
        writable_dir(args.out)
    except argparse.ArgumentTypeError as exc:
        return fail("smmc simulate utility", f"--out {exc}")
    stop = threading.Event()
    if args.loop_seconds:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    if simulator_off():
        print(
            "smmc simulate utility: SMMC_SIMULATOR=off, the stack reads real sources; nothing to do",
            flush=True,
        )
        if args.loop_seconds:
            # a service (docker compose) idles until stopped: exiting would fail the services that wait
            # for it to be healthy, and restart it in a loop
            stop.wait()
        return 0
    out = Path(args.out)
    try:
        start_date = args.start_date
        if start_date is None and os.environ.get("SMMC_SIM_START_DATE", "").strip():
            start_date = dt.date.fromisoformat(os.environ["SMMC_SIM_START_DATE"].strip())
        utility = Utility(
            out,
            args.meters,
            args.seed,
            start_date=start_date,
            meters_per_concentrator=args.meters_per_concentrator,
            swe_rows_per_meter=args.swe_rows_per_meter,
            opengate_fake=args.opengate_fake,
            today=lambda: dt.datetime.now(dt.UTC).date(),  # the command's clock; tests pass --start-date
        )
    except (ValueError, OSError) as exc:
        print(f"smmc simulate utility: {exc}", file=sys.stderr)
        return 2
    while True:
        try:
            scenarios = [load_scenario(n) for n in _scenario_names(args, out)]
            record = utility.emit_day(scenarios)
        except (ScenarioError, UtilityError) as exc:
            print(f"smmc simulate utility: {exc}", file=sys.stderr)
            if not args.loop_seconds:
                return 2
        else:
            summary = ", ".join(f"{n} -> {t}" for n, t in record.targets.items()) or "no scenario"
            print(f"day {record.index} ({record.date}) written to {out}: {summary}", flush=True)
        if not args.loop_seconds or stop.wait(args.loop_seconds):
            return 0
