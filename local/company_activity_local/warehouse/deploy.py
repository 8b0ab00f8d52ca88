"""Ordered, idempotent deployment of sql/ on any engine.

1. sql/bootstrap/*.sql run on every deploy (idempotent; creates etl.schema_migrations).
2. sql/migrations/*.sql apply once each, in file-name order, each in one transaction together with
   its etl.schema_migrations row (file name + sha256 of its text, line endings normalized). A file
   changed after it was applied, an applied file that disappeared, or a new file that sorts before
   an applied one is an error: schema history only moves forward through new files.
3. sql/procedures/*.sql are re-created on every deploy (CREATE OR ALTER PROCEDURE); etl.schema_procedures
   (created by the bootstrap) keeps each file's sha256, so the report says created, altered or unchanged.

The whole deploy holds an exclusive application lock owned by its session (sp_getapplock, @LockOwner =
'Session'), so two concurrent deploys of the same database run one after the other: the second one finds
the first one's migrations applied. Every batch runs with SET XACT_ABORT ON, so an error inside a
migration's transaction rolls the whole migration back instead of leaving the transaction open.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from company_activity_local.warehouse.engine import DeployReport, TranslationError, WarehouseError


class ScriptRunner(Protocol):
    def run_script(self, text: str, file: str, params: Any = None) -> Any: ...

    def execute(self, tsql: str, params: Any = None) -> None: ...

    def query(self, tsql: str, params: Any = None) -> list[dict[str, Any]]: ...


class MigrationError(WarehouseError):
    """The migration history in the database and the files in sql/migrations disagree."""


DEPLOY_LOCK = "company_activity.sql_deploy"
DEPLOY_LOCK_TIMEOUT_MS = 600_000
DEPLOY_LOCK_NUMBER = 50020
_WAITED = f"waited {DEPLOY_LOCK_TIMEOUT_MS // 1000} s"
_TAKE_LOCK = f"""
SET XACT_ABORT ON;
DECLARE @granted INT;
EXEC @granted = sp_getapplock @Resource = N'{DEPLOY_LOCK}', @LockMode = N'Exclusive', @LockOwner = N'Session',
    @LockTimeout = {DEPLOY_LOCK_TIMEOUT_MS};
IF @granted < 0
    THROW {DEPLOY_LOCK_NUMBER}, N'sql deploy: another deploy of this database holds the deploy lock ({_WAITED})', 1;
"""
_RELEASE_LOCK = f"EXEC sp_releaseapplock @Resource = N'{DEPLOY_LOCK}', @LockOwner = N'Session';"


@dataclass(frozen=True)
class SqlFile:
    name: str  # file name, the key in etl.schema_migrations
    display: str  # path shown in errors, e.g. sql/migrations/0002_staging.sql
    text: str
    sha256: str


def sql_files(sql_dir: Path, kind: str) -> list[SqlFile]:
    files = []
    for path in sorted((sql_dir / kind).glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        normalized = text.replace("\r\n", "\n")
        files.append(
            SqlFile(
                name=path.name,
                display=f"{sql_dir.name}/{kind}/{path.name}",
                text=text,
                sha256=hashlib.sha256(normalized.encode("utf-8")).hexdigest(),
            )
        )
    return files


def deploy(warehouse: ScriptRunner, sql_dir: Path) -> DeployReport:
    if not (sql_dir / "migrations").is_dir():
        raise WarehouseError(f"no migrations directory in {sql_dir}")
    warehouse.execute(_TAKE_LOCK)
    try:
        report = _deploy(warehouse, sql_dir)
    except BaseException:
        with contextlib.suppress(WarehouseError):  # the session's end releases it; the error is what matters
            warehouse.execute(_RELEASE_LOCK)
        raise
    warehouse.execute(_RELEASE_LOCK)
    return report


def _deploy(warehouse: ScriptRunner, sql_dir: Path) -> DeployReport:
    report = DeployReport()
    for file in sql_files(sql_dir, "bootstrap"):
        _run(warehouse, file)

    applied = {
        row["file_name"]: row["sha256"]
        for row in warehouse.query("SELECT file_name, sha256 FROM etl.schema_migrations;")
    }
    migrations = sql_files(sql_dir, "migrations")
    known = {m.name for m in migrations}
    missing = sorted(set(applied) - known)
    if missing:
        raise MigrationError(
            f"migration {missing[0]} is recorded in etl.schema_migrations but sql/migrations has no such file"
        )
    latest = max(applied) if applied else None
    for migration in migrations:
        recorded = applied.get(migration.name)
        if recorded is not None:
            if recorded != migration.sha256:
                raise MigrationError(
                    f"{migration.display}: changed after it was applied (sha256 {recorded[:12]}... recorded, "
                    f"{migration.sha256[:12]}... now); add a new migration instead of editing an applied one"
                )
            report.skipped.append(migration.name)
            continue
        if latest is not None and migration.name < latest:
            raise MigrationError(
                f"{migration.display}: sorts before {latest}, which is already applied; "
                "name new migrations after the last applied one"
            )
        _apply(warehouse, migration)
        report.applied.append(migration.name)

    deployed = {
        row["file_name"]: row["sha256"]
        for row in warehouse.query("SELECT file_name, sha256 FROM etl.schema_procedures;")
    }
    for procedure in sql_files(sql_dir, "procedures"):
        # Always re-applied (CREATE OR ALTER is idempotent, and a dropped procedure comes back); the record
        # only tells the report whether the text changed.
        _run(warehouse, procedure)
        recorded = deployed.get(procedure.name)
        if recorded != procedure.sha256:
            warehouse.execute("DELETE FROM etl.schema_procedures WHERE file_name = @file_name;",
                              {"file_name": procedure.name})
            warehouse.execute(
                "INSERT INTO etl.schema_procedures (file_name, sha256, deployed_at) "
                "VALUES (@file_name, @sha256, SYSUTCDATETIME());",
                {"file_name": procedure.name, "sha256": procedure.sha256},
            )
        report.procedures.append(procedure.name)
        report.procedure_changes[procedure.name] = (
            "created" if recorded is None else "unchanged" if recorded == procedure.sha256 else "altered"
        )
    return report


def _apply(warehouse: ScriptRunner, migration: SqlFile) -> None:
    warehouse.execute("SET XACT_ABORT ON; BEGIN TRANSACTION;")
    try:
        _run(warehouse, migration)
        warehouse.execute(
            "INSERT INTO etl.schema_migrations (file_name, sha256, applied_at) "
            "VALUES (@file_name, @sha256, SYSUTCDATETIME());",
            {"file_name": migration.name, "sha256": migration.sha256},
        )
        warehouse.execute("COMMIT TRANSACTION;")
    except BaseException:
        warehouse.execute("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;")
        raise


def _run(warehouse: ScriptRunner, file: SqlFile) -> None:
    try:
        warehouse.run_script(file.text, file.display)
    except TranslationError:
        raise
    except WarehouseError as error:
        raise WarehouseError(f"{file.display}: {error.message}", number=error.number) from error
