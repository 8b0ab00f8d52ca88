"""Ingest one day: API pages -> validation -> streamed gzip JSON Lines in a fresh run folder -> commit.

Memory stays at a few pages plus the fixed-size duplicate detection (seen_ids.py, which keeps older company
ids in the temp dir): pages are fetched up to two ahead on a helper thread (so the API and the blob writes
overlap), each page is validated, written and dropped. The day is committed (bronze.commit) only when the
API delivered every page and the rejected share is within the threshold; otherwise the previous commit of
the day stays exactly as it was.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.blob import ContainerClient

from company_activity.errors import OperationalError
from company_activity.ingest import bronze
from company_activity.ingest.dates import utc_now
from company_activity.ingest.seen_ids import SeenIds
from company_activity.ingest.usage_api import DayRecordValidator, UsageApiClient, UsageApiError, UsagePage
from company_activity.settings import IngestSettings, StorageSettings
from company_activity.storage import blob_service

log = logging.getLogger(__name__)

PREFETCH_PAGES = 2


class PageSource(Protocol):
    """What ingest_day needs from the API client (UsageApiClient is one)."""

    base_url: str

    def iter_pages(self, day: date) -> Iterator[UsagePage]: ...


@dataclass(frozen=True)
class BronzeOptions:
    part_max_bytes: int = bronze.DEFAULT_PART_MAX_BYTES
    block_bytes: int = bronze.DEFAULT_BLOCK_BYTES
    gzip_level: int = bronze.DEFAULT_GZIP_LEVEL
    grace: timedelta = bronze.DEFAULT_GRACE


@dataclass(frozen=True, kw_only=True)
class IngestResult:
    date: date
    run_id: str
    committed: bool
    record_count: int
    rejected_count: int
    bytes: int  # stored (compressed) bytes of the data files
    pages: int
    seconds: float
    reason: str | None = None  # why the day was not committed; None when committed
    replaced_run_id: str | None = None
    systemic: bool = False  # not committed for a reason every date shares (API unreachable, key refused)

    def summary(self) -> str:
        stored = f", {self.bytes} bytes" if self.committed else ""  # nothing is stored for a day not committed
        head = (f"{self.date} run {self.run_id}: {self.record_count} records, {self.rejected_count} rejected, "
                f"{self.pages} pages{stored} in {self.seconds:.1f}s")
        if self.committed:
            swapped = f" (replaced run {self.replaced_run_id})" if self.replaced_run_id else ""
            return f"{head}: committed{swapped}"
        return f"{head}: NOT committed: {self.reason}"


class _Rejected(OperationalError):
    """The rejected share is over the threshold."""


def public_url(url: str) -> str:
    """The URL without user info, query or fragment: what may be recorded in a manifest."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _prefetch(pages: Iterator[UsagePage], depth: int) -> Iterator[UsagePage]:
    """Iterate `pages` on a helper thread, at most `depth` pages ahead; exceptions surface in order."""
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not offer(("page", page)):
                    return
            offer(("end", None))
        except BaseException as exc:  # handed to the consumer, which re-raises it in its own thread
            offer(("error", exc))

    worker = threading.Thread(target=produce, name="usage-api-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = slots.get()
            if kind == "page":
                yield item
            elif kind == "error":
                raise item
            else:
                return
    finally:
        stop.set()
        worker.join(timeout=5)  # a producer stuck in a request is a daemon thread: do not wait it out


def ingest_day(
    day: date,
    client: PageSource,
    container: ContainerClient,
    *,
    reject_threshold: float,
    options: BronzeOptions | None = None,
    prefetch: int = PREFETCH_PAGES,
    now: datetime | None = None,
    allow_fewer: bool = False,
    seen_ids: Callable[[], SeenIds] = SeenIds,
) -> IngestResult:
    """Ingest `day` into a new run folder and commit it; see IngestResult.reason when not committed.

    API failures, an over-threshold rejected share and a refused commit return committed=False (the
    previous commit is untouched); storage errors propagate after the run folder was discarded. A day that
    is committed with more records than this run read is left as it is unless `allow_fewer`.
    `seen_ids` makes the store of the day's company ids (duplicate detection), closed at the end.
    """
    options = options or BronzeOptions()
    started = now or utc_now()
    clock = time.perf_counter()
    run_id = bronze.new_run_id(started)
    writer = bronze.RunWriter(container, day, run_id, part_max_bytes=options.part_max_bytes,
                              block_bytes=options.block_bytes, gzip_level=options.gzip_level)
    validator = DayRecordValidator(day, seen_ids())
    valid = rejected = pages = 0
    log.info("ingesting %s as run %s from %s", day, run_id, public_url(client.base_url))

    def result(committed: bool, files_bytes: int = 0, reason: str | None = None,
               replaced: str | None = None, systemic: bool = False) -> IngestResult:
        outcome = IngestResult(date=day, run_id=run_id, committed=committed, record_count=valid,
                               rejected_count=rejected, bytes=files_bytes, pages=pages,
                               seconds=round(time.perf_counter() - clock, 3), reason=reason,
                               replaced_run_id=replaced, systemic=systemic)
        (log.info if committed else log.error)("ingestion %s", outcome.summary())
        return outcome

    try:
        for page in _prefetch(iter(client.iter_pages(day)), prefetch):
            pages += 1
            good: list[Any] = []
            bad: list[tuple[Any, str]] = []
            for record in page.records:
                why = validator.check(record, page.number)
                if why is None:
                    good.append(record)
                else:
                    bad.append((record, why))
            writer.write_records(good)
            writer.write_rejected(bad)
            valid += len(good)
            rejected += len(bad)
        files, rejected_files = writer.close()
        share = rejected / (valid + rejected) if valid + rejected else 0.0
        if share > reject_threshold:
            where = ", ".join(f.path for f in rejected_files)
            raise _Rejected(
                f"{rejected} of {valid + rejected} records rejected ({share:.2%}), more than REJECT_THRESHOLD "
                f"({reject_threshold:.2%}); day not committed, the previous commit is unchanged. The rejected "
                f"records and reasons are in {where} (left for inspection, removed by a later commit's cleanup)"
            )
        manifest = bronze.Manifest(
            dataset=bronze.DATASET, date=day, run_id=run_id, record_count=valid, rejected_count=rejected,
            files=files, rejected_files=rejected_files, started_at=started, committed_at=started,
            source=bronze.Source(public_url(client.base_url), pages),
        )
        outcome = bronze.commit(container, manifest, grace=options.grace, now=now, allow_fewer=allow_fewer)
    except _Rejected as exc:
        return result(False, reason=str(exc))
    except UsageApiError as exc:
        writer.discard()
        return result(False, reason=f"usage API failed after {pages} pages: {exc}; day not committed, "
                                    "the previous commit is unchanged", systemic=exc.systemic)
    except bronze.CommitRefused as exc:
        writer.discard()
        return result(False, reason=str(exc))
    except BaseException:
        with contextlib.suppress(AzureError):  # storage is down too: the original error says more
            writer.discard()
        raise
    finally:
        validator.close()  # removes the spilled company ids (seen_ids.py) from the temp dir
    return result(True, outcome.manifest.stored_bytes, replaced=outcome.replaced_run_id)


def bronze_container(settings: StorageSettings) -> ContainerClient:
    """The bronze container, created when missing (Azurite; in Azure the infrastructure creates it)."""
    container = blob_service(settings).get_container_client(settings.bronze_container)
    if not container.exists():
        with contextlib.suppress(ResourceExistsError):
            container.create_container()
    return container


def ingest_day_with_settings(
    settings: IngestSettings, day: date, *, container: ContainerClient | None = None,
    options: BronzeOptions | None = None, allow_fewer: bool = False,
) -> IngestResult:
    """ingest_day with the API client and (unless given) the container the settings describe."""
    with UsageApiClient.from_settings(settings.api) as client:
        return ingest_day(day, client, container or bronze_container(settings.storage),
                          reject_threshold=settings.reject_threshold, options=options, allow_fewer=allow_fewer)
