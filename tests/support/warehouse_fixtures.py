"""Warehouse fixtures: every SQL test runs on each engine available.

DuckDB always (a copy of a deployed template file per test). SQL Server when
SQLSERVER_TEST_CONNECTION_STRING is set: the tests create their own database (UTF-8 collation and read
committed snapshot on, as in Azure SQL), deploy once, and empty every table before each test; the login
needs CREATE DATABASE.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from company_activity_local.warehouse import Warehouse, open_warehouse

SQLSERVER_ENV = "SQLSERVER_TEST_CONNECTION_STRING"
# Emptied before each SQL Server test (the DuckDB tests get a fresh file).
TABLES = (
    "dbo.fact_daily_company_activity_base",
    "dbo.dim_company",
    "dbo.crm_contact_history",
    "stg.product_usage_daily",
    "stg.crm_company",
    "etl.load_log",
    "etl.fact_history_backlog",
)
ENGINES = ["duckdb", "sqlserver"]


@pytest.fixture(scope="session")
def duckdb_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "warehouse.duckdb"
    with open_warehouse(duckdb_path=path) as warehouse:
        warehouse.deploy()
    return path


def _with_database(connection_string: str, database: str) -> str:
    stripped = re.sub(r"(^|;)\s*(Database|Initial Catalog)\s*=[^;]*", r"\1", connection_string, flags=re.I)
    return f"{stripped.rstrip(';')};Database={database};"


@pytest.fixture(scope="session")
def sqlserver_connection_string() -> Iterator[str]:
    connection_string = os.environ.get(SQLSERVER_ENV)
    if not connection_string:
        pytest.skip(f"{SQLSERVER_ENV} is not set")
    import pyodbc

    name = f"ca_test_{uuid.uuid4().hex[:10]}"
    admin = pyodbc.connect(connection_string, autocommit=True)
    admin.execute(f"CREATE DATABASE [{name}] COLLATE Latin1_General_100_CI_AS_SC_UTF8")
    # As Azure SQL Database runs (both on there, and they cannot be turned off); SQL Server's default is off.
    admin.execute(f"ALTER DATABASE [{name}] SET READ_COMMITTED_SNAPSHOT ON WITH ROLLBACK IMMEDIATE")
    admin.execute(f"ALTER DATABASE [{name}] SET ALLOW_SNAPSHOT_ISOLATION ON")
    try:
        database = _with_database(connection_string, name)
        with open_warehouse(connection_string=database) as warehouse:
            warehouse.deploy()
        yield database
    finally:
        admin.execute(f"ALTER DATABASE [{name}] SET SINGLE_USER WITH ROLLBACK IMMEDIATE")
        admin.execute(f"DROP DATABASE [{name}]")
        admin.close()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture()
def warehouse(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """A deployed, empty warehouse on `engine`."""
    if engine == "duckdb":
        path = tmp_path / "warehouse.duckdb"
        shutil.copy(request.getfixturevalue("duckdb_template"), path)
        opened = open_warehouse(duckdb_path=path)
    else:
        opened = open_warehouse(connection_string=request.getfixturevalue("sqlserver_connection_string"))
        for table in TABLES:
            opened.execute(f"DELETE FROM {table};")
    with opened:
        yield opened


@pytest.fixture()
def duckdb_warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """DuckDB only: for the translator's own behaviour (refusals, DuckDB-side emulation)."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(request.getfixturevalue("duckdb_template"), path)
    with open_warehouse(duckdb_path=path) as opened:
        yield opened


def build_loaded_template(tmp_path_factory: pytest.TempPathFactory, duckdb_template: Path,
                          load: Callable[[Warehouse], None]) -> Path:
    """The deployed DuckDB template with `load` applied, for a module-scoped fixture: a module whose tests all
    start from the same loaded warehouse runs the procedure once, not once per test."""
    path = tmp_path_factory.mktemp("loaded") / "warehouse.duckdb"
    shutil.copy(duckdb_template, path)
    with open_warehouse(duckdb_path=path) as warehouse:
        load(warehouse)
    return path


def loaded_warehouse(engine: str, request: pytest.FixtureRequest, tmp_path: Path, template_fixture: str,
                     load: Callable[[Warehouse], None]) -> Iterator[Warehouse]:
    """A loaded warehouse of the test's own: on DuckDB a fresh copy of the file `template_fixture` built, on
    SQL Server the emptied test database loaded again."""
    if engine == "duckdb":
        path = tmp_path / "warehouse.duckdb"
        shutil.copy(request.getfixturevalue(template_fixture), path)
        with open_warehouse(duckdb_path=path) as opened:
            yield opened
    else:
        warehouse: Warehouse = request.getfixturevalue("warehouse")
        load(warehouse)
        yield warehouse
