"""`company-activity demo` in a small configuration, as a user runs it: a subprocess of the CLI.

Its summary must be the fact table the reference model computes from the same simulated usage and
CRM snapshots, the DuckDB file must hold what it says, and every service it started must be stopped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from company_activity_local.demo.check import FactDifference, LateBackfillCheck, compare_facts
from company_activity_local.demo.night import REPLAY_FILE, DemoSummary, late_dates
from company_activity_local.services.crm_generator import CrmGenerator
from company_activity_local.services.processes import port_answers
from company_activity_local.services.usage_data import expected_valid_day
from tests.sql.reference.model import CrmSnapshotRow, Load, UsageRow, run_reference

pytestmark = [pytest.mark.services, pytest.mark.slow]

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


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The small demo, run once as a user runs it: its output and its --out folder."""
    out = tmp_path_factory.mktemp("demo") / "out"
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "company-activity"), "demo",
         "--dates", f"{END - timedelta(days=DAYS - 1)}..{END}",
         "--companies", str(COMPANIES), "--seed", str(SEED), "--out", str(out)],
        capture_output=True, text=True, timeout=240, env={**os.environ, "COLUMNS": "200"},
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    return output, out


def test_small_demo_night(night: tuple[str, Path]) -> None:
    output, out = night

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
    # The demo's own check of the late backfill ran and passed, on the fact table the reference computes.
    assert (f"late backfill check: fact table equals an in-order replay of the same bronze ({len(fact)} rows, "
            f"{len(companies)} companies)") in output, output
    assert not (out / REPLAY_FILE).exists() and not list(out.glob("*replay*"))
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


def test_late_backfill_check_finds_a_changed_or_missing_row_and_ignores_operational_columns(
        night: tuple[str, Path], tmp_path: Path) -> None:
    _, out = night
    demo = out / "warehouse.duckdb"
    other = tmp_path / "other.duckdb"
    shutil.copyfile(demo, other)
    fact_rows = expected_fact()
    clean = compare_facts(demo, other)
    assert clean == LateBackfillCheck(len(fact_rows), len({c for c, _ in fact_rows}), 0)
    fact = "dbo.fact_daily_company_activity"
    with duckdb.connect(str(other)) as db:
        [(company, day)] = db.sql(f"SELECT company_id, activity_date FROM {fact} ORDER BY activity_date, company_id "
                                  "LIMIT 1").fetchall()
        db.execute(f"UPDATE {fact} SET load_run_id = 'another run', loaded_at = now()")  # operational only
    assert compare_facts(demo, other) == clean
    with duckdb.connect(str(other)) as db:
        db.execute(f"UPDATE {fact} SET daily_events_count = daily_events_count + 1 "
                   "WHERE company_id = ? AND activity_date = ?", [company, day])
        [(missing, missing_day)] = db.sql(f"DELETE FROM {fact} WHERE activity_date = '{END}' AND company_id = "
                                          f"(SELECT max(company_id) FROM {fact}) RETURNING company_id, "
                                          "activity_date").fetchall()
    check = compare_facts(demo, other)
    assert not check.passed and check.differing_rows == 2
    assert check.examples == (FactDifference(company, day, "daily_events_count"),
                              FactDifference(missing, missing_day, "(row missing)"))
    assert check.line().startswith("late backfill check FAILED: 2 (company, date) rows differ")
    assert f"({company}, {day}, daily_events_count)" in check.line()
    # A failed check fails the demo (its exit status) even when every pipeline run succeeded.
    succeeded = SimpleNamespace(pipeline=SimpleNamespace(succeeded=True))
    assert DemoSummary(demo, runs=[succeeded], late_backfill_check=clean).succeeded
    assert not DemoSummary(demo, runs=[succeeded], late_backfill_check=check).succeeded
