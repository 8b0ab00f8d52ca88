"""ingest_day end to end: the real simulator (with faults) -> the runner -> bronze on real Azurite."""

from __future__ import annotations

import logging
import threading
import tracemalloc
from collections.abc import Callable
from datetime import timedelta

import pytest
from azure.storage.blob import ContainerClient

from company_activity.ingest import bronze
from company_activity.ingest.runner import BronzeOptions, IngestResult, ingest_day
from company_activity.ingest.usage_api import DayRecordValidator
from company_activity_local.services.simulator import UsageApiSimulator
from company_activity_local.services.usage_data import Dataset, expected_day, expected_valid_day
from tests.support.ingest_helpers import DAY, assert_manifest_verifies, blob_bytes, client_for, lines_of, snapshot

COMPANIES = 1000  # about 920 records a day: 10 pages of 100
THRESHOLD = 0.01
Factory = Callable[..., UsageApiSimulator]


def run(api: UsageApiSimulator, container: ContainerClient, *, threshold: float = THRESHOLD, **client: object
        ) -> IngestResult:
    with client_for(api, **client) as usage:  # type: ignore[arg-type]
        return ingest_day(DAY, usage, container, reject_threshold=threshold)


def expected(api: UsageApiSimulator) -> list[dict]:
    return list(expected_day(DAY, api.config.companies, api.config.seed))


def test_happy_path_bronze_equals_the_ground_truth(usage_api: UsageApiSimulator, container: ContainerClient) -> None:
    result = run(usage_api, container, page_size=250)
    truth = expected(usage_api)
    assert result.committed and result.reason is None
    assert (result.record_count, result.rejected_count) == (len(truth), 0)
    assert result.pages == -(-len(truth) // 250)

    manifest = bronze.read_manifest(container, DAY)
    assert manifest is not None
    assert (manifest.dataset, manifest.date, manifest.run_id) == ("product_usage", DAY, result.run_id)
    assert (manifest.record_count, manifest.rejected_count, manifest.rejected_files) == (len(truth), 0, ())
    assert manifest.source == bronze.Source(usage_api.base_url, result.pages)
    assert manifest.started_at <= manifest.committed_at and manifest.schema_version == bronze.SCHEMA_VERSION
    assert result.bytes == sum(f.bytes for f in manifest.files)
    assert_manifest_verifies(container, manifest)
    assert list(bronze.iter_committed_records(container, DAY)) == truth
    assert [line for f in manifest.files for line in lines_of(container, f.path)] == truth  # records as received
    assert bronze.run_ids(container, DAY) == [result.run_id]


@pytest.mark.parametrize(
    ("faults", "client"),
    [
        ("429@2:retry_after=0,429@5-6:retry_after=0", {}),
        ("503@2,500@4-5", {}),
        ("reset@3", {}),
        ("slow@2:seconds=3", {"timeout_s": 0.5}),
        ("truncate@2,truncate@7", {}),
    ],
    ids=["429", "503", "reset", "slow", "truncated"],
)
def test_transient_faults_are_retried_and_the_day_is_complete(
    usage_api_factory: Factory, container: ContainerClient, faults: str, client: dict
) -> None:
    api = usage_api_factory(faults, companies=COMPANIES)
    result = run(api, container, **client)
    assert result.committed, result.reason
    assert sum(api.faults_fired.values()) >= 1
    assert list(bronze.iter_committed_records(container, DAY)) == expected(api)
    assert_manifest_verifies(container, bronze.read_manifest(container, DAY))  # type: ignore[arg-type]


def test_invalid_records_under_the_threshold_are_rejected_with_reasons_and_the_day_commits(
    usage_api_factory: Factory, container: ContainerClient
) -> None:
    api = usage_api_factory("invalid@0.006", companies=COMPANIES, seed=11)
    dataset = Dataset(companies=COMPANIES, seed=11, invalid_share=0.006)
    corrupted = list(dataset.corrupted(DAY))
    assert 0 < len(corrupted) <= THRESHOLD * COMPANIES * 0.92  # the scenario really is under the threshold
    result = run(api, container)
    assert result.committed, result.reason
    assert result.rejected_count == len(corrupted)
    assert list(bronze.iter_committed_records(container, DAY)) == list(expected_valid_day(DAY, COMPANIES, 11, 0.006))
    manifest = bronze.read_manifest(container, DAY)
    assert manifest is not None and manifest.rejected_count == len(corrupted)
    rejected = [line for f in manifest.rejected_files for line in lines_of(container, f.path)]
    assert [line["record"] for line in rejected] == [dataset.record(DAY, i) for i, _ in corrupted]
    assert all(isinstance(line["reason"], str) and line["reason"] for line in rejected)
    if any(kind == "duplicate_company_id" for _, kind in corrupted):
        assert any("duplicate" in line["reason"] for line in rejected)


def test_invalid_records_over_the_threshold_leave_the_previous_commit(
    usage_api_factory: Factory, container: ContainerClient
) -> None:
    clean = usage_api_factory(companies=COMPANIES, seed=5)
    assert run(clean, container).committed
    before = snapshot(container)

    dirty = usage_api_factory("invalid@0.05", companies=COMPANIES, seed=5)
    result = run(dirty, container)
    assert not result.committed
    assert "REJECT_THRESHOLD" in (result.reason or "") and "not committed" in (result.reason or "")
    assert result.rejected_count == len(list(Dataset(companies=COMPANIES, seed=5, invalid_share=0.05).corrupted(DAY)))
    after = snapshot(container)
    assert {k: v for k, v in after.items() if result.run_id not in k} == before  # old commit byte-identical
    # the failed run is left for inspection: its rejected file explains every rejection
    rejected_files = [k for k in after if result.run_id in k and "/rejected-" in k]
    assert rejected_files and len(lines_of(container, rejected_files[0])) == result.rejected_count
    assert list(bronze.iter_committed_records(container, DAY)) == expected(clean)


@pytest.mark.parametrize("faults", ["404@4-999", "503@4-999"], ids=["404-after-page-3", "unavailable-after-page-3"])
def test_an_api_failure_mid_day_leaves_the_old_commit_byte_identical(
    usage_api_factory: Factory, container: ContainerClient, faults: str
) -> None:
    clean = usage_api_factory(companies=COMPANIES, seed=9)
    assert run(clean, container).committed
    before = snapshot(container)

    failing = usage_api_factory(faults, companies=COMPANIES, seed=9)
    result = run(failing, container)
    assert not result.committed and result.pages == 3
    assert "usage API" in (result.reason or "") and "previous commit is unchanged" in (result.reason or "")
    assert snapshot(container) == before  # the failed run's folder was discarded too


def test_a_first_ingestion_that_fails_commits_nothing(usage_api_factory: Factory, container: ContainerClient) -> None:
    result = run(usage_api_factory("404@2-999", companies=COMPANIES), container)
    assert not result.committed
    assert bronze.read_manifest(container, DAY) is None and snapshot(container) == {}


def test_re_ingestion_swaps_the_manifest_and_keeps_the_old_run(
    usage_api: UsageApiSimulator, container: ContainerClient
) -> None:
    first = run(usage_api, container)
    first_data = list(bronze.iter_committed_records(container, DAY))
    second = run(usage_api, container)
    assert first.committed and second.committed
    assert second.run_id != first.run_id and second.replaced_run_id == first.run_id
    assert bronze.read_manifest(container, DAY).run_id == second.run_id  # type: ignore[union-attr]
    assert set(bronze.run_ids(container, DAY)) == {first.run_id, second.run_id}
    assert list(bronze.replaced_runs(container, DAY)) == [first.run_id]  # kept, restorable
    assert list(bronze.iter_committed_records(container, DAY)) == first_data == expected(usage_api)


def test_two_simultaneous_ingestions_of_one_date_end_in_one_consistent_day(
    usage_api: UsageApiSimulator, container: ContainerClient
) -> None:
    results: list[IngestResult] = []
    barrier = threading.Barrier(2)

    def ingest() -> None:
        barrier.wait()
        results.append(run(usage_api, container, page_size=100))

    threads = [threading.Thread(target=ingest) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and any(r.committed for r in results)
    manifest = bronze.read_manifest(container, DAY)
    assert manifest is not None and manifest.run_id in {r.run_id for r in results}
    assert_manifest_verifies(container, manifest)
    assert list(bronze.iter_committed_records(container, DAY)) == expected(usage_api)
    others = set(bronze.run_ids(container, DAY)) - {manifest.run_id}
    assert others == set(bronze.replaced_runs(container, DAY))  # the other run was replaced (kept) or discarded


def test_an_old_orphan_is_removed_by_the_next_commit(usage_api: UsageApiSimulator, container: ContainerClient) -> None:
    orphan_id = bronze.new_run_id(bronze.utc_now() - timedelta(days=1))
    container.upload_blob(bronze.data_file_path(DAY, orphan_id, "part", 0), b"left by a crashed run")
    result = run(usage_api, container)
    assert result.committed and bronze.run_ids(container, DAY) == [result.run_id]


def _peak_bytes(api: UsageApiSimulator, container: ContainerClient) -> int:
    options = BronzeOptions(part_max_bytes=1024 * 1024, block_bytes=256 * 1024)
    with client_for(api, page_size=1000) as usage:
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        result = ingest_day(DAY, usage, container, reject_threshold=THRESHOLD, options=options)
        peak = tracemalloc.get_traced_memory()[1] - baseline
    assert result.committed
    return peak


def _validator_bytes(companies: int, seed: int) -> int:
    """What duplicate detection alone keeps for a day (one entry per company id): allowed to grow."""
    baseline = tracemalloc.get_traced_memory()[0]
    validator = DayRecordValidator(DAY)
    for record in expected_day(DAY, companies, seed):
        validator.check(record, 0)
    kept = tracemalloc.get_traced_memory()[0] - baseline
    del validator
    return kept


def test_memory_stays_bounded_whatever_the_size_of_the_day(usage_api_factory: Factory, blob_service) -> None:
    small_api = usage_api_factory(companies=10_000, seed=3)
    large_api = usage_api_factory(companies=50_000, seed=3)
    containers = [blob_service.create_container(f"mem{i}{DAY:%Y%m%d}{id(blob_service) % 10_000}") for i in range(2)]
    tracemalloc.start()
    try:
        small = _peak_bytes(small_api, containers[0])
        large = _peak_bytes(large_api, containers[1])
        allowance = _validator_bytes(50_000, 3) - _validator_bytes(10_000, 3)
    finally:
        tracemalloc.stop()
        for c in containers:
            c.delete_container()
    # Holding 40k more records would cost ~20 MB as objects, ~4 MB as JSON: the bound is far below either.
    assert large - small <= allowance + 1_500_000, (small, large, allowance)
    assert small < 40 * 1024 * 1024


def test_no_log_line_error_or_blob_contains_the_api_key(
    usage_api_factory: Factory, container: ContainerClient, caplog: pytest.LogCaptureFixture
) -> None:
    key = "sk-live-7f3a9c1e5b2d4f6a8c0e"
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "azure", "company_activity", "requests"):
        caplog.set_level(logging.DEBUG, logger=name)
    ok = usage_api_factory("503@2,reset@3", companies=300, api_key=key)
    results = [run(ok, container)]
    flaky = usage_api_factory("503@2-999", companies=300, api_key=key)
    results.append(run(flaky, container))
    results.append(run(ok, container, api_key=key + "-wrong"))  # 401: the client's (wrong) key must not leak
    assert [r.committed for r in results] == [True, False, False]
    assert any("urllib3" in r.name for r in caplog.records) and any("usage API" in r.getMessage()
                                                                     for r in caplog.records)
    everything = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    everything += "".join(repr(r) + r.summary() for r in results)
    everything += "".join(v.decode("utf-8", "replace") for v in snapshot(container).values()
                          if not v.startswith(b"\x1f\x8b"))
    manifest = bronze.read_manifest(container, DAY)
    assert manifest is not None
    everything += blob_bytes(container, bronze.manifest_path(DAY)).decode()
    assert key not in everything
