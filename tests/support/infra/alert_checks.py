"""Offline checks of the backstop alerts (infra/modules/alerts.bicep, infra/alerts/*.kql): each function returns
the problems it finds. The rules must read the workspace the diagnostics feed, go to the action group built from
the parameters, run queries that check against the documented table columns (kql.py), and filter on names
that exist in adf/ and in the Function App's code."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.support.infra import kql
from tests.support.infra.bicep import Deployment, SymbolRef, Unresolved

RULE = "Microsoft.Insights/scheduledQueryRules"
ACTION_GROUP = "Microsoft.Insights/actionGroups"
# Rule name -> (table it must read, what it must filter on).
REQUIRED_RULES = {
    "no-successful-daily-run": ("ADFPipelineRun", "Succeeded"),
    "failed-pipeline-run": ("ADFPipelineRun", "Failed"),
    "ingestion-function-failed": ("AppRequests", None),
}
DAILY_PIPELINE = "PL_daily_company_activity"
WORKSPACE = "monitoring.outputs.workspaceId"
# The ingestion functions: the daily timer and the backfill queue worker (function_app/company_activity/functions).
INGESTION_FUNCTIONS = {"daily_ingest", "backfill_worker"}
ISO_HOURS = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")


def hours(duration: str) -> float:
    """An ISO 8601 duration of days, hours and minutes (what the rules use) in hours."""
    match = ISO_HOURS.match(duration)
    if match is None or duration in ("P", "PT"):
        raise ValueError(f"not a days/hours/minutes ISO 8601 duration: {duration!r}")
    days, hrs, minutes = (int(g or 0) for g in match.groups())
    return days * 24 + hrs + minutes / 60


def function_names(root: Path) -> set[str]:
    code = "\n".join(p.read_text(encoding="utf-8") for p in (root / "function_app").rglob("*.py"))
    return set(re.findall(r"@bp\.function_name\(\"(\w+)\"\)", code))


def alerts(deployment: Deployment, root: Path) -> list[str]:
    problems: list[str] = []
    symbol = next((s for s, (f, _) in deployment.modules.items() if f.path.name == "alerts.bicep"), None)
    if symbol is None:
        return [f"{deployment.main.path}: no alerts module"]
    file, evaluator = deployment.modules[symbol]
    bound = deployment.evaluator.eval(deployment.main.modules[symbol].value)["params"]  # type: ignore[arg-type]
    workspace = bound.get("workspaceId")
    if not (isinstance(workspace, Unresolved) and workspace.text == WORKSPACE):
        problems.append(f"alerts workspaceId must be {WORKSPACE}, got {workspace!r}")
    if bound.get("emailAddresses") != deployment.evaluator.param("alertEmailAddresses"):
        problems.append("alerts emailAddresses must be the alertEmailAddresses parameter")
    # An action group's receivers, serviceUri included, are readable with Reader (issue 22, finding 14): a
    # @secure() parameter would still land there. So the webhook must be a secure webhook, authenticated with
    # an Entra token (useAadAuth, objectId), whose URL carries no secret.
    receiver = file.variables.get("webhookReceiver")
    body = evaluator.eval(receiver.value) if receiver is not None and receiver.value is not None else {}
    if body.get("useAadAuth") is not True or "objectId" not in body:
        problems.append(f"{file.path}: the webhook receiver must be a secure webhook (useAadAuth: true with the "
                        "objectId of its Entra application): its serviceUri is readable with Reader")
    problems += _action_group(deployment, file, evaluator)
    rules = [d for d in file.resources_of_type(RULE) if not d.existing]
    instances = [i for d in rules for i in evaluator.instances(d)]
    found = {i.get("name"): i for i in instances}
    for name in sorted(set(REQUIRED_RULES) - set(found)):
        problems.append(f"missing alert rule {name}")
    action_groups = [d.name for d in file.resources_of_type(ACTION_GROUP)]
    pipelines = {p.stem for p in (root / "adf" / "pipeline").glob("*.json")}
    functions = function_names(root)
    for name, instance in found.items():
        problems += [f"alert {name}: {p}" for p in _rule(instance, action_groups, pipelines, functions)]
    return problems


def _action_group(deployment: Deployment, file: Any, evaluator: Any) -> list[str]:
    problems: list[str] = []
    groups = [d for d in file.resources_of_type(ACTION_GROUP) if not d.existing]
    if len(groups) != 1:
        return [f"{file.path}: expected one action group, found {len(groups)}"]
    body = evaluator.eval(groups[0].value)
    props = body.get("properties", {})
    if str(body.get("location", "")).lower() != "global":
        problems.append("the action group's location must be Global")
    short = props.get("groupShortName", "")
    if not isinstance(short, str) or not 1 <= len(short) <= 12:
        problems.append(f"groupShortName must be 1-12 characters, got {short!r}")
    addresses = deployment.evaluator.param("alertEmailAddresses")
    receivers = props.get("emailReceivers")
    if isinstance(addresses, list) and isinstance(receivers, list):
        if [r.get("emailAddress") for r in receivers] != addresses:
            problems.append(f"email receivers {receivers!r} are not the addresses {addresses!r}")
        if any(r.get("useCommonAlertSchema") is not True for r in receivers):
            problems.append("every e-mail receiver must use the common alert schema")
    webhook = deployment.evaluator.param("alertWebhookUrl")
    hooks = props.get("webhookReceivers")
    if isinstance(webhook, str) and isinstance(hooks, list):
        expected = [webhook] if webhook else []
        if [h.get("serviceUri") for h in hooks] != expected:
            problems.append(f"webhook receivers {hooks!r} do not match alertWebhookUrl")
    return problems


def _rule(instance: dict[str, Any], action_groups: list[str], pipelines: set[str], functions: set[str]) -> list[str]:
    problems: list[str] = []
    name, props = instance.get("name"), instance.get("properties", {})
    if instance.get("kind") != "LogAlert":
        problems.append("kind must be LogAlert")
    scopes = props.get("scopes")
    if not (isinstance(scopes, list) and [getattr(s, "text", None) for s in scopes] == [WORKSPACE]):
        problems.append(f"scopes must be [{WORKSPACE}] (the workspace the diagnostics feed), got {scopes!r}")
    groups = props.get("actions", {}).get("actionGroups")
    if not (
        isinstance(groups, list) and [getattr(g, "text", None) for g in groups] == [f"{a}.id" for a in action_groups]
    ):
        problems.append(f"actions.actionGroups must be the action group's id, got {groups!r}")
    if props.get("skipQueryValidation") is not True:
        problems.append("skipQueryValidation must be true: the tables exist only after the first log arrives")
    if props.get("enabled") is not True:
        problems.append("must be enabled")
    if props.get("severity") not in range(5):
        problems.append(f"severity must be 0-4, got {props.get('severity')!r}")
    criteria = props.get("criteria", {}).get("allOf", [])
    if len(criteria) != 1:
        return [*problems, "needs exactly one criterion"]
    criterion = criteria[0]
    for key, expected in (("timeAggregation", "Count"), ("operator", "GreaterThan"), ("threshold", 0)):
        if criterion.get(key) != expected:
            problems.append(f"criterion {key} must be {expected!r} (fire on any row), got {criterion.get(key)!r}")
    try:
        window, frequency = hours(props["windowSize"]), hours(props["evaluationFrequency"])
        if frequency > window:
            problems.append("evaluationFrequency is longer than windowSize: rows between windows are never seen")
        override = props.get("overrideQueryTimeRange")
        reach = hours(override) if isinstance(override, str) else window
    except (KeyError, ValueError) as exc:
        return [*problems, f"bad duration: {exc}"]
    query = criterion.get("query")
    if not isinstance(query, str):
        return [*problems, f"query is not known offline: {query!r}"]
    try:
        kql.check(query)
    except kql.KqlError as exc:
        return [*problems, f"query: {exc}"]
    literals = kql.string_literals(query)
    table, status = REQUIRED_RULES.get(name, (None, None))
    if table is not None and not re.search(rf"\b{table}\b", query):
        problems.append(f"must query {table}")
    if status is not None and status not in literals:
        problems.append(f"must filter on Status {status!r}")
    if name == "no-successful-daily-run":
        if DAILY_PIPELINE not in literals or DAILY_PIPELINE not in pipelines:
            problems.append(f"must filter on the deployed pipeline {DAILY_PIPELINE}")
        lookback = re.search(r"ago\((\d+)h\)", query)
        if lookback is None or int(lookback.group(1)) < 25:
            problems.append("must look back more than one daily window (ago(<hours>h), at least 25)")
        elif reach < int(lookback.group(1)):
            problems.append(f"the rule reads {reach:g} h of data, less than the query's {lookback.group(1)} h")
        code = [t.text for t in kql.tokenize(query)]
        if "isfuzzy" not in code or code[code.index("isfuzzy") + 2] != "true":
            problems.append("must use union isfuzzy=true so that it fires before ADFPipelineRun exists")
    if name == "ingestion-function-failed":
        named = literals & (functions | INGESTION_FUNCTIONS)
        if named != INGESTION_FUNCTIONS or not functions >= INGESTION_FUNCTIONS:
            problems.append(f"must name the ingestion functions {sorted(INGESTION_FUNCTIONS)} that the code defines")
    return problems


def diagnostics_feed_the_tables(deployment: Deployment) -> list[str]:
    """ADFPipelineRun needs the factory's diagnostics in resource-specific mode; AppRequests a workspace-based
    Application Insights component on the same workspace."""
    problems: list[str] = []
    for file, evaluator, declaration in deployment.module_of_resource_type("Microsoft.Insights/diagnosticSettings"):
        if file.path.name != "data-factory.bicep":
            continue
        props = evaluator.eval(declaration.value).get("properties", {})
        if props.get("logAnalyticsDestinationType") != "Dedicated":
            problems.append("the factory's diagnostic setting must be Dedicated (resource-specific ADFPipelineRun)")
    _, evaluator, component = deployment.only("Microsoft.Insights/components")
    props = evaluator.eval(component.value).get("properties", {})
    workspace = props.get("WorkspaceResourceId")
    if not (isinstance(workspace, (Unresolved, SymbolRef)) and "workspace" in json.dumps(str(workspace))):
        problems.append(f"Application Insights must be workspace-based on the workspace, got {workspace!r}")
    return problems
