"""GET /api/ingestions: per date, whether it is committed, with counts, run id and commit time."""

import azure.functions as func

from company_activity.functions import runtime
from company_activity.functions.caller import ROLE_READ
from company_activity.ingest.backfill import RequestInvalid, parse_status_query
from company_activity.ingest.bronze import day_statuses, status_body
from company_activity.ingest.dates import yesterday

bp = func.Blueprint()


@bp.function_name("ingestions")
@bp.route(route="ingestions", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def ingestions(req: func.HttpRequest) -> func.HttpResponse:
    """Answer 200 with one entry per date, 400 naming the bad parameter, 401/403 without a token or the read
    role, 500 if misconfigured."""
    try:
        settings = runtime.settings()
    except runtime.Misconfigured as exc:
        return runtime.misconfigured_response(exc)
    caller = runtime.authorize(req, settings, ROLE_READ)
    if isinstance(caller, func.HttpResponse):
        return caller
    params = {k: v for k, v in req.params.items() if k != "code"}  # `code` (a function key) is not a date
    try:
        dates = parse_status_query(params, yesterday=yesterday(settings.dates.tz), max_days=settings.dates.max_days)
    except RequestInvalid as exc:
        return runtime.json_response(exc.to_body(), 400)
    days = day_statuses(runtime.container(), dates.start, dates.end)
    return runtime.json_response(status_body(dates.start, dates.end, days), 200)
