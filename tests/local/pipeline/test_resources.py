"""Loading adf/ and the JSON semantics resources.py owns: references, parameters, dependencies, timespans."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from company_activity_local.pipeline import resources as rs


def test_load_shipped_factory() -> None:
    factory = rs.load_factory()
    assert factory.name == "adf-company-activity"
    assert set(factory.pipelines) == {"PL_daily_company_activity", "PL_backfill_company_activity"}
    assert set(factory.datasets) == {"DS_bronze_manifest", "DS_bronze_usage", "DS_crm_companies",
                                     "DS_stg_product_usage_daily", "DS_stg_crm_company"}
    assert set(factory.linked_services) == {"LS_bronze_blob", "LS_crm_blob", "LS_warehouse_sql", "LS_key_vault"}
    assert set(factory.triggers) == {"TR_daily_company_activity"}
    assert factory.factory["identity"] == {"type": "SystemAssigned"}
    assert factory.global_parameters["bronzeContainer"] == "bronze"
    assert factory.file_of("pipeline", "PL_daily_company_activity") == "adf/pipeline/PL_daily_company_activity.json"


@pytest.mark.parametrize(("content", "message"), [
    ('{"name": "DS_bronze_manifest", ', "DS_bronze_manifest.json: invalid JSON at line 1 column 32"),
    ("[1, 2]", "DS_bronze_manifest.json: $: a resource file must hold a JSON object, got list"),
    ('{"properties": {}}', "DS_bronze_manifest.json: $.name: missing or not a string"),
    ('{"name": "DS_other", "properties": {}}', "$.name: resource name 'DS_other' differs from the file name"),
    ('{"name": "DS_bronze_manifest", "properties": []}', "DS_bronze_manifest.json: $.properties: must be an object"),
    ('{"name": "DS_bronze_manifest"}', "DS_bronze_manifest.json: $.properties: missing"),
])
def test_load_errors_name_file_and_key(adf_copy: Path, content: str, message: str) -> None:
    (adf_copy / "dataset" / "DS_bronze_manifest.json").write_text(content)
    with pytest.raises(rs.ResourceError, match=message.replace("$", r"\$").replace("(", r"\(")):
        rs.load_factory(adf_copy)


def test_load_needs_one_factory_file(adf_copy: Path, tmp_path: Path) -> None:
    (adf_copy / "factory" / "second.json").write_text('{"name": "second", "properties": {}}')
    with pytest.raises(rs.ResourceError, match="expected exactly one factory JSON file, found 2"):
        rs.load_factory(adf_copy)
    with pytest.raises(rs.ResourceError, match="not a directory"):
        rs.load_factory(tmp_path / "missing")


def test_resolve_references() -> None:
    factory = rs.load_factory()
    dataset = rs.resolve_dataset(factory, {"referenceName": "DS_bronze_usage"})
    assert dataset["properties"]["type"] == "Json"
    assert rs.resolve(factory, {"referenceName": "LS_warehouse_sql", "type": "LinkedServiceReference"})["name"] \
        == "LS_warehouse_sql"
    with pytest.raises(rs.ResourceError, match="dataset 'DS_nope' does not exist"):
        rs.resolve_dataset(factory, {"referenceName": "DS_nope"})
    with pytest.raises(rs.ResourceError, match="unknown reference type 'IntegrationRuntimeReference'"):
        rs.resolve(factory, {"referenceName": "x", "type": "IntegrationRuntimeReference"})


def test_bind_parameters_applies_defaults_and_types() -> None:
    pipeline = rs.load_factory().pipelines["PL_daily_company_activity"]
    declared = rs.declared_parameters(pipeline)
    bound = rs.bind_parameters("pipeline PL", declared, {"runDate": "2024-03-01", "lowActivityThreshold": "0.5"})
    assert bound == {"runDate": "2024-03-01", "lowActivityThreshold": 0.5, "staleContactDays": 90,
                     "manifestTimeout": "0.06:00:00", "manifestSleepSeconds": 300}
    assert rs.bind_parameters("p", declared, {"runDate": "d", "staleContactDays": "30"})["staleContactDays"] == 30
    with pytest.raises(rs.ResourceError, match="parameter 'runDate' is required"):
        rs.bind_parameters("pipeline PL", declared, {})
    with pytest.raises(rs.ResourceError, match="unknown parameter\\(s\\) rundate; declared: lowActivityThreshold"):
        rs.bind_parameters("pipeline PL", declared, {"runDate": "x", "rundate": "x"})
    with pytest.raises(rs.ResourceError, match="parameter 'staleContactDays' must be Int, got 'ninety'"):
        rs.bind_parameters("pipeline PL", declared, {"runDate": "x", "staleContactDays": "ninety"})


@pytest.mark.parametrize(("kind", "value", "expected"), [
    ("Bool", "TRUE", True), ("Bool", False, False), ("Array", "[1, 2]", [1, 2]), ("Object", '{"a": 1}', {"a": 1}),
    ("Float", 2, 2), ("SecureString", "s", "s"),
])
def test_coerce_parameter(kind: str, value: object, expected: object) -> None:
    assert rs.coerce_parameter("p", "x", kind, value) == expected


@pytest.mark.parametrize(("kind", "value"), [("Int", True), ("Bool", "yes"), ("Array", "{}"), ("Datetime", "x"),
                                             ("Int", 1.5)])
def test_coerce_parameter_rejects(kind: str, value: object) -> None:
    with pytest.raises(rs.ResourceError, match="parameter 'x'"):
        rs.coerce_parameter("p", "x", kind, value)


@pytest.mark.parametrize(("text", "expected"), [
    ("0.06:00:00", timedelta(hours=6)),
    ("02:00:00", timedelta(hours=2)),
    ("7.00:00:00", timedelta(days=7)),
    ("00:30", timedelta(minutes=30)),
    ("0.00:00:01.5", timedelta(seconds=1, microseconds=500000)),
])
def test_parse_timespan(text: str, expected: timedelta) -> None:
    assert rs.parse_timespan(text) == expected


@pytest.mark.parametrize("text", ["6h", "0.24:00:00", "00:60:00", "", "1.2.3", 30])
def test_parse_timespan_rejects(text: object) -> None:
    with pytest.raises(rs.ResourceError, match="timeout: "):
        rs.parse_timespan(text, "timeout")


@pytest.mark.parametrize(("conditions", "status", "met"), [
    ({"Succeeded"}, "Succeeded", True), ({"Succeeded"}, "Failed", False), ({"Succeeded"}, "Skipped", False),
    ({"Failed"}, "Failed", True), ({"Failed", "Skipped"}, "Skipped", True), ({"Failed", "Skipped"}, "Succeeded", False),
    ({"Completed"}, "Succeeded", True), ({"Completed"}, "Failed", True), ({"Completed"}, "Skipped", False),
    ({"Skipped"}, "Skipped", True),
])
def test_condition_met(conditions: set[str], status: str, met: bool) -> None:
    assert rs.condition_met(conditions, status) is met


def _act(name: str, *deps: tuple[str, list[str]], kind: str = "Wait") -> dict:
    return {"name": name, "type": kind, "dependsOn": [{"activity": d, "dependencyConditions": c} for d, c in deps]}


def test_dependencies_met_needs_every_entry() -> None:
    activity = _act("C", ("A", ["Succeeded"]), ("B", ["Failed", "Skipped"]))
    assert rs.dependencies_met(activity, {"A": "Succeeded"}) is None  # B not finished
    assert rs.dependencies_met(activity, {"A": "Succeeded", "B": "Skipped"}) is True
    assert rs.dependencies_met(activity, {"A": "Failed", "B": "Skipped"}) is False
    assert rs.dependencies_met(_act("root"), {}) is True


def test_topological_order_and_cycles() -> None:
    acts = [_act("C", ("B", ["Succeeded"])), _act("A"), _act("B", ("A", ["Succeeded"]))]
    assert [a["name"] for a in rs.topological_order(acts)] == ["A", "B", "C"]
    with pytest.raises(rs.ResourceError, match="dependency cycle: A -> B -> A"):
        rs.upstream_closure([_act("A", ("B", ["Succeeded"])), _act("B", ("A", ["Succeeded"]))])


# The three error-handling patterns of ADF's "Errors and conditional execution" page.
TRY_CATCH = [_act("Main"), _act("OnFailure", ("Main", ["Failed"]))]
DO_IF_ELSE = [_act("Main"), _act("OnFailure", ("Main", ["Failed"])), _act("OnSuccess", ("Main", ["Succeeded"]))]
DO_IF_SKIP_ELSE = [*DO_IF_ELSE, _act("DummySkip", ("OnSuccess", ["Skipped"]))]


@pytest.mark.parametrize(("activities", "main", "expected"), [
    (TRY_CATCH, "Succeeded", "Succeeded"), (TRY_CATCH, "Failed", "Succeeded"),
    (DO_IF_ELSE, "Succeeded", "Succeeded"), (DO_IF_ELSE, "Failed", "Failed"),
    (DO_IF_SKIP_ELSE, "Succeeded", "Succeeded"), (DO_IF_SKIP_ELSE, "Failed", "Succeeded"),
])
def test_run_outcome_follows_adf_rules(activities: list[dict], main: str, expected: str) -> None:
    statuses = rs.simulate(activities, {"Main": main})
    assert rs.run_outcome(activities, statuses) == expected


def test_walk_activities_reaches_nested_lists_with_scope() -> None:
    pipeline = rs.load_factory().pipelines["PL_daily_company_activity"]
    found = {i.activity["name"]: (i.path, i.scope) for i in rs.walk_activities(rs.pipeline_activities(pipeline))}
    assert found["CopyCrmToStaging"][1] == ("IfCrmSnapshotExists",)
    assert found["CopyCrmToStaging"][0].endswith(".typeProperties.ifTrueActivities[0]")
    assert found["UsageDoesNotMatchManifest"][1] == ("VerifyUsageAgainstManifest",)
    switch = {"name": "S", "type": "Switch", "typeProperties": {
        "cases": [{"value": "a", "activities": [_act("InCase")]}], "defaultActivities": [_act("InDefault")]}}
    assert [(p, [a["name"] for a in acts]) for p, acts in rs.child_activity_lists(switch)] == [
        ("typeProperties.defaultActivities", ["InDefault"]), ("typeProperties.cases[0].activities", ["InCase"])]


def test_resource_files_are_formatted_json() -> None:
    for path in sorted(rs.ADF_DIR.rglob("*.json")):
        text = path.read_text(encoding="utf-8")
        assert text == json.dumps(json.loads(text), indent=4, ensure_ascii=False) + "\n", path
