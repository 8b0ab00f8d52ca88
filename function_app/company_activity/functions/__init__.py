"""Azure Functions blueprints; function_app.py registers BLUEPRINTS. Imports only what the worker deploys."""

import azure.functions as func

from company_activity.functions import backfill_status, dashboard, http_backfill, status, timer, worker

BLUEPRINTS: tuple[func.Blueprint, ...] = (timer.bp, http_backfill.bp, worker.bp, status.bp, backfill_status.bp,
                                          dashboard.bp)
