"""The warehouse: SQL objects in sql/, deployed and run on Azure SQL / SQL Server or, locally, on DuckDB
through a strict T-SQL translator. Import the contract from here (docs/warehouse.md)."""

from company_activity.warehouse.engine import (
    DeployReport,
    TranslationError,
    Warehouse,
    WarehouseError,
    open_warehouse,
)

__all__ = ["DeployReport", "TranslationError", "Warehouse", "WarehouseError", "open_warehouse"]
