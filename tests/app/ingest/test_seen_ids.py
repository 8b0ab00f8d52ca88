"""SeenIds: exact against a dict model (forced filter collisions and disk lookups included), first pages,
temp files removed, memory independent of the number of ids; and the validator and runner use it so."""

from __future__ import annotations

import gc
import os
import random
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from azure.storage.blob import ContainerClient

from company_activity.ingest.runner import ingest_day
from company_activity.ingest.seen_ids import DEFAULT_BLOOM_BITS, SeenIds
from company_activity.ingest.usage_api import DayRecordValidator
from company_activity_local.services.simulator import UsageApiSimulator
from company_activity_local.services.usage_data import Dataset
from tests.support.ingest_helpers import DAY, client_for

Factory = Callable[..., UsageApiSimulator]

# Ids that stress the on-disk format: JSON escapes, separators, non-ASCII, a lone surrogate, prefixes of others.
ODD_IDS = ['a"b', "a\\b", "new\nline", ",", '","', ":", '": 1, "', "{}", " ", "é", "日本", "\ud800", "c1", "c12",
           "c123", "x" * 64, '"', "\\", "\\u0041", "A"]


def random_ids(rng: random.Random, count: int, distinct: int) -> list[str]:
    """`count` ids drawn from `distinct` values (so many repeat, at any distance), the odd ones included."""
    pool = ODD_IDS + [f"{rng.choice('abc')}{rng.randrange(10 ** rng.randrange(1, 9))}" for _ in range(distinct)]
    return [rng.choice(pool) for _ in range(count)]


def check_against_model(seen: SeenIds, ids: list[str], rng: random.Random) -> None:
    model: dict[str, int] = {}
    for i, company in enumerate(ids):
        page = i // 7 + rng.randrange(3)  # pages need not be increasing
        assert seen.claim(company, page) == model.get(company), (i, company)
        model.setdefault(company, page)


@pytest.mark.parametrize(
    ("options", "count", "distinct"),
    [
        # a 64-bit filter: nearly every claim is a filter hit and must be settled exactly on disk
        ({"bloom_bits": 64, "spill_at": 16, "buckets": 3}, 3000, 1500),
        ({"bloom_bits": 1 << 12, "spill_at": 100, "buckets": 1}, 5000, 4000),
        ({"bloom_bits": 1 << 10, "spill_at": 1, "buckets": 64}, 1500, 300),
        ({}, 30_000, 20_000),  # the defaults: spills past 8192 ids
    ],
    ids=["tiny-filter", "one-bucket", "spill-every-id", "defaults"],
)
def test_exact_against_a_dict_with_forced_collisions(options: dict[str, int], count: int, distinct: int) -> None:
    rng = random.Random(count)
    with SeenIds(**options) as seen:
        check_against_model(seen, random_ids(rng, count, distinct), rng)
        if options:
            assert seen.disk_lookups > 100  # the exact store on disk was really consulted


def test_a_filter_hit_for_a_new_id_is_not_a_duplicate() -> None:
    with SeenIds(bloom_bits=64, buckets=4, spill_at=4) as seen:
        for n in range(200):
            assert seen.claim(f"id{n}", page=n) is None  # the 64-bit filter is full after a few ids
        assert seen.disk_lookups > 150
        assert [seen.claim(f"id{n}", page=999) for n in range(200)] == list(range(200))


def test_the_first_page_is_reported_from_memory_and_from_disk() -> None:
    with SeenIds(buckets=1, spill_at=6) as seen:
        assert seen.claim("c000001", 0) is None
        assert seen.claim("c000002", 4) is None
        assert seen.claim("c000001", 5) == 0  # from memory
        assert seen.directory is None  # nothing spilled yet: no temp dir at all
        seen.claim("c000003", 6)  # three pages and three ids: the bucket goes to disk
        assert seen.directory is not None and os.listdir(seen.directory)
        assert (seen.claim("c000002", 7), seen.claim("c000003", 8), seen.claim("c000001", 9)) == (4, 6, 0)
        assert seen.disk_lookups == 3


def test_the_validator_reports_first_pages_from_disk_with_the_usual_reason() -> None:
    with DayRecordValidator(DAY, SeenIds(bloom_bits=64, spill_at=2)) as validator:
        record = {"company_id": "c9", "date": DAY.isoformat(), "active_users": 1, "events": 2}
        assert validator.check(record, 3) is None
        for n in range(10):
            assert validator.check(dict(record, company_id=f"other{n}"), 4) is None
        assert validator.check(record, 12) == "duplicate company_id 'c9': first seen on page 3"
        assert (validator.accepted, validator.rejected) == (11, 1)


def test_the_validator_is_exact_on_a_served_day_with_a_tiny_filter(usage_api_factory: Factory) -> None:
    """Same reasons, record by record, as with the default SeenIds: the filter size changes speed only."""
    sim = usage_api_factory("invalid@0.05", companies=2000, seed=13)
    with client_for(sim, page_size=150) as api:
        pages = [(page.number, page.records) for page in api.iter_pages(DAY)]
    with DayRecordValidator(DAY) as plain, DayRecordValidator(DAY, SeenIds(bloom_bits=64, spill_at=50)) as tiny:
        reasons = [(plain.check(r, n), tiny.check(r, n)) for n, records in pages for r in records]
    assert all(a == b for a, b in reasons)
    duplicates = [a for a, _ in reasons if a and a.startswith("duplicate company_id")]
    kinds = [kind for _, kind in Dataset(companies=2000, seed=13, invalid_share=0.05).corrupted(DAY)]
    assert len(duplicates) == kinds.count("duplicate_company_id") > 0


# -- temp files ------------------------------------------------------------------------------------------

def test_close_removes_the_temp_dir_and_refuses_more_claims(tmp_path: Path) -> None:
    seen = SeenIds(buckets=2, spill_at=10, directory=tmp_path)
    for n in range(100):
        seen.claim(f"c{n}", 0)
    directory = seen.directory
    assert directory is not None and Path(directory).parent == tmp_path and len(os.listdir(directory)) > 1
    seen.close()
    assert not os.path.exists(directory) and list(tmp_path.iterdir()) == []
    seen.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        seen.claim("c1", 0)


def test_the_with_block_removes_the_temp_dir_on_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), SeenIds(buckets=2, spill_at=5, directory=tmp_path) as seen:
        for n in range(20):
            seen.claim(f"c{n}", 0)
        assert list(tmp_path.iterdir())
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_an_instance_dropped_without_close_removes_its_temp_dir(tmp_path: Path) -> None:
    seen = SeenIds(buckets=2, spill_at=5, directory=tmp_path)
    for n in range(20):
        seen.claim(f"c{n}", 0)
    assert list(tmp_path.iterdir())
    del seen
    gc.collect()
    assert list(tmp_path.iterdir()) == []


def test_the_system_temp_dir_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with SeenIds(buckets=2, spill_at=5) as seen:
        for n in range(20):
            seen.claim(f"c{n}", 0)
        assert seen.directory is not None and Path(seen.directory).parent == tmp_path
        assert Path(seen.directory).name.startswith("company-activity-seen-ids-")


@pytest.fixture()
def made(tmp_path: Path) -> Iterator[list[SeenIds]]:
    """The stores the runner makes, each spilling after 20 ids of a bucket into tmp_path, kept for inspection."""
    stores: list[SeenIds] = []
    yield stores
    assert list(tmp_path.iterdir()) == []  # every spilled id is gone from disk


@pytest.mark.parametrize(("faults", "committed"), [("", True), ("404@4-999", False)], ids=["committed", "api-fails"])
def test_the_runner_removes_the_spilled_ids(
    usage_api_factory: Factory, container: ContainerClient, made: list[SeenIds], tmp_path: Path, faults: str,
    committed: bool,
) -> None:
    def small_store() -> SeenIds:
        made.append(SeenIds(buckets=4, spill_at=20, directory=tmp_path))
        return made[-1]

    api = usage_api_factory(faults, companies=1000, seed=4)
    with client_for(api, page_size=100) as usage:
        result = ingest_day(DAY, usage, container, reject_threshold=0.01, seen_ids=small_store)
    assert result.committed is committed and result.pages == (10 if committed else 3)
    [seen] = made
    assert seen.spills > 0  # ids did go to disk (and the fixture checks they were removed)
    assert seen.directory is None
    with pytest.raises(ValueError, match="closed"):
        seen.claim("c1", 0)


def test_an_unwritable_temp_dir_fails_the_day_and_commits_nothing(
    usage_api_factory: Factory, container: ContainerClient, tmp_path: Path
) -> None:
    missing = tmp_path / "missing"
    with client_for(usage_api_factory(companies=300), page_size=100) as usage, \
            pytest.raises(FileNotFoundError, match="missing"):
        ingest_day(DAY, usage, container, reject_threshold=0.01,
                   seen_ids=lambda: SeenIds(buckets=1, spill_at=50, directory=missing))
    assert list(container.list_blobs()) == []  # the run folder was discarded, no manifest


# -- memory ----------------------------------------------------------------------------------------------

def _peak_claiming(count: int) -> int:
    """Peak traced bytes of a SeenIds claiming `count` distinct ids (made on the fly, none kept by the test)."""
    tracemalloc.start()
    try:
        # Two buckets, so that each bucket file of even the smaller store holds many lines.
        with SeenIds(spill_at=256, buckets=2) as seen:
            for n in range(count):
                seen.claim(f"company-{n:09d}", n // 1000)
            assert seen.claim("company-000000000", 7) == 0 and seen.disk_lookups >= 1  # a lookup on disk
            _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def test_memory_does_not_grow_with_the_number_of_ids() -> None:
    small, large = _peak_claiming(6_000), _peak_claiming(60_000)
    # A set of the 54k extra ids would take more than 4 MB; a lookup holds one line (256 ids) and its
    # parse, about 25 kB. The margin absorbs allocator noise, which varies between machines.
    assert abs(large - small) < 256 * 1024, (small, large)
    assert large < DEFAULT_BLOOM_BITS // 8 + 1024 * 1024  # the filter, 256 recent ids, one chunk


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"bloom_bits": 1000}, "bloom_bits must be a power of two between 64 and 2\\*\\*32, got 1000"),
        ({"bloom_bits": 32}, "got 32"),
        ({"bloom_bits": 1 << 33}, "bloom_bits"),
        ({"buckets": 0}, "buckets must be >= 1, got 0"),
        ({"spill_at": 0}, "spill_at must be >= 1, got 0"),
    ],
)
def test_bad_options_are_refused_naming_them(options: dict[str, int], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        SeenIds(**options)
