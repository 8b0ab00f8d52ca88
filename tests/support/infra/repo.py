"""The repository the infra checks read, and mutated copies of its infra/, adf/ and sql/ folders."""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.support.infra.checkov_run import CheckovReport

ROOT = Path(__file__).resolve().parents[3]
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


SKIP_COMMENT = re.compile(r"^\s*//\s*checkov:skip=.*\n", re.MULTILINE)
TLS_DOWNGRADE = ("minimumTlsVersion: 'TLS1_2'", "minimumTlsVersion: 'TLS1_0'")
BROKEN_FILE = "infra/modules/broken.bicep"
BROKEN_SOURCE = "var double = map([1, 2], x => x * 2)\n"


@dataclass
class CheckovRuns:
    report: CheckovReport  # infra/ as it is
    mutated_report: CheckovReport  # skip comments removed, TLS 1.0 on storage, one unparsable file
    parse_counts: dict[str, dict[str, int] | None]  # what checkov's parser read from each infra/ file
