"""The Data Factory resources of adf/ (git-integration layout) and the semantics of their JSON.

adf/factory/<name>.json, adf/pipeline/PL_*.json, adf/dataset/DS_*.json, adf/linkedService/LS_*.json and
adf/trigger/TR_*.json hold one resource each; the file name is the resource name. This module loads
them, resolves references between them, binds parameters, and owns the rules of activity
dependencies (conditions, when an activity runs, how a run's outcome is decided) and of .NET
TimeSpan strings, so the validator and the local executor read the JSON the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from company_activity.errors import InputError

# One JSON object of an adf/ resource file, as read: the validator must see every key as written, so the
# resources stay raw JSON; this module owns how they are read.
JsonObject = dict[str, Any]

ADF_DIR: Path = Path(__file__).resolve().parents[3] / "adf"

# Folder of each resource kind in the git layout, and the name prefix this repo uses for it.
KIND_DIRS: dict[str, str] = {
    "pipeline": "pipeline",
    "dataset": "dataset",
    "linkedService": "linkedService",
    "trigger": "trigger",
}
NAME_PREFIXES: dict[str, str] = {"pipeline": "PL_", "dataset": "DS_", "linkedService": "LS_", "trigger": "TR_"}

# Dependency conditions (ActivityDependency.dependencyConditions) and activity run statuses.
SUCCEEDED = "Succeeded"
FAILED = "Failed"
SKIPPED = "Skipped"
COMPLETED = "Completed"
DEPENDENCY_CONDITIONS: frozenset[str] = frozenset({SUCCEEDED, FAILED, SKIPPED, COMPLETED})
FINAL_STATUSES: frozenset[str] = frozenset({SUCCEEDED, FAILED, SKIPPED})
# Stored procedure parameter types with documented examples ("Transform data by using the SQL Server Stored
# Procedure activity" and the stored procedure tutorials). The REST enum also lists Decimal, Guid, Boolean
# and Date, but nothing documents how they travel; the strict reading accepts only these.
STORED_PROCEDURE_PARAMETER_TYPES: tuple[str, ...] = ("String", "Int", "Int64")

# Containers and the keys (under typeProperties) of the activity lists they run.
CONTAINER_LISTS: dict[str, tuple[str, ...]] = {
    "IfCondition": ("ifTrueActivities", "ifFalseActivities"),
    "ForEach": ("activities",),
    "Until": ("activities",),
    "Switch": ("defaultActivities",),  # plus cases[].activities
}


class ResourceError(InputError):
    """A resource file cannot be read or referenced; the message names the file and the JSON key."""


# A pipeline's `concurrency`: "The maximum number of concurrent runs the pipeline can have. By default, there is
# no maximum. If the concurrency limit is reached, additional pipeline runs are queued until earlier ones complete"
# ("Pipelines and activities", Pipeline JSON); the value is 1-50 and at most 100 runs queue ("Pipeline
# Concurrency", the Data Factory troubleshooting guide).
CONCURRENCY_RANGE = range(1, 51)
MAX_QUEUED_RUNS = 100


def pipeline_concurrency(name: str, pipeline: Mapping[str, Any]) -> int | None:
    """The pipeline's `concurrency` (None: no limit); a value outside 1-50 is an error naming it."""
    value = (pipeline.get("properties") or {}).get("concurrency")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value not in CONCURRENCY_RANGE:
        raise ResourceError(f"pipeline {name}: properties.concurrency must be an integer from "
                            f"{CONCURRENCY_RANGE.start} to {CONCURRENCY_RANGE.stop - 1}, got {value!r}")
    return value


@dataclass(frozen=True)
class Factory:
    name: str
    pipelines: dict[str, JsonObject]
    datasets: dict[str, JsonObject]
    linked_services: dict[str, JsonObject]
    triggers: dict[str, JsonObject]
    factory: JsonObject
    adf_dir: Path = ADF_DIR
    files: dict[tuple[str, str], Path] = field(default_factory=dict)  # (kind, name) -> file

    def by_kind(self, kind: str) -> dict[str, JsonObject]:
        return {
            "pipeline": self.pipelines,
            "dataset": self.datasets,
            "linkedService": self.linked_services,
            "trigger": self.triggers,
            "factory": {self.name: self.factory},
        }[kind]

    def file_of(self, kind: str, name: str) -> str:
        """Path of a resource's file relative to the repo (adf/...), for messages."""
        path = self.files.get((kind, name))
        if path is None:
            return f"adf/{KIND_DIRS.get(kind, kind)}/{name}.json"
        try:
            return str(path.relative_to(self.adf_dir.parent))
        except ValueError:
            return str(path)

    @property
    def global_parameters(self) -> dict[str, Any]:
        """Global parameter values by name."""
        specs = self.factory.get("properties", {}).get("globalParameters", {}) or {}
        return {name: spec.get("value") for name, spec in specs.items() if isinstance(spec, dict)}


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ResourceError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResourceError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None


def _load_resource(path: Path) -> JsonObject:
    data = _read_json(path)
    if not isinstance(data, dict):
        raise ResourceError(f"{path}: $: a resource file must hold a JSON object, got {type(data).__name__}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ResourceError(f"{path}: $.name: missing or not a string (the resource name)")
    if name != path.stem:
        raise ResourceError(f"{path}: $.name: resource name {name!r} differs from the file name {path.stem!r}")
    if not isinstance(data.get("properties", {}), dict):
        raise ResourceError(f"{path}: $.properties: must be an object")
    return data


def load_factory(adf_dir: Path = ADF_DIR) -> Factory:
    """Load every resource of an adf/ directory; errors name the file and the key."""
    adf_dir = Path(adf_dir)
    if not adf_dir.is_dir():
        raise ResourceError(f"{adf_dir}: not a directory (expected the ADF git layout: factory/, pipeline/, ...)")
    factory_files = sorted((adf_dir / "factory").glob("*.json"))
    if len(factory_files) != 1:
        raise ResourceError(f"{adf_dir / 'factory'}: expected exactly one factory JSON file, "
                            f"found {len(factory_files)}")
    factory = _load_resource(factory_files[0])
    files: dict[tuple[str, str], Path] = {("factory", factory["name"]): factory_files[0]}
    loaded: dict[str, dict[str, JsonObject]] = {}
    for kind, folder in KIND_DIRS.items():
        resources: dict[str, JsonObject] = {}
        for path in sorted((adf_dir / folder).glob("*.json")):
            resource = _load_resource(path)
            if "properties" not in resource:
                raise ResourceError(f"{path}: $.properties: missing")
            resources[resource["name"]] = resource
            files[(kind, resource["name"])] = path
        loaded[kind] = resources
    return Factory(
        name=factory["name"],
        pipelines=loaded["pipeline"],
        datasets=loaded["dataset"],
        linked_services=loaded["linkedService"],
        triggers=loaded["trigger"],
        factory=factory,
        adf_dir=adf_dir,
        files=files,
    )


# ------------------------------------------------------------------------------- references

REFERENCE_KINDS: dict[str, str] = {
    "DatasetReference": "dataset",
    "LinkedServiceReference": "linkedService",
    "PipelineReference": "pipeline",
}


def resolve(factory: Factory, reference: Mapping[str, Any]) -> JsonObject:
    """The resource a {"referenceName", "type": "DatasetReference"|...} object points at."""
    kind = REFERENCE_KINDS.get(str(reference.get("type")))
    if kind is None:
        raise ResourceError(f"unknown reference type {reference.get('type')!r}; expected one of "
                            f"{', '.join(REFERENCE_KINDS)}")
    name = reference.get("referenceName")
    resources = factory.by_kind(kind)
    if name not in resources:
        raise ResourceError(f"{kind} {name!r} does not exist (known: {', '.join(sorted(resources)) or 'none'})")
    return resources[name]


def resolve_dataset(factory: Factory, reference: Mapping[str, Any]) -> JsonObject:
    return resolve(factory, {**reference, "type": "DatasetReference"})


def resolve_linked_service(factory: Factory, reference: Mapping[str, Any]) -> JsonObject:
    return resolve(factory, {**reference, "type": "LinkedServiceReference"})


def resolve_pipeline(factory: Factory, reference: Mapping[str, Any]) -> JsonObject:
    return resolve(factory, {**reference, "type": "PipelineReference"})


def declared_parameters(resource: Mapping[str, Any]) -> dict[str, JsonObject]:
    """The `parameters` declaration of a pipeline, dataset or linked service (name -> specification)."""
    return dict(resource.get("properties", {}).get("parameters", {}) or {})


_PARAMETER_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "securestring": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "array": (list,),
    "object": (dict,),
}


def coerce_parameter(owner: str, name: str, declared_type: str, value: Any) -> Any:
    """Convert a supplied value (e.g. a command-line string) to the parameter's declared type."""
    kind = str(declared_type).lower()
    if kind not in _PARAMETER_TYPES:
        raise ResourceError(f"{owner}: parameter {name!r} has unknown type {declared_type!r}")
    if isinstance(value, str) and kind not in ("string", "securestring"):
        try:
            value = {"int": int, "float": float}.get(kind, json.loads)(value) if kind != "bool" else \
                {"true": True, "false": False}[value.strip().lower()]
        except (ValueError, KeyError):
            raise ResourceError(f"{owner}: parameter {name!r} must be {declared_type}, got {value!r}") from None
    ok = isinstance(value, _PARAMETER_TYPES[kind]) and not (kind in ("int", "float") and isinstance(value, bool))
    if not ok:
        raise ResourceError(f"{owner}: parameter {name!r} must be {declared_type}, got {value!r}")
    return value


def bind_parameters(owner: str, declared: Mapping[str, Mapping[str, Any]], supplied: Mapping[str, Any]) -> JsonObject:
    """Supplied values plus declared defaults; an unknown or missing required parameter is an error.

    Supplied values must already be evaluated (no expressions); defaults are used as written.
    """
    unknown = sorted(set(supplied) - set(declared))
    if unknown:
        raise ResourceError(f"{owner}: unknown parameter(s) {', '.join(unknown)}; declared: "
                            f"{', '.join(sorted(declared)) or 'none'}")
    bound: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in supplied:
            bound[name] = coerce_parameter(owner, name, spec.get("type", "String"), supplied[name])
        elif "defaultValue" in spec:
            bound[name] = spec["defaultValue"]
        else:
            raise ResourceError(f"{owner}: parameter {name!r} is required (no defaultValue) and was not supplied")
    return bound


# ------------------------------------------------------------------------------- activities


def pipeline_activities(pipeline: Mapping[str, Any]) -> list[JsonObject]:
    return list(pipeline.get("properties", {}).get("activities", []) or [])


def child_activity_lists(activity: Mapping[str, Any]) -> list[tuple[str, list[JsonObject]]]:
    """(JSON path under the activity, activity list) of every list a container activity runs."""
    props = activity.get("typeProperties", {}) or {}
    lists = [(f"typeProperties.{key}", props[key]) for key in CONTAINER_LISTS.get(activity.get("type", ""), ())
             if isinstance(props.get(key), list)]
    if activity.get("type") == "Switch":
        for index, case in enumerate(props.get("cases", []) or []):
            if isinstance(case, dict) and isinstance(case.get("activities"), list):
                lists.append((f"typeProperties.cases[{index}].activities", case["activities"]))
    return lists


@dataclass(frozen=True)
class ActivityInScope:
    activity: JsonObject
    path: str  # JSON path of the activity inside its resource, e.g. $.properties.activities[3]
    scope: tuple[str, ...]  # names of the enclosing container activities, outermost first
    siblings: tuple[JsonObject, ...]  # the activity list it belongs to


def walk_activities(activities: list[JsonObject], path: str = "$.properties.activities",
                    scope: tuple[str, ...] = ()) -> Iterator[ActivityInScope]:
    """Every activity, depth first, with its path, enclosing containers and sibling list."""
    for index, activity in enumerate(activities):
        if not isinstance(activity, dict):
            continue
        here = f"{path}[{index}]"
        yield ActivityInScope(activity, here, scope, tuple(activities))
        for sub_path, children in child_activity_lists(activity):
            yield from walk_activities(children, f"{here}.{sub_path}", (*scope, str(activity.get("name"))))


def dependencies(activity: Mapping[str, Any]) -> list[tuple[str, frozenset[str]]]:
    """(upstream activity name, conditions) of each dependsOn entry, in order."""
    return [
        (str(entry.get("activity")), frozenset(entry.get("dependencyConditions", []) or []))
        for entry in activity.get("dependsOn", []) or []
        if isinstance(entry, dict)
    ]


def condition_met(conditions: frozenset[str] | set[str], upstream_status: str) -> bool:
    """One dependsOn entry: met when the upstream status matches any of its conditions (OR)."""
    return any(
        upstream_status == condition
        or (condition == COMPLETED and upstream_status in (SUCCEEDED, FAILED))
        for condition in conditions
    )


def dependencies_met(activity: Mapping[str, Any], statuses: Mapping[str, str]) -> bool | None:
    """True: the activity runs; False: it is Skipped; None: an upstream activity has not finished.

    All dependsOn entries must be met (AND across entries, OR within one entry's conditions).
    """
    deps = dependencies(activity)
    if any(statuses.get(upstream) not in FINAL_STATUSES for upstream, _ in deps):
        return None
    return all(condition_met(conditions, statuses[upstream]) for upstream, conditions in deps)


def upstream_closure(activities: list[JsonObject]) -> dict[str, set[str]]:
    """For each activity of one list: every activity it (transitively) depends on."""
    direct = {str(a.get("name")): {name for name, _ in dependencies(a)} for a in activities}
    closure: dict[str, set[str]] = {}

    def visit(name: str, trail: tuple[str, ...]) -> set[str]:
        if name in closure:
            return closure[name]
        if name in trail:
            raise ResourceError(f"dependency cycle: {' -> '.join((*trail, name))}")
        found: set[str] = set()
        for upstream in direct.get(name, set()):
            found |= {upstream} | visit(upstream, (*trail, name))
        closure[name] = found
        return found

    for name in direct:
        visit(name, ())
    return closure


def topological_order(activities: list[JsonObject]) -> list[JsonObject]:
    """Activities of one list ordered so every activity follows those it depends on (stable)."""
    closure = upstream_closure(activities)
    return sorted(activities, key=lambda a: len(closure[str(a.get("name"))]))


def simulate(activities: list[JsonObject], outcome: Mapping[str, str]) -> dict[str, str]:
    """Statuses of one activity list when each activity that runs ends with outcome[name] (default
    Succeeded): activities whose dependencies are not met are Skipped, as in ADF."""
    statuses: dict[str, str] = {}
    for activity in topological_order(activities):
        name = str(activity.get("name"))
        runs = dependencies_met(activity, statuses)
        statuses[name] = outcome.get(name, SUCCEEDED) if runs else SKIPPED
    return statuses


def run_outcome(activities: list[JsonObject], statuses: Mapping[str, str]) -> str:
    """ADF's rule for a pipeline's (or container's) result: look at every leaf activity; for a skipped
    leaf look at its parents instead (recursively); Succeeded only if everything looked at succeeded."""
    by_name = {str(a.get("name")): a for a in activities}
    has_children = {upstream for a in activities for upstream, _ in dependencies(a)}
    seen: set[str] = set()

    def judged(name: str) -> list[str]:
        if name in seen:
            return []
        seen.add(name)
        status = statuses.get(name, SKIPPED)
        if status != SKIPPED:
            return [status]
        parents = [upstream for upstream, _ in dependencies(by_name[name]) if upstream in by_name]
        return [s for parent in parents for s in judged(parent)] or [SUCCEEDED]

    leaves = [name for name in by_name if name not in has_children]
    return SUCCEEDED if all(s == SUCCEEDED for leaf in leaves for s in judged(leaf)) else FAILED


# ------------------------------------------------------------------------------- timespans

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?$")


def parse_timespan(text: Any, what: str = "timespan") -> timedelta:
    """A .NET TimeSpan string as ADF writes timeouts and delays: [d.]hh:mm[:ss[.fffffff]]."""
    match = _TIMESPAN.match(str(text).strip()) if isinstance(text, str) else None
    if not match:
        raise ResourceError(f"{what}: {text!r} is not a timespan of the form [d.]hh:mm:ss (e.g. 0.02:00:00)")
    days, hours, minutes, seconds, fraction = match.groups()
    if int(hours) > 23 or int(minutes) > 59 or int(seconds or 0) > 59:
        raise ResourceError(f"{what}: {text!r} has hours > 23, minutes > 59 or seconds > 59")
    return timedelta(days=int(days or 0), hours=int(hours), minutes=int(minutes), seconds=int(seconds or 0),
                     microseconds=int((fraction or "0").ljust(6, "0")[:6]))
