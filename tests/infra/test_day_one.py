"""Day one in Azure, offline: a first deployment and a redeployment go through against the fake Azure, and each old
behaviour that would have stopped them fails there with the error Azure documents for it.

The old behaviours run from a copy of the repository with the fix taken out again (deploy_runs.repository_copy),
so each test below shows both sides: the fixed runbook passes, the unfixed one meets the documented error.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.infra.deploy_runs import (
    CI_ROLES,
    GROUP_ID,
    DeployRun,
    ci,
    ci_workflow,
    documented_condition,
    laptop,
    repository_copy,
    run_deploy,
    service_principal_with_secret,
)
from tests.support.infra.fake_azure import SP, FakeAzure
from tests.support.infra.repo import ROOT

pytestmark = [pytest.mark.cli, pytest.mark.slow]


def without(root: Path, relative: str, pattern: str, replacement: str = "", times: int = 1) -> None:
    """Take a fix out of the copy: replace the `times` matches of `pattern` (a regex) in `relative`."""
    path = root / relative
    text, count = re.subn(pattern, replacement, path.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert count == times, f"{relative}: the fix to take out was not found {times} time(s) ({pattern!r})"
    path.write_text(text, encoding="utf-8")


def deploy_twice(folder: Path, root: Path | None = None, **extra: str) -> tuple[DeployRun, DeployRun]:
    kwargs = {"root": root} if root is not None else {}
    first = run_deploy(folder, laptop(), **kwargs, **extra)
    return first, run_deploy(folder, None, **kwargs, **extra)


def test_from_a_laptop_a_first_deployment_and_a_redeployment_go_through(tmp_path: Path) -> None:
    first, again = deploy_twice(tmp_path)
    assert first.result.returncode == 0, first.output
    assert again.result.returncode == 0, again.output
    server = again.cloud.data["resources"]["sqlServer"]
    assert server["admin_sid"] == "11111111-2222-3333-4444-555555555555"


def test_resending_entra_only_to_the_existing_sql_server_fails_the_redeployment(tmp_path: Path) -> None:
    root = repository_copy(tmp_path)
    without(root, "infra/modules/sql.bicep", r"administrators: serverExists \? null : ", "administrators: ")
    first, again = deploy_twice(tmp_path, root)
    assert first.result.returncode == 0, first.output  # creating the server with it is fine
    assert again.result.returncode != 0
    assert "(AadOnlyAuthenticationIsEnabled) Azure Active Directory Only Authentication is enabled." in again.output
    assert all("trigger start" not in c for c in again.commands())


def test_connecting_before_the_firewall_rule_takes_effect_fails_with_40615(tmp_path: Path) -> None:
    root = repository_copy(tmp_path)
    without(root, "infra/deploy.sh", r"# A new or changed server firewall rule.*?\ndone\n")
    run = run_deploy(tmp_path, laptop(), root=root)
    assert run.result.returncode != 0
    assert "Client with IP address '203.0.113.7' is not allowed to access the server" in run.output
    assert "It may take up to five minutes for this change to take effect" in run.output


# -- who may deploy: the custom role is an administrator's one-time step -------------------------------------------
def created_anything(run: DeployRun) -> list[str]:
    changing = ("group create", "deployment group create", "role assignment create", "trigger stop", "secret set")
    return [c for c in run.commands() if any(f"az {verb}" in c for verb in changing)]


def test_a_deployer_without_role_definitions_write_deploys_with_the_role_an_administrator_created(
        tmp_path: Path) -> None:
    admin = run_deploy(tmp_path, laptop(), "--create-role", "dev")
    assert admin.result.returncode == 0, admin.output
    assert created_anything(admin) == [
        "az group create --name rg-company-activity-dev --location westeurope --output none",
        created_anything(admin)[1]]
    assert "--template-file infra/admin/backfill-starter-role.bicep" in created_anything(admin)[1]
    deployer = service_principal_with_secret(CI_ROLES)  # Contributor + Role Based Access Control Administrator
    deployer.data["custom_roles"].update(admin.cloud.data["custom_roles"])
    first = run_deploy(tmp_path, deployer)
    assert first.result.returncode == 0, first.output
    again = run_deploy(tmp_path, None)
    assert again.result.returncode == 0, again.output
    assert all("backfill-starter-role.bicep" not in c for c in first.commands() + again.commands())


def test_without_the_administrators_step_a_deployer_who_may_not_define_roles_stops_before_any_change(
        tmp_path: Path) -> None:
    run = run_deploy(tmp_path, service_principal_with_secret(CI_ROLES))
    assert run.result.returncode != 0
    assert "the custom role 'Company activity backfill starter (rg-company-activity-dev)' does not exist" in run.output
    assert "an administrator runs 'infra/deploy.sh --create-role dev' once" in run.output
    assert created_anything(run) == []


def test_an_owner_deploying_from_a_laptop_defines_the_role_itself(tmp_path: Path) -> None:
    run = run_deploy(tmp_path, laptop())
    assert run.result.returncode == 0, run.output
    assert run.index_of(r"--template-file infra/admin/backfill-starter-role\.bicep") < run.index_of(
        r"^az deployment group create .*bicepparam")
    assert list(run.cloud.data["custom_roles"]) == ["guid(resourceGroup().id, company-activity-backfill-starter)"]


def test_defining_the_role_in_the_main_template_fails_for_the_ci_identity(tmp_path: Path) -> None:
    # The old module defined the role in the deployment, which the CI setup's roles cannot do.
    root = repository_copy(tmp_path)
    admin_template = (root / "infra" / "admin" / "backfill-starter-role.bicep").read_text(encoding="utf-8")
    definition = admin_template[admin_template.index("resource backfillStarter"):admin_template.index("\n}\n") + 3]
    without(root, "infra/modules/backfill-load-role.bicep", r"resource backfillStarter .*? existing = \{.*?\n\}\n",
            definition.replace("\\", "\\\\"))
    without(root, "infra/deploy.sh", r"if \[\[ \$WHAT_IF_ONLY != 1 && \$ROLE_EXISTS != true.*?\n *fi\n")
    without(root, "infra/deploy.sh", r"  \[\[ \$ROLE_CURRENT == true \]\] \|\| create_role[^\n]*\n")
    run = run_deploy(tmp_path, service_principal_with_secret(CI_ROLES), root=root)
    assert run.result.returncode != 0
    assert ("(AuthorizationFailed) The client 'aaaaaaaa-1111-2222-3333-444444444444' with object id "
            "'99999999-8888-7777-6666-555555555555' does not have authorization to perform action "
            "'Microsoft.Authorization/roleDefinitions/write'") in run.output


# -- CI: GitHub Actions signs in with an OIDC token that lives five minutes -----------------------------------------
def administrator_then_ci(folder: Path, root: Path | None = None) -> DeployRun:
    """The documented CI setup: an administrator's --create-role once, then the service principal after
    azure/login; returns the administrator's run. The CI cloud continues from it."""
    kwargs = {"root": root} if root is not None else {}
    admin = run_deploy(folder, laptop(), "--create-role", "dev", **kwargs)
    assert admin.result.returncode == 0, admin.output
    cloud = ci()
    cloud.data["custom_roles"].update(admin.cloud.data["custom_roles"])
    cloud.save(folder / "cloud.json")
    return admin


def test_from_ci_a_first_deployment_and_a_redeployment_go_through(tmp_path: Path) -> None:
    administrator_then_ci(tmp_path)
    first = run_deploy(tmp_path, None, without=("func",), **ci_workflow(tmp_path))
    assert first.result.returncode == 0, first.output
    # A new azure/login for the next workflow run: the redeployment.
    cloud = FakeAzure.load(tmp_path / "cloud.json")
    cloud.sign_in_federated(cloud.federated_token())
    again = run_deploy(tmp_path, cloud, without=("func",), **ci_workflow(tmp_path))
    assert again.result.returncode == 0, again.output
    for run in (first, again):
        assert run.errors() == [e for e in run.errors() if "is not allowed to access the server" in e]
        # Before the secrets step, SQL, the publish and the smoke test's API token: a fresh token from the runner,
        # then a new sign-in.
        logins = [i for i, c in enumerate(run.calls) if c["argv"][:1] == ["login"]]
        assert len(logins) == 4
        assert all(run.calls[i - 1]["tool"] == "curl" for i in logins)
        steps = [run.index_of(pattern) for pattern in (
            r"^az deployment group create .*bicepparam", r"^company-activity sql deploy",
            r"^az functionapp deployment source config-zip", r"^az account get-access-token --scope api://")]
        assert steps[0] < logins[0] < logins[1] < steps[1] < logins[2] < steps[2] < logins[3] < steps[3]
        assert not [c for c in run.commands() if re.match(r"az (keyvault secret set|role assignment create)", c)]
    assert "--federated-token" in " ".join(run.commands()) and "runner-request-token" not in first.output


def test_without_signing_in_again_the_ci_deployment_fails_with_aadsts700024(tmp_path: Path) -> None:
    root = repository_copy(tmp_path)
    without(root, "infra/deploy.sh", r"\n *relogin_if_federated( *#[^\n]*)?\n", "\n", times=4)
    administrator_then_ci(tmp_path, root)
    run = run_deploy(tmp_path, None, root=root, without=("func",), **ci_workflow(tmp_path))
    assert run.result.returncode != 0
    assert "AADSTS700024: Client assertion is not within its valid time range." in run.output
    assert "cannot connect to sqlabc.database.windows.net" in run.output


# -- the SQL firewall's Data Factory ranges come from a subscription-scope API --------------------------------------
def test_without_the_service_tag_reader_role_ci_stops_in_the_preflight(tmp_path: Path) -> None:
    # The CI roles sit on the resource group; the service tag list is read at the subscription, where a caller
    # without serviceTags/read gets an empty list (Azure/azure-cli#12689, #29041), not an error.
    admin = run_deploy(tmp_path, laptop(), "--create-role", "dev")
    cloud = ci(service_tags=False)
    cloud.data["custom_roles"].update(admin.cloud.data["custom_roles"])
    run = run_deploy(tmp_path, cloud, without=("func",), **ci_workflow(tmp_path))
    assert run.result.returncode != 0
    assert ("missing permission Microsoft.Network/locations/serviceTags/read on "
            "/subscriptions/00000000-aaaa-bbbb-cccc-000000000001") in run.output
    assert created_anything(run) == []


def test_without_that_preflight_check_the_ci_deployment_finds_no_data_factory_ranges(tmp_path: Path) -> None:
    root = repository_copy(tmp_path)
    without(root, "infra/deploy.sh", r"    if \[\[ -z \$\{DATA_FACTORY_IP_RANGES:-\} \]\] &&\n.*?\n    fi\n")
    admin = run_deploy(tmp_path, laptop(), "--create-role", "dev", root=root)
    cloud = ci(service_tags=False)
    cloud.data["custom_roles"].update(admin.cloud.data["custom_roles"])
    run = run_deploy(tmp_path, cloud, root=root, without=("func",), **ci_workflow(tmp_path))
    assert run.result.returncode != 0
    assert "no DataFactory service tag ranges for region westeurope" in run.output


# -- a custom role defined before it gained an action --------------------------------------------------------------
def older_role(cloud: FakeAzure) -> FakeAzure:
    """The custom role as an administrator defined it before querypipelineruns was added (issue 22's 409)."""
    [role] = [r for r in cloud.data["custom_roles"].values() if r["roleName"].startswith("Company activity backfill")]
    role["permissions"]["actions"] = [a for a in role["permissions"]["actions"] if "querypipelineruns" not in a]
    return cloud


def test_a_deployer_who_may_not_update_an_outdated_role_is_told_which_actions_it_lacks(tmp_path: Path) -> None:
    admin = run_deploy(tmp_path, laptop(), "--create-role", "dev")
    deployer = service_principal_with_secret(CI_ROLES)
    deployer.data["custom_roles"].update(admin.cloud.data["custom_roles"])
    run = run_deploy(tmp_path, older_role(deployer))
    assert run.result.returncode != 0
    assert ("lacks Microsoft.DataFactory/factories/querypipelineruns/action "
            "Microsoft.DataFactory/factories/querypipelineruns/read, which the Function App calls") in run.output
    assert "an administrator runs 'infra/deploy.sh --create-role dev' again" in run.output
    assert created_anything(run) == []


def test_an_owner_updates_an_outdated_role_in_place(tmp_path: Path) -> None:
    first = run_deploy(tmp_path, laptop())
    assert first.result.returncode == 0, first.output
    again = run_deploy(tmp_path, older_role(FakeAzure.load(tmp_path / "cloud.json")))
    assert again.result.returncode == 0, again.output
    assert again.index_of(r"--template-file infra/admin/backfill-starter-role\.bicep") < again.index_of(
        r"^az deployment group create .*bicepparam")
    [role] = [r for r in again.cloud.data["custom_roles"].values() if r["roleName"].startswith("Company activity")]
    assert "Microsoft.DataFactory/factories/querypipelineruns/action" in role["permissions"]["actions"]


# -- the deploy identity's condition (issue 22) and the CRM feed (issue 17) ----------------------------------------
CRM_WRITER_GROUP = "00000000-0000-0000-0000-0000000000c2"
REPLAY_READER_USER = "00000000-0000-0000-0000-0000000000a2"
FEED = {"CRM_WRITER_PRINCIPALS": f"ServicePrincipal:00000000-0000-0000-0000-0000000000c1,Group:{CRM_WRITER_GROUP}",
        "REPLAY_READER_PRINCIPALS": f"User:{REPLAY_READER_USER}"}


def ci_with_condition(folder: Path, feed_principals: tuple[str, ...]) -> None:
    admin = run_deploy(folder, laptop(), "--create-role", "dev")
    assert admin.result.returncode == 0, admin.output
    cloud = ci(feed_principals=feed_principals)
    cloud.data["custom_roles"].update(admin.cloud.data["custom_roles"])
    cloud.save(folder / "cloud.json")


def test_ci_under_the_documented_condition_assigns_the_crm_feed_it_names(tmp_path: Path) -> None:
    # The condition's role lists are read from docs/deploy.md: every role the templates assign must be in them.
    ci_with_condition(tmp_path, (CRM_WRITER_GROUP, REPLAY_READER_USER))
    run = run_deploy(tmp_path, None, without=("func",), **ci_workflow(tmp_path), **FEED)
    assert run.result.returncode == 0, run.output
    assert "ABAC condition not fulfilled" not in run.output


def test_ci_under_the_condition_cannot_give_an_unnamed_person_the_crm_feed(tmp_path: Path) -> None:
    ci_with_condition(tmp_path, (CRM_WRITER_GROUP,))  # the replay reader is not in FEED_PRINCIPALS
    run = run_deploy(tmp_path, None, without=("func",), **ci_workflow(tmp_path), **FEED)
    assert run.result.returncode != 0
    assert ("does not have authorization or an ABAC condition not fulfilled to perform action "
            "'Microsoft.Authorization/roleAssignments/write'") in run.output
    assert all("trigger start" not in c for c in run.commands())


def test_the_condition_without_the_crm_writers_role_refuses_the_crm_feed(tmp_path: Path) -> None:
    # Issue 22's list alone (before the merge with the CRM feed) left out Storage Blob Data Contributor.
    root = repository_copy(tmp_path)
    runbook = root / "docs" / "deploy.md"
    runbook.parent.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    runbook.write_text(text.replace("ba92f5b4-2d11-453d-a403-e96b0029c9fe, ", "", 1), encoding="utf-8")
    admin = run_deploy(tmp_path, laptop(), "--create-role", "dev")
    cloud = ci()
    cloud.data["role_assignments"] = [a for a in cloud.data["role_assignments"] if "condition" not in a]
    cloud.assign(SP["id"], "Role Based Access Control Administrator", GROUP_ID, documented_condition(runbook=runbook))
    cloud.data["custom_roles"].update(admin.cloud.data["custom_roles"])
    run = run_deploy(tmp_path, cloud, without=("func",), **ci_workflow(tmp_path),
                     CRM_WRITER_PRINCIPALS="ServicePrincipal:00000000-0000-0000-0000-0000000000c1")
    assert run.result.returncode != 0
    assert "ABAC condition not fulfilled" in run.output
