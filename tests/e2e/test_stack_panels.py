"""Every Grafana Control Room panel's query, run against the end-to-end stack's Prometheus (the real
exporters on simulated data, the receiver, the repository's rules), finds data: a panel that shows
nothing on the demo is a broken panel.

The data is there by construction, not by the luck of a day's noise: the test's own day switches every
named scenario on, `concentrator-conditions` among them (one concentrator in every status-word condition
the catalog can raise, so each condition and each priority the Concentrators dashboard shows has one).
The day is pinned like every simulated day of the tests (the stack's calendar)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from simulator.scenarios import available
from smmc.dashboards import panel_queries

from .conftest import started_stack
from .stack import Stack

pytestmark = pytest.mark.e2e

QUERIES = panel_queries()
# rates and increases need two samples of a counter; everything else is there at the first scrape
DEADLINE_SECONDS = 60


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of its own: on the session's shared stack the scenario tests may already have cleared the
    late critical Cloudera job of the first day, and a job that succeeded today cannot be late again the
    same day, which left the failing-jobs panel empty whenever both files ran on one worker."""
    yield from started_stack(tmp_path_factory)


@pytest.fixture(scope="module")
def showcase(stack: Stack) -> object:
    record = stack.emit_day(available())
    assert "concentrator-conditions" in record.scenarios
    return record


def test_every_panel_query_has_data(stack: Stack, showcase: object) -> None:
    assert QUERIES, "smmc.dashboards.panel_queries() returned no query"
    prometheus = stack.prometheus
    assert prometheus is not None
    waiting = list(QUERIES)
    errors: dict[str, str] = {}
    deadline = time.monotonic() + DEADLINE_SECONDS
    while waiting and time.monotonic() < deadline:
        still = []
        for uid, title, expr in waiting:
            try:
                if not prometheus.query(expr):
                    still.append((uid, title, expr))
            except Exception as exc:  # a query Prometheus rejects is reported with its error
                errors[f"{uid} / {title}"] = f"{expr}: {exc}"
        waiting = still
        if waiting:
            time.sleep(2)
    assert not errors, "panel queries Prometheus rejects:\n" + "\n".join(
        f"{k}: {v}" for k, v in errors.items()
    )
    assert not waiting, f"{len(waiting)} of {len(QUERIES)} panel queries without data:\n" + "\n".join(
        f"{uid} / {title}: {expr}" for uid, title, expr in waiting
    )
