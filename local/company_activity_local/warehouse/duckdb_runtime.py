"""Runs compiled T-SQL plans (duckdb_plan) on a DuckDB connection with T-SQL semantics:
variables, IF, TRY/CATCH with ERROR_MESSAGE()/ERROR_NUMBER(), THROW, nested BEGIN TRAN/COMMIT/
ROLLBACK with @@TRANCOUNT and XACT_STATE(), @@ROWCOUNT, sp_getapplock, procedure calls.

DuckDB aborts a transaction on any error, which is what SET XACT_ABORT ON does in SQL Server; an
error that leaves a batch or a procedure call rolls back the open transaction (docs/tsql-subset.md).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import duckdb

from company_activity.errors import OperationalError
from company_activity_local.warehouse.duckdb_plan import (
    ALWAYS,
    AppLock,
    Assign,
    Branch,
    CallProcedure,
    DeclareVariable,
    Guarded,
    Option,
    ProcedurePlan,
    Raise,
    ReturnStep,
    Run,
    Step,
    StoreProcedure,
    TransactionStep,
)
from company_activity_local.warehouse.sql_errors import SqlErrorNumber
from company_activity_local.warehouse.tsql import (
    MERGE_DUPLICATE_MESSAGE,
    VARIABLE_PREFIX,
    Translated,
)


@dataclass
class TSqlError(OperationalError):
    """An error in flight inside the interpreter (what CATCH sees)."""

    number: int
    message: str
    state: int = 1
    severity: int = 16
    line: int | None = None
    procedure: str | None = None

    def __str__(self) -> str:
        return self.message


class _Return(Exception):  # control flow (RETURN unwinds to the procedure call), not an error
    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value


_TRUNCATED = re.compile(
    r'CHECK constraint failed on table "(?P<table>[^"]+)" with expression '
    r"CHECK\(\((?:strlen|length)\((?P<column>[^)]+)\) <= \d+\)\)"
)


def translate_error(error: duckdb.Error) -> TSqlError:
    """A DuckDB error as the T-SQL error CATCH and callers see (number as close to SQL Server's)."""
    message = str(error)
    if isinstance(error, duckdb.InvalidInputException):
        message = message.removeprefix("Invalid Input Error: ")  # error() raised by the translation
    truncated = _TRUNCATED.search(message)
    if truncated is not None:  # the CHECK the translator adds for VARCHAR(n)
        table, column = truncated.group("table"), truncated.group("column").strip('"')
        return TSqlError(
            SqlErrorNumber.STRING_TRUNCATED,
            f"String or binary data would be truncated in table '{table}', column '{column}'.",
        )
    return TSqlError(duckdb_error_number(error), message)


def duckdb_error_number(error: duckdb.Error) -> SqlErrorNumber:
    """The SQL Server error number closest to a DuckDB error (what ERROR_NUMBER() returns)."""
    text = str(error)
    if isinstance(error, duckdb.ConstraintException):
        if "NOT NULL" in text:
            return SqlErrorNumber.CANNOT_INSERT_NULL
        if "CHECK constraint" in text:
            return SqlErrorNumber.CONSTRAINT_CONFLICT
        return SqlErrorNumber.PRIMARY_KEY_VIOLATION
    if isinstance(error, duckdb.ConversionException):
        return SqlErrorNumber.CONVERSION_FAILED
    if "Division by zero" in text or "Divide by zero" in text:
        return SqlErrorNumber.DIVIDE_BY_ZERO
    if "already exists in the current database" in text:  # CREATE ROLE of an existing role
        return SqlErrorNumber.ROLE_EXISTS
    if "because it does not exist or you do not have permission" in text:  # GRANT to/on a missing one
        return SqlErrorNumber.PRINCIPAL_NOT_FOUND
    if isinstance(error, duckdb.CatalogException):
        return SqlErrorNumber.INVALID_OBJECT_NAME
    return SqlErrorNumber.USER_DEFINED


class _AppLocks:
    """sp_getapplock on the DuckDB engine: exclusive locks per (database file, resource), held by a
    session until its outermost transaction ends. DuckDB allows one writing process per file, so
    these locks only need to serialize sessions of this process."""

    _guard = threading.Lock()
    _locks: ClassVar[dict[tuple[str, str], threading.Lock]] = {}

    @classmethod
    def lock_for(cls, database: str, resource: str) -> threading.Lock:
        key = (database, resource.lower())
        with cls._guard:
            return cls._locks.setdefault(key, threading.Lock())


@dataclass
class Frame:
    """Variables and state of one batch or procedure call."""

    variables: dict[str, Any] = field(default_factory=dict)
    caught: list[TSqlError] = field(default_factory=list)
    temp_tables: list[str] = field(default_factory=list)
    result: tuple[list[str], list[tuple[Any, ...]]] | None = None
    procedure: str | None = None


class Session:
    """One DuckDB connection seen as a T-SQL session."""

    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        scratch: duckdb.DuckDBPyConnection,
        database: str,
        load_procedure: Callable[[str], ProcedurePlan],
        store_procedure: Callable[[StoreProcedure], None],
        catalog_changed: Callable[[], None],
        temp_tables_changed: Callable[[], None],
    ) -> None:
        self.connection = connection
        self.scratch = scratch
        self.database = database
        self.load_procedure = load_procedure
        self.store_procedure = store_procedure
        self.catalog_changed = catalog_changed
        self.temp_tables_changed = temp_tables_changed
        self.trancount = 0
        self.doomed = False
        self.rowcount = 0
        self.options = {"NOCOUNT": False, "XACT_ABORT": False}
        self.held_locks: dict[str, threading.Lock] = {}
        self.pending_drops: list[str] = []

    # -- entry points -------------------------------------------------------------------------
    def run_batch(self, steps: list[Step], frame: Frame) -> None:
        """A top-level batch: an error leaving it rolls back the open transaction."""
        try:
            self.run(steps, frame)
        except _Return:
            pass
        except TSqlError:
            self.abort()
            raise

    def call(self, name: str, arguments: dict[str, Any]) -> Any:
        plan = self.load_procedure(name)
        frame = Frame(procedure=plan.name)
        supplied = dict(arguments)
        for parameter, sql_type, default in plan.parameters:
            if parameter in supplied:
                frame.variables[parameter] = self.convert(supplied.pop(parameter), sql_type.duckdb)
            elif default is not None:
                frame.variables[parameter] = self.evaluate(default, frame)[0]
            else:
                raise TSqlError(
                    SqlErrorNumber.EXPECTS_PARAMETER,
                    f"Procedure or function '{plan.name.split('.')[-1]}' expects parameter '@{parameter}', "
                    "which was not supplied.",
                )
        if supplied:
            unknown = sorted(supplied)[0]
            raise TSqlError(
                SqlErrorNumber.NOT_A_PARAMETER,
                f"@{unknown} is not a parameter for procedure {plan.name.split('.')[-1]}.",
            )
        entry_trancount = self.trancount
        value: Any = 0
        try:
            self.run(plan.steps, frame)
        except _Return as returned:
            value = returned.value if returned.value is not None else 0
        finally:
            self.drop_temp_tables(frame)
        if self.trancount != entry_trancount:
            previous, current = entry_trancount, self.trancount
            self.abort()
            raise TSqlError(
                SqlErrorNumber.TRANCOUNT_MISMATCH,
                "Transaction count after EXECUTE indicates a mismatching number of BEGIN and COMMIT "
                f"statements. Previous count = {previous}, current count = {current}.",
                procedure=plan.name,
            )
        return value

    def abort(self) -> None:
        if self.trancount > 0:
            self.rollback()

    # -- steps --------------------------------------------------------------------------------
    def run(self, steps: list[Step], frame: Frame) -> None:
        for step in steps:
            self.step(step, frame)

    def step(self, step: Step, frame: Frame) -> None:
        try:
            if isinstance(step, Run):
                self.run_statement(step.statement, frame)
            elif isinstance(step, DeclareVariable):
                frame.variables[step.name] = self.evaluate(step.value, frame)[0] if step.value else None
            elif isinstance(step, Assign):
                frame.variables[step.name] = self.evaluate(step.value, frame)[0]
                self.rowcount = 1
            elif isinstance(step, Option):
                self.options[step.option] = step.on
            elif isinstance(step, Branch):
                if step.condition is ALWAYS or self.evaluate(step.condition, frame)[0] == 1:
                    self.run(step.then, frame)
                else:
                    self.run(step.otherwise, frame)
            elif isinstance(step, Guarded):
                self.guarded(step, frame)
            elif isinstance(step, Raise):
                self.throw(step, frame)
            elif isinstance(step, TransactionStep):
                self.transaction(step.action)
            elif isinstance(step, AppLock):
                self.applock(step, frame)
            elif isinstance(step, CallProcedure):
                values = self.evaluate(step.arguments, frame) if step.arguments else ()
                result = self.call(step.procedure, dict(zip(step.names, values, strict=True)))
                if step.result_variable:
                    frame.variables[step.result_variable] = result
            elif isinstance(step, ReturnStep):
                raise _Return(self.evaluate(step.value, frame)[0] if step.value else None)
            elif isinstance(step, StoreProcedure):
                self.store_procedure(step)
        except TSqlError as error:
            if error.line is None:
                error.line = step.loc.line
                error.procedure = error.procedure or frame.procedure
            if self.trancount > 0 and not self.doomed:
                # DuckDB aborts its transaction on any DuckDB error; under XACT_ABORT ON, SQL Server
                # dooms it on THROW too (XACT_STATE() = -1: only ROLLBACK is possible).
                self.doomed = self.options["XACT_ABORT"] or self._duckdb_aborted()
            raise

    def guarded(self, step: Guarded, frame: Frame) -> None:
        try:
            self.run(step.try_steps, frame)
        except TSqlError as error:
            frame.caught.append(error)
            try:
                self.run(step.catch_steps, frame)
            finally:
                frame.caught.pop()

    def throw(self, step: Raise, frame: Frame) -> None:
        if step.arguments is None:
            raise frame.caught[-1]
        number, message, state = self.evaluate(step.arguments, frame)
        if number is None or int(number) < SqlErrorNumber.USER_DEFINED:
            raise TSqlError(
                SqlErrorNumber.THROW_NUMBER_OUT_OF_RANGE,
                f"Error number {number} in the THROW statement is outside the valid range.",
            )
        raise TSqlError(int(number), str(message) if message is not None else "", int(state or 1))

    def transaction(self, action: str) -> None:
        if action == "begin":
            if self.trancount == 0:
                self.execute("BEGIN TRANSACTION")
                self.doomed = False
            self.trancount += 1
            self.rowcount = 0
        elif action == "commit":
            if self.trancount == 0:
                raise TSqlError(
                    SqlErrorNumber.COMMIT_WITHOUT_BEGIN,
                    "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.",
                )
            if self.doomed:
                raise TSqlError(
                    SqlErrorNumber.UNCOMMITTABLE_TRANSACTION,
                    "The current transaction cannot be committed and cannot support operations that write "
                    "to the log file. Roll back the transaction.",
                )
            if self.trancount == 1:
                self.execute("COMMIT")
                self.release_locks()
            self.trancount -= 1
            self.rowcount = 0
        else:
            if self.trancount == 0:
                raise TSqlError(
                    SqlErrorNumber.ROLLBACK_WITHOUT_BEGIN,
                    "The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.",
                )
            self.rollback()

    def rollback(self) -> None:
        with contextlib.suppress(duckdb.Error):  # nothing to roll back on the DuckDB side
            self.connection.execute("ROLLBACK")
        self.trancount = 0
        self.doomed = False
        self.release_locks()
        drops, self.pending_drops = self.pending_drops, []
        for name in drops:
            self.connection.execute(f"DROP TABLE IF EXISTS {name}")

    def applock(self, step: AppLock, frame: Frame) -> None:
        resource, timeout_ms = self.evaluate(step.arguments, frame)
        if self.trancount == 0:
            raise TSqlError(
                SqlErrorNumber.APPLOCK_OUTSIDE_TRANSACTION,
                "You attempted to acquire a transactional application lock without an active transaction.",
            )
        key = str(resource).lower()
        result = 1  # already held by this session
        if key not in self.held_locks:
            lock = _AppLocks.lock_for(self.database, key)
            timeout = -1 if timeout_ms is None or int(timeout_ms) < 0 else int(timeout_ms) / 1000
            if lock.acquire(timeout=timeout):
                self.held_locks[key] = lock
                result = 0
            else:
                result = -1
        if step.result_variable:
            frame.variables[step.result_variable] = result

    def release_locks(self) -> None:
        for lock in self.held_locks.values():
            lock.release()
        self.held_locks.clear()

    def drop_temp_tables(self, frame: Frame) -> None:
        for name in frame.temp_tables:
            try:
                self.connection.execute(f"DROP TABLE IF EXISTS {name}")
            except duckdb.Error:
                self.pending_drops.append(name)  # transaction aborted: dropped after the rollback

    # -- statements ---------------------------------------------------------------------------
    def run_statement(self, statement: Translated, frame: Frame) -> None:
        if statement.kind == "noop":
            self.rowcount = 0
            return
        params = self.parameters(statement, frame)
        guard = statement.guard
        if guard is not None and self.execute(guard.sql, self.parameters(guard, frame)).fetchall():
            raise TSqlError(SqlErrorNumber.MERGE_DUPLICATE, MERGE_DUPLICATE_MESSAGE)
        for ddl in statement.before:
            self.execute(ddl)
        result = self.execute(statement.sql, params)
        if statement.kind == "query":
            rows = result.fetchall()
            self.rowcount = len(rows)
            if statement.assigns:
                if rows:
                    frame.variables.update(zip(statement.assigns, rows[-1], strict=True))
            else:
                columns = [d[0] for d in result.description or []]
                frame.result = (columns, rows)
        elif statement.kind == "dml":
            row = result.fetchone()
            self.rowcount = int(row[0]) if row else 0
        else:
            self.rowcount = 0
            if statement.temp_table is not None:
                if frame.procedure is not None:
                    frame.temp_tables.append(f'"{statement.temp_table}"')
                else:
                    self.temp_tables_changed()  # a session temp table later batches may read
            else:
                self.catalog_changed()
                self.temp_tables_changed()

    def evaluate(self, statement: Translated, frame: Frame) -> tuple[Any, ...]:
        """One row of a SELECT. Table-free expressions (IF conditions, SET values, THROW arguments)
        run on a scratch connection, so that a CATCH block can still evaluate them while DuckDB's
        transaction is aborted (SQL Server allows that in a doomed transaction)."""
        params = self.parameters(statement, frame)
        if statement.table_free:
            try:
                row = self.scratch.execute(statement.sql, params or None).fetchone()
            except duckdb.Error as error:
                raise translate_error(error) from None
        else:
            row = self.execute(statement.sql, params).fetchone()
        return tuple(row) if row is not None else ()

    def convert(self, value: Any, duckdb_type: str) -> Any:
        try:
            row = self.scratch.execute(f"SELECT CAST($v AS {duckdb_type})", {"v": value}).fetchone()
        except duckdb.Error as error:
            raise translate_error(error) from None
        return row[0] if row else None

    def parameters(self, statement: Translated, frame: Frame) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in statement.parameters:
            if name.startswith(VARIABLE_PREFIX):
                values[name] = frame.variables.get(name[len(VARIABLE_PREFIX) :])
            else:
                values[name] = self.system_value(name, frame)
        return values

    def system_value(self, name: str, frame: Frame) -> Any:
        caught = frame.caught[-1] if frame.caught else None
        if name == "sys_rowcount":
            return self.rowcount
        if name == "sys_trancount":
            return self.trancount
        if name == "sys_xact_state":
            return 0 if self.trancount == 0 else (-1 if self.doomed or self._duckdb_aborted() else 1)
        if name == "sys_utcnow":
            return dt.datetime.now(dt.UTC).replace(tzinfo=None)
        if name == "sys_now":
            return dt.datetime.now()
        if caught is None:
            return None
        return {
            "sys_error_message": caught.message,
            "sys_error_number": int(caught.number),
            "sys_error_severity": caught.severity,
            "sys_error_state": caught.state,
            "sys_error_line": caught.line,
            "sys_error_procedure": caught.procedure.split(".")[-1] if caught.procedure else None,
        }[name]

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
        try:
            return self.connection.execute(sql, params or None)
        except duckdb.Error as error:
            raise translate_error(error) from None

    def _duckdb_aborted(self) -> bool:
        if self.trancount == 0:
            return False
        try:
            self.connection.execute("SELECT 1").fetchall()
        except duckdb.TransactionException:
            return True
        except duckdb.Error:
            return True
        return False
