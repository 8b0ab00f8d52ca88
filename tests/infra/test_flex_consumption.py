"""What ARM accepts on a Flex Consumption Function App, from the official Flex samples (see checks.py and
docs/azure-fidelity.md): only the siteConfig properties they use, and identity-based host storage that reaches
Table storage as well as Blob and Queue."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.infra import checks
from tests.support.infra.repo import ROOT

ENVIRONMENTS = [pytest.param(p, id=p.stem) for p in checks.environments(ROOT)]
FN = "infra/modules/function-app.bicep"
RA = "infra/modules/role-assignments.bicep"


@pytest.mark.parametrize("params_path", ENVIRONMENTS)
def test_site_config_sets_only_what_flex_consumption_accepts(params_path: Path) -> None:
    assert checks.flex_site_config(checks.load(params_path)) == []


@pytest.mark.parametrize("params_path", ENVIRONMENTS)
def test_the_host_storage_identity_reaches_table_storage(params_path: Path) -> None:
    deployment = checks.load(params_path)
    assert checks.host_table_storage(deployment) == []
    assert "AzureWebJobsStorage__tableServiceUri" in checks.app_settings(deployment)


def in_dev(check: Callable[[checks.Deployment], list[str]]) -> Callable[[Path], list[str]]:
    return lambda root: check(checks.load(root / "infra" / "env" / "dev.bicepparam"))


@pytest.mark.parametrize(
    ("edits", "check", "expected"),
    [
        pytest.param(
            {FN: ("      appSettings: appSettings\n", "      ftpsState: 'Disabled'\n      appSettings: appSettings\n")},
            in_dev(checks.flex_site_config),
            "siteConfig.ftpsState is not accepted on a Flex Consumption site",
            id="ftps-state",
        ),
        pytest.param(
            {
                FN: (
                    "      appSettings: appSettings\n",
                    "      linuxFxVersion: 'Python|3.11'\n      appSettings: appSettings\n",
                )
            },
            in_dev(checks.flex_site_config),
            "siteConfig.linuxFxVersion is not accepted",
            id="linux-fx-version",
        ),
        pytest.param(
            {FN: ("  AzureWebJobsStorage__tableServiceUri: tableEndpoint\n", "")},
            in_dev(checks.host_table_storage),
            "AzureWebJobsStorage__tableServiceUri must be the storage table endpoint",
            id="no-table-uri",
        ),
        pytest.param(
            {
                RA: (
                    "    roleDefinitionId: storageTableDataContributor\n",
                    "    roleDefinitionId: storageQueueDataContributor\n",
                )
            },
            in_dev(checks.host_table_storage),
            "needs Storage Table Data Contributor on the storage account",
            id="no-table-role",
        ),
    ],
)
def test_the_flex_checks_catch_each_mistake(
    mutated: Callable[[checks.Edits], Path], edits: checks.Edits, check: Callable[[Path], list[str]], expected: str
) -> None:
    problems = check(mutated(edits))
    assert any(expected in p for p in problems), problems
