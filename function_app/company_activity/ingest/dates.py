"""Pure date logic of ingestion: 'yesterday' in a time zone, inclusive ranges, strict ISO parsing."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo

from company_activity.errors import InputError

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SHOWN_MAX = 80


class DateFieldError(InputError):
    """A date field is invalid; `field`, `value` and the message say which and why."""

    def __init__(self, field: str, value: object, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.value = value
        self.message = message


def shown(value: object) -> str:
    """A short, printable rendering of client input for error messages (never the whole of a huge value)."""
    text = repr(value)
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 3] + "..."


def parse_iso_date(field: str, value: object) -> date:
    """`YYYY-MM-DD` exactly (date.fromisoformat alone would also take 20261127 and week dates)."""
    if not isinstance(value, str):
        kind = type(value).__name__
        raise DateFieldError(field, value, f"must be a date string YYYY-MM-DD, got {kind} {shown(value)}")
    if not _ISO_DATE.fullmatch(value):
        raise DateFieldError(field, value, f"must be a date YYYY-MM-DD, got {shown(value)}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DateFieldError(field, value, f"is not a calendar date, got {shown(value)}") from None


def yesterday(tz: tzinfo, now: datetime | None = None) -> date:
    """The calendar day before today, where 'today' is taken in `tz` (now defaults to the current instant)."""
    instant = now if now is not None else datetime.now(UTC)
    if instant.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return instant.astimezone(tz).date() - timedelta(days=1)


def require_complete_day(field: str, day: date, tz: tzinfo = UTC, now: datetime | None = None) -> date:
    """`day` when it is at most yesterday in `tz`; else DateFieldError. One rule for every command: bronze
    only ever holds complete days, so a later date can neither be ingested nor loaded."""
    latest = yesterday(tz, now)
    if day > latest:
        raise DateFieldError(field, day.isoformat(), f"{day} is after yesterday ({latest}); only complete days "
                                                     "can be ingested or loaded")
    return day


def require_span(field: str, start: date, end: date, max_days: int) -> list[date]:
    """Every day of start..end; DateFieldError when end is before start or the range spans more than max_days."""
    if end < start:
        raise DateFieldError(field, f"{start}..{end}", f"end {end} is before start {start}")
    if day_count(start, end) > max_days:
        raise DateFieldError(field, f"{start}..{end}", f"the range spans {day_count(start, end)} days; at most "
                                                       f"{max_days} (BACKFILL_MAX_DAYS) are allowed")
    return date_range(start, end)


def day_count(start: date, end: date) -> int:
    """Number of days in the inclusive range start..end (0 when end < start)."""
    return max(0, (end - start).days + 1)


def date_range(start: date, end: date) -> list[date]:
    """Every day from start to end, both included; empty when end < start."""
    return [start + timedelta(days=i) for i in range(day_count(start, end))]


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_instant(instant: datetime) -> str:
    """UTC, second precision, `Z` suffix: 2026-11-27T01:30:00Z."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(field: str, value: object) -> datetime:
    """The inverse of format_instant (accepts any ISO 8601 instant with an offset or Z)."""
    if not isinstance(value, str):
        raise DateFieldError(field, value, f"must be an ISO 8601 timestamp string, got {shown(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise DateFieldError(field, value, f"must be an ISO 8601 timestamp, got {shown(value)}") from None
    if parsed.tzinfo is None:
        raise DateFieldError(field, value, f"must carry a UTC offset or Z, got {shown(value)}")
    return parsed.astimezone(UTC)
