"""`company-activity simulate-api`: the local usage-API simulator in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import threading
from types import FrameType

from company_activity_local.cli.errors import UsageError
from company_activity_local.cli.flags import RemovedSecretFlag
from company_activity_local.cli.journal import Journal
from company_activity_local.services.processes import LOOPBACK
from company_activity_local.services.simulator import (
    API_PATH,
    DEFAULT_API_KEY,
    FAULT_SPEC_HELP,
    SimulatorConfig,
    UsageApiSimulator,
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `simulate-api`."""
    parser = sub.add_parser(
        "simulate-api",
        help="serve the product usage API locally (deterministic data, injectable faults)",
        description="Serve GET /v1/usage/daily on a loopback port with deterministic data for N companies. "
        "Runs until Ctrl-C or SIGTERM. See docs/usage-api.md.",
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 (default) picks a free one, printed")
    parser.add_argument("--host", default=LOOPBACK, help=f"loopback address to bind (default {LOOPBACK})")
    parser.add_argument("--companies", type=int, default=1000, help="companies in the data set (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the deterministic data (default 0)")
    parser.add_argument("--api-key", action=RemovedSecretFlag,
                        instead="set USAGE_API_KEY to the key the simulator expects (default "
                                f"{DEFAULT_API_KEY!r}, the public development key)")
    parser.add_argument("--faults", default="", help=FAULT_SPEC_HELP)
    parser.set_defaults(handler=simulate_api)


def simulate_api(args: argparse.Namespace, journal: Journal) -> None:
    api_key = os.environ.get("USAGE_API_KEY", "").strip() or DEFAULT_API_KEY
    config = SimulatorConfig.parse(
        companies=args.companies, seed=args.seed, api_key=api_key, faults=args.faults,
        host=args.host, port=args.port,
    )
    try:
        simulator = UsageApiSimulator(config).start()
    except OSError as exc:  # e.g. the port is taken: say which one
        reason = exc.strerror or str(exc)
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {reason}"
                         + (" (another process uses it; pick another --port, or 0 for a free one)"
                            if exc.errno == errno.EADDRINUSE else "")) from None

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    # The default key is public (documented); a configured one is never printed.
    key_note = DEFAULT_API_KEY if api_key == DEFAULT_API_KEY else "<as configured>"
    print(
        f"usage API simulator on {simulator.base_url}{API_PATH} "
        f"(companies={config.companies}, seed={config.seed}, X-API-Key: {key_note}"
        f"{', faults: ' + args.faults if args.faults else ''}); Ctrl-C stops it",
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        simulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"usage API simulator stopped after {simulator.requests} request(s)", flush=True)
