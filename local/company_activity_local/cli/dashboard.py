"""`company-activity dashboard`: the Company Activity Dashboard as one self-contained HTML file, read
from the warehouse's rpt views (DuckDB file, or SQL Server / Azure SQL with Entra auth as `sql deploy`)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path

from company_activity_local.cli.console import make_console
from company_activity_local.cli.warehouse import CONNECTION_STRING_ENV

DEFAULT_OUTPUT = "out/dashboard.html"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "dashboard",
        help="write the Company Activity Dashboard (one self-contained HTML file) from the rpt views",
        description=(
            "Read the rpt reporting views of a warehouse and write one HTML file with no network access at "
            "view time: every day of the six weeks ending on --date, with KPIs against 7 days before, the "
            "ranked call list (sortable, filterable, sparklines; capped per day), the trend by reason, a "
            "per-company drill-down, "
            "usage missing in the CRM and pipeline health with every run of <warehouse>.runs.jsonl."
        ),
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--warehouse", metavar="PATH.duckdb", help="local DuckDB warehouse file (must exist)")
    target.add_argument(
        "--connection-string",
        metavar="ODBC",
        help=f"ODBC connection string of Azure SQL / SQL Server (default: ${CONNECTION_STRING_ENV}); "
        "Entra auth via Authentication=ActiveDirectoryDefault or ActiveDirectoryMsi",
    )
    parser.add_argument("-o", "--output", default=DEFAULT_OUTPUT, metavar="PATH.html", help=f"default {DEFAULT_OUTPUT}")
    parser.add_argument("--date", metavar="YYYY-MM-DD", help="the day shown (default: the latest loaded day)")
    parser.set_defaults(handler=dashboard_command)


def dashboard_command(args: argparse.Namespace) -> int:
    err = make_console(stderr=True)
    err.print = _plain(err.print)  # type: ignore[method-assign]
    day = None
    if args.date:
        try:
            day = dt.date.fromisoformat(args.date)
        except ValueError:
            err.print(f"error: --date {args.date!r} is not a date (YYYY-MM-DD)")
            return 2
    connection_string = args.connection_string or (None if args.warehouse else os.environ.get(CONNECTION_STRING_ENV))
    if not args.warehouse and not connection_string:
        err.print(f"error: give --warehouse PATH.duckdb or --connection-string (or set {CONNECTION_STRING_ENV})")
        return 2
    if args.warehouse and not Path(args.warehouse).is_file():
        err.print(f"error: --warehouse {args.warehouse}: no such file (run `company-activity demo` first)")
        return 1
    path = build(warehouse_path=args.warehouse, connection_string=connection_string, day=day, output=args.output)
    if isinstance(path, str):
        err.print(f"error: {path}")
        return 1
    make_console().print(f"dashboard written: {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


def _plain(print_: Callable[..., None]) -> Callable[..., None]:
    """Messages hold engine text such as "[sqlserver]": never rich markup."""
    return lambda *args, **kwargs: print_(*args, markup=False, **kwargs)


def build(
    *, warehouse_path: str | None, connection_string: str | None, day: dt.date | None, output: str | Path
) -> Path | str:
    """The written file, or the error message (never a traceback for bad input or an unreachable server)."""
    from azure.core.exceptions import AzureError

    from company_activity.dashboard.data import DashboardError
    from company_activity.dashboard.runs import RunRecordError
    from company_activity_local.dashboard import load, write_dashboard
    from company_activity_local.pipeline.run_records import RunRecordFile
    from company_activity_local.warehouse import WarehouseError, open_warehouse

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
    except (DashboardError, WarehouseError, RunRecordError) as error:
        return str(error)
    except AzureError as error:  # Entra token for Authentication=ActiveDirectoryDefault
        return f"cannot get an Entra token for Azure SQL: {type(error).__name__}: {str(error).splitlines()[0]}"
    return write_dashboard(data, output)
