"""ADF control-flow semantics of the local executor, on small synthetic pipelines.

The pipelines use activities that need no blob or warehouse (Wait, Fail, SetVariable, IfCondition,
ForEach, and Web against a real local Slack catcher), so each test isolates one rule.
"""

from __future__ import annotations

from typing import Any

import pytest

from company_activity_local.pipeline.executor import PipelineExecutor
from company_activity_local.pipeline.local_resources import LocalResources
from company_activity_local.pipeline.results import PipelineDefinitionError, Status
from company_activity_local.services.slack_catcher import SlackCatcher
from tests.support.pipeline_fixtures import factory_of

S, F, SK = Status.SUCCEEDED, Status.FAILED, Status.SKIPPED


def dep(activity: str, *conditions: str) -> dict[str, Any]:
    return {"activity": activity, "dependencyConditions": list(conditions)}


def wait(name: str, *deps: dict[str, Any], seconds: Any = 0, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "Wait", "dependsOn": list(deps), "typeProperties": {"waitTimeInSeconds": seconds},
            **extra}


def fail(name: str, *deps: dict[str, Any], message: str = "boom", code: str = "E42") -> dict[str, Any]:
    return {"name": name, "type": "Fail", "dependsOn": list(deps),
            "typeProperties": {"message": message, "errorCode": code}}


def run(resources: LocalResources, activities: list[dict[str, Any]], parameters: dict[str, Any] | None = None,
        declared: dict[str, Any] | None = None, variables: dict[str, Any] | None = None):
    pipeline = {"name": "PL_test", "properties": {"activities": activities, "parameters": declared or {},
                                                  "variables": variables or {}}}
    return PipelineExecutor(factory_of(pipeline), resources).run("PL_test", parameters or {}, run_id="run-123")


def test_conditions_within_one_entry_are_or(offline_resources: LocalResources) -> None:
    result = run(offline_resources, [
        fail("A"),
        wait("either", dep("A", "Succeeded", "Failed")),
        wait("only_success", dep("A", "Succeeded")),
    ])
    assert result.statuses() == {"A": F, "either": S, "only_success": SK}


def test_entries_are_and(offline_resources: LocalResources) -> None:
    result = run(offline_resources, [
        wait("ok"),
        fail("bad"),
        wait("both_succeeded", dep("ok", "Succeeded"), dep("bad", "Succeeded")),
        wait("ok_and_bad_failed", dep("ok", "Succeeded"), dep("bad", "Failed")),
    ])
    assert result.statuses() == {"ok": S, "bad": F, "both_succeeded": SK, "ok_and_bad_failed": S}


def test_skipped_propagates_and_completed_excludes_skipped(offline_resources: LocalResources) -> None:
    result = run(offline_resources, [
        fail("A"),
        wait("B", dep("A", "Succeeded")),
        wait("C", dep("B", "Succeeded")),
        wait("on_skip", dep("B", "Skipped")),
        wait("on_completion", dep("C", "Completed")),
        wait("after_failure_completion", dep("A", "Completed")),
    ])
    assert result.statuses() == {"A": F, "B": SK, "C": SK, "on_skip": S, "on_completion": SK,
                                 "after_failure_completion": S}


def test_activities_without_dependencies_all_start(offline_resources: LocalResources) -> None:
    result = run(offline_resources, [fail("first"), wait("second"), wait("third")])
    assert result.statuses() == {"first": F, "second": S, "third": S}
    assert result.status is F  # a failed leaf fails the run


def test_try_catch_succeeds_when_the_handler_succeeds(offline_resources: LocalResources) -> None:
    result = run(offline_resources, [fail("try"), wait("catch", dep("try", "Failed"))])
    assert result.statuses() == {"try": F, "catch": S}
    assert result.status is S


def test_try_catch_fails_when_the_handler_fails(offline_resources: LocalResources) -> None:
    result = run(offline_resources, [fail("try"), fail("catch", dep("try", "Failed"), message="handler broke")])
    assert result.status is F
    assert "handler broke" in result.message


def test_do_if_else_fails_when_the_first_step_failed(offline_resources: LocalResources) -> None:
    # The success branch is a skipped leaf: it is judged by its parent, which failed.
    result = run(offline_resources, [fail("A"), wait("on_success", dep("A", "Succeeded")),
                                     wait("on_failure", dep("A", "Failed"))])
    assert result.statuses() == {"A": F, "on_success": SK, "on_failure": S}
    assert result.status is F


def test_do_if_else_succeeds_when_the_first_step_succeeded(offline_resources: LocalResources) -> None:
    result = run(offline_resources, [wait("A"), wait("on_success", dep("A", "Succeeded")),
                                     fail("on_failure", dep("A", "Failed"))])
    assert result.statuses() == {"A": S, "on_success": S, "on_failure": SK}
    assert result.status is S


def test_skipped_leaf_is_judged_through_a_chain_of_skipped_parents(offline_resources: LocalResources) -> None:
    # The alert branch shape: step -> [Failed, Skipped] -> secret -> post -> Fail. On success the whole
    # branch is skipped and the run's result is the step's.
    branch = [wait("secret", dep("step", "Failed", "Skipped")), wait("post", dep("secret", "Succeeded")),
              fail("alert", dep("post", "Succeeded"))]
    ok = run(offline_resources, [wait("step"), *branch])
    assert ok.statuses() == {"step": S, "secret": SK, "post": SK, "alert": SK}
    assert ok.status is S
    broken = run(offline_resources, [fail("step"), *branch])
    assert broken.statuses() == {"step": F, "secret": S, "post": S, "alert": F}
    assert broken.status is F


def test_alert_branch_runs_when_its_parent_was_skipped(offline_resources: LocalResources) -> None:
    result = run(offline_resources, [fail("first"), wait("step", dep("first", "Succeeded")),
                                     wait("alert", dep("step", "Failed", "Skipped"))])
    assert result.statuses() == {"first": F, "step": SK, "alert": S}
    assert result.status is S  # the leaf succeeded: this is a try-catch around first+step


def test_fail_activity_error_is_visible_to_later_expressions(offline_resources: LocalResources) -> None:
    result = run(offline_resources, [
        fail("A", message="disk full", code="E7"),
        {"name": "copy_error", "type": "SetVariable", "dependsOn": [dep("A", "Failed")],
         "typeProperties": {"variableName": "why",
                            "value": "@concat('A: ', activity('A').error.message)"}},
    ], variables={"why": {"type": "String"}})
    assert result.activity("A").error is not None
    assert (result.activity("A").error.message, result.activity("A").error.error_code) == ("disk full", "E7")
    assert result.activity("copy_error").output == {"name": "why", "value": "A: disk full"}


def test_undocumented_reads_of_an_activity_fail_the_run_before_anything_runs(
        offline_resources: LocalResources) -> None:
    """'?' after activity(...) and error.errorCode are not in ADF's documented expression language."""
    for text in ("@concat('x', activity('A')?.error?.message)", "@activity('A').error.errorCode"):
        result = run(offline_resources, [
            fail("A"),
            {"name": "note", "type": "SetVariable", "dependsOn": [dep("A", "Failed")],
             "typeProperties": {"variableName": "why", "value": text}},
        ], variables={"why": {"type": "String"}})
        assert result.status is F and result.activities == [], text
        assert "activity(...)" in result.message, text


def test_reading_a_skipped_activity_fails_clearly(offline_resources: LocalResources) -> None:
    result = run(offline_resources, [
        fail("A"),
        wait("B", dep("A", "Succeeded")),
        wait("C", dep("B", "Skipped"), seconds="@activity('B').output.x"),
    ])
    assert result.activity("C").status is F
    assert "activity 'B' did not run in this run (it is Skipped)" in result.activity("C").error.message


def test_unsupported_activity_type_fails_the_run_before_anything_runs(offline_resources: LocalResources) -> None:
    result = run(offline_resources, [wait("A"), {"name": "nb", "type": "DatabricksNotebook", "dependsOn": [
        dep("A", "Succeeded")], "typeProperties": {}}])
    assert result.status is F
    assert result.activities == []
    assert "'DatabricksNotebook'" in result.message and "'nb'" in result.message


def test_unsupported_function_fails_the_run_naming_it(offline_resources: LocalResources) -> None:
    result = run(offline_resources, [wait("A", seconds="@xpath(pipeline().parameters.x, '/a')")],
                 declared={"x": {"type": "String", "defaultValue": "<a/>"}})
    assert result.status is F
    assert result.activities == []
    assert "xpath" in result.message


def test_unsupported_property_fails_the_activity_naming_it(offline_resources: LocalResources) -> None:
    result = run(offline_resources, [{"name": "W", "type": "Wait", "typeProperties": {
        "waitTimeInSeconds": 0, "mystery": True}}])
    assert result.status is F
    assert "mystery" in result.activity("W").error.message


def test_retry_policy_retries_then_fails(offline_resources: LocalResources, slack: SlackCatcher) -> None:
    slack.fail_with(500)
    post = {"name": "post", "type": "WebActivity", "policy": {"retry": 2, "retryIntervalInSeconds": 0},
            "typeProperties": {"url": slack.url, "method": "POST", "body": {"text": "hi"}}}
    result = run(offline_resources, [post])
    assert result.activity("post").status is F
    assert result.activity("post").attempts == 3
    assert slack.requests == 3
    assert "500" in result.activity("post").error.message


def test_retry_policy_recovers_when_a_later_attempt_succeeds(offline_resources: LocalResources,
                                                             slack: SlackCatcher) -> None:
    calls = {"n": 0}

    def flaky(activity: Any, ctx: Any) -> Any:
        calls["n"] += 1
        if calls["n"] < 2:
            from company_activity_local.pipeline.results import ActivityFailed

            raise ActivityFailed("transient")
        return {"attempt": calls["n"]}

    from company_activity_local.pipeline.activities import RUNNERS

    pipeline = {"name": "PL", "properties": {"activities": [
        {"name": "flaky", "type": "Flaky", "policy": {"retry": 3, "retryIntervalInSeconds": 0}}]}}
    result = PipelineExecutor(factory_of(pipeline), offline_resources,
                              runners={**RUNNERS, "Flaky": flaky}).run("PL")
    assert result.status is S
    assert result.activity("flaky").attempts == 2
    assert result.activity("flaky").output == {"attempt": 2}


def test_timeout_policy_stops_a_long_activity(offline_resources: LocalResources) -> None:
    result = run(offline_resources, [wait("slow", seconds=30, policy={"timeout": "0.00:00:01"})])
    assert result.activity("slow").status is F
    assert result.activity("slow").error.error_code == "ActivityTimeout"


def test_inactive_activity_is_marked_without_running(offline_resources: LocalResources) -> None:
    result = run(offline_resources, [
        {**fail("off"), "state": "Inactive", "onInactiveMarkAs": "Succeeded"},
        wait("after", dep("off", "Succeeded")),
    ])
    assert result.statuses() == {"off": S, "after": S}
    assert result.activity("off").attempts == 0


def test_if_condition_runs_one_branch_and_fails_with_it(offline_resources: LocalResources) -> None:
    def pipeline(flag: bool) -> list[dict[str, Any]]:
        return [{"name": "if", "type": "IfCondition", "typeProperties": {
            "expression": {"value": "@equals(pipeline().parameters.flag, 'yes')", "type": "Expression"},
            "ifTrueActivities": [wait("t1"), fail("t2", dep("t1", "Succeeded"), message="inner broke")],
            "ifFalseActivities": [wait("f1")],
        }}, wait("after", dep("if", "Succeeded"))]

    declared = {"flag": {"type": "String"}}
    no = run(offline_resources, pipeline(False), {"flag": "no"}, declared)
    assert no.statuses() == {"f1": S, "if": S, "after": S}
    yes = run(offline_resources, pipeline(True), {"flag": "yes"}, declared)
    assert yes.statuses() == {"t1": S, "t2": F, "if": F, "after": SK}
    assert "inner broke" in yes.activity("if").error.message
    assert yes.status is F


def test_for_each_with_variables(offline_resources: LocalResources) -> None:
    result = run(offline_resources, [
        {"name": "each", "type": "ForEach", "typeProperties": {
            "items": "@pipeline().parameters.days", "isSequential": True,
            "activities": [{"name": "add", "type": "AppendVariable",
                            "typeProperties": {"variableName": "seen", "value": "@concat('d=', item())"}}]}},
        {"name": "count", "type": "SetVariable", "dependsOn": [dep("each", "Succeeded")],
         "typeProperties": {"variableName": "n", "value": "@string(length(variables('seen')))"}},
    ], {"days": '["2026-01-01", "2026-01-02"]'}, {"days": {"type": "Array"}},
        {"seen": {"type": "Array", "defaultValue": []}, "n": {"type": "String"}})
    assert result.status is S
    assert result.activity("count").output == {"name": "n", "value": "2"}
    assert [r.name for r in result.activities].count("add") == 2


def test_web_alert_branch_posts_run_id_and_error_to_slack(offline_resources: LocalResources,
                                                          slack: SlackCatcher) -> None:
    activities = [
        fail("Merge", message="duplicate company_id c000007", code="50000"),
        {"name": "GetWebhook", "type": "WebActivity", "dependsOn": [dep("Merge", "Failed", "Skipped")],
         "policy": {"secureOutput": True},
         "typeProperties": {"url": "https://kv-test.vault.azure.net/secrets/slack-webhook-url?api-version=7.4",
                            "method": "GET", "authentication": {"type": "MSI", "resource": "https://vault.azure.net"}}},
        {"name": "PostSlack", "type": "WebActivity", "dependsOn": [dep("GetWebhook", "Succeeded")],
         "typeProperties": {"url": "@activity('GetWebhook').output.value", "method": "POST",
                            "body": {"text": "@concat('run ', pipeline().RunId, ' failed: ', "
                                             "activity('Merge').error.message)"}}},
        fail("Alerted", dep("PostSlack", "Completed"), message="merge failed"),
    ]
    result = run(offline_resources, activities)
    assert result.status is F
    # Slack answers 200 text/plain 'ok': the post is delivered, but the Web activity supports only JSON
    # object responses ("Web activity"), so the strict executor fails it after sending.
    assert result.statuses() == {"Merge": F, "GetWebhook": S, "PostSlack": F, "Alerted": F}
    assert result.activity("PostSlack").error.error_code == "WebActivityInvalidResponse"
    [message] = slack.messages
    assert message.text == "run run-123 failed: duplicate company_id c000007"
    # The webhook URL is a secret: hidden in printed output and absent from the result's repr.
    assert result.activity("GetWebhook").display_output() == "(secure output hidden)"
    assert slack.url not in repr(result)


def test_key_vault_read_without_managed_identity_is_refused(offline_resources: LocalResources) -> None:
    result = run(offline_resources, [{"name": "kv", "type": "WebActivity", "typeProperties": {
        "url": "https://kv-test.vault.azure.net/secrets/slack-webhook-url?api-version=7.4", "method": "GET"}}])
    assert result.status is F
    assert "401" in result.activity("kv").error.message


def test_slack_down_fails_the_post_without_leaking_the_url(offline_resources: LocalResources,
                                                           slack: SlackCatcher) -> None:
    slack.go_down()
    result = run(offline_resources, [{"name": "post", "type": "WebActivity", "typeProperties": {
        "url": slack.url, "method": "POST", "body": {"text": "x"}}}])
    assert result.status is F
    error = result.activity("post").error.message
    assert "connection failed" in error
    assert slack.path not in error
    slack.come_up()
    again = run(offline_resources, [{"name": "post", "type": "WebActivity", "typeProperties": {
        "url": slack.url, "method": "POST", "body": {"text": "x"}}}])
    assert len(slack.messages) == 1  # delivered, though the text/plain answer fails the activity
    assert "text/plain" in again.activity("post").error.message


def test_a_retried_post_answered_in_text_repeats_the_message(offline_resources: LocalResources,
                                                             slack: SlackCatcher) -> None:
    """Why the shipped alert post has retry 0: each retry of a delivered post is one more Slack message."""
    post = {"name": "post", "type": "WebActivity", "policy": {"retry": 2, "retryIntervalInSeconds": 0},
            "typeProperties": {"url": slack.url, "method": "POST", "body": {"text": "x"}}}
    result = run(offline_resources, [post])
    assert result.activity("post").attempts == 3
    assert len(slack.wait_for(3)) == 3
    slack.clear()
    result = run(offline_resources, [{**post, "policy": {"retry": 0}}])
    assert result.activity("post").attempts == 1 and len(slack.wait_for(1)) == 1


def test_parameters_are_bound_and_checked(offline_resources: LocalResources) -> None:
    declared = {"n": {"type": "Int"}, "label": {"type": "String", "defaultValue": "x"}}
    result = run(offline_resources, [wait("w", seconds="@pipeline().parameters.n")], {"n": "0"}, declared)
    assert result.status is S
    assert result.parameters == {"n": 0, "label": "x"}
    with pytest.raises(PipelineDefinitionError, match="'n'"):
        run(offline_resources, [wait("w")], {}, declared)
    with pytest.raises(PipelineDefinitionError, match="nope"):
        run(offline_resources, [wait("w")], {"n": "1", "nope": "1"}, declared)


def test_dependency_on_an_unknown_activity_fails_the_run(offline_resources: LocalResources) -> None:
    result = run(offline_resources, [wait("A", dep("ghost", "Succeeded"))])
    assert result.status is F
    assert "ghost" in result.message
