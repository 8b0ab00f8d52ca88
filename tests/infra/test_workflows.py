"""The GitHub workflows, offline: the schema check-jsonschema vendors, and the project's own rules
(workflow_checks.py): pinned actions, OIDC permissions only where azure/login runs, no secret in a run: script;
plus what ci.yml and deploy.yml must do."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.support.infra import workflow_checks
from tests.support.infra.repo import ROOT

pytestmark = pytest.mark.cli

WORKFLOWS = ROOT / ".github" / "workflows"


def test_every_workflow_passes_the_schema_and_the_project_rules() -> None:
    assert {p.name for p in workflow_checks.workflows(ROOT)} >= {"ci.yml", "deploy.yml", "deploy-environment.yml"}
    assert workflow_checks.all_problems(ROOT) == []


def test_ci_runs_make_test() -> None:
    steps = workflow_checks.load(WORKFLOWS / "ci.yml")["jobs"]["test"]["steps"]
    runs = [step.get("run", "") for step in steps]
    assert any(run.strip().startswith("make test") for run in runs)
    # Debian's chromium for the dashboard's browser test, installed in its own step.
    assert any("apt-get install" in run and "chromium" in run for run in runs)


def test_deploy_is_what_if_on_pull_requests_then_dev_then_approved_prod() -> None:
    deploy = workflow_checks.load(WORKFLOWS / "deploy.yml")
    jobs = deploy["jobs"]
    assert "pull_request" in deploy["on"] and deploy["on"]["push"]["branches"] == ["main"]
    what_if = jobs["what-if"]
    assert "pull_request" in what_if["if"]
    step = next(s for s in what_if["steps"] if "infra/deploy.sh" in s.get("run", ""))
    assert step["env"]["WHAT_IF_ONLY"] == "1" and step["run"].strip() == "infra/deploy.sh dev"
    # Its own read-only identity, federated for the dev-whatif environment only (issue 22, finding 2).
    assert what_if["environment"] == "dev-whatif" and step["env"]["WHAT_IF_VALIDATION_LEVEL"] == "ProviderNoRbac"
    assert "refs/heads/main" in jobs["dev"]["if"]
    assert jobs["prod"]["needs"] == "dev"
    for name in ("dev", "prod"):
        assert jobs[name]["uses"] == "./.github/workflows/deploy-environment.yml"
        assert jobs[name]["with"]["environment"] == name
    called = workflow_checks.load(WORKFLOWS / "deploy-environment.yml")["jobs"]["deploy"]
    # The GitHub environment gates the job: prod's required reviewers approve before it starts.
    assert called["environment"] == "${{ inputs.environment }}"
    step = next(s for s in called["steps"] if "infra/deploy.sh" in s.get("run", ""))
    assert step["env"]["ASSUME_YES"] == "1"
    assert 'infra/deploy.sh "$ENVIRONMENT_NAME"' in step["run"]
    assert step["env"]["ENVIRONMENT_NAME"] == "${{ inputs.environment }}"
    login = next(s for s in called["steps"] if str(s.get("uses", "")).startswith("azure/login@"))
    assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}


def test_sqlserver_databases_run_like_azure_sql_and_the_driver_step_never_prompts() -> None:
    """Azure SQL Database has READ_COMMITTED_SNAPSHOT on (SQL Server 2022's default is off), so every database
    the sqlserver workflow creates turns it on before anything runs in it. The runner image already has
    Microsoft's repository: `dpkg -i` of its .deb over that copy stops at a config-file prompt, so the driver
    step installs the .deb only when apt does not know the repository, and never interactively."""
    jobs = workflow_checks.load(WORKFLOWS / "sqlserver.yml")["jobs"]
    assert set(jobs) == {"sql-tests", "warehouse-bench"}
    assert jobs["warehouse-bench"]["if"] == "github.event_name != 'pull_request'"
    for name, job in jobs.items():
        runs = [step.get("run", "") for step in job["steps"]]
        created = [run for run in runs if "CREATE DATABASE" in run]
        assert len(created) == 1, name
        database = re.search(r"CREATE DATABASE (\w+)", created[0]).group(1)  # type: ignore[union-attr]
        assert f"ALTER DATABASE {database} SET READ_COMMITTED_SNAPSHOT ON" in created[0], name
        driver = next(step for step in job["steps"] if step.get("name") == "Microsoft ODBC Driver 18 for SQL Server")
        assert driver["env"]["DEBIAN_FRONTEND"] == "noninteractive", name
        script = driver["run"]
        install = script.index("dpkg --force-confdef --force-confold -i")
        assert script.rfind('grep -rqs "packages.microsoft.com"', 0, install) >= 0, name
        assert "--force-confold" in script[script.index("apt-get install"):], name


def variables_the_script_reads() -> set[str]:
    header = (ROOT / "infra" / "deploy.sh").read_text(encoding="utf-8").split("set -euo pipefail")[0]
    return set(re.findall(r"^#   ([A-Z_]+)", header, re.MULTILINE))


def test_the_deploy_job_passes_only_variables_the_script_documents() -> None:
    called = workflow_checks.load(WORKFLOWS / "deploy-environment.yml")["jobs"]["deploy"]
    step = next(s for s in called["steps"] if "infra/deploy.sh" in s.get("run", ""))
    passed = set(step["env"]) - {"ENVIRONMENT_NAME"}
    documented = variables_the_script_reads() | {"SQL_ADMIN_OBJECT_ID", "SQL_ADMIN_PRINCIPAL_TYPE"}
    assert passed - documented == set()


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "ci.yml",
            "actions/checkout@11d5960a326750d5838078e36cf38b85af677262 # v4.4.0",
            "actions/checkout@v4",
            "not pinned to a full commit SHA",
        ),
        (
            "ci.yml",
            "actions/checkout@11d5960a326750d5838078e36cf38b85af677262 # v4.4.0",
            "actions/checkout@11d5960a326750d5838078e36cf38b85af677262",
            "needs its release as a comment",
        ),
        (
            "sqlserver.yml",
            "actions/checkout@11d5960a326750d5838078e36cf38b85af677262",
            "actions/checkout@34e114876b0b11c390a56381ad16ebd13914f8d5",
            "pinned to several commits",
        ),
        ("deploy-environment.yml", "      id-token: write\n", "", "without id-token: write"),
        (
            "deploy.yml",
            "  prod:\n    needs: dev\n    permissions:\n      contents: read\n      id-token: write\n",
            "  prod:\n    needs: dev\n    permissions:\n      contents: read\n",
            "job prod signs in",
        ),
        ("ci.yml", "permissions:\n  contents: read\n", "permissions:\n  contents: write\n", "grant write"),
        ("ci.yml", "permissions:\n  contents: read\n\n", "", "no top-level permissions"),
        (
            "deploy-environment.yml",
            'infra/deploy.sh "$ENVIRONMENT_NAME"',
            'USAGE_API_KEY="${{ secrets.USAGE_API_KEY }}" infra/deploy.sh "$ENVIRONMENT_NAME"',
            "puts a secret in run:",
        ),
        (
            "deploy.yml",
            "          client-id: ${{ vars.AZURE_CLIENT_ID }}\n          tenant-id: ${{ vars.AZURE_TENANT_ID }}\n"
            "          subscription-id: ${{ vars.AZURE_SUBSCRIPTION_ID }}\n",
            "          creds: ${{ secrets.AZURE_CREDENTIALS }}\n",
            "stored credential",
        ),
        ("ci.yml", "    runs-on: ubuntu-24.04\n", "    runs_on: ubuntu-24.04\n", "ci.yml"),
        # Issue 22, findings 2 and 6.
        ("deploy.yml", "    environment: dev-whatif\n", "",
         "job what-if can sign in to Azure but runs in no environment"),
        ("deploy-environment.yml", "--require-hashes --no-deps -r", "-r", "pip install without --require-hashes"),
        ("deploy-environment.yml", "      - name: The Functions package",
         "      - run: npm install --global azure-functions-core-tools@4\n      - name: The Functions package",
         "installs an npm package"),
        ("deploy-environment.yml", '          SKIP_SECRETS: "1"\n',
         '          SKIP_SECRETS: "1"\n          USAGE_API_KEY: ${{ secrets.USAGE_API_KEY }}\n',
         "receives the Key Vault secret USAGE_API_KEY"),
        ("ci.yml", "python:3.11-bookworm@sha256:b99029c95d3d37fb1e4e76d287f7984373dca77c665885986e31b2c95260c13c",
         "python:3.11-bookworm", "by tag, not by digest"),
        ("sqlserver.yml", "@sha256:ba4c8329f48fb8f02e1416be6a930ebfd71268caee78aa985f3af4315e457c89", "",
         "by tag, not by digest"),
    ],
)
def test_the_workflow_checks_catch_each_mistake(tmp_path: Path, file: str, old: str, new: str, message: str) -> None:
    shutil.copytree(WORKFLOWS, tmp_path / ".github" / "workflows")
    path = tmp_path / ".github" / "workflows" / file
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    problems = workflow_checks.all_problems(tmp_path)
    assert any(message in p for p in problems), problems
