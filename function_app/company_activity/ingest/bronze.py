"""The bronze layout contract: where a day's files live, the manifest that commits them, and how to read them.

```
product_usage/date=YYYY-MM-DD/<run_id>/part-00000.jsonl.gz       records as received, one JSON object a line
product_usage/date=YYYY-MM-DD/<run_id>/rejected-00000.jsonl.gz   {"record": ..., "reason": ...} a line
product_usage/date=YYYY-MM-DD/_manifest.json                     written last: the commit
```

A run writes only inside its own run folder, then commits by writing the day's manifest with an ETag
condition (`If-None-Match: *` for the first commit of a day, `If-Match: <etag>` to swap). Readers go
through the manifest, so they see either the previous committed run or the new one, never a mix.
When two runs of one day race, the loser's conditional write fails; it re-reads the manifest and swaps
again on top of the winner (its run is complete and verified, so it is a legitimate newer version of the
day). A run that holds fewer records than the committed one does not replace it unless asked explicitly
(FewerRecordsRefused). A replaced run's folder is kept, marked with `_replaced.json` (its manifest), and
never cleaned up: `restore_replaced` commits it again.

Folders that no manifest points at and that were never committed (failed or rejected runs) are deleted by
the next commit of the day once they are older than a grace period. A run refuses to commit when it is
older than half that grace period, so cleanup can never delete a folder that is about to be committed.

Part files are written with staged blocks and compressed incrementally, so memory stays at about one
block plus one page whatever the size of the day. Written by hand because the Azure SDK's upload helpers
want either the whole payload or a readable stream, while here we push pages as they arrive.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import msgspec
from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobBlock, BlobClient, ContainerClient, ContentSettings

from company_activity.errors import OperationalError
from company_activity.ingest.dates import DateFieldError, date_range, format_instant, parse_instant, shown, utc_now
from company_activity.ingest.gzip_lines import (
    MAX_LINE_BYTES,
    CorruptGzip,
    DecompressionLimitExceeded,
    GzipLines,
    inflate_lines,
    output_limit,
)

log = logging.getLogger(__name__)

DATASET = "product_usage"
SCHEMA_VERSION = 1
MANIFEST_NAME = "_manifest.json"
REPLACED_NAME = "_replaced.json"  # in a run folder: this run was committed once, then replaced (kept, restorable)
PART_PREFIX = "part"
REJECTED_PREFIX = "rejected"
DEFAULT_PART_MAX_BYTES = 256 * 1024 * 1024  # uncompressed bytes per part file before rolling to the next
DEFAULT_BLOCK_BYTES = 1024 * 1024  # compressed bytes per staged block (50,000 blocks a blob: parts up to ~48 GiB)
DEFAULT_GZIP_LEVEL = 1  # 2.6x faster than 6 for ~25% more bytes on usage JSON (docs/benchmarks.md)
DEFAULT_GRACE = timedelta(hours=6)
COMMIT_ATTEMPTS = 5

_RUN_ID = re.compile(r"(\d{8}T\d{6}Z)-[0-9a-f]{8}")
_GZIP_WBITS = 31  # zlib: gzip container (header + CRC32 trailer) instead of a raw zlib stream
_GZIP_CONTENT = ContentSettings(content_type="application/gzip")
_JSON_CONTENT = ContentSettings(content_type="application/json")


class BronzeError(OperationalError):
    """A bronze layout operation failed; the message names the blob or field."""


class ManifestError(BronzeError):
    """A manifest is not valid JSON or misses/garbles a field."""


class IntegrityError(BronzeError):
    """A committed file does not match its manifest entry (missing, sha256, byte or record count)."""


class CommitRefused(BronzeError):
    """The run may not commit (too old, or lost too many races); the previous commit is untouched."""


class FewerRecordsRefused(CommitRefused):
    """The run holds fewer records than the committed run it would replace, and that was not explicitly
    allowed (an API that suddenly returns less must not silently shrink a committed day)."""


# ----------------------------------------------------------------------------------------------- paths


def day_prefix(day: date) -> str:
    return f"{DATASET}/date={day.isoformat()}/"


def manifest_path(day: date) -> str:
    return day_prefix(day) + MANIFEST_NAME


def run_prefix(day: date, run_id: str) -> str:
    return f"{day_prefix(day)}{run_id}/"


def data_file_path(day: date, run_id: str, kind: str, index: int) -> str:
    return f"{run_prefix(day, run_id)}{kind}-{index:05d}.jsonl.gz"


def new_run_id(now: datetime | None = None) -> str:
    """Sortable by start time and unique: 20261127T013000Z-1a2b3c4d."""
    started = (now or utc_now()).astimezone(UTC)
    return f"{started:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def run_started_at(run_id: str) -> datetime:
    match = _RUN_ID.fullmatch(run_id)
    if not match:
        raise ValueError(f"not a run id (expected 20261127T013000Z-1a2b3c4d): {run_id!r}")
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def is_run_id(text: str) -> bool:
    return _RUN_ID.fullmatch(text) is not None


# -------------------------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class BronzeFile:
    """One data file of a run: path relative to the container, lines, stored (gzip) bytes and their sha256."""

    path: str
    records: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Source:
    """Where the day came from. Never holds credentials."""

    base_url: str
    pages: int


@dataclass(frozen=True, kw_only=True)
class Manifest:
    dataset: str
    date: date
    run_id: str
    record_count: int
    rejected_count: int
    files: tuple[BronzeFile, ...]
    rejected_files: tuple[BronzeFile, ...]
    started_at: datetime
    committed_at: datetime
    source: Source
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        # The JSON form has second precision in UTC; normalise so a manifest equals its round trip.
        for name in ("started_at", "committed_at"):
            value: datetime = getattr(self, name)
            object.__setattr__(self, name, value.astimezone(UTC).replace(microsecond=0))

    @property
    def run_path(self) -> str:
        """The run folder, relative to the container (what the ADF copy reads: `<run_path>part-*.jsonl.gz`)."""
        return run_prefix(self.date, self.run_id)

    @property
    def stored_bytes(self) -> int:
        """Stored (gzip) bytes of the run's data files."""
        return sum(f.bytes for f in self.files)

    def to_json(self) -> bytes:
        body = {
            "schema_version": self.schema_version,
            "dataset": self.dataset,
            "date": self.date.isoformat(),
            "run_id": self.run_id,
            "run_path": self.run_path,
            "record_count": self.record_count,
            "rejected_count": self.rejected_count,
            "files": [asdict(f) for f in self.files],
            "rejected_files": [asdict(f) for f in self.rejected_files],
            "started_at": format_instant(self.started_at),
            "committed_at": format_instant(self.committed_at),
            "source": asdict(self.source),
        }
        return json.dumps(body, indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes | str, where: str = "manifest") -> Manifest:
        try:
            body = json.loads(data)
        except ValueError as exc:
            raise ManifestError(f"{where}: not valid JSON ({exc})") from None
        if not isinstance(body, dict):
            raise ManifestError(f"{where}: must be a JSON object")
        reader = _Fields(body, where)
        version = reader.integer("schema_version")
        if version != SCHEMA_VERSION:
            raise ManifestError(
                f"{where}: schema_version {version} is not supported (this code reads {SCHEMA_VERSION})"
            )
        try:
            day = date.fromisoformat(reader.string("date"))
        except ValueError:
            raise ManifestError(f"{where}: date must be YYYY-MM-DD, got {body['date']!r}") from None
        run_id = reader.string("run_id")
        if not is_run_id(run_id):
            raise ManifestError(f"{where}: run_id is not a run id, got {run_id!r}")
        source = reader.object("source")
        manifest = cls(
            dataset=reader.string("dataset"),
            date=day,
            run_id=run_id,
            record_count=reader.integer("record_count"),
            rejected_count=reader.integer("rejected_count"),
            files=reader.files("files"),
            rejected_files=reader.files("rejected_files"),
            started_at=reader.instant("started_at"),
            committed_at=reader.instant("committed_at"),
            source=Source(
                base_url=_Fields(source, f"{where}: source").string("base_url"),
                pages=_Fields(source, f"{where}: source").integer("pages"),
            ),
            schema_version=version,
        )
        if manifest.record_count != sum(f.records for f in manifest.files):
            raise ManifestError(f"{where}: record_count {manifest.record_count} differs from the sum over files")
        if manifest.rejected_count != sum(f.records for f in manifest.rejected_files):
            raise ManifestError(f"{where}: rejected_count {manifest.rejected_count} differs from the sum over files")
        for kind, entries in ((PART_PREFIX, manifest.files), (REJECTED_PREFIX, manifest.rejected_files)):
            pattern = re.compile(re.escape(manifest.run_path) + re.escape(kind) + r"-\d{5}\.jsonl\.gz")
            wrong = [f.path for f in entries if not pattern.fullmatch(f.path)]
            if wrong:
                # Readers write these paths under a local folder and the copy reads them: nothing but the
                # exact file names a run writes may appear (no "..", no subfolder, no other file).
                raise ManifestError(f"{where}: {shown(wrong[0])} is not a {kind} file of run {manifest.run_id}: "
                                    f"outside the run folder or not named {manifest.run_path}{kind}-NNNNN.jsonl.gz")
        return manifest


@dataclass
class _Fields:
    """Typed access to a JSON object's fields, with errors that name the field."""

    body: dict[str, Any]
    where: str

    def _get(self, name: str, kind: type | tuple[type, ...], kind_name: str) -> Any:
        if name not in self.body:
            raise ManifestError(f"{self.where}: missing field {name!r}")
        value = self.body[name]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ManifestError(f"{self.where}: {name} must be {kind_name}, got {value!r}"[:300])
        return value

    def string(self, name: str) -> str:
        return str(self._get(name, str, "a string"))

    def integer(self, name: str) -> int:
        value = int(self._get(name, int, "an integer"))
        if value < 0:
            raise ManifestError(f"{self.where}: {name} must be >= 0, got {value}")
        return value

    def object(self, name: str) -> dict[str, Any]:
        return dict(self._get(name, dict, "an object"))

    def instant(self, name: str) -> datetime:
        try:
            return parse_instant(name, self._get(name, str, "a timestamp string"))
        except DateFieldError as exc:
            raise ManifestError(f"{self.where}: {exc}") from None

    def files(self, name: str) -> tuple[BronzeFile, ...]:
        items = self._get(name, list, "a list")
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise ManifestError(f"{self.where}: {name}[{i}] must be an object")
            entry = _Fields(item, f"{self.where}: {name}[{i}]")
            out.append(BronzeFile(entry.string("path"), entry.integer("records"), entry.integer("bytes"),
                                  entry.string("sha256")))
        return tuple(out)


# --------------------------------------------------------------------------------------------- writing


class _GzipBlockWriter:
    """One gzip blob written as staged blocks: compress as data arrives, stage every `block_bytes`."""

    def __init__(self, blob: BlobClient, level: int, block_bytes: int) -> None:
        self.blob = blob
        self.block_bytes = block_bytes
        self.records = 0
        self.raw_bytes = 0
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)
        self._pending = bytearray()
        self._blocks: list[BlobBlock] = []
        self._sha = hashlib.sha256()
        self._stored = 0

    def write(self, data: bytes, records: int) -> None:
        self.records += records
        self.raw_bytes += len(data)
        self._pending += self._compressor.compress(data)
        if len(self._pending) >= self.block_bytes:
            chunk, self._pending = bytes(self._pending), bytearray()
            self._stage(chunk)

    def _stage(self, chunk: bytes) -> None:
        # Block ids must be base64 of equal length within a blob; the SDK does the base64.
        block_id = f"{len(self._blocks):08d}"
        self.blob.stage_block(block_id, chunk, length=len(chunk))
        self._blocks.append(BlobBlock(block_id=block_id))
        self._sha.update(chunk)
        self._stored += len(chunk)

    def close(self, container_path: str) -> BronzeFile:
        self._pending += self._compressor.flush()
        if self._pending:
            self._stage(bytes(self._pending))
            self._pending.clear()
        self.blob.commit_block_list(self._blocks, content_settings=_GZIP_CONTENT)
        return BronzeFile(container_path, self.records, self._stored, self._sha.hexdigest())

    def discard(self) -> None:
        """Drop staged blocks: committing an empty list discards them, then delete the empty blob."""
        try:
            self.blob.commit_block_list([])
            self.blob.delete_blob()
        except AzureError:  # best effort: uncommitted blocks also expire on their own after 7 days
            log.warning("could not discard staged blocks of %s", self.blob.blob_name, exc_info=True)


class _PartSeries:
    """part-00000, part-00001, ... of one kind in a run folder, rolling past `part_max_bytes` uncompressed."""

    def __init__(self, container: ContainerClient, day: date, run_id: str, kind: str, *,
                 part_max_bytes: int, level: int, block_bytes: int) -> None:
        self.container = container
        self.day = day
        self.run_id = run_id
        self.kind = kind
        self.part_max_bytes = part_max_bytes
        self.level = level
        self.block_bytes = block_bytes
        self.files: list[BronzeFile] = []
        self._current: _GzipBlockWriter | None = None
        self._current_path = ""

    def write(self, data: bytes, records: int) -> None:
        current = self._current
        if current is not None and current.raw_bytes and current.raw_bytes + len(data) > self.part_max_bytes:
            self._finish()
            current = None
        if current is None:
            current = self._open()
        current.write(data, records)

    def _open(self) -> _GzipBlockWriter:
        self._current_path = data_file_path(self.day, self.run_id, self.kind, len(self.files))
        self._current = _GzipBlockWriter(self.container.get_blob_client(self._current_path), self.level,
                                         self.block_bytes)
        return self._current

    def _finish(self) -> None:
        if self._current is not None:
            self.files.append(self._current.close(self._current_path))
            self._current = None

    def close(self, *, at_least_one: bool) -> tuple[BronzeFile, ...]:
        if at_least_one and self._current is None and not self.files:
            self._open()  # an empty day still has part-00000 (an empty gzip), so copies find a file
        self._finish()
        return tuple(self.files)

    def discard(self) -> None:
        if self._current is not None:
            self._current.discard()
            self._current = None


_LINES = msgspec.json.Encoder()


def encode_lines(records: Iterable[Any]) -> bytes:
    """JSON Lines: one compact JSON value a line, UTF-8, key order as received (msgspec's encoder, built
    once: json.dumps builds a new encoder on every call, which dominated ingestion time)."""
    return _LINES.encode_lines(records)


class RunWriter:
    """Writes one run folder: data parts and rejected parts. Nothing is visible to readers until `commit`."""

    def __init__(self, container: ContainerClient, day: date, run_id: str, *,
                 part_max_bytes: int = DEFAULT_PART_MAX_BYTES, block_bytes: int = DEFAULT_BLOCK_BYTES,
                 gzip_level: int = DEFAULT_GZIP_LEVEL) -> None:
        if part_max_bytes < 1 or block_bytes < 1:
            raise ValueError("part_max_bytes and block_bytes must be positive")
        self.container = container
        self.day = day
        self.run_id = run_id
        self._parts, self._rejected = (
            _PartSeries(container, day, run_id, kind, part_max_bytes=part_max_bytes, level=gzip_level,
                        block_bytes=block_bytes)
            for kind in (PART_PREFIX, REJECTED_PREFIX)
        )

    def write_records(self, records: Sequence[Any]) -> None:
        if records:
            self._parts.write(encode_lines(records), len(records))

    def write_rejected(self, rejected: Sequence[tuple[Any, str]]) -> None:
        if rejected:
            self._rejected.write(encode_lines({"record": r, "reason": why} for r, why in rejected), len(rejected))

    def close(self) -> tuple[tuple[BronzeFile, ...], tuple[BronzeFile, ...]]:
        """Commit every part blob (not the day): returns (files, rejected_files)."""
        return self._parts.close(at_least_one=True), self._rejected.close(at_least_one=False)

    def discard(self) -> None:
        """Abandon the run: drop staged blocks and delete whatever the run folder holds."""
        self._parts.discard()
        self._rejected.discard()
        delete_run(self.container, self.day, self.run_id)


# ----------------------------------------------------------------------------------------------- commit


@dataclass(frozen=True)
class CommitOutcome:
    """The manifest as written, the run it replaced (None for a first commit), and the clean-up done."""

    manifest: Manifest
    replaced_run_id: str | None
    attempts: int
    deleted_runs: tuple[str, ...] = field(default=())


def _read_manifest_with_etag(container: ContainerClient, day: date) -> tuple[Manifest | None, str | None]:
    blob = container.get_blob_client(manifest_path(day))
    try:
        downloader = blob.download_blob()
    except ResourceNotFoundError:
        return None, None
    data = downloader.readall()
    return Manifest.from_json(data, where=blob.blob_name), downloader.properties.etag


def commit(container: ContainerClient, manifest: Manifest, *, grace: timedelta = DEFAULT_GRACE,
           now: datetime | None = None, attempts: int = COMMIT_ATTEMPTS, allow_fewer: bool = False,
           restoring: bool = False, after_read: Callable[[Manifest | None], None] | None = None) -> CommitOutcome:
    """Make `manifest` the day's committed run (conditional write), keep the run it replaced, clean up orphans.

    `committed_at` is stamped with the time of the write. Raises CommitRefused when the run is older than
    grace/2 (cleanup may already consider its folder an orphan; not checked when `restoring` a replaced run,
    which cleanup never deletes) or when the manifest kept changing under it for `attempts` tries, and
    FewerRecordsRefused when the committed run holds more records, unless `allow_fewer`. The replaced run's
    folder is kept and marked (REPLACED_NAME, holding its manifest), so `restore_replaced` can bring it back.
    `after_read` is called with the manifest each attempt read, just before its conditional write: the moment
    a competing commit makes the write fail and the attempt start over.
    """
    instant = now or utc_now()
    age = instant - manifest.started_at
    if age > grace / 2 and not restoring:
        raise CommitRefused(
            f"run {manifest.run_id} started {age} ago, more than half the cleanup grace period ({grace}); "
            "not committed (its folder may be cleaned up as an orphan)"
        )
    manifest = replace(manifest, committed_at=instant)
    body = manifest.to_json()
    blob = container.get_blob_client(manifest_path(manifest.date))
    for attempt in range(1, attempts + 1):
        current, etag = _read_manifest_with_etag(container, manifest.date)
        if current is not None and manifest.record_count < current.record_count and not allow_fewer:
            raise FewerRecordsRefused(
                f"{manifest.date} is committed with {current.record_count} records (run {current.run_id}); run "
                f"{manifest.run_id} has {manifest.record_count}: not committed, the committed day is unchanged. "
                "Replacing a day with fewer records must be asked for explicitly (allow_fewer_records / "
                "--allow-fewer); a replaced run is always kept")
        if after_read is not None:
            after_read(current)
        try:
            if current is None:
                blob.upload_blob(body, overwrite=True, match_condition=MatchConditions.IfMissing,
                                 content_settings=_JSON_CONTENT)
            else:
                blob.upload_blob(body, overwrite=True, etag=etag, match_condition=MatchConditions.IfNotModified,
                                 content_settings=_JSON_CONTENT)
        except (ResourceExistsError, ResourceModifiedError):
            log.info("manifest of %s changed during commit of run %s (attempt %d); re-reading",
                     manifest.date, manifest.run_id, attempt)
            continue
        replaced = current.run_id if current is not None else None
        if current is not None:
            _mark_replaced(container, current, by=manifest.run_id, at=instant)
        deleted = cleanup_day(container, manifest.date, grace=grace, now=now)
        return CommitOutcome(manifest, replaced, attempt, deleted)
    raise CommitRefused(f"manifest of {manifest.date} changed on each of {attempts} commit attempts; "
                        f"run {manifest.run_id} not committed")


def _mark_replaced(container: ContainerClient, replaced: Manifest, *, by: str, at: datetime) -> None:
    """Keep the replaced run: its folder stays, with its manifest and who replaced it (never cleaned up)."""
    marker = {"replaced_by": by, "replaced_at": format_instant(at), "manifest": json.loads(replaced.to_json())}
    container.upload_blob(replaced.run_path + REPLACED_NAME, json.dumps(marker, indent=2).encode(), overwrite=True,
                          content_settings=_JSON_CONTENT)
    log.info("bronze %s: run %s replaced by %s; kept (restorable)", replaced.date, replaced.run_id, by)


def replaced_runs(container: ContainerClient, day: date) -> dict[str, Manifest]:
    """The day's kept runs that a later commit replaced, by run id, with the manifest each had."""
    found = {}
    for item in container.list_blobs(name_starts_with=day_prefix(day)):
        if item.name.endswith("/" + REPLACED_NAME):
            marker = json.loads(container.get_blob_client(item.name).download_blob().readall())
            manifest = Manifest.from_json(json.dumps(marker.get("manifest")), where=item.name)
            if manifest.date == day and item.name == manifest.run_path + REPLACED_NAME:
                found[manifest.run_id] = manifest
    return found


def restore_replaced(container: ContainerClient, day: date, run_id: str, *,
                     now: datetime | None = None) -> CommitOutcome:
    """Commit a kept replaced run again (it may hold fewer records than the current one: restoring is the
    explicit request). Its files are verified first; the run it displaces is kept in turn."""
    kept = replaced_runs(container, day).get(run_id)
    if kept is None:
        raise BronzeError(f"{day}: no kept replaced run {shown(run_id)} (see replaced_runs)")
    for entry in (*kept.files, *kept.rejected_files):
        for _ in iter_file_lines(container, entry):
            pass
    outcome = commit(container, kept, now=now, allow_fewer=True, restoring=True)
    container.delete_blob(kept.run_path + REPLACED_NAME)
    return outcome


# -------------------------------------------------------------------------------------- cleanup/listing


def run_ids(container: ContainerClient, day: date) -> list[str]:
    """Run folders present for a day (committed or not), oldest first."""
    found = []
    for item in container.walk_blobs(name_starts_with=day_prefix(day), delimiter="/"):
        name = item.name[len(day_prefix(day)):].rstrip("/")
        if item.name.endswith("/") and is_run_id(name):
            found.append(name)
    return sorted(found)


def delete_run(container: ContainerClient, day: date, run_id: str) -> int:
    """Delete every blob of a run folder; returns how many."""
    names = [b.name for b in container.list_blobs(name_starts_with=run_prefix(day, run_id))]
    for name in names:
        with contextlib.suppress(ResourceNotFoundError):  # a concurrent cleanup got there first
            container.delete_blob(name)
    return len(names)


def cleanup_day(container: ContainerClient, day: date, *, grace: timedelta = DEFAULT_GRACE,
                now: datetime | None = None) -> tuple[str, ...]:
    """Delete orphaned run folders older than `grace`: never the committed run, never a kept replaced run."""
    committed = read_manifest(container, day)
    keep = {committed.run_id} if committed is not None else set()
    names = (blob.name for blob in container.list_blobs(name_starts_with=day_prefix(day)))
    keep |= {name.rsplit("/", 2)[-2] for name in names if name.endswith("/" + REPLACED_NAME)}
    cutoff = (now or utc_now()) - grace
    deleted = []
    for run_id in run_ids(container, day):
        if run_id not in keep and run_started_at(run_id) < cutoff:
            delete_run(container, day, run_id)
            deleted.append(run_id)
    if deleted:
        log.info("bronze %s: deleted orphaned run folders %s (committed: %s)", day, deleted,
                 committed.run_id if committed else None)
    return tuple(deleted)


# --------------------------------------------------------------------------------------------- reading


def read_manifest(container: ContainerClient, day: date) -> Manifest | None:
    """The day's committed manifest, or None when the day was never committed."""
    return _read_manifest_with_etag(container, day)[0]


def committed_days(container: ContainerClient, start: date, end: date, *, workers: int = 8) -> dict[date, Manifest]:
    """Manifests of the committed days in start..end (inclusive), by date."""
    wanted = []
    for item in container.walk_blobs(name_starts_with=f"{DATASET}/date=", delimiter="/"):
        text = item.name[len(f"{DATASET}/date="):].rstrip("/")
        try:
            day = date.fromisoformat(text)
        except ValueError:
            continue
        if start <= day <= end:
            wanted.append(day)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(wanted)))) as pool:
        manifests = list(pool.map(lambda d: read_manifest(container, d), wanted))
    return {m.date: m for m in manifests if m is not None}


@dataclass(frozen=True, kw_only=True)
class DayStatus:
    """One date's ingestion status, as the status endpoint and `company-activity ingestions` show it."""

    date: date
    committed: bool
    record_count: int | None = None
    rejected_count: int | None = None
    run_id: str | None = None
    committed_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "committed": self.committed,
            "record_count": self.record_count,
            "rejected_count": self.rejected_count,
            "run_id": self.run_id,
            "committed_at": format_instant(self.committed_at) if self.committed_at else None,
        }


def day_statuses(container: ContainerClient, start: date, end: date) -> list[DayStatus]:
    """Every date of start..end with its committed run, if any."""
    manifests = committed_days(container, start, end)
    out = []
    for day in date_range(start, end):
        m = manifests.get(day)
        out.append(DayStatus(date=day, committed=False) if m is None else
                   DayStatus(date=day, committed=True, record_count=m.record_count, rejected_count=m.rejected_count,
                             run_id=m.run_id, committed_at=m.committed_at))
    return out


def iter_file_lines(container: ContainerClient, entry: BronzeFile, raw: Callable[[bytes], object] | None = None,
                    *, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[bytes]:
    """The lines of one committed file, verified: IntegrityError on a missing blob or any mismatch.

    Verification completes when the file's last line has been read, before the iterator ends, so a
    consumer that acts only once iteration finishes never acts on a corrupt file. `raw` receives the
    stored (gzip) bytes chunk by chunk, e.g. to save the file as it is. Decompression is bounded
    (gzip_lines.py): no line longer than `max_line_bytes`, no more output than the manifest's record
    count allows at that length, so a forged file cannot exhaust memory or disk.
    """
    try:
        downloader = container.get_blob_client(entry.path).download_blob()
    except ResourceNotFoundError:
        raise IntegrityError(
            f"{entry.path} is listed in the manifest but does not exist "
            "(the day may have been re-committed while it was being read: read the manifest again)"
        ) from None
    sha, stored, lines = hashlib.sha256(), 0, 0
    reader = GzipLines(entry.path, max_line_bytes=max_line_bytes,
                       max_output_bytes=output_limit(entry.records, max_line_bytes))
    try:
        for chunk in downloader.chunks():
            if raw is not None:
                raw(chunk)
            sha.update(chunk)
            stored += len(chunk)
            for line in reader.feed(chunk):
                lines += 1
                yield line
    except CorruptGzip as exc:
        raise IntegrityError(f"{entry.path} is not a valid gzip file: {exc}") from None
    except DecompressionLimitExceeded as exc:
        raise IntegrityError(str(exc)) from None
    tail = reader.finish()
    if tail is not None:
        lines += 1
        yield tail
    problems = []
    if stored != entry.bytes:
        problems.append(f"{stored} bytes stored, manifest says {entry.bytes}")
    if sha.hexdigest() != entry.sha256:
        problems.append(f"sha256 {sha.hexdigest()}, manifest says {entry.sha256}")
    if lines != entry.records:
        problems.append(f"{lines} records, manifest says {entry.records}")
    if not reader.complete:
        problems.append("gzip stream is truncated")
    if problems:
        raise IntegrityError(f"{entry.path} does not match its manifest: " + "; ".join(problems))


def iter_committed_records(container: ContainerClient, day: date) -> Iterator[dict[str, Any]]:
    """Every record of the day's committed run, verified against the manifest (IntegrityError on mismatch).

    Yields nothing when the day was never committed; use read_manifest to tell that apart from an empty day.
    """
    yield from _iter_committed_lines(container, day, rejected=False)


def status_body(start: date, end: date, days: Sequence[Any]) -> dict[str, Any]:
    """The ingestion status object of start..end (GET /api/ingestions and `ingestions --json`)."""
    return {
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "committed": sum(d.committed for d in days),
        "missing": sum(not d.committed for d in days),
        "days": [d.to_dict() for d in days],
    }


def iter_committed_rejects(container: ContainerClient, day: date) -> Iterator[dict[str, Any]]:
    """Every `{"record": ..., "reason": ...}` of the day's committed run, verified like the records."""
    yield from _iter_committed_lines(container, day, rejected=True)


def _iter_committed_lines(container: ContainerClient, day: date, *, rejected: bool) -> Iterator[dict[str, Any]]:
    """The JSON lines of the committed run's part files (or rejected files), each verified against the manifest."""
    manifest = read_manifest(container, day)
    if manifest is None:
        return
    for entry in manifest.rejected_files if rejected else manifest.files:
        for line in iter_file_lines(container, entry):
            yield json.loads(line)


def iter_run_rejects(container: ContainerClient, day: date, run_id: str) -> Iterator[dict[str, Any]]:
    """The rejected records of any run folder of the day, e.g. one not committed because of the threshold.

    No manifest describes such a run, so nothing is verified beyond gzip and JSON.
    """
    for blob in container.list_blobs(name_starts_with=run_prefix(day, run_id) + REJECTED_PREFIX):
        chunks = container.get_blob_client(blob.name).download_blob().chunks()
        try:
            for line in inflate_lines(chunks, where=blob.name):
                if line.strip():
                    yield json.loads(line)
        except (CorruptGzip, DecompressionLimitExceeded) as exc:
            raise BronzeError(str(exc)) from None


def download_committed_day(container: ContainerClient, day: date, dest: Path) -> Manifest | None:
    """Save the day's committed run under dest with the container's layout (manifest, part and rejected files).

    Each file is verified against the manifest (bytes, sha256, records) while it downloads and appears
    under its name only once verified, so dest never holds a partial or damaged file. None when the day
    is not committed (nothing is written). The paths come from the container, which others can write to:
    Manifest.from_json admits only the run's own part/rejected file names, and every folder and file is
    created under dest without following a symbolic link (BronzeError instead), so nothing lands outside.
    """
    manifest = read_manifest(container, day)
    if manifest is None:
        return None
    dest.mkdir(parents=True, exist_ok=True)  # dest itself is the operator's choice, links included
    root = dest.resolve()
    for entry in (*manifest.files, *manifest.rejected_files):
        target = _local_target(root, entry.path)
        partial = target.with_name(target.name + ".partial")
        try:
            with _create_no_follow(partial) as out:
                for _ in iter_file_lines(container, entry, raw=out.write):
                    pass
            partial.replace(target)
        finally:
            if not partial.is_symlink():
                partial.unlink(missing_ok=True)
    with _create_no_follow(_local_target(root, manifest_path(day))) as out:
        out.write(manifest.to_json())
    return manifest


def _local_target(root: Path, relative: str) -> Path:
    """root/relative with its folders created; BronzeError if it would leave root or pass a symbolic link."""
    parts = relative.split("/")
    if not relative or relative.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise BronzeError(f"{shown(relative)} is not a relative path inside the destination: refused")
    current = root
    for part in parts[:-1]:
        current = current / part
        if current.is_symlink():
            raise BronzeError(f"{current} is a symbolic link: refused to write through it (nothing was saved "
                              "outside the destination)")
        current.mkdir(exist_ok=True)
    target = current / parts[-1]
    if target.is_symlink():
        raise BronzeError(f"{target} is a symbolic link: refused to replace what it points to")
    return target


def _create_no_follow(path: Path) -> Any:
    """Open `path` for writing (created or truncated), never through a symbolic link (O_NOFOLLOW)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:
        if path.is_symlink():
            raise BronzeError(f"{path} is a symbolic link: refused to write through it") from None
        raise BronzeError(f"{path}: cannot be written ({exc.strerror})") from None
    return os.fdopen(descriptor, "wb")
# ---------------------------------------------------------------------------------------- local copies


def local_run_manifest(run_folder: Path) -> Manifest | None:
    """The day's manifest beside a run folder saved with the container's layout (`bronze download`, or a copy
    of the day's prefix): `<day folder>/_manifest.json` next to `<day folder>/<run_id>/`. None when there is
    none; ManifestError when the file is not a valid manifest."""
    path = run_folder.parent / MANIFEST_NAME
    if not path.is_file():
        return None
    return Manifest.from_json(path.read_bytes(), where=str(path))


def verify_local_run(files: Sequence[Path], manifest: Manifest) -> None:
    """IntegrityError unless `files` are exactly the committed run's part files, each byte for byte as committed
    (stored size and sha256, so the manifest's record counts hold for them): a local copy that is truncated,
    changed, from another run, or missing or adding a part file is refused, naming the file."""
    folders = {f.parent for f in files}
    if len(folders) != 1:
        raise IntegrityError(f"the files lie in {len(folders)} folders; a committed run is one folder")
    folder = folders.pop()
    if folder.name != manifest.run_id:
        raise IntegrityError(f"{folder} is not the committed run of {manifest.date}: its manifest commits run "
                             f"{manifest.run_id}")
    expected = {PurePosixPath(entry.path).name: entry for entry in manifest.files}
    given = {f.name: f for f in files}
    missing = sorted(set(expected) - set(given))
    if missing:
        raise IntegrityError(f"{folder}: the manifest commits {len(expected)} part file(s); not given: "
                             f"{', '.join(missing)} (the day would load partially)")
    extra = sorted(set(given) - set(expected))
    if extra:
        raise IntegrityError(f"{folder}: {', '.join(extra)} is not in the committed run's manifest")
    for name, entry in expected.items():
        sha, stored = hashlib.sha256(), 0
        with given[name].open("rb") as stream:
            for chunk in iter(lambda: stream.read(DEFAULT_BLOCK_BYTES), b""):
                sha.update(chunk)
                stored += len(chunk)
        problems = []
        if stored != entry.bytes:
            problems.append(f"{stored} bytes, manifest says {entry.bytes}")
        digest = sha.hexdigest()
        if digest != entry.sha256:
            problems.append(f"sha256 {digest}, manifest says {entry.sha256}")
        if problems:
            raise IntegrityError(f"{given[name]} does not match its manifest ({entry.records} records committed): "
                                 + "; ".join(problems))
