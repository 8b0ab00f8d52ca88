"""infra/deploy.sh and docs/deploy.md: lint-clean, the runbook's order, secrets never on a command line."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.infra import fake_azure_cli
from tests.support.infra.bicep import BicepFile
from tests.support.infra.fake_azure_cli import APP_ID, FACTORY_CLIENT_ID, SP
from tests.support.infra.repo import ROOT

pytestmark = [pytest.mark.cli, pytest.mark.xdist_group("runbook")]

SCRIPT = ROOT / "infra" / "deploy.sh"
RUNBOOK = ROOT / "docs" / "deploy.md"
TOOLS = ("az", "sqlcmd", "func", "curl", "company-activity")
SECRETS = {"USAGE_API_KEY": "usage-key-Zx81-do-not-leak", "SLACK_WEBHOOK_URL": "https://hooks.slack.test/T0/B0/s3cr3t"}


def test_deploy_script_is_lint_clean() -> None:
    # shellcheck when installed (apt-get install shellcheck), else at least a syntax check.
    shellcheck = shutil.which("shellcheck")
    command = [shellcheck, "--severity=style", str(SCRIPT)] if shellcheck else ["bash", "-n", str(SCRIPT)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert os.access(SCRIPT, os.X_OK)
    assert "set -euo pipefail" in SCRIPT.read_text(encoding="utf-8")


def fake_tools(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = Path(fake_azure_cli.__file__)
    for tool in TOOLS:
        wrapper = bin_dir / tool
        wrapper.write_text(f'#!/bin/sh\nFAKE_TOOL={tool} exec "{sys.executable}" "{fake}" "$@"\n', encoding="utf-8")
        wrapper.chmod(0o755)
    return bin_dir


def run_deploy(tmp_path: Path, environment: str = "dev", **extra: str) -> tuple[subprocess.CompletedProcess[str], list]:
    bin_dir = fake_tools(tmp_path)
    log = tmp_path / "calls.jsonl"
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "FAKE_AZ_LOG": str(log),
        "USAGE_API_BASE_URL": "https://usage.example.com/v1",
        "ALERT_EMAILS": "data-oncall@example.com,data-lead@example.com",
        "DEPLOYER_IP": "203.0.113.7",
        "API_CLIENT_ID": "5f6e7d8c-9b0a-4c1d-8e2f-3a4b5c6d7e8f",
        "DASHBOARD_AUTH_CLIENT_ID": "cccccccc-1111-2222-3333-444444444444",
        "DASHBOARD_ALLOWED_GROUPS": "dddddddd-1111-2222-3333-444444444444",
        "ASSUME_YES": "1",
        "COMPANY_ACTIVITY": "company-activity",
        **SECRETS,
        **extra,
    }
    result = subprocess.run(
        ["bash", str(SCRIPT), environment],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    calls = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []
    return result, calls


def command(call: dict) -> str:
    return " ".join([call["tool"], *call["argv"]])


def index_of(calls: list, pattern: str) -> int:
    for index, call in enumerate(calls):
        if re.search(pattern, command(call)):
            return index
    raise AssertionError(f"no call matches {pattern!r}:\n" + "\n".join(command(c) for c in calls))


@pytest.fixture(scope="module")
def first_deploy(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], list]:
    return run_deploy(tmp_path_factory.mktemp("deploy"))


def test_deploy_runs_the_runbook_in_order(first_deploy: tuple[subprocess.CompletedProcess[str], list]) -> None:
    result, calls = first_deploy
    assert result.returncode == 0, result.stderr
    order = [
        r"^az group create --name rg-company-activity-dev --location westeurope",
        r"^az deployment group what-if .*--parameters infra/env/dev\.bicepparam",
        r"^az deployment group create .*--parameters infra/env/dev\.bicepparam",
        r"^az role assignment create .*--role Key Vault Secrets Officer",
        r"^az keyvault secret set --vault-name kvabc --name usage-api-key",
        r"^az keyvault secret set --vault-name kvabc --name slack-webhook-url",
        r"^company-activity sql deploy --connection-string .*Server=tcp:sqlabc\.database\.windows\.net,1433;"
        r"Database=company_activity;.*Authentication=ActiveDirectoryDefault",
        r"^sqlcmd -S sqlabc\.database\.windows\.net -d company_activity -G -b -v DataFactoryName=adfabc "
        r"DataFactoryClientId=\S+ -i infra/sql/grant_identities\.sql",
        r"^func azure functionapp publish funcabc --python",
        r"^az datafactory trigger start --factory-name adfabc .*--name TR_daily_company_activity",
        r"^az account get-access-token --scope api://5f6e7d8c-9b0a-4c1d-8e2f-3a4b5c6d7e8f/\.default",
        r"^curl .*--header @- https://funcabc\.azurewebsites\.net/api/ingestions\?",
        # What the run opened or granted only for itself is taken back on exit (issue 22).
        r"^az sql server firewall-rule delete .*--server sqlabc --name deployer",
        r"^az role assignment delete .*--role Key Vault Secrets Officer",
    ]
    positions = [index_of(calls, pattern) for pattern in order]
    assert positions == sorted(positions)
    # The template's parameters read the deployer's values from the environment (readEnvironmentVariable).
    assert "trigger stop" not in " ".join(command(c) for c in calls)


def test_secrets_reach_key_vault_but_never_a_command_line_or_the_output(
    first_deploy: tuple[subprocess.CompletedProcess[str], list],
) -> None:
    result, calls = first_deploy
    stored = {c["argv"][c["argv"].index("--name") + 1]: c["file"] for c in calls if "file" in c}
    assert stored == {"usage-api-key": SECRETS["USAGE_API_KEY"], "slack-webhook-url": SECRETS["SLACK_WEBHOOK_URL"]}
    for secret in SECRETS.values():
        assert all(secret not in command(c) for c in calls)
        assert secret not in result.stdout + result.stderr


def test_redeploy_stops_the_started_trigger_and_keeps_its_first_window(tmp_path: Path) -> None:
    # The fake answers `az datafactory trigger show` with the SDK model rendered by the CLI's own output layer,
    # so the script's --query runs against the shape the CLI really prints (typeProperties flattened).
    result, calls = run_deploy(tmp_path, FAKE_AZ_EXISTING="1")
    assert result.returncode == 0, result.stderr
    stop = index_of(calls, r"^az datafactory trigger stop --factory-name adfabc")
    create = index_of(calls, r"^az deployment group create")
    assert stop < create < index_of(calls, r"^az datafactory trigger start")
    assert "daily trigger starts at 2025-06-01" in result.stdout
    assert calls[create]["env"]["PIPELINE_START_DATE"] == "2025-06-01"


@pytest.mark.parametrize("existing", ["1", "0"])
def test_what_if_only_changes_nothing(tmp_path: Path, existing: str) -> None:
    # The pull-request check of .github/workflows/deploy.yml: read-only calls, the trigger left running.
    result, calls = run_deploy(tmp_path, WHAT_IF_ONLY="1", FAKE_AZ_EXISTING=existing)
    assert result.returncode == 0, result.stderr
    changing = ("group create", "deployment group create", "trigger stop", "trigger start", "role assignment create")
    assert [command(c) for c in calls if any(f"az {verb}" in command(c) for verb in changing)] == []
    assert all(c["tool"] == "az" for c in calls)
    if existing == "1":
        what_if = calls[index_of(calls, r"^az deployment group what-if")]
        assert what_if["env"]["PIPELINE_START_DATE"] == "2025-06-01"
    else:
        assert "what-if skipped" in result.stdout


def deployment_environment(calls: list) -> dict[str, str]:
    return calls[index_of(calls, r"^az deployment group create")]["env"]


def test_a_service_principal_is_sql_admin_by_its_application_id(tmp_path: Path) -> None:
    # The CI path: for an application the SQL Entra administrator's sid is its application (client) id.
    result, calls = run_deploy(tmp_path, FAKE_AZ_SIGNED_IN="servicePrincipal")
    assert result.returncode == 0, result.stderr
    environment = deployment_environment(calls)
    assert environment["SQL_ADMIN_OBJECT_ID"] == APP_ID
    assert environment["SQL_ADMIN_PRINCIPAL_TYPE"] == "Application"
    assert environment["SQL_ADMIN_LOGIN"] == SP["displayName"]
    # Azure RBAC, unlike SQL, names the principal by its object id.
    role = calls[index_of(calls, r"^az role assignment create")]["argv"]
    assert role[role.index("--assignee-object-id") + 1] == SP["id"]
    # The object id comes from the access token, not from Microsoft Graph, which a CI principal may not read.
    assert [command(c) for c in calls if "ad sp show" in command(c) and "--query id" in command(c)] == []


def test_a_service_principal_with_a_named_sql_admin_makes_no_graph_call(tmp_path: Path) -> None:
    result, calls = run_deploy(
        tmp_path,
        FAKE_AZ_SIGNED_IN="servicePrincipal",
        SQL_ADMIN_LOGIN="sg-company-activity-sql-admins",
        SQL_ADMIN_OBJECT_ID="cccccccc-1111-2222-3333-444444444444",
        SQL_ADMIN_PRINCIPAL_TYPE="Group",
    )
    assert result.returncode == 0, result.stderr
    assert [command(c) for c in calls if command(c).startswith("az ad ")] == []
    assert deployment_environment(calls)["SQL_ADMIN_PRINCIPAL_TYPE"] == "Group"


def test_a_signed_in_user_is_sql_admin_by_object_id(
    first_deploy: tuple[subprocess.CompletedProcess[str], list],
) -> None:
    _, calls = first_deploy
    environment = deployment_environment(calls)
    assert environment["SQL_ADMIN_OBJECT_ID"] == "11111111-2222-3333-4444-555555555555"
    assert environment["SQL_ADMIN_PRINCIPAL_TYPE"] == "User"


def test_the_factory_user_is_created_from_its_client_id_without_a_graph_lookup(
    first_deploy: tuple[subprocess.CompletedProcess[str], list],
) -> None:
    _, calls = first_deploy
    sqlcmd = command(calls[index_of(calls, r"^sqlcmd ")])
    assert f"DataFactoryClientId={FACTORY_CLIENT_ID}" in sqlcmd
    script = (ROOT / "infra" / "sql" / "grant_identities.sql").read_text(encoding="utf-8")
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("--"))
    assert "FROM EXTERNAL PROVIDER" not in code.upper()
    assert re.search(r"WITH SID = .*TYPE = E", code)
    assert "$(DataFactoryClientId)" in code


def test_redeploy_survives_a_cli_that_fails_on_an_existing_role_assignment(tmp_path: Path) -> None:
    result, calls = run_deploy(tmp_path, FAKE_AZ_EXISTING="1", FAKE_AZ_ROLE_CREATE="fails-if-exists")
    assert result.returncode == 0, result.stderr
    assert index_of(calls, r"^az keyvault secret set") > index_of(calls, r"^az role assignment list")


def test_a_role_assignment_that_really_fails_stops_the_deployment(tmp_path: Path) -> None:
    result, calls = run_deploy(tmp_path, FAKE_AZ_ROLE_CREATE="forbidden")
    assert result.returncode != 0
    assert "AuthorizationFailed" in result.stderr
    assert all("keyvault secret set" not in command(c) for c in calls)


@pytest.mark.parametrize(
    ("environment", "extra", "message"),
    [
        ("staging", {}, "usage:"),
        ("dev", {"USAGE_API_BASE_URL": ""}, "set USAGE_API_BASE_URL"),
        ("dev", {"ALERT_EMAILS": ""}, "set ALERT_EMAILS"),
        ("dev", {"ALERT_EMAILS": "oncall@example.com; lead@example.com"}, "ALERT_EMAILS must be e-mail addresses"),
        ("dev", {"DEPLOYER_IP": "0.0.0.0/0"}, "DEPLOYER_IP must be one IPv4 address"),
        ("dev", {"USAGE_API_KEY": ""}, "set USAGE_API_KEY (secret usage-api-key does not exist yet)"),
    ],
)
def test_deploy_refuses_bad_input_with_a_clear_message(
    tmp_path: Path, environment: str, extra: dict[str, str], message: str
) -> None:
    result, calls = run_deploy(tmp_path, environment, **extra)
    assert result.returncode != 0
    assert message in result.stderr
    assert all("deployment group create" not in command(c) for c in calls) or "USAGE_API_KEY" in extra


def test_runbook_and_script_read_only_outputs_the_template_declares() -> None:
    outputs = set(BicepFile(ROOT / "infra" / "main.bicep").outputs)
    script = SCRIPT.read_text(encoding="utf-8")
    runbook = RUNBOOK.read_text(encoding="utf-8")
    used = set(re.findall(r"^\w+=\$\(output (\w+)\)", script, re.MULTILINE))
    used |= set(re.findall(r"properties\.outputs\.(\w+)\.value", runbook))
    assert used, "expected the script and the runbook to read deployment outputs"
    assert used - outputs == set()


def test_runbook_covers_every_step_and_teardown() -> None:
    runbook = RUNBOOK.read_text(encoding="utf-8")
    for needle in (
        "az deployment group what-if",
        "az deployment group create",
        "az keyvault secret set",
        "grant_identities.sql",
        "company-activity sql deploy",
        "func azure functionapp publish",
        "az datafactory trigger start",
        "az account get-access-token --scope \"api://$API_CLIENT_ID/.default\"",
        "/api/backfill",
        "az datafactory pipeline-run query-by-factory",
        "az group delete",
        "az keyvault recover",
        "infra/deploy.sh",
    ):
        assert needle in runbook, needle


def test_the_firewall_rule_and_the_key_vault_role_are_taken_back_when_a_step_fails(tmp_path: Path) -> None:
    """Issue 22, finding 5: the deployer's SQL firewall rule and its Key Vault Secrets Officer role live only
    as long as the run, also when it stops halfway (here: the grant script fails)."""
    result, calls = run_deploy(tmp_path, FAKE_SQLCMD_FAILS="1")
    assert result.returncode != 0
    commands = [command(c) for c in calls]
    assert any(re.match(r"az sql server firewall-rule delete .*--name deployer", c) for c in commands)
    assert any(re.match(r"az role assignment delete .*Key Vault Secrets Officer", c) for c in commands)


def test_sql_admits_data_factory_by_the_service_tag_ranges_of_the_region(
    first_deploy: tuple[subprocess.CompletedProcess[str], list],
) -> None:
    _, calls = first_deploy
    deployment = next(c for c in calls if command(c).startswith("az deployment group create"))
    ranges = json.loads(deployment["env"]["DATA_FACTORY_IP_RANGES"])
    assert ranges == [{"startIpAddress": "20.38.80.192", "endIpAddress": "20.38.80.255"}]  # IPv4 of the region only


@pytest.mark.parametrize(("name", "value"), [("DataFactoryName", "adf'; DROP USER x; --"),
                                             ("DataFactoryClientId", "not-a-guid")])
def test_sqlcmd_variables_are_validated_before_they_reach_the_script(tmp_path: Path, name: str, value: str) -> None:
    """Issue 22, finding 12: sqlcmd substitutes -v values as text; a value of another shape stops the run."""
    env = {"FAKE_FACTORY_NAME": value} if name == "DataFactoryName" else {"FAKE_FACTORY_CLIENT_ID": value}
    result, calls = run_deploy(tmp_path, **env)
    assert result.returncode != 0 and "unexpected" in result.stderr
    assert not any(c["tool"] == "sqlcmd" for c in calls)


def test_the_pull_request_what_if_runs_with_read_permissions_only(tmp_path: Path) -> None:
    result, calls = run_deploy(tmp_path, WHAT_IF_ONLY="1", FAKE_AZ_EXISTING="1",
                               WHAT_IF_VALIDATION_LEVEL="ProviderNoRbac")
    assert result.returncode == 0, result.stderr
    what_if = [command(c) for c in calls if command(c).startswith("az deployment group what-if")]
    assert len(what_if) == 1 and what_if[0].endswith("--validation-level ProviderNoRbac")
    assert not any(re.match(r"az (deployment group create|role assignment create|keyvault secret set)", command(c))
                   for c in calls)


def test_ci_publishes_a_zip_with_az_and_leaves_the_secrets_alone(tmp_path: Path) -> None:
    result, calls = run_deploy(tmp_path, PUBLISH_ZIP=str(tmp_path / "app.zip"), SKIP_SECRETS="1",
                               USAGE_API_KEY="", SLACK_WEBHOOK_URL="")
    assert result.returncode == 0, result.stderr
    commands = [command(c) for c in calls]
    assert any(re.match(r"az functionapp deployment source config-zip .*--name funcabc .*--build-remote true", c)
               for c in commands)
    assert not any(c.startswith("func ") for c in commands)
    assert not any(re.match(r"az (keyvault secret set|role assignment create)", c) for c in commands)
