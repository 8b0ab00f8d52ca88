"""`company-activity services up | down | status | env`: Azurite (and the usage-API simulator) in the background.

`up` starts the services as detached processes with their data on disk (Azurite `--location`), so bronze,
CRM snapshots and queues survive between commands and across `down`/`up`. It records what it started in
`<state dir>/services.json` (pids, ports, command lines); `down` stops exactly those processes (after
checking each pid still runs the command it started, so a reused pid is never killed) and keeps the data.
The environment to export is built from the recorded ports: `exports(state)`.

Written on top of `services/processes.py` (spawn, wait for the port) rather than with a process supervisor:
the need is two processes, a pid file and a port check.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from company_activity_local.services.azurite import azurite_argv, connection_string
from company_activity_local.services.processes import (
    LOOPBACK,
    ServiceError,
    free_port,
    port_in_use,
    wait_until_answering,
)
from company_activity_local.services.simulator import DEFAULT_API_KEY

STATE_FILE = "services.json"
# Azurite's own defaults (what `UseDevelopmentStorage=true` points at) and the simulator's documented port.
STANDARD_PORTS = {"blob": 10000, "queue": 10001, "table": 10002, "api": 8080}
PORT_ROLES = {"blob": "Azurite blob", "queue": "Azurite queue", "table": "Azurite table", "api": "usage-API simulator"}


@dataclass(frozen=True)
class Started:
    """One background process that `up` started."""

    name: str
    pid: int
    argv: list[str]
    ports: list[int]
    log: str


@dataclass(frozen=True)
class ServicesState:
    ports: dict[str, int]
    processes: list[Started]
    data_dir: str
    api_companies: int | None = None
    api_seed: int | None = None

    @property
    def connection_string(self) -> str:
        return connection_string(self.ports["blob"], self.ports["queue"])

    @property
    def api_url(self) -> str | None:
        return f"http://{LOOPBACK}:{self.ports['api']}" if "api" in self.ports else None


def exports(state: ServicesState) -> list[str]:
    """`export NAME=value` lines for every setting the CLI reads that points at these services.

    The connection string holds Azurite's documented development key, which is public.
    """
    conn = shlex.quote(state.connection_string)
    lines = [f"export STORAGE_CONNECTION_STRING={conn}", f"export LOCAL_BLOB_CONNECTION_STRING={conn}"]
    if state.api_url:
        lines += [f"export USAGE_API_BASE_URL={state.api_url}", f"export USAGE_API_KEY={DEFAULT_API_KEY}"]
    return lines


def read_state(state_dir: Path) -> ServicesState | None:
    path = state_dir / STATE_FILE
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    return ServicesState(ports=raw["ports"], processes=[Started(**p) for p in raw["processes"]],
                         data_dir=raw["data_dir"], api_companies=raw.get("api_companies"), api_seed=raw.get("api_seed"))


def is_running(process: Started) -> bool:
    """The pid is alive and still runs the command we started (not a reused pid)."""
    try:
        raw = Path(f"/proc/{process.pid}/cmdline").read_bytes()
    except OSError:
        return False
    # An interpreter (node for Azurite's script) may come first; the arguments we passed end the command line.
    parts = [p.decode(errors="replace") for p in raw.split(b"\0") if p]
    tail = process.argv[1:]
    return bool(parts) and parts[-len(tail):] == tail


def choose_ports(*, free: bool, simulator: bool) -> dict[str, int]:
    roles = [r for r in STANDARD_PORTS if simulator or r != "api"]
    if free:
        return {role: free_port() for role in roles}
    ports = {role: STANDARD_PORTS[role] for role in roles}
    for role, port in ports.items():
        if port_in_use(port):
            raise ServiceError(f"port {port} ({PORT_ROLES[role]}) is already in use on {LOOPBACK}: stop what listens "
                               "there, or run `company-activity services up --free-ports`")
    return ports


def up(state_dir: Path, *, simulator: bool = False, free_ports: bool = False, companies: int = 1000,
       seed: int = 0) -> ServicesState:
    """Start Azurite (and the simulator) in the background; ServiceError when already up or a port is taken."""
    previous = read_state(state_dir)
    if previous is not None:
        running = [p for p in previous.processes if is_running(p)]
        if running:
            listing = ", ".join(f"{p.name} (pid {p.pid})" for p in running)
            raise ServiceError(f"services are already up from {state_dir}: {listing}; "
                               "`company-activity services down` first")
    ports = choose_ports(free=free_ports, simulator=simulator)
    data_dir = state_dir / "azurite"
    data_dir.mkdir(parents=True, exist_ok=True)
    started: list[Started] = []
    try:
        argv = azurite_argv(ports["blob"], ports["queue"], ports["table"], data_dir.resolve())
        started.append(_spawn("azurite", argv, [ports["blob"], ports["queue"]], state_dir))
        if simulator:
            argv = [sys.executable, "-c", "import sys; from company_activity_local.cli import main; sys.exit(main())",
                    "simulate-api", "--port", str(ports["api"]), "--companies", str(companies), "--seed", str(seed)]
            # The key the exports print; never on the command line (another user could read it there).
            env = {**os.environ, "USAGE_API_KEY": DEFAULT_API_KEY}
            started.append(_spawn("usage-API simulator", argv, [ports["api"]], state_dir, env))
    except BaseException:  # a port taken, a process that died, Ctrl-C: leave nothing running unrecorded
        for process in started:
            stop(process)
        raise
    state = ServicesState(ports, started, str(data_dir), companies if simulator else None,
                          seed if simulator else None)
    (state_dir / STATE_FILE).write_text(json.dumps(asdict(state), indent=2) + "\n")
    return state


def down(state_dir: Path) -> list[Started]:
    """Stop what `up` recorded in state_dir and forget it (the data stays); ServiceError when nothing is up."""
    state = read_state(state_dir)
    if state is None:
        raise ServiceError(f"no services are up from {state_dir} (no {STATE_FILE} there)")
    stopped = [p for p in state.processes if stop(p)]
    (state_dir / STATE_FILE).unlink()
    return stopped


def stop(process: Started, grace_s: float = 5.0) -> bool:
    """SIGTERM, then SIGKILL after grace_s; False when it was not running (any more)."""
    if not is_running(process):
        return False
    os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not is_running(process):
            return True
        time.sleep(0.05)
    # Still running after the grace period (Azurite flushes its data before it closes): nothing is lost.
    os.kill(process.pid, signal.SIGKILL)
    return True


def _spawn(name: str, argv: list[str], ports: list[int], state_dir: Path,
           env: dict[str, str] | None = None) -> Started:
    log_path = state_dir / f"{name.split()[0].lower().replace('-', '_')}.log"
    with log_path.open("ab") as log:
        # A new session: the service outlives this command and a Ctrl-C in the shell that started it.
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=state_dir, env=env, start_new_session=True)
    process = Started(name, proc.pid, argv, ports, str(log_path))
    try:
        wait_until_answering(proc, name, ports, 60.0, lambda: log_path.read_text(errors="replace")[-4000:])
    except ServiceError:
        stop(process)
        raise
    return process
