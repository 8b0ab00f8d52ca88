"""The strict T-SQL -> DuckDB translator (statement level).

sqlglot parses each statement (read="tsql"); tsql_rewrite walks it with an allow-list of node types
and functions, refuses everything else with `file:line: unsupported T-SQL construct <X>`, and rewrites
what DuckDB would otherwise answer differently (docs/tsql-subset.md lists each case). This module turns
statements into DuckDB statements: queries and DML through the rewriter, DDL built as sqlglot `exp`
nodes, the security statements (schema owners, roles, grants) recorded in DuckDB-only tables.

DuckDB keeps no T-SQL types: every column the translator creates carries its T-SQL type (length,
collation, whether a value can end with a space) in the column's DuckDB comment (`tsql_types.SqlType.
to_comment`), which the DuckDB catalog reads back for the next statements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from sqlglot import exp

from company_activity_local.warehouse.engine import TranslationError
from company_activity_local.warehouse.tsql_convert import TypeRefusal, convert, utf16_length
from company_activity_local.warehouse.tsql_rewrite import (
    DIVIDE_BY_ZERO_MESSAGE,
    VARIABLE_PREFIX,
    Catalog,
    Rewriter,
    arg_name,
    is_assignment,
    temp_table_name,
    variable_name,
)
from company_activity_local.warehouse.tsql_script import Location, SqlStatement
from company_activity_local.warehouse.tsql_strings import BIN2, CI
from company_activity_local.warehouse.tsql_types import (
    IMPLICIT,
    STRING,
    SqlType,
    TypeRefused,
    collation_of,
    map_type,
)

__all__ = [
    "DIVIDE_BY_ZERO_MESSAGE",
    "VARIABLE_PREFIX",
    "Catalog",
    "Translated",
    "TranslationError",
    "Translator",
    "quote",
]

MERGE_DUPLICATE_MESSAGE = (
    "The MERGE statement attempted to UPDATE or DELETE the same row more than once. This happens when "
    "a target row matches more than one source row. A MERGE statement cannot UPDATE/DELETE the same row "
    "of the target table multiple times. Refine the ON clause to ensure a target row matches at most one "
    "source row, or use the GROUP BY clause to group the source rows."
)
# Table and index options that change how SQL Server stores a table, not what it answers.
_STORAGE_OPTIONS = {"DATA_COMPRESSION": {"NONE", "ROW", "PAGE"}}


@dataclass(frozen=True)
class Translated:
    """DuckDB SQL for one T-SQL statement, with `$name` parameters to bind at run time."""

    sql: str
    parameters: tuple[str, ...]
    kind: str  # query | dml | ddl | noop
    line: int
    assigns: tuple[str, ...] = ()  # SELECT @a = ..., @b = ...: the variables, in projection order
    guard: Translated | None = None  # MERGE: must return no row (duplicate source rows otherwise)
    before: tuple[str, ...] = ()  # DDL to run first (sequences for IDENTITY columns)
    after: tuple[str, ...] = ()  # DDL to run next (column comments holding the T-SQL types)
    temp_table: str | None = None  # CREATE TABLE #name: dropped when the procedure ends
    table_free: bool = False  # reads no table: evaluable outside the (maybe doomed) transaction


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _identifier(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


@dataclass
class Translator:
    """Translates the statements of one batch or procedure, in order (it tracks DECLAREd variables
    and temp tables created earlier in the same batch)."""

    catalog: Catalog
    variables: dict[str, SqlType] = field(default_factory=dict)
    temp_tables: dict[str, dict[str, SqlType]] = field(default_factory=dict)
    in_procedure: bool = False

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
        if isinstance(ast, exp.Command) and ast.this in ("CREATE", "GRANT", "ALTER"):
            return _DDL(self, loc).security(ast.this, ast.expression.name)
        if isinstance(ast, (exp.Select, exp.Union, exp.Intersect, exp.Except)):
            return self._query(ast, loc)
        if isinstance(ast, (exp.Insert, exp.Update, exp.Delete, exp.Merge)):
            return self._dml(ast, loc)
        raise loc.error(f"statement {statement.text.split()[0].upper()}")

    def value(self, expression: exp.Expr, loc: Location, target: SqlType | None) -> Translated:
        """SELECT <expression> (converted to `target` like a T-SQL assignment)."""
        select = exp.select(expression.copy())
        rewriter = Rewriter(self, loc)
        rewriter.check(select)
        if target is not None:
            source = rewriter.type_of(select.expressions[0])
            self._assignable(rewriter, select.expressions[0], source, target)
            projection = rewriter.rewrite(select.expressions[0])
            select.set("expressions", [convert(projection, source, target)])
            rewriter.rewrite_children(select, skip={"expressions"})
        else:
            rewriter.rewrite(select)
        return _finish(rewriter, select, "query")

    def values(self, expressions: list[exp.Expr], loc: Location) -> Translated:
        select = exp.select(*[e.copy() for e in expressions])
        rewriter = Rewriter(self, loc)
        rewriter.check(select)
        rewriter.rewrite(select)
        return _finish(rewriter, select, "query")

    def condition(self, expression: exp.Expr, loc: Location) -> Translated:
        """SELECT CASE WHEN <condition> THEN 1 ELSE 0 END (T-SQL IF treats UNKNOWN as false)."""
        case = exp.Case(ifs=[exp.If(this=expression.copy(), true=exp.Literal.number(1))], default=exp.Literal.number(0))
        return self.values([case], loc)

    @staticmethod
    def _assignable(rewriter: Rewriter, node: exp.Expr, source: SqlType | None, target: SqlType) -> None:
        try:
            convert(exp.Null(), source, target)
        except TypeRefusal as refused:
            raise rewriter.error(node, str(refused)) from None

    # -- statements ---------------------------------------------------------------------------
    def _query(self, ast: exp.Expr, loc: Location) -> Translated:
        rewriter = Rewriter(self, loc)
        rewriter.check(ast)
        if isinstance(ast, exp.Select) and any(is_assignment(p) for p in ast.expressions):
            if not all(is_assignment(p) for p in ast.expressions):
                raise loc.error("SELECT mixing variable assignments and result columns")
            names = []
            for index, projection in enumerate(ast.expressions):
                name = variable_name(projection.this)
                target = self.variables.get(name)
                if target is None:
                    raise loc.error(f"undeclared variable @{name}")
                source = rewriter.type_of(projection.expression)
                self._assignable(rewriter, projection, source, target)
                value = rewriter.rewrite(projection.expression)
                projection.replace(exp.alias_(convert(value, source, target), f"a{index}"))
                names.append(name)
            rewriter.rewrite_children(ast, skip={"expressions"})
            decision = rewriter.decisions.get(id(ast))
            if decision is not None:
                ast = decision(ast)
            return _finish(rewriter, ast, "query", assigns=tuple(names))
        ast = rewriter.rewrite(ast)
        return _finish(rewriter, ast, "query")

    def _dml(self, ast: exp.Expr, loc: Location) -> Translated:
        if isinstance(ast, exp.Delete) and (ast.args.get("tables") or ast.args.get("using")):
            raise loc.error("DELETE with a FROM/JOIN list", "use DELETE FROM t WHERE ... EXISTS (...)")
        rewriter = Rewriter(self, loc)
        rewriter.check(ast)
        if isinstance(ast, (exp.Insert, exp.Update, exp.Delete, exp.Merge)):
            target = ast.this.this if isinstance(ast, exp.Insert) and isinstance(ast.this, exp.Schema) else ast.this
            if isinstance(ast, exp.Update):
                target = rewriter._update_target(ast)
            if isinstance(target, exp.Table) and self._is_view(target):
                raise loc.error("INSERT/UPDATE/DELETE/MERGE on a view", "write to its base table")
        guard = None
        if isinstance(ast, exp.Merge):
            guard = self._merge_guard(ast, loc)
        if isinstance(ast, exp.Update):
            _flatten_update(ast, loc)
        rewriter.rewrite(ast)
        return _finish(rewriter, ast, "dml", guard=guard)

    def _is_view(self, table: exp.Table) -> bool:
        is_view = getattr(self.catalog, "is_view", None)
        schema = arg_name(table, "db", "dbo")
        return bool(is_view and is_view(schema.lower(), table.name.lower()))

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
        rewriter = Rewriter(self, loc)
        rewriter.check(guard)
        rewriter.rewrite(guard)
        return _finish(rewriter, guard, "query")


def _finish(rewriter: Rewriter, ast: exp.Expr, kind: str, **extra: object) -> Translated:
    sql = ast.sql(dialect="duckdb", identify=True)
    table_free = kind == "query" and ast.find(exp.Table) is None
    return Translated(sql, tuple(rewriter.parameters), kind, rewriter.loc.line, table_free=table_free, **extra)  # type: ignore[arg-type]


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


_SECURITY_NAME = r"(?:\[(?P<{0}_b>[A-Za-z_][A-Za-z0-9_]*)\]|(?P<{0}>[A-Za-z_][A-Za-z0-9_]*))"
_CREATE_ROLE = re.compile(r"ROLE\s+" + _SECURITY_NAME.format("role"), re.IGNORECASE)
_CREATE_SCHEMA_OWNER = re.compile(
    r"SCHEMA\s+" + _SECURITY_NAME.format("schema") + r"\s+AUTHORIZATION\s+" + _SECURITY_NAME.format("owner"),
    re.IGNORECASE,
)
_ALTER_SCHEMA_OWNER = re.compile(
    r"AUTHORIZATION\s+ON\s+SCHEMA\s*::\s*" + _SECURITY_NAME.format("schema") + r"\s+TO\s+"
    + _SECURITY_NAME.format("owner"),
    re.IGNORECASE,
)
_GRANT_SCHEMA = re.compile(
    r"SELECT\s+ON\s+SCHEMA\s*::\s*" + _SECURITY_NAME.format("schema") + r"\s+TO\s+" + _SECURITY_NAME.format("role"),
    re.IGNORECASE,
)
_ROLES = exp.Table(this=_identifier("database_roles"), db=_identifier("etl"))
_PERMISSIONS = exp.Table(this=_identifier("schema_permissions"), db=_identifier("etl"))


def _security_name(match: re.Match[str], group: str) -> str:
    return (match.group(group) or match.group(group + "_b")).lower()


def _error_call(message: str) -> exp.Expr:
    return exp.Anonymous(this="error", expressions=[exp.Literal.string(message)])


class _DDL:
    """CREATE/DROP/ALTER/TRUNCATE, built as DuckDB `exp` trees from the T-SQL tree."""

    def __init__(self, translator: Translator, loc: Location) -> None:
        self.translator = translator
        self.loc = loc
        self.columns: dict[str, SqlType] = {}  # of the table being created (for its CHECKs and DEFAULTs)

    def table(self, table: exp.Table) -> tuple[exp.Table, bool]:
        """(DuckDB table, is temp table)."""
        identifier = table.this
        if isinstance(identifier, exp.Identifier) and identifier.args.get("temporary"):
            return exp.Table(this=_identifier(temp_table_name(identifier.name))), True
        if table.args.get("catalog"):
            raise self.loc.error("three-part table name")
        schema = arg_name(table, "db", "dbo")
        return exp.Table(this=_identifier(table.name.lower()), db=_identifier(schema.lower())), False

    def ddl(self, tree: exp.Expr, *, before: tuple[str, ...] = (), after: tuple[str, ...] = (),
            temp_table: str | None = None) -> Translated:
        return Translated(tree.sql(dialect="duckdb"), (), "ddl", self.loc.line, before=before, after=after,
                          temp_table=temp_table)

    def create(self, ast: exp.Create) -> Translated:
        kind = (ast.args.get("kind") or "").upper()
        if ast.args.get("replace") or ast.args.get("exists"):
            raise self.loc.error(f"CREATE OR ALTER/IF NOT EXISTS {kind}")
        if kind == "SCHEMA":
            if ast.args.get("properties") or ast.args.get("expression"):
                raise self.loc.error("CREATE SCHEMA with AUTHORIZATION or elements")
            schema = ast.this.args.get("db") or ast.this.this
            return self.ddl(exp.Create(kind="SCHEMA", this=exp.Table(db=_identifier(schema.name.lower()))))
        if kind == "TABLE":
            return self.create_table(ast)
        if kind.endswith("INDEX"):
            return self.create_index(ast)
        if kind == "VIEW":
            return self.create_view(ast)
        raise self.loc.error(f"CREATE {kind}")

    def create_view(self, ast: exp.Create) -> Translated:
        """CREATE VIEW schema.name AS <query>: the query translated like any other, stored by DuckDB; the
        T-SQL type of each view column goes into its comment."""
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
        view, temporary = self.table(target)
        if temporary:
            raise self.loc.error("temporary view")
        rewriter = Rewriter(self.translator, self.loc)
        rewriter.check(query)
        types = {p.alias_or_name.lower(): rewriter.type_of(p) for p in first.expressions}
        translated = rewriter.rewrite(query)
        if rewriter.parameters:
            raise self.loc.error("variable or system function in a view", "a view is evaluated without them")
        comments = tuple(
            self.comment(view, name, replace(sql_type, label=IMPLICIT) if sql_type.is_string else sql_type)
            for name, sql_type in types.items() if sql_type is not None
        )
        create = exp.Create(kind="VIEW", this=view, expression=translated)
        return Translated(create.sql(dialect="duckdb", identify=True), (), "ddl", self.loc.line, after=comments)

    @staticmethod
    def comment(table: exp.Table, column: str, sql_type: SqlType) -> str:
        target = exp.Column(this=_identifier(column), table=table.this.copy(),
                            db=table.args["db"].copy() if table.args.get("db") else None)
        return exp.Comment(this=target, kind="COLUMN", expression=exp.Literal.string(sql_type.to_comment())).sql(
            dialect="duckdb"
        )

    def security(self, verb: str, rest: str) -> Translated:
        """CREATE SCHEMA s AUTHORIZATION dbo, ALTER AUTHORIZATION ON SCHEMA::s TO dbo, CREATE ROLE r,
        GRANT SELECT ON SCHEMA::s TO r. DuckDB has no principals: the statements are recorded in
        etl.database_roles / etl.schema_permissions (checked as SQL Server checks them) and enforce nothing;
        anyone who can open the DuckDB file reads every table."""
        # Names are stored in lower case (SQL Server compares principal names case-insensitively), so these
        # DuckDB-only tables compare by code point (their columns' comments say so to the translator).
        name_type = SqlType(STRING, "VARCHAR", 128, True, BIN2, IMPLICIT, True)
        roles = _ROLES.copy()
        permissions = _PERMISSIONS.copy()
        before = (
            "CREATE TABLE IF NOT EXISTS etl.database_roles (role_name VARCHAR PRIMARY KEY)",
            "CREATE TABLE IF NOT EXISTS etl.schema_permissions (schema_name VARCHAR NOT NULL, "
            "permission VARCHAR NOT NULL, role_name VARCHAR NOT NULL, "
            "PRIMARY KEY (schema_name, permission, role_name))",
            self.comment(roles, "role_name", name_type),
            *(self.comment(permissions, c, name_type) for c in ("schema_name", "permission", "role_name")),
        )
        if verb == "ALTER":
            owner = _ALTER_SCHEMA_OWNER.fullmatch(rest)
            if owner is None:
                raise self.loc.error("ALTER other than TABLE ... ADD or AUTHORIZATION ON SCHEMA::s TO dbo")
            if _security_name(owner, "owner") != "dbo":
                raise self.loc.error("ALTER AUTHORIZATION ... TO an owner other than dbo")
            schema = _security_name(owner, "schema")
            missing = f"Cannot find the schema '{schema}', because it does not exist or you do not have permission."
            check = exp.select(exp.Case(ifs=[exp.If(this=self._schema_missing(schema), true=_error_call(missing))],
                                        default=exp.true()))
            # DuckDB has no owners: only the schema's existence is checked (SQL Server error 15151).
            return Translated(check.sql(dialect="duckdb"), (), "ddl", self.loc.line)
        schema_owner = _CREATE_SCHEMA_OWNER.fullmatch(rest) if verb == "CREATE" else None
        if schema_owner is not None:
            # SQL Server: a view's ownership chain to dbo tables holds only when its schema is owned
            # by dbo (the owner of a plain CREATE SCHEMA is whoever runs it). DuckDB has no owners.
            if _security_name(schema_owner, "owner") != "dbo":
                raise self.loc.error("CREATE SCHEMA ... AUTHORIZATION other than dbo")
            schema = _security_name(schema_owner, "schema")
            return self.ddl(exp.Create(kind="SCHEMA", this=exp.Table(db=_identifier(schema))))
        if verb == "CREATE":
            match = _CREATE_ROLE.fullmatch(rest)
            if match is None:
                raise self.loc.error("CREATE ROLE with options", "only CREATE ROLE name")
            role = _security_name(match, "role")
            exists = exp.Exists(this=exp.select(exp.Literal.number(1)).from_(_ROLES.copy()).where(
                exp.EQ(this=exp.column("role_name"), expression=exp.Literal.string(role))))
            message = f"User, group, or role '{role}' already exists in the current database."
            guard = exp.Case(ifs=[exp.If(this=exists, true=_error_call(message))], default=exp.true())
            insert = exp.insert(exp.select(exp.Literal.string(role)).where(guard), _ROLES.copy())
            return Translated(insert.sql(dialect="duckdb"), (), "ddl", self.loc.line, before=before)
        match = _GRANT_SCHEMA.fullmatch(rest)
        if match is None:
            raise self.loc.error("GRANT other than GRANT SELECT ON SCHEMA::s TO role")
        schema, role = _security_name(match, "schema"), _security_name(match, "role")
        no_role = exp.Not(this=exp.Exists(this=exp.select(exp.Literal.number(1)).from_(_ROLES.copy()).where(
            exp.EQ(this=exp.column("role_name"), expression=exp.Literal.string(role)))))
        missing_schema = f"Cannot find the schema '{schema}', because it does not exist or you do not have permission."
        missing_role = f"Cannot find the user '{role}', because it does not exist or you do not have permission."
        guard = exp.Case(ifs=[exp.If(this=self._schema_missing(schema), true=_error_call(missing_schema)),
                              exp.If(this=no_role, true=_error_call(missing_role))], default=exp.true())
        values = (exp.Literal.string(schema), exp.Literal.string("SELECT"), exp.Literal.string(role))
        row = exp.select(*values).where(guard)
        sql = "INSERT OR IGNORE INTO etl.schema_permissions " + row.sql(dialect="duckdb")
        return Translated(sql, (), "ddl", self.loc.line, before=before)

    @staticmethod
    def _schema_missing(schema: str) -> exp.Expr:
        schemata = exp.Table(this=_identifier("schemata"), db=_identifier("information_schema"))
        found = exp.select(exp.Literal.number(1)).from_(schemata).where(exp.and_(
            exp.EQ(this=exp.column("catalog_name"), expression=exp.Anonymous(this="current_database")),
            exp.EQ(this=exp.Lower(this=exp.column("schema_name")), expression=exp.Literal.string(schema)),
        ))
        return exp.Not(this=exp.Exists(this=found))

    def create_table(self, ast: exp.Create) -> Translated:
        schema = ast.this
        if not isinstance(schema, exp.Schema) or ast.args.get("expression") is not None:
            raise self.loc.error("CREATE TABLE ... AS")
        for prop in (ast.args.get("properties") or exp.Properties()).expressions:
            if not isinstance(prop, exp.TemporaryProperty):
                self.storage_option(prop)
        table, temporary = self.table(schema.this)
        keys = self.key_names(schema.expressions)
        self.columns = {
            e.name.lower(): self.column_type(e, temporary=temporary, key=e.name.lower() in keys)
            for e in schema.expressions if isinstance(e, exp.ColumnDef)
        }
        columns: dict[str, SqlType] = {}
        elements: list[exp.Expr] = []
        before: list[str] = []
        for element in schema.expressions:
            if isinstance(element, exp.ColumnDef):
                name = element.name.lower()
                definition, sql_type, sequence = self.column(element, table, temporary=temporary,
                                                             key=name in keys)
                columns[name] = sql_type
                elements.append(definition)
                if sequence:
                    before.append(sequence)
            else:
                elements.append(self.table_constraint(element))
        elements.extend(self.column_checks(columns, keys))
        properties = exp.Properties(expressions=[exp.TemporaryProperty()]) if temporary else None
        create = exp.Create(kind="TABLE", this=exp.Schema(this=table, expressions=elements), properties=properties)
        name = table.name
        if temporary:
            self.translator.temp_tables[name] = columns
        # Temp tables of a procedure are known to its plan; others are read back from the catalog.
        comment = not (temporary and self.translator.in_procedure)
        after = tuple(self.comment(table, c, t) for c, t in columns.items()) if comment else ()
        return self.ddl(create, before=tuple(before), after=after, temp_table=name if temporary else None)

    def storage_option(self, prop: exp.Expr) -> None:
        """WITH (DATA_COMPRESSION = ...): how SQL Server stores the rows, nothing DuckDB answers differently."""
        name = prop.name.upper() if isinstance(prop, exp.Property) else ""
        value = prop.args.get("value")
        allowed = _STORAGE_OPTIONS.get(name)
        if allowed is None or value is None or value.name.upper() not in allowed:
            raise self.loc.error(f"table option {prop.sql(dialect='tsql')}")

    def key_names(self, elements: list[exp.Expr]) -> set[str]:
        """Columns of the PRIMARY KEY and UNIQUE constraints."""
        names: set[str] = set()
        for element in elements:
            if isinstance(element, exp.ColumnDef):
                for constraint in element.args.get("constraints") or []:
                    if isinstance(constraint.args.get("kind"), (exp.PrimaryKeyColumnConstraint,
                                                                 exp.UniqueColumnConstraint)):
                        names.add(element.name.lower())
                continue
            nodes = element.expressions if isinstance(element, exp.Constraint) else [element]
            if not any(isinstance(n, (exp.PrimaryKeyColumnConstraint, exp.PrimaryKey, exp.UniqueColumnConstraint))
                       for n in nodes):
                continue
            for node in nodes:
                items = node.expressions if isinstance(node, exp.PrimaryKey) else node.this
                items = items.expressions if isinstance(items, exp.Schema) else items
                for item in items if isinstance(items, list) else []:
                    column = item.this if isinstance(item, exp.Ordered) else item
                    names.add(column.name.lower())
        return names

    def column_type(self, column: exp.ColumnDef, *, temporary: bool, key: bool) -> SqlType:
        """The column's T-SQL type: its declared type and, for text, its collation (implicit) and whether it is
        a key (key text cannot end with a space on the DuckDB engine, see column_checks)."""
        kind = column.args.get("kind")
        if not isinstance(kind, exp.DataType):
            raise self.loc.error(f"computed column {column.name}")
        try:
            sql_type = map_type(kind)
        except TypeRefused as refused:
            raise self.loc.error(f"type {refused.name}", refused.hint) from None
        if sql_type.category != STRING:
            return sql_type
        collation = None
        for constraint in column.args.get("constraints") or []:
            kind_node = constraint.args.get("kind")
            if isinstance(kind_node, exp.CollateColumnConstraint):
                collation = collation_of(kind_node.this.name)
                if collation is None:
                    raise self.loc.error(f"COLLATE {kind_node.this.name}", "the database's or a _BIN2 UTF-8 one")
        if collation is None and temporary:
            # A #temp column takes tempdb's collation, not the database's ("Set or change the column
            # collation": collations and tempdb): in Azure SQL Database a non-UTF-8 one.
            raise self.loc.error(f"#temp column {column.name} without COLLATE",
                                 "it would take tempdb's collation; COLLATE DATABASE_DEFAULT or a _BIN2 one")
        return replace(sql_type, collation=collation or CI, label=IMPLICIT, trimmed=key)

    def column(
        self, column: exp.ColumnDef, table: exp.Table, *, temporary: bool = False, key: bool = False,
    ) -> tuple[exp.ColumnDef, SqlType, str | None]:
        sql_type = self.column_type(column, temporary=temporary, key=key)
        constraints: list[exp.Expr] = []
        sequence = None
        for constraint in column.args.get("constraints") or []:
            kind_node = constraint.args.get("kind")
            if isinstance(kind_node, exp.NotNullColumnConstraint):
                constraints.append(exp.ColumnConstraint(kind=exp.NotNullColumnConstraint(
                    allow_null=kind_node.args.get("allow_null"))))
            elif isinstance(kind_node, exp.PrimaryKeyColumnConstraint):
                constraints.append(exp.ColumnConstraint(kind=exp.PrimaryKeyColumnConstraint()))
            elif isinstance(kind_node, exp.UniqueColumnConstraint):
                constraints.append(exp.ColumnConstraint(kind=exp.UniqueColumnConstraint()))
            elif isinstance(kind_node, exp.CollateColumnConstraint):
                pass  # in the column's type (column_type)
            elif isinstance(kind_node, exp.DefaultColumnConstraint):
                constraints.append(exp.ColumnConstraint(kind=exp.DefaultColumnConstraint(
                    this=self.expression(kind_node.this))))
            elif isinstance(kind_node, exp.CheckColumnConstraint):
                constraints.append(exp.ColumnConstraint(kind=exp.CheckColumnConstraint(
                    this=self.expression(kind_node.this))))
            elif isinstance(kind_node, exp.GeneratedAsIdentityColumnConstraint):
                start = kind_node.args.get("start")
                increment = kind_node.args.get("increment")
                sequence_name = f"{table.name}_{column.name.lower()}_seq"
                schema = table.args["db"].copy() if table.args.get("db") else None
                options = exp.SequenceProperties(start=exp.Literal.number(start.name if start else 1),
                                                 increment=exp.Literal.number(increment.name if increment else 1))
                sequence = exp.Create(kind="SEQUENCE", this=exp.Table(this=_identifier(sequence_name), db=schema),
                                      properties=exp.Properties(expressions=[options])).sql(dialect="duckdb")
                qualified = ".".join(quote(p) for p in ([table.args["db"].name] if table.args.get("db") else [])
                                     + [sequence_name])
                constraints.append(exp.ColumnConstraint(kind=exp.DefaultColumnConstraint(
                    this=exp.Anonymous(this="nextval", expressions=[exp.Literal.string(qualified)]))))
            else:
                raise self.loc.error(f"column constraint {constraint.sql(dialect='tsql')}")
        definition = exp.ColumnDef(this=_identifier(column.name.lower()),
                                   kind=exp.DataType.build(sql_type.duckdb, dialect="duckdb"),
                                   constraints=constraints or None)
        return definition, sql_type, sequence

    def column_checks(self, columns: dict[str, SqlType], keys: set[str]) -> list[exp.Expr]:
        """DuckDB ignores VARCHAR(n): CHECKs refuse what SQL Server refuses (error 2628; bytes under the
        UTF-8 collation, UTF-16 units for NVARCHAR). Keys: SQL Server's keys ignore trailing spaces
        ('a' and 'a ' collide), DuckDB's do not, so the DuckDB engine refuses key text ending in a space."""
        checks: list[exp.Expr] = []
        for name, sql_type in columns.items():
            if sql_type.category != STRING:
                continue
            column = exp.column(name, quoted=True)
            if sql_type.length is not None:
                measure = utf16_length(column.copy()) if sql_type.national else exp.Anonymous(
                    this="strlen", expressions=[column.copy()])
                checks.append(exp.CheckColumnConstraint(this=exp.LTE(this=measure,
                                                                     expression=exp.Literal.number(sql_type.length))))
            if name in keys:
                checks.append(exp.CheckColumnConstraint(this=exp.Not(this=exp.Like(
                    this=column.copy(), expression=exp.Literal.string("% ")))))
            if name in keys and sql_type.collation == CI:
                raise self.loc.error(f"key column {name} with a case-insensitive collation",
                                     "SQL Server's key ignores case; COLLATE Latin1_General_100_BIN2_UTF8")
        return checks

    def table_constraint(self, element: exp.Expr) -> exp.Expr:
        nodes = element.expressions if isinstance(element, exp.Constraint) else [element]
        for properties in [n for n in nodes if isinstance(n, exp.Properties)]:
            self.index_options(list(properties.expressions))
        nodes = [n for n in nodes if not isinstance(n, exp.Properties)]
        primary = any(isinstance(n, (exp.PrimaryKeyColumnConstraint, exp.PrimaryKey)) for n in nodes)
        unique = any(isinstance(n, exp.UniqueColumnConstraint) for n in nodes)
        for node in nodes:
            if isinstance(node, exp.CheckColumnConstraint):
                return exp.CheckColumnConstraint(this=self.expression(node.this))
            if isinstance(node, exp.PrimaryKey):
                self.index_options(node.args.get("options") or [])
                return exp.PrimaryKey(expressions=self.key_columns(node.expressions))
            if isinstance(node, (exp.ClusteredColumnConstraint, exp.NonClusteredColumnConstraint)):
                if not (primary or unique):
                    break
                columns = self.key_columns(node.this)
                if primary:
                    return exp.PrimaryKey(expressions=columns)
                return exp.UniqueColumnConstraint(this=exp.Schema(expressions=columns))
            if isinstance(node, exp.UniqueColumnConstraint) and isinstance(node.this, exp.Schema):
                return exp.UniqueColumnConstraint(this=exp.Schema(expressions=self.key_columns(node.this.expressions)))
        raise self.loc.error(f"table constraint {element.sql(dialect='tsql')}")

    def index_options(self, options: list[exp.Expr]) -> None:
        for option in options:
            self.storage_option(option)

    def key_columns(self, items: list[exp.Expr]) -> list[exp.Expr]:
        names: list[exp.Expr] = []
        for item in items:
            column = item.this if isinstance(item, exp.Ordered) else item
            if isinstance(item, exp.Ordered) and item.args.get("desc"):
                raise self.loc.error("descending key column")
            names.append(_identifier(column.name.lower()))
        return names

    def expression(self, node: exp.Expr) -> exp.Expr:
        select = exp.select(node.copy())
        rewriter = Rewriter(self.translator, self.loc, ddl=True, columns=self.columns)
        rewriter.check(select)
        rewriter.rewrite(select)
        value: exp.Expr = select.expressions[0]
        return value

    def create_index(self, ast: exp.Create) -> Translated:
        index = ast.this
        params = index.args.get("params")
        if params is not None and (params.args.get("using") or params.args.get("partition_by")):
            raise self.loc.error("index USING/PARTITION options")
        for option in (params.args.get("with_storage") or []) if params is not None else []:
            self.storage_option(option)
        table, _ = self.table(index.args["table"])
        columns = self.key_columns(params.args.get("columns") or [])  # validates the column list
        if not ast.args.get("unique"):
            # A non-unique index (filtered or not) only speeds up SQL Server; DuckDB prunes by row-group
            # min/max and an ART index would slow every load (docs/tsql-subset.md).
            return Translated("", (), "noop", self.loc.line)
        if params is not None and params.args.get("where") is not None:
            raise self.loc.error("filtered unique index", "DuckDB has no partial unique index")
        create = exp.Create(kind="INDEX", unique=True, this=exp.Index(
            this=_identifier(index.name.lower()), table=table, params=exp.IndexParameters(columns=columns)))
        return self.ddl(create)

    def drop(self, ast: exp.Drop) -> Translated:
        kind = (ast.args.get("kind") or "").upper()
        if kind not in ("TABLE", "VIEW") or ast.args.get("cascade"):
            raise self.loc.error(f"DROP {ast.args.get('kind')}")
        tables = [self.table(t)[0] for t in ast.args.get("tables") or [ast.this]]
        statements = [exp.Drop(kind=kind, tables=[t], exists=bool(ast.args.get("exists"))).sql(dialect="duckdb")
                      for t in tables]
        return Translated("; ".join(statements), (), "ddl", self.loc.line)

    def truncate(self, ast: exp.TruncateTable) -> Translated:
        tables = [self.table(t)[0] for t in ast.expressions]
        if len(tables) != 1:
            raise self.loc.error("TRUNCATE TABLE of several tables")
        return Translated(exp.Delete(this=tables[0]).sql(dialect="duckdb"), (), "dml", self.loc.line)

    def alter(self, ast: exp.Alter) -> Translated:
        if (ast.args.get("kind") or "").upper() != "TABLE":
            raise self.loc.error(f"ALTER {ast.args.get('kind')}")
        table, temporary = self.table(ast.this)
        statements, after = [], []
        for action in ast.args.get("actions") or []:
            if not isinstance(action, exp.ColumnDef):
                raise self.loc.error("ALTER TABLE action", "only ADD column is supported")
            definition, sql_type, sequence = self.column(action, table, temporary=temporary)
            if sequence:
                raise self.loc.error("ALTER TABLE ADD of an IDENTITY column")
            if sql_type.category == STRING and sql_type.length is not None:
                # DuckDB cannot add a CHECK to an existing table: the declared length would not be enforced.
                raise self.loc.error(f"ALTER TABLE ADD of the length-limited text column {action.name}",
                                     "DuckDB cannot enforce its length on an existing table; create the column "
                                     "with the table, or use VARCHAR(MAX)")
            constraints = list(definition.args.get("constraints") or [])
            if any(isinstance(c.args.get("kind"), exp.NotNullColumnConstraint) and not c.args["kind"].args.get(
                    "allow_null") for c in constraints):
                raise self.loc.error(f"ALTER TABLE ADD of the NOT NULL column {action.name}",
                                     "DuckDB adds no constrained column; add it NULL")
            defaults = [c for c in constraints if isinstance(c.args.get("kind"), exp.DefaultColumnConstraint)]
            definition.set("constraints", [c for c in constraints if c not in defaults] or None)
            statements.append(exp.Alter(kind="TABLE", this=table.copy(), actions=[definition]).sql(dialect="duckdb"))
            for default in defaults:
                # SQL Server gives the rows already there NULL (no WITH VALUES) and new rows the default;
                # DuckDB's ADD COLUMN ... DEFAULT would fill the existing rows too.
                set_default = exp.AlterColumn(this=_identifier(action.name.lower()), default=default.args["kind"].this)
                alter = exp.Alter(kind="TABLE", this=table.copy(), actions=[set_default])
                statements.append(alter.sql(dialect="duckdb"))
            after.append(self.comment(table, action.name.lower(), sql_type))
            if temporary:
                self.translator.temp_tables.setdefault(table.name, {})[action.name.lower()] = sql_type
        return Translated("; ".join(statements), (), "ddl", self.loc.line, after=tuple(after))


__all__ += ["BIN2", "CI", "MERGE_DUPLICATE_MESSAGE"]
