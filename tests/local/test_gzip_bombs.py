"""Local gzip readers against bombs (issue 22, finding 4): transform's usage files and the local Copy refuse a
file that inflates past its limit, with bounded memory and an error naming the file."""

from __future__ import annotations

import tracemalloc
import zlib
from pathlib import Path

import pytest

from company_activity_local.pipeline import datasets
from company_activity_local.pipeline.results import ActivityFailed
from company_activity_local.warehouse.staging import StagingError, iter_usage_lines

MiB = 1024 * 1024


def bomb(length: int, line: bytes = b"") -> bytes:
    """`length` bytes of 'a' (one endless line unless `line` ends each MiB), gzip-compressed."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"a" * (MiB - len(line)) + line
    return b"".join([*(compressor.compress(block) for _ in range(length // MiB)), compressor.flush()])


def peak_of(action) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_transform_refuses_a_usage_file_with_one_endless_line_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "part-00000.jsonl.gz"
    path.write_bytes(bomb(400 * MiB))
    assert path.stat().st_size < 1 * MiB

    def read() -> None:
        with pytest.raises(StagingError, match=r"part-00000\.jsonl\.gz: .*line is longer than"):
            list(iter_usage_lines(path))

    assert peak_of(read) < 32 * MiB


def test_transform_refuses_a_plain_usage_file_with_an_endless_line(tmp_path: Path) -> None:
    path = tmp_path / "part-00000.jsonl"
    path.write_bytes(b"a" * (3 * MiB))
    with pytest.raises(StagingError, match="line is longer than"):
        list(iter_usage_lines(path))


class _Gzip:
    name, type, compression, properties = "DS_bronze_usage", "Json", "gzip", {}


def test_the_local_copy_refuses_a_file_that_inflates_past_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets, "MAX_DECOMPRESSED_BYTES", 64 * MiB)
    data = bomb(200 * MiB, line=b"\n")

    def copy() -> None:
        with pytest.raises(ActivityFailed, match="decompresses to more than"):
            list(datasets.read_rows(_Gzip(), data, "bronze/part-00000.jsonl.gz"))  # type: ignore[arg-type]

    assert peak_of(copy) < 100 * MiB
