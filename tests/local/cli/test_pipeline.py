"""`company-activity pipeline run | validate` as a user calls them: settings from the environment."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from company_activity.ingest.runner import ingest_day
from company_activity.ingest.usage_api import UsageApiClient
from company_activity.settings import Secret
from company_activity_local.cli import main
from company_activity_local.pipeline.resources import ADF_DIR
from company_activity_local.services.azurite import Azurite
from company_activity_local.services.crm_generator import CrmGenerator, upload_crm_snapshot
from company_activity_local.services.simulator import SimulatorConfig, UsageApiSimulator
from company_activity_local.services.slack_catcher import SlackCatcher

DAY1, DAY2, DAY3, DAY4 = date(2026, 4, 1), date(2026, 4, 2), date(2026, 4, 3), date(2026, 4, 4)


def test_run_prints_activities_and_exits_by_outcome(azurite: Azurite, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    bronze, crm = service.create_container("cli-bronze"), service.create_container("cli-crm")
    with UsageApiSimulator(SimulatorConfig(companies=10, seed=3)) as simulator, SlackCatcher() as slack, \
            UsageApiClient(simulator.base_url, Secret(simulator.api_key)) as client:
        for day in (DAY1, DAY2):  # DAY3 and DAY4 are never ingested
            assert ingest_day(day, client, bronze, reject_threshold=0.0).committed
            upload_crm_snapshot(crm, day, CrmGenerator(10, seed=3).snapshot(day))
        monkeypatch.setenv("LOCAL_BLOB_CONNECTION_STRING", azurite.connection_string)
        monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
        monkeypatch.setenv("SLACK_WEBHOOK_URL", slack.url)
        common = ["--global", "bronzeContainer=cli-bronze", "--global", "crmContainer=cli-crm",
                  "--param", "manifestTimeout=0.00:00:01", "--param", "manifestSleepSeconds=1",
                  "--retry-interval", "0"]

        monkeypatch.setenv("COLUMNS", "80")
        assert main(["pipeline", "run", "--date", DAY1.isoformat(), *common]) == 0
        out = capsys.readouterr().out
        assert "deployed the warehouse" in out  # an undeployed warehouse is deployed first, as transform does
        assert f"new warehouse: {tmp_path / 'warehouse.duckdb'} does not exist yet" in out
        # By default: one line per activity that ran (none of the failure branch's Skipped ones), fitting 80
        # columns, and one summary line with what was staged and what the merge changed.
        assert "MergeFactDailyCompanyActivity" in out and "Skipped" not in out
        activity_lines = [line for line in out.splitlines() if line.lstrip().startswith("Succeeded ")
                          and "runDate" not in line]
        assert len(activity_lines) == 10 and all(len(line) <= 80 for line in activity_lines), activity_lines
        assert ("Succeeded PL_daily_company_activity runDate 2026-04-01 in" in out
                and "staged 10 usage rows and" in out and "fact rows inserted" in out)
        assert "┃" not in out  # no table by default

        assert main(["pipeline", "run", "--dates", f"{DAY1}..{DAY2}", "--verbose", *common]) == 0
        verbose = capsys.readouterr().out
        assert verbose.count("Succeeded PL_daily_company_activity runDate") == 2
        assert "Skipped" in verbose and "NoteFailedWaitForManifest" in verbose  # --verbose shows everything
        # The table of each run keeps every activity name whole at 80 columns.
        table_lines = [line for line in verbose.splitlines()
                       if re.match(r"^ {0,2}[A-Z]\w+ +(Succeeded|Skipped|Failed) ", line)]
        assert len(table_lines) == 2 * 21 and all(len(line) <= 80 for line in table_lines)
        assert any(line.startswith("NoteFailedWaitForManifest ") for line in table_lines)
        assert any(line.startswith("MergeFactDailyCompanyActivity ") for line in table_lines)

        # A range stops at its first failed date and says which dates were not run.
        assert main(["pipeline", "run", "--dates", f"{DAY3}..{DAY4}", *common]) == 1
        captured = capsys.readouterr()
        failed = captured.out
        assert "ValidationTimedOut" in failed and "Failed PL_daily_company_activity runDate 2026-04-03 in" in failed
        assert "first failure: WaitForManifest" in failed
        # Each wait is printed as it starts: what, how long, which option shortens it.
        assert "waiting WaitForManifest: cli-bronze/product_usage/date=2026-04-03/_manifest.json does not exist" \
            in failed
        assert "shorten with --manifest-timeout / --manifest-sleep" in failed
        # The outcome goes to stderr, as one line: what failed, which dates were not run.
        assert captured.err == ("company-activity: error: PL_daily_company_activity runDate=2026-04-03 Failed; "
                                "1 later date(s) not run (2026-04-04..2026-04-04)\n")
        assert slack.path not in out + failed  # the webhook (a secret) is never printed
        assert len(slack.messages) == 1

        assert main(["pipeline", "run", "--date", "2026-02-30", *common]) == 2
        assert "--date" in capsys.readouterr().err
    service.close()


def test_run_without_blob_setting_names_it(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("LOCAL_BLOB_CONNECTION_STRING", raising=False)
    assert main(["pipeline", "run", "--date", "2026-04-01"]) == 2
    assert "LOCAL_BLOB_CONNECTION_STRING" in capsys.readouterr().err


def test_validate_checks_local_support(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pipeline", "validate"]) == 0
    assert "all runnable by the local executor" in capsys.readouterr().out

    deep = tmp_path / ("a-folder-name-long-enough-to-pass-eighty-columns-" * 2) / "adf"
    shutil.copytree(ADF_DIR, deep)
    assert main(["pipeline", "validate", "--adf-dir", str(deep)]) == 0
    [line] = capsys.readouterr().out.splitlines()  # a long path does not wrap the message
    assert line == f"ok: {deep} is valid (2 pipeline(s), all runnable by the local executor)"

    adf = tmp_path / "adf"
    shutil.copytree(ADF_DIR, adf)
    path = adf / "pipeline" / "PL_daily_company_activity.json"
    pipeline = json.loads(path.read_text())
    pipeline["properties"]["activities"].append(
        {"name": "Notebook", "type": "DatabricksNotebook", "dependsOn": [], "userProperties": [],
         "linkedServiceName": {"referenceName": "LS_warehouse_sql", "type": "LinkedServiceReference"},
         "typeProperties": {"notebookPath": "/x"}})
    path.write_text(json.dumps(pipeline))
    assert main(["pipeline", "validate", "--adf-dir", str(adf)]) == 1
    assert "'DatabricksNotebook'" in capsys.readouterr().out
