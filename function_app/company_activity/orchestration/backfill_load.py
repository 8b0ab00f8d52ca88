"""The backfill load: start PL_backfill_company_activity for a date range, and show its progress per date.

`date_loads` is pure: it maps the activity runs of the backfill run's `RunDailyLoad` (one Execute
Pipeline per date) to a load state per date. The state of a date comes from its activity run: Queued or
InProgress -> queued / running, Succeeded, Failed (with the error ADF recorded: the daily run's Fail
message, which names the failed activity), Cancelled. A date without an activity run yet is `queued`
while the backfill run is still going and `not run` once it has ended (it was cancelled).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from company_activity.errors import InputError, OperationalError
from company_activity.ingest.bronze import DayStatus
from company_activity.ingest.dates import date_range
from company_activity.orchestration.data_factory import DataFactoryClient, PipelineRun, RunStatus, query_window

BACKFILL_PIPELINE = "PL_backfill_company_activity"
DAILY_PIPELINE = "PL_daily_company_activity"
PER_DATE_ACTIVITY = "RunDailyLoad"
RUN_HISTORY = timedelta(days=45)  # how long Data Factory keeps pipeline run data
RUNNING_STATUSES: frozenset[RunStatus] = frozenset({"Queued", "InProgress", "Canceling"})
_STATES = {"Queued": "queued", "InProgress": "running", "Succeeded": "succeeded", "Failed": "failed",
           "Canceling": "running", "Cancelled": "cancelled"}


class NotABackfillRun(InputError):
    """The run id names a run of another pipeline (GET /api/backfill/{run id} answers 404)."""


class MalformedBackfillRun(OperationalError):
    """ARM answered with a backfill run that lacks its date parameters (an answer this app cannot read)."""


@dataclass(frozen=True)
class DateLoad:
    state: str  # queued | running | succeeded | failed | cancelled | not run
    pipeline_run_id: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "pipeline_run_id": self.pipeline_run_id, "error": self.error}


def start_parameters(start: date, end: date) -> dict[str, str]:
    """The createRun body: PL_backfill_company_activity's parameters (the manifest waits keep their defaults)."""
    return {"startDate": start.isoformat(), "endDate": end.isoformat()}


def start_backfill_load(client: DataFactoryClient, start: date, end: date) -> str:
    return client.create_run(BACKFILL_PIPELINE, start_parameters(start, end))


def running_backfills(client: DataFactoryClient, now: datetime) -> list[PipelineRun]:
    """Backfill runs that are Queued or InProgress (or being cancelled), oldest first. The window is the run
    history Data Factory keeps (45 days): a long backfill's last update can be days old."""
    runs = client.query_runs(BACKFILL_PIPELINE, sorted(RUNNING_STATUSES), now - RUN_HISTORY, now + timedelta(minutes=1))
    return sorted(runs, key=lambda run: run.run_start or "")


def rerun_command(factory: str, resource_group: str, dates: Sequence[date]) -> str:
    """The az command that loads `dates` again (one backfill run per contiguous range is simplest: first..last)."""
    first, last = min(dates), max(dates)
    return (f"az datafactory pipeline create-run --resource-group {resource_group} --factory-name {factory} "
            f"--name {BACKFILL_PIPELINE} --parameters '{{\"startDate\": \"{first}\", \"endDate\": \"{last}\"}}'")


def _run_date(activity_run: Mapping[str, Any]) -> str | None:
    parameters = (activity_run.get("input") or {}).get("parameters") or {}
    value = parameters.get("runDate") if isinstance(parameters, dict) else None
    return str(value)[:10] if value else None


def date_loads(dates: Sequence[date], backfill_status: RunStatus, activity_runs: Sequence[Mapping[str, Any]]
               ) -> dict[date, DateLoad]:
    """Load state per date from the RunDailyLoad activity runs (matched by their runDate input, else by order:
    the ForEach is sequential, so the n-th activity run is the n-th date)."""
    ordered = sorted(activity_runs, key=lambda r: str(r.get("activityRunStart") or ""))
    by_date: dict[str, Mapping[str, Any]] = {}
    for index, run in enumerate(ordered):
        key = _run_date(run) or (dates[index].isoformat() if index < len(dates) else None)
        if key is not None:
            by_date[key] = run  # a retried date keeps its latest activity run
    ended = backfill_status not in RUNNING_STATUSES
    out: dict[date, DateLoad] = {}
    for day in dates:
        day_run = by_date.get(day.isoformat())
        if day_run is None:
            out[day] = DateLoad("not run" if ended else "queued")
            continue
        status = str(day_run.get("status") or "")
        error = (day_run.get("error") or {}).get("message") if status == "Failed" else None
        child = (day_run.get("output") or {}).get("pipelineRunId")
        out[day] = DateLoad(_STATES.get(status, status.lower() or "unknown"), child, error or None)
    return out


def backfill_range(run: PipelineRun) -> tuple[date, date]:
    """startDate and endDate of a backfill run (MalformedBackfillRun naming the parameter when missing or not a
    date)."""
    values = []
    for name in ("startDate", "endDate"):
        try:
            values.append(date.fromisoformat(str(run.parameters[name])[:10]))
        except (KeyError, ValueError):
            raise MalformedBackfillRun(f"run {run.run_id} has no valid {name} parameter "
                             f"(got {run.parameters.get(name)!r})") from None
    return values[0], values[1]


def backfill_view(run: PipelineRun, activity_runs: Sequence[Mapping[str, Any]],
                  bronze_days: Sequence[DayStatus]) -> dict[str, Any]:
    """The body of GET /api/backfill/{run id}: the run, then per date bronze and load side by side."""
    start, end = backfill_range(run)
    dates = date_range(start, end)
    loads = date_loads(dates, run.status, activity_runs)
    bronze = {d.date: d for d in bronze_days}
    rows = []
    for day in dates:
        ingested = bronze.get(day)
        rows.append({
            "date": day.isoformat(),
            "bronze": {k: v for k, v in (ingested.to_dict() if ingested else {"committed": False}).items()
                       if k != "date"},
            "load": loads[day].to_dict(),
        })
    counts: dict[str, int] = {}
    for load in loads.values():
        counts[load.state] = counts.get(load.state, 0) + 1
    failed = [d.isoformat() for d in dates if loads[d].state in ("failed", "cancelled", "not run")]
    return {
        "run_id": run.run_id,
        "pipeline": run.pipeline_name,
        "status": run.status,
        "message": run.message,
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "bronze_committed": sum(1 for d in dates if bronze.get(d) is not None and bronze[d].committed),
        "load_states": counts,
        "failed_dates": failed,
        "dates": rows,
    }


def read_backfill(client: DataFactoryClient, run_id: str, now: datetime) -> tuple[PipelineRun, list[dict[str, Any]]]:
    """The backfill run and its RunDailyLoad activity runs (NotABackfillRun when it is a run of another
    pipeline)."""
    run = client.get_run(run_id)
    if run.pipeline_name != BACKFILL_PIPELINE:
        raise NotABackfillRun(f"run {run_id} is a run of {run.pipeline_name or 'an unknown pipeline'}, "
                         f"not of {BACKFILL_PIPELINE}")
    after, before = query_window(run, now)
    return run, client.activity_runs(run_id, after, before, activity_name=PER_DATE_ACTIVITY)
