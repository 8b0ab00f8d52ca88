"""Execute Pipeline: run another pipeline of the factory as a child run and wait for it.

Only `waitOnCompletion: true` is run: the activity then takes the child run's outcome (a failed child
fails the activity with the child's message) and its output names the child run
(`pipelineName`, `pipelineRunId`), as ADF shows it in the activity run's output. Fire-and-forget
(`false`) would need concurrent runs, which this executor does not have, so it fails the activity.
Every child run is recorded in `executor.child_runs`, so callers can show the runs per date.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from company_activity_local.pipeline import resources
from company_activity_local.pipeline.context import ActivityContext
from company_activity_local.pipeline.results import ActivityFailed, PipelineDefinitionError, UnsupportedFeature

MAX_CALL_DEPTH = 8


def run_execute_pipeline(activity: Mapping[str, Any], ctx: ActivityContext) -> Any:
    ctx.reject_unknown(ctx.type_properties, ("pipeline", "parameters", "waitOnCompletion"), "typeProperties")
    wait = ctx.type_properties.get("waitOnCompletion")
    if wait is not True:
        raise UnsupportedFeature(f"ExecutePipeline '{ctx.name}': waitOnCompletion must be true (got {wait!r}); "
                                 "the local executor only runs child pipelines it waits for")
    reference = ctx.type_properties.get("pipeline") or {}
    try:
        resources.resolve_pipeline(ctx.factory, reference)
    except resources.ResourceError as exc:
        raise ActivityFailed(f"ExecutePipeline '{ctx.name}': {exc}", "PipelineNotFound", retryable=False) from None
    child = str(reference["referenceName"])
    parents = ctx.state.trigger.get("callChain", [])
    if len(parents) >= MAX_CALL_DEPTH or child in parents or child == ctx.state.pipeline_name:
        raise ActivityFailed(f"ExecutePipeline '{ctx.name}': pipeline {child!r} is already running in this call "
                             f"chain ({' -> '.join([*parents, ctx.state.pipeline_name])})", "PipelineCallCycle",
                             retryable=False)
    parameters = {name: ctx.evaluate(value, f"typeProperties.parameters.{name}")
                  for name, value in (ctx.type_properties.get("parameters") or {}).items()}
    trigger = {
        "name": ctx.state.pipeline_name,
        "type": "PipelineActivity",
        "startTime": ctx.state.trigger.get("startTime"),
        "scheduledTime": ctx.state.trigger.get("scheduledTime"),
        "callChain": [*parents, ctx.state.pipeline_name],
    }
    try:
        result = ctx.executor.run(child, parameters, trigger=trigger)
    except PipelineDefinitionError as exc:
        raise ActivityFailed(f"ExecutePipeline '{ctx.name}': cannot start {child!r}: {exc}", "InvalidPipelineCall",
                             retryable=False) from None
    ctx.executor.child_runs.append(result)
    if not result.succeeded:
        raise ActivityFailed(f"Operation on target {child} (run {result.run_id}) failed: "
                             f"{result.message or 'no error message'}", "ChildPipelineFailed", retryable=False)
    return {"pipelineName": child, "pipelineRunId": result.run_id}
