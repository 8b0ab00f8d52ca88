"""Warehouses for the dashboard tests: deployed and empty, and a small one loaded through the procedure."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from company_activity_local.warehouse import open_warehouse
from tests.support.warehouse_helpers import day, run, stage_crm, stage_usage

EVIL = "</script><script>document.title='x'</script>"


@pytest.fixture(scope="session")
def deployed(duckdb_template: Path) -> Path:
    """The session's deployed, empty warehouse (tests/support/warehouse_fixtures.py): one deploy per worker."""
    return duckdb_template


@pytest.fixture(scope="session")
def loaded(tmp_path_factory: pytest.TempPathFactory, deployed: Path) -> Path:
    path = tmp_path_factory.mktemp("loaded") / "warehouse.duckdb"
    shutil.copy(deployed, path)
    with open_warehouse(duckdb_path=path) as warehouse:
        for n in range(1, 11):
            stage_usage(warehouse, day(n), [("a", 0, 0), ("b", 5, 9), ("c", 2, 2)])
            a_contact = day(3) if n >= 3 else None  # a is contacted once, on day 3, and stays inactive
            stage_crm(warehouse, day(n), [("a", EVIL, "retail", "DE", a_contact), ("b", "Beta", None, None, day(1)),
                                          ("c", "Gamma", "saas", "FR", day(n))])  # fmt: skip
            run(warehouse, day(n))
    return path


