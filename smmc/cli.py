"""The `smmc` command: one entry point that dispatches to the command modules.

Each command lives in its own module with a `main(argv: list[str]) -> int` function; modules are
imported only when their command runs, so `smmc decode` does not pay for pandas or FastAPI.
"""

from __future__ import annotations

import importlib
import os
import sys

# (words on the command line, module, one-line help). Longest match wins.
COMMANDS: list[tuple[tuple[str, ...], str, str]] = [
    (("decode",), "smmc.decode.cli", "decode a meter status word, a CSW, an event code or a WO error"),
    (("exporter", "smmeplus"), "exporters.smmeplus.cli", "SMMePlus daily-file exporter (port 9810)"),
    (("exporter", "opengate"), "exporters.opengate.cli", "OpenGate North API exporter (port 9811)"),
    (("exporter", "cloudera"), "exporters.cloudera.cli", "Cloudera job-report exporter (port 9812)"),
    (("simulate",), "simulator.cli", "simulated utility: source files, fakes and scenarios"),
    (("fake",), "simulator.fakes_cli", "run a fake OpenGate, JIRA, SMMePlus or Cloudera Manager API server"),
    (("receiver",), "receiver.cli", "alert -> action webhook receiver (port 9820)"),
    (("rules",), "smmc.rules.cli", "generate, check and test the Prometheus rules and Alertmanager config"),
    (("dashboards",), "smmc.dashboards.cli", "generate and check the Grafana Control Room dashboards"),
    (("k8s",), "smmc.k8s.cli", "generate, check and validate the Kubernetes / prometheus-operator manifests"),
    (("stack",), "smmc.stack.cli", "the whole stack as local processes, no Docker (up, status, scenario)"),
]


def _usage(prefix: tuple[str, ...] = ()) -> str:
    """The commands (those under `prefix`, e.g. `smmc exporter`), one a line."""
    head = " ".join(("smmc", *prefix))
    lines = [f"usage: {head} <command> [options]", "", "commands:"]
    for words, _module, help_text in COMMANDS:
        if words[: len(prefix)] == prefix:
            lines.append(f"  {' '.join(words):<20} {help_text}")
    lines.append("")
    lines.append("`smmc <command> --help` shows a command's options; every option also comes from an")
    lines.append("environment variable, named in that help.")
    return "\n".join(lines)


def _group(args: list[str]) -> tuple[str, ...]:
    """The leading words of `args` that start a longer command (`exporter` of `exporter opengate`)."""
    prefix: tuple[str, ...] = ()
    for word in args:
        candidate = (*prefix, word)
        if not any(w[: len(candidate)] == candidate and len(w) > len(candidate) for w, _m, _h in COMMANDS):
            break
        prefix = candidate
    return prefix


def _run(module_name: str, argv: list[str], prog: str) -> int:
    module = importlib.import_module(module_name)
    try:
        return int(module.main(argv) or 0)
    except OSError as exc:
        # a path or a system resource the command could not use: one line, not a traceback
        if os.environ.get("SMMC_DEBUG"):
            raise
        where = f" {exc.filename}" if exc.filename else ""
        print(f"{prog}: {exc.strerror or exc}{':' if where else ''}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    if not args:
        print(_usage(), file=sys.stderr)
        return 2
    for words, module_name, _help in sorted(COMMANDS, key=lambda c: -len(c[0])):
        if tuple(args[: len(words)]) == words:
            return _run(module_name, args[len(words) :], " ".join(("smmc", *words)))
    prefix = _group(args)
    if prefix:
        rest = args[len(prefix) :]
        group = " ".join(("smmc", *prefix))
        if rest and rest[0] in {"-h", "--help", "help"}:
            print(_usage(prefix))
            return 0
        if not rest:
            print(f"{group} needs a command\n\n{_usage(prefix)}", file=sys.stderr)
            return 2
        print(f"smmc: unknown command {' '.join((*prefix, rest[0]))!r} (see {group} --help)", file=sys.stderr)
        return 2
    print(f"smmc: unknown command {args[0]!r} (see smmc --help)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
