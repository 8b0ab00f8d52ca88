"""The local warehouse: a DuckDB file that runs the same T-SQL files as Azure SQL, through the
strict translator (tsql, tsql_script) and the T-SQL interpreter (duckdb_runtime).

DuckDB-only objects: schema `dbo` is created on open and is the default schema (as in SQL Server);
procedures are kept, like sys.sql_modules, in `etl.sql_modules` (their T-SQL text) and compiled
on call; the temp macro `tsql_nonzero` raises T-SQL's divide-by-zero error for FLOAT division.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import Any, Generic, TypeVar

import duckdb

from company_activity_local.warehouse import engine as contract
from company_activity_local.warehouse.duckdb_plan import (
    ProcedurePlan,
    Step,
    StoreProcedure,
    compile_batch,
    compile_procedure,
    python_type,
)
from company_activity_local.warehouse.duckdb_runtime import Frame, Session, TSqlError, translate_error
from company_activity_local.warehouse.engine import DeployReport, Engine, ScriptResult, WarehouseError
from company_activity_local.warehouse.script_warehouse import ScriptWarehouse
from company_activity_local.warehouse.sql_errors import SqlErrorNumber
from company_activity_local.warehouse.tsql import DIVIDE_BY_ZERO_MESSAGE, quote
from company_activity_local.warehouse.tsql_script import CreateProcedure, parse_script, split_batches
from company_activity_local.warehouse.tsql_types import INT_TYPE, STRING, SYSNAME_TYPE, SqlType, from_duckdb

INSERT_CHUNK_ROWS = 100_000
_NAME = re.compile(r"^\[?([A-Za-z_][A-Za-z0-9_]*)\]?$")


PlanT = TypeVar("PlanT")


class _PlanCache(Generic[PlanT]):
    """Compiled plans shared by every warehouse of the process, per (source, catalog fingerprint)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._plans: OrderedDict[tuple[Any, str], PlanT] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, fingerprint: str) -> PlanT | None:
        with self._lock:
            plan = self._plans.get((key, fingerprint))
            if plan is not None:
                self._plans.move_to_end((key, fingerprint))
            return plan

    def put(self, key: Any, fingerprint: str, plan: PlanT) -> None:
        with self._lock:
            self._plans[(key, fingerprint)] = plan
            while len(self._plans) > self.size:
                self._plans.popitem(last=False)


_PROCEDURES: _PlanCache[ProcedurePlan] = _PlanCache(32)
_BATCHES: _PlanCache[list[Step]] = _PlanCache(512)


# INFORMATION_SCHEMA as SQL Server types it: names are sysname (nvarchar(128), database collation).
_INFORMATION_SCHEMA: dict[str, dict[str, SqlType]] = {
    "schemata": {"catalog_name": SYSNAME_TYPE, "schema_name": SYSNAME_TYPE, "schema_owner": SYSNAME_TYPE},
    "tables": {"table_catalog": SYSNAME_TYPE, "table_schema": SYSNAME_TYPE, "table_name": SYSNAME_TYPE,
               "table_type": SYSNAME_TYPE},
    "views": {"table_catalog": SYSNAME_TYPE, "table_schema": SYSNAME_TYPE, "table_name": SYSNAME_TYPE},
    "columns": {"table_catalog": SYSNAME_TYPE, "table_schema": SYSNAME_TYPE, "table_name": SYSNAME_TYPE,
                "column_name": SYSNAME_TYPE, "ordinal_position": INT_TYPE, "data_type": SYSNAME_TYPE,
                "character_maximum_length": INT_TYPE, "is_nullable": SYSNAME_TYPE},
}


class DuckDBCatalog:
    """Column types of the DuckDB file's tables and views, for the translator (reloaded after DDL). A column
    the translator created carries its T-SQL type in its comment (tsql_types.SqlType.to_comment)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection
        self._tables: dict[tuple[str, str], dict[str, SqlType]] | None = None
        self._raw: dict[tuple[str, str], dict[str, str]] = {}
        self._views: set[tuple[str, str]] = set()
        self._temp: dict[str, dict[str, SqlType]] | None = None
        self._fingerprint = ""

    def invalidate(self) -> None:
        """After DDL (or DDL by another connection): reload on next use."""
        self._tables = None

    def temp_changed(self) -> None:
        self._temp = None

    def temp_table_columns(self, name: str) -> dict[str, SqlType] | None:
        """Temp tables of this connection (not part of the fingerprint: a procedure creates and
        drops its own on every call)."""
        if self._temp is None:
            rows = self.connection.execute(
                "SELECT lower(table_name), lower(column_name), data_type, comment FROM duckdb_columns() "
                "WHERE database_name = 'temp' ORDER BY table_name, column_index"
            ).fetchall()
            temp: dict[str, dict[str, SqlType]] = {}
            for table, column, data_type, comment in rows:
                sql_type = from_duckdb(data_type, comment)
                if sql_type is not None:
                    temp.setdefault(table, {})[column] = sql_type
            self._temp = temp
        return self._temp.get(name)

    refresh = invalidate

    @property
    def fingerprint(self) -> str:
        """Digest of every table and column type: compiled plans are valid for one fingerprint."""
        self._load()
        return self._fingerprint

    def _load(self) -> dict[tuple[str, str], dict[str, SqlType]]:
        if self._tables is None:
            rows = self.connection.execute(
                "SELECT lower(c.schema_name), lower(c.table_name), lower(c.column_name), c.data_type, c.comment, "
                "v.view_name IS NOT NULL FROM duckdb_columns() AS c LEFT JOIN duckdb_views() AS v "
                "ON v.database_name = c.database_name AND v.schema_name = c.schema_name AND v.view_name = c.table_name "
                "WHERE c.database_name = current_database() ORDER BY c.schema_name, c.table_name, c.column_index"
            ).fetchall()
            tables: dict[tuple[str, str], dict[str, SqlType]] = {}
            raw: dict[tuple[str, str], dict[str, str]] = {}
            views: set[tuple[str, str]] = set()
            for schema, table, column, data_type, comment, is_view in rows:
                sql_type = from_duckdb(data_type, comment)
                raw.setdefault((schema, table), {})[column] = data_type
                if is_view:
                    views.add((schema, table))
                if sql_type is not None:
                    tables.setdefault((schema, table), {})[column] = sql_type
            self._tables, self._raw, self._views = tables, raw, views
            self._fingerprint = hashlib.sha256(repr(rows).encode()).hexdigest()
        return self._tables

    def table_columns(self, schema: str, table: str) -> dict[str, SqlType] | None:
        if schema == "information_schema":
            return _INFORMATION_SCHEMA.get(table)
        return self._load().get((schema, table))

    def is_view(self, schema: str, table: str) -> bool:
        self._load()
        return (schema, table) in self._views

    def duckdb_types(self, schema: str, table: str) -> dict[str, str] | None:
        self._load()
        return self._raw.get((schema, table))


class DuckDBWarehouse(ScriptWarehouse):
    engine: Engine = "duckdb"

    def __init__(self, path: str | Path, *, sql_dir: Path | None = None, threads: int | None = None) -> None:
        self.path = Path(path)
        self.sql_dir = sql_dir or contract.SQL_DIR
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._connection = duckdb.connect(str(self.path), config={} if threads is None else {"threads": threads})
        except duckdb.Error as error:
            raise WarehouseError(f"cannot open DuckDB warehouse {self.path}: {error}") from None
        self._connection.execute("CREATE SCHEMA IF NOT EXISTS dbo")
        self._connection.execute("SET schema = 'dbo'")
        self._scratch = duckdb.connect(":memory:", config={"threads": 1})
        for connection in (self._connection, self._scratch):
            connection.execute(
                "CREATE OR REPLACE TEMP MACRO tsql_nonzero(divisor) AS "
                f"CASE WHEN divisor = 0 THEN error('{DIVIDE_BY_ZERO_MESSAGE}') ELSE divisor END"
            )
        self._lock = threading.RLock()
        self._catalog = DuckDBCatalog(self._connection)
        self._session = Session(
            self._connection,
            self._scratch,
            str(self.path.resolve()),
            self._load_procedure,
            self._store_procedure,
            self._catalog.invalidate,
            self._catalog.temp_changed,
        )

    def deploy(self) -> DeployReport:
        untyped = self._tables_without_tsql_types()
        if untyped:
            raise WarehouseError(
                f"{self.path} was created by an older DuckDB engine that did not record each column's T-SQL "
                f"type and collation ({untyped[0]} has none), which the engine now needs to compare text as SQL "
                "Server does: deploy to a new file and replay the days into it (company-activity backfill or "
                "transform)"
            )
        return super().deploy()

    def _tables_without_tsql_types(self) -> list[str]:
        """Tables whose columns carry no `tsql:` comment (etl.sql_modules is the engine's own)."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT DISTINCT c.schema_name || '.' || c.table_name FROM duckdb_columns() AS c "
                "INNER JOIN duckdb_tables() AS t ON t.database_name = c.database_name "
                "AND t.schema_name = c.schema_name AND t.table_name = c.table_name "
                "WHERE c.database_name = current_database() AND (c.comment IS NULL OR c.comment NOT LIKE 'tsql:%') "
                "AND NOT (c.schema_name = 'etl' AND c.table_name = 'sql_modules') ORDER BY 1"
            ).fetchall()
        return [name for (name,) in rows]

    # -- Warehouse ----------------------------------------------------------------------------
    def call_procedure(self, name: str, params: Mapping[str, Any]) -> None:
        arguments = {key.lstrip("@").lower(): value for key, value in params.items()}
        with self._lock:
            try:
                self._session.call(_procedure_name(name), arguments)
            except TSqlError as error:
                self._session.abort()
                raise WarehouseError(error.message, number=error.number) from None

    def insert_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        schema, name = _table_name(table)
        with self._lock:
            types = self._catalog.duckdb_types(schema, name)
            if types is None:
                self._catalog.refresh()
                types = self._catalog.duckdb_types(schema, name)
            if types is None:
                raise WarehouseError(f"insert_rows: table {table} does not exist")
            targets = [_column_name(c, table, types) for c in columns]
            if len(set(targets)) != len(targets):
                raise WarehouseError(f"insert_rows: duplicate column in {list(columns)}")
            unnests = ", ".join(f"UNNEST(CAST($c{i} AS {types[c]}[]))" for i, c in enumerate(targets))
            sql = f"INSERT INTO {quote(schema)}.{quote(name)} ({', '.join(quote(c) for c in targets)}) SELECT {unnests}"
            own_transaction = self._session.trancount == 0
            total = 0
            iterator = iter(rows)
            try:
                if own_transaction:
                    self._connection.execute("BEGIN TRANSACTION")
                while chunk := list(islice(iterator, INSERT_CHUNK_ROWS)):
                    for offset, row in enumerate(chunk):
                        if len(row) != len(targets):
                            raise WarehouseError(
                                f"insert_rows: row {total + offset} of {table} has {len(row)} values "
                                f"for {len(targets)} columns"
                            )
                    lists = {f"c{i}": list(values) for i, values in enumerate(zip(*chunk, strict=True))}
                    self._connection.execute(sql, lists)
                    total += len(chunk)
                if own_transaction:
                    self._connection.execute("COMMIT")
            except duckdb.Error as error:
                if own_transaction:
                    self._connection.execute("ROLLBACK")
                else:
                    self._session.abort()
                failure = translate_error(error)
                raise WarehouseError(f"insert_rows into {table}: {failure.message}", number=failure.number) from None
            except BaseException:
                if own_transaction:
                    self._connection.execute("ROLLBACK")
                raise
            return total

    def declared_lengths(self, schema: str, table: str) -> dict[str, tuple[str, int]]:
        """Column -> ("varchar" | "nvarchar", n) of the table's VARCHAR(n) / NVARCHAR(n) columns: DuckDB keeps
        no lengths in its catalog, only the T-SQL type the translator writes in each column's comment."""
        with self._lock:
            columns = self._catalog.table_columns(schema.lower(), table.lower()) or {}
        return {
            name: ("nvarchar" if sql_type.national else "varchar", sql_type.length)
            for name, sql_type in columns.items()
            if sql_type.category == STRING and sql_type.length is not None
        }

    def close(self) -> None:
        with self._lock:
            self._session.close()
            self._connection.close()
            self._scratch.close()

    # -- scripts ------------------------------------------------------------------------------
    def run_script(self, text: str, file: str, params: Mapping[str, Any] | None = None) -> ScriptResult:
        """Run every GO batch of `text` (errors name `file`); the last result set, if any."""
        variables = {key.lstrip("@").lower(): value for key, value in (params or {}).items()}
        types = {name: python_type(value) for name, value in variables.items()}
        result = None
        with self._lock:
            for batch, first_line in split_batches(text):
                steps = self._compile(batch, file, first_line, types)
                frame = Frame(variables=dict(variables))
                try:
                    self._session.run_batch(steps, frame)
                except TSqlError as error:
                    raise WarehouseError(error.message, number=error.number) from None
                if frame.result is not None:
                    result = frame.result
        return result

    def _compile(self, batch: str, file: str, first_line: int, types: dict[str, SqlType]) -> list[Step]:
        key = (batch, file, first_line, tuple(sorted((n, t.duckdb) for n, t in types.items())))
        fingerprint = self._catalog.fingerprint
        steps = _BATCHES.get(key, fingerprint)
        if steps is None:
            padded = "\n" * (first_line - 1) + batch  # keep the file's line numbers
            statements = [s for b in parse_script(padded, file) for s in b.statements]
            steps = compile_batch(statements, self._catalog, types)
            _BATCHES.put(key, fingerprint, steps)
        return steps

    # -- procedures ---------------------------------------------------------------------------
    def _ensure_modules_table(self) -> None:
        self._session.execute("CREATE SCHEMA IF NOT EXISTS etl")
        self._session.execute(
            "CREATE TABLE IF NOT EXISTS etl.sql_modules (object_name VARCHAR PRIMARY KEY, "
            "definition VARCHAR NOT NULL, definition_sha256 VARCHAR NOT NULL, modified_at TIMESTAMP NOT NULL)"
        )

    def _store_procedure(self, step: StoreProcedure) -> None:
        schema = step.name.split(".")[0]
        exists = self._session.execute(
            "SELECT 1 FROM information_schema.schemata WHERE catalog_name = current_database() "
            "AND lower(schema_name) = $s",
            {"s": schema},
        ).fetchone()
        if not exists:
            raise TSqlError(
                SqlErrorNumber.SCHEMA_NOT_FOUND,
                f'The specified schema name "{schema}" either does not exist or you do not have permission to use it.',
            )
        self._ensure_modules_table()
        if (
            not step.or_alter
            and self._session.execute(
                "SELECT 1 FROM etl.sql_modules WHERE object_name = $n", {"n": step.name}
            ).fetchone()
        ):
            raise TSqlError(
                SqlErrorNumber.OBJECT_EXISTS,
                f"There is already an object named '{step.name.split('.')[-1]}' in the database.",
            )
        self._session.execute(
            "INSERT OR REPLACE INTO etl.sql_modules VALUES ($n, $d, $s, $t)",
            {
                "n": step.name,
                "d": step.source,
                "s": hashlib.sha256(step.source.encode()).hexdigest(),
                "t": dt.datetime.now(dt.UTC).replace(tzinfo=None),
            },
        )

    def _load_procedure(self, name: str) -> ProcedurePlan:
        try:
            row = self._connection.execute(
                "SELECT definition, definition_sha256 FROM etl.sql_modules WHERE object_name = $n", {"n": name}
            ).fetchone()
        except duckdb.CatalogException:
            row = None  # no procedure was ever created in this file
        except duckdb.Error as error:
            raise TSqlError(SqlErrorNumber.USER_DEFINED, str(error)) from None
        if row is None:
            raise TSqlError(SqlErrorNumber.PROCEDURE_NOT_FOUND, f"Could not find stored procedure '{name}'.")
        definition, sha = row
        fingerprint = self._catalog.fingerprint
        plan = _PROCEDURES.get(sha, fingerprint)
        if plan is None:
            batches = parse_script(definition, name)
            procedure = batches[0].statements[0] if batches and batches[0].statements else None
            if not isinstance(procedure, CreateProcedure):
                raise TSqlError(
                    SqlErrorNumber.PROCEDURE_NOT_FOUND,
                    f"etl.sql_modules holds no procedure definition for '{name}'.",
                )
            plan = compile_procedure(procedure, self._catalog)
            _PROCEDURES.put(sha, fingerprint, plan)
        return plan




def _procedure_name(name: str) -> str:
    parts = [_identifier(p, name) for p in name.split(".")]
    if len(parts) == 1:
        parts.insert(0, "dbo")
    if len(parts) != 2:
        raise WarehouseError(f"invalid procedure name {name!r}: expected schema.name")
    return ".".join(parts)


def _table_name(table: str) -> tuple[str, str]:
    parts = [_identifier(p, table) for p in table.split(".")]
    if len(parts) == 1:
        parts.insert(0, "dbo")
    if len(parts) != 2:
        raise WarehouseError(f"insert_rows: invalid table name {table!r}: expected schema.table")
    return parts[0], parts[1]


def _identifier(part: str, whole: str) -> str:
    match = _NAME.match(part.strip())
    if match is None:
        raise WarehouseError(f"invalid name {whole!r}")
    return match.group(1).lower()


def _column_name(column: str, table: str, types: dict[str, str]) -> str:
    match = re.match(r"^\[?([^\[\]]+)\]?$", column.strip())
    name = match.group(1).lower() if match else ""
    if name not in types:
        raise WarehouseError(f"insert_rows: table {table} has no column {column!r}")
    return name
