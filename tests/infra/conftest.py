"""Fixtures of the infra checks: mutated copies of infra/ and adf/, checkov runs (once each)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.infra.checkov_run import finish_checkov, finish_parse_counts, start_checkov, start_parse_counts
from tests.support.infra.repo import (
    BROKEN_FILE,
    BROKEN_SOURCE,
    ROOT,
    SKIP_COMMENT,
    TLS_DOWNGRADE,
    CheckovRuns,
    Edits,
    apply_edits,
    copy_tree,
)


@pytest.fixture()
def mutated(tmp_path: Path) -> Callable[[Edits], Path]:
    """mutated({path: (old, new)}) -> a copy of the repository's infra/ and adf/ with those edits."""

    def make(edits: Edits) -> Path:
        root = copy_tree(tmp_path / "repo")
        apply_edits(root, edits)
        return root

    return make


@pytest.fixture(scope="session")
def checkov_runs(tmp_path_factory: pytest.TempPathFactory) -> CheckovRuns:
    """The three checkov runs, started at once (each spends ~10-20 s importing checkov)."""
    root = copy_tree(tmp_path_factory.mktemp("checkov-mutated"))
    for path in (root / "infra").rglob("*.bicep"):
        path.write_text(SKIP_COMMENT.sub("", path.read_text(encoding="utf-8")), encoding="utf-8")
    apply_edits(root, {"infra/modules/storage.bicep": TLS_DOWNGRADE, BROKEN_FILE: ("", BROKEN_SOURCE)})
    real = start_checkov(ROOT, ROOT / "infra")
    weakened = start_checkov(ROOT, root / "infra")
    counts = start_parse_counts(ROOT, sorted((ROOT / "infra").rglob("*.bicep")))
    return CheckovRuns(finish_checkov(real), finish_checkov(weakened), finish_parse_counts(counts))
