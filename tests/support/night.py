"""One local night for the end-to-end tests: simulator -> ingestion -> bronze -> pipeline -> DuckDB.

Every service is real: Azurite (the session's), the usage-API simulator and the Slack catcher on
loopback ports, a deployed DuckDB warehouse in the test's tmp_path. The expected fact table comes
from the independent reference model, fed with the simulator's ground truth and the CRM generator.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from azure.storage.blob import BlobServiceClient, ContainerClient

from company_activity.ingest.runner import IngestResult, ingest_day
from company_activity.ingest.usage_api import UsageApiClient
from company_activity.settings import Secret
from company_activity_local.pipeline.executor import PipelineExecutor
from company_activity_local.pipeline.local_resources import LocalResources
from company_activity_local.pipeline.resources import load_factory
from company_activity_local.pipeline.results import PipelineRunResult
from company_activity_local.services.crm_generator import CrmGenerator, upload_crm_snapshot
from company_activity_local.services.simulator import SimulatorConfig, UsageApiSimulator
from company_activity_local.services.slack_catcher import SlackCatcher
from company_activity_local.services.usage_data import expected_valid_day
from company_activity_local.settings import LocalRunSettings
from tests.support.reference_harness import State, compare, read_state
from tests.support.reference_model import CrmSnapshotRow, Load, ReferenceWarehouse, UsageRow

PIPELINE = "PL_daily_company_activity"
# Small waits so that a missing manifest fails the Validation in about two seconds.
PARAMETERS = {"manifestTimeout": "0.00:00:02", "manifestSleepSeconds": 1}


@dataclass
class LocalNight:
    connection_string: str
    simulator: UsageApiSimulator
    slack: SlackCatcher
    warehouse: Any
    companies: int
    seed: int
    bronze: ContainerClient = field(init=False)
    crm: ContainerClient = field(init=False)
    executor: PipelineExecutor = field(init=False)
    resources: LocalResources = field(init=False)
    client: UsageApiClient = field(init=False)
    reference: ReferenceWarehouse = field(default_factory=ReferenceWarehouse)
    snapshot_days: set[date] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.service = BlobServiceClient.from_connection_string(self.connection_string)
        suffix = uuid.uuid4().hex[:12]
        self.bronze = self.service.create_container(f"bronze-{suffix}")
        self.crm = self.service.create_container(f"crm-{suffix}")
        settings = LocalRunSettings(blob_connection_string=Secret(self.connection_string),
                                    slack_webhook_url=Secret(self.slack.url))
        self.resources = LocalResources(settings, warehouse=self.warehouse)
        self.executor = PipelineExecutor(load_factory(), self.resources, retry_interval_s=0,
                                         global_parameters={"bronzeContainer": self.bronze.container_name,
                                                            "crmContainer": self.crm.container_name})
        self.client = UsageApiClient(self.simulator.base_url, Secret(self.simulator.api_key))
        self.generator = CrmGenerator(self.companies, seed=self.seed)

    def close(self) -> None:
        self.client.close()
        self.resources.close()
        for container in (self.bronze, self.crm):
            container.delete_container()
        self.service.close()

    # -- the night's steps ------------------------------------------------------------------------------
    def ingest(self, day: date) -> IngestResult:
        result = ingest_day(day, self.client, self.bronze, reject_threshold=0.01)
        assert result.committed, result.reason
        return result

    def upload_crm(self, day: date) -> None:
        upload_crm_snapshot(self.crm, day, self.generator.snapshot(day))
        self.snapshot_days.add(day)

    def run(self, day: date, **parameters: Any) -> PipelineRunResult:
        return self.executor.run(PIPELINE, {"runDate": day.isoformat(), **PARAMETERS, **parameters})

    def load(self, day: date, *, crm: bool = True) -> PipelineRunResult:
        """Ingest, upload the snapshot (unless crm=False), run, and apply the same load to the reference."""
        self.ingest(day)
        if crm:
            self.upload_crm(day)
        result = self.run(day)
        assert result.succeeded, result.message
        self.expect(day, result.run_id)
        return result

    # -- expectations -----------------------------------------------------------------------------------
    def expect(self, day: date, run_id: str) -> None:
        """Apply the run's load to the reference model (the same inputs the pipeline read)."""
        usage = simulated_usage(day, self.companies, self.seed)
        crm = generated_snapshot(self.generator, day) if day in self.snapshot_days else None
        self.reference.apply(Load(run_date=day, run_id=run_id, usage=usage, crm=crm))

    def state(self) -> State:
        return read_state(self.warehouse)

    def differences(self) -> list[str]:
        return compare(self.reference, self.state())

    def load_log(self, run_id: str) -> list[dict[str, Any]]:
        return self.warehouse.query(
            "SELECT status, rows_inserted, rows_updated, rows_deleted, message FROM etl.load_log "
            "WHERE run_id = @run_id ORDER BY load_id", {"run_id": run_id})


def deployed_duckdb(folder: Path) -> Any:
    from company_activity_local.warehouse import open_warehouse

    warehouse = open_warehouse(duckdb_path=str(folder / "warehouse.duckdb"))
    warehouse.deploy()
    return warehouse


@contextmanager
def local_night(connection_string: str, folder: Path, companies: int, seed: int) -> Iterator[LocalNight]:
    """A simulator, a Slack catcher and a deployed DuckDB warehouse around one LocalNight, all closed after."""
    with UsageApiSimulator(SimulatorConfig(companies=companies, seed=seed)) as simulator, SlackCatcher() as slack:
        warehouse = deployed_duckdb(folder)
        night = LocalNight(
            connection_string=connection_string,
            simulator=simulator,
            slack=slack,
            warehouse=warehouse,
            companies=companies,
            seed=seed,
        )
        try:
            yield night
        finally:
            night.close()
            warehouse.close()


def simulated_usage(day: date, companies: int, seed: int) -> tuple[UsageRow, ...]:
    """The valid usage rows the simulator serves for `day`, as the reference model takes them."""
    return tuple(UsageRow(r["company_id"], r["active_users"], r["events"])
                 for r in expected_valid_day(day, companies, seed))


def generated_snapshot(generator: CrmGenerator, day: date) -> tuple[CrmSnapshotRow, ...]:
    """The CRM generator's snapshot of `day`, as the reference model takes it."""
    return tuple(CrmSnapshotRow(company_id=r.company_id, company_name=r.company_name, industry_tag=r.industry_tag,
                                country=r.country, last_contact_date=r.last_contact_date)
                 for r in generator.snapshot(day))
