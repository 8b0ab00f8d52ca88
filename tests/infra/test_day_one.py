"""Day one in Azure, offline: a first deployment and a redeployment go through against the fake Azure, and each old
behaviour that would have stopped them fails there with the error Azure documents for it.

The old behaviours run from a copy of the repository with the fix taken out again (deploy_runs.repository_copy),
so each test below shows both sides: the fixed runbook passes, the unfixed one meets the documented error.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .deploy_runs import DeployRun, laptop, repository_copy, run_deploy

pytestmark = [pytest.mark.cli, pytest.mark.slow]


def without(root: Path, relative: str, pattern: str, replacement: str = "") -> None:
    """Take a fix out of the copy: replace the one match of `pattern` (a regex) in `relative`."""
    path = root / relative
    text, count = re.subn(pattern, replacement, path.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert count == 1, f"{relative}: the fix to take out was not found ({pattern!r})"
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
