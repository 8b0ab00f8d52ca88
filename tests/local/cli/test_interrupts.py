"""Ctrl-C in a long command, as a user presses it: SIGINT to the CLI in a subprocess (issue 21).

No traceback, exit 130, and as the last line on stderr the one line `main` prints from the command's journal:
what is committed or loaded, and how rerunning goes on (tests/local/cli/test_front_door.py does the same for
the ingestion phase of `backfill`). The line is checked against what the warehouse holds afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

import pytest
from azure.storage.blob import BlobServiceClient

from company_activity.ingest.dates import yesterday
from company_activity.ingest.runner import ingest_day
from company_activity.ingest.usage_api import UsageApiClient
from company_activity.settings import Secret
from company_activity_local.cli.errors import ExitCode
from company_activity_local.services.azurite import Azurite
from company_activity_local.services.simulator import UsageApiSimulator
from company_activity_local.warehouse import open_warehouse

pytestmark = pytest.mark.cli

YESTERDAY = yesterday(ZoneInfo("UTC"))


class Lines:
    """The lines a subprocess writes to one pipe, read on a thread so that the test can wait for one."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=lambda: self.lines.extend(iter(stream.readline, "")), daemon=True)
        self._thread.start()

    def wait_for(self, text: str, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(text in line for line in list(self.lines)):
                return True
            time.sleep(0.1)
        return False

    def text(self) -> str:
        self._thread.join(timeout=10)
        return "".join(self.lines)


def test_ctrl_c_during_pipeline_run_says_what_is_loaded_and_exits_130(
    azurite: Azurite, usage_api: UsageApiSimulator, blob_service: BlobServiceClient, container_name: str,
    tmp_path: Path,
) -> None:
    """`pipeline run --dates D1..D3` where D2 was never ingested: SIGINT while D2 waits for its manifest."""
    d1, d2, d3 = (YESTERDAY - timedelta(days=n) for n in (2, 1, 0))
    bronze = blob_service.create_container(container_name)
    with UsageApiClient(usage_api.base_url, Secret(usage_api.api_key)) as client:
        for day in (d1, d3):
            assert ingest_day(day, client, bronze, reject_threshold=0.5).committed
    warehouse = tmp_path / "warehouse.duckdb"
    env = {**os.environ, "LOCAL_BLOB_CONNECTION_STRING": azurite.connection_string, "WAREHOUSE_PATH": str(warehouse),
           "WAREHOUSE_CONNECTION_STRING": "", "SLACK_WEBHOOK_URL": "", "INGEST_TIMEZONE": "UTC",
           "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    script = Path(sys.executable).with_name("company-activity")
    proc = subprocess.Popen([str(script), "pipeline", "run", "--dates", f"{d1}..{d3}", "--global",
                             f"bronzeContainer={container_name}", "--manifest-timeout", "0.00:02:00",
                             "--manifest-sleep", "1", "--retry-interval", "0"],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    out, err = Lines(proc.stdout), Lines(proc.stderr)
    waiting = out.wait_for(f"date={d2}/_manifest.json does not exist", timeout_s=180)
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=60)
    stdout, stderr = out.text(), err.text()
    assert waiting, stdout + stderr
    assert code == ExitCode.INTERRUPTED, stdout + stderr
    assert "Traceback" not in stdout + stderr and "KeyboardInterrupt" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        f"company-activity: interrupted: 1 of 3 date(s) loaded ({d1}..{d1}); {d2} was cut short (its fact rows "
        f"change only when its merge commits); rerun with --dates {d2}..{d3} to go on (loading a date again "
        "replaces it)")
    with open_warehouse(duckdb_path=str(warehouse)) as wh:  # what the line says is what the warehouse holds
        loaded = wh.query("SELECT DISTINCT activity_date FROM dbo.fact_daily_company_activity")
    assert [date.fromisoformat(str(r["activity_date"])[:10]) for r in loaded] == [d1]
