"""Fixtures of the infra checks: the repository, mutated copies of infra/ and adf/, checkov runs (once each)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from .checkov_run import CheckovReport, finish_checkov, finish_parse_counts, start_checkov, start_parse_counts

ROOT = Path(__file__).resolve().parents[2]
Edits = Mapping[str, tuple[str, str] | list[tuple[str, str]]]


def copy_tree(destination: Path) -> Path:
    """infra/, adf/ and sql/ copied side by side (templates load ../../adf/... relative to themselves)."""
    for folder in ("infra", "adf", "sql"):
        shutil.copytree(ROOT / folder, destination / folder)
    return destination


def apply_edits(root: Path, edits: Edits) -> None:
    for relative, replacements in edits.items():
        path = root / relative
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        for old, new in replacements if isinstance(replacements, list) else [replacements]:
            if old and old not in text:
                raise AssertionError(f"mutation target not found in {relative}: {old!r}")
            text = text.replace(old, new, 1) if old else text + new
        path.write_text(text, encoding="utf-8")


@pytest.fixture()
def mutated(tmp_path: Path) -> Callable[[Edits], Path]:
    """mutated({path: (old, new)}) -> a copy of the repository's infra/ and adf/ with those edits."""

    def make(edits: Edits) -> Path:
        root = copy_tree(tmp_path / "repo")
        apply_edits(root, edits)
        return root

    return make


SKIP_COMMENT = re.compile(r"^\s*//\s*checkov:skip=.*\n", re.MULTILINE)
TLS_DOWNGRADE = ("minimumTlsVersion: 'TLS1_2'", "minimumTlsVersion: 'TLS1_0'")
BROKEN_FILE = "infra/modules/broken.bicep"
BROKEN_SOURCE = "var double = map([1, 2], x => x * 2)\n"


@dataclass
class CheckovRuns:
    report: CheckovReport  # infra/ as it is
    mutated_report: CheckovReport  # skip comments removed, TLS 1.0 on storage, one unparsable file
    parse_counts: dict[str, dict[str, int] | None]  # what checkov's parser read from each infra/ file


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
