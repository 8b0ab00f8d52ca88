"""The load half of POST /api/backfill: start PL_backfill_company_activity through ARM, or say why not.

The Data Factory client (and its credential, which caches tokens) is built once per process. Tests
replace `credential_factory` with a credential that records the scope it is asked for.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import azure.functions as func
from azure.core.credentials import TokenCredential

from company_activity.functions import runtime
from company_activity.orchestration.backfill_load import (
    BACKFILL_PIPELINE,
    rerun_command,
    running_backfills,
    start_backfill_load,
)
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


def running_backfill(settings: LoadSettings) -> func.HttpResponse | None:
    """None when no backfill load is Queued or InProgress (or the load is off); else the answer: 409 naming the
    running run, or a generic 502/503 when ARM cannot tell (nothing is enqueued then either)."""
    if not settings.enabled or settings.factory is None:
        return None
    try:
        running = running_backfills(client(settings.factory, settings.arm_endpoint), datetime.now(UTC))
    except ArmError as exc:
        return runtime.error_response(503 if exc.status == 429 else 502,
                                      "cannot tell whether a backfill is running; nothing was enqueued, try again",
                                      str(exc))
    if not running:
        return None
    first = running[0]
    runtime.log.info("backfill refused: run %s is %s", first.run_id, first.status)
    return runtime.json_response({
        "error": "a backfill is already queued or running: one at a time (dates must load in order); "
                 "wait for it to end or cancel it",
        "running_run_id": first.run_id, "status": first.status, "status_url": f"/api/backfill/{first.run_id}",
    }, 409)


def start(settings: LoadSettings, start_date: date, end_date: date) -> tuple[dict[str, Any], int]:
    """(the `load` part of the answer, the HTTP status): 202 started or switched off, 500 no factory set,
    503 throttled, 502 any other ARM error. The caller keeps the ingestion part of the answer either way.
    ARM's message, the factory and the resource group go to the log (with the answer's correlation id),
    never to the caller."""
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
        correlation_id = uuid.uuid4().hex
        runtime.log.error("backfill load %s..%s not started [correlation id %s]: %s; to load only: %s", start_date,
                          end_date, correlation_id, exc,
                          rerun_command(factory.factory, factory.resource_group, [start_date, end_date]))
        return {
            "enabled": True,
            "started": False,
            "error": "the ingestion was enqueued, but the load was not started"
                     + (": Azure is throttling, try again in a minute" if exc.status == 429 else "")
                     + "; the log has the cause and the command that loads the range alone",
            "arm_status": exc.status,
            "correlation_id": correlation_id,
        }, (503 if exc.status == 429 else 502)
    runtime.log.info("backfill load %s..%s started: %s run %s", start_date, end_date, BACKFILL_PIPELINE, run_id)
    return {"enabled": True, "started": True, "pipeline": BACKFILL_PIPELINE, "run_id": run_id,
            "status_url": f"/api/backfill/{run_id}"}, 202
