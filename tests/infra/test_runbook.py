"""infra/deploy.sh and docs/deploy.md: lint-clean, the runbook's order, secrets never on a command line.

deploy.sh runs against the fake Azure of tests/support/infra/fake_azure.py (tests/support/infra/deploy_runs.py
runs it); a second run on the same fake cloud is a redeployment."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.infra.bicep import BicepFile
from tests.support.infra.deploy_runs import (
    SECRETS,
    DeployRun,
    command,
    laptop,
    run_deploy,
    service_principal_with_secret,
)
from tests.support.infra.fake_azure import APP_ID, FACTORY_CLIENT_ID, SP, USER, FakeAzure
from tests.support.infra.repo import ROOT

pytestmark = [pytest.mark.cli, pytest.mark.xdist_group("runbook")]

SCRIPT = ROOT / "infra" / "deploy.sh"
RUNBOOK = ROOT / "docs" / "deploy.md"


def test_deploy_script_is_lint_clean() -> None:
    # shellcheck when installed (apt-get install shellcheck), else at least a syntax check.
    shellcheck = shutil.which("shellcheck")
    command = [shellcheck, "--severity=style", str(SCRIPT)] if shellcheck else ["bash", "-n", str(SCRIPT)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert os.access(SCRIPT, os.X_OK)
    assert "set -euo pipefail" in SCRIPT.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DeployRun, DeployRun]:
    """A first deployment from a laptop and a redeployment on the same fake cloud (its folder, both runs). The
    redeployment meets a CLI that fails on an existing role assignment, as some versions do."""
    folder = tmp_path_factory.mktemp("deploy")
    first = run_deploy(folder, laptop(), PIPELINE_START_DATE="2025-06-01")
    again = run_deploy(folder, None, FAKE_AZ_ROLE_CREATE="fails-if-exists")
    return folder, first, again


@pytest.fixture(scope="module")
def first_deploy(deployed: tuple[Path, DeployRun, DeployRun]) -> DeployRun:
    return deployed[1]


@pytest.fixture(scope="module")
def redeploy(deployed: tuple[Path, DeployRun, DeployRun]) -> DeployRun:
    return deployed[2]


def test_deploy_runs_the_runbook_in_order(first_deploy: DeployRun) -> None:
    assert first_deploy.result.returncode == 0, first_deploy.output
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
    positions = [first_deploy.index_of(pattern) for pattern in order]
    assert positions == sorted(positions)
    assert "trigger stop" not in " ".join(first_deploy.commands())
    assert first_deploy.cloud.data["trigger"] == "Started"


def test_the_warehouse_steps_wait_until_the_new_firewall_rule_takes_effect(first_deploy: DeployRun) -> None:
    # The deployment adds the deployer's firewall rule; SQL refuses the address (40615) for up to five minutes.
    deployed = first_deploy.calls[first_deploy.index_of(r"^az deployment group create .*bicepparam")]
    schema = first_deploy.calls[first_deploy.index_of(r"^company-activity sql deploy")]
    refused = [c for c in first_deploy.calls if "is not allowed to access the server" in c.get("error", "")]
    assert refused, "expected the first connection attempts to meet the firewall"
    assert all(c["tool"] == "sqlcmd" for c in refused)  # the probe, not the schema deployment
    assert schema["clock"] >= deployed["clock"] + 12 * 60 + 5 * 60
    assert "waiting for the SQL firewall rule to take effect" in first_deploy.result.stdout


def test_secrets_reach_key_vault_but_never_a_command_line_or_the_output(first_deploy: DeployRun) -> None:
    calls = first_deploy.calls
    stored = {c["argv"][c["argv"].index("--name") + 1]: c["file"] for c in calls if "file" in c}
    assert stored == {"usage-api-key": SECRETS["USAGE_API_KEY"], "slack-webhook-url": SECRETS["SLACK_WEBHOOK_URL"]}
    for secret in SECRETS.values():
        assert all(secret not in command(c) for c in calls)
        assert secret not in first_deploy.output


def test_redeploy_stops_the_started_trigger_and_keeps_its_first_window(redeploy: DeployRun) -> None:
    # The fake answers `az datafactory trigger show` with the SDK model rendered by the CLI's own output layer,
    # so the script's --query runs against the shape the CLI really prints (typeProperties flattened).
    again = redeploy
    assert again.result.returncode == 0, again.output
    stop = again.index_of(r"^az datafactory trigger stop --factory-name adfabc")
    create = again.index_of(r"^az deployment group create")
    assert stop < create < again.index_of(r"^az datafactory trigger start")
    assert "daily trigger starts at 2025-06-01" in again.result.stdout
    assert again.calls[create]["env"]["PIPELINE_START_DATE"] == "2025-06-01"


def test_a_redeploy_keeps_the_sql_server_entra_only_without_resending_it(first_deploy: DeployRun,
                                                                         redeploy: DeployRun) -> None:
    deployment = r"^az deployment group create .*bicepparam"
    first, again = first_deploy, redeploy
    assert first.calls[first.index_of(deployment)]["env"]["SQL_SERVER_EXISTS"] == "false"
    assert again.result.returncode == 0, again.output
    assert again.calls[again.index_of(deployment)]["env"]["SQL_SERVER_EXISTS"] == "true"
    assert again.errors() == [e for e in again.errors() if "is not allowed to access the server" in e]


@pytest.mark.parametrize("existing", [True, False])
def test_what_if_only_changes_nothing(tmp_path: Path, deployed: tuple[Path, DeployRun, DeployRun],
                                      existing: bool) -> None:
    # The pull-request check of .github/workflows/deploy.yml: read-only calls, the trigger left running.
    cloud = FakeAzure.load(deployed[0] / "cloud.json") if existing else laptop()
    run = run_deploy(tmp_path, cloud, WHAT_IF_ONLY="1")
    assert run.result.returncode == 0, run.output
    changing = ("group create", "deployment group create", "trigger stop", "trigger start", "role assignment create")
    assert [c for c in run.commands() if any(f"az {verb}" in c for verb in changing)] == []
    assert all(c["tool"] == "az" for c in run.calls)
    if existing:
        what_if = run.calls[run.index_of(r"^az deployment group what-if")]
        assert what_if["env"]["PIPELINE_START_DATE"] == "2025-06-01"
        assert run.cloud.data["trigger"] == "Started"
    else:
        assert "what-if skipped" in run.result.stdout


def deployment_environment(run: DeployRun) -> dict[str, str]:
    return run.calls[run.index_of(r"^az deployment group create .*--parameters infra/env/")]["env"]


def test_a_service_principal_is_sql_admin_by_its_application_id(tmp_path: Path) -> None:
    # For an application the SQL Entra administrator's sid is its application (client) id.
    run = run_deploy(tmp_path, service_principal_with_secret())
    assert run.result.returncode == 0, run.output
    environment = deployment_environment(run)
    assert environment["SQL_ADMIN_OBJECT_ID"] == APP_ID
    assert environment["SQL_ADMIN_PRINCIPAL_TYPE"] == "Application"
    assert environment["SQL_ADMIN_LOGIN"] == SP["displayName"]
    # Azure RBAC, unlike SQL, names the principal by its object id.
    role = run.calls[run.index_of(r"^az role assignment create")]["argv"]
    assert role[role.index("--assignee-object-id") + 1] == SP["id"]
    # The object id comes from the access token, not from Microsoft Graph, which a CI principal may not read.
    assert [c for c in run.commands() if "ad sp show" in c and "--query id" in c] == []


def test_a_service_principal_with_a_named_sql_admin_makes_no_graph_call(tmp_path: Path) -> None:
    group = "cccccccc-1111-2222-3333-444444444444"
    cloud = service_principal_with_secret()
    cloud.data["entra_groups"] = {group: [APP_ID]}  # the recommended setup: the principal is in the admin group
    run = run_deploy(tmp_path, cloud, SQL_ADMIN_LOGIN="sg-company-activity-sql-admins", SQL_ADMIN_OBJECT_ID=group,
                     SQL_ADMIN_PRINCIPAL_TYPE="Group")
    assert run.result.returncode == 0, run.output
    assert [c for c in run.commands() if c.startswith("az ad ")] == []
    assert deployment_environment(run)["SQL_ADMIN_PRINCIPAL_TYPE"] == "Group"


def test_a_signed_in_user_is_sql_admin_by_object_id(first_deploy: DeployRun) -> None:
    environment = deployment_environment(first_deploy)
    assert environment["SQL_ADMIN_OBJECT_ID"] == USER["id"]
    assert environment["SQL_ADMIN_PRINCIPAL_TYPE"] == "User"


def test_the_factory_user_is_created_from_its_client_id_without_a_graph_lookup(first_deploy: DeployRun) -> None:
    sqlcmd = command(first_deploy.calls[first_deploy.index_of(r"^sqlcmd .*grant_identities")])
    assert f"DataFactoryClientId={FACTORY_CLIENT_ID}" in sqlcmd
    script = (ROOT / "infra" / "sql" / "grant_identities.sql").read_text(encoding="utf-8")
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("--"))
    assert "FROM EXTERNAL PROVIDER" not in code.upper()
    assert re.search(r"WITH SID = .*TYPE = E", code)
    assert "$(DataFactoryClientId)" in code


def test_redeploy_survives_a_cli_that_fails_on_an_existing_role_assignment(redeploy: DeployRun) -> None:
    run = redeploy
    assert run.result.returncode == 0, run.output
    assert run.index_of(r"^az keyvault secret set") > run.index_of(r"^az role assignment list")


def test_a_role_assignment_that_really_fails_stops_the_deployment(tmp_path: Path) -> None:
    # E.g. a condition on the deployer's RBAC Administrator assignment that does not allow this role.
    run = run_deploy(tmp_path, laptop(), FAKE_AZ_ROLE_CREATE="forbidden")
    assert run.result.returncode != 0
    assert "AuthorizationFailed" in run.result.stderr
    assert all("keyvault secret set" not in c for c in run.commands())


@pytest.mark.parametrize(
    ("environment", "extra", "message"),
    [
        ("staging", {}, "usage:"),
        ("dev", {"USAGE_API_BASE_URL": ""}, "set USAGE_API_BASE_URL"),
        ("dev", {"ALERT_EMAILS": ""}, "set ALERT_EMAILS"),
        ("dev", {"API_CLIENT_ID": ""}, "set API_CLIENT_ID"),
        ("dev", {"API_CLIENT_ID": "company-activity-api"}, "set API_CLIENT_ID"),
        ("dev", {"ALERT_WEBHOOK_URL": "https://hooks.example.com/alerts"}, "needs ALERT_WEBHOOK_APP_OBJECT_ID"),
        ("dev", {"ALERT_EMAILS": "oncall@example.com; lead@example.com"}, "ALERT_EMAILS must be e-mail addresses"),
        ("dev", {"DEPLOYER_IP": "0.0.0.0/0"}, "DEPLOYER_IP must be one IPv4 address"),
        ("dev", {"USAGE_API_KEY": ""}, "set USAGE_API_KEY (secret usage-api-key does not exist yet)"),
        ("dev", {"CRM_WRITER_PRINCIPALS": "crm-export-job"},
         "CRM_WRITER_PRINCIPALS must be comma-separated <User|Group|ServicePrincipal>:<object id> entries, got "
         "crm-export-job"),
        ("dev", {"REPLAY_READER_PRINCIPALS": "Group:00000000-0000-0000-0000-0000000000a1; User:x"},
         "REPLAY_READER_PRINCIPALS must be comma-separated"),
    ],
)
def test_deploy_refuses_bad_input_with_a_clear_message(
    tmp_path: Path, environment: str, extra: dict[str, str], message: str
) -> None:
    run = run_deploy(tmp_path, laptop(), environment, **extra)
    assert run.result.returncode != 0
    assert message in run.result.stderr
    assert all("deployment group create" not in c for c in run.commands()) or "USAGE_API_KEY" in extra


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


def test_the_runbook_and_the_script_number_the_same_steps() -> None:
    headings = re.findall(r"^### (\d+)\. (.+)$", RUNBOOK.read_text(encoding="utf-8"), re.MULTILINE)
    steps = re.findall(r'^step "(\d+)/(\d+) ([^"$]+)', SCRIPT.read_text(encoding="utf-8"), re.MULTILINE)
    assert [int(n) for n, _ in headings] == list(range(1, len(headings) + 1)) and len(steps) == len(headings)
    for (number, title), (step_number, total, step_title) in zip(headings, steps, strict=True):
        assert (step_number, total) == (number, str(len(headings)))
        assert step_title.strip().startswith(title), f"docs/deploy.md step {number} {title!r}, deploy.sh {step_title!r}"


def test_the_firewall_rule_and_the_key_vault_role_are_taken_back_when_a_step_fails(tmp_path: Path) -> None:
    """Issue 22, finding 5: the deployer's SQL firewall rule and its Key Vault Secrets Officer role live only
    as long as the run, also when it stops halfway (here: the grant script fails)."""
    run = run_deploy(tmp_path, laptop(), FAKE_SQLCMD_FAILS="1")
    assert run.result.returncode != 0
    assert any(re.match(r"az sql server firewall-rule delete .*--name deployer", c) for c in run.commands())
    assert any(re.match(r"az role assignment delete .*Key Vault Secrets Officer", c) for c in run.commands())
    assert run.cloud.data["firewall_rules_removed"] == ["deployer"]
    assert not [a for a in run.cloud.data["role_assignments"] if a["role"] == "Key Vault Secrets Officer"]


def test_the_firewall_rule_and_the_key_vault_role_are_gone_after_a_deployment(first_deploy: DeployRun) -> None:
    assert first_deploy.cloud.data["firewall_rules_removed"] == ["deployer"]
    assert not [a for a in first_deploy.cloud.data["role_assignments"] if a["role"] == "Key Vault Secrets Officer"]


def test_sql_admits_data_factory_by_the_service_tag_ranges_of_the_region(first_deploy: DeployRun) -> None:
    ranges = json.loads(deployment_environment(first_deploy)["DATA_FACTORY_IP_RANGES"])
    assert ranges == [{"startIpAddress": "20.38.80.192", "endIpAddress": "20.38.80.255"}]  # IPv4 of the region only


@pytest.mark.parametrize(("name", "value"), [("DataFactoryName", "adf'; DROP USER x; --"),
                                             ("DataFactoryClientId", "not-a-guid")])
def test_sqlcmd_variables_are_validated_before_they_reach_the_script(tmp_path: Path, name: str, value: str) -> None:
    """Issue 22, finding 12: sqlcmd substitutes -v values as text; a value of another shape stops the run."""
    env = {"FAKE_FACTORY_NAME": value} if name == "DataFactoryName" else {"FAKE_FACTORY_CLIENT_ID": value}
    run = run_deploy(tmp_path, laptop(), **env)
    assert run.result.returncode != 0 and "unexpected" in run.result.stderr
    assert not [c for c in run.commands() if re.match(r"sqlcmd .*-i ", c)]


def test_the_pull_request_what_if_runs_with_read_permissions_only(
    tmp_path: Path, deployed: tuple[Path, DeployRun, DeployRun]
) -> None:
    """The pull-request identity holds Reader plus the what-if actions (docs/deploy.md, CI setup): with
    ProviderNoRbac its preflight and its what-if pass; without it ARM wants write permissions."""
    cloud = FakeAzure.load(deployed[0] / "cloud.json")
    cloud.sign_in_what_if_identity()
    run = run_deploy(tmp_path, cloud, WHAT_IF_ONLY="1", WHAT_IF_VALIDATION_LEVEL="ProviderNoRbac")
    assert run.result.returncode == 0, run.output
    what_if = [c for c in run.commands() if c.startswith("az deployment group what-if")]
    assert len(what_if) == 1 and what_if[0].endswith("--validation-level ProviderNoRbac")
    assert not any(re.match(r"az (deployment group create|role assignment create|keyvault secret set)", c)
                   for c in run.commands())
    cloud = FakeAzure.load(deployed[0] / "cloud.json")
    cloud.sign_in_what_if_identity()
    refused = run_deploy(tmp_path, cloud, WHAT_IF_ONLY="1")
    assert refused.result.returncode != 0
    assert "missing permission Microsoft.Resources/deployments/write" in refused.result.stderr


def test_ci_publishes_a_zip_with_az_and_leaves_the_secrets_alone(tmp_path: Path) -> None:
    zip_file = tmp_path / "app.zip"
    zip_file.write_bytes(b"PK")
    run = run_deploy(tmp_path, laptop(), PUBLISH_ZIP=str(zip_file), SKIP_SECRETS="1", USAGE_API_KEY="",
                     SLACK_WEBHOOK_URL="", without=("func",))
    assert run.result.returncode == 0, run.output
    assert any(re.match(r"az functionapp deployment source config-zip .*--name funcabc .*--build-remote true", c)
               for c in run.commands())
    assert not any(c.startswith("func ") for c in run.commands())
    assert not any(re.match(r"az (keyvault secret set|role assignment create)", c) for c in run.commands())
