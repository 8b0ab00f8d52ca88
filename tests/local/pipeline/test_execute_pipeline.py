"""Execute Pipeline in the local executor, on synthetic factories (no storage needed)."""

from __future__ import annotations

from typing import Any

from company_activity_local.pipeline.executor import PipelineExecutor
from company_activity_local.pipeline.results import Status
from tests.support.pipeline_fixtures import factory_of


def call(child: str, *, wait: Any = True, **parameters: Any) -> dict:
    props: dict[str, Any] = {"pipeline": {"referenceName": child, "type": "PipelineReference"},
                             "parameters": parameters}
    if wait is not None:
        props["waitOnCompletion"] = wait
    return {"name": "Call", "type": "ExecutePipeline", "dependsOn": [], "typeProperties": props}


def child_failing_with(message: str) -> dict:
    return {"name": "PL_child", "properties": {
        "parameters": {"day": {"type": "String"}},
        "activities": [{"name": "Boom", "type": "Fail", "dependsOn": [],
                        "typeProperties": {"message": {"value": f"@concat('{message} ', pipeline().parameters.day)",
                                                       "type": "Expression"}, "errorCode": "E1"}}]}}


def parent(*activities: dict) -> dict:
    return {"name": "PL_parent", "properties": {"activities": list(activities)}}


def test_child_failure_fails_the_activity_with_the_child_message(offline_resources) -> None:
    factory = factory_of(parent(call("PL_child", day="2026-01-02")), child_failing_with("no data for"))
    executor = PipelineExecutor(factory, offline_resources)
    result = executor.run("PL_parent")
    assert result.status is Status.FAILED
    [child] = executor.child_runs
    assert child.parameters == {"day": "2026-01-02"} and child.status is Status.FAILED
    error = result.activity("Call").error
    assert error.error_code == "ChildPipelineFailed"
    assert f"Operation on target PL_child (run {child.run_id}) failed" in error.message
    assert "no data for 2026-01-02" in error.message


def test_child_success_outputs_the_child_run(offline_resources) -> None:
    child = {"name": "PL_child", "properties": {"activities": [
        {"name": "Pause", "type": "Wait", "dependsOn": [], "typeProperties": {"waitTimeInSeconds": 0}}]}}
    executor = PipelineExecutor(factory_of(parent(call("PL_child")), child), offline_resources)
    result = executor.run("PL_parent")
    assert result.succeeded, result.message
    [run] = executor.child_runs
    assert result.activity("Call").output == {"pipelineName": "PL_child", "pipelineRunId": run.run_id}
    assert run.run_id != result.run_id


def test_fire_and_forget_is_refused(offline_resources) -> None:
    for wait in (False, None):
        executor = PipelineExecutor(factory_of(parent(call("PL_child", wait=wait)), child_failing_with("x")),
                                    offline_resources)
        result = executor.run("PL_parent")
        assert result.status is Status.FAILED
        assert "waitOnCompletion must be true" in result.activity("Call").error.message
        assert executor.child_runs == []


def test_bad_child_parameters_and_cycles_fail_the_activity(offline_resources) -> None:
    factory = factory_of(parent(call("PL_child", dy="2026-01-02")), child_failing_with("x"))
    result = PipelineExecutor(factory, offline_resources).run("PL_parent")
    assert result.activity("Call").error.error_code == "InvalidPipelineCall"
    assert "unknown parameter(s) dy" in result.activity("Call").error.message

    looping = {"name": "PL_parent", "properties": {"activities": [call("PL_parent")]}}
    result = PipelineExecutor(factory_of(looping), offline_resources).run("PL_parent")
    assert result.activity("Call").error.error_code == "PipelineCallCycle"
