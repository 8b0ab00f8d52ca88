"""checkov on the templates: zero failures, every skip justified inline, every file really parsed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.infra.bicep import BicepFile
from tests.support.infra.checkov_run import checkov_python
from tests.support.infra.repo import BROKEN_FILE, ROOT, CheckovRuns

pytestmark = [pytest.mark.cli, pytest.mark.slow]


def test_checkov_venv_is_installed() -> None:
    # Fails, never skips: `make install` builds .venv-checkov from infra/checkov-requirements.txt.
    assert checkov_python(ROOT).is_file()
    requirements = (ROOT / "infra" / "checkov-requirements.txt").read_text(encoding="utf-8")
    assert "checkov==3.3.30" in requirements


def test_checkov_reports_no_failed_check(checkov_runs: CheckovRuns) -> None:
    checkov_report = checkov_runs.report
    assert checkov_report.parsing_errors == []
    assert checkov_report.summary["parsing_errors"] == 0
    assert checkov_report.failures() == []
    passed = {(r["check_id"], r["resource"].rsplit(".", 1)[0]) for r in checkov_report.passed}
    essential = {
        ("CKV_AZURE_3", "Microsoft.Storage/storageAccounts"),  # HTTPS only
        ("CKV_AZURE_44", "Microsoft.Storage/storageAccounts"),  # TLS 1.2
        ("CKV_AZURE_34", "Microsoft.Storage/storageAccounts/blobServices/containers"),  # private containers
        ("CKV_AZURE_42", "Microsoft.KeyVault/vaults"),  # recoverable
        ("CKV_AZURE_110", "Microsoft.KeyVault/vaults"),  # purge protection
        ("CKV_AZURE_52", "Microsoft.Sql/servers"),  # TLS 1.2
        ("CKV_AZURE_11", "Microsoft.Sql/servers"),  # no 0.0.0.0/0 ingress
        ("CKV2_AZURE_27", "Microsoft.Sql/servers"),  # Entra authentication
        ("CKV_AZURE_23", "Microsoft.Sql/servers"),  # auditing
        ("CKV_AZURE_70", "Microsoft.Web/sites"),  # HTTPS only
        # CKV_AZURE_15 (TLS) and CKV_AZURE_78 (FTP) on the site are skipped: Flex Consumption rejects those
        # siteConfig properties (tests/infra/test_flex_consumption.py).
        ("CKV_AZURE_71", "Microsoft.Web/sites"),  # managed identity
    }
    assert essential - passed == set()


def test_every_skip_is_inline_with_a_justification(checkov_runs: CheckovRuns) -> None:
    checkov_report = checkov_runs.report
    assert checkov_report.skipped, "expected the documented inline skips"
    for record in checkov_report.skipped:
        reason = record["check_result"].get("suppress_comment", "")
        where = f"{record['check_id']} on {record['resource']} ({record['file_path']})"
        assert reason != "No comment provided" and len(reason.split()) >= 5, f"{where}: skip without a reason"


def test_checkov_parsed_every_declaration_of_every_file(checkov_runs: CheckovRuns) -> None:
    # pycep silently gives up on syntax it does not know; then checkov checks nothing in that file.
    files = sorted((ROOT / "infra").rglob("*.bicep"))
    counts = checkov_runs.parse_counts
    assert sorted(counts) == [str(p) for p in files]
    for path in files:
        parsed = counts[str(path)]
        assert parsed is not None, f"{path}: checkov's parser could not read it"
        ours = BicepFile(path)
        expected = {
            "parameters": len(ours.params),
            "variables": len(ours.variables),
            "resources": sum(1 for r in ours.resources.values() if r.parent is None),
            "modules": len(ours.modules),
            "outputs": len(ours.outputs),
        }
        assert {k: parsed.get(k, 0) for k in expected} == expected, path


def test_checkov_fails_on_parse_errors_and_on_weakened_templates(
    checkov_runs: CheckovRuns,
) -> None:
    checkov_report, mutated = checkov_runs.report, checkov_runs.mutated_report
    # An unparsable file is an error, not a silently skipped file (CKV_PARSE_ERROR_FAIL=true).
    assert [Path(p).name for p in mutated.parsing_errors] == [Path(BROKEN_FILE).name]
    assert mutated.returncode != 0
    # TLS 1.0 on the storage account is caught.
    failed = {(r["check_id"], r["resource"]) for r in mutated.failed}
    assert ("CKV_AZURE_44", "Microsoft.Storage/storageAccounts.storage") in failed
    # Without the skip comments exactly the skipped checks fail: no stale skip, no silent pass.
    skipped = {(r["check_id"], r["resource"]) for r in checkov_report.skipped}
    assert failed - {("CKV_AZURE_44", "Microsoft.Storage/storageAccounts.storage")} == skipped
    assert mutated.graph_skips_applied == []
