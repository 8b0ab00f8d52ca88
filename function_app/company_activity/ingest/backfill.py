"""Pure validation of backfill and status requests and of backfill queue messages.

Every problem becomes a FieldError naming the field and the offending value; nothing here raises anything
else for any input, so HTTP handlers can map RequestInvalid to a 400 and never answer 5xx for client input.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from company_activity.errors import InputError
from company_activity.ingest.dates import DateFieldError, date_range, day_count, parse_iso_date, shown

BACKFILL_FIELDS = ("start_date", "end_date", "force", "allow_fewer_records")
STATUS_FIELDS = ("start_date", "end_date")
MESSAGE_FIELDS = ("date", "force", "allow_fewer_records")
MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class FieldError:
    field: str
    value: str  # the offending value, shortened and printable (see dates.shown)
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "value": self.value, "message": self.message}


class RequestInvalid(InputError):
    """The request is invalid; `errors` name every bad field."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in self.errors))

    def to_body(self) -> dict[str, Any]:
        return {"error": "invalid request", "errors": [e.to_dict() for e in self.errors]}


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date

    def dates(self) -> list[date]:
        return date_range(self.start, self.end)


@dataclass(frozen=True)
class BackfillRequest:
    range: DateRange
    force: bool
    allow_fewer: bool = False  # a re-ingest may replace a committed day with fewer records (bronze.commit)


@dataclass(frozen=True)
class BackfillPlan:
    enqueue: tuple[date, ...]
    skipped: tuple[date, ...]  # already committed, and force was false

    def to_body(self) -> dict[str, Any]:
        return {
            "enqueued": [d.isoformat() for d in self.enqueue],
            "skipped_already_committed": [d.isoformat() for d in self.skipped],
        }


@dataclass(frozen=True)
class BackfillMessage:
    """One queue message: ingest `date`; with force false, a date already committed is left alone."""

    date: date
    force: bool = False
    allow_fewer: bool = False

    def to_json(self) -> str:
        body: dict[str, Any] = {"date": self.date.isoformat(), "force": self.force}
        if self.allow_fewer:  # only when set: messages of the previous release keep their exact shape
            body["allow_fewer_records"] = True
        return json.dumps(body)


def _error(field: str, value: object, message: str) -> FieldError:
    return FieldError(field, shown(value), message)


def _from_date_error(exc: DateFieldError) -> FieldError:
    return FieldError(exc.field, shown(exc.value), f"{exc.field} {exc.message}")


def parse_json_object(body: bytes, allowed: tuple[str, ...], *, what: str = "body") -> dict[str, Any]:
    """A JSON object whose keys are all in `allowed`; RequestInvalid naming `what` or the unknown keys."""
    if len(body) > MAX_BODY_BYTES:
        too_big = f"{what} is larger than {MAX_BODY_BYTES} bytes"
        raise RequestInvalid([FieldError(what, f"<{len(body)} bytes>", too_big)])
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError) as exc:  # ValueError covers bad UTF-8 and over-long integers too
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RequestInvalid([_error(what, body[:60], f"{what} must be a JSON object: {message[:120]}")]) from None
    if not isinstance(parsed, dict):
        raise RequestInvalid([_error(what, parsed, f"{what} must be a JSON object, got {type(parsed).__name__}")])
    unknown = sorted(k for k in parsed if k not in allowed)
    if unknown:
        raise RequestInvalid(
            [_error(k, k, f"unknown field {shown(k)}; valid fields are {', '.join(allowed)}") for k in unknown]
        )
    return parsed


def _date_range(
    fields: Mapping[str, Any], *, yesterday: date, max_days: int
) -> tuple[DateRange | None, list[FieldError]]:
    errors: list[FieldError] = []
    parsed: dict[str, date] = {}
    for name in STATUS_FIELDS:
        if name not in fields:
            errors.append(FieldError(name, "<missing>", f"{name} is required (YYYY-MM-DD)"))
            continue
        try:
            parsed[name] = parse_iso_date(name, fields[name])
        except DateFieldError as exc:
            errors.append(_from_date_error(exc))
    if errors:
        return None, errors
    start, end = parsed["start_date"], parsed["end_date"]
    if start > end:
        errors.append(_error("start_date", start.isoformat(),
                             f"start_date {start} is after end_date {end}"))
    if end > yesterday:
        errors.append(_error("end_date", end.isoformat(),
                             f"end_date {end} is after yesterday ({yesterday}); only complete days can be ingested"))
    if start <= end and day_count(start, end) > max_days:
        errors.append(_error("end_date", end.isoformat(),
                             f"the range spans {day_count(start, end)} days; at most {max_days} "
                             "(BACKFILL_MAX_DAYS) are allowed per request"))
    return (None if errors else DateRange(start, end)), errors


def parse_backfill_body(body: bytes, *, yesterday: date, max_days: int) -> BackfillRequest:
    """`{"start_date": "...", "end_date": "...", "force": false}` -> BackfillRequest, else RequestInvalid."""
    fields = parse_json_object(body, BACKFILL_FIELDS)
    date_range_, errors = _date_range(fields, yesterday=yesterday, max_days=max_days)
    force, allow_fewer = _flags(fields, errors)
    if errors or date_range_ is None:
        raise RequestInvalid(errors)
    return BackfillRequest(date_range_, force, allow_fewer)


def _flags(fields: Mapping[str, Any], errors: list[FieldError]) -> tuple[bool, bool]:
    """force and allow_fewer_records: booleans, and the second only with the first (it is about re-ingesting)."""
    values = []
    for name in ("force", "allow_fewer_records"):
        value = fields.get(name, False)
        if not isinstance(value, bool):
            message = f"{name} must be true or false, got {type(value).__name__} {shown(value)}"
            errors.append(_error(name, value, message))
            value = False
        values.append(value)
    force, allow_fewer = values
    if allow_fewer and not force:
        errors.append(_error("allow_fewer_records", True, "allow_fewer_records applies to a re-ingest: it needs "
                                                          "force true"))
    return force, allow_fewer


def parse_status_query(params: Mapping[str, str], *, yesterday: date, max_days: int) -> DateRange:
    """`?start_date=...&end_date=...` -> DateRange, else RequestInvalid (same rules as a backfill)."""
    unknown = sorted(k for k in params if k not in STATUS_FIELDS)
    if unknown:
        raise RequestInvalid(
            [_error(k, k, f"unknown parameter {shown(k)}; valid parameters are {', '.join(STATUS_FIELDS)}")
             for k in unknown]
        )
    date_range_, errors = _date_range(params, yesterday=yesterday, max_days=max_days)
    if errors or date_range_ is None:
        raise RequestInvalid(errors)
    return date_range_


def plan_backfill(request: BackfillRequest, committed: Iterable[date]) -> BackfillPlan:
    """Which dates to enqueue: all of them with force, else only those not committed yet."""
    done = set(committed)
    dates = request.range.dates()
    if request.force:
        return BackfillPlan(tuple(dates), ())
    return BackfillPlan(tuple(d for d in dates if d not in done), tuple(d for d in dates if d in done))


def parse_backfill_message(text: str | bytes, *, yesterday: date) -> BackfillMessage:
    """A queue message -> BackfillMessage, else RequestInvalid naming the field (the worker then raises)."""
    raw = text.encode() if isinstance(text, str) else text
    fields = parse_json_object(raw, MESSAGE_FIELDS, what="message")
    errors: list[FieldError] = []
    day: date | None = None
    if "date" not in fields:
        errors.append(FieldError("date", "<missing>", "date is required (YYYY-MM-DD)"))
    else:
        try:
            day = parse_iso_date("date", fields["date"])
        except DateFieldError as exc:
            errors.append(_from_date_error(exc))
    if day is not None and day > yesterday:
        errors.append(_error("date", day.isoformat(), f"date {day} is after yesterday ({yesterday})"))
    force, allow_fewer = _flags(fields, errors)
    if errors or day is None:
        raise RequestInvalid(errors)
    return BackfillMessage(day, force, allow_fewer)
