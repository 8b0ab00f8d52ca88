"""The whole night on real local services, and a failure injected at each step of the pipeline.

simulator -> ingestion runner -> bronze (Azurite) -> PL_daily_company_activity (local executor) ->
DuckDB, compared cell by cell with the reference model fed with the same inputs. Each fault must end
the run Failed, post the run id and the failed activity to Slack when Slack is reachable, and leave
the fact table exactly as it was; once the fault is removed a rerun succeeds, and a second rerun
changes nothing (its load log row counts 0 inserted, updated and deleted).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from company_activity.ingest import bronze
from company_activity_local.pipeline.results import PipelineRunResult, Status
from company_activity_local.services.azurite import Azurite
from company_activity_local.services.crm_generator import upload_crm_snapshot
from company_activity_local.services.usage_data import expected_valid_day
from tests.support.night import LocalNight, local_night

COMPANIES, SEED = 30, 11
DAY1, DAY2, DAY3, DAY4 = (date(2026, 3, 1) + timedelta(days=i) for i in range(4))
ALERT_BRANCH = ("GetSlackWebhookUrl", "PostFailureToSlack", "FailRun")


@pytest.fixture()
def night(azurite: Azurite, tmp_path) -> Iterator[LocalNight]:
    with local_night(azurite.connection_string, tmp_path, COMPANIES, SEED) as local:
        yield local


def assert_alerted(night: LocalNight, result: PipelineRunResult, failed_activity: str) -> str:
    """The run failed through the alert branch and Slack got one message naming the run and activity."""
    assert result.status is Status.FAILED
    assert result.activity("FailRun").status is Status.FAILED
    assert result.activity("FailRun").error.error_code == "CompanyActivityLoadFailed"
    [message] = night.slack.wait_for(1)
    assert night.slack.requests == 1  # posted once: the post is not retried
    assert [r.name for r in result.activities if r.name.startswith("NoteFailed") and r.status is Status.SUCCEEDED] \
        == [f"NoteFailed{failed_activity}"]
    assert f"run id: {result.run_id}" in message.text
    assert f"failed activity: {failed_activity}" in message.text
    assert f"runDate: {result.parameters['runDate']}" in message.text
    night.slack.clear()
    return message.text


def assert_recovers(night: LocalNight, day: date) -> None:
    """A rerun succeeds and matches the reference; another rerun changes nothing."""
    fixed = night.run(day)
    assert fixed.succeeded, fixed.message
    night.expect(day, fixed.run_id)
    assert night.differences() == []
    [log] = night.load_log(fixed.run_id)
    assert log["status"] == "succeeded"
    before = night.state()
    again = night.run(day)
    assert again.succeeded, again.message
    [log] = night.load_log(again.run_id)
    assert (log["status"], log["rows_inserted"], log["rows_updated"], log["rows_deleted"]) == ("succeeded", 0, 0, 0)
    assert night.state() == before
    night.expect(day, again.run_id)
    assert night.differences() == []
    assert night.slack.messages == []


def test_a_night_matches_the_reference_and_a_rerun_changes_nothing(night: LocalNight) -> None:
    night.load(DAY1)
    night.load(DAY2)
    no_snapshot = night.load(DAY3, crm=False)
    last = night.load(DAY4)
    assert night.differences() == []

    assert no_snapshot.activity("CheckCrmSnapshot").output == {"exists": False}
    assert "CopyCrmToStaging" not in no_snapshot.statuses()
    assert last.activity("CopyCrmToStaging").status is Status.SUCCEEDED
    copied = last.activity("CopyUsageToStaging").output["rowsCopied"]
    assert copied == bronze.read_manifest(night.bronze, DAY4).record_count
    assert copied == sum(1 for _ in expected_valid_day(DAY4, COMPANIES, SEED))
    assert all(last.activity(name).status is Status.SKIPPED for name in ALERT_BRANCH)
    [log] = night.load_log(last.run_id)
    assert log["status"] == "succeeded" and log["rows_inserted"] > 0

    assert_recovers(night, DAY4)
    assert night.slack.messages == []


def test_missing_manifest_times_out_and_alerts(night: LocalNight) -> None:
    night.load(DAY1)
    night.load(DAY2)
    before = night.state()
    night.upload_crm(DAY3)

    result = night.run(DAY3)  # nothing was ingested for DAY3
    text = assert_alerted(night, result, "WaitForManifest")
    assert result.activity("WaitForManifest").error.error_code == "ValidationTimedOut"
    assert "_manifest.json" in text
    assert result.activity("MergeFactDailyCompanyActivity").status is Status.SKIPPED
    assert night.state() == before

    night.ingest(DAY3)
    assert_recovers(night, DAY3)


def test_garbage_data_file_fails_the_copy_and_alerts(night: LocalNight) -> None:
    night.load(DAY1)
    night.load(DAY2)
    night.ingest(DAY3)
    night.upload_crm(DAY3)
    before = night.state()
    part = bronze.read_manifest(night.bronze, DAY3).files[0].path
    night.bronze.upload_blob(part, b"this is not gzip", overwrite=True)

    result = night.run(DAY3)
    # The copy is the true branch of IfManifestHasRecords: the If fails with the copy's error.
    text = assert_alerted(night, result, "IfManifestHasRecords")
    copy = result.activity("CopyUsageToStaging")
    assert copy.attempts == 3  # policy.retry 2: the copy was tried three times
    assert f"{part}: not valid gzip data" in copy.error.message
    assert part in text
    assert night.state() == before

    night.ingest(DAY3)  # a new ingestion run replaces the damaged one
    assert_recovers(night, DAY3)


def test_bad_record_fails_the_copy_naming_line_column_and_value(night: LocalNight) -> None:
    night.load(DAY1)
    night.ingest(DAY2)
    night.upload_crm(DAY2)
    before = night.state()
    part = bronze.read_manifest(night.bronze, DAY2).files[0].path
    good = {"company_id": "c000001", "date": DAY2.isoformat(), "active_users": 3, "events": 9}
    bad = {**good, "company_id": "c000002", "active_users": "many"}
    lines = (json.dumps(good) + "\n" + json.dumps(bad) + "\n").encode()
    night.bronze.upload_blob(part, gzip.compress(lines), overwrite=True)

    result = night.run(DAY2)
    assert_alerted(night, result, "IfManifestHasRecords")
    error = result.activity("CopyUsageToStaging").error.message
    assert f"{part}:2: column 'active_users'" in error and "'many'" in error
    assert night.state() == before

    night.ingest(DAY2)
    assert_recovers(night, DAY2)


def test_procedure_error_rolls_back_and_alerts(night: LocalNight) -> None:
    night.load(DAY1)
    night.load(DAY2)
    night.ingest(DAY3)
    rows = night.generator.snapshot(DAY3)
    upload_crm_snapshot(night.crm, DAY3, [*rows, rows[0]])  # one company twice in the snapshot
    night.snapshot_days.add(DAY3)
    before = night.state()

    result = night.run(DAY3)
    text = assert_alerted(night, result, "MergeFactDailyCompanyActivity")
    assert result.activity("CopyCrmToStaging").output["rowsCopied"] == len(rows) + 1
    assert rows[0].company_id in text
    logs = night.load_log(result.run_id)
    assert logs and all(log["status"] == "failed" for log in logs)
    assert night.state() == before

    night.upload_crm(DAY3)  # the export is corrected
    assert_recovers(night, DAY3)


def test_usage_not_matching_its_manifest_alerts_before_the_merge(night: LocalNight) -> None:
    night.load(DAY1)
    night.ingest(DAY2)
    night.upload_crm(DAY2)
    before = night.state()
    manifest = bronze.read_manifest(night.bronze, DAY2)
    extra = f"{manifest.run_path}part-00001.jsonl.gz"
    record = {"company_id": "c000001", "date": DAY2.isoformat(), "active_users": 1, "events": 1}
    night.bronze.upload_blob(extra, gzip.compress((json.dumps(record) + "\n").encode()))

    result = night.run(DAY2)
    assert_alerted(night, result, "VerifyUsageAgainstManifest")
    assert result.activity("UsageDoesNotMatchManifest").error.error_code == "UsageManifestMismatch"
    assert result.activity("MergeFactDailyCompanyActivity").status is Status.SKIPPED
    assert night.state() == before

    night.bronze.delete_blob(extra)
    assert_recovers(night, DAY2)


def test_slack_down_still_fails_the_run(night: LocalNight) -> None:
    night.load(DAY1)
    before = night.state()
    night.upload_crm(DAY2)
    night.slack.go_down()

    result = night.run(DAY2)  # no manifest for DAY2, and Slack does not answer
    assert result.status is Status.FAILED
    post = result.activity("PostFailureToSlack")
    assert post.status is Status.FAILED and post.attempts == 1  # never retried: a retry could post twice
    assert night.slack.path not in post.error.message  # the webhook's secret path never shows
    assert result.activity("FailRun").status is Status.FAILED
    assert night.slack.messages == []
    assert night.state() == before

    night.slack.come_up()
    night.ingest(DAY2)
    assert_recovers(night, DAY2)
