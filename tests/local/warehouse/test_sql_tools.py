"""What a laptop needs for the SQL Server engine and infra/deploy.sh's SQL steps: `company-activity sql check-driver`
names what is missing with the commands that install it, and README.md and docs/deploy.md name the same commands."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from company_activity_local.warehouse.sqlserver import (
    INSTALL_ODBC_DRIVER,
    INSTALL_PYODBC,
    ODBC_DRIVER,
    driver_problem,
)

ROOT = Path(__file__).resolve().parents[3]
CLI = Path(sys.executable).with_name("company-activity")


def fake_pyodbc(*drivers: str) -> SimpleNamespace:
    """The driver manager cannot be faked any other way here: pyodbc's drivers() lists what odbcinst.ini has."""
    return SimpleNamespace(drivers=lambda: list(drivers))


def test_an_installed_driver_is_no_problem() -> None:
    assert driver_problem(fake_pyodbc("ODBC Driver 17 for SQL Server", ODBC_DRIVER)) is None


def test_a_missing_driver_is_named_with_what_was_found_and_how_to_install_it() -> None:
    problem = driver_problem(fake_pyodbc("ODBC Driver 17 for SQL Server"))
    assert problem is not None
    assert problem.startswith("ODBC Driver 18 for SQL Server is not registered with the ODBC driver manager "
                              "(drivers found: ODBC Driver 17 for SQL Server)")
    for commands in INSTALL_ODBC_DRIVER.values():
        assert all(line in problem for line in commands.splitlines())
    assert "drivers found: none" in (driver_problem(fake_pyodbc()) or "")


@pytest.mark.cli
@pytest.mark.skipif(importlib.util.find_spec("pyodbc") is not None, reason="pyodbc is installed here")
def test_check_driver_without_pyodbc_says_make_install_azure_and_exits_1() -> None:
    result = subprocess.run([str(CLI), "sql", "check-driver"], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "the SQL Server engine needs pyodbc and ODBC Driver 18 for SQL Server" in result.stderr
    assert f"pyodbc: {INSTALL_PYODBC} in this repository" in result.stderr
    assert "company-activity-pipeline[sqlserver]" not in result.stderr  # no such package on PyPI


@pytest.mark.parametrize("document", ["README.md", "docs/deploy.md"])
def test_the_docs_name_the_install_commands_exactly(document: str) -> None:
    text = (ROOT / document).read_text(encoding="utf-8")
    assert INSTALL_PYODBC in text
    for system, commands in INSTALL_ODBC_DRIVER.items():
        assert commands in text, f"{document} lacks the {system} commands:\n{commands}"


def test_make_install_azure_installs_the_sqlserver_extra_and_checks_the_driver() -> None:
    # --no-print-directory: under `make test` the inner make would add "Entering/Leaving directory" lines.
    dry_run = subprocess.run(["make", "--no-print-directory", "-n", "-B", "install-azure"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    assert "pip install --quiet --disable-pip-version-check -e '.[sqlserver]'" in dry_run
    assert dry_run.rstrip().endswith("company-activity sql check-driver")
