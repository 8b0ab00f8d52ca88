"""Compile parsed T-SQL (tsql_script) into a plan of DuckDB statements (tsql) that the DuckDB
interpreter runs. Compiling the whole batch or procedure first means every refusal is reported
(file:line) before anything runs, e.g. when `sql deploy` stores a procedure."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from sqlglot import exp

from company_activity_local.warehouse import tsql_types as types
from company_activity_local.warehouse.tsql import Catalog, Translated, Translator
from company_activity_local.warehouse.tsql_script import (
    Block,
    CreateProcedure,
    Declare,
    Execute,
    ExecuteLiteral,
    If,
    Location,
    Return,
    SetOption,
    SetVariable,
    SqlStatement,
    Statement,
    Throw,
    Transaction,
    TryCatch,
)
from company_activity_local.warehouse.tsql_types import SqlType

APPLOCK_PROCEDURES = {"sp_getapplock", "sys.sp_getapplock", "dbo.sp_getapplock"}
RELEASE_PROCEDURES = {"sp_releaseapplock", "sys.sp_releaseapplock", "dbo.sp_releaseapplock"}
_APPLOCK_ARGUMENTS = {"resource", "lockmode", "lockowner", "locktimeout", "dbprincipal"}
_RELEASE_ARGUMENTS = {"resource", "lockowner", "dbprincipal"}


@dataclass
class Run:
    loc: Location
    statement: Translated


@dataclass
class DeclareVariable:
    loc: Location
    name: str
    sql_type: SqlType
    value: Translated | None


@dataclass
class Assign:
    loc: Location
    name: str
    value: Translated


@dataclass
class Option:
    loc: Location
    option: str
    on: bool


@dataclass
class Branch:
    loc: Location
    condition: Translated
    then: list[Step]
    otherwise: list[Step]


@dataclass
class Guarded:
    loc: Location
    try_steps: list[Step]
    catch_steps: list[Step]


@dataclass
class Raise:
    loc: Location
    arguments: Translated | None  # None: THROW; (re-raise)


@dataclass
class TransactionStep:
    loc: Location
    action: str


@dataclass
class AppLock:
    loc: Location
    arguments: Translated  # SELECT resource, timeout
    result_variable: str | None
    owner: str = "transaction"  # transaction | session


@dataclass
class ReleaseAppLock:
    loc: Location
    arguments: Translated  # SELECT resource
    result_variable: str | None
    owner: str = "transaction"


@dataclass
class CallProcedure:
    loc: Location
    procedure: str
    names: tuple[str, ...]
    arguments: Translated | None
    result_variable: str | None


@dataclass
class ReturnStep:
    loc: Location
    value: Translated | None


@dataclass
class StoreProcedure:
    loc: Location
    name: str
    source: str
    or_alter: bool


Step = (
    Run | DeclareVariable | Assign | Option | Branch | Guarded | Raise | TransactionStep | AppLock
    | ReleaseAppLock | CallProcedure | ReturnStep | StoreProcedure
)  # fmt: skip


@dataclass
class ProcedurePlan:
    name: str
    parameters: list[tuple[str, SqlType, Translated | None]]  # name, type, default value
    steps: list[Step]
    source: str = field(repr=False)


def compile_batch(
    statements: list[Statement], catalog: Catalog, variables: dict[str, SqlType] | None = None
) -> list[Step]:
    translator = Translator(catalog)
    for name, sql_type in (variables or {}).items():
        translator.declare_python(name, sql_type)
    return _Compiler(translator).steps(statements)


def compile_procedure(procedure: CreateProcedure, catalog: Catalog) -> ProcedurePlan:
    translator = Translator(catalog, in_procedure=True)
    compiler = _Compiler(translator, in_procedure=True)
    parameters = []
    for parameter in procedure.parameters:
        sql_type = translator.declare(parameter.name, parameter.data_type, procedure.loc)
        default = None
        if parameter.default is not None:
            if not isinstance(parameter.default, (exp.Literal, exp.National, exp.Null, exp.Neg)):
                raise procedure.loc.error("parameter default that is not a constant")
            default = translator.value(parameter.default, procedure.loc, sql_type)
        parameters.append((parameter.name, sql_type, default))
    return ProcedurePlan(procedure.name, parameters, compiler.steps(procedure.body), procedure.source)


class _Compiler:
    def __init__(self, translator: Translator, *, in_procedure: bool = False) -> None:
        self.translator = translator
        self.in_procedure = in_procedure
        self.catch_depth = 0

    def steps(self, statements: list[Statement]) -> list[Step]:
        steps: list[Step] = []
        for statement in statements:
            if isinstance(statement, Declare):
                steps.extend(self.declare(statement))
            else:
                steps.append(self.step(statement))
        return steps

    def declare(self, statement: Declare) -> list[Step]:
        # One step per variable; the initial value is converted to the declared type like SET does.
        steps: list[Step] = []
        for name, data_type, default in statement.items:
            sql_type = self.translator.declare(name, data_type, statement.loc)
            value = self.translator.value(default, statement.loc, sql_type) if default is not None else None
            steps.append(DeclareVariable(statement.loc, name, sql_type, value))
        return steps

    def step(self, statement: Statement) -> Step:
        loc = statement.loc
        t = self.translator
        if isinstance(statement, SqlStatement):
            return Run(loc, t.translate(statement))
        if isinstance(statement, Declare):
            return Branch(loc, ALWAYS, self.declare(statement), [])
        if isinstance(statement, SetVariable):
            target = t.variables.get(statement.name)
            if target is None:
                raise loc.error(f"undeclared variable @{statement.name}")
            return Assign(loc, statement.name, t.value(statement.value, loc, target))
        if isinstance(statement, SetOption):
            return Option(loc, statement.option, statement.on)
        if isinstance(statement, If):
            condition = t.condition(statement.condition, loc)
            then = [self.step(statement.then)]
            otherwise = [self.step(statement.otherwise)] if statement.otherwise is not None else []
            return Branch(loc, condition, then, otherwise)
        if isinstance(statement, Block):
            return Branch(loc, ALWAYS, self.steps(statement.body), [])
        if isinstance(statement, TryCatch):
            try_steps = self.steps(statement.try_body)
            self.catch_depth += 1
            try:
                catch_steps = self.steps(statement.catch_body)
            finally:
                self.catch_depth -= 1
            return Guarded(loc, try_steps, catch_steps)
        if isinstance(statement, Throw):
            if statement.number is None:
                if self.catch_depth == 0:
                    raise loc.error("THROW without arguments outside a CATCH block")
                return Raise(loc, None)
            return Raise(loc, t.values([statement.number, statement.message, statement.state], loc))  # type: ignore[list-item]
        if isinstance(statement, Transaction):
            return TransactionStep(loc, statement.action)
        if isinstance(statement, Execute):
            return self.execute(statement)
        if isinstance(statement, ExecuteLiteral):
            return Branch(loc, ALWAYS, self.steps(statement.body), [])
        if isinstance(statement, Return):
            return ReturnStep(loc, t.value(statement.value, loc, None) if statement.value is not None else None)
        if isinstance(statement, CreateProcedure):
            compile_procedure(statement, t.catalog)  # validates the whole body now (file:line)
            return StoreProcedure(loc, statement.name, statement.source, statement.or_alter)
        raise loc.error(type(statement).__name__)

    def execute(self, statement: Execute) -> Step:
        loc = statement.loc
        t = self.translator
        if statement.result_variable is not None and statement.result_variable not in t.variables:
            raise loc.error(f"undeclared variable @{statement.result_variable}")
        if statement.procedure in APPLOCK_PROCEDURES:
            arguments = dict(statement.arguments)
            unknown = set(arguments) - _APPLOCK_ARGUMENTS
            if unknown or "resource" not in arguments or "lockmode" not in arguments:
                raise loc.error("sp_getapplock arguments", "@Resource, @LockMode, @LockOwner, @LockTimeout")
            mode = arguments["lockmode"]
            if not (isinstance(mode, (exp.Literal, exp.National)) and mode.name.lower() == "exclusive"):
                raise loc.error("sp_getapplock @LockMode other than 'Exclusive'")
            timeout = arguments.get("locktimeout", exp.Literal.number(-1))
            values = t.values([arguments["resource"], timeout], loc)
            return AppLock(loc, values, statement.result_variable, _lock_owner(arguments, loc))
        if statement.procedure in RELEASE_PROCEDURES:
            arguments = dict(statement.arguments)
            if set(arguments) - _RELEASE_ARGUMENTS or "resource" not in arguments:
                raise loc.error("sp_releaseapplock arguments", "@Resource, @LockOwner")
            values = t.values([arguments["resource"]], loc)
            return ReleaseAppLock(loc, values, statement.result_variable, _lock_owner(arguments, loc))
        if statement.procedure.startswith(("sp_", "sys.", "xp_")):
            raise loc.error(f"system procedure {statement.procedure}")
        names = tuple(name for name, _ in statement.arguments)
        bound = t.values([value for _, value in statement.arguments], loc) if names else None
        name = statement.procedure if "." in statement.procedure else f"dbo.{statement.procedure}"
        return CallProcedure(loc, name, names, bound, statement.result_variable)


ALWAYS = Translated("SELECT 1", (), "query", 0)


def _lock_owner(arguments: dict[str, exp.Expr], loc: Location) -> str:
    owner = arguments.get("lockowner", exp.Literal.string("Transaction"))
    if not (isinstance(owner, (exp.Literal, exp.National)) and owner.name.lower() in ("transaction", "session")):
        raise loc.error("@LockOwner other than 'Transaction' or 'Session'")
    return owner.name.lower()


def python_type(value: object) -> SqlType:
    """The T-SQL type a Python parameter value is bound as (execute/query params)."""
    if value is None:
        return types.STRING_TYPE
    if isinstance(value, bool):
        return types.BIT_TYPE
    if isinstance(value, int):
        return types.BIGINT_TYPE
    if isinstance(value, float):
        return types.FLOAT_TYPE
    if isinstance(value, Decimal):
        return types.DECIMAL_TYPE
    if isinstance(value, dt.datetime):
        return types.DATETIME_TYPE
    if isinstance(value, dt.date):
        return types.DATE_TYPE
    if isinstance(value, str):
        # Bound as VARCHAR (the database's UTF-8 collation keeps any text): an NVARCHAR would make SQL
        # Server convert the VARCHAR key column it is compared with and scan instead of seek.
        return types.STRING_TYPE
    raise TypeError(f"unsupported parameter value type {type(value).__name__}")
