"""Child processes of a local stack: each in its own process group with its output in a log file, all
stopped (SIGTERM, then SIGKILL of the whole group) whatever happened; and waiting for a condition with
the evidence (last value, log tails) when it is not met."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

T = TypeVar("T")


class StackError(RuntimeError):
    """A process did not start, or a condition was not met in time. Carries the evidence."""


def find_binary(*names: str) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_taken(port: int, host: str = "127.0.0.1") -> bool:
    """True when something listens on host:port (binding fails); TIME_WAIT leftovers do not count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def smmc_command() -> list[str]:
    """The `smmc` console script of this interpreter's environment (or `python -m smmc.cli`)."""
    script = Path(sys.executable).with_name("smmc")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "smmc.cli"]


@dataclass
class Process:
    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes]

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL after `timeout`."""
        self.terminate()
        self.wait_stopped(time.monotonic() + timeout)

    def terminate(self) -> None:
        """SIGTERM to the whole group (nothing when the leader has exited)."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGTERM)

    def wait_stopped(self, deadline: float) -> None:
        """Wait for the leader until `deadline` (monotonic), then SIGKILL the group."""
        try:
            self.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10.0)
        self._reap_group()

    def _reap_group(self) -> None:
        # children of the leader (uvicorn workers, ...) may outlive it: the group id is the leader's pid
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, SIGKILL it when its parent dies without stopping it (a
    SIGKILLed `smmc stack up` or test runner runs no cleanup)."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class ProcessGroup:
    """Every process a stack started; `close()` stops them all in reverse order."""

    workdir: Path
    processes: list[Process] = field(default_factory=list)

    def spawn(
        self,
        name: str,
        argv: list[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Process:
        log_path = self.workdir / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        with open(log_path, "ab") as log:
            log.write(f"$ {' '.join(argv)}\n".encode())
            log.flush()
            popen = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=full_env,
                cwd=str(cwd or self.workdir),
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        process = Process(name, argv, log_path, popen)
        self.processes.append(process)
        return process

    def get(self, name: str) -> Process:
        for process in self.processes:
            if process.name == name:
                return process
        raise KeyError(name)

    def dead(self) -> list[Process]:
        """Processes that exited with a failure (a one-shot that exited 0 is not dead)."""
        return [p for p in self.processes if not p.alive and p.popen.returncode not in (0, None)]

    def logs(self, lines: int = 25) -> str:
        parts = []
        for process in self.processes:
            state = "running" if process.alive else f"exited {process.popen.returncode}"
            parts.append(f"--- {process.name} ({state}): {process.log_path}\n{process.tail(lines)}")
        return "\n".join(parts)

    def close(self, timeout: float = 10.0) -> None:
        """SIGTERM to every group at once (newest first), then wait for them all; a group still there
        after `timeout` is SIGKILLed. The stop takes as long as the slowest process, not their sum."""
        errors = []
        for process in reversed(self.processes):
            process.terminate()
        deadline = time.monotonic() + timeout
        for process in reversed(self.processes):
            try:
                process.wait_stopped(deadline)
            except Exception as exc:  # keep stopping the others
                errors.append(f"{process.name}: {exc}")
        if errors:
            raise StackError("could not stop: " + "; ".join(errors))


def wait_for(
    check: Callable[[], T | None],
    timeout: float,
    what: str,
    interval: float = 0.5,
    processes: ProcessGroup | None = None,
) -> T:
    """Call `check` until it returns a truthy value; fail after `timeout` with the last value or error."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = check()
            if value:
                return value
            last = value
        except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
            last = exc
        if processes is not None:
            dead = processes.dead()
            if dead:
                raise StackError(
                    f"while waiting for {what}: {', '.join(p.name for p in dead)} died\n{processes.logs()}"
                )
        if time.monotonic() >= deadline:
            logs = f"\n{processes.logs()}" if processes is not None else ""
            raise StackError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}{logs}")
        time.sleep(interval)


def wait_http_ok(
    url: str, timeout: float, processes: ProcessGroup | None = None, what: str | None = None
) -> None:
    def ok() -> bool:
        return httpx.get(url, timeout=2.0).status_code == 200

    wait_for(ok, timeout, what or f"{url} to answer 200", interval=0.2, processes=processes)
