"""`company-activity`: one console script, one subcommand module per stage of the data flow.

Each module's `register(sub)` adds its subcommands and sets `handler`, a function `(args, journal) -> None`
that raises when the command fails (cli/errors.py says how each error ends). `main` is the one place that
prints an error, picks the exit code and handles Ctrl-C.

The modules are imported on demand: all eleven together pull in the Azure SDK, DuckDB, sqlglot and rich
(about 0.5 s of CPU), and a command needs only its own. `COMMANDS` says which module registers which
top-level command; tests/local/cli/test_lazy_commands.py holds it to what the modules register.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import NoReturn

from company_activity.settings import apply_local_settings
from company_activity_local.cli.errors import PROG, ExitCode, UsageError, error_line, exit_code
from company_activity_local.cli.journal import Journal

log = logging.getLogger("company_activity_local.cli")
Handler = Callable[[argparse.Namespace, Journal], None]


class Parser(argparse.ArgumentParser):
    """argparse's complaints (unknown flag, missing value) become a UsageError, reported like any other."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


# Top-level command -> the module under cli/ whose `register` adds it; modules in the order `--help` lists them.
COMMANDS: dict[str, str] = {
    "simulate-api": "simulator",
    "ingest": "ingest", "backfill": "ingest", "ingestions": "ingest",
    "sql": "warehouse",
    "transform": "transform",
    "pipeline": "pipeline",
    "demo": "demo",
    "dashboard": "dashboard",
    "services": "services",
    "bronze": "bronze",
    "crm": "crm",
    "show": "show",
}
MODULES = tuple(dict.fromkeys(COMMANDS.values()))


def command_of(argv: Sequence[str]) -> str | None:
    """The command `argv` names, or None when it names none, or asks for the top-level help before it."""
    for arg in argv:
        if arg in ("-h", "--help"):
            return None
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for `command` only (its module alone is imported), or for every command when None."""
    parser = Parser(
        prog=PROG,
        description="Usage API + CRM -> fact_daily_company_activity: ingest, transform, orchestrate, demo.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level (and show tracebacks)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in (COMMANDS[command],) if command else MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    journal = Journal()
    with _sigint_to(journal):
        return _run(argv, journal)


def _run(argv: Sequence[str] | None, journal: Journal) -> int:
    try:
        arguments = sys.argv[1:] if argv is None else list(argv)
        args = build_parser(command_of(arguments)).parse_args(arguments)
        _configure_logging(args.verbose)
        # One rule for every command: environment variable > local.settings.json Values > default.
        apply_local_settings()
        handler: Handler = args.handler
        handler(args, journal)
        sys.stdout.flush()
        if journal.interrupted:  # swallowed on the way (see cli/journal.py) after the last step: still Ctrl-C
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted: {journal.line()}", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly with 1, as rich's console does, and point stdout
        # at /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.FAILED
    except Exception as exc:  # the outermost boundary: whatever ended the command is reported here, once
        log.debug("the command ended with an error", exc_info=True)
        print(error_line(exc), file=sys.stderr)
        return exit_code(exc)
    return ExitCode.OK


@contextlib.contextmanager
def _sigint_to(journal: Journal) -> Iterator[None]:
    """SIGINT and unraisable exceptions go through `journal` while the command runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous, previous_hook = signal.signal(signal.SIGINT, journal.on_sigint), sys.unraisablehook
    journal.fallback_hook = previous_hook
    sys.unraisablehook = journal.unraisable_hook
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = previous_hook


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The Azure SDK logs every HTTP request at INFO; that drowns the pipeline's own messages.
    if not verbose:
        logging.getLogger("azure").setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
