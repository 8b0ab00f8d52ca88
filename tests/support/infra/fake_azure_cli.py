"""A stand-in for `az`, `sqlcmd`, `func`, `curl` and `company-activity` while testing infra/deploy.sh.

The Azure control plane cannot run here, so infra/deploy.sh runs against this script (a wrapper named after
each tool on PATH sets FAKE_TOOL). Every call is appended to $FAKE_AZ_LOG as one JSON line {tool, argv, stdin-file
contents, the SQL_ADMIN_* and PIPELINE_START_DATE environment}; answers come from the small state below.

Where the script parses an answer, the answer has Azure's real shape: `az datafactory trigger show` deserializes
the REST body of adf/trigger/ into the azure-mgmt-datafactory model, as the CLI's datafactory extension does
(it returns `client.get(...)`), and renders it with knack, the CLI's output layer (todict, --query, tsv).

Switches: FAKE_AZ_EXISTING=1 pretends a previous deployment left a started trigger and the deployer's Key Vault
role behind; FAKE_AZ_SIGNED_IN=servicePrincipal signs in as an application (the CI path);
FAKE_AZ_ROLE_CREATE=fails-if-exists makes `az role assignment create` fail on an existing assignment, as some CLI
versions do (see docs/azure-fidelity.md), and FAKE_AZ_ROLE_CREATE=forbidden fails it for lack of permission.
"""

from __future__ import annotations

import base64
import collections
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
OUTPUTS = {
    "functionAppName": "funcabc",
    "functionAppHostName": "funcabc.azurewebsites.net",
    "keyVaultName": "kvabc",
    "sqlServerFqdn": "sqlabc.database.windows.net",
    "sqlDatabaseName": "company_activity",
    "dataFactoryName": "adfabc",
    "dashboardSqlIdentityName": "iddbabc",
    "dashboardSqlIdentityClientId": "eeeeeeee-1111-2222-3333-444444444444",
    "dashboardSignInPrincipalId": "ffffffff-1111-2222-3333-444444444444",
}
EXISTING_TRIGGER_START = "2025-06-01T00:00:00Z"
USER = {"id": "11111111-2222-3333-4444-555555555555", "userPrincipalName": "dba@example.com"}
# A CI service principal: `az account show` names it by its application (client) id.
APP_ID = "aaaaaaaa-1111-2222-3333-444444444444"
SP = {"id": "99999999-8888-7777-6666-555555555555", "appId": APP_ID, "displayName": "gh-company-activity-deploy"}
FACTORY_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DataFactory/factories/adfabc"
FACTORY_CLIENT_ID = "bbbbbbbb-1111-2222-3333-444444444444"
ENVIRONMENT_SEEN = (
    "SQL_ADMIN_LOGIN",
    "SQL_ADMIN_OBJECT_ID",
    "SQL_ADMIN_PRINCIPAL_TYPE",
    "PIPELINE_START_DATE",
    "ALERT_EMAILS",
    "DATA_FACTORY_IP_RANGES",
)


def main() -> int:
    tool, args = os.environ["FAKE_TOOL"], sys.argv[1:]
    record: dict[str, object] = {"tool": tool, "argv": args}
    record["env"] = {name: os.environ[name] for name in ENVIRONMENT_SEEN if name in os.environ}
    if "--file" in args:  # az keyvault secret set --file <(printf ...): keep what the file held
        record["file"] = Path(args[args.index("--file") + 1]).read_text(encoding="utf-8")
    with open(os.environ["FAKE_AZ_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")
    if tool != "az":
        if tool == "sqlcmd" and os.environ.get("FAKE_SQLCMD_FAILS") == "1":
            print("Msg 40615: Cannot open server", file=sys.stderr)
            return 1
        if tool == "curl":
            print('{"enqueued": ["2026-01-01"], "skipped": []}')
        return 0
    return az(args)


def cli_output(result: Any, query: str) -> str:
    """What `az ... --query <query> --output tsv` prints for a command that returned `result`."""
    import jmespath  # imported here: every fake call is a new process, most never render output
    from knack.output import CommandResultItem, format_tsv
    from knack.util import todict

    value = todict(result)
    if query:
        value = jmespath.search(query, value, jmespath.Options(collections.OrderedDict))
    return "" if value is None else format_tsv(CommandResultItem(value))


def access_token(object_id: str) -> str:
    """An unsigned JWT shaped like an ARM access token: header.payload.signature, base64url without padding."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {"aud": "https://management.core.windows.net/", "oid": object_id, "tid": "t", "name": "ä~?>"}
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def existing_trigger() -> Any:
    """The trigger as the Data Factory REST API returns it after an earlier deployment (then started)."""
    from azure.mgmt.datafactory.models import TriggerResource

    body = json.loads((ROOT / "adf" / "trigger" / "TR_daily_company_activity.json").read_text(encoding="utf-8"))
    body["properties"]["typeProperties"]["startTime"] = EXISTING_TRIGGER_START
    body["properties"]["runtimeState"] = "Started"
    body["id"] = f"{FACTORY_ID}/triggers/{body['name']}"
    return TriggerResource.deserialize(body)


def az(args: list[str]) -> int:
    line = " ".join(args)
    existing = os.environ.get("FAKE_AZ_EXISTING") == "1"
    service_principal = os.environ.get("FAKE_AZ_SIGNED_IN") == "servicePrincipal"
    query = args[args.index("--query") + 1] if "--query" in args else ""
    if line.startswith("account show"):
        account = {"name": "Pay-As-You-Go", "tenantId": "tttttttt-1111-2222-3333-444444444444",
                   "user": {"type": "user", "name": USER["userPrincipalName"]}}
        if service_principal:
            account["user"] = {"type": "servicePrincipal", "name": APP_ID}
        sys.stdout.write(cli_output(account, query))
    elif line.startswith("account get-access-token"):
        sys.stdout.write(
            cli_output({"accessToken": access_token(SP["id"] if service_principal else USER["id"])}, query)
        )
    elif line.startswith("ad signed-in-user show"):
        if service_principal:
            print("ERROR: /me request is only valid with delegated authentication flow.", file=sys.stderr)
            return 1
        sys.stdout.write(cli_output(USER, query))
    elif line.startswith("ad sp show"):
        sys.stdout.write(cli_output(SP, query))
    elif line.startswith("group exists"):
        print("true" if existing else "false")
    elif line.startswith("resource list"):
        print("adfabc" if existing else "")
    elif line.startswith("resource show"):
        sys.stdout.write(cli_output({"id": FACTORY_ID, "name": "adfabc"}, query))
    elif line.startswith("rest ") and "Microsoft.ManagedIdentity/identities/default" in line:
        client_id = os.environ.get("FAKE_FACTORY_CLIENT_ID", FACTORY_CLIENT_ID)
        identity = {"properties": {"clientId": client_id, "principalId": "p", "tenantId": "t"}}
        sys.stdout.write(cli_output(identity, query))
    elif line.startswith("datafactory trigger show"):
        if not existing and "runtimeState" not in query:
            print("ERROR: (NotFound) Trigger not found.", file=sys.stderr)
            return 3
        sys.stdout.write(cli_output(existing_trigger(), query))
    elif line.startswith("deployment group show"):
        name = query.split(".")[2]
        print(os.environ.get("FAKE_FACTORY_NAME", OUTPUTS[name]) if name == "dataFactoryName" else OUTPUTS[name])
    elif line.startswith("keyvault show"):
        print("/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kvabc")
    elif line.startswith("keyvault secret show"):
        return 3  # not set yet
    elif line.startswith("role assignment list"):
        assignment = {"id": "/subscriptions/s/providers/Microsoft.Authorization/roleAssignments/r1"}
        sys.stdout.write(cli_output([assignment] if existing else [], query))
    elif line.startswith("role assignment create"):
        behaviour = os.environ.get("FAKE_AZ_ROLE_CREATE")
        if existing and behaviour == "fails-if-exists":
            print("ERROR: (RoleAssignmentExists) The role assignment already exists.", file=sys.stderr)
            return 1
        if behaviour == "forbidden":
            print(
                "ERROR: (AuthorizationFailed) The client does not have authorization to perform action "
                "'Microsoft.Authorization/roleAssignments/write'.",
                file=sys.stderr,
            )
            return 1
    elif line.startswith("functionapp function keys list"):
        print("function-key-value")
    elif line.startswith("group show"):
        sys.stdout.write(cli_output({"name": "rg", "location": "westeurope"}, query))
    elif line.startswith("network list-service-tags"):
        tags = {"values": [
            {"name": "DataFactory.WestEurope", "properties": {"systemService": "DataFactory", "region": "westeurope",
                                                             "addressPrefixes": ["20.38.80.192/26", "2603:1020::/64"]}},
            {"name": "DataFactory.NorthEurope", "properties": {"systemService": "DataFactory", "region": "northeurope",
                                                              "addressPrefixes": ["13.69.230.96/28"]}},
            {"name": "Sql.WestEurope", "properties": {"systemService": "AzureSQL", "region": "westeurope",
                                                     "addressPrefixes": ["13.69.105.0/24"]}},
        ]}
        sys.stdout.write(cli_output(tags, query))
    return 0


if __name__ == "__main__":
    sys.exit(main())
