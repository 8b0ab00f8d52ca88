"""T-SQL scripts -> a tree of statements (batches, blocks, IF, TRY/CATCH, procedures).

sqlglot parses single T-SQL statements well but not T-SQL control flow (BEGIN TRY, IF ... BEGIN,
THROW, CREATE PROCEDURE bodies fall back to opaque commands), so this module splits a script into
statements itself, on sqlglot's own T-SQL tokens (which carry line numbers), and hands every plain
statement (SELECT/INSERT/UPDATE/DELETE/MERGE/DDL) to sqlglot. Plain statements end with `;` (or at
an ELSE/END that closes the enclosing block, or at the end of the batch); control-flow keywords
delimit themselves. Anything it does not know is refused with file:line (see docs/tsql-subset.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlglot
from sqlglot import Token, TokenType, exp
from sqlglot.dialects.tsql import TSQL
from sqlglot.errors import ParseError, TokenError

from company_activity_local.warehouse.engine import TranslationError


class _Tokenizer(TSQL.Tokenizer):
    # sqlglot reads everything after END up to `;` as one string (END is a "command" for it); here
    # END is an ordinary keyword so that END TRY / END CATCH / END can be followed by anything.
    COMMANDS = TSQL.Tokenizer.COMMANDS - {TokenType.END}


_GO_LINE = re.compile(r"^[ \t]*GO[ \t]*(?:--[^\n]*)?$", re.IGNORECASE | re.MULTILINE)
_LITERAL_TOKENS = {
    TokenType.STRING,
    TokenType.NATIONAL_STRING,
    TokenType.IDENTIFIER,
    TokenType.NUMBER,
}
# Words that start a statement: an IF condition ends before the first of them at nesting depth 0.
_STATEMENT_START = {
    "BEGIN", "THROW", "SET", "RETURN", "INSERT", "UPDATE", "DELETE", "MERGE", "SELECT", "WITH",
    "EXEC", "EXECUTE", "DECLARE", "ROLLBACK", "COMMIT", "CREATE", "DROP", "TRUNCATE", "ALTER",
    "PRINT", "RAISERROR", "WHILE", "IF", "GOTO", "BREAK", "CONTINUE", "SAVE", "WAITFOR", "OPEN",
    "FETCH", "CLOSE", "DEALLOCATE", "USE", "GRANT", "DENY", "REVOKE",
}  # fmt: skip
# Statements refused outright, with the name used in the error.
_REFUSED_STATEMENTS = {
    "WHILE": "WHILE loop",
    "GOTO": "GOTO",
    "BREAK": "BREAK",
    "CONTINUE": "CONTINUE",
    "PRINT": "PRINT",
    "RAISERROR": "RAISERROR (use THROW)",
    "SAVE": "SAVE TRANSACTION",
    "WAITFOR": "WAITFOR",
    "OPEN": "cursor OPEN",
    "FETCH": "cursor FETCH",
    "CLOSE": "cursor CLOSE",
    "DEALLOCATE": "cursor DEALLOCATE",
    "USE": "USE database",
    "DENY": "DENY",
    "REVOKE": "REVOKE",
}
_SESSION_OPTIONS = {"NOCOUNT", "XACT_ABORT"}
# Objects with bodies of their own (the statement splitter would cut them at their first `;`).
# A plain CREATE VIEW (one SELECT, no `;` inside) is accepted as the only statement of its batch.
_CREATE_REFUSED = {"FUNCTION", "TRIGGER", "VIEW", "TYPE", "SYNONYM", "SEQUENCE", "ASSEMBLY", "RULE", "DEFAULT"}


@dataclass(frozen=True)
class Location:
    file: str
    line: int

    def error(self, construct: str, detail: str = "") -> TranslationError:
        return TranslationError(self.file, self.line, construct, detail)


@dataclass
class SqlStatement:
    """A plain statement handed to sqlglot (DML, query, DDL)."""

    loc: Location
    text: str
    ast: exp.Expr

    @property
    def is_create_view(self) -> bool:
        return isinstance(self.ast, exp.Create) and (self.ast.args.get("kind") or "").upper() == "VIEW"


@dataclass
class Declare:
    loc: Location
    items: list[tuple[str, exp.DataType, exp.Expr | None]]


@dataclass
class SetVariable:
    loc: Location
    name: str
    value: exp.Expr


@dataclass
class SetOption:
    loc: Location
    option: str  # NOCOUNT | XACT_ABORT
    on: bool


@dataclass
class If:
    loc: Location
    condition: exp.Expr
    then: Statement
    otherwise: Statement | None


@dataclass
class Block:
    loc: Location
    body: list[Statement]


@dataclass
class TryCatch:
    loc: Location
    try_body: list[Statement]
    catch_body: list[Statement]


@dataclass
class Throw:
    """THROW; (re-raise, only inside CATCH) or THROW number, message, state;"""

    loc: Location
    number: exp.Expr | None
    message: exp.Expr | None
    state: exp.Expr | None


@dataclass
class Transaction:
    loc: Location
    action: str  # begin | commit | rollback


@dataclass
class Execute:
    """EXEC [@result =] schema.procedure @name = value, ..."""

    loc: Location
    procedure: str
    arguments: list[tuple[str, exp.Expr]]
    result_variable: str | None


@dataclass
class ExecuteLiteral:
    """EXEC (N'...'): a constant batch (not dynamic SQL), parsed like any other."""

    loc: Location
    body: list[Statement]


@dataclass
class Return:
    loc: Location
    value: exp.Expr | None


@dataclass
class Parameter:
    name: str
    data_type: exp.DataType
    default: exp.Expr | None


@dataclass
class CreateProcedure:
    loc: Location
    name: str  # schema.name, lower case
    parameters: list[Parameter]
    body: list[Statement]
    source: str = field(repr=False)  # the whole batch, as SQL Server keeps it in sys.sql_modules
    or_alter: bool = False


Statement = (
    SqlStatement
    | Declare
    | SetVariable
    | SetOption
    | If
    | Block
    | TryCatch
    | Throw
    | Transaction
    | Execute
    | ExecuteLiteral
    | Return
    | CreateProcedure
)


@dataclass(frozen=True)
class Batch:
    """Text between GO separators."""

    text: str
    first_line: int
    statements: list[Statement]


def split_batches(text: str) -> list[tuple[str, int]]:
    """(batch text, 1-based line of its first line) for the text between `GO` lines."""
    batches: list[tuple[str, int]] = []
    start, line = 0, 1
    for match in _GO_LINE.finditer(text):
        batches.append((text[start : match.start()], line))
        line += text.count("\n", start, match.end()) + 1
        start = match.end() + 1
    batches.append((text[start:], line))
    return [(body, first) for body, first in batches if body.strip()]


def parse_script(text: str, file: str = "<batch>") -> list[Batch]:
    """Every batch of a script, parsed into statements; raises TranslationError with file:line."""
    return [
        Batch(body, first_line, _Parser(body, file, first_line).parse_batch())
        for body, first_line in split_batches(text)
    ]


def parse_expression(text: str, loc: Location) -> exp.Expr:
    try:
        expressions = sqlglot.parse(f"SELECT {text}", read="tsql")
    except (ParseError, TokenError) as error:
        raise loc.error("unparsable expression", _first_line(str(error))) from error
    if len(expressions) != 1 or not isinstance(expressions[0], exp.Select) or len(expressions[0].expressions) != 1:
        raise loc.error("unparsable expression", text.strip()[:80])
    expression: exp.Expr = expressions[0].expressions[0]
    return expression


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else message


def _keyword(token: Token) -> str | None:
    if token.token_type in _LITERAL_TOKENS:
        return None
    return token.text.upper()


class _Parser:
    def __init__(self, text: str, file: str, first_line: int) -> None:
        self.text = text
        self.file = file
        self.line_offset = first_line - 1
        try:
            self.tokens: list[Token] = _Tokenizer().tokenize(text)
        except TokenError as error:
            raise TranslationError(file, first_line, "unparsable text", _first_line(str(error))) from error
        for token in self.tokens:
            # sqlglot reads REAL as FLOAT; T-SQL's REAL is 32-bit, so it is refused before that happens.
            if token.token_type not in _LITERAL_TOKENS and token.text.upper() == "REAL":
                raise TranslationError(file, self.line_offset + token.line, "type REAL", "use FLOAT (64-bit)")
        self.pos = 0

    # -- token helpers -------------------------------------------------------------------------
    def loc(self, index: int | None = None) -> Location:
        tokens = self.tokens
        if not tokens:
            return Location(self.file, self.line_offset + 1)
        token = tokens[min(self.pos if index is None else index, len(tokens) - 1)]
        return Location(self.file, self.line_offset + token.line)

    def peek(self, offset: int = 0) -> Token | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def peek_keyword(self, offset: int = 0) -> str | None:
        token = self.peek(offset)
        return _keyword(token) if token else None

    def peek_type(self, offset: int = 0) -> TokenType | None:
        token = self.peek(offset)
        return token.token_type if token else None

    def take(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expect(self, *words: str) -> Token:
        token = self.peek()
        if token is None or _keyword(token) not in words:
            found = token.text if token else "end of batch"
            raise self.loc().error(f"'{found}'", f"expected {' or '.join(words)}")
        return self.take()

    def skip_semicolons(self) -> None:
        while self.peek_type() == TokenType.SEMICOLON:
            self.pos += 1

    def source(self, start: int, end: int) -> str:
        """Source text of tokens[start:end]."""
        if end <= start:
            return ""
        return self.text[self.tokens[start].start : self.tokens[end - 1].end + 1]

    def scan_statement_end(self, stop_at_statement_start: bool = False) -> int:
        """Index of the token ending the statement starting at self.pos (exclusive).

        A statement ends at `;` at depth 0, at an ELSE or an unmatched END at depth 0, at the end
        of the batch, or (IF conditions) before a statement keyword at depth 0.
        """
        depth = cases = 0
        index = self.pos
        while index < len(self.tokens):
            token = self.tokens[index]
            word = _keyword(token)
            if token.token_type == TokenType.L_PAREN:
                depth += 1
            elif token.token_type == TokenType.R_PAREN:
                depth -= 1
            elif depth == 0:
                if token.token_type == TokenType.SEMICOLON:
                    return index
                if word == "CASE":
                    cases += 1
                elif word == "END":
                    if cases == 0:
                        return index
                    cases -= 1
                elif (cases == 0 and word == "ELSE") or (
                    cases == 0 and stop_at_statement_start and word in _STATEMENT_START and index > self.pos
                ):
                    return index
            index += 1
        return index

    def end_statement(self) -> None:
        token = self.peek()
        if token is not None and token.token_type == TokenType.SEMICOLON:
            self.pos += 1

    # -- statements ----------------------------------------------------------------------------
    def parse_batch(self) -> list[Statement]:
        statements: list[Statement] = []
        self.skip_semicolons()
        if self.peek_keyword() == "CREATE" and self._is_create_procedure():
            statements.append(self.parse_create_procedure())
            self.skip_semicolons()
            if self.peek() is not None:
                raise self.loc().error("statements after CREATE PROCEDURE", "a procedure is its whole batch")
            return statements
        while self.peek() is not None:
            if self.peek_keyword() == "CREATE" and self.peek_keyword(1) == "VIEW" and statements:
                # SQL Server error 111: 'CREATE VIEW' must be the first statement in a query batch.
                raise self.loc().error("CREATE VIEW", "must be the only statement of its batch (separate with GO)")
            statements.append(self.parse_statement())
            self.skip_semicolons()
            if isinstance(statements[0], SqlStatement) and statements[0].is_create_view and self.peek() is not None:
                raise self.loc().error("statements after CREATE VIEW", "a view is its whole batch (separate with GO)")
        return statements

    def parse_block_until(self, *closers: str) -> list[Statement]:
        """Statements up to END [closer] (consumed)."""
        body: list[Statement] = []
        start = self.loc()
        while True:
            self.skip_semicolons()
            token = self.peek()
            if token is None:
                raise start.error("BEGIN without END")
            if _keyword(token) == "END":
                following = self.peek_keyword(1)
                if closers and following in closers:
                    self.pos += 2
                    return body
                if not closers and following not in ("TRY", "CATCH"):
                    self.pos += 1
                    return body
                raise self.loc().error(f"END {following or ''}".strip(), "does not close the open block")
            body.append(self.parse_statement())

    def parse_statement(self) -> Statement:
        token = self.peek()
        assert token is not None
        word = _keyword(token)
        loc = self.loc()
        if word == "BEGIN":
            return self.parse_begin()
        if word == "IF":
            return self.parse_if()
        if word == "DECLARE":
            return self.parse_declare()
        if word == "SET":
            return self.parse_set()
        if word == "THROW":
            return self.parse_throw()
        if word in ("COMMIT", "ROLLBACK"):
            self.take()
            if self.peek_keyword() in ("TRAN", "TRANSACTION", "WORK"):
                self.take()
            if self.peek_type() not in (None, TokenType.SEMICOLON) and self.peek_keyword() not in ("END", "ELSE"):
                raise self.loc().error(f"{word} TRANSACTION with a name or savepoint")
            self.end_statement()
            return Transaction(loc, word.lower())
        if word in ("EXEC", "EXECUTE"):
            return self.parse_execute()
        if word == "RETURN":
            self.take()
            end = self.scan_statement_end()
            value = parse_expression(self.source(self.pos, end), loc) if end > self.pos else None
            self.pos = end
            self.end_statement()
            return Return(loc, value)
        if word == "CREATE" and self._is_create_procedure():
            raise loc.error("CREATE PROCEDURE", "must be the first statement of its batch (separate with GO)")
        if word in ("CREATE", "ALTER"):
            kind = self.peek_keyword(3) if self.peek_keyword(1) == "OR" else self.peek_keyword(1)
            plain_view = word == "CREATE" and self.peek_keyword(1) == "VIEW"
            if kind in _CREATE_REFUSED and not plain_view:
                raise loc.error(f"{word} {kind}")
        if word == "GRANT" or (word == "CREATE" and self.peek_keyword(1) == "ROLE") or (
            word == "CREATE" and self.peek_keyword(1) == "SCHEMA" and self.peek_keyword(3) == "AUTHORIZATION"
        ) or (word == "ALTER" and self.peek_keyword(1) == "AUTHORIZATION"):
            return self.parse_security_statement()
        if word in _REFUSED_STATEMENTS:
            raise loc.error(_REFUSED_STATEMENTS[word])
        following = self.peek(1)
        if following is not None and following.token_type == TokenType.COLON:
            raise loc.error("label (GOTO target)")
        return self.parse_sql_statement()

    def _is_create_procedure(self) -> bool:
        words = [self.peek_keyword(i) for i in range(4)]
        return words[1] in ("PROCEDURE", "PROC") or (
            words[1] == "OR" and words[2] == "ALTER" and words[3] in ("PROCEDURE", "PROC")
        )

    def parse_begin(self) -> Statement:
        loc = self.loc()
        self.take()
        following = self.peek_keyword()
        if following == "TRY":
            self.take()
            try_body = self.parse_block_until("TRY")
            self.skip_semicolons()
            if self.peek_keyword() != "BEGIN" or self.peek_keyword(1) != "CATCH":
                raise self.loc().error("BEGIN TRY without BEGIN CATCH")
            self.pos += 2
            catch_body = self.parse_block_until("CATCH")
            self.end_statement()
            return TryCatch(loc, try_body, catch_body)
        if following in ("TRAN", "TRANSACTION"):
            self.take()
            following_word = self.peek_keyword()
            if self.peek_type() not in (None, TokenType.SEMICOLON) and following_word not in _STATEMENT_START | {"END"}:
                raise self.loc().error("named transaction")
            self.end_statement()
            return Transaction(loc, "begin")
        if following in ("DISTRIBUTED", "CATCH", "ATOMIC", "DIALOG", "CONVERSATION"):
            raise loc.error(f"BEGIN {following}")
        body = self.parse_block_until()
        self.end_statement()
        return Block(loc, body)

    def parse_if(self) -> If:
        loc = self.loc()
        self.take()
        end = self.scan_statement_end(stop_at_statement_start=True)
        if end >= len(self.tokens) or self.tokens[end].token_type == TokenType.SEMICOLON:
            raise loc.error("IF without a statement")
        condition = parse_expression(self.source(self.pos, end), loc)
        self.pos = end
        then = self.parse_statement()
        otherwise = None
        self.skip_semicolons()
        if self.peek_keyword() == "ELSE":
            self.take()
            otherwise = self.parse_statement()
        return If(loc, condition, then, otherwise)

    def parse_declare(self) -> Declare:
        loc = self.loc()
        if self.peek_type(1) != TokenType.PARAMETER:
            raise loc.error("DECLARE of a cursor")
        if self.peek_keyword(3) == "TABLE" or (self.peek_keyword(3) == "AS" and self.peek_keyword(4) == "TABLE"):
            raise loc.error("table variable (DECLARE @t TABLE)", "use a #temp table")
        end = self.scan_statement_end()
        text = self.source(self.pos, end)
        self.pos = end
        self.end_statement()
        try:
            parsed = sqlglot.parse_one(text, read="tsql")
        except (ParseError, TokenError) as error:
            raise loc.error("DECLARE", _first_line(str(error))) from error
        if not isinstance(parsed, exp.Declare):
            raise loc.error("DECLARE", "only DECLARE @name type [= value], ... is supported")
        items: list[tuple[str, exp.DataType, exp.Expr | None]] = []
        for item in parsed.expressions:
            names = item.this if isinstance(item.this, list) else [item.this]
            kind = item.args.get("kind")
            if len(names) != 1 or not isinstance(names[0], exp.Parameter) or not isinstance(kind, exp.DataType):
                raise loc.error("DECLARE of a cursor or table variable")
            default = item.args.get("default")
            items.append((_variable_name(names[0]), kind, default or None))
        return Declare(loc, items)

    def parse_set(self) -> Statement:
        loc = self.loc()
        self.take()
        token = self.peek()
        if token is None:
            raise loc.error("SET")
        if token.token_type == TokenType.PARAMETER:
            self.take()
            name_token = self.take()
            if self.peek_type() != TokenType.EQ:
                raise loc.error("compound assignment (SET @v += ...)")
            self.take()
            end = self.scan_statement_end()
            value = parse_expression(self.source(self.pos, end), loc)
            self.pos = end
            self.end_statement()
            return SetVariable(loc, name_token.text.lower(), value)
        option = _keyword(token) or ""
        self.take()
        state = self.peek_keyword()
        if option in _SESSION_OPTIONS and state in ("ON", "OFF"):
            self.take()
            self.end_statement()
            return SetOption(loc, option, state == "ON")
        raise loc.error(f"SET {option}")

    def parse_throw(self) -> Throw:
        loc = self.loc()
        self.take()
        end = self.scan_statement_end()
        text = self.source(self.pos, end)
        self.pos = end
        self.end_statement()
        if not text.strip():
            return Throw(loc, None, None, None)
        try:
            parsed = sqlglot.parse_one(f"SELECT {text}", read="tsql")
        except (ParseError, TokenError) as error:
            raise loc.error("THROW", _first_line(str(error))) from error
        arguments = parsed.expressions if isinstance(parsed, exp.Select) else []
        if len(arguments) != 3:
            raise loc.error("THROW", "expects THROW; or THROW number, message, state;")
        return Throw(loc, *arguments)

    def parse_execute(self) -> Statement:
        loc = self.loc()
        self.take()
        token = self.peek()
        if token is not None and token.token_type == TokenType.L_PAREN:
            end = self.scan_statement_end()
            inner = self.tokens[self.pos + 1 : end - 1]
            if (
                end - self.pos != 3
                or self.tokens[end - 1].token_type != TokenType.R_PAREN
                or inner[0].token_type not in (TokenType.STRING, TokenType.NATIONAL_STRING)
            ):
                raise loc.error("dynamic SQL (EXEC of an expression)")
            literal = inner[0]
            self.pos = end
            self.end_statement()
            body = _Parser(literal.text, self.file, loc.line).parse_batch()
            return ExecuteLiteral(loc, body)
        result_variable = None
        if token is not None and token.token_type == TokenType.PARAMETER:
            self.take()
            result_variable = self.take().text.lower()
            if self.peek_type() != TokenType.EQ:
                raise loc.error("dynamic SQL (EXEC @variable)")
            self.take()
        end = self.scan_statement_end()
        name_end = self.pos
        while name_end < end and self.tokens[name_end].token_type in (
            TokenType.VAR,
            TokenType.DOT,
            TokenType.IDENTIFIER,
        ):
            name_end += 1
        name = "".join(t.text for t in self.tokens[self.pos : name_end]).lower()
        if not name:
            raise loc.error("EXEC", "expects a procedure name")
        if name in ("sp_executesql", "sys.sp_executesql"):
            raise loc.error("dynamic SQL (sp_executesql)")
        arguments = []
        args_text = self.source(name_end, end)
        if args_text.strip():
            for part in _split_top_level_commas(self.tokens[name_end:end]):
                if len(part) < 3 or part[0].token_type != TokenType.PARAMETER or part[2].token_type != TokenType.EQ:
                    raise loc.error("EXEC with positional arguments", "use @name = value")
                value_text = self.text[part[3].start : part[-1].end + 1] if len(part) > 3 else ""
                if any(_keyword(t) in ("OUTPUT", "OUT") for t in part[3:]):
                    raise loc.error("OUTPUT parameter")
                arguments.append((part[1].text.lower(), parse_expression(value_text, loc)))
        self.pos = end
        self.end_statement()
        return Execute(loc, name, arguments, result_variable)

    def parse_create_procedure(self) -> CreateProcedure:
        loc = self.loc()
        or_alter = self.peek_keyword(1) == "OR"
        while self.peek_keyword() not in ("PROCEDURE", "PROC"):
            self.take()
        self.take()
        name_start = self.pos
        while self.peek_type() in (TokenType.VAR, TokenType.DOT, TokenType.IDENTIFIER):
            self.take()
        name = "".join(t.text for t in self.tokens[name_start : self.pos]).lower()
        if "." not in name:
            name = f"dbo.{name}"
        as_index = self.pos
        depth = 0
        while as_index < len(self.tokens):
            token = self.tokens[as_index]
            if token.token_type == TokenType.L_PAREN:
                depth += 1
            elif token.token_type == TokenType.R_PAREN:
                depth -= 1
            elif depth == 0 and _keyword(token) == "AS":
                break
            elif depth == 0 and _keyword(token) == "WITH":
                raise self.loc(as_index).error("CREATE PROCEDURE ... WITH options")
            as_index += 1
        if as_index >= len(self.tokens):
            raise loc.error("CREATE PROCEDURE without AS")
        header = self.tokens[self.pos : as_index]
        if header and header[0].token_type == TokenType.L_PAREN and header[-1].token_type == TokenType.R_PAREN:
            header = header[1:-1]
        parameters = [self._parameter(part, loc) for part in _split_top_level_commas(header)] if header else []
        self.pos = as_index + 1
        body: list[Statement] = []
        while True:
            self.skip_semicolons()
            if self.peek() is None:
                break
            body.append(self.parse_statement())
        return CreateProcedure(loc, name, parameters, body, self.text, or_alter)

    def _parameter(self, tokens: list[Token], loc: Location) -> Parameter:
        if len(tokens) < 3 or tokens[0].token_type != TokenType.PARAMETER:
            raise loc.error("procedure parameter", "expects @name type [= default]")
        name = tokens[1].text.lower()
        rest = tokens[2:]
        if any(_keyword(t) in ("OUTPUT", "OUT", "READONLY") for t in rest):
            raise Location(self.file, self.line_offset + tokens[0].line).error("OUTPUT/READONLY parameter")
        eq = next((i for i, t in enumerate(rest) if t.token_type == TokenType.EQ), None)
        type_tokens = rest if eq is None else rest[:eq]
        type_text = self.text[type_tokens[0].start : type_tokens[-1].end + 1]
        param_loc = Location(self.file, self.line_offset + tokens[0].line)
        try:
            data_type = exp.DataType.build(type_text, dialect="tsql")
        except (ParseError, TokenError, ValueError) as error:
            raise param_loc.error(f"parameter type {type_text}") from error
        default = None
        if eq is not None:
            default_tokens = rest[eq + 1 :]
            if not default_tokens:
                raise param_loc.error("parameter default", "missing value")
            default = parse_expression(self.text[default_tokens[0].start : default_tokens[-1].end + 1], param_loc)
        return Parameter(name, data_type, default)

    def parse_security_statement(self) -> SqlStatement:
        """CREATE ROLE, GRANT, CREATE SCHEMA ... AUTHORIZATION: sqlglot has no tree for them (only an
        opaque command, with a logged warning); the translator checks their text against a strict grammar."""
        loc = self.loc()
        end = self.scan_statement_end()
        text = self.source(self.pos, end)
        self.pos = end
        self.end_statement()
        word, _, rest = text.partition(" ")
        return SqlStatement(loc, text, exp.Command(this=word.upper(), expression=exp.Literal.string(rest.strip())))

    def parse_sql_statement(self) -> SqlStatement:
        loc = self.loc()
        end = self.scan_statement_end()
        text = self.source(self.pos, end)
        self.pos = end
        self.end_statement()
        try:
            parsed = sqlglot.parse(text, read="tsql")
        except (ParseError, TokenError) as error:
            errors = getattr(error, "errors", None) or []
            line = loc.line + (errors[0].get("line", 1) - 1 if errors else 0)
            description = errors[0].get("description", "") if errors else _first_line(str(error))
            raise TranslationError(loc.file, line, "unparsable statement", description) from error
        statements = [p for p in parsed if p is not None]
        if len(statements) != 1:
            raise loc.error("several statements without ';' between them")
        return SqlStatement(loc, text, statements[0])


def _split_top_level_commas(tokens: list[Token]) -> list[list[Token]]:
    parts: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.token_type == TokenType.L_PAREN:
            depth += 1
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
        if token.token_type == TokenType.COMMA and depth == 0:
            parts.append([])
        else:
            parts[-1].append(token)
    return [part for part in parts if part]


def _variable_name(parameter: exp.Parameter) -> str:
    inner = parameter.this
    return (inner.name if isinstance(inner, exp.Expression) else str(inner)).lower()
