"""`company-activity crm generate | upload | download`: CRM snapshots by hand.

The blob layout is `warehouse/crm.py`'s (`crm_blob_path`), the file contract its `parse_crm_csv`, and
synthetic snapshots come from `local/crm_generator.py`; nothing here re-derives them.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import ContainerClient
from rich.markup import escape

from company_activity.ingest.dates import DateFieldError, parse_iso_date
from company_activity.settings import SettingsError
from company_activity_local.cli.console import make_console
from company_activity_local.cli.pipeline import parse_dates
from company_activity_local.cli.storage_args import (
    CRM_WRITER_ROLE,
    REPLAY_READER_ROLE,
    access_refused,
    add_storage_flags,
    container,
    first_line,
    storage_settings,
)
from company_activity_local.services.crm_generator import CrmGenerator, write_crm_csv
from company_activity_local.warehouse.crm import DEFAULT_CRM_CONTAINER, CrmFormatError, crm_blob_path, parse_crm_csv

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_DIR = Path("out/crm")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    crm = sub.add_parser("crm", help="CRM snapshots: generate a synthetic one, upload or download one",
                         description="CRM snapshot files (contract: docs/crm.md).")
    actions = crm.add_subparsers(dest="crm_command", required=True, metavar="ACTION")

    generate = actions.add_parser(
        "generate", help="write a synthetic snapshot consistent with the usage-API simulator",
        description="Write the CRM snapshot of DATE that the demo would upload (same ids as `simulate-api "
                    "--companies N --seed S`), to FILE (default out/crm/companies/snapshot_date=DATE/companies.csv).",
    )
    generate.add_argument("--date", required=True, help="snapshot date, YYYY-MM-DD")
    generate.add_argument("--companies", type=int, default=1000, help="companies of the simulator (default 1000)")
    generate.add_argument("--seed", type=int, default=0, help="seed (default 0, as `services up --api`)")
    generate.add_argument("--out", type=Path, help="file to write")
    generate.set_defaults(handler=run_generate)

    upload = actions.add_parser(
        "upload", help="check a snapshot CSV and put it where the pipeline reads it",
        description="Parse FILE with the CRM contract (a file-level error or a rejected row refuses the upload, "
                    "--allow-rejects uploads anyway), then upload it to CONTAINER/companies/snapshot_date=DATE/"
                    "companies.csv, replacing the date's snapshot.",
    )
    upload.add_argument("file", type=Path, metavar="FILE.csv")
    upload.add_argument("--date", required=True, help="snapshot date, YYYY-MM-DD")
    upload.add_argument("--allow-rejects", action="store_true", help="upload even when some rows are rejected")
    _container_flags(upload)
    upload.set_defaults(handler=run_upload)

    download = actions.add_parser(
        "download", help="save the snapshots of dates under DEST with the container's layout",
        description="Save CONTAINER/companies/snapshot_date=D/companies.csv as DEST/companies/snapshot_date=D/"
                    "companies.csv for each date (default DEST out/crm). A date without a snapshot is reported.",
    )
    when = download.add_mutually_exclusive_group(required=True)
    when.add_argument("--date", help="the day, YYYY-MM-DD")
    when.add_argument("--dates", help="a range START..END (inclusive)")
    download.add_argument("--dest", type=Path, default=DEFAULT_DIR, help=f"folder to write to (default {DEFAULT_DIR})")
    _container_flags(download)
    download.set_defaults(handler=run_download)


def _container_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--crm-container", default=DEFAULT_CRM_CONTAINER,
                        help=f"CRM container (the factory's crmContainer, default {DEFAULT_CRM_CONTAINER})")
    add_storage_flags(parser)


def _error(message: str, code: int = EXIT_USAGE) -> int:
    make_console(stderr=True).print(f"[bold red]error:[/] {escape(message)}")
    return code


def run_generate(args: argparse.Namespace) -> int:
    try:
        day = parse_iso_date("--date", args.date)
        generator = CrmGenerator(args.companies, seed=args.seed)
    except (DateFieldError, ValueError) as exc:
        return _error(str(exc))
    out = args.out or DEFAULT_DIR / crm_blob_path(day)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as stream:
        rows = write_crm_csv(generator.snapshot(day), stream)
    make_console().print(f"wrote {rows} companies (snapshot {day}) to {escape(str(out))}")
    return EXIT_OK


def run_upload(args: argparse.Namespace) -> int:
    err = make_console(stderr=True)
    try:
        day = parse_iso_date("--date", args.date)
        settings = storage_settings(args)
        parsed = parse_crm_csv(args.file, day)
    except (DateFieldError, SettingsError) as exc:
        return _error(str(exc))
    except FileNotFoundError:
        return _error(f"{args.file}: no such file")
    except CrmFormatError as exc:
        return _error(f"{exc}\nnothing was uploaded")
    if parsed.rejects:
        err.print(escape(parsed.report()))
        if not args.allow_rejects:
            return _error("rows were rejected: nothing was uploaded (--allow-rejects uploads the file anyway)")
    name = crm_blob_path(day)
    target = container(settings, args.crm_container)
    try:
        _upload(target, name, args.file)
    except AzureError as exc:
        refused = access_refused(exc, args.crm_container, CRM_WRITER_ROLE)
        return _error(refused or first_line(exc), EXIT_FAILED)
    make_console().print(f"uploaded {escape(str(args.file))} ({len(parsed.rows)} rows) to "
                         f"{args.crm_container}/{name}")
    return EXIT_OK


def _upload(target: ContainerClient, name: str, file: Path) -> None:
    """Put the file at `name`, replacing it. In Azure the deployment made the container and a CRM writer may
    write only inside it (its role is on the container), so the container is created only when it is missing:
    locally, on a fresh Azurite."""
    blob = target.get_blob_client(name)
    try:
        with file.open("rb") as data:
            blob.upload_blob(data, overwrite=True)
    except ResourceNotFoundError as exc:
        if exc.error_code != "ContainerNotFound":
            raise
        with contextlib.suppress(ResourceExistsError):
            target.create_container()
        with file.open("rb") as data:
            blob.upload_blob(data, overwrite=True)


def run_download(args: argparse.Namespace) -> int:
    err, console = make_console(stderr=True), make_console()
    try:
        days = parse_dates(args.date, args.dates)
        settings = storage_settings(args)
    except (ValueError, SettingsError, DateFieldError) as exc:
        return _error(str(exc))
    missing = 0
    source = container(settings, args.crm_container)
    for day in days:
        name = crm_blob_path(day)
        target = args.dest / name
        try:
            data = source.get_blob_client(name).download_blob().readall()
        except ResourceNotFoundError:
            missing += 1
            err.print(f"[yellow]{day}: no snapshot[/] ({args.crm_container}/{name} does not exist)")
            continue
        except AzureError as exc:
            return _error(access_refused(exc, args.crm_container, REPLAY_READER_ROLE) or first_line(exc), EXIT_FAILED)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        console.print(f"{day}: {args.crm_container}/{name} -> {escape(str(target))} ({len(data):,} bytes)")
    return EXIT_OK if missing == 0 else EXIT_FAILED
