"""What the dashboard shows, read from the rpt views only (sql/migrations/0007_reporting_views.sql).

Aggregates come from SQL (rpt.daily_summary, rpt.churn_risk_daily); row-level data is capped at
AT_RISK_ROW_CAP at-risk companies (lowest 7-day rolling average first), whose daily series over the
WINDOW_DAYS window feed the sparklines and the drill-down. The same queries run on DuckDB and on
SQL Server / Azure SQL (T-SQL through the Warehouse contract).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypedDict

from company_activity.errors import OperationalError
from company_activity_local.warehouse import Warehouse, WarehouseError
from company_activity_local.warehouse.sql_errors import SqlErrorNumber

AT_RISK_ROW_CAP = 1000
WINDOW_DAYS = 90
KPI_COMPARISON_DAYS = 7
LOAD_RUNS_SHOWN = 15
REASONS = ("low_activity", "stale_contact", "no_contact")


class DashboardError(OperationalError):
    """Input the dashboard cannot be built from (empty warehouse, a date without rows, ...)."""


@dataclass(frozen=True)
class Kpi:
    name: str
    value: int
    previous: int | None  # the same number 7 days before; None when that day is not loaded


# The rows the dashboard reads, one TypedDict per rpt view's row (column names as in
# sql/migrations/0007_reporting_views.sql): a column renamed in SQL fails in `_row`, not in the page's script.
class AtRiskRow(TypedDict):
    company_id: str
    company_name: str | None
    industry_tag: str | None
    country: str | None
    daily_active_users: int
    rolling_7d_active_users: Decimal | float
    days_since_last_contact: int | None
    last_contact_date: dt.date | None
    churn_risk_reason: str | None


class Series(TypedDict):
    dates: list[dt.date]
    dau: list[int]
    rolling: list[Decimal | float]


class Freshness(TypedDict):
    latest_bronze_usage_date: dt.date | None
    latest_crm_snapshot_date: dt.date | None
    latest_fact_date: dt.date | None
    latest_succeeded_run_date: dt.date | None
    latest_succeeded_load_at: dt.datetime | None
    latest_failed_load_at: dt.datetime | None
    fact_lag_days: int | None


class LoadRunRow(TypedDict):
    load_id: int
    run_id: str
    run_date: dt.date
    status: str
    rows_inserted: int | None
    rows_updated: int | None
    rows_deleted: int | None
    duration_seconds: Decimal | float | None
    finished_at: dt.datetime | None
    message: str | None


@dataclass(frozen=True, kw_only=True)
class DashboardData:
    day: dt.date
    window_start: dt.date
    comparison_day: dt.date
    kpis: list[Kpi]
    at_risk_total: int
    at_risk: list[AtRiskRow]
    series: dict[str, Series]  # company_id -> its daily series over the window
    contacts: dict[str, list[dt.date]]
    trend: dict[str, list[Any]]  # "dates", one list of counts per reason, "total"
    freshness: Freshness
    load_runs: list[LoadRunRow]
    loaded_range: tuple[dt.date, dt.date]
    cap: int = AT_RISK_ROW_CAP
    window_days: int = WINDOW_DAYS
    notes: list[str] = field(default_factory=list)


def _row(row: Mapping[str, Any], model: type[Any]) -> Any:
    """`row` as `model`: its columns, in the model's order (a column the query lacks is a KeyError: the
    SELECT list and the model disagree)."""
    return {name: row[name] for name in model.__annotations__}


def window_start(day: dt.date, days: int = WINDOW_DAYS) -> dt.date:
    """First day of the `days`-day window ending on `day` (inclusive)."""
    return day - dt.timedelta(days=days - 1)


# The capped at-risk companies of @day: the at-risk table, sparklines and drill-down all use this set.
_CAPPED = (
    f"SELECT TOP {AT_RISK_ROW_CAP} company_id FROM rpt.company_daily_activity "
    "WHERE activity_date = @day AND is_churn_risk = 1 ORDER BY rolling_7d_active_users, company_id"
)


def load(warehouse: Warehouse, day: dt.date | None = None) -> DashboardData:
    try:
        return _load(warehouse, day)
    except WarehouseError as error:
        if error.number == SqlErrorNumber.INVALID_OBJECT_NAME:  # DuckDB's catalog errors map to it too
            raise DashboardError(
                f"the warehouse has no rpt views ({error.message.splitlines()[0]}); "
                "run `company-activity sql deploy` first"
            ) from None
        raise


def _load(warehouse: Warehouse, day: dt.date | None) -> DashboardData:
    loaded = warehouse.query(
        "SELECT MIN(activity_date) AS first_day, MAX(activity_date) AS last_day FROM rpt.daily_summary"
    )
    first_day, last_day = loaded[0]["first_day"], loaded[0]["last_day"]
    if last_day is None:
        raise DashboardError(
            "the warehouse has no loaded day (rpt.daily_summary is empty): load one first, e.g. "
            "`company-activity demo` or `company-activity pipeline run`"
        )
    day = day or last_day
    start = window_start(day)
    comparison = day - dt.timedelta(days=KPI_COMPARISON_DAYS)
    summary = {
        row["activity_date"]: row
        for row in warehouse.query(
            "SELECT activity_date, companies, active_users, companies_at_risk FROM rpt.daily_summary "
            "WHERE activity_date BETWEEN @start AND @day",
            {"start": start, "day": day},
        )
    }
    if day not in summary:
        raise DashboardError(
            f"--date {day.isoformat()} has no rows in rpt.daily_summary; loaded days are "
            f"{first_day.isoformat()} to {last_day.isoformat()}"
        )
    current, previous = summary[day], summary.get(comparison)
    kpis = [
        Kpi(name, int(current[name]), int(previous[name]) if previous else None)
        for name in ("companies", "active_users", "companies_at_risk")
    ]
    params = {"day": day, "start": start}
    at_risk: list[AtRiskRow] = [_row(r, AtRiskRow) for r in warehouse.query(
        "SELECT TOP " + str(AT_RISK_ROW_CAP) + " company_id, company_name, industry_tag, country, "
        "daily_active_users, rolling_7d_active_users, days_since_last_contact, last_contact_date, "
        "churn_risk_reason FROM rpt.company_daily_activity WHERE activity_date = @day AND is_churn_risk = 1 "
        "ORDER BY rolling_7d_active_users, company_id",
        {"day": day},
    )]
    series: dict[str, Series] = {}
    for row in warehouse.query(
        "SELECT a.company_id, a.activity_date, a.daily_active_users, a.rolling_7d_active_users "
        f"FROM rpt.company_rolling_active_users AS a INNER JOIN ({_CAPPED}) AS c ON a.company_id = c.company_id "
        "WHERE a.activity_date BETWEEN @start AND @day ORDER BY a.company_id, a.activity_date",
        params,
    ):
        entry = series.setdefault(row["company_id"], Series(dates=[], dau=[], rolling=[]))
        entry["dates"].append(row["activity_date"])
        entry["dau"].append(row["daily_active_users"])
        entry["rolling"].append(row["rolling_7d_active_users"])
    contacts: dict[str, list[dt.date]] = {}
    for row in warehouse.query(
        "SELECT k.company_id, k.contact_date FROM rpt.company_contacts AS k "
        f"INNER JOIN ({_CAPPED}) AS c ON k.company_id = c.company_id "
        "WHERE k.contact_date BETWEEN @start AND @day ORDER BY k.company_id, k.contact_date",
        params,
    ):
        contacts.setdefault(row["company_id"], []).append(row["contact_date"])
    by_reason = {
        (row["activity_date"], row["churn_risk_reason"]): int(row["companies"])
        for row in warehouse.query(
            "SELECT activity_date, churn_risk_reason, SUM(companies_at_risk) AS companies FROM rpt.churn_risk_daily "
            "WHERE activity_date BETWEEN @start AND @day GROUP BY activity_date, churn_risk_reason",
            params,
        )
    }
    dates = sorted(summary)
    trend: dict[str, list[Any]] = {"dates": dates}
    for reason in REASONS:
        trend[reason] = [by_reason.get((d, reason), 0) for d in dates]
    trend["total"] = [int(summary[d]["companies_at_risk"]) for d in dates]
    freshness: Freshness = _row(warehouse.query(
        "SELECT latest_bronze_usage_date, latest_crm_snapshot_date, latest_fact_date, latest_succeeded_run_date, "
        "latest_succeeded_load_at, latest_failed_load_at, fact_lag_days FROM rpt.data_freshness"
    )[0], Freshness)
    load_runs: list[LoadRunRow] = [_row(r, LoadRunRow) for r in warehouse.query(
        f"SELECT TOP {LOAD_RUNS_SHOWN} load_id, run_id, run_date, status, rows_inserted, rows_updated, rows_deleted, "
        "duration_seconds, finished_at, message FROM rpt.load_runs ORDER BY load_id DESC"
    )]
    return DashboardData(
        day=day,
        window_start=start,
        comparison_day=comparison,
        kpis=kpis,
        at_risk_total=int(current["companies_at_risk"]),
        at_risk=at_risk,
        series=series,
        contacts=contacts,
        trend=trend,
        freshness=freshness,
        load_runs=load_runs,
        loaded_range=(first_day, last_day),
    )
