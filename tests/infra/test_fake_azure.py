"""The fake Azure that infra/deploy.sh is tested against refuses what Azure refuses, with Azure's error text.

Each behaviour is one row of docs/azure-fidelity.md ("ARM, Bicep and the az CLI"); these tests pin the fake itself,
in process and fast, and tests/infra/test_day_one.py runs the runbook against it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.infra.checks import SAMPLE_ENVIRONMENT
from tests.support.infra.deploy_runs import GROUP, GROUP_ID, ci, fake_tool_server, fake_tools, laptop
from tests.support.infra.fake_azure import (
    ARM,
    CLIENT_IP,
    FEDERATED_TOKEN_LIFETIME_S,
    SP,
    SQL,
    SUBSCRIPTION_ID,
    USER,
    VAULT,
    AzureError,
    FakeAzure,
    plan,
    role_allows,
)
from tests.support.infra.fake_azure import BUILT_IN_ROLES as ROLES
from tests.support.infra.repo import ROOT

PARAMS = ROOT / "infra" / "env" / "dev.bicepparam"
ROLE_TEMPLATE = ROOT / "infra" / "admin" / "backfill-starter-role.bicep"
REPLAY_READER = SAMPLE_ENVIRONMENT["REPLAY_READER_PRINCIPALS"].split(":")[1]  # a group: the condition names it
DEPLOYER = {**SAMPLE_ENVIRONMENT, "SQL_ADMIN_OBJECT_ID": USER["id"], "SQL_ADMIN_PRINCIPAL_TYPE": "User"}


@pytest.mark.parametrize(
    ("role", "action", "allowed"),
    [
        ("Owner", "Microsoft.Authorization/roleDefinitions/write", True),
        ("Contributor", "Microsoft.Storage/storageAccounts/write", True),
        ("Contributor", "Microsoft.Authorization/roleAssignments/write", False),
        ("Contributor", "microsoft.authorization/roledefinitions/WRITE", False),  # matching ignores case
        ("Role Based Access Control Administrator", "Microsoft.Authorization/roleAssignments/write", True),
        ("Role Based Access Control Administrator", "Microsoft.Authorization/roleDefinitions/write", False),
        ("Role Based Access Control Administrator", "Microsoft.Storage/storageAccounts/read", True),
        ("User Access Administrator", "Microsoft.Authorization/roleDefinitions/write", True),
        ("User Access Administrator", "Microsoft.Storage/storageAccounts/write", False),
        ("Reader", "Microsoft.Web/sites/read", True),
        ("Reader", "Microsoft.Web/sites/write", False),
    ],
)
def test_built_in_roles_allow_their_documented_actions(role: str, action: str, allowed: bool) -> None:
    assert role_allows(ROLES[role], action) is allowed


def test_a_role_assignment_covers_its_scope_and_below_only() -> None:
    cloud = laptop()
    cloud.data["role_assignments"] = [{"principal": USER["id"], "role": "Contributor", "scope": GROUP_ID}]
    cloud.require("Microsoft.Web/sites/write", f"{GROUP_ID}/providers/Microsoft.Web/sites/func")
    with pytest.raises(AzureError, match=r"\(AuthorizationFailed\) The client 'dba@example.com' with object id "
                                         rf"'{USER['id']}' does not have authorization to perform action "
                                         r"'Microsoft.Resources/subscriptions/resourceGroups/write' over scope"):
        cloud.require("Microsoft.Resources/subscriptions/resourceGroups/write", SUBSCRIPTION_ID)


def test_the_permissions_api_lists_one_entry_per_role_assignment() -> None:
    cloud = ci()
    entries = cloud.permissions(GROUP_ID)
    assert [e["notActions"][:2] for e in entries] == [
        ["Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write"], [], []]
    # The CI roles sit on the resource group; on the subscription only the service tag reader (CI setup).
    assert cloud.permissions(SUBSCRIPTION_ID) == [{"actions": ["Microsoft.Network/locations/serviceTags/read"],
                                                   "notActions": [], "dataActions": [], "notDataActions": []}]


def planned(environment: dict[str, str] | None = None):
    resources, _ = plan(PARAMS, None, environment or DEPLOYER, {})
    return resources


def with_custom_role(cloud: FakeAzure) -> FakeAzure:
    """The administrator's one-time step: the resource group and the custom role of infra/admin/."""
    cloud.create_group(GROUP)
    resources, _ = plan(None, ROLE_TEMPLATE, {}, {})
    cloud.deploy(GROUP, resources, {}, "role", what_if=False)
    return cloud


def test_defining_a_role_needs_role_definitions_write_and_the_template_needs_the_role() -> None:
    cloud = ci(feed_principals=(REPLAY_READER,))
    resources, _ = plan(None, ROLE_TEMPLATE, {}, {})
    with pytest.raises(AzureError, match=r"does not have authorization to perform action "
                                         r"'Microsoft\.Authorization/roleDefinitions/write'"):
        cloud.deploy(GROUP, resources, {}, "role", what_if=False)
    with pytest.raises(AzureError, match=r"\(RoleDefinitionDoesNotExist\) The specified role definition with ID "
                                         r"'guid\(resourceGroup\(\)\.id, company-activity-backfill-starter\)' does "
                                         r"not exist"):
        cloud.deploy(GROUP, planned(), {}, "d", what_if=True)
    owner = with_custom_role(laptop())
    [role] = owner.data["custom_roles"].values()
    assert role["roleName"] == f"Company activity backfill starter ({GROUP})"
    assert len(role["permissions"]["actions"]) == 5  # start, read and query runs (docs/security.md)


def test_deploying_the_template_needs_write_on_every_resource_it_creates() -> None:
    cloud = with_custom_role(laptop())
    cloud.data["role_assignments"] = [{"principal": USER["id"], "role": "Contributor", "scope": GROUP_ID}]
    with pytest.raises(AzureError, match=r"'Microsoft\.Authorization/roleAssignments/write' over scope"):
        cloud.deploy(GROUP, planned(), {}, "d", what_if=False)
    assert cloud.data["resources"] == {}  # ARM validated before it created anything


def test_a_new_sql_server_needs_entra_only_and_an_existing_one_refuses_it_again() -> None:
    cloud = with_custom_role(laptop())
    resources = planned()
    server = next(r for r in resources if r.type == "Microsoft.Sql/servers")
    server.body["properties"]["administrators"] = None
    with pytest.raises(AzureError, match="InvalidParameterValue"):
        cloud.deploy(GROUP, resources, {}, "d", what_if=False)
    cloud.deploy(GROUP, planned(), {}, "d", what_if=False)  # created with administrators
    with pytest.raises(AzureError, match=r"\(AadOnlyAuthenticationIsEnabled\) Azure Active Directory Only "
                                         r"Authentication is enabled\. Please contact your system administrator\."):
        cloud.deploy(GROUP, planned(), {}, "again", what_if=False)
    cloud.deploy(GROUP, planned({**DEPLOYER, "SQL_SERVER_EXISTS": "true"}), {}, "again", what_if=False)


def test_a_firewall_rule_admits_its_address_five_minutes_after_the_deployment() -> None:
    cloud = with_custom_role(laptop())
    cloud.deploy(GROUP, planned(), {}, "d", what_if=False)
    with pytest.raises(AzureError, match=r"Client with IP address '203\.0\.113\.7' is not allowed to access"):
        cloud.connect_sql(CLIENT_IP)
    cloud.advance(5 * 60)
    cloud.connect_sql(CLIENT_IP)
    with pytest.raises(AzureError, match="not allowed"):
        cloud.connect_sql("198.51.100.1")


def test_an_oidc_sign_in_gets_new_tokens_for_five_minutes_only() -> None:
    cloud = ci()
    cloud.token(VAULT)  # within the federated token's lifetime: fine, and cached
    cloud.advance(FEDERATED_TOKEN_LIFETIME_S + 1)
    cloud.token(ARM)  # acquired at sign-in, still valid
    cloud.token(VAULT)  # cached
    with pytest.raises(AzureError, match=r"AADSTS700024: Client assertion is not within its valid time range\. "
                                         r"Current time: 2026-12-01T02:05:01\.0000000Z, assertion valid from "
                                         r"2026-12-01T02:00:00\.0000000Z, expiry time of assertion "
                                         r"2026-12-01T02:05:00\.0000000Z"):
        cloud.token(SQL)
    cloud.sign_in_federated(cloud.federated_token())  # what deploy.sh does: a fresh token, a new sign-in
    cloud.token(SQL)
    with pytest.raises(AzureError, match="AADSTS700024"):
        expired = FakeAzure.new()
        token = expired.federated_token()
        expired.advance(FEDERATED_TOKEN_LIFETIME_S + 60)
        expired.sign_in_federated(token)
    assert cloud.caller["id"] == SP["id"]


def test_a_person_signed_in_interactively_gets_tokens_at_any_time() -> None:
    cloud = laptop()
    cloud.advance(10 * 3600)
    cloud.token(SQL)
    cloud.token(VAULT)


@pytest.mark.cli
def test_each_fake_tool_call_sees_only_what_its_own_process_would(tmp_path: Path) -> None:
    """The fake tools share one server per run: a call's environment, directory, `<(...)` file and stdin are its
    own, and nothing one call set is seen by the next (as if each were a process of its own)."""
    folder = tmp_path / "run"
    folder.mkdir()
    laptop().save(folder / "cloud.json")
    log = folder / "calls.jsonl"
    script = (
        "PIPELINE_START_DATE=2025-01-02 az version --output none\n"
        "az version --output none\n"
        "(cd / && az keyvault secret set --vault-name kvabc --name usage-api-key --file <(printf 's3cr3t') "
        "--output none || true)\n"
        "printf 'Authorization: Bearer h.eyJhdWQiOiJ4In0.s\\n' | curl --fail-with-body --silent --show-error "
        "--header @- https://funcabc.azurewebsites.net/api/ingestions?days=1 || echo \"curl exit $?\"\n"
    )
    env = {"PATH": f"{fake_tools(folder)}:/usr/bin:/bin", "HOME": str(folder), "FAKE_AZ_LOG": str(log),
           "FAKE_AZ_STATE": str(folder / "cloud.json")}
    with fake_tool_server() as socket_path:
        done = subprocess.run(["bash", "-c", script], cwd=folder, env={**env, "FAKE_AZ_SOCKET": socket_path},
                              capture_output=True, text=True, check=False, timeout=60)
    calls = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [c["tool"] for c in calls] == ["az", "az", "az", "curl"], done.stderr
    assert calls[0]["env"] == {"PIPELINE_START_DATE": "2025-01-02"} and calls[1]["env"] == {}
    assert calls[2]["file"] == "s3cr3t"
    assert "curl exit 22" in done.stdout and "401" in done.stderr  # the header came from stdin, and was refused
