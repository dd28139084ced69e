"""The fault switch of a fake API: what the next requests get instead of an answer (tests and demos).

`PUT /_fake/fault {"mode": ..., "count": N|null, "retry_after": s, "delay": s, "path_contains": "..."}`
sets it; `take(path)` hands the fault to one request (counting `count` down, then clearing it).
"""

from __future__ import annotations

import threading
from typing import Any

MODES = ("none", "unauthorized", "forbidden", "rate_limit", "server_error", "slow", "malformed")


class FaultError(ValueError):
    pass


class FaultSwitch:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fault: dict[str, Any] = {"mode": "none"}

    def set(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("mode") not in MODES:
            raise FaultError(f"mode must be one of {', '.join(MODES)}")
        try:
            fault = {
                "mode": body["mode"],
                "count": None if body.get("count") is None else int(body["count"]),
                "retry_after": int(body.get("retry_after", 1)),
                "delay": float(body.get("delay", 5.0)),
                "path_contains": body.get("path_contains"),
            }
        except (TypeError, ValueError) as exc:
            raise FaultError(f"bad fault: {exc}") from exc
        with self.lock:
            self.fault = fault
        return dict(fault)

    def clear(self) -> dict[str, Any]:
        with self.lock:
            self.fault = {"mode": "none"}
        return dict(self.fault)

    def take(self, path: str) -> dict[str, Any] | None:
        with self.lock:
            fault = self.fault
            if fault.get("mode", "none") == "none":
                return None
            if fault.get("path_contains") and fault["path_contains"] not in path:
                return None
            if fault.get("count") is not None:
                if fault["count"] <= 0:
                    self.fault = {"mode": "none"}
                    return None
                fault["count"] -= 1
            return dict(fault)
