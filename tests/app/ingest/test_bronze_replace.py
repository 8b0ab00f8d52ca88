"""Replacing a committed day (issue 22, finding 1): fewer records are refused unless asked for, and the
replaced run is kept where it was, marked, so that it can be restored."""

from __future__ import annotations

import pytest
from azure.storage.blob import ContainerClient

from company_activity.ingest import bronze
from tests.app.ingest.test_bronze import records, write_run
from tests.support.ingest_helpers import DAY


def test_a_run_with_fewer_records_does_not_replace_the_committed_day(container: ContainerClient) -> None:
    first = bronze.commit(container, write_run(container, records(100, "first"))).manifest
    emptier = write_run(container, [])
    with pytest.raises(bronze.FewerRecordsRefused, match=r"committed with 100 records .*has 0"):
        bronze.commit(container, emptier)
    assert bronze.read_manifest(container, DAY) == first
    assert len(list(bronze.iter_committed_records(container, DAY))) == 100


def test_fewer_records_replace_the_day_when_asked_and_the_replaced_run_is_kept_and_restorable(
        container: ContainerClient) -> None:
    first = bronze.commit(container, write_run(container, records(100, "first"))).manifest
    outcome = bronze.commit(container, write_run(container, records(10, "second")), allow_fewer=True)
    assert outcome.replaced_run_id == first.run_id and first.run_id not in outcome.deleted_runs
    assert len(list(bronze.iter_committed_records(container, DAY))) == 10
    kept = bronze.replaced_runs(container, DAY)
    assert list(kept) == [first.run_id]
    assert kept[first.run_id].files == first.files  # every file is still there, as committed
    for entry in first.files:
        assert sum(1 for _ in bronze.iter_file_lines(container, entry)) == entry.records

    restored = bronze.restore_replaced(container, DAY, first.run_id)
    assert restored.manifest.run_id == first.run_id and restored.replaced_run_id == outcome.manifest.run_id
    assert {r["tag"] for r in bronze.iter_committed_records(container, DAY)} == {"first"}
    assert list(bronze.replaced_runs(container, DAY)) == [outcome.manifest.run_id]


def test_cleanup_never_deletes_a_kept_replaced_run(container: ContainerClient) -> None:
    old = bronze.commit(container, write_run(container, records(30, "old"))).manifest
    new = bronze.commit(container, write_run(container, records(30, "new"))).manifest
    far_future = new.committed_at + 10 * bronze.DEFAULT_GRACE
    assert bronze.cleanup_day(container, DAY, now=far_future) == ()
    assert set(bronze.run_ids(container, DAY)) == {old.run_id, new.run_id}
