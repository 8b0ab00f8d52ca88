"""An exact set of the company ids seen in one day, with memory that does not grow with the day.

`SeenIds.claim(company_id, page)` records an id with the page it was first seen on, or returns that
page when the id was claimed before. Answers are exact (never a false "duplicate", never a missed one)
and memory is fixed, whatever the number of ids:

- a blocked Bloom filter of `bloom_bits` bits (8 MiB by default): three bits in one 64-bit word per
  id, all taken from Python's built-in `hash()` (C code, cached on the str). A miss means "never
  claimed", the common case, and costs no I/O. One word per id keeps the Python work per record small
  (every record goes through here). Python randomises str hashes per process; that is fine, a filter
  lives for one day in one process.
- the ids themselves in `buckets` append-only files of a private temporary directory (created at the
  first spill, under the system temp dir unless `directory` is given), the bucket chosen by `hash()`.
  Each bucket collects up to `spill_at` entries in memory (page numbers, each followed by that page's
  ids: `[3, "c1", "c9", 4, "c20"]`), then appends them to its file as one JSON line. So at most
  `buckets * spill_at` entries (8192 by default) are in memory, and a lookup reads one bucket line by
  line (one line is one spill, at most `spill_at` entries) and parses only a line whose bytes contain
  the id.

A filter hit is confirmed against the id's bucket, in memory then on disk, so the filter only decides
how often the disk is read: with the defaults about 150 times for a day of 1M distinct ids (each a scan
of one bucket, 1/64 of the ids), plus once per duplicate whose first occurrence is already on disk.
A bigger day still answers exactly, only slower as the filter fills and the buckets grow. Disk use is
about 12 bytes per id. `close()` (or the `with` block) removes the directory; an instance dropped
without it has its directory removed by a finalizer when it is collected or the interpreter exits.

Hand-written because neither our dependencies nor the standard library offer a bounded-memory exact
set: sets and dicts grow with their content (~84 bytes per id), probabilistic filters alone answer
"maybe" (which would reject valid records), and sqlite3 inserts cost several microseconds per id.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import weakref
from array import array
from types import TracebackType

DEFAULT_BLOOM_BITS = 1 << 26  # 8 MiB
DEFAULT_BUCKETS = 64
DEFAULT_SPILL_AT = 128  # entries a bucket holds in memory before appending them to its file: 8192 in all

_CLOSED = object()
# Masks with two bits of a 64-bit word set, indexed by 12 bits of the hash; the third bit comes from 6 more.
_TWO_BITS = tuple((1 << (v & 63)) | (1 << (v >> 6)) for v in range(4096))


class SeenIds:
    """Exact, bounded-memory `company_id -> first page` for one day; one thread, then close()."""

    def __init__(self, *, bloom_bits: int = DEFAULT_BLOOM_BITS, buckets: int = DEFAULT_BUCKETS,
                 spill_at: int = DEFAULT_SPILL_AT, directory: str | os.PathLike[str] | None = None):
        if not 64 <= bloom_bits <= 1 << 32 or bloom_bits & (bloom_bits - 1):
            raise ValueError(f"bloom_bits must be a power of two between 64 and 2**32, got {bloom_bits}")
        if buckets < 1:
            raise ValueError(f"buckets must be >= 1, got {buckets}")
        if spill_at < 1:
            raise ValueError(f"spill_at must be >= 1, got {spill_at}")
        self._words = array("Q", [0]) * (bloom_bits // 64)  # one allocation, no 8 MiB bytes copied in
        self._word_mask = bloom_bits // 64 - 1
        self._buckets = buckets
        self._spill_at = spill_at
        # Per bucket, the ids not yet on disk in claim order, each run of them preceded by its page number
        # (an int): [3, "c1", "c9", 4, "c20"]. A spill appends such a list as one JSON line.
        self._pending: list[list[str | int]] = [[] for _ in range(buckets)]
        self._page: object = None  # the page of the last claim; _CLOSED once closed
        self._on_disk = [0] * buckets  # lines in each bucket file, so a lookup skips empty buckets
        self._parent = os.fspath(directory) if directory is not None else None
        self._dir: str | None = None
        self._cleanup: weakref.finalize[..., SeenIds] | None = None
        self.disk_lookups = 0  # filter hits not answered by the ids in memory: a bucket file was read
        self.spills = 0  # runs of ids written to disk

    def claim(self, company_id: str, page: int) -> int | None:
        """None when `company_id` is new (it is now claimed for `page`), else the page that claimed it."""
        if page != self._page:  # once per page, not per record: the per-record path is kept short
            self._start_page(page)
        h = hash(company_id)
        words = self._words
        i = (h >> 18) & self._word_mask
        mask = _TWO_BITS[h & 4095] | (1 << ((h >> 12) & 63))
        word = words[i]
        bucket = h % self._buckets
        if word & mask == mask:
            first = self._find(company_id, bucket)
            if first is not None:
                return first
        else:
            words[i] = word | mask
        pending = self._pending[bucket]
        pending.append(company_id)
        if len(pending) >= self._spill_at:
            self._spill(bucket)
        return None

    @property
    def directory(self) -> str | None:
        """The temporary directory of the spilled ids; None until the first spill and after close()."""
        return self._dir

    def close(self) -> None:
        """Remove the spilled ids from disk and free the memory; claim() is refused afterwards."""
        self._page = _CLOSED
        self._pending = []
        self._words = array("Q")
        if self._cleanup is not None:
            self._cleanup()  # rmtree, once; later calls do nothing
        self._dir = None

    def __enter__(self) -> SeenIds:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"SeenIds(bloom_bits={(self._word_mask + 1) * 64}, buckets={self._buckets}, "
                f"spill_at={self._spill_at}, directory={self._dir!r})")

    # -- the exact store ---------------------------------------------------------------------------------
    def _start_page(self, page: int) -> None:
        if self._page is _CLOSED:
            raise ValueError("SeenIds is closed")
        self._page = page
        for pending in self._pending:  # every list ends with the current page or one of its ids
            if pending and isinstance(pending[-1], int):
                pending[-1] = page  # no id of the previous page came to this bucket
            else:
                pending.append(page)

    def _find(self, company_id: str, bucket: int) -> int | None:
        first = _page_of(company_id, self._pending[bucket])
        if first is not None or not self._on_disk[bucket]:
            return first
        self.disk_lookups += 1
        token = json.dumps(company_id).encode("ascii")  # as the spill wrote it (ensure_ascii)
        with open(self._bucket_path(bucket), "rb") as lines:
            for line in lines:  # one spill per line, so memory is bounded by spill_at
                if token in line:  # the bytes are only a filter; parsing the line is the exact test
                    first = _page_of(company_id, json.loads(line))
                    if first is not None:
                        return first
        return None

    def _spill(self, bucket: int) -> None:
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="company-activity-seen-ids-", dir=self._parent)
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._dir, True)
        pending = self._pending[bucket]
        line = json.dumps(pending).encode("ascii") + b"\n"
        self.spills += 1
        fd = os.open(self._bucket_path(bucket), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            written = 0
            while written < len(line):
                written += os.write(fd, line[written:])
        finally:
            os.close(fd)
        self._on_disk[bucket] += 1
        assert isinstance(self._page, int)  # a spill happens inside a claim, which set the page
        pending[:] = [self._page]  # the next line starts with its page

    def _bucket_path(self, bucket: int) -> str:
        assert self._dir is not None
        return os.path.join(self._dir, f"{bucket:03d}.jsonl")


def _page_of(company_id: str, entries: list[str | int]) -> int | None:
    """The page of `company_id` in a list of page numbers each followed by the ids of that page."""
    try:
        at = entries.index(company_id)  # an id (str) never equals a page (int)
    except ValueError:
        return None
    while not isinstance(entries[at], int):
        at -= 1
    return entries[at]  # type: ignore[return-value]
