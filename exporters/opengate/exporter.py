"""One poll cycle of the OpenGate exporter: three searches in parallel, fold, publish.

The devices, the SIMs (subscription entities) and the alarms are fetched concurrently (bounded by the
worker count); the fleet part of the exposition is replaced only when all three succeed, so between
failures Prometheus keeps reading the last good data, with `opengate_last_success_timestamp_seconds`
telling its age, while `opengate_up` drops to 0.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any

from exporters.core.exposition import Exposition
from exporters.core.poller import FetchError, PollingSource
from exporters.opengate.config import Datastreams
from exporters.opengate.fold import FleetState, fold
from exporters.opengate.metrics import data_families, health_families
from exporters.opengate.read import NorthClient

DATA_PART = "opengate_1_fleet"
HEALTH_PART = "opengate_0_health"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# envelope members read per datastream; every other datastream needs only its value
_MEMBERS = {"unified_presence": ("value", "date", "source"), "sent_bytes": ("value", "date"),
            "received_bytes": ("value", "date")}  # fmt: skip


def _select(ids: dict[str, str], keys: list[str]) -> list[dict[str, Any]]:
    return [{"name": ids[k], "fields": [{"field": f} for f in _MEMBERS.get(k, ("value",))]} for k in keys]


class OpenGateExporter(PollingSource):
    def __init__(
        self,
        client: NorthClient,
        organization: str,
        datastreams: Datastreams,
        exposition: Exposition,
        *,
        workers: int = 3,
        clock: Any = time.time,
        cycle_deadline: float | None = None,
    ) -> None:
        super().__init__(exposition, HEALTH_PART, health_families)
        self.client = client
        # seconds a whole poll cycle may take (None: unbounded); past it the cycle fails with "deadline"
        self.cycle_deadline = cycle_deadline
        self.organization = organization
        self.ds = datastreams
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="opengate-search")
        self._clock = clock
        self.last_state: FleetState | None = None
        if client.on_response is None:
            client.on_response = self.count_response

    # --- queries -------------------------------------------------------------------------------------
    def _entities_query(self, ids: dict[str, str], keys: list[str]) -> dict[str, Any]:
        """The organisation's entities of one resource type, with the datastreams `keys` name."""
        organization = {"eq": {ids["organization"]: self.organization}}
        return {
            "filter": {"and": [organization, {"eq": {"resourceType": ids["resource_type"]}}]},
            "select": _select(ids, keys),
        }

    def devices_query(self) -> dict[str, Any]:
        d = self.ds.devices
        return self._entities_query(d, [k for k in d if k not in ("resource_type", "organization")])

    def sims_query(self) -> dict[str, Any]:
        return self._entities_query(self.ds.sims, ["identifier", "admin_state"])

    def alarms_query(self, now: float) -> dict[str, Any]:
        since = _iso(now - self.ds.closed_alarms_within)
        return {
            "filter": {
                "and": [
                    {"eq": {"alarm.organization": self.organization}},
                    {"or": [{"neq": {"alarm.status": "CLOSED"}}, {"gte": {"alarm.closureDate": since}}]},
                ]
            },
            "sort": {"parameters": [{"name": "alarm.openingDate", "type": "DESCENDING"}]},
        }

    # --- the cycle -----------------------------------------------------------------------------------
    def poll(self) -> None:
        with self.poll_cycle() as started:
            deadline = None if self.cycle_deadline is None else started + self.cycle_deadline
            state = self._search_fleet(deadline)
            self.exposition.publish(DATA_PART, data_families(state, self.ds.billable_states))
        self.last_state = state
        self.poll_succeeded(self._clock())

    def _search_fleet(self, deadline: float | None) -> FleetState:
        """The three searches, in parallel, folded into the fleet's state."""
        futures = []
        try:
            search = self.client.search
            futures = [
                self._pool.submit(
                    search, "entities", self.devices_query(), name="devices", deadline=deadline
                ),
                self._pool.submit(search, "entities", self.sims_query(), name="sims", deadline=deadline),
                self._pool.submit(
                    search, "alarms", self.alarms_query(self._clock()), name="alarms", deadline=deadline
                ),
            ]
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic()) + 1.0
            _done, late = wait(futures, timeout=remaining)
            if late:  # a search stuck where its own checks cannot see (e.g. headers one byte at a time)
                raise FetchError("deadline", f"the poll cycle took longer than {self.cycle_deadline:.0f}s")
            devices, sims, alarms = (f.result() for f in futures)
            return fold(devices, sims, alarms, self.ds)
        except Exception:
            # Every search of the cycle ends (each bounded by its timeout and retries) before the cycle does:
            # the failed cycle's health counts all its responses, whichever search failed first and however
            # busy the pool was (cancelling the ones not yet started made that count depend on scheduling),
            # and none overlaps the next cycle.
            wait(futures, timeout=None if deadline is None else self.client.timeout + 1.0)
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()
