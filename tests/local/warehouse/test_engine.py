"""The Warehouse interface, identical on every engine: Python values, parameters, bulk inserts,
procedure calls and their errors."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from decimal import Decimal

import pytest

from company_activity.settings import SettingsError
from company_activity_local.warehouse import Warehouse, WarehouseError, open_warehouse
from company_activity_local.warehouse.sqlserver import _tsql_type, odbc_message, prepare_connection_string
from tests.support.warehouse_helpers import PROCEDURE, USAGE_COLUMNS

JAN_1 = dt.date(2026, 1, 1)


def test_query_returns_the_same_python_types_on_every_engine(warehouse):
    row = warehouse.query(
        "SELECT CAST(1 AS INT) AS i, CAST(2 AS BIGINT) AS big, CAST(1.5 AS FLOAT) AS f, CAST(1 AS BIT) AS b,"
        " CAST('2026-01-02' AS DATE) AS d, CAST('2026-01-02 03:04:05.25' AS DATETIME2) AS t,"
        " N'Zoë' AS s, CAST(NULL AS INT) AS n, CAST(1.25 AS DECIMAL(5, 2)) AS m;"
    )
    assert row == [
        {
            "i": 1,
            "big": 2,
            "f": 1.5,
            "b": True,
            "d": dt.date(2026, 1, 2),
            "t": dt.datetime(2026, 1, 2, 3, 4, 5, 250000),
            "s": "Zoë",
            "n": None,
            "m": Decimal("1.25"),
        }
    ]
    assert [type(v) for v in row[0].values()] == [int, int, float, bool, dt.date, dt.datetime, str, type(None), Decimal]


def test_parameters_are_bound_as_variables(warehouse):
    params = {"day": dt.date(2026, 1, 2), "count": 41, "name": "it's", "ratio": 0.5, "flag": True, "none": None}
    row = warehouse.query(
        "SELECT DATEADD(DAY, 1, @day) AS next_day, @count + 1 AS answer, @name AS name, @ratio * 2 AS one,"
        " @flag AS flag, @none AS none_;",
        params,
    )
    assert row == [
        {"next_day": dt.date(2026, 1, 3), "answer": 42, "name": "it's", "one": 1.0, "flag": True, "none_": None}
    ]


def test_execute_runs_an_adf_pre_copy_script(warehouse):
    rows = [(dt.date(2026, 1, 1), "a", 1, 1, None), (dt.date(2026, 1, 2), "a", 2, 2, None)]
    assert warehouse.insert_rows("stg.product_usage_daily", USAGE_COLUMNS, rows) == 2
    warehouse.execute("DELETE FROM stg.product_usage_daily WHERE usage_date = '2026-01-01'")  # no `;`, as ADF sends
    assert warehouse.query("SELECT usage_date FROM stg.product_usage_daily;") == [{"usage_date": dt.date(2026, 1, 2)}]


def test_query_of_a_batch_without_result_set_is_an_error(warehouse):
    with pytest.raises(WarehouseError, match="no result set"):
        warehouse.query("DELETE FROM stg.product_usage_daily;")


def test_insert_rows_loads_many_rows_and_accepts_case_and_brackets(warehouse):
    rows = ((dt.date(2026, 1, 1), f"c{i:05d}", i % 7, i, "run-1") for i in range(25_000))
    columns = ["Usage_Date", "[company_id]", "ACTIVE_USERS", "events", "bronze_run_id"]
    assert warehouse.insert_rows("[stg].[product_usage_daily]", columns, rows) == 25_000
    assert warehouse.query("SELECT COUNT(*) AS n, SUM(events) AS s FROM stg.product_usage_daily;") == [
        {"n": 25_000, "s": sum(range(25_000))}
    ]


@pytest.mark.parametrize(
    ("table", "columns", "rows", "message"),
    [
        ("stg.nope", ["company_id"], [("a",)], "table stg.nope does not exist"),
        ("stg.crm_company", ["snapshot_date", "company"], [(JAN_1, "a")], "has no column 'company'"),
        ("stg.crm_company", ["snapshot_date", "snapshot_date"], [(JAN_1, JAN_1)], "duplicate column"),
        ("stg.crm_company", ["snapshot_date", "company_id"], [(JAN_1,)], "row 0 of stg.crm_company has 1 values"),
        ("stg.crm_company", ["snapshot_date", "company_id"], [(JAN_1, "a"), ("not a date", "b")], "stg.crm_company"),
        ("stg.crm_company", ["snapshot_date", "company_id"], [(JAN_1, "a"), (JAN_1, None)], "stg.crm_company"),
        ("stg.crm_company", ["snapshot_date", "company_id"], [(JAN_1, "a"), (JAN_1, "x" * 65)], "truncat"),
        ("dbo.dim_company; DROP TABLE x", ["company_id"], [("a",)], "invalid"),
    ],
)
def test_insert_rows_refuses_bad_input_and_inserts_nothing(warehouse, table, columns, rows, message):
    with pytest.raises(WarehouseError, match=message):
        warehouse.insert_rows(table, columns, rows)
    assert warehouse.query("SELECT COUNT(*) AS n FROM stg.crm_company;") == [{"n": 0}]


def test_procedure_call_errors_carry_the_sql_server_numbers(warehouse):
    with pytest.raises(WarehouseError) as caught:
        warehouse.call_procedure("dbo.usp_does_not_exist", {})
    assert caught.value.number == 2812
    with pytest.raises(WarehouseError) as caught:
        warehouse.call_procedure(PROCEDURE, {"run_id": "x"})
    assert caught.value.number == 201 and "@run_date" in str(caught.value)
    with pytest.raises(WarehouseError) as caught:
        warehouse.call_procedure(PROCEDURE, {"run_date": dt.date(2026, 1, 1), "run_id": "x", "bogus": 1})
    assert caught.value.number == 8145 and "@bogus" in str(caught.value)
    with pytest.raises(WarehouseError, match="invalid"):
        warehouse.call_procedure("dbo.p; DROP TABLE x", {})


def test_a_procedure_created_by_a_batch_can_be_called_and_altered(warehouse):
    warehouse.execute(
        "CREATE OR ALTER PROCEDURE dbo.usp_test_add @a INT, @b INT = 10 AS\n"
        "BEGIN\n  INSERT INTO etl.load_log (run_id, run_date, status, rows_inserted, rows_updated, rows_deleted,"
        " started_at, finished_at)\n  VALUES (N'p', '2026-01-01', 'succeeded', @a + @b, 0, 0, SYSUTCDATETIME(),"
        " SYSUTCDATETIME());\nEND;"
    )
    warehouse.call_procedure("dbo.usp_test_add", {"a": 1})
    warehouse.call_procedure("usp_test_add", {"@a": 1, "b": 2})
    assert [
        r["rows_inserted"] for r in warehouse.query("SELECT rows_inserted FROM etl.load_log ORDER BY load_id;")
    ] == [
        11,
        3,
    ]
    with pytest.raises(WarehouseError) as caught:
        warehouse.execute("CREATE PROCEDURE dbo.usp_test_add AS BEGIN RETURN; END;")
    assert caught.value.number == 2714


def test_the_warehouse_is_a_context_manager_and_implements_the_protocol(tmp_path):
    with open_warehouse(duckdb_path=tmp_path / "w.duckdb") as warehouse:
        assert isinstance(warehouse, Warehouse)
        assert warehouse.engine == "duckdb"
    with pytest.raises(ValueError, match="exactly one"):
        open_warehouse()
    with pytest.raises(ValueError, match="exactly one"):
        open_warehouse(duckdb_path=tmp_path / "w.duckdb", connection_string="Driver=x")


@pytest.mark.cli
def test_the_duckdb_path_never_imports_pyodbc(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["pyodbc"] = None  # any import of it would now fail
        from company_activity_local.warehouse import open_warehouse
        with open_warehouse(duckdb_path={str(tmp_path / "w.duckdb")!r}) as warehouse:
            warehouse.deploy()
            warehouse.query("SELECT 1 AS x;")
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def test_sql_server_messages_are_read_from_odbc_errors():
    error = Exception(
        "42000",
        "[42000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]stg.crm_company has duplicate rows for "
        "snapshot_date 2026-03-02 (e.g. company_id 'zz-1') (50002) (SQLExecDirectW)",
    )
    assert odbc_message(error) == (
        "stg.crm_company has duplicate rows for snapshot_date 2026-03-02 (e.g. company_id 'zz-1')",
        50002,
    )
    error = Exception(
        "23000",
        "[23000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Violation of PRIMARY KEY constraint 'pk'. "
        "(2627) (SQLExecDirectW); [23000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]"
        "The statement has been terminated. (3621)",
    )
    assert odbc_message(error) == ("Violation of PRIMARY KEY constraint 'pk'.", 2627)


def test_entra_default_authentication_becomes_an_access_token():
    cs = (
        "Driver={ODBC Driver 18 for SQL Server};Server=tcp:x.database.windows.net;"
        "Authentication=ActiveDirectoryDefault;Database=db"
    )
    assert prepare_connection_string(cs) == (
        "Driver={ODBC Driver 18 for SQL Server};Server=tcp:x.database.windows.net;Database=db",
        True,
    )
    msi = "Driver={ODBC Driver 18 for SQL Server};Server=tcp:x;Authentication=ActiveDirectoryMsi"
    assert prepare_connection_string(msi) == (msi, False)


def test_text_parameters_are_varchar_variables_that_keep_every_character(warehouse):
    """A text parameter is a VARCHAR variable (an NVARCHAR one would make SQL Server convert the VARCHAR key
    column it is compared with, losing the seek); the UTF-8 collation keeps every character."""
    text = "Zürich 😀"
    warehouse.execute("CREATE TABLE #k (id VARCHAR(64) COLLATE Latin1_General_100_BIN2_UTF8 NOT NULL PRIMARY KEY);"
                      " INSERT INTO #k (id) VALUES (@id);", {"id": text})
    rows = warehouse.query("SELECT id, CASE WHEN id = @id THEN 1 ELSE 0 END AS same FROM #k;", {"id": text})
    assert rows == [{"id": text, "same": 1}]
    if warehouse.engine == "sqlserver":
        [row] = warehouse.query("SELECT CAST(SQL_VARIANT_PROPERTY(@id, 'BaseType') AS VARCHAR(20)) AS t;",
                                {"id": text})
        assert row == {"t": "varchar"}


def test_sql_server_text_variables_are_varchar_of_their_utf8_size():
    assert _tsql_type("x") == _tsql_type(None) == "VARCHAR(8000)"
    assert _tsql_type("é" * 4000) == "VARCHAR(8000)"  # 8000 bytes
    assert _tsql_type("é" * 4001) == "VARCHAR(MAX)"


def test_the_sql_server_test_database_runs_like_azure_sql_database(engine, warehouse):
    """Read committed snapshot and snapshot isolation are on in Azure SQL Database (and cannot be turned
    off); SQL Server's default is off, so the test databases turn them on."""
    if engine != "sqlserver":
        pytest.skip("a property of the SQL Server test database")
    [row] = warehouse.query(
        "SELECT CAST(is_read_committed_snapshot_on AS INT) AS rcsi, CAST(snapshot_isolation_state AS INT) AS si,"
        " CAST(collation_name AS VARCHAR(128)) AS collation FROM sys.databases WHERE name = DB_NAME();"
    )
    assert row == {"rcsi": 1, "si": 1, "collation": "Latin1_General_100_CI_AS_SC_UTF8"}


def test_duckdb_threads_sets_the_warehouse_s_threads_and_a_bad_value_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("DUCKDB_THREADS", "3")
    with open_warehouse(duckdb_path=tmp_path / "w.duckdb") as warehouse:
        assert warehouse._connection.execute("SELECT current_setting('threads')").fetchone() == (3,)
    monkeypatch.setenv("DUCKDB_THREADS", "0")
    with pytest.raises(SettingsError, match=r"DUCKDB_THREADS must be between 1 and 1024, got '0'"):
        open_warehouse(duckdb_path=tmp_path / "w.duckdb")
