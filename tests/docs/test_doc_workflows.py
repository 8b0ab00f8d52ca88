"""Every local workflow in the docs runs, command by command, exactly as written, and keeps to its own folder.

A workflow is the fenced code blocks of one doc that follow a `<!-- workflow: NAME -->` line; blocks
with the same NAME are one script, in document order. Each workflow names its own folder with
`export LOCAL_OUT_DIR=work/<name>` (docs/local.md, "Each workflow has its own folder").

The tests do what issue 21 describes a new user doing: a demo first (`out/`, as `make demo` leaves it),
then the workflows, one after another, in one folder that looks like the repository root to the commands
(`.venv` is linked), each in bash (`set -euo pipefail`) with none of the project's settings in the
environment, so it needs exactly what the doc tells the reader to do. Services are real (Azurite, the
usage-API simulator, DuckDB); the only difference from a reader's shell is SERVICES_FREE_PORTS=1
(documented in local.md), so that tests never need ports 10000-10002 and 8080. After each workflow, every
file that changed must lie in its own folder, and the demo's `out/` (its warehouse included) must be
byte for byte what the demo left. One test per workflow, all on one xdist worker (one group): the demo runs
once (a module fixture) and the workflows after it, while the other worker runs the rest of the suite.
Whatever a script leaves running is stopped afterwards. The demo is a small one (3 days, 50 companies) to keep
the runtime reasonable.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from company_activity.settings import SETTINGS
from company_activity_local.services.background import STATE_FILE, down
from company_activity_local.services.processes import ServiceError
from company_activity_local.settings import LOCAL_SETTINGS

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


FOLDER = re.compile(r"^export LOCAL_OUT_DIR=(\S+)\s*(#.*)?$", re.MULTILINE)


def folder_of(script: str) -> str:
    """The folder a workflow names for itself (its one `export LOCAL_OUT_DIR=...` line)."""
    found = FOLDER.findall(script)
    assert len(found) == 1, f"a workflow exports LOCAL_OUT_DIR exactly once, found {[f[0] for f in found]}"
    return found[0][0].rstrip("/")


def test_every_workflow_names_a_folder_of_its_own() -> None:
    folders = [folder_of(workflows(doc)[name]) for doc, name in CASES]
    assert len(set(folders)) == len(folders), folders
    for folder in folders:  # not the demo's out/, not the repository root
        assert re.fullmatch(r"work/[a-z0-9-]+", folder), folder


def clean_environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    for spec in (*SETTINGS, *LOCAL_SETTINGS):
        env.pop(spec.name, None)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    env.update({"SERVICES_FREE_PORTS": "1", "HOME": str(home), "COLUMNS": "120"})
    return env


def files_of(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under root (the linked .venv left out)."""
    found = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not (Path(folder) / d).is_symlink()]
        for name in names:
            path = Path(folder) / name
            found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def fact_rows(warehouse: Path) -> list[tuple[object, ...]]:
    with duckdb.connect(str(warehouse), read_only=True) as db:
        return db.execute("SELECT * EXCLUDE (loaded_at) FROM dbo.fact_daily_company_activity "
                          "ORDER BY activity_date, company_id").fetchall()


def run_script(script: str, root: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run `script` in bash at `root`; stop whatever it left running. (the run, the state files left running)"""
    try:
        completed = subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=root, env=env,
                                   capture_output=True, text=True, timeout=540)
    finally:
        left_running = sorted(str(p.relative_to(root)) for p in root.glob(f"**/{STATE_FILE}"))
        for state in root.glob(f"**/{STATE_FILE}"):
            with contextlib.suppress(ServiceError):  # already stopped
                down(state.parent)
    return completed, left_running


@dataclass(frozen=True)
class AfterDemo:
    """A folder laid out like the repository root, where the demo has just run."""
    root: Path
    env: dict[str, str]
    demo_files: dict[str, str]  # out/... -> sha256, as the demo left them
    demo_facts: list[tuple[object, ...]]


@pytest.fixture(scope="module")
def after_demo(tmp_path_factory: pytest.TempPathFactory) -> AfterDemo:
    """The demo, once: each workflow then runs in the same folder, after it and after the workflows before it."""
    base = tmp_path_factory.mktemp("doc-workflows")
    root, home = base / "repo", base / "home"
    root.mkdir()
    home.mkdir()
    (root / ".venv").symlink_to(ROOT / ".venv")
    env = clean_environment(home)
    demo, _ = run_script("source .venv/bin/activate\ncompany-activity demo --days 3 --companies 50\n", root, env)
    assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-4000:]
    demo_files = {p: h for p, h in files_of(root).items() if p.startswith("out/")}
    demo_facts = fact_rows(root / "out" / "warehouse.duckdb")
    assert "out/warehouse.duckdb" in demo_files and demo_facts
    return AfterDemo(root, env, demo_files, demo_facts)


@pytest.mark.docs
@pytest.mark.slow
@pytest.mark.xdist_group("doc_workflows")
@pytest.mark.timeout(900)
@pytest.mark.parametrize(("doc", "name"), CASES, ids=[f"{doc}:{name}" for doc, name in CASES])
def test_doc_workflow_runs_as_written_after_the_demo(after_demo: AfterDemo, doc: str, name: str) -> None:
    root = after_demo.root
    script = workflows(doc)[name]
    folder = folder_of(script)
    before = files_of(root)
    completed, left_running = run_script(script, root, after_demo.env)
    output = (f"--- {doc}: {name}\n{script}\n--- stdout\n{completed.stdout[-6000:]}\n"
              f"--- stderr\n{completed.stderr[-6000:]}")
    assert completed.returncode == 0, output
    assert "Traceback" not in completed.stdout + completed.stderr, output
    assert not left_running, f"{doc}: {name} leaves services running ({left_running}): end it with services down"
    after = files_of(root)
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    elsewhere = sorted(p for p in changed if not p.startswith(folder + "/"))
    assert not elsewhere, f"{doc}: {name} changed files outside its folder {folder}/: {elsewhere[:10]}"
    assert any(p.startswith(folder + "/") for p in changed), f"{doc}: {name} wrote nothing to {folder}/"
    assert {p: h for p, h in after.items() if p.startswith("out/")} == after_demo.demo_files
    assert fact_rows(root / "out" / "warehouse.duckdb") == after_demo.demo_facts
