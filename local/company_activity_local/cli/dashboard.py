"""`company-activity dashboard`: the Company Activity Dashboard as one self-contained HTML file, read
from the warehouse's rpt views (DuckDB file, or SQL Server / Azure SQL with Entra auth as `sql deploy`)."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from pathlib import Path

from company_activity.settings import SettingsError
from company_activity_local.cli.console import make_console
from company_activity_local.cli.warehouse import CONNECTION_STRING_ENV
from company_activity_local.out_dir import OUT_DIR_ENV, dashboard_file
from company_activity_local.pipeline.local_resources import warehouse_target


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "dashboard",
        help="write the Company Activity Dashboard (one self-contained HTML file) from the rpt views",
        description=(
            "Read the rpt reporting views of a warehouse and write one HTML file with no network access at "
            "view time: KPIs with the change against 7 days before, at-risk companies (sortable, filterable, "
            "sparklines; capped), the at-risk trend by reason, a per-company drill-down and pipeline health."
        ),
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--warehouse", metavar="PATH.duckdb",
                        help="local DuckDB warehouse file, which must exist (default: $WAREHOUSE_PATH, else "
                             f"${OUT_DIR_ENV}/warehouse.duckdb, out/warehouse.duckdb)")
    target.add_argument(
        "--connection-string",
        metavar="ODBC",
        help=f"ODBC connection string of Azure SQL / SQL Server (default: ${CONNECTION_STRING_ENV}); "
        "Entra auth via Authentication=ActiveDirectoryDefault or ActiveDirectoryMsi",
    )
    parser.add_argument("-o", "--output", metavar="PATH.html",
                        help=f"default ${OUT_DIR_ENV}/dashboard.html (out/dashboard.html)")
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
    try:  # the one rule of every command: flag, else WAREHOUSE_CONNECTION_STRING / WAREHOUSE_PATH, else default
        warehouse, connection_string = warehouse_target(Path(args.warehouse) if args.warehouse else None,
                                                        args.connection_string)
    except SettingsError as exc:
        err.print(f"error: {exc}")
        return 2
    if warehouse is not None and not warehouse.is_file():
        err.print(f"error: no warehouse at {warehouse} (--warehouse, WAREHOUSE_PATH or {CONNECTION_STRING_ENV}): "
                  "run `company-activity demo` first, or point one of them at a warehouse")
        return 1
    path = build(warehouse_path=str(warehouse) if warehouse else None, connection_string=connection_string, day=day,
                 output=args.output or dashboard_file())
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

    from company_activity_local.dashboard import DashboardError, load, write_dashboard
    from company_activity_local.warehouse import WarehouseError, open_warehouse

    try:
        if warehouse_path:
            warehouse = open_warehouse(duckdb_path=warehouse_path)
        else:
            warehouse = open_warehouse(connection_string=connection_string)
        with warehouse:
            data = load(warehouse, day)
    except (DashboardError, WarehouseError) as error:
        return str(error)
    except AzureError as error:  # Entra token for Authentication=ActiveDirectoryDefault
        return f"cannot get an Entra token for Azure SQL: {type(error).__name__}: {str(error).splitlines()[0]}"
    return write_dashboard(data, output)
