"""The usage API client against the real local simulator over loopback HTTP, and the record validator."""

from __future__ import annotations

import datetime
import http.server
import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any

import pytest
import requests

from company_activity.ingest.usage_api import (
    DayRecordValidator,
    RetryPolicy,
    UsageApiClient,
    UsageApiError,
    UsageApiUnavailable,
    _retry_after_s,
)
from company_activity.settings import Secret, UsageApiSettings
from company_activity_local.services.simulator import UsageApiSimulator
from company_activity_local.services.usage_data import Dataset, expected_day

DAY = datetime.date(2024, 5, 1)
Factory = Callable[..., UsageApiSimulator]


def client(sim: UsageApiSimulator, *, key: str | None = None, **options: Any) -> UsageApiClient:
    return UsageApiClient(sim.base_url, Secret(key if key is not None else sim.api_key), **options)


def fetch_all(api: UsageApiClient, day: datetime.date = DAY) -> list[Any]:
    return [record for page in api.iter_pages(day) for record in page.records]


def expected(sim: UsageApiSimulator, day: datetime.date = DAY) -> list[dict[str, Any]]:
    config = sim.config
    return list(expected_day(day, config.companies, config.seed, config.faults.invalid_share))


# -- happy path ------------------------------------------------------------------------------------------

def test_pages_concatenate_to_the_ground_truth(usage_api: UsageApiSimulator) -> None:
    with client(usage_api, page_size=700) as api:
        pages = list(api.iter_pages(DAY))
    truth = expected(usage_api)
    assert [record for page in pages for record in page.records] == truth
    assert [page.number for page in pages] == list(range(len(pages)))
    assert all(len(page.records) == 700 for page in pages[:-1]) and 0 < len(pages[-1].records) <= 700
    assert len(pages) == -(-len(truth) // 700)
    assert [page.next_cursor is None for page in pages] == [False] * (len(pages) - 1) + [True]
    assert api.stats.pages == len(pages) and api.stats.records == len(truth) and api.stats.retries == 0
    assert api.stats.body_bytes == sum(page.body_bytes for page in pages) > 0


def test_extra_fields_arrive_untouched(usage_api: UsageApiSimulator) -> None:
    with client(usage_api) as api:
        first = next(iter(api.iter_pages(DAY))).records[0]
    assert set(first) == {"company_id", "date", "active_users", "events", "plan"}


def test_days_differ_and_each_matches_its_truth(usage_api: UsageApiSimulator) -> None:
    other = DAY + datetime.timedelta(days=200)
    with client(usage_api, page_size=10_000) as api:
        first, second = fetch_all(api, DAY), fetch_all(api, other)
    assert first == expected(usage_api, DAY) and second == expected(usage_api, other)
    assert first != [dict(r, date=DAY.isoformat()) for r in second]


def test_one_page_when_the_day_fits_exactly(usage_api_factory: Factory) -> None:
    sim = usage_api_factory(companies=120)
    size = len(expected(sim))
    with client(sim, page_size=size) as api:
        pages = list(api.iter_pages(DAY))
    assert len(pages) == 1 and pages[0].next_cursor is None and len(pages[0].records) == size
    assert sim.requests_for(DAY) == 1


def test_an_empty_day_is_one_empty_page(usage_api_factory: Factory) -> None:
    sim = usage_api_factory(companies=0)
    with client(sim) as api:
        pages = list(api.iter_pages(DAY))
    assert [(p.number, p.records, p.next_cursor) for p in pages] == [(0, [], None)]


def test_pages_share_one_kept_alive_connection(usage_api_factory: Factory) -> None:
    sim = usage_api_factory(companies=1000)
    with client(sim, page_size=100) as api:
        assert len(list(api.iter_pages(DAY))) >= 8
    assert sim.connections_opened == 1


def test_from_settings_uses_url_key_page_size_and_timeout(usage_api: UsageApiSimulator) -> None:
    settings = UsageApiSettings.from_env({
        "USAGE_API_BASE_URL": usage_api.base_url + "/",
        "USAGE_API_KEY": usage_api.api_key,
        "USAGE_API_PAGE_SIZE": "900",
        "USAGE_API_TIMEOUT_S": "7.5",
    })
    with UsageApiClient.from_settings(settings, RetryPolicy(max_attempts=2)) as api:
        assert (api.page_size, api.timeout_s, api.retry.max_attempts) == (900, 7.5, 2)
        pages = list(api.iter_pages(DAY))
    assert len(pages[0].records) == 900
    assert [r for p in pages for r in p.records] == expected(usage_api)


# -- retried faults --------------------------------------------------------------------------------------

def test_429_waits_exactly_its_retry_after(usage_api_factory: Factory, fast_retry: RetryPolicy, sleeps: Any) -> None:
    sim = usage_api_factory("429@1:retry_after=1")
    with client(sim, retry=fast_retry, sleep=sleeps) as api:
        assert fetch_all(api) == expected(sim)
    assert sleeps.waits == [1.0]
    assert api.stats.retries == 1 and sim.requests_for(DAY) == 2 and sim.status_counts[429] == 1


def test_429_without_retry_after_backs_off(usage_api_factory: Factory, fast_retry: RetryPolicy, sleeps: Any) -> None:
    sim = usage_api_factory("429@1:retry_after=0,429@2:retry_after=0")
    with client(sim, retry=fast_retry, sleep=sleeps) as api:
        assert fetch_all(api) == expected(sim)
    assert sleeps.waits == [0.0, 0.0]


def test_a_retry_after_beyond_the_policy_fails_at_once(usage_api_factory: Factory, sleeps: Any) -> None:
    sim = usage_api_factory("429@1:retry_after=60")
    with client(sim, retry=RetryPolicy(max_retry_after_s=10), sleep=sleeps) as api, \
            pytest.raises(UsageApiUnavailable, match=r"asked to wait 60s.*max_retry_after_s=10s"):
        fetch_all(api)
    assert sleeps.waits == [] and sim.requests_for(DAY) == 1


@pytest.mark.parametrize("fault", ["500@1", "502@1", "503@1", "504@1", "408@1", "reset@1", "truncate@1"])
def test_transient_failures_are_retried_with_backoff(
    usage_api_factory: Factory, fast_retry: RetryPolicy, sleeps: Any, fault: str
) -> None:
    sim = usage_api_factory(f"{fault},{fault.split('@')[0]}@3", companies=600)
    with client(sim, retry=fast_retry, sleep=sleeps, page_size=250) as api:
        assert fetch_all(api) == expected(sim)
    # Request 1 (page 0) and request 3 (page 1, first try) failed: two retries.
    assert api.stats.retries == 2 and sim.requests_for(DAY) == api.stats.requests == 2 + api.stats.pages
    assert len(sleeps.waits) == 2 and all(0 < wait <= fast_retry.backoff_max_s for wait in sleeps.waits)


def test_a_slow_response_times_out_and_is_retried(usage_api_factory: Factory, fast_retry: RetryPolicy,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    sim = usage_api_factory("slow@1:seconds=3")
    with caplog.at_level(logging.WARNING), client(sim, retry=fast_retry, timeout_s=0.25) as api:
        assert fetch_all(api) == expected(sim)
    assert api.stats.retries == 1
    assert any("no response within 0.25s" in r.getMessage() for r in caplog.records)


def test_retries_are_logged_with_status_attempt_and_wait(usage_api_factory: Factory, fast_retry: RetryPolicy,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    sim = usage_api_factory("503@1")
    with caplog.at_level(logging.WARNING, logger="company_activity"), client(sim, retry=fast_retry) as api:
        fetch_all(api)
    [record] = [r for r in caplog.records if r.name == "company_activity.ingest.usage_api"]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert "HTTP 503" in message and "attempt 1 of 6" in message and "retrying in" in message
    assert f"date={DAY.isoformat()}" in message


def test_a_refused_connection_retries_with_one_short_line_each(caplog: pytest.LogCaptureFixture) -> None:
    """Issue 21: each retry of an unreachable API printed about 400 characters of requests' exception text."""
    from company_activity_local.services.processes import free_port

    policy = RetryPolicy(max_attempts=3, backoff_initial_s=0.001, backoff_max_s=0.001)
    with caplog.at_level(logging.WARNING, logger="company_activity"), \
            UsageApiClient(f"http://127.0.0.1:{free_port()}", Secret("k"), retry=policy) as api, \
            pytest.raises(UsageApiUnavailable) as caught:
        list(api.iter_pages(DAY))
    lines = [r.getMessage() for r in caplog.records if r.name == "company_activity.ingest.usage_api"]
    assert len(lines) == 2  # attempts 1 and 2 are retried, the 3rd gives up
    for number, line in enumerate(lines, start=1):
        assert f"page 0: connection refused (attempt {number} of 3, at most 300s in all); retrying in" in line
        assert len(line) < 160 and "HTTPConnectionPool" not in line, line
    assert "Connection refused" in str(caught.value)  # the final error keeps the detail
    assert caught.value.systemic


def test_exhausted_attempts_raise_unavailable_with_the_count(
    usage_api_factory: Factory, sleeps: Any
) -> None:
    sim = usage_api_factory("503@*")
    policy = RetryPolicy(max_attempts=3, backoff_initial_s=0.001, backoff_max_s=0.001)
    with client(sim, retry=policy, sleep=sleeps) as api, pytest.raises(UsageApiUnavailable) as failure:
        fetch_all(api)
    message = str(failure.value)
    assert "gave up after 3 attempt(s)" in message and "HTTP 503" in message and DAY.isoformat() in message
    assert sim.requests_for(DAY) == 3 and len(sleeps.waits) == 2


def test_the_total_time_budget_stops_retries(usage_api_factory: Factory, sleeps: Any) -> None:
    sim = usage_api_factory("503@*")
    # The first backoff (>= 1s) would already pass the 0.5s budget: no retry at all.
    policy = RetryPolicy(max_attempts=50, max_total_s=0.5, backoff_initial_s=1.0)
    with client(sim, retry=policy, sleep=sleeps) as api, pytest.raises(UsageApiUnavailable, match="1 attempt"):
        fetch_all(api)
    assert sim.requests_for(DAY) == 1 and sleeps.waits == []


def test_a_retry_after_that_would_pass_the_budget_stops_retries(usage_api_factory: Factory, sleeps: Any) -> None:
    sim = usage_api_factory("429@*:retry_after=1")
    with client(sim, retry=RetryPolicy(max_total_s=0.9), sleep=sleeps) as api, \
            pytest.raises(UsageApiUnavailable, match="HTTP 429"):
        fetch_all(api)
    assert sim.requests_for(DAY) == 1


# -- failures that are not retried -----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("status", "setup", "text"),
    [
        (400, {"faults": "400@1"}, "injected fault 400@1"),
        (401, {"key": "not-the-key"}, "invalid API key"),
        (403, {"faults": "403@1"}, "injected fault 403@1"),
        (404, {"path": "/wrong-prefix"}, "no such resource"),
    ],
)
def test_client_errors_fail_at_once(
    usage_api_factory: Factory, fast_retry: RetryPolicy, status: int, setup: dict[str, str], text: str
) -> None:
    sim = usage_api_factory(setup.get("faults", ""))
    api = UsageApiClient(sim.base_url + setup.get("path", ""), Secret(setup.get("key", sim.api_key)),
                         retry=fast_retry)
    with api, pytest.raises(UsageApiError) as failure:
        fetch_all(api)
    message = str(failure.value)
    assert not isinstance(failure.value, UsageApiUnavailable)
    assert f"HTTP {status}" in message and "/v1/usage/daily?date=2024-05-01" in message and text in message
    assert "not retried" in message
    assert sim.requests == 1 and api.stats.retries == 0


def test_a_redirect_is_reported_not_followed(usage_api_factory: Factory, fast_retry: RetryPolicy) -> None:
    sim = usage_api_factory("302@1")
    with client(sim, retry=fast_retry) as api, pytest.raises(UsageApiError) as failure:
        fetch_all(api)
    assert "HTTP 302" in str(failure.value) and "redirect-target.invalid" in str(failure.value)
    assert sim.requests == 1


@pytest.mark.parametrize(
    ("field", "shown"),
    [
        ("body", "the body must be a JSON object, got [{"),
        ("data", "field 'data' must be a list, got {'records'"),
        ("date", "field 'date' must be '2024-05-01' (the requested date), got '2024-05-02'"),
        ("next_cursor", "field 'next_cursor' must be a non-empty string or null, got 12345"),
    ],
)
def test_a_body_of_the_wrong_shape_is_not_retried(
    usage_api_factory: Factory, fast_retry: RetryPolicy, field: str, shown: str
) -> None:
    sim = usage_api_factory(f"shape@1:field={field}")
    with client(sim, retry=fast_retry) as api, pytest.raises(UsageApiError) as failure:
        fetch_all(api)
    assert "wrong shape" in str(failure.value) and shown in str(failure.value)
    assert sim.requests_for(DAY) == 1


def test_a_cursor_loop_is_stopped(usage_api_factory: Factory, fast_retry: RetryPolicy) -> None:
    sim = usage_api_factory("loop@2", companies=600)
    with client(sim, retry=fast_retry, page_size=200) as api:
        pages = api.iter_pages(DAY)
        first = next(pages)
        with pytest.raises(UsageApiError, match=r"cursor loop for date 2024-05-01: page 1 returned next_cursor"):
            next(pages)
    assert first.next_cursor is not None and sim.requests_for(DAY) == 2


# -- the key never shows ---------------------------------------------------------------------------------

KEY = "SUPER-SECRET-usage-key-4711"


def _texts_of(exc: BaseException) -> list[str]:
    texts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    seen: BaseException | None = exc
    while seen is not None:
        texts += [repr(seen), repr(seen.args)]
        seen = seen.__cause__ or seen.__context__
    return texts


@pytest.mark.parametrize(
    ("faults", "key", "options"),
    [
        ("", "wrong-" + KEY, {}),
        ("503@*", KEY, {}),
        ("reset@*", KEY, {}),
        ("truncate@*", KEY, {}),
        ("slow@*:seconds=2", KEY, {"timeout_s": 0.2}),
        ("shape@1:field=date", KEY, {}),
        ("loop@2", KEY, {"page_size": 100}),
        ("404@1", KEY, {}),
    ],
)
def test_the_key_appears_in_no_error_repr_or_log(
    usage_api_factory: Factory, caplog: pytest.LogCaptureFixture, faults: str, key: str, options: dict[str, Any]
) -> None:
    sim = usage_api_factory(faults, api_key=KEY)
    policy = RetryPolicy(max_attempts=2, backoff_initial_s=0.001, backoff_max_s=0.001)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("urllib3").setLevel(logging.DEBUG)
        api = UsageApiClient(sim.base_url, Secret(key), retry=policy, **options)
        with api, pytest.raises(UsageApiError) as failure:
            fetch_all(api)
    assert failure.value.__cause__ is None and failure.value.__context__ is None
    logged = [r.getMessage() for r in caplog.records] + [r.exc_text or "" for r in caplog.records]
    assert any("urllib3" in r.name for r in caplog.records)  # the DEBUG capture did include urllib3
    for text in [*_texts_of(failure.value), *logged, repr(api), repr(api.stats)]:
        assert KEY not in text


# -- construction ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("args", "options", "error"),
    [
        (("ftp://host", Secret("k")), {}, "base_url must be an http"),
        (("http://user:pw@", Secret("k")), {}, "base_url must be an http"),
        (("http://host", Secret("k")), {"page_size": 0}, "page_size must be between 1 and 10000, got 0"),
        (("http://host", Secret("k")), {"page_size": 10_001}, "got 10001"),
        (("http://host", Secret("k")), {"timeout_s": 0}, "timeout_s must be > 0"),
    ],
)
def test_bad_construction_is_refused(args: tuple[Any, ...], options: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error) as failure:
        UsageApiClient(*args, **options)
    assert "pw" not in str(failure.value)


def test_a_plain_string_key_is_refused() -> None:
    with pytest.raises(TypeError, match="Secret"):
        UsageApiClient("http://host", "plain-key")  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["max_attempts", "max_total_s", "backoff_initial_s"])
def test_retry_policy_rejects_nonsense(field: str) -> None:
    with pytest.raises(ValueError, match=f"RetryPolicy.{field}"):
        RetryPolicy(**{field: -1})


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert _retry_after_s("7") == 7.0
    assert _retry_after_s(None) is None and _retry_after_s("soon") is None
    assert _retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: no wait
    future = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=120)
    assert 100 < (_retry_after_s(future.strftime("%a, %d %b %Y %H:%M:%S GMT")) or 0) <= 120


def test_a_closed_client_with_its_own_session_cannot_leak_connections(usage_api: UsageApiSimulator) -> None:
    session = requests.Session()
    with UsageApiClient(usage_api.base_url, Secret(usage_api.api_key), session=session) as api:
        fetch_all(api)
    # A session passed in belongs to the caller: still usable after the client closed.
    assert session.get(usage_api.base_url + "/v1/usage/daily", params={"date": "2024-01-01"}).status_code == 401
    session.close()


# -- record validation -----------------------------------------------------------------------------------

def _valid(**changes: Any) -> dict[str, Any]:
    record = {"company_id": "c000001", "date": "2024-05-01", "active_users": 3, "events": 10, "plan": "pro"}
    record.update(changes)
    return record


def _without(field: str) -> dict[str, Any]:
    record = _valid()
    del record[field]
    return record


def test_a_valid_record_passes_and_is_not_modified() -> None:
    record = _valid(extra={"nested": [1, 2]})
    snapshot = dict(record)
    validator = DayRecordValidator(DAY)
    assert validator.check(record, page=0) is None
    assert record == snapshot and (validator.accepted, validator.rejected) == (1, 0)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (["c1", 3], "record must be a JSON object, got ['c1', 3] (array)"),
        ("c000001", "record must be a JSON object, got 'c000001' (string)"),
        (None, "record must be a JSON object, got None (null)"),
        (_without("company_id"), "field 'company_id' is missing"),
        (_valid(company_id=""), "field 'company_id' must be a non-empty string, got '' (string)"),
        (_valid(company_id=17), "field 'company_id' must be a non-empty string, got 17 (int)"),
        (_valid(company_id=None), "field 'company_id' must be a non-empty string, got None (null)"),
        (_valid(company_id="x" * 65), "field 'company_id' must be at most 64 bytes in UTF-8, got 65"),
        # 40 characters, 80 bytes: VARCHAR(64) under the UTF-8 collation holds bytes.
        (_valid(company_id="é" * 40), "field 'company_id' must be at most 64 bytes in UTF-8, got 80"),
        (_valid(company_id="acme "), "field 'company_id' has leading or trailing whitespace: 'acme '"),
        (_valid(company_id=" acme"), "field 'company_id' has leading or trailing whitespace: ' acme'"),
        (_valid(company_id="acme\t"), "field 'company_id' has leading or trailing whitespace: 'acme\\t'"),
        (_valid(date="2024-04-30"), "field 'date' must be '2024-05-01', got '2024-04-30'"),
        (_valid(date="2024-05-01T00:00:00"), "field 'date' must be '2024-05-01', got '2024-05-01T00:00:00'"),
        (_without("date"), "field 'date' is missing"),
        (_valid(active_users=True), "field 'active_users' must be an integer >= 0, got True (boolean)"),
        (_valid(events=False), "field 'events' must be an integer >= 0, got False (boolean)"),
        (_valid(events=3.0), "field 'events' must be an integer >= 0, got 3.0 (float)"),
        (_valid(active_users=-1), "field 'active_users' must be an integer >= 0, got -1 (int)"),
        (_valid(events="12"), "field 'events' must be an integer >= 0, got '12' (string)"),
        (_valid(events=None), "field 'events' must be an integer >= 0, got None (null)"),
        (_without("active_users"), "field 'active_users' is missing"),
    ],
)
def test_invalid_records_are_rejected_naming_field_and_value(record: Any, reason: str) -> None:
    validator = DayRecordValidator(DAY)
    got = validator.check(record, page=0)
    assert got is not None and got.startswith(reason)
    assert (validator.accepted, validator.rejected) == (0, 1)


def test_boundaries_are_accepted() -> None:
    validator = DayRecordValidator(DAY)
    assert validator.check(_valid(company_id="x" * 64, active_users=0, events=0), page=0) is None
    assert validator.check(_valid(company_id="é" * 32), page=0) is None  # 64 bytes
    assert validator.check(_valid(company_id="a b"), page=0) is None  # inner spaces are part of the id
    assert validator.check(_valid(company_id="big", events=10**15), page=0) is None


def test_long_values_are_shortened_in_reasons() -> None:
    reason = DayRecordValidator(DAY).check(_valid(company_id="y" * 100_000), page=0)
    assert reason is not None and "100000" in reason and len(reason) < 300


def test_a_second_occurrence_of_a_company_is_rejected_naming_the_first_page() -> None:
    validator = DayRecordValidator(DAY)
    assert validator.check(_valid(), page=0) is None
    assert validator.check(_valid(company_id="c000002"), page=1) is None
    assert validator.check(_valid(events=99), page=3) == "duplicate company_id 'c000001': first seen on page 0"
    assert validator.check(_valid(company_id="c000002"), page=3) == (
        "duplicate company_id 'c000002': first seen on page 1"
    )


def test_a_rejected_record_does_not_claim_its_company_id() -> None:
    validator = DayRecordValidator(DAY)
    assert validator.check(_valid(events=-5), page=0) is not None
    assert validator.check(_valid(), page=1) is None
    assert validator.check(_valid(), page=2) == "duplicate company_id 'c000001': first seen on page 1"


def test_each_day_has_its_own_validator_state() -> None:
    assert DayRecordValidator(DAY).check(_valid(), page=0) is None
    assert DayRecordValidator(DAY).check(_valid(), page=0) is None


def test_served_corruptions_are_exactly_the_rejections(usage_api_factory: Factory) -> None:
    sim = usage_api_factory("invalid@0.05", companies=2000)
    validator = DayRecordValidator(DAY)
    with client(sim, page_size=300) as api:
        reasons = [validator.check(r, p.number) for p in api.iter_pages(DAY) for r in p.records]
    dataset = Dataset(companies=2000, seed=sim.config.seed, invalid_share=0.05)
    kinds = [kind for _, kind in dataset.corrupted(DAY)]
    assert set(kinds) == {"negative_users", "bool_events", "float_events", "wrong_date",
                          "missing_company_id", "duplicate_company_id"}
    rejected = [reason for reason in reasons if reason is not None]
    assert len(rejected) == len(kinds) == validator.rejected
    assert validator.accepted == len(list(dataset.valid_records(DAY)))
    assert sum("duplicate company_id" in reason for reason in rejected) == kinds.count("duplicate_company_id")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_page_with_a_non_json_number_is_not_accepted(fast_retry: RetryPolicy, constant: str) -> None:
    """json.loads reads NaN/Infinity, which RFC 8259 JSON has no spelling for: bronze could not keep the value
    (its encoder would write null), so the page counts as not JSON, like a garbled body."""
    body = (f'{{"date": "{DAY}", "data": [{{"company_id": "c1", "date": "{DAY}", "active_users": 1, "events": 1, '
            f'"score": {constant}}}], "next_cursor": null}}').encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        with UsageApiClient(f"http://127.0.0.1:{server.server_address[1]}", Secret("k"), retry=fast_retry) as api, \
                pytest.raises(UsageApiUnavailable) as failure:
            fetch_all(api)
    finally:
        server.shutdown()
        server.server_close()
    assert f"not valid JSON ({constant} is not a JSON number)" in str(failure.value)
