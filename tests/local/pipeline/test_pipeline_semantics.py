"""What the shipped factory JSON means, evaluated with the expression language: the trigger's dates, the
paths the datasets resolve to (checked against the bronze and CRM layout modules), the copies, the
procedure call, and the failure alert in every failure scenario."""

from __future__ import annotations

import fnmatch
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from company_activity.ingest import bronze
from company_activity.settings import SETTINGS
from company_activity_local.pipeline import resources as rs
from company_activity_local.pipeline.expressions import (
    EvalContext,
    ExpressionError,
    evaluate,
    find_expressions,
    referenced_activities,
)
from company_activity_local.warehouse import crm

FACTORY = rs.load_factory()
PIPELINE = FACTORY.pipelines["PL_daily_company_activity"]
ACTIVITIES = {a["name"]: a for a in rs.pipeline_activities(PIPELINE)}
NESTED = {i.activity["name"]: i.activity for i in rs.walk_activities(rs.pipeline_activities(PIPELINE))}
CHAIN = ["WaitForManifest", "ReadManifest", "IfManifestHasRecords", "CountStagedUsage", "VerifyUsageAgainstManifest",
         "CheckCrmSnapshot", "IfCrmSnapshotExists", "MergeFactDailyCompanyActivity"]
NOTES = [f"NoteFailed{name}" for name in CHAIN]
ALERT = [*NOTES, "GetSlackWebhookUrl", "PostFailureToSlack", "FailRun"]
VARIABLES = {name: spec.get("defaultValue") for name, spec in PIPELINE["properties"]["variables"].items()}
DAY = date(2024, 3, 1)
RUN_ID = "20240302T010000Z-0a1b2c3d"


def manifest(day: date = DAY, records: int = 7) -> dict[str, Any]:
    """The first row the Lookup returns: the manifest the bronze module writes."""
    part = bronze.BronzeFile(
        path=bronze.data_file_path(day, RUN_ID, "part", 0), records=records, bytes=1234, sha256="0" * 64
    )
    written = bronze.Manifest(
        dataset=bronze.DATASET, date=day, run_id=RUN_ID, record_count=records, rejected_count=0, files=(part,),
        rejected_files=(), started_at=datetime(2024, 3, 2, 1, tzinfo=UTC),
        committed_at=datetime(2024, 3, 2, 1, 5, tzinfo=UTC), source=bronze.Source("https://api.example", 1))
    return json.loads(written.to_json())


def run_context(activities: dict[str, dict] | None = None, **parameters: Any) -> EvalContext:
    bound = rs.bind_parameters("pipeline", rs.declared_parameters(PIPELINE), {"runDate": DAY.isoformat(), **parameters})
    return EvalContext(
        pipeline_name=PIPELINE["name"], run_id="run-7", parameters=bound, trigger={},
        activities=activities or {}, factory_name=FACTORY.name, global_parameters=FACTORY.global_parameters,
        now=datetime(2024, 3, 2, 2, tzinfo=UTC), variables=dict(VARIABLES))


def resolve_location(reference: dict, ctx: EvalContext) -> dict[str, Any]:
    """Follow a dataset reference the way ADF does: reference parameters -> dataset -> linked service."""
    dataset = rs.resolve_dataset(FACTORY, reference)
    params = rs.bind_parameters(dataset["name"], rs.declared_parameters(dataset),
                                evaluate(reference.get("parameters", {}), ctx))
    dataset_ctx = EvalContext(
        pipeline_name=ctx.pipeline_name,
        run_id=ctx.run_id,
        parameters={},
        trigger={},
        activities={},
        dataset_parameters=params,
    )
    props = evaluate(dataset["properties"]["typeProperties"], dataset_ctx)
    ls_ref = dataset["properties"]["linkedServiceName"]
    linked = rs.resolve_linked_service(FACTORY, ls_ref)
    ls_params = rs.bind_parameters(linked["name"], rs.declared_parameters(linked),
                                   evaluate(ls_ref.get("parameters", {}), dataset_ctx))
    ls_ctx = EvalContext(
        pipeline_name=ctx.pipeline_name,
        run_id=ctx.run_id,
        parameters={},
        trigger={},
        activities={},
        linked_service_parameters=ls_params,
    )
    return {"dataset": dataset["name"], "type": dataset["properties"]["type"], **props,
            "linkedService": evaluate(linked["properties"]["typeProperties"], ls_ctx)}


# ----------------------------------------------------------------------------------- trigger


def test_trigger_passes_the_window_date_as_run_date() -> None:
    trigger = FACTORY.triggers["TR_daily_company_activity"]["properties"]
    ctx = EvalContext(
        pipeline_name="",
        run_id="",
        parameters={},
        trigger={
            "name": "TR_daily_company_activity",
            "outputs": {"windowStartTime": "2024-03-01T00:00:00Z", "windowEndTime": "2024-03-02T00:00:00Z"},
        },
        activities={},
    )
    parameters = evaluate(trigger["pipeline"]["parameters"], ctx)
    assert parameters == {"runDate": "2024-03-01"}
    bound = rs.bind_parameters("pipeline", rs.declared_parameters(PIPELINE), parameters)
    assert bound["runDate"] == "2024-03-01"


def test_trigger_runs_daily_after_the_ingestion_timer() -> None:
    props = FACTORY.triggers["TR_daily_company_activity"]["properties"]
    window = props["typeProperties"]
    assert (window["frequency"], window["interval"]) == ("Hour", 24)
    start = datetime.fromisoformat(window["startTime"].replace("Z", "+00:00"))
    assert (start.hour, start.minute, start.second) == (0, 0, 0)  # windows are UTC days
    delay = rs.parse_timespan(window["delay"])
    ingestion = next(s.default for s in SETTINGS if s.name == "INGEST_SCHEDULE").split()
    ingestion_time = timedelta(hours=int(ingestion[2]), minutes=int(ingestion[1]))
    assert ingestion_time < delay < timedelta(hours=24)  # the run starts after the default 01:00 timer
    assert window["maxConcurrency"] == 1
    assert window["retryPolicy"]["count"] >= 1 and window["retryPolicy"]["intervalInSeconds"] >= 30
    assert props["runtimeState"] == "Stopped"


# --------------------------------------------------------------------------------- datasets


def test_manifest_wait_and_lookup_read_the_bronze_manifest() -> None:
    ctx = run_context()
    for name in ("WaitForManifest", "ReadManifest"):
        location = resolve_location(ACTIVITIES[name]["typeProperties"]["dataset"], ctx)["location"]
        assert location["container"] == FACTORY.global_parameters["bronzeContainer"]
        assert f"{location['folderPath']}/{location['fileName']}" == bronze.manifest_path(DAY)
    wait = evaluate(ACTIVITIES["WaitForManifest"]["typeProperties"], ctx)
    assert rs.parse_timespan(wait["timeout"]) == timedelta(hours=6)
    assert wait["sleep"] == 300 and wait["minimumSize"] == 1
    assert evaluate(ACTIVITIES["ReadManifest"]["typeProperties"]["firstRowOnly"], ctx) is True


def test_linked_services_use_the_global_endpoints_and_managed_identity() -> None:
    ctx = run_context()
    location = resolve_location(ACTIVITIES["WaitForManifest"]["typeProperties"]["dataset"], ctx)
    assert location["linkedService"] == {"serviceEndpoint": FACTORY.global_parameters["bronzeBlobEndpoint"],
                                         "accountKind": "StorageV2", "authenticationType": "Msi"}
    sql = resolve_location(NESTED["CopyUsageToStaging"]["outputs"][0], ctx)
    assert sql["linkedService"]["server"] == FACTORY.global_parameters["sqlServer"]
    assert sql["linkedService"]["authenticationType"] == "SystemAssignedManagedIdentity"
    assert (sql["schema"], sql["table"]) == ("stg", "product_usage_daily")


def test_run_date_is_normalised_before_it_reaches_paths_and_sql() -> None:
    ctx = run_context(runDate="2024-03-01T00:00:00Z")
    location = resolve_location(ACTIVITIES["WaitForManifest"]["typeProperties"]["dataset"], ctx)["location"]
    assert location["folderPath"] == "product_usage/date=2024-03-01"
    with pytest.raises(ExpressionError, match="cannot read \"2024-03-01'; DROP TABLE x; --\" as an ISO 8601 timestamp"):
        evaluate(NESTED["CopyUsageToStaging"]["typeProperties"]["sink"]["preCopyScript"],
                 run_context(runDate="2024-03-01'; DROP TABLE x; --"))


# ------------------------------------------------------------------------------------ copies


def test_usage_copy_reads_exactly_the_run_folder_the_manifest_names() -> None:
    row = manifest()
    ctx = run_context({"ReadManifest": {"status": "Succeeded", "output": {"firstRow": row}}})
    copy = NESTED["CopyUsageToStaging"]
    source = resolve_location(copy["inputs"][0], ctx)
    assert source["location"]["container"] == FACTORY.global_parameters["bronzeContainer"]
    assert source["location"]["folderPath"] + "/" == bronze.run_prefix(DAY, RUN_ID) == row["run_path"]
    assert source["compression"] == {"type": "gzip"}
    props = evaluate(copy["typeProperties"], ctx)
    wildcard = props["source"]["storeSettings"]["wildcardFileName"]
    assert props["source"]["storeSettings"]["recursive"] is False
    for listed in row["files"]:
        assert fnmatch.fnmatchcase(listed["path"].rsplit("/", 1)[1], wildcard)
    assert not fnmatch.fnmatchcase(bronze.data_file_path(DAY, RUN_ID, "rejected", 0).rsplit("/", 1)[1], wildcard)
    assert props["source"]["additionalColumns"] == [{"name": "bronze_run_id", "value": RUN_ID}]
    assert props["sink"]["preCopyScript"] == "DELETE FROM stg.product_usage_daily WHERE usage_date = '2024-03-01'"
    assert props["enableSkipIncompatibleRow"] is False
    # "Schema and data type mapping in copy activity": type conversion applies between tabular source and
    # sink only; JSON is hierarchical, so the settings would do nothing and are not there.
    assert "typeConversion" not in props["translator"] and "typeConversionSettings" not in props["translator"]
    mappings = [(m["source"]["path"], m["sink"]["name"]) for m in props["translator"]["mappings"]]
    assert mappings == [("$['date']", "usage_date"), ("$['company_id']", "company_id"),
                        ("$['active_users']", "active_users"), ("$['events']", "events"),
                        ("$['bronze_run_id']", "bronze_run_id")]


@pytest.mark.parametrize(("manifest_day", "records", "staged", "matches"), [
    (DAY, 7, 7, True), (DAY, 7, 6, False), (DAY + timedelta(days=1), 7, 7, False), (DAY, 0, 0, True),
    (DAY, 0, 3, False)])
def test_usage_is_verified_against_the_manifest(manifest_day: date, records: int, staged: int, matches: bool) -> None:
    ctx = run_context({
        "ReadManifest": {"status": "Succeeded", "output": {"firstRow": manifest(manifest_day, records)}},
        "CountStagedUsage": {"status": "Succeeded", "output": {"firstRow": {"staged_rows": staged}}},
    })
    verify = ACTIVITIES["VerifyUsageAgainstManifest"]["typeProperties"]
    assert evaluate(verify["expression"], ctx) is matches
    fail = evaluate(verify["ifFalseActivities"][0]["typeProperties"], ctx)
    assert fail["errorCode"] == "UsageManifestMismatch"
    assert fail["message"] == (f"Bronze usage does not match its manifest: manifest date {manifest_day.isoformat()}, "
                               f"run date 2024-03-01, manifest record_count {records}, rows staged {staged}")


@pytest.mark.parametrize(("read_back", "matches"), [
    ("2024-03-01T00:00:00Z", True), ("2024-03-01T00:00:00", True), ("2024-03-02T00:00:00Z", False)])
def test_the_manifest_date_is_compared_as_a_day(read_back: str, matches: bool) -> None:
    """The Lookup page is silent on how a date-looking JSON string comes back in firstRow: compared through
    formatDateTime, a timestamp form of the run date still matches and another day still does not."""
    row = {**manifest(DAY, 7), "date": read_back}
    ctx = run_context({
        "ReadManifest": {"status": "Succeeded", "output": {"firstRow": row}},
        "CountStagedUsage": {"status": "Succeeded", "output": {"firstRow": {"staged_rows": 7}}},
    })
    verify = ACTIVITIES["VerifyUsageAgainstManifest"]["typeProperties"]
    assert evaluate(verify["expression"], ctx) is matches
    fail = evaluate(verify["ifFalseActivities"][0]["typeProperties"], ctx)
    assert fail["message"].startswith(f"Bronze usage does not match its manifest: manifest date {read_back[:10]}, ")

@pytest.mark.parametrize(("records", "branch"), [(7, "ifTrueActivities"), (0, "ifFalseActivities")])
def test_a_zero_record_day_clears_staging_instead_of_copying(records: int, branch: str) -> None:
    ctx = run_context({"ReadManifest": {"status": "Succeeded", "output": {"firstRow": manifest(DAY, records)}}})
    branches = ACTIVITIES["IfManifestHasRecords"]["typeProperties"]
    assert evaluate(branches["expression"], ctx) is (branch == "ifTrueActivities")
    assert [a["name"] for a in branches[branch]] == (
        ["CopyUsageToStaging"] if records else ["ClearUsageStaging"])
    clear = evaluate(NESTED["ClearUsageStaging"]["typeProperties"], ctx)
    assert clear["scripts"] == [{"type": "NonQuery",
                                 "text": "DELETE FROM stg.product_usage_daily WHERE usage_date = '2024-03-01'"}]
    count = evaluate(ACTIVITIES["CountStagedUsage"]["typeProperties"]["source"]["sqlReaderQuery"], ctx)
    assert count == "SELECT COUNT(*) AS staged_rows FROM stg.product_usage_daily WHERE usage_date = '2024-03-01'"


def test_crm_snapshot_is_staged_only_when_it_exists() -> None:
    check = ACTIVITIES["CheckCrmSnapshot"]
    location = resolve_location(check["typeProperties"]["dataset"], run_context())
    assert location["location"]["container"] == FACTORY.global_parameters["crmContainer"]
    assert f"{location['location']['folderPath']}/{location['location']['fileName']}" == crm.crm_blob_path(DAY)
    assert (location["firstRowAsHeader"], location["encodingName"]) == (True, "UTF-8")
    assert check["typeProperties"]["fieldList"] == ["exists"]
    branch = ACTIVITIES["IfCrmSnapshotExists"]["typeProperties"]
    for exists in (True, False):
        ctx = run_context({"CheckCrmSnapshot": {"status": "Succeeded", "output": {"exists": exists}}})
        assert evaluate(branch["expression"], ctx) is exists
    assert "ifFalseActivities" not in branch  # no snapshot: nothing to stage, the procedure keeps the CRM state
    copy = evaluate(NESTED["CopyCrmToStaging"], run_context())
    assert copy["typeProperties"]["sink"]["preCopyScript"] == \
        "DELETE FROM stg.crm_company WHERE snapshot_date = '2024-03-01'"
    assert copy["typeProperties"]["source"]["additionalColumns"] == [{"name": "snapshot_date", "value": "2024-03-01"}]
    sinks = [m["sink"]["name"] for m in copy["typeProperties"]["translator"]["mappings"]]
    assert sinks == ["snapshot_date", "company_id", "company_name", "industry_tag", "country", "last_contact_date"]
    assert resolve_location(NESTED["CopyCrmToStaging"]["outputs"][0], run_context())["table"] == "crm_company"
    # The CSV contract's one date spelling, given to ADF: without a format the spellings ADF parses are not
    # documented. dateFormat (REST model, Fabric's page) and dateTimeFormat (ADF's page) both say it, as the docs
    # do not settle which one ADF applies to a SQL date column; the sink has no datetime column.
    translator = copy["typeProperties"]["translator"]
    assert translator["typeConversion"] is True
    assert translator["typeConversionSettings"] == {"allowDataTruncation": False, "treatBooleanAsNumber": False,
                                                    "dateFormat": "yyyy-MM-dd", "dateTimeFormat": "yyyy-MM-dd"}
    # the copy's added snapshot_date column is converted with the same format
    assert NESTED["CopyCrmToStaging"]["typeProperties"]["source"]["additionalColumns"][0]["value"]["value"] == \
        "@formatDateTime(pipeline().parameters.runDate, 'yyyy-MM-dd')"
    assert copy["typeProperties"]["enableSkipIncompatibleRow"] is False


def test_stored_procedure_call() -> None:
    proc = ACTIVITIES["MergeFactDailyCompanyActivity"]
    props = evaluate(proc["typeProperties"], run_context(lowActivityThreshold=2.5, staleContactDays=30))
    assert props["storedProcedureName"] == "[dbo].[usp_merge_fact_daily_company_activity]"
    assert props["storedProcedureParameters"] == {
        "run_date": {"value": "2024-03-01", "type": "String"},
        "run_id": {"value": "run-7", "type": "String"},
        "low_activity_threshold": {"value": "2.5", "type": "String"},
        "stale_contact_days": {"value": 30, "type": "Int"},
    }
    defaults = evaluate(proc["typeProperties"]["storedProcedureParameters"], run_context())
    assert (defaults["low_activity_threshold"]["value"], defaults["stale_contact_days"]["value"]) == ("1", 90)


def test_every_execution_activity_retries_and_times_out_within_a_day() -> None:
    for name, activity in NESTED.items():
        if activity["type"] in ("IfCondition", "Validation", "Fail", "SetVariable"):
            continue
        policy = activity["policy"]
        assert rs.parse_timespan(policy["timeout"]) <= timedelta(hours=1), name
        # The Slack post is never retried: a delivered post answered with text/plain 'ok' may end Failed.
        assert policy["retry"] == 0 if name == "PostFailureToSlack" else policy["retry"] >= 1, name


# ------------------------------------------------------------------------------------- alert


def failed_at(failing: str, message: str = "Operation on target failed: boom 'quoted' \"x\"") -> dict[str, dict]:
    """Activity results when `failing` fails: those before it succeeded, those after were skipped."""
    position = CHAIN.index(failing)
    results: dict[str, dict] = {}
    for index, name in enumerate(CHAIN):
        if index < position:
            results[name] = {"status": "Succeeded", "output": {}}
        elif index == position:
            results[name] = {"status": "Failed", "output": {}, "error": {"message": message, "errorCode": "2200"}}
        else:
            results[name] = {"status": "Skipped"}
    return results


@pytest.mark.parametrize("failing", CHAIN)
def test_alert_message_names_the_failed_activity_and_its_error(failing: str) -> None:
    # Only the failed activity's own NoteFailed runs, and it reads only that activity; every other chain
    # activity is Succeeded or Skipped in the context, and reading a skipped one would raise.
    ctx = run_context({**failed_at(failing), "GetSlackWebhookUrl": {
        "status": "Succeeded", "output": {"value": "http://127.0.0.1:9/hook"}}})
    note = ACTIVITIES[f"NoteFailed{failing}"]
    assert note["dependsOn"] == [{"activity": failing, "dependencyConditions": ["Failed"]}]
    ctx.variables["failure"] = evaluate(note["typeProperties"]["value"], ctx)
    post = evaluate(ACTIVITIES["PostFailureToSlack"]["typeProperties"], ctx)
    assert post["method"] == "POST" and post["url"] == "http://127.0.0.1:9/hook"
    assert post["headers"] == {"Content-Type": "application/json"}
    assert post["body"] == {"text": (
        "Pipeline PL_daily_company_activity failed in factory adf-company-activity\n"
        "runDate: 2024-03-01\nrun id: run-7\n"
        f"failed activity: {failing}\n"
        "error: Operation on target failed: boom 'quoted' \"x\"")}
    fail = evaluate(ACTIVITIES["FailRun"]["typeProperties"], ctx)
    assert fail == {"message": post["body"]["text"], "errorCode": "CompanyActivityLoadFailed"}


def test_alert_without_a_recorded_error() -> None:
    results = {name: {"status": "Skipped"} for name in CHAIN}
    text = evaluate(ACTIVITIES["FailRun"]["typeProperties"]["message"], run_context(results))
    assert text.endswith("run id: run-7\nfailed activity: not recorded\nerror: not recorded")


def test_no_alert_expression_reads_an_activity() -> None:
    """The alert's own expressions read only the secret's output and the variable: nothing that may be skipped."""
    for name in ("PostFailureToSlack", "FailRun"):
        texts = [text for _, text in find_expressions(ACTIVITIES[name]["typeProperties"])]
        assert set().union(*(referenced_activities(t) for t in texts)) <= {"GetSlackWebhookUrl"}, name


def test_webhook_secret_is_read_with_the_factory_identity_and_kept_out_of_logs() -> None:
    get = ACTIVITIES["GetSlackWebhookUrl"]
    props = evaluate(get["typeProperties"], run_context())
    assert props["method"] == "GET"
    assert props["url"] == (f"{FACTORY.global_parameters['keyVaultBaseUrl']}secrets/"
                            f"{FACTORY.global_parameters['slackWebhookSecretName']}?api-version=7.4")
    assert props["authentication"] == {"type": "MSI", "resource": "https://vault.azure.net"}
    assert get["policy"]["secureOutput"] is True
    assert ACTIVITIES["PostFailureToSlack"]["policy"]["secureInput"] is True


def _outcome(failing: str | None, alert_failures: tuple[str, ...] = ()) -> tuple[dict[str, str], str]:
    activities = rs.pipeline_activities(PIPELINE)
    outcome = {name: "Failed" for name in (*alert_failures, "FailRun")}
    if failing:
        outcome[failing] = "Failed"
    statuses = rs.simulate(activities, outcome)
    return statuses, rs.run_outcome(activities, statuses)


def test_successful_chain_skips_the_alert_and_succeeds() -> None:
    statuses, result = _outcome(None)
    assert all(statuses[name] == "Succeeded" for name in CHAIN)
    assert all(statuses[name] == "Skipped" for name in ALERT)
    assert result == "Succeeded"


@pytest.mark.parametrize("failing", CHAIN)
@pytest.mark.parametrize("alert_failures", [(), ("PostFailureToSlack",), ("GetSlackWebhookUrl",)])
def test_any_failure_alerts_and_fails_the_run(failing: str, alert_failures: tuple[str, ...]) -> None:
    statuses, result = _outcome(failing, alert_failures)
    assert statuses["FailRun"] == "Failed"  # the Fail activity ran, whatever happened to Slack
    assert result == "Failed"
    if not alert_failures:
        assert statuses["PostFailureToSlack"] == "Succeeded"


@pytest.mark.parametrize("failing", CHAIN)
def test_a_failed_note_still_alerts_with_the_default_text(failing: str) -> None:
    statuses, result = _outcome(failing, (f"NoteFailed{failing}",))
    assert statuses["PostFailureToSlack"] == "Succeeded" and statuses["FailRun"] == "Failed"
    assert result == "Failed"
    assert [n for n in NOTES if statuses[n] != "Skipped"] == [f"NoteFailed{failing}"]
