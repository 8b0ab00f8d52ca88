"""Where DuckDB and SQL Server answer differently (docs/tsql-subset.md, "Where the engines differ and what
we do"): each case runs on the DuckDB engine and, when SQLSERVER_TEST_CONNECTION_STRING is set (the
sqlserver workflow), on SQL Server. Both engines give the same answer, or the DuckDB engine refuses the
construct (at translation, or at run time for the values it cannot answer for) where SQL Server answers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from company_activity_local.warehouse import TranslationError, WarehouseError

NUMBERS = "CREATE TABLE #n (v INT NOT NULL); INSERT INTO #n (v) VALUES (2147483647), (1);"
NAMES = (
    "CREATE TABLE #c (name VARCHAR(20) COLLATE DATABASE_DEFAULT NULL);"
    " INSERT INTO #c (name) VALUES ('Retail'), ('retail'), ('RETAIL '), ('Saas');"
)
CODES = (
    "CREATE TABLE #b (code VARCHAR(20) COLLATE Latin1_General_100_BIN2_UTF8 NULL);"
    " INSERT INTO #b (code) VALUES ('a'), ('a '), ('A'), ('b');"
)


@dataclass(frozen=True)
class Case:
    """One difference: `answer` (the one row both engines return) or `error` (the number both raise), or
    `refused` on DuckDB (then `sqlserver` is SQL Server's own answer, a row or an error number)."""

    tsql: str
    answer: dict[str, Any] | None = None
    error: int | None = None
    refused: bool = False
    sqlserver: dict[str, Any] | int | None = None


CASES: dict[str, Case] = {
    # ISNULL has the type of its first argument: the replacement is cut to VARCHAR(3).
    "isnull_type": Case("DECLARE @v3 VARCHAR(3) = NULL; SELECT ISNULL(@v3, 'abcdef') AS v;", {"v": "abc"}),
    "coalesce_type": Case("DECLARE @v3 VARCHAR(3) = NULL; SELECT COALESCE(@v3, 'abcdef') AS v;", {"v": "abcdef"}),
    # An int too long for a varchar is '*'; for an nvarchar, and a decimal for either, error 8115.
    "int_to_short_varchar": Case("SELECT CAST(12345 AS VARCHAR(3)) AS v, CAST(123 AS VARCHAR(3)) AS w;",
                                 {"v": "*", "w": "123"}),
    "int_to_short_nvarchar": Case("SELECT CAST(12345 AS NVARCHAR(3)) AS v;", error=8115),
    "decimal_to_short_varchar": Case("SELECT CAST(12.345 AS VARCHAR(3)) AS v;", error=8115),
    "string_cut_to_varchar": Case("SELECT CAST('abcdef' AS VARCHAR(3)) AS v;", {"v": "abc"}),
    "multibyte_cut_to_varchar": Case("SELECT CAST(N'Zürich' AS VARCHAR(2)) AS v;", refused=True, sqlserver=None),
    "bit_to_string": Case("DECLARE @b BIT = 1; SELECT CAST(@b AS VARCHAR(5)) AS v, CONCAT('x', @b) AS w;",
                          {"v": "1", "w": "x1"}),
    # SUM/AVG of int is an int (8115 past 2^31-1); DuckDB sums into a HUGEINT.
    "sum_int_overflow": Case(NUMBERS + " SELECT SUM(v) AS s FROM #n;", error=8115),
    "sum_bigint": Case(NUMBERS + " SELECT SUM(CAST(v AS BIGINT)) AS s FROM #n;", {"s": 2147483648}),
    "avg_int_overflow": Case(NUMBERS + " SELECT AVG(v) AS a FROM #n;", error=8115),
    "int_addition_overflow": Case("SELECT 2147483647 + 1 AS v;", error=8115),
    "float_overflow": Case("SELECT CAST(1e308 AS FLOAT) * 10 AS v;", error=8115),
    # An integer constant past 2^31-1 is a DECIMAL: division by it is refused (scale rules), product exact.
    "big_integer_constant": Case("SELECT 3000000000 * 2 AS v;", {"v": Decimal("6000000000")}),
    "big_integer_constant_division": Case("SELECT 3000000000 / 7 AS v;", refused=True,
                                          sqlserver={"v": Decimal("428571428.571428")}),
    # Trailing spaces: SQL Server pads the shorter string before comparing, under every collation.
    "trailing_space_equality": Case(
        "SELECT CASE WHEN 'a' = 'a ' THEN 1 ELSE 0 END AS eq,"
        " CASE WHEN 'a' COLLATE Latin1_General_100_BIN2_UTF8 < 'a ' THEN 1 ELSE 0 END AS lt,"
        " CASE WHEN 'a ' IN ('a', 'b') THEN 1 ELSE 0 END AS in_list;",
        {"eq": 1, "lt": 0, "in_list": 1},
    ),
    "trailing_space_group": Case(
        CODES + " SELECT COUNT(*) AS groups FROM (SELECT code FROM #b GROUP BY code) AS g;", {"groups": 3}),
    "trailing_space_key": Case(
        "CREATE TABLE #k (id VARCHAR(10) COLLATE Latin1_General_100_BIN2_UTF8 NOT NULL PRIMARY KEY);"
        " INSERT INTO #k (id) VALUES ('a'); INSERT INTO #k (id) VALUES ('a ');",
        refused=True, sqlserver=2627,
    ),
    "trailing_space_like": Case(CODES + " SELECT COUNT(*) AS n FROM #b WHERE code LIKE 'a%';", refused=True,
                                sqlserver={"n": 2}),
    # The database's _CI_ collation: equality and grouping ignore case (printable ASCII emulated exactly).
    "ci_equality": Case(NAMES + " SELECT COUNT(*) AS n FROM #c WHERE name = 'RETAIL';", {"n": 3}),
    "ci_group": Case(NAMES + " SELECT COUNT(*) AS groups FROM (SELECT name FROM #c GROUP BY name) AS g;",
                     {"groups": 2}),
    "ci_distinct": Case(NAMES + " SELECT COUNT(*) AS n FROM (SELECT DISTINCT name FROM #c) AS d;", {"n": 2}),
    "ci_like": Case(NAMES + " SELECT COUNT(*) AS n FROM #c WHERE RTRIM(name) LIKE 'ret%';", {"n": 3}),
    "bin2_equality": Case(NAMES + " SELECT COUNT(*) AS n FROM #c"
                          " WHERE name COLLATE Latin1_General_100_BIN2_UTF8 = 'Retail';", {"n": 1}),
    "ci_width_variant": Case(NAMES + " SELECT COUNT(*) AS n FROM #c WHERE name = N'ＲＥＴＡＩＬ';",
                             refused=True, sqlserver={"n": 3}),
    "ci_non_ascii_value": Case(
        "CREATE TABLE #w (name NVARCHAR(20) COLLATE DATABASE_DEFAULT NULL);"
        " INSERT INTO #w (name) VALUES (N'ＲＥＴＡＩＬ');"
        " SELECT COUNT(*) AS n FROM #w WHERE name = 'retail';",
        refused=True, sqlserver={"n": 1},
    ),
    "ci_order_by": Case(NAMES + " SELECT TOP (1) name FROM #c ORDER BY name;", refused=True, sqlserver=None),
    # A window's ORDER BY text: code points ('A' < 'a' < 'b'); a control character sorts below the padding
    # space on SQL Server ('a' + CHAR(1) before 'a'), so a partition holding one is refused, every row of it.
    "window_order_by_text": Case(
        "CREATE TABLE #o (code VARCHAR(20) COLLATE Latin1_General_100_BIN2_UTF8 NULL);"
        " INSERT INTO #o (code) VALUES ('b'), ('a'), ('A');"
        " SELECT r FROM (SELECT code, ROW_NUMBER() OVER (ORDER BY code) AS r FROM #o) AS x WHERE code = 'b';",
        {"r": 3},
    ),
    "window_order_by_control_character": Case(
        "CREATE TABLE #o (code VARCHAR(20) COLLATE Latin1_General_100_BIN2_UTF8 NULL);"
        " INSERT INTO #o (code) VALUES ('a'), ('a\x01');"
        " SELECT r FROM (SELECT code, ROW_NUMBER() OVER (ORDER BY code) AS r FROM #o) AS x WHERE code = 'a';",
        refused=True, sqlserver={"r": 2},
    ),
    "collation_conflict": Case(
        NAMES + " CREATE TABLE #d (name VARCHAR(20) COLLATE Latin1_General_100_BIN2_UTF8 NULL);"
        " SELECT COUNT(*) AS n FROM #c INNER JOIN #d ON #c.name = #d.name;",
        refused=True, sqlserver=468,
    ),
    "temp_text_without_collate": Case("CREATE TABLE #t (name VARCHAR(20) NULL); SELECT COUNT(*) AS n FROM #t;",
                                      refused=True, sqlserver={"n": 0}),
    "upper_non_ascii": Case("SELECT UPPER(N'straße') AS v;", refused=True, sqlserver=None),
    "replace_ci_letters": Case("DECLARE @s VARCHAR(10) = 'ABC'; SELECT REPLACE(@s, 'b', 'x') AS v;", refused=True,
                               sqlserver={"v": "AxC"}),
    "replace_bin2": Case("DECLARE @s VARCHAR(10) = 'ABC'; SELECT REPLACE(@s COLLATE Latin1_General_100_BIN2_UTF8,"
                         " 'b', 'x') AS v, REPLACE(@s, '%', '%%') AS w;", {"v": "ABC", "w": "ABC"}),
    "text_compared_with_number": Case("DECLARE @s VARCHAR(10) = '12'; SELECT CASE WHEN @s = 12 THEN 1 ELSE 0 END AS v;",
                                      refused=True, sqlserver={"v": 1}),
    # Conversions of text: DuckDB rounds '1.5' to 2 and reads hexadecimal, 'inf', year 0000 and '2026/01/05'.
    "text_to_int": Case("SELECT CAST(' 12 ' AS INT) AS a, TRY_CAST('1.5' AS INT) AS b, TRY_CAST('0x10' AS INT) AS c;",
                        {"a": 12, "b": None, "c": None}),
    "text_to_int_error": Case("DECLARE @s VARCHAR(10) = '1.5'; SELECT CAST(@s AS INT) AS v;", error=245),
    "text_to_float_error": Case("DECLARE @s VARCHAR(10) = 'inf'; SELECT CAST(@s AS FLOAT) AS v;", error=8114),
    "text_to_date_error": Case("DECLARE @s VARCHAR(10) = '0000-01-01'; SELECT CAST(@s AS DATE) AS v;", error=241),
    "text_to_date_other_format": Case("SELECT CAST('2026/01/05' AS DATE) AS v;", refused=True,
                                      sqlserver={"v": dt.date(2026, 1, 5)}),
    "float_into_int_column": Case("CREATE TABLE #i (v INT NOT NULL); INSERT INTO #i (v) VALUES (2.7);"
                                  " SELECT v FROM #i;", {"v": 2}),
    # DATEADD stays inside 0001-01-01 .. 9999-12-31 (error 517); DATEDIFF is an int (error 535).
    "dateadd_range": Case("DECLARE @d DATE = '0001-01-03'; SELECT DATEADD(DAY, -6, @d) AS d;", error=517),
    "dateadd_range_end": Case("DECLARE @d DATE = '9999-12-31'; SELECT DATEADD(DAY, 1, @d) AS d;", error=517),
    "datediff_overflow": Case(
        "SELECT DATEDIFF(SECOND, CAST('0001-01-01' AS DATETIME2), CAST('9999-12-31' AS DATETIME2)) AS v;",
        error=535),
    # A scalar subquery of more than one row is error 512 (DuckDB 1.1+ raises too, with its own text).
    "scalar_subquery_rows": Case(NUMBERS + " SELECT (SELECT v FROM #n) AS v;", error=512),
    # NVARCHAR(n) counts UTF-16 code units: a character outside the BMP takes two.
    "nvarchar_units": Case(
        "CREATE TABLE #u (v NVARCHAR(2) COLLATE DATABASE_DEFAULT NULL); INSERT INTO #u (v) VALUES (N'😀😀');",
        error=2628),
    # THROW: %% is one %, a lone % is reserved (what SQL Server does with it is not documented).
    "throw_escaped_percent": Case("THROW 50001, N'100%% sure', 1;", error=50001),
    "throw_lone_percent": Case("THROW 50001, N'50% sure', 1;", refused=True, sqlserver=50001),
    # XACT_ABORT OFF keeps a transaction alive after some errors in SQL Server; DuckDB always aborts it.
    "transaction_without_xact_abort": Case("SET XACT_ABORT OFF; BEGIN TRANSACTION; ROLLBACK TRANSACTION;"
                                           " SELECT 1 AS v;", refused=True, sqlserver={"v": 1}),
}


def _refusal(error: BaseException) -> bool:
    return isinstance(error, TranslationError) or "DuckDB engine" in str(error)


@pytest.mark.parametrize("name", list(CASES))
def test_the_engines_agree_or_duckdb_refuses(engine, warehouse, name):
    case = CASES[name]
    if engine == "duckdb" and case.refused:
        with pytest.raises((WarehouseError, TranslationError)) as caught:
            warehouse.query(case.tsql)
        assert _refusal(caught.value), f"{name}: {caught.value!r} is not a refusal of the DuckDB engine"
        return
    expected = case.sqlserver if engine == "sqlserver" and case.refused else (case.answer or case.error)
    if isinstance(expected, int):
        with pytest.raises(WarehouseError) as caught:
            warehouse.query(case.tsql)
        assert caught.value.number == expected, f"{name}: {caught.value!r}"
        return
    rows = warehouse.query(case.tsql)
    if expected is not None:
        assert rows == [expected], name


def test_throw_text_is_the_escaped_message(warehouse):
    with pytest.raises(WarehouseError) as caught:
        warehouse.execute("THROW 50001, N'100%% sure', 1;")
    assert caught.value.message == "100% sure"


def test_a_case_insensitive_group_returns_one_of_its_spellings(warehouse):
    rows = warehouse.query(NAMES + " SELECT name, COUNT(*) AS n FROM #c GROUP BY name;")
    by_count = sorted((r["n"], r["name"]) for r in rows)
    assert by_count[0] == (1, "Saas")
    assert by_count[1][0] == 3 and by_count[1][1] in ("Retail", "retail", "RETAIL ")


def test_set_options_of_a_procedure_end_with_it(warehouse):
    warehouse.execute("CREATE OR ALTER PROCEDURE dbo.usp_test_options AS BEGIN SET XACT_ABORT ON; END;")
    warehouse.execute("SET XACT_ABORT OFF; EXEC dbo.usp_test_options;")
    rows = warehouse.query("SELECT CASE WHEN (@@OPTIONS & 16384) = 16384 THEN 1 ELSE 0 END AS xact_abort;"
                           if warehouse.engine == "sqlserver" else "SELECT 1 AS xact_abort;")
    if warehouse.engine == "sqlserver":
        assert rows == [{"xact_abort": 0}]
    else:
        with pytest.raises(WarehouseError, match="XACT_ABORT OFF"):
            warehouse.execute("BEGIN TRANSACTION; ROLLBACK TRANSACTION;")
