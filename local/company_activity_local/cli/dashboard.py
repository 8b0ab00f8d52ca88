"""`company-activity dashboard`: the Company Activity Dashboard as one self-contained HTML file, read
from the warehouse's rpt views (DuckDB file, or SQL Server / Azure SQL with Entra auth as `sql deploy`)."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from company_activity_local.cli.console import make_console
from company_activity_local.cli.errors import CommandFailed, UsageError, first_line
from company_activity_local.cli.flags import ODBC, add_connection_string_flags, add_out_flag, connection_string
from company_activity_local.cli.journal import Journal
from company_activity_local.cli.warehouse import CONNECTION_STRING_ENV
from company_activity_local.settings import out_dir, warehouse_target


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "dashboard",
        help="write the Company Activity Dashboard (one self-contained HTML file) from the rpt views",
        description=(
            "Read the rpt reporting views of a warehouse and write one HTML file with no network access at "
            "view time: every day of the six weeks ending on --date, with KPIs against 7 days before, the "
            "ranked call list (sortable, filterable, sparklines; capped per day), the trend by reason, a "
            "per-company drill-down, usage missing in the CRM and pipeline health with every run of "
            "<warehouse>.runs.jsonl."
        ),
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--warehouse", metavar="PATH.duckdb",
                        help="local DuckDB warehouse file, which must exist (default: $WAREHOUSE_PATH, else "
                             "$LOCAL_OUT_DIR/warehouse.duckdb, out/warehouse.duckdb)")
    add_connection_string_flags(target, env=CONNECTION_STRING_ENV, what=ODBC)
    add_out_flag(parser, default=None, help="the HTML file to write (default $LOCAL_OUT_DIR/dashboard.html, "
                 "out/dashboard.html)", old=["--output"])
    parser.add_argument("--date", metavar="YYYY-MM-DD", help="the day shown (default: the latest loaded day)")
    parser.set_defaults(handler=dashboard_command)


def dashboard_command(args: argparse.Namespace, journal: Journal) -> None:
    day = None
    if args.date:
        try:
            day = dt.date.fromisoformat(args.date)
        except ValueError:
            raise UsageError(f"--date {args.date!r} is not a date (YYYY-MM-DD)") from None
    # The one rule of every command: the flag, else WAREHOUSE_CONNECTION_STRING / WAREHOUSE_PATH, else the default.
    warehouse, connection = warehouse_target(Path(args.warehouse) if args.warehouse else None, connection_string(args))
    if warehouse is not None and not warehouse.is_file():
        raise CommandFailed(f"no warehouse at {warehouse} (--warehouse, WAREHOUSE_PATH or {CONNECTION_STRING_ENV}): "
                            "run `company-activity demo` first, or point one of them at a warehouse")
    path = build(warehouse_path=str(warehouse) if warehouse else None, connection_string=connection, day=day,
                 output=args.out or out_dir().dashboard)
    make_console().print(f"dashboard written: {path} ({path.stat().st_size / 1e6:.2f} MB)", markup=False)


def build(*, warehouse_path: str | None, connection_string: str | None, day: dt.date | None,
          output: str | Path) -> Path:
    """The written file. DashboardError or WarehouseError when the warehouse cannot give the page's numbers,
    CommandFailed when no Entra token can be had for Azure SQL."""
    from azure.core.exceptions import AzureError

    from company_activity_local.dashboard import load, write_dashboard
    from company_activity_local.pipeline.run_records import RunRecordFile
    from company_activity_local.warehouse import open_warehouse

    runs = RunRecordFile.for_warehouse(warehouse_path)
    source = (f"the local executor's run records, {runs.path}" if runs else
              "none: a SQL Server warehouse has no local run records (in Azure, GET /api/dashboard shows "
              "Data Factory's run history)")
    try:
        if warehouse_path:
            warehouse = open_warehouse(duckdb_path=warehouse_path)
        else:
            warehouse = open_warehouse(connection_string=connection_string)
        with warehouse:
            data = load(warehouse, day, runs=runs.read() if runs else (), runs_source=source)
    except AzureError as error:  # Entra token for Authentication=ActiveDirectoryDefault
        raise CommandFailed(f"cannot get an Entra token for Azure SQL: {type(error).__name__}: "
                            f"{first_line(error)}") from error
    return write_dashboard(data, output)
