"""POST /api/backfill starts the load, GET /api/backfill/{run_id} shows it: against a local ARM stand-in.

The handlers run in-process as in test_functions.py (Azurite, the simulator); ARM is a real HTTP server on
loopback (arm_standin.py) that checks the api-version and the bearer token, and records each request so the
tests pin the exact URL, body and the scope the token was requested for. Only the token source is a test
double: a managed identity cannot exist here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import azure.functions as func
import pytest

from company_activity.functions import load, runtime
from tests.support import functions_fixtures
from tests.support.arm_standin import FACTORY, TOKEN, ArmStandIn, RecordingCredential
from tests.support.functions_fixtures import body_of, days_ago, post

CREATE_RUN_PATH = f"{FACTORY}/pipelines/PL_backfill_company_activity/createRun"


@pytest.fixture()
def arm(monkeypatch: pytest.MonkeyPatch, app_env: dict[str, str]) -> Iterator[tuple[ArmStandIn, RecordingCredential]]:
    credential = RecordingCredential()
    with ArmStandIn() as stand_in:
        monkeypatch.setenv("BACKFILL_LOAD_ENABLED", "true")
        monkeypatch.setenv("DATA_FACTORY_RESOURCE_ID", FACTORY)
        monkeypatch.setenv("ARM_ENDPOINT", stand_in.url)
        monkeypatch.setattr(load, "credential_factory", lambda: credential)
        runtime.reset()
        load.reset()
        yield stand_in, credential
        load.reset()


def backfill_body(start: int = 3, end: int = 1) -> bytes:
    return json.dumps({"start_date": days_ago(start), "end_date": days_ago(end)}).encode()


def test_post_starts_the_backfill_pipeline_with_the_exact_arm_request(
    handlers: dict[str, Callable[..., Any]], arm: tuple[ArmStandIn, RecordingCredential]
) -> None:
    stand_in, credential = arm
    response, out = post(handlers, backfill_body())
    assert response.status_code == 202
    body = body_of(response)
    assert body["enqueued"] == [days_ago(3), days_ago(2), days_ago(1)] and len(out.value) == 3
    query, request = stand_in.requests  # first: is a backfill already queued or running? (none)
    assert (query.method, query.path) == ("POST", f"{FACTORY}/queryPipelineRuns")
    assert query.body["filters"] == [
        {"operand": "PipelineName", "operator": "Equals", "values": ["PL_backfill_company_activity"]},
        {"operand": "Status", "operator": "In", "values": ["Canceling", "InProgress", "Queued"]}]
    assert (request.method, request.path) == ("POST", CREATE_RUN_PATH)
    assert request.query == {"api-version": ["2018-06-01"]}
    assert request.body == {"startDate": days_ago(3), "endDate": days_ago(1)}
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert set(credential.scopes) == {("https://management.azure.com/.default",)}
    run_id = body["load"]["run_id"]
    assert body["load"] == {"enabled": True, "started": True, "pipeline": "PL_backfill_company_activity",
                            "run_id": run_id, "status_url": f"/api/backfill/{run_id}"}
    assert stand_in.runs[run_id]["parameters"] == request.body


@pytest.mark.parametrize(("arm_status", "answer", "meaning"), [
    (401, 502, "ARM refused the identity's token (401)"),
    (403, 502, "no permission on the factory (403): it needs the custom role 'Company activity backfill starter "
               "(<resource group>)' on the factory"),
    (404, 502, "the factory or pipeline does not exist (404): check DATA_FACTORY_RESOURCE_ID"),
    (500, 502, "ARM or Data Factory failed (500)"),
    (503, 502, "ARM or Data Factory failed (503)"),
])
def test_arm_errors_keep_the_ingestion_and_log_why_the_load_did_not_start(
    handlers: dict[str, Callable[..., Any]], arm: tuple[ArmStandIn, RecordingCredential],
    arm_status: int, answer: int, meaning: str, caplog: pytest.LogCaptureFixture,
) -> None:
    stand_in, _ = arm
    stand_in.fail_next(arm_status, count=5, only="createRun")
    response, out = post(handlers, backfill_body())
    assert response.status_code == answer
    body = body_of(response)
    assert body["enqueued"] == [days_ago(3), days_ago(2), days_ago(1)]
    assert [json.loads(m)["date"] for m in out.value] == body["enqueued"]  # the ingestion messages are kept
    assert body["load"]["started"] is False and body["load"]["arm_status"] == arm_status
    assert body["load"]["error"].startswith("the ingestion was enqueued, but the load was not started")
    # ARM's message, the resource group and the factory are logged under the answer's correlation id, never
    # returned (issue 22, finding 9).
    answer_text = response.get_body().decode()
    for private in (f"stand-in answer {arm_status}", "rg-ca-dev", "adf-ca-dev", meaning, TOKEN):
        assert private not in answer_text
    [logged] = [r.getMessage() for r in caplog.records if body["load"]["correlation_id"] in r.getMessage()]
    assert meaning in logged and f"stand-in answer {arm_status}" in logged
    assert f'"startDate": "{days_ago(3)}", "endDate": "{days_ago(1)}"' in logged  # the command that loads it alone
    assert len([r for r in stand_in.requests if r.path.endswith("createRun")]) == 1  # createRun is not retried


def test_throttling_is_retried_then_answered_503(
    handlers: dict[str, Callable[..., Any]], arm: tuple[ArmStandIn, RecordingCredential]
) -> None:
    stand_in, _ = arm
    stand_in.fail_next(429, count=1, retry_after="0", only="createRun")
    response, _ = post(handlers, backfill_body())
    assert response.status_code == 202 and body_of(response)["load"]["started"] is True
    assert len([r for r in stand_in.requests if r.path.endswith("createRun")]) == 2

    stand_in.requests.clear()
    for run in stand_in.runs.values():
        run["status"] = "Succeeded"  # the first backfill ended: the next may start
    stand_in.fail_next(429, count=3, retry_after="0", only="createRun")
    response, out = post(handlers, backfill_body())
    assert response.status_code == 503
    body = body_of(response)
    assert "Azure is throttling" in body["load"]["error"] and len(out.value) == 3
    assert len([r for r in stand_in.requests if r.path.endswith("createRun")]) == 3


def test_no_factory_configured_is_a_500_that_keeps_the_ingestion(
    handlers: dict[str, Callable[..., Any]], arm: tuple[ArmStandIn, RecordingCredential],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATA_FACTORY_RESOURCE_ID", "")
    runtime.reset()
    response, out = post(handlers, backfill_body())
    assert response.status_code == 500 and len(out.value) == 3
    assert "DATA_FACTORY_RESOURCE_ID" in body_of(response)["load"]["error"]
    assert arm[0].requests == []


def get_backfill(handlers: dict[str, Callable[..., Any]], run_id: str) -> func.HttpResponse:
    request = func.HttpRequest("GET", f"http://localhost/api/backfill/{run_id}", body=b"",
                               route_params={"run_id": run_id}, headers=functions_fixtures.CALLER)
    return handlers["backfill_status"](request)


def activity_run(day: str, status: str, start: str, *, child: str | None = None, error: str | None = None) -> dict:
    return {"activityName": "RunDailyLoad", "activityType": "ExecutePipeline", "status": status,
            "activityRunStart": start, "input": {"parameters": {"runDate": day}},
            "output": {"pipelineName": "PL_daily_company_activity", "pipelineRunId": child} if child else {},
            "error": {"errorCode": "2011", "message": error} if error else {"errorCode": "", "message": ""}}


def test_status_shows_bronze_and_load_per_date(
    handlers: dict[str, Callable[..., Any]], arm: tuple[ArmStandIn, RecordingCredential]
) -> None:
    stand_in, _ = arm
    handlers["backfill_worker"](func.QueueMessage(body=json.dumps({"date": days_ago(3)}).encode()))
    response, _ = post(handlers, backfill_body())
    run_id = body_of(response)["load"]["run_id"]
    stand_in.runs[run_id].update(status="InProgress", runStart="2026-03-01T00:00:00.1234567Z")
    stand_in.activity_pages[run_id] = [
        [activity_run(days_ago(3), "Succeeded", "2026-03-01T00:00:01Z", child="child-1")],
        [activity_run(days_ago(2), "Failed", "2026-03-01T00:05:00Z", child="child-2",
                      error="Operation on target PL_daily_company_activity failed: failed activity: WaitForManifest")],
    ]
    stand_in.requests.clear()

    response = get_backfill(handlers, run_id)
    assert response.status_code == 200, response.get_body()
    view = body_of(response)
    assert (view["run_id"], view["status"], view["start_date"], view["end_date"]) == (
        run_id, "InProgress", days_ago(3), days_ago(1))
    by_date = {row["date"]: row for row in view["dates"]}
    committed = by_date[days_ago(3)]["bronze"]
    assert committed["committed"] is True and committed["record_count"] > 0 and committed["run_id"]
    assert by_date[days_ago(2)]["bronze"]["committed"] is False
    assert by_date[days_ago(3)]["load"] == {"state": "succeeded", "pipeline_run_id": "child-1", "error": None}
    assert by_date[days_ago(2)]["load"]["state"] == "failed"
    assert "WaitForManifest" in by_date[days_ago(2)]["load"]["error"]
    assert by_date[days_ago(1)]["load"] == {"state": "queued", "pipeline_run_id": None, "error": None}
    assert view["failed_dates"] == [days_ago(2)] and view["bronze_committed"] == 1
    # The exact reads: Pipeline Runs - Get, then Query By Pipeline Run filtered on the per-date activity, 2 pages.
    get, *queries = stand_in.requests
    assert (get.method, get.path) == ("GET", f"{FACTORY}/pipelineruns/{run_id}")
    assert [(q.method, q.path) for q in queries] == [("POST", f"{FACTORY}/pipelineruns/{run_id}/queryActivityruns")] * 2
    assert queries[0].body["filters"] == [{"operand": "ActivityName", "operator": "Equals", "values": ["RunDailyLoad"]}]
    assert queries[0].body["lastUpdatedAfter"] == "2026-02-28T00:00:00.123456Z"
    assert "continuationToken" not in queries[0].body and queries[1].body["continuationToken"] == "1"

    stand_in.runs[run_id]["status"] = "Failed"  # ended: a date that never started was not run
    view = body_of(get_backfill(handlers, run_id))
    assert {r["date"]: r["load"]["state"] for r in view["dates"]}[days_ago(1)] == "not run"
    assert view["failed_dates"] == [days_ago(2), days_ago(1)]


@pytest.mark.parametrize(("run_id", "setup", "status", "fragment", "logged"), [
    ("not-a-guid", None, 400, "run_id must be a Data Factory run id", None),
    ("00000000-0000-0000-0000-0000000000aa", None, 404, "no pipeline run", "does not exist (404)"),
    ("00000000-0000-0000-0000-0000000000bb", "daily", 404, "is not a backfill run",
     "is a run of PL_daily_company_activity, not of"),
    ("00000000-0000-0000-0000-0000000000ee", "no-dates", 502, "has no valid date range",
     "has no valid startDate parameter (got None)"),
    ("00000000-0000-0000-0000-0000000000cc", 403, 502, "cannot read the run", "no permission on the factory (403)"),
    ("00000000-0000-0000-0000-0000000000dd", 429, 503, "cannot read the run", "throttling"),
])
def test_status_errors(handlers: dict[str, Callable[..., Any]], arm: tuple[ArmStandIn, RecordingCredential],
                       run_id: str, setup: Any, status: int, fragment: str, logged: str | None,
                       caplog: pytest.LogCaptureFixture) -> None:
    stand_in, _ = arm
    if setup == "daily":
        stand_in.runs[run_id] = {"runId": run_id, "pipelineName": "PL_daily_company_activity", "status": "Succeeded",
                                 "parameters": {"runDate": str(date(2026, 1, 1))}}
    elif setup == "no-dates":
        stand_in.runs[run_id] = {"runId": run_id, "pipelineName": "PL_backfill_company_activity",
                                 "status": "Succeeded", "parameters": {}}
    elif isinstance(setup, int):
        stand_in.fail_next(setup, count=3, retry_after="0")
    response = get_backfill(handlers, run_id)
    assert response.status_code == status
    body = body_of(response)
    assert fragment in json.dumps(body)
    if logged is not None:  # the detail is in the log under the answer's correlation id, not in the answer
        assert logged not in json.dumps(body) and "rg-ca-dev" not in json.dumps(body)
        assert any(body["correlation_id"] in r.getMessage() and logged in r.getMessage() for r in caplog.records)


def test_status_when_the_load_is_switched_off(handlers: dict[str, Callable[..., Any]],
                                              arm: tuple[ArmStandIn, RecordingCredential],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKFILL_LOAD_ENABLED", "false")
    runtime.reset()
    response = get_backfill(handlers, "00000000-0000-0000-0000-000000000001")
    assert response.status_code == 409 and "GET /api/ingestions" in body_of(response)["error"]
    response, out = post(handlers, backfill_body())
    assert response.status_code == 202 and body_of(response)["load"]["enabled"] is False and len(out.value) == 3
    assert arm[0].requests == []


class BrokenCredential:
    """A credential with a bug: a ValueError that has nothing to do with the request."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise ValueError("a bug in the token source")


def test_status_never_answers_404_for_a_bug(handlers: dict[str, Callable[..., Any]],
                                            arm: tuple[ArmStandIn, RecordingCredential],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Only "not a backfill run" is a 404; any other error reaches the host (which logs it and answers 500)
    instead of telling the caller that the run does not exist."""
    monkeypatch.setattr(load, "credential_factory", BrokenCredential)
    load.reset()
    with pytest.raises(ValueError, match="a bug in the token source"):
        get_backfill(handlers, "00000000-0000-0000-0000-000000000001")
