"""T-SQL types as the DuckDB translator tracks them, and the mapping to DuckDB types.

Only the types of docs/tsql-subset.md are accepted; each maps to the DuckDB type with the same
semantics (FLOAT is a 64-bit DOUBLE, not DuckDB's 32-bit FLOAT; BIT is BOOLEAN, not a bit string;
DECIMAL without precision is DECIMAL(18,0) as in T-SQL, not DuckDB's DECIMAL(18,3)).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp

from company_activity.errors import InputError

DT = exp.DataType.Type

# Categories drive the translation of operators whose meaning depends on operand types.
INT, FLOAT, DECIMAL, STRING, DATE, DATETIME, BIT, NULL = (
    "int", "float", "decimal", "string", "date", "datetime", "bit", "null",
)  # fmt: skip
NUMERIC = {INT, FLOAT, DECIMAL, BIT}


@dataclass(frozen=True)
class SqlType:
    category: str
    duckdb: str
    length: int | None = None  # VARCHAR(n): bytes (UTF-8 collation), NVARCHAR(n): characters; None = MAX
    national: bool = False

    @property
    def is_string(self) -> bool:
        return self.category == STRING


NULL_TYPE = SqlType(NULL, "INTEGER")
INT_TYPE = SqlType(INT, "INTEGER")
BIGINT_TYPE = SqlType(INT, "BIGINT")
FLOAT_TYPE = SqlType(FLOAT, "DOUBLE")
STRING_TYPE = SqlType(STRING, "VARCHAR")
NSTRING_TYPE = SqlType(STRING, "VARCHAR", national=True)
DATE_TYPE = SqlType(DATE, "DATE")
DATETIME_TYPE = SqlType(DATETIME, "TIMESTAMP")
BIT_TYPE = SqlType(BIT, "BOOLEAN")
DECIMAL_TYPE = SqlType(DECIMAL, "DECIMAL(38,10)")

_FIXED = {
    DT.BIT: BIT_TYPE,
    DT.UTINYINT: SqlType(INT, "UTINYINT"),
    DT.SMALLINT: SqlType(INT, "SMALLINT"),
    DT.INT: INT_TYPE,
    DT.BIGINT: BIGINT_TYPE,
    DT.DATE: DATE_TYPE,
    DT.DATETIME2: DATETIME_TYPE,
}


class TypeRefused(InputError):
    """A T-SQL type outside the subset; `name` is what the error shows."""

    def __init__(self, name: str, hint: str = "") -> None:
        super().__init__(name)
        self.name = name
        self.hint = hint


def map_type(data_type: exp.DataType, *, in_cast: bool = False) -> SqlType:
    """The SqlType of a T-SQL type. `in_cast`: VARCHAR without length means VARCHAR(30) (T-SQL rule);
    in declarations it means VARCHAR(1), which is always a mistake here, so it is refused."""
    kind = data_type.this
    params = [p.this for p in data_type.expressions]
    if kind in _FIXED:
        if kind != DT.DATETIME2 and params:
            raise TypeRefused(data_type.sql(dialect="tsql"))
        return _FIXED[kind]
    if kind == DT.FLOAT:
        if params and int(params[0].name) <= 24:
            raise TypeRefused(data_type.sql(dialect="tsql"), "FLOAT(n <= 24) is the 32-bit REAL; use FLOAT")
        return FLOAT_TYPE
    if kind == DT.DECIMAL:
        precision = int(params[0].name) if params else 18
        scale = int(params[1].name) if len(params) > 1 else 0
        return SqlType(DECIMAL, f"DECIMAL({precision},{scale})")
    if kind in (DT.VARCHAR, DT.NVARCHAR, DT.TEXT):
        national = kind == DT.NVARCHAR
        if kind == DT.TEXT or (params and isinstance(params[0], exp.Var) and params[0].name.upper() == "MAX"):
            return SqlType(STRING, "VARCHAR", None, national)
        if not params:
            if not in_cast:
                raise TypeRefused(data_type.sql(dialect="tsql"), "give the length: VARCHAR alone is VARCHAR(1)")
            return SqlType(STRING, "VARCHAR", 30, national)
        return SqlType(STRING, "VARCHAR", int(params[0].name), national)
    hints = {
        DT.DATETIME: "use DATETIME2",
        DT.CHAR: "use VARCHAR(n): DuckDB does not pad CHAR",
        DT.NCHAR: "use NVARCHAR(n): DuckDB does not pad NCHAR",
    }
    raise TypeRefused(data_type.sql(dialect="tsql"), hints.get(kind, ""))


_DUCKDB_CATEGORIES = [
    (re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT)$"), INT),
    (re.compile(r"^(DOUBLE|FLOAT)$"), FLOAT),
    (re.compile(r"^DECIMAL"), DECIMAL),
    (re.compile(r"^VARCHAR"), STRING),
    (re.compile(r"^DATE$"), DATE),
    (re.compile(r"^TIMESTAMP"), DATETIME),
    (re.compile(r"^BOOLEAN$"), BIT),
]


def from_duckdb(type_text: str) -> SqlType | None:
    """The SqlType of a DuckDB catalog type (information_schema.columns.data_type)."""
    upper = type_text.upper()
    for pattern, category in _DUCKDB_CATEGORIES:
        if pattern.match(upper):
            return SqlType(category, upper)
    return None


def promote(left: SqlType, right: SqlType) -> SqlType:
    """Result type of arithmetic on two numeric operands (T-SQL type precedence, simplified)."""
    categories = {left.category, right.category}
    if FLOAT in categories:
        return FLOAT_TYPE
    if DECIMAL in categories:
        return DECIMAL_TYPE
    if "BIGINT" in (left.duckdb, right.duckdb):
        return BIGINT_TYPE
    return INT_TYPE
