"""The local usage-API simulator: its pure data model, fault spec, HTTP behaviour and CLI."""

from __future__ import annotations

import datetime
import os
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from company_activity.ingest.usage_api import DayRecordValidator, RetryPolicy, UsageApiClient, UsageApiError
from company_activity.settings import Secret
from company_activity_local.cli import main
from company_activity_local.services.processes import Process, free_port
from company_activity_local.services.simulator import (
    DEFAULT_API_KEY,
    FaultSpecError,
    SimulatorConfig,
    SimulatorError,
    UsageApiSimulator,
    parse_faults,
)
from company_activity_local.services.usage_data import (
    CORRUPTIONS,
    NEW_COMPANY_EPOCH,
    Dataset,
    UsageDataError,
    company_ids_active,
    expected_day,
    expected_valid_day,
)

DAY = datetime.date(2024, 5, 1)
Factory = Callable[..., UsageApiSimulator]


# -- the pure data model ---------------------------------------------------------------------------------

def test_data_is_deterministic_per_seed_and_date() -> None:
    assert list(expected_day(DAY, 500, 1)) == list(expected_day(DAY, 500, 1))
    assert list(expected_day(DAY, 500, 1)) != list(expected_day(DAY, 500, 2))
    next_day = [r["company_id"] for r in expected_day(DAY + datetime.timedelta(days=1), 500, 1)]
    assert [r["company_id"] for r in expected_day(DAY, 500, 1)] != next_day


def test_records_follow_the_contract() -> None:
    records = list(expected_day(DAY, 3000, 5))
    ids = [r["company_id"] for r in records]
    assert ids == sorted(set(ids)) and all(re.fullmatch(r"c\d{6}", i) for i in ids)
    # 8% absent on a day; 10% are new companies, of which ~1/6 are active by May 2024: 0.92 * 0.917 ~ 84%.
    assert 0.80 * 3000 < len(records) < 0.88 * 3000
    validator = DayRecordValidator(DAY)
    assert all(validator.check(r, 0) is None for r in records)
    assert all(r["events"] >= r["active_users"] for r in records)
    assert {r["plan"] for r in records} == {"free", "pro", "enterprise"}


def test_a_company_id_set_is_the_active_companies() -> None:
    ids = [r["company_id"] for r in expected_day(DAY, 800, 3)]
    assert list(company_ids_active(DAY, 800, 3)) == ids


def test_new_companies_appear_over_time_and_are_absent_before() -> None:
    dataset = Dataset(2000, 11)
    firsts = {i: dataset.first_active(i) for i in range(2000)}
    new = {i: first for i, first in firsts.items() if first is not None}
    assert 100 < len(new) < 300
    assert all(NEW_COMPANY_EPOCH <= first < NEW_COMPANY_EPOCH + datetime.timedelta(days=730) for first in new.values())
    for index, first in list(new.items())[:40]:
        assert not dataset.is_active(first - datetime.timedelta(days=1), index)
    early = set(company_ids_active(datetime.date(2024, 1, 1), 2000, 11))
    late = set(company_ids_active(datetime.date(2025, 12, 31), 2000, 11))
    assert len({f"c{i:06d}" for i in new} & early) < len({f"c{i:06d}" for i in new} & late)


@pytest.mark.parametrize("limit", [1, 7, 333, 10_000])
def test_pages_concatenate_to_the_day_for_any_limit(limit: int) -> None:
    dataset = Dataset(700, 9, invalid_share=0.05)
    records: list[Any] = []
    start: int | None = 0
    while start is not None:
        page, start = dataset.page(DAY, start, limit)
        assert 0 < len(page) <= limit  # never an empty trailing page
        records += page
    assert records == list(dataset.records(DAY))


def test_corruptions_are_deterministic_varied_and_rejected() -> None:
    dataset = Dataset(4000, 2, invalid_share=0.03)
    corrupted = dict(dataset.corrupted(DAY))
    assert set(corrupted.values()) == set(CORRUPTIONS)
    assert 0.015 * 4000 < len(corrupted) < 0.045 * 4000
    validator = DayRecordValidator(DAY)
    kept = [r for r in dataset.records(DAY) if validator.check(r, 0) is None]
    assert kept == list(expected_valid_day(DAY, 4000, 2, 0.03))
    assert validator.rejected == len(corrupted)
    assert list(Dataset(4000, 2).corrupted(DAY)) == []


def test_dataset_rejects_bad_parameters() -> None:
    with pytest.raises(UsageDataError, match="companies must be >= 0, got -1"):
        Dataset(-1)
    with pytest.raises(UsageDataError, match=r"invalid_share must be between 0 and 1, got 1\.5"):
        Dataset(5, invalid_share=1.5)


# -- the fault spec --------------------------------------------------------------------------------------

def test_the_documented_example_parses() -> None:
    plan = parse_faults("429@1:retry_after=2,503@2,reset@3,slow@4:seconds=3,truncate@5,invalid@0.02")
    assert plan.invalid_share == 0.02
    assert [(f.kind, f.first, f.last) for f in plan.faults] == [
        ("429", 1, 1), ("503", 2, 2), ("reset", 3, 3), ("slow", 4, 4), ("truncate", 5, 5)
    ]
    assert plan.fault_for(1).retry_after == 2 and plan.fault_for(4).seconds == 3.0  # type: ignore[union-attr]
    assert plan.fault_for(6) is None


def test_ranges_and_star() -> None:
    plan = parse_faults(" 500@2-4 , shape@5:field=data, 503@7-7, reset@9, loop@10, 302@11 ")
    kinds = [getattr(plan.fault_for(k), "kind", None) for k in range(1, 13)]
    assert kinds == [None, "500", "500", "500", "shape", None, "503", None, "reset", "loop", "302", None]
    assert getattr(parse_faults("503@*").fault_for(10**6), "kind", None) == "503"
    assert parse_faults("") == parse_faults(" , ")


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("bogus@1", "fault 'bogus@1': unknown kind 'bogus'"),
        ("503", "fault '503': expected KIND@WHEN"),
        ("200@1", "unknown kind '200'"),
        ("503@0", "fault '503@0': WHEN '0' must be a request number"),
        ("503@x", "WHEN 'x'"),
        ("503@3-2", "WHEN '3-2'"),
        ("429@1:retry_after=x", "retry_after must be a whole number of seconds >= 0, got 'x'"),
        ("429@1:retry_after=1.5", "got '1.5'"),
        ("slow@1:seconds=-1", "seconds must be a number > 0, got '-1'"),
        ("slow@1:seconds", "parameter 'seconds' must be key=value"),
        ("shape@1", "shape needs field=one of body, data, date, next_cursor, got None"),
        ("shape@1:field=foo", "got 'foo'"),
        ("503@1:retry_after=1", "unknown parameter 'retry_after' for 503"),
        ("reset@1:seconds=2", "unknown parameter 'seconds' for reset"),
        ("invalid@2", "invalid@P needs a share P between 0 and 1, got '2'"),
        ("invalid@x", "got 'x'"),
        ("invalid@0.1:x=1", "invalid takes no parameters"),
        ("503@1-3,500@3", "fault '500@3' overlaps '503@1-3'"),
        ("503@*,reset@100", "overlaps"),
    ],
)
def test_bad_fault_specs_name_the_token(spec: str, error: str) -> None:
    with pytest.raises(FaultSpecError) as failure:
        parse_faults(spec)
    assert error in str(failure.value)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])
def test_non_loopback_hosts_are_refused(host: str) -> None:
    with pytest.raises(SimulatorError, match=f"host must be a loopback address.*got {re.escape(repr(host))}"):
        SimulatorConfig(host=host)


def test_loopback_spellings_are_accepted() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1"):
        assert SimulatorConfig(host=host).host == host


# -- HTTP behaviour --------------------------------------------------------------------------------------

def _get(sim: UsageApiSimulator, params: dict[str, str], key: str | None = DEFAULT_API_KEY,
         path: str = "/v1/usage/daily") -> requests.Response:
    headers = {"X-API-Key": key} if key is not None else {}
    return requests.get(sim.base_url + path, params=params, headers=headers, timeout=10)


@pytest.mark.parametrize(
    ("params", "key", "path", "status", "error"),
    [
        ({"date": "2024-05-01"}, None, "/v1/usage/daily", 401, "missing X-API-Key header"),
        ({"date": "2024-05-01"}, "nope", "/v1/usage/daily", 401, "invalid API key in X-API-Key"),
        ({"date": "2024-05-01"}, DEFAULT_API_KEY, "/v1/usage/weekly", 404, "no such resource: /v1/usage/weekly"),
        ({}, DEFAULT_API_KEY, "/v1/usage/daily", 400, "date must be YYYY-MM-DD, got ''"),
        ({"date": "20240501"}, DEFAULT_API_KEY, "/v1/usage/daily", 400, "date must be YYYY-MM-DD, got '20240501'"),
        ({"date": "2024-02-30"}, DEFAULT_API_KEY, "/v1/usage/daily", 400, "date is not a calendar date: '2024-02-30'"),
        ({"date": "2024-05-01", "limit": "0"}, DEFAULT_API_KEY, "/v1/usage/daily", 400, "from 1 to 10000, got '0'"),
        ({"date": "2024-05-01", "limit": "10001"}, DEFAULT_API_KEY, "/v1/usage/daily", 400, "got '10001'"),
        ({"date": "2024-05-01", "limit": "ten"}, DEFAULT_API_KEY, "/v1/usage/daily", 400, "got 'ten'"),
        ({"date": "2024-05-01", "cursor": "garbage!"}, DEFAULT_API_KEY, "/v1/usage/daily", 400,
         "cursor 'garbage!' is not a cursor of date 2024-05-01"),
        ({"date": "2024-05-01", "page": "2"}, DEFAULT_API_KEY, "/v1/usage/daily", 400,
         "unknown query parameter 'page'"),
    ],
)
def test_requests_outside_the_contract_get_json_errors(
    usage_api_factory: Factory, params: dict[str, str], key: str | None, path: str, status: int, error: str
) -> None:
    sim = usage_api_factory()
    response = _get(sim, params, key, path)
    assert response.status_code == status and list(response.json()) == ["error"]
    assert error in response.json()["error"]
    assert sim.requests_for(DAY) == 0 and sim.status_counts[status] == 1


def test_a_cursor_only_works_for_its_own_date_and_data_set(usage_api_factory: Factory) -> None:
    sim = usage_api_factory(companies=300, seed=7)
    other = usage_api_factory(companies=300, seed=8)
    cursor = _get(sim, {"date": "2024-05-01", "limit": "10"}).json()["next_cursor"]
    assert _get(sim, {"date": "2024-05-01", "limit": "10", "cursor": cursor}).status_code == 200
    assert _get(sim, {"date": "2024-05-02", "limit": "10", "cursor": cursor}).status_code == 400
    assert _get(other, {"date": "2024-05-01", "limit": "10", "cursor": cursor}).status_code == 400


def test_the_served_page_is_the_contract_shape(usage_api_factory: Factory) -> None:
    sim = usage_api_factory(companies=50)
    response = _get(sim, {"date": "2024-05-01"})
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body == {"date": "2024-05-01", "data": list(expected_day(DAY, 50, 7)), "next_cursor": None}


def test_faults_count_requests_per_date(usage_api_factory: Factory) -> None:
    sim = usage_api_factory("503@1,429@2:retry_after=1")
    params = {"date": "2024-05-01"}
    assert [_get(sim, params).status_code for _ in range(3)] == [503, 429, 200]
    assert _get(sim, {"date": "2024-05-02"}).status_code == 503  # its own first request
    assert sim.requests_for(DAY) == 3 and sim.requests_for(DAY + datetime.timedelta(days=1)) == 1
    assert sim.faults_fired == {"503": 2, "429": 1}
    sim.reset_counters()
    assert _get(sim, params).status_code == 503


def test_429_sends_retry_after_and_redirects_point_nowhere(usage_api_factory: Factory) -> None:
    sim = usage_api_factory("429@1:retry_after=1,301@2")
    assert _get(sim, {"date": "2024-05-01"}).headers["Retry-After"] == "1"
    moved = requests.get(sim.base_url + "/v1/usage/daily", params={"date": "2024-05-01"},
                         headers={"X-API-Key": DEFAULT_API_KEY}, allow_redirects=False, timeout=10)
    assert moved.status_code == 301 and moved.headers["Location"].startswith("http://redirect-target.invalid/")


def test_truncate_sends_a_complete_response_with_half_a_body(usage_api_factory: Factory) -> None:
    sim = usage_api_factory("truncate@1", companies=100)
    cut, whole = _get(sim, {"date": "2024-05-01"}).content, _get(sim, {"date": "2024-05-01"}).content
    assert whole.startswith(cut) and len(cut) == len(whole) // 2


def test_reset_aborts_the_connection(usage_api_factory: Factory) -> None:
    sim = usage_api_factory("reset@1")
    with pytest.raises(requests.ConnectionError, match=r"reset|aborted"):
        _get(sim, {"date": "2024-05-01"})
    assert _get(sim, {"date": "2024-05-01"}).status_code == 200


def test_invalid_share_serves_the_corrupted_ground_truth(usage_api_factory: Factory) -> None:
    sim = usage_api_factory("invalid@0.1", companies=400)
    assert _get(sim, {"date": "2024-05-01"}).json()["data"] == list(expected_day(DAY, 400, 7, 0.1))


def test_a_stalled_response_is_released_when_the_simulator_stops() -> None:
    sim = UsageApiSimulator(SimulatorConfig.parse(faults="slow@1:seconds=600")).start()
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(_get(sim, {"date": "2024-05-01"}).status_code)
        except requests.RequestException as exc:
            outcome.append(type(exc))

    caller = threading.Thread(target=call)
    caller.start()
    while sim.requests_for(DAY) == 0 and caller.is_alive():
        threading.Event().wait(0.01)
    sim.stop()
    caller.join(timeout=30)
    assert not caller.is_alive() and outcome


def test_stop_closes_idle_keep_alive_connections(usage_api_factory: Factory) -> None:
    sim = usage_api_factory()
    session = requests.Session()
    session.get(sim.base_url + "/v1/usage/daily", params={"date": "2024-05-01"},
                headers={"X-API-Key": DEFAULT_API_KEY}, timeout=10)
    sim.stop()
    assert not sim.running
    with pytest.raises(SimulatorError, match="not running"):
        _ = sim.base_url
    session.close()


# -- the CLI ---------------------------------------------------------------------------------------------

CLI = [sys.executable, "-c", "import sys; from company_activity_local.cli import main; sys.exit(main())"]


def test_simulate_api_serves_until_terminated() -> None:
    port = free_port()
    key = "cli-test-key"
    process = Process("simulate-api", [*CLI, "simulate-api", "--port", str(port), "--companies", "1500",
                                       "--seed", "3", "--faults", "503@1,invalid@0.01"],
                      ports=[port], env={**os.environ, "USAGE_API_KEY": key})
    process.start()
    try:
        policy = RetryPolicy(backoff_initial_s=0.001, backoff_max_s=0.001)
        with UsageApiClient(f"http://127.0.0.1:{port}", Secret(key), page_size=400, retry=policy) as api:
            records = [r for page in api.iter_pages(DAY) for r in page.records]
        assert records == list(expected_day(DAY, 1500, 3, 0.01)) and api.stats.retries == 1
        with UsageApiClient(f"http://127.0.0.1:{port}", Secret(DEFAULT_API_KEY), retry=policy) as wrong, \
                pytest.raises(UsageApiError, match="HTTP 401"):
            list(wrong.iter_pages(DAY))
    finally:
        process.stop()
    output = Path(process.log_path).read_text()
    assert f"usage API simulator on http://127.0.0.1:{port}/v1/usage/daily" in output
    assert "stopped after" in output and key not in output


def test_the_simulator_key_is_never_a_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate-api", "--api-key", "k3y-on-the-command-line"]) == 2
    err = capsys.readouterr().err
    assert "--api-key was removed" in err and "USAGE_API_KEY" in err and "k3y-on-the-command-line" not in err


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--host", "0.0.0.0"], "host must be a loopback address"),
        (["--faults", "503@1,teapot@2"], "fault 'teapot@2': unknown kind 'teapot'"),
        (["--companies", "-5"], "companies must be >= 0, got -5"),
        (["--port", "70000"], "port must be between 0 and 65535, got 70000"),
    ],
)
def test_simulate_api_refuses_bad_options(capsys: pytest.CaptureFixture[str], argv: list[str], error: str) -> None:
    assert main(["simulate-api", *argv]) == 2
    assert error in capsys.readouterr().err

