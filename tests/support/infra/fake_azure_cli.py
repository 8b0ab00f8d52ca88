"""A stand-in for `az`, `sqlcmd`, `func`, `curl` and `company-activity` while testing infra/deploy.sh (`sleep` is a
shell stand-in that only records its seconds for the fake clock, tests/support/infra/deploy_runs.py).

The Azure control plane cannot run here, so infra/deploy.sh runs against this script (a wrapper named after each
tool on PATH sets FAKE_TOOL). The cloud behind it is fake_azure.py beside this file, persisted in $FAKE_AZ_STATE, so a
redeployment sees what the first deployment left. Every call is appended to $FAKE_AZ_LOG as one JSON line {tool,
argv, stdin-file contents, clock, the SQL_ADMIN_*, PIPELINE_START_DATE and SQL_SERVER_EXISTS environment}.

Where the script parses an answer, the answer has Azure's real shape: `az datafactory trigger show` deserializes
the REST body of adf/trigger/ into the azure-mgmt-datafactory model, as the CLI's datafactory extension does (it
returns `client.get(...)`), and renders it with knack, the CLI's output layer (todict, --query, tsv); so do the
other queried answers.

Switches for what the fake cannot know: FAKE_AZ_ROLE_CREATE=fails-if-exists makes `az role assignment create`
fail on an existing assignment, as some CLI versions do (docs/azure-fidelity.md), and =forbidden refuses it as a
condition on the deployer's role assignment would; FAKE_AZ_VERSION is the CLI's
version (default 2.67.0); FAKE_SQLCMD=legacy is the ODBC sqlcmd (no --version, no az login); FAKE_PYODBC=missing or
no-driver is a machine without pyodbc or without ODBC Driver 18; FAKE_FACTORY_NAME and FAKE_FACTORY_CLIENT_ID replace
the factory's name (a deployment output) and its identity's client id (ARM) with a hostile value; FAKE_SQLCMD_FAILS=1
makes the grant script (sqlcmd -i) fail.

One process serves every deployment run of a test process (`--serve SOCKET`, started by deploy_runs.py): each tool
on PATH is fake_tool_client.py, which sends its call (arguments, environment, working directory, process-substitution
files, stdin for `curl --header @-`) and prints the answer. Each call still loads and saves the cloud from
$FAKE_AZ_STATE, so a call sees exactly what a process of its own would.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import marshal
import os
import re
import socket
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from tests.support.infra.fake_azure import (  # noqa: E402
    API_CLIENT_ID,
    ARM,
    CLIENT_IP,
    GRAPH,
    ROLE_IDS,
    SECONDS,
    SP,
    SUBSCRIPTION_ID,
    TENANT,
    USER,
    VAULT,
    AzureError,
    FakeAzure,
    jwt_claims,
    plan,
    role_allows,
    state_path,
)
from tests.support.infra.fake_tool_client import receive  # noqa: E402

SUBSCRIPTION_NAME = "Pay-As-You-Go"
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
ENVIRONMENT_SEEN = (
    "SQL_ADMIN_LOGIN",
    "SQL_ADMIN_OBJECT_ID",
    "SQL_ADMIN_PRINCIPAL_TYPE",
    "PIPELINE_START_DATE",
    "ALERT_EMAILS",
    "SQL_SERVER_EXISTS",
    "DATA_FACTORY_IP_RANGES",
)


def main(files: Mapping[str, str] | None = None) -> int:
    """One tool call; `files` holds the text of the caller's /dev/fd/N arguments (only the caller can read them)."""
    tool, args = os.environ["FAKE_TOOL"], sys.argv[1:]
    cloud = FakeAzure.load(state_path())
    record: dict[str, object] = {"tool": tool, "argv": args, "clock": cloud.clock}
    record["env"] = {name: os.environ[name] for name in ENVIRONMENT_SEEN if name in os.environ}
    if "--file" in args:  # az keyvault secret set --file <(printf ...): keep what the file held
        path = args[args.index("--file") + 1]
        passed = files or {}
        record["file"] = passed[path] if path in passed else Path(path).read_text(encoding="utf-8")
    try:
        code = TOOLS[tool](cloud, args)
    except AzureError as error:
        record["error"] = str(error)
        print(f"ERROR: {error}" if tool == "az" else f"Sqlcmd: Error: {error}", file=sys.stderr)
        code = 1
    cloud.advance(SECONDS.get(" ".join(args[:3]), SECONDS.get(tool, 1)))
    cloud.save()
    with open(os.environ["FAKE_AZ_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")
    return code


def cli_output(result: Any, args: list[str]) -> str:
    """What `az ... [--query <query>] [--output tsv]` prints for a command that returned `result`."""
    import jmespath  # imported here: every fake call is a new process, most never render output
    from knack.output import CommandResultItem, format_json, format_tsv
    from knack.util import todict

    value = todict(result)
    if "--query" in args:
        value = jmespath.search(args[args.index("--query") + 1], value, jmespath.Options(collections.OrderedDict))
    if value is None or option(args, "--output", option(args, "-o")) == "none":
        return ""
    tsv = option(args, "--output", option(args, "-o")) == "tsv"
    return format_tsv(CommandResultItem(value)) if tsv else format_json(CommandResultItem(value))


def option(args: list[str], name: str, default: str | None = None) -> str | None:
    return args[args.index(name) + 1] if name in args else default


# -- az -----------------------------------------------------------------------------------------------------
def az(cloud: FakeAzure, args: list[str]) -> int:
    line = " ".join(args)
    for prefix, handler in AZ:
        if line.startswith(prefix):
            if prefix not in ("login", "version", "config set"):
                cloud.token(GRAPH if prefix.startswith("ad ") else VAULT if prefix.startswith("keyvault secret")
                            else ARM)
            result = handler(cloud, args)
            if result is not None:
                sys.stdout.write(cli_output(result, args))
            return 0
    raise AzureError("", f"fake az does not know: az {line}")


def az_version(cloud: FakeAzure, args: list[str]) -> Any:
    return {"azure-cli": os.environ.get("FAKE_AZ_VERSION", "2.67.0"), "azure-cli-core": "2.67.0", "extensions": {}}


def az_login(cloud: FakeAzure, args: list[str]) -> Any:
    if "--federated-token" not in args:
        cloud.sign_in_user()
    else:
        cloud.sign_in_federated(option(args, "--federated-token") or "")
    return None


def account_show(cloud: FakeAzure, args: list[str]) -> Any:
    caller = cloud.caller
    kind = "user" if caller["kind"] == "user" else "servicePrincipal"
    return {"id": "00000000-aaaa-bbbb-cccc-000000000001", "name": SUBSCRIPTION_NAME, "tenantId": TENANT,
            "user": {"type": kind, "name": caller["name"]}}


def get_access_token(cloud: FakeAzure, args: list[str]) -> Any:
    scope = option(args, "--scope")  # v2 scope '<resource>/.default' (az 2.x accepts both forms)
    resource = scope.removesuffix(".default").rstrip("/") if scope else option(args, "--resource", ARM) or ARM
    return {"accessToken": cloud.token(resource), "tokenType": "Bearer"}


def signed_in_user(cloud: FakeAzure, args: list[str]) -> Any:
    if cloud.caller["kind"] != "user":
        raise AzureError("", "/me request is only valid with delegated authentication flow.")
    return USER


def group_exists(cloud: FakeAzure, args: list[str]) -> Any:
    return option(args, "--name") in cloud.data["groups"]


def group_create(cloud: FakeAzure, args: list[str]) -> Any:
    name = option(args, "--name") or ""
    if name not in cloud.data["groups"]:
        cloud.require("Microsoft.Resources/subscriptions/resourceGroups/write",
                      f"/subscriptions/{account_show(cloud, args)['id']}/resourceGroups/{name}")
        cloud.create_group(name)
    return {"id": cloud.data["groups"][name], "name": name}


def group_show(cloud: FakeAzure, args: list[str]) -> Any:
    name = option(args, "--name") or ""
    return {"id": cloud.group_id(name), "name": name, "location": "westeurope"}


def resource_list(cloud: FakeAzure, args: list[str]) -> Any:
    kind = option(args, "--resource-type") or ""
    names = {"Microsoft.DataFactory/factories": "factory", "Microsoft.Sql/servers": "sqlServer"}
    found = cloud.data["resources"].get(names.get(kind, ""))
    display = {"factory": "adfabc", "sqlServer": "sqlabc"}
    return [{"name": display[names[kind]], "type": kind}] if found is not None else []


def resource_show(cloud: FakeAzure, args: list[str]) -> Any:
    group = cloud.group_id(option(args, "--resource-group") or "")
    return {"id": f"{group}/providers/Microsoft.DataFactory/factories/adfabc", "name": "adfabc"}


def rest(cloud: FakeAzure, args: list[str]) -> Any:
    url = option(args, "--url") or ""
    if "Microsoft.ManagedIdentity/identities/default" in url:
        factory = cloud.data["resources"].get("factory")
        if factory is None:
            raise AzureError("ResourceNotFound", "The Resource 'Microsoft.DataFactory/factories/adfabc' was not found.")
        client_id = os.environ.get("FAKE_FACTORY_CLIENT_ID", factory["client_id"])
        return {"properties": {"clientId": client_id, "principalId": "p", "tenantId": TENANT}}
    match = re.match(r"^(.*)/providers/Microsoft\.Authorization/permissions\?api-version=", url)
    if match:
        return {"value": cloud.permissions(match.group(1))}
    raise AzureError("", f"fake az rest does not know {url}")


def role_definition_list(cloud: FakeAzure, args: list[str]) -> Any:
    name = option(args, "--name")
    scope = option(args, "--scope") or ""
    return [
        {"roleName": role["roleName"], "name": key, "roleType": "CustomRole",
         "id": f"{scope}/providers/Microsoft.Authorization/roleDefinitions/{key}",
         "permissions": [{"actions": list(role["permissions"].get("actions", [])),
                          "notActions": list(role["permissions"].get("notActions", [])),
                          "dataActions": [], "notDataActions": []}]}
        for key, role in cloud.data["custom_roles"].items()
        if name in (None, role["roleName"], key)
    ]


def trigger_show(cloud: FakeAzure, args: list[str]) -> Any:
    if cloud.data["trigger"] is None:
        raise AzureError("NotFound", "Trigger not found.")
    return existing_trigger(cloud.data["trigger"], cloud.data.get("trigger_start", "2025-06-01T00:00:00Z"))


def trigger_state(state: str) -> Callable[[FakeAzure, list[str]], Any]:
    def handler(cloud: FakeAzure, args: list[str]) -> Any:
        group = cloud.group_id(option(args, "--resource-group") or "")
        verb = "start" if state == "Started" else "stop"
        cloud.require(f"Microsoft.DataFactory/factories/triggers/{verb}/action", group)
        if cloud.data["trigger"] is None:
            raise AzureError("NotFound", "Trigger not found.")
        cloud.data["trigger"] = state
        return None

    return handler


def existing_trigger(runtime_state: str, start: str) -> Any:
    """The trigger as the Data Factory REST API returns it, deserialized into the SDK model the CLI prints."""
    from azure.mgmt.datafactory.models import TriggerResource

    body = json.loads((Path.cwd() / "adf" / "trigger" / "TR_daily_company_activity.json").read_text(encoding="utf-8"))
    body["properties"]["typeProperties"]["startTime"] = start
    body["properties"]["runtimeState"] = runtime_state
    factory = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DataFactory/factories/adfabc"
    body["id"] = f"{factory}/triggers/{body['name']}"
    return TriggerResource.deserialize(body)


def deployment(what_if: bool) -> Callable[[FakeAzure, list[str]], Any]:
    def handler(cloud: FakeAzure, args: list[str]) -> Any:
        params = option(args, "--parameters")
        template = option(args, "--template-file")
        bicepparam = params if params and params.endswith(".bicepparam") else None
        values = dict(a.split("=", 1) for a in args if "=" in a and not a.startswith("-")) if not bicepparam else {}
        planned, outputs = plan(Path(bicepparam) if bicepparam else None, Path(template) if template else None,
                                dict(os.environ), values)
        name = option(args, "--name") or "deployment"
        cloud.deploy(option(args, "--resource-group") or "", planned, OUTPUTS if bicepparam else outputs, name,
                     what_if=what_if, rbac=option(args, "--validation-level") != "ProviderNoRbac")
        if not what_if and bicepparam and cloud.data.get("trigger_start") is None:
            cloud.data["trigger_start"] = f"{os.environ.get('PIPELINE_START_DATE', '2025-06-01')}T00:00:00Z"
        return None

    return handler


def deployment_show(cloud: FakeAzure, args: list[str]) -> Any:
    outputs = cloud.data["deployments"].get(option(args, "--name") or "")
    if outputs is None:
        raise AzureError("DeploymentNotFound", f"Deployment '{option(args, '--name')}' could not be found.")
    if "FAKE_FACTORY_NAME" in os.environ:
        outputs = {**outputs, "dataFactoryName": os.environ["FAKE_FACTORY_NAME"]}
    return {"properties": {"outputs": {k: {"type": "String", "value": v} for k, v in outputs.items()}}}


def keyvault_show(cloud: FakeAzure, args: list[str]) -> Any:
    group = next(iter(cloud.data["groups"].values()))
    return {"id": f"{group}/providers/Microsoft.KeyVault/vaults/kvabc", "name": "kvabc"}


def secret_show(cloud: FakeAzure, args: list[str]) -> Any:
    name = option(args, "--name") or ""
    if name not in cloud.data["secrets"]:
        raise AzureError("SecretNotFound", f"A secret with (name/id) {name} was not found in this key vault.")
    return {"id": f"https://kvabc.vault.azure.net/secrets/{name}", "name": name}


def secret_set(cloud: FakeAzure, args: list[str]) -> Any:
    cloud.data["secrets"][option(args, "--name") or ""] = "set"
    return None


def role_assignment_list(cloud: FakeAzure, args: list[str]) -> Any:
    role, scope = option(args, "--role"), option(args, "--scope") or ""
    principal = option(args, "--assignee")
    return [
        {"id": f"{a['scope']}/providers/Microsoft.Authorization/roleAssignments/r{i}", "roleDefinitionName": a["role"]}
        for i, a in enumerate(cloud.data["role_assignments"])
        if a["principal"] == principal and a["role"] == role and a["scope"].lower() == scope.lower()
    ]


def role_assignment_create(cloud: FakeAzure, args: list[str]) -> Any:
    role, scope = option(args, "--role") or "", option(args, "--scope") or ""
    principal = option(args, "--assignee-object-id") or ""
    exists = any(a["principal"] == principal and a["role"] == role and a["scope"].lower() == scope.lower()
                 for a in cloud.data["role_assignments"])
    if exists and os.environ.get("FAKE_AZ_ROLE_CREATE") == "fails-if-exists":
        raise AzureError("RoleAssignmentExists", "The role assignment already exists.")
    if os.environ.get("FAKE_AZ_ROLE_CREATE") == "forbidden":  # e.g. a condition on the deployer's RBAC role
        raise AzureError("AuthorizationFailed", f"The client '{cloud.caller['name']}' with object id "
                         f"'{cloud.caller['id']}' does not have authorization or an ABAC condition not fulfilled to "
                         f"perform action 'Microsoft.Authorization/roleAssignments/write' over scope '{scope}'.")
    cloud.require("Microsoft.Authorization/roleAssignments/write", scope)
    cloud.require_assignment(scope, ROLE_IDS.get(role, role), principal,
                             option(args, "--assignee-principal-type") or "")
    if not exists:
        cloud.assign(principal, role, scope)
    return None


def role_assignment_delete(cloud: FakeAzure, args: list[str]) -> Any:
    role, scope, principal = option(args, "--role"), option(args, "--scope") or "", option(args, "--assignee")
    cloud.require("Microsoft.Authorization/roleAssignments/delete", scope)
    cloud.data["role_assignments"] = [
        a for a in cloud.data["role_assignments"]
        if not (a["principal"] == principal and a["role"] == role and a["scope"].lower() == scope.lower())
    ]
    return None


def firewall_rule_delete(cloud: FakeAzure, args: list[str]) -> Any:
    name = option(args, "--name") or ""
    cloud.require("Microsoft.Sql/servers/firewallRules/delete", cloud.group_id(option(args, "--resource-group") or ""))
    removed = [key for key in cloud.data["firewall"] if key.rsplit("/", 1)[-1].strip("'") == name]
    for key in removed:
        del cloud.data["firewall"][key]
    cloud.data["firewall_rules_removed"].append(name)
    return None


def service_tags(cloud: FakeAzure, args: list[str]) -> Any:
    """`az network list-service-tags`: the shape of the Service Tag Discovery API, an IPv6 prefix included. The API
    is at subscription scope; a caller without Microsoft.Network/locations/serviceTags/read there (roles on a
    resource group only) gets an empty list, not an error (Azure/azure-cli#12689, #29041)."""
    allowed = cloud.permissions(SUBSCRIPTION_ID)
    if not any(role_allows(p, "Microsoft.Network/locations/serviceTags/read") for p in allowed):
        return {"values": []}

    def tag(name: str, service: str, region: str, prefixes: list[str]) -> dict[str, Any]:
        return {"name": name, "properties": {"systemService": service, "region": region, "addressPrefixes": prefixes}}

    return {"values": [
        tag("DataFactory.WestEurope", "DataFactory", "westeurope", ["20.38.80.192/26", "2603:1020::/64"]),
        tag("DataFactory.NorthEurope", "DataFactory", "northeurope", ["13.69.230.96/28"]),
        tag("Sql.WestEurope", "AzureSQL", "westeurope", ["13.69.105.0/24"]),
    ]}


def config_zip(cloud: FakeAzure, args: list[str]) -> Any:
    Path(option(args, "--src") or "").read_bytes()  # the zip must exist
    return None


AZ: list[tuple[str, Callable[[FakeAzure, list[str]], Any]]] = [
    ("version", az_version),
    ("login", az_login),
    ("config set", lambda cloud, args: None),
    ("account set", lambda cloud, args: None),
    ("account show", account_show),
    ("account get-access-token", get_access_token),
    ("ad signed-in-user show", signed_in_user),
    ("ad sp show", lambda cloud, args: SP),
    ("group exists", group_exists),
    ("group create", group_create),
    ("group show", group_show),
    ("resource list", resource_list),
    ("resource show", resource_show),
    ("rest ", rest),
    ("role definition list", role_definition_list),
    ("datafactory trigger show", trigger_show),
    ("datafactory trigger start", trigger_state("Started")),
    ("datafactory trigger stop", trigger_state("Stopped")),
    ("deployment group what-if", deployment(what_if=True)),
    ("deployment group create", deployment(what_if=False)),
    ("deployment group show", deployment_show),
    ("keyvault show", keyvault_show),
    ("keyvault secret show", secret_show),
    ("keyvault secret set", secret_set),
    ("role assignment list", role_assignment_list),
    ("role assignment create", role_assignment_create),
    ("role assignment delete", role_assignment_delete),
    ("sql server firewall-rule delete", firewall_rule_delete),
    ("network list-service-tags", service_tags),
    ("functionapp deployment source config-zip", config_zip),
]


# -- the other tools ---------------------------------------------------------------------------------------
def sqlcmd(cloud: FakeAzure, args: list[str]) -> int:
    legacy = os.environ.get("FAKE_SQLCMD") == "legacy"
    if args == ["--version"]:
        if legacy:
            print("Sqlcmd: '--version': Unexpected argument. Enter '-?' for help.", file=sys.stderr)
            return 1
        print("sqlcmd: v1.8.2")
        return 0
    cloud.connect_sql(CLIENT_IP)
    if "-i" in args and os.environ.get("FAKE_SQLCMD_FAILS") == "1":
        print("Msg 15247, Level 16, State 1: User does not have permission to perform this action.", file=sys.stderr)
        return 1
    return 0


def company_activity(cloud: FakeAzure, args: list[str]) -> int:
    if args[:2] == ["sql", "check-driver"]:
        problem = os.environ.get("FAKE_PYODBC", "")
        if problem == "missing":
            print("pyodbc is not installed in this Python: run make install-azure", file=sys.stderr)
            return 1
        if problem == "no-driver":
            print("ODBC Driver 18 for SQL Server is not registered with the ODBC driver manager", file=sys.stderr)
            return 1
        print("pyodbc 5.5.0 with ODBC Driver 18 for SQL Server")
        return 0
    if args[:2] == ["sql", "deploy"]:
        cloud.connect_sql(CLIENT_IP)
    return 0


def curl(cloud: FakeAzure, args: list[str]) -> int:
    request_url = os.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL", "")
    if request_url and any(a.startswith(request_url) for a in args):
        if f"Authorization: bearer {os.environ.get('ACTIONS_ID_TOKEN_REQUEST_TOKEN')}" not in args:
            print("curl: (22) The requested URL returned error: 401", file=sys.stderr)
            return 22
        print(json.dumps({"count": 1, "value": cloud.federated_token()}))
        return 0
    if any("/api/ingestions?" in a for a in args):  # deploy.sh's smoke test: the bearer token comes on stdin
        header = sys.stdin.read() if "@-" in args else ""
        token = header.removeprefix("Authorization: Bearer ").strip() if header.startswith("Authorization: Bearer ") \
            else ""
        if not token or jwt_claims(token).get("aud") != f"api://{API_CLIENT_ID}":
            print('{"error": "unauthorized"}')
            print("curl: (22) The requested URL returned error: 401", file=sys.stderr)
            return 22
        print('{"days": [{"date": "2026-01-01", "state": "committed"}]}')
        return 0
    raise AzureError("", f"fake curl does not know: curl {' '.join(args)}")


TOOLS: dict[str, Callable[[FakeAzure, list[str]], int]] = {
    "az": az,
    "sqlcmd": sqlcmd,
    "company-activity": company_activity,
    "curl": curl,
    "func": lambda cloud, args: 0,
}

def serve(socket_path: str) -> None:
    """Answer calls one at a time: deploy.sh makes them one after another, and a test process runs one
    deployment at a time."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(socket_path)
        listener.listen(16)
        print("ready", flush=True)
        while True:
            connection, _ = listener.accept()
            with connection, contextlib.suppress(OSError):  # a caller killed mid-call (a timeout) gets no answer
                try:
                    call = marshal.loads(receive(connection))
                except (EOFError, ValueError, TypeError):  # ... nor one that died before its call was complete
                    continue
                connection.sendall(marshal.dumps(answer(call)))


def answer(call: dict[str, Any]) -> dict[str, Any]:
    """Run `call` as its own process would: its environment, directory, arguments and stdin; what it printed."""
    os.environ.clear()
    os.environ.update(call["env"])
    os.chdir(call["cwd"])
    sys.argv = [call["tool"], *call["argv"]]
    sys.stdin = io.StringIO(call.get("stdin", ""))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(call["files"])
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
        except Exception:  # a process would print the traceback and exit 1
            traceback.print_exc()
            code = 1
    return {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2])
    else:
        sys.exit(main())
