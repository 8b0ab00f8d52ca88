"""GET /api/backfill/{run_id}: a backfill's progress per date, bronze and load side by side."""

import re
from datetime import UTC, datetime

import azure.functions as func

from company_activity.functions import load, runtime
from company_activity.functions.caller import ROLE_READ
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
# fullmatch, not match with ^...$: `$` also matches before a trailing newline, which would reach ARM as %0A.
RUN_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@bp.function_name("backfill_status")
@bp.route(route="backfill/{run_id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def backfill_status(req: func.HttpRequest) -> func.HttpResponse:
    """200 with the run and one entry per date; 400 bad run id; 404 unknown or not a backfill run; 409 load
    switched off; 500 misconfigured; 502/503 when ARM cannot be read."""
    try:
        settings = runtime.settings()
    except runtime.Misconfigured as exc:
        return runtime.misconfigured_response(exc)
    caller = runtime.authorize(req, settings, ROLE_READ)
    if isinstance(caller, func.HttpResponse):
        return caller
    run_id = req.route_params.get("run_id", "")
    if not RUN_ID.fullmatch(run_id):
        return runtime.json_response({"error": "invalid request", "errors": [
            {"field": "run_id", "value": run_id[:60], "message": "run_id must be a Data Factory run id (a GUID)"}]},
            400)
    if not settings.load.enabled:
        return runtime.json_response({"error": "BACKFILL_LOAD_ENABLED is false: there are no backfill load runs; "
                                               "GET /api/ingestions shows bronze"}, 409)
    factory = settings.load.factory
    if factory is None:
        return runtime.json_response({"error": "server misconfigured: DATA_FACTORY_RESOURCE_ID"}, 500)
    # ARM's messages name principals, subscriptions and resource groups: they go to the log, not to the caller.
    try:
        run, activity_runs = read_backfill(load.client(factory, settings.load.arm_endpoint), run_id, datetime.now(UTC))
    except NotABackfillRun as exc:
        return runtime.error_response(404, f"run {run_id} is not a backfill run", str(exc))
    except ArmError as exc:
        if exc.status == 404:
            return runtime.error_response(404, f"no pipeline run {run_id}", str(exc))
        return runtime.error_response(503 if exc.status == 429 else 502, "cannot read the run from Azure right now",
                                      str(exc), arm_status=exc.status)
    try:
        start, end = backfill_range(run)
    except MalformedBackfillRun as exc:
        return runtime.error_response(502, f"run {run_id} has no valid date range", str(exc))
    bronze = day_statuses(runtime.container(), start, end)
    return runtime.json_response(backfill_view(run, activity_runs, bronze), 200)
