"""`company-activity sql deploy`: apply sql/ to a DuckDB file or to Azure SQL / SQL Server; `sql check-driver`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from company_activity_local.cli.errors import CommandFailed
from company_activity_local.cli.flags import ODBC, add_connection_string_flags, connection_string
from company_activity_local.cli.journal import Journal

CONNECTION_STRING_ENV = "WAREHOUSE_CONNECTION_STRING"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `sql deploy`."""
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
                        help="local DuckDB warehouse file, created if missing when its folder exists (default: "
                             "$WAREHOUSE_PATH, else $LOCAL_OUT_DIR/warehouse.duckdb, out/warehouse.duckdb)")
    add_connection_string_flags(target, env=CONNECTION_STRING_ENV, what=ODBC)
    deploy.set_defaults(handler=deploy_command)
    check = commands.add_parser(
        "check-driver",
        help="check that pyodbc and ODBC Driver 18 for SQL Server are installed (infra/deploy.sh's preflight)",
        description="Exit 0 when pyodbc imports and the ODBC driver manager lists ODBC Driver 18 for SQL Server; "
                    "otherwise name what is missing and how to install it, and exit 1.",
    )
    check.set_defaults(handler=check_driver_command)


def check_driver_command(args: argparse.Namespace, journal: Journal) -> None:
    from company_activity_local.warehouse.sqlserver import ODBC_DRIVER, driver_problem

    problem = driver_problem()
    if problem is not None:
        raise CommandFailed(problem)
    import pyodbc

    print(f"pyodbc {pyodbc.version} with {ODBC_DRIVER}")


def deploy_command(args: argparse.Namespace, journal: Journal) -> None:
    from company_activity_local.pipeline.local_resources import prepare_warehouse_file
    from company_activity_local.settings import warehouse_target
    from company_activity_local.warehouse import open_warehouse

    path, connection = warehouse_target(args.warehouse, connection_string(args))
    new = prepare_warehouse_file(path) if path is not None else None
    if new:
        print(new, file=sys.stderr)
    journal.note("the migrations applied so far stay applied (each runs in its own transaction); rerunning the "
                 "same command applies the rest")
    if path is not None:
        warehouse = open_warehouse(duckdb_path=str(path))
        where = str(path)
    else:
        warehouse = open_warehouse(connection_string=connection)
        where = "SQL Server"
    with warehouse:
        report = warehouse.deploy()
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
