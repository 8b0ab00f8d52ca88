"""The local executor's run history (pipeline/run_records.py): the stand-in of Data Factory's pipeline-run
history that the dashboard's health panel reads, written when a run starts and when it ends."""

from __future__ import annotations

import datetime as dt

import pytest

from company_activity.dashboard.runs import PipelineRunRecord, RunRecordError, latest_records
from company_activity_local.pipeline.executor import PipelineExecutor
from company_activity_local.pipeline.local_resources import LocalResources
from company_activity_local.pipeline.run_records import RunRecordFile, path_for_warehouse
from tests.support.pipeline_fixtures import factory_of

T0 = dt.datetime(2026, 3, 12, 2, tzinfo=dt.UTC)


def run(run_id: str, status: str, day: str, minutes: int) -> PipelineRunRecord:
    start = T0 + dt.timedelta(minutes=minutes)
    end = None if status == "InProgress" else start + dt.timedelta(seconds=30)
    return PipelineRunRecord(run_id, "PL_daily_company_activity", status, start, end, {"runDate": day})


def test_the_executor_records_each_run_when_it_starts_and_when_it_fails(offline_resources: LocalResources,
                                                                        tmp_path):
    records = RunRecordFile(tmp_path / "w.runs.jsonl")
    pipeline = {"name": "PL_test", "properties": {
        "parameters": {"runDate": {"type": "String"}},
        "activities": [{"name": "Boom", "type": "Fail", "dependsOn": [],
                        "typeProperties": {"message": "no manifest", "errorCode": "E1"}}]}}  # fmt: skip
    result = PipelineExecutor(factory_of(pipeline), offline_resources, run_log=records).run(
        "PL_test", {"runDate": "2026-03-11"}, run_id="run-1")
    lines = records.read()
    assert [(r.run_id, r.status, r.run_end is None) for r in lines] == [("run-1", "InProgress", True),
                                                                       ("run-1", "Failed", False)]
    assert lines[1].dates == "2026-03-11" and "no manifest" in lines[1].message
    assert result.message and lines[1].message == result.message
    assert abs((lines[1].run_start - result.started_at).total_seconds()) < 1  # the file keeps whole seconds
    assert lines[1].run_end is not None and lines[1].run_end >= lines[1].run_start


def test_the_run_record_file_keeps_the_last_state_of_each_run(tmp_path):
    records = RunRecordFile(path_for_warehouse(tmp_path / "out" / "warehouse.duckdb"))
    assert records.path == tmp_path / "out" / "warehouse.runs.jsonl" and records.read() == []
    records.record(run("a", "InProgress", "2026-03-11", 0))
    records.record(run("b", "InProgress", "2026-03-12", 1))
    records.record(run("a", "Failed", "2026-03-11", 0))
    latest = latest_records(records.read())
    assert [(r.run_id, r.status) for r in latest] == [("b", "InProgress"), ("a", "Failed")]  # newest start first
    records.path.write_text(records.path.read_text() + "not json\n")
    with pytest.raises(RunRecordError, match=r"warehouse\.runs\.jsonl:4: not a pipeline run record"):
        records.read()
    assert RunRecordFile.for_warehouse(None) is None  # a SQL Server warehouse has no file beside it
