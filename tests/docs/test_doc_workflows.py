"""Every local workflow in the docs runs, command by command, exactly as written.

A workflow is the fenced code blocks of one doc that follow a `<!-- workflow: NAME -->` line; blocks
with the same NAME are one script, in document order. Each script runs in bash (`set -euo pipefail`)
in a fresh temp folder that looks like the repository root to the commands (`.venv` is linked), with
none of the project's settings in the environment, so it needs exactly what the doc tells the reader
to do. Services are real (Azurite, the usage-API simulator, DuckDB); the only difference from a
reader's shell is SERVICES_FREE_PORTS=1 (documented in local.md), so that tests never need ports
10000-10002 and 8080. Whatever a script leaves running is stopped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from pathlib import Path

import pytest

from company_activity.settings import SETTINGS
from company_activity_local.services.background import STATE_FILE, down
from company_activity_local.services.processes import ServiceError
from company_activity_local.settings import LOCAL_SETTINGS

pytestmark = [pytest.mark.docs, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("docs/local.md", "docs/crm.md", "docs/ingestion.md", "docs/pipeline.md")
MARKER = re.compile(r"^<!-- workflow: ([a-z0-9-]+) -->\s*$")
FENCE = re.compile(r"^```(bash|sh)?\s*$")


def workflows(doc: str) -> dict[str, str]:
    """NAME -> the script of that workflow in `doc`."""
    lines = (ROOT / doc).read_text().splitlines()
    scripts: dict[str, list[str]] = {}
    i = 0
    while i < len(lines):
        marker = MARKER.match(lines[i])
        if marker:
            assert i + 1 < len(lines) and FENCE.match(lines[i + 1]), f"{doc}:{i + 1}: a workflow marker must be " \
                                                                     "followed by a ```bash fence"
            end = next(j for j in range(i + 2, len(lines)) if lines[j].strip() == "```")
            scripts.setdefault(marker.group(1), []).extend([f"# {doc}:{i + 3}", *lines[i + 2:end]])
            i = end
        i += 1
    return {name: "\n".join(body) + "\n" for name, body in scripts.items()}


CASES = [(doc, name) for doc in DOCS for name in workflows(doc)]


def test_every_doc_with_local_workflows_has_them_marked() -> None:
    """Removing the markers would silently stop testing a doc's workflows."""
    assert {doc for doc, _ in CASES} == set(DOCS)


def clean_environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    for spec in (*SETTINGS, *LOCAL_SETTINGS):
        env.pop(spec.name, None)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    env.update({"SERVICES_FREE_PORTS": "1", "HOME": str(tmp_path), "COLUMNS": "120"})
    return env


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("doc", "name"), CASES, ids=[f"{doc}:{name}" for doc, name in CASES])
def test_doc_workflow_runs_as_written(doc: str, name: str, tmp_path: Path) -> None:
    script = workflows(doc)[name]
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    try:
        completed = subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=tmp_path,
                                   env=clean_environment(tmp_path), capture_output=True, text=True, timeout=540)
    finally:
        left_running = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.glob(f"**/{STATE_FILE}"))
        for state in tmp_path.glob(f"**/{STATE_FILE}"):
            with contextlib.suppress(ServiceError):  # already stopped
                down(state.parent)
    output = f"--- script\n{script}\n--- stdout\n{completed.stdout[-6000:]}\n--- stderr\n{completed.stderr[-6000:]}"
    assert completed.returncode == 0, output
    assert "Traceback" not in completed.stdout + completed.stderr, output
    assert not left_running, f"the workflow leaves services running ({left_running}): end it with services down"
