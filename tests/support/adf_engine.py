"""Microsoft's ADF expression engine as the oracle for our evaluator (tests/local/pipeline/test_engine_*).

data-factory-testing-framework 1.4.4 (Microsoft's test framework for ADF, Synapse and Fabric pipelines)
ships the workflow expression engine ADF's expressions come from (Microsoft.Azure.Workflows.Templates)
and evaluates it through pythonnet. Here it runs on Debian's Mono (`make install` installs mono-devel as
root), in one subprocess per batch (adf_engine_worker.py): loading takes about two seconds, after which
a case costs well under a millisecond. Without Mono or the packages, `unavailable_reason()` says why
and the tests skip with that reason.

A case is an expression and the run state it is evaluated in, built from an EvalContext exactly as
our evaluator sees it: `pipeline()` (system variables, parameters, globalParameters), variables, item,
the activities that ran (status, output, error) and the trigger. `dataset().x` and `linkedService().x`
are written `pipeline().dataset.x` / `pipeline().linkedService.x` for the engine, as the framework does
itself (its expression transformer), with the parameters put there.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from company_activity_local.pipeline import expressions
from company_activity_local.pipeline.expressions import EvalContext

LIBMONO = Path("/usr/lib/libmonosgen-2.0.so")
WORKER = Path(__file__).with_name("adf_engine_worker.py")
FRAMEWORK = "data-factory-testing-framework"
FRAMEWORK_VERSION = "1.4.4"  # pinned in pyproject.toml's dev extra; the version docs/azure-fidelity.md cites
ADF = Path(__file__).resolve().parents[2] / "adf"
# Mono's assembly loader complains about attributes of the .NET Core assemblies it never uses.
MONO_LOADER_NOISE = ("Can't find custom attr constructor", "Could not load signature of")


def unavailable_reason() -> str | None:
    """Why Microsoft's engine cannot run here, or None when it can."""
    if not LIBMONO.exists():
        return (f"Mono is not installed ({LIBMONO} is missing): run `make install` as root, or "
                "`sudo apt-get install -y mono-devel`, to run the differential tests against Microsoft's engine")
    for module in ("pythonnet", "data_factory_testing_framework"):
        if importlib.util.find_spec(module) is None:
            return f"the Python package {module!r} is missing: run `make install` (pyproject.toml's dev extra)"
    return None


@dataclass(frozen=True)
class Outcome:
    """One evaluation: a value, or an error message."""

    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def describe(self) -> str:
        if self.error is not None:
            return f"error: {self.error}"
        return f"value: {json.dumps(self.value, ensure_ascii=False)}"


def ours(text: str, ctx: EvalContext) -> Outcome:
    """Our evaluator's outcome for one JSON string value."""
    try:
        return Outcome(expressions.evaluate_string(text, ctx))
    except expressions.ExpressionError as exc:
        return Outcome(error=str(exc))


def same_value(a: Any, b: Any) -> bool:
    """Equal JSON values of the same types (an integer is not a float), compared all the way down."""
    if isinstance(a, bool) or isinstance(b, bool) or type(a) is not type(b):
        return type(a) is type(b) and a == b
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[key], b[key]) for key in a)
    return bool(a == b)


def agree(mine: Outcome, theirs: Outcome) -> bool:
    """Both errors, or equal values."""
    if mine.ok != theirs.ok:
        return False
    return not mine.ok or same_value(mine.value, theirs.value)


_REFERENCE = re.compile(r"\b(dataset|linkedService)\s*\(\s*\)", re.IGNORECASE)


def engine_expression(text: str) -> str:
    """dataset() and linkedService() as the framework hands them to the engine (outside string literals)."""
    parts = re.split(r"('(?:[^']|'')*')", text)
    return "".join(part if index % 2 else _REFERENCE.sub(lambda m: f"pipeline().{_canonical(m.group(1))}", part)
                   for index, part in enumerate(parts))


def _canonical(name: str) -> str:
    return "dataset" if name.lower() == "dataset" else "linkedService"


def case_for(text: str, ctx: EvalContext) -> dict[str, Any]:
    """The engine's view of `text` evaluated in `ctx`."""
    pipeline = ctx.pipeline_object()
    if ctx.dataset_parameters is not None:
        pipeline["dataset"] = ctx.dataset_parameters
    if ctx.linked_service_parameters is not None:
        pipeline["linkedService"] = ctx.linked_service_parameters
    case: dict[str, Any] = {
        "expression": engine_expression(text),
        "pipeline": pipeline,
        "variables": ctx.variables,
        "activities": {name: {"output": view.get("output"), "status": view.get("status"), "error": view.get("error")}
                       for name, view in ctx.activities.items() if view.get("status") in expressions.RAN_STATUSES},
        "trigger": ctx.trigger or None,
    }
    if ctx.item is not None:
        case["item"] = ctx.item
    return json.loads(json.dumps(case))  # a snapshot: the run goes on changing variables and results


@dataclass
class Scenario:
    """A pipeline run for the framework's evaluate_pipeline: parameters as (type, name, value) with type
    Pipeline, Global or System, and per activity name the (status, output) of each of its runs, in order."""

    name: str
    pipeline: str
    parameters: list[tuple[str, str, Any]]
    results: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)


@dataclass(frozen=True)
class FrameworkRun:
    """What evaluate_pipeline did: the activities it handed out, in order (control activities are not handed
    out), the evaluated typeProperties of Fail activities, and how it ended: "completed", "fail activity"
    (it stops the whole run at the first Fail), "no remaining" (NoRemainingPipelineActivitiesMeet-
    DependencyConditionsError: activities are left whose conditions it never sees met), "error" (an
    evaluation error) or "diverged" (it ran an activity the executor did not run)."""

    name: str
    ran: list[str]
    failures: dict[str, dict[str, Any]]
    end: str
    detail: str


@dataclass(frozen=True)
class EngineAnswers:
    versions: dict[str, str]
    cases: list[Outcome]
    runs: list[FrameworkRun]


def run_engine(cases: list[dict[str, Any]], scenarios: list[Scenario] = ()) -> EngineAnswers:  # type: ignore[assignment]
    """Evaluate every case and run every scenario in one engine process."""
    job = {"adf": str(ADF), "cases": cases,
           "scenarios": [{"name": s.name, "pipeline": s.pipeline, "parameters": s.parameters, "results": s.results}
                         for s in scenarios]}
    with tempfile.TemporaryDirectory(prefix="adf-engine-") as folder:
        job_path, result_path = Path(folder, "job.json"), Path(folder, "result.json")
        job_path.write_text(json.dumps(job), encoding="utf-8")
        done = subprocess.run([sys.executable, str(WORKER), str(job_path), str(result_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=600,
                              env={**os.environ, "TZ": "UTC"}, check=False)
        if done.returncode != 0 or not result_path.exists():
            lines = [line for line in done.stderr.splitlines() if not line.startswith(MONO_LOADER_NOISE)]
            raise RuntimeError(f"Microsoft's engine (adf_engine_worker.py) failed with exit code {done.returncode}:\n"
                               + "\n".join(lines[-30:]))
        result = json.loads(result_path.read_text(encoding="utf-8"))
    return EngineAnswers(result["versions"], [Outcome(**outcome) for outcome in result["cases"]],
                         [FrameworkRun(**run) for run in result["scenarios"]])
