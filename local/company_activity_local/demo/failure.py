"""The demo's injected failure: the pipeline runs for a day nobody ingested, and the alert arrives.

After the night, the demo runs PL_daily_company_activity once more for the day after the last one. No
manifest exists for it, so WaitForManifest times out (after a short local timeout instead of hours),
the failure branch notes the activity and its error, posts one Slack message and ends the run Failed.
Nothing is written to the warehouse. Kept apart from demo.py so that the night's code stays unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from company_activity_local.pipeline.results import PipelineRunResult
from company_activity_local.services.slack_catcher import CaughtMessage, SlackCatcher

# The manifest never comes: give up after two seconds, checking every second.
PARAMETERS = {"manifestTimeout": "0.00:00:02", "manifestSleepSeconds": 1}
ALERT_WAIT_S = 5.0


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
    return InjectedFailure(day, "nothing was ingested for the day, so WaitForManifest times out", result, alerts)
