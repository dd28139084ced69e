"""A simulated Cloudera data-lake cluster, as Cloudera Manager would describe it: hosts and services with
their health and state, and the time series of host CPU and memory and of HDFS capacity.

Every value is a function of (cluster seed, host or service, instant): the same minute always gives the
same number, so a test or a demo that asks twice sees one cluster. The daily shape follows the seed's
ingestion jobs, which run at night in Santiago: the workers are busy from about 01:00 to 06:00 local time.
Scenarios change health, state, load or storage through the setters (the fake's `/_fake/...` controls).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

SANTIAGO = ZoneInfo("America/Santiago")
GIB = 2**30
TIB = 2**40
CLUSTER_NAME = "datalake-chile"
CLUSTER_DISPLAY = "Data Lake Chile"
FULL_VERSION = "7.1.7"
# (name, type, display name): a CDP Private Cloud Base data lake as the seed describes it (ingestion
# jobs on YARN/Spark, Hive and Impala for the reports, Oozie scheduling them)
SERVICES = (
    ("hdfs", "HDFS", "HDFS"),
    ("yarn", "YARN", "YARN"),
    ("hive", "HIVE", "Hive"),
    ("impala", "IMPALA", "Impala"),
    ("spark_on_yarn", "SPARK_ON_YARN", "Spark"),
    ("zookeeper", "ZOOKEEPER", "ZooKeeper"),
    ("oozie", "OOZIE", "Oozie"),
    ("hue", "HUE", "Hue"),
)
HEALTH_VALUES = ("GOOD", "CONCERNING", "BAD", "DISABLED", "NOT_AVAILABLE", "HISTORY_NOT_AVAILABLE")
SERVICE_STATES = ("STARTED", "STARTING", "STOPPING", "STOPPED", "UNKNOWN", "HISTORY_NOT_AVAILABLE", "NA")


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from the parts."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:6], "big") / 2**48


@dataclass
class SimHost:
    host_id: str
    hostname: str
    ip: str
    rack: str
    role: str  # master | worker | edge
    cores: int
    memory_bytes: int
    health: str = "GOOD"
    maintenance: bool = False
    cpu_percent: float | None = None  # a scenario's fixed load; None = the daily shape
    memory_ratio: float | None = None


@dataclass
class SimService:
    name: str
    type: str
    display_name: str
    state: str = "STARTED"
    health: str = "GOOD"
    maintenance: bool = False


@dataclass
class SimCluster:
    name: str = CLUSTER_NAME
    display_name: str = CLUSTER_DISPLAY
    seed: int = 1
    hosts: list[SimHost] = field(default_factory=list)
    services: list[SimService] = field(default_factory=list)
    hdfs_capacity_bytes: int = 0
    hdfs_used_ratio: float = 0.62  # of the capacity, at the reference; grows slowly with ingestion
    hdfs_non_dfs_ratio: float = 0.03
    hdfs_used_override: float | None = None  # a scenario's fixed used ratio

    # --- the daily shape ------------------------------------------------------------------------------
    def _busy(self, epoch: float) -> float:
        """0-1: how hard the night's ingestion works the cluster at this instant (peak 01:00-06:00)."""
        local = datetime.fromtimestamp(epoch, SANTIAGO)
        hour = local.hour + local.minute / 60
        return max(0.0, math.cos((hour - 3.5) / 24 * 2 * math.pi)) ** 3

    def cpu_percent(self, host: SimHost, epoch: float) -> float:
        if host.cpu_percent is not None:
            return host.cpu_percent
        minute = int(epoch // 60)
        noise = _unit(self.seed, host.host_id, "cpu", minute) * 6
        base = {"worker": 18.0, "master": 12.0, "edge": 6.0}[host.role]
        peak = {"worker": 58.0, "master": 22.0, "edge": 8.0}[host.role]
        return round(base + peak * self._busy(epoch) + noise, 2)

    def memory_used(self, host: SimHost, epoch: float) -> float:
        if host.memory_ratio is not None:
            return float(int(host.memory_bytes * host.memory_ratio))
        minute = int(epoch // 60)
        ratio = {"worker": 0.45, "master": 0.55, "edge": 0.25}[host.role] + 0.25 * self._busy(epoch)
        ratio += _unit(self.seed, host.host_id, "mem", minute) * 0.03
        return float(int(host.memory_bytes * min(ratio, 0.99)))

    def hdfs_used(self, epoch: float) -> float:
        if self.hdfs_used_override is not None:
            return float(int(self.hdfs_capacity_bytes * self.hdfs_used_override))
        # ~0.1 % of the capacity a day, wrapping over a year so a long demo does not fill the cluster
        days = (epoch / 86400) % 365
        return float(int(self.hdfs_capacity_bytes * (self.hdfs_used_ratio + days * 0.0001)))

    def hdfs_non_dfs(self, epoch: float) -> float:
        return float(int(self.hdfs_capacity_bytes * self.hdfs_non_dfs_ratio))

    # --- lookups ---------------------------------------------------------------------------------------
    def host(self, name_or_id: str) -> SimHost | None:
        return next((h for h in self.hosts if name_or_id in (h.hostname, h.host_id)), None)

    def service(self, name: str) -> SimService | None:
        return next((s for s in self.services if s.name == name), None)


def generate(*, workers: int = 4, seed: int = 1, domain: str = "enel.cl") -> SimCluster:
    """Two masters, `workers` workers (12 x 8 TiB data disks each) and one edge node, all services up."""
    cluster = SimCluster(seed=seed)
    roles = [("master", 2), ("worker", workers), ("edge", 1)]
    index = 0
    for role, count in roles:
        for n in range(1, count + 1):
            index += 1
            host_id = hashlib.sha256(f"{seed}|{role}|{n}".encode()).hexdigest()[:8]
            host_id = f"{host_id}-{index:04d}-cm-host"
            cluster.hosts.append(
                SimHost(
                    host_id=host_id,
                    hostname=f"cdp-{role}-{n:02d}.{domain}",
                    ip=f"10.40.{1 if role == 'master' else 2 if role == 'worker' else 3}.{10 + n}",
                    rack="/default",
                    role=role,
                    cores=32 if role == "worker" else 16,
                    memory_bytes=(256 if role == "worker" else 128) * GIB,
                )
            )
    cluster.services = [SimService(name, kind, display) for name, kind, display in SERVICES]
    cluster.hdfs_capacity_bytes = workers * 12 * 8 * TIB
    return cluster
