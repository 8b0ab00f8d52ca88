"""GET /api/backfill/{run_id}: a backfill's progress per date, bronze and load side by side."""

import re
from datetime import UTC, datetime

import azure.functions as func

from company_activity.functions import load, runtime
from company_activity.ingest.bronze import day_statuses
from company_activity.orchestration.backfill_load import (
    MalformedBackfillRun,
    NotABackfillRun,
    backfill_range,
    backfill_view,
    read_backfill,
)
from company_activity.orchestration.data_factory import ArmError

bp = func.Blueprint()
RUN_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@bp.function_name("backfill_status")
@bp.route(route="backfill/{run_id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def backfill_status(req: func.HttpRequest) -> func.HttpResponse:
    """200 with the run and one entry per date; 400 bad run id; 404 unknown or not a backfill run; 409 load
    switched off; 500 misconfigured; 502/503 when ARM cannot be read."""
    try:
        settings = runtime.settings()
    except runtime.Misconfigured as exc:
        return runtime.misconfigured_response(exc)
    run_id = req.route_params.get("run_id", "")
    if not RUN_ID.match(run_id):
        return runtime.json_response({"error": "invalid request", "errors": [
            {"field": "run_id", "value": run_id[:60], "message": "run_id must be a Data Factory run id (a GUID)"}]},
            400)
    if not settings.load.enabled:
        return runtime.json_response({"error": "BACKFILL_LOAD_ENABLED is false: there are no backfill load runs; "
                                               "GET /api/ingestions shows bronze"}, 409)
    factory = settings.load.factory
    if factory is None:
        return runtime.json_response({"error": "server misconfigured: DATA_FACTORY_RESOURCE_ID"}, 500)
    try:
        run, activity_runs = read_backfill(load.client(factory, settings.load.arm_endpoint), run_id, datetime.now(UTC))
    except NotABackfillRun as exc:
        return runtime.json_response({"error": str(exc)}, 404)
    except ArmError as exc:
        status = 404 if exc.status == 404 else 503 if exc.status == 429 else 502
        return runtime.json_response({"error": str(exc), "arm_status": exc.status}, status)
    try:
        start, end = backfill_range(run)
    except MalformedBackfillRun as exc:
        return runtime.json_response({"error": str(exc)}, 502)
    bronze = day_statuses(runtime.container(), start, end)
    return runtime.json_response(backfill_view(run, activity_runs, bronze), 200)
