"""The offline infra checks: each function returns the problems it finds (an empty list = pass).

They cover what checkov cannot see in Bicep: values passed into modules, conditional resources, role
assignments, Key Vault RBAC mode, shared-key access, app settings against company_activity.settings,
and the wiring to adf/ and infra/sql/. The tests run them on the repository and on mutated copies.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlfluff
from sqlfluff.api.simple import APIParsingError

from company_activity.settings import SETTING_NAMES, SETTINGS, AppSettings, SettingsError
from tests.support.infra.bicep import (
    BicepError,
    BicepFile,
    Declaration,
    Deployment,
    Evaluator,
    SymbolRef,
    Unresolved,
    bicepparam_source,
    named_children,
    newer_syntax,
    string_literal,
    syntax_problems,
)

# Values readEnvironmentVariable returns while checking (deploy.sh sets the real ones).
SAMPLE_ENVIRONMENT = {
    "USAGE_API_BASE_URL": "https://usage.example.com/v1",
    "SQL_ADMIN_LOGIN": "dba@example.com",
    "SQL_ADMIN_OBJECT_ID": "00000000-0000-0000-0000-000000000001",
    "PIPELINE_START_DATE": "2026-01-01",
    "DEPLOYER_IP": "203.0.113.7",
    "ALERT_EMAILS": "data-oncall@example.com,data-lead@example.com",
    "CRM_WRITER_PRINCIPALS": "ServicePrincipal:00000000-0000-0000-0000-0000000000c1",
    "REPLAY_READER_PRINCIPALS": "Group:00000000-0000-0000-0000-0000000000a1",
    "API_CLIENT_ID": "5f6e7d8c-9b0a-4c1d-8e2f-3a4b5c6d7e8f",
    "DATA_FACTORY_IP_RANGES": '[{"startIpAddress": "20.38.80.192", "endIpAddress": "20.38.80.255"}]',
    "DASHBOARD_AUTH_CLIENT_ID": "cccccccc-1111-2222-3333-444444444444",
    "DASHBOARD_ALLOWED_GROUPS": "dddddddd-1111-2222-3333-444444444444",
}
# In Azure the code reaches Blob with its identity (STORAGE_ACCOUNT_URL); settings.py wants exactly one of
# these two set (tests verify that rule against AppSettings.from_env).
STORAGE_CHOICE = ("STORAGE_CONNECTION_STRING", "STORAGE_ACCOUNT_URL")
SETTING_IN_AZURE = "STORAGE_ACCOUNT_URL"
# Host settings the Functions runtime reads (not company_activity's).
HOST_SETTINGS = {
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
    "AzureWebJobsStorage__credential",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    # App Service authentication's federated credential (instead of a client secret): dashboard-identities.bicep.
    "OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID",
}
# Rejected by Flex Consumption (runtime comes from functionAppConfig) or a shared-key connection.
FORBIDDEN_SETTINGS = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "AzureWebJobsStorage",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
}
# Built-in role ids (identical in every tenant) and the names the template's comments must use.
ROLE_NAMES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
}
# (identity, role, scope): the complete least-privilege set; anything else is a problem.
EXPECTED_ROLES = {
    ("function", "Storage Blob Data Owner", "storage account"),
    ("function", "Storage Queue Data Contributor", "storage account"),
    ("function", "Key Vault Secrets User", "key vault"),
    ("function", "Monitoring Metrics Publisher", "application insights"),
    ("function", "Storage Table Data Contributor", "storage account"),
    ("factory", "Storage Blob Data Reader", "container bronze"),
    ("factory", "Storage Blob Data Reader", "container crm"),
    ("factory", "Key Vault Secrets User", "key vault"),
    ("function", "custom role backfillStarter", "data factory"),
    ("crm writer", "Storage Blob Data Contributor", "container crm"),
    ("replay reader", "Storage Blob Data Reader", "container bronze"),
    ("replay reader", "Storage Blob Data Reader", "container crm"),
}
# Principals the environment names (parameter -> who), each entry '<principal type>:<object id>'.
PRINCIPAL_PARAMETERS = {"crmWriterPrincipals": "crm writer", "replayReaderPrincipals": "replay reader"}
PRINCIPAL_TYPES = ("User", "Group", "ServicePrincipal")
SCOPE_KINDS = {
    "microsoft.storage/storageaccounts": "storage account",
    "microsoft.keyvault/vaults": "key vault",
    "microsoft.insights/components": "application insights",
    "microsoft.storage/storageaccounts/blobservices/containers": "container",
    "microsoft.datafactory/factories": "data factory",
}
# Custom roles a module may assign (symbol -> exactly these actions, no data actions): no built-in role is narrow
# enough for them (see the module's comment). An administrator defines each once with its template under
# infra/admin/; the deployment references it `existing` by the same name and never defines a role itself.
CUSTOM_ROLES = {
    "backfillStarter": {
        "Microsoft.DataFactory/factories/pipelines/createrun/action",
        "Microsoft.DataFactory/factories/pipelineruns/read",
        "Microsoft.DataFactory/factories/pipelineruns/queryactivityruns/action",
        "Microsoft.DataFactory/factories/querypipelineruns/action",
        "Microsoft.DataFactory/factories/querypipelineruns/read",
    },
}
CUSTOM_ROLE_TEMPLATES = {"backfillStarter": "infra/admin/backfill-starter-role.bicep"}
# siteConfig properties a Flex Consumption site accepts: what the official Flex samples set on the site
# (Azure-Samples/azure-functions-flex-consumption-samples IaC/bicep/main.bicep and IaC/armtemplate/azuredeploy.json,
# Azure-Samples/functions-quickstart-python-http-azd infra/app/api.bicep). ARM rejects others, e.g. FtpsState and
# LinuxFxVersion, with "The following site configuration property (Site.SiteConfig.<name>) for Flex Consumption
# sites is invalid"; where the samples are silent we take the strictest reading (docs/azure-fidelity.md).
FLEX_SITE_CONFIG_ALLOWED = frozenset({"appSettings", "alwaysOn"})
# Only these resources may be conditional (checkov treats a conditional resource as always deployed).
ALLOWED_CONDITIONAL = {("sql.bicep", "allowAzure")}
# Diagnostic settings: target resource type -> (needs categoryGroup allLogs, metric category).
DIAGNOSTICS = {
    "Microsoft.Web/sites": (True, "AllMetrics"),
    "Microsoft.DataFactory/factories": (True, "AllMetrics"),
    "Microsoft.KeyVault/vaults": (True, "AllMetrics"),
    "Microsoft.Sql/servers/databases": (True, "Basic"),
    "Microsoft.Storage/storageAccounts": (False, "Transaction"),
    "Microsoft.Storage/storageAccounts/blobServices": (True, "Transaction"),
    "Microsoft.Storage/storageAccounts/queueServices": (True, "Transaction"),
}
# grant_identities.sql creates the factory's user from its identity's client id, guarded (see the script).
FACTORY_SID = re.compile(r"DECLARE @sid NVARCHAR\(\d+\) = .*CONVERT\(UNIQUEIDENTIFIER, N'\$\(DataFactoryClientId\)'\)")
FACTORY_USER = re.compile(
    r"IF NOT EXISTS \(SELECT 1 FROM sys\.database_principals WHERE name = N'\$\(DataFactoryName\)'\)\s+BEGIN"
    r"(?:(?!END;).)*N'CREATE USER ' \+ QUOTENAME\(N'\$\(DataFactoryName\)'\)"
    r" \+ N' WITH SID = ' \+ @sid \+ N', TYPE = E;'"
    r"(?:(?!END;).)*EXEC \(@create\);\s+END;",
    re.DOTALL,
)
# ... and first drops a user of that name whose SID is another (a recreated factory's old identity).
STALE_FACTORY_USER = re.compile(
    r"IF EXISTS \(SELECT 1 FROM sys\.database_principals\s+WHERE name = N'\$\(DataFactoryName\)' "
    r"AND sid <> CONVERT\(VARBINARY\(85\), @sid, 1\)\)\s+BEGIN(?:(?!END;).)*DROP USER \[\$\(DataFactoryName\)\];"
    r"\s+END;(?:(?!DROP USER).)*IF NOT EXISTS \(SELECT 1 FROM sys\.database_principals WHERE name",
    re.DOTALL,
)
SAMPLE_CLIENT_ID = "bbbbbbbb-1111-2222-3333-444444444444"
ADF_FOLDERS = ("factory", "linkedService", "dataset", "pipeline", "trigger")
GLOBAL_PARAMETER_REF = re.compile(r"pipeline\(\)\.globalParameters\.(\w+)")


def environments(root: Path) -> list[Path]:
    return sorted((root / "infra" / "env").glob("*.bicepparam"))


def load(params_path: Path, environment: Mapping[str, str] | None = None) -> Deployment:
    return Deployment.load(params_path, SAMPLE_ENVIRONMENT if environment is None else environment)


# --- syntax -------------------------------------------------------------------------------------------


def syntax(root: Path) -> list[str]:
    """tree-sitter errors of every .bicep/.bicepparam, and syntax checkov's parser would reject."""
    problems: list[str] = []
    for path in sorted((root / "infra").rglob("*.bicep*")):
        source = path.read_bytes()
        if path.suffix == ".bicepparam":
            problems += syntax_problems(path, bicepparam_source(source))
        elif path.suffix == ".bicep":
            problems += syntax_problems(path, source)
            problems += [f"{p}: checkov's Bicep parser cannot read this" for p in newer_syntax(path, source)]
    return problems


# --- declarations ---------------------------------------------------------------------------------------


def declarations(root: Path) -> list[str]:
    """Every parameter says Required./Optional. (matching whether it has a default); every output is described."""
    problems: list[str] = []
    for path in sorted((root / "infra").rglob("*.bicep")):
        file = BicepFile(path)
        for param in file.params.values():
            description = param.description()
            text = string_literal(description) if description is not None else None
            expected = "Optional." if param.value is not None else "Required."
            if text is None:
                problems.append(f"{file.where(param.node)}: parameter {param.name} has no @description")
            elif not text.startswith(expected):
                problems.append(
                    f"{file.where(param.node)}: @description of parameter {param.name} must start "
                    f"with {expected!r} (it {'has' if param.value is not None else 'has no'} default)"
                )
        for output in file.outputs.values():
            if output.description() is None:
                problems.append(f"{file.where(output.node)}: output {output.name} has no @description")
    return problems


def naming(root: Path) -> list[str]:
    """Names are '<abbreviation>${token}' with token = uniqueString(subscription().id, environmentName, location)."""
    main = BicepFile(root / "infra" / "main.bicep")
    problems: list[str] = []
    token = main.variables.get("token")
    expected = "uniqueString(subscription().id, environmentName, location)"
    if token is None or token.value is None or token.value.text.decode() != expected:
        problems.append(f"{main.path}: variable token must be {expected}")
    names = main.variables.get("names")
    if names is None or names.value is None or names.value.type != "object":
        return [*problems, f"{main.path}: no object variable names"]
    for prop in named_children(names.value):
        key, value = named_children(prop)[0], named_children(prop)[-1]
        if not re.fullmatch(r"'[a-z]{2,5}\$\{token\}'", value.text.decode()):
            problems.append(
                f"{main.where(value)}: name {key.text.decode()} must be '<abbreviation>${{token}}', "
                f"got {value.text.decode()}"
            )
    return problems


# --- wiring ---------------------------------------------------------------------------------------------


def wiring(root: Path) -> list[str]:
    """Parameter files, module paths and parameters, loadJsonContent paths, and adf/ completeness."""
    problems: list[str] = []
    params_files = environments(root)
    if not params_files:
        problems.append(f"{root / 'infra' / 'env'}: no .bicepparam file")
    for params_path in params_files:
        try:
            load(params_path)
        except BicepError as exc:
            problems.append(str(exc))
    loaded: set[Path] = set()
    for path in sorted((root / "infra").rglob("*.bicep")):
        file = BicepFile(path)
        for call, args in file.calls("loadJsonContent"):
            target = string_literal(args[0]) if args else None
            if target is None:
                problems.append(f"{file.where(call)}: loadJsonContent needs a literal path")
                continue
            resolved = (path.parent / target).resolve()
            if not resolved.is_file():
                problems.append(f"{file.where(call)}: loadJsonContent path {target!r} does not exist")
            loaded.add(resolved)
        for module in file.modules.values():
            if not (path.parent / module.type).is_file():
                problems.append(f"{file.where(module.node)}: module path {module.type!r} does not exist")
    for folder in ADF_FOLDERS:
        for definition in sorted((root / "adf" / folder).glob("*.json")):
            if definition.resolve() not in loaded:
                problems.append(f"{definition}: not deployed (no loadJsonContent of it in infra/)")
    return problems


def app_settings(deployment: Deployment) -> dict[str, Any]:
    _, evaluator, site = deployment.only("Microsoft.Web/sites")
    body = evaluator.eval(site.value)  # type: ignore[arg-type]
    pairs = body.get("properties", {}).get("siteConfig", {}).get("appSettings")
    if not isinstance(pairs, list):
        raise BicepError(f"{site.node.start_point}: siteConfig.appSettings is not a known list: {pairs!r}")
    settings: dict[str, Any] = {}
    for pair in pairs:
        if pair["name"] in settings:
            raise BicepError(f"app setting {pair['name']} is set twice")
        settings[pair["name"]] = pair["value"]
    return settings


def settings_wiring(deployment: Deployment) -> list[str]:
    """Every setting company_activity.settings reads is set, valid for AppSettings.from_env, and wired."""
    try:
        settings = app_settings(deployment)
    except BicepError as exc:
        return [str(exc)]
    problems: list[str] = []
    unset_in_azure = set(STORAGE_CHOICE) - {SETTING_IN_AZURE}
    required = [name for name in SETTING_NAMES if name not in unset_in_azure]
    missing = [name for name in required if name not in settings]
    if missing:
        problems.append(f"Function App appSettings lack {', '.join(missing)} (read by company_activity.settings)")
    for name in sorted(unset_in_azure & set(settings)):
        problems.append(
            f"{name} must stay unset in Azure: set exactly one of {' and '.join(STORAGE_CHOICE)}, "
            f"and Azure uses {SETTING_IN_AZURE} with the managed identity"
        )
    unknown = sorted(set(settings) - set(SETTING_NAMES) - HOST_SETTINGS)
    if unknown:
        problems.append(f"app settings that nothing reads: {', '.join(unknown)}")
    for name in sorted(FORBIDDEN_SETTINGS & set(settings)):
        problems.append(f"app setting {name} must not be set (Flex Consumption / no shared keys)")
    for name, value in settings.items():
        if "AccountKey=" in str(value) or "SharedAccessSignature" in str(value):
            problems.append(f"app setting {name} carries a storage key")
    problems += _host_settings(settings)
    problems += _secret_settings(settings)
    problems += _validate_with_settings_module(settings)
    return problems


def _host_settings(settings: Mapping[str, Any]) -> list[str]:
    problems = [f"host setting {name} is missing" for name in sorted(HOST_SETTINGS - set(settings))]
    if settings.get("AzureWebJobsStorage__credential", "managedidentity") != "managedidentity":
        problems.append("AzureWebJobsStorage__credential must be managedidentity")
    if settings.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "Authorization=AAD") != "Authorization=AAD":
        problems.append("APPLICATIONINSIGHTS_AUTHENTICATION_STRING must be Authorization=AAD (Entra telemetry)")
    return problems


def _secret_settings(settings: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    for spec in SETTINGS:
        if not spec.secret or spec.name not in settings:
            continue
        value = settings[spec.name]
        text = value.text if isinstance(value, Unresolved) else str(value)
        if not re.fullmatch(r"@Microsoft\.KeyVault\(SecretUri=\$\{keyVault\.outputs\.uri\}secrets/[a-z0-9-]+/\)", text):
            problems.append(
                f"secret setting {spec.name} must be a Key Vault reference "
                f"@Microsoft.KeyVault(SecretUri=<vault uri>secrets/<name>/), got {text!r}"
            )
    url = settings.get(SETTING_IN_AZURE)
    if not (isinstance(url, Unresolved) and url.text == "storage.outputs.blobEndpoint"):
        problems.append(f"{SETTING_IN_AZURE} must be the storage module's blobEndpoint output, got {url!r}")
    return problems


def _validate_with_settings_module(settings: Mapping[str, Any]) -> list[str]:
    """AppSettings.from_env on the deployed values (deploy-time values get a realistic sample)."""
    samples = {"USAGE_API_KEY": "resolved-from-key-vault", SETTING_IN_AZURE: "https://account.blob.core.windows.net/",
               "AUTH_TENANT_ID": "72f988bf-86f1-41af-91ab-2d7cd011db47",
               "DATA_FACTORY_RESOURCE_ID": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg"
                                           "/providers/Microsoft.DataFactory/factories/adfsample",
               "DASHBOARD_SQL_CONNECTION_STRING": "Server=tcp:sql.example.net,1433;Database=db;Encrypt=yes;"
                                                  "Authentication=ActiveDirectoryMSI;UID=clientid"}
    env: dict[str, str] = {}
    problems: list[str] = []
    for name in SETTING_NAMES:
        if name not in settings:
            continue
        value = settings[name]
        if isinstance(value, Unresolved):
            if name not in samples:
                problems.append(f"app setting {name} is not known before deployment: {value.text}")
                continue
            value = samples[name]
        env[name] = str(value)
    try:
        AppSettings.from_env(env)
    except SettingsError as exc:
        problems.append(f"company_activity.settings rejects the deployed app settings: {exc}")
    return problems


def settings_defaults(root: Path) -> list[str]:
    """Without overrides, each setting that has a default in settings.py gets exactly that default."""
    main = BicepFile(root / "infra" / "main.bicep")
    required = {name: Unresolved(f"param {name}") for name, p in main.params.items() if p.value is None}
    try:
        settings = app_settings(Deployment.bind(main, required))
    except BicepError as exc:
        return [str(exc)]
    problems = []
    for spec in SETTINGS:
        if spec.default and spec.name in settings and settings[spec.name] != spec.default:
            problems.append(
                f"app setting {spec.name} defaults to {settings[spec.name]!r} in infra/main.bicep, "
                f"but company_activity.settings says {spec.default!r}"
            )
    return problems


# --- Data Factory ---------------------------------------------------------------------------------------


def _adf(root: Path, folder: str) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted((root / "adf" / folder).glob("*.json"))}


def data_factory(deployment: Deployment, root: Path) -> list[str]:
    """adf/ objects deployed by name, global parameters all given environment values, trigger Stopped."""
    problems: list[str] = []
    file, evaluator = deployment.module("data-factory.bicep")
    deployed: dict[str, set[str]] = {}
    for folder, resource_type in (
        ("linkedService", "linkedservices"),
        ("dataset", "datasets"),
        ("pipeline", "pipelines"),
        ("trigger", "triggers"),
    ):
        names: set[str] = set()
        for declaration in file.resources_of_type(f"Microsoft.DataFactory/factories/{resource_type}"):
            names |= {instance["name"] for instance in evaluator.instances(declaration)}
        deployed[folder] = names
        expected = {definition["name"] for definition in _adf(root, folder).values()}
        for name in sorted(expected - names):
            problems.append(f"adf/{folder}/{name}.json is not deployed by {file.path.name}")
    _, _, factory = deployment.only("Microsoft.DataFactory/factories")
    problems += _global_parameters(file, evaluator, factory, root)
    for declaration in file.resources_of_type("Microsoft.DataFactory/factories/triggers"):
        for trigger in evaluator.instances(declaration):
            state = trigger["properties"].get("runtimeState", "Stopped")
            if state != "Stopped":
                problems.append(
                    f"trigger {trigger['name']} must be deployed Stopped (the runbook starts it), "
                    f"got runtimeState {state!r}"
                )
            start = trigger["properties"]["typeProperties"].get("startTime")
            expected = f"{deployment.evaluator.param('pipelineStartDate')}T00:00:00Z"
            if start != expected:
                problems.append(
                    f"trigger {trigger['name']}: startTime must be the pipelineStartDate parameter "
                    f"({expected}), got {start!r} (a fixed date in adf/ would backfill every day since)"
                )
    return problems


def _global_parameters(file: BicepFile, evaluator: Evaluator, factory: Declaration, root: Path) -> list[str]:
    definition = next(iter(_adf(root, "factory").values()), {})
    placeholders = set(definition.get("properties", {}).get("globalParameters", {}))
    body = factory.value
    assert body is not None
    node = _property_node(body, "properties", "globalParameters")
    if node is None:
        return [f"{file.where(factory.node)}: factory has no properties.globalParameters"]
    if node.type == "call_expression" and node.child_by_field_name("function").text == b"union":  # type: ignore[union-attr]
        overrides = evaluator.eval(named_children(node.child_by_field_name("arguments"))[-1])  # type: ignore[arg-type]
    else:
        overrides = evaluator.eval(node)
    problems = [
        f"{file.where(node)}: global parameter {name} keeps the placeholder value of adf/factory"
        for name in sorted(placeholders - set(overrides))
    ]
    problems += [
        f"{file.where(node)}: global parameter {name} is not declared in adf/factory"
        for name in sorted(set(overrides) - placeholders)
    ]
    used: set[str] = set()
    for pipeline in _adf(root, "pipeline").values():
        used |= set(GLOBAL_PARAMETER_REF.findall(json.dumps(pipeline)))
    problems += [
        f"pipeline uses global parameter {name}, which the factory does not define"
        for name in sorted(used - placeholders)
    ]
    return problems


def _property_node(body: Any, *path: str) -> Any:
    node = body
    for key in path:
        if node is None or node.type != "object":
            return None
        match = None
        for prop in named_children(node):
            children = named_children(prop)
            if children and children[0].type != "resource_declaration" and children[0].text.decode() == key:
                match = children[-1]
        node = match
    return node


def linked_services(deployment: Deployment, root: Path) -> list[str]:
    """Every linked service has a backing resource and an identity grant; its parameters are always supplied."""
    problems: list[str] = []
    grants = {(who, role, scope) for who, role, scope, _ in role_assignments(deployment)[0]}
    factory_containers = {
        scope.split(" ", 1)[1]
        for who, role, scope in grants
        if who == "factory" and role == "Storage Blob Data Reader" and scope.startswith("container")
    }
    sql_script = root / "infra" / "sql" / "grant_identities.sql"
    script = sql_script.read_text(encoding="utf-8") if sql_script.is_file() else ""
    factory_json = next(iter(_adf(root, "factory").values()), {})
    declared = factory_json.get("properties", {}).get("globalParameters", {})
    global_values = {k: v.get("value") for k, v in declared.items()}
    for name, service in _adf(root, "linkedService").items():
        kind = service["properties"]["type"]
        auth = service["properties"]["typeProperties"].get("authenticationType")
        if kind == "AzureBlobStorage":
            if auth != "Msi":
                problems.append(f"{name}: blob linked service must use the factory identity (Msi), got {auth!r}")
            deployment.only("Microsoft.Storage/storageAccounts")
            containers = {global_values.get("bronzeContainer"), global_values.get("crmContainer")} - {None}
            for container in sorted(containers - factory_containers):  # type: ignore[type-var]
                problems.append(f"{name}: the factory has no Storage Blob Data Reader on container {container}")
        elif kind == "AzureKeyVault":
            deployment.only("Microsoft.KeyVault/vaults")
            if ("factory", "Key Vault Secrets User", "key vault") not in grants:
                problems.append(f"{name}: the factory has no Key Vault Secrets User role on the vault")
        elif kind == "AzureSqlDatabase":
            if auth != "SystemAssignedManagedIdentity":
                problems.append(f"{name}: SQL linked service must use the factory identity, got {auth!r}")
            deployment.only("Microsoft.Sql/servers/databases")
            if not FACTORY_USER.search(script):
                problems.append(f"{name}: infra/sql/grant_identities.sql does not create the factory's user")
        else:
            problems.append(f"{name}: no Azure resource of this bundle backs linked service type {kind}")
        problems += _parameters_supplied(root, name, set(service["properties"].get("parameters", {})))
    return problems


def _parameters_supplied(root: Path, service: str, parameters: set[str]) -> list[str]:
    problems: list[str] = []

    def visit(node: Any, where: str) -> None:
        if isinstance(node, dict):
            is_reference = node.get("type") == "LinkedServiceReference"
            reference = node.get("linkedServiceName") or (node if is_reference else None)
            if isinstance(reference, dict) and reference.get("referenceName") == service:
                missing = parameters - set(reference.get("parameters", {}))
                if missing:
                    problems.append(f"{where}: reference to {service} does not pass {', '.join(sorted(missing))}")
            for value in node.values():
                visit(value, where)
        elif isinstance(node, list):
            for value in node:
                visit(value, where)

    for folder in ("dataset", "pipeline"):
        for name, definition in _adf(root, folder).items():
            visit(definition, f"adf/{folder}/{name}.json")
    return problems


def sql_grants(root: Path) -> list[str]:
    """The grant script is idempotent, least privilege, and covers every table and procedure the pipeline uses."""
    path = root / "infra" / "sql" / "grant_identities.sql"
    if not path.is_file():
        return [f"{path}: missing"]
    script = path.read_text(encoding="utf-8")
    problems: list[str] = []
    if not (FACTORY_SID.search(script) and FACTORY_USER.search(script)):
        problems.append(
            f"{path}: the factory's user must be created WITH SID = <its client id>, TYPE = E, guarded by IF NOT EXISTS"
        )
    if not STALE_FACTORY_USER.search(script):
        problems.append(f"{path}: a user of the factory's name with another SID must be dropped before the user is "
                        "created (matching by name alone keeps a recreated factory's old identity)")
    if re.search(r"^[^-\n]*FROM EXTERNAL PROVIDER", script, re.IGNORECASE | re.MULTILINE):
        problems.append(f"{path}: FROM EXTERNAL PROVIDER needs a Graph lookup (Directory Readers); use WITH SID")
    grants = re.findall(r"^\s*GRANT\s+(.+?)\s+ON\s+(\S+)\s+TO\s+\[\$\(DataFactoryName\)\]", script, re.MULTILINE)
    for permissions, securable in grants:
        allowed = {
            "SCHEMA::stg": {"SELECT", "INSERT", "DELETE"},
            "OBJECT::dbo.usp_merge_fact_daily_company_activity": {"EXECUTE"},
        }.get(securable)
        excess = {p.strip() for p in permissions.split(",")} - (allowed or set())
        if excess:
            problems.append(f"{path}: grant of {', '.join(sorted(excess))} on {securable} exceeds least privilege")
    if re.search(r"ALTER ROLE|sp_addrolemember|db_owner|CONTROL", script, re.IGNORECASE):
        problems.append(f"{path}: role memberships and CONTROL are more than the factory needs")
    granted = {securable for _, securable in grants}
    problems += _sql_parses(path, script)
    problems += _securables_exist(root, path, granted)
    for name, dataset in _adf(root, "dataset").items():
        props = dataset["properties"]
        if props["type"] == "AzureSqlTable" and f"SCHEMA::{props['typeProperties']['schema']}" not in granted:
            problems.append(
                f"adf/dataset/{name}.json writes schema {props['typeProperties']['schema']}, "
                f"which {path.name} does not grant"
            )
    for pipeline in _adf(root, "pipeline").values():
        for procedure in re.findall(r'"storedProcedureName": "([^"]+)"', json.dumps(pipeline)):
            plain = procedure.replace("[", "").replace("]", "")
            if f"OBJECT::{plain}" not in granted:
                problems.append(f"pipeline runs {plain}, which {path.name} does not grant EXECUTE on")
    return problems


def _sql_parses(path: Path, script: str) -> list[str]:
    """The script is valid T-SQL once sqlcmd has substituted its variables (sqlfluff, dialect tsql)."""
    try:
        substituted = script.replace("$(DataFactoryName)", "adfexample")
        sqlfluff.parse(substituted.replace("$(DataFactoryClientId)", SAMPLE_CLIENT_ID), dialect="tsql")
    except APIParsingError as exc:
        return [f"{path}: not valid T-SQL: {str(exc).splitlines()[-1][:200]}"]
    return []


def _securables_exist(root: Path, path: Path, granted: set[str]) -> list[str]:
    """Every schema and procedure the script grants on is created by the warehouse's sql/ files."""
    sql = "\n".join(p.read_text(encoding="utf-8") for p in sorted((root / "sql").rglob("*.sql")))
    problems = []
    for securable in sorted(granted):
        kind, _, name = securable.partition("::")
        pattern = {
            "SCHEMA": rf"CREATE SCHEMA \[?{re.escape(name)}\]?",
            "OBJECT": rf"CREATE (OR ALTER )?PROCEDURE {re.escape(name)}\b",
        }
        if kind in pattern and not re.search(pattern[kind], sql, re.IGNORECASE):
            problems.append(f"{path}: grants on {securable}, which no file under sql/ creates")
    return problems


# --- security -------------------------------------------------------------------------------------------


def _body(deployment: Deployment, resource_type: str) -> tuple[BicepFile, Evaluator, Declaration, dict[str, Any]]:
    file, evaluator, declaration = deployment.only(resource_type)
    return file, evaluator, declaration, evaluator.eval(declaration.value)  # type: ignore[arg-type]


def _expect(problems: list[str], where: str, what: str, value: Any, expected: Any) -> None:
    if value != expected or type(value) is not type(expected):
        problems.append(f"{where}: {what} must be {expected!r}, got {value!r}")


def storage_security(deployment: Deployment) -> list[str]:
    file, evaluator, account, body = _body(deployment, "Microsoft.Storage/storageAccounts")
    props, where = body.get("properties", {}), file.where(account.node)
    problems: list[str] = []
    _expect(problems, where, "allowSharedKeyAccess", props.get("allowSharedKeyAccess"), False)
    _expect(problems, where, "allowBlobPublicAccess", props.get("allowBlobPublicAccess"), False)
    _expect(problems, where, "minimumTlsVersion", props.get("minimumTlsVersion"), "TLS1_2")
    _expect(problems, where, "supportsHttpsTrafficOnly", props.get("supportsHttpsTrafficOnly"), True)
    containers: list[str] = []
    for declaration in file.resources_of_type("Microsoft.Storage/storageAccounts/blobServices/containers"):
        for instance in evaluator.instances(declaration):
            containers.append(instance["name"])
            _expect(
                problems,
                file.where(declaration.node),
                f"container {instance['name']} publicAccess",
                instance.get("properties", {}).get("publicAccess"),
                "None",
            )
    queues = [
        i["name"]
        for d in file.resources_of_type("Microsoft.Storage/storageAccounts/queueServices/queues")
        for i in evaluator.instances(d)
    ]
    main = deployment.evaluator
    bronze, crm, queue = main.var("bronzeContainerName"), main.var("crmContainerName"), main.var("backfillQueueName")
    for name in (bronze, crm, main.var("deploymentContainerName")):
        if name not in containers:
            problems.append(f"{file.path}: container {name} is not created")
    for name in (queue, f"{queue}-poison"):
        if name not in queues:
            problems.append(f"{file.path}: queue {name} is not created")
    for policy in file.resources_of_type("Microsoft.Storage/storageAccounts/managementPolicies"):
        text = policy.node.text.decode()
        if "delete" in text.lower() and "bronze" not in text:
            problems.append(
                f"{file.where(policy.node)}: a lifecycle delete rule must name the prefixes it may "
                "expire; bronze (the system of record) is never expired"
            )
        if re.search(r"prefixMatch:\s*\[[^\]]*'bronze", text) and "delete" in text.lower():
            problems.append(f"{file.where(policy.node)}: lifecycle rule deletes bronze data (the system of record)")
    return problems


def key_vault_security(deployment: Deployment) -> list[str]:
    file, _, vault, body = _body(deployment, "Microsoft.KeyVault/vaults")
    props, where = body.get("properties", {}), file.where(vault.node)
    problems: list[str] = []
    _expect(problems, where, "enableRbacAuthorization", props.get("enableRbacAuthorization"), True)
    _expect(problems, where, "enableSoftDelete", props.get("enableSoftDelete"), True)
    _expect(problems, where, "enablePurgeProtection", props.get("enablePurgeProtection"), True)
    if props.get("accessPolicies"):
        problems.append(f"{where}: access policies are not used (RBAC mode)")
    if props.get("publicNetworkAccess") not in ("Enabled", "Disabled"):
        problems.append(
            f"{where}: publicNetworkAccess must be Enabled or Disabled (the parameter), "
            f"got {props.get('publicNetworkAccess')!r}"
        )
    for module_file, _ in deployment.modules.values():
        for secret in module_file.resources_of_type("Microsoft.KeyVault/vaults/secrets"):
            problems.append(f"{module_file.where(secret.node)}: secrets are set by the runbook, never by a template")
    return problems


def sql_security(deployment: Deployment) -> list[str]:
    file, evaluator, server, body = _body(deployment, "Microsoft.Sql/servers")
    props, where = body.get("properties", {}), file.where(server.node)
    admins = props.get("administrators", {})
    problems: list[str] = []
    _expect(problems, where, "administrators.azureADOnlyAuthentication", admins.get("azureADOnlyAuthentication"), True)
    _expect(problems, where, "administrators.administratorType", admins.get("administratorType"), "ActiveDirectory")
    for key in ("login", "sid", "principalType"):
        if key not in admins:
            problems.append(f"{where}: administrators.{key} is missing")
    for key in ("administratorLogin", "administratorLoginPassword"):
        if key in props:
            problems.append(f"{where}: {key} would create a SQL login; Entra-only authentication has none")
    _expect(problems, where, "minimalTlsVersion", props.get("minimalTlsVersion"), "1.2")
    problems += _sql_entra_children(deployment, admins)
    _, _, database, db_body = _body(deployment, "Microsoft.Sql/servers/databases")
    _expect(
        problems,
        file.where(database.node),
        "collation",
        db_body.get("properties", {}).get("collation"),
        "Latin1_General_100_CI_AS_SC_UTF8",
    )
    for declaration in file.resources_of_type("Microsoft.Sql/servers/firewallRules"):
        if declaration.condition is not None and evaluator.eval(declaration.condition) is False:
            continue
        for rule in evaluator.instances(declaration):
            problems += _firewall_rule(file.where(declaration.node), rule)
            if rule.get("name") == "AllowAllWindowsAzureIps":
                # "allow all connections from Azure including connections from the subscriptions of other
                # customers" (Azure SQL firewall docs): Data Factory gets its own ranges instead (issue 22).
                problems.append(f"{file.where(declaration.node)}: AllowAllWindowsAzureIps admits every Azure "
                                "tenant; admit Data Factory by sqlDataFactoryIpRanges")
    return problems


def _sql_entra_children(deployment: Deployment, admins: Mapping[str, Any]) -> list[str]:
    """The Entra administrator and Entra-only authentication also through their own APIs (the child resources
    `administrators/ActiveDirectory` and `azureADOnlyAuthentications/Default`): what an existing server gets, since
    ARM refuses `administrators.azureADOnlyAuthentication` on an update (Azure/bicep#6858)."""
    problems: list[str] = []
    file, _, admin, admin_body = _body(deployment, "Microsoft.Sql/servers/administrators")
    where = file.where(admin.node)
    _expect(problems, where, "administrators child name", admin_body.get("name"), "ActiveDirectory")
    for key in ("login", "sid"):
        _expect(problems, where, f"administrators child {key}", admin_body.get("properties", {}).get(key),
                admins.get(key))
    file, _, only, only_body = _body(deployment, "Microsoft.Sql/servers/azureADOnlyAuthentications")
    where = file.where(only.node)
    _expect(problems, where, "azureADOnlyAuthentications child name", only_body.get("name"), "Default")
    _expect(problems, where, "azureADOnlyAuthentications.azureADOnlyAuthentication",
            only_body.get("properties", {}).get("azureADOnlyAuthentication"), True)
    return problems


def sql_update_security(params_path: Path) -> list[str]:
    """A redeployment (SQL_SERVER_EXISTS=true) sends the server no `administrators.azureADOnlyAuthentication`,
    which ARM refuses on an existing server (AadOnlyAuthenticationIsEnabled), and keeps Entra-only through the
    child resources."""
    deployment = load(params_path, {**SAMPLE_ENVIRONMENT, "SQL_SERVER_EXISTS": "true"})
    file, _, server, body = _body(deployment, "Microsoft.Sql/servers")
    admins = body.get("properties", {}).get("administrators")
    problems = []
    if isinstance(admins, Mapping) and "azureADOnlyAuthentication" in admins:
        problems.append(f"{file.where(server.node)}: administrators.azureADOnlyAuthentication must not be sent to an "
                        "existing server (SQL_SERVER_EXISTS=true): ARM refuses it, use azureADOnlyAuthentications")
    created = load(params_path)
    _, _, _, created_body = _body(created, "Microsoft.Sql/servers")
    return problems + _sql_entra_children(deployment, created_body.get("properties", {}).get("administrators", {}))


def _firewall_rule(where: str, rule: Mapping[str, Any]) -> list[str]:
    start = rule.get("properties", {}).get("startIpAddress")
    end = rule.get("properties", {}).get("endIpAddress")
    if isinstance(start, Unresolved) or isinstance(end, Unresolved):
        return [f"{where}: firewall rule {rule.get('name')!r} has addresses unknown before deployment ({start}, {end})"]
    first, last = ipaddress.IPv4Address(start), ipaddress.IPv4Address(end)
    if (first, last) == (ipaddress.IPv4Address("0.0.0.0"), ipaddress.IPv4Address("0.0.0.0")):
        return []  # the documented "allow Azure services" rule
    if int(last) - int(first) >= 2**16:
        return [f"{where}: firewall rule {rule.get('name')!r} opens {start}-{end} to the internet"]
    return []


def function_security(deployment: Deployment) -> list[str]:
    file, _, site, body = _body(deployment, "Microsoft.Web/sites")
    props, where = body.get("properties", {}), file.where(site.node)
    problems: list[str] = []
    if "linux" not in str(body.get("kind", "")):
        problems.append(f"{where}: the Function App must be Linux (kind functionapp,linux)")
    _expect(problems, where, "identity.type", body.get("identity", {}).get("type"), "SystemAssigned, UserAssigned")
    _expect(problems, where, "httpsOnly", props.get("httpsOnly"), True)
    config = props.get("functionAppConfig", {})
    _expect(problems, where, "functionAppConfig.runtime", config.get("runtime"), {"name": "python", "version": "3.11"})
    storage = config.get("deployment", {}).get("storage", {})
    _expect(
        problems,
        where,
        "deployment storage authentication",
        storage.get("authentication"),
        {"type": "SystemAssignedIdentity"},
    )
    _, _, plan, plan_body = _body(deployment, "Microsoft.Web/serverfarms")
    _expect(
        problems, file.where(plan.node), "plan sku", plan_body.get("sku"), {"tier": "FlexConsumption", "name": "FC1"}
    )
    insights_file, _, insights, insights_body = _body(deployment, "Microsoft.Insights/components")
    _expect(
        problems,
        insights_file.where(insights.node),
        "DisableLocalAuth",
        insights_body.get("properties", {}).get("DisableLocalAuth"),
        True,
    )
    factory_file, _, factory, factory_body = _body(deployment, "Microsoft.DataFactory/factories")
    _expect(
        problems,
        factory_file.where(factory.node),
        "data factory identity.type",
        factory_body.get("identity", {}).get("type"),
        "SystemAssigned",
    )
    return problems


def flex_site_config(deployment: Deployment) -> list[str]:
    """The Flex Consumption site sets only the siteConfig properties Flex accepts (FLEX_SITE_CONFIG_ALLOWED)."""
    file, _, site, body = _body(deployment, "Microsoft.Web/sites")
    site_config = body.get("properties", {}).get("siteConfig", {})
    return [
        f"{file.where(site.node)}: siteConfig.{name} is not accepted on a Flex Consumption site "
        f"(allowed: {', '.join(sorted(FLEX_SITE_CONFIG_ALLOWED))})"
        for name in sorted(set(site_config) - FLEX_SITE_CONFIG_ALLOWED)
    ]


def host_table_storage(deployment: Deployment) -> list[str]:
    """Identity-based AzureWebJobsStorage reaches Table storage (the host's diagnostic events), as the Flex sample."""
    problems: list[str] = []
    try:
        settings = app_settings(deployment)
    except BicepError as exc:
        return [str(exc)]
    value = settings.get("AzureWebJobsStorage__tableServiceUri")
    if not (isinstance(value, Unresolved) and value.text == "storage.outputs.tableEndpoint"):
        problems.append(f"AzureWebJobsStorage__tableServiceUri must be the storage table endpoint, got {value!r}")
    found, _ = role_assignments(deployment)
    if ("function", "Storage Table Data Contributor", "storage account") not in {f[:3] for f in found}:
        problems.append("the Function App identity needs Storage Table Data Contributor on the storage account")
    return problems


def role_assignments(deployment: Deployment) -> tuple[list[tuple[str, str, str, str]], list[str]]:
    """(identity, role, scope, where) of every role assignment, and the problems found reading them."""
    found: list[tuple[str, str, str, str]] = []
    problems: list[str] = []
    identities = {"functionApp": "function", "dataFactory": "factory"}
    for symbol, (file, evaluator) in deployment.modules.items():
        module = deployment.main.modules[symbol]
        for declaration in file.resources_of_type("Microsoft.Authorization/roleAssignments"):
            where = file.where(declaration.node)
            if declaration.condition is not None:
                problems.append(f"{where}: role assignments must not be conditional")
            problems += _role_assignment_shape(file, declaration)
            scopes = _scopes(file, evaluator, declaration)
            for instance, scope in zip(evaluator.instances(declaration), scopes, strict=True):
                props = instance.get("properties", {})
                role_id = props.get("roleDefinitionId")
                guid = role_id.args[-1] if isinstance(role_id, Unresolved) and role_id.args else None
                role = ROLE_NAMES.get(str(guid), f"unknown role {guid}")
                custom = _custom_role_symbol(file, declaration)
                if custom is not None:
                    role = f"custom role {custom}"
                principal = props.get("principalId")
                principal_text = principal.text if isinstance(principal, Unresolved) else repr(principal)
                owner = principal_text.split(".")[0]
                named = _named_principals(declaration)
                who = named or identities.get(owner, f"unexpected principal {principal_text}")
                if who.startswith("unexpected"):
                    problems.append(
                        f"{where}: role assignment to {principal_text}: only the Function App and Data Factory "
                        f"identities, and the principals of {sorted(PRINCIPAL_PARAMETERS)}, get roles ({module.name})"
                    )
                if named:
                    if props.get("principalType") not in PRINCIPAL_TYPES:
                        problems.append(f"{where}: principalType must be one of {PRINCIPAL_TYPES}, got "
                                        f"{props.get('principalType')!r}")
                else:
                    _expect(problems, where, "principalType", props.get("principalType"), "ServicePrincipal")
                found.append((who, role, scope, where))
    return found, problems


def _named_principals(declaration: Declaration) -> str | None:
    """Who a role assignment looping over a principals parameter is for (PRINCIPAL_PARAMETERS), else None."""
    loop = declaration.loop.text.decode() if declaration.loop is not None else ""
    return next((who for param, who in PRINCIPAL_PARAMETERS.items() if re.search(rf"\bin {param}\b", loop)), None)


def _scopes(file: BicepFile, evaluator: Evaluator, declaration: Declaration) -> list[str]:
    body = declaration.value
    scope_node = _property_node(body, "scope")
    if scope_node is None:
        return ["resource group"] * len(evaluator.instances(declaration))
    symbol = scope_node.text.decode().split("[")[0]
    target = file.resources.get(symbol)
    if target is None:
        return [f"unknown scope {symbol}"] * len(evaluator.instances(declaration))
    kind = SCOPE_KINDS.get(target.type.split("@")[0].lower(), target.type)
    if kind == "container" and target.loop is not None:
        return [f"container {t['name']}" for t in evaluator.instances(target)]
    if kind == "container":
        return [f"container {evaluator.instances(target)[0]['name']}"] * len(evaluator.instances(declaration))
    return [kind] * len(evaluator.instances(declaration))


def _role_assignment_shape(file: BicepFile, declaration: Declaration) -> list[str]:
    """name = guid(<scope>.id, <principal>, <role var>); the role id is a named variable with a comment naming it."""
    problems: list[str] = []
    where = file.where(declaration.node)
    scope = _property_node(declaration.value, "scope")
    name = _property_node(declaration.value, "name")
    role = _property_node(declaration.value, "properties", "roleDefinitionId")
    principal = _property_node(declaration.value, "properties", "principalId")
    if None in (scope, name, role, principal):
        return [f"{where}: a role assignment needs scope, name, properties.roleDefinitionId and properties.principalId"]
    expected = f"guid({scope.text.decode()}.id, {principal.text.decode()}, {role.text.decode()})"
    if name.text.decode() != expected:
        problems.append(f"{where}: name must be {expected}, got {name.text.decode()}")
    if _custom_role_symbol(file, declaration) is not None:
        return problems + _custom_role_problems(file, _custom_role_symbol(file, declaration) or "")
    variable = file.variables.get(role.text.decode())
    if variable is None:
        return [*problems, f"{where}: roleDefinitionId must be a named variable, got {role.text.decode()}"]
    guid = re.search(r"'([0-9a-f-]{36})'", variable.value.text.decode()) if variable.value is not None else None
    role_name = ROLE_NAMES.get(guid.group(1)) if guid else None
    if role_name is None:
        problems.append(f"{file.where(variable.node)}: {variable.name} is not a known least-privilege role id")
    elif not any(role_name in comment for comment in file.preceding_comments(variable.node)):
        problems.append(
            f"{file.where(variable.node)}: the comment above {variable.name} must name the role ({role_name})"
        )
    return problems


def _custom_role_symbol(file: BicepFile, declaration: Declaration) -> str | None:
    """`roleDefinitionId: <symbol>.id` naming a roleDefinitions resource of the same file, else None."""
    role = _property_node(declaration.value, "properties", "roleDefinitionId")
    text = role.text.decode() if role is not None else ""
    symbol = text[:-3] if text.endswith(".id") else ""
    target = file.resources.get(symbol)
    if target is None or not target.type.lower().startswith("microsoft.authorization/roledefinitions@"):
        return None
    return symbol


def _custom_role_problems(file: BicepFile, symbol: str) -> list[str]:
    reference = file.resources[symbol]
    where = file.where(reference.node)
    if symbol not in CUSTOM_ROLES:
        return [f"{where}: custom role {symbol} is not one of the reviewed custom roles ({sorted(CUSTOM_ROLES)})"]
    if not reference.existing:
        return [f"{where}: custom role {symbol} is defined by the deployment; an administrator defines it once with "
                f"{CUSTOM_ROLE_TEMPLATES[symbol]} and the deployment references it `existing` (docs/deploy.md)"]
    admin = BicepFile(file.path.parents[2] / CUSTOM_ROLE_TEMPLATES[symbol])
    definitions = [d for d in admin.resources_of_type("Microsoft.Authorization/roleDefinitions") if not d.existing]
    if len(definitions) != 1:
        return [f"{admin.path}: expected one role definition, found {len(definitions)}"]
    definition = definitions[0]
    problems = []
    name, defined_name = _property_node(reference.value, "name"), _property_node(definition.value, "name")
    if name is None or defined_name is None or name.text != defined_name.text:
        problems.append(f"{where}: custom role {symbol} must be looked up by the name {CUSTOM_ROLE_TEMPLATES[symbol]} "
                        f"gives it ({defined_name.text.decode() if defined_name else None}), got "
                        f"{name.text.decode() if name else None}")
    permissions = _property_node(definition.value, "properties", "permissions")
    text = permissions.text.decode() if permissions is not None else ""
    actions = set(re.findall(r"'(Microsoft\.[^']+)'", text))
    if actions != CUSTOM_ROLES[symbol]:
        problems.append(f"{admin.where(definition.node)}: custom role {symbol} must grant exactly "
                        f"{sorted(CUSTOM_ROLES[symbol])}, got {sorted(actions)}")
    if re.search(r"dataActions:\s*\[\s*'", text) or "*" in text:
        problems.append(f"{admin.where(definition.node)}: custom role {symbol} must grant no data actions and no "
                        "wildcards")
    return problems


def role_definitions_stay_with_an_administrator(deployment: Deployment) -> list[str]:
    """No module of the deployment defines a role: the deployer then never needs roleDefinitions/write."""
    return [
        f"{file.where(d.node)}: the deployment defines role {d.name}; role definitions are an administrator's "
        f"one-time step (infra/admin/, docs/deploy.md)"
        for file, _ in deployment.modules.values()
        for d in file.resources_of_type("Microsoft.Authorization/roleDefinitions")
        if not d.existing
    ]


def least_privilege(deployment: Deployment) -> list[str]:
    found, problems = role_assignments(deployment)
    actual = {(who, role, scope) for who, role, scope, _ in found}
    for who, role, scope in sorted(actual - EXPECTED_ROLES):
        problems.append(f"unexpected role assignment: {who} gets {role} on {scope}")
    for who, role, scope in sorted(EXPECTED_ROLES - actual):
        problems.append(f"missing role assignment: {who} needs {role} on {scope}")
    bindings = deployment.evaluator.eval(deployment.main.modules["roleAssignments"].value)["params"]  # type: ignore[arg-type]
    for param, module in (("functionPrincipalId", "functionApp"), ("factoryPrincipalId", "dataFactory")):
        value = bindings.get(param)
        if not (isinstance(value, Unresolved) and value.text == f"{module}.outputs.principalId"):
            problems.append(f"role-assignments {param} must be {module}.outputs.principalId, got {value!r}")
    return problems


def conditional_resources(deployment: Deployment) -> list[str]:
    problems = []
    for module, (file, _) in deployment.modules.items():
        if deployment.main.modules[module].condition is not None:
            problems.append(
                f"{deployment.main.where(deployment.main.modules[module].node)}: module {module} "
                "must not be conditional"
            )
        for declaration in file.resources.values():
            if declaration.condition is not None and (file.path.name, declaration.name) not in ALLOWED_CONDITIONAL:
                problems.append(
                    f"{file.where(declaration.node)}: resource {declaration.name} is conditional; "
                    "checkov would count it as deployed, so security resources must not be"
                )
    return problems


def diagnostics(deployment: Deployment) -> list[str]:
    problems: list[str] = []
    for resource_type, (all_logs, metric) in DIAGNOSTICS.items():
        for file, evaluator, target in deployment.module_of_resource_type(resource_type):
            if target.existing:
                continue
            settings = [
                d
                for d in file.resources_of_type("Microsoft.Insights/diagnosticSettings")
                if _property_node(d.value, "scope") is not None
                and _property_node(d.value, "scope").text.decode() == target.name
            ]
            if not settings:
                problems.append(f"{file.where(target.node)}: {resource_type} {target.name} has no diagnostic setting")
                continue
            body = evaluator.eval(settings[0].value).get("properties", {})  # type: ignore[arg-type]
            if not body.get("workspaceId"):
                problems.append(f"{file.where(settings[0].node)}: diagnostic setting without workspaceId")
            groups = {log.get("categoryGroup") for log in body.get("logs", []) if log.get("enabled") is True}
            if all_logs and "allLogs" not in groups:
                problems.append(f"{file.where(settings[0].node)}: {target.name} must send categoryGroup allLogs")
            metrics = {m.get("category") for m in body.get("metrics", []) if m.get("enabled") is True}
            if metric not in metrics:
                problems.append(f"{file.where(settings[0].node)}: {target.name} must send metrics {metric}")
    return problems


def security(deployment: Deployment) -> list[str]:
    return (
        storage_security(deployment)
        + key_vault_security(deployment)
        + sql_security(deployment)
        + function_security(deployment)
        + flex_site_config(deployment)
        + least_privilege(deployment)
        + role_definitions_stay_with_an_administrator(deployment)
        + conditional_resources(deployment)
        + diagnostics(deployment)
    )


def all_problems(root: Path) -> list[str]:
    """Every check on every environment (what `company-activity`'s users get from `make test`)."""
    problems = syntax(root)
    if problems:
        return problems
    problems += declarations(root) + naming(root) + wiring(root) + settings_defaults(root) + sql_grants(root)
    for params_path in environments(root):
        try:
            deployment = load(params_path)
        except BicepError as exc:
            problems.append(str(exc))
            continue
        problems += [
            f"{params_path.name}: {p}"
            for p in settings_wiring(deployment)
            + data_factory(deployment, root)
            + linked_services(deployment, root)
            + security(deployment)
            + sql_update_security(params_path)
        ]
    return problems


# --- the dashboard behind App Service authentication (issue 20) -------------------------------------------

API_ROUTES = ("/api/backfill", "/api/backfill/*", "/api/ingestions")  # they verify their own tokens


def dashboard_auth(deployment: Deployment) -> list[str]:
    """authsettingsV2 of the Function App: Entra sign-in required everywhere but the API routes, the
    tenant's v2 issuer, no client secret (the sign-in identity's federated credential), only the configured
    groups and users, HTTPS only; the app settings the dashboard checks name the same groups and users."""
    found = deployment.module_of_resource_type("Microsoft.Web/sites/config")
    auth = [(f, e, d) for f, e, d in found if d.value is not None and "'authsettingsV2'" in d.value.text.decode()]
    if len(auth) != 1:
        return [f"expected one authsettingsV2 on the Function App, found {len(auth)}"]
    file, evaluator, declaration = auth[0]
    where = file.where(declaration.node)
    body = evaluator.eval(declaration.value)  # type: ignore[arg-type]
    props = body.get("properties", {})
    problems: list[str] = []
    parent = body.get("parent")
    if not (isinstance(parent, SymbolRef) and parent.symbol == "site"):
        problems.append(f"{where}: authsettingsV2 must be a child of the Function App (parent: site), got {parent!r}")
    _expect(problems, where, "platform.enabled", props.get("platform", {}).get("enabled"), True)
    validation = props.get("globalValidation", {})
    _expect(problems, where, "globalValidation.requireAuthentication", validation.get("requireAuthentication"), True)
    action = validation.get("unauthenticatedClientAction")
    if action not in ("RedirectToLoginPage", "Return401", "Return403"):
        problems.append(f"{where}: unauthenticatedClientAction must refuse anonymous callers, got {action!r}")
    excluded = evaluator.eval(file.variables["apiPaths"].value) if "apiPaths" in file.variables \
        else validation.get("excludedPaths", [])
    if sorted(excluded) != sorted(API_ROUTES):
        problems.append(f"{where}: only the API routes {API_ROUTES} may skip sign-in, got {excluded}")
    _expect(problems, where, "httpSettings.requireHttps", props.get("httpSettings", {}).get("requireHttps"), True)
    aad = props.get("identityProviders", {}).get("azureActiveDirectory", {})
    _expect(problems, where, "azureActiveDirectory.enabled", aad.get("enabled"), True)
    registration = aad.get("registration", {})
    issuer = registration.get("openIdIssuer")
    issuer_text = issuer.text if isinstance(issuer, Unresolved) else str(issuer)
    if "tenant().tenantId" not in issuer_text or not issuer_text.rstrip("'").endswith("/v2.0"):
        problems.append(f"{where}: openIdIssuer must be this tenant's v2.0 issuer, got {issuer_text}")
    _expect(problems, where, "clientSecretSettingName", registration.get("clientSecretSettingName"),
            "OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID")
    principals = aad.get("validation", {}).get("defaultAuthorizationPolicy", {}).get("allowedPrincipals", {})
    groups = deployment.evaluator.param("dashboardAllowedGroupIds")
    users = deployment.evaluator.param("dashboardAllowedUserIds")
    _expect(problems, where, "allowedPrincipals.groups", principals.get("groups"), groups)
    _expect(problems, where, "allowedPrincipals.identities", principals.get("identities"), users)
    if not groups and not users:
        problems.append(f"{where}: nobody may open the dashboard: set dashboardAllowedGroupIds or "
                        "dashboardAllowedUserIds")
    try:
        settings = app_settings(deployment)
    except BicepError as exc:
        return [*problems, str(exc)]
    _expect(problems, where, "DASHBOARD_ALLOWED_GROUPS", settings.get("DASHBOARD_ALLOWED_GROUPS"), ",".join(groups))
    _expect(problems, where, "DASHBOARD_ALLOWED_USERS", settings.get("DASHBOARD_ALLOWED_USERS"), ",".join(users))
    connection = settings.get("DASHBOARD_SQL_CONNECTION_STRING")
    text = connection.text if isinstance(connection, Unresolved) else str(connection)
    if "Authentication=ActiveDirectoryMSI" not in text or "sqlReaderClientId" not in text:
        problems.append(f"{where}: the dashboard must sign in to SQL as its own identity (ActiveDirectoryMSI, "
                        f"UID=<sqlReader client id>), got {text}")
    return problems
