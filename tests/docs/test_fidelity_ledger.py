"""docs/azure-fidelity.md names the tests that pin each assumed Azure behaviour: every `tests/...py::name`
it cites must exist, so a renamed or deleted test cannot leave a row pinned by nothing."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LEDGER = ROOT / "docs" / "azure-fidelity.md"
CITATION = re.compile(r"(tests/[\w/]+\.py)::(\w+)")


def test_every_cited_test_exists() -> None:
    text = LEDGER.read_text(encoding="utf-8")
    citations = sorted(set(CITATION.findall(text)))
    assert citations, "the ledger cites no test"
    missing = []
    for path, name in citations:
        source = ROOT / path
        if not source.is_file() or not re.search(rf"^(async )?def {name}\(", source.read_text(encoding="utf-8"),
                                                 re.MULTILINE):
            missing.append(f"{path}::{name}")
    assert missing == [], missing


def test_every_row_has_a_source_and_a_pin() -> None:
    for line in LEDGER.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| ") or line.startswith(("| Behaviour", "| ---")):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        assert len(cells) == 4, line
        behaviour, source, pinned, _ = cells
        assert behaviour and source and pinned and pinned != "-", line
