"""Running infra/deploy.sh against the fake Azure (fake_azure.py beside this file): who signs in, with which roles,
and what one run did. A scenario's cloud is saved to a file the fake tools share; a second run on the same file is a
redeployment."""

from __future__ import annotations

import atexit
import contextlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.infra.fake_azure import API_CLIENT_ID, APP_ID, SP, SUBSCRIPTION_ID, USER, FakeAzure
from tests.support.infra.repo import ROOT

TOOLS = ("az", "sqlcmd", "func", "curl", "company-activity", "sleep")
SECRETS = {"USAGE_API_KEY": "usage-key-Zx81-do-not-leak", "SLACK_WEBHOOK_URL": "https://hooks.slack.test/T0/B0/s3cr3t"}
GROUP = "rg-company-activity-dev"
GROUP_ID = f"{SUBSCRIPTION_ID}/resourceGroups/{GROUP}"
# What the documented one-time CI setup grants the deploying service principal on its resource group.
CI_ROLES = ("Contributor", "Role Based Access Control Administrator")
SERVICE_TAG_READER = "Company activity service tag reader"  # the CI setup's custom role on the subscription
GITHUB_OIDC = {"ACTIONS_ID_TOKEN_REQUEST_URL": "https://pipelines.actions.test/oidc/token?api-version=2.0",
               "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runner-request-token"}


def ci_workflow(folder: Path) -> dict[str, str]:
    """The environment .github/workflows/deploy-environment.yml gives deploy.sh: the runner's OIDC endpoint, no
    Key Vault secrets (set out of band) and the app folder as a zip published with az (no Core Tools)."""
    package = folder / "function_app.zip"
    package.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip archive
    return {**GITHUB_OIDC, "SKIP_SECRETS": "1", "PUBLISH_ZIP": str(package), "USAGE_API_KEY": "",
            "SLACK_WEBHOOK_URL": ""}


def laptop() -> FakeAzure:
    """A person at a laptop (az login), Owner of the subscription: the documented first deployment."""
    cloud = FakeAzure.new()
    cloud.sign_in_user()
    cloud.assign(USER["id"], "Owner", SUBSCRIPTION_ID)
    return cloud


BACKFILL_ROLE_KEY = "guid(resourceGroup().id, company-activity-backfill-starter)"  # the fake's name of the role


def documented_condition(feed_principals: tuple[str, ...] = (), runbook: Path = ROOT / "docs" / "deploy.md") -> dict:
    """The condition docs/deploy.md (CI setup) puts on the deploy identity's Role Based Access Control
    Administrator assignment, with the role lists read from the runbook itself, in the fake's clause form."""
    text = runbook.read_text(encoding="utf-8")

    def guids(variable: str) -> list[str]:
        [listed] = re.findall(rf'^\s*{variable}="([^"]+)"', text, re.MULTILINE)
        return [BACKFILL_ROLE_KEY if g.strip() == "$BACKFILL_ROLE_ID" else g.strip() for g in listed.split(",")]

    return {"clauses": [
        {"roles": guids("ROLES"), "principal_types": ["ServicePrincipal"], "not_principals": [SP["id"]]},
        {"roles": guids("FEED_ROLES"), "principals": list(feed_principals) or ["00000000-0000-0000-0000-000000000000"]},
    ]}


def ci(roles: tuple[str, ...] = CI_ROLES, service_tags: bool = True,
       feed_principals: tuple[str, ...] = ()) -> FakeAzure:
    """GitHub Actions after azure/login (OIDC): the service principal with the CI setup's roles on the resource
    group an administrator created once (Role Based Access Control Administrator with the documented condition,
    `feed_principals` its FEED_PRINCIPALS), and the service tag reader role on the subscription."""
    cloud = FakeAzure.new()
    cloud.create_group(GROUP)
    for role in roles:
        condition = documented_condition(feed_principals) if role == "Role Based Access Control Administrator" else None
        cloud.assign(SP["id"], role, GROUP_ID, condition)
    if service_tags:
        grant_service_tag_reader(cloud, SP["id"])
    cloud.sign_in_federated(cloud.federated_token())
    return cloud


def grant_service_tag_reader(cloud: FakeAzure, principal: str) -> None:
    """The CI setup's custom role on the subscription: reading the service tags (a subscription-scope API)."""
    cloud.data["custom_roles"][SERVICE_TAG_READER] = {
        "roleName": SERVICE_TAG_READER, "scope": SUBSCRIPTION_ID,
        "permissions": {"actions": ["Microsoft.Network/locations/serviceTags/read"], "notActions": []}}
    cloud.assign(principal, SERVICE_TAG_READER, SUBSCRIPTION_ID)


def service_principal_with_secret(roles: tuple[str, ...] = ("Owner",)) -> FakeAzure:
    """A service principal signed in with a client secret (MSAL gets new tokens whenever it needs them), with its
    roles on the resource group and the service tag reader role on the subscription."""
    cloud = FakeAzure.new()
    cloud.create_group(GROUP)
    for role in roles:
        cloud.assign(SP["id"], role, GROUP_ID)
    grant_service_tag_reader(cloud, SP["id"])
    cloud.data["signed_in"] = {"kind": "secret", "id": SP["id"], "name": APP_ID}
    return cloud


@dataclass
class DeployRun:
    result: subprocess.CompletedProcess[str]
    calls: list[dict[str, Any]]
    cloud: FakeAzure

    @property
    def output(self) -> str:
        return self.result.stdout + self.result.stderr

    def commands(self) -> list[str]:
        return [command(c) for c in self.calls]

    def index_of(self, pattern: str) -> int:
        for index, call in enumerate(self.calls):
            if re.search(pattern, command(call)):
                return index
        raise AssertionError(f"no call matches {pattern!r}:\n" + "\n".join(self.commands()))

    def errors(self) -> list[str]:
        return [c["error"] for c in self.calls if "error" in c]


def command(call: dict[str, Any]) -> str:
    return " ".join([call["tool"], *call["argv"]])


def fake_tools(folder: Path, without: tuple[str, ...] = ()) -> Path:
    """A bin/ of the fake tools: each a client of the fake tool server (fake_azure_cli.py --serve)."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(exist_ok=True)
    client = Path(__file__).with_name("fake_tool_client.py")
    for tool in TOOLS:
        wrapper = bin_dir / tool
        if tool in without:
            wrapper.unlink(missing_ok=True)
            continue
        if tool == "sleep":  # no process of its own: the next fake call adds the seconds to the fake clock
            wrapper.write_text('#!/bin/sh\necho "$1" >> "$FAKE_AZ_STATE.sleep"\n', encoding="utf-8")
        else:
            wrapper.write_text(f'#!/bin/sh\nFAKE_TOOL={tool} exec "{sys.executable}" -I -S "{client}" "$@"\n',
                               encoding="utf-8")
        wrapper.chmod(0o755)
    return bin_dir


@dataclass
class _Server:
    process: subprocess.Popen[str]
    folder: tempfile.TemporaryDirectory[str]

    @property
    def socket_path(self) -> str:
        return str(Path(self.folder.name) / "socket")

    def errors(self) -> str:
        return (Path(self.folder.name) / "server.err").read_text(encoding="utf-8")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        assert self.process.stdout is not None
        self.process.stdout.close()
        self.folder.cleanup()


_SERVERS: list[_Server] = []  # this test process's one server, started by the first run


@contextlib.contextmanager
def fake_tool_server() -> Iterator[str]:
    """The socket of this test process's fake tool server, for one run: started on first use, stopped at exit.
    Runs can share it because it keeps nothing between calls (each call loads its run's cloud from its file, and
    gets its own environment, directory and stdin); sharing spares each run importing the fake's dependencies
    (azure-mgmt-datafactory alone takes 0.4 s). The socket is in a short temporary folder: a Unix socket's path has
    at most 107 bytes, a pytest tmp_path can be longer."""
    if not _SERVERS:
        folder = tempfile.TemporaryDirectory(prefix="fake-az-")
        socket_path = str(Path(folder.name) / "socket")
        with (Path(folder.name) / "server.err").open("w", encoding="utf-8") as stderr:
            process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("fake_azure_cli.py")), "--serve",
                                        socket_path], stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
                                       text=True)
        _SERVERS.append(_Server(process, folder))
        atexit.register(_SERVERS[0].stop)
        assert process.stdout is not None and process.stdout.readline() == "ready\n", _SERVERS[0].errors()
    server = _SERVERS[0]
    assert server.process.poll() is None, f"the fake tool server stopped: {server.errors()}"
    yield server.socket_path
    assert server.process.poll() is None, f"the fake tool server stopped: {server.errors()}"


def run_deploy(folder: Path, cloud: FakeAzure | None, *args: str, root: Path = ROOT, without: tuple[str, ...] = (),
               **extra: str) -> DeployRun:
    """infra/deploy.sh <args> (default: dev) of `root` with the fake tools; `cloud` None continues the saved one."""
    state = folder / "cloud.json"
    if cloud is not None:
        cloud.save(state)
    log = folder / "calls.jsonl"
    log.unlink(missing_ok=True)
    env = {
        "PATH": f"{fake_tools(folder, without)}:/usr/bin:/bin",
        "HOME": str(folder),
        "FAKE_AZ_LOG": str(log),
        "FAKE_AZ_STATE": str(state),
        "USAGE_API_BASE_URL": "https://usage.example.com/v1",
        "ALERT_EMAILS": "data-oncall@example.com,data-lead@example.com",
        "DEPLOYER_IP": "203.0.113.7",
        "API_CLIENT_ID": API_CLIENT_ID,
        "DASHBOARD_AUTH_CLIENT_ID": "cccccccc-1111-2222-3333-444444444444",
        "DASHBOARD_ALLOWED_GROUPS": "dddddddd-1111-2222-3333-444444444444",
        "ASSUME_YES": "1",
        "COMPANY_ACTIVITY": "company-activity",
        **SECRETS,
        **extra,
    }
    with fake_tool_server() as socket_path:
        result = subprocess.run(
            ["bash", str(root / "infra" / "deploy.sh"), *(args or ("dev",))],
            capture_output=True,
            text=True,
            env={**env, "FAKE_AZ_SOCKET": socket_path},
            stdin=subprocess.DEVNULL,
            timeout=300,
            check=False,
        )
    calls = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []
    return DeployRun(result, calls, FakeAzure.load(state))


def repository_copy(folder: Path) -> Path:
    """infra/, adf/, sql/ and function_app/ side by side, to run a deliberately changed deploy.sh or template."""
    root = folder / "repo"
    for name in ("infra", "adf", "sql", "function_app"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    return root
