"""What the dashboard shows, read from the rpt views only (sql/migrations/0007, 0009 and 0011).

The file carries a window of loaded days (WINDOW_DAYS ending on the day asked for) so that the page can
show any day of it: per day and per (industry, country), the numbers the KPIs and charts need; per day,
the first CALL_LIST_CAP rows of rpt.call_list in its call_rank order; the daily series and contact dates
of at most SERIES_CAP companies of those lists (the asked day's first); and per day, the companies with
the most usage among those missing in the CRM. The rules (who is on the call list, in which order, why)
are the views'; this module only reads and packs them.

rpt.call_list is evaluated once per load, into the session's temp table #calls: it joins the fact table
to itself, and the per-day numbers, the lists and the series all read it. Any reader of the rpt views
may do that (a temp table needs no permission beyond SELECT on rpt); the reader must keep one session
(connection) for the whole load, as the local Warehouse and AzureSqlReader do. The same T-SQL runs on DuckDB
(through the local translator) and on Azure SQL (the Function app, as a member of rpt_reader only).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from company_activity.dashboard.runs import PipelineRunRecord
from company_activity.errors import OperationalError

WINDOW_DAYS = 42  # six weeks: the day shown, the week before it and four more (docs/dashboard.md, "The window")
CALL_LIST_CAP = 300  # rows of each day's call list in the file
SERIES_CAP = 1000  # companies with a daily series (sparkline, drill-down)
NO_CRM_CAP = 50  # rows of each day's usage-without-CRM list
COMPARISON_DAYS = 7
BIN2 = "COLLATE Latin1_General_100_BIN2_UTF8"
# One row of the per-day numbers: these counts, in this order, for (day, industry, country).
MEASURES = (
    "companies", "active_users", "companies_at_risk", "low_activity", "stale_contact", "no_contact",
    "call_list", "new_or_dropping", "sharp_drops", "newly_at_risk_previous_day", "newly_at_risk_week_before",
    "call_low_activity", "call_stale_contact", "call_no_contact", "usage_without_crm",
)  # fmt: skip
# Bits of a call row's `flags`.
FLAG_BITS = {
    "low_activity": 1, "stale_contact": 2, "no_contact": 4, "sharp_drop": 8,
    "newly_at_risk_previous_day": 16, "newly_at_risk_week_before": 32,
}  # fmt: skip


class RptReader(Protocol):
    """Runs T-SQL batches with @parameters on one session: `query` returns the rows of the batch's last result
    set, `execute` runs a batch that returns none (a local Warehouse and AzureSqlReader both are one)."""

    def query(self, tsql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]: ...

    def execute(self, tsql: str, params: Mapping[str, Any] | None = None) -> None: ...


class DashboardError(OperationalError):
    """The warehouse cannot give the page for this day (no loaded day, a day outside the loaded ones, ...)."""


@dataclass(frozen=True)
class Company:
    company_id: str
    name: str | None
    industry: int  # index into DashboardData.industries
    country: int  # index into DashboardData.countries


@dataclass(frozen=True)
class CallRow:
    company: int  # index into DashboardData.companies
    severity: int
    flags: int  # FLAG_BITS
    daily_active_users: int
    rolling: float
    rolling_week_before: float | None
    days_since_contact: int | None


@dataclass(frozen=True)
class NoCrmRow:
    company_id: str
    daily_active_users: int
    rolling: float
    first_seen: dt.date | None


@dataclass(frozen=True)
class DayNumbers:
    day: int  # index into DashboardData.dates
    industry: int
    country: int
    values: tuple[int, ...]  # MEASURES


@dataclass
class DashboardData:
    day: dt.date  # the day the page opens on (the last of `dates`)
    dates: list[dt.date]  # loaded days of the window, ascending
    loaded_range: tuple[dt.date, dt.date]
    industries: list[str | None]
    countries: list[str | None]
    numbers: list[DayNumbers]
    companies: list[Company]
    calls: list[list[CallRow]]  # per date, in call_rank order, at most call_cap rows
    severity_labels: dict[int, str]
    series: dict[int, tuple[list[int | None], list[float | None]]]  # company -> (daily users, 7-day avg) per date
    contacts: dict[int, list[dt.date]]
    no_crm: list[list[NoCrmRow]]  # per date, most users first, at most NO_CRM_CAP rows
    freshness: dict[str, Any]
    load_runs: list[dict[str, Any]]
    runs: list[PipelineRunRecord] = field(default_factory=list)
    runs_source: str = ""
    call_cap: int = CALL_LIST_CAP
    series_cap: int = SERIES_CAP
    window_days: int = WINDOW_DAYS


def window_start(day: dt.date, days: int = WINDOW_DAYS) -> dt.date:
    """First day of the `days`-day window ending on `day` (inclusive)."""
    return day - dt.timedelta(days=days - 1)


def load(reader: RptReader, day: dt.date | None = None, *, runs: Sequence[PipelineRunRecord] = (),
         runs_source: str = "", window_days: int = WINDOW_DAYS, call_cap: int = CALL_LIST_CAP,
         series_cap: int = SERIES_CAP) -> DashboardData:
    first_day, last_day = _loaded_range(reader)
    day = day or last_day
    start = max(window_start(day, window_days), first_day)
    params = {"start": start, "day": day}
    dates = [r["activity_date"] for r in reader.query(
        "SELECT activity_date FROM rpt.loaded_days WHERE activity_date BETWEEN @start AND @day ORDER BY activity_date",
        params)]  # fmt: skip
    if not dates or dates[-1] != day:
        raise DashboardError(f"date {day.isoformat()} is not a loaded day; loaded days are "
                             f"{first_day.isoformat()} to {last_day.isoformat()} (rpt.loaded_days)")
    index = {d: i for i, d in enumerate(dates)}
    # The temp table is created by a batch without parameters: a parameterized batch runs in sp_executesql's
    # scope on SQL Server, and a #table created there is dropped when it returns (docs/azure-fidelity.md).
    reader.execute(_CREATE_CALLS.format(bin2=BIN2))
    call_rows = reader.query(_CALLS.format(cap=int(call_cap)), params)
    industries, countries = _Labels(), _Labels()
    numbers = _numbers(reader, params, index, industries, countries)
    companies: list[Company] = []
    company_index: dict[str, int] = {}
    calls: list[list[CallRow]] = [[] for _ in dates]
    labels: dict[int, str] = {}
    for row in call_rows:
        company = company_index.get(row["company_id"])
        if company is None:
            company = company_index[row["company_id"]] = len(companies)
            companies.append(Company(row["company_id"], row["company_name"], industries.of(row["industry_tag"]),
                                     countries.of(row["country"])))
        labels[int(row["severity"])] = row["severity_label"]
        calls[index[row["activity_date"]]].append(CallRow(
            company, int(row["severity"]), _flags(row), int(row["daily_active_users"]),
            float(row["rolling_7d_active_users"]), _float(row["rolling_7d_week_before"]),
            row["days_since_last_contact"]))  # fmt: skip
    series_set = _SERIES_SET.format(top=int(series_cap), cap=int(call_cap))
    series: dict[int, tuple[list[int | None], list[float | None]]] = {}
    for row in reader.query(
        "SELECT s.company_id, s.activity_date, s.daily_active_users, s.rolling_7d_active_users "
        f"FROM rpt.company_rolling_active_users AS s INNER JOIN ({series_set}) AS c ON s.company_id = c.company_id "
        "WHERE s.activity_date BETWEEN @start AND @day ORDER BY s.company_id, s.activity_date", params,
    ):  # fmt: skip
        company = company_index[row["company_id"]]
        dau, rolling = series.setdefault(company, ([None] * len(dates), [None] * len(dates)))
        dau[index[row["activity_date"]]] = int(row["daily_active_users"])
        rolling[index[row["activity_date"]]] = float(row["rolling_7d_active_users"])
    contacts: dict[int, list[dt.date]] = {}
    for row in reader.query(
        f"SELECT k.company_id, k.contact_date FROM rpt.company_contacts AS k INNER JOIN ({series_set}) AS c "
        "ON k.company_id = c.company_id WHERE k.contact_date BETWEEN @start AND @day "
        "ORDER BY k.contact_date, k.company_id", params,
    ):  # fmt: skip
        contacts.setdefault(company_index[row["company_id"]], []).append(row["contact_date"])
    no_crm: list[list[NoCrmRow]] = [[] for _ in dates]
    for row in reader.query(_NO_CRM.format(cap=int(NO_CRM_CAP)), params):
        no_crm[index[row["activity_date"]]].append(NoCrmRow(
            row["company_id"], int(row["daily_active_users"]), float(row["rolling_7d_active_users"]),
            row["first_seen_date"]))  # fmt: skip
    freshness = reader.query(
        "SELECT latest_bronze_usage_date, latest_crm_snapshot_date, latest_fact_date, latest_succeeded_run_date, "
        "latest_succeeded_load_at, latest_failed_load_at, fact_lag_days FROM rpt.data_freshness"
    )[0]
    load_runs = reader.query(
        "SELECT TOP (200) load_id, run_id, run_date, status, rows_inserted, rows_updated, rows_deleted, "
        "duration_seconds, finished_at, message FROM rpt.load_runs ORDER BY load_id DESC"
    )
    return DashboardData(
        day=day, dates=dates, loaded_range=(first_day, last_day), industries=industries.values,
        countries=countries.values, numbers=numbers, companies=companies, calls=calls, severity_labels=labels,
        series=series, contacts=contacts, no_crm=no_crm, freshness=freshness, load_runs=load_runs,
        runs=list(runs), runs_source=runs_source, call_cap=call_cap, series_cap=series_cap, window_days=window_days,
    )  # fmt: skip


def _loaded_range(reader: RptReader) -> tuple[dt.date, dt.date]:
    row = reader.query("SELECT MIN(activity_date) AS first_day, MAX(activity_date) AS last_day FROM rpt.loaded_days")
    if not row or row[0]["last_day"] is None:
        raise DashboardError("the warehouse has no loaded day (rpt.loaded_days is empty): load one first, e.g. "
                             "`company-activity demo` or `company-activity pipeline run`")
    return row[0]["first_day"], row[0]["last_day"]


# rpt.call_list of the window, once, into #calls; the second batch answers each day's first `cap` rows.
_CREATE_CALLS = """
DROP TABLE IF EXISTS #calls;
CREATE TABLE #calls (
    activity_date DATE NOT NULL, call_rank BIGINT NOT NULL, company_id VARCHAR(64) {bin2} NOT NULL,
    company_name VARCHAR(200) {bin2} NULL, industry_tag VARCHAR(100) {bin2} NULL, country VARCHAR(100) {bin2} NULL,
    severity INT NOT NULL, severity_label VARCHAR(40) {bin2} NOT NULL, daily_active_users INT NOT NULL,
    rolling_7d_active_users FLOAT NOT NULL, rolling_7d_week_before FLOAT NULL, days_since_last_contact INT NULL,
    is_low_activity BIT NOT NULL, is_stale_contact BIT NOT NULL, is_no_contact BIT NOT NULL,
    is_sharp_drop BIT NOT NULL, is_newly_at_risk_previous_day BIT NULL, is_newly_at_risk_week_before BIT NULL
);
"""
_CALLS = """
INSERT INTO #calls
SELECT activity_date, call_rank, company_id, company_name, RTRIM(industry_tag), RTRIM(country), severity,
       severity_label, daily_active_users, rolling_7d_active_users, rolling_7d_week_before, days_since_last_contact,
       is_low_activity, is_stale_contact, is_no_contact, is_sharp_drop, is_newly_at_risk_previous_day,
       is_newly_at_risk_week_before
FROM rpt.call_list WHERE activity_date BETWEEN @start AND @day;
SELECT * FROM #calls WHERE call_rank <= {cap} ORDER BY activity_date, call_rank;
"""

# The companies that get a series: those of the asked day's list first, then the best ranked of the others.
_SERIES_SET = (
    "SELECT TOP ({top}) company_id FROM #calls WHERE call_rank <= {cap} GROUP BY company_id "
    "ORDER BY MAX(CASE WHEN activity_date = @day THEN 1 ELSE 0 END) DESC, MIN(call_rank), "
    "MAX(activity_date) DESC, company_id"
)

_NO_CRM = """
SELECT activity_date, company_id, daily_active_users, rolling_7d_active_users, first_seen_date
FROM (
    SELECT activity_date, company_id, daily_active_users, rolling_7d_active_users, first_seen_date,
           ROW_NUMBER() OVER (PARTITION BY activity_date ORDER BY daily_active_users DESC, company_id) AS n
    FROM rpt.usage_without_crm WHERE activity_date BETWEEN @start AND @day
) AS u
WHERE n <= {cap}
ORDER BY activity_date, n
"""


def _numbers(reader: RptReader, params: Mapping[str, Any], index: Mapping[dt.date, int], industries: _Labels,
             countries: _Labels) -> list[DayNumbers]:
    """The per-day numbers by (industry, country): every company from rpt.company_daily_activity, the call list's
    from #calls, usage without CRM from rpt.usage_without_crm (no CRM attributes: the (NULL, NULL) group)."""
    values: dict[tuple[int, int, int], list[int]] = {}

    def add(rows: list[dict[str, Any]], names: Sequence[str]) -> None:
        for row in rows:
            day = index[row["activity_date"]]
            key = (day, industries.of(row.get("industry_tag")), countries.of(row.get("country")))
            target = values.setdefault(key, [0] * len(MEASURES))
            for name in names:
                target[MEASURES.index(name)] = int(row[name] or 0)

    # Industry and country as rpt.call_list_daily groups them: as stored, case included, less trailing spaces
    # (SQL Server groups 'Retail ' with 'Retail'), so that each has one label.
    industry, country = f"RTRIM(industry_tag {BIN2})", f"RTRIM(country {BIN2})"
    group = f"activity_date, {industry}, {country}"
    add(reader.query(
        f"SELECT activity_date, {industry} AS industry_tag, {country} AS country, "
        "COUNT(*) AS companies, SUM(CAST(daily_active_users AS BIGINT)) AS active_users, "
        "SUM(CASE WHEN is_churn_risk = 1 THEN 1 ELSE 0 END) AS companies_at_risk, "
        "SUM(CASE WHEN is_low_activity = 1 THEN 1 ELSE 0 END) AS low_activity, "
        "SUM(CASE WHEN is_stale_contact = 1 THEN 1 ELSE 0 END) AS stale_contact, "
        "SUM(CASE WHEN is_no_contact = 1 THEN 1 ELSE 0 END) AS no_contact "
        f"FROM rpt.company_daily_activity WHERE activity_date BETWEEN @start AND @day GROUP BY {group} "
        f"ORDER BY {group}", params),
        MEASURES[:6])  # fmt: skip
    add(reader.query(
        "SELECT activity_date, industry_tag, country, COUNT(*) AS call_list, "
        "SUM(CASE WHEN severity = 1 THEN 1 ELSE 0 END) AS new_or_dropping, "
        "SUM(CASE WHEN is_sharp_drop = 1 THEN 1 ELSE 0 END) AS sharp_drops, "
        "SUM(CASE WHEN is_newly_at_risk_previous_day = 1 THEN 1 ELSE 0 END) AS newly_at_risk_previous_day, "
        "SUM(CASE WHEN is_newly_at_risk_week_before = 1 THEN 1 ELSE 0 END) AS newly_at_risk_week_before, "
        "SUM(CASE WHEN is_low_activity = 1 THEN 1 ELSE 0 END) AS call_low_activity, "
        "SUM(CASE WHEN is_stale_contact = 1 THEN 1 ELSE 0 END) AS call_stale_contact, "
        "SUM(CASE WHEN is_no_contact = 1 THEN 1 ELSE 0 END) AS call_no_contact "
        "FROM #calls GROUP BY activity_date, industry_tag, country ORDER BY activity_date, industry_tag, country",
        params), MEASURES[6:14])  # fmt: skip
    add(reader.query(
        "SELECT activity_date, COUNT(*) AS usage_without_crm FROM rpt.usage_without_crm "
        "WHERE activity_date BETWEEN @start AND @day GROUP BY activity_date ORDER BY activity_date", params),
        MEASURES[14:])  # fmt: skip
    return [DayNumbers(d, i, c, tuple(v)) for (d, i, c), v in sorted(values.items())]


class _Labels:
    """Distinct text values (NULL included) numbered in order of first sight (every query that feeds one has an
    ORDER BY, so the same warehouse gives the same file)."""

    def __init__(self) -> None:
        self.values: list[str | None] = []
        self._index: dict[str | None, int] = {}

    def of(self, value: str | None) -> int:
        if value not in self._index:
            self._index[value] = len(self.values)
            self.values.append(value)
        return self._index[value]


def _flags(row: Mapping[str, Any]) -> int:
    return sum(bit for name, bit in FLAG_BITS.items()
               if row.get(f"is_{name}") in (True, 1))  # fmt: skip


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
