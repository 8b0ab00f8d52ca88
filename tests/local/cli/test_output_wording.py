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
    Console(file=out, width=80).print(run_table(result, 80))
    lines = out.getvalue().splitlines()
    assert len(lines) == 4  # title, header, one line per activity: the JSON is cut, not folded into dozens of lines
    assert lines[2].startswith("ReadManifest ") and '{"files":' in lines[2]
    assert lines[3].startswith("MergeFactDailyCompanyActivity ")  # the name is whole at 80 columns
    assert all(len(line.rstrip()) <= 80 for line in lines)


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


def test_the_backfill_summary_fits_80_columns(monkeypatch, capsys) -> None:
    """Issue 21: at 80 columns the summary folded run ids over three lines and squeezed the error."""
    from company_activity_local.cli.backfill_load import IngestRow, print_summary

    monkeypatch.setenv("COLUMNS", "80")
    days = [date(2026, 3, 1), date(2026, 3, 2)]
    def run_result(name: str, run_id: str, status: Status, runs: str | None, message: str = "") -> PipelineRunResult:
        return PipelineRunResult(pipeline_name=name, run_id=run_id, status=status,
                                 parameters={"runDate": runs} if runs else {}, activities=[],
                                 started_at=datetime.now(UTC), duration_s=1.0, message=message)

    ok = run_result("PL_daily_company_activity", "2315f8b3-67c1-49da-971d-a7473a6de1dd", Status.SUCCEEDED,
                    "2026-03-01")
    failed = run_result("PL_daily_company_activity", "3315f8b3-67c1-49da-971d-a7473a6de1dd", Status.FAILED,
                        "2026-03-02", "failed activity: CopyUsageToStaging\nerror: not valid gzip data at byte 3")
    run = run_result("PL_backfill_company_activity", "run-9", Status.FAILED, None, "failed dates: 2026-03-02")
    print_summary(run, [ok, failed], days, {days[0]: IngestRow("committed", "46"), days[1]: IngestRow("skipped")})
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line.rstrip()) <= 80 for line in lines[1:])  # the title may be longer: it is one line
    assert lines[1].split() == ["date", "bronze", "records", "load", "error"]
    assert lines[2].split() == ["2026-03-01", "committed", "46", "Succeeded"]
    assert "2026-03-02  skipped" in lines[3] and "failed activity: CopyUsageToStaging" in lines[3]
    assert "daily run id: left out at 80 columns" in "\n".join(lines)
