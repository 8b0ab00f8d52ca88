"""The run states of the executor's scenarios, for the differential tests against Microsoft's engine.

Each scenario runs the shipped factory (adf/) through the real PipelineExecutor and its control-flow
runners (IfCondition, ForEach, SetVariable, AppendVariable, Fail, ExecutePipeline); the activities that
read or write storage, the warehouse or HTTP are stand-ins that evaluate every expression of their
definition (typeProperties, dataset references, the datasets and linked services behind them) and
answer with the output shapes of the real runners: the bronze manifest as the Lookup's firstRow, the
staged row count, the CRM snapshot's `exists`, the Key Vault secret's `value`. A failure is injected the
way tests/local/pipeline/test_failure_scenarios.py injects it (the named activity fails instead of
running). The scenarios are those the executor's tests run: the green night, every chain activity
failing with each alert mode, a zero-record day, a manifest date read back as a timestamp, the backfill
with a failed date, its rerun, and a start after the end.

While a scenario runs, every expression evaluation is recorded with a snapshot of its EvalContext.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any
from unittest import mock

from company_activity.ingest import bronze
from company_activity_local.pipeline import datasets, expressions, resources
from company_activity_local.pipeline.activities import RUNNERS
from company_activity_local.pipeline.context import ActivityContext, ActivityRunner
from company_activity_local.pipeline.executor import PipelineExecutor
from company_activity_local.pipeline.expressions import EvalContext
from company_activity_local.pipeline.results import ActivityFailed, PipelineRunResult, Status

FACTORY = resources.load_factory()
DAILY, BACKFILL = "PL_daily_company_activity", "PL_backfill_company_activity"
CHAIN = ["WaitForManifest", "ReadManifest", "IfManifestHasRecords", "CountStagedUsage", "VerifyUsageAgainstManifest",
         "CheckCrmSnapshot", "IfCrmSnapshotExists", "MergeFactDailyCompanyActivity"]
ALERT_MODES = {"alert delivered": frozenset(), "key vault fails": frozenset({"GetSlackWebhookUrl"}),
               "slack fails": frozenset({"PostFailureToSlack"})}
CONTROL_TYPES = frozenset({"IfCondition", "ForEach"})  # the framework never hands these out
RUN_DATE = date(2026, 4, 2)
CLOCK = datetime(2026, 4, 3, 2, 0, tzinfo=UTC)  # utcNow() and pipeline().TriggerTime in the snapshots
WEBHOOK = "http://127.0.0.1:9/hook"
GLOBALS = {"bronzeContainer": "bronze", "crmContainer": "crm"}  # as test_failure_scenarios overrides them
PARAMETERS = {"manifestTimeout": "0.00:00:05", "manifestSleepSeconds": 1}


@dataclass(frozen=True)
class Night:
    """What the stand-in data activities answer."""

    records: int = 7
    staged: int | None = None  # rows CountStagedUsage finds; None = records
    crm_snapshot: bool = True
    manifest_date_suffix: str = ""  # appended to the manifest's date as the Lookup reads it back
    failing: frozenset[str] = frozenset()  # activities that fail instead of running
    missing_dates: frozenset[str] = frozenset()  # run dates whose WaitForManifest times out (backfill)


@dataclass(frozen=True)
class ScenarioRun:
    """A pipeline run of the executor: parameters, result and the expressions it evaluated."""

    name: str
    pipeline: str
    parameters: dict[str, Any]
    result: PipelineRunResult
    evaluations: list[tuple[str, EvalContext]] = field(repr=False)

    def ran(self) -> list[tuple[str, str]]:
        """(name, status) of the activities that ran, in order, without control activities."""
        return [(r.name, str(r.status)) for r in self.result.activities
                if r.status is not Status.SKIPPED and r.type not in CONTROL_TYPES]


def scenarios() -> dict[str, tuple[str, dict[str, Any], Night]]:
    """name -> (pipeline, parameters, Night)."""
    daily = {"runDate": RUN_DATE.isoformat(), **PARAMETERS}
    found: dict[str, tuple[str, dict[str, Any], Night]] = {
        "green night": (DAILY, daily, Night()),
        "zero-record day": (DAILY, daily, Night(records=0)),
        "no CRM snapshot": (DAILY, daily, Night(crm_snapshot=False)),
        "manifest date read back as a timestamp": (DAILY, daily, Night(manifest_date_suffix="T00:00:00Z")),
        "usage does not match the manifest": (DAILY, daily, Night(staged=6)),
    }
    for failing in CHAIN:
        for mode, alert_faults in ALERT_MODES.items():
            found[f"{failing} fails, {mode}"] = (DAILY, daily, Night(failing=frozenset({failing}) | alert_faults))
    found["backfill with a failed date"] = (
        BACKFILL, {"startDate": "2026-04-01", "endDate": "2026-04-05", **PARAMETERS},
        Night(missing_dates=frozenset({"2026-04-03"})))
    found["backfill rerun of one date"] = (BACKFILL, {"startDate": "2026-04-03", "endDate": "2026-04-03",
                                                      **PARAMETERS}, Night())
    found["backfill start a day after end"] = (BACKFILL, {"startDate": "2026-04-02", "endDate": "2026-04-01",
                                                          **PARAMETERS}, Night())
    found["backfill start days after end"] = (BACKFILL, {"startDate": "2026-04-04", "endDate": "2026-04-01",
                                                         **PARAMETERS}, Night())
    return found


def run_all() -> list[ScenarioRun]:
    return [run_scenario(name, *spec) for name, spec in scenarios().items()]


def run_scenario(name: str, pipeline: str, parameters: dict[str, Any], night: Night) -> ScenarioRun:
    runners = {kind: _faulty(runner, night.failing) for kind, runner in _runners(night).items()}
    executor = PipelineExecutor(FACTORY, None, runners=runners, retry_interval_s=0, global_parameters=GLOBALS)
    with recording() as evaluations:
        result = executor.run(pipeline, parameters, run_id=f"run-{len(name)}")
    return ScenarioRun(name=name, pipeline=pipeline, parameters=parameters, result=result, evaluations=evaluations)


def unreferenced_linked_service_evaluations() -> list[tuple[str, EvalContext]]:
    """Linked services no dataset uses (LS_key_vault), in their own scope, each parameter given a value of its
    declared type: their expressions are in adf/ too."""
    used = {dataset["properties"]["linkedServiceName"]["referenceName"] for dataset in FACTORY.datasets.values()}
    samples = {"String": "https://{}.example/", "Int": 7, "Float": 1.5, "Bool": True, "Array": [], "Object": {}}
    with recording() as evaluations:
        for name, linked in FACTORY.linked_services.items():
            if name in used:
                continue
            declared = resources.declared_parameters(linked)
            given = {key: spec.get("defaultValue", samples[spec.get("type", "String")])
                     for key, spec in declared.items()}
            given = {key: value.format(key) if isinstance(value, str) else value for key, value in given.items()}
            ctx = EvalContext(
                pipeline_name="",
                run_id="",
                parameters={},
                trigger={},
                activities={},
                linked_service_parameters=given,
                factory_name=FACTORY.name,
            )
            expressions.evaluate(linked["properties"].get("typeProperties") or {}, ctx)
    return evaluations


def trigger_evaluations() -> list[tuple[str, EvalContext]]:
    """The trigger's parameters, evaluated in a trigger context for two windows."""
    with recording() as evaluations:
        for start, end in (("2026-04-01T00:00:00Z", "2026-04-02T00:00:00Z"),
                           ("2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z")):
            for trigger in FACTORY.triggers.values():
                ctx = EvalContext(
                    pipeline_name="",
                    run_id="",
                    parameters={},
                    trigger={
                        "name": trigger["name"],
                        "type": trigger["properties"]["type"],
                        "outputs": {"windowStartTime": start, "windowEndTime": end},
                    },
                    activities={},
                )
                expressions.evaluate(trigger["properties"]["pipeline"]["parameters"], ctx)
    return evaluations


@contextmanager
def recording() -> Iterator[list[tuple[str, EvalContext]]]:
    """Record (expression, snapshot of its context) for every evaluate() call, wherever it comes from."""
    evaluations: list[tuple[str, EvalContext]] = []
    original = expressions.evaluate
    depth = [0]  # evaluate() recurses into dicts and lists through the patched name: record the outer call

    def record(value: Any, ctx: EvalContext) -> Any:
        if depth[0] == 0:
            texts = [text for _, text in expressions.find_expressions(value)]
            if texts:
                snapshot = replace(copy.deepcopy(ctx), now=ctx.now or CLOCK)
                evaluations.extend((text, snapshot) for text in texts)
        depth[0] += 1
        try:
            return original(value, ctx)
        finally:
            depth[0] -= 1

    with mock.patch.object(expressions, "evaluate", record):
        yield evaluations


def every_adf_expression() -> set[str]:
    """Every expression string in adf/: pipelines, datasets, linked services, triggers, the factory."""
    found: set[str] = set()
    for group in (FACTORY.pipelines, FACTORY.datasets, FACTORY.linked_services, FACTORY.triggers):
        for resource in group.values():
            found.update(text for _, text in expressions.find_expressions(resource))
    found.update(text for _, text in expressions.find_expressions(FACTORY.factory))
    return found


# ------------------------------------------------------------------------------------------- runners


def _faulty(runner: ActivityRunner, faults: frozenset[str]) -> ActivityRunner:
    def run(activity: Mapping[str, Any], ctx: ActivityContext) -> Any:
        if ctx.name in faults:
            raise ActivityFailed(f"injected failure of {ctx.name}", "InjectedFault", retryable=False)
        return runner(activity, ctx)
    return run


def _runners(night: Night) -> dict[str, ActivityRunner]:
    def stand_in(answer: Callable[[ActivityContext], Any]) -> ActivityRunner:
        def run(activity: Mapping[str, Any], ctx: ActivityContext) -> Any:
            _evaluate_definition(activity, ctx)
            return answer(ctx)
        return run

    def run_date(ctx: ActivityContext) -> str:
        return str(ctx.state.parameters["runDate"])

    def validation(ctx: ActivityContext) -> Any:
        if run_date(ctx) in night.missing_dates:
            raise ActivityFailed(f"activity '{ctx.name}' timed out waiting for the manifest", "ValidationTimedOut",
                                 retryable=False)
        return {}

    def lookup(ctx: ActivityContext) -> Any:
        if ctx.name == "CountStagedUsage":
            return {"firstRow": {"staged_rows": night.records if night.staged is None else night.staged}}
        row = _manifest(date.fromisoformat(run_date(ctx)), night.records)
        row["date"] += night.manifest_date_suffix
        return {"firstRow": row}

    def web(ctx: ActivityContext) -> Any:
        return {"value": WEBHOOK} if ctx.name == "GetSlackWebhookUrl" else {"Response": "ok"}

    return {
        **RUNNERS,
        "Validation": stand_in(validation),
        "Lookup": stand_in(lookup),
        "GetMetadata": stand_in(lambda ctx: {"exists": night.crm_snapshot}),
        "Copy": stand_in(lambda ctx: {"rowsRead": night.records, "rowsCopied": night.records}),
        "Script": stand_in(lambda ctx: {"resultSetCount": 0, "recordsAffected": 0}),
        "SqlServerStoredProcedure": stand_in(lambda ctx: {}),
        "WebActivity": stand_in(web),
    }


def _evaluate_definition(activity: Mapping[str, Any], ctx: ActivityContext) -> None:
    """Every expression the real runner evaluates: typeProperties, then each dataset it reads or writes and
    the linked service behind it, each in its own scope."""
    props = activity.get("typeProperties") or {}
    ctx.evaluate(props, "typeProperties")
    references = [props[key] for key in ("dataset",) if key in props]
    references += [*(activity.get("inputs") or []), *(activity.get("outputs") or [])]
    for index, reference in enumerate(references):
        where = f"{ctx.name}.dataset[{index}]"
        datasets.resolve_dataset(ctx.factory, reference, ctx.evaluate, where)
        dataset = resources.resolve_dataset(ctx.factory, reference)
        given = ctx.evaluate(reference.get("parameters") or {}, f"{where}.parameters")
        bound = resources.bind_parameters(dataset["name"], resources.declared_parameters(dataset), given)
        linked_reference = dataset["properties"]["linkedServiceName"]
        linked = resources.resolve_linked_service(ctx.factory, linked_reference)
        ls_given = ctx.evaluate(linked_reference.get("parameters") or {}, f"{where}.linkedServiceName",
                                dataset_parameters=bound)
        ls_bound = resources.bind_parameters(linked["name"], resources.declared_parameters(linked), ls_given)
        ls_ctx = EvalContext(
            pipeline_name=ctx.state.pipeline_name,
            run_id=ctx.state.run_id,
            parameters={},
            trigger={},
            activities={},
            linked_service_parameters=ls_bound,
            factory_name=ctx.factory.name,
        )
        expressions.evaluate(linked["properties"].get("typeProperties") or {}, ls_ctx)


def _manifest(day: date, records: int) -> dict[str, Any]:
    """The first row the Lookup returns: the manifest the bronze module writes."""
    run_id = "20260403T010000Z-0a1b2c3d"
    part = bronze.BronzeFile(
        path=bronze.data_file_path(day, run_id, "part", 0), records=records, bytes=1234, sha256="0" * 64
    )
    written = bronze.Manifest(
        dataset=bronze.DATASET, date=day, run_id=run_id, record_count=records, rejected_count=0, files=(part,),
        rejected_files=(), started_at=datetime(2026, 4, 3, 1, tzinfo=UTC),
        committed_at=datetime(2026, 4, 3, 1, 5, tzinfo=UTC), source=bronze.Source("https://api.example", 1))
    return json.loads(written.to_json())
