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
from company_activity_local.warehouse import open_warehouse
from tests.support.night import generated_snapshot, simulated_usage
from tests.support.reference_model import Load, run_reference

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.xdist_group("demo")]

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
        loads.append(Load(run_date=day, run_id=f"run-{day}", usage=simulated_usage(day, COMPANIES, SEED),
                          crm=generated_snapshot(generator, day)))
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
    # Issue 21: the companies asked for (--companies), then the CRM-only ones, never one total of both.
    summary = re.search(r"fact_daily_company_activity: (\d+) rows for the (\d+) companies the simulator served "
                        r"\(--companies\) and (\d+) CRM-only companies \(in the CRM, never any usage: "
                        r"docs/crm.md\); on (\S+): (\d+) churn-risk companies, (\d+) of them CRM-only", output)
    assert summary is not None, output
    crm_only = {c for c in companies if c >= "c900000"}
    assert summary.groups() == (str(len(fact)), str(COMPANIES), str(len(crm_only)), END.isoformat(),
                                str(len(risky_last_day)), str(len(crm_only & set(risky_last_day))))
    assert len(companies) == COMPANIES + len(crm_only) and crm_only
    top = output[output.index(f"who to call first on {END}"):].split("injected failure")[0]
    assert "rpt.call_list" in top
    with open_warehouse(duckdb_path=out / "warehouse.duckdb") as warehouse:
        first = warehouse.query("SELECT TOP (3) company_id FROM rpt.call_list WHERE activity_date = @day "
                                "ORDER BY call_rank", {"day": END})
    assert [r["company_id"] for r in first] == re.findall(r"│ (c\d{6}) │", top)[:3], top
    assert output.count("Succeeded") == DAYS + 1  # every daily run, and the late backfill run
    late = late_dates([END - timedelta(days=offset) for offset in range(DAYS - 1, -1, -1)])
    assert len(late) == 3
    assert f"late backfill: {late[0]}..{late[-1]}" in output
    assert re.search(r"late backfill PL_backfill_company_activity: Succeeded", output), output
    # The demo's own check of the late backfill ran and passed, on the fact table the reference computes.
    assert (f"late backfill check: fact table equals an in-order replay of the same bronze ({len(fact)} rows, "
            f"{len(companies)} companies)") in output, output
    assert not (out / REPLAY_FILE).exists() and not list(out.glob("*replay*"))
    # The injected failure: the day before the first date (complete, so `pipeline run --date` accepts it) was
    # never ingested; it is announced before it runs; one alert names it, the run is Failed.
    missing = END - timedelta(days=DAYS)
    assert output.count("Slack alert received") == 1, output
    announced = output.index(f"now a failure on purpose: PL_daily_company_activity for {missing}")
    assert announced < output.index("Failed ") < output.index("Slack alert received")
    assert "PostFailureToSlack then ends Failed although the alert was delivered" in output
    assert f"company-activity pipeline run --date {missing}" in output
    alert = output[output.index("Slack alert received"):]
    assert f"runDate: {missing}" in alert and "failed activity: WaitForManifest" in alert
    assert f"injected failure on {missing}: nothing was ingested" in output
    assert "the run ended Failed and posted 1 Slack alert(s), as announced" in output
    assert "posted by the night's runs" not in output
    # Where its data went, and three next steps to end with.
    assert "bronze and CRM snapshots: they lived in an in-memory Azurite, stopped with the demo, so they are gone" \
        in output
    steps = output[output.index("next steps:"):].splitlines()
    assert [line.strip()[:3] for line in steps[1:4]] == ["1. ", "2. ", "3. "] and steps[4].startswith("done in")
    assert f"{out / 'dashboard.html'}" in steps[1] and f"show fact --warehouse {out / 'warehouse.duckdb'}" in steps[2]

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
    assert clean == LateBackfillCheck(rows=len(fact_rows), companies=len({c for c, _ in fact_rows}), differing_rows=0)
    fact = "dbo.fact_daily_company_activity_base"  # the fact view's rows (its attributes come from dim_company)
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
