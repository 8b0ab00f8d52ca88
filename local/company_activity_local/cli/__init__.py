"""`company-activity`: one console script, one subcommand module per stage of the data flow."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from company_activity.settings import SettingsError, apply_local_settings
from company_activity_local.cli import (
    bronze,
    crm,
    dashboard,
    demo,
    ingest,
    pipeline,
    services,
    show,
    simulator,
    transform,
    warehouse,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="company-activity",
        description="Usage API + CRM -> fact_daily_company_activity: ingest, transform, orchestrate, demo.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (simulator, ingest, warehouse, transform, pipeline, demo, dashboard, services, bronze, crm, show):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The Azure SDK logs every HTTP request at INFO; that drowns the pipeline's own messages.
    if not args.verbose:
        logging.getLogger("azure").setLevel(logging.WARNING)
    try:
        # One rule for every command: environment variable > local.settings.json Values > default.
        apply_local_settings()
    except SettingsError as exc:
        print(f"company-activity: error: {exc}", file=sys.stderr)
        return 2
    try:
        code = int(args.handler(args) or 0)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly with 1, as rich's console does, and point stdout
        # at /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
