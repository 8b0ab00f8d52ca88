"""Load the warehouse staging tables from bronze-format usage files and parsed CRM snapshots.

Usage files are JSON Lines (`.jsonl`, or gzip `.jsonl.gz` as the ingestion writes its bronze part files),
one API record a line: company_id, date, active_users, events; extra fields are ignored. Each record
is checked with the ingestion's own validator (company_activity.ingest.usage_api.DayRecordValidator),
so bronze and staging accept exactly the same records; a record for another date is an error.

A load is two passes over the files: the first validates everything (nothing is touched if any record
is bad), the second deletes the date from staging and inserts in batches. Re-running a load of the same
date replaces what was staged for it, so it is safe to repeat.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from company_activity.errors import InputError
from company_activity.ingest.bronze import is_run_id
from company_activity.ingest.dates import DateFieldError, parse_iso_date, shown
from company_activity.ingest.gzip_lines import (
    MAX_LINE_BYTES,
    CorruptGzip,
    DecompressionLimitExceeded,
    inflate_lines,
    read_chunks,
)
from company_activity.ingest.usage_api import DayRecordValidator
from company_activity_local.warehouse.crm import CrmRow

log = logging.getLogger(__name__)

USAGE_TABLE = "stg.product_usage_daily"
USAGE_COLUMNS = ("usage_date", "company_id", "active_users", "events", "bronze_run_id")
CRM_TABLE = "stg.crm_company"
CRM_COLUMNS = ("snapshot_date", "company_id", "company_name", "industry_tag", "country", "last_contact_date")
BATCH_ROWS = 10_000
INT_MAX = 2**31 - 1  # active_users and events are INT columns
MAX_REPORTED_ERRORS = 20


class StagingError(InputError):
    """Input that must not be staged; the message names file:line, field and value. Nothing was changed."""


class EmptyUsageError(StagingError):
    """The usage files hold no record and an empty day was not confirmed: staging them would set every
    company's usage of the date to zero."""


@dataclass(frozen=True)
class StagedUsage:
    run_date: date
    files: tuple[str, ...]
    records: int
    bronze_run_id: str | None


def bronze_run_id_of(path: str | Path) -> str | None:
    """The ingestion run id when `path` lies in a bronze run folder (`.../date=D/<run_id>/part-00000.jsonl.gz`)."""
    parent = Path(path).parent.name
    return parent if is_run_id(parent) else None


def _date_in_path(path: str | Path) -> date | None:
    for part in Path(path).parts:
        if part.startswith("date="):
            try:
                return parse_iso_date("date", part[len("date="):])
            except DateFieldError:
                return None
    return None


def _raw_lines(path: Path) -> Iterator[bytes]:
    """The lines of a usage file, gzip or plain, with bounded memory: a line longer than MAX_LINE_BYTES and a
    gzip file that inflates past MAX_OUTPUT_BYTES stop the read (gzip_lines.py), so a gzip bomb cannot."""
    if path.name.endswith(".gz"):
        yield from inflate_lines(read_chunks(str(path)), where=str(path))
        return
    with open(path, "rb") as handle:
        while raw := handle.readline(MAX_LINE_BYTES + 1):
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                raise DecompressionLimitExceeded(f"{path}: a line is longer than {MAX_LINE_BYTES} bytes; refused")
            yield raw


def iter_usage_lines(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) of each non-blank line; StagingError names file:line for bad JSON or gzip."""
    path = Path(path)
    number = 0
    try:
        for number, raw in enumerate(_raw_lines(path), start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                raise StagingError(
                    f"{path}:{number}: not valid UTF-8 at byte {exc.start + 1} ({exc.reason})"
                ) from None
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as exc:
                raise StagingError(
                    f"{path}:{number}: not a JSON record ({exc.msg} at column {exc.colno}): {shown(text[:200])}"
                ) from None
    except (CorruptGzip, DecompressionLimitExceeded) as exc:
        raise StagingError(f"{path}: cannot be read after line {number}: {exc}") from None
    except OSError as exc:
        raise StagingError(f"{path}: cannot be read after line {number}: {exc}") from None


def _valid_records(paths: Sequence[Path], run_date: date) -> Iterator[tuple[str, int, int]]:
    """(company_id, active_users, events) of every record; StagingError listing the first bad ones at the end."""
    validator = DayRecordValidator(run_date)
    first_seen: dict[str, int] = {}  # company_id -> file index << 32 | line, for duplicate reports
    errors: list[str] = []
    try:
        for file_index, path in enumerate(paths):
            in_path = _date_in_path(path)
            if in_path is not None and in_path != run_date:
                raise StagingError(f"{path}: the path is for date {in_path}, not the run date {run_date}")
            for number, record in iter_usage_lines(path):
                company = record.get("company_id") if isinstance(record, dict) else None
                if isinstance(company, str) and company in first_seen:
                    first_file, first_line = divmod(first_seen[company], 1 << 32)
                    first_at = f"{paths[first_file].name}:{first_line}"
                    reason: str | None = f"duplicate company_id {company!r} (first at {first_at})"
                else:
                    reason = validator.check(record, page=0) or _too_large(record)
                if reason is not None:
                    errors.append(f"{path}:{number}: {reason}")
                    if len(errors) >= MAX_REPORTED_ERRORS:
                        raise StagingError(f"stopped at the first {MAX_REPORTED_ERRORS} errors")
                    continue
                first_seen[company] = file_index << 32 | number  # type: ignore[index]
                yield company, record["active_users"], record["events"]  # type: ignore[misc]
    except StagingError as exc:  # a file that cannot be read further, or too many errors
        errors.append(str(exc))
    finally:
        validator.close()  # removes its spill files now rather than at garbage collection
    if errors:
        raise StagingError(f"usage for {run_date}: invalid input, nothing staged:\n  " + "\n  ".join(errors))


def _too_large(record: dict[str, Any]) -> str | None:
    for name in ("active_users", "events"):
        if record[name] > INT_MAX:
            return f"field {name!r} is {record[name]}, larger than the INT column allows ({INT_MAX})"
    return None


def check_usage_files(paths: Iterable[str | Path], run_date: date) -> int:
    """Validate without loading; returns the number of records. StagingError on any bad record."""
    return sum(1 for _ in _valid_records([Path(p) for p in paths], run_date))


def load_usage_files(wh: Any, paths: Iterable[str | Path], run_date: date, bronze_run_id: str | None = None,
                     *, allow_empty: bool = True, expected_records: int | None = None) -> StagedUsage:
    """Replace the staged usage of `run_date` with the records of `paths` (all of that day's part files).

    `bronze_run_id` defaults to the run folder the files lie in, when they all lie in the same one. With
    `allow_empty=False`, files without a single record raise EmptyUsageError before anything is touched; with
    `expected_records` (the bronze manifest's record_count), so does any other count (StagingError).
    """
    files = [Path(p) for p in paths]
    for path in files:
        if not path.is_file():
            raise StagingError(f"{path}: no such usage file")
    if bronze_run_id is None:
        found = {bronze_run_id_of(p) for p in files}
        bronze_run_id = found.pop() if len(found) == 1 else None
    records = check_usage_files(files, run_date)  # pass 1: nothing is touched unless everything is valid
    if expected_records is not None and records != expected_records:
        raise StagingError(f"usage for {run_date}: {', '.join(str(p) for p in files)} hold {records} records, the "
                           f"bronze manifest committed {expected_records}. Nothing was changed")
    if records == 0 and not allow_empty:
        raise EmptyUsageError(
            f"usage for {run_date}: {', '.join(str(p) for p in files)} hold 0 records; staging them would set "
            f"every company's usage of {run_date} to zero. Nothing was changed"
        )
    wh.execute(f"DELETE FROM {USAGE_TABLE} WHERE usage_date = @run_date", {"run_date": run_date})
    batch: list[tuple[Any, ...]] = []
    inserted = 0
    for company, users, events in _valid_records(files, run_date):  # pass 2
        batch.append((run_date, company, users, events, bronze_run_id))
        if len(batch) >= BATCH_ROWS:
            inserted += wh.insert_rows(USAGE_TABLE, USAGE_COLUMNS, batch)
            batch = []
    if batch:
        inserted += wh.insert_rows(USAGE_TABLE, USAGE_COLUMNS, batch)
    if inserted != records:
        raise StagingError(f"usage for {run_date}: validated {records} records but staged {inserted} "
                           "(did a file change while it was being loaded?)")
    log.info("staged %d usage records of %s from %d file(s)", inserted, run_date, len(files))
    return StagedUsage(run_date, tuple(str(p) for p in files), inserted, bronze_run_id)


def load_usage_file(wh: Any, path: str | Path, run_date: date, bronze_run_id: str | None = None) -> StagedUsage:
    """Replace the staged usage of `run_date` with one file's records."""
    return load_usage_files(wh, [path], run_date, bronze_run_id)


def load_crm_snapshot(wh: Any, rows: Iterable[CrmRow], snapshot_date: date) -> int:
    """Replace the staged CRM snapshot of `snapshot_date` with `rows` (already checked by crm.parse_crm_csv)."""
    values = [
        (snapshot_date, r.company_id, r.company_name, r.industry_tag, r.country, r.last_contact_date) for r in rows
    ]
    wh.execute(f"DELETE FROM {CRM_TABLE} WHERE snapshot_date = @snapshot_date", {"snapshot_date": snapshot_date})
    inserted = 0
    for start in range(0, len(values), BATCH_ROWS):
        inserted += wh.insert_rows(CRM_TABLE, CRM_COLUMNS, values[start:start + BATCH_ROWS])
    log.info("staged %d CRM rows of snapshot %s", inserted, snapshot_date)
    return inserted


def clear_crm_snapshot(wh: Any, snapshot_date: date) -> None:
    """Stage "no snapshot for this date" (the procedure then keeps the last known CRM state)."""
    wh.execute(f"DELETE FROM {CRM_TABLE} WHERE snapshot_date = @snapshot_date", {"snapshot_date": snapshot_date})
