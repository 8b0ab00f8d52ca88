"""`company-activity backfill --load`: after the inline ingestion, run PL_backfill_company_activity locally.

The local executor runs the backfill pipeline's JSON as Data Factory would: ListRunDates, a sequential
ForEach with one Execute Pipeline of PL_daily_company_activity per date, then the check that fails the run
naming the failed dates. The warehouse is checked and deployed before anything is ingested (`prepare`), so
a wrong or undeployed warehouse stops the command before bronze changes. A progress bar advances per date
as each daily run ends; the summary table shows both stages per date (bronze, then load). Linked services
map to local resources as for `pipeline run` (docs/local.md): LOCAL_BLOB_CONNECTION_STRING defaults to the
ingestion's STORAGE_CONNECTION_STRING and the factory's bronzeContainer to BRONZE_CONTAINER, so one set of
settings drives both stages.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from company_activity.ingest.dates import date_range
from company_activity.orchestration.backfill_load import BACKFILL_PIPELINE, PER_DATE_ACTIVITY, start_parameters
from company_activity.settings import IngestSettings, StorageSettings
from company_activity_local.cli.console import make_console
from company_activity_local.cli.errors import CommandFailed
from company_activity_local.cli.flags import seconds
from company_activity_local.cli.journal import Journal
from company_activity_local.cli.tables import Column, fitted_table
from company_activity_local.pipeline.executor import PipelineExecutor
from company_activity_local.pipeline.local_resources import LocalResources, prepare_warehouse_file
from company_activity_local.pipeline.report import STYLE
from company_activity_local.pipeline.resources import ADF_DIR, load_factory
from company_activity_local.pipeline.results import ActivityResult, PipelineRunResult, Status
from company_activity_local.pipeline.run_records import RunRecordFile
from company_activity_local.settings import LocalRunSettings

# Ingestion has already run inline: a date without a manifest now will not get one, so do not wait 6 hours.
DEFAULT_MANIFEST_TIMEOUT = "0.00:00:10"


@dataclass(frozen=True)
class IngestRow:
    """One date of the ingestion stage as the summary shows it."""

    status: str  # committed | skipped | NOT committed | ERROR
    records: str = ""
    detail: str = ""


def add_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("load (with --load: run PL_backfill_company_activity locally after ingesting)")
    group.add_argument("--load", action="store_true",
                       help="after ingesting, load the dates into the warehouse with the backfill pipeline")
    group.add_argument("--warehouse", type=Path,
                       help="DuckDB file (env WAREHOUSE_PATH, default $LOCAL_OUT_DIR/warehouse.duckdb, "
                            "out/warehouse.duckdb); checked and deployed before anything is ingested")
    group.add_argument("--manifest-timeout", default=DEFAULT_MANIFEST_TIMEOUT, metavar="TIMESPAN",
                       help=f"how long each daily run waits for its manifest (default {DEFAULT_MANIFEST_TIMEOUT})")
    group.add_argument("--crm-container", help="container of the CRM export (default: the factory's crmContainer)")
    group.add_argument("--retry-interval", type=seconds, default=1.0, metavar="SECONDS",
                       help="wait between activity retries instead of the JSON's minutes (default 1)")


def local_settings(storage: StorageSettings, warehouse: Path | None,
                   env: Mapping[str, str] | None = None) -> LocalRunSettings:
    env = dict(os.environ if env is None else env)
    if not env.get("LOCAL_BLOB_CONNECTION_STRING", "").strip() and storage.connection_string is not None:
        env["LOCAL_BLOB_CONNECTION_STRING"] = storage.connection_string.reveal()
    if warehouse is not None:
        env["WAREHOUSE_PATH"], env["WAREHOUSE_CONNECTION_STRING"] = str(warehouse), ""
    return LocalRunSettings.from_env(env)


def global_parameters(storage: StorageSettings, crm_container: str | None) -> dict[str, str]:
    values = {"bronzeContainer": storage.bronze_container}
    if crm_container:
        values["crmContainer"] = crm_container
    return values


def prepare(args: argparse.Namespace, settings: IngestSettings) -> LocalRunSettings:
    """Before the ingestion: resolve the load's settings and the factory, check the warehouse path (one line
    when a new warehouse is created, SettingsError for a folder that does not exist) and deploy it."""
    from company_activity_local.warehouse import WarehouseError

    local = local_settings(settings.storage, args.warehouse)
    load_factory(ADF_DIR)
    new = (prepare_warehouse_file(local.warehouse.duckdb_path) if local.warehouse.connection_string is None
           else None)
    err = make_console(stderr=True)
    if new:
        err.print(escape(new))
    try:
        with LocalResources(local) as resources:
            report = resources.warehouse.deploy()
    except WarehouseError as exc:
        raise CommandFailed(f"cannot deploy the warehouse ({local.describe_warehouse()}): {exc}; nothing was "
                            "ingested") from exc
    if report.applied:
        err.print(f"deployed the warehouse: {len(report.applied)} migration(s) applied")
    return local


def run_load(args: argparse.Namespace, settings: IngestSettings, start: date, end: date,
             ingested: Mapping[date, IngestRow], journal: Journal, local: LocalRunSettings) -> None:
    """Run the backfill pipeline over start..end and print the two-stage summary; CommandFailed unless every
    date is committed and loaded."""
    err = make_console(stderr=True)
    factory = load_factory(ADF_DIR)
    dates = date_range(start, end)
    committed = sum(row.status in ("committed", "skipped") for row in ingested.values())
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with LocalResources(local) as resources, Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(f"loading {dates[0]}", total=len(dates))
        journal.note(_load_line(committed, 0, len(dates)))

        def on_activity(result: ActivityResult) -> None:
            if result.name == PER_DATE_ACTIVITY:
                progress.advance(task)
                done = int(progress.tasks[0].completed)
                journal.note(_load_line(committed, done, len(dates)))
                if done < len(dates):
                    progress.update(task, description=f"loading {dates[done]}")

        executor = PipelineExecutor(factory, resources, listener=on_activity, retry_interval_s=args.retry_interval,
                                    global_parameters=global_parameters(settings.storage, args.crm_container),
                                    run_log=RunRecordFile.for_settings(local.warehouse))
        run = executor.run(BACKFILL_PIPELINE, {**start_parameters(start, end),
                                               "manifestTimeout": args.manifest_timeout, "manifestSleepSeconds": 1})
    print_summary(run, executor.child_runs, dates, ingested)
    if committed < len(ingested):
        raise CommandFailed(f"{len(ingested) - committed} of {len(ingested)} date(s) were not committed "
                            "(see the table)")
    if not run.succeeded:
        raise CommandFailed(f"{BACKFILL_PIPELINE} run {run.run_id} {run.status.value}")


def _load_line(committed: int, loaded: int, total: int) -> str:
    """The interruption line of `backfill --load`: both stages' progress, and that a rerun goes on."""
    return (f"{committed} of {total} date(s) committed to bronze, {loaded} of {total} date(s) run through the load; "
            "rerunning the same command resumes (committed dates are skipped, loading a date again replaces it)")


def print_summary(run: PipelineRunResult, children: Sequence[PipelineRunResult], dates: Sequence[date],
                  ingested: Mapping[date, IngestRow]) -> None:
    console = make_console()
    loads = {child.parameters.get("runDate"): child for child in children}
    cells = []
    for day in dates:
        row = ingested.get(day, IngestRow("(not requested)"))
        child = loads.get(day.isoformat())
        if child is None:
            load, run_id, error = "[dim]not run[/]", "", ""
        else:
            load = f"[{STYLE[child.status]}]{child.status.value}[/]"
            run_id, error = child.run_id, _first_line(child.message)
        if not error and row.status not in ("committed", "skipped"):
            error = row.detail  # why the ingestion did not commit the date
        cells.append([day.isoformat(), escape(row.status), row.records, load, run_id, escape(error)])
    columns = (Column("date"), Column("bronze"), Column("records", right=True), Column("load"),
               Column("daily run id", optional=True), Column("error", text=True))
    console.print(fitted_table(f"backfill {dates[0]}..{dates[-1]}: ingest, then load ({BACKFILL_PIPELINE} run "
                               f"{run.run_id})", columns, cells, console, "`show load-log` has the run ids"))
    style = STYLE[run.status]
    console.print(f"[{style}]{run.status.value}[/] {BACKFILL_PIPELINE} in {run.duration_s:.1f}s")
    if run.status is Status.FAILED:
        console.print(f"[red]{escape(run.message)}[/]")


def _first_line(message: str) -> str:
    """The daily run's Fail message is several lines; the table shows the failed activity and error."""
    lines = [line for line in message.splitlines() if line.startswith(("failed activity:", "error:"))]
    return " ".join(lines) if lines else message[:300]
