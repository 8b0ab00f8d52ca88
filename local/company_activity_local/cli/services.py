"""`company-activity services up | down | status | env`: local Azurite (and API simulator) that outlive a command.

`up` prints the `export` lines on stdout and everything else on stderr, so `eval "$(company-activity services
up)"` sets the environment of the current shell. See docs/local.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape

from company_activity_local.cli.console import make_console
from company_activity_local.cli.errors import CommandFailed
from company_activity_local.cli.journal import Journal
from company_activity_local.services.background import (
    PORT_ROLES,
    ServicesState,
    down,
    exports,
    is_running,
    read_state,
    up,
)
from company_activity_local.settings import ServicesSettings, out_dir

FREE_PORTS_ENV = "SERVICES_FREE_PORTS"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `services up | down | status | env`."""
    services = sub.add_parser(
        "services", help="start/stop Azurite (and the usage-API simulator) in the background",
        description="Local services that keep running between commands, with their data on disk. "
                    "`up` prints the environment to export: eval \"$(company-activity services up)\".",
    )
    actions = services.add_subparsers(dest="services_command", required=True, metavar="ACTION")
    start = actions.add_parser(
        "up", help="start Azurite (and with --api the simulator); print the export lines",
        description="Start Azurite on 127.0.0.1:10000-10002 (its standard ports, what UseDevelopmentStorage=true "
                    "means) with its data in DIR/azurite, and with --api the usage-API simulator on :8080. Prints "
                    "`export ...` lines on stdout (the Azurite key in them is its public development key).",
    )
    start.add_argument("--api", action="store_true", help="also start the usage-API simulator")
    start.add_argument("--companies", type=int, default=1000, help="companies the simulator serves (default 1000)")
    start.add_argument("--seed", type=int, default=0, help="seed of the simulator's data (default 0)")
    start.add_argument("--free-ports", action="store_true",
                       help=f"pick free ports instead of the standard ones (also when ${FREE_PORTS_ENV}=1)")
    for action in (start, *(actions.add_parser(name, help=text, description=text) for name, text in (
            ("down", "stop what `services up` started (the data in DIR stays)"),
            ("status", "show what runs, on which ports, and the export lines"),
            ("env", "print the export lines of the running services (for another shell)")))):
        action.add_argument("--dir", type=Path,
                            help="state folder: pid file, logs, Azurite's data (default $LOCAL_OUT_DIR/services, "
                                 "out/services)")
    actions.choices["up"].set_defaults(handler=run_up)
    actions.choices["down"].set_defaults(handler=run_down)
    actions.choices["status"].set_defaults(handler=run_status)
    actions.choices["env"].set_defaults(handler=run_env)


def _state_dir(args: argparse.Namespace) -> None:
    """--dir, else the services folder of LOCAL_OUT_DIR (resolved when the command runs, after local.settings.json)."""
    if args.dir is None:
        args.dir = out_dir().services


def run_up(args: argparse.Namespace, journal: Journal) -> None:
    _state_dir(args)
    err = make_console(stderr=True)
    free = args.free_ports or ServicesSettings.from_env().free_ports
    journal.note("the services started so far were stopped: nothing is up; rerunning the same command starts them")
    state = up(args.dir, simulator=args.api, free_ports=free, companies=args.companies, seed=args.seed)
    for process in state.processes:
        ports = ", ".join(str(p) for p in process.ports)
        err.print(f"[green]started[/] {process.name} (pid {process.pid}) on 127.0.0.1:{ports}, log {process.log}")
    err.print(f"data: {state.data_dir} (kept by `services down`). Set the environment with:")
    err.print(f'  eval "$(company-activity services env --dir {args.dir})"')
    print("\n".join(exports(state)), flush=True)


def _running_state(args: argparse.Namespace) -> ServicesState:
    _state_dir(args)
    state = read_state(args.dir)
    if state is None or not any(is_running(p) for p in state.processes):
        raise CommandFailed(f"no services are up from {args.dir}: start them with `company-activity services up`")
    return state


def run_down(args: argparse.Namespace, journal: Journal) -> None:
    _state_dir(args)
    err = make_console(stderr=True)
    stopped = down(args.dir)
    for process in stopped:
        err.print(f"stopped {process.name} (pid {process.pid})")
    if not stopped:
        err.print("nothing was running any more (the pid file is removed)")


def run_status(args: argparse.Namespace, journal: Journal) -> None:
    state = _running_state(args)
    console = make_console()
    for process in state.processes:
        alive = "[green]running[/]" if is_running(process) else "[red]not running[/]"
        console.print(f"{process.name}: {alive} (pid {process.pid}), log {escape(process.log)}")
    for role, port in state.ports.items():
        console.print(f"  {PORT_ROLES[role]}: 127.0.0.1:{port}")
    console.print(f"data: {escape(state.data_dir)}")
    print("\n".join(exports(state)))


def run_env(args: argparse.Namespace, journal: Journal) -> None:
    print("\n".join(exports(_running_state(args))))
