"""The bronze layout contract against real Azurite: run folders, manifest, conditional commit, reader, cleanup."""

from __future__ import annotations

import datetime
import gzip
import hashlib
import json
import threading
from datetime import UTC, timedelta

import pytest
from azure.storage.blob import ContainerClient
from hypothesis import given
from hypothesis import strategies as st

from company_activity.ingest import bronze
from tests.support.ingest_helpers import DAY, assert_manifest_verifies, blob_bytes, lines_of, snapshot

NOW = datetime.datetime(2026, 11, 27, 1, 30, tzinfo=UTC)


def write_run(container: ContainerClient, records: list[dict], *, day: datetime.date = DAY,
              started: datetime.datetime | None = None, rejected: list[tuple[dict, str]] | None = None,
              page: int = 50, **options: int) -> bronze.Manifest:
    """Write a run folder (not committed) and return the manifest that would commit it."""
    started = started or bronze.utc_now()
    run_id = bronze.new_run_id(started)
    writer = bronze.RunWriter(container, day, run_id, **options)
    for i in range(0, len(records), page):
        writer.write_records(records[i:i + page])
    writer.write_rejected(rejected or [])
    files, rejected_files = writer.close()
    return bronze.Manifest(dataset=bronze.DATASET, date=day, run_id=run_id, record_count=len(records),
                           rejected_count=len(rejected or []), files=files, rejected_files=rejected_files,
                           started_at=started, committed_at=started, source=bronze.Source("http://api.example", 3))


def records(n: int, tag: str = "a") -> list[dict]:
    # the digest keeps the data from compressing to nothing, so blocks fill up as in real days
    return [{"company_id": f"c{i:06d}", "tag": tag, "text": "ünïcode ✓", "n": i,
             "digest": hashlib.sha256(f"{tag}{i}".encode()).hexdigest()} for i in range(n)]


def test_paths_and_run_ids_are_sortable_unique_and_relative_to_the_container() -> None:
    first = bronze.new_run_id(NOW)
    later = bronze.new_run_id(NOW + timedelta(seconds=1))
    assert first.startswith("20261127T013000Z-") and len(first) == len("20261127T013000Z-") + 8
    assert first < later and bronze.new_run_id(NOW) != first
    assert bronze.run_started_at(first) == NOW
    assert bronze.manifest_path(DAY) == "product_usage/date=2026-03-14/_manifest.json"
    assert bronze.data_file_path(DAY, first, "part", 1) == f"product_usage/date=2026-03-14/{first}/part-00001.jsonl.gz"
    with pytest.raises(ValueError, match="not a run id"):
        bronze.run_started_at("../etc")


def test_parts_roll_over_stream_in_blocks_and_read_back_verified(container: ContainerClient) -> None:
    data = records(3000)
    manifest = write_run(container, data, part_max_bytes=150_000, block_bytes=2_000, gzip_level=1)
    assert len(manifest.files) >= 3  # rolled past the uncompressed size limit
    assert [f.path.rsplit("/", 1)[1] for f in manifest.files] == [
        f"part-{i:05d}.jsonl.gz" for i in range(len(manifest.files))
    ]
    for entry in manifest.files:
        # each part is a complete gzip file, under the size limit (a single page may exceed it alone)
        assert len(gzip.decompress(blob_bytes(container, entry.path))) <= 150_000 + 10_000
        blocks = container.get_blob_client(entry.path).get_block_list("committed")[0]
        assert len(blocks) > 1  # written as staged blocks, not one upload
    assert_manifest_verifies(container, manifest)
    bronze.commit(container, manifest)
    assert list(bronze.iter_committed_records(container, DAY)) == data


def test_rejected_records_carry_their_reason(container: ContainerClient) -> None:
    bad = [({"company_id": None}, "field 'company_id' must be a non-empty string"), ([1, 2], "not an object")]
    manifest = write_run(container, records(10), rejected=bad)
    assert manifest.rejected_count == 2 and len(manifest.rejected_files) == 1
    assert manifest.rejected_files[0].path.endswith("/rejected-00000.jsonl.gz")
    assert lines_of(container, manifest.rejected_files[0].path) == [{"record": r, "reason": why} for r, why in bad]


def test_an_empty_day_commits_one_empty_part(container: ContainerClient) -> None:
    manifest = write_run(container, [])
    assert [f.records for f in manifest.files] == [0] and manifest.rejected_files == ()
    bronze.commit(container, manifest)
    assert gzip.decompress(blob_bytes(container, manifest.files[0].path)) == b""
    assert list(bronze.iter_committed_records(container, DAY)) == []
    assert bronze.read_manifest(container, DAY).record_count == 0  # type: ignore[union-attr]


def test_manifest_json_round_trip_and_fields(container: ContainerClient) -> None:
    manifest = bronze.commit(container, write_run(container, records(120), rejected=[({}, "empty")])).manifest
    body = json.loads(blob_bytes(container, bronze.manifest_path(DAY)))
    assert set(body) >= {"dataset", "date", "run_id", "record_count", "rejected_count", "files", "rejected_files",
                         "started_at", "committed_at", "schema_version", "source", "run_path"}
    assert body["dataset"] == "product_usage" and body["date"] == "2026-03-14" and body["schema_version"] == 1
    assert body["run_path"] == f"product_usage/date=2026-03-14/{manifest.run_id}/"
    assert body["source"] == {"base_url": "http://api.example", "pages": 3}
    assert set(body["files"][0]) == {"path", "records", "bytes", "sha256"}
    assert bronze.Manifest.from_json(json.dumps(body)) == manifest
    assert bronze.read_manifest(container, DAY) == manifest


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b.pop("run_id"), "missing field 'run_id'"),
        (lambda b: b.update(record_count="12"), "record_count must be an integer"),
        (lambda b: b.update(record_count=True), "record_count must be an integer"),
        (lambda b: b.update(schema_version=2), "schema_version 2 is not supported"),
        (lambda b: b.update(date="14/03/2026"), "date must be YYYY-MM-DD"),
        (lambda b: b.update(committed_at="yesterday"), "committed_at"),
        (lambda b: b["files"][0].update(path="product_usage/date=2026-03-14/other/part-00000.jsonl.gz"),
         "outside the run folder"),
        (lambda b: b.update(record_count=b["record_count"] + 1), "differs from the sum over files"),
        (lambda b: b["source"].pop("pages"), "source: missing field 'pages'"),
    ],
)
def test_a_damaged_manifest_is_refused_naming_the_field(change, message: str) -> None:
    started = NOW
    entry = bronze.BronzeFile(
        path=bronze.data_file_path(DAY, "20261127T013000Z-0a0b0c0d", "part", 0), records=5, bytes=100, sha256="ab" * 32
    )
    manifest = bronze.Manifest(dataset=bronze.DATASET, date=DAY, run_id="20261127T013000Z-0a0b0c0d", record_count=5,
                               rejected_count=0, files=(entry,), rejected_files=(), started_at=started,
                               committed_at=started, source=bronze.Source("http://api.example", 1))
    body = json.loads(manifest.to_json())
    change(body)
    with pytest.raises(bronze.ManifestError, match=message):
        bronze.Manifest.from_json(json.dumps(body), where="test manifest")
    with pytest.raises(bronze.ManifestError, match="not valid JSON"):
        bronze.Manifest.from_json(b"{", where="test manifest")


def test_reader_detects_tampered_missing_and_miscounted_files(container: ContainerClient) -> None:
    manifest = bronze.commit(container, write_run(container, records(200), part_max_bytes=5_000)).manifest
    first, second = manifest.files[0], manifest.files[1]

    container.upload_blob(first.path, gzip.compress(b'{"forged":1}\n'), overwrite=True)
    with pytest.raises(bronze.IntegrityError, match=rf"{first.path} does not match its manifest: .*sha256"):
        list(bronze.iter_committed_records(container, DAY))

    container.delete_blob(second.path)
    with pytest.raises(bronze.IntegrityError, match=rf"{second.path} is listed in the manifest but does not exist"):
        list(bronze.iter_file_lines(container, second))

    third = manifest.files[2]
    wrong_count = bronze.BronzeFile(path=third.path, records=third.records + 1, bytes=third.bytes, sha256=third.sha256)
    with pytest.raises(bronze.IntegrityError, match="records, manifest says"):
        list(bronze.iter_file_lines(container, wrong_count))


def test_reader_sees_nothing_for_a_day_that_was_never_committed(container: ContainerClient) -> None:
    write_run(container, records(10))  # written, not committed
    assert bronze.read_manifest(container, DAY) is None
    assert list(bronze.iter_committed_records(container, DAY)) == []


def test_swap_replaces_the_run_and_keeps_the_previous_folder_marked(container: ContainerClient) -> None:
    old = bronze.commit(container, write_run(container, records(30, "old"))).manifest
    outcome = bronze.commit(container, write_run(container, records(30, "new")))
    assert outcome.replaced_run_id == old.run_id and old.run_id not in outcome.deleted_runs
    assert set(bronze.run_ids(container, DAY)) == {old.run_id, outcome.manifest.run_id}
    assert list(bronze.replaced_runs(container, DAY)) == [old.run_id]
    assert {r["tag"] for r in bronze.iter_committed_records(container, DAY)} == {"new"}


def test_commit_loses_the_first_write_race_rereads_and_swaps(container: ContainerClient) -> None:
    """Force the interleaving: a competitor commits between our read of the manifest and our write."""
    for existing in (False, True):
        if existing:
            bronze.commit(container, write_run(container, records(5, "base")))
        competitor = write_run(container, records(5, "competitor"))
        ours = write_run(container, records(5, "ours"))
        reads: list[str | None] = []

        def competitor_commits_after_our_first_read(current: bronze.Manifest | None,
                                                    competitor: bronze.Manifest = competitor,
                                                    reads: list[str | None] = reads) -> None:
            reads.append(current.run_id if current else None)
            if len(reads) == 1:
                bronze.commit(container, competitor)  # commits on top of the state we just read

        outcome = bronze.commit(container, ours, after_read=competitor_commits_after_our_first_read)

        assert outcome.attempts == 2  # the conditional write failed once (If-None-Match: * / If-Match: etag)
        assert reads[1] == competitor.run_id  # the second attempt read the competitor's commit
        assert outcome.replaced_run_id == competitor.run_id
        committed = bronze.read_manifest(container, DAY)
        assert committed is not None and committed.run_id == ours.run_id
        kept = bronze.replaced_runs(container, DAY)
        assert competitor.run_id in kept  # the competitor's run, replaced by ours, is kept (restorable)
        assert set(bronze.run_ids(container, DAY)) - set(kept) == {ours.run_id}
        assert_manifest_verifies(container, committed)
        assert {r["tag"] for r in bronze.iter_committed_records(container, DAY)} == {"ours"}


def test_many_simultaneous_commits_end_in_one_consistent_day(container: ContainerClient) -> None:
    runs = [write_run(container, records(40, f"run{i}")) for i in range(6)]
    barrier = threading.Barrier(len(runs))
    outcomes: dict[str, object] = {}

    def commit(manifest: bronze.Manifest) -> None:
        barrier.wait()
        try:
            outcomes[manifest.run_id] = bronze.commit(container, manifest)
        except bronze.CommitRefused as exc:  # lost every attempt: allowed, and it must not have corrupted anything
            outcomes[manifest.run_id] = exc

    threads = [threading.Thread(target=commit, args=(m,)) for m in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    committed = bronze.read_manifest(container, DAY)
    assert committed is not None and committed.run_id in outcomes
    assert_manifest_verifies(container, committed)
    winner_tag = f"run{[m.run_id for m in runs].index(committed.run_id)}"
    assert {r["tag"] for r in bronze.iter_committed_records(container, DAY)} == {winner_tag}
    refused = {rid for rid, o in outcomes.items() if isinstance(o, bronze.CommitRefused)}
    kept = set(bronze.replaced_runs(container, DAY))  # every run that was committed once, then replaced
    assert set(bronze.run_ids(container, DAY)) == {committed.run_id} | refused | kept
    assert kept == set(outcomes) - refused - {committed.run_id}


def test_a_run_too_old_to_be_safe_from_cleanup_is_not_committed(container: ContainerClient) -> None:
    previous = bronze.commit(container, write_run(container, records(3, "previous")))
    before = snapshot(container)
    stale = write_run(container, records(3, "stale"), started=NOW)
    grace = timedelta(hours=6)
    with pytest.raises(bronze.CommitRefused, match="more than half the cleanup grace period"):
        bronze.commit(container, stale, grace=grace, now=NOW + grace / 2 + timedelta(seconds=1))
    assert bronze.read_manifest(container, DAY) == previous.manifest
    after = snapshot(container)
    assert {k: v for k, v in after.items() if stale.run_id not in k} == before


def test_cleanup_deletes_old_orphans_only(container: ContainerClient) -> None:
    grace = timedelta(hours=6)
    first = bronze.commit(container, write_run(container, records(3), started=NOW), now=NOW).manifest
    old_orphan = write_run(container, records(3), started=NOW + timedelta(minutes=1))
    young_orphan = write_run(container, records(3), started=NOW + timedelta(hours=7))
    later = NOW + timedelta(hours=7, minutes=1)
    second = bronze.commit(container, write_run(container, records(3), started=later), grace=grace, now=later)
    assert set(second.deleted_runs) == {old_orphan.run_id}  # the replaced first run is kept, not an orphan
    assert set(bronze.run_ids(container, DAY)) == {first.run_id, second.manifest.run_id, young_orphan.run_id}
    # the committed run and a kept replaced run are never orphans, however old
    much_later = later + timedelta(days=30)
    assert bronze.cleanup_day(container, DAY, grace=grace, now=much_later) == (young_orphan.run_id,)
    assert bronze.run_ids(container, DAY) == [first.run_id, second.manifest.run_id]
    assert_manifest_verifies(container, second.manifest)


def test_committed_days_and_statuses_cover_a_range_with_gaps(container: ContainerClient) -> None:
    days = [DAY + timedelta(days=i) for i in range(5)]
    for day in (days[0], days[2], days[4]):
        bronze.commit(container, write_run(container, records(7), day=day))
    write_run(container, records(7), day=days[3])  # a run folder without a commit
    committed = bronze.committed_days(container, days[1], days[4])
    assert sorted(committed) == [days[2], days[4]]
    statuses = bronze.day_statuses(container, days[0], days[4])
    assert [s.committed for s in statuses] == [True, False, True, False, True]
    assert statuses[2].record_count == 7 and statuses[2].rejected_count == 0
    assert statuses[2].run_id == committed[days[2]].run_id
    assert statuses[2].committed_at == committed[days[2]].committed_at
    assert statuses[1].to_dict() == {"date": "2026-03-15", "committed": False, "record_count": None,
                                     "rejected_count": None, "run_id": None, "committed_at": None}


SCALARS = st.none() | st.booleans() | st.integers() | st.text()
JSON_WITHOUT_FLOATS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=15,
)
JSON = st.recursive(
    SCALARS | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=15,
)


@given(values=st.lists(JSON_WITHOUT_FLOATS, max_size=8))
def test_encoded_lines_are_exactly_compact_json_dumps(values: list) -> None:
    expected = "".join(json.dumps(v, ensure_ascii=False, separators=(",", ":")) + "\n" for v in values)
    assert bronze.encode_lines(values) == expected.encode()


@given(values=st.lists(JSON, max_size=8))
def test_encoded_lines_read_back_as_the_same_values(values: list) -> None:
    """Floats may be spelled differently from json.dumps (1e16 for 1e+16), never with another value."""
    encoded = bronze.encode_lines(values)
    assert encoded.count(b"\n") == len(values) and (not values or encoded.endswith(b"\n"))
    assert [json.loads(line) for line in encoded.splitlines()] == values


def test_a_local_copy_is_verified_against_its_manifest(container: ContainerClient, tmp_path) -> None:
    """verify_local_run: the saved run must be exactly the committed part files (used by `transform`)."""
    manifest = write_run(container, records(300), part_max_bytes=4_000)
    bronze.commit(container, manifest)
    assert bronze.download_committed_day(container, DAY, tmp_path) is not None
    folder = tmp_path / manifest.run_path
    assert bronze.local_run_manifest(folder) == bronze.read_manifest(container, DAY)
    parts = sorted(folder.glob("part-*.jsonl.gz"))
    assert len(parts) > 1
    bronze.verify_local_run(parts, manifest)  # the committed files: fine

    with pytest.raises(bronze.IntegrityError, match="not given: " + parts[-1].name):
        bronze.verify_local_run(parts[:-1], manifest)
    kept = parts[0].read_bytes()
    parts[0].write_bytes(gzip.compress(gzip.decompress(kept)[:100].rsplit(b"\n", 1)[0] + b"\n"))
    with pytest.raises(bronze.IntegrityError, match=f"{parts[0].name} does not match its manifest"):
        bronze.verify_local_run(parts, manifest)
    parts[0].write_bytes(kept)
    other = tmp_path / "product_usage" / f"date={DAY}" / bronze.new_run_id()
    other.mkdir()
    moved = [other / p.name for p in parts]
    for source, target in zip(parts, moved, strict=True):
        target.write_bytes(source.read_bytes())
    with pytest.raises(bronze.IntegrityError, match=f"its manifest commits run {manifest.run_id}"):
        bronze.verify_local_run(moved, manifest)
    assert bronze.local_run_manifest(tmp_path) is None
