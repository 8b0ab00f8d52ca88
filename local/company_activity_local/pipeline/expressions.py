"""The ADF expression language subset the factory's JSON uses: a parser and an evaluator.

JSON string values are literals unless they start with `@` (an expression, typed result), contain
`@{...}` (string interpolation, string result) or start with `@@` (escape: a literal starting with
`@`). `{"value": "...", "type": "Expression"}` objects hold the same kind of string.

Grammar (whitespace allowed between tokens):
    expr     := primary accessor*
    primary  := 'string' | number | true | false | null | [expr, ...] | name '(' [expr (',' expr)*] ')'
    accessor := ['?'] '.' name | ['?'] '[' expr ']'

Semantics chosen where ADF's documentation is silent, always the stricter reading (JSON that works
here works in ADF):
- function names and property names are case-insensitive (exact match first);
- a missing property, an index out of range or access on null is an error; `?` makes that one step
  yield null instead;
- every argument is evaluated before the call, including both branches of `if` and every operand of
  `and`/`or`;
- timestamps are parsed as UTC (a value without a zone is taken as UTC) and formatted with a subset of
  .NET date format strings; the default format is "o" (yyyy-MM-ddTHH:mm:ss.fffffffK);
- interpolation writes null as '', booleans as True/False (.NET), objects and arrays as compact JSON.

Written here rather than taken from a library: the only maintained Python implementation
(data-factory-testing-framework) evaluates through a .NET runtime loaded with pythonnet, which neither
the Functions app nor this repo's test machines carry; the language itself is small.
"""

from __future__ import annotations

import json
import math
import re
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from company_activity.errors import InputError

__all__ = [
    "EvalContext",
    "ExpressionError",
    "Node",
    "evaluate",
    "evaluate_string",
    "find_expressions",
    "is_expression",
    "parse",
    "referenced_activities",
    "referenced_parameters",
    "to_text",
]


class ExpressionError(InputError):
    """An expression that cannot be parsed or evaluated; names the expression, position and function."""

    def __init__(self, message: str, expression: str | None = None, position: int | None = None,
                 function: str | None = None) -> None:
        self.message = message
        self.expression = expression
        self.position = position
        self.function = function
        where = ""
        if expression is not None:
            where = f" in expression {expression!r}"
            if position is not None:
                where += f" at position {position}"
        super().__init__(message + where)


# ----------------------------------------------------------------------------------------- AST


@dataclass(frozen=True)
class Node:
    pos: int


@dataclass(frozen=True)
class Literal(Node):
    value: Any


@dataclass(frozen=True)
class ArrayLiteral(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Call(Node):
    name: str  # as written
    args: tuple[Node, ...]

    @property
    def key(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Access(Node):
    target: Node
    key: Node  # Literal(str) for `.name`
    safe: bool


@dataclass(frozen=True)
class Template(Node):
    """A string with `@{...}` interpolations; parts are literal strings or expression nodes."""

    parts: tuple[str | Node, ...]


@dataclass(frozen=True)
class Expression(Node):
    """A whole-value expression (`@...`): evaluates to a typed value."""

    body: Node


# --------------------------------------------------------------------------------------- parser

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PROPERTY = re.compile(r"[A-Za-z0-9_$]+")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")


class _Parser:
    def __init__(self, text: str, offset: int, source: str) -> None:
        self.text = text
        self.i = 0
        self.offset = offset  # position of text[0] inside the source string, for messages
        self.source = source

    def error(self, message: str, at: int | None = None, function: str | None = None) -> ExpressionError:
        return ExpressionError(message, self.source, self.offset + (self.i if at is None else at), function)

    def skip_ws(self) -> None:
        while self.i < len(self.text) and self.text[self.i].isspace():
            self.i += 1

    def peek(self) -> str:
        self.skip_ws()
        return self.text[self.i] if self.i < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            found = repr(self.text[self.i]) if self.i < len(self.text) else "end of expression"
            raise self.error(f"expected {char!r}, found {found}")
        self.i += 1

    def parse_all(self) -> Node:
        node = self.parse_expr()
        if self.peek():
            raise self.error(f"unexpected {self.text[self.i]!r} after the end of the expression")
        return node

    def parse_expr(self) -> Node:
        node = self.parse_primary()
        while True:
            start = self.i
            char = self.peek()
            safe = False
            if char == "?":
                safe = True
                self.i += 1
                char = self.peek()
                if char not in (".", "["):
                    raise self.error("expected '.' or '[' after '?'")
            if char == ".":
                self.i += 1
                match = _PROPERTY.match(self.text, self.i)
                if not match:
                    raise self.error("expected a property name after '.'")
                node = Access(self.offset + start, node, Literal(self.offset + self.i, match.group()), safe)
                self.i = match.end()
            elif char == "[":
                self.i += 1
                key = self.parse_expr()
                self.expect("]")
                node = Access(self.offset + start, node, key, safe)
            else:
                return node

    def parse_primary(self) -> Node:
        char = self.peek()
        start = self.i
        pos = self.offset + start
        if not char:
            raise self.error("expected a value, found end of expression")
        if char == "'":
            return Literal(pos, self.parse_string())
        if char == "[":
            self.i += 1
            items: list[Node] = []
            if self.peek() != "]":
                items.append(self.parse_expr())
                while self.peek() == ",":
                    self.i += 1
                    items.append(self.parse_expr())
            self.expect("]")
            return ArrayLiteral(pos, tuple(items))
        number = _NUMBER.match(self.text, self.i)
        if number:
            self.i = number.end()
            text = number.group()
            return Literal(pos, float(text) if number.group(1) or number.group(2) else int(text))
        name = _NAME.match(self.text, self.i)
        if not name:
            raise self.error(f"unexpected {char!r}")
        self.i = name.end()
        word = name.group()
        if self.peek() != "(":
            if word.lower() in ("true", "false"):
                return Literal(pos, word.lower() == "true")
            if word.lower() == "null":
                return Literal(pos, None)
            raise self.error(f"{word!r} is not a function call (expected '(' after it)", at=start)
        self.i += 1
        args: list[Node] = []
        if self.peek() != ")":
            args.append(self.parse_expr())
            while self.peek() == ",":
                self.i += 1
                args.append(self.parse_expr())
        self.expect(")")
        spec = FUNCTIONS.get(word.lower())
        if spec is None:
            raise self.error(f"unsupported function {word!r}", at=start, function=word)
        if not spec.min_args <= len(args) <= spec.max_args:
            expected = str(spec.min_args) if spec.min_args == spec.max_args else (
                f"{spec.min_args} or more" if spec.max_args == _MANY else f"{spec.min_args} to {spec.max_args}")
            raise self.error(f"function {word!r} takes {expected} arguments, got {len(args)}", at=start, function=word)
        return Call(pos, word, tuple(args))

    def parse_string(self) -> str:
        start = self.i
        self.i += 1  # opening quote
        out: list[str] = []
        while self.i < len(self.text):
            char = self.text[self.i]
            if char == "'":
                if self.text[self.i + 1:self.i + 2] == "'":
                    out.append("'")
                    self.i += 2
                    continue
                self.i += 1
                return "".join(out)
            out.append(char)
            self.i += 1
        raise self.error("unterminated string literal", at=start)


def _find_interpolation_end(text: str, start: int) -> int:
    """Index of the `}` closing the interpolation whose body starts at `start` (quotes respected)."""
    i, depth, in_string = start, 0, False
    while i < len(text):
        char = text[i]
        if in_string:
            if char == "'":
                if text[i + 1:i + 2] == "'":
                    i += 1
                else:
                    in_string = False
        elif char == "'":
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise ExpressionError("unterminated '@{' interpolation", text, start - 2)


def parse(text: str) -> Node:
    """Parse one JSON string value as ADF reads it: Expression, Template or a plain Literal."""
    if not isinstance(text, str):
        raise ExpressionError(f"expected a string, got {type(text).__name__}")
    if text.startswith("@@"):
        return Literal(0, text[1:])
    if text.startswith("@") and not text.startswith("@{"):
        return Expression(0, _Parser(text[1:], 1, text).parse_all())
    if "@{" not in text:
        return Literal(0, text)
    parts: list[str | Node] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("@@{", i):
            literal.append("@{")
            i += 3
        elif text.startswith("@{", i):
            end = _find_interpolation_end(text, i + 2)
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(_Parser(text[i + 2:end], i + 2, text).parse_all())
            i = end + 1
        else:
            literal.append(text[i])
            i += 1
    if literal:
        parts.append("".join(literal))
    return Template(0, tuple(parts))


def is_expression(value: Any) -> bool:
    """True when a JSON value is evaluated by ADF (an expression object or an `@` string)."""
    if _is_expression_object(value):
        return True
    return isinstance(value, str) and not isinstance(parse(value), Literal)


def _is_expression_object(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "Expression" and set(value) == {"type", "value"}


# ------------------------------------------------------------------------------------ context


@dataclass
class EvalContext:
    """Everything an expression can see during one pipeline run (or one trigger firing)."""

    pipeline_name: str
    run_id: str
    parameters: dict[str, Any]
    trigger: dict[str, Any]
    activities: dict[str, dict[str, Any]]  # name -> {"status", "output", "error": {"message", "errorCode"}}
    dataset_parameters: dict[str, Any] | None = None
    item: Any = None
    now: datetime | None = None  # frozen clock for utcNow(); None = the real clock
    factory_name: str = "company-activity-local"
    global_parameters: dict[str, Any] = field(default_factory=dict)
    linked_service_parameters: dict[str, Any] | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    trigger_time: datetime | None = None  # pipeline().TriggerTime; defaults to `now`

    def pipeline_object(self) -> dict[str, Any]:
        trigger_name = self.trigger.get("name", "Manual") if self.trigger else "Manual"
        trigger_type = self.trigger.get("type", "Manual") if self.trigger else "Manual"
        when = self.trigger_time or self.now or datetime.now(UTC)
        return {
            "DataFactory": self.factory_name,
            "Pipeline": self.pipeline_name,
            "RunId": self.run_id,
            "GroupId": self.run_id,
            "TriggerId": self.trigger.get("id", self.run_id) if self.trigger else self.run_id,
            "TriggerName": trigger_name,
            "TriggerType": trigger_type,
            "TriggerTime": format_timestamp(when, "o"),
            "parameters": self.parameters,
            "globalParameters": self.global_parameters,
        }


# ----------------------------------------------------------------------------------- evaluator


def evaluate(value: Any, ctx: EvalContext) -> Any:
    """Resolve any JSON value: expressions, interpolations and Expression objects, recursively."""
    if _is_expression_object(value):
        inner = value["value"]
        if not isinstance(inner, str):
            raise ExpressionError(f"an Expression object's value must be a string, got {inner!r}")
        return evaluate_string(inner, ctx)
    if isinstance(value, str):
        return evaluate_string(value, ctx)
    if isinstance(value, dict):
        return {key: evaluate(item, ctx) for key, item in value.items()}
    if isinstance(value, list):
        return [evaluate(item, ctx) for item in value]
    return value


def evaluate_string(text: str, ctx: EvalContext) -> Any:
    node = parse(text)
    if isinstance(node, Literal):
        return node.value
    return _Evaluator(text, ctx).run(node)


class _Evaluator:
    def __init__(self, source: str, ctx: EvalContext) -> None:
        self.source = source
        self.ctx = ctx

    def error(self, message: str, node: Node, function: str | None = None) -> ExpressionError:
        return ExpressionError(message, self.source, node.pos, function)

    def run(self, node: Node) -> Any:
        if isinstance(node, Template):
            return "".join(part if isinstance(part, str) else to_text(self.eval(part)) for part in node.parts)
        if isinstance(node, Expression):
            return self.eval(node.body)
        return self.eval(node)

    def eval(self, node: Node) -> Any:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, ArrayLiteral):
            return [self.eval(item) for item in node.items]
        if isinstance(node, Access):
            return self.access(node)
        if isinstance(node, Call):
            spec = FUNCTIONS[node.key]
            args = [self.eval(arg) for arg in node.args]
            try:
                return spec.impl(self.ctx, *args)
            except ExpressionError as exc:
                if exc.expression is None:
                    raise self.error(exc.message, node, node.name) from None
                raise
            except (TypeError, ValueError, ArithmeticError, OverflowError) as exc:
                raise self.error(f"function {node.name!r} failed: {exc}", node, node.name) from None
        raise self.error(f"cannot evaluate {type(node).__name__}", node)

    def access(self, node: Access) -> Any:
        target = self.eval(node.target)
        key = self.eval(node.key)
        shown = _describe(node)
        if target is None:
            if node.safe:
                return None
            raise self.error(f"cannot read {key!r} of null ({shown}); use '?' to allow null", node)
        if isinstance(target, dict):
            if not isinstance(key, str):
                raise self.error(f"an object property name must be a string, got {key!r}", node)
            if key in target:
                return target[key]
            folded = [name for name in target if isinstance(name, str) and name.lower() == key.lower()]
            if len(folded) == 1:
                return target[folded[0]]
            if node.safe:
                return None
            available = ", ".join(sorted(map(str, target))) or "none"
            raise self.error(f"property {key!r} does not exist ({shown}); available properties: {available}", node)
        if isinstance(target, list):
            if isinstance(key, bool) or not isinstance(key, int):
                raise self.error(f"an array index must be an integer, got {key!r}", node)
            if 0 <= key < len(target):
                return target[key]
            if node.safe:
                return None
            raise self.error(f"index {key} is out of range for an array of length {len(target)}", node)
        raise self.error(f"cannot read {key!r} of a {_type_name(target)} value ({shown})", node)


def _describe(node: Node) -> str:
    """Short source-like rendering of an access chain for messages."""
    if isinstance(node, Access):
        key = node.key.value if isinstance(node.key, Literal) else "[...]"
        return f"{_describe(node.target)}{'?' if node.safe else ''}.{key}"
    if isinstance(node, Call):
        if node.args and isinstance(node.args[0], Literal):
            return f"{node.name}({node.args[0].value!r})"
        return f"{node.name}()"
    return "..."


# ------------------------------------------------------------------------------- conversions


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _format_float(value: float) -> str:
    if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def to_text(value: Any) -> str:
    """How interpolation and string() render a value."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _format_float(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _arg(fn: str, index: int, value: Any, *kinds: str) -> Any:
    """Check an argument's type; kinds from: string, integer, number, boolean, array, object, any."""
    name = _type_name(value)
    ok = (
        "any" in kinds
        or name in kinds
        or ("number" in kinds and name in ("integer", "float"))
    )
    if not ok:
        raise ExpressionError(
            f"function {fn!r} argument {index} must be {' or '.join(kinds)}, got {name} {value!r}", function=fn)
    return value


def _equals(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if type(a) is not type(b) and not (a is None or b is None):
        return False
    return bool(a == b)


def _compare(fn: str, a: Any, b: Any) -> int:
    numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (a, b))
    strings = all(isinstance(x, str) for x in (a, b))
    if not (numbers or strings):
        raise ExpressionError(
            f"function {fn!r} compares two numbers or two strings, got {_type_name(a)} and {_type_name(b)}",
            function=fn)
    return (a > b) - (a < b)


# --------------------------------------------------------------------------------- date/time

_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)


def parse_timestamp(text: Any, fn: str = "timestamp") -> datetime:
    """Parse an ISO 8601 timestamp string into an aware UTC datetime (no zone = UTC)."""
    if isinstance(text, datetime):
        return text.astimezone(UTC) if text.tzinfo else text.replace(tzinfo=UTC)
    if not isinstance(text, str):
        raise ExpressionError(f"function {fn!r} expects a timestamp string, got {_type_name(text)} {text!r}",
                              function=fn)
    match = _TIMESTAMP.match(text.strip())
    if not match:
        raise ExpressionError(f"function {fn!r} cannot read {text!r} as an ISO 8601 timestamp", function=fn)
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0").ljust(7, "0")[:6])
    try:
        value = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                         micro, tzinfo=UTC)
    except ValueError as exc:
        raise ExpressionError(f"function {fn!r}: {text!r} is not a valid timestamp ({exc})", function=fn) from None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        value -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return value


_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
                "October", "November", "December")
_STANDARD_FORMATS = {
    "o": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
    "O": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
    "s": "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
    "u": "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
    "d": "MM/dd/yyyy",
    "D": "dddd, dd MMMM yyyy",
    "t": "HH:mm",
    "T": "HH:mm:ss",
    "g": "MM/dd/yyyy HH:mm",
    "G": "MM/dd/yyyy HH:mm:ss",
    "m": "MMMM dd",
    "M": "MMMM dd",
    "y": "yyyy MMMM",
    "Y": "yyyy MMMM",
    "r": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
    "R": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
}


def format_timestamp(value: datetime, fmt: str = "o") -> str:
    """Format with a .NET standard (one letter) or custom date format string, invariant culture, UTC."""
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if len(fmt) == 1:
        if fmt not in _STANDARD_FORMATS:
            raise ExpressionError(f"unsupported standard date format {fmt!r}", function="formatDateTime")
        fmt = _STANDARD_FORMATS[fmt]
    out: list[str] = []
    i = 0
    while i < len(fmt):
        char = fmt[i]
        if char in "'\"":
            end = fmt.find(char, i + 1)
            if end < 0:
                raise ExpressionError(f"unterminated quoted text in date format {fmt!r}", function="formatDateTime")
            out.append(fmt[i + 1:end])
            i = end + 1
            continue
        if char == "\\":
            out.append(fmt[i + 1:i + 2])
            i += 2
            continue
        if char == "%":
            i += 1
            continue
        run = 1
        while i + run < len(fmt) and fmt[i + run] == char:
            run += 1
        out.append(_format_token(value, char, run, fmt))
        i += run
    return "".join(out)


def _format_token(value: datetime, char: str, run: int, fmt: str) -> str:
    fraction = f"{value.microsecond:06d}0"
    if char == "y":
        return str(value.year % 100) if run == 1 else f"{value.year % 100:02d}" if run == 2 else f"{value.year:0{run}d}"
    if char == "M":
        return (str(value.month), f"{value.month:02d}", _MONTH_NAMES[value.month - 1][:3])[run - 1] if run < 4 \
            else _MONTH_NAMES[value.month - 1]
    if char == "d":
        return (str(value.day), f"{value.day:02d}", _DAY_NAMES[value.weekday()][:3])[run - 1] if run < 4 \
            else _DAY_NAMES[value.weekday()]
    if char in "Hhms":
        number = {"H": value.hour, "h": value.hour % 12 or 12, "m": value.minute, "s": value.second}[char]
        return str(number) if run == 1 else f"{number:02d}"
    if char == "f" and run <= 7:
        return fraction[:run]
    if char == "F" and run <= 7:
        return fraction[:run].rstrip("0")
    if char == "t":
        return ("AM" if value.hour < 12 else "PM")[:min(run, 2)]
    if char == "K":
        return "Z" * run
    if char == "z":
        return "+0" if run == 1 else "+00" if run == 2 else "+00:00"
    if char == "g":
        return "A.D."
    if char in "fF":
        raise ExpressionError(f"unsupported date format specifier {char * run!r} in {fmt!r} (at most 7)",
                              function="formatDateTime")
    return char * run  # not a specifier: copied as is, as .NET does (e.g. the T of yyyy-MM-ddTHH:mm)


def _now(ctx: EvalContext) -> datetime:
    return ctx.now.astimezone(UTC) if ctx.now else datetime.now(UTC)


def _shift(fn: str, timestamp: Any, amount: Any, unit: str, fmt: Any = "o") -> str:
    _arg(fn, 2, amount, "integer")
    _arg(fn, 3, fmt, "string")
    value = parse_timestamp(timestamp, fn)
    if unit == "Month" or unit == "Year":
        months = value.month - 1 + amount * (12 if unit == "Year" else 1)
        year, month = value.year + months // 12, months % 12 + 1
        try:
            value = value.replace(year=year, month=month)
        except ValueError:
            raise ExpressionError(f"function {fn!r}: day {value.day} does not exist in {year}-{month:02d}",
                                  function=fn) from None
    else:
        seconds = {"Second": 1, "Minute": 60, "Hour": 3600, "Day": 86400, "Week": 604800}[unit]
        value += timedelta(seconds=amount * seconds)
    return format_timestamp(value, fmt)


# --------------------------------------------------------------------------------- functions

_MANY = 1_000


@dataclass(frozen=True)
class FunctionSpec:
    impl: Callable[..., Any]
    min_args: int
    max_args: int


FUNCTIONS: dict[str, FunctionSpec] = {}


_Impl = Callable[..., Any]


def _function(name: str, min_args: int, max_args: int | None = None) -> Callable[[_Impl], _Impl]:
    def register(impl: Callable[..., Any]) -> Callable[..., Any]:
        FUNCTIONS[name.lower()] = FunctionSpec(impl, min_args, min_args if max_args is None else max_args)
        return impl
    return register


# References to the run.

RAN_STATUSES = frozenset({"Succeeded", "Failed"})

@_function("pipeline", 0)
def _pipeline(ctx: EvalContext) -> dict[str, Any]:
    return ctx.pipeline_object()


@_function("activity", 1)
def _activity(ctx: EvalContext, name: Any) -> Any:
    _arg("activity", 1, name, "string")
    if name not in ctx.activities:
        raise ExpressionError(
            f"activity {name!r} has no result in this run: it has not run yet or is not upstream of this activity",
            function="activity")
    view = ctx.activities[name]
    if view.get("status") not in RAN_STATUSES:
        # ADF documents Status, output and error only "after an activity ran and completed" ("Pipeline
        # failure and error message"); a Skipped activity has none, so reading it is an error here.
        raise ExpressionError(
            f"activity {name!r} did not run in this run (it is {view.get('status')}): its Status, output and error "
            "exist only for an activity that ran; read it only on a path that runs after it succeeded or failed",
            function="activity")
    return view


@_function("dataset", 0)
def _dataset(ctx: EvalContext) -> Any:
    if ctx.dataset_parameters is None:
        raise ExpressionError("dataset() is only available inside a dataset definition", function="dataset")
    return ctx.dataset_parameters


@_function("linkedService", 0)
def _linked_service(ctx: EvalContext) -> Any:
    if ctx.linked_service_parameters is None:
        raise ExpressionError("linkedService() is only available inside a linked service definition",
                              function="linkedService")
    return ctx.linked_service_parameters


@_function("trigger", 0)
def _trigger(ctx: EvalContext) -> Any:
    if not ctx.trigger:
        raise ExpressionError("trigger() has no value: this run was not started by a trigger", function="trigger")
    return ctx.trigger


@_function("item", 0)
def _item(ctx: EvalContext) -> Any:
    if ctx.item is None:
        raise ExpressionError("item() is only available inside a ForEach activity", function="item")
    return ctx.item


@_function("variables", 1)
def _variables(ctx: EvalContext, name: Any) -> Any:
    _arg("variables", 1, name, "string")
    if name not in ctx.variables:
        raise ExpressionError(f"variable {name!r} is not declared", function="variables")
    return ctx.variables[name]


# Strings.

@_function("concat", 1, _MANY)
def _concat(ctx: EvalContext, *values: Any) -> str:
    return "".join(to_text(value) for value in values)


@_function("replace", 3)
def _replace(ctx: EvalContext, text: Any, old: Any, new: Any) -> str:
    for index, value in enumerate((text, old, new), 1):
        _arg("replace", index, value, "string")
    if not old:
        raise ExpressionError("function 'replace' argument 2 must not be empty", function="replace")
    return str(text).replace(old, new)


@_function("split", 2)
def _split(ctx: EvalContext, text: Any, delimiter: Any) -> list[str]:
    _arg("split", 1, text, "string")
    _arg("split", 2, delimiter, "string")
    return str(text).split(delimiter) if delimiter else [text]


@_function("substring", 2, 3)
def _substring(ctx: EvalContext, text: Any, start: Any, length: Any = None) -> str:
    _arg("substring", 1, text, "string")
    _arg("substring", 2, start, "integer")
    end = len(text) if length is None else start + _arg("substring", 3, length, "integer")
    if start < 0 or end < start or end > len(text):
        raise ExpressionError(
            f"function 'substring': start {start} and length {end - start} are outside the string of length "
            f"{len(text)}", function="substring")
    return str(text[start:end])


@_function("toLower", 1)
def _to_lower(ctx: EvalContext, text: Any) -> str:
    return str(_arg("toLower", 1, text, "string")).lower()


@_function("toUpper", 1)
def _to_upper(ctx: EvalContext, text: Any) -> str:
    return str(_arg("toUpper", 1, text, "string")).upper()


@_function("trim", 1)
def _trim(ctx: EvalContext, text: Any) -> str:
    return str(_arg("trim", 1, text, "string")).strip()


@_function("startsWith", 2)
def _starts_with(ctx: EvalContext, text: Any, prefix: Any) -> bool:
    return str(_arg("startsWith", 1, text, "string")).startswith(_arg("startsWith", 2, prefix, "string"))


@_function("endsWith", 2)
def _ends_with(ctx: EvalContext, text: Any, suffix: Any) -> bool:
    return str(_arg("endsWith", 1, text, "string")).endswith(_arg("endsWith", 2, suffix, "string"))


@_function("indexOf", 2)
def _index_of(ctx: EvalContext, text: Any, part: Any) -> int:
    return str(_arg("indexOf", 1, text, "string")).find(_arg("indexOf", 2, part, "string"))


# Collections.

@_function("contains", 2)
def _contains(ctx: EvalContext, collection: Any, value: Any) -> bool:
    _arg("contains", 1, collection, "string", "array", "object")
    if isinstance(collection, str):
        return _arg("contains", 2, value, "string") in collection
    if isinstance(collection, dict):
        return value in collection
    return any(_equals(item, value) for item in collection)


@_function("empty", 1)
def _empty(ctx: EvalContext, value: Any) -> bool:
    if value is None:
        return True
    return len(_arg("empty", 1, value, "string", "array", "object")) == 0


@_function("length", 1)
def _length(ctx: EvalContext, value: Any) -> int:
    return len(_arg("length", 1, value, "string", "array"))


@_function("first", 1)
def _first(ctx: EvalContext, value: Any) -> Any:
    _arg("first", 1, value, "string", "array")
    return value[0] if value else (None if isinstance(value, list) else "")


@_function("last", 1)
def _last(ctx: EvalContext, value: Any) -> Any:
    _arg("last", 1, value, "string", "array")
    return value[-1] if value else (None if isinstance(value, list) else "")


@_function("join", 2)
def _join(ctx: EvalContext, values: Any, delimiter: Any) -> str:
    _arg("join", 1, values, "array")
    return str(_arg("join", 2, delimiter, "string")).join(to_text(value) for value in values)


@_function("skip", 2)
def _skip(ctx: EvalContext, values: Any, count: Any) -> Any:
    _arg("skip", 1, values, "array", "string")
    return values[max(0, _arg("skip", 2, count, "integer")):]


@_function("take", 2)
def _take(ctx: EvalContext, values: Any, count: Any) -> Any:
    _arg("take", 1, values, "array", "string")
    return values[:max(0, _arg("take", 2, count, "integer"))]


@_function("createArray", 1, _MANY)
def _create_array(ctx: EvalContext, *values: Any) -> list[Any]:
    return list(values)


@_function("array", 1)
def _array(ctx: EvalContext, value: Any) -> list[Any]:
    return [value]


# Logic.

@_function("if", 3)
def _if(ctx: EvalContext, condition: Any, when_true: Any, when_false: Any) -> Any:
    return when_true if _arg("if", 1, condition, "boolean") else when_false


@_function("equals", 2)
def _equals_fn(ctx: EvalContext, a: Any, b: Any) -> bool:
    return _equals(a, b)


@_function("not", 1)
def _not(ctx: EvalContext, value: Any) -> bool:
    return not _arg("not", 1, value, "boolean")


@_function("and", 2, _MANY)
def _and(ctx: EvalContext, *values: Any) -> bool:
    return all([_arg("and", i, v, "boolean") for i, v in enumerate(values, 1)])


@_function("or", 2, _MANY)
def _or(ctx: EvalContext, *values: Any) -> bool:
    return any([_arg("or", i, v, "boolean") for i, v in enumerate(values, 1)])


@_function("greater", 2)
def _greater(ctx: EvalContext, a: Any, b: Any) -> bool:
    return _compare("greater", a, b) > 0


@_function("greaterOrEquals", 2)
def _greater_or_equals(ctx: EvalContext, a: Any, b: Any) -> bool:
    return _compare("greaterOrEquals", a, b) >= 0


@_function("less", 2)
def _less(ctx: EvalContext, a: Any, b: Any) -> bool:
    return _compare("less", a, b) < 0


@_function("lessOrEquals", 2)
def _less_or_equals(ctx: EvalContext, a: Any, b: Any) -> bool:
    return _compare("lessOrEquals", a, b) <= 0


@_function("coalesce", 1, _MANY)
def _coalesce(ctx: EvalContext, *values: Any) -> Any:
    return next((value for value in values if value is not None), None)


# Conversions.

@_function("json", 1)
def _json(ctx: EvalContext, text: Any) -> Any:
    _arg("json", 1, text, "string")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExpressionError(f"function 'json' cannot parse {text!r}: {exc.msg} at position {exc.pos}",
                              function="json") from None


@_function("string", 1)
def _string(ctx: EvalContext, value: Any) -> str:
    return to_text(value)


@_function("int", 1)
def _int(ctx: EvalContext, value: Any) -> int:
    _arg("int", 1, value, "string", "integer")
    if isinstance(value, int):
        return value
    if not re.fullmatch(r"\s*[+-]?\d+\s*", value):
        raise ExpressionError(f"function 'int' cannot convert {value!r} to an integer", function="int")
    return int(value)


@_function("float", 1)
def _float(ctx: EvalContext, value: Any) -> float:
    _arg("float", 1, value, "string", "number")
    try:
        return float(value)
    except ValueError:
        raise ExpressionError(f"function 'float' cannot convert {value!r} to a number", function="float") from None


@_function("bool", 1)
def _bool(ctx: EvalContext, value: Any) -> bool:
    _arg("bool", 1, value, "string", "number", "boolean")
    if isinstance(value, str):
        if value.strip().lower() not in ("true", "false"):
            raise ExpressionError(f"function 'bool' cannot convert {value!r} to a boolean", function="bool")
        return value.strip().lower() == "true"
    return bool(value)


@_function("uriComponent", 1)
def _uri_component(ctx: EvalContext, value: Any) -> str:
    return urllib.parse.quote(to_text(value), safe="-_.~")


FUNCTIONS["encodeuricomponent"] = FUNCTIONS["uricomponent"]


@_function("uriComponentToString", 1)
def _uri_component_to_string(ctx: EvalContext, value: Any) -> str:
    return urllib.parse.unquote(_arg("uriComponentToString", 1, value, "string"))


FUNCTIONS["decodeuricomponent"] = FUNCTIONS["uricomponenttostring"]


# Math.

@_function("add", 2)
def _add(ctx: EvalContext, a: Any, b: Any) -> Any:
    return _arg("add", 1, a, "number") + _arg("add", 2, b, "number")


@_function("sub", 2)
def _sub(ctx: EvalContext, a: Any, b: Any) -> Any:
    return _arg("sub", 1, a, "number") - _arg("sub", 2, b, "number")


@_function("mul", 2)
def _mul(ctx: EvalContext, a: Any, b: Any) -> Any:
    return _arg("mul", 1, a, "number") * _arg("mul", 2, b, "number")


@_function("div", 2)
def _div(ctx: EvalContext, a: Any, b: Any) -> Any:
    _arg("div", 1, a, "number")
    if _arg("div", 2, b, "number") == 0:
        raise ExpressionError("function 'div' cannot divide by zero", function="div")
    if isinstance(a, int) and isinstance(b, int):
        return int(a / b)  # integer division truncates toward zero, as in .NET
    return a / b


@_function("mod", 2)
def _mod(ctx: EvalContext, a: Any, b: Any) -> Any:
    _arg("mod", 1, a, "number")
    if _arg("mod", 2, b, "number") == 0:
        raise ExpressionError("function 'mod' cannot divide by zero", function="mod")
    return math.fmod(a, b) if isinstance(a, float) or isinstance(b, float) else int(math.fmod(a, b))


@_function("range", 2)
def _range(ctx: EvalContext, start: Any, count: Any) -> list[int]:
    """range(startIndex, count): `count` consecutive integers from startIndex; a negative count is an error."""
    _arg("range", 1, start, "integer")
    if _arg("range", 2, count, "integer") < 0:
        raise ExpressionError(f"function 'range': count must be >= 0, got {count}", function="range")
    return list(range(start, start + count))


@_function("min", 1, _MANY)
def _min(ctx: EvalContext, *values: Any) -> Any:
    items = values[0] if len(values) == 1 and isinstance(values[0], list) else values
    return min(_arg("min", i, v, "number") for i, v in enumerate(items, 1))


@_function("max", 1, _MANY)
def _max(ctx: EvalContext, *values: Any) -> Any:
    items = values[0] if len(values) == 1 and isinstance(values[0], list) else values
    return max(_arg("max", i, v, "number") for i, v in enumerate(items, 1))


# Dates.

@_function("utcNow", 0, 1)
def _utc_now(ctx: EvalContext, fmt: Any = "o") -> str:
    return format_timestamp(_now(ctx), _arg("utcNow", 1, fmt, "string"))


@_function("formatDateTime", 1, 2)
def _format_date_time(ctx: EvalContext, timestamp: Any, fmt: Any = "o") -> str:
    return format_timestamp(parse_timestamp(timestamp, "formatDateTime"), _arg("formatDateTime", 2, fmt, "string"))


@_function("addDays", 2, 3)
def _add_days(ctx: EvalContext, timestamp: Any, days: Any, fmt: Any = "o") -> str:
    return _shift("addDays", timestamp, days, "Day", fmt)


@_function("addHours", 2, 3)
def _add_hours(ctx: EvalContext, timestamp: Any, hours: Any, fmt: Any = "o") -> str:
    return _shift("addHours", timestamp, hours, "Hour", fmt)


@_function("addMinutes", 2, 3)
def _add_minutes(ctx: EvalContext, timestamp: Any, minutes: Any, fmt: Any = "o") -> str:
    return _shift("addMinutes", timestamp, minutes, "Minute", fmt)


@_function("addSeconds", 2, 3)
def _add_seconds(ctx: EvalContext, timestamp: Any, seconds: Any, fmt: Any = "o") -> str:
    return _shift("addSeconds", timestamp, seconds, "Second", fmt)


_TIME_UNITS = ("Second", "Minute", "Hour", "Day", "Week", "Month", "Year")


@_function("addToTime", 3, 4)
def _add_to_time(ctx: EvalContext, timestamp: Any, interval: Any, unit: Any, fmt: Any = "o") -> str:
    unit_name = next((u for u in _TIME_UNITS if isinstance(unit, str) and u.lower() == unit.lower()), None)
    if unit_name is None:
        raise ExpressionError(f"function 'addToTime': unknown time unit {unit!r}; use one of {', '.join(_TIME_UNITS)}",
                              function="addToTime")
    return _shift("addToTime", timestamp, interval, unit_name, fmt)


@_function("startOfDay", 1, 2)
def _start_of_day(ctx: EvalContext, timestamp: Any, fmt: Any = "o") -> str:
    value = parse_timestamp(timestamp, "startOfDay")
    midnight = value.replace(hour=0, minute=0, second=0, microsecond=0)
    return format_timestamp(midnight, _arg("startOfDay", 2, fmt, "string"))


@_function("startOfHour", 1, 2)
def _start_of_hour(ctx: EvalContext, timestamp: Any, fmt: Any = "o") -> str:
    value = parse_timestamp(timestamp, "startOfHour")
    return format_timestamp(value.replace(minute=0, second=0, microsecond=0), _arg("startOfHour", 2, fmt, "string"))


@_function("startOfMonth", 1, 2)
def _start_of_month(ctx: EvalContext, timestamp: Any, fmt: Any = "o") -> str:
    value = parse_timestamp(timestamp, "startOfMonth")
    return format_timestamp(value.replace(day=1, hour=0, minute=0, second=0, microsecond=0),
                            _arg("startOfMonth", 2, fmt, "string"))


@_function("dayOfWeek", 1)
def _day_of_week(ctx: EvalContext, timestamp: Any) -> int:
    return (parse_timestamp(timestamp, "dayOfWeek").weekday() + 1) % 7  # Sunday = 0, as in .NET


_TICKS_AT_UNIX_EPOCH = 621_355_968_000_000_000  # 100 ns intervals from 0001-01-01 to 1970-01-01 (.NET)


@_function("ticks", 1)
def _ticks(ctx: EvalContext, timestamp: Any) -> int:
    """ticks(timestamp): 100-nanosecond intervals since 0001-01-01T00:00:00Z, an integer."""
    delta = parse_timestamp(timestamp, "ticks") - datetime(1970, 1, 1, tzinfo=UTC)
    return _TICKS_AT_UNIX_EPOCH + (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


@_function("dayOfMonth", 1)
def _day_of_month(ctx: EvalContext, timestamp: Any) -> int:
    return parse_timestamp(timestamp, "dayOfMonth").day


# ------------------------------------------------------------------------------ introspection


def _walk(node: Node) -> Iterator[Node]:
    yield node
    if isinstance(node, Expression):
        yield from _walk(node.body)
    elif isinstance(node, Template):
        for part in node.parts:
            if not isinstance(part, str):
                yield from _walk(part)
    elif isinstance(node, Call):
        for arg in node.args:
            yield from _walk(arg)
    elif isinstance(node, ArrayLiteral):
        for item in node.items:
            yield from _walk(item)
    elif isinstance(node, Access):
        yield from _walk(node.target)
        yield from _walk(node.key)


def _property_chain(node: Node) -> tuple[Call | None, list[str]]:
    """For `f().a.b['c']` return (Call f, ['a', 'b', 'c']); non-literal keys end the chain."""
    keys: list[str] = []
    while isinstance(node, Access):
        if not (isinstance(node.key, Literal) and isinstance(node.key.value, str)):
            keys.clear()
        else:
            keys.insert(0, node.key.value)
        node = node.target
    return (node if isinstance(node, Call) else None), keys


_PARAMETER_SCOPES = {
    "pipeline": ("pipeline", ["parameters"]),
    "globalParameters": ("pipeline", ["globalparameters"]),
    "dataset": ("dataset", []),
    "linkedService": ("linkedservice", []),
}


def referenced_parameters(text: str | Node, scope: str = "pipeline") -> set[str]:
    """Parameter names an expression reads: pipeline().parameters.X (scope "pipeline"),
    pipeline().globalParameters.X ("globalParameters"), dataset().X ("dataset"), linkedService().X."""
    function, prefix = _PARAMETER_SCOPES[scope]
    node = parse(text) if isinstance(text, str) else text
    names: set[str] = set()
    for sub in _walk(node):
        if not isinstance(sub, Access):
            continue
        call, keys = _property_chain(sub)
        if call is None or call.key != function:
            continue
        if len(keys) > len(prefix) and [k.lower() for k in keys[:len(prefix)]] == prefix:
            names.add(keys[len(prefix)])
    return names


def referenced_activities(text: str | Node) -> set[str]:
    """Activity names an expression reads with activity('X')."""
    node = parse(text) if isinstance(text, str) else text
    return {
        sub.args[0].value
        for sub in _walk(node)
        if isinstance(sub, Call) and sub.key == "activity" and sub.args
        and isinstance(sub.args[0], Literal) and isinstance(sub.args[0].value, str)
    }


def called_functions(text: str | Node) -> set[str]:
    """Lower-case names of every function an expression calls."""
    node = parse(text) if isinstance(text, str) else text
    return {sub.key for sub in _walk(node) if isinstance(sub, Call)}


# Every function "Expressions and functions in Azure Data Factory and Azure Synapse Analytics" lists, plus
# the reference functions of "System variables supported by Azure Data Factory", "Parameterize linked
# services", "ForEach activity" and "Set Variable activity". FUNCTIONS (what the evaluator implements)
# must stay inside this set; the validator refuses a call of anything else.
DOCUMENTED_FUNCTIONS = frozenset(name.lower() for name in (
    # string
    "concat", "endsWith", "guid", "indexOf", "lastIndexOf", "replace", "split", "startsWith", "substring",
    "toLower", "toUpper", "trim",
    # collection
    "contains", "empty", "first", "intersection", "join", "last", "length", "skip", "take", "union",
    # logical
    "and", "equals", "greater", "greaterOrEquals", "if", "less", "lessOrEquals", "not", "or",
    # conversion
    "array", "base64", "base64ToBinary", "base64ToString", "binary", "bool", "coalesce", "createArray", "dataUri",
    "dataUriToBinary", "dataUriToString", "decodeBase64", "decodeDataUri", "decodeUriComponent",
    "encodeUriComponent", "float", "int", "json", "string", "uriComponent", "uriComponentToBinary",
    "uriComponentToString", "xml", "xpath",
    # math
    "add", "div", "max", "min", "mod", "mul", "rand", "range", "sub",
    # date
    "addDays", "addHours", "addMinutes", "addSeconds", "addToTime", "convertFromUtc", "convertTimeZone",
    "convertToUtc", "dayOfMonth", "dayOfWeek", "dayOfYear", "formatDateTime", "getFutureTime", "getPastTime",
    "startOfDay", "startOfHour", "startOfMonth", "subtractFromTime", "ticks", "utcNow",
    # references to the run
    "pipeline", "activity", "dataset", "linkedService", "trigger", "item", "variables",
))

# Documented properties: pipeline() system variables ("System variables supported by Azure Data Factory",
# pipeline().globalParameters in "Global parameters in Azure Data Factory"); an activity's Status ("Pipeline
# failure and error message"), output and error.message (same page and the activity pages).
PIPELINE_PROPERTIES = frozenset({"DataFactory", "Pipeline", "RunId", "TriggerType", "TriggerId", "TriggerName",
                                 "TriggerTime", "GroupId", "TriggeredByPipelineName", "TriggeredByPipelineRunId",
                                 "parameters", "globalParameters"})
ACTIVITY_PROPERTIES = frozenset({"output", "Status", "error"})
ACTIVITY_ERROR_PROPERTIES = frozenset({"message"})


def undocumented_uses(text: str | Node) -> list[str]:
    """What an expression uses that ADF's documentation does not list: a function outside
    DOCUMENTED_FUNCTIONS, `?` after activity(...) (the null-safe step is documented only for pipeline()
    system variables), a property of pipeline() or activity() the documentation does not name."""
    node = parse(text) if isinstance(text, str) else text
    found = [f"function {name!r} is not in ADF's documented expression language"
             for name in sorted(called_functions(node) - DOCUMENTED_FUNCTIONS)]
    for sub in _walk(node):
        if not isinstance(sub, Access) or isinstance(sub.target, Access):
            continue  # judge each access chain once, from its first step
        call = sub.target
        if not isinstance(call, Call) or call.key not in ("activity", "pipeline"):
            continue
        chain = _chain_from(node, sub)
        steps = [(step.key.value if isinstance(step.key, Literal) else None, step.safe) for step in chain]
        shown = _describe(chain[-1])
        if call.key == "activity":
            if any(safe for _, safe in steps):
                found.append(f"'?' after activity(...) ({shown}) is not in ADF's documented expression language: "
                             "read an activity only on a path where it ran")
            first = steps[0][0]
            if first not in ACTIVITY_PROPERTIES:
                found.append(f"activity(...).{first} ({shown}) is not a documented activity property "
                             f"({', '.join(sorted(ACTIVITY_PROPERTIES))})")
            elif first == "error" and (len(steps) < 2 or steps[1][0] not in ACTIVITY_ERROR_PROPERTIES):
                found.append(f"{shown}: only activity(...).error.message is documented")
        elif steps[0][0] not in PIPELINE_PROPERTIES:
            found.append(f"pipeline().{steps[0][0]} ({shown}) is not a documented system variable")
    return found


def _chain_from(root: Node, first: Access) -> list[Access]:
    """The accesses applied in order on top of `first` (first included), found by walking `root`."""
    chain = [first]
    while True:
        parent = next((sub for sub in _walk(root) if isinstance(sub, Access) and sub.target is chain[-1]), None)
        if parent is None:
            return chain
        chain.append(parent)


def find_expressions(value: Any, path: str = "$", skip_keys: frozenset[str] = frozenset()) -> Iterator[tuple[str, str]]:
    """(JSON path, text) of every string in a JSON value that ADF would evaluate, without parsing errors:
    strings that start with '@' or contain '@{' are yielded whether or not they parse."""
    if _is_expression_object(value):
        if isinstance(value["value"], str):
            yield f"{path}.value", value["value"]
        return
    if isinstance(value, str):
        if (value.startswith("@") and not value.startswith("@@")) or "@{" in value:
            yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in skip_keys:
                yield from find_expressions(item, f"{path}.{key}" if _PROPERTY.fullmatch(key) else f"{path}[{key!r}]",
                                            skip_keys)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from find_expressions(item, f"{path}[{index}]", skip_keys)
