"""Convert source values (JSON values, CSV strings) to a SQL sink column's type, as a Copy does.

Strict on purpose: a value that would change meaning (a fraction into INT, `true` into INT, text that
is not a date) fails the copy instead of being coerced. VARCHAR lengths count UTF-8 bytes (the database
uses a UTF-8 collation), NVARCHAR lengths count characters; DuckDB does not enforce either, so the
check here keeps both engines equally strict.

A copy's `typeConversionSettings.dateFormat` is a .NET custom date format string ("Custom date and time
format strings"); `DateFormat` reads the subset the local copy understands (yyyy, MM, M, dd, d and
separator literals) and refuses every other format rather than guessing: a culture-dependent `/`, a
one-letter standard format, two-digit years, month names. Python's strptime is not used because it is
lenient where .NET's ParseExact is not (`%m` takes `2` as well as `02`, `%Y` takes fewer than 4 digits).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from company_activity.errors import InputError

_INT_RANGES = {
    "tinyint": (0, 255),
    "smallint": (-(2**15), 2**15 - 1),
    "int": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
_ALIASES = {
    "integer": "int", "int4": "int", "int32": "int", "int16": "smallint", "int2": "smallint", "int8": "bigint",
    "int64": "bigint", "hugeint": "bigint", "utinyint": "tinyint",
    "double": "float", "float8": "float", "real": "float", "float4": "float", "double precision": "float",
    "boolean": "bit", "bool": "bit",
    "text": "varchar", "string": "varchar", "char": "varchar", "character varying": "varchar",
    "nchar": "nvarchar", "ntext": "nvarchar",
    "timestamp": "datetime2", "datetime": "datetime2", "timestamp without time zone": "datetime2",
    "numeric": "decimal",
    # ADF interim type names (translator mappings may carry them)
    "datetimeoffset": "datetime2", "single": "float", "byte": "tinyint",
}
_EXTENDED_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?![\d-])")
_TYPE = re.compile(r"\s*([a-zA-Z][a-zA-Z0-9 ]*?)\s*(?:\(\s*(max|\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*")


_FORMAT_TOKENS = {
    # .NET token -> (date part, digits): yyyy exactly four digits, MM/dd exactly two, M/d one or two
    "yyyy": ("year", r"\d{4}"), "MM": ("month", r"\d{2}"), "M": ("month", r"\d{1,2}"),
    "dd": ("day", r"\d{2}"), "d": ("day", r"\d{1,2}"),
}
_FORMAT_LITERALS = frozenset("-._, ")


class ConversionError(InputError):
    """The value does not fit the column's type; the message says why (the caller adds file:line, column)."""


@dataclass(frozen=True)
class SqlType:
    name: str  # canonical: int, smallint, tinyint, bigint, float, decimal, bit, varchar, nvarchar, date, datetime2
    length: int | None = None  # None: unbounded (MAX or no length)
    scale: int | None = None

    @classmethod
    def parse(cls, text: str) -> SqlType:
        match = _TYPE.fullmatch(text)
        if not match:
            raise ConversionError(f"not a SQL type: {text!r}")
        name = match.group(1).strip().lower()
        name = _ALIASES.get(name, name)
        if name not in {*_INT_RANGES, "float", "decimal", "bit", "varchar", "nvarchar", "date", "datetime2"}:
            raise ConversionError(f"SQL type {text!r} is not supported by the local copy")
        size = match.group(2)
        length = None if size in (None, "max") else int(size)
        scale = int(match.group(3)) if match.group(3) else None
        return cls(name, length, scale)

    def __str__(self) -> str:
        if self.length is None:
            return self.name.upper()
        return f"{self.name.upper()}({self.length}{',' + str(self.scale) if self.scale is not None else ''})"


@dataclass(frozen=True)
class DateFormat:
    """A .NET custom date format (`yyyy-MM-dd`) as the copy's `typeConversionSettings.dateFormat` gives it."""

    text: str
    pattern: re.Pattern[str]

    @classmethod
    def parse(cls, text: str) -> DateFormat:
        """ValueError (saying what is not understood) for any format outside the supported subset."""
        if not isinstance(text, str) or not text:
            raise ConversionError(f"must be a non-empty format string, got {text!r}")
        if len(text) == 1:
            raise ConversionError(f"{text!r} is a .NET standard format (culture-dependent), not a custom format")
        parts: list[str] = []
        seen: set[str] = set()
        pos = 0
        while pos < len(text):
            char = text[pos]
            if char.isalpha():
                end = pos
                while end < len(text) and text[end] == char:
                    end += 1
                token = text[pos:end]
                if token not in _FORMAT_TOKENS:
                    raise ConversionError(f"token {token!r} at position {pos} is not supported locally "
                                     f"(supported: {', '.join(_FORMAT_TOKENS)})")
                part, digits = _FORMAT_TOKENS[token]
                if part in seen:
                    raise ConversionError(f"the {part} appears twice")
                seen.add(part)
                parts.append(f"(?P<{part}>{digits})")
                pos = end
            elif char in _FORMAT_LITERALS:
                parts.append(re.escape(char))
                pos += 1
            else:
                raise ConversionError(f"character {char!r} at position {pos} is not supported locally ('/' and ':' are "
                                 f"the culture's separators; literals allowed: {''.join(sorted(_FORMAT_LITERALS))!r})")
        missing = [p for p in ("year", "month", "day") if p not in seen]
        if missing:
            raise ConversionError(f"does not give the {', '.join(missing)}")
        return cls(text, re.compile("".join(parts)))

    def read(self, text: str) -> date:
        """The date `text` spells in this format, exactly (no surrounding whitespace); else ConversionError."""
        match = self.pattern.fullmatch(text)
        if not match:
            raise ConversionError(f"does not match the dateFormat {self.text!r}")
        try:
            return date(int(match["year"]), int(match["month"]), int(match["day"]))
        except ValueError:
            raise ConversionError(f"not a calendar date (dateFormat {self.text!r})") from None


def convert(value: Any, sql_type: SqlType, date_format: DateFormat | None = None) -> Any:
    """The Python value to insert; None stays None. A string into DATE must match `date_format` when the copy
    sets one, else YYYY-MM-DD (or an ISO timestamp at midnight)."""
    if value is None:
        return None
    name = sql_type.name
    if name in _INT_RANGES:
        return _integer(value, sql_type)
    if name == "float":
        return _float(value)
    if name == "decimal":
        return _decimal(value, sql_type)
    if name == "bit":
        return _bit(value)
    if name in ("varchar", "nvarchar"):
        return _text(value, sql_type)
    if name == "date":
        if date_format is not None and isinstance(value, str):
            return date_format.read(value)
        return _date(value)
    if name == "datetime2":
        return _datetime(value)
    raise ConversionError(f"no conversion to {sql_type}")


def _integer(value: Any, sql_type: SqlType) -> int:
    if isinstance(value, bool):
        raise ConversionError(f"a boolean is not an {sql_type}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        number = int(value)
    else:
        raise ConversionError(f"not a whole number for {sql_type}")
    low, high = _INT_RANGES[sql_type.name]
    if not low <= number <= high:
        raise ConversionError(f"out of range for {sql_type} ({low}..{high})")
    return number


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise ConversionError("a boolean is not a FLOAT")
    try:
        number = float(value) if isinstance(value, int | float | str) else math.nan
    except ValueError:
        raise ConversionError("not a number for FLOAT") from None
    if not math.isfinite(number):
        raise ConversionError("not a finite number for FLOAT")
    return number


def _decimal(value: Any, sql_type: SqlType) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConversionError(f"not a number for {sql_type}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ConversionError(f"not a number for {sql_type}") from None
    if not number.is_finite():
        raise ConversionError(f"not a finite number for {sql_type}")
    return number


def _bit(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise ConversionError("not a boolean (true/false/1/0) for BIT")


def _text(value: Any, sql_type: SqlType) -> str:
    if isinstance(value, dict | list):
        raise ConversionError(f"a JSON {type(value).__name__} is not text for {sql_type}")
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if sql_type.length is not None:
        size = len(text.encode("utf-8")) if sql_type.name == "varchar" else len(text)
        unit = "bytes" if sql_type.name == "varchar" else "characters"
        if size > sql_type.length:
            raise ConversionError(f"{size} {unit}, longer than {sql_type} allows")
    return text


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not _EXTENDED_DATE.match(text):  # fromisoformat would also take 20261127 and week dates
            raise ConversionError("not a date (YYYY-MM-DD)")
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ConversionError("not a date (YYYY-MM-DD)") from None
        if parsed.time() != datetime.min.time():
            raise ConversionError("a timestamp with a time of day is not a DATE")
        return parsed.date()
    raise ConversionError("not a date (YYYY-MM-DD)")


def _datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConversionError("not an ISO 8601 timestamp") from None
    raise ConversionError("not an ISO 8601 timestamp")
