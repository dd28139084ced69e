"""`smmc stack up|status|scenario`: the whole stack as local processes, for a machine without Docker.

    smmc stack up                         # the simulator, the fakes, the exporters, the receiver,
                                          # Prometheus, Alertmanager (and Grafana when installed)
    smmc stack status                     # which services answer
    smmc stack scenario grid-outage on    # switch a simulator scenario (the next simulated day has it)

`up` runs in the foreground; Ctrl-C (or SIGTERM) stops every process it started. Its state directory
(`--dir`) keeps the secrets, the databases and the logs, and a second `up` reuses it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

import httpx

from smmc.options import OptionParser, fail, positive_int

from . import launcher as ln
from . import services, sources
from .binaries import MissingProgram
from .envfile import EnvFileError, read_env_file
from .processes import StackError, smmc_command

PROG = "smmc stack"
CONTROL_FILE = "scenarios"  # the simulator re-reads DIR/scenarios every day (simulate utility --help)


def default_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "smmc" / "stack"


def _port_pair(text: str) -> tuple[str, int]:
    name, sep, port = text.partition("=")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: want SERVICE=PORT")
    return name.strip(), int(port)


def build_parser() -> OptionParser:
    parser = OptionParser(prog=PROG, description=__doc__, env_prefix="SMMC_STACK_")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{up,status,scenario}")

    def command(
        name: str, summary: str, dir_help: str = "state directory of `up`", **options: str
    ) -> OptionParser:
        """A sub-command with its own prog and the stack's environment prefix; each has --dir."""
        command = sub.add_parser(
            name, prog=f"{PROG} {name}", env_prefix="SMMC_STACK_", help=summary, **options
        )
        command.add_argument("--dir", type=Path, default=default_dir(), help=dir_help)
        return command

    up = command(
        "up",
        "start the whole stack in the foreground (Ctrl-C stops it)",
        dir_help="state directory (reused by the next up)",
        description="Start the whole stack as local processes. Default ports (README, docs/stack.md): "
        + ", ".join(f"{s.name} {s.port}" for s in services.SERVICES),
    )
    up.add_argument(
        "--env-file",
        type=Path,
        help="the compose stack's env file (default: .env of the checkout, when present); "
        "SMMC_SIMULATOR=off there selects the real sources it names",
    )
    up.add_argument("--port-offset", type=int, default=0, help="add N to every default port")
    up.add_argument(
        "--port",
        action="append",
        type=_port_pair,
        default=[],
        metavar="SERVICE=PORT",
        help="one service's port (repeatable; services: " + ", ".join(services.SPECS) + ")",
    )
    up.add_argument(
        "--meters", type=positive_int, env="SMMC_SIM_METERS", default=2000, help="simulated meters"
    )
    up.add_argument("--seed", type=int, env="SMMC_SIM_SEED", default=1, help="simulator seed")
    up.add_argument(
        "--day-seconds",
        type=float,
        env="SMMC_SIM_DAY_SECONDS",
        default=300.0,
        help="a new simulated day every N seconds",
    )
    up.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="demo speed: divide every alert's `for:` by N and scrape every second "
        "(1800: an hour of production time is 2 s); 1 runs the repository's timing",
    )
    up.add_argument("--no-grafana", action="store_true", help="do not start Grafana even when installed")
    up.add_argument("--timeout", type=positive_int, default=120, help="seconds a service may take to come up")

    command(
        "status", "which services answer (a local stack's --dir, else the default ports: the compose stack)"
    )

    scenario = command(
        "scenario",
        "switch a simulator scenario on or off (the next simulated day has it)",
        description="Switch a simulator scenario on or off: the simulator re-reads its control file "
        "every simulated day. For the compose stack: "
        "docker compose exec simulator smmc stack scenario NAME on --data /data",
    )
    scenario.add_argument("name", nargs="?", help="scenario name (--list shows them)")
    scenario.add_argument("state", nargs="?", choices=("on", "off"), help="on or off")
    scenario.add_argument("--data", type=Path, help="the simulator's --out directory (default: DIR/sim)")
    scenario.add_argument("--list", action="store_true", help="list the scenarios and which are on")
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            return _up(args)
        if args.command == "status":
            return _status(args.dir)
        return _scenario(args, parser)
    except (StackError, EnvFileError) as exc:
        return fail(
            f"{PROG} {args.command}",
            str(exc).splitlines()[0] if isinstance(exc, MissingProgram) else str(exc),
            1,
        )


# -- up ------------------------------------------------------------------------------------------------


class _Interrupted(Exception):
    pass


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise _Interrupted(signal.Signals(signum).name)


def _env(args: argparse.Namespace, root: Path) -> dict[str, str]:
    """The env file's variables (the checkout's .env by default), overridden by the process' own."""
    env_file: Path | None = args.env_file
    if env_file is None and (root / ".env").is_file():
        env_file = root / ".env"
    values = read_env_file(env_file) if env_file is not None else {}
    values.update({k: v for k, v in os.environ.items() if k.startswith(("SMMC_", "OPENGATE_", "GRAFANA_"))})
    return values


def _simulator_off(env: Mapping[str, str]) -> bool:
    return env.get("SMMC_SIMULATOR", "on").strip().lower() in ("off", "0", "false", "no")


def _print_table(stack: ln.LocalStack) -> None:
    print("\nwhat opens where:")
    for spec in services.SERVICES:
        if spec.name == "grafana" and stack.grafana_note:
            print(f"  {'grafana':<14} -  {stack.grafana_note}")
            continue
        print(f"  {spec.name:<14} {stack.url(spec.name):<24} {spec.what}; login: {spec.login}")
    print(f"\nstate, logs and secrets: {stack.workdir} (logs/NAME.log)")
    print(
        f"token for the receiver's API: Authorization: Bearer $(cat {stack.secrets['receiver-token'].path})"
    )


def _up(args: argparse.Namespace) -> int:
    from .config import REPO_ROOT

    root = REPO_ROOT
    env = _env(args, root)
    workdir: Path = args.dir
    state = ln.read_state(workdir)
    if state and ln.pid_alive(state.get("pid")) and state.get("pid") != os.getpid():
        return fail(
            f"{PROG} up",
            f"a stack already runs from {workdir} (pid {state['pid']}): stop it, or use another --dir",
            1,
        )
    try:
        overrides = dict(args.port)
        ports = services.plan_ports(args.port_offset, overrides)
    except StackError as exc:
        return fail(f"{PROG} up", str(exc))
    source: sources.Source
    if _simulator_off(env):
        source = sources.RealSources(env)
    else:
        source = sources.SimulatorSource(args.meters, args.seed, args.day_seconds)
    scale = float(args.time_scale)
    timing = ln.Timing() if scale == 1 else ln.Timing.compressed(scale)

    def progress(name: str, text: str) -> None:
        print(f"  {name:<14} {text}", flush=True)

    stack = ln.LocalStack(
        workdir,
        ports,
        source,
        timing=timing,
        root=root,
        env=env,
        grafana=False if args.no_grafana else None,
        start_timeout=float(args.timeout),
        on_progress=progress,
    )
    previous = {s: signal.signal(s, _interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    started = time.monotonic()
    try:
        print(f"{PROG} up: starting in {workdir} ({source.name}; Ctrl-C stops everything)", flush=True)
        stack.start()
        for secret in stack.secrets.values():
            if secret.generated:
                print(f"generated {secret.what} (shown once; kept in {secret.path}): {secret.value}")
        _print_table(stack)
        print(
            f"\n{PROG} up: ready in {time.monotonic() - started:.0f} s; Ctrl-C stops everything", flush=True
        )
        while True:
            time.sleep(1)
            dead = stack.group.dead()
            if dead:
                p = dead[0]
                print(
                    f"{PROG} up: {p.name} exited ({p.popen.returncode}); see {p.log_path}; stopping",
                    file=sys.stderr,
                    flush=True,
                )
                return 1
    except _Interrupted as exc:
        print(f"\n{PROG} up: {exc}: stopping every service", flush=True)
        return 0
    except StackError as exc:
        dead = stack.died or stack.group.dead()
        if dead:
            # the child's own last words (a one-line error, by the commands' convention) and its log
            p = dead[0]
            said = p.tail(1).strip() or "(nothing)"
            print(
                f"{PROG} up: {p.name} exited ({p.popen.returncode}): {said} (log: {p.log_path})",
                file=sys.stderr,
                flush=True,
            )
        else:
            first = str(exc).splitlines()[0]
            where = f" (logs in {workdir / 'logs'})" if len(str(exc).splitlines()) > 1 else ""
            print(f"{PROG} up: {first}{where}", file=sys.stderr, flush=True)
        return 1
    finally:
        # a second signal while stopping must not leave children behind
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        stack.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# -- status --------------------------------------------------------------------------------------------


def _status(workdir: Path) -> int:
    state = ln.read_state(workdir)
    if state and ln.pid_alive(state.get("pid")):
        probes = {name: s["url"] + s["health"] for name, s in state["services"].items()}
        print(f"local stack from {workdir} (pid {state['pid']}):")
    else:
        probes = {s.name: f"http://127.0.0.1:{s.port}{s.health}" for s in services.SERVICES}
        print(f"no local stack running from {workdir}; probing the default ports (the compose stack):")
    down = 0
    for name, url in probes.items():
        try:
            code = httpx.get(url, timeout=2.0).status_code
            answer = "up" if code == 200 else f"answers {code}"
        except httpx.HTTPError as exc:
            answer = f"down ({type(exc).__name__})"
        if answer != "up":
            down += 1
        print(f"  {name:<14} {answer:<24} {url}")
    total = len(probes)
    if state and ln.pid_alive(state.get("pid")):
        # the processes without an HTTP endpoint (the simulator): alive or not
        for name, pid in (state.get("processes") or {}).items():
            if name in probes:
                continue
            total += 1
            alive = ln.pid_alive(pid)
            down += not alive
            print(f"  {name:<14} {'running' if alive else 'exited':<24} pid {pid}")
    print(f"{total - down} of {total} up")
    return 0 if down == 0 else 1


# -- scenario ------------------------------------------------------------------------------------------


def available_scenarios() -> list[str]:
    """The simulator's scenario names, asked from the simulator command (the product does not import it)."""
    result = subprocess.run(
        [*smmc_command(), "simulate", "utility", "--list-scenarios"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise StackError(f"cannot list the scenarios: {result.stderr.strip().splitlines()[-1:]}")
    return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]


def read_control(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [
        line.split("#", 1)[0].strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.split("#", 1)[0].strip()
    ]


def switch_scenario(data: Path, name: str, on: bool) -> list[str]:
    """Add or remove `name` in the simulator's control file (written whole, then renamed)."""
    control = data / CONTROL_FILE
    names = [n for n in read_control(control) if n != name]
    if on:
        names.append(name)
    tmp = data / f".{CONTROL_FILE}.part"
    tmp.write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
    os.replace(tmp, control)
    return names


def _scenario(args: argparse.Namespace, parser: OptionParser) -> int:
    workdir: Path = args.dir
    state = ln.read_state(workdir) or {}
    data: Path | None = args.data or (Path(state["simulator"]) if state.get("simulator") else None)
    if data is None:
        data = workdir / "sim"
    if not data.is_dir():
        return fail(
            f"{PROG} scenario",
            f"{data}: no simulator data here (start `smmc stack up`, or give --data, the simulator's --out)",
        )
    known = available_scenarios()
    active = read_control(data / CONTROL_FILE)
    if args.list:
        for name in known:
            print(f"{name:<38} {'on' if name in active else 'off'}")
        return 0
    name, state_word = args.name, args.state
    if not name or not state_word:
        parser.error("scenario wants NAME on|off (or --list)")
    if name not in known and not Path(name).is_file():
        return fail(f"{PROG} scenario", f"unknown scenario {name!r} (known: {', '.join(known)})")
    names = switch_scenario(data, name, state_word == "on")
    day = state.get("day_seconds")
    when = f"within {day:g} s" if day else "with the next simulated day"
    print(f"{name} {state_word}; the simulator picks it up {when}. Active: {', '.join(names) or 'none'}")
    return 0
