"""`smmc simulate opengate`: an OpenGate fleet (routers, SIM cards, device alarms) as JSON.

The fleet is the simulator's domain model; `fake_opengate` turns it into North API documents.
Deterministic for a given seed and reference time. Defaults follow the seed document: 3046 routers
each with an ACTIVE SIM, 752 spare SIMs in READY, 443 device alarms (345 maxTrafficBytesReached
URGENT, 98 presenceUnreachableThresHold INFORMATIVE; 431 OPEN, 12 CLOSED). The named fixture
`seed-nine` is the seed's nine modems with their RTTs and OK/NOK IP presence; `seed` embeds them in
the full default fleet together with the nine alarms the seed lists.

Fleet JSON (format `smmc-opengate-fleet/1`):
  {"format", "organization", "channel", "reference_time",
   "devices": [{"id", "admin_state", "latitude", "longitude", "unified_presence", "presence_source",
                "presence_date", "ip_presence" (OK|NOK|null), "rtt_ms" (int|null), "sent_bytes",
                "received_bytes", "traffic_date", "month_sent_bytes", "month_received_bytes",
                "sessions_started", "signal_dbm", "imei", "ip", "sim"}],
   "sims": [{"id", "iccid", "imsi", "msisdn", "state", "device" (id|null)}],
   "alarms": [{"identifier", "name", "rule", "severity", "priority", "status", "entity", "sub_entity",
               "description", "opening_date", "closure_date" (null when not closed)}],
   "sim_alarms": [the same fields; `entity` is the SIM (subscription) id]}

The month's traffic (`month_*_bytes`: the day's traffic times the days of the month so far, give or take
15 %) and the day's started data sessions (mostly one a router, as the seed's 3711 sessions for 3046
routers suggest) are derived from each router's id, not drawn from the generator's random stream, so
they leave every other generated value as it was. SIM alarms (the seed's "Listado de alarmas simcard",
rule `imeiChangeDetected`: the SIM seen in another device) exist in generated fleets only, one per 400
routers and at least one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from simulator.cli import part_parser
from smmc.options import fail, writable_file

FORMAT = "smmc-opengate-fleet/1"
DEFAULT_ORGANIZATION = "enel_chile"
DEFAULT_CHANNEL = "default_channel"
REFERENCE_TIME = "2021-10-06T23:35:00.000Z"  # the seed's OpenGate screens were taken that evening

SEED_MODEMS = 3046
SEED_SPARE_SIMS = 752
SEED_ALARMS = 443
TRAFFIC_RULE, PRESENCE_RULE = "maxTrafficBytesReached", "presenceUnreachableThresHold"
SEED_ALARM_MIX = {TRAFFIC_RULE: 345, PRESENCE_RULE: 98}
SEED_CLOSED = 12
RULES = {
    TRAFFIC_RULE: ("URGENT", "HIGH", "maxTraffic", "Daily traffic above the contracted maximum"),
    PRESENCE_RULE: ("INFORMATIVE", "LOW", "presenceUnreachable", "No presence within the threshold"),
}
SIM_ALARM_RULE = "imeiChangeDetected"
SIM_RULES = {
    SIM_ALARM_RULE: ("URGENT", "HIGH", "imeiChange", "The SIM was seen in a device with another IMEI")
}
SENT_SHARE = 1.10 / 2.55  # the seed's Summarized Accounting: sent 1.10 Gb of 2.55 Gb per day

# The seed's "Modem monitoring" and "SIM Traffic Accounting" tables. Presence dates as shown (read as
# UTC); total bytes per day where legible (Mb/Kb read as 10^6/10^3); signal and location invented.
SEED_NINE = [
    # modem, msisdn, presence date, IP presence, RTT ms, total bytes/day, IP, signal dBm, lat, lon
    (
        "16CEC50610040344",
        "56989093859",
        "2021-10-06T21:31:17.000Z",
        "NOK",
        None,
        None,
        "10.117.10.91",
        -97,
        -33.4372,
        -70.6506,
    ),
    (
        "18CEC50610058302",
        "56958175597",
        "2021-10-06T21:31:06.000Z",
        "OK",
        473,
        29_410_000,
        None,
        -71,
        -33.4569,
        -70.6483,
    ),
    (
        "18CEC50610058567",
        "56932676646",
        "2021-10-06T21:31:17.000Z",
        "NOK",
        314,
        12_210_000,
        "10.116.114.125",
        -93,
        -33.5027,
        -70.7573,
    ),
    (
        "18CEC50610061022",
        "56933877908",
        "2021-10-06T21:31:17.000Z",
        "NOK",
        486,
        135_040,
        "10.116.115.45",
        -95,
        -33.3650,
        -70.7400,
    ),
    (
        "17CEC50610052672",
        "56953556895",
        "2021-10-06T21:30:27.000Z",
        "OK",
        2074,
        2_940_000,
        "10.117.12.198",
        -83,
        -33.5922,
        -70.6995,
    ),
    (
        "17CEC50610051720",
        "56958111706",
        "2021-10-06T21:31:22.000Z",
        "OK",
        1803,
        7_150_000,
        "10.117.13.188",
        -79,
        -33.4113,
        -70.6010,
    ),
    (
        "17CEC50610051970",
        "56958111715",
        "2021-10-06T21:31:08.000Z",
        "OK",
        407,
        1_740_000,
        "10.117.13.196",
        -69,
        -33.5170,
        -70.5980,
    ),
    (
        "17CEC50610051847",
        "56958130954",
        "2021-10-06T21:31:08.000Z",
        "OK",
        392,
        5_790_000,
        "10.117.15.7",
        -73,
        -33.4250,
        -70.5670,
    ),
    (
        "17CEC50610051980",
        "56958111686",
        "2021-10-06T21:30:24.000Z",
        "OK",
        2007,
        3_290_000,
        None,
        -77,
        -33.3600,
        -70.5050,
    ),
]
# The seed's "Device Alarm List" (all OPEN).
SEED_ALARM_LIST = [
    (TRAFFIC_RULE, "1107003370", "2021-10-06T23:34:54.000Z"),
    (TRAFFIC_RULE, "1107002052", "2021-10-06T23:34:34.000Z"),
    (TRAFFIC_RULE, "1107153051", "2021-10-06T23:34:22.000Z"),
    (TRAFFIC_RULE, "1105040345", "2021-10-06T23:32:52.000Z"),
    (TRAFFIC_RULE, "16CEC50610036755", "2021-10-06T23:09:05.000Z"),
    (PRESENCE_RULE, "18CEC50610058301", "2021-10-06T23:02:02.000Z"),
    (TRAFFIC_RULE, "1107154930", "2021-10-06T23:01:24.000Z"),
    (PRESENCE_RULE, "18CEC50610057885", "2021-10-06T22:55:47.000Z"),
    (PRESENCE_RULE, "18CEC50610060834", "2021-10-06T22:55:47.000Z"),
]
FIXTURES = ("seed", "seed-nine")
_SANTIAGO = (-33.45, -70.66)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def allocate(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Split `total` in proportion to `weights` (largest remainder), so the parts sum to `total`."""
    whole = sum(weights.values())
    if whole <= 0 or total <= 0:
        return {k: 0 for k in weights}
    exact = {k: total * w / whole for k, w in weights.items()}
    counts = {k: math.floor(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)[: total - sum(counts.values())]:
        counts[k] += 1
    return counts


class _Ids:
    """Deterministic, unique identifiers in the seed's shapes."""

    def __init__(self, rng: random.Random, taken: set[str]) -> None:
        self.rng = rng
        self.taken = taken

    def unique(self, make: Any) -> str:
        while True:
            value = make()
            if value not in self.taken:
                self.taken.add(value)
                return value

    def modem(self) -> str:
        return self.unique(
            lambda: f"{self.rng.choice((16, 17, 18, 19))}CEC5061{self.rng.randrange(10**7):07d}"
        )

    def msisdn(self) -> str:
        return self.unique(lambda: f"569{self.rng.randrange(10**8):08d}")


def _unit(*parts: object) -> float:
    """A number in [0, 1) derived from the parts (not from the generator's random stream)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:6], "big") / 2**48


def _accounting(ident: str, sent: int | None, received: int | None, ref: datetime, present: bool) -> dict:
    """The month's traffic so far and the day's started sessions of one router."""
    if sent is None or received is None:
        return {"month_sent_bytes": None, "month_received_bytes": None, "sessions_started": None}
    factor = ref.day * (0.85 + 0.3 * _unit(ident, "month"))
    u = _unit(ident, "sessions")
    return {
        "month_sent_bytes": round(sent * factor),
        "month_received_bytes": round(received * factor),
        "sessions_started": 0 if not present else 1 if u < 0.8 else 2 if u < 0.98 else 3,
    }


def _sim_alarms(sims: list[dict[str, Any]], ref: datetime, count: int) -> list[dict[str, Any]]:
    fitted = sorted((s for s in sims if s.get("device")), key=lambda s: _unit(s["id"], "sim-alarm"))
    severity, priority, name, description = SIM_RULES[SIM_ALARM_RULE]
    out = []
    for sim in fitted[:count]:
        opened = ref - timedelta(hours=1 + 71 * _unit(sim["id"], "opened"))
        out.append(
            {
                "identifier": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sim-alarm:{sim['id']}")),
                "name": name,
                "rule": SIM_ALARM_RULE,
                "severity": severity,
                "priority": priority,
                "status": "OPEN",
                "entity": sim["id"],
                "sub_entity": sim.get("device"),
                "resource_type": "entity.subscription",
                "description": description,
                "opening_date": iso(opened),
                "closure_date": None,
            }
        )
    return sorted(out, key=lambda a: a["opening_date"], reverse=True)


def _sim(msisdn: str, state: str, device: str | None) -> dict[str, Any]:
    return {
        "id": msisdn,
        "iccid": f"895602{int(msisdn) % 10**13:013d}",
        "imsi": f"73002{int(msisdn) % 10**10:010d}",
        "msisdn": msisdn,
        "state": state,
        "device": device,
    }


def _generated_device(
    rng: random.Random, ident: str, msisdn: str, ref: datetime, lat: float, lon: float, reachable: str
) -> dict[str, Any]:
    """`reachable`: "ip" (present, ping OK), "nok" (registered, ping NOK) or "none" (not registered)."""
    if reachable == "none":
        presence, ip_presence, rtt = "NOT_REGISTERED", "NOK", None
        presence_date = ref - timedelta(hours=rng.uniform(2, 72))
    else:
        presence = "IP" if reachable == "ip" else "GPRS"
        ip_presence = "OK" if reachable == "ip" else "NOK"
        rtt = int(min(5000, max(40, rng.lognormvariate(math.log(550), 0.6))))
        presence_date = ref - timedelta(seconds=rng.uniform(5, 300))
    total = int(rng.lognormvariate(math.log(5e6), 1.0))
    sent = round(total * SENT_SHARE)
    accounting = _accounting(ident, sent, total - sent, ref, reachable != "none")
    return {
        "id": ident,
        "admin_state": "ACTIVE",
        "latitude": round(lat, 5),
        "longitude": round(lon, 5),
        "unified_presence": presence,
        "presence_source": "DEVICE_PING",
        "presence_date": iso(presence_date),
        "ip_presence": ip_presence,
        "rtt_ms": rtt,
        "sent_bytes": sent,
        "received_bytes": total - sent,
        "traffic_date": iso(ref - timedelta(seconds=rng.uniform(0, 900))),
        **accounting,
        "signal_dbm": rng.randint(-105, -55),
        "imei": f"35187300{rng.randrange(10**7):07d}",
        "ip": f"10.{rng.randint(116, 119)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        "sim": msisdn,
    }


def _seed_device(row: tuple[Any, ...]) -> dict[str, Any]:
    modem, msisdn, date, ip_presence, rtt, total, ip, signal, lat, lon = row
    sent = None if total is None else round(total * SENT_SHARE)
    return {
        "id": modem,
        "admin_state": "ACTIVE",
        "latitude": lat,
        "longitude": lon,
        # the seed's unified-presence column is garbled; an IP-reachable modem is IP, the others
        # are registered for packet data (GPRS) but do not answer the ping
        "unified_presence": "IP" if ip_presence == "OK" else "GPRS",
        "presence_source": "DEVICE_PING",
        "presence_date": date,
        "ip_presence": ip_presence,
        "rtt_ms": rtt,
        "sent_bytes": sent,
        "received_bytes": None if total is None else total - sent,
        "traffic_date": None if total is None else date,
        **_accounting(
            modem,
            sent,
            None if total is None else total - sent,
            parse_iso(REFERENCE_TIME),
            ip_presence == "OK",
        ),
        "signal_dbm": signal,
        "imei": f"35187300{int(msisdn) % 10**7:07d}",
        "ip": ip,
        "sim": msisdn,
    }


def _alarm(
    rng: random.Random, rule: str, entity: str, sim: str | None, opened: datetime, closed: datetime | None
) -> dict[str, Any]:
    severity, priority, name, description = RULES[rule]
    return {
        "identifier": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "name": name,
        "rule": rule,
        "severity": severity,
        "priority": priority,
        "status": "CLOSED" if closed else "OPEN",
        "entity": entity,
        "sub_entity": sim,
        "description": description,
        "opening_date": iso(opened),
        "closure_date": iso(closed) if closed else None,
    }


def generate(
    modems: int = SEED_MODEMS,
    *,
    seed: int = 1,
    spare_sims: int | None = None,
    alarms: int | None = None,
    reference_time: str = REFERENCE_TIME,
    organization: str = DEFAULT_ORGANIZATION,
    placements: list[tuple[str, float, float]] | None = None,
    fixture: str | None = None,
    nok_share: float = 0.05,
) -> dict[str, Any]:
    """A fleet of `modems` routers (or one per `placements` entry: modem id, latitude, longitude)."""
    if fixture is not None and fixture not in FIXTURES:
        raise ValueError(f"unknown fixture {fixture!r}; known: {', '.join(FIXTURES)}")
    rng = random.Random(seed)
    ref = parse_iso(reference_time)
    fixed = [_seed_device(row) for row in SEED_NINE] if fixture else []
    listed = SEED_ALARM_LIST if fixture else []
    if fixture == "seed-nine":
        modems, spare_sims, alarms = len(fixed), 0, len(listed)
    if placements is not None:
        modems = len(placements)
    if modems < len(fixed):
        raise ValueError(f"the fixture needs at least {len(fixed)} modems")
    spare_sims = round(modems * SEED_SPARE_SIMS / SEED_MODEMS) if spare_sims is None else spare_sims
    alarms = round(modems * SEED_ALARMS / SEED_MODEMS) if alarms is None else alarms

    taken = {d["id"] for d in fixed} | {d["sim"] for d in fixed} | {e for _, e, _ in listed}
    ids = _Ids(rng, taken)
    devices = list(fixed)
    sims = [_sim(d["sim"], "ACTIVE", d["id"]) for d in fixed]
    mix = allocate(max(0, alarms - len(listed)) + len(listed), SEED_ALARM_MIX)
    for rule, _, _ in listed:
        mix[rule] -= 1
    if min(mix.values()) < 0:  # fewer alarms asked than the fixture lists per rule
        mix = allocate(max(0, alarms - len(listed)), {k: max(0, v) for k, v in mix.items()})
    # routers the listed alarms name (in the `seed` fixture) and the rest of the fleet
    unreachable_target = max(mix[PRESENCE_RULE], 0) + (
        sum(1 for r, _, _ in listed if r == PRESENCE_RULE) if fixture == "seed" else 0
    )
    if fixture == "seed":
        wanted = [(e, None, None, "none" if r == PRESENCE_RULE else "ip") for r, e, _ in listed]
    else:
        wanted = []
    while len(devices) + len(wanted) < modems:
        index = len(devices) + len(wanted)
        if placements is not None:
            ident, lat, lon = placements[index]
            ids.taken.add(ident)
        else:
            ident, lat, lon = ids.modem(), None, None
        wanted.append((ident, lat, lon, None))
    n_unreachable = 0
    for ident, lat, lon, forced in wanted:
        if forced is None:
            if n_unreachable < unreachable_target - sum(1 for w in wanted if w[3] == "none"):
                forced = "none"
                n_unreachable += 1
            else:
                forced = "nok" if rng.random() < nok_share else "ip"
        if lat is None:
            lat = _SANTIAGO[0] + rng.uniform(-0.35, 0.35)
            lon = _SANTIAGO[1] + rng.uniform(-0.3, 0.3)
        msisdn = ids.msisdn()
        devices.append(_generated_device(rng, ident, msisdn, ref, lat, lon, forced))
        sims.append(_sim(msisdn, "ACTIVE", ident))
    sims.extend(_sim(ids.msisdn(), "READY", None) for _ in range(spare_sims))

    by_id = {d["id"]: d for d in devices}
    alarm_list = []
    for rule, entity, opened in listed:
        sim = by_id[entity]["sim"] if entity in by_id else None
        alarm_list.append(_alarm(rng, rule, entity, sim, parse_iso(opened), None))
    generated_total = max(0, mix[TRAFFIC_RULE]) + max(0, mix[PRESENCE_RULE])
    closed_left = allocate(round(generated_total * SEED_CLOSED / SEED_ALARMS), dict(mix))
    unreachable = [d for d in devices if d["unified_presence"] == "NOT_REGISTERED"]
    unreachable = [d for d in unreachable if d["id"] not in {e for _, e, _ in listed}]
    busiest = sorted(devices, key=lambda d: -(d["sent_bytes"] or 0) - (d["received_bytes"] or 0))
    for rule in (TRAFFIC_RULE, PRESENCE_RULE):
        pool = unreachable if rule == PRESENCE_RULE else busiest
        for i in range(max(0, mix[rule])):
            device = pool[i % len(pool)] if pool else devices[rng.randrange(len(devices))]
            opened = ref - timedelta(hours=rng.uniform(0.1, 96))
            closed = None
            if closed_left[rule] > 0:
                closed_left[rule] -= 1
                closed = min(ref - timedelta(minutes=1), opened + timedelta(hours=rng.uniform(0.5, 24)))
            alarm_list.append(_alarm(rng, rule, device["id"], device["sim"], opened, closed))
    alarm_list.sort(key=lambda a: a["opening_date"], reverse=True)
    return {
        "format": FORMAT,
        "organization": organization,
        "channel": DEFAULT_CHANNEL,
        "reference_time": reference_time,
        "fixture": fixture,
        "devices": devices,
        "sims": sims,
        "alarms": alarm_list,
        "sim_alarms": [] if fixture else _sim_alarms(sims, ref, max(1, round(modems / 400)) if modems else 0),
    }


def placements_from_inventory(path: str | Path) -> list[tuple[str, float, float]]:
    """(modem, latitude, longitude) per concentrator of the SMMePlus simulator's concentrators.csv."""
    from exporters.core.tabular import read_table

    table = read_table(path, required={"concentrator", "modem", "latitude", "longitude"})
    out: list[tuple[str, float, float]] = []
    seen: set[str] = set()
    for modem, lat, lon in zip(
        table.frame["modem"], table.frame["latitude"], table.frame["longitude"], strict=True
    ):
        modem = (modem or "").strip()
        if not modem or modem in seen:
            continue
        try:
            out.append((modem, float(lat), float(lon)))
        except (TypeError, ValueError):
            continue
        seen.add(modem)
    if not out:
        raise ValueError(f"{path}: no concentrator with a modem id and coordinates")
    return out


def load_fleet(path: str | Path) -> dict[str, Any]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not an OpenGate fleet file (format {FORMAT})")
    return data


def rebase(fleet: dict[str, Any], new_reference: datetime) -> dict[str, Any]:
    """A copy of the fleet with every date shifted so `reference_time` becomes `new_reference`."""
    shift = new_reference - parse_iso(fleet["reference_time"])
    out = json.loads(json.dumps(fleet))

    def moved(text: str | None) -> str | None:
        return None if text is None else iso(parse_iso(text) + shift)

    for device in out["devices"]:
        device["presence_date"] = moved(device.get("presence_date"))
        device["traffic_date"] = moved(device.get("traffic_date"))
    for alarm in [*out["alarms"], *out.get("sim_alarms", [])]:
        alarm["opening_date"] = moved(alarm.get("opening_date"))
        alarm["closure_date"] = moved(alarm.get("closure_date"))
    out["reference_time"] = iso(new_reference)
    return out


def main(argv: list[str]) -> int:
    p = part_parser("opengate", "Write an OpenGate fleet as JSON.")
    p.add_argument("--out", default="-", help="output file (default stdout)")
    p.add_argument("--modems", type=int, default=SEED_MODEMS, help=f"routers (default {SEED_MODEMS})")
    p.add_argument("--spare-sims", type=int, help="READY SIMs not in a router (default: the seed's ratio)")
    p.add_argument("--alarms", type=int, help="device alarms (default: the seed's ratio)")
    p.add_argument("--seed", type=int, default=1, help="fleet seed")
    p.add_argument("--reference-time", default=REFERENCE_TIME, help="ISO time the fleet is 'now' at")
    p.add_argument("--organization", default=DEFAULT_ORGANIZATION, help="OpenGate organization")
    p.add_argument("--inventory", help="concentrators.csv: one router per concentrator, same modem id")
    p.add_argument("--fixture", choices=FIXTURES, help="the seed's named fleet")
    args = p.parse_args(argv)
    if args.out != "-":
        try:
            writable_file(args.out)
        except argparse.ArgumentTypeError as exc:
            return fail("smmc simulate opengate", f"--out {exc}")
    try:
        placements = placements_from_inventory(args.inventory) if args.inventory else None
        fleet = generate(
            args.modems,
            seed=args.seed,
            spare_sims=args.spare_sims,
            alarms=args.alarms,
            reference_time=args.reference_time,
            organization=args.organization,
            placements=placements,
            fixture=args.fixture,
        )
    except (ValueError, OSError) as exc:
        print(f"smmc simulate opengate: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(fleet, indent=None, separators=(",", ":"))
    if args.out == "-":
        sys.stdout.write(text + "\n")
    else:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
        print(
            f"wrote {args.out}: {len(fleet['devices'])} modems, {len(fleet['sims'])} SIMs, "
            f"{len(fleet['alarms'])} alarms",
            file=sys.stderr,
        )
    return 0
