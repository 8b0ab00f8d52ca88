"""Offline validation of adf/: structure against the Data Factory models, references, expressions, and
this repo's alerting invariant. `validate_factory(factory)` returns problems, each "file: $.path: message".

Structure: every resource is read with azure-mgmt-datafactory 9.3.0's own deserializer (so the SDK
accepts it) and then walked key by key against the models' attribute maps. The walk, not msrest's
`additional_properties`, finds unknown keys: msrest only records unknown keys at the top level of a
flattened model, so a misspelled key inside `typeProperties` (e.g. `preCopyScrpt`) is silently dropped.
The walk also reports polymorphic `type`s no model knows (msrest falls back to the base class), missing
required properties (the models' `_validation`), enum values outside the models' enum classes, and
literal values of the wrong JSON type. Free-form values (`object` in the models: expressions,
parameters, headers, bodies) are not walked, except those with a known shape (copy translator,
additional columns, stored procedure parameters).

Only the SDK's public surface is imported: the model classes of `azure.mgmt.datafactory.models` with
their `deserialize`, and azure-core's `DeserializationError`, which the SDK raises. The walk reads the
metadata the generator puts on each model class (`_attribute_map`, `_validation`, `_subtype_map`). Why the
SDK stays at 9.3.0: 10.x generates its models differently (no `deserialize`, no numeric limits, no model
for the copy translator, additional columns or stored procedure parameters), so validating against it
would drop checks; and the fake `az` of tests/infra renders a trigger the way the CLI's datafactory
extension does, from 9.3.0's model (docs/azure-fidelity.md).
"""

from __future__ import annotations

import difflib
import inspect
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any

from azure.core.exceptions import DeserializationError
from azure.mgmt.datafactory import models as sdk_models

from company_activity_local.pipeline import expressions as ex
from company_activity_local.pipeline import resources as rs
from company_activity_local.pipeline.resources import JsonObject

__all__ = ["Problem", "validate_directory", "validate_factory"]


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return ": ".join(part for part in (self.file, self.path, self.message) if part)


# ------------------------------------------------------------------------------ model catalogue

# The public model classes: every class of `azure.mgmt.datafactory.models` with a `deserialize` classmethod.
MODELS: dict[str, type[Any]] = {
    name: cls for name, cls in vars(sdk_models).items()
    if isinstance(cls, type) and callable(getattr(cls, "deserialize", None)) and hasattr(cls, "_attribute_map")
}
ENUMS: dict[str, type[Enum]] = {
    name: cls for name, cls in vars(sdk_models).items() if isinstance(cls, type) and issubclass(cls, Enum)
}
ROOT_MODELS = {
    "factory": "Factory",
    "pipeline": "PipelineResource",
    "dataset": "DatasetResource",
    "linkedService": "LinkedServiceResource",
    "trigger": "TriggerResource",
}

# `object`-typed properties whose shape is nevertheless known: walk them with this model type.
OBJECT_SHAPES: dict[tuple[str, str], str] = {
    ("CopyActivity", "translator"): "CopyTranslator",
    ("SqlServerStoredProcedureActivity", "stored_procedure_parameters"): "{StoredProcedureParameter}",
    **{(cls, "additional_columns"): "[AdditionalColumns]"
       for cls, model in MODELS.items() if "additional_columns" in getattr(model, "_attribute_map", {})},
}
# Plain `str` properties whose allowed values the SDK does not enumerate.
EXTRA_ENUMS: dict[tuple[str, str], frozenset[str]] = {
    ("WebActivityAuthentication", "type"): frozenset(
        {"Basic", "ClientCertificate", "MSI", "ServicePrincipal", "UserAssignedManagedIdentity"}),
}
# Keys ADF Studio writes that the models do not declare.
STUDIO_KEYS: dict[str, str] = {"lastPublishTime": "written by ADF Studio on publish"}
# The keys a TabularTranslator mapping's source/sink may hold (mappings is `object` in the models).
MAPPING_KEYS = frozenset({"name", "path", "type", "physicalType", "ordinal", "culture", "format"})

REFERENCE_FUNCTIONS = frozenset({"pipeline", "activity", "dataset", "linkedservice", "trigger", "item", "variables"})
ALLOWED_REFERENCE_FUNCTIONS = {
    "pipeline": frozenset({"pipeline", "activity", "item", "variables"}),
    "dataset": frozenset({"dataset"}),
    "linkedService": frozenset({"linkedservice"}),
    "trigger": frozenset({"trigger"}),
    "factory": frozenset(),
}
SECRET_PATTERNS = (
    (re.compile(r"AccountKey=", re.I), "a storage account key"),
    (re.compile(r"(^|;)\s*Password=", re.I), "a password"),
    (re.compile(r"SharedAccessSignature=|[?&]sig=", re.I), "a shared access signature"),
    (re.compile(r"hooks\.slack\.com/services/", re.I), "a Slack webhook URL"),
)
MAX_ACTIVITY_TIMEOUT = timedelta(days=1)
ACTIVITY_NAME = re.compile(r"[^.+?/<>*%&:\\]{1,55}")


@cache
def _key_tree(cls_name: str) -> dict[str, Any]:
    """Nested JSON key -> (attribute, description) | subtree, from a model's flattened attribute map."""
    tree: dict[str, Any] = {}
    for attr, desc in MODELS[cls_name]._attribute_map.items():
        if desc["key"] == "":
            continue  # additional_properties
        parts = [part.replace("\\.", ".") for part in re.split(r"(?<!\\)\.", desc["key"])]
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = (attr, desc)
    return tree


@cache
def _enum_values(cls_name: str, attr: str) -> frozenset[str] | None:
    extra = EXTRA_ENUMS.get((cls_name, attr))
    if extra is not None:
        return extra
    for klass in MODELS[cls_name].__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameter = inspect.signature(init).parameters.get(attr)
        if parameter is None:
            continue
        match = re.search(r"_models\.(\w+)", str(parameter.annotation))
        if match and match.group(1) in ENUMS:
            return frozenset(member.value for member in ENUMS[match.group(1)])
        return None
    return None


def _is_expression_object(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "Expression" and "value" in value


def _suggest(key: str, known: list[str]) -> str:
    folded = [k for k in known if k.lower() == key.lower()]
    close = folded or difflib.get_close_matches(key, known, n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


class _StructureWalker:
    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, path, message))

    def model(self, cls_name: str, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            self.problem(path, f"expected an object ({cls_name}), got {type(data).__name__}")
            return
        resolved = self.classify(cls_name, data, path)
        if resolved is None:
            return
        cls = MODELS[resolved]
        self.required(cls, data, path)
        self.tree(resolved, _key_tree(resolved), data, path)

    def classify(self, cls_name: str, data: JsonObject, path: str) -> str | None:
        cls = MODELS[cls_name]
        subtypes = cls.__dict__.get("_subtype_map")
        if not subtypes:
            return cls_name
        attr = next(iter(subtypes))
        key = cls._attribute_map[attr]["key"]
        value = data.get(key)
        if not isinstance(value, str) or not value:
            self.problem(f"{path}.{key}", f"missing {key!r}: a {cls_name} needs one of its types")
            return None
        known = cls._flatten_subtype(attr, MODELS)
        if value in known:
            return self.classify(known[value], data, path) if known[value] != cls_name else known[value]
        self.problem(f"{path}.{key}", f"unknown {cls_name} type {value!r}: no model has this type, "
                                      f"so it would deserialize to the base class{_suggest(value, sorted(known))}")
        return None

    def required(self, cls: type[Any], data: JsonObject, path: str) -> None:
        for attr, rules in getattr(cls, "_validation", {}).items():
            if not rules.get("required") or attr not in cls._attribute_map:
                continue
            parts = re.split(r"(?<!\\)\.", cls._attribute_map[attr]["key"])
            node: Any = data
            for part in parts:
                node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                self.problem(f"{path}.{'.'.join(parts)}", f"required property of {cls.__name__} is missing")

    def tree(self, cls_name: str, tree: dict[str, Any], data: JsonObject, path: str) -> None:
        for key, value in data.items():
            here = f"{path}.{key}"
            node = tree.get(key)
            if node is None:
                if key not in STUDIO_KEYS:
                    self.problem(here, f"unknown property {key!r} of {cls_name}{_suggest(key, sorted(tree))}")
                continue
            if isinstance(node, dict):
                if not isinstance(value, dict):
                    self.problem(here, f"expected an object, got {type(value).__name__}")
                else:
                    self.tree(cls_name, node, value, here)
                continue
            attr, desc = node
            rules = getattr(MODELS[cls_name], "_validation", {}).get(attr, {})
            self.value(cls_name, attr, desc["type"], value, here, rules)

    def value(self, cls_name: str, attr: str, type_name: str, value: Any, path: str, rules: JsonObject) -> None:
        if value is None:
            return
        if type_name.startswith("[") and type_name.endswith("]"):
            if not isinstance(value, list):
                if not _is_expression_object(value):
                    self.problem(path, f"expected an array, got {type(value).__name__}")
                return
            for index, item in enumerate(value):
                self.value(cls_name, attr, type_name[1:-1], item, f"{path}[{index}]", {})
            if "min_items" in rules and len(value) < rules["min_items"]:
                self.problem(path, f"needs at least {rules['min_items']} item(s)")
            return
        if type_name.startswith("{") and type_name.endswith("}"):
            if not isinstance(value, dict):
                self.problem(path, f"expected an object, got {type(value).__name__}")
                return
            for key, item in value.items():
                self.value(cls_name, attr, type_name[1:-1], item, f"{path}.{key}", {})
            return
        if type_name == "object":
            shape = OBJECT_SHAPES.get((cls_name, attr))
            if shape and not _is_expression_object(value):
                self.value(cls_name, attr, shape, value, path, {})
                if shape == "CopyTranslator" and isinstance(value, dict):
                    self.mappings(value.get("mappings"), f"{path}.mappings")
            return
        if type_name in MODELS:
            self.model(type_name, value, path)
            return
        self.primitive(cls_name, attr, type_name, value, path, rules)

    def primitive(self, cls_name: str, attr: str, type_name: str, value: Any, path: str, rules: JsonObject) -> None:
        kinds = {"str": (str,), "int": (int,), "long": (int,), "bool": (bool,), "float": (int, float),
                 "iso-8601": (str,), "duration": (str,)}
        expected = kinds.get(type_name)
        if expected is None:
            return
        if not isinstance(value, expected) or (type_name in ("int", "long", "float") and isinstance(value, bool)):
            self.problem(path, f"expected {type_name}, got {type(value).__name__} {value!r}")
            return
        if type_name == "str" and isinstance(value, str):
            allowed = _enum_values(cls_name, attr)
            if allowed is not None and value not in allowed:
                case = [a for a in allowed if a.lower() == value.lower()]
                hint = f" (write {case[0]!r})" if case else ""
                self.problem(path, f"invalid value {value!r}{hint}; allowed: {', '.join(sorted(allowed))}")
        if type_name == "iso-8601" and isinstance(value, str):
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                self.problem(path, f"expected an ISO 8601 date-time, got {value!r}")
        if isinstance(value, int | float) and not isinstance(value, bool):
            if "minimum" in rules and value < rules["minimum"]:
                self.problem(path, f"must be at least {rules['minimum']}, got {value}")
            if "maximum" in rules and value > rules["maximum"]:
                self.problem(path, f"must be at most {rules['maximum']}, got {value}")

    def mappings(self, mappings: Any, path: str) -> None:
        if mappings is None or _is_expression_object(mappings):
            return
        if not isinstance(mappings, list):
            self.problem(path, "expected an array of {source, sink} mappings")
            return
        for index, mapping in enumerate(mappings):
            here = f"{path}[{index}]"
            if not isinstance(mapping, dict):
                self.problem(here, "expected an object with source and sink")
                continue
            for key in mapping:
                if key not in ("source", "sink"):
                    self.problem(f"{here}.{key}", f"unknown mapping key {key!r}{_suggest(key, ['source', 'sink'])}")
            for side in ("source", "sink"):
                column = mapping.get(side)
                if not isinstance(column, dict):
                    self.problem(f"{here}.{side}", f"mapping needs a {side} object")
                    continue
                for key in column:
                    if key not in MAPPING_KEYS:
                        self.problem(f"{here}.{side}.{key}",
                                     f"unknown mapping property {key!r}{_suggest(key, sorted(MAPPING_KEYS))}")
                if not {"name", "path", "ordinal"} & set(column):
                    self.problem(f"{here}.{side}", "a mapping column needs name, path or ordinal")


def _check_structure(kind: str, data: JsonObject, file: str, problems: list[Problem]) -> None:
    root = ROOT_MODELS[kind]
    sdk_log = logging.getLogger(sdk_models.__name__.rsplit(".", 1)[0])  # the SDK's package logger
    level = sdk_log.level
    sdk_log.setLevel(logging.ERROR)  # its warning about unknown subtypes is reported below, with the path
    try:
        MODELS[root].deserialize(data)
    except DeserializationError as exc:
        problems.append(Problem(file, "$", f"the Data Factory models cannot read this resource: {exc}"))
    finally:
        sdk_log.setLevel(level)
    _StructureWalker(file, problems).model(root, data, "$")


# ---------------------------------------------------------------------------------- references


def _iter_dicts(value: Any, path: str = "$") -> Iterator[tuple[str, JsonObject]]:
    if isinstance(value, dict):
        yield path, value
        for key, item in value.items():
            yield from _iter_dicts(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _iter_dicts(item, f"{path}[{index}]")


def _check_parameters(file: str, path: str, target: str, declared: JsonObject, supplied: Any,
                      problems: list[Problem]) -> None:
    supplied = supplied if isinstance(supplied, dict) else {}
    for name in supplied:
        if name not in declared:
            problems.append(Problem(file, f"{path}.{name}", f"{target} declares no parameter {name!r}"
                                    f"{_suggest(name, sorted(declared))} (declared: {', '.join(declared) or 'none'})"))
    for name, spec in declared.items():
        if name not in supplied and not (isinstance(spec, dict) and "defaultValue" in spec):
            problems.append(Problem(file, path, f"{target} parameter {name!r} has no defaultValue and is not supplied"))


def _check_references(factory: rs.Factory, kind: str, data: JsonObject, file: str, problems: list[Problem]) -> None:
    for path, node in _iter_dicts(data):
        ref_kind = rs.REFERENCE_KINDS.get(str(node.get("type")))
        if ref_kind is None or "referenceName" not in node:
            continue
        name = node["referenceName"]
        targets = factory.by_kind(ref_kind)
        if name not in targets:
            problems.append(Problem(file, f"{path}.referenceName", f"{ref_kind} {name!r} does not exist"
                                    f"{_suggest(str(name), sorted(targets))}"))
            continue
        if ref_kind != "pipeline":
            _check_parameters(file, f"{path}.parameters", f"{ref_kind} {name!r}",
                              rs.declared_parameters(targets[name]), node.get("parameters"), problems)
    if kind == "trigger":
        props = data.get("properties", {})
        entries = [("$.properties.pipeline", props.get("pipeline"))] + [
            (f"$.properties.pipelines[{i}]", p) for i, p in enumerate(props.get("pipelines", []) or [])]
        for path, entry in entries:
            if not isinstance(entry, dict):
                continue
            ref = entry.get("pipelineReference", {})
            pipeline = factory.pipelines.get(ref.get("referenceName"))
            if pipeline is not None:
                _check_parameters(file, f"{path}.parameters", f"pipeline {ref['referenceName']!r}",
                                  rs.declared_parameters(pipeline), entry.get("parameters"), problems)


def _check_dependencies(pipeline: JsonObject, file: str, problems: list[Problem]) -> None:
    lists = [("$.properties.activities", rs.pipeline_activities(pipeline))] + [
        (f"{item.path}.{sub}", children)
        for item in rs.walk_activities(rs.pipeline_activities(pipeline))
        for sub, children in rs.child_activity_lists(item.activity)
    ]
    for path, activities in lists:
        names = [a.get("name") for a in activities if isinstance(a, dict)]
        for duplicate in sorted({n for n in names if names.count(n) > 1}, key=str):
            problems.append(Problem(file, path, f"two activities are named {duplicate!r}"))
        for index, activity in enumerate(activities):
            for entry, (upstream, _) in enumerate(rs.dependencies(activity)):
                where = f"{path}[{index}].dependsOn[{entry}].activity"
                if upstream == activity.get("name"):
                    problems.append(Problem(file, where, "an activity cannot depend on itself"))
                elif upstream not in names:
                    problems.append(Problem(file, where, f"depends on {upstream!r}, which is not an activity of "
                                            f"the same list{_suggest(upstream, [str(n) for n in names])}"))
        try:
            rs.upstream_closure(activities)
        except rs.ResourceError as exc:
            problems.append(Problem(file, path, str(exc)))
    seen: dict[str, str] = {}
    for item in rs.walk_activities(rs.pipeline_activities(pipeline)):
        name = str(item.activity.get("name"))
        if not ACTIVITY_NAME.fullmatch(name):
            problems.append(Problem(file, f"{item.path}.name", f"activity name {name!r} must be 1-55 characters "
                                                               "without . + ? / < > * % & : \\"))
        if name in seen and item.scope:
            problems.append(Problem(file, f"{item.path}.name", f"activity name {name!r} is already used at "
                                                               f"{seen[name]}: names are unique in a pipeline"))
        seen.setdefault(name, item.path)


# --------------------------------------------------------------------------------- expressions


def _visible_activities(pipeline: JsonObject) -> dict[str, tuple[set[str], set[str]]]:
    """activity name -> (activities whose results it may read, every activity name of the pipeline)."""
    everything = {str(item.activity.get("name")) for item in rs.walk_activities(rs.pipeline_activities(pipeline))}
    closures: dict[int, dict[str, set[str]]] = {}
    visible: dict[str, tuple[set[str], set[str]]] = {}
    containers: dict[str, set[str]] = {}
    for item in rs.walk_activities(rs.pipeline_activities(pipeline)):
        key = id(item.siblings[0]) if item.siblings else 0
        if key not in closures:
            try:
                closures[key] = rs.upstream_closure(list(item.siblings))
            except rs.ResourceError:
                closures[key] = {}
        name = str(item.activity.get("name"))
        own = set(closures[key].get(name, set()))
        inherited = containers.get(item.scope[-1], set()) if item.scope else set()
        visible[name] = (own | inherited, everything)
        containers[name] = own | inherited
    return visible


def _check_expressions(factory: rs.Factory, kind: str, data: JsonObject, file: str, problems: list[Problem]) -> None:
    props = data.get("properties", {}) if isinstance(data.get("properties"), dict) else {}
    declared = set(rs.declared_parameters(data))
    globals_ = set(factory.global_parameters)
    variables = set((props.get("variables") or {}) if kind == "pipeline" else ())
    allowed = ALLOWED_REFERENCE_FUNCTIONS[kind]
    scopes: list[tuple[str, Any, str | None]] = []
    if kind == "pipeline":
        visible = _visible_activities(data)
        for item in rs.walk_activities(rs.pipeline_activities(data)):
            nested = {sub.split(".", 1)[1].split("[", 1)[0] for sub, _ in rs.child_activity_lists(item.activity)}
            own = dict(item.activity)
            if nested:
                own["typeProperties"] = {k: v for k, v in own.get("typeProperties", {}).items() if k not in nested}
            scopes.append((item.path, own, str(item.activity.get("name"))))
        scopes.append(("$.properties.parameters", props.get("parameters", {}), None))
    else:
        scopes.append(("$", data, None))
        visible = {}
    for base, value, activity in scopes:
        for path, text in ex.find_expressions(value, base, skip_keys=frozenset({"description", "activities"})):
            try:
                node = ex.parse(text)
            except ex.ExpressionError as exc:
                problems.append(Problem(file, path, f"expression does not parse: {exc}"))
                continue
            for message in ex.undocumented_uses(node):
                problems.append(Problem(file, path, message))
            for function in sorted(ex.called_functions(node) & REFERENCE_FUNCTIONS - allowed):
                problems.append(Problem(file, path, f"{function}() cannot be used in a {kind}"))
            for scope, names, owner in (("pipeline", declared if kind == "pipeline" else set(), "the pipeline"),
                                        ("dataset", declared, "the dataset"),
                                        ("linkedService", declared, "the linked service"),
                                        ("globalParameters", globals_, "the factory's globalParameters")):
                if scope in ("dataset", "linkedService") and scope != kind:
                    continue
                for name in sorted(ex.referenced_parameters(node, scope) - names):
                    problems.append(Problem(file, path, f"parameter {name!r} is not declared by {owner}"
                                            f"{_suggest(name, sorted(names))}"))
            for name in sorted(_referenced_variables(node) - variables):
                problems.append(Problem(file, path, f"variable {name!r} is not declared by the pipeline"))
            if activity is not None:
                readable, everything = visible[activity]
                for name in sorted(ex.referenced_activities(node)):
                    if name not in everything:
                        problems.append(Problem(file, path, f"activity {name!r} does not exist"
                                                f"{_suggest(name, sorted(everything))}"))
                    elif name not in readable:
                        problems.append(Problem(file, path, f"activity {name!r} is not upstream of {activity!r}: "
                                                "ADF only lets an activity read activities it depends on"))


def _referenced_variables(node: ex.Node) -> set[str]:
    return {
        sub.args[0].value for sub in ex._walk(node)
        if isinstance(sub, ex.Call) and sub.key == "variables" and sub.args
        and isinstance(sub.args[0], ex.Literal) and isinstance(sub.args[0].value, str)
    }


# ---------------------------------------------------------------------------------- repo rules


def _check_policies(pipeline: JsonObject, file: str, problems: list[Problem]) -> None:
    execution = MODELS["ExecutionActivity"]
    for item in rs.walk_activities(rs.pipeline_activities(pipeline)):
        activity = item.activity
        known = MODELS["Activity"]._flatten_subtype("type", MODELS).get(str(activity.get("type")))
        if known is None or not issubclass(MODELS[known], execution):
            continue
        timeout = (activity.get("policy") or {}).get("timeout")
        if timeout is None:
            problems.append(Problem(file, f"{item.path}.policy.timeout",
                                    "missing: without it the activity may run for ADF's default of 7 days"))
        elif isinstance(timeout, str) and not timeout.startswith("@"):
            try:
                if rs.parse_timespan(timeout, "timeout") > MAX_ACTIVITY_TIMEOUT:
                    problems.append(Problem(file, f"{item.path}.policy.timeout",
                                            f"{timeout} is longer than {MAX_ACTIVITY_TIMEOUT}"))
            except rs.ResourceError as exc:
                problems.append(Problem(file, f"{item.path}.policy.timeout", str(exc)))


def _check_secrets(data: JsonObject, file: str, problems: list[Problem]) -> None:
    for path, node in _iter_dicts(data):
        if node.get("type") in ("SecureString",):
            problems.append(Problem(file, path, "a SecureString in committed JSON: use managed identity or an "
                                                "AzureKeyVaultSecret reference"))
        for key, value in node.items():
            if isinstance(value, str):
                for pattern, what in SECRET_PATTERNS:
                    if pattern.search(value):
                        problems.append(Problem(file, f"{path}.{key}", f"looks like {what}: secrets never go in "
                                                                       "the factory JSON"))


def _check_alerting(pipeline: JsonObject, file: str, problems: list[Problem]) -> None:
    """One chain ending in the stored procedure; an alert branch that reacts to its failure and ends in Fail.

    The branch is judged by playing it (`_play_alert`), not by its shape: every chain activity failing
    in turn, and every success or failure of each alert activity that runs."""
    activities = [a for a in rs.pipeline_activities(pipeline) if isinstance(a, dict)]
    path = "$.properties.activities"
    index = {str(a.get("name")): i for i, a in enumerate(activities)}
    by_name = {str(a.get("name")): a for a in activities}
    try:
        closure = rs.upstream_closure(activities)
    except rs.ResourceError:
        return  # a cycle, reported by _check_dependencies
    if any(upstream not in by_name for a in activities for upstream, _ in rs.dependencies(a)):
        return  # a dangling dependsOn, reported by _check_dependencies
    reacting = {rs.FAILED, rs.SKIPPED, rs.COMPLETED}
    alert: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, activity in by_name.items():
            if name not in alert and any(conditions & reacting or upstream in alert
                                         for upstream, conditions in rs.dependencies(activity)):
                alert.add(name)
                changed = True
    chain = [name for name in by_name if name not in alert]
    if not alert:
        problems.append(Problem(file, path, "no alert branch: nothing runs when the chain fails"))
    downstream_in_chain = {u for n in chain for u, _ in rs.dependencies(by_name[n])}
    terminals = [n for n in chain if n not in downstream_in_chain]
    if len(terminals) != 1:
        problems.append(Problem(file, path, f"expected exactly one chain ending in one activity, found "
                                            f"{len(terminals)} end(s): {', '.join(terminals) or 'none'}"))
        return
    terminal = terminals[0]
    if by_name[terminal].get("type") != "SqlServerStoredProcedure":
        problems.append(Problem(file, f"{path}[{index[terminal]}]",
                                f"the chain must end with the stored procedure activity, not {terminal!r}"))
    for name in chain:
        if name != terminal and name not in closure.get(terminal, set()):
            problems.append(Problem(file, f"{path}[{index[name]}]", f"{name!r} is not upstream of {terminal!r}"))
    if not alert:
        return
    for name in sorted(alert, key=index.__getitem__):
        activity = by_name[name]
        if activity.get("type") == "WebActivity" and str((activity.get("typeProperties") or {}).get("method", "")
                                                           ).upper() != "GET":
            retry = (activity.get("policy") or {}).get("retry", 0)
            if retry != 0:
                problems.append(Problem(file, f"{path}[{index[name]}].policy.retry",
                                        f"{name!r} posts the alert: retry must be 0, got {retry!r} (a post that was "
                                        "delivered but answered with a body the Web activity cannot read would be "
                                        "sent again)"))
    alert_upstreams = {u for n in alert for u, _ in rs.dependencies(by_name[n])}
    ends = [n for n in alert if n not in alert_upstreams]
    fails = [n for n in ends if by_name[n].get("type") == "Fail"]
    if len(ends) != 1 or not fails:
        problems.append(Problem(file, path, f"the alert branch must end with one Fail activity (else ADF reports the "
                                            f"handled failure as Succeeded); it ends with {', '.join(sorted(ends))}"))
        return
    reads = {name: _activities_read(activity) for name, activity in by_name.items()}
    posts = [n for n in alert if by_name[n].get("type") == "WebActivity"
             and str((by_name[n].get("typeProperties") or {}).get("method", "")).upper() != "GET"]
    if not posts:
        problems.append(Problem(file, path, "the alert branch has no Web activity that posts the alert"))
        return
    for problem_path, message in _play_alert(activities, chain, fails[0], posts, reads):
        problems.append(Problem(file, f"{path}[{index[problem_path]}]", message))
        return


def _activities_read(activity: JsonObject) -> set[str]:
    """Activity names an activity's own expressions read with activity('X') (not its nested lists')."""
    nested = {sub.split(".", 1)[1].split("[", 1)[0] for sub, _ in rs.child_activity_lists(activity)}
    own = dict(activity)
    own["typeProperties"] = {k: v for k, v in (activity.get("typeProperties") or {}).items() if k not in nested}
    names: set[str] = set()
    for _, text in ex.find_expressions(own, skip_keys=frozenset({"description"})):
        try:
            names |= ex.referenced_activities(text)
        except ex.ExpressionError:
            continue  # reported by _check_expressions
    return names


def _play_alert(activities: list[JsonObject], chain: list[str], fail: str, posts: list[str],
                reads: dict[str, set[str]]) -> Iterator[tuple[str, str]]:
    """(activity, message) for the first broken promise, playing every scenario: no failure, or each chain
    activity failing (those after it are then skipped), times every outcome of each alert activity that
    runs. Promises: the Fail activity runs exactly when the chain failed, the run ends Failed exactly then,
    the alert is posted on every chain failure unless an alert step before the post failed, and no activity
    that runs reads an activity that did not run (ADF has no Status, output or error for it)."""
    ordered = rs.topological_order(activities)
    for failing in (None, *chain):
        def play(at: int, statuses: dict[str, str], failing: str | None = failing) -> Iterator[tuple[str, str]]:
            if at == len(ordered):
                result = rs.run_outcome(activities, statuses)
                what = f"when {failing} fails" if failing else "when nothing fails"
                if failing is None and (statuses[fail] != rs.SKIPPED or result != rs.SUCCEEDED):
                    yield fail, f"{fail!r} runs or the run ends {result} {what}"
                elif failing is not None and statuses[fail] == rs.SKIPPED:
                    failed = sorted(n for n, s in statuses.items() if s == rs.FAILED and n not in chain)
                    yield fail, (f"{fail!r} is skipped {what} and {', '.join(failed) or 'no alert step'} failed: the "
                                 "run's failure would be reported without the Fail activity's message")
                elif failing is not None and result != rs.FAILED:
                    yield fail, f"the run ends {result} {what}"
                elif failing is not None and not any(s == rs.FAILED for n, s in statuses.items()
                                                         if n not in chain and n != fail):
                    for post in posts:
                        if statuses[post] == rs.SKIPPED:
                            yield post, f"{post!r} is skipped {what} although no alert step failed: no alert is sent"
                return
            activity = ordered[at]
            name = str(activity.get("name"))
            if not rs.dependencies_met(activity, statuses):
                yield from play(at + 1, {**statuses, name: rs.SKIPPED})
                return
            unread = sorted(r for r in reads[name] if statuses.get(r) not in (rs.SUCCEEDED, rs.FAILED))
            if unread:
                yield name, (f"{name!r} runs {f'when {failing} fails' if failing else 'when nothing fails'} and reads "
                             f"activity {unread[0]!r}, which did not run then (ADF gives no Status, output or error "
                             "of a skipped activity)")
                return
            if name in chain:
                outcomes = [rs.FAILED if name == failing else rs.SUCCEEDED]
            elif name == fail:
                outcomes = [rs.FAILED]
            else:
                outcomes = [rs.SUCCEEDED, rs.FAILED]
            for outcome in outcomes:
                found = next(play(at + 1, {**statuses, name: outcome}), None)
                if found:
                    yield found
                    return

        found = next(play(0, {}), None)
        if found:
            yield found
            return


def _check_variable_order(pipeline: JsonObject, file: str, problems: list[Problem]) -> None:
    """A top-level activity that reads variables('v') must depend (transitively) on every top-level activity
    that sets v: otherwise it may read the default while the setter runs (ADF runs independent activities
    in parallel)."""
    activities = [a for a in rs.pipeline_activities(pipeline) if isinstance(a, dict)]
    try:
        closure = rs.upstream_closure(activities)
    except rs.ResourceError:
        return
    writers: dict[str, list[str]] = {}
    for activity in activities:
        if activity.get("type") in ("SetVariable", "AppendVariable"):
            name = (activity.get("typeProperties") or {}).get("variableName")
            writers.setdefault(str(name), []).append(str(activity.get("name")))
    for position, activity in enumerate(activities):
        name = str(activity.get("name"))
        for path, text in ex.find_expressions(activity, f"$.properties.activities[{position}]",
                                              skip_keys=frozenset({"description", "activities"})):
            try:
                read = _referenced_variables(ex.parse(text))
            except ex.ExpressionError:
                continue
            for variable in sorted(read):
                early = [w for w in writers.get(variable, []) if w != name and w not in closure.get(name, set())]
                if early:
                    problems.append(Problem(file, path, f"variable {variable!r} is read before (or while) "
                                                        f"{early[0]!r} may set it: make {name!r} depend on it"))


def _check_json_type_conversion(pipeline: JsonObject, file: str, problems: list[Problem]) -> None:
    """"Schema and data type mapping in copy activity": type conversion is supported between tabular data
    only; with a hierarchical (JSON) source the settings would promise checks that never happen."""
    for item in rs.walk_activities(rs.pipeline_activities(pipeline)):
        props = item.activity.get("typeProperties") or {}
        if item.activity.get("type") != "Copy" or (props.get("source") or {}).get("type") != "JsonSource":
            continue
        translator = props.get("translator") or {}
        for key in ("typeConversion", "typeConversionSettings"):
            if key in translator:
                problems.append(Problem(file, f"{item.path}.typeProperties.translator.{key}",
                                        "type conversion does not apply to a JSON (hierarchical) source: remove it "
                                        "and let the sink's conversion fail bad values"))


def _check_text_date_format(pipeline: JsonObject, file: str, problems: list[Problem]) -> None:
    """A delimited-text copy converts text into the sink's types; which date spellings ADF parses without
    `typeConversionSettings.dateFormat` is not documented, so the copy must name the one its contract
    accepts (docs/crm.md), and any dateTimeFormat must say the same (the docs do not settle which of the two
    ADF applies to a SQL date column)."""
    for item in rs.walk_activities(rs.pipeline_activities(pipeline)):
        props = item.activity.get("typeProperties") or {}
        if item.activity.get("type") != "Copy" or (props.get("source") or {}).get("type") != "DelimitedTextSource":
            continue
        translator = props.get("translator") or {}
        at = f"{item.path}.typeProperties.translator"
        settings = translator.get("typeConversionSettings") or {}
        if translator.get("typeConversion") is not True:
            problems.append(Problem(file, f"{at}.typeConversion", "a delimited-text copy needs typeConversion: true "
                                    "and typeConversionSettings.dateFormat, else the date spellings ADF accepts "
                                    "are not documented"))
        elif not settings.get("dateFormat"):
            problems.append(Problem(file, f"{at}.typeConversionSettings", "a delimited-text copy must set "
                                    "dateFormat (e.g. 'yyyy-MM-dd'), else the date spellings ADF accepts are not "
                                    "documented"))
        elif "dateTimeFormat" in settings and settings["dateTimeFormat"] != settings["dateFormat"]:
            problems.append(Problem(file, f"{at}.typeConversionSettings.dateTimeFormat",
                                    f"{settings['dateTimeFormat']!r} differs from dateFormat {settings['dateFormat']!r}"
                                    ": which of the two ADF applies to a SQL date column is not documented"))


def _check_procedure_parameter_types(pipeline: JsonObject, file: str, problems: list[Problem]) -> None:
    for item in rs.walk_activities(rs.pipeline_activities(pipeline)):
        if item.activity.get("type") != "SqlServerStoredProcedure":
            continue
        params = (item.activity.get("typeProperties") or {}).get("storedProcedureParameters") or {}
        for name, spec in params.items():
            kind = spec.get("type", "String") if isinstance(spec, dict) else None
            if kind not in rs.STORED_PROCEDURE_PARAMETER_TYPES:
                problems.append(Problem(file, f"{item.path}.typeProperties.storedProcedureParameters.{name}.type",
                                        f"{kind!r}: only the documented types "
                                        f"{', '.join(rs.STORED_PROCEDURE_PARAMETER_TYPES)} are accepted (pass other "
                                        "values as String and let SQL convert them)"))


def _check_conventions(factory: rs.Factory, kind: str, name: str, data: JsonObject, file: str,
                       problems: list[Problem]) -> None:
    prefix = rs.NAME_PREFIXES.get(kind)
    if prefix and not name.startswith(prefix):
        problems.append(Problem(file, "$.name", f"{kind} names start with {prefix!r}"))
    if kind == "trigger" and data.get("properties", {}).get("runtimeState") != "Stopped":
        problems.append(Problem(file, "$.properties.runtimeState",
                                "commit triggers Stopped; the deployment starts them explicitly"))


def _check_concurrency(name: str, pipeline: JsonObject, file: str, problems: list[Problem]) -> None:
    """`concurrency` within Data Factory's range, and 1 on a pipeline that loads data: its runs share the staging
    tables, so two runs at once (the trigger, a backfill's child run, a manual run) would interleave their
    deletes and inserts. Later runs then queue instead (pipeline.admission)."""
    try:
        concurrency = rs.pipeline_concurrency(name, pipeline)
    except rs.ResourceError as exc:
        problems.append(Problem(file, "$.properties.concurrency", str(exc)))
        return
    if not _orchestrates(pipeline) and concurrency != 1:
        problems.append(Problem(file, "$.properties.concurrency",
                                f"a pipeline that loads data must set concurrency 1 (its runs share the staging "
                                f"tables), got {concurrency!r}"))


def _orchestrates(pipeline: JsonObject) -> bool:
    """An orchestrating pipeline (PL_backfill) only runs other pipelines (Execute Pipeline) and touches no data
    itself: the pipelines it runs alert for it, so it is exempt from the loading pipeline's alerting invariant.
    Every other pipeline carries the invariant, also one that lost its stored procedure."""
    types = {str(item.activity.get("type")) for item in rs.walk_activities(rs.pipeline_activities(pipeline))}
    return "ExecutePipeline" in types and not types & DATA_ACTIVITY_TYPES


DATA_ACTIVITY_TYPES = frozenset({"Copy", "Lookup", "GetMetadata", "Validation", "SqlServerStoredProcedure", "Script",
                                 "WebActivity", "Delete", "ExecuteDataFlow"})


def _check_execute_pipeline(factory: rs.Factory, name: str, pipeline: JsonObject, file: str,
                            problems: list[Problem]) -> None:
    """Execute Pipeline: waitOnCompletion written out as true, the child's parameters, and no call cycle."""
    for item in rs.walk_activities(rs.pipeline_activities(pipeline)):
        activity = item.activity
        if activity.get("type") != "ExecutePipeline":
            continue
        props = activity.get("typeProperties") or {}
        if props.get("waitOnCompletion") is not True:
            # The REST reference says the default is false, the activity page says true: never rely on it.
            problems.append(Problem(file, f"{item.path}.typeProperties.waitOnCompletion",
                                    "must be written out as true: the caller's outcome and order depend on the "
                                    "child run, and the documented default is ambiguous"))
        child = (props.get("pipeline") or {}).get("referenceName")
        if child in factory.pipelines:
            _check_parameters(file, f"{item.path}.typeProperties.parameters", f"pipeline {child!r}",
                              rs.declared_parameters(factory.pipelines[child]), props.get("parameters"), problems)
            if name in _called_pipelines(factory, str(child), set()):
                problems.append(Problem(file, f"{item.path}.typeProperties.pipeline",
                                        f"pipeline {child!r} calls {name!r} back: a call cycle never ends"))


def _called_pipelines(factory: rs.Factory, name: str, seen: set[str]) -> set[str]:
    """Every pipeline `name` runs through Execute Pipeline, transitively (itself included)."""
    if name in seen or name not in factory.pipelines:
        return seen
    seen.add(name)
    for item in rs.walk_activities(rs.pipeline_activities(factory.pipelines[name])):
        if item.activity.get("type") == "ExecutePipeline":
            child = ((item.activity.get("typeProperties") or {}).get("pipeline") or {}).get("referenceName")
            _called_pipelines(factory, str(child), seen)
    return seen


# ------------------------------------------------------------------------------------- entry


def validate_factory(factory: rs.Factory) -> list[Problem]:
    problems: list[Problem] = []
    for kind in ("factory", "linkedService", "dataset", "pipeline", "trigger"):
        for name, data in factory.by_kind(kind).items():
            file = factory.file_of(kind, name)
            _check_structure(kind, data, file, problems)
            _check_references(factory, kind, data, file, problems)
            _check_expressions(factory, kind, data, file, problems)
            _check_secrets(data, file, problems)
            _check_conventions(factory, kind, name, data, file, problems)
            if kind == "pipeline":
                _check_dependencies(data, file, problems)
                _check_policies(data, file, problems)
                if not _orchestrates(data):
                    _check_alerting(data, file, problems)
                _check_execute_pipeline(factory, name, data, file, problems)
                _check_concurrency(name, data, file, problems)
                _check_variable_order(data, file, problems)
                _check_procedure_parameter_types(data, file, problems)
                _check_json_type_conversion(data, file, problems)
                _check_text_date_format(data, file, problems)
    return sorted(set(problems))


def validate_directory(adf_dir: Path = rs.ADF_DIR) -> list[Problem]:
    """Load and validate an adf/ directory; a file that cannot be loaded is reported as a problem."""
    try:
        factory = rs.load_factory(adf_dir)
    except rs.ResourceError as exc:
        return [Problem("", "", str(exc))]
    return validate_factory(factory)


