"""infra/deploy.sh's preflight (`--check`, and the first thing of every run): it names every missing tool and every
missing permission, with what grants it, before anything in Azure changes. Runs against the fake Azure."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.infra.checks import SAMPLE_ENVIRONMENT
from tests.support.infra.deploy_runs import GROUP_ID, DeployRun, ci, laptop, run_deploy, service_principal_with_secret
from tests.support.infra.fake_azure import BUILT_IN_ROLES as ROLES
from tests.support.infra.fake_azure import FakeAzure, plan, role_allows
from tests.support.infra.repo import ROOT

pytestmark = pytest.mark.cli

ACTIONS = ROOT / "infra" / "deployer-actions.tsv"
CHANGES = ("group create", "deployment group create", "role assignment create", "trigger stop", "secret set", "login")


def changed(run: DeployRun) -> list[str]:
    return [c for c in run.commands() if any(f"az {verb}" in c for verb in CHANGES)] + [
        c for c in run.commands() if c.startswith(("sqlcmd -S", "func ", "company-activity sql deploy"))]


def problems(run: DeployRun) -> list[str]:
    return re.findall(r"^preflight: (.*)$", run.result.stderr, re.MULTILINE)


def rows() -> list[list[str]]:
    lines = ACTIONS.read_text(encoding="utf-8").splitlines()
    return [line.split("\t") for line in lines if line and not line.startswith("#")]


def test_check_passes_for_an_owner_with_every_tool_and_changes_nothing(tmp_path: Path) -> None:
    run = run_deploy(tmp_path, laptop(), "--check", "dev")
    assert run.result.returncode == 0, run.output
    assert "preflight passed: the tools are installed and you hold every permission needed on " \
           "/subscriptions/00000000-aaaa-bbbb-cccc-000000000001" in run.result.stdout
    assert changed(run) == []
    assert "az version --query \"azure-cli\" --output tsv" in run.commands()
    assert "sqlcmd --version" in run.commands() and "company-activity sql check-driver" in run.commands()


def test_every_missing_tool_is_named_with_how_to_get_it(tmp_path: Path) -> None:
    run = run_deploy(tmp_path, laptop(), "--check", "dev", without=("sqlcmd", "func"), FAKE_AZ_VERSION="2.50.0",
                     FAKE_PYODBC="no-driver")
    assert run.result.returncode == 1
    assert problems(run) == [
        "az is version 2.50.0, 2.60.0 or later is needed: az upgrade",
        "sqlcmd is not installed: go-sqlcmd, e.g. apt-get install sqlcmd or brew install sqlcmd (docs/deploy.md, "
        "Installing the SQL tools on a laptop)",
        "func is not installed: Azure Functions Core Tools v4 (npm install --global azure-functions-core-tools@4), "
        "or set PUBLISH_ZIP or SKIP_PUBLISH=1",
        "ODBC Driver 18 for SQL Server is not registered with the ODBC driver manager",
    ]
    assert "the preflight found 4 problem(s); nothing was changed" in run.result.stderr


def test_the_odbc_sqlcmd_and_a_missing_pyodbc_are_refused(tmp_path: Path) -> None:
    run = run_deploy(tmp_path, laptop(), "--check", "dev", FAKE_SQLCMD="legacy", FAKE_PYODBC="missing")
    assert problems(run) == [
        "sqlcmd is the ODBC sqlcmd, whose -G cannot use your az login: install go-sqlcmd (docs/deploy.md, Installing "
        "the SQL tools on a laptop)",
        "pyodbc is not installed in this Python: run make install-azure",
    ]


def test_a_deployment_with_a_problem_stops_before_it_touches_anything(tmp_path: Path) -> None:
    run = run_deploy(tmp_path, laptop(), without=("sqlcmd",))
    assert run.result.returncode == 1
    assert changed(run) == []
    assert run.cloud.data["groups"] == {}


def test_every_missing_permission_is_named_with_what_grants_it(tmp_path: Path) -> None:
    # The CI principal with Contributor only: it can deploy resources but not assign roles.
    run = run_deploy(tmp_path, ci(roles=("Contributor",)), "--check", "dev")
    assert run.result.returncode == 1
    assert problems(run) == [
        f"missing permission Microsoft.Authorization/roleAssignments/write on {GROUP_ID} (the identities' role "
        "assignments of the template, and Key Vault Secrets Officer for you on the vault (step 5)): granted by Role "
        "Based Access Control Administrator (or User Access Administrator, Owner)",
        f"missing permission Microsoft.Authorization/roleAssignments/delete on {GROUP_ID} (on exit, remove the Key "
        "Vault Secrets Officer assignment step 5 made for you): granted by Role Based Access Control Administrator (or "
        "User Access Administrator, Owner)",
        "the custom role 'Company activity backfill starter (rg-company-activity-dev)' does not exist and creating it "
        "needs Microsoft.Authorization/roleDefinitions/write (Owner or User Access Administrator), which you do not "
        "have: an administrator runs 'infra/deploy.sh --create-role dev' once",
    ]
    assert changed(run) == []


def test_a_reader_gets_every_write_the_deployment_needs_named(tmp_path: Path) -> None:
    run = run_deploy(tmp_path, service_principal_with_secret(("Reader",)), "--check", "dev")
    named = {p.split(" ")[2] for p in problems(run) if p.startswith("missing permission ")}
    needed = {row[0] for row in rows() if not role_allows(ROLES["Reader"], row[0])}
    assert named == needed
    assert "Microsoft.Sql/servers/azureADOnlyAuthentications/write" in named


def test_the_what_if_check_needs_only_what_the_what_if_needs(tmp_path: Path) -> None:
    run = run_deploy(tmp_path, ci(roles=("Reader",)), "--check", "dev", WHAT_IF_ONLY="1")
    named = {p.split(" ")[2] for p in problems(run)}
    assert "Microsoft.Resources/deployments/whatIf/action" in named
    assert "Microsoft.DataFactory/factories/triggers/start/action" not in named  # a deployment-only action
    assert all(p.startswith("missing permission ") for p in problems(run))  # what-if needs no tool but az


def test_a_person_not_signed_in_is_told_to_sign_in(tmp_path: Path) -> None:
    run = run_deploy(tmp_path, FakeAzure.new(), "--check", "dev")
    assert problems(run) == ["not signed in: run az login (in CI, azure/login)"]


def test_creating_the_role_needs_role_definitions_write(tmp_path: Path) -> None:
    run = run_deploy(tmp_path, ci(), "--create-role", "dev")
    assert run.result.returncode == 1
    assert problems(run) == [
        f"missing permission Microsoft.Authorization/roleDefinitions/write on {GROUP_ID} (define the custom role "
        "'Company activity backfill starter (rg-company-activity-dev)'): granted by Owner or User Access Administrator"]
    assert changed(run) == []


def test_the_action_list_covers_every_resource_the_templates_create() -> None:
    assert all(len(row) == 4 and row[1] in ("what-if", "deploy") and row[2] and row[3] for row in rows())
    listed = {row[0].lower() for row in rows()}
    environment = {**SAMPLE_ENVIRONMENT, "SQL_ADMIN_PRINCIPAL_TYPE": "User"}
    resources, _ = plan(ROOT / "infra" / "env" / "dev.bicepparam", None, environment, {})
    created = {f"{r.type}/write".lower() for r in resources if not r.existing}
    assert created - listed == set()
    assert "microsoft.authorization/roledefinitions/write" not in listed  # an administrator's, not the deployer's
