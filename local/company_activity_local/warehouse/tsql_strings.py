"""How SQL Server compares text, rebuilt on DuckDB (which compares UTF-8 bytes and nothing else).

SQL Server (docs/tsql-subset.md, "Where the engines differ"):

- pads the shorter string with spaces before comparing, under every collation, so 'a' = 'a ' and
  'a' < 'a ' is false ("How SQL Server Compares Strings with Trailing Spaces", KB316626);
- compares by the collation that wins "Collation Precedence (Transact-SQL)": an explicit COLLATE, else
  the column's (implicit), else the database's (coercible-default); two different implicit ones are a
  conflict (error 468);
- under the database's Latin1_General_100_CI_AS_SC_UTF8 ignores case, kana type and width
  ("Windows Collation Name (Transact-SQL)") and orders linguistically; under _BIN2 compares code points.

What the DuckDB engine does with that, exactly or not at all:

- `_BIN2` equality: both sides RTRIM'd (a side that cannot end with a space is left alone, so keys
  compare at full speed); `_BIN2` ordering: RTRIM'd and refused at run time for text with a control
  character or a character outside the BMP, the only ones where byte order and padded code-point
  order disagree;
- case-insensitive equality: lower(RTRIM(x)), refused at run time unless both sides are printable ASCII
  (where ignoring case is all the collation does); case-insensitive ordering, grouping and LIKE: refused
  at translation (COLLATE Latin1_General_100_BIN2_UTF8 says which comparison is meant).

Guards raise through DuckDB's error() with a `tsql:<number>:` prefix that the runtime turns back into a
T-SQL error number (duckdb_runtime.translate_error).
"""

from __future__ import annotations

from dataclasses import replace

from sqlglot import exp

from company_activity_local.warehouse.sql_errors import SqlErrorNumber
from company_activity_local.warehouse.tsql_types import BIN2, CI, DEFAULT, EXPLICIT, IMPLICIT, SqlType

ERROR_PREFIX = "tsql:"
# DuckDB engine refusals at run time (no SQL Server number exists for "the stand-in cannot do this").
REFUSED_NUMBER = SqlErrorNumber.USER_DEFINED
PRINTABLE_ASCII = "[ -~]*"
# Byte order = padded code-point order, except for control characters (they sort below the padding space)
# and, for NVARCHAR, characters outside the BMP (UTF-16 code units order them below U+E000-U+FFFF).
ORDER_UNSAFE = r"[\x00-\x1f]|[^\x{0}-\x{ffff}]"


class CollationConflict(Exception):
    """Two collations SQL Server cannot resolve (errors 468 / 453); the message names them."""


def raise_error(number: int, message: str) -> exp.Expr:
    """DuckDB's error() with the T-SQL number the runtime gives it back."""
    return exp.Anonymous(this="error", expressions=[exp.Literal.string(f"{ERROR_PREFIX}{number}:{message}")])


def combine(types: list[SqlType]) -> SqlType:
    """The collation SQL Server gives an expression over `types` (strings), by precedence label."""
    strings = [t for t in types if t.is_string]
    if not strings:
        return types[0]
    for label in (EXPLICIT, IMPLICIT):
        found = {t.effective_collation for t in strings if t.label == label}
        if len(found) > 1:
            number = 453 if label == EXPLICIT else 468
            raise CollationConflict(
                f"collation conflict between {' and '.join(sorted(found))} (SQL Server error {number})"
            )
        if found:
            return replace(strings[0], collation=found.pop(), label=label)
    return replace(strings[0], collation=CI, label=DEFAULT)


def literal_text(node: exp.Expr) -> str | None:
    """The text of a string literal (N'...' included), else None."""
    if isinstance(node, exp.National) or (isinstance(node, exp.Literal) and node.is_string):
        return node.name
    return None


def is_printable_ascii(text: str) -> bool:
    return all(" " <= ch <= "~" for ch in text)


def _call(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def _unless_match(
    value: exp.Expr, pattern: str, full: bool, message: str, then: exp.Expr
) -> exp.Expr:
    """CASE WHEN <value matches/does not fully match pattern> THEN error(message) ELSE then END (NULL passes)."""
    test: exp.Expr
    if full:
        test = exp.Not(this=_call("regexp_full_match", value, exp.Literal.string(pattern)))
    else:
        test = _call("regexp_matches", value, exp.Literal.string(pattern))
    return exp.Case(ifs=[exp.If(this=test, true=raise_error(REFUSED_NUMBER, message))], default=then)


def equality_key(node: exp.Expr, sql_type: SqlType, collation: str) -> exp.Expr:
    """What the DuckDB engine compares for `=`, `<>`, IN and IS [NOT] DISTINCT FROM under `collation`.
    `node` is already rewritten for DuckDB; literals are folded here."""
    text = literal_text(node)
    if collation == BIN2:
        if text is not None:
            return exp.Literal.string(text.rstrip(" "))
        return node if sql_type.trimmed else _call("rtrim", node)
    if text is not None:
        return exp.Literal.string(text.rstrip(" ").lower())
    message = (
        "DuckDB engine: a case-insensitive comparison of text other than printable ASCII (SQL Server's "
        "Latin1_General_100_CI_AS also equates width, kana and expansion variants); compare with "
        "COLLATE Latin1_General_100_BIN2_UTF8"
    )
    return _unless_match(node, PRINTABLE_ASCII, True, message, _call("lower", _call("rtrim", node)))


def ci_literal_refusal(node: exp.Expr) -> str | None:
    """Why a literal cannot take part in a case-insensitive comparison on DuckDB, or None."""
    text = literal_text(node)
    if text is not None and not is_printable_ascii(text):
        return "a case-insensitive comparison with text other than printable ASCII"
    return None


ORDER_UNSAFE_MESSAGE = (
    "DuckDB engine: ordering text that holds a control character or a character outside the BMP "
    "(SQL Server pads with spaces and orders NVARCHAR by UTF-16 code units; byte order differs there)"
)


def order_key(node: exp.Expr, *, trim: bool) -> exp.Expr:
    """What the DuckDB engine orders `_BIN2` text by (comparisons, ORDER BY, MIN/MAX)."""
    text = literal_text(node)
    if text is not None and not any(ch < " " or ord(ch) > 0xFFFF for ch in text):
        return exp.Literal.string(text.rstrip(" ") if trim else text)
    value = _call("rtrim", node) if trim else node
    return _unless_match(value, ORDER_UNSAFE, False, ORDER_UNSAFE_MESSAGE, value)


def window_order_guard(result: exp.Expr, key: exp.Expr, partition_by: list[exp.Expr]) -> exp.Expr:
    """A window function's `result` refused for its whole partition when one of the partition's `key`s (text
    its ORDER BY sorts) could sort differently on SQL Server. The check cannot sit inside the window's ORDER
    BY, as order_key's does: DuckDB refuses a volatile expression there, and error() is one."""
    unsafe = exp.Case(
        ifs=[exp.If(this=_call("regexp_matches", key, exp.Literal.string(ORDER_UNSAFE)), true=exp.Literal.number(1))],
        default=exp.Literal.number(0),
    )
    any_unsafe = exp.Window(this=exp.Max(this=unsafe), partition_by=partition_by)
    refused = raise_error(REFUSED_NUMBER, ORDER_UNSAFE_MESSAGE)
    return exp.Case(ifs=[exp.If(this=exp.EQ(this=any_unsafe, expression=exp.Literal.number(1)), true=refused)],
                    default=result)


def implicit(sql_type: SqlType, collation: str, *, trimmed: bool) -> SqlType:
    """A column's string type: its collation is implicit."""
    return replace(sql_type, collation=collation, label=IMPLICIT, trimmed=trimmed)


__all__ = [
    "BIN2",
    "CI",
    "CollationConflict",
    "combine",
    "equality_key",
    "implicit",
    "literal_text",
    "order_key",
    "raise_error",
    "window_order_guard",
]
