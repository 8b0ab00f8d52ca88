"""The backstop alerts: wired to the workspace the diagnostics feed and to the action group of the parameters,
with KQL that checks against the documented table columns and names that exist in adf/ and function_app/."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.infra import alert_checks, checks, kql
from tests.support.infra.repo import ROOT, apply_edits, copy_tree

ENVIRONMENTS = [pytest.param(p, id=p.stem) for p in checks.environments(ROOT)]
AL, MAIN, DEV = "infra/modules/alerts.bicep", "infra/main.bicep", "infra/env/dev.bicepparam"
FUNCTIONS = "function_app/company_activity/functions"
NO_RUN, FAILED_RUN, FUNCTION = (f"infra/alerts/{n}.kql" for n in alert_checks.REQUIRED_RULES)


@pytest.mark.parametrize("params_path", ENVIRONMENTS)
def test_alerts_are_wired_and_their_queries_check(params_path: Path) -> None:
    deployment = checks.load(params_path)
    assert alert_checks.alerts(deployment, ROOT) == []
    assert alert_checks.diagnostics_feed_the_tables(deployment) == []


def test_every_alert_query_checks_against_the_documented_columns() -> None:
    queries = sorted((ROOT / "infra" / "alerts").glob("*.kql"))
    assert [p.stem for p in queries] == sorted(alert_checks.REQUIRED_RULES)
    returned = {p.stem: kql.check(p.read_text(encoding="utf-8")) for p in queries}
    assert returned["no-successful-daily-run"] == {"SucceededRuns"}
    assert {"PipelineName", "RunId"} <= returned["failed-pipeline-run"]


def test_receivers_follow_the_parameters() -> None:
    environment = {
        **checks.SAMPLE_ENVIRONMENT,
        "ALERT_EMAILS": "oncall@example.com",
        "ALERT_WEBHOOK_URL": "https://h.test/x",
    }
    deployment = checks.load(ROOT / "infra" / "env" / "prod.bicepparam", environment)
    file, evaluator = deployment.module("alerts.bicep")
    props = evaluator.eval(file.resources["actionGroup"].value)["properties"]
    assert [r["emailAddress"] for r in props["emailReceivers"]] == ["oncall@example.com"]
    assert [h["serviceUri"] for h in props["webhookReceivers"]] == ["https://h.test/x"]
    assert alert_checks.alerts(deployment, ROOT) == []
    without = checks.load(ROOT / "infra" / "env" / "prod.bicepparam")
    file, evaluator = without.module("alerts.bicep")
    assert evaluator.eval(file.resources["actionGroup"].value)["properties"]["webhookReceivers"] == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('ADFPipelineRun | where Statuss == "Failed"', "column 'Statuss' does not exist"),
        ("ADFPipelineRuns | take 1", "unknown table 'ADFPipelineRuns'"),
        ("AppRequests | where (Success == false", "unbalanced"),
        ("AppRequests | sumarize n = count()", "operator 'sumarize' is outside"),
        ("AppRequests | where Success == false | project Name | where Success", "column 'Success' does not exist"),
        ("union isfuzzy=true (AppRequests), (datatable(TimeGenerated: datetime) []) | project Name", "column 'Name'"),
        ("ADFPipelineRun | where startswith(Status, 'F')", "function startswith() is outside"),
        ("ADFPipelineRun | summarize count() by Status", "must be named"),
    ],
)
def test_the_kql_checker_rejects(query: str, message: str) -> None:
    with pytest.raises(kql.KqlError, match=message.replace("(", r"\(").replace(")", r"\)")):
        kql.check(query)


def in_dev(check: Callable[[checks.Deployment, Path], list[str]]) -> Callable[[Path], list[str]]:
    return lambda root: check(checks.load(root / "infra" / "env" / "dev.bicepparam"), root)


@pytest.mark.parametrize(
    ("edits", "message"),
    [
        pytest.param({NO_RUN: ("ago(26h)", "ago(20h)")}, "at least 25", id="lookback-too-short"),
        pytest.param(
            {AL: ("overrideQueryTimeRange: 'P2D'", "overrideQueryTimeRange: 'PT12H'")}, "reads 12 h", id="range"
        ),
        pytest.param({NO_RUN: ('"PL_daily_company_activity"', '"PL_daily"')}, "deployed pipeline", id="pipeline-name"),
        pytest.param({NO_RUN: ("union isfuzzy=true\n", "union isfuzzy=false\n")}, "isfuzzy", id="not-fuzzy"),
        pytest.param({FAILED_RUN: ('"Failed"', '"Failure"')}, "Status 'Failed'", id="status-value"),
        pytest.param({FUNCTION: ('"backfill_worker"', '"backfill_wrker"')}, "ingestion functions", id="function-name"),
        pytest.param({FUNCTION: ("Success == false", "Succes == false")}, "column 'Succes'", id="bad-column"),
        pytest.param(
            {
                "function_app/company_activity/functions/timer.py": (
                    'function_name("daily_ingest")',
                    'function_name("ingest")',
                )
            },
            "ingestion functions",
            id="function-renamed-in-code",
        ),
        pytest.param({AL: ("      workspaceId\n    ]", "      'other'\n    ]")}, "scopes must be", id="scope"),
        pytest.param({AL: ("        actionGroup.id\n", "")}, "actionGroups must be", id="no-action-group"),
        pytest.param(
            {AL: ("skipQueryValidation: true", "skipQueryValidation: false")}, "skipQueryValidation", id="skip"
        ),
        pytest.param({AL: ("threshold: 0", "threshold: 5")}, "threshold must be 0", id="threshold"),
        pytest.param(
            {
                AL: (
                    "    evaluationFrequency: 'PT15M'\n    windowSize: 'PT15M'",
                    "    evaluationFrequency: 'PT1H'\n    windowSize: 'PT15M'",
                )
            },
            "longer than windowSize",
            id="gap",
        ),
        pytest.param(
            {AL: ("groupShortName: 'company-act'", "groupShortName: 'company-activity'")}, "1-12", id="short-name"
        ),
        pytest.param(
            {AL: ("  useAadAuth: true\n", "")}, "must be a secure webhook", id="webhook-not-secure"
        ),
        pytest.param(
            {MAIN: ("    emailAddresses: alertEmailAddresses\n", "    emailAddresses: ['x@example.com']\n")},
            "emailAddresses must be",
            id="emails",
        ),
        pytest.param(
            {
                MAIN: (
                    "    workspaceId: monitoring.outputs.workspaceId\n    emailAddresses",
                    "    workspaceId: 'x'\n    emailAddresses",
                )
            },
            "workspaceId must be",
            id="module-workspace",
        ),
    ],
)
def test_the_alert_checks_catch_each_mistake(tmp_path: Path, edits: checks.Edits, message: str) -> None:
    root = copy_tree(tmp_path / "repo")
    shutil.copytree(ROOT / "function_app" / "company_activity" / "functions", root / FUNCTIONS)
    apply_edits(root, edits)
    problems = in_dev(alert_checks.alerts)(root)
    assert any(message in p for p in problems), problems


def test_the_diagnostics_check_catches_the_azure_diagnostics_mode(mutated: Callable[[checks.Edits], Path]) -> None:
    root = mutated(
        {
            "infra/modules/data-factory.bicep": (
                "logAnalyticsDestinationType: 'Dedicated'",
                "logAnalyticsDestinationType: 'AzureDiagnostics'",
            )
        }
    )
    problems = alert_checks.diagnostics_feed_the_tables(checks.load(root / "infra" / "env" / "dev.bicepparam"))
    assert any("Dedicated" in p for p in problems), problems
