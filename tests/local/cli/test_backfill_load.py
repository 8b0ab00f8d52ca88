"""`company-activity backfill --load`: ingest, then PL_backfill_company_activity through the local executor.

Real services: Azurite, the usage-API simulator, a Slack catcher, a deployed DuckDB file. The second test
damages a middle date's committed bronze file: that date's daily run fails and alerts, the later dates
still load, the command exits 1 and its summary names the date.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from company_activity.ingest import bronze
from company_activity.ingest.dates import yesterday
from company_activity_local.cli import main
from company_activity_local.services.azurite import Azurite
from company_activity_local.services.crm_generator import CrmGenerator, upload_crm_snapshot
from company_activity_local.services.simulator import SimulatorConfig, UsageApiSimulator
from company_activity_local.services.slack_catcher import SlackCatcher
from company_activity_local.warehouse import open_warehouse

YESTERDAY = yesterday(ZoneInfo("UTC"))
DAYS = [YESTERDAY - timedelta(days=4 - i) for i in range(5)]
COMPANIES = 40


@pytest.fixture()
def setup(monkeypatch: pytest.MonkeyPatch, azurite: Azurite, blob_service: BlobServiceClient, container_name: str,
          tmp_path: Path) -> Iterator[tuple[ContainerClient, Path, SlackCatcher, list[str]]]:
    api = UsageApiSimulator(SimulatorConfig(companies=COMPANIES, seed=3)).start()
    crm = blob_service.create_container(f"{container_name}crm")
    generator = CrmGenerator(COMPANIES, seed=3)
    for day in DAYS:
        upload_crm_snapshot(crm, day, generator.snapshot(day))
    warehouse_path = tmp_path / "warehouse.duckdb"
    warehouse = open_warehouse(duckdb_path=str(warehouse_path))
    warehouse.deploy()
    warehouse.close()
    with SlackCatcher() as slack:
        for name, value in {
            "USAGE_API_BASE_URL": api.base_url, "USAGE_API_KEY": api.api_key,
            "STORAGE_CONNECTION_STRING": azurite.connection_string, "BRONZE_CONTAINER": container_name,
            "INGEST_TIMEZONE": "UTC", "SLACK_WEBHOOK_URL": slack.url,
        }.items():
            monkeypatch.setenv(name, value)
        for name in ("STORAGE_ACCOUNT_URL", "LOCAL_BLOB_CONNECTION_STRING", "WAREHOUSE_PATH",
                     "WAREHOUSE_CONNECTION_STRING", "BACKFILL_MAX_DAYS"):
            monkeypatch.delenv(name, raising=False)
        flags = ["--warehouse", str(warehouse_path), "--crm-container", crm.container_name,
                 "--manifest-timeout", "0.00:00:02", "--retry-interval", "0"]
        yield blob_service.get_container_client(container_name), warehouse_path, slack, flags
    api.stop()
    crm.delete_container()
    bronze_container = blob_service.get_container_client(container_name)
    if bronze_container.exists():
        bronze_container.delete_container()


def fact_dates(warehouse_path: Path) -> dict[str, int]:
    warehouse = open_warehouse(duckdb_path=str(warehouse_path))
    try:
        rows = warehouse.query("SELECT activity_date, COUNT(*) AS n FROM dbo.fact_daily_company_activity "
                               "GROUP BY activity_date")
    finally:
        warehouse.close()
    return {str(r["activity_date"])[:10]: int(r["n"]) for r in rows}


def test_backfill_load_fills_the_fact_table(setup, capsys: pytest.CaptureFixture[str]) -> None:
    _, warehouse_path, slack, flags = setup
    code = main(["backfill", "--dates", f"{DAYS[0]}..{DAYS[-1]}", "--load", *flags])
    out = capsys.readouterr().out
    assert code == 0, out
    assert set(fact_dates(warehouse_path)) == {d.isoformat() for d in DAYS}
    assert "Succeeded PL_backfill_company_activity" in out
    assert out.count("committed") >= len(DAYS) and out.count("Succeeded") >= len(DAYS)
    assert slack.messages == []


def test_a_failing_middle_date_alerts_later_dates_load_and_the_exit_code_is_1(
    setup, capsys: pytest.CaptureFixture[str]
) -> None:
    container, warehouse_path, slack, flags = setup
    span = ["--dates", f"{DAYS[0]}..{DAYS[-1]}"]
    assert main(["backfill", *span]) == 0  # ingest only
    middle = DAYS[2]
    part = bronze.read_manifest(container, middle).files[0].path
    container.upload_blob(part, b"this is not gzip", overwrite=True)
    capsys.readouterr()

    code = main(["backfill", *span, "--load", *flags])
    out = capsys.readouterr().out
    assert code == 1
    assert set(fact_dates(warehouse_path)) == {d.isoformat() for d in DAYS if d != middle}
    assert f"failed dates: {middle.isoformat()}." in out.replace("\n", "")
    assert "failed activity:" in out  # the table's error column shows the daily run's failed activity
    [alert] = slack.wait_for(1)
    assert f"runDate: {middle.isoformat()}" in alert.text
    assert "CopyUsageToStaging" in alert.text and "not valid gzip data" in alert.text

    # Rerun only the failed date once its bronze is replaced: exit 0, every date in the table.
    slack.clear()
    assert main(["backfill", "--dates", f"{middle}..{middle}", "--force", "--load",
                 *flags]) == 0
    assert set(fact_dates(warehouse_path)) == {d.isoformat() for d in DAYS}
    assert slack.messages == []


def test_the_warehouse_is_checked_and_deployed_before_anything_is_ingested(
    setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 21: `--load --warehouse <new path>` used to ingest first, then fail every date on a missing
    staging table. Now a path in a folder that does not exist is refused before bronze changes, and a new
    file in an existing folder is announced in one line, deployed, and loaded."""
    container, _, _, flags = setup
    span = ["--dates", f"{DAYS[0]}..{DAYS[1]}"]
    load_flags = flags[2:]  # without --warehouse
    typo = tmp_path / "no-such-folder" / "warehouse.duckdb"
    assert main(["backfill", *span, "--load", "--warehouse", str(typo), *load_flags]) == 2
    err = capsys.readouterr().err
    assert f"no folder '{typo.parent}' for the warehouse" in err and "Nothing was created" in err
    assert not typo.parent.exists()
    assert not container.exists() or bronze.committed_days(container, DAYS[0], DAYS[1]) == {}

    fresh = tmp_path / "fresh.duckdb"
    assert main(["backfill", *span, "--load", "--warehouse", str(fresh), *load_flags]) == 0
    captured = capsys.readouterr()
    assert f"new warehouse: {fresh} does not exist yet" in captured.err
    assert set(fact_dates(fresh)) == {DAYS[0].isoformat(), DAYS[1].isoformat()}
