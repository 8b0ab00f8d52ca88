"""Convert source values (JSON values, CSV strings) to a SQL sink column's type, as a Copy does.

Strict on purpose: a value that would change meaning (a fraction into INT, `true` into INT, text that
is not a date) fails the copy instead of being coerced. VARCHAR lengths count UTF-8 bytes (the database
uses a UTF-8 collation), NVARCHAR lengths count characters; DuckDB does not enforce either, so the
check here keeps both engines equally strict.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

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


class ConversionError(ValueError):
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
            raise ValueError(f"not a SQL type: {text!r}")
        name = match.group(1).strip().lower()
        name = _ALIASES.get(name, name)
        if name not in {*_INT_RANGES, "float", "decimal", "bit", "varchar", "nvarchar", "date", "datetime2"}:
            raise ValueError(f"SQL type {text!r} is not supported by the local copy")
        size = match.group(2)
        length = None if size in (None, "max") else int(size)
        scale = int(match.group(3)) if match.group(3) else None
        return cls(name, length, scale)

    def __str__(self) -> str:
        if self.length is None:
            return self.name.upper()
        return f"{self.name.upper()}({self.length}{',' + str(self.scale) if self.scale is not None else ''})"


def convert(value: Any, sql_type: SqlType) -> Any:
    """The Python value to insert; None stays None."""
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
