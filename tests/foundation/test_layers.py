"""The architecture contract in pyproject.toml ([tool.importlinter]) holds, and it catches what it is for.

The contract is checked with import-linter's own engine over the real packages; the planted cases copy
both packages into a temporary folder, add one wrong-way import there, and expect the contract to break.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = {"company_activity": REPO / "function_app", "company_activity_local": REPO / "local"}

pytestmark = pytest.mark.cli


def lint_imports(roots: list[Path]) -> subprocess.CompletedProcess[str]:
    """Run lint-imports with the project's contracts, importing the packages from `roots` only."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(str(r) for r in roots)}
    code = ("import sys; from importlinter.cli import lint_imports_command; "
            "sys.argv = ['lint-imports', '--config', sys.argv[1], '--no-cache']; lint_imports_command()")
    return subprocess.run([sys.executable, "-c", code, str(REPO / "pyproject.toml")],
                          capture_output=True, text=True, timeout=120, env=env, cwd=REPO)


def planted_copy(tmp_path: Path, module: str, line: str) -> list[Path]:
    """Both packages copied under tmp_path, with `line` appended to `module` (dotted name)."""
    roots = []
    for package, root in PACKAGES.items():
        target = tmp_path / root.name
        shutil.copytree(root / package, target / package, ignore=shutil.ignore_patterns("__pycache__"))
        roots.append(target)
    parts = module.split(".")
    base = tmp_path / ("function_app" if parts[0] == "company_activity" else "local")
    path = base.joinpath(*parts).with_suffix(".py")
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    return roots


def test_the_contracts_hold_on_the_real_packages() -> None:
    done = lint_imports(list(PACKAGES.values()))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 4 kept, 0 broken." in done.stdout


@pytest.mark.parametrize(("module", "line", "broken"), [
    ("company_activity.ingest.bronze", "import company_activity_local.warehouse  # noqa",
     "The deployed app never imports the local package"),
    ("company_activity.ingest.bronze", "import duckdb  # noqa",
     "The deployed app never imports the local package"),
    ("company_activity.settings", "import company_activity.orchestration.data_factory  # noqa",
     "App layers"),
    ("company_activity_local.warehouse.staging", "import company_activity_local.pipeline.executor  # noqa",
     "Local layers"),
    ("company_activity_local.pipeline.context", "import company_activity_local.pipeline.executor  # noqa",
     "No import circles"),
])
def test_a_planted_wrong_way_import_breaks_the_contract(tmp_path: Path, module: str, line: str,
                                                         broken: str) -> None:
    done = lint_imports(planted_copy(tmp_path, module, line))
    assert done.returncode != 0
    broken_section = done.stdout.split("Broken contracts", 1)[-1]
    assert broken in broken_section, done.stdout
