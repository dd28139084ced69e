"""`smmc fake opengate`: a fake OpenGate North API (FastAPI) serving a simulated fleet.

It follows ../shared/reference/opengate-north-api.md: `X-ApiKey` or `Authorization: Bearer` (from
`POST /north/v80/provision/users/login`), `POST /north/v80/search/{entities,devices,entities/alarms,
entities/alarms/summary}` with the filter grammar, select, sort, 1-based page numbers (size <= 1000)
and HTTP 204 past the end, the `_current` envelope (nested, or `flattened=true`), `Accept: text/plain`
CSV, and the two error-body shapes. `POST /north/v80/alarms` attends or closes alarms.

Test and demo controls live under `/_fake/` (no auth; the fake binds to 127.0.0.1 by default):
  PUT /_fake/fault {"mode": "unauthorized|forbidden|rate_limit|server_error|slow|malformed|none",
                    "count": N|null, "retry_after": s, "delay": s, "path_contains": "alarms"}
  DELETE /_fake/fault                 clear the fault
  POST /_fake/devices/{id}            {"unified_presence", "ip_presence", "rtt_ms", "sent_bytes", ...}
  POST /_fake/sims/{id}               {"state": "SUSPENDED"}
  POST /_fake/alarms                  {"rule", "entity", ["status", "severity", ...]} -> the new alarm
  GET  /_fake/stats                   requests served per path and status
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from simulator import opengate_fleet as fleets
from simulator.faults import FaultError, FaultSwitch, fake_app
from simulator.opengate_search import (
    QueryError,
    apply_sort,
    compile_filter,
    csv_rows,
    flatten,
    parse_select,
    project,
)

DEFAULT_PORT = 9830
MAX_PAGE_SIZE = 1000
CLIENT_CLOSED_REQUEST = 499  # nginx's code for a client that left before the answer, counted in /_fake/stats
DEVICE_FIELDS = {
    "unified_presence", "presence_source", "presence_date", "ip_presence", "rtt_ms", "sent_bytes",
    "received_bytes", "traffic_date", "signal_dbm", "admin_state", "latitude", "longitude",
    "month_sent_bytes", "month_received_bytes", "sessions_started",
}  # fmt: skip


def _cur(value: Any, **members: Any) -> dict[str, Any]:
    envelope = {"value": value}
    envelope.update({k: v for k, v in members.items() if v is not None})
    return {"_current": envelope}


def _prune(node: Any) -> Any:
    """Drops datastreams whose value is None (the platform has no `_current` for them)."""
    if isinstance(node, dict):
        if "_current" in node:
            return node if node["_current"].get("value") is not None else None
        pruned = {k: _prune(v) for k, v in node.items()}
        return {k: v for k, v in pruned.items() if v is not None} or None
    if isinstance(node, list):
        return [_prune(v) or {} for v in node]
    return node


def device_document(
    device: dict[str, Any], sim: dict[str, Any] | None, org: str, channel: str
) -> dict[str, Any]:
    sim = sim or {}
    presence_date = device.get("presence_date")
    traffic_date = device.get("traffic_date")
    src = device.get("presence_source")
    lon, lat = device.get("longitude"), device.get("latitude")
    location = (
        None if lat is None or lon is None else {"position": {"type": "Point", "coordinates": [lon, lat]}}
    )
    doc = {
        "resourceType": _cur("entity.device"),
        "provision": {
            "administration": {"organization": _cur(org), "channel": _cur(channel)},
            "device": {
                "identifier": _cur(device["id"], provType="IDENTIFIER"),
                "administrativeState": _cur(device.get("admin_state")),
                "operationalStatus": _cur("NORMAL"),
                "specificType": _cur("ROUTER"),
                "location": _cur(location),
                "communicationModules": [
                    {
                        "identifier": _cur(f"{device['id']}-cm0"),
                        "mobile": {"imei": _cur(device.get("imei"))},
                        "subscription": {
                            "identifier": _cur(sim.get("id")),
                            "administrativeState": _cur(sim.get("state")),
                            "mobile": {"imsi": _cur(sim.get("imsi")), "msisdn": _cur(sim.get("msisdn"))},
                        },
                        "subscriber": {
                            "identifier": _cur(f"SIM-{sim['iccid']}" if sim.get("iccid") else None),
                            "mobile": {"icc": _cur(sim.get("iccid"))},
                        },
                    }
                ],
            },
        },
        "device": {
            "communicationModules": [
                {
                    "identifier": _cur(f"{device['id']}-cm0"),
                    "subscription": {
                        "presence": {
                            "unifiedPresence": _cur(
                                device.get("unified_presence"),
                                date=presence_date,
                                at=presence_date,
                                source=src,
                            ),
                            "ip": _cur(device.get("ip_presence"), date=presence_date, source=src),
                            "ipRtt": _cur(device.get("rtt_ms"), date=presence_date, source=src),
                        },
                        "traffic": {
                            "sentBytes": _cur(device.get("sent_bytes"), date=traffic_date),
                            "receivedBytes": _cur(device.get("received_bytes"), date=traffic_date),
                            "monthSentBytes": _cur(device.get("month_sent_bytes"), date=traffic_date),
                            "monthReceivedBytes": _cur(device.get("month_received_bytes"), date=traffic_date),
                            "startedSessions": _cur(device.get("sessions_started"), date=traffic_date),
                        },
                        "mobile": {
                            "signalStrength": _cur(device.get("signal_dbm")),
                            "imsi": _cur(sim.get("imsi")),
                        },
                        "address": _cur(
                            {"type": "IPV4", "value": device["ip"], "apn": "m2m.enel.cl"}
                            if device.get("ip")
                            else None
                        ),
                    },
                    "subscriber": {"mobile": {"icc": _cur(sim.get("iccid"))}},
                }
            ]
        },
    }
    return _prune(doc)


def sim_document(sim: dict[str, Any], org: str, channel: str) -> dict[str, Any]:
    return _prune(
        {
            "resourceType": _cur("entity.subscription"),
            "provision": {
                "administration": {"organization": _cur(org), "channel": _cur(channel)},
                "subscription": {
                    "identifier": _cur(sim["id"], provType="IDENTIFIER"),
                    "administrativeState": _cur(sim.get("state")),
                    "mobile": {"msisdn": _cur(sim.get("msisdn")), "imsi": _cur(sim.get("imsi"))},
                    "device": _cur(sim.get("device")),
                },
                "subscriber": {"mobile": {"icc": _cur(sim.get("iccid"))}},
            },
        }
    )


def alarm_document(alarm: dict[str, Any], org: str, channel: str) -> dict[str, Any]:
    doc = {
        "identifier": alarm["identifier"],
        "name": alarm.get("name"),
        "rule": alarm.get("rule"),
        "severity": alarm.get("severity"),
        "priority": alarm.get("priority"),
        "status": alarm.get("status"),
        "description": alarm.get("description"),
        "organization": org,
        "channel": channel,
        "resourceType": alarm.get("resource_type", "entity.device"),
        "entityIdentifier": alarm.get("entity"),
        "subEntityIdentifier": alarm.get("sub_entity"),
        "openingDate": alarm.get("opening_date"),
        "attentionDate": alarm.get("attention_date"),
        "closureDate": alarm.get("closure_date"),
        "closureUser": alarm.get("closure_user"),
        "closureNote": alarm.get("closure_note"),
    }
    return {k: v for k, v in doc.items() if v is not None}


def _error(status: int, code: str, message: str, context: dict[str, str] | None = None) -> JSONResponse:
    ctx = [{"name": k, "value": v} for k, v in (context or {}).items()]
    return JSONResponse({"errors": [{"code": code, "message": message, "context": ctx}]}, status_code=status)


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "false").strip().lower() == "true"


class FakeOpenGate:
    """The fleet as North API documents, the fault switch, and the request counters."""

    def __init__(self, fleet: dict[str, Any], api_key: str, users: dict[str, str] | None = None) -> None:
        self.api_key = api_key
        self.users = dict(users or {})
        self.tokens: set[str] = set()
        self.org = fleet.get("organization", fleets.DEFAULT_ORGANIZATION)
        self.channel = fleet.get("channel", fleets.DEFAULT_CHANNEL)
        self.devices = {d["id"]: dict(d) for d in fleet["devices"]}
        self.sims = {s["id"]: dict(s) for s in fleet["sims"]}
        self.alarms = {a["identifier"]: dict(a) for a in [*fleet["alarms"], *fleet.get("sim_alarms", [])]}
        self.lock = threading.Lock()
        self.version = 0
        self.faults = FaultSwitch()
        self.stats: Counter[str] = Counter()
        self._docs: dict[str, list[dict[str, Any]]] = {}
        self._cache: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        self._pages: dict[tuple[Any, ...], bytes] = {}

    # --- documents -----------------------------------------------------------------------------------
    def changed(self) -> None:
        self.version += 1
        self._docs.clear()
        self._cache.clear()
        self._pages.clear()

    def documents(self, kind: str) -> list[dict[str, Any]]:
        if kind not in self._docs:
            if kind == "entities":
                devices = [
                    device_document(d, self.sims.get(d.get("sim")), self.org, self.channel)
                    for d in self.devices.values()
                ]
                self._docs[kind] = devices + [
                    sim_document(s, self.org, self.channel) for s in self.sims.values()
                ]
            elif kind == "devices":
                self._docs[kind] = [
                    device_document(d, self.sims.get(d.get("sim")), self.org, self.channel)
                    for d in self.devices.values()
                ]
            else:
                self._docs[kind] = [alarm_document(a, self.org, self.channel) for a in self.alarms.values()]
        return self._docs[kind]

    def matching(self, kind: str, body: dict[str, Any], case_sensitive: bool) -> list[dict[str, Any]]:
        flat = kind == "alarms"
        key = (
            kind,
            json.dumps(body.get("filter"), sort_keys=True),
            json.dumps(body.get("sort")),
            case_sensitive,
        )
        found = self._cache.get(key)
        if found is None:
            predicate = compile_filter(body.get("filter"), flat=flat, case_sensitive=case_sensitive)
            found = apply_sort([d for d in self.documents(kind) if predicate(d)], body.get("sort"), flat)
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[key] = found
        return found

    def page_body(
        self,
        kind: str,
        key: str,
        body: dict[str, Any],
        select: list[Any],
        flattened: bool,
        start: int,
        size: int,
        page: list[dict[str, Any]],
        of: int | None,
    ) -> bytes:
        """One page's JSON: documents reduced to the select (rendered once until the fleet changes)."""
        query = json.dumps([body.get("filter"), body.get("sort"), body.get("select")], sort_keys=True)
        cache_key = ("page", kind, query, flattened, start, size, of)
        content = self._pages.get(cache_key)
        if content is None:
            rows = page if kind == "alarms" else [project(d, select) for d in page]
            if flattened and kind != "alarms":
                rows = [flatten(r) for r in rows]
            info: dict[str, int] = {"number": start} if of is None else {"number": start, "of": of}
            content = json.dumps({"page": info, key: rows}, separators=(",", ":")).encode()
            if len(self._pages) > 256:
                self._pages.clear()
            self._pages[cache_key] = content
        return content

    # --- auth ----------------------------------------------------------------------------------------
    def authorised(self, request: Request) -> bool:
        key = request.headers.get("x-apikey")
        if key is not None:
            return secrets.compare_digest(key, self.api_key)
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip() in self.tokens
        return False


def create_app(
    fleet: dict[str, Any],
    api_key: str,
    *,
    users: dict[str, str] | None = None,
    page_of: bool = False,
) -> FastAPI:
    """The fake as an ASGI app; `app.state.fake` is the `FakeOpenGate` behind it."""
    fake = FakeOpenGate(fleet, api_key, users)
    app = fake_app("fake OpenGate North API", fake, api_prefix="/north/", fault_response=_fault_response)

    @app.post("/north/v80/provision/users/login")
    async def login(request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        email, password = body.get("email"), body.get("password")
        expected = fake.users.get(email) if isinstance(email, str) else None
        if (
            expected is None
            or not isinstance(password, str)
            or not secrets.compare_digest(expected, password)
        ):
            return _error(401, "0x0001", "Unauthorized")
        token = secrets.token_urlsafe(24)
        fake.tokens.add(token)
        return JSONResponse({"user": {"email": email, "jwt": token, "apiKey": fake.api_key}})

    async def search(request: Request, kind: str, key: str) -> Response:
        if not fake.authorised(request):
            return _error(401, "0x0001", "Unauthorized")
        body = await _json_body(request, allow_empty=True)
        if isinstance(body, Response):
            return body
        limit = body.get("limit") or {}
        if not isinstance(limit, dict):
            return _error(400, "0x0400", "Bad Request", {"limit": "must be an object"})
        size, start = limit.get("size", MAX_PAGE_SIZE), limit.get("start", 1)
        if not isinstance(size, int) or not isinstance(start, int) or size < 1:
            return _error(400, "0x0400", "Bad Request", {"limit": "size and start must be positive integers"})
        if size > MAX_PAGE_SIZE:
            return _error(400, "0x0400", "Bad Request", {"limit.size": f"at most {MAX_PAGE_SIZE}"})
        start = max(1, start)
        try:
            select = parse_select(body.get("select"))
            with fake.lock:
                found = fake.matching(kind, body, _flag(request, "caseSensitive"))
        except QueryError as exc:
            return _error(400, "0x0400", "Bad Request", {"filter": str(exc)})
        if "text/plain" in request.headers.get("accept", ""):
            if not found:
                return Response(status_code=204)
            text = "\n".join(csv_rows(found, select, kind == "alarms")) + "\n"
            return Response(text, media_type="text/plain")
        page = found[(start - 1) * size : start * size]
        if not page:
            return Response(status_code=204)
        of = -(-len(found) // size) if page_of else None
        with fake.lock:
            content = fake.page_body(
                kind, key, body, select, _flag(request, "flattened"), start, size, page, of
            )
        return Response(content, media_type="application/json")

    @app.post("/north/v80/search/entities")
    async def search_entities(request: Request) -> Response:
        return await search(request, "entities", "entities")

    @app.post("/north/v80/search/devices")
    async def search_devices(request: Request) -> Response:
        return await search(request, "devices", "devices")

    @app.post("/north/v80/search/entities/alarms")
    async def search_alarms(request: Request) -> Response:
        return await search(request, "alarms", "alarms")

    @app.post("/north/v80/search/entities/alarms/summary")
    async def alarms_summary(request: Request) -> Response:
        if not fake.authorised(request):
            return _error(401, "0x0001", "Unauthorized")
        body = await _json_body(request, allow_empty=True)
        if isinstance(body, Response):
            return body
        try:
            with fake.lock:
                found = fake.matching("alarms", body, _flag(request, "caseSensitive"))
        except QueryError as exc:
            return _error(400, "0x0400", "Bad Request", {"filter": str(exc)})
        if not found:
            return Response(status_code=204)
        groups = []
        for field in ("severity", "rule", "status", "name"):
            counts = Counter(a.get(field) for a in found if a.get(field))
            listed = [{"count": n, "name": name} for name, n in counts.most_common()]
            groups.append({field: {"count": sum(counts.values()), "list": listed}})
        now = fleets.iso(datetime.now(UTC))
        return JSONResponse({"summary": {"date": now, "count": len(found), "summaryGroup": groups}})

    @app.post("/north/v80/alarms")
    async def alarm_action(request: Request) -> Response:
        if not fake.authorised(request):
            return _error(401, "0x0001", "Unauthorized")
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        action, ids = body.get("action"), body.get("alarms")
        if action not in ("ATTEND", "CLOSE") or not isinstance(ids, list):
            return _error(400, "0x0400", "Bad Request", {"action": "ATTEND or CLOSE with a list of alarms"})
        now = fleets.iso(datetime.now(UTC))
        with fake.lock:
            unknown = [i for i in ids if i not in fake.alarms]
            for ident in ids:
                alarm = fake.alarms.get(ident)
                if alarm is None:
                    continue
                if action == "CLOSE":
                    alarm.update(status="CLOSED", closure_date=now, closure_note=body.get("notes"))
                elif alarm["status"] == "OPEN":
                    alarm.update(status="ATTEND", attention_date=now)
            fake.changed()
        return JSONResponse({"result": "OK", "unknown": unknown})

    # --- controls for tests and demos -------------------------------------------------------------
    @app.get("/_fake/fault")
    async def get_fault() -> Response:
        return JSONResponse(fake.faults.fault)

    @app.put("/_fake/fault")
    async def put_fault(request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        try:
            return JSONResponse(fake.faults.set(body))
        except FaultError as exc:
            return JSONResponse({"message": str(exc)}, status_code=400)

    @app.post("/_fake/devices/{ident}")
    async def patch_device(ident: str, request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        unknown = sorted(set(body) - DEVICE_FIELDS)
        if unknown:
            return JSONResponse({"message": f"unknown device fields: {', '.join(unknown)}"}, status_code=400)
        with fake.lock:
            device = fake.devices.get(ident)
            if device is None:
                return JSONResponse({"message": f"no device {ident}"}, status_code=404)
            if "unified_presence" in body and "presence_date" not in body:
                body["presence_date"] = fleets.iso(datetime.now(UTC))
            device.update(body)
            fake.changed()
            return JSONResponse(device)

    @app.post("/_fake/sims/{ident}")
    async def patch_sim(ident: str, request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        if not isinstance(body.get("state"), str):
            return JSONResponse({"message": 'body must be {"state": ...}'}, status_code=400)
        with fake.lock:
            sim = fake.sims.get(ident)
            if sim is None:
                return JSONResponse({"message": f"no SIM {ident}"}, status_code=404)
            sim["state"] = body["state"]
            fake.changed()
            return JSONResponse(sim)

    @app.post("/_fake/alarms")
    async def open_alarm(request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        rule = body.get("rule")
        if rule not in fleets.RULES and not isinstance(body.get("severity"), str):
            return JSONResponse(
                {"message": "rule must be a known rule, or give its severity"}, status_code=400
            )
        if not isinstance(body.get("entity"), str):
            return JSONResponse({"message": "entity (the device id) is required"}, status_code=400)
        severity, priority, name, description = fleets.RULES.get(
            rule, (body.get("severity"), "MEDIUM", rule, "")
        )
        alarm = {
            "identifier": str(uuid.uuid4()),
            "name": body.get("name", name),
            "rule": rule,
            "severity": body.get("severity", severity),
            "priority": body.get("priority", priority),
            "status": body.get("status", "OPEN"),
            "entity": body["entity"],
            "sub_entity": body.get("sub_entity"),
            "description": body.get("description", description),
            "opening_date": body.get("opening_date") or fleets.iso(datetime.now(UTC)),
            "closure_date": body.get("closure_date"),
        }
        with fake.lock:
            device = fake.devices.get(alarm["entity"])
            if alarm["sub_entity"] is None and device is not None:
                alarm["sub_entity"] = device.get("sim")
            fake.alarms[alarm["identifier"]] = alarm
            fake.changed()
        return JSONResponse(alarm, status_code=201)

    @app.get("/_fake/stats")
    async def stats() -> Response:
        return JSONResponse({"version": fake.version, "requests": dict(fake.stats)})

    return app


def _fault_response(fault: dict[str, Any]) -> Response:
    mode = fault["mode"]
    if mode == "unauthorized":
        return _error(401, "0x0001", "Unauthorized")
    if mode == "forbidden":
        return _error(403, "0x0003", "Forbidden")
    if mode == "rate_limit":
        return JSONResponse(
            {"message": "Too Many Requests"},
            status_code=429,
            headers={"Retry-After": str(fault["retry_after"])},
        )
    if mode == "server_error":
        return _error(500, "0x0500", "Internal Server Error")
    return Response(b'{"page":{"number":1},"entities":[{"resourceType":', media_type="application/json")


async def _json_body(request: Request, allow_empty: bool = False) -> dict[str, Any] | Response:
    try:
        raw = await request.body()
    except ClientDisconnect:
        # the client gave up (e.g. timed out during a `slow` fault): nobody reads this answer
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    if not raw.strip():
        return {} if allow_empty else _error(400, "0x0400", "Bad Request", {"body": "empty"})
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        return _error(400, "0x0400", "Bad Request", {"body": f"not JSON: {exc.msg}"})
    if not isinstance(body, dict):
        return _error(400, "0x0400", "Bad Request", {"body": "must be a JSON object"})
    return body


def main(argv: list[str]) -> int:
    from exporters.core.server import parse_listen
    from smmc.options import OptionParser

    p = OptionParser(
        prog="smmc fake opengate", env_prefix="SMMC_FAKE_OPENGATE_", description="A fake OpenGate North API."
    )
    p.add_argument("--listen", default=f"127.0.0.1:{DEFAULT_PORT}", help="HOST:PORT")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--fleet", help="fleet JSON from `smmc simulate opengate`")
    source.add_argument("--modems", type=int, help="generate a fleet of N routers (default: the seed's 3046)")
    source.add_argument("--fixture", choices=fleets.FIXTURES, help="the seed's named fleet")
    p.add_argument("--inventory", help="concentrators.csv: one router per concentrator (coherent fleet)")
    p.add_argument("--seed", type=int, default=1, help="fleet seed")
    p.add_argument(
        "--api-key", env="OPENGATE_API_KEY", help="accepted X-ApiKey (default: a random key, printed)"
    )
    p.add_argument(
        "--no-rebase", action="store_true", help="serve the fleet's dates as they are, not moved to now"
    )
    args = p.parse_args(argv)
    try:
        if args.fleet:
            fleet = fleets.load_fleet(args.fleet)
        else:
            placements = fleets.placements_from_inventory(args.inventory) if args.inventory else None
            fleet = fleets.generate(
                args.modems or fleets.SEED_MODEMS, seed=args.seed, placements=placements, fixture=args.fixture
            )
        host, port = parse_listen(args.listen, DEFAULT_PORT)
    except (OSError, ValueError) as exc:
        print(f"smmc fake opengate: {exc}", file=sys.stderr)
        return 2
    if not args.no_rebase:
        fleet = fleets.rebase(fleet, datetime.now(UTC).replace(microsecond=0))
    api_key = args.api_key or os.environ.get("OPENGATE_API_KEY") or secrets.token_urlsafe(18)
    if not (args.api_key or os.environ.get("OPENGATE_API_KEY")):
        print(f"fake OpenGate: no key given, accepting the generated X-ApiKey {api_key}", file=sys.stderr)
    print(
        f"fake OpenGate on http://{host}:{port}: organization {fleet['organization']}, "
        f"{len(fleet['devices'])} modems, {len(fleet['sims'])} SIMs, {len(fleet['alarms'])} alarms",
        file=sys.stderr,
    )
    uvicorn.run(create_app(fleet, api_key), host=host, port=port, log_level="warning", access_log=False)
    return 0
