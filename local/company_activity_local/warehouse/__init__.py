"""The warehouse: SQL objects in sql/, deployed and run on Azure SQL / SQL Server or, locally, on DuckDB
through a strict T-SQL translator. Import the contract from here (docs/warehouse.md)."""

from company_activity_local.warehouse.connect import open_warehouse
from company_activity_local.warehouse.engine import DeployReport, TranslationError, Warehouse, WarehouseError

__all__ = ["DeployReport", "TranslationError", "Warehouse", "WarehouseError", "open_warehouse"]
