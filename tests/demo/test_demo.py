"""`company-activity demo` in a small configuration, as a user runs it: a subprocess of the CLI.

Its summary must be the fact table the reference model computes from the same simulated usage and
CRM snapshots, the DuckDB file must hold what it says, and every service it started must be stopped.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
from company_activity.local.crm_generator import CrmGenerator
from company_activity.local.demo import late_dates
from company_activity.local.services import port_answers
from company_activity.local.usage_data import expected_valid_day
from reference.model import CrmSnapshotRow, Load, UsageRow, run_reference

DAYS, COMPANIES, SEED = 5, 50, 5  # 5 dates: 3 of them held back for the late backfill
END = date(2026, 3, 3)


def load_order() -> list[date]:
    """The demo's order: the held-back dates (late_dates) load last, through the late backfill."""
    dates = [END - timedelta(days=offset) for offset in range(DAYS - 1, -1, -1)]
    late = late_dates(dates)
    assert late, "the small demo must include a late backfill"
    return [d for d in dates if d not in late] + late


def expected_fact() -> dict[tuple[str, date], dict[str, object]]:
    generator = CrmGenerator(COMPANIES, seed=SEED)
    loads = []
    for day in load_order():
        usage = tuple(UsageRow(r["company_id"], r["active_users"], r["events"])
                      for r in expected_valid_day(day, COMPANIES, SEED))
        crm = tuple(CrmSnapshotRow(r.company_id, r.company_name, r.industry_tag, r.country, r.last_contact_date)
                    for r in generator.snapshot(day))
        loads.append(Load(day, f"run-{day}", usage, crm))
    reference, _ = run_reference(loads)
    return reference.fact


def test_small_demo_night(tmp_path: Path) -> None:
    out = tmp_path / "out"
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "company-activity"), "demo", "--days", str(DAYS),
         "--companies", str(COMPANIES), "--seed", str(SEED), "--end", END.isoformat(), "--out", str(out)],
        capture_output=True, text=True, timeout=240, env={**os.environ, "COLUMNS": "200"},
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output

    fact = expected_fact()
    companies = {company for company, _ in fact}
    risky_last_day = sorted(c for (c, d), row in fact.items() if d == END and row["is_churn_risk"])
    summary = re.search(r"fact_daily_company_activity: (\d+) rows, (\d+) companies; on (\S+): (\d+) churn-risk", output)
    assert summary is not None, output
    assert summary.groups() == (str(len(fact)), str(len(companies)), END.isoformat(), str(len(risky_last_day)))
    assert output.count("Succeeded") == DAYS + 1  # every daily run, and the late backfill run
    late = late_dates([END - timedelta(days=offset) for offset in range(DAYS - 1, -1, -1)])
    assert len(late) == 3
    assert f"late backfill: {late[0]}..{late[-1]}" in output
    assert re.search(r"late backfill PL_backfill_company_activity: Succeeded", output), output
    # The injected failure: the day after END was never ingested; one alert names it, the run is Failed.
    missing = END + timedelta(days=1)
    assert output.count("Slack alert received") == 1, output
    alert = output[output.index("Slack alert received"):]
    assert f"runDate: {missing}" in alert and "failed activity: WaitForManifest" in alert
    assert f"injected failure on {missing}: nothing was ingested" in output
    assert "the run ended Failed and posted 1 Slack alert(s)" in output
    assert "posted by the night's runs" not in output

    warehouse = out / "warehouse.duckdb"
    assert f"warehouse: {warehouse}" in output
    with duckdb.connect(str(warehouse), read_only=True) as db:
        rows = db.sql("SELECT company_id, activity_date, daily_active_users, is_churn_risk "
                      "FROM dbo.fact_daily_company_activity").fetchall()
        [runs] = db.sql("SELECT count(*), count(DISTINCT run_id) FROM etl.load_log "
                        "WHERE status = 'succeeded'").fetchall()
    assert {(c, d): (u, r) for c, d, u, r in rows} == {
        key: (row["daily_active_users"], row["is_churn_risk"]) for key, row in fact.items()}
    assert runs == (DAYS, DAYS)

    ports = [int(p) for p in re.findall(r"started [^:]+: [^\n]*?127\.0\.0\.1:(\d+)", output)]
    assert len(ports) == 3, output  # Azurite, the simulator, the Slack catcher
    assert not any(port_answers(port) for port in ports)
