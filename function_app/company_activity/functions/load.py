"""The load half of POST /api/backfill: start PL_backfill_company_activity through ARM, or say why not.

The Data Factory client (and its credential, which caches tokens) is built once per process. Tests
replace `credential_factory` with a credential that records the scope it is asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from typing import Any

from azure.core.credentials import TokenCredential

from company_activity.functions import runtime
from company_activity.orchestration.backfill_load import BACKFILL_PIPELINE, rerun_command, start_backfill_load
from company_activity.orchestration.data_factory import ArmError, DataFactoryClient, default_credential
from company_activity.resource_ids import FactoryRef
from company_activity.settings import LoadSettings

credential_factory: Callable[[], TokenCredential] = default_credential
_lock = threading.Lock()
_client: DataFactoryClient | None = None


def client(factory: FactoryRef, endpoint: str) -> DataFactoryClient:
    global _client
    with _lock:
        if _client is None or _client.endpoint != endpoint or _client.factory != factory:
            if _client is not None:
                _client.close()
            _client = DataFactoryClient(factory, credential_factory(), endpoint=endpoint)
        return _client


def reset() -> None:
    global _client
    with _lock:
        if _client is not None:
            _client.close()
        _client = None


def start(settings: LoadSettings, start_date: date, end_date: date) -> tuple[dict[str, Any], int]:
    """(the `load` part of the answer, the HTTP status): 202 started or switched off, 500 no factory set,
    503 throttled, 502 any other ARM error. The caller keeps the ingestion part of the answer either way."""
    if not settings.enabled:
        return {"enabled": False, "started": False,
                "message": "BACKFILL_LOAD_ENABLED is false: only bronze is ingested; load it from elsewhere"}, 202
    factory = settings.factory
    if factory is None:
        runtime.log.error("backfill load not started: DATA_FACTORY_RESOURCE_ID is not set")
        return {"enabled": True, "started": False,
                "error": "server misconfigured: DATA_FACTORY_RESOURCE_ID (the load is enabled but no factory is "
                         "set); the ingestion was enqueued"}, 500
    try:
        run_id = start_backfill_load(client(factory, settings.arm_endpoint), start_date, end_date)
    except ArmError as exc:
        runtime.log.error("backfill load %s..%s not started: %s", start_date, end_date, exc)
        return {
            "enabled": True,
            "started": False,
            "error": f"the ingestion was enqueued, but the load was not started: {exc}",
            "arm_status": exc.status,
            "rerun_load_only": rerun_command(factory.factory, factory.resource_group, [start_date, end_date]),
        }, (503 if exc.status == 429 else 502)
    runtime.log.info("backfill load %s..%s started: %s run %s", start_date, end_date, BACKFILL_PIPELINE, run_id)
    return {"enabled": True, "started": True, "pipeline": BACKFILL_PIPELINE, "run_id": run_id,
            "status_url": f"/api/backfill/{run_id}"}, 202
