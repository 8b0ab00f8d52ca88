"""`company-activity sql deploy`: apply sql/ to a DuckDB file or to Azure SQL / SQL Server; `sql check-driver`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

CONNECTION_STRING_ENV = "WAREHOUSE_CONNECTION_STRING"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this module's subcommands; each sets `handler` to a function(args) -> exit code."""
    sql = sub.add_parser("sql", help="the warehouse's SQL objects (sql/)")
    commands = sql.add_subparsers(dest="sql_command", required=True, metavar="SQL_COMMAND")
    deploy = commands.add_parser(
        "deploy",
        help="apply sql/: migrations not applied yet (in order), then every procedure",
        description=(
            "Apply sql/ to the warehouse: the bootstrap, each migration once (recorded with its sha256 in "
            "etl.schema_migrations; a changed applied migration is refused), then every procedure "
            "(CREATE OR ALTER). Idempotent."
        ),
    )
    target = deploy.add_mutually_exclusive_group()
    target.add_argument("--warehouse", type=Path, metavar="PATH.duckdb",
                        help="local DuckDB warehouse file, created if missing (default: $WAREHOUSE_PATH, else "
                             "out/warehouse.duckdb)")
    target.add_argument(
        "--connection-string",
        metavar="ODBC",
        help=f"ODBC connection string of Azure SQL / SQL Server (default: ${CONNECTION_STRING_ENV}); "
        "Entra auth via Authentication=ActiveDirectoryDefault or ActiveDirectoryMsi",
    )
    deploy.set_defaults(handler=deploy_command)
    check = commands.add_parser(
        "check-driver",
        help="check that pyodbc and ODBC Driver 18 for SQL Server are installed (infra/deploy.sh's preflight)",
        description="Exit 0 when pyodbc imports and the ODBC driver manager lists ODBC Driver 18 for SQL Server; "
                    "otherwise name what is missing and how to install it, and exit 1.",
    )
    check.set_defaults(handler=check_driver_command)


def check_driver_command(args: argparse.Namespace) -> int:
    from company_activity_local.warehouse.sqlserver import ODBC_DRIVER, driver_problem

    problem = driver_problem()
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    import pyodbc

    print(f"pyodbc {pyodbc.version} with {ODBC_DRIVER}")
    return 0


def deploy_command(args: argparse.Namespace) -> int:
    from company_activity.settings import SettingsError
    from company_activity_local.pipeline.local_resources import warehouse_target
    from company_activity_local.warehouse import TranslationError, WarehouseError, open_warehouse

    try:
        path, connection_string = warehouse_target(args.warehouse, args.connection_string)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            warehouse = open_warehouse(duckdb_path=str(path))
            where = str(path)
        else:
            warehouse = open_warehouse(connection_string=connection_string)
            where = "SQL Server"
        with warehouse:
            report = warehouse.deploy()
    except TranslationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except WarehouseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for name in report.applied:
        print(f"applied   migrations/{name}")
    for name in report.skipped:
        print(f"skipped   migrations/{name} (already applied)")
    for name in report.procedures:
        change = report.procedure_changes.get(name, "created")
        note = " (text unchanged, re-applied)" if change == "unchanged" else ""
        print(f"{change:<9} procedures/{name}{note}")
    counts = {kind: sum(1 for c in report.procedure_changes.values() if c == kind)
              for kind in ("created", "altered", "unchanged")}
    print(f"{where}: {len(report.applied)} migration(s) applied, {len(report.skipped)} already applied; procedures: "
          f"{counts['created']} created, {counts['altered']} altered, {counts['unchanged']} unchanged")
    return 0
