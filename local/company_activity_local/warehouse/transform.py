"""One transformation run: stage a date's usage (and CRM snapshot), run the merge procedure, read its log row.

This is also the recovery path: the fact table can be rebuilt or repaired at any time by replaying
dates from bronze files (see docs/crm.md, "Replay"). Every input is checked before the warehouse is
touched; the procedure is atomic, so a failed run leaves the tables as they were.

Staging is replaced for the run date on every run, so a run's result depends only on the files given:
without a CRM file (or with one that has no rows), the date's staged snapshot is cleared and the
procedure treats the date as one without a snapshot (the last known CRM state is kept, rule 1 of
docs/fact-rules.md: "no such rows = no snapshot for this date").
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from company_activity.errors import InputError, OperationalError
from company_activity.ingest.bronze import BronzeError, Manifest, is_run_id, local_run_manifest, verify_local_run
from company_activity_local.warehouse.crm import CrmParseResult, CrmRejectedError, parse_crm_csv, snapshot_date_of_path
from company_activity_local.warehouse.engine import WarehouseError
from company_activity_local.warehouse.staging import (
    StagedUsage,
    StagingError,
    clear_crm_snapshot,
    load_crm_snapshot,
    load_usage_files,
)

log = logging.getLogger(__name__)

PROCEDURE = "dbo.usp_merge_fact_daily_company_activity"
LOAD_LOG = "etl.load_log"


class TransformError(OperationalError):
    """The run failed; `load_log` holds the procedure's `failed` log row when it got that far."""

    def __init__(self, message: str, load_log: LoadLogRow | None = None) -> None:
        super().__init__(message)
        self.load_log = load_log


class ThresholdError(InputError):
    """A churn-risk threshold is out of range."""


@dataclass(frozen=True)
class Thresholds:
    low_activity_threshold: float = 1.0
    stale_contact_days: int = 90

    def __post_init__(self) -> None:
        if not self.low_activity_threshold >= 0:
            raise ThresholdError(f"low_activity_threshold must be >= 0, got {self.low_activity_threshold}")
        if self.stale_contact_days < 0:
            raise ThresholdError(f"stale_contact_days must be >= 0, got {self.stale_contact_days}")


@dataclass(frozen=True)
class LoadLogRow:
    """The etl.load_log row of one run, every column as the warehouse returned it."""

    values: dict[str, Any]

    def __getitem__(self, column: str) -> Any:
        return self.values[column]

    @property
    def status(self) -> str:
        return str(self.values["status"])

    @property
    def counts(self) -> tuple[int, int, int]:
        return (int(self.values["rows_inserted"] or 0), int(self.values["rows_updated"] or 0),
                int(self.values["rows_deleted"] or 0))


@dataclass(frozen=True)
class TransformResult:
    load_log: LoadLogRow
    usage: StagedUsage
    crm: CrmParseResult | None


def new_run_id(now: datetime | None = None) -> str:
    """An id for a manual run: `manual-20261127T013000Z-1a2b3c4d`."""
    return f"manual-{(now or datetime.now(UTC)):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def read_crm_file(path: str | Path, run_date: date, *, allow_rejects: bool = False) -> CrmParseResult:
    """Parse the run date's snapshot; CrmRejectedError when rows were rejected and that is not allowed."""
    in_path = snapshot_date_of_path(path)
    if in_path is not None and in_path != run_date:
        raise StagingError(f"{path}: the path is the snapshot of {in_path}, not of the run date {run_date}")
    result = parse_crm_csv(path, run_date)
    if result.rejects and not allow_rejects:
        raise CrmRejectedError(result)
    if result.rejects:
        log.warning("loading the accepted rows only:\n%s", result.report())
    return result


def transform(
    wh: Any,
    run_date: date,
    usage_files: Sequence[str | Path],
    crm_file: str | Path | None = None,
    run_id: str | None = None,
    thresholds: Thresholds = Thresholds(),
    *,
    allow_crm_rejects: bool = False,
    bronze_run_id: str | None = None,
    allow_empty_usage: bool = False,
    ignore_manifest: bool = False,
) -> TransformResult:
    """Stage `usage_files` (all part files of `run_date`) and `crm_file`, run the procedure; return what was
    staged and the procedure's load-log row.

    When the files lie in a bronze run folder with the day's manifest beside it (as `bronze download` saves
    them), they must be exactly the committed run (check_against_manifest; `ignore_manifest` skips that).
    Usage files without a record would zero the date's usage, so they are refused (EmptyUsageError)
    unless `allow_empty_usage` or that manifest says the day committed 0 records."""
    run_id = run_id or new_run_id()
    # Every input is checked before the warehouse is touched (load_usage_files validates all files first).
    crm = read_crm_file(crm_file, run_date, allow_rejects=allow_crm_rejects) if crm_file is not None else None
    manifest = None if ignore_manifest else check_against_manifest(usage_files, run_date)
    allow_empty = allow_empty_usage or (manifest is not None and manifest.record_count == 0)
    usage = load_usage_files(wh, usage_files, run_date, bronze_run_id, allow_empty=allow_empty,
                             expected_records=manifest.record_count if manifest is not None else None)
    if crm is not None:
        if not crm.rows:
            log.warning("%s has no rows: %s is treated as a date without a snapshot", crm.source, run_date)
        load_crm_snapshot(wh, crm.rows, run_date)
    else:
        clear_crm_snapshot(wh, run_date)
    before = _last_load_id(wh)
    try:
        wh.call_procedure(PROCEDURE, {
            "run_date": run_date,
            "run_id": run_id,
            "low_activity_threshold": float(thresholds.low_activity_threshold),
            "stale_contact_days": int(thresholds.stale_contact_days),
        })
    except WarehouseError as exc:
        failed = load_log_row(wh, run_id, after_load_id=before)
        raise TransformError(f"{PROCEDURE} failed for {run_date} (run {run_id}): {exc}", failed) from exc
    row = load_log_row(wh, run_id, after_load_id=before)
    if row is None:
        raise TransformError(f"{PROCEDURE} ran for {run_date} but wrote no {LOAD_LOG} row for run {run_id}")
    return TransformResult(row, usage, crm)


class ManifestMismatch(StagingError):
    """The usage files lie beside a bronze manifest they do not match. Nothing was changed."""


def check_against_manifest(usage_files: Sequence[str | Path], run_date: date) -> Manifest | None:
    """The bronze manifest the files were committed under, when it is at hand: the files lie in one run
    folder and the day's `_manifest.json` lies beside it (`date=D/_manifest.json`, as `bronze download` or a
    copy of the day's prefix lays them out). The files must then be exactly that run's part files, byte for
    byte (bronze.verify_local_run), for the run date: ManifestMismatch otherwise. None without a manifest."""
    folders = {Path(p).parent for p in usage_files}
    if len(folders) != 1 or not is_run_id(next(iter(folders)).name):
        return None
    try:
        manifest = local_run_manifest(next(iter(folders)))
        if manifest is None:
            return None
        if manifest.date != run_date:
            raise ManifestMismatch(f"the bronze manifest beside the usage files is for {manifest.date}, not the run "
                                   f"date {run_date}")
        verify_local_run([Path(p) for p in usage_files], manifest)
    except BronzeError as exc:  # ManifestError, IntegrityError
        raise ManifestMismatch(f"{exc}. Nothing was changed") from None
    return manifest


def load_log_row(wh: Any, run_id: str, after_load_id: int = 0) -> LoadLogRow | None:
    """The newest log row of `run_id` (written after `after_load_id`: a run id may be reused by reruns)."""
    rows = wh.query(
        f"SELECT * FROM {LOAD_LOG} WHERE run_id = @run_id AND load_id > @after ORDER BY load_id",
        {"run_id": run_id, "after": after_load_id},
    )
    return LoadLogRow(rows[-1]) if rows else None


def _last_load_id(wh: Any) -> int:
    rows = wh.query(f"SELECT MAX(load_id) AS last_id FROM {LOAD_LOG}")
    return int(rows[0]["last_id"] or 0) if rows else 0
