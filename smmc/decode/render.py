"""What `smmc decode` prints: a readable table for people, or JSON-ready dicts for scripts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from smmc.catalogs import Catalogs, CswDecoding, DecodedBit, EventType, WoErrorMatch

UNLISTED = "unlisted in the seed; not a fault"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns, two spaces apart; the last column is not padded."""
    cells = [[str(c) for c in header], *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def _pairs(pairs: Sequence[tuple[str, Any]]) -> str:
    width = max(len(k) for k, _ in pairs)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in pairs)


# ---- meter status words
def meter_text(words: Mapping[str, int], bits: Sequence[DecodedBit]) -> str:
    head = "\n".join(f"{w:<9} = 0x{v:04X} ({v})" for w, v in words.items())
    if not bits:
        return f"{head}\n\nno flag set"
    rows = []
    for b in bits:
        f = b.flag
        if f is None:
            rows.append([b.word, b.bit, b.acronym, "-", "-", "-", "-", UNLISTED])
        else:
            rows.append(
                [
                    b.word,
                    b.bit,
                    f.acronym,
                    f.category,
                    f.severity,
                    f.maintenance,
                    "yes" if f.per_meter else "no",
                    f.summary,
                ]
            )
    header = ["WORD", "BIT", "FLAG", "CATEGORY", "SEVERITY", "MAINTENANCE", "PER-METER", "MEANING"]
    return f"{head}\n\n{table(header, rows)}"


def meter_json(words: Mapping[str, int], bits: Sequence[DecodedBit]) -> dict[str, Any]:
    flags = []
    for b in bits:
        entry: dict[str, Any] = {"word": b.word, "bit": b.bit, "acronym": b.acronym, "listed": b.listed}
        if b.flag is not None:
            f = b.flag
            entry |= {
                "summary": f.summary,
                "description": f.description,
                "category": f.category,
                "severity": f.severity,
                "maintenance": f.maintenance,
                "per_meter": f.per_meter,
            }
        flags.append(entry)
    return {"words": {w: {"value": v, "hex": f"0x{v:04X}"} for w, v in words.items()}, "flags": flags}


# ---- concentrator status word
_POLARITY = {"set": "when set", "clear": "when clear", "none": "never"}


def csw_text(d: CswDecoding, cat: Catalogs) -> str:
    if d.healthy:
        verdict = "healthy: no flag in alarm"
    else:
        alarms = ", ".join(f"{f.letter} {f.name} ({f.priority})" for f in d.alarms)
        verdict = f"{len(d.alarms)} flag(s) in alarm: {alarms}"
    layout = "inferred from the seed's listing order (R = bit 0)" if d.layout_inferred else "site layout"
    source = f"; site override: {cat.override_dir}" if cat.override_dir else ""
    rows: list[list[Any]] = []
    for s in d.flags:
        f = s.flag
        rows.append(
            [
                f.bit,
                f.letter,
                f.name,
                "set" if s.is_set else "clear",
                _POLARITY[f.polarity],
                "ALARM" if s.in_alarm else "-",
                f.priority,
                f.description,
            ]
        )
    for bit in d.unlisted_bits:
        rows.append([bit, "-", f"bit{bit}", "set", "-", "-", "-", UNLISTED])
    rows.sort(key=lambda r: -r[0])
    header = ["BIT", "FLAG", "NAME", "STATE", "ALARM WHEN", "ALARM", "PRIORITY", "MEANING"]
    return f"CSW {d.hex}  {verdict}\nlayout: {layout}{source}\n\n{table(header, rows)}"


def csw_json(d: CswDecoding) -> dict[str, Any]:
    return {
        "value": d.value,
        "hex": d.hex,
        "healthy": d.healthy,
        "layout_inferred": d.layout_inferred,
        "alarms": [f.letter for f in d.alarms],
        "unlisted_bits": d.unlisted_bits,
        "flags": [
            {
                "letter": s.flag.letter,
                "name": s.flag.name,
                "description": s.flag.description,
                "bit": s.flag.bit,
                "set": s.is_set,
                "polarity": s.flag.polarity,
                "in_alarm": s.in_alarm,
                "priority": s.flag.priority,
            }
            for s in d.flags
        ],
    }


# ---- IEC 61968-9 event codes
def event_text(e: EventType, cat: Catalogs) -> str:
    parts = [
        ("type", e.numbers[0], e.device_type),
        ("domain", e.numbers[1], e.domain),
        ("subdomain", e.numbers[2], e.subdomain),
        ("event", e.numbers[3], e.event),
    ]
    lines = [f"{e.code}  {e.text}", "", table(["PART", "CODE", "NAME"], parts)]
    extra: list[tuple[str, Any]] = []
    if e.hes_label:
        extra.append(("head-end label", e.hes_label))
    if e.flag:
        f = cat.meter_flag(e.flag)
        extra.append(
            ("meter flag", f"{f.acronym} ({f.word} bit {f.bit}; {f.category}, {f.severity}, {f.maintenance})")
        )
    if e.inferred:
        extra.append(("inferred", e.note or "this reading is the project's, not the standard's"))
    if e.unlisted:
        extra.append(
            ("unlisted", f"{', '.join(e.unlisted)}: not in the IEC 61968-9 tables (vendor-specific)")
        )
    if not e.known:
        extra.append(("note", "not one of the codes the seed's files use; meaning composed from the tables"))
    if extra:
        lines += ["", _pairs(extra)]
    return "\n".join(lines)


def event_json(e: EventType) -> dict[str, Any]:
    return {
        "code": e.code,
        "type": {"code": e.numbers[0], "name": e.device_type},
        "domain": {"code": e.numbers[1], "name": e.domain},
        "subdomain": {"code": e.numbers[2], "name": e.subdomain},
        "event": {"code": e.numbers[3], "name": e.event},
        "text": e.text,
        "known": e.known,
        "hes_label": e.hes_label,
        "flag": e.flag,
        "inferred": e.inferred,
        "unlisted": list(e.unlisted),
    }


# ---- work-order errors
def wo_error_text(m: WoErrorMatch, cat: Catalogs) -> str:
    pairs: list[tuple[str, Any]] = [("outcome", m.outcome)]
    if m.code == "unclassified":
        pairs.append(("error", "unclassified: no catalog pattern matches (counted, never dropped)"))
    elif m.outcome == "error":
        rule = cat.wo_errors.rule(m.code)
        seed = f"seed row: {rule.error}" if rule.seed_row else "not in the seed's table"
        pairs += [
            ("error", f"{m.code} ({seed})"),
            ("category", m.category),
            ("maintenance", m.maintenance),
            ("action", m.action),
            ("description", m.description),
            ("object", m.object),
        ]
    pairs += [("activity", m.activity or "-"), ("tb_ack", m.tb_ack or "-"), ("detail", m.detail or "-")]
    return _pairs(pairs)


def wo_error_json(m: WoErrorMatch) -> dict[str, Any]:
    return {
        "outcome": m.outcome,
        "code": m.code,
        "category": m.category,
        "maintenance": m.maintenance,
        "action": m.action,
        "description": m.description,
        "object": m.object,
        "activity": m.activity,
        "tb_ack": m.tb_ack,
        "detail": m.detail,
    }
