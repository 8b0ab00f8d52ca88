"""`company-activity bronze download`: a committed day's bronze files on local disk, verified; `bronze restore`:
list a day's kept replaced runs, or commit one of them again.

The replay runbook (docs/crm.md) runs `transform` on these files. Layout and verification belong to
`ingest/bronze.py` (`download_committed_day`); this module only parses flags and prints.
"""

from __future__ import annotations

import argparse

from rich.markup import escape

from company_activity.ingest.bronze import (
    BronzeError,
    download_committed_day,
    read_manifest,
    replaced_runs,
    restore_replaced,
    run_prefix,
)
from company_activity_local.cli.console import make_console
from company_activity_local.cli.errors import CommandFailed, storage_errors
from company_activity_local.cli.flags import add_day_flag, add_out_flag, add_span_flags, day_of, days_of
from company_activity_local.cli.journal import Journal
from company_activity_local.cli.storage_args import (
    REPLAY_READER_ROLE,
    add_storage_flags,
    container,
    storage_access,
    storage_settings,
)
from company_activity_local.settings import out_dir


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    bronze = sub.add_parser("bronze", help="the bronze layer's files: download committed days",
                            description="Work with the files of the bronze container (docs/ingestion.md).")
    actions = bronze.add_subparsers(dest="bronze_command", required=True, metavar="ACTION")
    download = actions.add_parser(
        "download", help="save committed days (manifest, part and rejected files) under OUT, verified",
        description="For each date, read its _manifest.json and save the committed run's files under OUT with "
                    "the container's layout (OUT/product_usage/date=D/<run_id>/part-*.jsonl.gz). Every file is "
                    "checked against the manifest (bytes, sha256, records) before it appears. Exit 1 when a date "
                    "is not committed or a file does not match.",
    )
    add_span_flags(download, help="the days to download")
    add_out_flag(download, default=None, help="folder to write to (default $LOCAL_OUT_DIR/bronze, out/bronze)",
                 old=["--dest"])
    download.add_argument("--container", help="bronze container (env BRONZE_CONTAINER, default bronze)")
    add_storage_flags(download)
    download.set_defaults(handler=run_download)

    restore = actions.add_parser(
        "restore", help="list a day's replaced runs (kept), or commit one of them again with --run-id",
        description="A re-ingestion that replaced a committed day keeps the replaced run (docs/ingestion.md). "
                    "Without --run-id, list the day's kept runs with their record counts; with it, verify that "
                    "run's files and commit it again (the run it displaces is kept in turn).",
    )
    add_day_flag(restore, help="the day")
    restore.add_argument("--run-id", help="the kept run to commit again")
    restore.add_argument("--container", help="bronze container (env BRONZE_CONTAINER, default bronze)")
    add_storage_flags(restore)
    restore.set_defaults(handler=run_restore)


def run_restore(args: argparse.Namespace, journal: Journal) -> None:
    console = make_console()
    day = day_of(args)
    settings = storage_settings(args)
    bronze = container(settings, settings.bronze_container)
    try:
        with storage_errors(f"restoring {day}"):
            if args.run_id is None:
                current = read_manifest(bronze, day)
                console.print(f"{day}: committed run {current.run_id if current else '(none)'}"
                              + (f", {current.record_count} records" if current else ""))
                for run_id, kept in sorted(replaced_runs(bronze, day).items()):
                    committed = f"{kept.committed_at:%Y-%m-%d %H:%M}Z"
                    console.print(f"  kept {run_id}: {kept.record_count} records, committed {committed}")
                return
            outcome = restore_replaced(bronze, day, args.run_id)
    except BronzeError as exc:
        raise CommandFailed(f"{day}: {exc}") from exc
    console.print(f"{day}: run {outcome.manifest.run_id} committed again ({outcome.manifest.record_count} records); "
                  f"run {outcome.replaced_run_id} is kept")


def run_download(args: argparse.Namespace, journal: Journal) -> None:
    console, err = make_console(), make_console(stderr=True)
    days = days_of(args)
    settings = storage_settings(args)
    bronze = container(settings, settings.bronze_container)
    args.out = args.out or out_dir().bronze
    missing: list[str] = []
    for index, day in enumerate(days):
        journal.note(f"{index} of {len(days)} date(s) saved under {args.out} (a file appears only once verified); "
                     "rerunning the same command downloads them again")
        try:
            with storage_access(f"downloading {day}", settings.bronze_container, REPLAY_READER_ROLE):
                manifest = download_committed_day(bronze, day, args.out)
        except BronzeError as exc:
            raise CommandFailed(f"{day}: {exc}") from exc
        if manifest is None:
            missing.append(day.isoformat())
            err.print(f"[yellow]{day}: not committed[/] (no _manifest.json in container "
                      f"{settings.bronze_container}): nothing saved")
            continue
        folder = args.out / run_prefix(day, manifest.run_id)
        console.print(f"{day}: run {manifest.run_id}, {manifest.record_count} records in {len(manifest.files)} "
                      f"file(s), {manifest.rejected_count} rejected -> {escape(str(folder))}/ (verified)")
    if missing:
        raise CommandFailed(f"{len(missing)} of {len(days)} date(s) not committed, nothing saved for them: "
                            + ", ".join(missing))
