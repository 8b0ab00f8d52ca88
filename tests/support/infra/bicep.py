"""Read Bicep offline: syntax errors with file:line, declarations, and an evaluator for literal values.

No Bicep compiler can be installed here, and checkov (pycep) does not follow module parameters,
conditions or role assignments, so the infra checks read the templates themselves with
tree-sitter-bicep. The evaluator computes what can be known before deployment (literals, parameters
bound from a .bicepparam file or a module call, variables, union/items/string/json/loadJsonContent/loadTextContent,
for-expressions, ternaries on known conditions); anything that only exists at deployment time (resource
properties, module outputs, uniqueString, ...) stays an `Unresolved` carrying its source text and, for
function calls, the function name and evaluated arguments.

tree-sitter-bicep 1.1 quirk: a call as the first element of a multi-line array parses as an identifier
followed by a parenthesized expression (no ERROR node); `array_elements` joins the two back into a call.

.bicepparam files: tree-sitter-bicep 1.1 parses `using` but not `param <name> = <value>`, so each such
`param` keyword is rewritten to `var  ` (same length: line and column numbers stay exact) and the file is
read as Bicep.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tree_sitter_bicep
from tree_sitter import Language, Node, Parser

PARSER = Parser(Language(tree_sitter_bicep.language()))
SKIPPED_NODES = frozenset({"comment", "diagnostic_comment"})
# Syntax that checkov's Bicep parser (pycep 0.5.1) rejects: a file using it is not scanned at all.
NEWER_SYNTAX = {
    "lambda_expression": "lambda",
    "type_declaration": "user-defined type",
    "import_statement": "import",
    "import_with_statement": "import",
    "import_functionality": "import",
    "user_defined_function": "user-defined function",
    "array_type": "typed array",
    "nullable_type": "nullable type",
    "union_type": "union type",
    "assert_statement": "assert",
    "test_block": "test block",
}
BICEPPARAM_PARAM = re.compile(rb"^(\s*)param(\s)", re.MULTILINE)


@dataclass(frozen=True)
class Unresolved:
    """A value known only at deployment time."""

    text: str
    function: str | None = None
    args: tuple[Any, ...] = ()

    def __repr__(self) -> str:
        return f"<{self.text}>"


@dataclass(frozen=True)
class SymbolRef:
    """A resource or module symbol used as a value (e.g. `scope: storage`)."""

    symbol: str


class BicepError(ValueError):
    """The template cannot be read or evaluated; the message names the file and line."""


def named_children(node: Node) -> list[Node]:
    return [c for c in node.named_children if c.type not in SKIPPED_NODES]


@dataclass(frozen=True)
class QuirkCall:
    """A call the grammar split into `identifier` + `parenthesized_expression` (see the module docstring)."""

    function: Node
    arguments: list[Node]
    text: str
    start_point: tuple[int, int]


def array_elements(node: Node) -> list[Node | QuirkCall]:
    children = named_children(node)
    elements: list[Node | QuirkCall] = []
    index = 0
    while index < len(children):
        child = children[index]
        following = children[index + 1] if index + 1 < len(children) else None
        if (
            child.type == "identifier"
            and following is not None
            and following.type == "parenthesized_expression"
            and following.start_byte == child.end_byte
        ):
            text = child.text.decode() + following.text.decode()
            elements.append(
                QuirkCall(
                    function=child, arguments=named_children(following), text=text, start_point=tuple(child.start_point)
                )
            )  # type: ignore[arg-type]
            index += 2
            continue
        elements.append(child)
        index += 1
    return elements


def where(path: Path, node: Node) -> str:
    return f"{path}:{node.start_point[0] + 1}"


def syntax_problems(path: Path, source: bytes) -> list[str]:
    """Every ERROR or MISSING node of the tree as 'file:line:column: message'."""
    problems: list[str] = []

    def visit(node: Node) -> None:
        if node.is_missing:
            problems.append(f"{path}:{node.start_point[0] + 1}:{node.start_point[1] + 1}: missing {node.type!r}")
        elif node.type == "ERROR":
            snippet = node.text.decode(errors="replace").splitlines()[0][:60] if node.text else ""
            problems.append(f"{path}:{node.start_point[0] + 1}:{node.start_point[1] + 1}: syntax error at {snippet!r}")
            return
        for child in node.children:
            visit(child)

    visit(PARSER.parse(source).root_node)
    return problems


def newer_syntax(path: Path, source: bytes) -> list[str]:
    """Constructs checkov's parser cannot read, as 'file:line: <construct>'."""
    found: list[str] = []

    def visit(node: Node) -> None:
        if node.type in NEWER_SYNTAX:
            found.append(f"{where(path, node)}: {NEWER_SYNTAX[node.type]} ({node.type})")
        if node.type == "ternary_expression" and node.start_point[0] != node.end_point[0]:
            found.append(f"{where(path, node)}: multi-line ternary")
        for child in node.children:
            visit(child)

    visit(PARSER.parse(source).root_node)
    return found


def bicepparam_source(source: bytes) -> bytes:
    """A .bicepparam file as parseable Bicep: `param x = v` becomes `var   x = v` (same offsets)."""
    return BICEPPARAM_PARAM.sub(lambda m: m.group(1) + b"var  " + m.group(2), source)


def string_literal(node: Node) -> str | None:
    """The value of a string without interpolation, else None."""
    if node.type != "string":
        return None
    parts: list[str] = []
    for child in named_children(node):
        if child.type == "interpolation":
            return None
        parts.append(unescape(child))
    return "".join(parts)


ESCAPES = {"\\'": "'", "\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\t": "\t", "\\$": "$"}


def unescape(node: Node) -> str:
    text = node.text.decode()
    if node.type == "escape_sequence":
        if text.startswith("\\u{"):
            return chr(int(text[3:-1], 16))
        return ESCAPES.get(text, text)
    return text


@dataclass
class Declaration:
    kind: str  # param, var, resource, module, output
    name: str
    node: Node
    decorators: dict[str, list[Node]] = field(default_factory=dict)
    type: str = ""  # param/output type, resource type@api, module path
    value: Node | None = None  # default, value, or the body object of a resource/module
    condition: Node | None = None
    loop: Node | None = None  # the for_statement of a resource/module/var loop
    existing: bool = False
    parent: str | None = None  # symbol of the enclosing resource (nested child resources)

    @property
    def line(self) -> int:
        return self.node.start_point[0] + 1

    def description(self) -> Node | None:
        args = self.decorators.get("description")
        return args[0] if args else None


class BicepFile:
    """One .bicep (or .bicepparam) file: its declarations and an evaluator bound to parameter values."""

    def __init__(self, path: Path, source: bytes | None = None) -> None:
        self.path = path
        raw = path.read_bytes() if source is None else source
        self.is_params_file = path.suffix == ".bicepparam"
        self.source = bicepparam_source(raw) if self.is_params_file else raw
        self.root = PARSER.parse(self.source).root_node
        problems = syntax_problems(path, self.source)
        if problems:
            raise BicepError("; ".join(problems))
        self.using: str | None = None
        self.declarations: list[Declaration] = []
        pending: dict[str, list[Node]] = {}
        for node in named_children(self.root):
            if node.type == "decorators":
                pending = decorators_of(node)
                continue
            if node.type == "using_statement":
                self.using = string_literal(named_children(node)[0])
            declaration = self._declaration(node, pending)
            pending = {}
            if declaration is not None:
                self.declarations.append(declaration)
                if declaration.kind == "resource":
                    self._nested_resources(declaration)

    def _declaration(self, node: Node, decorators: dict[str, list[Node]]) -> Declaration | None:
        kinds = {
            "parameter_declaration": "param",
            "variable_declaration": "var",
            "resource_declaration": "resource",
            "module_declaration": "module",
            "output_declaration": "output",
        }
        kind = kinds.get(node.type)
        if kind is None:
            return None
        children = named_children(node)
        name = children[0].text.decode()
        declaration = Declaration(kind=kind, name=name, node=node, decorators=decorators)
        rest = children[1:]
        if kind in ("param", "output"):
            declaration.type = rest[0].text.decode()
            declaration.value = rest[1] if len(rest) > 1 else None
        elif kind == "var":
            declaration.value = rest[0]
            if rest[0].type == "for_statement":
                declaration.loop = rest[0]
        else:
            declaration.type = string_literal(rest[0]) or rest[0].text.decode()
            declaration.existing = any(c.type == "existing" for c in node.children)
            body = rest[1]
            if body.type == "if_statement":
                declaration.condition, body = named_children(body)[0], named_children(body)[1]
            elif body.type == "for_statement":
                declaration.loop = body
                body = body.child_by_field_name("body") or named_children(body)[-1]
                if body.type == "if_statement":
                    declaration.condition, body = named_children(body)[0], named_children(body)[1]
            declaration.value = body
        return declaration

    def _nested_resources(self, parent: Declaration) -> None:
        if parent.value is None or parent.value.type != "object":
            return
        for prop in named_children(parent.value):
            for child in named_children(prop):
                if child.type == "resource_declaration":
                    nested = self._declaration(child, {})
                    if nested is not None:
                        nested.parent = parent.name
                        self.declarations.append(nested)
                        self._nested_resources(nested)

    def of_kind(self, kind: str) -> dict[str, Declaration]:
        return {d.name: d for d in self.declarations if d.kind == kind}

    @property
    def params(self) -> dict[str, Declaration]:
        return self.of_kind("param")

    @property
    def variables(self) -> dict[str, Declaration]:
        return self.of_kind("var")

    @property
    def resources(self) -> dict[str, Declaration]:
        return self.of_kind("resource")

    @property
    def modules(self) -> dict[str, Declaration]:
        return self.of_kind("module")

    @property
    def outputs(self) -> dict[str, Declaration]:
        return self.of_kind("output")

    def where(self, node: Node) -> str:
        return where(self.path, node)

    def resources_of_type(self, resource_type: str) -> list[Declaration]:
        return [d for d in self.resources.values() if d.type.split("@")[0].lower() == resource_type.lower()]

    def calls(self, function: str) -> Iterator[tuple[Node, list[Node]]]:
        """Every call of `function` in the file, as (node, argument nodes)."""

        def visit(node: Node) -> Iterator[tuple[Node, list[Node]]]:
            if node.type == "call_expression":
                name = node.child_by_field_name("function")
                args = node.child_by_field_name("arguments")
                if name is not None and name.text.decode() == function:
                    yield node, named_children(args) if args is not None else []
            if node.type == "array":
                for element in array_elements(node):
                    if isinstance(element, QuirkCall) and element.function.text.decode() == function:
                        yield element.function, element.arguments
            for child in node.named_children:
                yield from visit(child)

        yield from visit(self.root)

    def preceding_comments(self, node: Node) -> list[str]:
        """The comment lines directly above a declaration (above its decorators too)."""
        comments: list[str] = []
        sibling = node.prev_named_sibling
        while sibling is not None and sibling.type in ("comment", "decorators"):
            if sibling.type == "comment":
                comments.insert(0, sibling.text.decode())
            sibling = sibling.prev_named_sibling
        return comments


def decorators_of(node: Node) -> dict[str, list[Node]]:
    found: dict[str, list[Node]] = {}
    for decorator in named_children(node):
        call = named_children(decorator)[0]
        if call.type != "call_expression":
            continue
        name = call.child_by_field_name("function")
        args = call.child_by_field_name("arguments")
        assert name is not None
        found[name.text.decode().removeprefix("sys.")] = named_children(args) if args is not None else []
    return found


class Evaluator:
    """Evaluates expressions of one file with its parameters bound to known values."""

    def __init__(
        self, file: BicepFile, bindings: Mapping[str, Any] | None = None, environment: Mapping[str, str] | None = None
    ) -> None:
        self.file = file
        self.bindings = dict(bindings or {})
        self.environment = dict(environment or {})  # for readEnvironmentVariable in .bicepparam files
        self._vars: dict[str, Any] = {}
        self._evaluating: set[str] = set()

    def param(self, name: str) -> Any:
        if name in self.bindings:
            return self.bindings[name]
        declaration = self.file.params[name]
        if declaration.value is not None:
            return self.eval(declaration.value)
        return Unresolved(f"param {name}")

    def var(self, name: str) -> Any:
        if name not in self._vars:
            if name in self._evaluating:
                raise BicepError(f"{self.file.where(self.file.variables[name].node)}: variable {name} refers to itself")
            self._evaluating.add(name)
            value = self.file.variables[name].value
            assert value is not None
            self._vars[name] = self.eval(value)
            self._evaluating.discard(name)
        return self._vars[name]

    def instances(self, declaration: Declaration) -> list[Any]:
        """The evaluated body of a resource or module, once per loop iteration (once without a loop)."""
        if declaration.loop is not None:
            values = self.eval(declaration.loop)
            return values if isinstance(values, list) else [values]
        assert declaration.value is not None
        return [self.eval(declaration.value)]

    def eval(self, node: Node, scope: Mapping[str, Any] | None = None) -> Any:
        scope = scope or {}
        kind = node.type
        text = node.text.decode()
        if kind == "string":
            return self._string(node, scope)
        if kind == "number":
            return int(text)
        if kind == "boolean":
            return text == "true"
        if kind == "null":
            return None
        if kind == "object":
            return self._object(node, scope)
        if kind == "array":
            return [
                self._call_parts(e.function.text.decode(), e.arguments, e.text, scope)
                if isinstance(e, QuirkCall)
                else self.eval(e, scope)
                for e in array_elements(node)
            ]
        if kind == "parenthesized_expression":
            inner = named_children(node)
            # `resourceGroup().id` inside an array parses as `resourceGroup` `().id` (a grammar quirk): unknown.
            return self.eval(inner[0], scope) if inner else Unresolved(text)
        if kind == "identifier":
            return self._identifier(text, scope)
        if kind == "member_expression":
            return self._member(node, scope)
        if kind == "subscript_expression":
            target = self.eval(node.child_by_field_name("object"), scope)  # type: ignore[arg-type]
            index = self.eval(node.child_by_field_name("index"), scope)  # type: ignore[arg-type]
            if isinstance(target, (list, dict)) and not isinstance(index, Unresolved):
                try:
                    return target[index]
                except (KeyError, IndexError, TypeError):
                    raise BicepError(f"{self.file.where(node)}: {text} has no element {index!r}") from None
            return Unresolved(text)
        if kind == "call_expression":
            return self._call(node, scope)
        if kind == "for_statement":
            return self._for(node, scope)
        if kind == "ternary_expression":
            condition = self.eval(node.child_by_field_name("condition"), scope)  # type: ignore[arg-type]
            if isinstance(condition, bool):
                branch = "consequence" if condition else "alternative"
                return self.eval(node.child_by_field_name(branch), scope)  # type: ignore[arg-type]
            return Unresolved(text)
        if kind == "unary_expression":
            value = self.eval(node.child_by_field_name("argument"), scope)  # type: ignore[arg-type]
            if text.startswith("!") and isinstance(value, bool):
                return not value
            if text.startswith("-") and isinstance(value, int):
                return -value
            return Unresolved(text)
        if kind == "binary_expression":
            return self._binary(node, scope)
        return Unresolved(text)

    def _string(self, node: Node, scope: Mapping[str, Any]) -> Any:
        if node.text.startswith(b"'''"):
            return node.text.decode()[3:-3]
        parts: list[str] = []
        resolved = True
        for child in named_children(node):
            if child.type == "interpolation":
                expression = named_children(child)[0]
                value = self.eval(expression, scope)
                if isinstance(value, (Unresolved, SymbolRef)) or value is None:
                    resolved = False
                    parts.append("${" + expression.text.decode() + "}")
                else:
                    parts.append(to_string(value))
            else:
                parts.append(unescape(child))
        # A partly known string keeps the known parts and shows the rest as ${expression}.
        return "".join(parts) if resolved else Unresolved("".join(parts))

    def _object(self, node: Node, scope: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for prop in named_children(node):
            children = named_children(prop)
            if not children or children[0].type == "resource_declaration":
                continue
            key_node, value_node = children[0], children[-1]
            key = string_literal(key_node) if key_node.type == "string" else key_node.text.decode()
            if key is None and key_node.type == "string":  # an interpolated key, e.g. '${identity.id}'
                computed = self.eval(key_node, scope)
                key = computed.text if isinstance(computed, Unresolved) else to_string(computed)
            if key is None:
                raise BicepError(f"{self.file.where(key_node)}: computed object keys are not supported here")
            result[key] = self.eval(value_node, scope)
        return result

    def _identifier(self, name: str, scope: Mapping[str, Any]) -> Any:
        if name in scope:
            return scope[name]
        # Outputs are not referenceable; an output may share a variable's name.
        declarations = {d.name: d for d in self.file.declarations if d.kind != "output"}
        declaration = declarations.get(name)
        if declaration is None:
            return Unresolved(name)
        if declaration.kind == "param":
            return self.param(name)
        if declaration.kind == "var":
            return self.var(name)
        if declaration.kind in ("resource", "module"):
            return SymbolRef(name)
        return Unresolved(name)

    def _member(self, node: Node, scope: Mapping[str, Any]) -> Any:
        target = self.eval(node.child_by_field_name("object"), scope)  # type: ignore[arg-type]
        prop = node.child_by_field_name("property")
        assert prop is not None
        name = prop.text.decode()
        if isinstance(target, dict):
            if name not in target:
                raise BicepError(f"{self.file.where(node)}: {node.text.decode()}: no property {name!r}")
            return target[name]
        return Unresolved(node.text.decode())

    def _binary(self, node: Node, scope: Mapping[str, Any]) -> Any:
        left = self.eval(node.child_by_field_name("left"), scope)  # type: ignore[arg-type]
        right = self.eval(node.child_by_field_name("right"), scope)  # type: ignore[arg-type]
        operator = next(c.text.decode() for c in node.children if not c.is_named)
        if isinstance(left, Unresolved) or isinstance(right, Unresolved):
            return Unresolved(node.text.decode())
        operations = {
            "==": lambda a, b: a == b,
            "!=": lambda a, b: a != b,
            "&&": lambda a, b: a and b,
            "||": lambda a, b: a or b,
            "??": lambda a, b: b if a is None else a,
            "+": lambda a, b: a + b,
            "-": lambda a, b: a - b,
        }
        if operator not in operations:
            return Unresolved(node.text.decode())
        return operations[operator](left, right)

    def _call(self, node: Node, scope: Mapping[str, Any]) -> Any:
        function_node = node.child_by_field_name("function")
        args_node = node.child_by_field_name("arguments")
        assert function_node is not None
        arg_nodes = named_children(args_node) if args_node is not None else []
        return self._call_parts(function_node.text.decode(), arg_nodes, node.text.decode(), scope)

    def _call_parts(self, function: str, arg_nodes: list[Node], text: str, scope: Mapping[str, Any]) -> Any:
        name = function.removeprefix("sys.").removeprefix("az.")
        args = [self.eval(a, scope) for a in arg_nodes]
        known = not any(isinstance(a, (Unresolved, SymbolRef)) for a in args)
        if name == "loadJsonContent" and known:
            target = (self.file.path.parent / args[0]).resolve()
            if not target.is_file():
                raise BicepError(f"{self.file.path}: loadJsonContent path {args[0]!r} does not exist")
            return json.loads(target.read_text(encoding="utf-8"))
        if name == "loadTextContent" and known:
            target = (self.file.path.parent / args[0]).resolve()
            if not target.is_file():
                raise BicepError(f"{self.file.path}: loadTextContent path {args[0]!r} does not exist")
            return target.read_text(encoding="utf-8")
        if name == "union" and known and all(isinstance(a, dict) for a in args):
            merged: dict[str, Any] = {}
            for arg in args:
                merged = deep_merge(merged, arg)
            return merged
        if name == "union" and known and all(isinstance(a, list) for a in args):
            return list(dict.fromkeys(json.dumps(x, sort_keys=True) for a in args for x in a))
        if name == "items" and known and isinstance(args[0], dict):
            return [{"key": k, "value": args[0][k]} for k in sorted(args[0], key=str.lower)]
        if name == "string" and known:
            return to_string(args[0])
        if name == "json" and known:
            return json.loads(args[0])
        if name == "concat" and known:
            if all(isinstance(a, list) for a in args):
                return [x for a in args for x in a]
            return "".join(to_string(a) for a in args)
        if name == "join" and known and isinstance(args[0], list) and isinstance(args[1], str):
            return args[1].join(to_string(a) for a in args[0])
        if name == "split" and known and isinstance(args[0], str) and isinstance(args[1], str):
            return args[0].split(args[1])
        if name == "empty" and known:
            return not args[0]
        if name == "readEnvironmentVariable" and known:
            if args[0] in self.environment:
                return self.environment[args[0]]
            return args[1] if len(args) > 1 else Unresolved(text, name, tuple(args))
        return Unresolved(text, name, tuple(args))

    def _for(self, node: Node, scope: Mapping[str, Any]) -> Any:
        children = named_children(node)
        body = node.child_by_field_name("body") or children[-1]
        if children[0].type == "for_loop_parameters":
            params = named_children(children[0])
            item_name, index_name = params[0].text.decode(), params[1].text.decode()
        else:
            item_name, index_name = children[0].text.decode(), None
        iterable = self.eval(children[1], scope)
        if not isinstance(iterable, list):
            return Unresolved(node.text.decode())
        result = []
        for index, item in enumerate(iterable):
            local = {**scope, item_name: item}
            if index_name:
                local[index_name] = index
            if body.type == "if_statement":
                condition, filtered = named_children(body)
                keep = self.eval(condition, local)
                if keep is not True:
                    if isinstance(keep, bool):
                        continue
                    return Unresolved(node.text.decode())
                result.append(self.eval(filtered, local))
            else:
                result.append(self.eval(body, local))
        return result


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """ARM union() of objects: later keys win, nested objects merge."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def to_string(value: Any) -> str:
    """ARM string(): booleans as True/False, objects and arrays as JSON."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


@dataclass
class Deployment:
    """main.bicep bound to one .bicepparam file, with its modules bound to the values passed in."""

    main: BicepFile
    params_file: BicepFile | None
    evaluator: Evaluator
    modules: dict[str, tuple[BicepFile, Evaluator]]

    @classmethod
    def load(cls, params_path: Path, environment: Mapping[str, str] | None = None) -> Deployment:
        """main.bicep as the .bicepparam file binds it (readEnvironmentVariable reads `environment`)."""
        params_file = BicepFile(params_path)
        if params_file.using is None:
            raise BicepError(f"{params_path}: no using statement")
        main_path = (params_path.parent / params_file.using).resolve()
        if not main_path.is_file():
            raise BicepError(f"{params_path}: using path {params_file.using!r} does not exist")
        params_evaluator = Evaluator(params_file, environment=environment)
        main = BicepFile(main_path)
        assigned = set(params_file.variables) - set(_params_file_vars(params_file))
        unknown = sorted(assigned - set(main.params))
        if unknown:
            raise BicepError(f"{params_path}: parameters not declared in {main_path.name}: {', '.join(unknown)}")
        missing = sorted(name for name, p in main.params.items() if p.value is None and name not in assigned)
        if missing:
            raise BicepError(f"{params_path}: required parameters of {main_path.name} not set: {', '.join(missing)}")
        bindings = {name: params_evaluator.var(name) for name in assigned}
        return cls.bind(main, bindings, params_file)

    @classmethod
    def bind(cls, main: BicepFile, bindings: Mapping[str, Any], params_file: BicepFile | None = None) -> Deployment:
        """main.bicep with its parameters bound to `bindings` (the others take their defaults)."""
        main_path = main.path
        evaluator = Evaluator(main, bindings)
        modules: dict[str, tuple[BicepFile, Evaluator]] = {}
        for symbol, module in main.modules.items():
            module_path = (main_path.parent / module.type).resolve()
            if not module_path.is_file():
                raise BicepError(f"{main.where(module.node)}: module path {module.type!r} does not exist")
            module_file = BicepFile(module_path)
            assert module.value is not None
            body = evaluator.eval(module.value)
            passed = body.get("params", {})
            unknown = sorted(set(passed) - set(module_file.params))
            if unknown:
                raise BicepError(f"{main.where(module.node)}: module {symbol} has no parameter {', '.join(unknown)}")
            missing = sorted(n for n, p in module_file.params.items() if p.value is None and n not in passed)
            if missing:
                raise BicepError(f"{main.where(module.node)}: module {symbol} lacks required {', '.join(missing)}")
            modules[symbol] = (module_file, Evaluator(module_file, passed))
        return cls(main, params_file, evaluator, modules)

    def module(self, path_suffix: str) -> tuple[BicepFile, Evaluator]:
        """The module whose file name is `path_suffix` (e.g. 'sql.bicep')."""
        for module_file, evaluator in self.modules.values():
            if module_file.path.name == path_suffix:
                return module_file, evaluator
        raise BicepError(f"{self.main.path}: no module {path_suffix}")

    def module_of_resource_type(self, resource_type: str) -> list[tuple[BicepFile, Evaluator, Declaration]]:
        found = []
        for module_file, evaluator in self.modules.values():
            for declaration in module_file.resources_of_type(resource_type):
                found.append((module_file, evaluator, declaration))
        return found

    def only(self, resource_type: str) -> tuple[BicepFile, Evaluator, Declaration]:
        """The one non-existing resource of a type (an error if there are none or several)."""
        found = [f for f in self.module_of_resource_type(resource_type) if not f[2].existing]
        if len(found) != 1:
            raise BicepError(f"expected one {resource_type}, found {len(found)}")
        return found[0]


def _params_file_vars(params_file: BicepFile) -> list[str]:
    """Names declared with `var` in the original .bicepparam text (not rewritten params)."""
    original = params_file.path.read_bytes()
    return [m.decode() for m in re.findall(rb"^\s*var\s+(\w+)", original, re.MULTILINE)]
