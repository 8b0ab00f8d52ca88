"""The run history the health panel shows: one record shape for Data Factory's answers and the local run-record
file, the last record of a run wins, and the headline tells the truth about failures not rerun since."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from company_activity.dashboard.runs import PipelineRunRecord, RunRecordError, health

T0 = dt.datetime(2026, 3, 12, 2, tzinfo=dt.UTC)


def run(run_id: str, status: str, day: str, minutes: int, pipeline: str = "PL_daily_company_activity",
        message: str = "") -> PipelineRunRecord:
    start = T0 + dt.timedelta(minutes=minutes)
    end = None if status == "InProgress" else start + dt.timedelta(seconds=30)
    return PipelineRunRecord(run_id, pipeline, status, start, end, {"runDate": day}, message)


def test_an_arm_pipeline_run_and_a_file_line_are_the_same_record():
    body = {"runId": "r1", "pipelineName": "PL_backfill_company_activity", "status": "Failed",
            "parameters": {"startDate": "2026-03-01", "endDate": "2026-03-05"}, "message": "2026-03-03 failed",
            "runStart": "2026-03-12T02:00:00.1234567Z", "runEnd": "2026-03-12T02:10:00Z", "invokedBy": {}}
    record = PipelineRunRecord.from_json(body)
    assert record.dates == "2026-03-01..2026-03-05" and record.duration_s == 599.876544
    assert record.run_start == dt.datetime(2026, 3, 12, 2, 0, 0, 123456, tzinfo=dt.UTC)
    again = PipelineRunRecord.from_json(json.loads(json.dumps(record.to_json())))
    assert (again.run_id, again.status, again.dates, again.message) == ("r1", "Failed", record.dates, record.message)


@pytest.mark.parametrize("body", [{"runId": "r", "status": "Exploded"}, {"runId": "", "status": "Failed"},
                                  {"runId": "r", "status": "Failed", "runStart": "yesterday"}, ["not", "a", "run"]])
def test_what_is_not_a_pipeline_run_is_refused_by_name(body):
    with pytest.raises(RunRecordError):
        PipelineRunRecord.from_json(body)  # type: ignore[arg-type]


def test_a_failure_counts_until_a_later_run_of_the_same_dates_succeeds():
    failed = run("a", "Failed", "2026-03-11", 0, message="WaitForManifest timed out")
    assert health([failed], "s").status == "failed"
    assert "PL_daily_company_activity for 2026-03-11" in health([failed], "s").headline
    other_day = run("b", "Succeeded", "2026-03-10", 5)
    assert health([failed, other_day], "s").unresolved == (failed,)
    rerun = run("c", "Succeeded", "2026-03-11", 10)
    assert health([failed, rerun], "s").status == "ok"
    earlier_success = run("d", "Succeeded", "2026-03-11", -10)
    assert health([earlier_success, failed], "s").status == "failed"  # success before the failure does not count
    assert health([run("e", "InProgress", "2026-03-12", 20)], "s").status == "running"
    assert health([], "no history here").headline == "No pipeline run to show (no history here)."
