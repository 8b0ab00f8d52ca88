"""Warehouse benchmark: is the daily merge incremental at 100k companies x 730 days, and bounded when every
company is renamed? How fast is a backfill?

Each case runs in its own subprocess (so peak RSS is per case):

1. `history` (DuckDB, and SQL Server with --connection-string): 100k companies, the daily procedure after
   7 days of fact history and after 730 days (73M fact rows). Both histories are built the same way:
   the procedure runs for the first day (it creates dim_company, the contact history and that day's
   ~100k fact rows), then that day's rows are copied to the following days, 30 days per INSERT ... SELECT
   (COPY_DAYS keeps the copies consistent with the rules). Then the procedure runs for 3 days with fresh
   usage from the simulator and the snapshot plus one day of CRM activity (2% of companies contacted that
   day): the figure is the median of those 3 calls (target: 730-day / 7-day <= 1.3, the work is
   incremental). Then one day on which every company is renamed and retagged (a CRM-wide taxonomy change):
   the run writes dim_company once per company and, rule 7 being the fact view's join, no history row; the
   table reports the rows that run's one transaction wrote. Then one day on which every company's contact
   date is set back to the history's second day (every history row moves): the run writes at most
   @max_history_rows of them and leaves the rest to etl.fact_history_backlog. On SQL Server each run also reports the
   session's logical reads and page writes (sys.dm_exec_sessions, before and after the call).
2. `backfill` (DuckDB): 10k companies, 90 consecutive days through `transform` (bronze-format gz usage
   files + CRM CSV per day, staged and merged), as `company-activity transform` would replay them.

    .venv/bin/python bench/bench_warehouse.py                 # the documented DuckDB figures (~40 min)
    .venv/bin/python bench/bench_warehouse.py --quick         # a small smoke run
    .venv/bin/python bench/bench_warehouse.py --connection-string "$CS" --days 730   # SQL Server, 730 days
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from company_activity_local.services.crm_generator import CrmGenerator, write_crm_csv
from company_activity_local.services.usage_data import Dataset
from company_activity_local.warehouse import open_warehouse
from company_activity_local.warehouse.crm import CrmRow, crm_blob_path
from company_activity_local.warehouse.staging import load_crm_snapshot, load_usage_file
from company_activity_local.warehouse.transform import PROCEDURE, Thresholds, transform

START = date(2025, 1, 1)
MEASURED_DAYS = 3


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def write_usage(dataset: Dataset, day: date, folder: Path) -> tuple[Path, int]:
    path = folder / f"product_usage/date={day.isoformat()}/part-00000.jsonl.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as out:
        for record in dataset.valid_records(day):
            out.write(json.dumps(record) + "\n")
            count += 1
    return path, count


def write_crm(generator: CrmGenerator, day: date, folder: Path) -> Path:
    path = folder / "crm" / crm_blob_path(day)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as out:
        write_crm_csv(generator.snapshot(day), out)
    return path


def call(wh: Any, day: date, run_id: str) -> float:
    started = time.perf_counter()
    wh.call_procedure(PROCEDURE, {"run_date": day, "run_id": run_id, "low_activity_threshold": 1.0,
                                  "stale_contact_days": 90})
    return time.perf_counter() - started


def stage(wh: Any, dataset: Dataset, snapshot: list[CrmRow], day: date, folder: Path) -> int:
    usage, count = write_usage(dataset, day, folder)
    load_usage_file(wh, usage, day)
    load_crm_snapshot(wh, snapshot, day)
    return count


def todays_snapshot(previous: list[CrmRow], day: date, salt: int) -> list[CrmRow]:
    """Yesterday's snapshot plus one day of CRM activity: 2% of the companies contacted today."""
    out = []
    for index, row in enumerate(previous):
        if (index * 7919 + salt * 104729) % 10_000 < 200:
            row = replace(row, last_contact_date=day)
        out.append(row)
    return out


def backdated_contacts(previous: list[CrmRow], first: date) -> list[CrmRow]:
    """Every company's contact date set to the second day of the history (a CRM import of old contacts):
    every history row of every company moves, which the run bounds by @max_history_rows."""
    return [replace(row, last_contact_date=first + timedelta(days=1)) for row in previous]


def renamed_snapshot(previous: list[CrmRow], day: date) -> list[CrmRow]:
    """Every company renamed and retagged (a CRM-wide taxonomy change), 2% contacted as on any day."""
    return [replace(row, company_name=f"{row.company_name} (renamed {day})",
                    industry_tag=f"{row.industry_tag or 'none'}-v2")
            for row in todays_snapshot(previous, day, 7)]


# Copies the first day's rows to `days` later days at once, keeping the history consistent with the rules:
# usage is the same every day, so the rolling average equals it; no contact happens during the history,
# so the days since the last contact grow by the offset, and the churn flags follow (thresholds 1.0, 90).
COPY_DAYS = """
CREATE TABLE #offsets (n INT NOT NULL PRIMARY KEY);
INSERT INTO #offsets (n) VALUES {offsets};
INSERT INTO dbo.fact_daily_company_activity_base (
    activity_date, company_id, daily_active_users, daily_events_count, [7d_rolling_active_users],
    days_since_last_contact, is_churn_risk, churn_risk_reason, loaded_at, load_run_id)
SELECT DATEADD(DAY, o.n, f.activity_date), f.company_id, f.daily_active_users, f.daily_events_count,
    f.[7d_rolling_active_users], f.days_since_last_contact + o.n,
    CAST(CASE WHEN f.[7d_rolling_active_users] < 1.0 OR f.days_since_last_contact IS NULL
              OR f.days_since_last_contact + o.n > 90 THEN 1 ELSE 0 END AS BIT),
    NULLIF(CONCAT_WS(',',
        CASE WHEN f.[7d_rolling_active_users] < 1.0 THEN 'low_activity' END,
        CASE WHEN f.days_since_last_contact + o.n > 90 THEN 'stale_contact' END,
        CASE WHEN f.days_since_last_contact IS NULL THEN 'no_contact' END), ''),
    f.loaded_at, f.load_run_id
FROM dbo.fact_daily_company_activity_base AS f
CROSS JOIN #offsets AS o
WHERE f.activity_date = @first;
DROP TABLE #offsets;
"""
COPY_CHUNK_DAYS = 30
# SQL Server only: the session's counters, read before and after a call (sys.dm_exec_sessions).
SESSION_IO = "SELECT logical_reads, writes FROM sys.dm_exec_sessions WHERE session_id = @@SPID;"
# SQL Server only: pages (8 KB) and rows of each index of the fact after the history is built (page-compressed).
FACT_SIZES = """
SELECT i.name AS index_name, SUM(s.used_page_count) AS pages, SUM(s.row_count) AS row_count
FROM sys.dm_db_partition_stats AS s
INNER JOIN sys.indexes AS i ON i.object_id = s.object_id AND i.index_id = s.index_id
WHERE s.object_id = OBJECT_ID(N'dbo.fact_daily_company_activity_base')
GROUP BY i.name
ORDER BY i.name;
"""


def copy_history(wh: Any, first: date, days: int) -> None:
    for start in range(1, days, COPY_CHUNK_DAYS):
        offsets = ", ".join(f"({n})" for n in range(start, min(start + COPY_CHUNK_DAYS, days)))
        wh.execute(COPY_DAYS.format(offsets=offsets), {"first": first})


def cpu_seconds() -> float:
    """CPU time of this process, all threads (DuckDB's included): steadier than wall time on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measured_call(wh: Any, day: date, run_id: str, engine: str) -> dict[str, Any]:
    before = wh.query(SESSION_IO)[0] if engine == "sqlserver" else None
    cpu_before = cpu_seconds()
    seconds = call(wh, day, run_id)
    cpu_s = cpu_seconds() - cpu_before
    after = wh.query(SESSION_IO)[0] if engine == "sqlserver" else None
    log = wh.query("SELECT rows_inserted, rows_updated, rows_deleted FROM etl.load_log WHERE run_id = @run_id",
                   {"run_id": run_id})[0]
    result = {"seconds": seconds, "cpu_s": cpu_s, **log}
    if before is not None and after is not None:
        result["logical_reads"] = after["logical_reads"] - before["logical_reads"]
        result["writes"] = after["writes"] - before["writes"]
    return result


def open_case_warehouse(folder: Path, connection_string: str | None) -> tuple[Any, str]:
    if connection_string:
        wh = open_warehouse(connection_string=connection_string)
        wh.deploy()
        for table in ("dbo.fact_daily_company_activity_base", "dbo.dim_company", "dbo.crm_contact_history",
                      "stg.product_usage_daily", "stg.crm_company", "etl.load_log", "etl.fact_history_backlog"):
            wh.execute(f"DELETE FROM {table};")
        return wh, "sqlserver"
    wh = open_warehouse(duckdb_path=str(folder / "history.duckdb"))
    wh.deploy()
    return wh, "duckdb"


def case_history(companies: int, days: int, folder: Path, connection_string: str | None = None) -> dict[str, Any]:
    dataset = Dataset(companies, seed=1)
    first = START
    base = CrmGenerator(companies, seed=1).snapshot(first)
    wh, engine = open_case_warehouse(folder, connection_string)
    try:
        stage(wh, dataset, base, first, folder)
        first_call = call(wh, first, "bench-first")
        started = time.perf_counter()
        copy_history(wh, first, days)
        sizes: list[dict[str, Any]] = []
        if engine == "sqlserver":
            wh.execute("UPDATE STATISTICS dbo.fact_daily_company_activity_base;")
            sizes = wh.query(FACT_SIZES)
        copy_s = time.perf_counter() - started
        fact_rows = wh.query("SELECT COUNT(*) AS n FROM dbo.fact_daily_company_activity_base")[0]["n"]
        runs: dict[str, list[dict[str, Any]]] = {"contacts": [], "rename_all": [], "contacts_backdated": []}
        snapshot = base
        kinds = ["contacts"] * MEASURED_DAYS + ["rename_all", "contacts_backdated"]
        for k, kind in enumerate(kinds):
            day = first + timedelta(days=days + k)
            if kind == "contacts":
                snapshot = todays_snapshot(snapshot, day, k)
            elif kind == "rename_all":
                snapshot = renamed_snapshot(snapshot, day)
            else:
                snapshot = backdated_contacts(snapshot, first)
            stage(wh, dataset, snapshot, day, folder)
            run = measured_call(wh, day, f"bench-{k}", engine)
            if kind == "rename_all":
                run["dim_rows_written"] = wh.query(
                    "SELECT COUNT(*) AS n FROM dbo.dim_company WHERE crm_snapshot_date = @day", {"day": day})[0]["n"]
                run["fact_rows_showing_new_names"] = wh.query(
                    "SELECT COUNT(*) AS n FROM dbo.fact_daily_company_activity "
                    "WHERE RTRIM(company_name) LIKE '%(renamed%'"
                )[0]["n"]
            if kind == "contacts_backdated":
                run["backlog_companies"] = wh.query("SELECT COUNT(*) AS n FROM etl.fact_history_backlog")[0]["n"]
            runs[kind].append(run)
    finally:
        wh.close()
    return {"case": f"history {days} days", "engine": engine, "companies": companies, "history_days": days,
            "fact_rows_before": fact_rows, "fact_sizes": sizes, "first_call_s": first_call, "copy_s": copy_s,
            "runs": runs,
            "median_s": statistics.median(r["seconds"] for r in runs["contacts"]),
            "median_cpu_s": statistics.median(r["cpu_s"] for r in runs["contacts"]),
            "peak_rss_mib": peak_rss_mib()}


def case_backfill(companies: int, days: int, folder: Path) -> dict[str, Any]:
    dataset, generator = Dataset(companies, seed=2), CrmGenerator(companies, seed=2)
    inputs = []
    started = time.perf_counter()
    for k in range(days):
        day = START + timedelta(days=k)
        usage, count = write_usage(dataset, day, folder)
        inputs.append((day, usage, write_crm(generator, day, folder), count))
    files_s = time.perf_counter() - started
    wh = open_warehouse(duckdb_path=str(folder / "backfill.duckdb"))
    try:
        wh.deploy()
        per_day = []
        started = time.perf_counter()
        for day, usage, crm, _ in inputs:
            t0 = time.perf_counter()
            log = transform(wh, day, [usage], crm, run_id=f"backfill-{day}", thresholds=Thresholds()).load_log
            assert log.status == "succeeded", log.values
            per_day.append(time.perf_counter() - t0)
        total_s = time.perf_counter() - started
        fact_rows = wh.query("SELECT COUNT(*) AS n FROM dbo.fact_daily_company_activity")[0]["n"]
    finally:
        wh.close()
    records = sum(i[3] for i in inputs)
    return {"case": f"backfill {days} days", "companies": companies, "days": days, "files_s": files_s,
            "total_s": total_s, "per_day_median_s": statistics.median(per_day), "per_day_max_s": max(per_day),
            "usage_records": records, "records_per_s": records / total_s, "fact_rows": fact_rows,
            "peak_rss_mib": peak_rss_mib()}


def run_case(argv: list[str]) -> dict[str, Any]:
    """One case in a fresh interpreter, so its peak RSS is its own."""
    done = subprocess.run([sys.executable, __file__, *argv], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2k companies, 30-day history, 10-day backfill")
    parser.add_argument("--connection-string", help="run the history case on SQL Server (its logical reads too)")
    parser.add_argument("--case", choices=("history", "backfill"), help=argparse.SUPPRESS)
    parser.add_argument("--companies", type=int, help="companies of the history cases (default 100000)")
    parser.add_argument("--days", type=int, help="the long history (default 730)")
    args = parser.parse_args()
    if args.case:
        with tempfile.TemporaryDirectory(prefix="bench-warehouse-") as folder:
            if args.case == "history":
                result = case_history(args.companies, args.days, Path(folder), args.connection_string)
            else:
                result = case_backfill(args.companies, args.days, Path(folder))
            print(json.dumps(result, default=str))
        return

    big, long, backfill_companies, backfill_days = (2_000, 30, 1_000, 10) if args.quick else (100_000, 730, 10_000, 90)
    big, long = args.companies or big, args.days or long
    if args.connection_string:
        print(f"warehouse benchmark (SQL Server), {big:,} companies, {long} days", flush=True)
        deep = run_case(["--case", "history", "--companies", str(big), "--days", str(long),
                         "--connection-string", args.connection_string])
        print_history([deep])
        return
    print(f"warehouse benchmark (DuckDB), {'quick' if args.quick else 'full'} run", flush=True)
    short = run_case(["--case", "history", "--companies", str(big), "--days", "7"])
    print(f"  history 7 days done: median {short['median_s']:.2f} s", flush=True)
    deep = run_case(["--case", "history", "--companies", str(big), "--days", str(long)])
    print(f"  history {long} days done: median {deep['median_s']:.2f} s", flush=True)
    backfill = run_case(["--case", "backfill", "--companies", str(backfill_companies), "--days", str(backfill_days)])
    print_history([short, deep])
    ratio = deep["median_s"] / short["median_s"]
    flag = "" if ratio <= 1.3 else "  ** ABOVE TARGET **"
    print(f"ratio {long} days / 7 days, 2% contacted: {ratio:.2f} (target <= 1.3){flag}; "
          f"CPU {deep['median_cpu_s'] / short['median_cpu_s']:.2f}")
    print()
    print(f"| backfill, {backfill_companies:,} companies | days | usage records | total (s) | per day median / max (s) "
          "| records/s | fact rows | peak RSS (MiB) |")
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    print(f"| transform per day (stage + merge) | {backfill['days']} | {backfill['usage_records']:,} | "
          f"{backfill['total_s']:.1f} | {backfill['per_day_median_s']:.2f} / {backfill['per_day_max_s']:.2f} | "
          f"{backfill['records_per_s']:,.0f} | {backfill['fact_rows']:,} | {backfill['peak_rss_mib']:.0f} |")


def print_history(cases: list[dict[str, Any]]) -> None:
    sqlserver = any(c["engine"] == "sqlserver" for c in cases)
    io_head = " logical reads | page writes |" if sqlserver else ""
    print()
    print(f"| daily procedure ({cases[0]['engine']}), {cases[0]['companies']:,} companies | fact rows before | "
          f"CRM change of the day | run (s) | CPU (s) | fact rows inserted/updated/deleted |{io_head} peak RSS (MiB) |")
    print("| --- | ---: | --- | ---: | ---: | --- |" + (" ---: | ---: |" if sqlserver else "") + " ---: |")
    for case in cases:
        for kind, label in (("contacts", "2% contacted"), ("rename_all", "every company renamed, 2% contacted"),
                            ("contacts_backdated", "every company's contact date set to day 2 of the history")):
            for run in case["runs"][kind]:
                io = f" {run['logical_reads']:,} | {run['writes']:,} |" if "logical_reads" in run else ""
                print(f"| {case['history_days']} days of history | {case['fact_rows_before']:,} | {label} | "
                      f"{run['seconds']:.2f} | {run['cpu_s']:.2f} | "
                      f"{run['rows_inserted']}/{run['rows_updated']}/{run['rows_deleted']} |"
                      f"{io} {case['peak_rss_mib']:.0f} |")
    for case in cases:
        [rename] = case["runs"]["rename_all"]
        written = rename["rows_inserted"] + rename["rows_updated"] + rename["rows_deleted"]
        print(f"{case['history_days']} days: the rename of all {case['companies']:,} companies wrote {written:,} fact "
              f"rows and {rename['dim_rows_written']:,} dim_company rows in its one transaction; "
              f"{rename['fact_rows_showing_new_names']:,} fact rows show the new names (the view's join)")
    for case in cases:
        [backdated] = case["runs"]["contacts_backdated"]
        written = backdated["rows_inserted"] + backdated["rows_updated"] + backdated["rows_deleted"]
        print(f"{case['history_days']} days: the backdated contacts of all {case['companies']:,} companies wrote "
              f"{written:,} fact rows in the run's one transaction; {backdated['backlog_companies']:,} companies' "
              "older rows wait in etl.fact_history_backlog for the next runs")
    for case in cases:
        print(f"{case['history_days']} days: history built in {case['copy_s']:.1f} s "
              f"(first procedure call {case['first_call_s']:.2f} s)")
        for size in case.get("fact_sizes") or []:
            pages, rows = size["pages"], size["row_count"]
            print(f"  {size['index_name']}: {pages:,} pages ({pages * 8 / 1024 / 1024:.2f} GB), "
                  f"{pages * 8192 / max(rows, 1):.1f} bytes per row")


if __name__ == "__main__":
    main()
