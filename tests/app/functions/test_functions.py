"""The registered Functions handlers, called in-process with real HttpRequest/QueueMessage/TimerRequest objects,
against the simulator and Azurite (settings from the environment, exactly as the host provides them)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from company_activity.functions import runtime
from company_activity.ingest import bronze
from company_activity.ingest.backfill import RequestInvalid, parse_backfill_message
from company_activity_local.services.simulator import UsageApiSimulator
from company_activity_local.services.usage_data import expected_day
from tests.support.functions_fixtures import (
    MAX_DAYS,
    YESTERDAY,
    body_of,
    container_of,
    days_ago,
    get_status,
    post,
)

# ------------------------------------------------------------------------------------------ POST /backfill

BAD_BODIES = [
    (b"", "body", ""),
    (b"not json", "body", "must be a JSON object"),
    (b"\xff\xfe\x00garbage", "body", "must be a JSON object"),
    (b"[1, 2]", "body", "got list"),
    (b'"2026-01-01"', "body", "got str"),
    (b"null", "body", "got NoneType"),
    (b"[" * 100_000, "body", ""),
    (b'{"start_date": 1' + b"0" * 5000 + b', "end_date": "2026-01-01"}', "body", ""),
    (b'{"start_date": 1e999, "end_date": "2026-01-01"}', "start_date", "inf"),
    (b'{"end_date": "2026-01-01"}', "start_date", "required"),
    (b'{"start_date": "2026-01-01"}', "end_date", "required"),
    (b'{"start_date": "2026/01/01", "end_date": "2026-01-02"}', "start_date", "'2026/01/01'"),
    (b'{"start_date": "2026-02-30", "end_date": "2026-03-02"}', "start_date", "not a calendar date"),
    (b'{"start_date": 20260101, "end_date": "2026-01-02"}', "start_date", "20260101"),
    (b'{"start_date": "2026-01-05", "end_date": "2026-01-02"}', "start_date", "after end_date"),
    (b'{"start_date": "2026-01-01", "end_date": "2026-01-02", "force": "true"}', "force", "'true'"),
    (b'{"start_date": "2026-01-01", "end_date": "2026-01-02", "force": 1}', "force", "int 1"),
    (b'{"start_date": "2026-01-01", "end_date": "2026-01-02", "force": null}', "force", "None"),
    (b'{"start_date": "2026-01-01", "end_date": "2026-01-02", "forse": true}', "forse",
     "valid fields are start_date, end_date, force"),
]


@pytest.mark.parametrize(("body", "field", "detail"), BAD_BODIES)
def test_backfill_rejects_bad_input_with_a_400_naming_the_field(
    handlers: dict[str, Callable[..., Any]], app_env: dict[str, str], body: bytes, field: str, detail: str
) -> None:
    response, out = post(handlers, body)
    assert response.status_code == 400
    errors = body_of(response)["errors"]
    assert field in [e["field"] for e in errors]
    assert detail in json.dumps(errors)
    assert all(len(e["value"]) <= 80 for e in errors)  # values are echoed, never whole
    assert out.value is None


def test_backfill_rejects_future_dates_and_too_long_ranges(
    handlers: dict[str, Callable[..., Any]], app_env: dict[str, str]
) -> None:
    today = (YESTERDAY + timedelta(days=1)).isoformat()
    response, _ = post(handlers, json.dumps({"start_date": days_ago(2), "end_date": today}).encode())
    assert response.status_code == 400
    assert body_of(response)["errors"][0]["field"] == "end_date" and "after yesterday" in response.get_body().decode()
    response, _ = post(handlers, json.dumps({"start_date": days_ago(MAX_DAYS + 1), "end_date": days_ago(1)}).encode())
    assert response.status_code == 400 and "BACKFILL_MAX_DAYS" in response.get_body().decode()
    response, out = post(handlers, json.dumps({"start_date": days_ago(MAX_DAYS), "end_date": days_ago(1)}).encode())
    assert response.status_code == 202 and len(out.value) == MAX_DAYS


def test_backfill_enqueues_one_message_per_date_and_skips_committed_dates(
    handlers: dict[str, Callable[..., Any]], app_env: dict[str, str]
) -> None:
    committed = date.fromisoformat(days_ago(2))
    handlers["backfill_worker"](func.QueueMessage(body=json.dumps({"date": committed.isoformat()}).encode()))
    body = json.dumps({"start_date": days_ago(3), "end_date": days_ago(1)}).encode()

    response, out = post(handlers, body)
    assert response.status_code == 202
    assert body_of(response) == {"enqueued": [days_ago(3), days_ago(1)], "skipped_already_committed": [days_ago(2)],
                                 "load": {"enabled": False, "started": False, "message": "BACKFILL_LOAD_ENABLED is "
                                          "false: only bronze is ingested; load it from elsewhere"}}
    messages = [parse_backfill_message(m, yesterday=YESTERDAY) for m in out.value]
    assert [(m.date.isoformat(), m.force) for m in messages] == [(days_ago(3), False), (days_ago(1), False)]

    response, out = post(handlers, json.dumps({"start_date": days_ago(3), "end_date": days_ago(1),
                                               "force": True}).encode())
    assert response.status_code == 202 and body_of(response)["skipped_already_committed"] == []
    assert [json.loads(m) for m in out.value] == [{"date": days_ago(n), "force": True} for n in (3, 2, 1)]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
    | st.dates().map(date.isoformat),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
FIELDS = st.sampled_from(["start_date", "end_date", "force"]) | st.text(max_size=12)
NEAR_DATES = st.dates(min_value=YESTERDAY - timedelta(days=40), max_value=YESTERDAY + timedelta(days=3)).map(
    date.isoformat
)
BODIES = st.one_of(
    st.binary(max_size=300),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(FIELDS, JSON_VALUES | NEAR_DATES, max_size=5).map(lambda d: json.dumps(d).encode()),
    st.fixed_dictionaries({"start_date": NEAR_DATES, "end_date": NEAR_DATES},
                          optional={"force": JSON_VALUES}).map(lambda d: json.dumps(d).encode()),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES)
def test_backfill_never_answers_5xx_to_any_body(
    handlers: dict[str, Callable[..., Any]], app_env: dict[str, str], body: bytes
) -> None:
    response, out = post(handlers, body)
    event(f"HTTP {response.status_code}")  # --hypothesis-show-statistics: both outcomes are reached
    assert response.status_code in (202, 400)
    answer = body_of(response)
    if response.status_code == 400:
        assert answer["errors"] and all(isinstance(e["field"], str) and e["message"] for e in answer["errors"])
        assert out.value is None
    else:
        assert len(out.value or []) == len(answer["enqueued"])


@pytest.mark.parametrize(("missing", "named"), [("USAGE_API_KEY", "USAGE_API_KEY"),
                                                 ("STORAGE_CONNECTION_STRING", "STORAGE_CONNECTION_STRING")])
def test_a_misconfigured_app_answers_500_naming_only_the_setting(
    handlers: dict[str, Callable[..., Any]], app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, missing: str, named: str
) -> None:
    monkeypatch.delenv(missing)
    runtime.reset()
    response, _ = post(handlers, b'{"start_date": "2026-01-01", "end_date": "2026-01-01"}')
    assert response.status_code == 500
    assert body_of(response) == {"error": f"server misconfigured: {named}"}
    assert get_status(handlers, start_date=days_ago(1), end_date=days_ago(1)).status_code == 500
    with pytest.raises(runtime.Misconfigured, match=named):
        handlers["backfill_worker"](func.QueueMessage(body=b'{"date": "2026-01-01"}'))
    assert any(named in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


# --------------------------------------------------------------------------------------- GET /ingestions


def test_status_lists_each_date_with_its_commit(handlers: dict[str, Callable[..., Any]],
                                                app_env: dict[str, str]) -> None:
    day = date.fromisoformat(days_ago(2))
    handlers["backfill_worker"](func.QueueMessage(body=json.dumps({"date": day.isoformat()}).encode()))
    manifest = bronze.read_manifest(container_of(app_env), day)
    assert manifest is not None

    response = get_status(handlers, start_date=days_ago(3), end_date=days_ago(1), code="function-key")
    assert response.status_code == 200
    answer = body_of(response)
    assert (answer["committed"], answer["missing"]) == (1, 2)
    assert [d["date"] for d in answer["days"]] == [days_ago(3), days_ago(2), days_ago(1)]
    assert [d["committed"] for d in answer["days"]] == [False, True, False]
    assert answer["days"][1] == {
        "date": day.isoformat(), "committed": True, "record_count": manifest.record_count,
        "rejected_count": 0, "run_id": manifest.run_id, "committed_at": bronze.format_instant(manifest.committed_at),
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "start_date"),
        ({"start_date": "2026-01-01"}, "end_date"),
        ({"start_date": "yesterday", "end_date": "2026-01-01"}, "start_date"),
        ({"start_date": "2026-01-02", "end_date": "2026-01-01"}, "start_date"),
        ({"start_date": "2026-01-01", "end_date": "2026-01-01", "limit": "5"}, "limit"),
        ({"start_date": "2020-01-01", "end_date": "2026-01-01"}, "end_date"),
    ],
)
def test_status_rejects_bad_parameters_with_a_400(handlers: dict[str, Callable[..., Any]], app_env: dict[str, str],
                                                  params: dict[str, str], field: str) -> None:
    response = get_status(handlers, **params)
    assert response.status_code == 400
    assert field in [e["field"] for e in body_of(response)["errors"]]


# ------------------------------------------------------------------------------------------ queue worker


def test_worker_ingests_skips_committed_dates_and_forces(handlers: dict[str, Callable[..., Any]],
                                                        app_env: dict[str, str], usage_api: UsageApiSimulator) -> None:
    day = date.fromisoformat(days_ago(5))
    container = container_of(app_env)
    worker = handlers["backfill_worker"]
    worker(func.QueueMessage(body=json.dumps({"date": day.isoformat(), "force": False}).encode()))
    first = bronze.read_manifest(container, day)
    assert first is not None
    assert list(bronze.iter_committed_records(container, day)) == list(
        expected_day(day, usage_api.config.companies, usage_api.config.seed)
    )
    worker(func.QueueMessage(body=json.dumps({"date": day.isoformat(), "force": False}).encode()))
    assert bronze.read_manifest(container, day) == first  # already committed: skipped
    worker(func.QueueMessage(body=json.dumps({"date": day.isoformat(), "force": True}).encode()))
    forced = bronze.read_manifest(container, day)
    assert forced is not None and forced.run_id != first.run_id


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "message"),
        (b"[]", "message"),
        (b'{"force": true}', "date"),
        (b'{"date": "2026-13-01"}', "date"),
        (b'{"date": "2999-01-01"}', "date"),
        (b'{"date": "2026-01-01", "force": "yes"}', "force"),
        (b'{"date": "2026-01-01", "priority": 1}', "priority"),
    ],
)
def test_worker_raises_on_a_malformed_message_so_it_ends_in_the_poison_queue(
    handlers: dict[str, Callable[..., Any]], app_env: dict[str, str], caplog: pytest.LogCaptureFixture,
    body: bytes, field: str
) -> None:
    with pytest.raises(RequestInvalid) as raised:
        handlers["backfill_worker"](func.QueueMessage(id="m-1", body=body))
    assert field in [e.field for e in raised.value.errors]
    logged = [r for r in caplog.records if r.levelno == logging.ERROR and "malformed backfill message m-1" in
              r.getMessage()]
    assert logged and "poison queue" in logged[0].getMessage()


def test_worker_raises_when_the_ingestion_fails(handlers: dict[str, Callable[..., Any]], app_env: dict[str, str],
                                               usage_api_factory: Callable[..., UsageApiSimulator],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    broken = usage_api_factory("404@2-999", companies=3000)
    monkeypatch.setenv("USAGE_API_BASE_URL", broken.base_url)
    runtime.reset()
    day = days_ago(4)
    with pytest.raises(runtime.IngestionFailed, match="NOT committed: usage API"):
        handlers["backfill_worker"](func.QueueMessage(body=json.dumps({"date": day}).encode()))
    assert bronze.read_manifest(container_of(app_env), date.fromisoformat(day)) is None


# ------------------------------------------------------------------------------------------------- timer


def test_timer_ingests_yesterday_and_logs_past_due(handlers: dict[str, Callable[..., Any]], app_env: dict[str, str],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    handlers["daily_ingest"](TimerRequest(past_due=True))
    manifest = bronze.read_manifest(container_of(app_env), YESTERDAY)
    assert manifest is not None and manifest.record_count > 0
    assert any("past due" in r.getMessage() for r in caplog.records)
