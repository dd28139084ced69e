"""Fixtures of the end-to-end tests: one whole stack per session, closed (every process group stopped)
whatever happens. Its logs stay in the session's temporary directory; a failure prints their tails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .harness import alertmanager_binary, prometheus_binary
from .stack import Stack, start_stack

# The late critical Cloudera job must be in the first report the exporter reads: a job that has
# already succeeded today cannot become late again the same day (see simulator/utility.py).
FIRST_DAY_SCENARIOS = ("cloudera-critical-job-late",)


def started_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A whole stack whose first day has FIRST_DAY_SCENARIOS on, closed whatever happens."""
    missing = [
        name
        for name, found in (("prometheus", prometheus_binary()), ("alertmanager", alertmanager_binary()))
        if found is None
    ]
    if missing:
        pytest.fail(
            f"the end-to-end tests need {', '.join(missing)} on PATH "
            "(Debian: apt-get install prometheus prometheus-alertmanager; .ci/run installs them)"
        )
    workdir = tmp_path_factory.mktemp("e2e-stack")
    running = start_stack(workdir, first_day=FIRST_DAY_SCENARIOS)
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from started_stack(tmp_path_factory)
