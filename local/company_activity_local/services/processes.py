"""Start and stop local helper processes on free loopback ports.

Written by hand because the only need is "spawn, wait until the port answers, report the captured
output if it died, terminate": a process supervisor library would be more than that.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from company_activity.errors import OperationalError

LOOPBACK = "127.0.0.1"


class ServiceError(OperationalError):
    """A local service did not start; the message carries its output."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    """True when nothing can bind `port` (another server listens there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def port_answers(port: int, host: str = LOOPBACK) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_until_answering(proc: subprocess.Popen[bytes], name: str, ports: Sequence[int], timeout_s: float,
                         output: Callable[[], str]) -> None:
    """Return once every port answers; ServiceError with the process's output if it exits or times out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"{name} exited with code {proc.returncode} before its port answered:\n{output()}")
        if all(port_answers(p) for p in ports):
            return
        time.sleep(0.05)
    raise ServiceError(f"{name} did not answer on {list(ports)} within {timeout_s}s:\n{output()}")


class Process:
    """A child process whose stdout/stderr go to a temp file, shown if it fails to start."""

    def __init__(self, name: str, argv: Sequence[str], ports: Sequence[int], cwd: Path | None = None,
                 env: Mapping[str, str] | None = None):
        self.name = name
        self.argv = list(argv)
        self.ports = list(ports)
        self.cwd = cwd
        self.env = None if env is None else dict(env)
        # Kept open for the life of the child, which writes to it; closed in stop().
        self._log = tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".log", delete=False)  # noqa: SIM115
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> str:
        return self._log.name

    def output(self) -> str:
        return Path(self._log.name).read_text(errors="replace")[-4000:]

    def start(self, timeout_s: float = 30.0) -> None:
        self._proc = subprocess.Popen(
            self.argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.cwd, env=self.env
        )
        try:
            wait_until_answering(self._proc, self.name, self.ports, timeout_s, self.output)
        except ServiceError:
            self.stop()
            raise

    def stop(self, grace_s: float = 3.0) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                # A child that ignores SIGTERM: killing it loses nothing a test or the demo still needs.
                self._proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        self._log.close()
