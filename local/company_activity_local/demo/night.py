"""The whole night, locally: simulator -> ingestion -> bronze on Azurite -> the ADF pipeline -> DuckDB.

`run_demo(DemoOptions(...))` starts Azurite, the usage-API simulator and a Slack catcher on free
loopback ports, uploads a generated CRM snapshot for every date, ingests the dates into bronze with
the ingestion runner, deploys the warehouse to a fresh DuckDB file, runs PL_daily_company_activity
for each date in order with the local executor, and reads a summary of the fact table. A late
backfill closes the night: up to a week of dates after the first (`late_dates`) is held back, then
ingested and loaded with PL_backfill_company_activity after the later days were loaded, as
`company-activity backfill --load` would (late data recomputes its neighbours: docs/fact-rules.md). Everything it
started is stopped on the way out, also on errors and Ctrl-C (an ExitStack of context managers).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from company_activity.ingest.runner import IngestResult, ingest_day
from company_activity.ingest.usage_api import UsageApiClient
from company_activity.settings import Secret
from company_activity_local.demo.check import LateBackfillCheck, check_and_remove, replay_in_order
from company_activity_local.demo.errors import DemoFailed, DemoOptionsError
from company_activity_local.demo.failure import EXPECTED, WHAT, InjectedFailure, injected_day, run_missing_day
from company_activity_local.pipeline.executor import PipelineExecutor
from company_activity_local.pipeline.local_resources import LocalResources
from company_activity_local.pipeline.report import last_load_log
from company_activity_local.pipeline.resources import ADF_DIR, load_factory
from company_activity_local.pipeline.results import ActivityResult, PipelineRunResult
from company_activity_local.pipeline.run_records import RunRecordFile, path_for_warehouse
from company_activity_local.services.azurite import Azurite
from company_activity_local.services.crm_generator import CRM_ONLY_BASE, CrmGenerator, upload_crm_snapshot
from company_activity_local.services.simulator import DEFAULT_API_KEY, SimulatorConfig, UsageApiSimulator
from company_activity_local.services.slack_catcher import CaughtMessage, SlackCatcher
from company_activity_local.settings import LocalRunSettings, WarehouseSettings

if TYPE_CHECKING:
    from company_activity_local.warehouse.engine import Warehouse

DAILY_PIPELINE = "PL_daily_company_activity"
BACKFILL_PIPELINE = "PL_backfill_company_activity"
LATE_DAYS = 7
BRONZE_CONTAINER = "bronze"
CRM_CONTAINER = "crm"
FACT = "dbo.fact_daily_company_activity"
REPLAY_FILE = "late-backfill-replay.duckdb"  # the late backfill check's in-order replay; removed once compared
REJECT_THRESHOLD = 0.01
# The manifest is committed before the pipeline starts, so the Validation never needs to wait long.
PIPELINE_PARAMETERS = {"manifestTimeout": "0.00:01:00", "manifestSleepSeconds": 1}
# A failing activity is still retried as its policy says, but without the JSON's minutes-long waits.
RETRY_INTERVAL_S = 1.0


MAX_DAYS = 366  # a demo night of at most a year


@dataclass(frozen=True)
class DemoOptions:
    days: int = 14
    companies: int = 500
    seed: int = 7
    out: Path = Path("out")
    warehouse: Path | None = None  # default: <out>/warehouse.duckdb
    end: date | None = None  # last date; default: yesterday (UTC)
    adf_dir: Path = ADF_DIR
    keep_services: bool = False  # start Azurite and the simulator with `services up` and leave them running
    free_ports: bool = False  # with keep_services: free ports instead of the standard ones

    @property
    def services_dir(self) -> Path:
        return self.out / "services"

    def __post_init__(self) -> None:
        if not 1 <= self.days <= MAX_DAYS:
            raise DemoOptionsError(f"--days must be 1..{MAX_DAYS}, got {self.days}")
        if not 1 <= self.companies <= 100_000:
            raise DemoOptionsError(f"--companies must be 1..100000, got {self.companies}")

    @property
    def warehouse_path(self) -> Path:
        return self.warehouse or self.out / "warehouse.duckdb"

    def dates(self) -> list[date]:
        end = self.end or (datetime.now(UTC).date() - timedelta(days=1))
        return [end - timedelta(days=self.days - 1 - i) for i in range(self.days)]


@dataclass(frozen=True)
class DateRun:
    """One date of the night: its ingestion and its pipeline run."""

    day: date
    ingest: IngestResult
    crm_rows: int
    pipeline: PipelineRunResult | None = None
    load_log: dict[str, Any] | None = None


@dataclass
class DemoSummary:
    warehouse: Path
    runs: list[DateRun] = field(default_factory=list)
    fact_rows: int = 0
    companies: int = 0
    crm_only_companies: int = 0  # of `companies`: in the CRM snapshots, never any usage (CrmGenerator)
    churn_risk_companies: int = 0  # on the last date
    crm_only_churn_risk: int = 0  # of churn_risk_companies
    top_risk: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[CaughtMessage] = field(default_factory=list)
    injected: InjectedFailure | None = None  # the run that fails on purpose, with its alert
    seconds: float = 0.0
    late_backfill: PipelineRunResult | None = None  # the backfill run of the late dates, if any
    dashboard: Path | None = None  # <out>/dashboard.html, from the rpt views
    late_backfill_check: LateBackfillCheck | None = None  # the fact table against an in-order replay of its bronze

    @property
    def succeeded(self) -> bool:
        return bool(self.runs) and all(r.pipeline is not None and r.pipeline.succeeded for r in self.runs) and (
            self.late_backfill is None or self.late_backfill.succeeded) and (
            self.late_backfill_check is None or self.late_backfill_check.passed)


class DemoObserver:
    """What the CLI shows while the demo runs; the default shows nothing."""

    def started(self, what: str, detail: str) -> None: ...
    def ingest_begin(self, total: int) -> None: ...
    def ingested(self, run: DateRun) -> None: ...
    def ingest_end(self) -> None: ...
    def activity(self, result: ActivityResult) -> None: ...
    def pipeline_begin(self, day: date) -> None: ...
    def pipeline_done(self, run: DateRun) -> None: ...
    def alert(self, message: CaughtMessage) -> None: ...
    def injecting(self, day: date, what: str, expected: str) -> None: ...
    def late_backfill_begin(self, days: list[date]) -> None: ...
    def late_backfill_done(self, run: PipelineRunResult) -> None: ...
    def late_backfill_checked(self, check: LateBackfillCheck) -> None: ...


def run_demo(options: DemoOptions, observer: DemoObserver | None = None) -> DemoSummary:
    observer = observer or DemoObserver()
    started = time.perf_counter()
    dates = options.dates()
    late = late_dates(dates)
    summary = DemoSummary(warehouse=options.warehouse_path)
    with contextlib.ExitStack() as stack:
        services = stack.enter_context(demo_services(options, observer))
        slack = stack.enter_context(SlackCatcher(on_message=observer.alert))
        observer.started("Slack catcher", f"127.0.0.1:{slack.port}")

        from azure.storage.blob import BlobServiceClient

        service = stack.enter_context(BlobServiceClient.from_connection_string(services.connection_string))
        bronze, crm = (service.get_container_client(name) for name in (BRONZE_CONTAINER, CRM_CONTAINER))
        for container in (bronze, crm):
            if not container.exists():
                container.create_container()
        generator = CrmGenerator(options.companies, seed=options.seed)
        client = stack.enter_context(UsageApiClient(services.base_url, Secret(services.api_key)))

        observer.ingest_begin(len(dates) - len(late))
        ingested: list[DateRun] = []
        for day in dates:
            rows = generator.snapshot(day)
            upload_crm_snapshot(crm, day, rows)
            if day in late:
                continue  # ingested and loaded by the late backfill, after the later days
            ingested_day = ingest_day(day, client, bronze, reject_threshold=REJECT_THRESHOLD)
            run = DateRun(day, ingested_day, len(rows))
            ingested.append(run)
            observer.ingested(run)
        observer.ingest_end()
        failed = [r for r in ingested if not r.ingest.committed]
        if failed:
            raise DemoFailed(f"ingestion did not commit {failed[0].day}: {failed[0].ingest.reason}")

        warehouse = stack.enter_context(fresh_duckdb(options.warehouse_path))
        settings = LocalRunSettings(blob_connection_string=Secret(services.connection_string),
                                    warehouse=WarehouseSettings(path=options.warehouse_path),
                                    slack_webhook_url=Secret(slack.url))
        resources = stack.enter_context(LocalResources(settings, warehouse=warehouse))
        runs = RunRecordFile(path_for_warehouse(options.warehouse_path))
        runs.clear()  # a fresh warehouse starts a fresh run history
        executor = PipelineExecutor(load_factory(options.adf_dir), resources, listener=observer.activity,
                                    global_parameters={"bronzeContainer": BRONZE_CONTAINER,
                                                       "crmContainer": CRM_CONTAINER},
                                    retry_interval_s=RETRY_INTERVAL_S, run_log=runs)
        for run in ingested:
            observer.pipeline_begin(run.day)
            result = executor.run(DAILY_PIPELINE, {"runDate": run.day.isoformat(), **PIPELINE_PARAMETERS})
            done = DateRun(run.day, run.ingest, run.crm_rows, result, last_load_log(warehouse, result.run_id))
            summary.runs.append(done)
            observer.pipeline_done(done)
        failing_day = injected_day(dates[0])
        observer.injecting(failing_day, WHAT, EXPECTED)
        summary.injected = run_missing_day(executor, DAILY_PIPELINE, slack, failing_day)
        if late:  # the night ends with the late backfill
            run_late_backfill(late, client, bronze, generator, executor, warehouse, summary, observer)
        read_fact_summary(warehouse, summary, dates[-1])
        summary.dashboard = write_demo_dashboard(warehouse, runs, options.out / "dashboard.html")
        summary.alerts = slack.messages
        replay = replay_in_order(bronze, crm, dates, options.out / REPLAY_FILE) if late else None
    if replay is not None:  # compared once the demo's warehouse file is closed, then removed
        summary.late_backfill_check = check_and_remove(options.warehouse_path, replay)
        observer.late_backfill_checked(summary.late_backfill_check)
    summary.seconds = time.perf_counter() - started
    return summary


def write_demo_dashboard(warehouse: Warehouse, runs: RunRecordFile, path: Path) -> Path:
    """The dashboard of the night, with every pipeline run of it (the injected failure included)."""
    from company_activity_local.dashboard import load, write_dashboard

    return write_dashboard(load(warehouse, runs=runs.read(),
                                runs_source=f"the local executor's run records, {runs.path}"), path)


def late_dates(dates: list[date]) -> list[date]:
    """The dates held back for the late backfill: up to LATE_DAYS after the first, always leaving a later date
    loaded before them (none for a night of fewer than 3 dates)."""
    return dates[1:1 + min(LATE_DAYS, len(dates) - 2)] if len(dates) >= 3 else []


def run_late_backfill(late: list[date], client: UsageApiClient, bronze: Any, generator: CrmGenerator,
                      executor: PipelineExecutor, warehouse: Warehouse, summary: DemoSummary,
                      observer: DemoObserver) -> None:
    """Ingest the late dates, then load them with one run of the backfill pipeline (ForEach + Execute Pipeline)."""
    observer.late_backfill_begin(late)
    observer.ingest_begin(len(late))
    ingested = {}
    for day in late:
        ingested[day] = ingest_day(day, client, bronze, reject_threshold=REJECT_THRESHOLD)
        observer.ingested(DateRun(day, ingested[day], len(generator.snapshot(day))))
    observer.ingest_end()
    executor.child_runs.clear()
    run = executor.run(BACKFILL_PIPELINE, {"startDate": late[0].isoformat(), "endDate": late[-1].isoformat(),
                                           **PIPELINE_PARAMETERS})
    for child in executor.child_runs:
        day = date.fromisoformat(child.parameters["runDate"])
        done = DateRun(day, ingested[day], len(generator.snapshot(day)), child, last_load_log(warehouse, child.run_id))
        summary.runs.append(done)
        observer.pipeline_done(done)
    summary.late_backfill = run
    observer.late_backfill_done(run)


@dataclass(frozen=True)
class Endpoints:
    """Where the demo's blob storage and usage API are."""

    connection_string: str
    base_url: str
    api_key: str


@contextlib.contextmanager
def demo_services(options: DemoOptions, observer: DemoObserver) -> Iterator[Endpoints]:
    """Azurite and the simulator: in-process and stopped at the end, or with keep_services started in the
    background by `services up` (data in <out>/services) and left running."""
    if options.keep_services:
        from company_activity_local.services.background import up

        state = up(options.services_dir, simulator=True, free_ports=options.free_ports,
                   companies=options.companies, seed=options.seed)
        for process in state.processes:
            observer.started(f"{process.name} (kept running, pid {process.pid})",
                             f"127.0.0.1:{', '.join(str(p) for p in process.ports)}")
        yield Endpoints(state.connection_string, state.api_url or "", DEFAULT_API_KEY)
        return
    with Azurite() as azurite, UsageApiSimulator(SimulatorConfig(companies=options.companies,
                                                                 seed=options.seed)) as simulator:
        observer.started("azurite", f"blob endpoint 127.0.0.1:{azurite.blob_port}")
        observer.started("usage API simulator", simulator.base_url)
        yield Endpoints(azurite.connection_string, simulator.base_url, simulator.api_key)


@contextlib.contextmanager
def fresh_duckdb(path: Path) -> Any:
    """A new, deployed DuckDB warehouse at `path` (an existing demo file there is replaced)."""
    from company_activity_local.warehouse import open_warehouse

    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (path, path.with_name(path.name + ".wal")):
        stale.unlink(missing_ok=True)
    warehouse = open_warehouse(duckdb_path=str(path))
    try:
        warehouse.deploy()
        yield warehouse
    finally:
        warehouse.close()


def read_fact_summary(warehouse: Warehouse, summary: DemoSummary, last: date, top: int = 10) -> None:
    """Rows and companies of the fact table, the churn risk of the last date, and its top companies among
    those with usage (the CRM-only ones, never any usage, all have the lowest average: they are counted)."""
    crm_only = {"crm_only": f"c{CRM_ONLY_BASE:06d}"}
    totals = warehouse.query(f"SELECT COUNT(*) AS fact_rows, COUNT(DISTINCT company_id) AS companies, "
                             "COUNT(DISTINCT CASE WHEN company_id >= @crm_only THEN company_id END) AS crm_only "
                             f"FROM {FACT}", crm_only)
    summary.fact_rows = int(totals[0]["fact_rows"])
    summary.companies = int(totals[0]["companies"])
    summary.crm_only_companies = int(totals[0]["crm_only"])
    risk = warehouse.query(f"SELECT COUNT(*) AS n, COUNT(CASE WHEN company_id >= @crm_only THEN 1 END) AS crm_only "
                           f"FROM {FACT} WHERE activity_date = @day AND is_churn_risk = 1", {"day": last, **crm_only})
    summary.churn_risk_companies = int(risk[0]["n"])
    summary.crm_only_churn_risk = int(risk[0]["crm_only"])
    # Who to call first, as the dashboard and Power BI rank them (rpt.call_list: companies in the CRM only).
    summary.top_risk = warehouse.query(
        f"SELECT TOP ({int(top)}) company_id, company_name, severity_label, "
        "rolling_7d_active_users AS rolling_avg, days_since_last_contact "
        "FROM rpt.call_list WHERE activity_date = @day ORDER BY call_rank",
        {"day": last},
    )
