"""Dashboard benchmark on DuckDB: 100k companies x 90 days.

The fact history (9M rows, its companies in dbo.dim_company), the contact history, the staged last day
and a load log are generated
directly in DuckDB with SQL (not through the procedure, which would take far longer and is measured
by bench_warehouse.py) into a freshly deployed warehouse. Then, each measured `--repeat` times:

1. build: `company-activity dashboard`'s path (open the warehouse, read the rpt views, render, write);
   target < 10 s;
2. size of the HTML; target < 5 MB;
3. open: Debian's chromium (headless, Playwright) from `goto` to the page's `data-rendered` mark,
   every chart drawn; target < 2 s (the browser launch is not counted).

The build's CPU time (this process) is printed next to its wall-clock time, with the load average: on the
shared 2-core machine other work can stretch the wall-clock time many times over.

    .venv/bin/python bench/bench_dashboard.py                      # the documented figures
    .venv/bin/python bench/bench_dashboard.py --companies 5000     # a small smoke run
    .venv/bin/python bench/bench_dashboard.py --keep /tmp/bench.duckdb   # generate once, measure again later
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "function_app"))

from company_activity_local.cli.dashboard import build  # noqa: E402
from company_activity_local.warehouse import open_warehouse  # noqa: E402

END = dt.date(2026, 3, 31)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]  # fmt: skip

GENERATE = """
CREATE TEMP TABLE bench_company AS
SELECT i,
       'c' || lpad(CAST(i AS VARCHAR), 6, '0') AS company_id,
       CASE WHEN i % 50 = 7 THEN NULL ELSE 'Company ' || CAST(i AS VARCHAR) END AS company_name,
       ['retail', 'saas', 'fintech', 'health', 'logistics', 'media', 'manufacturing', NULL][1 + i % 8] AS industry_tag,
       ['US', 'DE', 'FR', 'BR', 'IN', 'JP', 'NO', 'GB', 'ES', NULL][1 + i % 10] AS country,
       CASE WHEN i % 9 = 0 THEN NULL ELSE DATE '{end}' - CAST((i * 37) % 120 AS INTEGER) END AS last_contact_date
FROM range({companies}) AS t(i);

CREATE TEMP TABLE bench_usage AS
SELECT c.*, CAST(d.day AS DATE) AS activity_date,
       CASE WHEN c.i % 25 = 0 AND d.day > DATE '{end}' - 30 THEN 0
            ELSE CAST(hash(c.i, d.day) % 40 AS INTEGER) END AS daily_active_users
FROM bench_company AS c CROSS JOIN range(DATE '{start}', DATE '{end}' + 1, INTERVAL 1 DAY) AS d(day);

-- Every company but one in 50 is in the CRM (the others are usage without CRM: the data-quality panel).
INSERT INTO dbo.dim_company (company_id, company_name, industry_tag, country, crm_snapshot_date,
                              in_latest_crm_snapshot, first_seen_date)
SELECT company_id, company_name, industry_tag, country, CASE WHEN i % 50 = 7 THEN NULL ELSE DATE '{end}' END,
       i % 50 <> 7, DATE '{start}'
FROM bench_company;

INSERT INTO dbo.fact_daily_company_activity_base (activity_date, company_id, daily_active_users, daily_events_count,
    "7d_rolling_active_users", days_since_last_contact, is_churn_risk, churn_risk_reason, loaded_at, load_run_id)
SELECT activity_date, company_id, daily_active_users, daily_active_users * 3,
       rolling, days_since, reason IS NOT NULL, reason, TIMESTAMP '{end} 03:00:00', 'bench'
FROM (
    SELECT *, NULLIF(concat_ws(',', CASE WHEN rolling < 1.0 THEN 'low_activity' END,
                                    CASE WHEN days_since > 90 THEN 'stale_contact' END,
                                    CASE WHEN days_since IS NULL THEN 'no_contact' END), '') AS reason
    FROM (
        SELECT *,
               avg(daily_active_users) OVER (PARTITION BY company_id ORDER BY activity_date
                                             ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS rolling,
               CASE WHEN last_contact_date <= activity_date THEN activity_date - last_contact_date END AS days_since
        FROM bench_usage
    )
);

INSERT INTO dbo.crm_contact_history (company_id, contact_date)
SELECT company_id, last_contact_date FROM bench_company WHERE last_contact_date IS NOT NULL;

INSERT INTO stg.product_usage_daily (usage_date, company_id, active_users, events, bronze_run_id)
SELECT activity_date, company_id, daily_active_users, daily_active_users * 3, 'bench'
FROM bench_usage WHERE activity_date = DATE '{end}';

INSERT INTO etl.load_log (run_id, run_date, status, rows_inserted, rows_updated, rows_deleted, message,
                          started_at, finished_at, low_activity_threshold, stale_contact_days)
SELECT 'bench-' || CAST(day AS VARCHAR), CAST(day AS DATE), 'succeeded', {companies}, 0, 0, 'flag re-check skipped',
       CAST(day AS TIMESTAMP) + INTERVAL 1 DAY, CAST(day AS TIMESTAMP) + INTERVAL 1 DAY + INTERVAL 40 SECOND, 1.0, 90
FROM range(DATE '{start}', DATE '{end}' + 1, INTERVAL 1 DAY) AS d(day);
"""


def generate(path: Path, companies: int, days: int) -> float:
    with open_warehouse(duckdb_path=path) as warehouse:
        warehouse.deploy()
    started = time.perf_counter()
    start = END - dt.timedelta(days=days - 1)
    with duckdb.connect(str(path)) as connection:
        connection.execute(GENERATE.format(end=END, start=start, companies=companies))
        rows = connection.execute("SELECT COUNT(*) FROM dbo.fact_daily_company_activity").fetchone()[0]
        at_risk = connection.execute(
            "SELECT COUNT(*) FROM dbo.fact_daily_company_activity WHERE activity_date = ? AND is_churn_risk", [END]
        ).fetchone()[0]
    print(f"generated {rows:,} fact rows ({companies:,} companies x {days} days; {at_risk:,} at risk on {END}) "
          f"in {time.perf_counter() - started:.1f}s")  # fmt: skip
    return rows


def open_times(html: Path, repeat: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for _ in range(repeat):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            started = time.perf_counter()
            page.goto(html.as_uri())
            page.wait_for_selector("body[data-rendered=true]")
            times.append(time.perf_counter() - started)
            charts = page.eval_on_selector_all("[data-chart] svg path", "ps => ps.length")
            assert charts > 0, "no chart drawn"
            page.close()
        browser.close()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", metavar="PATH.duckdb", type=Path,
                        help="generate the warehouse at PATH once and reuse it on later runs (same sizes)")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as folder:
        warehouse = args.keep or Path(folder) / "warehouse.duckdb"
        if not warehouse.exists():
            generate(warehouse, args.companies, args.days)
        html = Path(folder) / "dashboard.html"
        builds, cpus = [], []
        for _ in range(args.repeat):
            started, cpu = time.perf_counter(), time.process_time()
            build(warehouse_path=str(warehouse), connection_string=None, day=None, output=html)
            builds.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu)
        size_mb = html.stat().st_size / 1e6
        opens = open_times(html, args.repeat)
    print(f"{'measure':<22}{'median':>10}{'max':>10}{'target':>10}")
    print(f"{'build (s)':<22}{statistics.median(builds):>10.2f}{max(builds):>10.2f}{'< 10':>10}")
    print(f"{'build CPU time (s)':<22}{statistics.median(cpus):>10.2f}{max(cpus):>10.2f}{'':>10}")
    print(f"{'HTML (MB)':<22}{size_mb:>10.2f}{size_mb:>10.2f}{'< 5':>10}")
    print(f"{'open in chromium (s)':<22}{statistics.median(opens):>10.2f}{max(opens):>10.2f}{'< 2':>10}")
    print(f"builds: {', '.join(f'{b:.2f}' for b in builds)}; opens: {', '.join(f'{o:.2f}' for o in opens)}")
    print(f"load average after: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
