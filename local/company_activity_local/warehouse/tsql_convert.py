"""Conversions as SQL Server makes them ("CAST and CONVERT (Transact-SQL)"), built as DuckDB expressions.

DuckDB's own CAST answers where SQL Server would not: it rounds '1.5' to the INT 2, reads '0x10' and
'1_000', 'inf' and 'nan', year 0000 and 10000, '2026/01/05'; it rounds 2.7 to 3 (T-SQL truncates); it
writes a BIT as 'true'; it ignores VARCHAR(n). Every conversion the translator emits goes through
`convert`, which either reproduces SQL Server (truncation, '*' for an int too long for a varchar, error
8115 for a decimal too long for a string, error 245/241/8114 with SQL Server's text for text that is not
a number or a date) or refuses (raises TypeRefusal at translation, or a guard error at run time where the
answer depends on the value and SQL Server's is not documented).
"""

from __future__ import annotations

import re

from sqlglot import exp

from company_activity_local.warehouse.sql_errors import SqlErrorNumber
from company_activity_local.warehouse.tsql_strings import REFUSED_NUMBER, literal_text, raise_error
from company_activity_local.warehouse.tsql_types import (
    BIT,
    DATE,
    DATETIME,
    DECIMAL,
    FLOAT,
    INT,
    NULL,
    STRING,
    TSQL_INT_NAMES,
    SqlType,
)

# T-SQL's spelling of a target type in its conversion messages.
_INT_PATTERN = "^ *[+-]?[0-9]+ *$"
_FLOAT_PATTERN = r"^ *[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)? *$"
_DECIMAL_PATTERN = r"^ *[+-]?([0-9]+\.?[0-9]*|\.[0-9]+) *$"
_YEAR = "(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_DATE_PATTERN = f"^ *{_YEAR}-[0-9]{{2}}-[0-9]{{2}} *$"
_DATETIME_PATTERN = f"^ *{_YEAR}-[0-9]{{2}}-[0-9]{{2}}([ T][0-9]{{2}}:[0-9]{{2}}(:[0-9]{{2}}(\\.[0-9]{{1,6}})?)?)? *$"
DATE_MIN, DATE_MAX = "0001-01-01", "9999-12-31"
DATE_CONVERSION_MESSAGE = "Conversion failed when converting date and/or time from character string."


class TypeRefusal(Exception):
    """A conversion the DuckDB engine does not reproduce; the message says why."""


def _call(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def _cast(value: exp.Expr, duckdb_type: str, *, safe: bool = False) -> exp.Expr:
    kind = exp.TryCast if safe else exp.Cast
    return kind(this=value, to=exp.DataType.build(duckdb_type, dialect="duckdb"))


def tsql_type_name(sql_type: SqlType) -> str:
    """How SQL Server names a type in conversion messages."""
    if sql_type.category == INT:
        return TSQL_INT_NAMES.get(sql_type.duckdb, "int")
    return {
        FLOAT: "float", DECIMAL: "numeric", DATE: "date", DATETIME: "datetime2", BIT: "bit",
        STRING: "nvarchar" if sql_type.national else "varchar",
    }.get(sql_type.category, sql_type.category)  # fmt: skip


def _guarded(
    value: exp.Expr, pattern: str, safe: bool, error: exp.Expr, then: exp.Expr
) -> exp.Expr:
    """then, when `value` matches `pattern`; else NULL (TRY_) or `error` (NULL passes through)."""
    mismatch = exp.Not(this=_call("regexp_matches", value.copy(), exp.Literal.string(pattern)))
    missing = exp.Is(this=value.copy(), expression=exp.Null())
    return exp.Case(ifs=[exp.If(this=missing, true=exp.Null()),
                         exp.If(this=mismatch, true=exp.Null() if safe else error)], default=then)


def _value_message(number: int, prefix: str, value: exp.Expr, suffix: str) -> exp.Expr:
    """error('tsql:<number>:<prefix>' || value || '<suffix>')"""
    text = _call("concat", exp.Literal.string(f"tsql:{number}:{prefix}"), value, exp.Literal.string(suffix))
    return _call("error", text)


def convert(value: exp.Expr, source: SqlType | None, target: SqlType, *, safe: bool = False,
            to_column: bool = False) -> exp.Expr:
    """`value` (a DuckDB expression of T-SQL type `source`) converted to `target` as SQL Server converts it.
    `to_column`: an INSERT/UPDATE into a table column (strings are not cut: the column's CHECK raises 2628)."""
    if source is None or source.category == NULL:
        return _cast(value, target.duckdb, safe=safe)
    if target.category == STRING:
        return _to_string(value, source, target, safe=safe, to_column=to_column)
    if source.category == STRING:
        return _from_string(value, source, target, safe=safe)
    if target.category == INT:
        if source.category in (FLOAT, DECIMAL):
            value = _call("trunc", value)  # T-SQL truncates; DuckDB's CAST rounds
        elif source.category in (DATE, DATETIME):
            raise TypeRefusal(f"conversion of {tsql_type_name(source)} to {tsql_type_name(target)} (error 529)")
        return _cast(value, target.duckdb, safe=safe)
    if target.category in (FLOAT, DECIMAL, BIT) and source.category in (DATE, DATETIME):
        raise TypeRefusal(f"conversion of {tsql_type_name(source)} to {tsql_type_name(target)} (error 529)")
    if target.category in (DATE, DATETIME) and source.category not in (DATE, DATETIME):
        raise TypeRefusal(f"conversion of {tsql_type_name(source)} to {tsql_type_name(target)} (error 529)")
    return _cast(value, target.duckdb, safe=safe)


def _from_string(value: exp.Expr, source: SqlType, target: SqlType, *, safe: bool) -> exp.Expr:
    name = tsql_type_name(target)
    kind = tsql_type_name(source)
    literal = literal_text(value)
    if target.category == INT:
        error = _value_message(SqlErrorNumber.CONVERSION_FAILED,
                               f"Conversion failed when converting the {kind} value '", value,
                               f"' to data type {name}.")
        overflow = _value_message(SqlErrorNumber.CONVERSION_OVERFLOW, f"The conversion of the {kind} value '", value,
                                  f"' overflowed an {name} column.")
        parsed = exp.Coalesce(this=_cast(value, target.duckdb, safe=True),
                              expressions=[exp.Null() if safe else overflow])
        return _guarded(value, _INT_PATTERN, safe, error, parsed)
    if target.category in (FLOAT, DECIMAL):
        pattern = _FLOAT_PATTERN if target.category == FLOAT else _DECIMAL_PATTERN
        error = raise_error(SqlErrorNumber.TYPE_CONVERSION_ERROR, f"Error converting data type {kind} to {name}.")
        return _guarded(value, pattern, safe, error, _cast(value, target.duckdb, safe=safe))
    if target.category in (DATE, DATETIME):
        pattern = _DATE_PATTERN if target.category == DATE else _DATETIME_PATTERN
        if literal is not None and re.match(pattern, literal) is None:
            if safe:
                return exp.Null()
            raise TypeRefusal(f"the text {literal!r} as a {name} (SQL Server's reading of it depends on "
                              "SET DATEFORMAT/LANGUAGE; write yyyy-mm-dd)")
        error = raise_error(SqlErrorNumber.DATE_CONVERSION_FAILED, DATE_CONVERSION_MESSAGE)
        parsed = exp.Coalesce(this=_cast(value, target.duckdb, safe=True), expressions=[exp.Null() if safe else error])
        return _guarded(value, pattern, safe, error, parsed)
    raise TypeRefusal(f"conversion of {kind} to {name} ('TRUE'/'FALSE' and numeric text rules differ)")


def _to_string(
    value: exp.Expr, source: SqlType, target: SqlType, *, safe: bool, to_column: bool
) -> exp.Expr:
    name = tsql_type_name(target)
    length = target.length
    if source.category == FLOAT:
        raise TypeRefusal("conversion of a FLOAT to a string (T-SQL formats floats with 6 digits)")
    if source.category == DATETIME:
        raise TypeRefusal("conversion of a DATETIME2 to a string (T-SQL writes 7 fraction digits)")
    if source.category == BIT:
        text: exp.Expr = exp.Case(ifs=[exp.If(this=value, true=exp.Literal.string("1"))],
                                        default=exp.Literal.string("0"))
        text = exp.Case(ifs=[exp.If(this=exp.Is(this=value.copy(), expression=exp.Null()), true=exp.Null())],
                        default=text)
        return text
    as_text = _cast(value, "VARCHAR")
    if source.category in (INT, DECIMAL):
        if length is None:
            return as_text
        too_long = exp.GT(this=_call("length", as_text), expression=exp.Literal.number(length))
        short: exp.Expr
        if source.category == INT and not target.national and source.duckdb != "BIGINT":
            short = exp.Literal.string("*")  # "Result length too short to display"
        elif safe:
            short = exp.Null()
        elif source.category == INT and source.duckdb == "BIGINT":
            short = raise_error(REFUSED_NUMBER, "DuckDB engine: a bigint too long for the string type it is "
                                "converted to (SQL Server's result is not documented)")
        else:
            kind = "expression" if source.category == INT else "numeric"
            short = raise_error(SqlErrorNumber.ARITHMETIC_OVERFLOW,
                                f"Arithmetic overflow error converting {kind} to data type {name}.")
        return exp.Case(ifs=[exp.If(this=too_long, true=short)], default=as_text.copy())
    if source.category == DATE:
        return _cut(as_text, target) if length is not None and length < 10 else as_text
    if source.category == STRING:
        if length is None or to_column:
            return value
        return _cut(value, target)
    return _cast(value, "VARCHAR", safe=safe)


def utf16_length(value: exp.Expr) -> exp.Expr:
    """UTF-16 code units of a string: NVARCHAR(n) counts them (a character outside the BMP takes two)."""
    supplementary = _call("regexp_replace", value.copy(), exp.Literal.string(r"[^\x{10000}-\x{10ffff}]"),
                          exp.Literal.string(""), exp.Literal.string("g"))
    return exp.Add(this=_call("length", value), expression=_call("length", supplementary))


def _cut(value: exp.Expr, target: SqlType) -> exp.Expr:
    """value cut to VARCHAR(n) bytes / NVARCHAR(n) UTF-16 units, as CAST and assignment do. Exact for text
    where a unit is a character (ASCII for VARCHAR, the BMP for NVARCHAR); elsewhere refused at run time."""
    length = exp.Literal.number(target.length)
    if target.national:
        measure, simple = utf16_length(value.copy()), exp.EQ(this=utf16_length(value.copy()),
                                                              expression=_call("length", value.copy()))
    else:
        measure, simple = _call("strlen", value.copy()), exp.EQ(this=_call("strlen", value.copy()),
                                                                expression=_call("length", value.copy()))
    fits = exp.LTE(this=measure, expression=length)
    refused = raise_error(REFUSED_NUMBER, "DuckDB engine: cutting text with multi-unit characters to "
                          f"{tsql_type_name(target)}({target.length}) (where SQL Server cuts inside a character is "
                          "not documented)")
    missing = exp.Is(this=value.copy(), expression=exp.Null())
    return exp.Case(
        ifs=[exp.If(this=missing, true=exp.Null()), exp.If(this=fits, true=value.copy()),
             exp.If(this=simple, true=_call("left", value.copy(), length.copy()))],
        default=refused,
    )


def date_in_range(value: exp.Expr, sql_type: SqlType, number: int, message: str) -> exp.Expr:
    """value, or error `number` when it leaves SQL Server's range 0001-01-01 .. 9999-12-31 (DuckDB goes on
    into years BC and past 9999)."""
    low = _cast(exp.Literal.string(DATE_MIN), "DATE")
    high = _cast(exp.Literal.string("10000-01-01"), "DATE")
    if sql_type.category == DATETIME:
        low, high = _cast(low, "TIMESTAMP"), _cast(high, "TIMESTAMP")
    outside = exp.Or(this=exp.LT(this=value.copy(), expression=low),
                     expression=exp.GTE(this=value.copy(), expression=high))
    return exp.Case(ifs=[exp.If(this=outside, true=raise_error(number, message))], default=value)
