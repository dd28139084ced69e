"""Shared by the OpenGate tests: a fake North API on a free loopback port, and exposition parsing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from simulator.fake_opengate import create_app
from simulator.serving import ServerThread

API_KEY = "test-key-0f3a"
ORG = "enel_chile"


@contextmanager
def fake_server(fleet: dict[str, Any], **kwargs: Any) -> Iterator[ServerThread]:
    server = ServerThread(create_app(fleet, API_KEY, **kwargs)).start()
    try:
        yield server
    finally:
        server.stop()


def samples(body: bytes | str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """name -> {sorted label items -> value} for every sample of an exposition."""
    text = body.decode() if isinstance(body, bytes) else body
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def by_modem(parsed: dict[str, Any], name: str) -> dict[str, float]:
    return {dict(labels)["modem"]: v for labels, v in parsed.get(name, {}).items()}
