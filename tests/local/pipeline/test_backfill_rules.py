"""Validator rules for PL_backfill_company_activity: Execute Pipeline calls are checked against the child.

The backfill pipeline orchestrates: it has no stored procedure and no alert branch of its own (each
daily run alerts), so the alerting invariant applies only to pipelines that load the warehouse.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from company_activity_local.pipeline.validate import validate_directory

Editor = Callable[[str, str, Callable[[dict], Any]], Path]
BACKFILL = "PL_backfill_company_activity"
CALL = "$.properties.activities[1].typeProperties.activities[0]"


def run_daily(data: dict) -> dict:
    return data["properties"]["activities"][1]["typeProperties"]["activities"][0]


def _drop_wait(data: dict) -> None:
    run_daily(data)["typeProperties"].pop("waitOnCompletion")


def _unknown_parameter(data: dict) -> None:
    run_daily(data)["typeProperties"]["parameters"]["rundate"] = "2026-01-01"


def _missing_required(data: dict) -> None:
    run_daily(data)["typeProperties"]["parameters"].pop("runDate")


def _call_itself(data: dict) -> None:
    run_daily(data)["typeProperties"]["pipeline"]["referenceName"] = BACKFILL
    run_daily(data)["typeProperties"]["parameters"] = {"startDate": "2026-01-01", "endDate": "2026-01-01"}


def _unknown_child(data: dict) -> None:
    run_daily(data)["typeProperties"]["pipeline"]["referenceName"] = "PL_daily_company_activty"


CASES = [
    ("waitOnCompletion left to its default", _drop_wait, f"{CALL}.typeProperties.waitOnCompletion",
     "must be written out as true"),
    ("a parameter the child does not declare", _unknown_parameter, f"{CALL}.typeProperties.parameters.rundate",
     "pipeline 'PL_daily_company_activity' declares no parameter 'rundate'; did you mean 'runDate'?"),
    ("a required child parameter not passed", _missing_required, f"{CALL}.typeProperties.parameters",
     "parameter 'runDate' has no defaultValue and is not supplied"),
    ("a pipeline that calls itself", _call_itself, f"{CALL}.typeProperties.pipeline", "a call cycle never ends"),
    ("a misspelled child pipeline", _unknown_child, f"{CALL}.typeProperties.pipeline.referenceName",
     "pipeline 'PL_daily_company_activty' does not exist"),
]


@pytest.mark.parametrize(("change", "path", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_execute_pipeline_rule_catches_broken_copy(edit: Editor, adf_copy: Path, change: Callable[[dict], Any],
                                                   path: str, message: str) -> None:
    edit("pipeline", BACKFILL, change)
    problems = validate_directory(adf_copy)
    matching = [p for p in problems if p.file == f"adf/pipeline/{BACKFILL}.json" and p.path == path
                and message in p.message]
    assert matching, "no problem matched; got:\n" + "\n".join(map(str, problems))


def test_a_loading_pipeline_without_alerting_is_still_refused(edit: Editor, adf_copy: Path) -> None:
    """Exempting orchestrators must not exempt a pipeline that runs the stored procedure."""
    def drop_fail_run(data: dict) -> None:
        data["properties"]["activities"] = [a for a in data["properties"]["activities"] if a["name"] != "FailRun"]

    edit("pipeline", "PL_daily_company_activity", drop_fail_run)
    problems = [p for p in validate_directory(adf_copy) if p.file == "adf/pipeline/PL_daily_company_activity.json"]
    assert any("the alert branch must end with one Fail activity" in p.message for p in problems), problems


def test_an_orchestrator_that_touches_data_carries_the_alerting_invariant(edit: Editor, adf_copy: Path) -> None:
    """Only a pipeline of Execute Pipeline and control activities is exempt: adding a data activity ends that."""
    def add_lookup(data: dict) -> None:
        data["properties"]["activities"].append({
            "name": "PeekManifest", "type": "Lookup", "dependsOn": [], "policy": {"timeout": "0.00:05:00"},
            "typeProperties": {"source": {"type": "JsonSource"},
                               "dataset": {"referenceName": "DS_bronze_manifest", "type": "DatasetReference",
                                           "parameters": {"serviceEndpoint": "x", "container": "y",
                                                          "runDate": "2026-01-01"}}}})

    edit("pipeline", BACKFILL, add_lookup)
    problems = [p for p in validate_directory(adf_copy) if p.file == f"adf/pipeline/{BACKFILL}.json"]
    assert any(p.message.startswith("expected exactly one") for p in problems), problems  # the alerting rules apply
