"""`company-activity bronze download`: a committed day's bronze files on local disk, verified.

The replay runbook (docs/crm.md) runs `transform` on these files. Layout and verification belong to
`ingest/bronze.py` (`download_committed_day`); this module only parses flags and prints.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from azure.core.exceptions import AzureError
from rich.markup import escape

from company_activity.ingest.bronze import BronzeError, download_committed_day, run_prefix
from company_activity.ingest.dates import DateFieldError
from company_activity.settings import SettingsError
from company_activity_local.cli.console import make_console
from company_activity_local.cli.pipeline import parse_dates
from company_activity_local.cli.storage_args import (
    REPLAY_READER_ROLE,
    access_refused,
    add_storage_flags,
    container,
    first_line,
    storage_settings,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_DEST = Path("out/bronze")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    bronze = sub.add_parser("bronze", help="the bronze layer's files: download committed days",
                            description="Work with the files of the bronze container (docs/ingestion.md).")
    actions = bronze.add_subparsers(dest="bronze_command", required=True, metavar="ACTION")
    download = actions.add_parser(
        "download", help="save committed days (manifest, part and rejected files) under DEST, verified",
        description="For each date, read its _manifest.json and save the committed run's files under DEST with "
                    "the container's layout (DEST/product_usage/date=D/<run_id>/part-*.jsonl.gz). Every file is "
                    "checked against the manifest (bytes, sha256, records) before it appears. Exit 1 when a date "
                    "is not committed or a file does not match.",
    )
    when = download.add_mutually_exclusive_group(required=True)
    when.add_argument("--date", help="the day, YYYY-MM-DD")
    when.add_argument("--dates", help="a range START..END (inclusive)")
    download.add_argument("--dest", type=Path, default=DEFAULT_DEST,
                          help=f"folder to write to (default {DEFAULT_DEST})")
    download.add_argument("--container", help="bronze container (env BRONZE_CONTAINER, default bronze)")
    add_storage_flags(download)
    download.set_defaults(handler=run_download)


def run_download(args: argparse.Namespace) -> int:
    console, err = make_console(), make_console(stderr=True)
    try:
        days = parse_dates(args.date, args.dates)
        settings = storage_settings(args)
    except (ValueError, SettingsError, DateFieldError) as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        return EXIT_USAGE
    bronze = container(settings, settings.bronze_container)
    missing = 0
    for day in days:
        try:
            manifest = download_committed_day(bronze, day, args.dest)
        except BronzeError as exc:
            err.print(f"[bold red]error:[/] {day}: {escape(str(exc))}")
            return EXIT_FAILED
        except AzureError as exc:
            refused = access_refused(exc, settings.bronze_container, REPLAY_READER_ROLE)
            err.print(f"[bold red]storage error:[/] {escape(refused or first_line(exc))}")
            return EXIT_FAILED
        if manifest is None:
            missing += 1
            err.print(f"[yellow]{day}: not committed[/] (no _manifest.json in container "
                      f"{settings.bronze_container}): nothing saved")
            continue
        folder = args.dest / run_prefix(day, manifest.run_id)
        console.print(f"{day}: run {manifest.run_id}, {manifest.record_count} records in {len(manifest.files)} "
                      f"file(s), {manifest.rejected_count} rejected -> {escape(str(folder))}/ (verified)")
    return EXIT_OK if missing == 0 else EXIT_FAILED
