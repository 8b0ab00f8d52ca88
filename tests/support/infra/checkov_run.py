"""Run checkov (its own venv, .venv-checkov) over Bicep offline, and read its JSON report.

checkov 3.3.30's Bicep runner honours inline `// checkov:skip=ID:reason` comments for its Python checks
but not for its graph checks (bicep/runner.py add_graph_check_results drops them; bridgecrewio/checkov
issue #7059). `apply_inline_skips` applies the same comment rule, with checkov's own regular expression,
to the failed graph-check records, so every suppression is still an inline comment with a reason.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# checkov.common.comment.enum.COMMENT_REGEX (3.3.30).
COMMENT_REGEX = re.compile(
    r"(checkov:skip=|bridgecrew:skip=|cortex:skip=) *([A-Za-z_\d-]+(?:,[A-Za-z_\d-]+)*)?(:[^\n]*)?"
)
GRAPH_CHECK_CLASS = "checkov.common.graph.checks_infra.base_check"
OFFLINE_ENV = {
    "BC_SKIP_MAPPING": "TRUE",
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
    "CKV_PARSE_ERROR_FAIL": "true",
    "PYTHONWARNINGS": "ignore",
}
# Per-file declaration counts, read with checkov's own parser (pycep) from inside .venv-checkov.
PARSE_SCRIPT = """
import json, sys
from pathlib import Path
from checkov.bicep.parser import Parser
counts = {}
for name in sys.argv[1:]:
    template, _ = Parser().parse(Path(name))
    counts[name] = None if template is None else {
        key: len(value) for key, value in template.items() if isinstance(value, dict) and key != "globals"}
print(json.dumps(counts))
"""


class CheckovMissing(RuntimeError):
    """.venv-checkov is not installed (run `make install`)."""


def checkov_python(root: Path) -> Path:
    python = root / ".venv-checkov" / "bin" / "python"
    if not (root / ".venv-checkov" / "bin" / "checkov").is_file() or not python.is_file():
        raise CheckovMissing(
            f"{root / '.venv-checkov'} is missing: run `make install` (it builds the checkov venv "
            "from infra/checkov-requirements.txt)"
        )
    return python


@dataclass
class CheckovReport:
    summary: dict[str, Any]
    failed: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    passed: list[dict[str, Any]]
    parsing_errors: list[str]
    returncode: int
    graph_skips_applied: list[dict[str, Any]] = field(default_factory=list)

    def failures(self) -> list[str]:
        return [
            f"{r['check_id']} {r['resource']} {r['file_path']}:{r['file_line_range'][0]}: {r['check_name']}"
            for r in self.failed
        ]


def start_checkov(root: Path, directory: Path) -> subprocess.Popen[str]:
    """Start checkov --framework bicep on `directory`, offline, parse errors fatal (JSON on stdout)."""
    checkov = checkov_python(root).parent / "checkov"
    return subprocess.Popen(
        [str(checkov), "-d", str(directory), "--framework", "bicep", "--skip-download", "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=directory,
        env={**os.environ, **OFFLINE_ENV},
    )


def finish_checkov(process: subprocess.Popen[str], timeout: float = 600) -> CheckovReport:
    """Wait for a started checkov and read its report, with graph skips applied."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    try:
        data = json.loads(stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"checkov printed no JSON (exit {process.returncode}): {stderr[-2000:]}") from None
    if isinstance(data, list):  # one report per framework; bicep is the only one asked for
        data = next(d for d in data if d.get("check_type") == "bicep")
    results = data.get("results", {})
    report = CheckovReport(
        summary=data.get("summary", data),
        failed=list(results.get("failed_checks", [])),
        skipped=list(results.get("skipped_checks", [])),
        passed=list(results.get("passed_checks", [])),
        parsing_errors=list(results.get("parsing_errors", [])),
        returncode=process.returncode,
    )
    apply_inline_skips(report)
    return report


def run_checkov(root: Path, directory: Path) -> CheckovReport:
    return finish_checkov(start_checkov(root, directory))


def apply_inline_skips(report: CheckovReport) -> None:
    """Move failed graph-check records suppressed by an inline comment in their block to `skipped`."""
    still_failed = []
    for record in report.failed:
        reason = None
        if record.get("check_class") == GRAPH_CHECK_CLASS:
            reason = inline_skip(Path(record["file_abs_path"]), record["file_line_range"], record["check_id"])
        if reason is None:
            still_failed.append(record)
        else:
            record = {**record, "check_result": {"result": "SKIPPED", "suppress_comment": reason}}
            report.skipped.append(record)
            report.graph_skips_applied.append(record)
    report.failed = still_failed


def inline_skip(path: Path, line_range: list[int], check_id: str) -> str | None:
    lines = path.read_text(encoding="utf-8").splitlines()[line_range[0] - 1 : line_range[1]]
    for line in lines:
        match = COMMENT_REGEX.search(line)
        if match and match.group(2) == check_id:
            return match.group(3)[1:] if match.group(3) else "No comment provided"
    return None


def start_parse_counts(root: Path, files: list[Path]) -> subprocess.Popen[str]:
    """Start reading each file with checkov's own parser (declaration counts, None if it cannot parse it)."""
    return subprocess.Popen(
        [str(checkov_python(root)), "-c", PARSE_SCRIPT, *map(str, files)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **OFFLINE_ENV},
    )


def finish_parse_counts(process: subprocess.Popen[str], timeout: float = 300) -> dict[str, dict[str, int] | None]:
    stdout, stderr = process.communicate(timeout=timeout)
    if process.returncode != 0:
        raise RuntimeError(f"checkov's parser failed (exit {process.returncode}): {stderr[-2000:]}")
    return json.loads(stdout)
