"""Wiring: config + store -> adapters, worker, metrics and the FastAPI app (used by the CLI and tests)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from receiver.adapters import HttpTarget, JiraClient, NotifyAdapter, SmmeplusAdapter, TicketAdapter
from receiver.app import DEFAULT_MAX_BODY, create_app
from receiver.config import TICKET_TYPES, Config
from receiver.metrics import ReceiverMetrics
from receiver.payload import DEFAULT_MAX_ALERTS
from receiver.store import Store
from receiver.worker import Adapter, OutboxWorker
from receiver.writer import IntakeWriter


@dataclass
class Receiver:
    app: FastAPI
    worker: OutboxWorker
    metrics: ReceiverMetrics
    store: Store
    writer: IntakeWriter


def build_adapters(config: Config, transport: httpx.BaseTransport | None = None) -> dict[str, Adapter]:
    adapters: dict[str, Adapter] = {}
    if "jira" in config.targets:
        tickets = TicketAdapter(config, JiraClient(config.targets["jira"], transport))
        for name in TICKET_TYPES:
            adapters[name] = tickets
    if "smmeplus" in config.targets:
        adapters["smmeplus_command"] = SmmeplusAdapter(HttpTarget(config.targets["smmeplus"], transport))
    forward = next((r.forward_url for r in config.receivers.values() if r.kind == "notify"), None)
    adapters["notify"] = NotifyAdapter(forward, transport=transport)
    return adapters


def build_receiver(
    config: Config,
    store: Store,
    token: str | None,
    *,
    run_worker: bool = True,
    worker_threads: int = 4,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    transport: httpx.BaseTransport | None = None,
    operators: Mapping[str, str] | None = None,
    max_alerts: int = DEFAULT_MAX_ALERTS,
) -> Receiver:
    metrics = ReceiverMetrics(store, receivers=config.receivers)
    worker = OutboxWorker(config, store, build_adapters(config, transport), metrics, threads=worker_threads)
    writer = IntakeWriter(config, store, metrics, on_commit=worker.wake)
    app = create_app(
        config,
        store,
        token,
        worker=worker,
        writer=writer,
        metrics=metrics,
        max_body_bytes=max_body_bytes,
        run_worker=run_worker,
        operators=operators,
        max_alerts=max_alerts,
    )
    return Receiver(app, worker, metrics, store, writer)
