"""The backfill queue worker: one date per message; raising makes the host retry, then poison the message."""

import azure.functions as func

from company_activity.functions import runtime
from company_activity.ingest.backfill import RequestInvalid, parse_backfill_message
from company_activity.ingest.bronze import read_manifest
from company_activity.ingest.dates import yesterday
from company_activity.ingest.runner import ingest_day_with_settings

bp = func.Blueprint()


@bp.function_name("backfill_worker")
@bp.queue_trigger(arg_name="msg", queue_name="%BACKFILL_QUEUE%", connection="AzureWebJobsStorage")
def backfill_worker(msg: func.QueueMessage) -> None:
    """Ingest the message's date (skip it when committed and force is false); raise on any failure."""
    settings = runtime.settings()
    try:
        message = parse_backfill_message(msg.get_body(), yesterday=yesterday(settings.dates.tz))
    except RequestInvalid as exc:
        runtime.log.error(
            "malformed backfill message %s (dequeue count %s): %s; raising so that the host moves it to the "
            "poison queue after maxDequeueCount attempts", msg.id, msg.dequeue_count, exc,
        )
        raise
    container = runtime.container()
    if not message.force:
        committed = read_manifest(container, message.date)
        if committed is not None:
            runtime.log.info("backfill %s: already committed (run %s) and force is false; skipped",
                             message.date, committed.run_id)
            return
    result = ingest_day_with_settings(settings.ingest, message.date, container=container,
                                      allow_fewer=message.allow_fewer)
    if not result.committed:
        raise runtime.IngestionFailed(result.summary())
