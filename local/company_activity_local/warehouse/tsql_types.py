"""T-SQL types as the DuckDB translator tracks them, and the mapping to DuckDB types.

Only the types of docs/tsql-subset.md are accepted; each maps to the DuckDB type with the same
semantics (FLOAT is a 64-bit DOUBLE, not DuckDB's 32-bit FLOAT; BIT is BOOLEAN, not a bit string;
DECIMAL without precision is DECIMAL(18,0) as in T-SQL, not DuckDB's DECIMAL(18,3)).

Strings also carry what SQL Server compares them by: the collation (`BIN2`: code points; `CI`: the
database's Latin1_General_100_CI_AS_SC_UTF8) with its precedence label ("Collation Precedence
(Transact-SQL)": explicit > implicit > coercible-default), and whether a value can end with a space
(`trimmed`), since SQL Server pads the shorter string with spaces before comparing.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, replace

from sqlglot import exp

from company_activity.errors import InputError

DT = exp.DataType.Type

# Categories drive the translation of operators whose meaning depends on operand types.
INT, FLOAT, DECIMAL, STRING, DATE, DATETIME, BIT, NULL = (
    "int", "float", "decimal", "string", "date", "datetime", "bit", "null",
)  # fmt: skip
NUMERIC = {INT, FLOAT, DECIMAL, BIT}

# String collations the engine knows, and the precedence labels of "Collation Precedence".
BIN2, CI = "bin2", "ci"
EXPLICIT, IMPLICIT, DEFAULT = "explicit", "implicit", "default"
BINARY_COLLATIONS = {"LATIN1_GENERAL_100_BIN2_UTF8", "LATIN1_GENERAL_BIN2"}
CI_COLLATIONS = {"DATABASE_DEFAULT", "LATIN1_GENERAL_100_CI_AS_SC_UTF8"}
COMMENT_PREFIX = "tsql:"  # DuckDB column comments written by the translator hold the T-SQL type


@dataclass(frozen=True)
class SqlType:
    category: str
    duckdb: str
    length: int | None = None  # VARCHAR(n): bytes (UTF-8 collation), NVARCHAR(n): UTF-16 units; None = MAX
    national: bool = False
    collation: str | None = None  # strings: BIN2 | CI (None until the context gives one: CI then)
    label: str = DEFAULT  # collation precedence: EXPLICIT | IMPLICIT | DEFAULT
    trimmed: bool = False  # strings: no value ends with a space

    @property
    def is_string(self) -> bool:
        return self.category == STRING

    @property
    def effective_collation(self) -> str:
        return self.collation or CI

    @property
    def int_bits(self) -> int | None:
        """Width of an integer type (T-SQL's tinyint/smallint/int/bigint)."""
        return _INT_BITS.get(self.duckdb) if self.category == INT else None

    def with_collation(self, collation: str | None, label: str) -> SqlType:
        return replace(self, collation=collation, label=label) if self.is_string else self

    def to_comment(self) -> str:
        return COMMENT_PREFIX + json.dumps(asdict(self), sort_keys=True)

    @staticmethod
    def from_comment(text: str | None) -> SqlType | None:
        if not text or not text.startswith(COMMENT_PREFIX):
            return None
        try:
            return SqlType(**json.loads(text[len(COMMENT_PREFIX) :]))
        except (TypeError, ValueError):
            return None


_INT_BITS = {"UTINYINT": 8, "SMALLINT": 16, "INTEGER": 32, "BIGINT": 64}
TSQL_INT_NAMES = {"UTINYINT": "tinyint", "SMALLINT": "smallint", "INTEGER": "int", "BIGINT": "bigint"}

NULL_TYPE = SqlType(NULL, "INTEGER")
INT_TYPE = SqlType(INT, "INTEGER")
BIGINT_TYPE = SqlType(INT, "BIGINT")
FLOAT_TYPE = SqlType(FLOAT, "DOUBLE")
STRING_TYPE = SqlType(STRING, "VARCHAR", collation=CI)
NSTRING_TYPE = SqlType(STRING, "VARCHAR", national=True, collation=CI)
DATE_TYPE = SqlType(DATE, "DATE")
DATETIME_TYPE = SqlType(DATETIME, "TIMESTAMP")
BIT_TYPE = SqlType(BIT, "BOOLEAN")
DECIMAL_TYPE = SqlType(DECIMAL, "DECIMAL(38,10)")
# sysname: the type of the names in INFORMATION_SCHEMA views (nvarchar(128), the database collation).
SYSNAME_TYPE = SqlType(STRING, "VARCHAR", 128, True, CI, IMPLICIT)

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


def collation_of(name: str) -> str | None:
    """BIN2 or CI for a collation name the engine emulates; None for any other."""
    upper = name.upper()
    if upper in BINARY_COLLATIONS:
        return BIN2
    if upper in CI_COLLATIONS:
        return CI
    return None


def decimal_digits(sql_type: SqlType) -> tuple[int, int]:
    """(precision, scale) of a DECIMAL type."""
    match = re.fullmatch(r"DECIMAL\((\d+),(\d+)\)", sql_type.duckdb.replace(" ", ""))
    return (int(match.group(1)), int(match.group(2))) if match else (38, 10)


_DUCKDB_CATEGORIES = [
    (re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT)$"), INT),
    (re.compile(r"^(DOUBLE|FLOAT)$"), FLOAT),
    (re.compile(r"^DECIMAL"), DECIMAL),
    (re.compile(r"^VARCHAR"), STRING),
    (re.compile(r"^DATE$"), DATE),
    (re.compile(r"^TIMESTAMP"), DATETIME),
    (re.compile(r"^BOOLEAN$"), BIT),
]


def from_duckdb(type_text: str, comment: str | None = None) -> SqlType | None:
    """The SqlType of a DuckDB catalog column: the T-SQL type the translator wrote in its comment, else the
    category of the DuckDB type (strings then compare as the database collation does and may end with spaces:
    the strictest reading)."""
    declared = SqlType.from_comment(comment)
    if declared is not None:
        return declared
    upper = type_text.upper()
    for pattern, category in _DUCKDB_CATEGORIES:
        if pattern.match(upper):
            sql_type = SqlType(category, upper)
            return sql_type.with_collation(CI, IMPLICIT) if category == STRING else sql_type
    return None


def promote(left: SqlType, right: SqlType) -> SqlType:
    """Result type of arithmetic on two numeric operands (T-SQL type precedence, simplified)."""
    categories = {left.category, right.category}
    if FLOAT in categories:
        return FLOAT_TYPE
    if DECIMAL in categories:
        if left.category == DECIMAL and right.category == DECIMAL:
            return DECIMAL_TYPE
        return left if left.category == DECIMAL else right
    if "BIGINT" in (left.duckdb, right.duckdb):
        return BIGINT_TYPE
    return INT_TYPE
