"""Warehouse benchmark on DuckDB: is the daily merge incremental, and how fast is a backfill?

Measured side by side in one run, each case in its own subprocess (so peak RSS is per case):

1. `history`: 100k companies, the daily procedure after 7 days of fact history vs after 365 days.
   Both histories are built the same way: the procedure runs for the first day (it creates
   dim_company, the contact history and that day's ~100k fact rows), then that day's rows are copied
   to each following day with one INSERT ... SELECT per day (COPY_DAY keeps the copies consistent
   with the rules). Then the procedure runs for the next 3 days with fresh usage from the simulator
   and the snapshot plus one day of CRM activity (2% of companies contacted that day); the figure is
   the median of those 3 calls. Target: 365-day / 7-day <= 1.3 (the work is incremental). Three more
   days also rename 0.05% of companies a day; rule 7 rewrites every fact row of a renamed company, a
   cost that follows the history by design, so those runs are reported apart.
2. `backfill`: 10k companies, 90 consecutive days through `transform` (bronze-format gz usage
   files + CRM CSV per day, staged and merged), as `company-activity transform` would replay them.

    .venv/bin/python bench/bench_warehouse.py                 # the documented figures
    .venv/bin/python bench/bench_warehouse.py --quick         # a small smoke run
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


def todays_snapshot(previous: list[CrmRow], day: date, salt: int, *, renames: bool) -> list[CrmRow]:
    """Yesterday's snapshot plus one day of CRM activity: 2% contacted today and, with `renames`,
    0.05% renamed (~50 of 100k a day: generous for a CRM; renames are kept the following days).

    A rename rewrites every fact row of the company (rule 7), so its cost follows the history length
    by design; that is why the runs with and without renames are reported apart.
    """
    out = []
    for index, row in enumerate(previous):
        roll = (index * 7919 + salt * 104729) % 10_000
        if roll < 200:
            row = replace(row, last_contact_date=day)
        elif roll < 205 and renames:
            row = replace(row, company_name=f"{row.company_name} (renamed {day})")
        out.append(row)
    return out


# Copies the first day's rows to a later day, keeping the history consistent with the rules: usage is
# the same every day, so the rolling average equals it; no contact happens during the history, so the
# days since the last contact grow by the offset, and the churn flags follow (thresholds 1.0 and 90).
COPY_DAY = """
INSERT INTO dbo.fact_daily_company_activity (
    activity_date, company_id, company_name, industry_tag, country, daily_active_users, daily_events_count,
    [7d_rolling_active_users], days_since_last_contact, is_churn_risk, churn_risk_reason, loaded_at, load_run_id)
SELECT DATEADD(day, @offset, activity_date), company_id, company_name, industry_tag, country,
    daily_active_users, daily_events_count, [7d_rolling_active_users], days_since_last_contact + @offset,
    CASE WHEN [7d_rolling_active_users] < 1.0 OR days_since_last_contact IS NULL
              OR days_since_last_contact + @offset > 90 THEN 1 ELSE 0 END,
    NULLIF(CONCAT_WS(',',
        CASE WHEN [7d_rolling_active_users] < 1.0 THEN 'low_activity' END,
        CASE WHEN days_since_last_contact + @offset > 90 THEN 'stale_contact' END,
        CASE WHEN days_since_last_contact IS NULL THEN 'no_contact' END), ''),
    loaded_at, load_run_id
FROM dbo.fact_daily_company_activity
WHERE activity_date = @first
"""


def case_history(companies: int, days: int, folder: Path) -> dict[str, Any]:
    dataset = Dataset(companies, seed=1)
    first = START
    base = CrmGenerator(companies, seed=1).snapshot(first)
    wh = open_warehouse(duckdb_path=str(folder / "history.duckdb"))
    try:
        wh.deploy()
        stage(wh, dataset, base, first, folder)
        first_call = call(wh, first, "bench-first")
        started = time.perf_counter()
        for offset in range(1, days):
            wh.execute(COPY_DAY, {"offset": offset, "first": first})
        copy_s = time.perf_counter() - started
        fact_rows = wh.query("SELECT COUNT(*) AS n FROM dbo.fact_daily_company_activity")[0]["n"]
        timings: dict[str, list[float]] = {"contacts": [], "renames": []}
        logs: dict[str, list[dict[str, int]]] = {"contacts": [], "renames": []}
        snapshot = base
        for k in range(2 * MEASURED_DAYS):
            kind = "contacts" if k < MEASURED_DAYS else "renames"
            day = first + timedelta(days=days + k)
            snapshot = todays_snapshot(snapshot, day, k, renames=kind == "renames")
            stage(wh, dataset, snapshot, day, folder)
            timings[kind].append(call(wh, day, f"bench-{k}"))
            logs[kind].append(wh.query("SELECT rows_inserted, rows_updated, rows_deleted FROM etl.load_log "
                                       "WHERE run_id = @run_id", {"run_id": f"bench-{k}"})[0])
    finally:
        wh.close()
    return {"case": f"history {days} days", "companies": companies, "history_days": days,
            "fact_rows_before": fact_rows, "first_call_s": first_call, "copy_s": copy_s,
            "procedure_s": timings, "median_s": {k: statistics.median(v) for k, v in timings.items()},
            "logs": logs, "peak_rss_mib": peak_rss_mib()}


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
    parser.add_argument("--case", choices=("history", "backfill"), help=argparse.SUPPRESS)
    parser.add_argument("--companies", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--days", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        with tempfile.TemporaryDirectory(prefix="bench-warehouse-") as folder:
            case = case_history if args.case == "history" else case_backfill
            print(json.dumps(case(args.companies, args.days, Path(folder)), default=str))
        return

    big, long, backfill_companies, backfill_days = (2_000, 30, 1_000, 10) if args.quick else (100_000, 365, 10_000, 90)
    print(f"warehouse benchmark (DuckDB), {'quick' if args.quick else 'full'} run", flush=True)
    short = run_case(["--case", "history", "--companies", str(big), "--days", "7"])
    print(f"  history 7 days done: medians {short['median_s']}", flush=True)
    deep = run_case(["--case", "history", "--companies", str(big), "--days", str(long)])
    print(f"  history {long} days done: medians {deep['median_s']}", flush=True)
    backfill = run_case(["--case", "backfill", "--companies", str(backfill_companies), "--days", str(backfill_days)])

    print()
    print(f"| daily procedure, {big:,} companies | fact rows before | CRM activity of the day | procedure runs (s) "
          "| median (s) | rows inserted/updated/deleted | peak RSS (MiB) |")
    print("| --- | ---: | --- | --- | ---: | --- | ---: |")
    activity = {"contacts": "2% contacted", "renames": "2% contacted, 0.05% renamed"}
    for kind in ("contacts", "renames"):
        for case in (short, deep):
            runs = ", ".join(f"{t:.2f}" for t in case["procedure_s"][kind])
            counts = "; ".join(f"{x['rows_inserted']}/{x['rows_updated']}/{x['rows_deleted']}"
                               for x in case["logs"][kind])
            print(f"| {case['history_days']} days of history | {case['fact_rows_before']:,} | {activity[kind]} "
                  f"| {runs} | {case['median_s'][kind]:.2f} | {counts} | {case['peak_rss_mib']:.0f} |")
    print()
    for kind in ("contacts", "renames"):
        ratio = deep["median_s"][kind] / short["median_s"][kind]
        flag = "" if ratio <= 1.3 else "  ** ABOVE TARGET **"
        print(f"ratio {long} days / 7 days, {activity[kind]}: {ratio:.2f} (target <= 1.3){flag}")
    print(f"history build: first procedure call {short['first_call_s']:.2f}s / {deep['first_call_s']:.2f}s; "
          f"copy of {long - 1} days {deep['copy_s']:.1f}s")
    print()
    print(f"| backfill, {backfill_companies:,} companies | days | usage records | total (s) | per day median / max (s) "
          "| records/s | fact rows | peak RSS (MiB) |")
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    print(f"| transform per day (stage + merge) | {backfill['days']} | {backfill['usage_records']:,} | "
          f"{backfill['total_s']:.1f} | {backfill['per_day_median_s']:.2f} / {backfill['per_day_max_s']:.2f} | "
          f"{backfill['records_per_s']:,.0f} | {backfill['fact_rows']:,} | {backfill['peak_rss_mib']:.0f} |")


if __name__ == "__main__":
    main()
