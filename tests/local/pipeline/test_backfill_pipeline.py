"""PL_backfill_company_activity on real local services: ForEach over the dates, Execute Pipeline per date.

A date in the middle has no bronze commit, so its daily run times out waiting for the manifest and
alerts through its own failure branch; the later dates still load; the backfill run ends Failed with a
message naming exactly that date. Rerunning only that date then makes the fact table equal to the
reference model (late data recomputes the neighbours, docs/fact-rules.md rule 6).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from company_activity_local.pipeline.results import PipelineRunResult, Status
from company_activity_local.services.azurite import Azurite
from tests.support.night import PARAMETERS, LocalNight, local_night

BACKFILL = "PL_backfill_company_activity"
COMPANIES, SEED = 20, 5
DAYS = [date(2026, 4, 1) + timedelta(days=i) for i in range(5)]
MISSING = DAYS[2]


@pytest.fixture()
def night(azurite: Azurite, tmp_path) -> Iterator[LocalNight]:
    with local_night(azurite.connection_string, tmp_path, COMPANIES, SEED) as local:
        yield local


def backfill(night: LocalNight, start: date, end: date) -> PipelineRunResult:
    night.executor.child_runs.clear()
    return night.executor.run(BACKFILL, {"startDate": start.isoformat(), "endDate": end.isoformat(), **PARAMETERS})


def test_a_failed_date_alerts_later_dates_load_and_the_backfill_names_it(night: LocalNight) -> None:
    for day in DAYS:
        night.upload_crm(day)
        if day != MISSING:
            night.ingest(day)

    result = backfill(night, DAYS[0], DAYS[-1])

    assert result.status is Status.FAILED
    children = night.executor.child_runs
    assert [c.parameters["runDate"] for c in children] == [d.isoformat() for d in DAYS]  # in order, all of them
    assert [c.status for c in children] == [Status.SUCCEEDED, Status.SUCCEEDED, Status.FAILED,
                                            Status.SUCCEEDED, Status.SUCCEEDED]
    fail = result.activity("FailBackfill")
    assert fail.error.error_code == "BackfillDatesFailed"
    assert f"failed dates: {MISSING.isoformat()}." in fail.error.message
    assert "4 of 5 dates loaded" in fail.error.message
    assert MISSING.isoformat() in result.message
    # The failed date alerted exactly as a daily run does, once; no other date did.
    [alert] = night.slack.wait_for(1)
    assert f"runDate: {MISSING.isoformat()}" in alert.text
    assert "failed activity: WaitForManifest" in alert.text
    assert f"run id: {children[2].run_id}" in alert.text
    # The Execute Pipeline activity took the child's outcome and names the child run.
    runs = [r for r in result.activities if r.name == "RunDailyLoad"]
    assert [r.status for r in runs] == [c.status for c in children]
    assert runs[0].output == {"pipelineName": "PL_daily_company_activity", "pipelineRunId": children[0].run_id}
    assert children[2].run_id in runs[2].error.message
    # The iteration of the failed date fails (RecordLoadedDate is a skipped leaf whose parent failed), so the
    # ForEach fails; the run's outcome is decided by CheckEveryDateLoaded, which runs on Completed either way.
    assert result.activity("ForEachRunDate").status is Status.FAILED
    assert result.activity("CheckEveryDateLoaded").status is Status.FAILED

    for day, child in zip(DAYS, children, strict=True):
        if child.succeeded:
            night.expect(day, child.run_id)
    assert night.differences() == []

    # Rerun only the failed date, once it is ingested: the backfill succeeds and the table is the reference's.
    night.slack.clear()
    night.ingest(MISSING)
    rerun = backfill(night, MISSING, MISSING)
    assert rerun.succeeded, rerun.message
    [child] = night.executor.child_runs
    night.expect(MISSING, child.run_id)
    assert night.differences() == []
    assert night.slack.messages == []
    assert "FailBackfill" not in rerun.statuses()  # the IfCondition took its (empty) true branch


def test_start_after_end_fails_before_any_date_runs(night: LocalNight) -> None:
    just_after = backfill(night, DAYS[1], DAYS[0])  # zero dates: nothing runs, and the run must not succeed
    assert just_after.status is Status.FAILED
    assert "no dates to load: startDate is after endDate" in just_after.activity("FailBackfill").error.message

    far_after = backfill(night, DAYS[3], DAYS[0])  # a negative count: range() fails, the ForEach is skipped
    assert far_after.status is Status.FAILED
    assert far_after.activity("ListRunDates").error.error_code == "ExpressionError"
    assert "count must be >= 0" in far_after.activity("ListRunDates").error.message
    assert far_after.activity("ForEachRunDate").status is Status.SKIPPED
    assert night.executor.child_runs == []
