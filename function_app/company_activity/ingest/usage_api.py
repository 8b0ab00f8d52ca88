"""The product usage API contract, client side: request, paging, retries, response shape, record validation.

This is the only module that knows the API's URL layout, parameters, headers and JSON shape; a deployment
whose API differs changes this file only. The contract (docs/usage-api.md):

    GET {base}/v1/usage/daily?date=YYYY-MM-DD&limit=N[&cursor=C]      X-API-Key: {key}
    200 {"date": "YYYY-MM-DD", "data": [{"company_id", "date", "active_users", "events", ...}],
         "next_cursor": "<opaque>" | null}

Retries use tenacity: 429 waits its Retry-After; 408, 5xx, connection errors, timeouts and a 200 whose
body is not JSON back off exponentially with jitter; all bounded by RetryPolicy (attempts and total time).
Anything else fails at once with UsageApiError. No message, repr or log line of this module contains the
API key: it lives in a Secret, is revealed only into the request headers, and no exception that holds a
request object (requests' exceptions do) is ever chained to the errors raised here.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from company_activity.errors import OperationalError
from company_activity.ingest.seen_ids import SeenIds
from company_activity.settings import Secret, UsageApiSettings, secure_url
from company_activity.settings import api_key as settings_api_key

log = logging.getLogger(__name__)

API_PATH = "/v1/usage/daily"
KEY_HEADER = "X-API-Key"
MAX_PAGE_SIZE = 10_000
# stg.product_usage_daily.company_id is VARCHAR(64) under a UTF-8 collation: 64 bytes, not characters.
MAX_COMPANY_ID_BYTES = 64
METRIC_FIELDS = ("active_users", "events")
_SHOW_CHARS = 80


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the retries of one page request: attempts, total time, backoff, largest Retry-After."""

    max_attempts: int = 8
    max_total_s: float = 300.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")
        for name in ("max_total_s", "backoff_initial_s", "backoff_max_s", "max_retry_after_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"RetryPolicy.{name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class UsagePage:
    number: int  # 0-based page index within the day
    records: list[Any]  # as received: dicts normally, anything when the API misbehaves
    next_cursor: str | None
    body_bytes: int


@dataclass
class ClientStats:
    """Counters over the client's life, for logs and run reports."""

    requests: int = 0  # HTTP attempts, retries included
    retries: int = 0
    pages: int = 0
    records: int = 0
    body_bytes: int = 0


class UsageApiError(OperationalError):
    """The API answered in a way retrying cannot fix (4xx, wrong shape, cursor loop). No secret inside.

    `systemic` is true when the cause is not the date but the setup (the API unreachable, the key refused,
    the URL wrong): every other date would fail the same way, so a backfill stops (see cli/ingest.py)."""

    def __init__(self, message: str, *, systemic: bool = False) -> None:
        super().__init__(message)
        self.systemic = systemic


class UsageApiUnavailable(UsageApiError):
    """Retries are exhausted; the message says how many attempts were made and what failed last."""


class _Transient(OperationalError):
    """A retryable failure of one attempt. Its message is safe to log; it holds no request object. `short` is
    the few words a retry's log line shows (`connection refused`, `HTTP 503`); the message has the detail."""

    def __init__(self, message: str, retry_after: float | None = None, *, connection: bool = False,
                 short: str | None = None):
        super().__init__(message)
        self.retry_after = retry_after
        self.connection = connection  # no HTTP answer at all (refused, unreachable)
        self.short = short or message


class UsageApiClient:
    """Pages through one day of usage at a time; `with UsageApiClient(...) as api: api.iter_pages(day)`."""

    def __init__(
        self,
        base_url: str,
        api_key: Secret,
        *,
        page_size: int = 1000,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        parsed = urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"base_url must be an http(s) URL, got {_host_only(base_url)!r}")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        if not isinstance(api_key, Secret):
            raise TypeError("api_key must be a settings.Secret, so it cannot be logged by accident")
        secure_url("base_url", base_url)  # the key travels with every request: never in clear text
        settings_api_key("api_key", api_key.reveal())
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        # Exponential from backoff_initial_s, plus up to backoff_initial_s of jitter, capped at backoff_max_s.
        self._backoff = wait_exponential_jitter(
            multiplier=self.retry.backoff_initial_s, max=self.retry.backoff_max_s, jitter=self.retry.backoff_initial_s
        )
        self.stats = ClientStats()
        self._api_key = api_key
        self._owns_session = session is None
        self._session = session or requests.Session()
        self._sleep = sleep
        self._server = _host_only(self.base_url)

    @classmethod
    def from_settings(cls, settings: UsageApiSettings, retry: RetryPolicy | None = None) -> UsageApiClient:
        return cls(
            settings.base_url,
            settings.key,
            page_size=settings.page_size,
            timeout_s=settings.timeout_s,
            retry=retry,
        )

    def __repr__(self) -> str:
        return f"UsageApiClient({self._server!r}, page_size={self.page_size}, timeout_s={self.timeout_s})"

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> UsageApiClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- paging ------------------------------------------------------------------------------------------
    def iter_pages(self, day: datetime.date) -> Iterator[UsagePage]:
        """The day's pages in order, fetched lazily (one page in memory). Raises UsageApiError."""
        cursor: str | None = None
        seen: set[str] = set()
        number = 0
        while True:
            page = self._fetch(day, cursor, number)
            if page.next_cursor is not None and (page.next_cursor == cursor or page.next_cursor in seen):
                raise UsageApiError(
                    f"usage API cursor loop for date {day.isoformat()}: page {number} returned next_cursor "
                    f"{_show(page.next_cursor)}, which was already used; stopping instead of reading pages again"
                )
            self.stats.pages += 1
            self.stats.records += len(page.records)
            self.stats.body_bytes += page.body_bytes
            yield page
            if page.next_cursor is None:
                return
            seen.add(page.next_cursor)
            cursor = page.next_cursor
            number += 1

    def _fetch(self, day: datetime.date, cursor: str | None, number: int) -> UsagePage:
        policy = self.retry
        retrying = Retrying(
            stop=stop_after_attempt(policy.max_attempts) | stop_before_delay(policy.max_total_s),
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            before_sleep=self._log_retry,
            sleep=self._sleep,
        )
        started = time.monotonic()
        attempts, failure, unreachable = 0, "", False
        try:
            return retrying(self._attempt, day, cursor, number)
        except RetryError as exhausted:
            attempts = exhausted.last_attempt.attempt_number
            last = exhausted.last_attempt.exception()
            failure = str(last)
            unreachable = isinstance(last, _Transient) and last.connection
        # Raised outside the except block, so the RetryError (and what it holds) is not chained.
        raise UsageApiUnavailable(
            f"usage API unavailable for date {day.isoformat()} (page {number}, {self._server}): gave up after "
            f"{attempts} attempt(s) in {time.monotonic() - started:.1f}s (limits: {policy.max_attempts} attempts, "
            f"{policy.max_total_s:g}s); last failure: {failure}",
            systemic=unreachable,
        )

    def _wait(self, state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, _Transient) and failure.retry_after is not None:
            return failure.retry_after
        return float(self._backoff(state))

    def _log_retry(self, state: RetryCallState) -> None:
        """One short line per retry: where, what failed in a few words, which attempt, the wait."""
        self.stats.retries += 1
        failure = state.outcome.exception() if state.outcome else None
        what = failure.short if isinstance(failure, _Transient) else str(failure)
        day, _, number = state.args if len(state.args) == 3 else ("?", None, "?")
        log.warning(
            "usage API %s, date=%s page %s: %s (attempt %d of %d, at most %gs in all); retrying in %.2fs",
            self._server, day, number, what, state.attempt_number, self.retry.max_attempts, self.retry.max_total_s,
            state.upcoming_sleep,
        )

    # -- one attempt -------------------------------------------------------------------------------------
    def _attempt(self, day: datetime.date, cursor: str | None, number: int) -> UsagePage:
        params = {"date": day.isoformat(), "limit": str(self.page_size)}
        if cursor is not None:
            params["cursor"] = cursor
        target = f"GET {API_PATH}?{_shorten(urlencode(params), 160)}"
        self.stats.requests += 1
        # Exceptions of requests hold the request, headers included: keep only their text, and raise
        # outside the except blocks so nothing is chained.
        transient: str | None = None
        short: str | None = None
        fatal: str | None = None
        connection_failed = False
        try:
            response = self._session.get(
                self.base_url + API_PATH,
                params=params,
                headers={KEY_HEADER: self._api_key.reveal()},
                timeout=self.timeout_s,
                # A redirect would carry X-API-Key to another host: report it instead of following it.
                allow_redirects=False,
            )
        except requests.Timeout:
            transient = f"{target}: no response within {self.timeout_s:g}s"
            short = f"no response within {self.timeout_s:g}s"
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            transient = f"{target}: connection failed: {self._scrub(_shorten(str(exc), 300))}"
            short = connection_failure(exc)
            connection_failed = isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.Timeout)
        except requests.RequestException as exc:
            detail = self._scrub(_shorten(str(exc), 300))
            fatal = f"usage API request {target} for date {day.isoformat()} failed: {detail}"
        if transient is not None:
            raise _Transient(transient, connection=connection_failed, short=short)
        if fatal is not None:
            raise UsageApiError(fatal)
        return self._page(response, day, number, target)

    def _page(self, response: requests.Response, day: datetime.date, number: int, target: str) -> UsagePage:
        status = response.status_code
        body = response.content
        if status == 429:
            wait = _retry_after_s(response.headers.get("Retry-After"))
            if wait is not None and wait > self.retry.max_retry_after_s:
                raise UsageApiUnavailable(
                    f"usage API rate limited {target} (date {day.isoformat()}) and asked to wait {wait:g}s, "
                    f"more than RetryPolicy.max_retry_after_s={self.retry.max_retry_after_s:g}s; try again later"
                )
            raise _Transient(f"{target}: HTTP 429 rate limited{self._detail(body)}", retry_after=wait,
                             short="HTTP 429 rate limited")
        if status >= 500 or status == 408:
            raise _Transient(f"{target}: HTTP {status}{self._detail(body)}", short=f"HTTP {status}")
        if status != 200:
            raise UsageApiError(
                f"usage API answered HTTP {status} to {target} for date {day.isoformat()} ({self._server})"
                f"{self._detail(body)}; not retried{_hint(status, response)}",
                systemic=status in (401, 403, 404),
            )
        payload, not_json = _parse_json(body)
        if not_json is not None:  # truncated or garbled body
            raise _Transient(f"{target}: HTTP 200 with a body of {len(body)} bytes that is not valid JSON ({not_json})",
                             short="HTTP 200 with a body that is not valid JSON")
        records, next_cursor = self._check_shape(payload, day, target)
        return UsagePage(number=number, records=records, next_cursor=next_cursor, body_bytes=len(body))

    def _check_shape(self, payload: Any, day: datetime.date, target: str) -> tuple[list[Any], str | None]:
        def wrong(what: str) -> UsageApiError:
            return UsageApiError(f"usage API response to {target} has the wrong shape: {self._scrub(what)}")

        if not isinstance(payload, dict):
            raise wrong(f"the body must be a JSON object, got {_show(payload)} ({_kind(payload)})")
        if payload.get("date") != day.isoformat():
            got = _show(payload.get("date"))
            raise wrong(f"field 'date' must be {day.isoformat()!r} (the requested date), got {got}")
        records = payload.get("data")
        if not isinstance(records, list):
            raise wrong(f"field 'data' must be a list, got {_show(records)} ({_kind(records)})")
        next_cursor = payload.get("next_cursor")
        if next_cursor is not None and not (isinstance(next_cursor, str) and next_cursor):
            raise wrong(f"field 'next_cursor' must be a non-empty string or null, got {_show(next_cursor)} "
                        f"({_kind(next_cursor)})")
        return records, next_cursor

    def _detail(self, body: bytes) -> str:
        """The API's own error text, if any, for messages."""
        payload, not_json = _parse_json(body)
        if not_json is not None:
            text = body.decode("utf-8", "replace").strip()
        elif isinstance(payload, dict):
            found = payload.get("error") or payload.get("message") or ""
            text = found if isinstance(found, str) else json.dumps(found)
        else:
            text = ""
        return f": {self._scrub(_shorten(text, 300))}" if text else ""

    def _scrub(self, text: str) -> str:
        """Remove the key from text that came from elsewhere (an API may echo what it was sent)."""
        key = self._api_key.reveal()
        return text.replace(key, "***") if key else text


class DayRecordValidator:
    """Checks the records of one day; remembers accepted company ids (in a SeenIds) to reject duplicates.

    Only accepted records claim their company_id: a later valid record is not lost to an earlier one
    that was rejected for another reason. Memory stays bounded whatever the size of the day (see
    seen_ids.py): all but a few thousand of the accepted ids go to a temporary directory, which close()
    (or the `with` block) removes.
    """

    def __init__(self, day: datetime.date, seen: SeenIds | None = None):
        self.day = day
        self._iso = day.isoformat()
        self._seen = seen if seen is not None else SeenIds()
        self._claim = self._seen.claim  # bound once: this is on the path of every record
        self.accepted = 0
        self.rejected = 0

    def check(self, record: Any, page: int) -> str | None:
        """None when the record is valid (and from now on its company_id is taken), else the reason."""
        reason = self._reason(record)
        if reason is None:
            company = record["company_id"]
            first = self._claim(company, page)
            if first is None:
                self.accepted += 1
                return None
            reason = f"duplicate company_id {company!r}: first seen on page {first}"
        self.rejected += 1
        return reason

    def close(self) -> None:
        """Remove the duplicate-detection state from disk; check() is refused afterwards."""
        self._seen.close()

    def __enter__(self) -> DayRecordValidator:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _reason(self, record: Any) -> str | None:
        """Why the record itself is invalid (every rule but the duplicate check), or None."""
        if type(record) is dict:  # the common, valid record in one expression (exact types: bool is not int)
            company, users, events = record.get("company_id"), record.get("active_users"), record.get("events")
            if (type(company) is str and 0 < len(company) <= MAX_COMPANY_ID_BYTES and company.isascii()
                    and not company[0].isspace() and not company[-1].isspace()
                    and record.get("date") == self._iso and type(users) is int and type(events) is int
                    and users >= 0 and events >= 0):
                return None
        return self._why_invalid(record)

    def _why_invalid(self, record: Any) -> str | None:
        """The first rule the record breaks, naming the field and the value (None only for int subclasses)."""
        if not isinstance(record, dict):
            return f"record must be a JSON object, got {_show(record)} ({_kind(record)})"
        if "company_id" not in record:
            return "field 'company_id' is missing"
        company = record["company_id"]
        if not isinstance(company, str) or not company:
            return f"field 'company_id' must be a non-empty string, got {_show(company)} ({_kind(company)})"
        if company != company.strip():
            # SQL Server ignores trailing spaces when it compares ids: 'acme ' would be the company 'acme'
            # there and another one on DuckDB. The CRM contract refuses the same (docs/crm.md).
            return f"field 'company_id' has leading or trailing whitespace: {_show(company)}"
        size = len(company.encode("utf-8"))
        if size > MAX_COMPANY_ID_BYTES:
            return (f"field 'company_id' must be at most {MAX_COMPANY_ID_BYTES} bytes in UTF-8, "
                    f"got {size}: {_show(company)}")
        if record.get("date") != self._iso:
            shown = "is missing" if "date" not in record else f"must be {self._iso!r}, got {_show(record['date'])}"
            return f"field 'date' {shown} (company_id {company!r})"
        for name in METRIC_FIELDS:
            if name not in record:
                return f"field {name!r} is missing (company_id {company!r})"
            value = record[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                return (f"field {name!r} must be an integer >= 0, got {_show(value)} ({_kind(value)}) "
                        f"(company_id {company!r})")
        return None


class _NotJsonNumber(OperationalError):  # raised inside json.loads, caught just below
    pass


def _refuse_constant(token: str) -> Any:
    raise _NotJsonNumber(token)


def _parse_json(body: bytes) -> tuple[Any, str | None]:
    """(payload, None), or (None, why the body is not JSON). NaN and Infinity, which json.loads would accept,
    are not JSON (RFC 8259) and could not be written to bronze as they came."""
    try:
        return json.loads(body, parse_constant=_refuse_constant), None
    except json.JSONDecodeError as exc:
        return None, f"{exc.msg}, char {exc.pos}"
    except _NotJsonNumber as exc:
        return None, f"{exc} is not a JSON number"
    except ValueError as exc:  # undecodable bytes
        return None, type(exc).__name__


def _show(value: Any) -> str:
    return _shorten(repr(value), _SHOW_CHARS)


def connection_failure(exc: BaseException) -> str:
    """A failed connection in a few words, from the OS error somewhere inside requests' exception chain."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        item = pending.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ConnectionRefusedError):
            return "connection refused"
        if isinstance(item, socket.gaierror):
            return "host name not found"
        if isinstance(item, ConnectionResetError):
            return "connection reset"
        if isinstance(item, TimeoutError):
            return "connect timed out"
        pending += [*item.args, getattr(item, "reason", None), item.__cause__, item.__context__]
    return "connection failed"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _host_only(url: str) -> str:
    """scheme://host[:port] of a URL, without any user:password@ part."""
    parsed = urlsplit(url)
    try:
        port = f":{parsed.port}" if parsed.port else ""
    except ValueError:
        port = ""
    return f"{parsed.scheme}://{parsed.hostname or '?'}{port}"


def _retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None when absent/unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())


def _hint(status: int, response: requests.Response) -> str:
    if status in (401, 403):
        return "; check USAGE_API_KEY"
    if status == 404:
        return "; check USAGE_API_BASE_URL"
    if 300 <= status < 400:
        location = _host_only(response.headers.get("Location", "")) if response.headers.get("Location") else "?"
        return (f"; redirects are not followed so the API key never goes to another host "
                f"(Location: {location}): set USAGE_API_BASE_URL to the final URL")
    return ""
