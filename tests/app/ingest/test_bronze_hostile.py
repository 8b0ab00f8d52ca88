"""The bronze reader against a hostile writer (issue 22, findings 3 and 4): anyone who can write to the
bronze container controls manifests and part files, so their paths and sizes are checked before use."""

from __future__ import annotations

import datetime
import gzip
import hashlib
import json
import os
import tracemalloc
import zlib
from datetime import UTC
from pathlib import Path

import pytest
from azure.storage.blob import ContainerClient

from company_activity.ingest import bronze
from tests.app.ingest.test_bronze import records, write_run
from tests.support.ingest_helpers import DAY

RUN = "20261127T013000Z-0a0b0c0d"
NOW = datetime.datetime(2026, 11, 27, 1, 30, tzinfo=UTC)


def manifest_body(path: str, *, rejected: bool = False) -> dict:
    entry = bronze.BronzeFile(bronze.data_file_path(DAY, RUN, "part", 0), 5, 100, "ab" * 32)
    manifest = bronze.Manifest(dataset=bronze.DATASET, date=DAY, run_id=RUN, record_count=5, rejected_count=0,
                               files=(entry,), rejected_files=(), started_at=NOW, committed_at=NOW,
                               source=bronze.Source("http://api.example", 1))
    body = json.loads(manifest.to_json())
    if rejected:
        body["rejected_files"] = [{**body["files"][0], "path": path}]
        body["rejected_count"] = 5
    else:
        body["files"][0]["path"] = path
    return body


RUN_PATH = f"product_usage/date={DAY.isoformat()}/{RUN}/"


@pytest.mark.parametrize(("path", "rejected"), [
    (RUN_PATH + "../../escaped.txt", False),
    (RUN_PATH + "part-00000.jsonl.gz/../../../x", False),
    (RUN_PATH + "sub/part-00000.jsonl.gz", False),
    (RUN_PATH + "part-0.jsonl.gz", False),
    (RUN_PATH + "part-00000.jsonl.gz\n", False),
    (RUN_PATH + "_manifest.json", False),
    (RUN_PATH + "rejected-00000.jsonl.gz", False),  # a rejected file listed as data
    (RUN_PATH + "part-00000.jsonl.gz", True),  # a data file listed as rejected
    ("/" + RUN_PATH + "part-00000.jsonl.gz", False),
])
def test_a_manifest_whose_file_is_not_exactly_a_part_or_rejected_file_of_its_run_is_refused(
        path: str, rejected: bool) -> None:
    with pytest.raises(bronze.ManifestError, match=r"not a (part|rejected) file of run"):
        bronze.Manifest.from_json(json.dumps(manifest_body(path, rejected=rejected)), where="hostile manifest")


def test_download_never_writes_through_a_symlink_out_of_dest(container: ContainerClient, tmp_path: Path) -> None:
    manifest = bronze.commit(container, write_run(container, records(20))).manifest
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    (dest / "product_usage").symlink_to(outside, target_is_directory=True)
    with pytest.raises(bronze.BronzeError, match="symbolic link"):
        bronze.download_committed_day(container, DAY, dest)
    assert list(outside.rglob("*")) == []
    assert manifest.files


def test_download_does_not_follow_a_symlink_planted_as_the_file(container: ContainerClient, tmp_path: Path) -> None:
    manifest = bronze.commit(container, write_run(container, records(20))).manifest
    dest = tmp_path / "dest"
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    planted = dest / manifest.files[0].path
    planted.parent.mkdir(parents=True)
    os.symlink(victim, planted.with_name(planted.name + ".partial"))
    with pytest.raises(bronze.BronzeError, match="symbolic link"):
        bronze.download_committed_day(container, DAY, dest)
    assert victim.read_text() == "keep me"


def bomb(length: int) -> bytes:
    """`length` bytes of one endless line, gzip-compressed (a few hundred KB for hundreds of MB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"a" * (1024 * 1024)
    out = [compressor.compress(block) for _ in range(length // len(block))]
    return b"".join([*out, compressor.flush()])


def test_a_gzip_bomb_in_a_committed_file_is_refused_with_bounded_memory(container: ContainerClient) -> None:
    manifest = bronze.commit(container, write_run(container, records(5))).manifest
    data = bomb(300 * 1024 * 1024)
    container.upload_blob(manifest.files[0].path, data, overwrite=True)

    forged = bronze.BronzeFile(manifest.files[0].path, 5, len(data), hashlib.sha256(data).hexdigest())
    tracemalloc.start()
    try:
        with pytest.raises(bronze.IntegrityError, match=r"longer than .* bytes"):
            list(bronze.iter_file_lines(container, forged))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"


def test_a_file_that_decompresses_past_what_its_records_allow_is_refused(container: ContainerClient) -> None:
    manifest = bronze.commit(container, write_run(container, records(5))).manifest
    lines = b"".join(b'{"company_id":"c%07d"}\n' % i for i in range(200_000))
    data = gzip.compress(lines)
    container.upload_blob(manifest.files[0].path, data, overwrite=True)

    forged = bronze.BronzeFile(manifest.files[0].path, 5, len(data), hashlib.sha256(data).hexdigest())
    with pytest.raises(bronze.IntegrityError, match="decompresses to more than"):
        list(bronze.iter_file_lines(container, forged, max_line_bytes=64))
