"""Expression-level checks and rewrites of the T-SQL -> DuckDB translator.

`Rewriter` walks one statement twice. Phase 1 (`check`), on the untouched T-SQL tree: every node type
must be in the allow-list; the handler of its class (`CHECKS`, keyed by expression class) infers
operand types and records a rewrite for the node. Phase 2 (`rewrite`), children first, applies the
recorded rewrites, so each builder receives its operands already in DuckDB form.

Types come from literals, declared variables, casts, and columns resolved through the statement's
FROM/JOIN/CTE/derived-table scopes against the catalog. An operator whose meaning depends on a type that
cannot be resolved is refused, never guessed. Strings carry their collation and whether they can end
with a space (tsql_types, tsql_strings); conversions go through tsql_convert.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

import sqlglot
from sqlglot import exp

from company_activity_local.warehouse.engine import TranslationError
from company_activity_local.warehouse.sql_errors import SqlErrorNumber
from company_activity_local.warehouse.tsql_convert import (
    TypeRefusal,
    convert,
    date_in_range,
    tsql_type_name,
)
from company_activity_local.warehouse.tsql_strings import (
    CollationConflict,
    combine,
    equality_key,
    is_printable_ascii,
    literal_text,
    order_key,
    raise_error,
    window_order_guard,
)
from company_activity_local.warehouse.tsql_types import (
    BIGINT_TYPE,
    BIN2,
    BIT,
    BIT_TYPE,
    CI,
    DATE,
    DATETIME,
    DATETIME_TYPE,
    DECIMAL,
    EXPLICIT,
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
    collation_of,
    decimal_digits,
    map_type,
    promote,
)

if TYPE_CHECKING:
    from company_activity_local.warehouse.tsql_script import Location

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
DIVIDE_BY_ZERO_MESSAGE = "Divide by zero error encountered."
DATEDIFF_OVERFLOW = (
    "The datediff function resulted in an overflow. The number of dateparts separating two date/time instances "
    "is too large. Try to use datediff with a less precise datepart."
)
INT_MAX = 2**31 - 1

# Node types accepted as they are (their children are checked on their own).
PLAIN_NODES: frozenset[type[exp.Expr]] = frozenset({
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
    exp.Replace,
})  # fmt: skip
NAMED_REFUSALS: dict[type[exp.Expr], str] = {
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
_AGGREGATES = (exp.Sum, exp.Avg, exp.Count, exp.Min, exp.Max)
_EQUALITY = (exp.EQ, exp.NEQ, exp.NullSafeEQ, exp.NullSafeNEQ)
_ORDERING = (exp.GT, exp.GTE, exp.LT, exp.LTE)

Decision = Callable[[exp.Expr], exp.Expr]


def _composed(first: Decision, then: Decision) -> Decision:
    return lambda n: then(first(n))


def _cast_to(duckdb_type: str) -> Decision:
    return lambda n: _cast(n, duckdb_type)


def _converting(source: SqlType | None, target: SqlType, *, to_column: bool = False) -> Decision:
    return lambda n: convert(n, source, target, to_column=to_column)


class Catalog(Protocol):
    def table_columns(self, schema: str, table: str) -> dict[str, SqlType] | None:
        """Column name (lower case) -> type, or None when the table does not exist."""
        ...

    def temp_table_columns(self, name: str) -> dict[str, SqlType] | None:
        """The same for a temp table created by an earlier batch of the session (name: '#t')."""
        ...


class Scope(Protocol):
    """What a rewriter reads from its translator."""

    catalog: Catalog
    variables: dict[str, SqlType]
    temp_tables: dict[str, dict[str, SqlType]]


def temp_table_name(name: str) -> str:
    return "#" + name.lower()


def is_assignment(projection: exp.Expr) -> bool:
    return isinstance(projection, exp.EQ) and is_variable(projection.this)


def is_variable(node: exp.Expr) -> bool:
    return isinstance(node, exp.Parameter) and not isinstance(node.this, exp.Parameter)


def variable_name(node: exp.Expr) -> str:
    return str(node.this.name).lower()


def arg_name(node: exp.Expr, key: str, default: str) -> str:
    """The name of the node's `key` argument (a unit, a schema), or `default` when it has none."""
    value = node.args.get(key)
    return str(value.name) if value else default


def node_line(node: exp.Expr, loc: Location) -> int:
    for candidate in node.walk():
        meta = candidate.meta if hasattr(candidate, "_meta") and candidate._meta else None
        if meta and "line" in meta:
            return loc.line + int(meta["line"]) - 1
    return loc.line


def refusal(node: exp.Expr, loc: Location, detail: str = "") -> TranslationError:
    if isinstance(node, exp.Command):
        construct = f"statement {node.name.upper()}"
    elif type(node) in NAMED_REFUSALS:
        construct = NAMED_REFUSALS[type(node)]
    elif isinstance(node, exp.Anonymous):
        construct = f"function {node.name.upper()}"
    elif isinstance(node, exp.Func):
        # The T-SQL spelling (sqlglot's own name differs, e.g. STR_POSITION for CHARINDEX).
        construct = f"function {node.sql(dialect='tsql').split('(')[0].strip().upper() or node.sql_name()}"
    else:
        construct = type(node).__name__
    return TranslationError(loc.file, node_line(node, loc), construct, detail)


def _call(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def _cast(value: exp.Expr, duckdb_type: str) -> exp.Expr:
    return exp.Cast(this=value, to=exp.DataType.build(duckdb_type, dialect="duckdb"))


def _nonzero(divisor: exp.Expr) -> exp.Expr:
    """T-SQL raises on x / 0 for FLOAT too; DuckDB returns inf."""
    return _call("tsql_nonzero", divisor)


def _finite(value: exp.Expr) -> exp.Expr:
    """A FLOAT result: SQL Server raises 8115 where DuckDB returns +-inf."""
    overflow = _call("isinf", value.copy())
    message = "Arithmetic overflow error converting expression to data type float."
    error = raise_error(SqlErrorNumber.ARITHMETIC_OVERFLOW, message)
    return exp.Case(ifs=[exp.If(this=overflow, true=error)], default=value)


def _normalize(root: exp.Expr) -> None:
    """Simple CASE (`CASE x WHEN v THEN ...`) becomes the searched CASE SQL Server evaluates it as
    (`CASE WHEN x = v THEN ...`), so its comparisons follow the string rules of `=`."""
    for case in list(root.find_all(exp.Case)):
        operand = case.args.get("this")
        if operand is None:
            continue
        for branch in case.args.get("ifs") or []:
            branch.set("this", exp.EQ(this=operand.copy(), expression=branch.this))
        case.set("this", None)


class Rewriter:
    """Checks one statement against the allow-list (phase 1, on the untouched T-SQL tree, where
    types are inferred) and rewrites it for DuckDB (phase 2, children first)."""

    def __init__(self, scope: Scope, loc: Location, *, ddl: bool = False,
                 columns: dict[str, SqlType] | None = None) -> None:
        self.scope = scope
        self.loc = loc
        self.ddl = ddl
        self.columns = columns or {}  # CHECK/DEFAULT of a CREATE TABLE: the columns being created
        self.parameters: list[str] = []
        self.decisions: dict[int, Decision] = {}
        self.wrappers: dict[int, list[Decision]] = {}
        self._originals: list[exp.Expr] = []
        self._types: dict[int, SqlType | None] = {}
        self._group_keys: dict[int, list[tuple[int, SqlType]]] = {}

    def error(self, node: exp.Expr, construct: str, detail: str = "") -> TranslationError:
        return TranslationError(self.loc.file, node_line(node, self.loc), construct, detail)

    def decide(self, node: exp.Expr, decision: Decision) -> None:
        """Compose with a decision already recorded for the node (the later one sees the earlier's result)."""
        earlier = self.decisions.get(id(node))
        if earlier is None:
            self.decisions[id(node)] = decision
        else:
            self.decisions[id(node)] = _composed(earlier, decision)

    def wrap(self, node: exp.Expr, decision: Decision) -> None:
        """A rewrite a parent asks for around a child: applied after the child's own rewrites (the walk
        checks parents first, so the child's own decisions are recorded later)."""
        self.wrappers.setdefault(id(node), []).append(decision)

    # -- phase 1 ------------------------------------------------------------------------------
    def check(self, root: exp.Expr) -> None:
        _normalize(root)
        self._originals = list(root.walk())
        for node in self._originals:
            node_type = type(node)
            if node_type not in PLAIN_NODES and not (
                node_type is exp.TimeStrToTime and isinstance(node.parent, exp.DateDiff)  # sqlglot's wrapper
            ):
                raise refusal(node, self.loc)
            checker = CHECKS.get(node_type)
            if checker is not None:
                checker(self, node)

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
            self.decide(node, lambda _n: self._system(system))
            return
        parent = node.parent
        if parent is not None and is_assignment(parent) and parent.this is node and \
                isinstance(parent.parent, exp.Select):
            return  # SELECT @v = ...: handled by the statement
        name = node.name.lower()
        variable_type = self.scope.variables.get(name)
        if variable_type is None:
            raise self.error(node, f"undeclared variable @{name}")
        sql_type: SqlType = variable_type
        self.decide(node, lambda _n: self._variable(name, sql_type))

    def _check_anonymous(self, node: exp.Anonymous) -> None:
        name = node.name.upper()
        if name not in _SYSTEM_FUNCTIONS or node.expressions:
            raise refusal(node, self.loc)
        system = _SYSTEM_FUNCTIONS[name]
        self.decide(node, lambda _n: self._system(system))

    def _check_currenttimestamp(self, node: exp.CurrentTimestamp) -> None:
        self.decide(node, lambda _n: self._system("sys_now"))

    def _check_literal(self, node: exp.Literal) -> None:
        if node.is_string:
            return
        sql_type = self.type_of(node)
        if sql_type is not None and sql_type.category == DECIMAL and "." not in node.name:
            # An integer constant past 2^31-1 is a DECIMAL in T-SQL ("Constants"), a BIGINT in DuckDB.
            self.decide(node, _cast_to(sql_type.duckdb))

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
        self._conversion(node, source, target, safe=safe)

        def build(n: exp.Expr, source: SqlType | None = source) -> exp.Expr:
            operand = n.expression if isinstance(n, exp.Convert) else n.args["this"]
            return convert(operand, source, target, safe=safe)

        self.decide(node, build)

    def _conversion(self, node: exp.Expr, source: SqlType | None, target: SqlType, *, safe: bool = False,
                    to_column: bool = False) -> None:
        """Refuse now a conversion `convert` would refuse (file:line instead of a failure at run time)."""
        try:
            convert(exp.Null(), source, target, safe=safe, to_column=to_column)
        except TypeRefusal as refused:
            raise self.error(node, str(refused)) from None
        value = node if not isinstance(node, (exp.Cast, exp.TryCast, exp.Convert)) else None
        text = literal_text(value) if value is not None else None
        if text is not None and target.category in (DATE, DATETIME):
            try:
                convert(value.copy(), source, target, safe=safe)  # type: ignore[union-attr]
            except TypeRefusal as refused:
                raise self.error(node, str(refused)) from None

    def _check_cast(self, node: exp.Cast) -> None:
        if node.args.get("format"):
            raise self.error(node, "CAST ... FORMAT")
        self._check_datatype(node.args["to"])
        self._check_literal_conversion(node.this, node.args["to"])
        self._cast_decision(node, node.this, node.args["to"], safe=False)

    def _check_trycast(self, node: exp.TryCast) -> None:
        self._check_datatype(node.args["to"])
        self._cast_decision(node, node.this, node.args["to"], safe=True)

    def _check_convert(self, node: exp.Convert) -> None:
        if node.args.get("style") is not None:
            raise self.error(node, "CONVERT with a style", "use CAST; styles are not translated")
        self._check_datatype(node.this)
        self._check_literal_conversion(node.expression, node.this)
        self._cast_decision(node, node.expression, node.this, safe=bool(node.args.get("safe")))

    def _check_literal_conversion(self, value: exp.Expr, to: exp.DataType) -> None:
        text = literal_text(value)
        target = map_type(to, in_cast=True)
        if text is not None and target.category in (DATE, DATETIME):
            try:
                convert(value.copy(), STRING_TYPE, target)
            except TypeRefusal as refused:
                raise self.error(value, str(refused)) from None

    def _check_div(self, node: exp.Div) -> None:
        left, right = self._operand_types(node, "/")
        if left.category == DECIMAL or right.category == DECIMAL:
            raise self.error(node, "division of DECIMAL values", "CAST an operand to FLOAT")
        if FLOAT in (left.category, right.category):
            self.decide(node, lambda n: _finite(exp.Div(this=n.this, expression=_nonzero(n.expression))))
        else:  # T-SQL int / int truncates toward zero, as DuckDB's `//` does
            self.decide(node, lambda n: exp.IntDiv(this=n.this, expression=_nonzero(n.expression)))

    def _check_mod(self, node: exp.Mod) -> None:
        left, right = self._operand_types(node, "%")
        if left.category != INT or right.category != INT:
            raise self.error(node, "% on non-integer values")
        self.decide(node, lambda n: exp.Mod(this=n.this, expression=_nonzero(n.expression)))

    def _check_sub(self, node: exp.Sub) -> None:
        self._arithmetic(node, "-")

    def _check_mul(self, node: exp.Mul) -> None:
        self._arithmetic(node, "*")

    def _check_add(self, node: exp.Add) -> None:
        left = self.type_of(node.this)
        right = self.type_of(node.expression)
        sides = {t.category for t in (left, right) if t is not None}
        if left is not None and right is not None and STRING in sides and sides <= {STRING, NULL}:
            self._string_type(node)  # refuses a collation conflict
            # string + string (or NULL) concatenates; NULL makes NULL, as with DuckDB's ||
            self.decide(node, lambda n: exp.DPipe(this=n.this, expression=n.expression, safe=False))
            return
        self._arithmetic(node, "+")

    def _arithmetic(self, node: exp.Binary, operator: str) -> None:
        left, right = self._operand_types(node, operator)
        if BIT in (left.category, right.category):
            raise self.error(node, f"operator {operator} on a BIT", "CAST it to INT")
        if left.category == DECIMAL and right.category == DECIMAL:
            (p1, s1), (p2, s2) = decimal_digits(left), decimal_digits(right)
            precision = p1 + p2 + 1 if operator == "*" else max(s1, s2) + max(p1 - s1, p2 - s2) + 1
            if precision > 38:
                raise self.error(node, f"DECIMAL {operator} with a result precision over 38",
                                 "SQL Server then lowers the scale, DuckDB does not")
        if FLOAT in (left.category, right.category):
            self.decide(node, _finite)

    def _operand_types(self, node: exp.Binary, operator: str) -> tuple[SqlType, SqlType]:
        left = self.type_of(node.this)
        right = self.type_of(node.expression)
        for side in (left, right):
            if side is None:
                raise self.error(node, f"operator {operator} on an operand of unknown type", "CAST it")
            if side.category not in NUMERIC and side.category != NULL:
                raise self.error(node, f"operator {operator} on {side.category} values", "use DATEADD/DATEDIFF")
        return left, right  # type: ignore[return-value]

    # -- aggregates -----------------------------------------------------------------------------
    def _aggregate_target(self, node: exp.Expr) -> exp.Expr:
        """Where a rewrite of an aggregate's result goes: the window around it, if any."""
        return node.parent if isinstance(node.parent, exp.Window) else node

    def _check_sum(self, node: exp.Sum) -> None:
        argument = node.this.expressions[0] if isinstance(node.this, exp.Distinct) else node.this
        source = self.type_of(argument)
        if source is None:
            raise self.error(node, "SUM of an operand of unknown type", "CAST it")
        if source.category not in (INT, FLOAT, DECIMAL):
            raise self.error(node, f"SUM of {source.category} values", "SQL Server error 8117")
        if source.category == INT:
            # SUM of tinyint/smallint/int is an int (error 8115 past 2^31-1); DuckDB sums into a HUGEINT.
            result = "BIGINT" if source.duckdb == "BIGINT" else "INTEGER"
            self.decide(self._aggregate_target(node), _cast_to(result))

    def _check_count(self, node: exp.Count) -> None:
        if isinstance(node.this, exp.Distinct):
            self._group_by_key(node.this, list(node.this.expressions), "COUNT(DISTINCT ...)")
        # COUNT is an int in T-SQL (COUNT_BIG is the bigint one); DuckDB counts in BIGINT.
        self.decide(self._aggregate_target(node), lambda n: _cast(n, "INTEGER"))

    def _check_avg(self, node: exp.Avg) -> None:
        argument = node.this
        if isinstance(argument, exp.Distinct):
            raise self.error(node, "AVG(DISTINCT ...)")
        source = self.type_of(argument)
        if source is None:
            raise self.error(node, "AVG of an operand of unknown type", "CAST it")
        if source.category == DECIMAL:
            raise self.error(node, "AVG of DECIMAL", "SQL Server returns decimal(38, max(s, 6)), DuckDB a double")
        if source.category in (BIT, STRING, DATE, DATETIME):
            raise self.error(node, f"AVG of {source.category} values", "SQL Server error 8117")
        if source.category == INT:  # T-SQL averages integers in integer arithmetic, summing in the type
            result = "BIGINT" if source.duckdb == "BIGINT" else "INTEGER"
            sum_type = result
            self.decide(node, lambda n: exp.IntDiv(
                this=_cast(exp.Sum(this=n.this), sum_type), expression=exp.Count(this=n.this.copy())
            ))

    def _check_min(self, node: exp.Min) -> None:
        self._string_extreme(node, "MIN")

    def _check_max(self, node: exp.Max) -> None:
        self._string_extreme(node, "MAX")

    def _string_extreme(self, node: exp.Expr, name: str) -> None:
        sql_type = self.type_of(node.this)
        if sql_type is None or not sql_type.is_string:
            return
        if sql_type.effective_collation == CI:
            raise self.error(node, f"{name} of case-insensitive text",
                             "SQL Server orders it linguistically; COLLATE Latin1_General_100_BIN2_UTF8")

        def build(n: exp.Expr) -> exp.Expr:
            n.set("this", order_key(n.this, trim=False))
            return n

        self.decide(node, build)

    # -- strings --------------------------------------------------------------------------------
    def _string_type(self, node: exp.Expr) -> SqlType | None:
        try:
            return self.type_of(node)
        except CollationConflict as conflict:
            raise self.error(node, str(conflict)) from None

    def _comparison_collation(self, node: exp.Expr, types: list[SqlType]) -> str:
        try:
            return combine(types).effective_collation
        except CollationConflict as conflict:
            raise self.error(node, str(conflict)) from None

    def _compared_types(self, node: exp.Expr, operands: list[exp.Expr]) -> list[SqlType] | None:
        """The operand types when text is compared (None: no text involved); refuses text compared with a
        number, or with a date unless it is a yyyy-mm-dd literal, or with an operand of unknown type."""
        types = [self.type_of(o) for o in operands]
        if not any(t is not None and t.is_string for t in types):
            return None
        for sql_type in types:
            if sql_type is None:
                raise self.error(node, "comparison of text with an operand of unknown type", "CAST it")
            if sql_type.category in (NULL, STRING):
                continue
            if sql_type.category in (DATE, DATETIME):
                for other, other_type in zip(operands, types, strict=True):
                    if other_type is not None and other_type.is_string:
                        if literal_text(other) is None:
                            raise self.error(node, "comparison of a date with text", "CAST the text to DATE")
                        self._conversion(other, STRING_TYPE, sql_type)
                return None
            raise self.error(node, f"comparison of text with {sql_type.category} values",
                             "SQL Server converts the text (error 245 when it is not a number); CAST it")
        return [t for t in types if t is not None and t.is_string]

    def _equality_operands(self, node: exp.Expr, operands: list[exp.Expr]) -> str | None:
        types = self._compared_types(node, operands)
        if types is None:
            return None
        collation = self._comparison_collation(node, types)
        if collation == CI:
            for operand in operands:
                text = literal_text(operand)
                if text is not None and not is_printable_ascii(text):
                    raise self.error(node, "case-insensitive comparison with text other than printable ASCII",
                                     "COLLATE Latin1_General_100_BIN2_UTF8")
        return collation

    def _key(self, node: exp.Expr, collation: str) -> Decision:
        sql_type = self.type_of(node) or STRING_TYPE

        def build(n: exp.Expr) -> exp.Expr:
            return equality_key(n, sql_type, collation)

        return build

    def _check_equality(self, node: exp.Binary) -> None:
        assignment = is_assignment(node) and isinstance(node.parent, exp.Select) and node.arg_key == "expressions"
        if isinstance(node, exp.EQ) and (assignment or isinstance(node.parent, exp.Update)):
            return  # SELECT @v = ... / UPDATE ... SET c = ...
        collation = self._equality_operands(node, [node.this, node.expression])
        if collation is None:
            return
        left, right = self._key(node.this, collation), self._key(node.expression, collation)

        def build(n: exp.Expr) -> exp.Expr:
            n.set("this", left(n.this))
            n.set("expression", right(n.expression))
            return n

        self.decide(node, build)

    def _check_in(self, node: exp.In) -> None:
        query = node.args.get("query")
        if query is not None:
            select = query.this if isinstance(query, exp.Subquery) else query
            if not isinstance(select, exp.Select) or len(select.expressions) != 1:
                return
            projection = select.expressions[0]
            inner = projection.this if isinstance(projection, exp.Alias) else projection
            collation = self._equality_operands(node, [node.this, inner])
            if collation is None:
                return
            outer_key, inner_key = self._key(node.this, collation), self._key(inner, collation)

            def build_query(n: exp.Expr) -> exp.Expr:
                n.set("this", outer_key(n.this))
                sub = n.args["query"]
                target = sub.this if isinstance(sub, exp.Subquery) else sub
                target.set("expressions", [inner_key(target.expressions[0])])
                return n

            self.decide(node, build_query)
            return
        items = list(node.expressions)
        collation = self._equality_operands(node, [node.this, *items])
        if collation is None:
            return
        keys = [self._key(node.this, collation)] + [self._key(i, collation) for i in items]

        def build(n: exp.Expr) -> exp.Expr:
            n.set("this", keys[0](n.this))
            n.set("expressions", [key(item) for key, item in zip(keys[1:], n.expressions, strict=True)])
            return n

        self.decide(node, build)

    def _ordering_operands(self, node: exp.Expr, operands: list[exp.Expr]) -> bool:
        types = self._compared_types(node, operands)
        if types is None:
            return False
        if self._comparison_collation(node, types) == CI:
            raise self.error(node, "ordering comparison of case-insensitive text",
                             "SQL Server orders it linguistically; COLLATE Latin1_General_100_BIN2_UTF8")
        return True

    def _check_ordering(self, node: exp.Binary) -> None:
        if not self._ordering_operands(node, [node.this, node.expression]):
            return

        def build(n: exp.Expr) -> exp.Expr:
            n.set("this", order_key(n.this, trim=True))
            n.set("expression", order_key(n.expression, trim=True))
            return n

        self.decide(node, build)

    def _check_between(self, node: exp.Between) -> None:
        if not self._ordering_operands(node, [node.this, node.args["low"], node.args["high"]]):
            return

        def build(n: exp.Expr) -> exp.Expr:
            for key in ("this", "low", "high"):
                n.set(key, order_key(n.args[key], trim=True))
            return n

        self.decide(node, build)

    def _check_like(self, node: exp.Like) -> None:
        pattern = node.expression
        if not (isinstance(pattern, (exp.Literal, exp.National)) and pattern.is_string) or "[" in pattern.name:
            raise self.error(node, "LIKE with a non-literal pattern or [ ] ranges")
        if node.args.get("escape"):
            raise self.error(node, "LIKE ... ESCAPE")
        value = self._string_type(node.this)
        if value is None or not value.is_string:
            raise self.error(node, "LIKE on a value that is not text", "CAST it")
        try:
            collation = combine([value, STRING_TYPE]).effective_collation
        except CollationConflict as conflict:
            raise self.error(node, str(conflict)) from None
        if not value.trimmed:
            raise self.error(node, "LIKE on text that may end with spaces",
                             "SQL Server ignores them in a VARCHAR value and not in an NVARCHAR one; RTRIM it")
        if collation == CI:
            if not is_printable_ascii(pattern.name):
                raise self.error(node, "case-insensitive LIKE with a pattern other than printable ASCII",
                                 "COLLATE Latin1_General_100_BIN2_UTF8")

            def build(n: exp.Expr) -> exp.Expr:
                guarded = equality_key(n.this, replace(value, trimmed=True), CI)  # refuses non-ASCII text
                return exp.ILike(this=guarded, expression=n.expression)

            self.decide(node, build)

    def _check_collate(self, node: exp.Collate) -> None:
        name = node.expression.name
        if collation_of(name) is None:
            raise self.error(node, f"COLLATE {name}", "a _BIN2 UTF-8 collation or the database's")
        self.decide(node, lambda n: n.this)

    def _check_replace(self, node: exp.Replace) -> None:
        sql_type = self._string_type(node)
        search = node.expression
        if sql_type is None or not sql_type.is_string:
            raise self.error(node, "REPLACE of a value that is not text", "CAST it")
        if sql_type.effective_collation == BIN2:
            self.decide(node, lambda n: _call("replace", n.this, n.expression, n.args["replacement"]))
            return
        text = literal_text(search)
        if text is None or not is_printable_ascii(text) or any(ch.isalpha() for ch in text):
            raise self.error(node, "REPLACE under a case-insensitive collation",
                             "it matches case and width variants; COLLATE Latin1_General_100_BIN2_UTF8")
        self.decide(node, lambda n: _call("replace", self._ascii_only(n.this), n.expression, n.args["replacement"]))

    def _ascii_only(self, value: exp.Expr) -> exp.Expr:
        test = exp.Not(this=_call("regexp_full_match", value.copy(), exp.Literal.string("[ -~]*")))
        message = ("DuckDB engine: a case-insensitive REPLACE of text other than printable ASCII (SQL Server "
                   "matches width variants); COLLATE Latin1_General_100_BIN2_UTF8")
        return exp.Case(ifs=[exp.If(this=test, true=raise_error(SqlErrorNumber.USER_DEFINED, message))], default=value)

    def _check_upper(self, node: exp.Upper) -> None:
        self._case_mapping(node)

    def _check_lower(self, node: exp.Lower) -> None:
        self._case_mapping(node)

    def _case_mapping(self, node: exp.Expr) -> None:
        # Case mappings beyond ASCII differ (DuckDB: UPPER('ß') = 'ẞ'); printable ASCII maps the same.
        def build(n: exp.Expr) -> exp.Expr:
            n.set("this", self._ascii_case(n.this))
            return n

        self.decide(node, build)

    def _ascii_case(self, value: exp.Expr) -> exp.Expr:
        test = exp.Not(this=_call("regexp_full_match", value.copy(), exp.Literal.string("[ -~]*")))
        message = ("DuckDB engine: UPPER/LOWER of text other than printable ASCII (the case mappings of "
                   "SQL Server's collation and DuckDB's Unicode tables differ)")
        return exp.Case(ifs=[exp.If(this=test, true=raise_error(SqlErrorNumber.USER_DEFINED, message))], default=value)

    def _check_round(self, node: exp.Round) -> None:
        if node.args.get("truncate") is not None or node.args.get("decimals") is None:
            raise self.error(node, "ROUND with a third argument or without a length")
        sql_type = self.type_of(node.this)
        if sql_type is None or sql_type.category != FLOAT:
            raise self.error(node, "ROUND of a value that is not FLOAT",
                             "SQL Server keeps the DECIMAL's precision and overflows (8115) where DuckDB widens")

    def _check_concat(self, node: exp.Concat) -> None:
        self._concat_arguments(node, list(node.expressions))
        self.decide(node, lambda n: _call("concat", *n.expressions))

    def _check_concatws(self, node: exp.ConcatWs) -> None:
        self._concat_arguments(node, list(node.expressions))

    def _concat_arguments(self, node: exp.Expr, arguments: list[exp.Expr]) -> None:
        for argument in arguments:
            sql_type = self.type_of(argument)
            if sql_type is None or sql_type.category in (STRING, NULL):
                continue
            if sql_type.category == FLOAT:
                raise self.error(node, "CONCAT of a FLOAT", "T-SQL formats floats with 6 digits")
            if sql_type.category == DATETIME:
                raise self.error(node, "CONCAT of a DATETIME2", "T-SQL writes 7 fraction digits")
            if sql_type.category == BIT:  # CONCAT writes a bit as 1/0, DuckDB as true/false
                self.wrap(argument, _converting(sql_type, NSTRING_TYPE))
        self._string_type(node)

    def _check_length(self, node: exp.Length) -> None:
        # LEN ignores trailing spaces.
        self.decide(node, lambda n: exp.Length(this=_call("rtrim", n.this)))

    def _check_coalesce(self, node: exp.Coalesce) -> None:
        branches = [node.this, *node.expressions]
        if node.args.get("is_null"):
            self._check_isnull(node)
            return
        self._branch_types(node, branches)

    def _check_isnull(self, node: exp.Coalesce) -> None:
        """ISNULL(a, b) has the type of `a`: b is converted to it (and cut to its length)."""
        first = self.type_of(node.this)
        second = self.type_of(node.expressions[0]) if node.expressions else None
        if first is None:
            raise self.error(node, "ISNULL of an operand of unknown type", "CAST it")
        if first.category == NULL:
            return
        self._conversion(node.expressions[0], second, first)

        def build(n: exp.Expr) -> exp.Expr:
            replacement = convert(n.expressions[0], second, first)
            return exp.Coalesce(this=n.this, expressions=[replacement])

        self.decide(node, build)

    def _check_nullif(self, node: exp.Nullif) -> None:
        """NULLIF(a, b) compares a and b as `=` does (collation, trailing spaces)."""
        collation = self._equality_operands(node, [node.this, node.expression])
        if collation is None:
            return
        left, right = self._key(node.this, collation), self._key(node.expression, collation)

        def build(n: exp.Expr) -> exp.Expr:
            same = exp.EQ(this=left(n.this.copy()), expression=right(n.expression))
            return exp.Case(ifs=[exp.If(this=same, true=exp.Null())], default=n.this)

        self.decide(node, build)

    def _check_case(self, node: exp.Case) -> None:
        branches = [i.args.get("true") for i in node.args.get("ifs") or []] + [node.args.get("default")]
        self._branch_types(node, [b for b in branches if b is not None])

    def _check_if(self, node: exp.If) -> None:
        if isinstance(node.parent, exp.Case):
            return
        branches = [node.args.get("true"), node.args.get("false")]
        self._branch_types(node, [b for b in branches if b is not None])

    def _branch_types(self, node: exp.Expr, branches: list[exp.Expr]) -> None:
        """CASE/COALESCE/IIF branches: SQL Server converts them all to the type of highest precedence (a
        text branch to a number, error 245); DuckDB would turn the numbers into text instead."""
        types = [self.type_of(b) for b in branches]
        categories = {t.category for t in types if t is not None and t.category != NULL}
        if STRING in categories and len(categories) > 1:
            raise self.error(node, "CASE/COALESCE mixing text and other types",
                             "SQL Server converts the text to the other type; CAST the branches")
        self._string_type(node)

    # -- grouping and ordering ------------------------------------------------------------------
    def _needs_key(self, sql_type: SqlType | None) -> bool:
        return bool(sql_type and sql_type.is_string and (sql_type.effective_collation == CI or not sql_type.trimmed))

    def _group_by_key(self, holder: exp.Expr, items: list[exp.Expr], what: str) -> None:
        """Items compared for grouping inside `holder` (COUNT(DISTINCT), PARTITION BY): compared by key."""
        keys: dict[int, Decision] = {}
        for index, item in enumerate(items):
            sql_type = self._string_type(item)
            if self._needs_key(sql_type):
                keys[index] = self._key(item, sql_type.effective_collation)  # type: ignore[union-attr]
        if not keys:
            return

        def build(n: exp.Expr, keys: dict[int, Decision] = keys) -> exp.Expr:
            arg = "partition_by" if isinstance(n, exp.Window) else "expressions"
            values = list(n.args.get(arg) or [])
            n.set(arg, [keys[i](v) if i in keys else v for i, v in enumerate(values)])
            return n

        self.decide(holder, build)

    def _check_group(self, node: exp.Group) -> None:
        select = node.parent
        for index, item in enumerate(node.expressions):
            sql_type = self._string_type(item)
            if self._needs_key(sql_type):
                self._group_keys.setdefault(id(select), []).append((index, sql_type))  # type: ignore[arg-type]
        if select is not None and id(select) in self._group_keys:
            self.decide(select, self._grouped)

    def _check_distinct(self, node: exp.Distinct) -> None:
        select = node.parent
        if not isinstance(select, exp.Select) or select.args.get("distinct") is not node:
            return
        if node.args.get("on"):
            raise self.error(node, "DISTINCT ON")
        needing = [i for i, p in enumerate(select.expressions) if self._needs_key(self._string_type(p))]
        if not needing:
            return
        if select.args.get("group") or any(p.find(*_AGGREGATES) for p in select.expressions):
            raise self.error(node, "SELECT DISTINCT with aggregates over text compared by key")
        types = [self.type_of(p) for p in select.expressions]
        self._group_keys[id(select)] = [(i, types[i]) for i in needing]  # type: ignore[misc]
        self.decide(select, self._distinct_as_group)

    def _distinct_as_group(self, n: exp.Expr) -> exp.Expr:
        n.set("distinct", None)
        keys = [(p.this if isinstance(p, exp.Alias) else p).copy() for p in n.expressions]
        n.set("group", exp.Group(expressions=keys))
        return self._grouped(n)

    def _grouped(self, n: exp.Expr) -> exp.Expr:
        """GROUP BY key(x) for text grouped by SQL Server's comparison; the rows' x becomes MIN(x), one of
        the spellings of the group (SQL Server returns one of them, which one is not defined)."""
        group = n.args["group"]
        keys = self._group_keys.get(id(n), [])
        originals = [group.expressions[i].copy() for i, _ in keys]
        expressions = list(group.expressions)
        for (index, sql_type), original in zip(keys, originals, strict=True):
            expressions[index] = equality_key(original.copy(), sql_type, sql_type.effective_collation)
        group.set("expressions", expressions)

        def to_min(node: exp.Expr) -> exp.Expr:
            if any(node == original for original in originals) and not node.find_ancestor(*_AGGREGATES):
                return exp.Min(this=node.copy())
            return node

        projections = []
        for projection in n.expressions:
            name = projection.alias_or_name
            bare = not isinstance(projection, exp.Alias)
            changed = projection.transform(to_min, copy=True)
            if bare and changed != projection and name:
                changed = exp.alias_(changed, name, quoted=True)
            projections.append(changed)
        n.set("expressions", projections)
        for key in ("having", "order"):
            if n.args.get(key) is not None:
                n.set(key, n.args[key].transform(to_min, copy=True))
        return n

    def _check_union(self, node: exp.Union) -> None:
        self._set_operation(node, "UNION")

    def _check_intersect(self, node: exp.Intersect) -> None:
        self._set_operation(node, "INTERSECT")

    def _check_except(self, node: exp.Except) -> None:
        self._set_operation(node, "EXCEPT")

    def _set_operation(self, node: exp.Expr, name: str) -> None:
        if name == "UNION" and not node.args.get("distinct"):
            return
        for side in (node.this, node.expression):
            first = _first_select(side)
            for index in range(len(first.expressions) if first else 0):
                if self._needs_key(self._projection_type(side, index)):
                    raise self.error(node, f"{name} of text that may differ only by case or trailing spaces",
                                     "SQL Server treats those as equal; UNION ALL and GROUP BY a key instead")

    def _check_ordered(self, node: exp.Ordered) -> None:
        sql_type = self._string_type(node.this)
        if sql_type is None and isinstance(node.this, exp.Column) and not node.this.table:
            sql_type = self._alias_type(node, node.this.name.lower())
        if sql_type is None or not sql_type.is_string:
            return
        if sql_type.effective_collation == CI:
            raise self.error(node, "ORDER BY case-insensitive text",
                             "SQL Server orders it linguistically; COLLATE Latin1_General_100_BIN2_UTF8")
        window = node.parent.parent if isinstance(node.parent, exp.Order) else None
        if isinstance(window, exp.Window):
            # The key stays as it is inside OVER (...); the check goes around the window function.
            def guard(n: exp.Expr, window: exp.Window = window, ordered: exp.Ordered = node) -> exp.Expr:
                partition = [p.copy() for p in window.args.get("partition_by") or []]
                return window_order_guard(n, ordered.this.copy(), partition)

            self.wrap(window, guard)
            return

        def build(n: exp.Expr) -> exp.Expr:
            n.set("this", order_key(n.this, trim=False))
            return n

        self.decide(node, build)

    def _alias_type(self, node: exp.Expr, name: str) -> SqlType | None:
        query = node.parent.parent if node.parent is not None else None
        return self._projection_type(query, name) if query is not None else None

    def _check_window(self, node: exp.Window) -> None:
        spec = node.args.get("spec")
        if spec is not None and (spec.args.get("kind") or "").upper() != "ROWS":
            raise self.error(node, "window frame other than ROWS")
        if not isinstance(node.this, (exp.RowNumber, exp.Sum, exp.Count, exp.Min, exp.Max)):
            raise self.error(node, f"window function {node.this.sql_name() if isinstance(node.this, exp.Func) else ''}")
        self._group_by_key(node, list(node.args.get("partition_by") or []), "PARTITION BY")

    # -- dates ----------------------------------------------------------------------------------
    def _check_dateadd(self, node: exp.DateAdd) -> None:
        unit = arg_name(node, "unit", "").upper()
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
        message = f"Adding a value to a '{tsql_type_name(target)}' column caused an overflow."

        def build(n: exp.Expr, function: str = function, factor: int = factor) -> exp.Expr:
            # The amount is an int in T-SQL (8115 beyond it).
            count: exp.Expr = _cast(_cast(n.expression, "INTEGER"), "BIGINT")
            if factor != 1:
                count = exp.Mul(this=exp.Literal.number(factor), expression=count)
            moved = exp.Add(this=n.this, expression=_call(function, count))
            # DuckDB: DATE + INTERVAL is a TIMESTAMP; T-SQL keeps the type of the date argument, and its
            # range ends at 0001-01-01 and 9999-12-31 (error 517) where DuckDB goes on.
            result = _cast(exp.Paren(this=moved), target.duckdb)
            return date_in_range(result, target, SqlErrorNumber.DATE_OVERFLOW, message)

        self.decide(node, build)

    def _check_datediff(self, node: exp.DateDiff) -> None:
        unit = arg_name(node, "unit", "").upper()
        if unit not in _DATEDIFF_UNITS:
            raise self.error(node, f"DATEDIFF({unit or '?'}, ...)", "weeks count Sundays in T-SQL")

        def build(n: exp.Expr, part: str = _DATEDIFF_UNITS[unit]) -> exp.Expr:
            start = _cast(_unwrap_time(n.expression), "TIMESTAMP")
            end = _cast(_unwrap_time(n.this), "TIMESTAMP")
            difference = _call("date_diff", exp.Literal.string(part), start, end)
            inside = exp.Between(this=difference.copy(), low=exp.Literal.number(-INT_MAX - 1),
                                 high=exp.Literal.number(INT_MAX))
            error = raise_error(SqlErrorNumber.DATEDIFF_OVERFLOW, DATEDIFF_OVERFLOW)
            return exp.Case(ifs=[exp.If(this=exp.Not(this=inside), true=error)],
                            default=_cast(difference, "INTEGER"))  # NULL passes

        self.decide(node, build)

    # -- statements -----------------------------------------------------------------------------
    def _check_merge(self, node: exp.Merge) -> None:
        target = self._table_columns(node.this)
        for when in node.args["whens"].expressions:
            if when.args.get("source"):
                raise self.error(node, "MERGE ... WHEN NOT MATCHED BY SOURCE")
            then = when.args.get("then")
            if isinstance(then, exp.Update):
                for assignment in then.expressions:
                    self._column_conversion(target, assignment.this.name, assignment.expression)
                    assignment.this.set("table", None)  # DuckDB: SET takes unqualified column names
            elif isinstance(then, exp.Insert):
                schema = then.this
                columns = [c.name for c in schema.expressions] if isinstance(schema, exp.Schema) else list(target or {})
                values = then.expression
                if isinstance(values, exp.Tuple):
                    for column, value in zip(columns, values.expressions, strict=False):
                        self._column_conversion(target, column, value)
            elif not (isinstance(then, exp.Var) and then.name.upper() == "DELETE"):
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
        if isinstance(node.parent, exp.When):
            return  # MERGE ... THEN INSERT: checked with the MERGE
        table = node.this.this if isinstance(node.this, exp.Schema) else node.this
        target = self._table_columns(table)
        if target is None:
            return
        listed = node.this.expressions if isinstance(node.this, exp.Schema) else []
        columns = [c.name for c in listed] if listed else list(target)
        source = node.expression
        if isinstance(source, exp.Values):
            for row in source.expressions:
                for column, value in zip(columns, row.expressions, strict=False):
                    self._column_conversion(target, column, value)
        elif isinstance(source, exp.Select):
            for column, projection in zip(columns, source.expressions, strict=False):
                value = projection.this if isinstance(projection, exp.Alias) else projection
                self._column_conversion(target, column, value)

    def _check_update(self, node: exp.Update) -> None:
        if node.args.get("limit") or node.args.get("order"):
            raise self.error(node, "UPDATE TOP/ORDER BY")
        if isinstance(node.parent, exp.When):
            return
        target = self._table_columns(self._update_target(node))
        for assignment in node.expressions:
            if isinstance(assignment.this, exp.Column):
                self._column_conversion(target, assignment.this.name, assignment.expression)

    def _update_target(self, node: exp.Update) -> exp.Expr:
        alias = node.this.alias_or_name.lower()
        from_ = node.args.get("from_")
        if from_ is not None and not node.this.args.get("db"):
            candidates = [from_.this, *(j.this for j in from_.this.args.get("joins") or []),
                          *(j.this for j in node.args.get("joins") or [])]
            for candidate in candidates:
                if isinstance(candidate, exp.Table) and candidate.alias_or_name.lower() == alias:
                    return candidate
        target: exp.Expr = node.this
        return target

    def _table_columns(self, table: exp.Expr) -> dict[str, SqlType] | None:
        if isinstance(table, exp.Table):
            return self._source_columns(table)
        return None

    def _column_conversion(self, target: dict[str, SqlType] | None, column: str, value: exp.Expr) -> None:
        """A value written into a table column takes the column's type as SQL Server converts it: a FLOAT or
        DECIMAL into an integer column is truncated (DuckDB rounds); text into a number or a date is refused
        unless it is a yyyy-mm-dd literal; text is never cut (the column's CHECK raises 2628)."""
        if target is None:
            return
        column_type = target.get(column.lower())
        source = self.type_of(value)
        if column_type is None or source is None or source.category == NULL:
            return
        if source.is_string != column_type.is_string:
            literal_date = literal_text(value) is not None and column_type.category in (DATE, DATETIME)
            if not literal_date:
                raise self.error(value, f"a {source.category} value written into the {column_type.category} "
                                        f"column {column}", "CAST it to the column's type")
        self._conversion(value, source, column_type, to_column=True)
        if source.category == column_type.category and source.duckdb == column_type.duckdb:
            return
        if (column_type.category == INT and source.category in (FLOAT, DECIMAL)) or literal_text(value) is not None:
            self.wrap(value, _converting(source, column_type, to_column=True))

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
            try:
                self._types[key] = self._infer(node)
            except CollationConflict as conflict:
                raise self.error(node, str(conflict)) from None
        return self._types[key]

    def _infer(self, node: exp.Expr) -> SqlType | None:
        if isinstance(node, exp.Literal):
            if node.is_string:
                return replace(STRING_TYPE, trimmed=not node.name.endswith(" "))
            return _number_literal_type(node.name)
        if isinstance(node, exp.National):
            return replace(NSTRING_TYPE, trimmed=not node.name.endswith(" "))
        if isinstance(node, exp.Null):
            return NULL_TYPE
        if isinstance(node, (exp.Paren, exp.Neg, exp.Abs, exp.Round, exp.Min, exp.Max, exp.Upper, exp.Lower)):
            return self.type_of(node.this)
        if isinstance(node, exp.Collate):
            inner = self.type_of(node.this)
            if inner is None or not inner.is_string:
                return inner
            return inner.with_collation(collation_of(node.expression.name), EXPLICIT)
        if isinstance(node, exp.Parameter):
            if isinstance(node.this, exp.Parameter):
                return INT_TYPE
            return self.scope.variables.get(node.name.lower())
        if isinstance(node, (exp.Cast, exp.TryCast, exp.Convert)):
            return self._cast_type(node)
        if isinstance(node, exp.Column):
            return self._column_type(node)
        if isinstance(node, exp.Add):
            left, right = self.type_of(node.this), self.type_of(node.expression)
            if left is not None and right is not None and STRING in (left.category, right.category):
                if {left.category, right.category} <= {STRING, NULL}:
                    return self._concatenation([node.this, node.expression])
                return None
        if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)):
            left, right = self.type_of(node.this), self.type_of(node.expression)
            if left is None or right is None:
                return None
            if left.category in NUMERIC | {NULL} and right.category in NUMERIC | {NULL}:
                return promote(left, right)
            return None
        if isinstance(node, (exp.Count, exp.DateDiff, exp.Length, exp.RowNumber)):
            return INT_TYPE
        if isinstance(node, exp.Sum):
            argument = node.this.expressions[0] if isinstance(node.this, exp.Distinct) else node.this
            source = self.type_of(argument)
            if source is None or source.category != INT:
                return source
            return BIGINT_TYPE if source.duckdb == "BIGINT" else INT_TYPE
        if isinstance(node, exp.Avg):
            source = self.type_of(node.this)
            if source is not None and source.category == INT and source.duckdb != "BIGINT":
                return INT_TYPE
            return source
        if isinstance(node, exp.DateAdd):
            return self.type_of(node.this)
        if isinstance(node, exp.Coalesce) and node.args.get("is_null"):
            first = self.type_of(node.this)
            if first is not None and first.category == NULL and node.expressions:
                return self.type_of(node.expressions[0])
            return first
        if isinstance(node, (exp.Coalesce, exp.Nullif)):
            return self._branches([node.this, *node.expressions], nullif=isinstance(node, exp.Nullif))
        if isinstance(node, exp.Case):
            return self._branches([*(i.args.get("true") for i in node.args.get("ifs") or []), node.args.get("default")])
        if isinstance(node, exp.If):
            return self._branches([node.args.get("true"), node.args.get("false")])
        if isinstance(node, exp.Concat):
            return self._concatenation(list(node.expressions), concat=True)
        if isinstance(node, exp.ConcatWs):
            parts = list(node.expressions)
            combined = self._concatenation(parts, concat=True)
            trimmed = all((t := self.type_of(p)) is None or t.category != STRING or t.trimmed for p in parts)
            return replace(combined, trimmed=trimmed) if combined is not None else None
        if isinstance(node, exp.Trim):
            inner = self.type_of(node.this)
            if inner is None or not inner.is_string:
                return STRING_TYPE
            position = (node.args.get("position") or "BOTH").upper()
            return replace(inner, trimmed=inner.trimmed or position != "LEADING")
        if isinstance(node, (exp.Left, exp.Substring, exp.Replace)):
            inner = self.type_of(node.this)
            return replace(inner, trimmed=False) if inner is not None and inner.is_string else STRING_TYPE
        if isinstance(node, exp.Right):
            inner = self.type_of(node.this)
            return inner if inner is not None and inner.is_string else STRING_TYPE
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

    def _cast_type(self, node: exp.Expr) -> SqlType:
        to = node.this if isinstance(node, exp.Convert) else node.args["to"]
        value = node.expression if isinstance(node, exp.Convert) else node.this
        target = map_type(to, in_cast=True)
        if not target.is_string:
            return target
        source = self.type_of(value)
        if source is not None and source.is_string:
            # "the output has the same collation and collation label as the input"
            return replace(target, collation=source.collation, label=source.label,
                           trimmed=source.trimmed and target.length is None)
        return replace(target, collation=CI, trimmed=True)  # numbers, dates and bits never end with a space

    def _branches(self, branches: list[exp.Expr | None], *, nullif: bool = False) -> SqlType | None:
        types = [self.type_of(b) for b in branches if b is not None]
        if nullif:
            types = types[:1]
        known = [t for t in types if t is not None and t.category != NULL]
        if not known:
            return None
        if any(t.is_string for t in known):
            strings = [t for t in known if t.is_string]
            combined = combine(strings)
            return replace(combined, trimmed=all(t.trimmed for t in strings),
                           national=any(t.national for t in strings), length=None)
        result = known[0]
        for other in known[1:]:
            if other.category in NUMERIC and result.category in NUMERIC:
                result = promote(result, other)
        return result

    def _concatenation(self, parts: list[exp.Expr], *, concat: bool = False) -> SqlType | None:
        """`+` on strings or CONCAT: the collation of the string parts; it cannot end with a space when its
        last part cannot, if that part is a non-empty literal or the part before it cannot either."""
        types = [self.type_of(p) for p in parts]
        strings = [t for t in types if t is not None and t.is_string]
        combined = combine(strings) if strings else STRING_TYPE
        trimmed = True
        for part, sql_type in reversed(list(zip(parts, types, strict=True))):
            if sql_type is None:
                trimmed = False
                break
            if sql_type.category == NULL:
                if concat:
                    continue  # CONCAT: NULL is an empty string
                break
            text = literal_text(part)
            if sql_type.is_string and not sql_type.trimmed:
                trimmed = False
                break
            if text is None or text != "" or not sql_type.is_string:
                break  # a part that ends the string with a character that is not a space
        return replace(combined, trimmed=trimmed, national=any(t.national for t in strings), length=None)

    def _projection_type(self, query: exp.Expr | None, index: int | str) -> SqlType | None:
        first = _first_select(query)
        if first is None:
            return None
        projections = first.expressions
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
        return self.columns.get(name) if not qualifier else None

    def _source_columns(self, source: exp.Table) -> dict[str, SqlType] | None:
        identifier = source.this
        if isinstance(identifier, exp.Identifier) and identifier.args.get("temporary"):
            temp = temp_table_name(identifier.name)
            return self.scope.temp_tables.get(temp) or self.scope.catalog.temp_table_columns(temp)
        schema = arg_name(source, "db", "dbo")
        return self.scope.catalog.table_columns(schema.lower(), source.name.lower())

    def _source_column(self, source: exp.Expr, name: str, scope: exp.Expr) -> SqlType | None:
        if isinstance(source, exp.Table):
            identifier = source.this
            temporary = isinstance(identifier, exp.Identifier) and identifier.args.get("temporary")
            if not temporary and not source.args.get("db"):
                cte = _find_cte(scope, source.name.lower())
                if cte is not None:
                    return self._projection_type(cte.this, name)
            return (self._source_columns(source) or {}).get(name)
        if isinstance(source, exp.Subquery):
            return self._projection_type(source.this, name)
        return None

    # -- phase 2 ------------------------------------------------------------------------------
    def rewrite(self, node: exp.Expr) -> exp.Expr:
        self.rewrite_children(node)
        key = id(node)
        for decision in [d for d in [self.decisions.get(key)] if d is not None] + self.wrappers.get(key, []):
            # Where the node sits, taken before the decision runs: a builder may embed the node itself in
            # its replacement (which re-parents it), and the replacement must still take the node's place.
            parent, arg_key, index = node.parent, node.arg_key, node.index
            replacement = decision(node)
            if replacement is not node and parent is not None and arg_key is not None:
                parent.set(arg_key, replacement, index)
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
            if isinstance(value, exp.Expr):
                self.rewrite(value)
            elif isinstance(value, list):
                for item in list(value):
                    if isinstance(item, exp.Expr):
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
        return _cast(placeholder, sql_type.duckdb)


def _number_literal_type(text: str) -> SqlType:
    lower = text.lower()
    if "e" in lower:
        return FLOAT_TYPE
    digits = lower.lstrip("-")
    if "." in digits:
        whole, fraction = digits.split(".", 1)
        precision = max(len(whole.lstrip("0")) + len(fraction), 1)
        return SqlType(DECIMAL, f"DECIMAL({max(precision, len(fraction))},{len(fraction)})")
    if int(digits) <= INT_MAX:
        return INT_TYPE
    # "Integer constants greater than 2,147,483,647 are converted to the decimal data type, not bigint."
    return SqlType(DECIMAL, f"DECIMAL({min(max(len(digits), 1), 38)},0)")


def _first_select(query: exp.Expr | None) -> exp.Select | None:
    while isinstance(query, (exp.Union, exp.Intersect, exp.Except, exp.Subquery)):
        query = query.this
    return query if isinstance(query, exp.Select) else None


def _unwrap_time(node: exp.Expr) -> exp.Expr:
    return node.this if isinstance(node, exp.TimeStrToTime) else node


def _scope_sources(node: exp.Expr) -> list[tuple[str, exp.Expr]]:
    sources: list[exp.Expr] = []
    if isinstance(node, exp.Select):
        from_ = node.args.get("from_")
        if from_ is not None:
            sources.append(from_.this)
            sources.extend(j.this for j in from_.this.args.get("joins") or [])
        sources.extend(j.this for j in node.args.get("joins") or [])
    elif isinstance(node, exp.Update):
        from_ = node.args.get("from_")
        if from_ is not None:
            sources.append(from_.this)
            sources.extend(j.this for j in from_.this.args.get("joins") or [])
        sources.extend(j.this for j in node.args.get("joins") or [])
        # `UPDATE alias ... FROM t AS alias`: the target is an alias of a FROM table, not a table itself.
        if not any(s.alias_or_name.lower() == node.this.alias_or_name.lower() for s in sources):
            sources.insert(0, node.this)
    elif isinstance(node, exp.Delete):
        sources.append(node.this)
    elif isinstance(node, exp.Merge):
        sources.extend([node.this, node.args["using"]])
    else:
        return []
    return [(s.alias_or_name.lower(), s) for s in sources if isinstance(s, (exp.Table, exp.Subquery))]


def _find_cte(node: exp.Expr | None, name: str) -> exp.CTE | None:
    while node is not None:
        with_ = node.args.get("with_") if isinstance(node, exp.Expr) else None
        if with_ is not None:
            for cte in with_.expressions:
                if isinstance(cte, exp.CTE) and cte.alias_or_name.lower() == name:
                    return cte
        node = node.parent
    return None


# The phase-1 handler of each expression class (the translator's TRANSFORMS table). Each handler takes a node of
# its own class, which the dict's value type cannot say per key.
CHECKS: dict[type[exp.Expr], Callable[[Rewriter, Any], None]] = {
    exp.Table: Rewriter._check_table,
    exp.Join: Rewriter._check_join,
    exp.Parameter: Rewriter._check_parameter,
    exp.Anonymous: Rewriter._check_anonymous,
    exp.CurrentTimestamp: Rewriter._check_currenttimestamp,
    exp.Literal: Rewriter._check_literal,
    exp.DataType: Rewriter._check_datatype,
    exp.Cast: Rewriter._check_cast,
    exp.TryCast: Rewriter._check_trycast,
    exp.Convert: Rewriter._check_convert,
    exp.Div: Rewriter._check_div,
    exp.Mod: Rewriter._check_mod,
    exp.Sub: Rewriter._check_sub,
    exp.Mul: Rewriter._check_mul,
    exp.Add: Rewriter._check_add,
    exp.Sum: Rewriter._check_sum,
    exp.Count: Rewriter._check_count,
    exp.Avg: Rewriter._check_avg,
    exp.Min: Rewriter._check_min,
    exp.Max: Rewriter._check_max,
    exp.EQ: Rewriter._check_equality,
    exp.NEQ: Rewriter._check_equality,
    exp.NullSafeEQ: Rewriter._check_equality,
    exp.NullSafeNEQ: Rewriter._check_equality,
    exp.GT: Rewriter._check_ordering,
    exp.GTE: Rewriter._check_ordering,
    exp.LT: Rewriter._check_ordering,
    exp.LTE: Rewriter._check_ordering,
    exp.Between: Rewriter._check_between,
    exp.In: Rewriter._check_in,
    exp.Like: Rewriter._check_like,
    exp.Collate: Rewriter._check_collate,
    exp.Replace: Rewriter._check_replace,
    exp.Upper: Rewriter._check_upper,
    exp.Lower: Rewriter._check_lower,
    exp.Round: Rewriter._check_round,
    exp.Concat: Rewriter._check_concat,
    exp.ConcatWs: Rewriter._check_concatws,
    exp.Length: Rewriter._check_length,
    exp.Coalesce: Rewriter._check_coalesce,
    exp.Nullif: Rewriter._check_nullif,
    exp.Case: Rewriter._check_case,
    exp.If: Rewriter._check_if,
    exp.Group: Rewriter._check_group,
    exp.Distinct: Rewriter._check_distinct,
    exp.Union: Rewriter._check_union,
    exp.Intersect: Rewriter._check_intersect,
    exp.Except: Rewriter._check_except,
    exp.Ordered: Rewriter._check_ordered,
    exp.Window: Rewriter._check_window,
    exp.DateAdd: Rewriter._check_dateadd,
    exp.DateDiff: Rewriter._check_datediff,
    exp.Merge: Rewriter._check_merge,
    exp.With: Rewriter._check_with,
    exp.Insert: Rewriter._check_insert,
    exp.Update: Rewriter._check_update,
    exp.Delete: Rewriter._check_delete,
    exp.Select: Rewriter._check_select,
}
