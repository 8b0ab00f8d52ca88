"""The daily timer: ingest yesterday (in INGEST_TIMEZONE) on the INGEST_SCHEDULE schedule."""

import azure.functions as func

from company_activity.functions import runtime
from company_activity.ingest.dates import yesterday
from company_activity.ingest.runner import ingest_day_with_settings

bp = func.Blueprint()


@bp.function_name("daily_ingest")
@bp.retry(strategy="fixed_delay", max_retry_count="3", delay_interval="00:05:00")
@bp.timer_trigger(arg_name="timer", schedule="%INGEST_SCHEDULE%", run_on_startup=False, use_monitor=True)
def daily_ingest(timer: func.TimerRequest) -> None:
    """Ingest yesterday's usage and commit it to bronze; raise when the day was not committed."""
    if timer.past_due:
        runtime.log.warning("daily_ingest is past due (the host missed its scheduled time); running now")
    settings = runtime.settings()
    day = yesterday(settings.dates.tz)
    result = ingest_day_with_settings(settings.ingest, day, container=runtime.container())
    if not result.committed:
        raise runtime.IngestionFailed(result.summary())
