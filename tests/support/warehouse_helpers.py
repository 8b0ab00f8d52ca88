"""Helpers of the procedure tests: stage inputs, run the procedure, read the tables."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from company_activity_local.warehouse import Warehouse

PROCEDURE = "dbo.usp_merge_fact_daily_company_activity"
USAGE_COLUMNS = ("usage_date", "company_id", "active_users", "events", "bronze_run_id")
CRM_COLUMNS = ("snapshot_date", "company_id", "company_name", "industry_tag", "country", "last_contact_date")


def day(n: int) -> dt.date:
    """Day n of the test calendar (day(1) = 2026-03-01)."""
    return dt.date(2026, 2, 28) + dt.timedelta(days=n)


def stage_usage(warehouse: Warehouse, date: dt.date, rows: Sequence[tuple[str, int, int]]) -> None:
    """Replace the staged usage of `date` with (company_id, active_users, events) rows."""
    warehouse.execute("DELETE FROM stg.product_usage_daily WHERE usage_date = @d;", {"d": date})
    warehouse.insert_rows("stg.product_usage_daily", USAGE_COLUMNS, [(date, c, u, e, "bronze-1") for c, u, e in rows])


def stage_crm(
    warehouse: Warehouse, date: dt.date, rows: Sequence[tuple[str, str | None, str | None, str | None, Any]]
) -> None:
    """Replace the staged snapshot of `date` with (company_id, name, industry, country, last_contact) rows."""
    warehouse.execute("DELETE FROM stg.crm_company WHERE snapshot_date = @d;", {"d": date})
    warehouse.insert_rows("stg.crm_company", CRM_COLUMNS, [(date, *row) for row in rows])


def run(warehouse: Warehouse, date: dt.date, run_id: str | None = None, **thresholds: Any) -> dict[str, Any]:
    """Run the procedure for `date`; its load_log row."""
    run_id = run_id or f"run-{date.isoformat()}-{uuid.uuid4().hex[:6]}"
    warehouse.call_procedure(PROCEDURE, {"run_date": date, "run_id": run_id, **thresholds})
    return last_log(warehouse, run_id)


def last_log(warehouse: Warehouse, run_id: str) -> dict[str, Any]:
    rows = warehouse.query(
        "SELECT TOP (1) * FROM etl.load_log WHERE run_id = @run_id ORDER BY load_id DESC;", {"run_id": run_id}
    )
    assert rows, f"no load_log row for {run_id}"
    return rows[0]


def fact(warehouse: Warehouse) -> dict[tuple[str, dt.date], dict[str, Any]]:
    rows = warehouse.query("SELECT * FROM dbo.fact_daily_company_activity ORDER BY company_id, activity_date;")
    return {(r["company_id"], r["activity_date"]): r for r in rows}


def dim(warehouse: Warehouse) -> dict[str, dict[str, Any]]:
    return {r["company_id"]: r for r in warehouse.query("SELECT * FROM dbo.dim_company ORDER BY company_id;")}


def snapshot_all(warehouse: Warehouse) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table (to prove that a failed run changed nothing)."""
    orders = {
        "dbo.fact_daily_company_activity": "company_id, activity_date",
        "dbo.dim_company": "company_id",
        "dbo.crm_contact_history": "company_id, contact_date",
        "stg.product_usage_daily": "usage_date, company_id, active_users",
        # Names compare by code point: SQL Server orders the database's case-insensitive collation
        # linguistically, which the DuckDB engine does not reproduce (docs/tsql-subset.md).
        "stg.crm_company": "snapshot_date, company_id, company_name COLLATE Latin1_General_100_BIN2_UTF8",
        "etl.load_log": "load_id",
    }
    return {table: warehouse.query(f"SELECT * FROM {table} ORDER BY {order};") for table, order in orders.items()}
