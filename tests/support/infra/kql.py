"""A checker for the subset of KQL (Kusto Query Language) the alert queries in infra/alerts/ use.

No KQL parser runs here: Microsoft's is .NET (Kusto.Language) and PyPI has none, so this reads the subset
itself. It tokenizes, checks brackets, and follows the columns through the pipe: every table must be one
whose columns tests/support/infra/monitor_tables.json lists (from the Azure Monitor table reference), every operator
and function must be in the subset below, and every column a step names must exist at that step. After
`union isfuzzy=true` only the columns every leg has are guaranteed (a missing table drops out), which is
the strictest reading of the union documentation. What it accepts is a subset of KQL; what it cannot
judge (the engine's type checks, the alert engine's handling of the result) is listed in docs/azure-fidelity.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

TABLES: dict[str, dict[str, str]] = {
    name: columns
    for name, columns in json.loads(Path(__file__).with_name("monitor_tables.json").read_text(encoding="utf-8")).items()
    if not name.startswith("_")
}
TOKEN = re.compile(
    r"(?P<space>\s+|//[^\n]*)"
    r"|(?P<string>\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*')"
    r"|(?P<timespan>\d+(?:\.\d+)?(?:ms|d|h|m|s)\b)"
    r"|(?P<number>\d+(?:\.\d+)?\b)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>==|!=|<=|>=|=~|!~|[|(),=<>\[\]:+\-*/])"
)
FUNCTIONS = frozenset({"ago", "now", "count", "countif", "dcount", "max", "min", "sum", "bin", "tostring", "isempty"})
WORDS = frozenset({"and", "or", "not", "in", "has", "contains", "true", "false", "by", "asc", "desc"})
TYPES = frozenset({"string", "datetime", "bool", "int", "long", "real", "dynamic", "timespan"})


class KqlError(ValueError):
    """The query is outside the subset or refers to a table, column, operator or function that does not exist."""


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    at: int


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(query):
        match = TOKEN.match(query, position)
        if match is None:
            raise KqlError(f"unexpected character {query[position]!r} at {position}")
        if match.lastgroup != "space":
            tokens.append(Token(match.lastgroup or "", match.group(), position))
        position = match.end()
    depth = 0
    for token in tokens:
        depth += {"(": 1, ")": -1, "[": 1, "]": -1}.get(token.text, 0) if token.kind == "op" else 0
        if depth < 0:
            raise KqlError(f"unbalanced {token.text!r} at {token.at}")
    if depth:
        raise KqlError("unbalanced brackets")
    return tokens


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens, self.index = tokens, 0

    def peek(self, offset: int = 0) -> Token | None:
        at = self.index + offset
        return self.tokens[at] if at < len(self.tokens) else None

    def take(self, text: str | None = None) -> Token:
        token = self.peek()
        if token is None or (text is not None and token.text != text):
            raise KqlError(
                f"expected {text or 'more'} at {token.at if token else 'end'}, got {token.text if token else 'end'!r}"
            )
        self.index += 1
        return token

    def until(self, *stops: str) -> list[Token]:
        """Tokens up to (not including) a top-level stop token or the end."""
        taken: list[Token] = []
        depth = 0
        while (token := self.peek()) is not None:
            if depth == 0 and token.text in stops:
                break
            depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(token.text, 0) if token.kind == "op" else 0
            taken.append(self.take())
        return taken

    def query(self) -> set[str]:
        columns = self.source()
        while self.peek() is not None and self.peek().text == "|":  # type: ignore[union-attr]
            self.take("|")
            columns = self.operator(columns)
        return columns

    def source(self) -> set[str]:
        token = self.take()
        if token.text == "union":
            fuzzy = False
            if self.peek() is not None and self.peek().text == "isfuzzy":  # type: ignore[union-attr]
                self.take("isfuzzy")
                self.take("=")
                fuzzy = self.take().text == "true"
            legs = [self.leg()]
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.take(",")
                legs.append(self.leg())
            return set.intersection(*legs) if fuzzy else set.union(*legs)
        if token.text == "datatable":
            return self.datatable()
        if token.kind != "name" or token.text not in TABLES:
            raise KqlError(f"unknown table {token.text!r} (known: {', '.join(sorted(TABLES))})")
        return set(TABLES[token.text])

    def leg(self) -> set[str]:
        if self.peek() is not None and self.peek().text == "(":  # type: ignore[union-attr]
            self.take("(")
            inner = _Parser(self.until(")"))
            self.take(")")
            columns = inner.query()
            if inner.peek() is not None:
                raise KqlError(f"unexpected {inner.peek().text!r} in a union leg")  # type: ignore[union-attr]
            return columns
        return self.source()

    def datatable(self) -> set[str]:
        self.take("(")
        columns: set[str] = set()
        for part in _split(self.until(")")):
            if len(part) != 3 or part[1].text != ":" or part[2].text not in TYPES:
                raise KqlError(f"datatable column must be name: type, got {' '.join(t.text for t in part)}")
            columns.add(part[0].text)
        self.take(")")
        self.take("[")
        self.until("]")
        self.take("]")
        return columns

    def operator(self, columns: set[str]) -> set[str]:
        name = self.take().text
        body = self.until("|")
        if name == "where":
            _expression(body, columns)
            return columns
        if name in ("project", "extend"):
            produced = set(columns) if name == "extend" else set()
            for part in _split(body):
                if len(part) >= 2 and part[1].text == "=":
                    _expression(part[2:], columns)
                    produced.add(part[0].text)
                elif name == "project" and len(part) == 1:
                    _expression(part, columns)
                    produced.add(part[0].text)
                else:
                    raise KqlError(f"{name} takes column or name = expression, got {' '.join(t.text for t in part)}")
            return produced
        if name == "summarize":
            texts = [t.text for t in body]
            split = texts.index("by") if "by" in texts else len(body)
            produced = set()
            for part in _split(body[:split]):
                if len(part) >= 2 and part[1].text == "=":
                    _expression(part[2:], columns)
                    produced.add(part[0].text)
                else:
                    raise KqlError("summarize aggregates must be named (Name = aggregate(...))")
            for part in _split(body[split + 1 :]) if split < len(body) else []:
                _expression(part, columns)
                produced.add(part[0].text)
            return produced
        if name in ("take", "limit") and len(body) == 1 and body[0].kind == "number":
            return columns
        if name == "count" and not body:
            return {"Count"}
        if name in ("order", "sort") and body and body[0].text == "by":
            _expression([t for t in body[1:] if t.text not in (",",)], columns)
            return columns
        raise KqlError(f"operator {name!r} is outside the checked subset")


def _split(tokens: list[Token]) -> list[list[Token]]:
    parts: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.text == "," and depth == 0:
            parts.append([])
            continue
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(token.text, 0) if token.kind == "op" else 0
        parts[-1].append(token)
    return [p for p in parts if p]


def _expression(tokens: list[Token], columns: set[str]) -> None:
    for index, token in enumerate(tokens):
        if token.kind != "name" or token.text in WORDS:
            continue
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if following is not None and following.text == "(":
            if token.text not in FUNCTIONS:
                raise KqlError(f"function {token.text}() is outside the checked subset")
        elif token.text not in columns:
            raise KqlError(f"column {token.text!r} does not exist here (has: {', '.join(sorted(columns))})")


def check(query: str) -> set[str]:
    """The columns the query returns; KqlError when it is outside the subset or names what does not exist."""
    parser = _Parser(tokenize(query))
    columns = parser.query()
    if parser.peek() is not None:
        raise KqlError(f"unexpected {parser.peek().text!r} at {parser.peek().at}")  # type: ignore[union-attr]
    return columns


def string_literals(query: str) -> set[str]:
    """Every string literal in the query, unquoted (the pipeline and function names it filters on)."""
    return {t.text[1:-1] for t in tokenize(query) if t.kind == "string"}
