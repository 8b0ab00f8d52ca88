"""`company-activity ingest --allow-fewer` and `bronze restore` (issue 22, finding 1): a re-ingestion that would
shrink a committed day is refused, an explicit one keeps the replaced run, and the CLI brings it back."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from azure.storage.blob import ContainerClient

from company_activity.ingest import bronze
from company_activity_local.cli import main
from company_activity_local.services.simulator import UsageApiSimulator
from tests.local.cli.test_bronze import DAY, storage_env  # noqa: F401 (fixture)


def test_a_smaller_reingest_is_refused_then_allowed_and_restorable(
        storage_env: ContainerClient, usage_api_factory: Callable[..., UsageApiSimulator],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    big, small = usage_api_factory(companies=200), usage_api_factory(companies=50)
    monkeypatch.setenv("USAGE_API_KEY", big.api_key)
    assert main(["ingest", "--date", DAY.isoformat(), "--api-url", big.base_url]) == 0
    first = bronze.read_manifest(storage_env, DAY)
    assert first is not None

    assert main(["ingest", "--date", DAY.isoformat(), "--api-url", small.base_url, "--force"]) == 1
    assert bronze.read_manifest(storage_env, DAY) == first  # refused: the committed day is unchanged
    printed = capsys.readouterr()
    assert "fewer records" in printed.out + printed.err

    assert main(["ingest", "--date", DAY.isoformat(), "--api-url", small.base_url, "--force", "--allow-fewer"]) == 0
    second = bronze.read_manifest(storage_env, DAY)
    assert second is not None and second.record_count < first.record_count
    capsys.readouterr()

    assert main(["bronze", "restore", "--date", DAY.isoformat()]) == 0
    assert f"kept {first.run_id}: {first.record_count} records" in capsys.readouterr().out
    assert main(["bronze", "restore", "--date", DAY.isoformat(), "--run-id", first.run_id]) == 0
    restored = bronze.read_manifest(storage_env, DAY)
    assert restored is not None and restored.run_id == first.run_id
    assert list(bronze.replaced_runs(storage_env, DAY)) == [second.run_id]
