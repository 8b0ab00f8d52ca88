"""The strict T-SQL -> DuckDB translator (statement level).

sqlglot parses each statement (read="tsql"); this module walks the tree with an allow-list of node
types and functions, refuses everything else with `file:line: unsupported T-SQL construct <X>`, and
rewrites what DuckDB would otherwise run with another meaning (docs/tsql-subset.md lists each case):
FLOAT/BIT types, integer division, CONVERT (strict, never TRY_CAST), DATEADD on DATE (stays DATE),
`+` on strings, truncating casts to INT and VARCHAR(n), MERGE duplicate source rows, recursive CTEs,
T-SQL temp tables, variables (DuckDB prepared parameters wrapped in a CAST to the declared type).

Operators whose meaning depends on types are translated from the operand types: literals, declared
variables, casts, and columns resolved through the statement's FROM scopes against the catalog (and
the temp tables created earlier in the same batch). Unknown type -> refused, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import sqlglot
from sqlglot import exp

from company_activity_local.warehouse.engine import TranslationError
from company_activity_local.warehouse.tsql_script import Location, SqlStatement
from company_activity_local.warehouse.tsql_types import (
    BIGINT_TYPE,
    BIT,
    BIT_TYPE,
    DATE,
    DATETIME,
    DATETIME_TYPE,
    DECIMAL,
    DECIMAL_TYPE,
    FLOAT,
    FLOAT_TYPE,
    INT,
    INT_TYPE,
    NSTRING_TYPE,
    NULL,
    NULL_TYPE,
    NUMERIC,
    STRING,
    STRING_TYPE,
    SqlType,
    TypeRefused,
    map_type,
    promote,
)

__all__ = ["Catalog", "Translated", "TranslationError", "Translator", "quote"]

VARIABLE_PREFIX = "v_"
# Values the interpreter supplies per statement (T-SQL system functions and @@ variables).
SYSTEM_PARAMETERS: dict[str, SqlType] = {
    "sys_rowcount": INT_TYPE,
    "sys_trancount": INT_TYPE,
    "sys_xact_state": INT_TYPE,
    "sys_error_message": NSTRING_TYPE,
    "sys_error_number": INT_TYPE,
    "sys_error_severity": INT_TYPE,
    "sys_error_state": INT_TYPE,
    "sys_error_line": INT_TYPE,
    "sys_error_procedure": NSTRING_TYPE,
    "sys_utcnow": DATETIME_TYPE,
    "sys_now": DATETIME_TYPE,
}
_GLOBAL_VARIABLES = {"rowcount": "sys_rowcount", "trancount": "sys_trancount"}
_SYSTEM_FUNCTIONS = {
    "ERROR_MESSAGE": "sys_error_message",
    "ERROR_NUMBER": "sys_error_number",
    "ERROR_SEVERITY": "sys_error_severity",
    "ERROR_STATE": "sys_error_state",
    "ERROR_LINE": "sys_error_line",
    "ERROR_PROCEDURE": "sys_error_procedure",
    "XACT_STATE": "sys_xact_state",
    "SYSUTCDATETIME": "sys_utcnow",
    "GETUTCDATE": "sys_utcnow",
}
# Default values in DDL are evaluated by DuckDB itself (no parameters there).
_DDL_TIME = {"sys_utcnow": "(now() AT TIME ZONE 'UTC')", "sys_now": "CAST(now() AS TIMESTAMP)"}

_DATE_UNITS = {
    "YEAR": ("to_years", 1), "YY": ("to_years", 1), "YYYY": ("to_years", 1),
    "QUARTER": ("to_months", 3), "QQ": ("to_months", 3), "Q": ("to_months", 3),
    "MONTH": ("to_months", 1), "MM": ("to_months", 1), "M": ("to_months", 1),
    "DAY": ("to_days", 1), "DD": ("to_days", 1), "D": ("to_days", 1),
    "WEEK": ("to_days", 7), "WK": ("to_days", 7), "WW": ("to_days", 7),
    "HOUR": ("to_hours", 1), "HH": ("to_hours", 1),
    "MINUTE": ("to_minutes", 1), "MI": ("to_minutes", 1), "N": ("to_minutes", 1),
    "SECOND": ("to_seconds", 1), "SS": ("to_seconds", 1), "S": ("to_seconds", 1),
}  # fmt: skip
# DATEDIFF counts boundaries; DuckDB's date_diff does too, except for weeks (T-SQL: Sundays).
_DATEDIFF_UNITS = {
    "YEAR": "year", "YY": "year", "YYYY": "year", "QUARTER": "quarter", "QQ": "quarter", "Q": "quarter",
    "MONTH": "month", "MM": "month", "M": "month", "DAY": "day", "DD": "day", "D": "day",
    "HOUR": "hour", "HH": "hour", "MINUTE": "minute", "MI": "minute", "N": "minute",
    "SECOND": "second", "SS": "second", "S": "second",
}  # fmt: skip
# Collations with a meaning on DuckDB: the database's (case-insensitive there, not on DuckDB, see
# docs/tsql-subset.md) and binary ones (exactly DuckDB's comparison).
BINARY_COLLATIONS = {"LATIN1_GENERAL_100_BIN2_UTF8", "LATIN1_GENERAL_BIN2"}
COLUMN_COLLATIONS = {"DATABASE_DEFAULT", "LATIN1_GENERAL_100_CI_AS_SC_UTF8", *BINARY_COLLATIONS}
MERGE_DUPLICATE_MESSAGE = (
    "The MERGE statement attempted to UPDATE or DELETE the same row more than once. This happens when "
    "a target row matches more than one source row. A MERGE statement cannot UPDATE/DELETE the same row "
    "of the target table multiple times. Refine the ON clause to ensure a target row matches at most one "
    "source row, or use the GROUP BY clause to group the source rows."
)
DIVIDE_BY_ZERO_MESSAGE = "Divide by zero error encountered."

# Node types accepted as they are (their children are checked on their own).
_PLAIN_NODES: frozenset[type[exp.Expr]] = frozenset({
    exp.Select, exp.Union, exp.Intersect, exp.Except, exp.From, exp.Join, exp.Where, exp.Group,
    exp.Having, exp.Order, exp.Ordered, exp.Limit, exp.With, exp.CTE, exp.TableAlias, exp.Subquery,
    exp.Alias, exp.Identifier, exp.Star, exp.Distinct, exp.Literal, exp.National, exp.Null, exp.Paren,
    exp.Var, exp.DataTypeParam, exp.And, exp.Or, exp.Not, exp.Neg, exp.EQ, exp.NEQ, exp.GT, exp.GTE,
    exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ, exp.Is, exp.In, exp.Between, exp.Exists,
    exp.Case, exp.If, exp.Coalesce, exp.Nullif, exp.ConcatWs, exp.Count, exp.Min, exp.Max,
    exp.Upper, exp.Lower, exp.Trim, exp.Left, exp.Right, exp.Substring, exp.Abs, exp.RowNumber,
    exp.Values, exp.Tuple, exp.Schema, exp.Insert, exp.Whens, exp.When, exp.Column, exp.Table,
    exp.Window, exp.WindowSpec, exp.Update, exp.Delete, exp.Merge, exp.Parameter, exp.Anonymous, exp.CurrentTimestamp,
    exp.Sum, exp.Avg, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Cast, exp.TryCast, exp.Convert,
    exp.DataType, exp.DateAdd, exp.DateDiff, exp.Length, exp.Concat, exp.Like, exp.Round, exp.Collate,
})  # fmt: skip
_NAMED_REFUSALS: dict[type[exp.Expr], str] = {
    exp.WithTableHint: "table hint WITH (...)",
    exp.Into: "SELECT ... INTO",
    exp.Returning: "OUTPUT clause",
    exp.QueryOption: "OPTION (...) query hint",
    exp.Lateral: "CROSS/OUTER APPLY",
    exp.Offset: "OFFSET ... FETCH",
    exp.Command: "statement",
    exp.Pivot: "PIVOT",
    exp.Fetch: "OFFSET ... FETCH",
    exp.LimitOptions: "TOP ... PERCENT / WITH TIES",
    exp.ForClause: "FOR JSON / FOR XML",
}


class Catalog(Protocol):
    def table_columns(self, schema: str, table: str) -> dict[str, SqlType] | None:
        """Column name (lower case) -> type, or None when the table does not exist."""
        ...

    def temp_table_columns(self, name: str) -> dict[str, SqlType] | None:
        """The same for a temp table created by an earlier batch of the session (name: '#t')."""
        ...


# What a translated statement is for the runtime: a query returns rows, dml changes them, ddl changes the
# catalog, noop is dropped (a T-SQL statement with no DuckDB counterpart).
StatementKind = Literal["query", "dml", "ddl", "noop"]


@dataclass(frozen=True)
class Translated:
    """DuckDB SQL for one T-SQL statement, with `$name` parameters to bind at run time."""

    sql: str
    parameters: tuple[str, ...]
    kind: StatementKind
    line: int
    assigns: tuple[str, ...] = ()  # SELECT @a = ..., @b = ...: the variables, in projection order
    guard: Translated | None = None  # MERGE: must return no row (duplicate source rows otherwise)
    before: tuple[str, ...] = ()  # DDL to run first (sequences for IDENTITY columns)
    temp_table: str | None = None  # CREATE TABLE #name: dropped when the procedure ends
    table_free: bool = False  # reads no table: evaluable outside the (maybe doomed) transaction


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def temp_table_name(name: str) -> str:
    return "#" + name.lower()


@dataclass
class Translator:
    """Translates the statements of one batch or procedure, in order (it tracks DECLAREd variables
    and temp tables created earlier in the same batch)."""

    catalog: Catalog
    variables: dict[str, SqlType] = field(default_factory=dict)
    temp_tables: dict[str, dict[str, SqlType]] = field(default_factory=dict)

    def declare(self, name: str, data_type: exp.DataType, loc: Location) -> SqlType:
        try:
            sql_type = map_type(data_type)
        except TypeRefused as refused:
            raise loc.error(f"type {refused.name}", refused.hint) from None
        self.variables[name] = sql_type
        return sql_type

    def declare_python(self, name: str, sql_type: SqlType) -> None:
        self.variables[name] = sql_type

    def translate(self, statement: SqlStatement) -> Translated:
        ast = statement.ast
        loc = statement.loc
        if isinstance(ast, exp.Create):
            return _DDL(self, loc).create(ast)
        if isinstance(ast, exp.Drop):
            return _DDL(self, loc).drop(ast)
        if isinstance(ast, exp.TruncateTable):
            return _DDL(self, loc).truncate(ast)
        if isinstance(ast, exp.Alter):
            return _DDL(self, loc).alter(ast)
        if isinstance(ast, exp.Command) and ast.this in ("CREATE", "GRANT"):
            return _DDL(self, loc).security(ast.this, ast.expression.name)
        if isinstance(ast, (exp.Select, exp.Union, exp.Intersect, exp.Except)):
            return self._query(ast, loc)
        if isinstance(ast, (exp.Insert, exp.Update, exp.Delete, exp.Merge)):
            return self._dml(ast, loc)
        raise loc.error(f"statement {statement.text.split()[0].upper()}")

    def value(self, expression: exp.Expr, loc: Location, target: SqlType | None) -> Translated:
        """SELECT <expression> (converted to `target` like a T-SQL assignment)."""
        select = exp.select(expression.copy())
        rewriter = _Rewriter(self, loc)
        rewriter.check(select)
        if target is not None:
            source = rewriter.type_of(select.expressions[0])
            projection = rewriter.rewrite(select.expressions[0])
            select.set("expressions", [_convert(projection, source, target)])
            rewriter.rewrite_children(select, skip={"expressions"})
        else:
            rewriter.rewrite(select)
        return rewriter.finish(select, "query")

    def values(self, expressions: list[exp.Expr], loc: Location) -> Translated:
        select = exp.select(*[e.copy() for e in expressions])
        rewriter = _Rewriter(self, loc)
        rewriter.check(select)
        rewriter.rewrite(select)
        return rewriter.finish(select, "query")

    def condition(self, expression: exp.Expr, loc: Location) -> Translated:
        """SELECT CASE WHEN <condition> THEN 1 ELSE 0 END (T-SQL IF treats UNKNOWN as false)."""
        case = exp.Case(ifs=[exp.If(this=expression.copy(), true=exp.Literal.number(1))], default=exp.Literal.number(0))
        return self.values([case], loc)

    # -- statements ---------------------------------------------------------------------------
    def _query(self, ast: exp.Expr, loc: Location) -> Translated:
        rewriter = _Rewriter(self, loc)
        rewriter.check(ast)
        assigns: tuple[str, ...] = ()
        if isinstance(ast, exp.Select) and any(_is_assignment(p) for p in ast.expressions):
            if not all(_is_assignment(p) for p in ast.expressions):
                raise loc.error("SELECT mixing variable assignments and result columns")
            names = []
            for index, projection in enumerate(ast.expressions):
                name = _variable_name(projection.this)
                target = self.variables.get(name)
                if target is None:
                    raise loc.error(f"undeclared variable @{name}")
                source = rewriter.type_of(projection.expression)
                value = rewriter.rewrite(projection.expression)
                projection.replace(exp.alias_(_convert(value, source, target), f"a{index}"))
                names.append(name)
            assigns = tuple(names)
            rewriter.rewrite_children(ast, skip={"expressions"})
            return rewriter.finish(ast, "query", assigns=assigns)
        rewriter.rewrite(ast)
        return rewriter.finish(ast, "query")

    def _dml(self, ast: exp.Expr, loc: Location) -> Translated:
        rewriter = _Rewriter(self, loc)
        rewriter.check(ast)
        guard = None
        if isinstance(ast, exp.Merge):
            guard = self._merge_guard(ast, loc)
        if isinstance(ast, exp.Update):
            _flatten_update(ast, loc)
        if isinstance(ast, exp.Delete) and (ast.args.get("tables") or ast.args.get("using")):
            raise loc.error("DELETE with a FROM/JOIN list", "use DELETE FROM t WHERE ... EXISTS (...)")
        rewriter.rewrite(ast)
        return rewriter.finish(ast, "dml", guard=guard)

    def _merge_guard(self, merge: exp.Merge, loc: Location) -> Translated | None:
        whens = merge.args["whens"].expressions
        if not any(w.args.get("matched") for w in whens):
            return None
        target = merge.this.copy()
        alias = target.alias_or_name
        rowid = exp.column("rowid", table=alias)
        guard = (
            exp.select(exp.Literal.number(1))
            .from_(target)
            .join(merge.args["using"].copy(), on=merge.args["on"].copy(), join_type="inner")
            .group_by(rowid)
            .having(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1)))
            .limit(1)
        )
        rewriter = _Rewriter(self, loc)
        rewriter.check(guard)
        rewriter.rewrite(guard)
        return rewriter.finish(guard, "query")


def _is_assignment(projection: exp.Expr) -> bool:
    return isinstance(projection, exp.EQ) and _is_variable(projection.this)


def _is_variable(node: exp.Expr) -> bool:
    return isinstance(node, exp.Parameter) and not isinstance(node.this, exp.Parameter)


def _arg_name(node: exp.Expr, key: str, default: str) -> str:
    """The name of the node's `key` argument (a unit, a schema), or `default` when it has none."""
    value = node.args.get(key)
    return str(value.name) if value else default


def _variable_name(node: exp.Expr) -> str:
    return str(node.this.name).lower()


def _refusal(node: exp.Expr, loc: Location, detail: str = "") -> TranslationError:
    if isinstance(node, exp.Command):
        construct = f"statement {node.name.upper()}"
    elif type(node) in _NAMED_REFUSALS:
        construct = _NAMED_REFUSALS[type(node)]
    elif isinstance(node, exp.Anonymous):
        construct = f"function {node.name.upper()}"
    elif isinstance(node, exp.Func):
        # The T-SQL spelling (sqlglot's own name differs, e.g. STR_POSITION for CHARINDEX).
        construct = f"function {node.sql(dialect='tsql').split('(')[0].strip().upper() or node.sql_name()}"
    else:
        construct = type(node).__name__
    return TranslationError(loc.file, _node_line(node, loc), construct, detail)


def _node_line(node: exp.Expr, loc: Location) -> int:
    for candidate in node.walk():
        meta = candidate.meta if hasattr(candidate, "_meta") and candidate._meta else None
        if meta and "line" in meta:
            return loc.line + int(meta["line"]) - 1
    return loc.line


def _flatten_update(update: exp.Update, loc: Location) -> None:
    """T-SQL `UPDATE alias SET ... FROM t AS alias JOIN s ON c WHERE w` ->
    DuckDB `UPDATE t AS alias SET ... FROM s WHERE c AND w` (inner joins only)."""
    from_ = update.args.get("from_")
    for assignment in update.expressions:
        if isinstance(assignment.this, exp.Column):
            assignment.this.set("table", None)
            assignment.this.set("db", None)
    if from_ is None:
        return
    first = from_.this
    joins = list(first.args.get("joins") or []) + list(update.args.get("joins") or [])
    target = update.this
    if not isinstance(first, exp.Table) or target.args.get("db") or target.name.lower() != first.alias_or_name.lower():
        if any(j.alias_or_name.lower() == target.name.lower() for j in joins):
            raise loc.error("UPDATE of a joined table", "the updated alias must be the first FROM table")
        return
    conditions = []
    for join in joins:
        if join.args.get("side") or join.args.get("kind") not in (None, "INNER") or not join.args.get("on"):
            raise loc.error("UPDATE ... FROM with an outer or cross join", "only INNER JOIN ... ON is supported")
        conditions.append(join.args["on"])
    new_target = first.copy()
    new_target.set("joins", None)
    update.set("this", new_target)
    if joins:
        tables = [j.this for j in joins]
        update.set("from_", exp.From(this=tables[0]))
        update.set("joins", [exp.Join(this=t) for t in tables[1:]] or None)
        where = update.args.get("where")
        condition = exp.and_(*conditions, *([where.this] if where else []), copy=False)  # keep node ids
        update.set("where", exp.Where(this=condition))
    else:
        update.set("from_", None)


def _convert(value: exp.Expr, source: SqlType | None, target: SqlType, *, safe: bool = False) -> exp.Expr:
    """value converted to `target` as T-SQL does on CAST/assignment: to an integer by truncation
    (DuckDB rounds), to VARCHAR(n) by cutting at n (DuckDB ignores the length). `safe`: TRY_CAST."""
    if target.category == INT and source is not None and source.category in (FLOAT, DECIMAL):
        value = exp.Anonymous(this="trunc", expressions=[value])
    cast_type = exp.TryCast if safe else exp.Cast
    cast = cast_type(this=value, to=exp.DataType.build(target.duckdb, dialect="duckdb"))
    if target.category == STRING and target.length is not None:
        return exp.Anonymous(this="left", expressions=[cast, exp.Literal.number(target.length)])
    return cast


class _Rewriter:
    """Checks one statement against the allow-list (phase 1, on the untouched T-SQL tree, where
    types are inferred) and rewrites it for DuckDB (phase 2, children first)."""

    def __init__(self, translator: Translator, loc: Location, *, ddl: bool = False) -> None:
        self.translator = translator
        self.loc = loc
        self.ddl = ddl
        self.parameters: list[str] = []
        self.decisions: dict[int, Callable[[exp.Expr], exp.Expr]] = {}
        self._originals: list[exp.Expr] = []
        self._types: dict[int, SqlType | None] = {}

    def error(self, node: exp.Expr, construct: str, detail: str = "") -> TranslationError:
        return TranslationError(self.loc.file, _node_line(node, self.loc), construct, detail)

    # -- phase 1 ------------------------------------------------------------------------------
    def check(self, root: exp.Expr) -> None:
        self._originals = list(root.walk())
        for node in self._originals:
            node_type = type(node)
            if node_type not in _PLAIN_NODES and not (
                node_type is exp.TimeStrToTime and isinstance(node.parent, exp.DateDiff)  # sqlglot's wrapper
            ):
                raise _refusal(node, self.loc)
            checker = getattr(self, f"_check_{node_type.__name__.lower()}", None)
            if checker is not None:
                checker(node)

    def _check_table(self, node: exp.Table) -> None:
        if node.args.get("hints"):
            raise self.error(node, "table hint WITH (...)")
        if node.args.get("catalog"):
            raise self.error(node, "three-part table name", "cross-database references")
        identifier = node.this
        temporary = isinstance(identifier, exp.Identifier) and identifier.args.get("temporary")
        if temporary and identifier.name.startswith("#"):
            raise self.error(node, "global temp table ##name")

    def _check_join(self, node: exp.Join) -> None:
        if node.args.get("method") or (node.args.get("kind") or "").upper() not in ("", "INNER", "CROSS", "OUTER"):
            raise self.error(node, f"{node.args.get('kind')} JOIN")

    def _check_parameter(self, node: exp.Parameter) -> None:
        if isinstance(node.parent, exp.Parameter):
            return  # the inner part of @@NAME
        if isinstance(node.this, exp.Parameter):
            name = node.this.name.lower()
            if name not in _GLOBAL_VARIABLES:
                raise self.error(node, f"@@{name.upper()}")
            system = _GLOBAL_VARIABLES[name]
            self.decisions[id(node)] = lambda _n: self._system(system)
            return
        parent = node.parent
        if parent is not None and _is_assignment(parent) and parent.this is node and \
                isinstance(parent.parent, exp.Select):
            return  # SELECT @v = ...: handled by the statement
        name = node.name.lower()
        sql_type = self.translator.variables.get(name)
        if sql_type is None:
            raise self.error(node, f"undeclared variable @{name}")
        self.decisions[id(node)] = lambda _n: self._variable(name, sql_type)

    def _check_anonymous(self, node: exp.Anonymous) -> None:
        name = node.name.upper()
        if name not in _SYSTEM_FUNCTIONS or node.expressions:
            raise _refusal(node, self.loc)
        system = _SYSTEM_FUNCTIONS[name]
        self.decisions[id(node)] = lambda _n: self._system(system)

    def _check_currenttimestamp(self, node: exp.CurrentTimestamp) -> None:
        self.decisions[id(node)] = lambda _n: self._system("sys_now")

    def _check_datatype(self, node: exp.DataType) -> None:
        in_cast = isinstance(node.parent, (exp.Cast, exp.TryCast, exp.Convert))
        try:
            sql_type = map_type(node, in_cast=in_cast)
        except TypeRefused as refused:
            raise self.error(node, f"type {refused.name}", refused.hint) from None
        self._types[id(node)] = sql_type

    def _cast_decision(self, node: exp.Expr, value: exp.Expr, to: exp.DataType, safe: bool) -> None:
        target = map_type(to, in_cast=True)
        source = self.type_of(value)
        if source is not None and source.category == FLOAT and target.category == STRING:
            raise self.error(node, "CAST of FLOAT to a string", "T-SQL formats floats with 6 digits")

        def build(n: exp.Expr) -> exp.Expr:
            value = n.expression if isinstance(n, exp.Convert) else n.args["this"]
            return _convert(value, source, target, safe=safe)

        self.decisions[id(node)] = build

    def _check_cast(self, node: exp.Cast) -> None:
        if node.args.get("format"):
            raise self.error(node, "CAST ... FORMAT")
        self._check_datatype(node.args["to"])
        self._cast_decision(node, node.this, node.args["to"], safe=False)

    def _check_trycast(self, node: exp.TryCast) -> None:
        self._check_datatype(node.args["to"])
        self._cast_decision(node, node.this, node.args["to"], safe=True)

    def _check_convert(self, node: exp.Convert) -> None:
        if node.args.get("style") is not None:
            raise self.error(node, "CONVERT with a style", "use CAST; styles are not translated")
        self._check_datatype(node.this)
        self._cast_decision(node, node.expression, node.this, safe=bool(node.args.get("safe")))

    def _check_div(self, node: exp.Div) -> None:
        left, right = self._operand_types(node, "/")
        if left.category == DECIMAL or right.category == DECIMAL:
            raise self.error(node, "division of DECIMAL values", "CAST an operand to FLOAT")
        if FLOAT in (left.category, right.category):
            self.decisions[id(node)] = lambda n: exp.Div(this=n.this, expression=_nonzero(n.expression))
        else:  # T-SQL int / int truncates toward zero, as DuckDB's `//` does
            self.decisions[id(node)] = lambda n: exp.IntDiv(this=n.this, expression=_nonzero(n.expression))

    def _check_mod(self, node: exp.Mod) -> None:
        left, right = self._operand_types(node, "%")
        if left.category != INT or right.category != INT:
            raise self.error(node, "% on non-integer values")
        self.decisions[id(node)] = lambda n: exp.Mod(this=n.this, expression=_nonzero(n.expression))

    def _check_sub(self, node: exp.Sub) -> None:
        self._operand_types(node, "-")

    def _check_mul(self, node: exp.Mul) -> None:
        self._operand_types(node, "*")

    def _check_add(self, node: exp.Add) -> None:
        left = self.type_of(node.this)
        right = self.type_of(node.expression)
        sides = {t.category for t in (left, right) if t is not None}
        if left is not None and right is not None and STRING in sides and sides <= {STRING, NULL}:
            # string + string (or NULL) concatenates; NULL makes NULL, as with DuckDB's ||
            self.decisions[id(node)] = lambda n: exp.DPipe(this=n.this, expression=n.expression, safe=False)
            return
        self._operand_types(node, "+")

    def _operand_types(self, node: exp.Binary, operator: str) -> tuple[SqlType, SqlType]:
        left = self.type_of(node.this)
        right = self.type_of(node.expression)
        for side in (left, right):
            if side is None:
                raise self.error(node, f"operator {operator} on an operand of unknown type", "CAST it")
            if side.category not in NUMERIC and side.category != NULL:
                raise self.error(node, f"operator {operator} on {side.category} values", "use DATEADD/DATEDIFF")
        return left, right  # type: ignore[return-value]

    def _check_avg(self, node: exp.Avg) -> None:
        argument = node.this
        if isinstance(argument, exp.Distinct):
            raise self.error(node, "AVG(DISTINCT ...)")
        source = self.type_of(argument)
        if source is None:
            raise self.error(node, "AVG of an operand of unknown type", "CAST it")
        if source.category in (INT, BIT):  # T-SQL averages integers in integer arithmetic
            self.decisions[id(node)] = lambda n: exp.IntDiv(
                this=exp.Sum(this=n.this), expression=exp.Count(this=n.this.copy())
            )

    def _check_collate(self, node: exp.Collate) -> None:
        # DuckDB compares strings byte by byte: only a binary collation keeps its meaning there.
        if node.expression.name.upper() not in BINARY_COLLATIONS:
            raise self.error(node, f"COLLATE {node.expression.name}", "only a _BIN2 collation in expressions")
        self.decisions[id(node)] = lambda n: n.this

    def _check_round(self, node: exp.Round) -> None:
        if node.args.get("truncate") is not None or node.args.get("decimals") is None:
            raise self.error(node, "ROUND with a third argument or without a length")

    def _check_concat(self, node: exp.Concat) -> None:
        for argument in node.expressions:
            sql_type = self.type_of(argument)
            if sql_type is not None and sql_type.category == FLOAT:
                raise self.error(node, "CONCAT of a FLOAT", "T-SQL formats floats with 6 digits")
        self.decisions[id(node)] = lambda n: exp.Anonymous(this="concat", expressions=n.expressions)

    def _check_length(self, node: exp.Length) -> None:
        # LEN ignores trailing spaces.
        self.decisions[id(node)] = lambda n: exp.Length(this=exp.Anonymous(this="rtrim", expressions=[n.this]))

    def _check_like(self, node: exp.Like) -> None:
        pattern = node.expression
        if not (isinstance(pattern, (exp.Literal, exp.National)) and pattern.is_string) or "[" in pattern.name:
            raise self.error(node, "LIKE with a non-literal pattern or [ ] ranges")
        if node.args.get("escape"):
            raise self.error(node, "LIKE ... ESCAPE")

    def _check_dateadd(self, node: exp.DateAdd) -> None:
        unit = _arg_name(node, "unit", "").upper()
        if unit not in _DATE_UNITS:
            raise self.error(node, f"DATEADD({unit or '?'}, ...)")
        target = self.type_of(node.this)
        amount = self.type_of(node.expression)
        if target is None or target.category not in (DATE, DATETIME):
            raise self.error(node, "DATEADD on a value of unknown type", "CAST it to DATE or DATETIME2")
        if target.category == DATE and _DATE_UNITS[unit][0] in ("to_hours", "to_minutes", "to_seconds"):
            raise self.error(node, f"DATEADD({unit}, ...) on a DATE")
        if amount is None or amount.category != INT:
            raise self.error(node, "DATEADD with a non-integer amount")
        function, factor = _DATE_UNITS[unit]

        def build(n: exp.Expr, function: str = function, factor: int = factor) -> exp.Expr:
            count: exp.Expr = exp.Cast(this=n.expression, to=exp.DataType.build("BIGINT"))
            if factor != 1:
                count = exp.Mul(this=exp.Literal.number(factor), expression=count)
            moved = exp.Add(this=n.this, expression=exp.Anonymous(this=function, expressions=[count]))
            # DuckDB: DATE + INTERVAL is a TIMESTAMP; T-SQL keeps the type of the date argument.
            return exp.Cast(this=exp.Paren(this=moved), to=exp.DataType.build(target.duckdb, dialect="duckdb"))

        self.decisions[id(node)] = build

    def _check_datediff(self, node: exp.DateDiff) -> None:
        unit = _arg_name(node, "unit", "").upper()
        if unit not in _DATEDIFF_UNITS:
            raise self.error(node, f"DATEDIFF({unit or '?'}, ...)", "weeks count Sundays in T-SQL")

        def build(n: exp.Expr, part: str = _DATEDIFF_UNITS[unit]) -> exp.Expr:
            start = exp.Cast(this=_unwrap_time(n.expression), to=exp.DataType.build("TIMESTAMP"))
            end = exp.Cast(this=_unwrap_time(n.this), to=exp.DataType.build("TIMESTAMP"))
            return exp.Cast(
                this=exp.Anonymous(this="date_diff", expressions=[exp.Literal.string(part), start, end]),
                to=exp.DataType.build("INTEGER"),
            )

        self.decisions[id(node)] = build

    def _check_window(self, node: exp.Window) -> None:
        spec = node.args.get("spec")
        if spec is not None and (spec.args.get("kind") or "").upper() != "ROWS":
            raise self.error(node, "window frame other than ROWS")
        if not isinstance(node.this, (exp.RowNumber, exp.Sum, exp.Count, exp.Min, exp.Max)):
            raise self.error(node, f"window function {node.this.sql_name() if isinstance(node.this, exp.Func) else ''}")

    def _check_merge(self, node: exp.Merge) -> None:
        for when in node.args["whens"].expressions:
            if when.args.get("source"):
                raise self.error(node, "MERGE ... WHEN NOT MATCHED BY SOURCE")
            then = when.args.get("then")
            if isinstance(then, exp.Update):
                for assignment in then.expressions:
                    assignment.this.set("table", None)  # DuckDB: SET takes unqualified column names
            elif not isinstance(then, exp.Insert) and not (isinstance(then, exp.Var) and then.name.upper() == "DELETE"):
                raise self.error(node, "MERGE action")

    def _check_with(self, node: exp.With) -> None:
        for cte in node.expressions:
            name = cte.alias_or_name.lower()
            if any(t.name.lower() == name and not t.args.get("db") for t in cte.this.find_all(exp.Table)):
                node.set("recursive", True)  # T-SQL infers recursion; DuckDB needs WITH RECURSIVE

    def _check_insert(self, node: exp.Insert) -> None:
        for arg in ("overwrite", "alternative", "conflict", "where"):
            if node.args.get(arg):
                raise self.error(node, f"INSERT ... {arg.upper()}")

    def _check_update(self, node: exp.Update) -> None:
        if node.args.get("limit") or node.args.get("order"):
            raise self.error(node, "UPDATE TOP/ORDER BY")

    def _check_delete(self, node: exp.Delete) -> None:
        if node.args.get("limit"):
            raise self.error(node, "DELETE TOP")

    def _check_select(self, node: exp.Select) -> None:
        limit = node.args.get("limit")
        if limit is not None and (limit.args.get("percent") or limit.args.get("with_ties")):
            raise self.error(node, "TOP ... PERCENT / WITH TIES")
        for key in ("into", "kind", "locks", "sample", "prewhere", "qualify", "windows", "connect", "match"):
            if node.args.get(key):
                raise self.error(node, f"SELECT ... {key.upper()}")

    # -- types --------------------------------------------------------------------------------
    def type_of(self, node: exp.Expr | None) -> SqlType | None:
        if node is None:
            return None
        key = id(node)
        if key not in self._types:
            self._types[key] = self._infer(node)
        return self._types[key]

    def _infer(self, node: exp.Expr) -> SqlType | None:
        if isinstance(node, exp.Literal):
            if node.is_string:
                return STRING_TYPE
            text = node.name.lower()
            if "e" in text:
                return FLOAT_TYPE
            if "." in text:
                return DECIMAL_TYPE
            return INT_TYPE if abs(int(text)) < 2**31 else BIGINT_TYPE
        if isinstance(node, exp.National):
            return NSTRING_TYPE
        if isinstance(node, exp.Null):
            return NULL_TYPE
        if isinstance(node, (exp.Paren, exp.Neg, exp.Abs, exp.Round, exp.Min, exp.Max, exp.Sum, exp.Collate)):
            return self.type_of(node.this)
        if isinstance(node, exp.Parameter):
            if isinstance(node.this, exp.Parameter):
                return INT_TYPE
            return self.translator.variables.get(node.name.lower())
        if isinstance(node, (exp.Cast, exp.TryCast)):
            return map_type(node.args["to"], in_cast=True)
        if isinstance(node, exp.Convert):
            return map_type(node.this, in_cast=True)
        if isinstance(node, exp.Column):
            return self._column_type(node)
        if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)):
            left, right = self.type_of(node.this), self.type_of(node.expression)
            if left is None or right is None:
                return None
            if isinstance(node, exp.Add) and left.is_string and right.is_string:
                return STRING_TYPE
            if left.category in NUMERIC | {NULL} and right.category in NUMERIC | {NULL}:
                return promote(left, right)
            return None
        if isinstance(node, (exp.Count, exp.DateDiff, exp.Length, exp.RowNumber)):
            return INT_TYPE
        if isinstance(node, exp.Avg):
            return self.type_of(node.this)
        if isinstance(node, exp.DateAdd):
            return self.type_of(node.this)
        if isinstance(node, (exp.Coalesce, exp.Nullif)):
            for candidate in [node.this, *node.expressions]:
                found = self.type_of(candidate)
                if found is not None and found.category != NULL:
                    return found
            return None
        if isinstance(node, exp.Case):
            for candidate in [*(i.args.get("true") for i in node.args.get("ifs") or []), node.args.get("default")]:
                found = self.type_of(candidate)
                if found is not None and found.category != NULL:
                    return found
            return None
        if isinstance(node, exp.If):
            return self.type_of(node.args.get("true")) or self.type_of(node.args.get("false"))
        if isinstance(node, (exp.Concat, exp.ConcatWs, exp.Upper, exp.Lower, exp.Trim, exp.Left, exp.Right,
                             exp.Substring)):  # fmt: skip
            return STRING_TYPE
        if isinstance(node, exp.Anonymous) and node.name.upper() in _SYSTEM_FUNCTIONS:
            return SYSTEM_PARAMETERS[_SYSTEM_FUNCTIONS[node.name.upper()]]
        if isinstance(node, exp.CurrentTimestamp):
            return DATETIME_TYPE
        if isinstance(node, exp.Subquery):
            return self._projection_type(node.this, 0)
        if isinstance(node, exp.Window):
            return self.type_of(node.this)
        if isinstance(node, exp.Alias):
            return self.type_of(node.this)
        if isinstance(node, (exp.Predicate, exp.Connector, exp.Not)):
            return BIT_TYPE
        return None

    def _projection_type(self, query: exp.Expr, index: int | str) -> SqlType | None:
        while isinstance(query, (exp.Union, exp.Intersect, exp.Except)):
            query = query.this
        if isinstance(query, exp.Subquery):
            return self._projection_type(query.this, index)
        if not isinstance(query, exp.Select):
            return None
        projections = query.expressions
        if isinstance(index, int):
            return self.type_of(projections[index]) if index < len(projections) else None
        for projection in projections:
            if projection.alias_or_name.lower() == index:
                return self.type_of(projection)
        return None

    def _column_type(self, column: exp.Column) -> SqlType | None:
        name = column.name.lower()
        qualifier = column.table.lower()
        node = column.parent
        while node is not None:
            sources = _scope_sources(node)
            if sources:
                if qualifier:
                    for alias, source in sources:
                        if alias == qualifier:
                            return self._source_column(source, name, node)
                else:
                    found = [t for _, s in sources if (t := self._source_column(s, name, node)) is not None]
                    if len(found) == 1:
                        return found[0]
                    if len(found) > 1:
                        return None
            node = node.parent
        return None

    def _source_column(self, source: exp.Expr, name: str, scope: exp.Expr) -> SqlType | None:
        if isinstance(source, exp.Table):
            identifier = source.this
            if isinstance(identifier, exp.Identifier) and identifier.args.get("temporary"):
                temp = temp_table_name(identifier.name)
                columns = self.translator.temp_tables.get(temp) or self.translator.catalog.temp_table_columns(temp)
                return (columns or {}).get(name)
            if not source.args.get("db"):
                cte = _find_cte(scope, source.name.lower())
                if cte is not None:
                    return self._projection_type(cte.this, name)
            columns = self.translator.catalog.table_columns(
                _arg_name(source, "db", "dbo").lower(), source.name.lower()
            )
            return (columns or {}).get(name)
        if isinstance(source, exp.Subquery):
            return self._projection_type(source.this, name)
        return None

    # -- phase 2 ------------------------------------------------------------------------------
    def rewrite(self, node: exp.Expr) -> exp.Expr:
        self.rewrite_children(node)
        decision = self.decisions.get(id(node))
        if decision is not None:
            replacement = decision(node)
            if replacement is not node and node.parent is not None:
                node.replace(replacement)
            node = replacement
        if isinstance(node, exp.National):  # N'...': DuckDB strings are Unicode already
            replacement = exp.Literal.string(node.name)
            if node.parent is not None:
                node.replace(replacement)
            return replacement
        if isinstance(node, exp.Identifier) and node.args.get("temporary"):
            node.set("this", temp_table_name(node.name))
            node.set("temporary", None)
            node.set("quoted", True)
        elif isinstance(node, exp.DataType) and id(node) in self._types:
            sql_type = self._types[id(node)]
            replacement = exp.DataType.build(sql_type.duckdb, dialect="duckdb")  # type: ignore[union-attr]
            if node.parent is not None:
                node.replace(replacement)
            node = replacement
        return node

    def rewrite_children(self, node: exp.Expr, skip: set[str] | frozenset[str] = frozenset()) -> None:
        for key, value in list(node.args.items()):
            if key in skip:
                continue
            if isinstance(value, exp.Expression):
                self.rewrite(value)
            elif isinstance(value, list):
                for item in list(value):
                    if isinstance(item, exp.Expression):
                        self.rewrite(item)

    def _variable(self, name: str, sql_type: SqlType) -> exp.Expr:
        return self._placeholder(VARIABLE_PREFIX + name, sql_type)

    def _system(self, parameter: str) -> exp.Expr:
        if self.ddl:
            if parameter not in _DDL_TIME:
                raise TranslationError(self.loc.file, self.loc.line, f"{parameter} in a DDL statement")
            return sqlglot.parse_one(_DDL_TIME[parameter], read="duckdb")
        return self._placeholder(parameter, SYSTEM_PARAMETERS[parameter])

    def _placeholder(self, name: str, sql_type: SqlType) -> exp.Expr:
        if name not in self.parameters:
            self.parameters.append(name)
        placeholder = exp.Parameter(this=exp.Var(this=name))
        return exp.Cast(this=placeholder, to=exp.DataType.build(sql_type.duckdb, dialect="duckdb"))

    def finish(self, ast: exp.Expr, kind: StatementKind, **extra: object) -> Translated:
        sql = ast.sql(dialect="duckdb", identify=True)
        table_free = kind == "query" and ast.find(exp.Table) is None
        return Translated(sql, tuple(self.parameters), kind, self.loc.line, table_free=table_free, **extra)  # type: ignore[arg-type]


def _unwrap_time(node: exp.Expr) -> exp.Expr:
    return node.this if isinstance(node, exp.TimeStrToTime) else node


def _nonzero(divisor: exp.Expr) -> exp.Expr:
    """T-SQL raises on x / 0 for FLOAT too; DuckDB returns inf."""
    return exp.Anonymous(this="tsql_nonzero", expressions=[divisor])


def _scope_sources(node: exp.Expr) -> list[tuple[str, exp.Expr]]:
    sources: list[exp.Expr] = []
    if isinstance(node, exp.Select):
        from_ = node.args.get("from_")
        if from_ is not None:
            sources.append(from_.this)
            sources.extend(j.this for j in from_.this.args.get("joins") or [])
        sources.extend(j.this for j in node.args.get("joins") or [])
    elif isinstance(node, exp.Update):
        sources.append(node.this)
        from_ = node.args.get("from_")
        if from_ is not None:
            sources.append(from_.this)
            sources.extend(j.this for j in from_.this.args.get("joins") or [])
        sources.extend(j.this for j in node.args.get("joins") or [])
    elif isinstance(node, exp.Delete):
        sources.append(node.this)
    elif isinstance(node, exp.Merge):
        sources.extend([node.this, node.args["using"]])
    else:
        return []
    return [(s.alias_or_name.lower(), s) for s in sources if isinstance(s, (exp.Table, exp.Subquery))]


def _find_cte(node: exp.Expr | None, name: str) -> exp.CTE | None:
    while node is not None:
        with_ = node.args.get("with_") if isinstance(node, exp.Expression) else None
        if with_ is not None:
            for cte in with_.expressions:
                if isinstance(cte, exp.CTE) and cte.alias_or_name.lower() == name:
                    return cte
        node = node.parent
    return None


_SECURITY_NAME = r"(?:\[(?P<{0}_b>[A-Za-z_][A-Za-z0-9_]*)\]|(?P<{0}>[A-Za-z_][A-Za-z0-9_]*))"
_CREATE_ROLE = re.compile(r"ROLE\s+" + _SECURITY_NAME.format("role"), re.IGNORECASE)
_CREATE_SCHEMA_OWNER = re.compile(
    r"SCHEMA\s+" + _SECURITY_NAME.format("schema") + r"\s+AUTHORIZATION\s+" + _SECURITY_NAME.format("owner"),
    re.IGNORECASE,
)
_GRANT_SCHEMA = re.compile(
    r"SELECT\s+ON\s+SCHEMA\s*::\s*" + _SECURITY_NAME.format("schema") + r"\s+TO\s+" + _SECURITY_NAME.format("role"),
    re.IGNORECASE,
)


def _security_name(match: re.Match[str], group: str) -> str:
    return (match.group(group) or match.group(group + "_b")).lower()


def _string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class _DDL:
    """CREATE/DROP/ALTER/TRUNCATE, generated as DuckDB text from the T-SQL tree."""

    def __init__(self, translator: Translator, loc: Location) -> None:
        self.translator = translator
        self.loc = loc

    def table_name(self, table: exp.Table) -> tuple[str, bool]:
        """(DuckDB name, is temp table)."""
        identifier = table.this
        if isinstance(identifier, exp.Identifier) and identifier.args.get("temporary"):
            return quote(temp_table_name(identifier.name)), True
        if table.args.get("catalog"):
            raise self.loc.error("three-part table name")
        schema = _arg_name(table, "db", "dbo")
        return f"{quote(schema.lower())}.{quote(table.name.lower())}", False

    def create(self, ast: exp.Create) -> Translated:
        kind = (ast.args.get("kind") or "").upper()
        if ast.args.get("replace") or ast.args.get("exists"):
            raise self.loc.error(f"CREATE OR ALTER/IF NOT EXISTS {kind}")
        if kind == "SCHEMA":
            if ast.args.get("properties") or ast.args.get("expression"):
                raise self.loc.error("CREATE SCHEMA with AUTHORIZATION or elements")
            schema = ast.this.args.get("db") or ast.this.this
            return Translated(f"CREATE SCHEMA {quote(schema.name.lower())}", (), "ddl", self.loc.line)
        if kind == "TABLE":
            return self.create_table(ast)
        if kind.endswith("INDEX"):
            return self.create_index(ast)
        if kind == "VIEW":
            return self.create_view(ast)
        raise self.loc.error(f"CREATE {kind}")

    def create_view(self, ast: exp.Create) -> Translated:
        """CREATE VIEW schema.name AS <query>: the query translated like any other, stored by DuckDB."""
        target = ast.this
        if isinstance(target, exp.Schema):
            raise self.loc.error("CREATE VIEW with a column list", "name the columns with AS aliases")
        if ast.args.get("properties") is not None:
            raise self.loc.error("CREATE VIEW ... WITH options")
        query = ast.args.get("expression")
        if not isinstance(query, (exp.Select, exp.Union)):
            raise self.loc.error("CREATE VIEW over something other than a SELECT")
        if query.args.get("order") is not None:
            raise self.loc.error("ORDER BY in a view", "SQL Server refuses it without TOP (error 1033)")
        first = query
        while isinstance(first, exp.Union):
            first = first.this
        seen: set[str] = set()
        for projection in first.expressions:
            if isinstance(projection, exp.Star) or (isinstance(projection, exp.Column) and projection.is_star):
                raise self.loc.error("SELECT * in a view", "list the columns")
            if not isinstance(projection, (exp.Alias, exp.Column)) or not projection.alias_or_name:
                raise self.loc.error("view column without a name", "give it an AS alias (SQL Server error 4511)")
            name = projection.alias_or_name.lower()
            if name in seen:
                raise self.loc.error(f"duplicate view column {name}", "SQL Server error 4506")
            seen.add(name)
        if query.find(exp.Div, exp.Mod) is not None:
            # Their translation calls the connection's temp macro tsql_nonzero, which a view stored in
            # the file cannot rely on (another client opening the file has no such macro).
            raise self.loc.error("division in a view", "divide in the query that reads the view")
        view, temporary = self.table_name(target)
        if temporary:
            raise self.loc.error("temporary view")
        rewriter = _Rewriter(self.translator, self.loc)
        rewriter.check(query)
        translated = rewriter.rewrite(query)
        if rewriter.parameters:
            raise self.loc.error("variable or system function in a view", "a view is evaluated without them")
        sql = translated.sql(dialect="duckdb", identify=True)
        return Translated(f"CREATE VIEW {view} AS {sql}", (), "ddl", self.loc.line)

    def security(self, verb: str, rest: str) -> Translated:
        """CREATE SCHEMA s AUTHORIZATION dbo, CREATE ROLE r, GRANT SELECT ON SCHEMA::s TO r. DuckDB has no
        principals: the statements are recorded in etl.database_roles / etl.schema_permissions (checked as
        SQL Server checks them) and enforce nothing; anyone who can open the DuckDB file reads every table."""
        before = (
            "CREATE TABLE IF NOT EXISTS etl.database_roles (role_name VARCHAR PRIMARY KEY)",
            "CREATE TABLE IF NOT EXISTS etl.schema_permissions (schema_name VARCHAR NOT NULL, "
            "permission VARCHAR NOT NULL, role_name VARCHAR NOT NULL, "
            "PRIMARY KEY (schema_name, permission, role_name))",
        )
        schema_owner = _CREATE_SCHEMA_OWNER.fullmatch(rest) if verb == "CREATE" else None
        if schema_owner is not None:
            # SQL Server: a view's ownership chain to dbo tables holds only when its schema is owned
            # by dbo (the owner of a plain CREATE SCHEMA is whoever runs it). DuckDB has no owners.
            if _security_name(schema_owner, "owner") != "dbo":
                raise self.loc.error("CREATE SCHEMA ... AUTHORIZATION other than dbo")
            schema = quote(_security_name(schema_owner, "schema"))
            return Translated(f"CREATE SCHEMA {schema}", (), "ddl", self.loc.line)
        if verb == "CREATE":
            match = _CREATE_ROLE.fullmatch(rest)
            if match is None:
                raise self.loc.error("CREATE ROLE with options", "only CREATE ROLE name")
            role = _security_name(match, "role")
            exists = f"EXISTS (SELECT 1 FROM etl.database_roles WHERE role_name = {_string(role)})"
            message = f"User, group, or role '{role}' already exists in the current database."
            sql = (
                f"INSERT INTO etl.database_roles SELECT {_string(role)} "
                f"WHERE CASE WHEN {exists} THEN error({_string(message)}) ELSE true END"
            )
            return Translated(sql, (), "ddl", self.loc.line, before=before)
        match = _GRANT_SCHEMA.fullmatch(rest)
        if match is None:
            raise self.loc.error("GRANT other than GRANT SELECT ON SCHEMA::s TO role")
        schema, role = _security_name(match, "schema"), _security_name(match, "role")
        no_schema = (
            "NOT EXISTS (SELECT 1 FROM information_schema.schemata WHERE catalog_name = current_database() "
            f"AND lower(schema_name) = {_string(schema)})"
        )
        no_role = f"NOT EXISTS (SELECT 1 FROM etl.database_roles WHERE role_name = {_string(role)})"
        missing_schema = f"Cannot find the schema '{schema}', because it does not exist or you do not have permission."
        missing_role = f"Cannot find the user '{role}', because it does not exist or you do not have permission."
        sql = (
            f"INSERT OR IGNORE INTO etl.schema_permissions SELECT {_string(schema)}, 'SELECT', {_string(role)} "
            f"WHERE CASE WHEN {no_schema} THEN error({_string(missing_schema)}) "
            f"WHEN {no_role} THEN error({_string(missing_role)}) ELSE true END"
        )
        return Translated(sql, (), "ddl", self.loc.line, before=before)

    def create_table(self, ast: exp.Create) -> Translated:
        schema = ast.this
        if not isinstance(schema, exp.Schema) or ast.args.get("expression") is not None:
            raise self.loc.error("CREATE TABLE ... AS")
        for prop in (ast.args.get("properties") or exp.Properties()).expressions:
            if not isinstance(prop, exp.TemporaryProperty):
                raise self.loc.error(f"table option {prop.sql(dialect='tsql')}")
        name, temporary = self.table_name(schema.this)
        columns: dict[str, SqlType] = {}
        parts: list[str] = []
        before: list[str] = []
        for element in schema.expressions:
            if isinstance(element, exp.ColumnDef):
                text, sql_type, sequence = self.column(element, name)
                columns[element.name.lower()] = sql_type
                parts.append(text)
                if sequence:
                    before.append(sequence)
            else:
                parts.append(self.table_constraint(element))
        prefix = "CREATE TEMP TABLE" if temporary else "CREATE TABLE"
        sql = f"{prefix} {name} ({', '.join(parts)})"
        if temporary:
            self.translator.temp_tables[name.strip('"')] = columns
        return Translated(sql, (), "ddl", self.loc.line, before=tuple(before),
                          temp_table=name.strip('"') if temporary else None)  # fmt: skip

    def column(
        self, column: exp.ColumnDef, table: str, *, length_check: bool = True
    ) -> tuple[str, SqlType, str | None]:
        kind = column.args.get("kind")
        if not isinstance(kind, exp.DataType):
            raise self.loc.error(f"computed column {column.name}")
        try:
            sql_type = map_type(kind)
        except TypeRefused as refused:
            raise self.loc.error(f"type {refused.name}", refused.hint) from None
        name = quote(column.name.lower())
        parts = [name, sql_type.duckdb]
        sequence = None
        for constraint in column.args.get("constraints") or []:
            kind_node = constraint.args.get("kind")
            if isinstance(kind_node, exp.NotNullColumnConstraint):
                parts.append("NULL" if kind_node.args.get("allow_null") else "NOT NULL")
            elif isinstance(kind_node, exp.PrimaryKeyColumnConstraint):
                parts.append("PRIMARY KEY")
            elif isinstance(kind_node, exp.UniqueColumnConstraint):
                parts.append("UNIQUE")
            elif isinstance(kind_node, exp.CollateColumnConstraint):
                collation = kind_node.this.name.upper()
                if collation not in COLUMN_COLLATIONS:
                    raise self.loc.error(f"COLLATE {kind_node.this.name}", "the database's or a _BIN2 UTF-8 one")
            elif isinstance(kind_node, exp.DefaultColumnConstraint):
                parts.append(f"DEFAULT {self.expression(kind_node.this)}")
            elif isinstance(kind_node, exp.CheckColumnConstraint):
                parts.append(f"CHECK ({self.expression(kind_node.this)})")
            elif isinstance(kind_node, exp.GeneratedAsIdentityColumnConstraint):
                start = kind_node.args.get("start")
                increment = kind_node.args.get("increment")
                sequence_name = f'{table[:-1]}_{column.name.lower()}_seq"'
                sequence = (
                    f"CREATE SEQUENCE {sequence_name} START WITH {start.name if start else 1} "
                    f"INCREMENT BY {increment.name if increment else 1}"
                )
                parts.append(f"DEFAULT nextval('{sequence_name.replace(chr(39), chr(39) * 2)}')")
            else:
                raise self.loc.error(f"column constraint {constraint.sql(dialect='tsql')}")
        if length_check and sql_type.category == STRING and sql_type.length is not None:
            # DuckDB ignores VARCHAR(n); SQL Server refuses longer values (bytes for VARCHAR under
            # the UTF-8 collation, characters for NVARCHAR).
            measure = "length" if sql_type.national else "strlen"
            parts.append(f"CHECK ({measure}({name}) <= {sql_type.length})")
        return " ".join(parts), sql_type, sequence

    def table_constraint(self, element: exp.Expr) -> str:
        nodes = element.expressions if isinstance(element, exp.Constraint) else [element]
        primary = any(isinstance(n, (exp.PrimaryKeyColumnConstraint, exp.PrimaryKey)) for n in nodes)
        unique = any(isinstance(n, exp.UniqueColumnConstraint) for n in nodes)
        for node in nodes:
            if isinstance(node, exp.CheckColumnConstraint):
                return f"CHECK ({self.expression(node.this)})"
            if isinstance(node, exp.PrimaryKey):
                return f"PRIMARY KEY ({self.key_columns(node.expressions)})"
            if isinstance(node, (exp.ClusteredColumnConstraint, exp.NonClusteredColumnConstraint)):
                keyword = "PRIMARY KEY" if primary else "UNIQUE" if unique else None
                if keyword is None:
                    break
                return f"{keyword} ({self.key_columns(node.this)})"
            if isinstance(node, exp.UniqueColumnConstraint) and isinstance(node.this, exp.Schema):
                return f"UNIQUE ({self.key_columns(node.this.expressions)})"
        raise self.loc.error(f"table constraint {element.sql(dialect='tsql')}")

    def key_columns(self, items: list[exp.Expr]) -> str:
        names = []
        for item in items:
            column = item.this if isinstance(item, exp.Ordered) else item
            if isinstance(item, exp.Ordered) and item.args.get("desc"):
                raise self.loc.error("descending key column")
            names.append(quote(column.name.lower()))
        return ", ".join(names)

    def expression(self, node: exp.Expr) -> str:
        select = exp.select(node.copy())
        rewriter = _Rewriter(self.translator, self.loc, ddl=True)
        rewriter.check(select)
        rewriter.rewrite(select)
        return str(select.expressions[0].sql(dialect="duckdb", identify=True))

    def create_index(self, ast: exp.Create) -> Translated:
        index = ast.this
        params = index.args.get("params")
        if params is not None and (params.args.get("where") or params.args.get("with_storage")
                                   or params.args.get("using") or params.args.get("partition_by")):  # fmt: skip
            raise self.loc.error("filtered index or index options")
        table, _ = self.table_name(index.args["table"])
        columns = self.key_columns(params.args.get("columns") or [])  # validates the column list
        if not ast.args.get("unique"):
            # A non-unique index only speeds up SQL Server; DuckDB prunes by row-group min/max and
            # an ART index would slow every load (docs/tsql-subset.md).
            return Translated("", (), "noop", self.loc.line)
        name = quote(index.name.lower())
        return Translated(f"CREATE UNIQUE INDEX {name} ON {table} ({columns})", (), "ddl", self.loc.line)

    def drop(self, ast: exp.Drop) -> Translated:
        if (ast.args.get("kind") or "").upper() != "TABLE" or ast.args.get("cascade"):
            raise self.loc.error(f"DROP {ast.args.get('kind')}")
        names = [self.table_name(t)[0] for t in ast.args.get("tables") or [ast.this]]
        exists = " IF EXISTS" if ast.args.get("exists") else ""
        return Translated("; ".join(f"DROP TABLE{exists} {n}" for n in names), (), "ddl", self.loc.line)

    def truncate(self, ast: exp.TruncateTable) -> Translated:
        names = [self.table_name(t)[0] for t in ast.expressions]
        if len(names) != 1:
            raise self.loc.error("TRUNCATE TABLE of several tables")
        return Translated(f"DELETE FROM {names[0]}", (), "dml", self.loc.line)

    def alter(self, ast: exp.Alter) -> Translated:
        if (ast.args.get("kind") or "").upper() != "TABLE":
            raise self.loc.error(f"ALTER {ast.args.get('kind')}")
        name, temporary = self.table_name(ast.this)
        statements = []
        for action in ast.args.get("actions") or []:
            if not isinstance(action, exp.ColumnDef):
                raise self.loc.error("ALTER TABLE action", "only ADD column is supported")
            # DuckDB cannot add a column with a CHECK: VARCHAR(n) lengths of added columns are only
            # enforced by SQL Server (docs/tsql-subset.md).
            text, sql_type, sequence = self.column(action, name, length_check=False)
            if sequence:
                raise self.loc.error("ALTER TABLE ADD of an IDENTITY column")
            statements.append(f"ALTER TABLE {name} ADD COLUMN {text}")
            if temporary:
                self.translator.temp_tables.setdefault(name.strip('"'), {})[action.name.lower()] = sql_type
        return Translated("; ".join(statements), (), "ddl", self.loc.line)
