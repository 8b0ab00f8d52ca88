"""`company-activity ingest | backfill | ingestions`: exit codes and output, against the simulator and Azurite."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from company_activity.ingest import bronze
from company_activity.ingest.dates import yesterday
from company_activity_local.cli import main
from company_activity_local.services.azurite import Azurite
from company_activity_local.services.simulator import UsageApiSimulator

YESTERDAY = yesterday(ZoneInfo("UTC"))


def ago(n: int) -> str:
    return (YESTERDAY - timedelta(days=n - 1)).isoformat()


@pytest.fixture()
def cli_env(monkeypatch: pytest.MonkeyPatch, azurite: Azurite, usage_api: UsageApiSimulator,
            container_name: str, blob_service: BlobServiceClient) -> Iterator[ContainerClient]:
    for name, value in {
        "USAGE_API_BASE_URL": usage_api.base_url,
        "USAGE_API_KEY": usage_api.api_key,
        "STORAGE_CONNECTION_STRING": azurite.connection_string,
        "BRONZE_CONTAINER": container_name,
        "INGEST_TIMEZONE": "UTC",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("STORAGE_ACCOUNT_URL", "REJECT_THRESHOLD", "BACKFILL_MAX_DAYS", "USAGE_API_PAGE_SIZE"):
        monkeypatch.delenv(name, raising=False)
    container = blob_service.get_container_client(container_name)
    yield container
    if container.exists():
        container.delete_container()


def test_ingest_commits_and_exits_0(cli_env: ContainerClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--date", ago(1), "--page-size", "700"]) == 0
    manifest = bronze.read_manifest(cli_env, date.fromisoformat(ago(1)))
    assert manifest is not None
    out = capsys.readouterr().out
    assert f"run {manifest.run_id}: {manifest.record_count} records" in out and "committed" in out


def test_ingest_skips_a_committed_day_unless_forced(cli_env: ContainerClient,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 21: `ingest --date` on a committed day used to re-ingest silently; now it behaves as backfill."""
    day = date.fromisoformat(ago(3))
    assert main(["ingest", "--date", ago(3)]) == 0
    first = bronze.read_manifest(cli_env, day)
    assert first is not None
    capsys.readouterr()
    assert main(["ingest", "--date", ago(3)]) == 0
    out = capsys.readouterr().out
    assert f"{ago(3)} skipped: already committed (run {first.run_id}, {first.record_count} records" in out
    assert "--force re-ingests it" in out
    assert bronze.read_manifest(cli_env, day) == first  # nothing was re-ingested
    assert main(["ingest", "--date", ago(3), "--force"]) == 0
    assert f"committed (replaced run {first.run_id})" in capsys.readouterr().out


def test_ingest_exits_1_when_the_day_is_not_committed(
    cli_env: ContainerClient, usage_api_factory: Callable[..., UsageApiSimulator], capsys: pytest.CaptureFixture[str]
) -> None:
    dirty = usage_api_factory("invalid@0.2", companies=500)
    assert main(["ingest", "--date", ago(2), "--api-url", dirty.base_url]) == 1
    assert "NOT committed" in capsys.readouterr().out
    assert bronze.read_manifest(cli_env, date.fromisoformat(ago(2))) is None


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["ingest", "--date", "2026-02-30"], "--date"),
        (["ingest", "--date", "tomorrow"], "--date"),
        (["ingest", "--date", (YESTERDAY + timedelta(days=1)).isoformat()], "after yesterday"),
        (["ingest", "--date", ago(1), "--reject-threshold", "2"], "REJECT_THRESHOLD"),
        (["ingest", "--date", ago(1), "--api-url", "ftp://x"], "USAGE_API_BASE_URL"),
        (["backfill", "--dates", f"{ago(1)}..{ago(3)}"], "--dates"),
        (["backfill", "--dates", f"{ago(10)}..{ago(1)}", "--max-days", "5"], "BACKFILL_MAX_DAYS"),
        (["ingestions", "--dates", f"2026-1-1..{ago(1)}"], "--dates start"),
    ],
)
def test_bad_input_exits_2_naming_it(cli_env: ContainerClient, capsys: pytest.CaptureFixture[str],
                                     argv: list[str], named: str) -> None:
    assert main(argv) == 2
    assert named in capsys.readouterr().err
    assert not cli_env.exists() or not list(cli_env.list_blobs())  # nothing written


def test_a_missing_setting_exits_2_naming_it(cli_env: ContainerClient, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("USAGE_API_KEY")
    assert main(["ingest", "--date", ago(1)]) == 2
    assert "USAGE_API_KEY" in capsys.readouterr().err


def test_backfill_skips_committed_days_and_exits_0_when_all_are_committed(
    cli_env: ContainerClient, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", "--date", ago(2)]) == 0
    before = bronze.read_manifest(cli_env, date.fromisoformat(ago(2)))
    capsys.readouterr()
    assert main(["backfill", "--dates", f"{ago(3)}..{ago(1)}"]) == 0
    out = capsys.readouterr().out
    assert "2 ingested, 1 skipped, 0 failed" in out and out.count("committed") >= 2
    assert bronze.read_manifest(cli_env, date.fromisoformat(ago(2))) == before

    assert main(["backfill", "--dates", f"{ago(2)}..{ago(2)}", "--force"]) == 0
    after = bronze.read_manifest(cli_env, date.fromisoformat(ago(2)))
    assert after is not None and before is not None and after.run_id != before.run_id

    capsys.readouterr()
    assert main(["ingestions", "--dates", f"{ago(4)}..{ago(1)}", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)  # the same object as GET /api/ingestions
    assert (body["start_date"], body["end_date"], body["committed"], body["missing"]) == (ago(4), ago(1), 3, 1)
    days = body["days"]
    assert [(d["date"], d["committed"]) for d in days] == [(ago(4), False), (ago(3), True), (ago(2), True),
                                                           (ago(1), True)]
    assert days[2]["run_id"] == after.run_id


def test_backfill_exits_1_when_a_day_fails(cli_env: ContainerClient,
                                           usage_api_factory: Callable[..., UsageApiSimulator],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    broken = usage_api_factory("404@2-999", companies=500)
    assert main(["backfill", "--dates", f"{ago(2)}..{ago(1)}", "--api-url", broken.base_url,
                 "--page-size", "100", "--keep-going"]) == 1
    out = capsys.readouterr().out
    assert "0 skipped, 2 failed" in out and "NOT committed" in out and "HTTP 404" in out


def test_ingestions_needs_only_storage_settings(cli_env: ContainerClient, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--date", ago(1)]) == 0
    monkeypatch.delenv("USAGE_API_KEY")
    monkeypatch.delenv("USAGE_API_BASE_URL")
    capsys.readouterr()
    assert main(["ingestions", "--dates", f"{ago(2)}..{ago(1)}"]) == 0
    out = capsys.readouterr().out
    assert "1 of 2 days committed" in out and ago(1) in out


def test_help_describes_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("ingest", "backfill", "ingestions"):
        with pytest.raises(SystemExit) as exited:
            main([command, "--help"])
        assert exited.value.code == 0
        assert "--connection-string" in capsys.readouterr().out


def test_backfill_stops_after_a_failure_every_date_would_share(cli_env: ContainerClient,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("USAGE_API_KEY", "not-the-key")  # HTTP 401: no other date can do better
    assert main(["backfill", "--dates", f"{ago(3)}..{ago(1)}"]) == 1
    captured = capsys.readouterr()
    assert "HTTP 401" in captured.out and captured.out.count("not tried") == 2
    assert f"stopped after {ago(3)}" in captured.err and "--keep-going" in captured.err

    assert main(["backfill", "--dates", f"{ago(3)}..{ago(1)}", "--keep-going"]) == 1
    captured = capsys.readouterr()
    assert captured.out.count("HTTP 401") == 3 and "not tried" not in captured.out


def test_ingest_prints_its_result_once(cli_env: ContainerClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--date", ago(1)]) == 0
    captured = capsys.readouterr()
    assert (captured.out + captured.err).count(": committed") == 1
