"""Security assertions where checkov is blind: shared keys, Key Vault RBAC mode, role assignments,
conditional resources, values passed into modules, firewall rules from parameter files, diagnostics."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.infra import checks
from tests.support.infra.repo import ROOT

ENVIRONMENTS = [pytest.param(p, id=p.stem) for p in checks.environments(ROOT)]


@pytest.mark.parametrize("params_path", ENVIRONMENTS)
def test_templates_meet_the_security_baseline(params_path: Path) -> None:
    assert checks.security(checks.load(params_path)) == []


@pytest.mark.parametrize("params_path", ENVIRONMENTS)
def test_a_redeployment_keeps_entra_only_without_sending_it_to_the_server(params_path: Path) -> None:
    assert checks.sql_update_security(params_path) == []


@pytest.mark.parametrize("params_path", ENVIRONMENTS)
def test_without_a_deployer_address_no_firewall_rule_is_added(params_path: Path) -> None:
    environment = {k: v for k, v in checks.SAMPLE_ENVIRONMENT.items() if k != "DEPLOYER_IP"}
    deployment = checks.load(params_path, environment)
    assert deployment.evaluator.param("sqlFirewallRules") == []
    assert checks.sql_security(deployment) == []


@pytest.mark.parametrize("params_path", ENVIRONMENTS)
def test_sql_admits_data_factory_by_its_ranges_and_not_every_azure_tenant(params_path: Path) -> None:
    deployment = checks.load(params_path)
    assert deployment.evaluator.param("sqlAllowAzureServices") is False
    file, evaluator = deployment.module("sql.bicep")
    rules = {r["name"]: r["properties"] for d in file.resources_of_type("Microsoft.Sql/servers/firewallRules")
             if d.condition is None for r in evaluator.instances(d)}
    assert rules["data-factory-0"] == {"startIpAddress": "20.38.80.192", "endIpAddress": "20.38.80.255"}
    assert "AllowAllWindowsAzureIps" not in rules


def test_role_assignments_are_exactly_the_least_privilege_set() -> None:
    found, problems = checks.role_assignments(checks.load(ROOT / "infra" / "env" / "dev.bicepparam"))
    assert problems == []
    assert {(who, role, scope) for who, role, scope, _ in found} == checks.EXPECTED_ROLES
    assert len(found) == len(checks.EXPECTED_ROLES)


def test_each_crm_writer_and_replay_reader_gets_its_role_on_its_containers_only() -> None:
    environment = {**checks.SAMPLE_ENVIRONMENT,
                   "CRM_WRITER_PRINCIPALS": "ServicePrincipal:00000000-0000-0000-0000-0000000000c1,"
                                            "Group:00000000-0000-0000-0000-0000000000c2",
                   "REPLAY_READER_PRINCIPALS": "User:00000000-0000-0000-0000-0000000000a2"}
    found, problems = checks.role_assignments(checks.load(ROOT / "infra" / "env" / "dev.bicepparam", environment))
    assert problems == []
    named = sorted((who, role, scope) for who, role, scope, _ in found if who in ("crm writer", "replay reader"))
    assert named == [
        ("crm writer", "Storage Blob Data Contributor", "container crm"),
        ("crm writer", "Storage Blob Data Contributor", "container crm"),
        ("replay reader", "Storage Blob Data Reader", "container bronze"),
        ("replay reader", "Storage Blob Data Reader", "container crm"),
    ]
    empty = {**checks.SAMPLE_ENVIRONMENT, "CRM_WRITER_PRINCIPALS": "", "REPLAY_READER_PRINCIPALS": ""}
    found, _ = checks.role_assignments(checks.load(ROOT / "infra" / "env" / "dev.bicepparam", empty))
    assert not [f for f in found if f[0] in ("crm writer", "replay reader")]


def in_dev(
    check: Callable[[checks.Deployment], list[str]], environment: dict[str, str] | None = None
) -> Callable[[Path], list[str]]:
    def run(root: Path) -> list[str]:
        try:
            deployment = checks.load(root / "infra" / "env" / "dev.bicepparam", environment)
        except checks.BicepError as exc:
            return [str(exc)]
        return check(deployment)

    return run


ST, KV, SQL, FN, RA = (
    f"infra/modules/{n}.bicep" for n in ("storage", "key-vault", "sql", "function-app", "role-assignments")
)
MAIN, DEV = "infra/main.bicep", "infra/env/dev.bicepparam"
# A module parameter that main.bicep sets: checkov only ever sees the module's own default.
SHARED_KEY_VIA_MODULE = {
    ST: [
        ("    allowSharedKeyAccess: false", "    allowSharedKeyAccess: allowSharedKeys"),
        (
            "param tags object = {}",
            "param tags object = {}\n\n@description('Optional. Keys.')\nparam allowSharedKeys bool = false",
        ),
    ],
    MAIN: ("    skuName: storageSkuName\n", "    skuName: storageSkuName\n    allowSharedKeys: true\n"),
}


@pytest.mark.parametrize(
    ("edits", "check", "expected"),
    [
        pytest.param(
            {ST: ("allowSharedKeyAccess: false", "allowSharedKeyAccess: true")},
            in_dev(checks.storage_security),
            "allowSharedKeyAccess must be False",
            id="shared-key",
        ),
        pytest.param(
            SHARED_KEY_VIA_MODULE,
            in_dev(checks.storage_security),
            "allowSharedKeyAccess must be False",
            id="shared-key-passed-into-module",
        ),
        pytest.param(
            {ST: ("allowBlobPublicAccess: false", "allowBlobPublicAccess: true")},
            in_dev(checks.storage_security),
            "allowBlobPublicAccess must be False",
            id="public-blobs",
        ),
        pytest.param(
            {ST: ("minimumTlsVersion: 'TLS1_2'", "minimumTlsVersion: 'TLS1_0'")},
            in_dev(checks.storage_security),
            "minimumTlsVersion must be 'TLS1_2'",
            id="storage-tls",
        ),
        pytest.param(
            {
                MAIN: ("var backfillQueueName = 'usage-backfill'", "var backfillQueueName = 'backfill'"),
                ST: ("  name: '${backfillQueueName}-poison'", "  name: 'usage-backfill-poison'"),
            },
            in_dev(checks.storage_security),
            "queue backfill-poison is not created",
            id="poison-queue",
        ),
        pytest.param(
            {
                ST: (
                    "@description('Name of the storage account.')",
                    """resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'expire-bronze'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                'bronze/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: 365
                }
              }
            }
          }
        }
      ]
    }
  }
}

@description('Name of the storage account.')""",
                )
            },
            in_dev(checks.storage_security),
            "lifecycle rule deletes bronze data",
            id="bronze-expiry",
        ),
        pytest.param(
            {KV: ("enableRbacAuthorization: true", "enableRbacAuthorization: false")},
            in_dev(checks.key_vault_security),
            "enableRbacAuthorization must be True",
            id="key-vault-rbac",
        ),
        pytest.param(
            {KV: ("enablePurgeProtection: true", "enablePurgeProtection: false")},
            in_dev(checks.key_vault_security),
            "enablePurgeProtection must be True",
            id="purge-protection",
        ),
        pytest.param(
            {KV: ("    publicNetworkAccess: publicNetworkAccess\n", "    publicNetworkAccess: 'On'\n")},
            in_dev(checks.key_vault_security),
            "publicNetworkAccess must be Enabled or Disabled",
            id="key-vault-network",
        ),
        pytest.param(
            {
                KV: (
                    "resource diagnostics",
                    "resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {\n"
                    "  parent: vault\n  name: 'usage-api-key'\n  properties: {\n    value: 'x'\n  }\n}\n\n"
                    "resource diagnostics",
                )
            },
            in_dev(checks.key_vault_security),
            "secrets are set by the runbook",
            id="secret-in-template",
        ),
        pytest.param(
            {SQL: ("azureADOnlyAuthentication: true", "azureADOnlyAuthentication: false")},
            in_dev(checks.sql_security),
            "azureADOnlyAuthentication must be True",
            id="sql-logins",
        ),
        pytest.param(
            {SQL: ("serverExists ? null : createAdministrators", "createAdministrators")},
            lambda root: checks.sql_update_security(root / "infra" / "env" / "dev.bicepparam"),
            "administrators.azureADOnlyAuthentication must not be sent to an existing server",
            id="entra-only-resent-to-existing-server",
        ),
        pytest.param(
            {SQL: ("  properties: {\n    azureADOnlyAuthentication: true\n  }",
                   "  properties: {\n    azureADOnlyAuthentication: false\n  }")},
            in_dev(checks.sql_security),
            "azureADOnlyAuthentications.azureADOnlyAuthentication must be True",
            id="entra-only-child-off",
        ),
        pytest.param(
            {SQL: ("    login: adminLogin\n    sid: adminObjectId\n    tenantId",
                   "    login: adminLogin\n    sid: 'someone-else'\n    tenantId")},
            in_dev(checks.sql_security),
            "administrators child sid must be",
            id="entra-admin-child-other-sid",
        ),
        pytest.param(
            {SQL: ("    minimalTlsVersion: '1.2'\n", "    minimalTlsVersion: '1.2'\n    administratorLogin: 'sa'\n")},
            in_dev(checks.sql_security),
            "administratorLogin would create a SQL login",
            id="sql-admin-login",
        ),
        pytest.param(
            {SQL: ("'Latin1_General_100_CI_AS_SC_UTF8'", "'SQL_Latin1_General_CP1_CI_AS'")},
            in_dev(checks.sql_security),
            "collation must be 'Latin1_General_100_CI_AS_SC_UTF8'",
            id="collation",
        ),
        pytest.param(
            {DEV: ("    endIpAddress: deployerIp\n", "    endIpAddress: '255.255.255.255'\n")},
            in_dev(checks.sql_security, {**checks.SAMPLE_ENVIRONMENT, "DEPLOYER_IP": "0.0.0.0"}),
            "opens 0.0.0.0-255.255.255.255 to the internet",
            id="open-firewall",
        ),
        pytest.param(
            {DEV: ("param sqlAllowAzureServices = false", "param sqlAllowAzureServices = true")},
            in_dev(checks.sql_security),
            "AllowAllWindowsAzureIps admits every Azure tenant",
            id="sql-all-azure",
        ),
        pytest.param(
            {FN: ("version: '3.11'", "version: '3.10'")},
            in_dev(checks.function_security),
            "functionAppConfig.runtime must be",
            id="python-version",
        ),
        pytest.param(
            {FN: ("            type: 'SystemAssignedIdentity'", "            type: 'StorageAccountConnectionString'")},
            in_dev(checks.function_security),
            "deployment storage authentication must be",
            id="deploy-with-key",
        ),
        pytest.param(
            {FN: ("    name: 'FC1'", "    name: 'Y1'")},
            in_dev(checks.function_security),
            "plan sku must be",
            id="not-flex",
        ),
        pytest.param(
            {"infra/modules/monitoring.bicep": ("DisableLocalAuth: true", "DisableLocalAuth: false")},
            in_dev(checks.function_security),
            "DisableLocalAuth must be True",
            id="insights-local-auth",
        ),
        pytest.param(
            {RA: ("'3913510d-42f4-4e42-8a64-420c390055eb'", "'8e3af657-a8ff-443c-a75c-2fe8c4bcb635'")},
            in_dev(checks.least_privilege),
            "unknown role 8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
            id="owner-role",
        ),
        pytest.param(
            {
                RA: (
                    "resource factorySecretsUser",
                    "resource extraRole 'Microsoft.Authorization/roleAssignments@"
                    "2022-04-01' = {\n  name: guid(storage.id, factoryPrincipalId, storageBlobDataOwner)\n"
                    "  scope: storage\n  properties: {\n    roleDefinitionId: storageBlobDataOwner\n"
                    "    principalId: factoryPrincipalId\n    principalType: 'ServicePrincipal'\n  }\n}\n\n"
                    "resource factorySecretsUser",
                )
            },
            in_dev(checks.least_privilege),
            "unexpected role assignment: factory gets Storage Blob Data Owner on storage account",
            id="extra-role",
        ),
        pytest.param(
            {
                RA: (
                    "  name: guid(vault.id, factoryPrincipalId, keyVaultSecretsUser)",
                    "  name: guid(factoryPrincipalId, keyVaultSecretsUser)",
                )
            },
            in_dev(checks.least_privilege),
            "name must be guid(vault.id, factoryPrincipalId, keyVaultSecretsUser)",
            id="role-assignment-name",
        ),
        pytest.param(
            {
                RA: (
                    "    principalId: factoryPrincipalId\n    principalType: 'ServicePrincipal'\n  }\n}\n",
                    "    principalId: factoryPrincipalId\n  }\n}\n",
                )
            },
            in_dev(checks.least_privilege),
            "principalType must be 'ServicePrincipal'",
            id="principal-type",
        ),
        pytest.param(
            {RA: ("// Storage Blob Data Reader: Data Factory copies", "// Data Factory copies")},
            in_dev(checks.least_privilege),
            "must name the role (Storage Blob Data Reader)",
            id="role-comment",
        ),
        pytest.param(
            {
                RA: (
                    "    principalId: functionPrincipalId\n",
                    "    principalId: '11111111-1111-1111-1111-111111111111'\n",
                )
            },
            in_dev(checks.least_privilege),
            "only the Function App and Data Factory identities, and the principals of",
            id="human-principal",
        ),
        pytest.param(
            {RA: ("  scope: crmContainer\n  properties: {\n    roleDefinitionId: storageBlobDataContributor",
                  "  scope: storage\n  properties: {\n    roleDefinitionId: storageBlobDataContributor")},
            in_dev(checks.least_privilege),
            "unexpected role assignment: crm writer gets Storage Blob Data Contributor on storage account",
            id="crm-writer-on-the-account",
        ),
        pytest.param(
            {RA: ("    principalType: split(writer, ':')[0]\n", "    principalType: 'Device'\n")},
            in_dev(checks.least_privilege),
            "principalType must be one of ('User', 'Group', 'ServicePrincipal')",
            id="crm-writer-principal-type",
        ),
        pytest.param(
            {
                MAIN: (
                    "    factoryPrincipalId: dataFactory.outputs.principalId",
                    "    factoryPrincipalId: functionApp.outputs.principalId",
                )
            },
            in_dev(checks.least_privilege),
            "factoryPrincipalId must be dataFactory.outputs.principalId",
            id="principal-swapped-in-main",
        ),
        pytest.param(
            {
                KV: (
                    "resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {",
                    "resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (false) {",
                )
            },
            in_dev(checks.conditional_resources),
            "resource diagnostics is conditional",
            id="conditional",
        ),
        pytest.param(
            {
                RA: (
                    "resource functionBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {",
                    "resource functionBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (true) {",
                )
            },
            in_dev(checks.least_privilege),
            "role assignments must not be conditional",
            id="conditional-role",
        ),
        pytest.param(
            {"infra/admin/backfill-starter-role.bicep": ("'Microsoft.DataFactory/factories/pipelineruns/read'",
                                                         "'Microsoft.DataFactory/factories/*'")},
            in_dev(checks.least_privilege),
            "custom role backfillStarter must grant exactly",
            id="backfill-role-wildcard",
        ),
        pytest.param(
            {"infra/modules/backfill-load-role.bicep": ("roleDefinitions@2022-04-01' existing = {",
                                                        "roleDefinitions@2022-04-01' = {")},
            in_dev(checks.role_definitions_stay_with_an_administrator),
            "the deployment defines role backfillStarter",
            id="backfill-role-defined-by-the-deployment",
        ),
        pytest.param(
            {"infra/admin/backfill-starter-role.bicep": ("'company-activity-backfill-starter'",
                                                         "'company-activity-backfill'")},
            in_dev(checks.least_privilege),
            "custom role backfillStarter must be looked up by the name",
            id="backfill-role-other-name",
        ),
        pytest.param(
            {"infra/modules/backfill-load-role.bicep": ("  scope: factory\n", "  scope: resourceGroup()\n")},
            in_dev(checks.least_privilege),
            "missing role assignment: function needs custom role backfillStarter on data factory",
            id="backfill-role-scope",
        ),
        pytest.param(
            {KV: ("        categoryGroup: 'allLogs'\n", "        category: 'AuditEvent'\n")},
            in_dev(checks.diagnostics),
            "vault must send categoryGroup allLogs",
            id="diagnostics-logs",
        ),
        pytest.param(
            {"infra/modules/data-factory.bicep": ("        category: 'AllMetrics'", "        category: 'Other'")},
            in_dev(checks.diagnostics),
            "factory must send metrics AllMetrics",
            id="diagnostics-metrics",
        ),
        pytest.param(
            {FN: ("  scope: site\n", "  scope: plan\n")},
            in_dev(checks.diagnostics),
            "Microsoft.Web/sites site has no diagnostic setting",
            id="diagnostics-missing",
        ),
    ],
)
def test_each_security_check_catches_its_mutation(
    mutated: Callable[..., Path], edits: dict[str, tuple[str, str]], check: Callable[[Path], list[str]], expected: str
) -> None:
    problems = check(mutated(edits))
    assert any(expected in p for p in problems), problems


def test_the_functions_403_hint_names_the_role_the_administrator_defines() -> None:
    from company_activity.orchestration.data_factory import _meaning

    template = (ROOT / "infra" / "admin" / "backfill-starter-role.bicep").read_text(encoding="utf-8")
    role_name = template.split("roleName: '", 1)[1].split("'", 1)[0]  # 'Company activity backfill starter (${...})'
    assert role_name.split("(")[0] + "(<resource group>)" in _meaning(403, "starting the backfill")
def test_the_deployer_condition_lets_it_assign_exactly_the_roles_the_templates_assign() -> None:
    """Issue 22, finding 2: the CI deploy identity's Role Based Access Control Administrator assignment carries
    a condition (docs/deploy.md, CI setup) listing the built-in roles the templates assign, and no other."""
    runbook = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    [listed] = re.findall(r'^\s*ROLES="([^"]+)"', runbook, re.MULTILINE)
    guids = {g.strip() for g in listed.split(",")}
    assert "$BACKFILL_ROLE_ID" in guids
    assigned = {who_role[1] for who_role in checks.EXPECTED_ROLES if not who_role[1].startswith("custom role")}
    assert {checks.ROLE_NAMES[g] for g in guids - {"$BACKFILL_ROLE_ID"}} == assigned
    [condition] = re.findall(r'^\s*CONDITION="([^"]+)"', runbook, re.MULTILINE)
    for source in ("@Request", "@Resource"):  # write is checked on the request, delete on the assignment
        assert f"{source}[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals " \
               "{$ROLES}" in condition
    assert "PrincipalId] ForAnyOfAllValues:GuidNotEquals {$SP_ID}" in condition
    assert '--condition "$CONDITION" --condition-version 2.0' in runbook
    # The CRM feed's people and groups (issue 17): its two roles, to the principals an administrator named only.
    [feed] = re.findall(r'^\s*FEED_ROLES="([^"]+)"', runbook, re.MULTILINE)
    assert {checks.ROLE_NAMES[g.strip()] for g in feed.split(",")} == {
        role for who, role, _ in checks.EXPECTED_ROLES if who in checks.PRINCIPAL_PARAMETERS.values()}
    assert ("(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals "
            "{$FEED_ROLES} AND @Request[Microsoft.Authorization/roleAssignments:PrincipalId] ForAnyOfAnyValues:"
            "GuidEquals {$FEED_PRINCIPALS})") in condition
