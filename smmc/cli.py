"""The `smmc` command: one entry point that dispatches to the command modules.

Each command lives in its own module with a `main(argv: list[str]) -> int` function; modules are
imported only when their command runs, so `smmc decode` does not pay for pandas or FastAPI.
"""

from __future__ import annotations

import importlib
import sys

# (words on the command line, module, one-line help). Longest match wins.
COMMANDS: list[tuple[tuple[str, ...], str, str]] = [
    (("decode",), "smmc.decode.cli", "decode a meter status word, a CSW, an event code or a WO error"),
    (("exporter", "smmeplus"), "exporters.smmeplus.cli", "SMMePlus daily-file exporter (port 9810)"),
    (("exporter", "opengate"), "exporters.opengate.cli", "OpenGate North API exporter (port 9811)"),
    (("exporter", "cloudera"), "exporters.cloudera.cli", "Cloudera job-report exporter (port 9812)"),
    (("simulate",), "simulator.cli", "simulated utility: source files, fakes and scenarios"),
    (("fake",), "simulator.fakes_cli", "run a fake OpenGate, JIRA or SMMePlus API server"),
    (("receiver",), "receiver.cli", "alert -> action webhook receiver (port 9820)"),
    (("rules",), "smmc.rules.cli", "generate, check and test the Prometheus rules and Alertmanager config"),
    (("dashboards",), "smmc.dashboards.cli", "generate and check the Grafana Control Room dashboards"),
    (("k8s",), "smmc.k8s.cli", "generate, check and validate the Kubernetes / prometheus-operator manifests"),
    (("stack",), "smmc.stack.cli", "the whole stack as local processes, no Docker (up, status, scenario)"),
]


def _usage() -> str:
    lines = ["usage: smmc <command> [options]", "", "commands:"]
    for words, _module, help_text in COMMANDS:
        lines.append(f"  {' '.join(words):<20} {help_text}")
    lines.append("")
    lines.append("`smmc <command> --help` shows a command's options.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    for words, module_name, _help in sorted(COMMANDS, key=lambda c: -len(c[0])):
        if tuple(args[: len(words)]) == words:
            module = importlib.import_module(module_name)
            return int(module.main(args[len(words) :]) or 0)
    print(f"smmc: unknown command {' '.join(args[:2])!r}\n\n{_usage()}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
