"""`company-activity crm generate | upload | download`: CRM snapshots by hand.

The blob layout is `warehouse/crm.py`'s (`crm_blob_path`), the file contract its `parse_crm_csv`, and
synthetic snapshots come from `local/crm_generator.py`; nothing here re-derives them.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import ContainerClient
from rich.markup import escape

from company_activity.ingest.dates import parse_iso_date
from company_activity_local.cli.console import make_console
from company_activity_local.cli.errors import CommandFailed, UsageError
from company_activity_local.cli.flags import add_out_flag, add_span_flags, days_of
from company_activity_local.cli.journal import Journal
from company_activity_local.cli.storage_args import (
    CRM_WRITER_ROLE,
    REPLAY_READER_ROLE,
    add_storage_flags,
    container,
    storage_access,
    storage_error_code,
    storage_settings,
)
from company_activity_local.services.crm_generator import CRM_ONLY_BASE, CrmGenerator, write_crm_csv
from company_activity_local.settings import out_dir
from company_activity_local.warehouse.crm import DEFAULT_CRM_CONTAINER, CrmFormatError, crm_blob_path, parse_crm_csv


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    crm = sub.add_parser("crm", help="CRM snapshots: generate a synthetic one, upload or download one",
                         description="CRM snapshot files (contract: docs/crm.md).")
    actions = crm.add_subparsers(dest="crm_command", required=True, metavar="ACTION")

    generate = actions.add_parser(
        "generate", help="write a synthetic snapshot consistent with the usage-API simulator",
        description="Write the CRM snapshot of DATE that the demo would upload (same ids as `simulate-api "
                    "--companies N --seed S`), to FILE (default $LOCAL_OUT_DIR/crm/companies/snapshot_date=DATE/"
                    "companies.csv, LOCAL_OUT_DIR defaulting to out).",
    )
    generate.add_argument("--date", required=True, help="snapshot date, YYYY-MM-DD")
    generate.add_argument("--companies", type=int, default=1000, help="companies of the simulator (default 1000)")
    generate.add_argument("--seed", type=int, default=0, help="seed (default 0, as `services up --api`)")
    add_out_flag(generate, default=None, help="file to write")
    generate.set_defaults(handler=run_generate)

    upload = actions.add_parser(
        "upload", help="check a snapshot CSV and put it where the pipeline reads it",
        description="Parse FILE with the CRM contract (a file-level error or a rejected row refuses the upload, "
                    "--allow-rejects uploads anyway; a file without a single row is refused unless --allow-empty), "
                    "then upload it to CONTAINER/companies/snapshot_date=DATE/companies.csv, replacing the date's "
                    "snapshot.",
    )
    upload.add_argument("file", type=Path, metavar="FILE.csv")
    upload.add_argument("--date", required=True, help="snapshot date, YYYY-MM-DD")
    upload.add_argument("--allow-rejects", action="store_true", help="upload even when some rows are rejected")
    upload.add_argument("--allow-empty", action="store_true",
                        help="upload a snapshot with 0 rows (the pipeline then treats the date as one without a "
                             "snapshot); refused by default, since it replaces the date's snapshot")
    _container_flags(upload)
    upload.set_defaults(handler=run_upload)

    download = actions.add_parser(
        "download", help="save the snapshots of dates under OUT with the container's layout",
        description="Save CONTAINER/companies/snapshot_date=D/companies.csv as OUT/companies/snapshot_date=D/"
                    "companies.csv for each date (default OUT $LOCAL_OUT_DIR/crm, out/crm). A date without a "
                    "snapshot is reported.",
    )
    add_span_flags(download, help="the snapshot dates")
    add_out_flag(download, default=None, help="folder to write to (default $LOCAL_OUT_DIR/crm, out/crm)",
                 old=["--dest"])
    _container_flags(download)
    download.set_defaults(handler=run_download)


def _container_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--crm-container", default=DEFAULT_CRM_CONTAINER,
                        help=f"CRM container (the factory's crmContainer, default {DEFAULT_CRM_CONTAINER})")
    add_storage_flags(parser)


def run_generate(args: argparse.Namespace, journal: Journal) -> None:
    day = parse_iso_date("--date", args.date)
    generator = CrmGenerator(args.companies, seed=args.seed)
    out = args.out or out_dir().crm / crm_blob_path(day)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as stream:
        rows = write_crm_csv(generator.snapshot(day), stream)
    left_out, extra = generator.usage_only(), generator.crm_only
    make_console().print(
        f"wrote the CRM snapshot of {day} for the simulator's {args.companies} companies to {escape(str(out))}: "
        f"{rows} rows, {args.companies - left_out} of the {args.companies} (the other {left_out} are usage-only on "
        f"purpose) and {extra} CRM-only companies (c{CRM_ONLY_BASE:06d}..), as the demo uploads (docs/crm.md)")


def run_upload(args: argparse.Namespace, journal: Journal) -> None:
    day = parse_iso_date("--date", args.date)
    settings = storage_settings(args)
    try:
        parsed = parse_crm_csv(args.file, day)
    except FileNotFoundError:
        raise UsageError(f"{args.file}: no such file") from None
    except CrmFormatError as exc:
        raise CrmFormatError(f"{exc}\nnothing was uploaded") from None
    if parsed.rejects:
        make_console(stderr=True).print(escape(parsed.report()))
        if not args.allow_rejects:
            raise UsageError("rows were rejected: nothing was uploaded (--allow-rejects uploads the file anyway)")
    name = crm_blob_path(day)
    if not parsed.rows and not args.allow_empty:
        why = "every row rejected" if parsed.rejects else "header only"
        raise UsageError(f"{args.file} has no company rows ({why}): nothing was uploaded, {args.crm_container}/{name} "
                         "is unchanged. An empty snapshot makes the pipeline treat the date as one without a "
                         "snapshot; pass --allow-empty to upload it anyway")
    journal.note(f"the snapshot of {day} is either replaced whole or unchanged (a blob upload commits at once); "
                 "rerunning the same command uploads it")
    with storage_access(f"uploading {args.crm_container}/{name}", args.crm_container, CRM_WRITER_ROLE):
        _upload(container(settings, args.crm_container), name, args.file)
    make_console().print(f"uploaded {escape(str(args.file))} ({len(parsed.rows)} rows) to "
                         f"{args.crm_container}/{name}")


def _upload(target: ContainerClient, name: str, file: Path) -> None:
    """Put the file at `name`, replacing it. In Azure the deployment made the container and a CRM writer may
    write only inside it (its role is on the container), so the container is created only when it is missing:
    locally, on a fresh Azurite."""
    blob = target.get_blob_client(name)
    try:
        with file.open("rb") as data:
            blob.upload_blob(data, overwrite=True)
    except ResourceNotFoundError as exc:
        if storage_error_code(exc) != "ContainerNotFound":
            raise
        with contextlib.suppress(ResourceExistsError):
            target.create_container()
        with file.open("rb") as data:
            blob.upload_blob(data, overwrite=True)


def run_download(args: argparse.Namespace, journal: Journal) -> None:
    err, console = make_console(stderr=True), make_console()
    days = days_of(args)
    settings = storage_settings(args)
    missing: list[str] = []
    args.out = args.out or out_dir().crm
    source = container(settings, args.crm_container)
    for index, day in enumerate(days):
        journal.note(f"{index} of {len(days)} snapshot(s) saved under {args.out}; rerunning the same command "
                     "downloads them again")
        name = crm_blob_path(day)
        target = args.out / name
        with storage_access(f"downloading {args.crm_container}/{name}", args.crm_container, REPLAY_READER_ROLE):
            try:
                data = source.get_blob_client(name).download_blob().readall()
            except ResourceNotFoundError:
                data = None
        if data is None:
            missing.append(day.isoformat())
            err.print(f"[yellow]{day}: no snapshot[/] ({args.crm_container}/{name} does not exist)")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        console.print(f"{day}: {args.crm_container}/{name} -> {escape(str(target))} ({len(data):,} bytes)")
    if missing:
        raise CommandFailed(f"{len(missing)} of {len(days)} date(s) have no snapshot: " + ", ".join(missing))
