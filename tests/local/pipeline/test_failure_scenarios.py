"""Every failure scenario of PL_daily_company_activity through the strict local executor, and a day without
records end to end.

Each chain activity fails in turn (an injected failure in its runner, so that every step can fail the same
way), alone and combined with the Key Vault read failing (injected) or Slack failing (the real local Slack
catcher answering 500). In every scenario the run must end Failed through FailRun, Slack must receive at
most one request (exactly one message when the vault and Slack work), the message must name the failed
activity and its error, and no activity may fail on an expression: the executor refuses to read an activity
that did not run, so a branch that reads a skipped activity would show up here as an ExpressionError.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

import pytest

from company_activity.ingest import bronze
from company_activity.ingest.runner import ingest_day
from company_activity.ingest.usage_api import UsageApiClient
from company_activity.settings import Secret
from company_activity_local.pipeline.activities import RUNNERS
from company_activity_local.pipeline.context import ActivityContext, ActivityRunner
from company_activity_local.pipeline.executor import PipelineExecutor
from company_activity_local.pipeline.results import ActivityFailed, PipelineRunResult, Status
from company_activity_local.services.azurite import Azurite
from company_activity_local.services.simulator import SimulatorConfig, UsageApiSimulator
from company_activity_local.services.slack_catcher import SlackCatcher
from tests.support.night import PARAMETERS, PIPELINE, LocalNight, deployed_duckdb, local_night

COMPANIES, SEED = 12, 5
DAY1, DAY2 = date(2026, 4, 1), date(2026, 4, 2)
CHAIN = ["WaitForManifest", "ReadManifest", "IfManifestHasRecords", "CountStagedUsage", "VerifyUsageAgainstManifest",
         "CheckCrmSnapshot", "IfCrmSnapshotExists", "MergeFactDailyCompanyActivity"]
ALERT_MODES = ["alert delivered", "key vault fails", "slack fails"]


@pytest.fixture(scope="module")
def night(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNight]:
    """DAY1 loaded, DAY2 ingested with its CRM snapshot: every injected failure is played on DAY2."""
    with local_night(azurite.connection_string, tmp_path_factory.mktemp("failures"), COMPANIES, SEED) as local:
        local.load(DAY1)
        local.ingest(DAY2)
        local.upload_crm(DAY2)
        yield local


def failing_runners(faults: set[str]) -> dict[str, ActivityRunner]:
    """The executor's runners, except that an activity named in `faults` fails instead of running."""
    def wrap(runner: ActivityRunner) -> ActivityRunner:
        def run(activity: Mapping[str, Any], ctx: ActivityContext) -> Any:
            if ctx.name in faults:
                raise ActivityFailed(f"injected failure of {ctx.name}", "InjectedFault", retryable=False)
            return runner(activity, ctx)
        return run
    return {kind: wrap(runner) for kind, runner in RUNNERS.items()}


def run_with_faults(night: LocalNight, faults: set[str]) -> PipelineRunResult:
    executor = PipelineExecutor(night.executor.factory, night.resources, runners=failing_runners(faults),
                                retry_interval_s=0, global_parameters={
                                    "bronzeContainer": night.bronze.container_name,
                                    "crmContainer": night.crm.container_name})
    return executor.run(PIPELINE, {"runDate": DAY2.isoformat(), **PARAMETERS})


@pytest.mark.parametrize("mode", ALERT_MODES)
@pytest.mark.parametrize("failing", CHAIN)
def test_every_failure_alerts_at_most_once_and_fails_the_run(night: LocalNight, failing: str, mode: str) -> None:
    before = night.state()
    night.slack.clear()
    faults = {failing} | ({"GetSlackWebhookUrl"} if mode == "key vault fails" else set())
    night.slack.fail_with(500 if mode == "slack fails" else 200)
    try:
        result = run_with_faults(night, faults)
    finally:
        night.slack.fail_with(200)

    assert result.status is Status.FAILED
    statuses = result.statuses()
    assert statuses[failing] == "Failed"
    assert all(statuses[name] == "Skipped" for name in CHAIN[CHAIN.index(failing) + 1:])
    assert [n for n, s in statuses.items() if n.startswith("NoteFailed") and s != "Skipped"] == [f"NoteFailed{failing}"]
    assert not [r.name for r in result.activities if r.error and r.error.error_code == "ExpressionError"]
    fail = result.activity("FailRun")
    assert fail.status is Status.FAILED and fail.error.error_code == "CompanyActivityLoadFailed"
    assert f"failed activity: {failing}\nerror: injected failure of {failing}" in fail.error.message
    assert f"run id: {result.run_id}" in fail.error.message

    if mode == "alert delivered":
        [message] = night.slack.wait_for(1)
        assert message.text == fail.error.message
        assert night.slack.requests == 1
    elif mode == "key vault fails":
        assert statuses["PostFailureToSlack"] == "Skipped"
        assert night.slack.requests == 0
    else:
        assert statuses["PostFailureToSlack"] == "Failed"
        assert night.slack.requests == 1 and night.slack.messages == []
    assert night.state() == before


def test_no_failure_posts_nothing_and_succeeds(night: LocalNight) -> None:
    night.slack.clear()
    result = run_with_faults(night, set())
    assert result.succeeded, result.message
    assert all(r.status is Status.SKIPPED for r in result.activities
               if r.name.startswith("NoteFailed") or r.name in ("GetSlackWebhookUrl", "PostFailureToSlack", "FailRun"))
    assert night.slack.requests == 0


def lookup_returning_a_timestamp_date() -> dict[str, ActivityRunner]:
    """The executor's runners, except that ReadManifest returns the manifest's date as a timestamp-like string."""
    def run(activity: Mapping[str, Any], ctx: ActivityContext) -> Any:
        output = RUNNERS["Lookup"](activity, ctx)
        if ctx.name == "ReadManifest":
            output["firstRow"]["date"] += "T00:00:00Z"
        return output
    return {**RUNNERS, "Lookup": run}


def test_a_manifest_date_read_back_as_a_timestamp_still_verifies(night: LocalNight) -> None:
    """The Lookup page is silent on how a date-looking JSON string comes back in firstRow: the pipeline
    compares the manifest date through formatDateTime, so a timestamp form of the same day still matches."""
    night.slack.clear()
    executor = PipelineExecutor(night.executor.factory, night.resources, runners=lookup_returning_a_timestamp_date(),
                                retry_interval_s=0, global_parameters={
                                    "bronzeContainer": night.bronze.container_name,
                                    "crmContainer": night.crm.container_name})
    result = executor.run(PIPELINE, {"runDate": DAY2.isoformat(), **PARAMETERS})
    assert result.activity("ReadManifest").output["firstRow"]["date"] == f"{DAY2.isoformat()}T00:00:00Z"
    assert result.succeeded, result.message
    assert result.activity("VerifyUsageAgainstManifest").status is Status.SUCCEEDED
    assert result.statuses().get("UsageDoesNotMatchManifest") is None
    assert night.slack.requests == 0


# ------------------------------------------------------------------------------------ zero records


def test_a_day_without_records_loads_the_crm_companies_with_zero_users(azurite: Azurite, tmp_path) -> None:
    day = date(2026, 5, 4)
    with UsageApiSimulator(SimulatorConfig(companies=COMPANIES, seed=SEED)) as simulator, \
            UsageApiSimulator(SimulatorConfig(companies=0, seed=SEED)) as silent, SlackCatcher() as slack:
        warehouse = deployed_duckdb(tmp_path)
        night = LocalNight(
            connection_string=azurite.connection_string,
            simulator=simulator,
            slack=slack,
            warehouse=warehouse,
            companies=COMPANIES,
            seed=SEED,
        )
        try:
            night.load(date(2026, 5, 3))
            # Stale staged rows of the day from an earlier run must not survive into the zero-record load.
            warehouse.execute("INSERT INTO stg.product_usage_daily (usage_date, company_id, active_users, events, "
                              "bronze_run_id) VALUES ('2026-05-04', 'c000001', 5, 5, 'stale')")
            with UsageApiClient(silent.base_url, Secret(silent.api_key)) as client:
                ingested = ingest_day(day, client, night.bronze, reject_threshold=0.01)
            assert ingested.committed, ingested.reason
            manifest = bronze.read_manifest(night.bronze, day)
            assert manifest.record_count == 0
            night.upload_crm(day)

            result = night.run(day)
            assert result.succeeded, result.message
            assert result.activity("ClearUsageStaging").status is Status.SUCCEEDED
            assert "CopyUsageToStaging" not in result.statuses()
            assert result.activity("CountStagedUsage").output["firstRow"] == {"staged_rows": 0}
            rows = warehouse.query(
                "SELECT company_id, daily_active_users, daily_events_count FROM dbo.fact_daily_company_activity "
                "WHERE activity_date = '2026-05-04' ORDER BY company_id")
            companies = sorted(r.company_id for r in night.generator.snapshot(day))
            assert [r["company_id"] for r in rows] == companies
            assert all((r["daily_active_users"], r["daily_events_count"]) == (0, 0) for r in rows)
            assert slack.requests == 0
        finally:
            night.close()
            warehouse.close()
