"""The Slack alert against hostile text (issue 22, finding 11): runDate and an activity's error (which can
quote CRM ids or API values) reach Slack with &, < and > escaped, so `<!channel>` or `<https://x|y>` in them
render as text, not as a mention or a link. Slack: "Formatting text for app surfaces", escaping text."""

from __future__ import annotations

import json
from pathlib import Path

from company_activity_local.pipeline.expressions import evaluate
from tests.local.pipeline.test_pipeline_semantics import ACTIVITIES, failed_at, run_context

ROOT = Path(__file__).resolve().parents[3]
HOSTILE = "bad company_id <!channel> & <https://evil.example|click> > here"


def test_the_alert_text_escapes_what_slack_would_interpret() -> None:
    ctx = run_context({**failed_at("MergeFactDailyCompanyActivity", message=HOSTILE), "GetSlackWebhookUrl": {
        "status": "Succeeded", "output": {"value": "http://127.0.0.1:9/hook"}}}, runDate="2024-03-01<!here>")
    note = ACTIVITIES["NoteFailedMergeFactDailyCompanyActivity"]
    ctx.variables["failure"] = evaluate(note["typeProperties"]["value"], ctx)
    text = evaluate(ACTIVITIES["PostFailureToSlack"]["typeProperties"], ctx)["body"]["text"]
    assert "<" not in text and ">" not in text
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt; &gt; here" in text
    assert "runDate: 2024-03-01&lt;!here&gt;" in text
    # The run's own Fail message (not Slack) keeps the text as it was.
    fail = evaluate(ACTIVITIES["FailRun"]["typeProperties"], ctx)
    assert HOSTILE in fail["message"]


def test_only_one_backfill_pipeline_run_at_a_time() -> None:
    """Finding 1: overlapping backfills load dates out of order. ADF queues runs beyond `concurrency`
    ("Pipelines and activities", pipeline JSON `concurrency`); the HTTP endpoint also answers 409."""
    backfill = json.loads((ROOT / "adf" / "pipeline" / "PL_backfill_company_activity.json").read_text())
    assert backfill["properties"]["concurrency"] == 1
