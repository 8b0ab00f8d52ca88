"""The offline validator: the shipped adf/ is clean, and every rule catches a deliberately broken copy,
naming the file, the JSON path and the problem."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from company_activity_local.pipeline.resources import ADF_DIR, load_factory
from company_activity_local.pipeline.validate import MODELS, ROOT_MODELS, Problem, validate_directory, validate_factory

Editor = Callable[[str, str, Callable[[dict], Any]], Path]  # the `edit` fixture of conftest.py

PIPELINE = "PL_daily_company_activity"
TRIGGER = "TR_daily_company_activity"


def activity(data: dict, name: str) -> dict:
    return next(a for a in data["properties"]["activities"] if a["name"] == name)


def index_of(name: str) -> int:
    data = json.loads((ADF_DIR / "pipeline" / f"{PIPELINE}.json").read_text())
    return [a["name"] for a in data["properties"]["activities"]].index(name)


def test_shipped_factory_validates_clean() -> None:
    assert [str(p) for p in validate_directory(ADF_DIR)] == []


def test_shipped_resources_deserialize_with_the_sdk_models() -> None:
    factory = load_factory()
    pipeline = MODELS[ROOT_MODELS["pipeline"]].deserialize(factory.pipelines[PIPELINE])
    assert [type(a).__name__ for a in pipeline.activities] == [
        "ValidationActivity", "LookupActivity", "IfConditionActivity", "LookupActivity", "IfConditionActivity",
        "GetMetadataActivity", "IfConditionActivity", "SqlServerStoredProcedureActivity",
        *["SetVariableActivity"] * 8, "WebActivity", "WebActivity", "FailActivity"]
    branches = pipeline.activities[2]
    assert [type(a).__name__ for a in branches.if_true_activities + branches.if_false_activities] == [
        "CopyActivity", "ScriptActivity"]
    trigger = MODELS["TriggerResource"].deserialize(factory.triggers[TRIGGER])
    assert type(trigger.properties).__name__ == "TumblingWindowTrigger"
    assert trigger.properties.max_concurrency == 1


def test_problem_renders_file_path_message() -> None:
    assert str(Problem("adf/pipeline/PL_x.json", "$.properties", "bad")) == "adf/pipeline/PL_x.json: $.properties: bad"


Change = Callable[[dict], Any]


def _set(path: list[Any], value: Any) -> Change:
    def change(data: dict) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


def _rename_key(path: list[Any], old: str, new: str) -> Change:
    def change(data: dict) -> None:
        node = data
        for key in path:
            node = node[key]
        node[new] = node.pop(old)
    return change


ACT = ["properties", "activities"]
# CopyUsageToStaging is the true branch of IfManifestHasRecords.
COPY = [*ACT, index_of("IfManifestHasRecords"), "typeProperties", "ifTrueActivities", 0]
COPY_PATH = f"$.properties.activities[{index_of('IfManifestHasRecords')}].typeProperties.ifTrueActivities[0]"
# CopyCrmToStaging is the true branch of IfCrmSnapshotExists.
CRM_COPY = [*ACT, index_of("IfCrmSnapshotExists"), "typeProperties", "ifTrueActivities", 0]
CRM_COPY_PATH = f"$.properties.activities[{index_of('IfCrmSnapshotExists')}].typeProperties.ifTrueActivities[0]"
CASES: list[tuple[str, str, str, Change, str, str]] = [
    # (id, folder, resource, change, expected JSON path, expected message fragment)
    ("misspelled key inside typeProperties", "pipeline", PIPELINE,
     _rename_key([*COPY, "typeProperties", "sink"], "preCopyScript", "preCopyScrpt"),
     f"{COPY_PATH}.typeProperties.sink.preCopyScrpt",
     "unknown property 'preCopyScrpt' of AzureSqlSink; did you mean 'preCopyScript'?"),
    ("misspelled top-level activity key", "pipeline", PIPELINE,
     _rename_key([*ACT, index_of("ReadManifest")], "dependsOn", "dependOn"),
     f"$.properties.activities[{index_of('ReadManifest')}].dependOn", "unknown property 'dependOn' of LookupActivity"),
    ("misspelled linked service key", "linkedService", "LS_bronze_blob",
     _rename_key(["properties", "typeProperties"], "serviceEndpoint", "servicEndpoint"),
     "$.properties.typeProperties.servicEndpoint", "did you mean 'serviceEndpoint'?"),
    ("misspelled translator mapping key", "pipeline", PIPELINE,
     _rename_key([*COPY, "typeProperties", "translator", "mappings", 0], "sink", "snk"),
     f"{COPY_PATH}.typeProperties.translator.mappings[0].snk",
     "unknown mapping key 'snk'"),
    ("unknown activity type", "pipeline", PIPELINE,
     _set([*ACT, index_of("ReadManifest"), "type"], "Lookupp"),
     f"$.properties.activities[{index_of('ReadManifest')}].type",
     "unknown Activity type 'Lookupp': no model has this type, so it would deserialize to the base class"),
    ("unknown dataset type", "dataset", "DS_bronze_manifest", _set(["properties", "type"], "JSON"),
     "$.properties.type", "unknown Dataset type 'JSON'"),
    ("unknown nested store settings type", "pipeline", PIPELINE,
     _set([*ACT, index_of("ReadManifest"), "typeProperties", "source", "storeSettings", "type"], "BlobReadSettings"),
     f"$.properties.activities[{index_of('ReadManifest')}].typeProperties.source.storeSettings.type",
     "unknown StoreReadSettings type 'BlobReadSettings'"),
    ("bad dependency condition", "pipeline", PIPELINE,
     _set([*ACT, index_of("ReadManifest"), "dependsOn", 0, "dependencyConditions"], ["Succeded"]),
     f"$.properties.activities[{index_of('ReadManifest')}].dependsOn[0].dependencyConditions[0]",
     "invalid value 'Succeded'; allowed: Completed, Failed, Skipped, Succeeded"),
    ("bad web method", "pipeline", PIPELINE,
     _set([*ACT, index_of("PostFailureToSlack"), "typeProperties", "method"], "post"),
     f"$.properties.activities[{index_of('PostFailureToSlack')}].typeProperties.method",
     "invalid value 'post' (write 'POST')"),
    ("bad web authentication type", "pipeline", PIPELINE,
     _set([*ACT, index_of("GetSlackWebhookUrl"), "typeProperties", "authentication", "type"], "ManagedIdentity"),
     f"$.properties.activities[{index_of('GetSlackWebhookUrl')}].typeProperties.authentication.type",
     "invalid value 'ManagedIdentity'"),
    ("bad trigger frequency", "trigger", TRIGGER, _set(["properties", "typeProperties", "frequency"], "Day"),
     "$.properties.typeProperties.frequency", "invalid value 'Day'; allowed: Hour, Minute, Month"),
    ("bad parameter type", "pipeline", PIPELINE, _set(["properties", "parameters", "runDate", "type"], "Date"),
     "$.properties.parameters.runDate.type", "invalid value 'Date'"),
    ("value below the model's minimum", "trigger", TRIGGER,
     _set(["properties", "typeProperties", "maxConcurrency"], 0),
     "$.properties.typeProperties.maxConcurrency", "must be at least 1, got 0"),
    ("wrong JSON type", "trigger", TRIGGER, _set(["properties", "typeProperties", "interval"], "24"),
     "$.properties.typeProperties.interval", "expected int, got str '24'"),
    ("missing required property", "pipeline", PIPELINE,
     lambda d: activity(d, "PostFailureToSlack")["typeProperties"].pop("url"),
     f"$.properties.activities[{index_of('PostFailureToSlack')}].typeProperties.url",
     "required property of WebActivity is missing"),
    ("missing required fail error code", "pipeline", PIPELINE,
     lambda d: activity(d, "FailRun")["typeProperties"].pop("errorCode"),
     f"$.properties.activities[{index_of('FailRun')}].typeProperties.errorCode",
     "required property of FailActivity is missing"),
    ("dangling dataset reference", "pipeline", PIPELINE,
     _set([*ACT, index_of("ReadManifest"), "typeProperties", "dataset", "referenceName"], "DS_bronze_manifests"),
     f"$.properties.activities[{index_of('ReadManifest')}].typeProperties.dataset.referenceName",
     "dataset 'DS_bronze_manifests' does not exist; did you mean 'DS_bronze_manifest'?"),
    ("dangling linked service reference", "dataset", "DS_stg_crm_company",
     _set(["properties", "linkedServiceName", "referenceName"], "LS_sql"),
     "$.properties.linkedServiceName.referenceName", "linkedService 'LS_sql' does not exist"),
    ("dangling pipeline reference", "trigger", TRIGGER,
     _set(["properties", "pipeline", "pipelineReference", "referenceName"], "PL_daily"),
     "$.properties.pipeline.pipelineReference.referenceName", "pipeline 'PL_daily' does not exist"),
    ("unknown dataset parameter passed", "pipeline", PIPELINE,
     _set([*ACT, index_of("ReadManifest"), "typeProperties", "dataset", "parameters", "rundate"], "x"),
     f"$.properties.activities[{index_of('ReadManifest')}].typeProperties.dataset.parameters.rundate",
     "dataset 'DS_bronze_manifest' declares no parameter 'rundate'; did you mean 'runDate'?"),
    ("required dataset parameter not passed", "pipeline", PIPELINE,
     lambda d: activity(d, "ReadManifest")["typeProperties"]["dataset"]["parameters"].pop("container"),
     f"$.properties.activities[{index_of('ReadManifest')}].typeProperties.dataset.parameters",
     "dataset 'DS_bronze_manifest' parameter 'container' has no defaultValue and is not supplied"),
    ("required pipeline parameter not passed by the trigger", "trigger", TRIGGER,
     lambda d: d["properties"]["pipeline"]["parameters"].pop("runDate"),
     "$.properties.pipeline.parameters", "pipeline 'PL_daily_company_activity' parameter 'runDate'"),
    ("dependsOn names no activity", "pipeline", PIPELINE,
     _set([*ACT, index_of("ReadManifest"), "dependsOn", 0, "activity"], "WaitForManifests"),
     f"$.properties.activities[{index_of('ReadManifest')}].dependsOn[0].activity",
     "depends on 'WaitForManifests', which is not an activity of the same list"),
    ("dependency cycle", "pipeline", PIPELINE,
     _set([*ACT, index_of("WaitForManifest"), "dependsOn"],
          [{"activity": "ReadManifest", "dependencyConditions": ["Succeeded"]}]),
     "$.properties.activities", "dependency cycle"),
    ("undeclared pipeline parameter", "pipeline", PIPELINE,
     _set([*ACT, index_of("MergeFactDailyCompanyActivity"), "typeProperties", "storedProcedureParameters",
           "stale_contact_days", "value", "value"], "@pipeline().parameters.staleContactDay"),
     f"$.properties.activities[{index_of('MergeFactDailyCompanyActivity')}].typeProperties."
     "storedProcedureParameters.stale_contact_days.value.value",
     "parameter 'staleContactDay' is not declared by the pipeline; did you mean 'staleContactDays'?"),
    ("undeclared global parameter", "pipeline", PIPELINE,
     _set([*ACT, index_of("GetSlackWebhookUrl"), "typeProperties", "url", "value"],
          "@concat(pipeline().globalParameters.vaultUrl, 'secrets/x')"),
     f"$.properties.activities[{index_of('GetSlackWebhookUrl')}].typeProperties.url.value",
     "parameter 'vaultUrl' is not declared by the factory's globalParameters"),
    ("undeclared dataset parameter", "dataset", "DS_bronze_usage",
     _set(["properties", "typeProperties", "location", "folderPath", "value"], "@dataset().runid"),
     "$.properties.typeProperties.location.folderPath.value",
     "parameter 'runid' is not declared by the dataset; did you mean 'runId'?"),
    ("undeclared linked service parameter", "linkedService", "LS_warehouse_sql",
     _set(["properties", "typeProperties", "server"], "@{linkedService().serverName}"),
     "$.properties.typeProperties.server", "parameter 'serverName' is not declared by the linked service"),
    ("pipeline function inside a dataset", "dataset", "DS_bronze_manifest",
     _set(["properties", "typeProperties", "location", "container", "value"], "@pipeline().parameters.runDate"),
     "$.properties.typeProperties.location.container.value", "pipeline() cannot be used in a dataset"),
    ("unparsable expression", "pipeline", PIPELINE,
     _set([*COPY, "typeProperties", "sink", "preCopyScript", "value"],
          "DELETE FROM stg.product_usage_daily WHERE usage_date = '@{pipeline().parameters.runDate'"),
     f"{COPY_PATH}.typeProperties.sink.preCopyScript.value",
     "expression does not parse: unterminated '@{' interpolation"),
    ("unsupported function", "pipeline", PIPELINE,
     _set([*ACT, index_of("IfCrmSnapshotExists"), "typeProperties", "expression", "value"],
          "@exists(activity('CheckCrmSnapshot').output)"),
     f"$.properties.activities[{index_of('IfCrmSnapshotExists')}].typeProperties.expression.value",
     "unsupported function 'exists'"),
    ("activity not upstream", "pipeline", PIPELINE,
     _set([*ACT, index_of("ReadManifest"), "typeProperties", "firstRowOnly"],
          "@equals(activity('CheckCrmSnapshot').output.exists, true)"),
     f"$.properties.activities[{index_of('ReadManifest')}].typeProperties.firstRowOnly",
     "activity 'CheckCrmSnapshot' is not upstream of 'ReadManifest'"),
    ("activity that does not exist", "pipeline", PIPELINE,
     _set([*ACT, index_of("PostFailureToSlack"), "typeProperties", "url", "value"],
          "@activity('GetSlackWebhook').output.value"),
     f"$.properties.activities[{index_of('PostFailureToSlack')}].typeProperties.url.value",
     "activity 'GetSlackWebhook' does not exist; did you mean 'GetSlackWebhookUrl'?"),
    ("alert condition only Failed", "pipeline", PIPELINE,
     _set([*ACT, index_of("GetSlackWebhookUrl"), "dependsOn", 0, "dependencyConditions"], ["Failed"]),
     f"$.properties.activities[{index_of('PostFailureToSlack')}]",
     "'PostFailureToSlack' is skipped when WaitForManifest fails although no alert step failed"),
    ("alert conditions split over two entries", "pipeline", PIPELINE,
     lambda d: activity(d, "GetSlackWebhookUrl").__setitem__("dependsOn", [
         {"activity": "MergeFactDailyCompanyActivity", "dependencyConditions": ["Failed"]},
         {"activity": "MergeFactDailyCompanyActivity", "dependencyConditions": ["Skipped"]},
         *activity(d, "GetSlackWebhookUrl")["dependsOn"][1:]]),
     f"$.properties.activities[{index_of('PostFailureToSlack')}]", "no alert is sent"),
    ("alert posted before the failure is noted", "pipeline", PIPELINE,
     _set([*ACT, index_of("GetSlackWebhookUrl"), "dependsOn"],
          [{"activity": "MergeFactDailyCompanyActivity", "dependencyConditions": ["Failed", "Skipped"]}]),
     f"$.properties.activities[{index_of('PostFailureToSlack')}].typeProperties.body.text",
     "variable 'failure' is read before"),
    ("alert reads a chain activity that was skipped", "pipeline", PIPELINE,
     _set([*ACT, index_of("PostFailureToSlack"), "typeProperties", "body", "text"],
          "failed: @{activity('MergeFactDailyCompanyActivity').error.message}"),
     f"$.properties.activities[{index_of('PostFailureToSlack')}]",
     "reads activity 'MergeFactDailyCompanyActivity', which did not run then"),
    ("null-safe read of an activity", "pipeline", PIPELINE,
     _set([*ACT, index_of("FailRun"), "typeProperties", "message", "value"],
          "@coalesce(activity('MergeFactDailyCompanyActivity')?.error?.message, 'none')"),
     f"$.properties.activities[{index_of('FailRun')}].typeProperties.message.value",
     "'?' after activity(...)"),
    ("undocumented activity property", "pipeline", PIPELINE,
     _set([*ACT, index_of("NoteFailedReadManifest"), "typeProperties", "value"],
          "@activity('ReadManifest').error.errorCode"),
     f"$.properties.activities[{index_of('NoteFailedReadManifest')}].typeProperties.value",
     "only activity(...).error.message is documented"),
    ("undocumented system variable", "pipeline", PIPELINE,
     _set([*ACT, index_of("PostFailureToSlack"), "typeProperties", "body", "text"], "@{pipeline().Factory}"),
     f"$.properties.activities[{index_of('PostFailureToSlack')}].typeProperties.body.text",
     "pipeline().Factory (pipeline().Factory) is not a documented system variable"),
    ("alert post retried", "pipeline", PIPELINE,
     _set([*ACT, index_of("PostFailureToSlack"), "policy", "retry"], 2),
     f"$.properties.activities[{index_of('PostFailureToSlack')}].policy.retry", "retry must be 0, got 2"),
    ("undocumented stored procedure parameter type", "pipeline", PIPELINE,
     _set([*ACT, index_of("MergeFactDailyCompanyActivity"), "typeProperties", "storedProcedureParameters",
           "run_date", "type"], "Date"),
     f"$.properties.activities[{index_of('MergeFactDailyCompanyActivity')}].typeProperties"
     ".storedProcedureParameters.run_date.type", "only the documented types String, Int, Int64"),
    ("type conversion on the JSON copy", "pipeline", PIPELINE,
     _set([*COPY, "typeProperties", "translator", "typeConversion"], True),
     f"{COPY_PATH}.typeProperties.translator.typeConversion",
     "type conversion does not apply to a JSON (hierarchical) source"),
    ("CSV copy without a dateFormat", "pipeline", PIPELINE,
     _set([*CRM_COPY, "typeProperties", "translator", "typeConversionSettings"],
          {"allowDataTruncation": False, "treatBooleanAsNumber": False}),
     f"{CRM_COPY_PATH}.typeProperties.translator.typeConversionSettings", "a delimited-text copy must set dateFormat"),
    ("CSV copy without type conversion", "pipeline", PIPELINE,
     _set([*CRM_COPY, "typeProperties", "translator", "typeConversion"], False),
     f"{CRM_COPY_PATH}.typeProperties.translator.typeConversion", "a delimited-text copy needs typeConversion: true"),
    ("CSV copy with a dateTimeFormat unlike its dateFormat", "pipeline", PIPELINE,
     _set([*CRM_COPY, "typeProperties", "translator", "typeConversionSettings", "dateTimeFormat"],
          "yyyy-MM-dd HH:mm:ss"),
     f"{CRM_COPY_PATH}.typeProperties.translator.typeConversionSettings.dateTimeFormat",
     "'yyyy-MM-dd HH:mm:ss' differs from dateFormat 'yyyy-MM-dd'"),
    ("no Fail activity", "pipeline", PIPELINE,
     lambda d: d["properties"].__setitem__("activities", [a for a in d["properties"]["activities"]
                                                           if a["name"] != "FailRun"]),
     "$.properties.activities", "the alert branch must end with one Fail activity"),
    ("Fail skipped when the Slack post fails", "pipeline", PIPELINE,
     _set([*ACT, index_of("FailRun"), "dependsOn"],
          [{"activity": "PostFailureToSlack", "dependencyConditions": ["Succeeded"]}]),
     f"$.properties.activities[{index_of('FailRun')}]",
     "'FailRun' is skipped when WaitForManifest fails and PostFailureToSlack failed"),
    ("Fail runs after a successful chain", "pipeline", PIPELINE,
     _set([*ACT, index_of("FailRun"), "dependsOn"],
          [{"activity": "PostFailureToSlack", "dependencyConditions": ["Completed", "Skipped"]}]),
     f"$.properties.activities[{index_of('FailRun')}]",
     "'FailRun' runs or the run ends Failed when nothing fails"),
    ("second chain end", "pipeline", PIPELINE,
     _set([*ACT, index_of("MergeFactDailyCompanyActivity"), "dependsOn"],
          [{"activity": "CheckCrmSnapshot", "dependencyConditions": ["Succeeded"]}]),
     "$.properties.activities", "expected exactly one chain ending in one activity, found 2 end(s)"),
    ("chain not ending in the stored procedure", "pipeline", PIPELINE,
     lambda d: activity(d, "MergeFactDailyCompanyActivity").update(
         type="Wait", typeProperties={"waitTimeInSeconds": 1}, linkedServiceName=None, policy=None),
     f"$.properties.activities[{index_of('MergeFactDailyCompanyActivity')}]",
     "the chain must end with the stored procedure activity, not 'MergeFactDailyCompanyActivity'"),
    ("nested activity reusing a top-level name", "pipeline", PIPELINE,
     lambda d: activity(d, "IfCrmSnapshotExists")["typeProperties"]["ifTrueActivities"][0].__setitem__(
         "name", "ReadManifest"),
     f"$.properties.activities[{index_of('IfCrmSnapshotExists')}].typeProperties.ifTrueActivities[0].name",
     "activity name 'ReadManifest' is already used at $.properties.activities[1]"),
    ("activity name with a forbidden character", "pipeline", PIPELINE,
     lambda d: (activity(d, "FailRun").__setitem__("name", "Fail: run")),
     f"$.properties.activities[{index_of('FailRun')}].name", "activity name 'Fail: run' must be 1-55 characters"),
    ("activity without timeout", "pipeline", PIPELINE,
     lambda d: activity(d, "ReadManifest")["policy"].pop("timeout"),
     f"$.properties.activities[{index_of('ReadManifest')}].policy.timeout", "ADF's default of 7 days"),
    ("nested activity with a week-long timeout", "pipeline", PIPELINE,
     lambda d: activity(d, "IfCrmSnapshotExists")["typeProperties"]["ifTrueActivities"][0]["policy"].__setitem__(
         "timeout", "7.00:00:00"),
     f"$.properties.activities[{index_of('IfCrmSnapshotExists')}].typeProperties.ifTrueActivities[0].policy.timeout",
     "is longer than 1 day"),
    ("secret in a linked service", "linkedService", "LS_bronze_blob",
     _set(["properties", "typeProperties", "connectionString"],
          "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=abc=="),
     "$.properties.typeProperties.connectionString", "looks like a storage account key"),
    ("Slack webhook committed", "pipeline", PIPELINE,
     _set([*ACT, index_of("PostFailureToSlack"), "typeProperties", "url"], "https://hooks.slack.com/services/T/B/x"),
     f"$.properties.activities[{index_of('PostFailureToSlack')}].typeProperties.url", "looks like a Slack webhook URL"),
    ("trigger committed started", "trigger", TRIGGER, _set(["properties", "runtimeState"], "Started"),
     "$.properties.runtimeState", "commit triggers Stopped"),
    ("loading pipeline without concurrency", "pipeline", PIPELINE, lambda d: d["properties"].pop("concurrency"),
     "$.properties.concurrency", "a pipeline that loads data must set concurrency 1"),
    ("loading pipeline with concurrency 2", "pipeline", PIPELINE, _set(["properties", "concurrency"], 2),
     "$.properties.concurrency", "a pipeline that loads data must set concurrency 1"),
    ("concurrency beyond Data Factory's range", "pipeline", "PL_backfill_company_activity",
     _set(["properties", "concurrency"], 51), "$.properties.concurrency", "an integer from 1 to 50, got 51"),
]


@pytest.mark.parametrize(("folder", "name", "change", "path", "message"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_rule_catches_broken_copy(edit: Editor, adf_copy: Path, folder: str, name: str, change: Change,
                                  path: str, message: str) -> None:
    edit(folder, name, change)
    problems = validate_directory(adf_copy)
    expected_file = f"adf/{folder}/{name}.json"
    matching = [p for p in problems if p.file == expected_file and p.path == path and message in p.message]
    assert matching, "no problem matched; got:\n" + "\n".join(map(str, problems))


def test_wrong_prefix_is_reported(adf_copy: Path) -> None:
    source = adf_copy / "dataset" / "DS_bronze_manifest.json"
    data = json.loads(source.read_text())
    data["name"] = "bronze_manifest_copy"
    (adf_copy / "dataset" / "bronze_manifest_copy.json").write_text(json.dumps(data))
    problems = validate_directory(adf_copy)
    assert Problem("adf/dataset/bronze_manifest_copy.json", "$.name", "dataset names start with 'DS_'") in problems


def test_unloadable_directory_is_one_problem(adf_copy: Path) -> None:
    (adf_copy / "trigger" / f"{TRIGGER}.json").write_text('{"name": "TR_daily_company_activity", ')
    problems = validate_directory(adf_copy)
    assert len(problems) == 1
    assert f"{TRIGGER}.json: invalid JSON at line 1" in str(problems[0])


def test_validate_factory_reports_several_files_at_once(edit: Editor, adf_copy: Path) -> None:
    edit("trigger", TRIGGER, _set(["properties", "runtimeState"], "Started"))
    edit("dataset", "DS_crm_companies", _set(["properties", "type"], "Csv"))
    files = {p.file for p in validate_factory(load_factory(adf_copy))}
    assert files == {f"adf/trigger/{TRIGGER}.json", "adf/dataset/DS_crm_companies.json"}
