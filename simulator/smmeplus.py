"""`smmc simulate smmeplus`: an inventory and one day of every SMMePlus file kind, in the seed's formats.

Deterministic for a seed (the fleet) and a date (the day's events; always the caller's, the simulator
never reads the clock). Volumes and mixes come from the seed document: its Control Room table (meters and
events per comuna, "Medicion en TD" shares), its sample rows (the SWE flag mix, the HPE/LPE result mixes,
the CSW values) and the catalogs (flag bits, CSW layout, work-order error texts); the alerting states
(flags still active, failed work orders, CSW conditions) are rare, at the daily rates of an ordinary day
that docs/simulator.md lists with their sources. Everything is generated with numpy in vectorised
passes, so an Enel-sized day (500,000 meters, 1,000,000 SWE rows) takes seconds.

Importable API, for the utility simulator and its scenarios:

    fleet = build_fleet(meters=5000, seed=1)
    day = simulate_day(fleet, seed=1, date=datetime.date(2021, 10, 7))   # dict of DataFrames, editable
    day.csw.loc[day.csw["concentratorname"] == "TD-47", "isreachable"] = "0"
    write_inventory(fleet, out_dir / "inventory"); write_day(day, out_dir)
    # or all at once:
    generate_day(out_dir, meters=5000, seed=1, date=datetime.date(2021, 10, 7))
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from simulator.cli import part_parser
from smmc.catalogs import Catalogs, load_catalogs
from smmc.options import fail, positive_int, writable_dir


@dataclass(frozen=True)
class Comuna:
    name: str
    weight: float  # relative number of meters
    td_share: float  # share of meters with "Medicion en TD" = True
    latitude: float  # centroid of the comuna's urban area
    longitude: float
    events_per_meter: float = 2.5  # SWE rows per meter with events


# The seed's Control Room table ("Cantidad de Medidores y Eventos distribuidos por Comuna"): meters with
# events (False + True columns) as weights, True/(False+True) as the TD share, events/meters per comuna.
SEED_COMUNAS = (
    Comuna("SANTIAGO", 26638 + 5, 5 / 26643, -33.4378, -70.6505, (73064 + 15) / 26643),
    Comuna("ESTACION CENTRAL", 13241 + 3, 3 / 13244, -33.4636, -70.7003, (32114 + 12) / 13244),
    Comuna("LAS CONDES", 12224 + 5, 5 / 12229, -33.4087, -70.5670, (30260 + 14) / 12229),
    Comuna("CONCHALI", 12120 + 15, 15 / 12135, -33.3840, -70.6750, (29337 + 42) / 12135),
    Comuna("NUNOA", 11927 + 9, 9 / 11936, -33.4569, -70.5979, (29172 + 22) / 11936),
    Comuna("RECOLETA", 9896 + 5, 5 / 9901, -33.4073, -70.6397, (25452 + 16) / 9901),
    Comuna("SAN MIGUEL", 9183 + 19, 19 / 9202, -33.4970, -70.6510, (21452 + 36) / 9202),
)
_TD = 61 / 95290  # the seed's overall TD share, for comunas outside its table
# Other comunas of Enel Distribución Chile's Santiago concession, with smaller weights.
OTHER_COMUNAS = tuple(
    Comuna(name, 6000.0, _TD, lat, lon)
    for name, lat, lon in (
        ("PROVIDENCIA", -33.4314, -70.6093),
        ("INDEPENDENCIA", -33.4159, -70.6662),
        ("QUINTA NORMAL", -33.4277, -70.6972),
        ("LO PRADO", -33.4445, -70.7253),
        ("PUDAHUEL", -33.4425, -70.7665),
        ("CERRO NAVIA", -33.4253, -70.7442),
        ("RENCA", -33.4060, -70.7280),
        ("QUILICURA", -33.3600, -70.7300),
        ("HUECHURABA", -33.3700, -70.6350),
        ("VITACURA", -33.3800, -70.5700),
        ("LO BARNECHEA", -33.3500, -70.5167),
        ("LA REINA", -33.4500, -70.5500),
        ("MACUL", -33.4870, -70.5990),
        ("PENALOLEN", -33.4850, -70.5400),
        ("SAN JOAQUIN", -33.4960, -70.6290),
        ("LA GRANJA", -33.5370, -70.6250),
        ("LA CISTERNA", -33.5290, -70.6640),
        ("EL BOSQUE", -33.5620, -70.6750),
        ("PEDRO AGUIRRE CERDA", -33.4920, -70.6780),
        ("LO ESPEJO", -33.5200, -70.6900),
        ("SAN RAMON", -33.5370, -70.6430),
        ("LA PINTANA", -33.5830, -70.6330),
        ("CERRILLOS", -33.4950, -70.7160),
        ("MAIPU", -33.5100, -70.7570),
        ("LA FLORIDA", -33.5220, -70.5990),
    )
)
COMUNAS = SEED_COMUNAS + OTHER_COMUNAS

# Daily rates. docs/simulator.md gives each one's source: a figure of the seed, or, where the seed has
# none, what a distribution utility of the size simulated would see. Event *volumes* (how many rows a
# file has) follow the seed; the *states* that alert (a flag still active, a work order that failed, a
# concentrator in a condition) are rare, as on a real ordinary day.

# The SWE sample of the seed: 6 PUP, 2 CAPE, 2 AFC rows out of 10 (the mix of the day's event rows).
SWE_FLAG_MIX = {"PUP": 0.6, "CAPE": 0.2, "AFC": 0.2}
# Share of meters whose flag is still active at the end of an ordinary day (the newest row of the meter
# and flag says isactive=TRUE); the other rows are events that came and went.
SWE_ACTIVE_METER_RATES = {"PUP": 2e-4, "CAPE": 1e-4, "AFC": 5e-4}
# Supply interruptions that take a whole concentrator (its LV transformer) down: about 2 a customer a
# year (SEC's SAIDI for the Metropolitana region, 7.69 h in Jan-Nov 2019, over a restoration of about 4 h),
# a day's share.
OUTAGE_RATE = 2.0 / 365
# High-priority work orders (HPE) per meter and day (on-demand reads, reconnections) and the share that
# fails; the seed's HPE sample (17 rows, 13 of them errors) gives the mix of error texts, not the rate.
HPE_ROWS_PER_METER = 0.01
HPE_ERROR_SHARE = 0.03
# The HPE sample of the seed (17 rows): (activity, TB ACK, result text) and how often it appears.
HPE_SAMPLE_MIX = (
    ("", "", "OK", 4),
    ("READ_METER_MACADDRESS", "40", "REPEATER 1 FAILURE", 7),
    ("READ_METER_MACADDRESS", "41", "REPEATER 2 FAILURE", 1),
    ("READ_METER_MACADDRESS", "42", "REPEATER 3 FAILURE", 1),
    ("READ_METER_DATA_V2_11", "40", "REPEATER 1 FAILURE", 1),
    ("READ_BILLING_PREVIOUSPERIOD", "23", "NODE NOT REACHABLE AGENT", 1),
    ("READ_ACTIVEEXPORT_CURRENTPERIOD", "21", "NODE NOT REACHABLE AGENT", 1),
    ("READ_METER_DATA_V2_11", "50", "Phase Missing", 1),
)
HPE_OTHER_ERROR_SHARE = 0.1  # of the errors: the rest of the catalog's meter errors, spread evenly
# LPE rows per meter and day; the seed's LPE sample: 2 commissioned, 8 decommissioned; plus the
# catalog's commissioning errors.
LPE_ROWS_PER_METER = 0.001
LPE_MIX = {"Meter commissioned": 0.2, "Meter decommissioned": 0.78}
LPE_ERROR_SHARE = 0.02
# The CSW sample of the seed: 10 of 14 concentrators report 08001E, 4 report 00001E (none in alarm).
CSW_HEALTHY = (0x08001E, 0x00001E)
CSW_HEALTHY_P = (10 / 14, 4 / 14)
# Daily fault rates per concentrator: about one concentrator in 70 a day shows a condition (the seed's
# 14 show none); alta-priority faults rarest.
CSW_FAULT_RATES = {
    "A": 0.004,
    "T": 0.002,
    "U": 0.001,
    "I": 0.0005,
    "J": 0.0005,
    "K": 0.0005,
    "L": 0.0005,
    "Z": 0.0005,
}
CSW_CLEARED_RATES = {"E": 0.002, "O": 0.001, "B": 0.0005}
UNREACHABLE_SHARE = 0.003
TECHNICAL_ROWS_PER_METER = 0.005
TECHNICAL_ACTIVITIES = {
    "Reading": 0.6,
    "Decommissioning": 0.15,
    "Commissioning": 0.15,
    "Disconnection": 0.05,
    "Reconnection": 0.05,
}
TECHNICAL_ERROR_SHARE = 0.02
MSW_SAMPLE_SHARE = 0.05  # meters read for status words besides those with events
# Share of read meters with a persistent per-meter fault (hardware, battery, tamper bits of the status
# words), spread over the catalog's per-meter flags: about 0.5 % of meters fail a year and wait a week
# or two for a crew, so about 1 in 5,000 shows a fault on a given day.
MSW_FAULT_PREVALENCE = 2e-4
SANTIAGO = ZoneInfo("America/Santiago")

TECHNICAL_HEADER = (
    "idwork",
    "concentrator",
    "pod",
    "meter",
    "activity type",
    "startdate utc",
    "enddate utc",
    "startdate local",
    "enddate local",
    "external sys",
    "outer id",
    "payload",
    "is error",
    "error description",
)


@dataclass
class Fleet:
    concentrators: pd.DataFrame  # concentrator, comuna, latitude, longitude, modem
    meters: pd.DataFrame  # meter, concentrator, pod, comuna, medicion_en_td


@dataclass
class Day:
    date: dt.date
    swe: pd.DataFrame
    hpe: pd.DataFrame
    lpe: pd.DataFrame
    csw: pd.DataFrame
    technical: pd.DataFrame
    msw: pd.DataFrame
    names: dict[str, str] = field(default_factory=dict)

    def file_names(self) -> dict[str, str]:
        d = self.date.isoformat()
        return {
            "swe": f"SWE_{d}.csv",
            "hpe": f"HPE_{d}.csv",
            "lpe": f"LPE_{d}.csv",
            "csw": f"ConcentratorStatusWordAnalyzedReport_{d}.csv",
            "technical": f"TechnicalWorkorderCompleted_{d}.csv",
            "msw": f"MeterStatusWords_{d}.csv",
        } | self.names


def _unique_numbers(n: int, modulus: int, rng: np.random.Generator) -> np.ndarray:
    """n distinct numbers below `modulus`, scattered: an affine permutation (no big allocation)."""
    if n > modulus:
        raise ValueError(f"cannot draw {n} distinct numbers below {modulus}")
    while True:
        a = int(rng.integers(1, modulus))
        if np.gcd(a, modulus) == 1:
            break
    b = int(rng.integers(0, modulus))
    return (np.arange(n, dtype=np.int64) * a + b) % modulus


def _prefixed(prefixes: np.ndarray, numbers: np.ndarray, width: int) -> np.ndarray:
    return pd.Series(prefixes).str.cat(pd.Series(numbers).astype(str).str.zfill(width)).to_numpy(dtype=object)


def build_fleet(meters: int, seed: int = 0, meters_per_concentrator: float = 50.0) -> Fleet:
    """Concentrators spread over Santiago's comunas and meters under them; deterministic for a seed."""
    if meters < 1:
        raise ValueError("meters must be at least 1")
    rng = np.random.default_rng([seed, 0x5EED])
    n_conc = max(1, round(meters / meters_per_concentrator))
    weights = np.array([c.weight for c in COMUNAS])
    # comunas get concentrators in proportion to their weights (largest remainder), then shuffled
    share = weights / weights.sum() * n_conc
    counts = np.floor(share).astype(np.int64)
    counts[np.argsort(counts - share, kind="stable")[: n_conc - counts.sum()]] += 1
    comuna_idx = rng.permutation(np.repeat(np.arange(len(COMUNAS)), counts))
    numbers = 1 + _unique_numbers(n_conc, max(120_000, 3 * n_conc), rng)
    names = np.array([f"TD-{n}" for n in numbers], dtype=object)
    lat = np.array([c.latitude for c in COMUNAS])[comuna_idx] + rng.normal(0, 0.008, n_conc)
    lon = np.array([c.longitude for c in COMUNAS])[comuna_idx] + rng.normal(0, 0.008, n_conc)
    # modems look like the seed's OpenGate ids: 17CEC50610051720 (year, CEC5061, 7 digits)
    years = rng.choice(np.array(["16", "17", "18"], dtype=object), n_conc)
    modems = _prefixed(years + "CEC5061", _unique_numbers(n_conc, 10_000_000, rng), 7)
    concentrators = pd.DataFrame(
        {
            "concentrator": names,
            "comuna": np.array([c.name for c in COMUNAS], dtype=object)[comuna_idx],
            "latitude": np.char.mod("%.6f", lat),
            "longitude": np.char.mod("%.6f", lon),
            "modem": modems,
        }
    )
    # concentrators carry unequal numbers of meters (gamma-distributed sizes)
    sizes = rng.gamma(4.0, 1.0, n_conc)
    owner = rng.choice(n_conc, size=meters, p=sizes / sizes.sum())
    owner.sort()
    meter_prefix = rng.choice(
        np.array(["UAAEEDN15", "UAAEEDN16", "UAAEEDN17", "UAAEEDN18"], dtype=object), meters
    ) + rng.choice(np.array(["2", "3", "7"], dtype=object), meters)
    meter_ids = _prefixed(meter_prefix, _unique_numbers(meters, 100_000_000, rng), 8)
    pods = 50_000 + _unique_numbers(meters, 4_000_000, rng)
    td_share = np.array([c.td_share for c in COMUNAS])[comuna_idx[owner]]
    meters_frame = pd.DataFrame(
        {
            "meter": meter_ids,
            "concentrator": names[owner],
            "pod": pods.astype(str),
            "comuna": concentrators["comuna"].to_numpy()[owner],
            "medicion_en_td": np.where(rng.random(meters) < td_share, "True", "False"),
        }
    )
    return Fleet(concentrators, meters_frame)


def _clock(day: dt.date, seconds: np.ndarray) -> pd.DatetimeIndex:
    return pd.Timestamp(day) + pd.to_timedelta(seconds, unit="s")


def _us_datetime(stamps: pd.DatetimeIndex, seconds: bool = True) -> np.ndarray:
    """`10/7/2021 1:16:39 AM` (seconds=True) or `3/17/2020 14:17`, the report's US forms."""
    if seconds:
        hour12 = (stamps.hour + 11) % 12 + 1
        ampm = np.where(stamps.hour < 12, "AM", "PM")
        return np.array(
            [
                f"{m}/{d}/{y} {h}:{mi:02d}:{s:02d} {p}"
                for m, d, y, h, mi, s, p in zip(
                    stamps.month,
                    stamps.day,
                    stamps.year,
                    hour12,
                    stamps.minute,
                    stamps.second,
                    ampm,
                    strict=True,
                )
            ],
            dtype=object,
        )
    return np.array(
        [
            f"{m}/{d}/{y} {h}:{mi:02d}"
            for m, d, y, h, mi in zip(
                stamps.month, stamps.day, stamps.year, stamps.hour, stamps.minute, strict=True
            )
        ],
        dtype=object,
    )


def _pick(rng: np.random.Generator, mix: dict[str, float], n: int) -> np.ndarray:
    keys = np.array(list(mix), dtype=object)
    p = np.array(list(mix.values()), dtype=float)
    return keys[rng.choice(len(keys), size=n, p=p / p.sum())]


def _meter_error_texts(cat: Catalogs, commissioning: bool) -> list[str]:
    """The catalog's example texts of meter errors (commissioning errors, or the others)."""
    texts = []
    for rule in cat.wo_error_rules:
        if rule.object != "meter" or not rule.examples:
            continue
        if ("commission" in rule.error.lower()) == commissioning:
            texts.append(rule.examples[0])
    return texts


def simulate_day(
    fleet: Fleet,
    seed: int = 0,
    date: dt.date | None = None,
    *,
    swe_rows: int | None = None,
    hpe_rows: int | None = None,
    catalogs: Catalogs | None = None,
) -> Day:
    """One day of every file kind for `fleet`, as DataFrames of strings in the files' column order.

    `date` is required: the day's events are drawn from (seed, date), and the simulator never reads the
    clock (a caller that wants today passes it)."""
    if date is None:
        raise ValueError("simulate_day needs the day's date (the simulator never reads the clock)")
    cat = catalogs or load_catalogs()
    rng = np.random.default_rng([seed, date.toordinal()])
    meters, concs = fleet.meters, fleet.concentrators
    n_m, n_c = len(meters), len(concs)
    m_id = meters["meter"].to_numpy(dtype=object)
    m_conc = meters["concentrator"].to_numpy(dtype=object)
    m_pod = meters["pod"].to_numpy(dtype=object)
    conc_index = pd.Index(concs["concentrator"])
    unreachable = rng.random(n_c) < UNREACHABLE_SHARE
    day_iso = date.isoformat()

    # -- SWE: events and alarms of the day ---------------------------------------------------------
    total = swe_rows if swe_rows is not None else 2 * n_m
    comuna_events = {c.name: c.events_per_meter for c in COMUNAS}
    per_meter = meters["comuna"].map(comuna_events).fillna(2.5).to_numpy(dtype=float)
    n_with = int(min(n_m, max(1, round(total / per_meter.mean())))) if total else 0
    with_events = rng.choice(n_m, size=n_with, replace=False) if n_with else np.empty(0, dtype=np.int64)
    weights = per_meter[with_events]
    extra = (
        rng.choice(with_events, size=total - n_with, p=weights / weights.sum())
        if total > n_with
        else np.empty(0, dtype=np.int64)
    )
    rows = np.concatenate([with_events, extra])[:total]
    rows = rows[np.lexsort((rng.random(len(rows)), rows))]  # a meter's rows together, as in the seed
    flags = _pick(rng, SWE_FLAG_MIX, len(rows))
    flag_codes = {f: cat.events.code_for_flag(f) for f in SWE_FLAG_MIX}
    flag_text = {f: cat.event_type(flag_codes[f]).hes_label or f"({f})" for f in SWE_FLAG_MIX}
    # the newest row of a meter and flag says whether the flag is still active: for a few meters (the
    # flag's daily rate) it is; the other rows are events that came and went
    active = np.zeros(len(rows), dtype=bool)
    for flag, rate in SWE_ACTIVE_METER_RATES.items():
        of_flag = flags == flag
        n_rows = int(of_flag.sum())
        if n_rows:
            active[of_flag] = rng.random(n_rows) < min(1.0, rate * n_m / n_rows)
    # a supply interruption of a whole concentrator: every meter of it reports the power out
    outage = rng.random(n_c) < OUTAGE_RATE
    if outage.any():
        out_meters = np.flatnonzero(np.isin(m_conc, concs["concentrator"].to_numpy(dtype=object)[outage]))
        rows = np.concatenate([rows, out_meters])
        flags = np.concatenate([flags, np.full(len(out_meters), "PUP", dtype=object)])
        active = np.concatenate([active, np.ones(len(out_meters), dtype=bool)])
    swe = pd.DataFrame(
        {
            "concentrator": m_conc[rows],
            "meter": m_id[rows],
            "pod": m_pod[rows],
            "type": pd.Series(flags).map(flag_codes).to_numpy(dtype=object),
            "date": day_iso,
            "severity": "0",
            "isactive": np.where(active, "TRUE", "FALSE"),
            "description": pd.Series(flags).map(flag_text).to_numpy(dtype=object),
        }
    )

    # -- HPE: high-priority work-order results -----------------------------------------------------
    n_hpe = hpe_rows if hpe_rows is not None else max(1, round(HPE_ROWS_PER_METER * n_m))
    other = _meter_error_texts(cat, commissioning=False)
    error_total = sum(w for _a, _k, text, w in HPE_SAMPLE_MIX if text != "OK")
    texts, p = [], []
    for activity, ack, text, w in HPE_SAMPLE_MIX:
        spacer = "_" if ack == "40" and activity == "READ_METER_MACADDRESS" and w > 5 else " "
        texts.append(text if not activity else f"[{activity}] [TB{spacer}ACK_{ack}] {text}")
        if text == "OK":
            p.append(1 - HPE_ERROR_SHARE)
        else:
            p.append(HPE_ERROR_SHARE * (1 - HPE_OTHER_ERROR_SHARE) * w / error_total)
    # the seed writes both "[TB_ACK_40]" and "[TB ACK_40]": keep a share of each
    texts.append("[READ_METER_MACADDRESS] [TB ACK_40] REPEATER 1 FAILURE")
    p.append(p[1] / 2)
    p[1] /= 2
    for text in other:
        texts.append(f"[READ_METER_DATA_V2_11] [TB ACK_40] {text}")
        p.append(HPE_ERROR_SHARE * HPE_OTHER_ERROR_SHARE / max(len(other), 1))
    pick = rng.choice(len(texts), size=n_hpe, p=np.array(p) / sum(p))
    text_arr = np.array(texts, dtype=object)[pick]
    hpe_meters = rng.integers(0, n_m, n_hpe)
    secs = np.sort(rng.integers(0, 86_400, n_hpe))
    corr = _clock(date - dt.timedelta(days=1), secs).strftime("%d%m%Y%H%M%S").to_numpy(dtype=object)
    hpe = pd.DataFrame(
        {
            "concentrator": m_conc[hpe_meters],
            "meter": m_id[hpe_meters],
            "pod": m_pod[hpe_meters],
            "type": np.where(text_arr == "OK", "3.21.87.30", "3.21.87.85"),
            "date": day_iso,
            "correlationid": corr,
            "severity": "0",
            "description": text_arr,
        }
    )

    # -- LPE: commissioning and reachability -------------------------------------------------------
    n_lpe = max(1, round(LPE_ROWS_PER_METER * n_m))
    lpe_texts = dict(LPE_MIX)
    commissioning_errors = _meter_error_texts(cat, commissioning=True)
    for text in commissioning_errors:
        lpe_texts[text] = LPE_ERROR_SHARE / len(commissioning_errors)
    lpe_text = _pick(rng, lpe_texts, n_lpe)
    # decommissionings come in batches under one concentrator, as the seed's seven at TD-7176
    lpe_meters = rng.integers(0, n_m, n_lpe)
    lpe_meters = lpe_meters[np.argsort(m_conc[lpe_meters], kind="stable")]
    lpe_secs = np.sort(rng.uniform(0, 86_400, n_lpe))
    lpe_time = _clock(date, lpe_secs)
    lpe = pd.DataFrame(
        {
            "concentrator": m_conc[lpe_meters],
            "meter": m_id[lpe_meters],
            "pod": m_pod[lpe_meters],
            "type": np.where(lpe_text == "Meter decommissioned", "3.39.74.68", "3.39.74.42"),
            "date": lpe_time.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3].to_numpy(dtype=object),
            "correlationid": "",
            "severity": "0",
            "description": lpe_text,
            "externalrequest": "-",
            "breakerstate": "-",
        }
    )

    # -- CSW: one status word per concentrator -----------------------------------------------------
    csw_values = np.array(CSW_HEALTHY)[rng.choice(2, size=n_c, p=CSW_HEALTHY_P)].astype(np.int64)
    for letter, rate in CSW_FAULT_RATES.items():
        csw_values |= np.where(rng.random(n_c) < rate, cat.csw_flag(letter).mask, 0)
    for letter, rate in CSW_CLEARED_RATES.items():
        csw_values &= ~np.where(rng.random(n_c) < rate, cat.csw_flag(letter).mask, 0)
    csw_values |= np.where(unreachable, cat.csw_flag("T").mask, 0)
    update = rng.uniform(0, 86_400, n_c) - np.where(unreachable, rng.uniform(86_400, 20 * 86_400, n_c), 0)
    csw = pd.DataFrame(
        {
            "concentratorname": concs["concentrator"].to_numpy(dtype=object),
            "serialnumb": concs["modem"].to_numpy(dtype=object),
            "isreachable": np.where(unreachable, "0", "1"),
            "nrm": "0",
            "csw": np.char.mod("%06X", csw_values),
            "laststatuswordupdate_utc": _us_datetime(_clock(date, update), seconds=False),
        }
    )

    # -- Technical work orders completed -----------------------------------------------------------
    n_tech = max(1, round(TECHNICAL_ROWS_PER_METER * n_m))
    tech_meters = np.sort(rng.integers(0, n_m, n_tech))  # a work order spans meters of one concentrator
    tech_conc = m_conc[tech_meters]
    conc_pos = conc_index.get_indexer(tech_conc)
    new_order = np.r_[True, tech_conc[1:] != tech_conc[:-1]] | (rng.random(n_tech) < 0.2)
    idwork = 10_000_000 + 37 * date.toordinal() % 1_000_000 + np.cumsum(new_order)
    activity = _pick(rng, TECHNICAL_ACTIVITIES, n_tech)
    activity = pd.Series(activity).groupby(np.cumsum(new_order)).transform("first").to_numpy(dtype=object)
    error_texts = np.array(other, dtype=object)
    is_error = rng.random(n_tech) < TECHNICAL_ERROR_SHARE
    error = np.where(is_error, error_texts[rng.integers(0, len(error_texts), n_tech)], "")
    down = unreachable[conc_pos]
    error = np.where(down, "Concentrator is unreachable [Open socket is failed]", error)
    is_error |= down
    start_s = np.sort(rng.uniform(0, 86_400 - 600, n_tech))
    start = _clock(date, start_s)
    end = _clock(date, start_s + rng.uniform(20, 300, n_tech))
    local_start = start.tz_localize("UTC").tz_convert(SANTIAGO).tz_localize(None)
    local_end = end.tz_localize("UTC").tz_convert(SANTIAGO).tz_localize(None)
    external = rng.random(n_tech) < 0.3
    outer = np.where(
        external,
        pd.Series(start.strftime("%d%m%Y%H%M%S")).str.cat(
            pd.Series(rng.integers(100, 999, n_tech).astype(str)), sep=""
        )
        + "-W5CONSULTASHT",
        "",
    )
    technical = pd.DataFrame(
        dict(
            zip(
                TECHNICAL_HEADER,
                [
                    idwork.astype(str),
                    tech_conc,
                    m_pod[tech_meters],
                    m_id[tech_meters],
                    activity,
                    _us_datetime(start),
                    _us_datetime(end),
                    _us_datetime(local_start),
                    _us_datetime(local_end),
                    np.where(external, "True", "False"),
                    outer,
                    "",
                    np.where(is_error, "True", "False"),
                    error,
                ],
                strict=True,
            )
        )
    )

    # -- Meter status words: meters with events plus a sample of the rest ---------------------------
    last_state = pd.DataFrame({"m": rows, "flag": flags, "active": active}).drop_duplicates(
        ["m", "flag"], keep="last"
    )
    sampled = np.flatnonzero(rng.random(n_m) < MSW_SAMPLE_SHARE)
    msw_meters = np.union1d(np.unique(rows), sampled)
    position = pd.Index(msw_meters)
    words = {
        w: np.zeros(len(msw_meters), dtype=np.int64) for w in ("normal1", "normal2", "extended1", "extended2")
    }
    on = last_state[last_state["active"]]
    for flag_name, group in on.groupby("flag"):
        f = cat.meter_flag(flag_name)
        words[f.word][position.get_indexer(group["m"].to_numpy())] |= f.mask
    per_meter_flags = [f for f in cat.meter_flags if f.per_meter]
    for f in per_meter_flags:
        rate = MSW_FAULT_PREVALENCE / len(per_meter_flags)
        words[f.word] |= np.where(rng.random(len(msw_meters)) < rate, f.mask, 0)
    pad = cat.meter_flag("PAD")
    any_set = (words["normal1"] & ~pad.mask) | words["normal2"] | words["extended1"] | words["extended2"]
    words[pad.word] |= np.where(any_set != 0, pad.mask, 0)
    read_at = _clock(date, rng.uniform(0, 86_400, len(msw_meters)))
    msw = pd.DataFrame(
        {
            "meter": m_id[msw_meters],
            "concentrator": m_conc[msw_meters],
            "timestamp": read_at.strftime("%Y-%m-%d %H:%M:%S").to_numpy(dtype=object),
            **{w: np.char.mod("%04X", v) for w, v in words.items()},
        }
    )
    return Day(date, swe, hpe, lpe, csw, technical, msw)


def quiet(day: Day, concentrators: Iterable[str]) -> None:
    """Take the background noise off `concentrators` (in place): no SWE event, no status-word fault, a
    healthy reachable CSW, work orders that succeed. A scenario's own objects are quiet, so what a scenario
    switches on and off is all they show, and "the scenario cleared" is observable."""
    names = set(concentrators)
    if not names:
        return
    day.swe = day.swe[~day.swe["concentrator"].isin(names)].reset_index(drop=True)
    day.lpe = day.lpe[~day.lpe["concentrator"].isin(names)].reset_index(drop=True)
    hpe = day.hpe["concentrator"].isin(names)
    day.hpe.loc[hpe, "description"] = "OK"
    day.hpe.loc[hpe, "type"] = "3.21.87.30"
    technical = day.technical["concentrator"].isin(names)
    day.technical.loc[technical, "is error"] = "False"
    day.technical.loc[technical, "error description"] = ""
    msw = day.msw["concentrator"].isin(names)
    for word in ("normal1", "normal2", "extended1", "extended2"):
        day.msw.loc[msw, word] = "0000"
    csw = day.csw["concentratorname"].isin(names)
    day.csw.loc[csw, "csw"] = f"{CSW_HEALTHY[0]:06X}"
    day.csw.loc[csw, "isreachable"] = "1"
    noon = _us_datetime(_clock(day.date, np.array([43_200.0])), seconds=False)[0]
    day.csw.loc[csw, "laststatuswordupdate_utc"] = noon


def set_conditions(
    day: Day, concentrator: str, letters: Iterable[str], catalogs: Catalogs | None = None
) -> None:
    """Put `concentrator`'s status word in the alarm state of each CSW flag in `letters` (a flag of
    polarity `set` is set, one of polarity `clear` is cleared), from the healthy word."""
    cat = catalogs or load_catalogs()
    value = CSW_HEALTHY[0]
    for letter in letters:
        flag = cat.csw_flag(letter)
        if flag.polarity == "set":
            value |= flag.mask
        elif flag.polarity == "clear":
            value &= ~flag.mask
        else:
            raise ValueError(f"CSW flag {letter} has no alarm state (polarity {flag.polarity})")
    day.csw.loc[day.csw["concentratorname"] == concentrator, "csw"] = f"{value:06X}"


def _write_atomic(path: Path, write) -> Path:
    """Write under a temporary name and rename into place: the inbox never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def _frame_writer(frame: pd.DataFrame, delimiter: str, preamble: str = ""):
    def write(fh) -> None:
        if preamble:
            fh.write(preamble)
        frame.to_csv(fh, sep=delimiter, index=False, header=not preamble, lineterminator="\n")

    return write


def write_day(day: Day, out_dir: str | Path, delimiter: str = "\t") -> dict[str, Path]:
    """Every file of `day` into `out_dir`, named by the seed's conventions; returns kind -> path."""
    out = Path(out_dir)
    names = day.file_names()
    written = {}
    for kind in ("csw", "lpe", "hpe", "technical", "msw", "swe"):
        frame: pd.DataFrame = getattr(day, kind)
        preamble = ""
        if kind == "csw":
            # the seed's report header: a pivot title over the first column, its name on the next line
            columns = ["Meter_status_word_analysis", *frame.columns[1:]]
            preamble = (
                delimiter.join(columns) + "\n" + "concentratorname" + delimiter * (len(columns) - 1) + "\n"
            )
        written[kind] = _write_atomic(out / names[kind], _frame_writer(frame, delimiter, preamble))
    return written


def write_inventory(fleet: Fleet, inventory_dir: str | Path) -> dict[str, Path]:
    out = Path(inventory_dir)
    return {
        "concentrators": _write_atomic(out / "concentrators.csv", _frame_writer(fleet.concentrators, ",")),
        "meters": _write_atomic(out / "meters.csv", _frame_writer(fleet.meters, ",")),
    }


def generate_day(
    out_dir: str | Path,
    meters: int,
    seed: int = 0,
    date: dt.date | None = None,
    *,
    swe_rows: int | None = None,
    hpe_rows: int | None = None,
    inventory: bool = True,
    delimiter: str = "\t",
) -> dict[str, Path]:
    """Build the fleet, simulate the day and write it (inventory into `<out_dir>/inventory/`)."""
    fleet = build_fleet(meters, seed)
    day = simulate_day(fleet, seed, date, swe_rows=swe_rows, hpe_rows=hpe_rows)
    written: dict[str, Path] = {}
    if inventory:
        written |= write_inventory(fleet, Path(out_dir) / "inventory")
    written |= write_day(day, out_dir, delimiter)
    return written


def main(argv: list[str]) -> int:
    p = part_parser(
        "smmeplus", "Write an inventory and one day of every SMMePlus file kind in the seed's formats."
    )
    p.add_argument(
        "--meters", type=positive_int, required=True, help="number of meters (about 50 per concentrator)"
    )
    p.add_argument("--out", required=True, help="output directory (the inventory goes to <out>/inventory/)")
    p.add_argument(
        "--seed", type=int, default=0, help="random seed (the fleet and the day are deterministic)"
    )
    p.add_argument(
        "--date", type=dt.date.fromisoformat, default=None, help="the day, YYYY-MM-DD (default today)"
    )
    p.add_argument("--swe-rows", type=int, default=None, help="SWE rows (default 2 per meter)")
    p.add_argument(
        "--hpe-rows", type=int, default=None, help=f"HPE rows (default {HPE_ROWS_PER_METER:g} per meter)"
    )
    p.add_argument("--no-inventory", action="store_true", help="write only the day's files")
    args = p.parse_args(argv)
    try:
        writable_dir(args.out)
    except argparse.ArgumentTypeError as exc:
        return fail("smmc simulate smmeplus", f"--out {exc}")
    written = generate_day(
        args.out,
        args.meters,
        args.seed,
        args.date or dt.datetime.now(dt.UTC).date(),  # the command's clock: today, unless --date
        swe_rows=args.swe_rows,
        hpe_rows=args.hpe_rows,
        inventory=not args.no_inventory,
    )
    for kind, path in written.items():
        print(f"{kind:<14} {path}")
    return 0
