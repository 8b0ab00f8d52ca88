"""The demo's injected failure: the pipeline runs for a day nobody ingested, and the alert arrives.

After the night, the demo runs PL_daily_company_activity once more, for the day before its first date: a
complete day, so `company-activity pipeline run --date` accepts it too, that nothing ingested. No
manifest exists for it, so WaitForManifest times out (after a short local timeout instead of hours),
the failure branch notes the activity and its error, posts one Slack message and ends the run Failed.
Nothing is written to the warehouse. The demo announces all of this before it runs it (`WHAT`). Kept
apart from night.py so that the night's code stays unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from company_activity_local.pipeline.results import PipelineRunResult
from company_activity_local.services.slack_catcher import CaughtMessage, SlackCatcher

# The manifest never comes: give up after two seconds, checking every second.
PARAMETERS = {"manifestTimeout": "0.00:00:02", "manifestSleepSeconds": 1}
ALERT_WAIT_S = 5.0
WHAT = "nothing was ingested for the day, so WaitForManifest times out"
EXPECTED = (
    "WaitForManifest fails after 2 s; the failure branch posts one Slack alert naming the run date, the failed "
    "activity and its error; PostFailureToSlack then ends Failed although the alert was delivered (Slack answers "
    "a plain-text 'ok', which the local executor, strictly, does not accept as a Web activity's JSON: "
    "docs/local.md); the run ends Failed and nothing is written to the warehouse"
)


def injected_day(first: date) -> date:
    """The day before the night's first date: complete (pipeline run accepts it) and never ingested."""
    return first - timedelta(days=1)


@dataclass(frozen=True)
class InjectedFailure:
    day: date
    what: str
    result: PipelineRunResult
    alerts: list[CaughtMessage] = field(default_factory=list)  # what this run posted to Slack


def run_missing_day(executor: Any, pipeline: str, slack: SlackCatcher, day: date) -> InjectedFailure:
    """Run `pipeline` for `day`, which has no bronze manifest; return the run and the alerts it posted."""
    before = len(slack.messages)
    result = executor.run(pipeline, {"runDate": day.isoformat(), **PARAMETERS})
    alerts = slack.wait_for(before + 1, timeout_s=ALERT_WAIT_S)[before:]
    return InjectedFailure(day, WHAT, result, alerts)
