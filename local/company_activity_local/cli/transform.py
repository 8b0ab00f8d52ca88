"""`company-activity transform`: stage one date from bronze usage files (+ a CRM CSV) and run the merge.

This is the recovery path: any date can be replayed from its bronze part files at any time, in any
order (docs/crm.md, "Replay"). Exit codes: 0 success, 2 bad input (nothing was changed), 1 the run
failed in the warehouse (the procedure rolled back and logged a `failed` row): TransformError.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from company_activity.errors import InputError
from company_activity.ingest.bronze import PART_PREFIX
from company_activity.ingest.dates import require_complete_day
from company_activity.settings import DateSettings
from company_activity_local.cli.errors import CommandFailed, UsageError
from company_activity_local.cli.flags import ODBC, add_connection_string_flags, add_day_flag, connection_string, day_of
from company_activity_local.cli.journal import Journal
from company_activity_local.pipeline.local_resources import prepare_warehouse_file
from company_activity_local.settings import warehouse_target
from company_activity_local.warehouse.crm import CrmFormatError, CrmRejectedError
from company_activity_local.warehouse.staging import EmptyUsageError, StagingError
from company_activity_local.warehouse.transform import ManifestMismatch, Thresholds, TransformResult, transform

if TYPE_CHECKING:
    from company_activity_local.warehouse.engine import Warehouse

CONNECTION_ENV = "WAREHOUSE_CONNECTION_STRING"
PATH_ENV = "WAREHOUSE_PATH"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `transform`."""
    parser = sub.add_parser(
        "transform",
        help="stage one date's usage (+ CRM snapshot) and run the fact merge procedure",
        description="Load bronze usage files (and the date's CRM CSV) into staging, run "
        "dbo.usp_merge_fact_daily_company_activity for the date and print its etl.load_log row. "
        "Rerunnable and usable in any date order: this is how to replay the warehouse from bronze.",
    )
    add_day_flag(parser, help="the business date", old=["--run-date"])
    parser.add_argument(
        "--usage", required=True, action="append", type=Path, metavar="FILE_OR_DIR",
        help="a usage file (.jsonl or .jsonl.gz, e.g. a bronze part-00000.jsonl.gz) or a bronze run folder "
        "(all its part-*.jsonl.gz); repeat for several; together they are the whole day",
    )
    parser.add_argument("--crm", type=Path, metavar="FILE.csv",
                        help="the date's CRM snapshot CSV; without it the date has no snapshot")
    parser.add_argument("--allow-empty-usage", action="store_true",
                        help="stage usage files that hold 0 records, setting every company's usage of the date to "
                        "zero (default: refused, unless the day's bronze _manifest.json beside the run folder "
                        "says the day committed 0 records)")
    parser.add_argument("--ignore-manifest", action="store_true",
                        help="load usage files even when they differ from the bronze _manifest.json beside their run "
                        "folder (a hand-repaired file); by default such files are refused: truncated, changed, "
                        "missing or extra part files")
    parser.add_argument("--allow-rejects", action="store_true",
                        help="load the accepted CRM rows even when some rows were rejected (default: fail)")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--warehouse", type=Path, metavar="PATH.duckdb",
                        help=f"local DuckDB warehouse file (default: ${PATH_ENV}, else "
                        "$LOCAL_OUT_DIR/warehouse.duckdb, out/warehouse.duckdb); a new one is created only in a "
                        "folder that exists")
    add_connection_string_flags(target, env=CONNECTION_ENV, what=ODBC)
    parser.add_argument("--run-id", help="id recorded in load_run_id and etl.load_log (default: manual-<time>-<hex>)")
    parser.add_argument("--low-activity-threshold", type=float, default=1.0, metavar="X",
                        help="rolling average below X is low_activity (default 1.0)")
    parser.add_argument("--stale-contact-days", type=int, default=90, metavar="N",
                        help="more than N days since the last contact is stale_contact (default 90)")
    parser.set_defaults(handler=_transform)


def usage_files(paths: list[Path]) -> list[Path]:
    """Files as given; a directory stands for its bronze part files (never its rejected-* files)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            parts = sorted(path.glob(f"{PART_PREFIX}-*.jsonl.gz"))
            if not parts:
                raise StagingError(f"{path}: no {PART_PREFIX}-*.jsonl.gz files in this folder")
            out.extend(parts)
        elif path.is_file():
            out.append(path)
        else:
            raise StagingError(f"{path}: no such usage file or folder")
    return out


def _transform(args: argparse.Namespace, journal: Journal) -> None:
    from company_activity_local.warehouse import WarehouseError, open_warehouse

    day = require_complete_day("--date", day_of(args), DateSettings.from_env().tz)
    path, connection = warehouse_target(args.warehouse, connection_string(args))
    thresholds = Thresholds(args.low_activity_threshold, args.stale_contact_days)
    files = usage_files(args.usage)
    new = prepare_warehouse_file(path) if path is not None else None
    if new:
        print(new, file=sys.stderr)
    try:
        wh = open_warehouse(duckdb_path=str(path)) if path else open_warehouse(connection_string=connection)
    except WarehouseError as exc:
        raise CommandFailed(f"cannot open the warehouse: {exc}") from exc
    journal.note(f"{day} was not loaded (its fact rows change only when its merge commits, in one "
                 "transaction); rerunning the same command loads it (a date loaded again is replaced)")
    refused = False
    try:
        wh.deploy()  # idempotent: applies only migrations not applied yet
        result = _run(wh, args, day, files, thresholds)
    except InputError:
        refused = True
        raise
    except WarehouseError as exc:
        raise CommandFailed(f"warehouse error: {exc}") from exc
    finally:
        wh.close()
        if refused and new and path is not None:  # refused input: leave no new warehouse behind either
            for created in (path, path.with_name(path.name + ".wal")):
                created.unlink(missing_ok=True)
    if result.crm is not None and result.crm.rejects:
        print(result.crm.report(), file=sys.stderr)
    crm_rows = len(result.crm.rows) if result.crm is not None else 0
    print(f"staged {result.usage.records} usage records from {len(result.usage.files)} file(s) and "
          + (f"{crm_rows} CRM rows" if crm_rows else "no CRM snapshot (the last known CRM state is kept)"))
    width = max(len(k) for k in result.load_log.values)
    for column, value in result.load_log.values.items():
        print(f"{column:<{width}}  {'' if value is None else value}")


def _run(wh: Warehouse, args: argparse.Namespace, day: date, files: list[Path],
         thresholds: Thresholds) -> TransformResult:
    """transform(), its input errors said in the words of the command line (nothing was changed for any)."""
    try:
        return transform(wh, day, files, args.crm, run_id=args.run_id, thresholds=thresholds,
                         allow_crm_rejects=args.allow_rejects, allow_empty_usage=args.allow_empty_usage,
                         ignore_manifest=args.ignore_manifest)
    except ManifestMismatch as exc:
        raise ManifestMismatch(f"the usage files do not match the bronze manifest: {exc} (download the day again "
                               "with `company-activity bronze download`, or pass --ignore-manifest to load them as "
                               "they are)") from None
    except EmptyUsageError as exc:
        raise EmptyUsageError(f"{exc}. If the day really had no usage, pass --allow-empty-usage, or pass the bronze "
                              "run folder with the day's _manifest.json beside it (record_count 0)") from None
    except CrmRejectedError as exc:
        raise UsageError(f"CRM rows rejected, nothing loaded (use --allow-rejects to load the rest):\n{exc}") from None
    except CrmFormatError as exc:
        raise CrmFormatError(f"{exc}\nnothing was changed") from None
    except StagingError as exc:
        raise StagingError(f"{exc}\nnothing was changed") from None
    except FileNotFoundError as exc:
        raise UsageError(f"{exc.filename}: no such file\nnothing was changed") from None
