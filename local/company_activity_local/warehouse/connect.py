"""Open the warehouse: the DuckDB engine for a file path, SQL Server / Azure SQL for a connection string.

Each engine is imported only when it is opened: importing the warehouse package (for the CRM contract,
say) must not pay for duckdb and sqlglot, and the DuckDB path must never import pyodbc.
"""

from __future__ import annotations

from pathlib import Path

from company_activity_local.settings import DuckDBSettings
from company_activity_local.warehouse.engine import Warehouse


def open_warehouse(*, duckdb_path: str | Path | None = None, connection_string: str | None = None) -> Warehouse:
    """The DuckDB engine for a file path (DUCKDB_THREADS threads), or SQL Server / Azure SQL for an ODBC
    connection string."""
    if connection_string is not None and duckdb_path is None:
        from company_activity_local.warehouse.sqlserver import SqlServerWarehouse

        return SqlServerWarehouse(connection_string)
    if duckdb_path is not None and connection_string is None:
        from company_activity_local.warehouse.duckdb_engine import DuckDBWarehouse

        return DuckDBWarehouse(duckdb_path, threads=DuckDBSettings.from_env().threads)
    raise ValueError("open_warehouse needs exactly one of duckdb_path or connection_string")
