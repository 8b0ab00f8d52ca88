"""The state of a fake Azure that infra/deploy.sh runs against: ARM (resources, RBAC, deployments of the real
templates), Entra sign-in (interactive or an OIDC federated token), and the SQL server's front door.

Every behaviour below is one Azure has and the offline tests depend on; docs/azure-fidelity.md names the source
of each (section "ARM, Bicep and the az CLI"). Where the sources are silent the fake takes the strictest reading.

- Clock: fake seconds, advanced by each call (a deployment takes 12 minutes, `sleep N` takes N, recorded by the
  sleep stand-in and added on the next call), never by waiting.
- Sign-in: an interactive user (or a service principal with a client secret) gets tokens for any resource at any
  time. A service principal signed in with an
  OIDC federated token (azure/login) gets an ARM token at login; a token for any other resource (Key Vault, SQL,
  Graph) or a new ARM token after the first expires needs the federated token again, which GitHub issues for
  5 minutes: later the request fails with AADSTS700024.
- RBAC: role assignments of built-in roles (their documented actions/notActions) and custom roles; an action is
  allowed when one assignment at the scope or above has a matching action and no matching notAction of the same
  role. `Microsoft.Authorization/permissions` answers with exactly these. An assignment may carry a condition on
  `roleAssignments/write` (Condition below: the request's role definition id, principal id and principal type, the
  only attributes Azure offers); a role assignment it does not admit fails with AuthorizationFailed "... or an ABAC
  condition not fulfilled ...".
- Deployments: the real template is evaluated (bicep.py beside this file) with the deployer's environment; each resource
  it creates needs `<type>/write`, a role definition `roleDefinitions/write`; an `existing` role definition must
  exist; the SQL server's `administrators.azureADOnlyAuthentication` is refused on an existing server. A what-if
  with `--validation-level ProviderNoRbac` needs `deployments/whatIf/action` and `<type>/read` instead.
- SQL firewall: a rule takes effect 5 minutes after the deployment that created or changed it finished.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SUBSCRIPTION = "00000000-aaaa-bbbb-cccc-000000000001"
TENANT = "00000000-aaaa-bbbb-cccc-0000000000ff"
SUBSCRIPTION_ID = f"/subscriptions/{SUBSCRIPTION}"
USER = {"id": "11111111-2222-3333-4444-555555555555", "userPrincipalName": "dba@example.com"}
# A CI service principal: `az account show` names it by its application (client) id.
APP_ID = "aaaaaaaa-1111-2222-3333-444444444444"
SP = {"id": "99999999-8888-7777-6666-555555555555", "appId": APP_ID, "displayName": "gh-company-activity-deploy"}
# The pull requests' what-if identity (docs/deploy.md, CI setup): its own app registration, Reader plus what-if.
WHAT_IF_SP = {"id": "77777777-8888-7777-6666-555555555555", "appId": "cccccccc-1111-2222-3333-444444444444"}
WHAT_IF_ROLE = {"actions": ["*/read", "Microsoft.Resources/deployments/whatIf/action",
                            "Microsoft.Resources/deployments/validate/action"], "notActions": []}
FACTORY_CLIENT_ID = "bbbbbbbb-1111-2222-3333-444444444444"
# The HTTP API's app registration (API_CLIENT_ID): deploy.sh's smoke test asks for a token for api://<it>.
API_CLIENT_ID = "5f6e7d8c-9b0a-4c1d-8e2f-3a4b5c6d7e8f"
CLIENT_IP = "203.0.113.7"
EPOCH = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)

ARM = "https://management.azure.com/"
VAULT = "https://vault.azure.net"
SQL = "https://database.windows.net/"
GRAPH = "https://graph.microsoft.com/"
ACCESS_TOKEN_LIFETIME_S = 75 * 60  # Entra gives 60-90 minutes; the middle
FEDERATED_TOKEN_LIFETIME_S = 5 * 60  # a GitHub OIDC token (Azure/login#372: "expired in 5 minutes")
FIREWALL_DELAY_S = 5 * 60  # "It may take up to five minutes for this change to take effect" (error 40615)
DEPLOYMENT_S = 12 * 60  # ARM's deployment of the whole template; the resources exist when it has ended
SECONDS = {"deployment group what-if": 60, "func": 3 * 60}

# Built-in roles, actions and notActions as "Azure built-in roles" lists them (privileged, security).
BUILT_IN_ROLES: dict[str, dict[str, list[str]]] = {
    "Owner": {"actions": ["*"], "notActions": []},
    "Contributor": {
        "actions": ["*"],
        "notActions": [
            "Microsoft.Authorization/*/Delete",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/elevateAccess/Action",
            "Microsoft.Blueprint/blueprintAssignments/write",
            "Microsoft.Blueprint/blueprintAssignments/delete",
            "Microsoft.Compute/galleries/share/action",
            "Microsoft.Purview/consents/write",
            "Microsoft.Purview/consents/delete",
            "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
            "Microsoft.Subscription/cancel/action",
            "Microsoft.Subscription/enable/action",
        ],
    },
    "Reader": {"actions": ["*/read"], "notActions": []},
    "User Access Administrator": {
        "actions": ["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"],
        "notActions": [],
    },
    "Role Based Access Control Administrator": {
        "actions": [
            "Microsoft.Authorization/roleAssignments/write",
            "Microsoft.Authorization/roleAssignments/delete",
            "*/read",
            "Microsoft.Support/*",
        ],
        "notActions": [],
    },
    "Key Vault Secrets Officer": {
        "actions": [
            "Microsoft.Authorization/*/read",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.KeyVault/checkNameAvailability/read",
            "Microsoft.KeyVault/deletedVaults/read",
            "Microsoft.KeyVault/locations/*/read",
            "Microsoft.KeyVault/vaults/*/read",
            "Microsoft.KeyVault/operations/read",
            "Microsoft.Support/*",
        ],
        "notActions": [],
        "dataActions": ["Microsoft.KeyVault/vaults/secrets/*"],
    },
}


class AzureError(Exception):
    """An error as the az CLI prints it: `ERROR: (<code>) <message>` on stderr, exit 1."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"({code}) {message}" if code else message)
        self.code = code


def now_text(seconds: float) -> str:
    return (EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def jwt(claims: Mapping[str, Any]) -> str:
    """An unsigned JWT (header.payload.signature, base64url without padding)."""

    def part(value: Mapping[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


ROLE_ASSIGNMENT_WRITE = "Microsoft.Authorization/roleAssignments/write"
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Built-in roles the az CLI steps assign by name (Key Vault Secrets Officer for step 5), by their role definition id.
ROLE_IDS = {"Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"}


def condition_admits(condition: Mapping[str, Any] | None, role_id: str, principal: str, principal_type: str) -> bool:
    """A condition on roleAssignments/write as clauses joined by OR; each clause ANDs what it names: `roles` (role
    definition ids, GuidEquals), `principal_types` (StringEqualsIgnoreCase), `principals` (GuidEquals) and
    `not_principals` (GuidNotEquals). None admits everything."""
    if condition is None:
        return True
    for clause in condition["clauses"]:
        if role_id.lower() not in {r.lower() for r in clause["roles"]}:
            continue
        if "principal_types" in clause and principal_type.lower() not in {t.lower() for t in clause["principal_types"]}:
            continue
        if "principals" in clause and principal.lower() not in {p.lower() for p in clause["principals"]}:
            continue
        if principal.lower() in {p.lower() for p in clause.get("not_principals", [])}:
            continue
        return True
    return False


def matches(action: str, pattern: str) -> bool:
    """Azure's action matching: case-insensitive, `*` a wildcard."""
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def role_allows(role: Mapping[str, list[str]], action: str) -> bool:
    return any(matches(action, a) for a in role.get("actions", [])) and not any(
        matches(action, n) for n in role.get("notActions", [])
    )


@dataclass
class FakeAzure:
    """The whole fake cloud, persisted as JSON between the processes of one deploy.sh run (and between runs)."""

    data: dict[str, Any]
    path: Path | None = None

    # -- scenarios ----------------------------------------------------------------------------------------
    @classmethod
    def new(cls) -> FakeAzure:
        return cls({
            "clock": 0,
            "signed_in": None,
            "tokens": {},
            "role_assignments": [],
            "custom_roles": {},
            "groups": {},
            "resources": {},
            "deployments": {},
            "firewall": {},
            "firewall_rules_removed": [],
            "secrets": {},
            "trigger": None,
            "events": [],
        })

    @classmethod
    def load(cls, path: Path) -> FakeAzure:
        """The saved cloud, with the seconds of any `sleep` since the last call added to its clock."""
        cloud = cls(json.loads(path.read_text(encoding="utf-8")), path)
        slept = path.with_name(path.name + ".sleep")
        if slept.exists():
            cloud.advance(sum(float(line) for line in slept.read_text(encoding="utf-8").split()))
            slept.unlink()
        return cloud

    def save(self, path: Path | None = None) -> None:
        target = path or self.path
        assert target is not None
        target.write_text(json.dumps(self.data, indent=1, sort_keys=True), encoding="utf-8")

    def sign_in_user(self) -> None:
        self.data["signed_in"] = {"kind": "user", "id": USER["id"], "name": USER["userPrincipalName"]}

    def sign_in_federated(self, token: str) -> None:
        """`az login --service-principal --federated-token`: the token must be valid now; ARM token cached."""
        claims = jwt_claims(token)
        self._check_assertion(claims)
        self.data["signed_in"] = {"kind": "oidc", "id": SP["id"], "name": APP_ID, "assertion": claims}
        self.data["tokens"] = {ARM: self.clock + ACCESS_TOKEN_LIFETIME_S}

    def sign_in_what_if_identity(self) -> None:
        """The pull-request what-if identity (client secret here: its tokens are not what the test is about), holding
        the documented custom role on every resource group of the cloud."""
        self.data["custom_roles"]["company-activity-what-if"] = {"roleName": "Company activity what-if",
                                                                 "scope": SUBSCRIPTION_ID, "permissions": WHAT_IF_ROLE}
        for group_id in self.data["groups"].values():
            self.assign(WHAT_IF_SP["id"], "company-activity-what-if", group_id)
        self.data["custom_roles"]["service-tag-reader"] = {
            "roleName": "Company activity service tag reader", "scope": SUBSCRIPTION_ID,
            "permissions": {"actions": ["Microsoft.Network/locations/serviceTags/read"], "notActions": []}}
        self.assign(WHAT_IF_SP["id"], "service-tag-reader", SUBSCRIPTION_ID)
        self.data["signed_in"] = {"kind": "secret", "id": WHAT_IF_SP["id"], "name": WHAT_IF_SP["appId"]}

    def federated_token(self) -> str:
        """What GitHub's OIDC endpoint issues now (ACTIONS_ID_TOKEN_REQUEST_URL, audience api://AzureADTokenExchange)."""
        return jwt({
            "iss": "https://token.actions.githubusercontent.com",
            "aud": "api://AzureADTokenExchange",
            "sub": "repo:example/company-activity:environment:dev",
            "nbf": self.clock,
            "exp": self.clock + FEDERATED_TOKEN_LIFETIME_S,
        })

    def assign(self, principal: str, role: str, scope: str, condition: Mapping[str, Any] | None = None) -> None:
        assignment: dict[str, Any] = {"principal": principal, "role": role, "scope": scope}
        if condition is not None:
            assignment["condition"] = dict(condition)
        self.data["role_assignments"].append(assignment)

    def create_group(self, name: str) -> str:
        group_id = f"{SUBSCRIPTION_ID}/resourceGroups/{name}"
        self.data["groups"][name] = group_id
        return group_id

    # -- time ---------------------------------------------------------------------------------------------
    @property
    def clock(self) -> float:
        return float(self.data["clock"])

    def advance(self, seconds: float) -> None:
        self.data["clock"] = self.clock + seconds

    def event(self, text: str) -> None:
        self.data["events"].append(f"{self.clock:>6.0f}s {text}")

    # -- sign-in and tokens -------------------------------------------------------------------------------
    @property
    def caller(self) -> dict[str, Any]:
        if not self.data["signed_in"]:
            raise AzureError("", "Please run 'az login' to setup account.")
        return self.data["signed_in"]

    def _check_assertion(self, claims: Mapping[str, Any]) -> None:
        if not claims["nbf"] <= self.clock <= claims["exp"]:
            raise AzureError(
                "",
                f"AADSTS700024: Client assertion is not within its valid time range. Current time: "
                f"{now_text(self.clock)}, assertion valid from {now_text(claims['nbf'])}, expiry time of assertion "
                f"{now_text(claims['exp'])}. Review the documentation at "
                "https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
            )

    def token(self, resource: str) -> str:
        """An access token for `resource`, from the cache or newly acquired (which OIDC can do for 5 minutes)."""
        caller = self.caller
        cached = self.data["tokens"].get(resource)
        if cached is None or cached <= self.clock:
            if caller["kind"] == "oidc":
                self._check_assertion(caller["assertion"])
            self.data["tokens"][resource] = self.clock + ACCESS_TOKEN_LIFETIME_S
        return jwt({"aud": resource, "oid": caller["id"], "tid": TENANT, "name": "ä~?>"})

    # -- RBAC ---------------------------------------------------------------------------------------------
    def role(self, name: str) -> dict[str, list[str]]:
        if name in BUILT_IN_ROLES:
            return BUILT_IN_ROLES[name]
        return self.data["custom_roles"][name]["permissions"]

    def assignments_at(self, scope: str, principal: str | None = None) -> list[dict[str, str]]:
        principal = principal or self.caller["id"]
        return [
            a for a in self.data["role_assignments"]
            if a["principal"] == principal and (scope.lower() + "/").startswith(a["scope"].lower().rstrip("/") + "/")
        ]

    def permissions(self, scope: str) -> list[dict[str, list[str]]]:
        """`GET {scope}/providers/Microsoft.Authorization/permissions`: one entry per role assignment."""
        result = []
        for assignment in self.assignments_at(scope):
            role = self.role(assignment["role"])
            result.append({
                "actions": list(role.get("actions", [])),
                "notActions": list(role.get("notActions", [])),
                "dataActions": list(role.get("dataActions", [])),
                "notDataActions": [],
            })
        return result

    def require(self, action: str, scope: str) -> None:
        if not any(role_allows(p, action) for p in self.permissions(scope)):
            caller = self.caller
            raise AzureError(
                "AuthorizationFailed",
                f"The client '{caller['name']}' with object id '{caller['id']}' does not have authorization to "
                f"perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently "
                "granted, please refresh your credentials.",
            )

    def require_assignment(self, scope: str, role_id: str, principal: str, principal_type: str) -> None:
        """roleAssignments/write for this role, principal and type: some assignment of the caller grants the action
        and its condition, if any, admits the request."""
        for assignment in self.assignments_at(scope):
            if role_allows(self.role(assignment["role"]), ROLE_ASSIGNMENT_WRITE) and condition_admits(
                    assignment.get("condition"), role_id, principal, principal_type):
                return
        caller = self.caller
        raise AzureError(
            "AuthorizationFailed",
            f"The client '{caller['name']}' with object id '{caller['id']}' does not have authorization or an ABAC "
            f"condition not fulfilled to perform action '{ROLE_ASSIGNMENT_WRITE}' over scope '{scope}' or the scope is "
            "invalid. If access was recently granted, please refresh your credentials.",
        )

    def group_id(self, name: str) -> str:
        if name not in self.data["groups"]:
            raise AzureError("ResourceGroupNotFound", f"Resource group '{name}' could not be found.")
        return self.data["groups"][name]

    # -- the SQL server's front door --------------------------------------------------------------------
    def connect_sql(self, client_ip: str) -> None:
        """A connection to the warehouse: an Entra token, a firewall rule in effect, and the SQL administrator."""
        self.token(SQL)
        server = self.data["resources"].get("sqlServer")
        if server is None:
            raise AzureError("", "Login timeout expired (the SQL server does not exist)")
        in_effect = [
            r for r in self.data["firewall"].values()
            if r["start"] == r["end"] == client_ip and r["since"] + FIREWALL_DELAY_S <= self.clock
        ]
        if not in_effect:
            raise AzureError(
                "",
                f"Cannot open server '{server['name']}' requested by the login. Client with IP address '{client_ip}' "
                "is not allowed to access the server.  To enable access, use the Azure Management Portal or run "
                "sp_set_firewall_rule on the master database to create a firewall rule for this IP address or "
                "address range.  It may take up to five minutes for this change to take effect.",
            )
        caller = self.caller
        sid = caller["id"] if caller["kind"] == "user" else APP_ID  # an application by its client id
        members = self.data.get("entra_groups", {}).get(server["admin_sid"], [])
        if server["admin_sid"] != sid and sid not in members:
            raise AzureError("", "Login failed for user '<token-identified principal>'.")

    # -- deployments --------------------------------------------------------------------------------------
    def deploy(self, group: str, planned: Iterable[Planned], outputs: Mapping[str, str], name: str,
               *, what_if: bool, rbac: bool = True) -> None:
        """ARM validates every resource of the template, then (unless what-if) creates or updates them. `rbac`
        False is a what-if with --validation-level ProviderNoRbac: read permissions instead of write."""
        scope = self.group_id(group)
        if rbac:
            self.require("Microsoft.Resources/deployments/write", scope)
        if what_if:
            self.require("Microsoft.Resources/deployments/whatIf/action", scope)
        planned = list(planned)
        for resource in sorted(planned, key=lambda r: not r.existing):  # references resolve before any RBAC check
            self._validate(resource, scope, "write" if rbac else "read")
        if what_if:
            return
        self.advance(DEPLOYMENT_S)
        for resource in planned:
            if not resource.existing:
                self._apply(resource, scope, group)
        self.data["deployments"][name] = dict(outputs)

    def _validate(self, resource: Planned, scope: str, verb: str = "write") -> None:
        if resource.existing:
            if resource.type == "Microsoft.Authorization/roleDefinitions" and resource.key not in self.data[
                    "custom_roles"]:
                raise AzureError(
                    "RoleDefinitionDoesNotExist",
                    f"The specified role definition with ID '{resource.key}' does not exist.",
                )
            return
        self.require(f"{resource.type}/{verb}", scope)
        if resource.type == "Microsoft.Authorization/roleAssignments" and verb == "write":
            properties = _plain(resource.body.get("properties", {}))
            definition = str(properties.get("roleDefinitionId"))
            found = GUID.search(definition)
            role_id = found.group(0) if found else next(  # a custom role of the template, e.g. backfillStarter.id
                (key for key in self.data["custom_roles"] if "backfill" in definition.lower() and "backfill" in key),
                definition)
            self.require_assignment(scope, role_id, str(properties.get("principalId")),
                                    str(properties.get("principalType")))
        if resource.type == "Microsoft.Sql/servers":
            admins = resource.body.get("properties", {}).get("administrators")
            exists = "sqlServer" in self.data["resources"]
            if exists and isinstance(admins, dict) and "azureADOnlyAuthentication" in admins:
                raise AzureError(
                    "AadOnlyAuthenticationIsEnabled",
                    "Azure Active Directory Only Authentication is enabled. Please contact your system administrator.",
                )
            if not exists and not (isinstance(admins, dict) and admins.get("azureADOnlyAuthentication") is True):
                raise AzureError(
                    "InvalidParameterValue",
                    "Invalid value given for parameter Login. Specify a valid parameter value.",
                )

    def _apply(self, resource: Planned, scope: str, group: str) -> None:
        properties = _plain(resource.body.get("properties", {}))
        if resource.type == "Microsoft.Authorization/roleDefinitions":
            self.data["custom_roles"][resource.key] = {
                "roleName": str(properties.get("roleName")).replace("${resourceGroup().name}", group),
                "scope": scope,
                "permissions": (properties.get("permissions") or [{}])[0],
            }
        elif resource.type == "Microsoft.Sql/servers":
            server = self.data["resources"].setdefault("sqlServer", {"name": "sqlabc", "admin_sid": None})
            admins = properties.get("administrators")
            if isinstance(admins, dict):
                server["admin_sid"] = admins.get("sid")
        elif resource.type == "Microsoft.Sql/servers/administrators":
            self.data["resources"]["sqlServer"]["admin_sid"] = properties.get("sid")
        elif resource.type == "Microsoft.Sql/servers/firewallRules":
            start, end = properties.get("startIpAddress"), properties.get("endIpAddress")
            previous = self.data["firewall"].get(resource.key)
            if previous is None or (previous["start"], previous["end"]) != (start, end):
                self.data["firewall"][resource.key] = {"start": start, "end": end, "since": self.clock}
        elif resource.type == "Microsoft.DataFactory/factories":
            self.data["resources"].setdefault("factory", {"client_id": FACTORY_CLIENT_ID})
        elif resource.type == "Microsoft.DataFactory/factories/triggers" and self.data["trigger"] is None:
            self.data["trigger"] = "Stopped"
        elif resource.type == "Microsoft.Authorization/roleAssignments":
            self.data["resources"].setdefault("roleAssignments", []).append(resource.key)


@dataclass(frozen=True)
class Planned:
    """One resource of an evaluated template: its type, a stable key for its name, its body, `existing` or not."""

    type: str
    key: str
    body: dict[str, Any]
    existing: bool


def plan(params_path: Path | None, template_path: Path | None, environment: Mapping[str, str],
         parameters: Mapping[str, Any]) -> tuple[list[Planned], dict[str, str]]:
    """The resources a deployment of the real template would create or reference, with the names of its outputs."""
    from tests.support.infra.bicep import BicepFile, Deployment, Evaluator

    if params_path is not None:
        deployment = Deployment.load(params_path, environment)
        files = list(deployment.modules.values())
        main = deployment.main
    else:
        assert template_path is not None
        main = BicepFile(template_path)
        files = [(main, Evaluator(main, parameters))]
    planned = [p for file, evaluator in files for p in _resources(file, evaluator)]
    return planned, {name: name for name in main.outputs}


def _resources(file: Any, evaluator: Any) -> Iterator[Planned]:
    for declaration in file.resources.values():
        if declaration.condition is not None and evaluator.eval(declaration.condition) is False:
            continue
        resource_type = declaration.type.split("@")[0]
        for body in evaluator.instances(declaration):
            yield Planned(resource_type, _key(body.get("name")), body, declaration.existing)


def _plain(value: Any) -> Any:
    """A template value as JSON: a value known only at deployment time becomes its expression text."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return _key(value)


def _key(name: Any) -> str:
    """A stable text for a resource name known only at deployment time (guid(...), uniqueString(...))."""
    text = getattr(name, "text", None)
    if text is None:
        return str(name)
    args = getattr(name, "args", ())
    if args:
        return f"{name.function}({', '.join(_key(a) for a in args)})"
    return str(text)


def state_path() -> Path:
    return Path(os.environ["FAKE_AZ_STATE"])
