"""Subprocess side of tests/support/adf_engine.py: Microsoft's ADF expression engine on Mono.

Usage: python adf_engine_worker.py JOB.json RESULT.json

JOB holds expression cases and pipeline scenarios; RESULT gets one outcome per case and one run per
scenario, plus the versions used. Mono writes assembly-loader warnings to file descriptor 1, so this
process points fd 1 at fd 2 before loading it and answers only through RESULT.

The expressions go straight to the workflow engine the framework wraps
(Microsoft.Azure.Workflows.Templates, TemplateExpressionsHelper.EvaluateTemplateLanguageExpression),
with the evaluation helper built as the framework's Evaluator.GetTemplateFunctionEvaluationHelper builds
it, except that trigger() is the case's trigger object (the framework's Evaluator cannot set one):
`pipeline()` is that engine's alias of the trigger's outputs.body, so the pipeline object goes there.
Two things the Mono runtime lacks are supplied: the request correlation context the Evaluator patches
in (some functions need its content version), and the `System.Web.HttpUtility` assembly of .NET Core,
answered with Mono's System.Web, which holds the same HttpUtility (uriComponentToString).

The scenarios run through the framework itself: TestFramework(DataFactory, adf/).evaluate_pipeline.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

LIBMONO = "/usr/lib/libmonosgen-2.0.so"
CONTENT_VERSION = "2016-04-01-preview"  # what the framework's Evaluator.PatchRequestCorrelationContext sets


def main(job_path: str, result_path: str) -> None:
    os.dup2(2, 1)
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    engine = _Engine()
    result = {
        "versions": {"data-factory-testing-framework": metadata.version("data-factory-testing-framework"),
                     "pythonnet": metadata.version("pythonnet"), "templates": engine.templates_version},
        "cases": [engine.evaluate(case) for case in job.get("cases", [])],
        "scenarios": _run_scenarios(job["adf"], job.get("scenarios", [])) if job.get("scenarios") else [],
    }
    Path(result_path).write_text(json.dumps(result), encoding="utf-8")


class _Engine:
    def __init__(self) -> None:
        import pythonnet

        pythonnet.load("mono", libmono=LIBMONO)
        from System import AppDomain, ResolveEventHandler
        from System.Reflection import Assembly

        def resolve(sender: Any, args: Any) -> Any:
            if str(args.Name).split(",")[0] == "System.Web.HttpUtility":
                return Assembly.Load("System.Web, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b03f5f7f11d50a3a")
            return None

        AppDomain.CurrentDomain.AssemblyResolve += ResolveEventHandler(resolve)
        import clr
        import data_factory_testing_framework._pythonnet  # noqa: F401  (loads the framework's assemblies)
        from Microsoft.Azure.Workflows.Templates.Engines import HostConfigurationGetter
        from Microsoft.Azure.Workflows.Templates.Expressions import TemplateExpressionEvaluationContext
        from Microsoft.Azure.Workflows.Templates.Helpers import TemplateExpressionsHelper
        from Newtonsoft.Json import DateParseHandling, Formatting, JsonConvert, JsonSerializerSettings
        from Newtonsoft.Json.Linq import JObject, JToken
        from System import Activator, Array, Boolean, Object
        from System.Reflection import BindingFlags

        assemblies = {a.GetName().Name: a for a in AppDomain.CurrentDomain.GetAssemblies()}
        stack = assemblies["Microsoft.WindowsAzure.ResourceStack"]
        self.templates_version = str(assemblies["Microsoft.Azure.Workflows.Templates"].GetName().Version)
        dictionary = stack.GetType("Microsoft.WindowsAzure.ResourceStack.Common.Collections.InsensitiveDictionary`1")
        self._tokens_type = dictionary.MakeGenericType(clr.GetClrType(JToken))
        self._flags_type = dictionary.MakeGenericType(clr.GetClrType(Boolean))
        self._settings = JsonSerializerSettings()
        self._settings.DateParseHandling = getattr(DateParseHandling, "None")
        self._compact = getattr(Formatting, "None")
        self._activator, self._jobject, self._jtoken, self._convert = Activator, JObject, JToken, JsonConvert
        self._helpers: dict[str, Any] = {}
        self._getter = HostConfigurationGetter(lambda name: None)
        self._make_helper = TemplateExpressionsHelper.GetTemplateFunctionEvaluationHelper
        self._context = TemplateExpressionEvaluationContext
        self._evaluate = TemplateExpressionsHelper.EvaluateTemplateLanguageExpression

        correlation_type = stack.GetType("Microsoft.WindowsAzure.ResourceStack.Common.Instrumentation."
                                         "RequestCorrelationContext")
        correlation = Activator.CreateInstance(correlation_type)
        correlation_type.GetMethod("SetContentVersion").Invoke(correlation, Array[Object]([CONTENT_VERSION]))
        key = correlation_type.GetField("PropertyRequestCorrelationContext").GetValue(None)
        call_context = correlation_type.GetNestedType("CallContext", BindingFlags.NonPublic | BindingFlags.Static)
        call_context.GetMethod("LogicalSetData").Invoke(None, Array[Object]([key, correlation]))

    def _token(self, value: Any) -> Any:
        return None if value is None else self._convert.DeserializeObject[self._jtoken](json.dumps(value),
                                                                                       self._settings)

    def _tokens(self, values: dict[str, Any]) -> Any:
        result = self._activator.CreateInstance(self._tokens_type)
        for key, value in values.items():
            result[key] = self._token(value)
        return result

    def _flags(self, keys: Any) -> Any:
        result = self._activator.CreateInstance(self._flags_type)
        for key in keys:
            result[key] = False
        return result

    def _helper(self, case: dict[str, Any]) -> Any:
        key = json.dumps({k: v for k, v in case.items() if k != "expression"}, sort_keys=True)
        if key not in self._helpers:
            pipeline = case.get("pipeline", {})
            trigger = dict(case.get("trigger") or {})
            trigger["outputs"] = {**(trigger.get("outputs") or {}), "body": pipeline}
            activities = case.get("activities", {})
            self._helpers[key] = self._make_helper(
                self._tokens(pipeline), self._getter, "triggerName", self._token(trigger),
                self._tokens({name: {"outputs": {"body": view}} for name, view in activities.items()}),
                self._tokens({}), self._flags([]), self._flags(activities), self._jobject(), True,
                self._tokens(case.get("variables", {})), self._token(case.get("item")),
                self._tokens({}), self._tokens({}), self._tokens({}), None)
        return self._helpers[key]

    def evaluate(self, case: dict[str, Any]) -> dict[str, Any]:
        try:
            token = self._evaluate(case["expression"], self._context(self._helper(case)))
            # A result with half a surrogate pair (a UTF-16 unit cut off) cannot cross into Python: an error too.
            return {"value": None if token is None else json.loads(token.ToString(self._compact, []))}
        except Exception as exc:  # every engine error is an outcome, compared with ours
            lines = str(exc).splitlines()
            return {"error": f"{type(exc).__name__}: {lines[0] if lines else ''}"}


def _run_scenarios(adf: str, scenarios: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from data_factory_testing_framework import TestFramework, TestFrameworkType
    from data_factory_testing_framework._expression_runtime.expression_runtime import ExpressionRuntime
    from data_factory_testing_framework.exceptions import NoRemainingPipelineActivitiesMeetDependencyConditionsError
    from data_factory_testing_framework.models import _data_factory_element
    from data_factory_testing_framework.state import DependencyCondition, RunParameter, RunParameterType

    # Only to save time (about 0.1 s an expression, minutes for the scenarios): the framework builds a new
    # ExpressionRuntime (a Lark parser from its grammar) for every expression it evaluates, and rewrites the
    # expression's text (parse, transform, reconstruct) each time. The runtime holds no state and the
    # rewrite depends on the text alone, so one shared runtime and a cache of rewrites change nothing else.
    shared = ExpressionRuntime()
    _data_factory_element.ExpressionRuntime = lambda: shared  # type: ignore[attr-defined]
    transformer = shared.dftf_expressions_transformer
    rewrite = functools.lru_cache(maxsize=None)(lambda text: transform(text, None))
    transform = transformer.transform_to_dftf_evaluator_expression
    transformer.transform_to_dftf_evaluator_expression = lambda text, state: rewrite(text)
    framework = TestFramework(framework_type=TestFrameworkType.DataFactory, root_folder_path=adf)
    runs = []
    for scenario in scenarios:
        pipeline = framework.get_pipeline_by_name(scenario["pipeline"])
        parameters = [RunParameter(RunParameterType(kind), name, value) for kind, name, value in scenario["parameters"]]
        queues = {name: list(results) for name, results in scenario["results"].items()}
        ran: list[str] = []
        failures: dict[str, dict[str, Any]] = {}
        end, detail = "completed", ""
        try:
            for activity in framework.evaluate_pipeline(pipeline, parameters):
                ran.append(activity.name)
                if activity.type == "Fail":
                    failures[activity.name] = {key: getattr(value, "result", value)
                                               for key, value in activity.type_properties.items()}
                queue = queues.get(activity.name)
                if not queue:
                    end, detail = "diverged", f"{activity.name} runs here but not in the executor's run"
                    break
                status, output = queue.pop(0)
                activity.set_result(DependencyCondition(status), output)
            else:
                if ran and ran[-1] in failures:
                    end, detail = "fail activity", ran[-1]
        except NoRemainingPipelineActivitiesMeetDependencyConditionsError as exc:
            end, detail = "no remaining", type(exc).__name__
        except Exception as exc:  # the framework's own evaluation errors end its run; reported, then compared
            cause = exc.__cause__
            end = "error"
            detail = f"{type(exc).__name__}: {exc}" + (f" ({type(cause).__name__})" if cause else "")
        runs.append({"name": scenario["name"], "ran": ran, "failures": failures, "end": end, "detail": detail})
    return runs


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
