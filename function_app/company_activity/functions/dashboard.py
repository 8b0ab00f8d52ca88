"""GET /api/dashboard: the Company Activity Dashboard page, for signed-in members of the configured group.

App Service built-in authentication (infra/modules/function-app.bicep, authsettingsV2) signs the user in
with Microsoft Entra ID and lets only the configured group or users through; the function then checks the
principal itself (company_activity.dashboard.principal): 401 without one, 403 outside the lists. There is
no function key: the route is anonymous to the Functions host because the platform authenticates first.

The page is the local command's page (company_activity.dashboard), read from the rpt views as the
dashboard's own identity (DASHBOARD_SQL_CONNECTION_STRING; rpt_reader only), with the health panel fed
by Data Factory's run history of both pipelines (Pipeline Runs - Query By Factory, as the Function app's
identity).
`reader_factory` is replaced by the tests with a warehouse of the same views.
"""

import datetime as dt
from collections.abc import Callable
from typing import Any

import azure.functions as func

from company_activity.dashboard.azure_sql import AzureSqlReader, RptUnavailable
from company_activity.dashboard.data import WINDOW_DAYS, DashboardError, RptReader, load
from company_activity.dashboard.principal import may_view, principal_from_headers
from company_activity.dashboard.render import CONTENT_SECURITY_POLICY, render_html
from company_activity.dashboard.runs import PipelineRunRecord, RunRecordError, latest_records
from company_activity.functions import load as factory_load
from company_activity.functions import runtime
from company_activity.orchestration.backfill_load import BACKFILL_PIPELINE, DAILY_PIPELINE
from company_activity.orchestration.data_factory import RUN_STATUSES, ArmError

bp = func.Blueprint()
reader_factory: Callable[[str], Any] = AzureSqlReader
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _text(body: str, status: int) -> func.HttpResponse:
    return func.HttpResponse(body, status_code=status, mimetype="text/plain", headers={"Cache-Control": "no-store"})


@bp.function_name("dashboard")
@bp.route(route="dashboard", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def dashboard(req: func.HttpRequest) -> func.HttpResponse:
    """200 the page; 400 bad ?date; 401 not signed in; 403 not allowed; 404 a day that is not loaded;
    500 misconfigured; 503 the warehouse cannot be read."""
    principal = principal_from_headers(req.headers)
    if principal is None:
        return _text("sign-in required: the dashboard is served behind Microsoft Entra ID authentication", 401)
    try:
        access = runtime.dashboard_settings()
    except runtime.Misconfigured as exc:
        return runtime.misconfigured_response(exc)
    if not may_view(principal, access):
        runtime.log.warning("dashboard refused to principal %s: not in the allowed group or users", principal.object_id)
        return _text("forbidden: you are not in the group or the users allowed to see the dashboard", 403)
    if not access.sql_connection_string:
        return _text("the dashboard is not configured: DASHBOARD_SQL_CONNECTION_STRING is empty", 503)
    day = None
    if req.params.get("date"):
        try:
            day = dt.date.fromisoformat(req.params["date"])
        except ValueError:
            return _text(f"date must be YYYY-MM-DD, got {req.params['date'][:20]!r}", 400)
    runs, source = _run_history()
    try:
        with reader_factory(access.sql_connection_string) as reader:
            data = load(_as_reader(reader), day, runs=runs, runs_source=source)
    except DashboardError as exc:
        return _text(str(exc), 404)
    except RptUnavailable as exc:
        runtime.log.error("dashboard: %s", exc)
        return _text("the warehouse cannot be read right now; the error is in the Function app's log", 503)
    return func.HttpResponse(render_html(data), status_code=200, mimetype="text/html", charset="utf-8",
                             headers=PAGE_HEADERS)


def _as_reader(reader: Any) -> RptReader:
    return reader  # type: ignore[no-any-return]


def _run_history() -> tuple[list[PipelineRunRecord], str]:
    """Data Factory's pipeline runs of the window, or none with the reason (the page then says why)."""
    try:
        settings = runtime.settings()
    except runtime.Misconfigured as exc:
        return [], f"none: the Function app's settings are invalid ({exc.setting})"
    factory = settings.load.factory
    if factory is None:
        return [], "none: DATA_FACTORY_RESOURCE_ID is not set"
    now = dt.datetime.now(dt.UTC)
    try:
        client = factory_load.client(factory, settings.load.arm_endpoint)
        runs = [run for pipeline in (DAILY_PIPELINE, BACKFILL_PIPELINE)
                for run in client.query_runs(pipeline, RUN_STATUSES, now - dt.timedelta(days=WINDOW_DAYS), now)]
        records = [PipelineRunRecord.from_pipeline_run(run) for run in runs]
    except (ArmError, RunRecordError) as exc:
        runtime.log.error("dashboard: cannot read the run history: %s", exc)
        return [], f"unavailable: Data Factory's run history could not be read ({exc})"
    return latest_records(records), (f"Data Factory's run history of factory {factory.factory}, "
                                     f"the last {WINDOW_DAYS} days")
