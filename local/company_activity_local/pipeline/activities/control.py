"""Control activities: Fail, Wait, IfCondition, ForEach (sequential)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from company_activity_local.pipeline.context import ActivityContext
from company_activity_local.pipeline.results import ActivityFailed, Status


def run_fail(activity: Mapping[str, Any], ctx: ActivityContext) -> Any:
    ctx.reject_unknown(ctx.type_properties, ("message", "errorCode"), "typeProperties")
    message = ctx.prop("message")
    code = ctx.prop("errorCode")
    for field, value in (("message", message), ("errorCode", code)):
        if not isinstance(value, str | int) or not str(value).strip():
            raise ActivityFailed(f"Fail activity '{ctx.name}': {field} must evaluate to a non-blank string, "
                                 f"got {value!r}", "InvalidFailActivity", retryable=False)
    raise ActivityFailed(str(message), str(code), retryable=False)


def run_wait(activity: Mapping[str, Any], ctx: ActivityContext) -> Any:
    ctx.reject_unknown(ctx.type_properties, ("waitTimeInSeconds",), "typeProperties")
    seconds = ctx.prop("waitTimeInSeconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float | str):
        raise ActivityFailed(f"Wait activity '{ctx.name}': waitTimeInSeconds must be a number, got {seconds!r}")
    try:
        value = float(seconds)
    except ValueError:
        raise ActivityFailed(f"Wait activity '{ctx.name}': waitTimeInSeconds must be a number, got {seconds!r}",
                             retryable=False) from None
    ctx.sleep(value)
    return {}


def run_if_condition(activity: Mapping[str, Any], ctx: ActivityContext) -> Any:
    ctx.reject_unknown(ctx.type_properties, ("expression", "ifTrueActivities", "ifFalseActivities"), "typeProperties")
    condition = ctx.prop("expression")
    if not isinstance(condition, bool):
        raise ActivityFailed(f"IfCondition '{ctx.name}': expression must evaluate to a boolean, got {condition!r}",
                             "InvalidExpressionResult", retryable=False)
    branch = "ifTrueActivities" if condition else "ifFalseActivities"
    outcome = ctx.run_scope(list(ctx.type_properties.get(branch) or []))
    if outcome.status is Status.FAILED:
        first = outcome.failed[0].error
        raise ActivityFailed(f"{branch}: {outcome.message()}", first.error_code if first else "InnerActivityFailed",
                             retryable=False)
    return {"expression": condition, "branch": branch}


def run_for_each(activity: Mapping[str, Any], ctx: ActivityContext) -> Any:
    ctx.reject_unknown(ctx.type_properties, ("items", "activities", "isSequential", "batchCount"), "typeProperties")
    items = ctx.prop("items")
    if not isinstance(items, list):
        raise ActivityFailed(f"ForEach '{ctx.name}': items must evaluate to an array, got {type(items).__name__}",
                             "InvalidExpressionResult", retryable=False)
    # Parallel iterations (isSequential false) run one after the other here: same results, more time.
    failures = []
    for index, item in enumerate(items):
        ctx.check_deadline()
        outcome = ctx.run_scope(list(ctx.type_properties.get("activities") or []), item=item)
        if outcome.status is Status.FAILED:
            failures.append(f"iteration {index}: {outcome.message()}")
    if failures:
        raise ActivityFailed("; ".join(failures), "InnerActivityFailed", retryable=False)
    return {"iterations": len(items)}


def run_set_variable(activity: Mapping[str, Any], ctx: ActivityContext) -> Any:
    ctx.reject_unknown(ctx.type_properties, ("variableName", "value"), "typeProperties")
    name = _declared_variable(ctx)
    value = ctx.prop("value")
    ctx.state.variables[name] = value
    return {"name": name, "value": value}


def run_append_variable(activity: Mapping[str, Any], ctx: ActivityContext) -> Any:
    ctx.reject_unknown(ctx.type_properties, ("variableName", "value"), "typeProperties")
    name = _declared_variable(ctx)
    current = ctx.state.variables.get(name)
    if current is None:
        current = []
    if not isinstance(current, list):
        raise ActivityFailed(f"AppendVariable '{ctx.name}': variable {name!r} is not an array", retryable=False)
    ctx.state.variables[name] = [*current, ctx.prop("value")]
    return {"name": name, "value": ctx.state.variables[name]}


def _declared_variable(ctx: ActivityContext) -> str:
    name = ctx.prop("variableName")
    if not isinstance(name, str) or name not in ctx.state.variables:
        raise ActivityFailed(f"{ctx.type} '{ctx.name}': variable {name!r} is not declared in the pipeline's "
                             f"variables (declared: {sorted(ctx.state.variables)})", retryable=False)
    return name
