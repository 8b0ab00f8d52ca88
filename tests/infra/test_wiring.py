"""Wiring: files and modules resolve, app settings match company_activity.settings, adf/ is deployed whole."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from company_activity.settings import SETTING_NAMES, AppSettings, SettingsError
from tests.support.infra import checks
from tests.support.infra.repo import ROOT

ENVIRONMENTS = [pytest.param(p, id=p.stem) for p in checks.environments(ROOT)]


def test_the_exactly_one_storage_rule_is_the_settings_module_s() -> None:
    # The wiring check leaves STORAGE_CONNECTION_STRING unset in Azure because settings.py accepts
    # exactly one of the pair; prove that rule on the module itself rather than trusting this file.
    assert set(checks.STORAGE_CHOICE) <= set(SETTING_NAMES)
    base = {"USAGE_API_BASE_URL": "https://api.example.com", "USAGE_API_KEY": "k"}
    url = {"STORAGE_ACCOUNT_URL": "https://acct.blob.core.windows.net/"}
    connection = {"STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true"}
    assert AppSettings.from_env({**base, **url}).ingest.storage.account_url
    for env in ({**base, **url, **connection}, base):
        with pytest.raises(SettingsError, match="exactly one of STORAGE_CONNECTION_STRING"):
            AppSettings.from_env(env)


def test_files_modules_and_parameter_files_resolve() -> None:
    assert checks.wiring(ROOT) == []


@pytest.mark.parametrize("params_path", ENVIRONMENTS)
def test_function_app_sets_every_setting_the_code_reads(params_path: Path) -> None:
    deployment = checks.load(params_path)
    settings = checks.app_settings(deployment)
    assert set(SETTING_NAMES) - set(settings) == {"STORAGE_CONNECTION_STRING"}
    assert checks.settings_wiring(deployment) == []


def test_settings_default_to_the_settings_module_defaults() -> None:
    assert checks.settings_defaults(ROOT) == []


@pytest.mark.parametrize("params_path", ENVIRONMENTS)
def test_data_factory_deploys_adf_with_environment_values(params_path: Path) -> None:
    deployment = checks.load(params_path)
    assert checks.data_factory(deployment, ROOT) == []
    assert checks.linked_services(deployment, ROOT) == []


def test_sql_grants_cover_what_the_pipeline_touches_and_no_more() -> None:
    assert checks.sql_grants(ROOT) == []


def in_dev(check: Callable[[checks.Deployment], list[str]]) -> Callable[[Path], list[str]]:
    def run(root: Path) -> list[str]:
        try:
            deployment = checks.load(root / "infra" / "env" / "dev.bicepparam")
        except checks.BicepError as exc:
            return [str(exc)]
        return check(deployment)

    return run


def with_root(check: Callable[[checks.Deployment, Path], list[str]]) -> Callable[[Path], list[str]]:
    return lambda root: in_dev(lambda deployment: check(deployment, root))(root)


MAIN, DF = "infra/main.bicep", "infra/modules/data-factory.bicep"


@pytest.mark.parametrize(
    ("edits", "check", "expected"),
    [
        pytest.param(
            {MAIN: ("'modules/storage.bicep'", "'modules/storrage.bicep'")},
            checks.wiring,
            "module path 'modules/storrage.bicep' does not exist",
            id="module-path",
        ),
        pytest.param(
            {DF: ("LS_crm_blob.json')", "LS_crm.json')")},
            checks.wiring,
            "loadJsonContent path '../../adf/linkedService/LS_crm.json' does not exist",
            id="load-json-path",
        ),
        pytest.param(
            {DF: ("  loadJsonContent('../../adf/linkedService/LS_key_vault.json')\n", "")},
            checks.wiring,
            "LS_key_vault.json: not deployed",
            id="adf-file-not-loaded",
        ),
        pytest.param(
            {"infra/env/dev.bicepparam": ("using '../main.bicep'", "using '../mian.bicep'")},
            checks.wiring,
            "using path '../mian.bicep' does not exist",
            id="using-path",
        ),
        pytest.param(
            {"infra/env/dev.bicepparam": ("param environmentName = 'dev'\n", "")},
            checks.wiring,
            "required parameters of main.bicep not set: environmentName",
            id="bicepparam-missing-required",
        ),
        pytest.param(
            {"infra/env/dev.bicepparam": ("param environmentName = 'dev'", "param environment = 'dev'")},
            checks.wiring,
            "parameters not declared in main.bicep: environment",
            id="bicepparam-unknown",
        ),
        pytest.param(
            {
                MAIN: (
                    "    backfillQueueName: backfillQueueName\n    workspaceId",
                    "    queueName: backfillQueueName\n    workspaceId",
                )
            },
            checks.wiring,
            "module storage has no parameter queueName",
            id="module-unknown-param",
        ),
        pytest.param(
            {MAIN: ("    planName: names.plan\n", "")},
            checks.wiring,
            "module functionApp lacks required planName",
            id="module-missing-param",
        ),
        pytest.param(
            {MAIN: ("  REJECT_THRESHOLD: rejectThreshold\n", "")},
            in_dev(checks.settings_wiring),
            "appSettings lack REJECT_THRESHOLD",
            id="missing-setting",
        ),
        pytest.param(
            {
                MAIN: (
                    "  STORAGE_ACCOUNT_URL: storage.outputs.blobEndpoint\n",
                    "  STORAGE_ACCOUNT_URL: storage.outputs.blobEndpoint\n  STORAGE_CONNECTION_STRING: 'x'\n",
                )
            },
            in_dev(checks.settings_wiring),
            "STORAGE_CONNECTION_STRING must stay unset in Azure",
            id="both-storage-settings",
        ),
        pytest.param(
            {MAIN: ("  STORAGE_ACCOUNT_URL: storage.outputs.blobEndpoint\n", "")},
            in_dev(checks.settings_wiring),
            "appSettings lack STORAGE_ACCOUNT_URL",
            id="no-storage-setting",
        ),
        pytest.param(
            {MAIN: ("  BACKFILL_QUEUE: backfillQueueName\n", "  BACKFILL_QUEUES: backfillQueueName\n")},
            in_dev(checks.settings_wiring),
            "app settings that nothing reads: BACKFILL_QUEUES",
            id="misspelled-setting",
        ),
        pytest.param(
            {MAIN: ("param ingestSchedule string = '0 0 1 * * *'", "param ingestSchedule string = '0 1 * * *'")},
            in_dev(checks.settings_wiring),
            "INGEST_SCHEDULE must be an NCRONTAB expression with 6 fields",
            id="invalid-setting-value",
        ),
        pytest.param(
            {MAIN: ("param usageApiPageSize int = 1000", "param usageApiPageSize int = 500")},
            checks.settings_defaults,
            "USAGE_API_PAGE_SIZE defaults to '500'",
            id="default-differs",
        ),
        pytest.param(
            {
                MAIN: (
                    "'@Microsoft.KeyVault(SecretUri=${keyVault.outputs.uri}secrets/${usageApiKeySecretName}/)'",
                    "readEnvironmentVariable('USAGE_API_KEY')",
                )
            },
            in_dev(checks.settings_wiring),
            "USAGE_API_KEY must be a Key Vault reference",
            id="secret-inline",
        ),
        pytest.param(
            {
                "infra/modules/function-app.bicep": (
                    "  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'\n",
                    "  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'\n"
                    "  FUNCTIONS_WORKER_RUNTIME: 'python'\n",
                )
            },
            in_dev(checks.settings_wiring),
            "FUNCTIONS_WORKER_RUNTIME must not be set",
            id="flex-forbidden",
        ),
        pytest.param(
            {"infra/modules/function-app.bicep": ("  AzureWebJobsStorage__credential: 'managedidentity'\n", "")},
            in_dev(checks.settings_wiring),
            "host setting AzureWebJobsStorage__credential is missing",
            id="host-identity-setting",
        ),
        pytest.param(
            {DF: ("  sqlServer: {\n    type: 'String'\n    value: sqlServerFqdn\n  }\n", "")},
            with_root(checks.data_factory),
            "global parameter sqlServer keeps the placeholder value",
            id="global-parameter-placeholder",
        ),
        pytest.param(
            {
                DF: (
                    "union(triggerDefinition.properties.typeProperties, "
                    "{ startTime: '${triggerStartDate}T00:00:00Z' })",
                    "triggerDefinition.properties.typeProperties",
                )
            },
            with_root(checks.data_factory),
            "startTime must be the pipelineStartDate parameter",
            id="trigger-start-from-adf",
        ),
        pytest.param(
            {"adf/trigger/TR_daily_company_activity.json": ('"runtimeState": "Stopped"', '"runtimeState": "Started"')},
            with_root(checks.data_factory),
            "must be deployed Stopped",
            id="trigger-started",
        ),
        pytest.param(
            {
                "infra/modules/role-assignments.bicep": (
                    "guid(vault.id, factoryPrincipalId, keyVaultSecretsUser)\n  scope: vault\n  properties: {\n"
                    "    roleDefinitionId: keyVaultSecretsUser\n    principalId: factoryPrincipalId",
                    "guid(vault.id, factoryPrincipalId, keyVaultSecretsUser)\n  scope: vault\n  properties: {\n"
                    "    roleDefinitionId: storageBlobDataReader\n    principalId: factoryPrincipalId",
                )
            },
            with_root(checks.linked_services),
            "LS_key_vault: the factory has no Key Vault Secrets User role",
            id="key-vault-linked-service-without-role",
        ),
        pytest.param(
            {
                MAIN: (
                    "    factoryReadContainerNames: [\n      bronzeContainerName\n      crmContainerName\n",
                    "    factoryReadContainerNames: [\n      bronzeContainerName\n",
                )
            },
            with_root(checks.linked_services),
            "no Storage Blob Data Reader on container crm",
            id="blob-linked-service-without-role",
        ),
        pytest.param(
            {"infra/sql/grant_identities.sql": ("    EXEC (@create);\n", "")},
            with_root(checks.linked_services),
            "grant_identities.sql does not create the factory's user",
            id="sql-linked-service-without-user",
        ),
        pytest.param(
            {
                "infra/sql/grant_identities.sql": (
                    "GRANT SELECT, INSERT, DELETE ON SCHEMA::stg",
                    "GRANT SELECT, INSERT, DELETE, UPDATE, ALTER ON SCHEMA::stg",
                )
            },
            checks.sql_grants,
            "grant of ALTER, UPDATE on SCHEMA::stg exceeds least privilege",
            id="excess-grant",
        ),
        pytest.param(
            {
                "infra/sql/grant_identities.sql": (
                    "GRANT EXECUTE ON OBJECT::dbo.usp_merge_fact_daily_company_activity",
                    "GRANT EXECUTE ON OBJECT::dbo.usp_other",
                )
            },
            checks.sql_grants,
            "pipeline runs dbo.usp_merge_fact_daily_company_activity",
            id="missing-execute",
        ),
        pytest.param(
            {
                "infra/sql/grant_identities.sql": (
                    "IF NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE name = N'$(DataFactoryName)')\n",
                    "",
                )
            },
            checks.sql_grants,
            "guarded by IF NOT EXISTS",
            id="create-user-not-idempotent",
        ),
        pytest.param(
            {
                "infra/sql/grant_identities.sql": (
                    "           WHERE name = N'$(DataFactoryName)' AND sid <> CONVERT(VARBINARY(85), @sid, 1))",
                    "           WHERE name = N'$(DataFactoryName)' AND 1 = 0)",
                )
            },
            checks.sql_grants,
            "a user of the factory's name with another SID must be dropped",
            id="stale-user-matched-by-name-only",
        ),
        pytest.param(
            {
                "infra/sql/grant_identities.sql": (
                    "    EXEC (@create);\n",
                    "    CREATE USER [$(DataFactoryName)] FROM EXTERNAL PROVIDER;\n",
                )
            },
            checks.sql_grants,
            "FROM EXTERNAL PROVIDER needs a Graph lookup",
            id="create-user-from-graph",
        ),
        pytest.param(
            {"sql/migrations/0001_schemas.sql": ("CREATE SCHEMA stg;", "CREATE SCHEMA staging;")},
            checks.sql_grants,
            "grants on SCHEMA::stg, which no file under sql/ creates",
            id="grant-on-missing-schema",
        ),
        pytest.param(
            {"infra/sql/grant_identities.sql": ("GRANT EXECUTE ON OBJECT", "GRANT EXECUTE TO OBJECT")},
            checks.sql_grants,
            "not valid T-SQL",
            id="invalid-tsql",
        ),
    ],
)
def test_each_wiring_check_catches_its_mutation(
    mutated: Callable[..., Path], edits: dict[str, tuple[str, str]], check: Callable[[Path], list[str]], expected: str
) -> None:
    problems = check(mutated(edits))
    assert any(expected in p for p in problems), problems
