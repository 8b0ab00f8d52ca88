"""The ADF expression language the factory's JSON uses: a parser and an evaluator.

JSON string values are literals unless they start with `@` (an expression, typed result), contain
`@{...}` (string interpolation, string result) or start with `@@` (escape: a literal starting with
`@`). `{"value": "...", "type": "Expression"}` objects hold the same kind of string.

Grammar (whitespace allowed between tokens):
    expr     := call accessor* | 'string' | number | true | false | null
    call     := name '(' [expr (',' expr)*] ')'
    accessor := ['?'] '.' name | ['?'] '[' expr ']'

Checked by Microsoft's engine: `make test` evaluates every expression in adf/ (in the run states of the
executor's scenarios) and an edge-case corpus for every function below in both this evaluator and the
workflow expression engine that data-factory-testing-framework 1.4.4 ships (tests/local/pipeline/
test_engine_differential.py, on Mono). They must give equal values; where this evaluator refuses what
that engine accepts, the test lists the case. docs/azure-fidelity.md has the rows. What that engine
decides, and this module follows:
- function names and property names are case-insensitive (an exact property name wins); accessors
  follow a function call only; a missing property, an index out of range or access on null is an
  error, `?` makes that one step yield null;
- integers are 64-bit with overflow errors; `string()` and interpolation write numbers as .NET does
  (1E+15, 1E-05), booleans as True/False, null as '', objects and arrays as Newtonsoft's JSON;
- timestamps keep .NET's DateTime Kind: a time with Z stays UTC and prints Z, a time without a zone
  prints without one; 100 ns precision; `startsWith`, `endsWith` and `indexOf` ignore case.
Stricter than that engine (refused, and listed in the test): a timestamp with a numeric offset, number
text that differs between .NET runtimes, culture-sensitive text functions outside ASCII, conversions of
text .NET reads loosely (`int('1,000')`), `variables()` with a name in another case, and every
function or form not implemented here. The rules that come from .NET live in pipeline.dotnet.

Arguments are evaluated before the call, except that `if`, `and`, `or` and `coalesce` evaluate theirs
in order and stop when the answer is known, as that engine does.

Resting on ADF's documentation alone (the engine cannot say what the service does around it), with the
strictest reading: reading an activity that did not run (Skipped) is an error, and `undocumented_uses`
lists what the validator and the executor refuse before a run (`?` after `activity(...)`, properties and
functions the documentation does not name).

Written here rather than taken from a library: the only maintained implementation,
data-factory-testing-framework, needs a .NET runtime (pythonnet on Mono or .NET), which `make demo` does
not install; it is this module's test oracle instead.
"""

from __future__ import annotations

import functools
import json
import math
import re
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from company_activity.errors import InputError
from company_activity_local.pipeline import dotnet

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
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")


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
        if not isinstance(node, Call):
            return node  # the engine reads accessors only after a function call
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
            raise self.error("array literals are not part of ADF's expression language; use createArray(...)")
        number = _NUMBER.match(self.text, self.i)
        if number:
            self.i = number.end()
            text = number.group()
            value: int | float = float(text) if number.group(1) or number.group(2) else int(text)
            if isinstance(value, int) and not dotnet.INT64_MIN <= value <= dotnet.INT64_MAX:
                raise self.error(f"the integer {text} is outside the 64-bit range", at=start)
            if isinstance(value, float) and not math.isfinite(value):
                raise self.error(f"the number {text} is outside the range of a double", at=start)
            return Literal(pos, value)
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
            "TriggerTime": dotnet.format_datetime(dotnet.DateTime.from_datetime(_aware(when)), "o"),
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
            return "".join(part if isinstance(part, str) else self.text(part) for part in node.parts)
        if isinstance(node, Expression):
            return self.eval(node.body)
        return self.eval(node)

    def text(self, node: Node) -> str:
        """An interpolated value as text."""
        value = self.eval(node)
        try:
            return to_text(value)
        except ValueError as exc:  # a value text cannot hold (an ExpressionError passes through)
            raise self.error(f"cannot interpolate the value: {exc}", node) from None

    def eval(self, node: Node) -> Any:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Access):
            return self.access(node)
        if isinstance(node, Call):
            spec = FUNCTIONS[node.key]
            if spec.lazy:  # arguments evaluated when the function asks, as Microsoft's engine does
                args: list[Any] = [functools.partial(self.eval, arg) for arg in node.args]
            else:
                args = [self.eval(arg) for arg in node.args]
            try:
                return spec.impl(self.ctx, *args)
            except ExpressionError as exc:
                if exc.expression is None:
                    raise self.error(exc.message, node, node.name) from None
                raise
            except (TypeError, ValueError, ArithmeticError, OverflowError) as exc:
                raise self.error(f"function {node.name!r}: {exc}", node, node.name) from None
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


def to_text(value: Any) -> str:
    """How interpolation, concat() and string() render a value (.NET and Newtonsoft, pipeline.dotnet)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return dotnet.format_double(value)
    return dotnet.json_text(value)


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


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same_json(a: Any, b: Any) -> bool:
    """Newtonsoft's JToken.DeepEquals: same JSON types all the way down (1 and 1.0 differ), objects by key."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_json(a[key], b[key]) for key in a)
    return bool(a == b)


def _equals(a: Any, b: Any) -> bool:
    """equals(): two numbers compare by value (1 equals 1.0); anything else as JToken.DeepEquals."""
    if _is_number(a) and _is_number(b):
        return float(a) == float(b) if isinstance(a, float) or isinstance(b, float) else a == b
    return _same_json(a, b)


def _compare(fn: str, a: Any, b: Any) -> int:
    if _is_number(a) and _is_number(b):
        return int(a > b) - int(a < b)
    if isinstance(a, str) and isinstance(b, str):
        return dotnet.compare_invariant(a, b)
    raise ExpressionError(
        f"function {fn!r} compares two numbers or two strings, got {_type_name(a)} and {_type_name(b)}", function=fn)


def _int64(value: Any) -> Any:
    return dotnet.check_int64(value) if isinstance(value, int) else _finite(value)


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"the result {value} is not a finite number (ADF's engine returns it as a string)")
    return value


# --------------------------------------------------------------------------------- date/time


def _timestamp(fn: str, value: Any) -> dotnet.DateTime:
    if not isinstance(value, str):
        raise ExpressionError(f"function {fn!r} expects a timestamp string, got {_type_name(value)} {value!r}",
                              function=fn)
    return dotnet.parse_datetime(value)


def _formatted(fn: str, value: dotnet.DateTime, fmt: Any, index: int) -> str:
    return dotnet.format_datetime(value, _arg(fn, index, fmt, "string"))


def _aware(value: datetime) -> datetime:
    """A clock reading as UTC (a naive one is taken as UTC): utcNow() and TriggerTime are UTC times."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _now(ctx: EvalContext) -> dotnet.DateTime:
    return dotnet.DateTime.from_datetime(_aware(ctx.now or datetime.now(UTC)))


_UNIT_TICKS = {"Second": dotnet.TICKS_PER_SECOND, "Minute": 60 * dotnet.TICKS_PER_SECOND,
               "Hour": 3600 * dotnet.TICKS_PER_SECOND, "Day": dotnet.TICKS_PER_DAY, "Week": 7 * dotnet.TICKS_PER_DAY}


def _shift(fn: str, timestamp: Any, amount: Any, unit: str, fmt: Any = "o") -> str:
    _arg(fn, 2, amount, "integer")
    value = _timestamp(fn, timestamp)
    if unit in ("Month", "Year"):
        shifted = value.add_months(amount * (12 if unit == "Year" else 1))
    else:
        shifted = value.add_ticks(amount * _UNIT_TICKS[unit])
    return _formatted(fn, shifted, fmt, 4 if fn == "addToTime" else 3)


# --------------------------------------------------------------------------------- functions

_MANY = 1_000


@dataclass(frozen=True)
class FunctionSpec:
    impl: Callable[..., Any]
    min_args: int
    max_args: int
    lazy: bool = False  # impl gets zero-argument callables and evaluates only the arguments it needs


FUNCTIONS: dict[str, FunctionSpec] = {}


_Impl = Callable[..., Any]


def _function(name: str, min_args: int, max_args: int | None = None, *, lazy: bool = False
              ) -> Callable[[_Impl], _Impl]:
    def register(impl: Callable[..., Any]) -> Callable[..., Any]:
        FUNCTIONS[name.lower()] = FunctionSpec(impl, min_args, min_args if max_args is None else max_args, lazy)
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
    dotnet.check_utf16(_arg("substring", 1, text, "string"))
    _arg("substring", 2, start, "integer")
    if not 0 <= start < len(text):
        raise ExpressionError(f"function 'substring': start index {start} must be at least 0 and less than the "
                              f"length of the string ({len(text)})", function="substring")
    end = len(text) if length is None else start + _arg("substring", 3, length, "integer")
    if end < start or end > len(text):
        raise ExpressionError(
            f"function 'substring': start {start} and length {end - start} are outside the string of length "
            f"{len(text)}", function="substring")
    return str(text[start:end])


@_function("toLower", 1)
def _to_lower(ctx: EvalContext, text: Any) -> str:
    return dotnet.change_case(_arg("toLower", 1, text, "string"), False)


@_function("toUpper", 1)
def _to_upper(ctx: EvalContext, text: Any) -> str:
    return dotnet.change_case(_arg("toUpper", 1, text, "string"), True)


@_function("trim", 1)
def _trim(ctx: EvalContext, text: Any) -> str:
    return dotnet.trim(_arg("trim", 1, text, "string"))


@_function("startsWith", 2)
def _starts_with(ctx: EvalContext, text: Any, prefix: Any) -> bool:
    return dotnet.starts_with(_arg("startsWith", 1, text, "string"), _arg("startsWith", 2, prefix, "string"))


@_function("endsWith", 2)
def _ends_with(ctx: EvalContext, text: Any, suffix: Any) -> bool:
    return dotnet.ends_with(_arg("endsWith", 1, text, "string"), _arg("endsWith", 2, suffix, "string"))


@_function("indexOf", 2)
def _index_of(ctx: EvalContext, text: Any, part: Any) -> int:
    return dotnet.index_of(_arg("indexOf", 1, text, "string"), _arg("indexOf", 2, part, "string"))


# Collections.

@_function("contains", 2)
def _contains(ctx: EvalContext, collection: Any, value: Any) -> bool:
    _arg("contains", 1, collection, "string", "array", "object")
    if isinstance(collection, str):
        return _arg("contains", 2, value, "string") in collection  # ordinal, case-sensitive
    if isinstance(collection, dict):
        _arg("contains", 2, value, "string")
        if value in collection:
            return True
        if not value.isascii():
            raise ExpressionError(f"function 'contains': {value!r} is not a key as written; ADF matches keys "
                                  "ignoring case, and case folding outside ASCII differs between .NET runtimes",
                                  function="contains")
        return any(isinstance(key, str) and key.isascii() and key.lower() == value.lower() for key in collection)
    return any(_same_json(item, value) for item in collection)


@_function("empty", 1)
def _empty(ctx: EvalContext, value: Any) -> bool:
    if value is None:
        return True
    return len(_arg("empty", 1, value, "string", "array", "object")) == 0


@_function("length", 1)
def _length(ctx: EvalContext, value: Any) -> int:
    if isinstance(_arg("length", 1, value, "string", "array"), str):
        dotnet.check_utf16(value)
    return len(value)


@_function("first", 1)
def _first(ctx: EvalContext, value: Any) -> Any:
    if isinstance(_arg("first", 1, value, "string", "array"), str):
        dotnet.check_utf16(value)
    return value[0] if value else (None if isinstance(value, list) else "")


@_function("last", 1)
def _last(ctx: EvalContext, value: Any) -> Any:
    if isinstance(_arg("last", 1, value, "string", "array"), str):
        dotnet.check_utf16(value)
    return value[-1] if value else (None if isinstance(value, list) else "")


@_function("join", 2)
def _join(ctx: EvalContext, values: Any, delimiter: Any) -> str:
    _arg("join", 1, values, "array")
    return str(_arg("join", 2, delimiter, "string")).join(to_text(value) for value in values)


def _count(fn: str, values: Any, count: Any) -> int:
    if isinstance(_arg(fn, 1, values, "array", "string"), str):
        dotnet.check_utf16(values)
    if _arg(fn, 2, count, "integer") < 0:
        raise ExpressionError(f"function {fn!r}: count must be >= 0, got {count}", function=fn)
    return int(count)


@_function("skip", 2)
def _skip(ctx: EvalContext, values: Any, count: Any) -> Any:
    return values[_count("skip", values, count):]


@_function("take", 2)
def _take(ctx: EvalContext, values: Any, count: Any) -> Any:
    return values[:_count("take", values, count)]


@_function("createArray", 1, _MANY)
def _create_array(ctx: EvalContext, *values: Any) -> list[Any]:
    return list(values)


@_function("array", 1)
def _array(ctx: EvalContext, value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# Logic.

# if, and, or and coalesce evaluate their arguments in order and stop when the answer is known (Microsoft's
# engine: `if(true, 1, div(1, 0))` is 1).
Thunk = Callable[[], Any]


@_function("if", 3, lazy=True)
def _if(ctx: EvalContext, condition: Thunk, when_true: Thunk, when_false: Thunk) -> Any:
    return when_true() if _arg("if", 1, condition(), "boolean") else when_false()


@_function("equals", 2)
def _equals_fn(ctx: EvalContext, a: Any, b: Any) -> bool:
    return _equals(a, b)


@_function("not", 1)
def _not(ctx: EvalContext, value: Any) -> bool:
    return not _arg("not", 1, value, "boolean")


@_function("and", 2, _MANY, lazy=True)
def _and(ctx: EvalContext, *values: Thunk) -> bool:
    return all(_arg("and", i, value(), "boolean") for i, value in enumerate(values, 1))


@_function("or", 2, _MANY, lazy=True)
def _or(ctx: EvalContext, *values: Thunk) -> bool:
    return any(_arg("or", i, value(), "boolean") for i, value in enumerate(values, 1))


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


@_function("coalesce", 1, _MANY, lazy=True)
def _coalesce(ctx: EvalContext, *values: Thunk) -> Any:
    return next((found for found in (value() for value in values) if found is not None), None)


# Conversions.

@_function("json", 1)
def _json(ctx: EvalContext, text: Any) -> Any:
    _arg("json", 1, text, "string")
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ExpressionError(f"function 'json' cannot parse {text!r}: {exc.msg} at position {exc.pos}",
                              function="json") from None
    if not _all_finite(value):
        raise ExpressionError(f"function 'json': {text!r} has a number outside the range of a double", function="json")
    return value


def _all_finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(map(_all_finite, value))
    if isinstance(value, dict):
        return all(map(_all_finite, value.values()))
    return True


def _no_constant(name: str) -> Any:
    raise ExpressionError(f"function 'json': {name} is not JSON", function="json")


@_function("string", 1)
def _string(ctx: EvalContext, value: Any) -> str:
    return to_text(value)


_WS = "[\t\n\v\f\r ]*"  # what .NET's number parsing skips around a number
_INTEGER_TEXT = re.compile(f"{_WS}[+-]?[0-9]+{_WS}")
_FLOAT_TEXT = re.compile(rf"{_WS}[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?{_WS}")
_EXACT_DOUBLE_LIMIT = 2**53


@_function("int", 1)
def _int(ctx: EvalContext, value: Any) -> int:
    _arg("int", 1, value, "string", "integer")
    if isinstance(value, int):
        return value
    if not _INTEGER_TEXT.fullmatch(value):
        raise ExpressionError(f"function 'int' cannot convert {value!r} to an integer", function="int")
    number = int(value)
    if abs(number) > _EXACT_DOUBLE_LIMIT:
        raise ExpressionError(f"function 'int': {value.strip()} is beyond 2^53, where ADF's engine (which converts "
                              "through a double) loses digits; refused", function="int")
    return number


@_function("float", 1)
def _float(ctx: EvalContext, value: Any) -> float:
    _arg("float", 1, value, "string", "number")
    if isinstance(value, str) and not _FLOAT_TEXT.fullmatch(value):
        raise ExpressionError(f"function 'float' cannot convert {value!r} to a number", function="float")
    return _finite(float(value))


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
    return urllib.parse.quote(to_text(value), safe="-_.~")  # Uri.EscapeDataString (RFC 3986 unreserved)


FUNCTIONS["encodeuricomponent"] = FUNCTIONS["uricomponent"]


@_function("uriComponentToString", 1)
def _uri_component_to_string(ctx: EvalContext, value: Any) -> str:
    return dotnet.url_decode(_arg("uriComponentToString", 1, value, "string"))


FUNCTIONS["decodeuricomponent"] = FUNCTIONS["uricomponenttostring"]


# Math: 64-bit integers with overflow errors, doubles that must stay finite.

@_function("add", 2)
def _add(ctx: EvalContext, a: Any, b: Any) -> Any:
    return _int64(_arg("add", 1, a, "number") + _arg("add", 2, b, "number"))


@_function("sub", 2)
def _sub(ctx: EvalContext, a: Any, b: Any) -> Any:
    return _int64(_arg("sub", 1, a, "number") - _arg("sub", 2, b, "number"))


@_function("mul", 2)
def _mul(ctx: EvalContext, a: Any, b: Any) -> Any:
    return _int64(_arg("mul", 1, a, "number") * _arg("mul", 2, b, "number"))


@_function("div", 2)
def _div(ctx: EvalContext, a: Any, b: Any) -> Any:
    _arg("div", 1, a, "number")
    if _arg("div", 2, b, "number") == 0:
        raise ExpressionError("function 'div' cannot divide by zero", function="div")
    if isinstance(a, int) and isinstance(b, int):
        quotient = abs(a) // abs(b)  # integer division truncates toward zero, as in .NET
        return dotnet.check_int64(quotient if (a < 0) == (b < 0) else -quotient)
    return _finite(a / b)


@_function("mod", 2)
def _mod(ctx: EvalContext, a: Any, b: Any) -> Any:
    _arg("mod", 1, a, "number")
    if _arg("mod", 2, b, "number") == 0:
        raise ExpressionError("function 'mod' cannot divide by zero", function="mod")
    if isinstance(a, int) and isinstance(b, int):
        remainder = abs(a) % abs(b)  # the sign of the dividend, as .NET's %
        return remainder if a >= 0 else -remainder
    return math.fmod(a, b)


_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_RANGE_LIMIT = 100_000


@_function("range", 2)
def _range(ctx: EvalContext, start: Any, count: Any) -> list[int]:
    """range(startIndex, count): `count` consecutive 32-bit integers from startIndex, at most 100000."""
    _arg("range", 1, start, "integer")
    _arg("range", 2, count, "integer")
    if count < 0:
        raise ExpressionError(f"function 'range': count must be >= 0, got {count}", function="range")
    if count > _RANGE_LIMIT:
        raise ExpressionError(f"function 'range': count must be at most {_RANGE_LIMIT}, got {count}", function="range")
    if not start >= _INT32_MIN or start + count - 1 > _INT32_MAX:
        raise ExpressionError(f"function 'range': {start}..{start + count - 1} is outside the 32-bit integer range",
                              function="range")
    return list(range(start, start + count))


def _extreme(fn: str, pick: Callable[..., Any], values: tuple[Any, ...]) -> Any:
    items = values[0] if len(values) == 1 and isinstance(values[0], list) else values
    if not items:
        raise ExpressionError(f"function {fn!r} needs at least one number", function=fn)
    numbers = [_arg(fn, i, v, "number") for i, v in enumerate(items, 1)]
    found = pick(numbers)
    return float(found) if any(isinstance(n, float) for n in numbers) else found  # a double when any is one


@_function("min", 1, _MANY)
def _min(ctx: EvalContext, *values: Any) -> Any:
    return _extreme("min", min, values)


@_function("max", 1, _MANY)
def _max(ctx: EvalContext, *values: Any) -> Any:
    return _extreme("max", max, values)


# Dates: .NET DateTime values (pipeline.dotnet), formatted with format strings; the default is "o".

@_function("utcNow", 0, 1)
def _utc_now(ctx: EvalContext, fmt: Any = "o") -> str:
    return _formatted("utcNow", _now(ctx), fmt, 1)


@_function("formatDateTime", 1, 2)
def _format_date_time(ctx: EvalContext, timestamp: Any, fmt: Any = "o") -> str:
    return _formatted("formatDateTime", _timestamp("formatDateTime", timestamp), fmt, 2)


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
    return _formatted("startOfDay", _timestamp("startOfDay", timestamp).truncate("day"), fmt, 2)


@_function("startOfHour", 1, 2)
def _start_of_hour(ctx: EvalContext, timestamp: Any, fmt: Any = "o") -> str:
    return _formatted("startOfHour", _timestamp("startOfHour", timestamp).truncate("hour"), fmt, 2)


@_function("startOfMonth", 1, 2)
def _start_of_month(ctx: EvalContext, timestamp: Any, fmt: Any = "o") -> str:
    return _formatted("startOfMonth", _timestamp("startOfMonth", timestamp).truncate("month"), fmt, 2)


@_function("dayOfWeek", 1)
def _day_of_week(ctx: EvalContext, timestamp: Any) -> int:
    return _timestamp("dayOfWeek", timestamp).day_of_week  # Sunday = 0, as in .NET


@_function("ticks", 1)
def _ticks(ctx: EvalContext, timestamp: Any) -> int:
    """ticks(timestamp): 100-nanosecond intervals since 0001-01-01T00:00:00, an integer."""
    return _timestamp("ticks", timestamp).ticks


@_function("dayOfMonth", 1)
def _day_of_month(ctx: EvalContext, timestamp: Any) -> int:
    return _timestamp("dayOfMonth", timestamp).date.day


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
