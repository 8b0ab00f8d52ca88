"""`company-activity`: one console script, one subcommand module per stage of the data flow."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from company_activity.cli import dashboard, demo, ingest, pipeline, simulator, transform, warehouse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="company-activity",
        description="Usage API + CRM -> fact_daily_company_activity: ingest, transform, orchestrate, demo.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (simulator, ingest, warehouse, transform, pipeline, demo, dashboard):
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
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
