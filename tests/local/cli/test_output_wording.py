"""Output a person reads at 3 a.m.: one table line per activity, no '0 bytes' for a day not committed,
procedures reported as unchanged when their text did not change."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path

from rich.console import Console

from company_activity.ingest.runner import IngestResult
from company_activity_local.cli import main
from company_activity_local.pipeline.report import run_table
from company_activity_local.pipeline.results import ActivityResult, PipelineRunResult, Status


def test_run_table_keeps_a_long_json_output_on_one_line() -> None:
    output = {"files": [{"path": f"product_usage/date=2026-06-10/run/part-{i:05d}.jsonl.gz", "rows": i}
                        for i in range(40)]}
    activities = [ActivityResult(name="ReadManifest", type="Lookup", status=Status.SUCCEEDED, duration_s=0.2,
                                 output=output, attempts=1),
                  ActivityResult(name="MergeFactDailyCompanyActivity", type="SqlServerStoredProcedure",
                                 status=Status.SUCCEEDED, duration_s=1.0, output={"ok": True}, attempts=1)]
    result = PipelineRunResult(pipeline_name="PL", run_id="run-1", status=Status.SUCCEEDED,
                               parameters={"runDate": "2026-06-10"}, activities=activities,
                               started_at=datetime.now(UTC), duration_s=1.2)
    out = io.StringIO()
    Console(file=out, width=80).print(run_table(result))
    rows = [line for line in out.getvalue().splitlines() if line.startswith("│")]
    assert len(rows) == 2  # one line per activity: the JSON is cut, not folded into dozens of lines
    assert '{"files":' in rows[0]


def test_a_day_not_committed_reports_no_bytes() -> None:
    failed = IngestResult(date=date(2026, 6, 10), run_id="r1", committed=False, record_count=0, rejected_count=0,
                          bytes=0, pages=0, seconds=62.9, reason="usage API unavailable")
    committed = IngestResult(date=date(2026, 6, 10), run_id="r2", committed=True, record_count=5, rejected_count=0,
                             bytes=1234, pages=1, seconds=0.4)
    assert "bytes" not in failed.summary() and "NOT committed: usage API unavailable" in failed.summary()
    assert "1234 bytes" in committed.summary()


def test_sql_deploy_reports_unchanged_procedures(tmp_path: Path, capsys) -> None:
    warehouse = str(tmp_path / "w.duckdb")
    assert main(["sql", "deploy", "--warehouse", warehouse]) == 0
    first = capsys.readouterr().out
    assert "created   procedures/usp_merge_fact_daily_company_activity.sql" in first
    assert main(["sql", "deploy", "--warehouse", warehouse]) == 0
    second = capsys.readouterr().out
    assert "unchanged procedures/usp_merge_fact_daily_company_activity.sql (text unchanged, re-applied)" in second
    assert "procedures: 0 created, 0 altered, 1 unchanged" in second
