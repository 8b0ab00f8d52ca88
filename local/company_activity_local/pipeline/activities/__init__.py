"""Runners of the activity types the local executor implements, by ADF type name."""

from __future__ import annotations

from collections.abc import Mapping

from company_activity_local.pipeline.activities.control import (
    run_append_variable,
    run_fail,
    run_for_each,
    run_if_condition,
    run_set_variable,
    run_wait,
)
from company_activity_local.pipeline.activities.copy import run_copy
from company_activity_local.pipeline.activities.execute_pipeline import run_execute_pipeline
from company_activity_local.pipeline.activities.script import run_script
from company_activity_local.pipeline.activities.sql import run_stored_procedure
from company_activity_local.pipeline.activities.storage import run_get_metadata, run_lookup, run_validation
from company_activity_local.pipeline.activities.web import run_web
from company_activity_local.pipeline.context import ActivityRunner

RUNNERS: Mapping[str, ActivityRunner] = {
    "Validation": run_validation,
    "Lookup": run_lookup,
    "GetMetadata": run_get_metadata,
    "Copy": run_copy,
    "SqlServerStoredProcedure": run_stored_procedure,
    "Script": run_script,
    "WebActivity": run_web,
    "Fail": run_fail,
    "Wait": run_wait,
    "IfCondition": run_if_condition,
    "ForEach": run_for_each,
    "SetVariable": run_set_variable,
    "AppendVariable": run_append_variable,
    "ExecutePipeline": run_execute_pipeline,
}
