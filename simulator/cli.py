"""`smmc simulate WHAT ...`: the simulated utility and its parts.

Each part lives in its own module with a `main(argv) -> int` whose options `part_parser` starts.
"""

from __future__ import annotations

import importlib
import sys

from smmc.options import OptionParser

PARTS = {
    "smmeplus": ("simulator.smmeplus", "one day of SMMePlus files and the inventory"),
    "opengate": ("simulator.opengate_fleet", "an OpenGate fleet (modems, SIMs, alarms) as JSON"),
    "cloudera": ("simulator.cloudera", "a Cloudera job status report"),
    "utility": ("simulator.utility", "the whole coherent utility, scenarios, and the demo loop"),
}


def part_parser(name: str, description: str) -> OptionParser:
    """The parser of `smmc simulate NAME`: each option also read from $SMMC_SIM_NAME_<OPTION>."""
    return OptionParser(
        prog=f"smmc simulate {name}", env_prefix=f"SMMC_SIM_{name.upper()}_", description=description
    )


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
