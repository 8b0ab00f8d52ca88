"""The Script activity on the DuckDB warehouse: NonQuery blocks change data, Query blocks return rows, and
what the local runner does not implement (script parameters, script files, logs) fails the activity."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from company_activity.settings import Secret
from company_activity_local.pipeline.executor import PipelineExecutor
from company_activity_local.pipeline.local_resources import LocalResources
from company_activity_local.pipeline.results import PipelineRunResult, Status
from company_activity_local.settings import LocalRunSettings
from tests.support.night import deployed_duckdb
from tests.support.pipeline_fixtures import factory_of

LINKED = {"LS_sql": {"name": "LS_sql", "properties": {"type": "AzureSqlDatabase", "typeProperties": {}}}}


@pytest.fixture()
def resources(tmp_path: Path) -> Iterator[LocalResources]:
    warehouse = deployed_duckdb(tmp_path)
    settings = LocalRunSettings(blob_connection_string=Secret("UseDevelopmentStorage=true"))
    with LocalResources(settings, warehouse=warehouse) as local:
        yield local
    warehouse.close()


def script(name: str, *blocks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "Script", "linkedServiceName": {"referenceName": "LS_sql",
                                                                   "type": "LinkedServiceReference"},
            "typeProperties": {"scripts": list(blocks), **extra}}


def run(resources: LocalResources, *activities: dict[str, Any]) -> PipelineRunResult:
    pipeline = {"name": "PL_script", "properties": {"activities": list(activities)}}
    return PipelineExecutor(factory_of(pipeline, linked_services=LINKED), resources).run("PL_script", {})


def test_non_query_and_query_blocks(resources: LocalResources) -> None:
    insert = ("INSERT INTO stg.product_usage_daily (usage_date, company_id, active_users, events, bronze_run_id) "
              "VALUES ('2026-01-02', 'c1', 1, 2, 'r'), ('2026-01-03', 'c1', 1, 2, 'r')")
    result = run(resources, script(
        "s",
        {"type": "NonQuery", "text": insert},
        {"type": "NonQuery", "text": "@concat('DELETE FROM stg.product_usage_daily WHERE usage_date = ', "
                                     "'''2026-01-02''')"},
        {"type": "Query", "text": "SELECT COUNT(*) AS n FROM stg.product_usage_daily"},
    ))
    assert result.succeeded, result.message
    output = result.activity("s").output
    assert (output["resultSetCount"], output["resultSets"]) == (1, [{"rowCount": 1, "rows": [{"n": 1}]}])
    assert "recordsAffected" not in output  # not reported locally rather than made up


@pytest.mark.parametrize(("activity", "message"), [
    (script("s", {"type": "NonQuery", "text": "DELETE FROM stg.crm_company",
                  "parameters": [{"name": "p", "value": 1, "type": "Int32"}]}), "parameters are not implemented"),
    (script("s", {"type": "NonQuery", "text": "DELETE FROM stg.crm_company"},
            scriptReference={"path": "x.sql"}), "scriptReference is not implemented"),
    (script("s", {"type": "Batch", "text": "DELETE FROM stg.crm_company"}), "must be one of ['Query', 'NonQuery']"),
    (script("s"), "scripts must be a non-empty array"),
    (script("s", {"type": "NonQuery", "text": "DELETE FROM stg.no_such_table"}), "no_such_table"),
])
def test_what_is_not_implemented_or_wrong_fails_the_activity(resources: LocalResources, activity: dict[str, Any],
                                                             message: str) -> None:
    result = run(resources, activity)
    assert result.activity("s").status is Status.FAILED
    assert message in result.activity("s").error.message
