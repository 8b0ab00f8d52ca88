"""Load the dashboard from a local Warehouse and write it to a file."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from company_activity.dashboard import data
from company_activity.dashboard.data import DashboardData, DashboardError
from company_activity.dashboard.render import render_html
from company_activity.dashboard.runs import PipelineRunRecord, latest_records
from company_activity_local.warehouse import Warehouse, WarehouseError
from company_activity_local.warehouse.sql_errors import SqlErrorNumber


def load(warehouse: Warehouse, day: dt.date | None = None, *, runs: Sequence[PipelineRunRecord] = (),
         runs_source: str = "") -> DashboardData:
    """The dashboard's data; `runs` are run records in any order (the last record of each run id counts)."""
    try:
        return data.load(warehouse, day, runs=latest_records(runs), runs_source=runs_source)
    except WarehouseError as error:
        if error.number == SqlErrorNumber.INVALID_OBJECT_NAME:  # DuckDB's catalog errors map to it too
            raise DashboardError(
                f"the warehouse has no rpt views or an older version of them ({error.message.splitlines()[0]}); "
                "run `company-activity sql deploy` first"
            ) from None
        raise


def write_dashboard(dashboard: DashboardData, path: str | Path) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(dashboard), encoding="utf-8")
    return target
