"""Pipeline runs as the dashboard's health panel shows them: one record shape for both run histories.

In Azure the history is Data Factory's (Pipeline Runs - Query By Factory, which the Function app reads);
locally it is the local executor's run records, a JSON-lines file next to the DuckDB warehouse that the
executor appends to when a run starts and when it ends (company_activity_local.pipeline.run_records).
Both become `PipelineRunRecord`; its JSON form (`to_json` / `from_json`) is that file's line format, so
a run that failed before it reached the merge procedure (and so wrote no etl.load_log row) still shows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from company_activity.errors import InputError
from company_activity.orchestration.data_factory import RUN_STATUSES, PipelineRun

UNFINISHED = ("Queued", "InProgress", "Canceling")
HealthStatus = Literal["ok", "failed", "running", "unknown"]


class RunRecordError(InputError):
    """A run record (a line of the local file or an ARM answer) is not a pipeline run."""


@dataclass(frozen=True)
class PipelineRunRecord:
    run_id: str
    pipeline: str
    status: str
    run_start: dt.datetime | None
    run_end: dt.datetime | None
    parameters: dict[str, str] = field(default_factory=dict)
    message: str = ""

    def __post_init__(self) -> None:
        if not self.run_id:
            raise RunRecordError("run record: runId is empty")
        if self.status not in RUN_STATUSES:
            raise RunRecordError(f"run record {self.run_id}: status {self.status!r} is not one of {RUN_STATUSES}")

    @property
    def dates(self) -> str:
        """The business dates the run loads: its runDate, or startDate..endDate of a backfill."""
        if "runDate" in self.parameters:
            return self.parameters["runDate"]
        if "startDate" in self.parameters or "endDate" in self.parameters:
            return f"{self.parameters.get('startDate', '?')}..{self.parameters.get('endDate', '?')}"
        return ""

    @property
    def duration_s(self) -> float | None:
        if self.run_start is None or self.run_end is None:
            return None
        return max(0.0, (self.run_end - self.run_start).total_seconds())

    def to_json(self) -> dict[str, Any]:
        """Data Factory's own field names (runId, pipelineName, ...), instants in ISO 8601 UTC."""
        return {
            "runId": self.run_id,
            "pipelineName": self.pipeline,
            "status": self.status,
            "runStart": _iso(self.run_start),
            "runEnd": _iso(self.run_end),
            "parameters": dict(self.parameters),
            "message": self.message,
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> PipelineRunRecord:
        """A PipelineRun as ARM answers it, or a line of the local run-record file (the same fields)."""
        if not isinstance(body, Mapping) or not isinstance(body.get("parameters") or {}, Mapping):
            raise RunRecordError(f"run record: expected a PipelineRun object, got {str(body)[:80]!r}")
        if body.get("status") not in RUN_STATUSES:
            raise RunRecordError(f"run record {body.get('runId')!r}: status {body.get('status')!r} is not one of "
                                 f"{RUN_STATUSES}")
        return cls.from_pipeline_run(PipelineRun.from_arm(body))

    @classmethod
    def from_pipeline_run(cls, run: PipelineRun) -> PipelineRunRecord:
        return cls(
            run_id=run.run_id,
            pipeline=run.pipeline_name,
            status=run.status,
            run_start=_instant(run.run_start, "runStart"),
            run_end=_instant(run.run_end, "runEnd"),
            parameters={str(k): str(v) for k, v in run.parameters.items()},
            message=run.message,
        )


def latest_records(records: Iterable[PipelineRunRecord]) -> list[PipelineRunRecord]:
    """The last record of each run (a run is recorded when it starts and again when it ends), newest first."""
    last: dict[str, PipelineRunRecord] = {}
    for record in records:
        last[record.run_id] = record
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    return sorted(last.values(), key=lambda r: (r.run_start or epoch, r.run_id), reverse=True)


@dataclass(frozen=True)
class Health:
    status: HealthStatus
    headline: str
    unresolved: tuple[PipelineRunRecord, ...] = ()


def health(runs: Sequence[PipelineRunRecord], source: str) -> Health:
    """What the panel's first line says. A failed run counts until a later run of the same pipeline for the
    same dates succeeds; an unfinished run makes the state "running"; no history at all is "unknown"."""
    if not runs:
        return Health("unknown", f"No pipeline run to show ({source}).")
    ordered = sorted(runs, key=lambda r: (r.run_start or dt.datetime.min.replace(tzinfo=dt.UTC)))
    unresolved: list[PipelineRunRecord] = []
    for index, run in enumerate(ordered):
        if run.status not in ("Failed", "Cancelled"):
            continue
        later = ordered[index + 1:]
        if not any(r.status == "Succeeded" and r.pipeline == run.pipeline and r.dates == run.dates for r in later):
            unresolved.append(run)
    if unresolved:
        names = "; ".join(f"{r.pipeline} for {r.dates or 'no dates'}" for r in reversed(unresolved))
        return Health("failed", f"{len(unresolved)} pipeline run(s) failed and were not rerun successfully: "
                                f"{names}.", tuple(reversed(unresolved)))
    running = [r for r in ordered if r.status in UNFINISHED]
    if running:
        return Health("running", f"{len(running)} pipeline run(s) not finished: "
                                 + "; ".join(f"{r.pipeline} for {r.dates}" for r in running) + ".")
    latest = ordered[-1]
    return Health("ok", f"Every run shown succeeded or was rerun successfully; the latest, {latest.pipeline} "
                        f"for {latest.dates}, succeeded at {_iso(latest.run_end) or '?'}.")


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="seconds") + "Z"


def _instant(value: Any, name: str) -> dt.datetime | None:
    if value in (None, ""):
        return None
    text = str(value).replace("Z", "+00:00")
    # ARM writes up to 7 fractional digits (.NET ticks); Python reads at most 6.
    if "." in text:
        head, _, tail = text.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        zone = tail[len(digits):]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise RunRecordError(f"run record: {name} {value!r} is not an ISO 8601 instant") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
