"""`smmc fake NAME ...`: run one fake API server (opengate, jira, smmeplus, cloudera).

Each fake lives in `simulator.fake_<name>` and has its own `main(argv) -> int`.
"""

from __future__ import annotations

import importlib
import sys

FAKES = {
    "opengate": "OpenGate North API (default port 9830)",
    "jira": "JIRA REST API (default port 9831)",
    "smmeplus": "SMMePlus integration endpoint for remote commands (default port 9832)",
    "cloudera": "Cloudera Manager REST API: clusters, services, hosts, time series (default port 9833)",
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in FAKES:
        stream = sys.stdout if argv and argv[0] in {"-h", "--help"} else sys.stderr
        print("usage: smmc fake {" + ",".join(FAKES) + "} [options]", file=stream)
        for name, text in FAKES.items():
            print(f"  {name:<10} {text}", file=stream)
        return 0 if stream is sys.stdout else 2
    module = importlib.import_module(f"simulator.fake_{argv[0]}")
    return int(module.main(argv[1:]) or 0)
