"""The strict T-SQL translator: each known trap gives the SQL Server result on every engine, and every
construct outside the subset is refused with file:line before anything runs (docs/tsql-subset.md)."""

from __future__ import annotations

import datetime as dt

import pytest

from company_activity_local.warehouse import TranslationError, WarehouseError, open_warehouse


def one(warehouse, tsql: str, params=None) -> dict:
    rows = warehouse.query(tsql, params)
    assert len(rows) == 1
    return rows[0]


# -- traps: same answer as SQL Server ----------------------------------------------------------


def test_float_is_64_bit_and_bit_is_boolean(warehouse):
    row = one(
        warehouse,
        "CREATE TABLE #t (f FLOAT NOT NULL, b BIT NOT NULL);"
        " INSERT INTO #t (f, b) VALUES (0.1, 1);"
        " DECLARE @x FLOAT = 0.1;"
        " SELECT f, b, @x * 3 AS tripled FROM #t;",
    )
    assert row == {"f": 0.1, "b": True, "tripled": 0.1 * 3}  # 0.30000000000000004, not a 32-bit value
    assert isinstance(row["b"], bool)


def test_duckdb_catalog_types_of_float_and_bit_columns(duckdb_warehouse):
    columns = duckdb_warehouse._connection.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'fact_daily_company_activity'"
        " AND column_name IN ('7d_rolling_active_users', 'is_churn_risk')"
    ).fetchall()
    assert dict(columns) == {"7d_rolling_active_users": "DOUBLE", "is_churn_risk": "BOOLEAN"}


def test_integer_division_truncates_toward_zero(warehouse):
    row = one(warehouse, "SELECT 7 / 2 AS a, -7 / 2 AS b, 7 % 3 AS c, CAST(7 AS FLOAT) / 2 AS d, 7 / 2e0 AS e;")
    assert row == {"a": 3, "b": -3, "c": 1, "d": 3.5, "e": 3.5}


@pytest.mark.parametrize("expression", ["1 / 0", "CAST(1 AS FLOAT) / 0", "5 % 0"])
def test_division_by_zero_raises(warehouse, expression):
    with pytest.raises(WarehouseError) as caught:
        warehouse.query(f"SELECT {expression} AS x;")
    assert caught.value.number == 8134
    assert "Divide by zero error encountered." in str(caught.value)


def test_dateadd_keeps_the_type_of_its_date_argument(warehouse):
    row = one(
        warehouse,
        "DECLARE @d DATE = '2026-01-31';"
        " SELECT DATEADD(DAY, 1, @d) AS next_day, DATEADD(MONTH, 1, @d) AS next_month,"
        " DATEADD(WEEK, -1, @d) AS week_before,"
        " DATEADD(HOUR, 25, CAST('2026-01-31 10:00:00' AS DATETIME2)) AS later;",
    )
    assert row == {
        "next_day": dt.date(2026, 2, 1),
        "next_month": dt.date(2026, 2, 28),
        "week_before": dt.date(2026, 1, 24),
        "later": dt.datetime(2026, 2, 1, 11, 0),
    }
    assert type(row["next_day"]) is dt.date


def test_datediff_counts_boundaries(warehouse):
    row = one(
        warehouse,
        "SELECT DATEDIFF(DAY, CAST('2026-01-01 23:59' AS DATETIME2), CAST('2026-01-02 00:01' AS DATETIME2)) AS days,"
        " DATEDIFF(MONTH, CAST('2026-01-31' AS DATE), CAST('2026-02-01' AS DATE)) AS months,"
        " DATEDIFF(DAY, CAST('2026-03-10' AS DATE), CAST('2026-03-01' AS DATE)) AS backwards;",
    )
    assert row == {"days": 1, "months": 1, "backwards": -9}


def test_convert_and_cast_fail_loudly_and_try_convert_does_not(warehouse):
    with pytest.raises(WarehouseError) as caught:
        warehouse.query("SELECT CONVERT(INT, 'x') AS v;")
    assert caught.value.number == 245
    with pytest.raises(WarehouseError):
        warehouse.query("SELECT CAST('2026-02-30' AS DATE) AS v;")
    assert one(warehouse, "SELECT TRY_CONVERT(INT, 'x') AS a, TRY_CAST('12' AS INT) AS b;") == {"a": None, "b": 12}


def test_casts_truncate_like_sql_server(warehouse):
    row = one(
        warehouse,
        "DECLARE @i INT = 2.9;"
        " SELECT CAST(2.7 AS INT) AS a, CAST(-2.7 AS INT) AS b, CAST(2.7e0 AS INT) AS c,"
        " CAST('abcdef' AS VARCHAR(3)) AS d, @i AS e;",
    )
    assert row == {"a": 2, "b": -2, "c": 2, "d": "abc", "e": 2}


def test_string_concatenation_and_null_handling(warehouse):
    row = one(
        warehouse,
        "DECLARE @missing NVARCHAR(10);"
        " SELECT 'a' + 'b' AS plus, 'a' + @missing AS plus_null, CONCAT('a', @missing, 'b') AS concat,"
        " ISNULL(@missing, 'x') AS isnull_, COALESCE(@missing, NULL, 'y') AS coalesce_, LEN('ab  ') AS len_;",
    )
    assert row == {"plus": "ab", "plus_null": None, "concat": "ab", "isnull_": "x", "coalesce_": "y", "len_": 2}


def test_varchar_length_is_enforced_in_utf8_bytes(warehouse):
    warehouse.execute("CREATE TABLE #t (city VARCHAR(7) COLLATE DATABASE_DEFAULT NOT NULL);")
    warehouse.execute("INSERT INTO #t (city) VALUES (N'Zürich');")  # 7 bytes in UTF-8
    with pytest.raises(WarehouseError) as caught:
        warehouse.execute("INSERT INTO #t (city) VALUES (N'Zürich!');")
    assert caught.value.number == 2628
    assert one(warehouse, "SELECT city FROM #t;") == {"city": "Zürich"}


def test_merge_refuses_duplicate_source_rows(warehouse):
    warehouse.execute("CREATE TABLE #t (k INT NOT NULL PRIMARY KEY, v INT NOT NULL); INSERT INTO #t VALUES (1, 0);")
    with pytest.raises(WarehouseError) as caught:
        warehouse.execute(
            "MERGE #t AS t USING (SELECT 1 AS k, 1 AS v UNION ALL SELECT 1, 2) AS s ON t.k = s.k"
            " WHEN MATCHED THEN UPDATE SET v = s.v;"
        )
    assert caught.value.number == 8672
    assert one(warehouse, "SELECT v FROM #t;") == {"v": 0}
    warehouse.execute(
        "MERGE #t AS t USING (SELECT 1 AS k, 5 AS v UNION ALL SELECT 2, 6) AS s ON t.k = s.k AND s.v > @floor"
        " WHEN MATCHED THEN UPDATE SET t.v = s.v WHEN NOT MATCHED THEN INSERT (k, v) VALUES (s.k, s.v);",
        {"floor": 0},
    )
    assert warehouse.query("SELECT k, v FROM #t ORDER BY k;") == [{"k": 1, "v": 5}, {"k": 2, "v": 6}]


def test_recursive_cte_and_bracketed_identifiers(warehouse):
    row = one(
        warehouse,
        "WITH n AS (SELECT 1 AS i UNION ALL SELECT i + 1 FROM n WHERE i < 5) SELECT SUM(i) AS [7d total] FROM n;",
    )
    assert row == {"7d total": 15}


def test_aggregates_ordering_and_top(warehouse):
    warehouse.execute("CREATE TABLE #t (v INT NULL); INSERT INTO #t (v) VALUES (1), (2), (NULL), (4);")
    assert one(warehouse, "SELECT AVG(v) AS a, COUNT(*) AS n, COUNT(v) AS m, SUM(v) AS s FROM #t;") == {
        "a": 2,  # integer average: 7 / 3
        "n": 4,
        "m": 3,
        "s": 7,
    }
    assert [r["v"] for r in warehouse.query("SELECT TOP (2) v FROM #t ORDER BY v;")] == [None, 1]
    assert [r["v"] for r in warehouse.query("SELECT TOP (1) v FROM #t ORDER BY v DESC;")] == [4]


def test_window_functions(warehouse):
    warehouse.execute("CREATE TABLE #t (g INT NOT NULL, v INT NOT NULL); INSERT INTO #t VALUES (1, 1), (1, 2), (1, 4);")
    rows = warehouse.query(
        "SELECT v, ROW_NUMBER() OVER (PARTITION BY g ORDER BY v DESC) AS rn,"
        " SUM(v) OVER (PARTITION BY g ORDER BY v ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS pair"
        " FROM #t ORDER BY v;"
    )
    assert rows == [{"v": 1, "rn": 3, "pair": 1}, {"v": 2, "rn": 2, "pair": 3}, {"v": 4, "rn": 1, "pair": 6}]


def test_identity_and_default_columns(warehouse):
    row = one(
        warehouse,
        "CREATE TABLE #d (id INT IDENTITY(10, 5) NOT NULL, v INT NOT NULL DEFAULT 7,"
        " at DATETIME2 NOT NULL DEFAULT SYSUTCDATETIME());"
        " INSERT INTO #d (v) VALUES (1); INSERT INTO #d (v) VALUES (2);"
        " SELECT MAX(id) AS last_id, SUM(v) AS total, MIN(at) AS at FROM #d;",
    )
    assert (row["last_id"], row["total"]) == (15, 3)
    assert isinstance(row["at"], dt.datetime)


def test_nested_procedure_call_returns_a_value_and_drops_its_temp_tables(warehouse):
    warehouse.execute(
        "CREATE OR ALTER PROCEDURE dbo.usp_test_double @x INT AS\n"
        "BEGIN\n"
        "    CREATE TABLE #scratch (v INT NOT NULL);\n"
        "    INSERT INTO #scratch (v) VALUES (@x);\n"
        "    RETURN @x * 2;\n"
        "END;"
    )
    assert one(warehouse, "DECLARE @r INT; EXEC @r = dbo.usp_test_double @x = 21; SELECT @r AS r;") == {"r": 42}
    with pytest.raises(WarehouseError):
        warehouse.query("SELECT v FROM #scratch;")


def test_update_from_join_and_rowcount(warehouse):
    row = one(
        warehouse,
        "CREATE TABLE #a (k INT NOT NULL, v INT NOT NULL); CREATE TABLE #b (k INT NOT NULL, v INT NOT NULL);"
        " INSERT INTO #a VALUES (1, 0), (2, 0), (3, 0); INSERT INTO #b VALUES (1, 10), (3, 30);"
        " DECLARE @floor INT = 0;"
        " UPDATE a SET v = b.v FROM #a AS a INNER JOIN #b AS b ON b.k = a.k WHERE b.v > @floor;"
        " DECLARE @updated INT = @@ROWCOUNT;"
        " SELECT @updated AS updated, SUM(v) AS total FROM #a;",
    )
    assert row == {"updated": 2, "total": 40}


def test_select_assignment_from_no_row_keeps_the_variable(warehouse):
    row = one(
        warehouse,
        "DECLARE @v INT = 5, @w INT = 1;"
        " SELECT @v = 1 WHERE 1 = 0;"
        " SELECT TOP (1) @w = v FROM (SELECT 7 AS v UNION ALL SELECT 8) AS t ORDER BY v DESC;"
        " SELECT @v AS v, @w AS w;",
    )
    assert row == {"v": 5, "w": 8}


def test_try_catch_exposes_the_error_and_throw_reraises_it(warehouse):
    row = one(
        warehouse,
        "BEGIN TRY SELECT 1 / 0 AS never; END TRY"
        " BEGIN CATCH SELECT ERROR_NUMBER() AS n, ERROR_MESSAGE() AS m; END CATCH;",
    )
    assert row == {"n": 8134, "m": "Divide by zero error encountered."}
    with pytest.raises(WarehouseError) as caught:
        warehouse.execute("BEGIN TRY THROW 50010, N'custom failure', 1; END TRY BEGIN CATCH THROW; END CATCH;")
    assert (caught.value.number, str(caught.value)) == (50010, "custom failure")


def test_xact_abort_dooms_the_transaction_and_rollback_undoes_it(warehouse):
    row = one(
        warehouse,
        "SET XACT_ABORT ON; CREATE TABLE #t (v INT NOT NULL);"
        " BEGIN TRY"
        "   BEGIN TRANSACTION; BEGIN TRANSACTION;"
        "   INSERT INTO #t (v) VALUES (1);"
        "   COMMIT TRANSACTION;"  # inner commit: nothing is committed yet
        "   THROW 50001, N'fail', 1;"
        " END TRY"
        " BEGIN CATCH"
        "   DECLARE @state INT = XACT_STATE(), @count INT = @@TRANCOUNT;"
        "   ROLLBACK TRANSACTION;"
        "   SELECT @state AS state, @count AS trancount, @@TRANCOUNT AS after, COUNT(*) AS n FROM #t;"
        " END CATCH;",
    )
    assert row == {"state": -1, "trancount": 1, "after": 0, "n": 0}


def test_an_error_leaving_a_batch_rolls_back_its_open_transaction(warehouse):
    warehouse.execute("CREATE TABLE #t (v INT NOT NULL);")
    with pytest.raises(WarehouseError):
        warehouse.execute("SET XACT_ABORT ON; BEGIN TRANSACTION; INSERT INTO #t (v) VALUES (1); SELECT 1 / 0 AS x;")
    assert one(warehouse, "SELECT @@TRANCOUNT AS open_, COUNT(*) AS n FROM #t;") == {"open_": 0, "n": 0}


def test_sp_getapplock_needs_a_transaction_for_a_transaction_lock(warehouse):
    with pytest.raises(WarehouseError, match="transaction"):
        warehouse.execute(
            "DECLARE @r INT; EXEC @r = sp_getapplock @Resource = N'x', @LockMode = N'Exclusive',"
            " @LockOwner = N'Transaction', @LockTimeout = 0;"
            " IF @r < 0 THROW 50000, N'not granted outside a transaction', 1;"
        )
    row = one(
        warehouse,
        "SET XACT_ABORT ON; BEGIN TRANSACTION; DECLARE @r INT;"
        " EXEC @r = sp_getapplock @Resource = N'x', @LockMode = N'Exclusive', @LockOwner = N'Transaction';"
        " COMMIT TRANSACTION; SELECT @r AS granted;",
    )
    assert row == {"granted": 0}


@pytest.fixture()
def other_session(engine, warehouse, request):
    """A second connection to the same warehouse."""
    if engine == "duckdb":
        other = open_warehouse(duckdb_path=warehouse.path)
    else:
        other = open_warehouse(connection_string=request.getfixturevalue("sqlserver_connection_string"))
    yield other
    other.close()


def _take(session, resource: str) -> int:
    row = session.query(
        f"DECLARE @r INT; EXEC @r = sp_getapplock @Resource = N'{resource}', @LockMode = N'Exclusive',"
        " @LockOwner = N'Session', @LockTimeout = 0; SELECT @r AS r;"
    )
    return int(row[0]["r"])


def test_sp_getapplock_resources_are_case_sensitive_and_counted(warehouse, other_session):
    """"resource_name is binary compared, thus is case-sensitive regardless of the collation"; a lock taken
    twice needs two releases ("sp_getapplock", "sp_releaseapplock")."""
    release = "EXEC sp_releaseapplock @Resource = N'{}', @LockOwner = N'Session';"
    try:
        assert _take(warehouse, "Deploy") == 0
        assert _take(other_session, "deploy") == 0  # another resource
        assert _take(other_session, "Deploy") == -1  # held by the first session
        assert _take(warehouse, "Deploy") == 0  # the holder takes it again
        warehouse.execute(release.format("Deploy"))
        assert _take(other_session, "Deploy") == -1  # one release of two: still held
        warehouse.execute(release.format("Deploy"))
        assert _take(other_session, "Deploy") == 0
    finally:
        other_session.execute(release.format("deploy") + release.format("Deploy"))


# -- refusals: file:line, construct, and nothing runs ------------------------------------------

REFUSED = [
    ("DECLARE c CURSOR FOR SELECT 1 AS x;", "cursor"),
    ("WHILE 1 = 1 SELECT 1 AS x;", "WHILE loop"),
    ("DECLARE @sql NVARCHAR(100) = N'SELECT 1'; EXEC (@sql);", "dynamic SQL"),
    ("EXEC sp_executesql N'SELECT 1';", "dynamic SQL (sp_executesql)"),
    (
        "INSERT INTO stg.crm_company (snapshot_date, company_id) OUTPUT inserted.company_id"
        " VALUES ('2026-01-01', 'x');",
        "OUTPUT clause",
    ),
    ("SELECT SOUNDEX('a') AS x;", "function SOUNDEX"),
    ("SELECT NEWID() AS x;", "function NEWID"),
    ("SELECT CHARINDEX('a', company_id) AS x FROM dbo.dim_company;", "function CHARINDEX"),
    ("DBCC CHECKDB;", "statement DBCC"),
    ("SELECT company_id FROM dbo.dim_company FOR JSON PATH;", "FOR JSON"),
    ("SELECT TOP 10 PERCENT company_id FROM dbo.dim_company;", "TOP ... PERCENT"),
    ("CREATE FUNCTION dbo.f() RETURNS INT AS BEGIN RETURN 1; END;", "CREATE FUNCTION"),
    ("SELECT company_id FROM dbo.dim_company WITH (NOLOCK);", "table hint"),
    ("GOTO done;", "GOTO"),
    ("done: SELECT 1 AS x;", "label"),
    ("SELECT 1 AS a INTO #copy;", "SELECT ... INTO"),
    ("SELECT d.company_id FROM dbo.dim_company AS d CROSS APPLY (SELECT 1 AS x) AS y;", "APPLY"),
    ("RAISERROR ('x', 16, 1);", "RAISERROR"),
    ("PRINT 'x';", "PRINT"),
    ("DECLARE @d DATETIME = '2026-01-01';", "type DATETIME"),
    ("DECLARE @r REAL = 1;", "type REAL"),
    ("DECLARE @s VARCHAR = 'x';", "type VARCHAR"),
    ("DECLARE @t TABLE (a INT);", "table variable"),
    ("DECLARE @t AS TABLE (a INT);", "table variable"),
    ("SELECT CONVERT(VARCHAR(10), CAST('2026-01-01' AS DATE), 120) AS x;", "CONVERT with a style"),
    ("SELECT DATEDIFF(WEEK, CAST('2026-01-01' AS DATE), CAST('2026-02-01' AS DATE)) AS x;", "DATEDIFF(WEEK"),
    ("SELECT company_id FROM dbo.dim_company WHERE company_name LIKE '[a-c]%';", "LIKE"),
    ("SELECT x.v / 2 AS r FROM (VALUES (1)) AS x(v);", "unknown type"),
    ("SELECT company_id + 1 AS r FROM dbo.dim_company;", "operator + on string"),
    ("SELECT first_seen_date + 1 AS r FROM dbo.dim_company;", "operator + on date"),
    ("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;", "SET TRANSACTION"),
    ("SAVE TRANSACTION s1;", "SAVE TRANSACTION"),
    ("SELECT @@ERROR AS e;", "@@ERROR"),
    ("SELECT company_id FROM otherdb.dbo.dim_company;", "three-part table name"),
    ("SELECT 1 AS x OPTION (MAXRECURSION 10);", "OPTION"),
    ("UPDATE TOP (1) dbo.dim_company SET country = 'x';", "unparsable statement"),
    (
        "CREATE TABLE #x (a INT, CONSTRAINT fk FOREIGN KEY (a) REFERENCES dbo.dim_company (company_id));",
        "table constraint",
    ),
    (
        "MERGE dbo.dim_company AS d USING stg.crm_company AS s ON d.company_id = s.company_id"
        " WHEN NOT MATCHED BY SOURCE THEN DELETE;",
        "NOT MATCHED BY SOURCE",
    ),
    (
        "DELETE d FROM dbo.dim_company AS d INNER JOIN stg.crm_company AS s ON s.company_id = d.company_id;",
        "DELETE with a FROM/JOIN list",
    ),
    ("CREATE VIEW dbo.v AS SELECT 1 AS x;", "CREATE VIEW"),
    ("SELECT @undeclared AS x;", "undeclared variable @undeclared"),
]


@pytest.mark.parametrize(("statement", "construct"), REFUSED, ids=[c for _, c in REFUSED])
def test_constructs_outside_the_subset_are_refused_with_file_and_line(duckdb_warehouse, statement, construct):
    batch = (
        "-- line 1\n"
        "INSERT INTO stg.crm_company (snapshot_date, company_id) VALUES ('2026-01-01', 'before');\n"
        f"{statement}\n"
        "SELECT 1 AS after_;\n"
    )
    with pytest.raises(TranslationError) as caught:
        duckdb_warehouse.execute(batch)
    error = caught.value
    assert (error.file, error.line) == ("<batch>", 3), str(error)
    assert construct in error.construct or construct in str(error)
    assert str(error).startswith("<batch>:3: unsupported T-SQL construct ")
    # The whole batch is translated before any statement runs.
    assert duckdb_warehouse.query("SELECT COUNT(*) AS n FROM stg.crm_company;") == [{"n": 0}]


def test_a_refusal_inside_a_multi_line_statement_names_the_line_of_the_construct(duckdb_warehouse):
    batch = "SELECT\n    company_id,\n    SOUNDEX(company_name) AS sound\nFROM dbo.dim_company;\n"
    with pytest.raises(TranslationError) as caught:
        duckdb_warehouse.execute(batch)
    assert caught.value.line == 3
