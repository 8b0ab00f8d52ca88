"""Ordered, idempotent deployment of sql/ and the `sql deploy` command."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from company_activity_local.cli import main
from company_activity_local.warehouse import TranslationError, WarehouseError, engine
from company_activity_local.warehouse.deploy import DEPLOY_LOCK, MigrationError, sql_files
from company_activity_local.warehouse.duckdb_engine import DuckDBWarehouse
from tests.support.warehouse_helpers import PROCEDURE

MIGRATIONS = sorted(p.name for p in (engine.SQL_DIR / "migrations").glob("*.sql"))
PROCEDURES = sorted(p.name for p in (engine.SQL_DIR / "procedures").glob("*.sql"))


@pytest.fixture()
def sql_dir(tmp_path: Path) -> Path:
    """A copy of sql/ the test may edit."""
    copy = tmp_path / "sql"
    shutil.copytree(engine.SQL_DIR, copy)
    return copy


def deployed(path: Path, sql_dir: Path) -> tuple[DuckDBWarehouse, object]:
    warehouse = DuckDBWarehouse(path, sql_dir=sql_dir)
    return warehouse, warehouse.deploy()


def test_a_second_deploy_applies_no_migration_and_recreates_the_procedures(warehouse):
    report = warehouse.deploy()  # the fixture deployed once already
    assert (report.applied, report.skipped, report.procedures) == ([], MIGRATIONS, PROCEDURES)
    assert report.procedure_changes == {name: "unchanged" for name in PROCEDURES}


def test_migrations_apply_once_in_order_with_their_sha256(tmp_path, sql_dir):
    warehouse, report = deployed(tmp_path / "w.duckdb", sql_dir)
    with warehouse:
        assert report.applied == MIGRATIONS and report.skipped == []
        recorded = warehouse.query("SELECT file_name, sha256 FROM etl.schema_migrations ORDER BY file_name;")
        expected = [
            {"file_name": p.name, "sha256": hashlib.sha256(p.read_bytes().replace(b"\r\n", b"\n")).hexdigest()}
            for p in sorted((sql_dir / "migrations").glob("*.sql"))
        ]
        assert recorded == expected


def test_procedures_are_recreated_on_every_deploy(tmp_path, sql_dir):
    warehouse, first = deployed(tmp_path / "w.duckdb", sql_dir)
    assert first.procedure_changes == {name: "created" for name in PROCEDURES}
    with warehouse:
        procedure = sql_dir / "procedures" / PROCEDURES[0]
        text = procedure.read_text()
        procedure.write_text(text.replace("must not be NULL", "are required (v2)"))
        report = warehouse.deploy()
        assert report.applied == [] and report.procedures == PROCEDURES
        assert report.procedure_changes[PROCEDURES[0]] == "altered"
        with pytest.raises(WarehouseError, match=r"are required \(v2\)"):
            warehouse.call_procedure(PROCEDURE, {"run_date": None, "run_id": "x"})


def test_an_edited_applied_migration_is_refused_and_nothing_after_it_runs(tmp_path, sql_dir):
    warehouse, _ = deployed(tmp_path / "w.duckdb", sql_dir)
    with warehouse:
        staging = sql_dir / "migrations" / "0002_staging.sql"
        staging.write_text(staging.read_text().replace("bronze_run_id VARCHAR(64)", "bronze_run_id VARCHAR(80)"))
        (sql_dir / "migrations" / "0099_new.sql").write_text("CREATE TABLE dbo.added (a INT NOT NULL);\n")
        with pytest.raises(MigrationError, match=r"sql/migrations/0002_staging.sql: changed after it was applied"):
            warehouse.deploy()
        assert warehouse.query("SELECT COUNT(*) AS n FROM etl.schema_migrations;") == [{"n": len(MIGRATIONS)}]
        with pytest.raises(WarehouseError):
            warehouse.query("SELECT a FROM dbo.added;")


def test_line_endings_do_not_count_as_an_edit(tmp_path, sql_dir):
    warehouse, _ = deployed(tmp_path / "w.duckdb", sql_dir)
    with warehouse:
        staging = sql_dir / "migrations" / "0002_staging.sql"
        staging.write_bytes(staging.read_bytes().replace(b"\n", b"\r\n"))
        assert warehouse.deploy().skipped == MIGRATIONS


def test_a_new_migration_is_applied_and_a_misplaced_one_is_refused(tmp_path, sql_dir):
    warehouse, _ = deployed(tmp_path / "w.duckdb", sql_dir)
    with warehouse:
        (sql_dir / "migrations" / "0099_segment.sql").write_text(
            "ALTER TABLE dbo.dim_company ADD segment INT NULL;\n"
        )
        assert warehouse.deploy().applied == ["0099_segment.sql"]
        assert warehouse.query("SELECT segment FROM dbo.dim_company;") == []
        (sql_dir / "migrations" / "0003a_late.sql").write_text("CREATE TABLE dbo.late (a INT NOT NULL);\n")
        with pytest.raises(MigrationError, match=r"0003a_late\.sql: sorts before 0099_segment\.sql"):
            warehouse.deploy()
        (sql_dir / "migrations" / "0003a_late.sql").unlink()
        (sql_dir / "migrations" / "0099_segment.sql").unlink()
        with pytest.raises(
            MigrationError, match=r"0099_segment\.sql is recorded .* but sql/migrations has no such file"
        ):
            warehouse.deploy()


def test_a_failing_migration_leaves_no_trace_and_can_be_fixed(tmp_path, sql_dir):
    warehouse, _ = deployed(tmp_path / "w.duckdb", sql_dir)
    with warehouse:
        broken = sql_dir / "migrations" / "0099_broken.sql"
        broken.write_text(
            "CREATE TABLE dbo.lookup (code VARCHAR(8) COLLATE Latin1_General_100_BIN2_UTF8 NOT NULL PRIMARY KEY);\n"
            "INSERT INTO dbo.lookup (code) VALUES ('a'), ('a');\n"
        )
        with pytest.raises(WarehouseError, match=r"sql/migrations/0099_broken\.sql"):
            warehouse.deploy()
        assert warehouse.query("SELECT COUNT(*) AS n FROM etl.schema_migrations;") == [{"n": len(MIGRATIONS)}]
        assert warehouse.query("SELECT @@TRANCOUNT AS n;") == [{"n": 0}]
        with pytest.raises(WarehouseError):
            warehouse.query("SELECT code FROM dbo.lookup;")
        broken.write_text(broken.read_text().replace("('a'), ('a')", "('a'), ('b')"))
        assert warehouse.deploy().applied == ["0099_broken.sql"]
        assert warehouse.query("SELECT COUNT(*) AS n FROM dbo.lookup;") == [{"n": 2}]


def test_a_deploy_waits_for_the_deploy_lock_another_session_holds(tmp_path, sql_dir):
    """Two deploys of one database run one after the other: each holds sp_getapplock's session lock
    DEPLOY_LOCK for its whole run, so the second finds the first one's migrations applied."""
    path = tmp_path / "w.duckdb"
    warehouse, _ = deployed(path, sql_dir)
    other = DuckDBWarehouse(path, sql_dir=sql_dir)
    with warehouse, other:
        (sql_dir / "migrations" / "0099_segment.sql").write_text("ALTER TABLE dbo.dim_company ADD segment INT NULL;\n")
        other.execute(
            "DECLARE @granted INT; EXEC @granted = sp_getapplock @Resource = N'" + DEPLOY_LOCK + "',"
            " @LockMode = N'Exclusive', @LockOwner = N'Session', @LockTimeout = 0;"
            " IF @granted < 0 THROW 50000, N'lock not granted', 1;"
        )
        reports: list[object] = []
        worker = threading.Thread(target=lambda: reports.append(warehouse.deploy()))
        worker.start()
        worker.join(timeout=1.0)
        assert worker.is_alive(), "the deploy did not wait for the lock"
        assert other.query("SELECT COUNT(*) AS n FROM etl.schema_migrations WHERE file_name = '0099_segment.sql';") == [
            {"n": 0}
        ]
        other.execute("EXEC sp_releaseapplock @Resource = N'" + DEPLOY_LOCK + "', @LockOwner = N'Session';")
        worker.join(timeout=120)
        assert not worker.is_alive()
        assert [report.applied for report in reports] == [["0099_segment.sql"]]  # type: ignore[attr-defined]
        assert other.deploy().applied == []


def test_a_duckdb_file_without_tsql_types_is_refused_with_what_to_do(tmp_path, sql_dir):
    """Files written before the engine recorded each column's T-SQL type in its comment (issue 18) cannot be
    migrated: their text columns' collations are unknown. The deploy says so instead of failing mid-migration."""
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as old:
        old.execute("CREATE SCHEMA etl; CREATE TABLE etl.schema_migrations (file_name VARCHAR, sha256 VARCHAR, "
                    "applied_at TIMESTAMP)")
    with DuckDBWarehouse(path, sql_dir=sql_dir) as warehouse, \
            pytest.raises(WarehouseError, match=r"older DuckDB engine .*etl\.schema_migrations.* deploy to a new file"):
        warehouse.deploy()


def test_a_procedure_outside_the_subset_is_refused_at_deploy_with_its_file_and_line(tmp_path, sql_dir):
    (sql_dir / "procedures" / "usp_loop.sql").write_text(
        "CREATE OR ALTER PROCEDURE dbo.usp_loop AS\nBEGIN\n"
        "    DECLARE @i INT = 0;\n    WHILE @i < 3 SET @i = @i + 1;\nEND;\n"
    )
    with pytest.raises(TranslationError) as caught:
        deployed(tmp_path / "w.duckdb", sql_dir)
    assert (caught.value.file, caught.value.line, caught.value.construct) == (
        "sql/procedures/usp_loop.sql",
        4,
        "WHILE loop",
    )


def test_sql_files_are_listed_in_name_order(sql_dir):
    assert [f.name for f in sql_files(sql_dir, "migrations")] == MIGRATIONS


def test_cli_deploy_prints_what_it_did_and_is_idempotent(tmp_path, capsys):
    path = tmp_path / "cli.duckdb"
    assert main(["sql", "deploy", "--warehouse", str(path)]) == 0
    first = capsys.readouterr().out
    assert [line.split()[0] for line in first.splitlines()[:-1]] == ["applied"] * len(MIGRATIONS) + ["created"]
    assert main(["sql", "deploy", "--warehouse", str(path)]) == 0
    second = capsys.readouterr().out
    assert f"0 migration(s) applied, {len(MIGRATIONS)} already applied" in second


def test_cli_deploy_exits_2_with_file_and_line_on_a_translation_error(tmp_path, sql_dir, capsys, monkeypatch):
    (sql_dir / "procedures" / "usp_hint.sql").write_text(
        "CREATE OR ALTER PROCEDURE dbo.usp_hint AS\nSELECT company_id\nFROM dbo.dim_company WITH (NOLOCK);\n"
    )
    monkeypatch.setattr(engine, "SQL_DIR", sql_dir)
    assert main(["sql", "deploy", "--warehouse", str(tmp_path / "w.duckdb")]) == 2
    assert "error: sql/procedures/usp_hint.sql:3: unsupported T-SQL construct table hint" in capsys.readouterr().err


def test_cli_deploy_reads_the_connection_string_from_the_environment(monkeypatch, capsys):
    monkeypatch.delenv("WAREHOUSE_PATH", raising=False)
    monkeypatch.setenv("WAREHOUSE_CONNECTION_STRING", "Driver={ODBC Driver 18 for SQL Server};Server=tcp:none")
    monkeypatch.setitem(sys.modules, "pyodbc", None)  # as on a machine without the sqlserver extra
    assert main(["sql", "deploy"]) == 1
    assert "needs pyodbc" in capsys.readouterr().err


def test_cli_deploy_with_two_targets_in_the_environment_is_a_usage_error(monkeypatch, capsys):
    """Without --warehouse, WAREHOUSE_PATH or WAREHOUSE_CONNECTION_STRING; both is ambiguous (neither:
    out/warehouse.duckdb, tests/local/cli/test_transform.py)."""
    monkeypatch.setenv("WAREHOUSE_CONNECTION_STRING", "Driver=x;Server=y")
    monkeypatch.setenv("WAREHOUSE_PATH", "w.duckdb")
    assert main(["sql", "deploy"]) == 2
    err = capsys.readouterr().err
    assert "both WAREHOUSE_CONNECTION_STRING and WAREHOUSE_PATH are set" in err and "Server=y" not in err


def test_deploy_keeps_data(tmp_path, sql_dir):
    warehouse, _ = deployed(tmp_path / "w.duckdb", sql_dir)
    with warehouse:
        warehouse.insert_rows("stg.crm_company", ["snapshot_date", "company_id"], [(dt.date(2026, 1, 1), "a")])
        warehouse.deploy()
        assert warehouse.query("SELECT company_id FROM stg.crm_company;") == [{"company_id": "a"}]
