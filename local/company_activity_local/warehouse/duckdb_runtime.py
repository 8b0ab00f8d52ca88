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
from sqlglot import exp

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
    ReleaseAppLock,
    ReturnStep,
    Run,
    Step,
    StoreProcedure,
    TransactionStep,
    python_type,
)
from company_activity_local.warehouse.sql_errors import SqlErrorNumber
from company_activity_local.warehouse.tsql import (
    MERGE_DUPLICATE_MESSAGE,
    VARIABLE_PREFIX,
    Translated,
)
from company_activity_local.warehouse.tsql_convert import convert
from company_activity_local.warehouse.tsql_types import SqlType


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


_CHECK_FAILED = re.compile(
    r'CHECK constraint failed on table "(?P<table>[^"]+)" with expression CHECK\((?P<expression>.*)\)'
)
_MEASURED_COLUMN = re.compile(r"(?:strlen|length)\((?P<column>[^(),]+)\)")
_TRAILING_SPACE_KEY = re.compile(r"\(NOT \((?P<column>[^ ]+) ~~ '% '\)\)")
_GUARD = re.compile(r"tsql:(?P<number>\d+):(?P<message>.*)", re.DOTALL)
_DUCKDB_TYPES = {"INT8": "tinyint", "UINT8": "tinyint", "INT16": "smallint", "INT32": "int", "INT64": "bigint",
                 "DOUBLE": "float", "FLOAT": "float"}
_OVERFLOW = re.compile(
    r"Overflow in \w+ of (?P<type>[A-Z0-9]+)|out of range for the destination type (?P<target>[A-Z0-9]+)"
)
SUBQUERY_ROWS_MESSAGE = (
    "Subquery returned more than 1 value. This is not permitted when the subquery follows =, !=, <, <= , >, >= "
    "or when the subquery is used as an expression."
)


def translate_error(error: duckdb.Error) -> TSqlError:
    """A DuckDB error as the T-SQL error CATCH and callers see (number as close to SQL Server's)."""
    message = str(error)
    if isinstance(error, duckdb.InvalidInputException):
        message = message.removeprefix("Invalid Input Error: ")  # error() raised by the translation
    guard = _GUARD.search(message)
    if guard is not None:  # a guard of the translation: SQL Server's number and text
        return TSqlError(int(guard.group("number")), guard.group("message").split("\n")[0])
    failed = _CHECK_FAILED.search(message)
    if failed is not None:
        table, expression = failed.group("table"), failed.group("expression")
        key = _TRAILING_SPACE_KEY.search(expression)
        if key is not None:  # the CHECK the translator adds to key text columns
            return TSqlError(
                SqlErrorNumber.USER_DEFINED,
                f"DuckDB engine: a value of the key column '{key.group('column').strip(chr(34))}' of table '{table}' "
                "ends with a space (SQL Server's keys ignore trailing spaces, so 'a' and 'a ' would collide; "
                "the DuckDB engine refuses such values)",
            )
        measured = _MEASURED_COLUMN.search(expression)
        if measured is not None and "<=" in expression:  # the CHECK the translator adds for VARCHAR(n)
            column = measured.group("column").strip('"')
            return TSqlError(SqlErrorNumber.STRING_TRUNCATED,
                             f"String or binary data would be truncated in table '{table}', column '{column}'.")
    overflow = _OVERFLOW.search(message)
    if overflow is not None:
        kind = _DUCKDB_TYPES.get(overflow.group("type") or overflow.group("target") or "", "")
        if kind:
            return TSqlError(SqlErrorNumber.ARITHMETIC_OVERFLOW,
                             f"Arithmetic overflow error converting expression to data type {kind}.")
    if "Date out of range" in message or "date out of range" in message:
        return TSqlError(SqlErrorNumber.DATE_OVERFLOW, "Adding a value to a 'date' column caused an overflow.")
    if "More than one row returned by a subquery" in message:
        return TSqlError(SqlErrorNumber.SUBQUERY_MULTIPLE_ROWS, SUBQUERY_ROWS_MESSAGE)
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


def throw_message(message: str) -> str:
    """THROW's message text: `%` is reserved there and `%%` stands for one `%` ("THROW (Transact-SQL)").
    What SQL Server makes of a lone `%` is not documented: the DuckDB engine refuses it."""
    if "%" not in message:
        return message
    parts = message.split("%%")
    if any("%" in part for part in parts):
        raise TSqlError(
            SqlErrorNumber.USER_DEFINED,
            "DuckDB engine: THROW message with an unescaped '%' (THROW reserves %; write %% for one): "
            + message.replace("%", "%%")[:2000],
        )
    return "%".join(parts)


class _AppLocks:
    """sp_getapplock on the DuckDB engine: exclusive locks per (database file, resource), held by a
    session until its outermost transaction ends (owner Transaction) or until sp_releaseapplock or the
    end of the session (owner Session). DuckDB allows one writing process per file, so these locks only
    need to serialize sessions of this process."""

    _guard = threading.Lock()
    _locks: ClassVar[dict[tuple[str, str], threading.Lock]] = {}

    @classmethod
    def lock_for(cls, database: str, resource: str) -> threading.Lock:
        key = (database, resource)  # resource names compare in binary ("sp_getapplock")
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
        self.held_locks: dict[str, threading.Lock] = {}  # owner Transaction
        self.session_locks: dict[str, threading.Lock] = {}  # owner Session
        self.lock_counts: dict[tuple[str, str], int] = {}  # (owner, resource): sp_getapplock calls not released
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
                frame.variables[parameter] = self.convert(supplied.pop(parameter), sql_type)
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
        # "If a SET statement runs in a stored procedure, the value of the SET option is restored after
        # control is returned from the stored procedure" (SET Statements (Transact-SQL)).
        entry_options = dict(self.options)
        value: Any = 0
        try:
            self.run(plan.steps, frame)
        except _Return as returned:
            value = returned.value if returned.value is not None else 0
        finally:
            self.drop_temp_tables(frame)
            self.options = entry_options
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
            elif isinstance(step, ReleaseAppLock):
                self.release_applock(step, frame)
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
        text = throw_message(str(message)) if message is not None else ""
        raise TSqlError(int(number), text, int(state or 1))

    def transaction(self, action: str) -> None:
        if action == "begin":
            if not self.options["XACT_ABORT"]:
                # With XACT_ABORT OFF, SQL Server rolls back only the failing statement of some errors and
                # goes on with the transaction; DuckDB aborts the whole transaction on any error.
                raise TSqlError(
                    SqlErrorNumber.USER_DEFINED,
                    "DuckDB engine: BEGIN TRANSACTION with SET XACT_ABORT OFF (SQL Server would keep the "
                    "transaction open after some errors, DuckDB aborts it); SET XACT_ABORT ON first",
                )
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
        if step.owner == "transaction" and self.trancount == 0:
            raise TSqlError(
                SqlErrorNumber.APPLOCK_OUTSIDE_TRANSACTION,
                "You attempted to acquire a transactional application lock without an active transaction.",
            )
        held = self.held_locks if step.owner == "transaction" else self.session_locks
        # The resource name is compared in binary, case-sensitively, whatever the collation ("sp_getapplock").
        key = str(resource)
        result = 0  # granted at once (also when this session holds it already: one more release is then needed)
        if key not in self.held_locks and key not in self.session_locks:
            lock = _AppLocks.lock_for(self.database, key)
            if lock.acquire(blocking=False):
                held[key] = lock
            else:
                timeout = -1 if timeout_ms is None or int(timeout_ms) < 0 else int(timeout_ms) / 1000
                if timeout != 0 and lock.acquire(timeout=timeout):
                    held[key] = lock
                    result = 1  # granted after waiting for another session to release it
                else:
                    result = -1
        if result >= 0:
            self.lock_counts[(step.owner, key)] = self.lock_counts.get((step.owner, key), 0) + 1
        if step.result_variable:
            frame.variables[step.result_variable] = result

    def release_applock(self, step: ReleaseAppLock, frame: Frame) -> None:
        (resource,) = self.evaluate(step.arguments, frame)
        held = self.held_locks if step.owner == "transaction" else self.session_locks
        key = str(resource)
        lock = held.get(key)
        if lock is None:
            # sp_releaseapplock of a lock the session does not hold: error 1223 and return code -999.
            raise TSqlError(SqlErrorNumber.APPLOCK_NOT_HELD,
                            f"Cannot release the application lock (Database Principal: 'public', Resource: "
                            f"'{resource}') because it is not currently held.")
        count = self.lock_counts.get((step.owner, key), 1) - 1
        if count > 0:
            self.lock_counts[(step.owner, key)] = count
        else:  # released as many times as it was taken ("sp_releaseapplock")
            self.lock_counts.pop((step.owner, key), None)
            del held[key]
            lock.release()
        if step.result_variable:
            frame.variables[step.result_variable] = 0

    def release_locks(self) -> None:
        for key, lock in self.held_locks.items():
            lock.release()
            self.lock_counts.pop(("transaction", key), None)
        self.held_locks.clear()

    def close(self) -> None:
        """The session ends: its transaction rolls back and its Session-owned locks go."""
        self.abort()
        for key, lock in self.session_locks.items():
            lock.release()
            self.lock_counts.pop(("session", key), None)
        self.session_locks.clear()

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
        for ddl in statement.after:
            self.execute(ddl)
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

    def convert(self, value: Any, sql_type: SqlType) -> Any:
        """A procedure argument converted to its parameter's type as SQL Server converts it."""
        if value is None:
            return None
        source = python_type(value)
        sql = exp.select(convert(exp.Parameter(this=exp.Var(this="v")), source, sql_type)).sql(dialect="duckdb")
        try:
            row = self.scratch.execute(sql, {"v": value}).fetchone()
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
