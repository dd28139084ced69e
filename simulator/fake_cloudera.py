"""`smmc fake cloudera`: a fake Cloudera Manager REST API (FastAPI) serving a simulated data-lake cluster.

It follows Cloudera Manager's API as its generated client (PyPI `cm-client`, API v45) and the published
API docs describe it:
- HTTP Basic authentication with the console's users; a good login answers with the session cookie
  `CLOUDERA_MANAGER_SESSIONID`, which later requests may send instead. A missing or wrong credential
  is 401 with `WWW-Authenticate: Basic realm="Cloudera Manager"`.
- `GET /api/version` (text: the newest version, `v45`) and every resource under `/api/v{1..45}/`:
  `cm/version`, `clusters`, `clusters/{name}`, `clusters/{name}/services`, `hosts` (`view=summary|full`),
  `timeseries` (GET with `query`, `from`, `to`, `contentType`, `desiredRollup`; POST with the same
  fields as an `ApiTimeSeriesRequest` body). Lists are `{"items": [...]}`.
- Errors are `{"message": ..., "causes": [...]}` (the shape `/tools/echoError` documents): 400 for a
  tsquery the fake cannot parse or a bad date, 404 for an unknown cluster or API version.
- The tsquery subset: `select m1, m2 [where attr = value [and attr = value ...]]`, attributes compared
  case-insensitively as Cloudera Manager does for `category`; a metric no entity has gives a warning,
  not an error. Points are RAW, one a minute, within [from, to] (default: the last 5 minutes).

Test and demo controls under `/_fake/` (no auth; the fake binds to 127.0.0.1 by default):
  PUT /_fake/fault {"mode": "unauthorized|forbidden|rate_limit|server_error|slow|malformed|none",
                    "count": N|null, "retry_after": s, "delay": s, "path_contains": "timeseries"}
  DELETE /_fake/fault
  POST /_fake/hosts/{hostname}     {"health", "maintenance", "cpu_percent", "memory_ratio"}
  POST /_fake/services/{name}      {"state", "health", "maintenance"}
  POST /_fake/hdfs                 {"used_ratio": 0.93} (null: the slow growth)
  GET  /_fake/stats                requests served per path and status
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import re
import secrets
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from simulator import cloudera_cluster as sim
from simulator.faults import CallNext, FaultError, FaultSwitch, fake_app

DEFAULT_PORT = 9833
NEWEST_VERSION = 45
SESSION_COOKIE = "CLOUDERA_MANAGER_SESSIONID"
REALM = 'Basic realm="Cloudera Manager"'
MAX_POINTS = 1440
STEP = 60
HOST_METRICS = {"cpu_percent": "percent", "physical_memory_used": "bytes", "physical_memory_total": "bytes"}
HDFS_METRICS = {"dfs_capacity": "bytes", "dfs_capacity_used": "bytes", "dfs_capacity_used_non_hdfs": "bytes"}
# what `POST /_fake/hosts/{hostname}` and `/_fake/services/{name}` may set: field -> its values (None: any)
HOST_FIELDS: dict[str, tuple[str, ...] | None] = {
    "health": sim.HEALTH_VALUES,
    "maintenance": None,
    "cpu_percent": None,
    "memory_ratio": None,
}
SERVICE_FIELDS: dict[str, tuple[str, ...] | None] = {
    "state": sim.SERVICE_STATES,
    "health": sim.HEALTH_VALUES,
    "maintenance": None,
}
Patched = TypeVar("Patched", sim.SimHost, sim.SimService)
_SELECT = re.compile(r"^\s*select\s+(?P<metrics>.+?)(?:\s+where\s+(?P<where>.+?))?\s*;?\s*$", re.I | re.S)
_CONDITION = re.compile(
    r'^\s*(?P<attr>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<value>"[^"]*"|\'[^\']*\'|[^\s"\']+)\s*$'
)
_METRIC = re.compile(r"^[a-z_][a-z0-9_]*$")


class TsQueryError(ValueError):
    pass


def parse_tsquery(text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """`select a, b where x = y and z = "w"` -> (["a", "b"], [("x", "y"), ("z", "w")])."""
    match = _SELECT.match(text or "")
    if not match:
        raise TsQueryError(f"Invalid tsquery: {text!r}")
    metrics = [m.strip() for m in match["metrics"].split(",")]
    if not all(_METRIC.match(m) and m.lower() not in ("select", "where", "and", "or") for m in metrics):
        raise TsQueryError(f"Invalid tsquery: unsupported select list {match['metrics']!r}")
    conditions = []
    if match["where"]:
        for part in re.split(r"\s+and\s+", match["where"], flags=re.I):
            cond = _CONDITION.match(part)
            if not cond:
                raise TsQueryError(f"Invalid tsquery: unsupported condition {part.strip()!r}")
            conditions.append((cond["attr"], cond["value"].strip("\"'")))
    return metrics, conditions


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_date(raw: str | None, default: float) -> float:
    if raw is None or raw == "" or raw.lower() == "now":
        return default
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise TsQueryError(f"Invalid date: {raw!r}") from exc
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _error(status: int, message: str, causes: list[str] | None = None, **headers: str) -> JSONResponse:
    return JSONResponse({"message": message, "causes": causes}, status_code=status, headers=headers or None)


class FakeClouderaManager:
    def __init__(self, cluster: sim.SimCluster, users: dict[str, str], clock: Callable[[], float]) -> None:
        self.cluster = cluster
        self.users = dict(users)
        self.sessions: set[str] = set()
        self.clock = clock
        self.faults = FaultSwitch()
        self.stats: Counter[str] = Counter()

    # --- auth ----------------------------------------------------------------------------------------
    def session_for(self, request: Request) -> str | None:
        """The session id to use (a new one after a good Basic login), or None when not authorised."""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            expected = self.users.get(user)
            if expected is None or not secrets.compare_digest(expected.encode(), password.encode()):
                return None
            session = secrets.token_hex(16)
            self.sessions.add(session)
            return session
        cookie = request.cookies.get(SESSION_COOKIE)
        return cookie if cookie in self.sessions else None

    # --- documents -----------------------------------------------------------------------------------
    def cluster_ref(self) -> dict[str, str]:
        return {"clusterName": self.cluster.name, "displayName": self.cluster.display_name}

    def cluster_doc(self) -> dict[str, Any]:
        worst = _worst([s.health for s in self.cluster.services])
        return {
            "name": self.cluster.name,
            "displayName": self.cluster.display_name,
            "fullVersion": sim.FULL_VERSION,
            "maintenanceMode": False,
            "maintenanceOwners": [],
            "clusterUrl": f"/cmf/clusterRedirect/{self.cluster.name}",
            "hostsUrl": f"/cmf/clusterRedirect/{self.cluster.name}/hosts",
            "entityStatus": _entity_status(worst, "STARTED"),
            "uuid": str(uuid.uuid5(uuid.NAMESPACE_DNS, self.cluster.name)),
            "clusterType": "BASE_CLUSTER",
            "tags": [],
        }

    def service_doc(self, svc: sim.SimService) -> dict[str, Any]:
        return {
            "name": svc.name,
            "type": svc.type,
            "clusterRef": self.cluster_ref(),
            "serviceUrl": f"/cmf/serviceRedirect/{svc.name}",
            "roleInstancesUrl": f"/cmf/serviceRedirect/{svc.name}/instances",
            "serviceState": svc.state,
            "healthSummary": svc.health,
            "healthChecks": [
                {"name": f"{svc.type}_HEALTH", "summary": svc.health, "suppressed": False},
            ],
            "configStalenessStatus": "FRESH",
            "clientConfigStalenessStatus": "FRESH",
            "maintenanceMode": svc.maintenance,
            "maintenanceOwners": ["SERVICE"] if svc.maintenance else [],
            "displayName": svc.display_name,
            "entityStatus": _entity_status(svc.health, svc.state),
            "tags": [],
            "serviceVersion": "CDH 7.1.7",
        }

    def host_doc(self, host: sim.SimHost, full: bool, now: float) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "hostId": host.host_id,
            "ipAddress": host.ip,
            "hostname": host.hostname,
            "rackId": host.rack,
            "lastHeartbeat": iso(now - 7),
            "healthSummary": host.health,
            "hostUrl": f"/cmf/hostRedirect/{host.host_id}",
            "maintenanceMode": host.maintenance,
            "commissionState": "COMMISSIONED",
            "maintenanceOwners": ["HOST"] if host.maintenance else [],
            "numCores": host.cores,
            "numPhysicalCores": host.cores // 2,
            "totalPhysMemBytes": host.memory_bytes,
            "entityStatus": _entity_status(host.health, "STARTED"),
            "clusterRef": self.cluster_ref(),
            "tags": [],
        }
        if full:
            doc["healthChecks"] = [{"name": "HOST_SCM_HEALTH", "summary": host.health, "suppressed": False}]
            doc["roleRefs"] = []
        return doc

    # --- time series ---------------------------------------------------------------------------------
    def entities(self) -> list[tuple[dict[str, str], dict[str, tuple[str, Callable[[float], float]]]]]:
        c = self.cluster
        out = []
        for host in c.hosts:
            attributes = {
                "category": "HOST",
                "entityName": host.host_id,
                "hostId": host.host_id,
                "hostname": host.hostname,
                "rackId": host.rack,
                "clusterName": c.name,
                "clusterDisplayName": c.display_name,
                "active": "true",
            }
            metrics = {
                "cpu_percent": ("percent", lambda t, h=host: c.cpu_percent(h, t)),
                "physical_memory_used": ("bytes", lambda t, h=host: c.memory_used(h, t)),
                "physical_memory_total": ("bytes", lambda _t, h=host: float(h.memory_bytes)),
            }
            out.append((attributes, metrics))
        hdfs = c.service("hdfs")
        if hdfs is not None:
            attributes = {
                "category": "SERVICE",
                "entityName": hdfs.name,
                "serviceName": hdfs.name,
                "serviceType": hdfs.type,
                "serviceDisplayName": hdfs.display_name,
                "clusterName": c.name,
                "clusterDisplayName": c.display_name,
                "version": "CDH 7.1.7",
                "active": "true",
            }
            metrics = {
                "dfs_capacity": ("bytes", lambda _t: float(c.hdfs_capacity_bytes)),
                "dfs_capacity_used": ("bytes", c.hdfs_used),
                "dfs_capacity_used_non_hdfs": ("bytes", c.hdfs_non_dfs),
            }
            out.append((attributes, metrics))
        return out

    def query(self, text: str, start_raw: str | None, end_raw: str | None) -> dict[str, Any]:
        metrics, conditions = parse_tsquery(text)
        now = self.clock()
        end = parse_date(end_raw, now)
        start = parse_date(start_raw, end - 300)
        if start > end:
            raise TsQueryError("Invalid time range: from is after to")
        first = (int(start) // STEP + (1 if int(start) % STEP else 0)) * STEP
        stamps = list(range(first, int(end) + 1, STEP))[-MAX_POINTS:]
        series, warnings, seen = [], [], set()
        for attributes, offered in self.entities():
            if not all(attributes.get(a, "").lower() == v.lower() for a, v in conditions):
                continue
            for metric in metrics:
                if metric not in offered:
                    continue
                seen.add(metric)
                unit, value_at = offered[metric]
                name = attributes.get("hostname") or attributes.get("serviceDisplayName", "")
                series.append(
                    {
                        "metadata": {
                            "metricName": metric,
                            "entityName": name,
                            "startTime": iso(start),
                            "endTime": iso(end),
                            "attributes": attributes,
                            "unitNumerators": [unit],
                            "unitDenominators": [],
                            "expression": f'SELECT {metric} WHERE entityName = "{attributes["entityName"]}" '
                            f"AND category = {attributes['category']}",
                            "metricCollectionFrequencyMs": STEP * 1000,
                            "rollupUsed": "RAW",
                        },
                        "data": [
                            {"timestamp": iso(t), "value": value_at(t), "type": "SAMPLE"} for t in stamps
                        ],
                    }
                )
        for metric in metrics:
            if metric not in seen:
                warnings.append(f"No time series found for metric '{metric}' with the given predicates.")
        return {"timeSeries": series, "warnings": warnings, "timeSeriesQuery": text}


def _worst(healths: list[str]) -> str:
    for value in ("BAD", "CONCERNING", "GOOD"):
        if value in healths:
            return value
    return "NOT_AVAILABLE"


def _entity_status(health: str, state: str) -> str:
    if state == "STOPPED":
        return "STOPPED"
    return {
        "GOOD": "GOOD_HEALTH",
        "CONCERNING": "CONCERNING_HEALTH",
        "BAD": "BAD_HEALTH",
        "DISABLED": "DISABLED_HEALTH",
    }.get(health, "UNKNOWN_HEALTH")


def create_app(
    cluster: sim.SimCluster, users: dict[str, str], *, clock: Callable[[], float] = time.time
) -> FastAPI:
    """The fake as an ASGI app; `app.state.fake` is the `FakeClouderaManager` behind it."""
    fake = FakeClouderaManager(cluster, users, clock)

    async def with_session(request: Request, call_next: CallNext) -> Response:
        """Cloudera Manager's authentication: HTTP Basic credentials or the session cookie."""
        session = fake.session_for(request)
        if session is None:
            return Response(
                "<html><body><h2>HTTP ERROR 401</h2><p>Bad credentials</p></body></html>",
                status_code=401,
                media_type="text/html",
                headers={"WWW-Authenticate": REALM},
            )
        response = await call_next(request)
        if request.cookies.get(SESSION_COOKIE) != session:
            response.set_cookie(SESSION_COOKIE, session, httponly=True, path="/")
        return response

    app = fake_app(
        "fake Cloudera Manager API",
        fake,
        api_prefix="/api/",
        fault_response=_fault_response,
        stat_path=_stat_path,
        serve=with_session,
    )

    @app.get("/api/version")
    async def version() -> Response:
        return PlainTextResponse(f"v{NEWEST_VERSION}")

    def versioned(request: Request) -> JSONResponse | None:
        raw = request.path_params.get("version", "")
        number = raw[1:] if raw.startswith("v") else ""
        if not number.isdigit() or not 1 <= int(number) <= NEWEST_VERSION:
            return _error(404, f"Unknown API version: {raw}")
        return None

    @app.get("/api/{version}/cm/version")
    async def cm_version(request: Request) -> Response:
        return versioned(request) or JSONResponse(
            {
                "version": "7.5.4",
                "buildUser": "jenkins",
                "buildTimestamp": "20211201-0431",
                "gitHash": "5e3f2b6a1c",
                "snapshot": False,
            }
        )

    @app.get("/api/{version}/clusters")
    async def clusters(request: Request) -> Response:
        return versioned(request) or JSONResponse({"items": [fake.cluster_doc()]})

    def of_cluster(request: Request, name: str) -> JSONResponse | None:
        """The error for an unknown API version, or for a cluster other than the fake's; else None."""
        if (bad := versioned(request)) is not None:
            return bad
        return _error(404, f"Cluster '{name}' not found.") if name != fake.cluster.name else None

    @app.get("/api/{version}/clusters/{name}")
    async def cluster(request: Request, name: str) -> Response:
        return of_cluster(request, name) or JSONResponse(fake.cluster_doc())

    @app.get("/api/{version}/clusters/{name}/services")
    async def services(request: Request, name: str) -> Response:
        return of_cluster(request, name) or JSONResponse(
            {"items": [fake.service_doc(s) for s in fake.cluster.services]}
        )

    @app.get("/api/{version}/hosts")
    async def hosts(request: Request) -> Response:
        if (bad := versioned(request)) is not None:
            return bad
        view = request.query_params.get("view", "summary").lower()
        if view not in ("summary", "full", "export", "export_redacted"):
            return _error(400, f"Invalid view: {view}")
        now = fake.clock()
        return JSONResponse({"items": [fake.host_doc(h, view != "summary", now) for h in fake.cluster.hosts]})

    def timeseries_answer(params: dict[str, Any]) -> Response:
        content_type = params.get("contentType") or "application/json"
        if content_type != "application/json":
            return _error(400, f"Unsupported contentType for this fake: {content_type}")
        query = params.get("query")
        if not isinstance(query, str) or not query.strip():
            return _error(400, "A tsquery is required.")
        try:
            answer = fake.query(query, params.get("from"), params.get("to"))
        except TsQueryError as exc:
            return _error(400, str(exc))
        return JSONResponse({"items": [answer]})

    @app.get("/api/{version}/timeseries")
    async def timeseries_get(request: Request) -> Response:
        return versioned(request) or timeseries_answer(dict(request.query_params))

    @app.post("/api/{version}/timeseries")
    async def timeseries_post(request: Request) -> Response:
        if (bad := versioned(request)) is not None:
            return bad
        try:
            body = json.loads(await request.body() or b"{}")
        except json.JSONDecodeError as exc:
            return _error(400, f"Malformed JSON body: {exc.msg}")
        if not isinstance(body, dict):
            return _error(400, "The body must be an ApiTimeSeriesRequest object.")
        return timeseries_answer(body)

    # --- controls ------------------------------------------------------------------------------------
    @app.put("/_fake/fault")
    async def put_fault(request: Request) -> Response:
        try:
            return JSONResponse(fake.faults.set(await request.json()))
        except (FaultError, ValueError, AttributeError) as exc:
            return JSONResponse({"message": str(exc)}, status_code=400)

    def full_host_doc(host: sim.SimHost) -> dict[str, Any]:
        return fake.host_doc(host, True, fake.clock())

    @app.post("/_fake/hosts/{hostname}")
    async def patch_host(hostname: str, request: Request) -> Response:
        host = fake.cluster.host(hostname)
        return _patch(f"host {hostname}", host, await request.json(), HOST_FIELDS, full_host_doc)

    @app.post("/_fake/services/{name}")
    async def patch_service(name: str, request: Request) -> Response:
        svc = fake.cluster.service(name)
        return _patch(f"service {name}", svc, await request.json(), SERVICE_FIELDS, fake.service_doc)

    @app.post("/_fake/hdfs")
    async def patch_hdfs(request: Request) -> Response:
        body = await request.json()
        ratio = body.get("used_ratio") if isinstance(body, dict) else None
        if ratio is not None and (not isinstance(ratio, int | float) or not 0 <= ratio <= 1):
            return JSONResponse({"message": "used_ratio must be between 0 and 1, or null"}, status_code=400)
        fake.cluster.hdfs_used_override = ratio
        return JSONResponse({"used_ratio": ratio})

    @app.get("/_fake/stats")
    async def stats() -> Response:
        return JSONResponse({"requests": dict(fake.stats)})

    return app


def _stat_path(path: str) -> str:
    """The path with the API version folded (`/api/v45/hosts` -> `/api/vN/hosts`) for the counters."""
    return re.sub(r"^/api/v\d+/", "/api/vN/", path)


def _patch(
    what: str,
    target: Patched | None,
    body: Any,
    fields: dict[str, tuple[str, ...] | None],
    document: Callable[[Patched], dict[str, Any]],
) -> JSONResponse:
    """Sets the body's fields on `target` (`what` names it: "host h1"), each value checked against
    `fields` (its allowed values, or None); answers the target's document, or what is wrong."""
    if target is None:
        return JSONResponse({"message": f"no {what}"}, status_code=404)
    if not isinstance(body, dict) or set(body) - set(fields):
        return JSONResponse({"message": f"body may set only {', '.join(fields)}"}, status_code=400)
    for key, allowed in fields.items():
        if key not in body:
            continue
        value = body[key]
        if allowed is not None and value not in allowed:
            return JSONResponse({"message": f"{key} must be one of {', '.join(allowed)}"}, status_code=400)
        if key == "maintenance" and not isinstance(value, bool):
            return JSONResponse({"message": "maintenance must be true or false"}, status_code=400)
        setattr(target, key, value)
    return JSONResponse(document(target))


def _fault_response(fault: dict[str, Any]) -> Response:
    mode = fault["mode"]
    if mode == "unauthorized":
        return Response("Bad credentials", status_code=401, headers={"WWW-Authenticate": REALM})
    if mode == "forbidden":
        return _error(403, "Access denied.")
    if mode == "rate_limit":
        return _error(503, "Service temporarily unavailable.", **{"Retry-After": str(fault["retry_after"])})
    if mode == "server_error":
        return _error(500, "Internal server error.", ["java.lang.NullPointerException"])
    return Response(b'{"items":[{"timeSeries":[{"metadata":', media_type="application/json")


def main(argv: list[str]) -> int:
    from exporters.core.server import parse_listen

    p = argparse.ArgumentParser(prog="smmc fake cloudera", description="A fake Cloudera Manager REST API.")
    p.add_argument("--listen", default=f"127.0.0.1:{DEFAULT_PORT}")
    p.add_argument("--workers", type=int, default=4, help="worker hosts of the simulated cluster (default 4)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--user", default="admin", help="the accepted user (default admin)")
    p.add_argument(
        "--password-file",
        default=os.environ.get("SMMC_FAKE_CLOUDERA_PASSWORD_FILE"),
        help="file holding the accepted password (else $SMMC_CLOUDERA_CM_PASSWORD, else a random one)",
    )
    args = p.parse_args(argv)
    try:
        host, port = parse_listen(args.listen, DEFAULT_PORT)
        if args.password_file:
            with open(args.password_file, encoding="utf-8") as fh:
                password = fh.read().strip()
        else:
            password = os.environ.get("SMMC_CLOUDERA_CM_PASSWORD", "")
    except (OSError, ValueError) as exc:
        print(f"smmc fake cloudera: {exc}", file=sys.stderr)
        return 2
    if not password:
        password = secrets.token_urlsafe(12)
        print(f"fake Cloudera Manager: no password given, accepting {args.user}:{password}", file=sys.stderr)
    cluster = sim.generate(workers=args.workers, seed=args.seed)
    print(
        f"fake Cloudera Manager on http://{host}:{port}: cluster {cluster.name}, {len(cluster.hosts)} hosts, "
        f"{len(cluster.services)} services",
        file=sys.stderr,
    )
    uvicorn.run(
        create_app(cluster, {args.user: password}),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
    )
    return 0
