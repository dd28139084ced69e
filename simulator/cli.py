"""`smmc simulate WHAT ...`: the simulated utility and its parts.

Each part lives in its own module with a `main(argv) -> int`.
"""

from __future__ import annotations

import importlib
import sys

PARTS = {
    "smmeplus": ("simulator.smmeplus", "one day of SMMePlus files and the inventory"),
    "opengate": ("simulator.opengate_fleet", "an OpenGate fleet (modems, SIMs, alarms) as JSON"),
    "cloudera": ("simulator.cloudera", "a Cloudera job status report"),
    "utility": ("simulator.utility", "the whole coherent utility, scenarios, and the demo loop"),
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in PARTS:
        ok = bool(argv) and argv[0] in {"-h", "--help"}
        stream = sys.stdout if ok else sys.stderr
        print("usage: smmc simulate {" + ",".join(PARTS) + "} [options]", file=stream)
        for name, (_module, text) in PARTS.items():
            print(f"  {name:<10} {text}", file=stream)
        return 0 if ok else 2
    module = importlib.import_module(PARTS[argv[0]][0])
    return int(module.main(argv[1:]) or 0)
