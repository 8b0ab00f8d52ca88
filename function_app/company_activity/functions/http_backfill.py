"""POST /api/backfill: validate a date range, enqueue one message per date for the queue worker, and start
the load of the range (PL_backfill_company_activity, see functions/load.py) unless BACKFILL_LOAD_ENABLED is false.

No `from __future__ import annotations` in the functions modules: the worker reads the annotations to pick
binding converters, and its queue converter accepts `typing.List[str]`, not `list[str]`.
"""

import typing

import azure.functions as func

from company_activity.functions import load, runtime
from company_activity.functions.caller import ROLE_BACKFILL, ROLE_FORCE
from company_activity.ingest.backfill import BackfillMessage, RequestInvalid, parse_backfill_body, plan_backfill
from company_activity.ingest.bronze import committed_days
from company_activity.ingest.dates import yesterday

bp = func.Blueprint()


@bp.function_name("backfill")
@bp.route(route="backfill", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.queue_output(arg_name="messages", queue_name="%BACKFILL_QUEUE%", connection="AzureWebJobsStorage")
def backfill(
    req: func.HttpRequest, messages: func.Out[typing.List[str]]  # noqa: UP006
) -> func.HttpResponse:
    """Answer 202 with the dates enqueued and skipped and the load's run id, 400 naming the bad field, 401/403
    without a token or the role (force and allow_fewer_records need CompanyActivity.ForceReingest too), 409
    while another backfill load is queued or running, 500 if misconfigured; 502/503 when the load could not be
    started (the ingestion part of the answer is kept)."""
    try:
        settings = runtime.settings()
    except runtime.Misconfigured as exc:
        return runtime.misconfigured_response(exc)
    caller = runtime.authorize(req, settings, ROLE_BACKFILL)
    if isinstance(caller, func.HttpResponse):
        return caller
    try:
        request = parse_backfill_body(
            req.get_body(), yesterday=yesterday(settings.dates.tz), max_days=settings.dates.max_days
        )
    except RequestInvalid as exc:
        return runtime.json_response(exc.to_body(), 400)
    if request.force and not caller.may(ROLE_FORCE):
        runtime.log.warning("refused a forced backfill for %s (%s): lacks %s", caller.object_id, caller.name,
                            ROLE_FORCE)
        return runtime.json_response({"error": f"forbidden: force (re-ingesting committed days) needs the app role "
                                               f"{ROLE_FORCE}"}, 403)
    running = load.running_backfill(settings.load)
    if running is not None:
        return running
    committed = () if request.force else committed_days(runtime.container(), request.range.start, request.range.end)
    plan = plan_backfill(request, committed)
    if plan.enqueue:
        messages.set([BackfillMessage(day, request.force, request.allow_fewer).to_json() for day in plan.enqueue])
    runtime.log.info("backfill %s..%s force=%s allow_fewer_records=%s by %s: %d enqueued, %d skipped",
                     request.range.start, request.range.end, request.force, request.allow_fewer, caller.object_id,
                     len(plan.enqueue), len(plan.skipped))
    body = plan.to_body()
    body["load"], status = load.start(settings.load, request.range.start, request.range.end)
    return runtime.json_response(body, status)
