"""Run one pipeline of the adf/ JSON locally, with Azure Data Factory's control-flow semantics.

Scheduling (one scope = the pipeline's activities, or an IfCondition branch, or a ForEach iteration):
- an activity starts when every activity it depends on has finished; activities without dependencies
  start at once. Activities run one at a time in declaration order, which ADF could also have chosen;
- inside one `dependsOn` entry the conditions are OR (`["Failed", "Skipped"]`), entries are AND;
  `Completed` means Succeeded or Failed. An activity whose dependencies are not met is Skipped, so a
  skip propagates to everything that needed it to succeed;
- the scope's outcome follows ADF's leaf rule: every leaf (an activity nothing depends on) is judged;
  a skipped leaf is judged by its parents instead (recursively). The scope fails if any judged activity
  failed, so the try-catch pattern (A -> on failure -> handler) succeeds when the handler succeeds,
  while do-if-else (A -> on success -> B, A -> on failure -> C) fails whenever A failed.
  These rules (and TimeSpan and parameter binding) are owned by pipeline.resources, shared with the
  validator; this module applies them to real activity runs;
- a pipeline's `concurrency` limits its runs at once, later runs queue (pipeline.admission); runs of one
  executor share the slots, so a manual run and a backfill's child run of the same pipeline wait for each other;
- `policy.retry` / `retryIntervalInSeconds` retry a failed activity (tenacity), `policy.timeout` bounds
  each attempt (checked cooperatively by the activity runners at their waits and file boundaries),
  `policy.secureOutput` hides the output in printed logs, `state: Inactive` marks an activity with its
  `onInactiveMarkAs` status without running it.

The executor never ignores what it cannot do: an activity type without a runner, or an expression
that does not parse (an unsupported function included), fails the run before any activity starts; an
unsupported property or value fails its activity. Every such message names what is missing.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_fixed

from company_activity.dashboard.runs import PipelineRunRecord
from company_activity_local.pipeline import expressions, resources
from company_activity_local.pipeline.activities import RUNNERS
from company_activity_local.pipeline.admission import RunAdmission
from company_activity_local.pipeline.context import (
    _NO_ITEM,
    ActivityContext,
    ActivityRunner,
    Listener,
    RunResources,
    RunState,
    ScopeOutcome,
    WaitEvent,
    WaitListener,
)
from company_activity_local.pipeline.resources import Factory
from company_activity_local.pipeline.results import (
    ActivityError,
    ActivityFailed,
    ActivityResult,
    PipelineDefinitionError,
    PipelineRunResult,
    Status,
)

log = logging.getLogger(__name__)

DEFAULT_ACTIVITY_TIMEOUT = "0.12:00:00"
DEFAULT_RETRY_INTERVAL_S = 30


class RunLog(Protocol):
    """Where the executor records each run when it starts and when it ends (pipeline.run_records.RunRecordFile)."""

    def record(self, run: PipelineRunRecord) -> None: ...


def _text(value: Any) -> str:
    """A run parameter as ADF's run history shows it: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


class PipelineExecutor:
    """Runs pipelines of one factory against local resources.

    `runners` maps activity types to functions(activity, ctx) -> output (they raise ActivityFailed);
    `listener` is called with each activity's result as it finishes (the CLI prints them live);
    `global_parameters` override the factory's values (as a deployment would);
    `retry_interval_s`, when set, replaces every `retryIntervalInSeconds` (the number of attempts is
    unchanged): the JSON waits minutes between attempts, which tests and the demo cannot afford;
    `wait_listener` is told before every retry wait and polling wait (WaitEvent), so a run never waits silently.
    """

    def __init__(self, factory: Factory, resources: RunResources | None, *,
                 runners: Mapping[str, ActivityRunner] | None = None, listener: Listener | None = None,
                 global_parameters: Mapping[str, Any] | None = None,
                 retry_interval_s: float | None = None, wait_listener: WaitListener | None = None,
                 run_log: RunLog | None = None) -> None:
        self.wait_listener = wait_listener
        self.run_log = run_log
        if retry_interval_s is not None and retry_interval_s < 0:
            raise ValueError(f"retry_interval_s must be >= 0, got {retry_interval_s}")
        self.retry_interval_s = retry_interval_s
        if runners is None:
            runners = RUNNERS
        self.factory = factory
        self.resources = resources
        self.runners = dict(runners)
        self.listener = listener
        self.global_parameters = override_global_parameters(factory, global_parameters or {})
        self.child_runs: list[PipelineRunResult] = []  # runs started by Execute Pipeline, in order
        self.admission = RunAdmission()  # pipeline concurrency: shared by every run this executor starts

    # -- the run --------------------------------------------------------------------------------------
    def run(self, pipeline_name: str, parameters: Mapping[str, Any] | None = None, *, run_id: str | None = None,
            trigger: Mapping[str, Any] | None = None) -> PipelineRunResult:
        """Run one pipeline to its end. Raises PipelineDefinitionError for an unknown pipeline or bad
        parameters; everything else (unsupported features included) ends as a Failed run result."""
        pipeline = self.factory.pipelines.get(pipeline_name)
        if pipeline is None:
            raise PipelineDefinitionError(
                f"no pipeline {pipeline_name!r} in the factory (have: {sorted(self.factory.pipelines)})"
            )
        props = pipeline.get("properties", {})
        activities = list(props.get("activities") or [])
        try:
            bound = resources.bind_parameters(f"pipeline {pipeline_name}", props.get("parameters") or {},
                                              parameters or {})
            concurrency = resources.pipeline_concurrency(pipeline_name, pipeline)
        except resources.ResourceError as exc:
            raise PipelineDefinitionError(str(exc)) from None

        def queued(runs_ahead: int) -> None:
            log.info("pipeline %s: concurrency %s reached, the run queues behind %d run(s)", pipeline_name,
                     concurrency, runs_ahead)
            if self.wait_listener is not None:
                self.wait_listener(WaitEvent("queued", pipeline_name, 0.0,
                                             f"concurrency {concurrency} reached: queued behind {runs_ahead} run(s)"))

        with self.admission.slot(pipeline_name, concurrency, queued) as queued_s:
            result = self._run_admitted(pipeline_name, props, activities, bound, run_id, trigger)
        result.queued_s = queued_s
        return result

    def _run_admitted(self, pipeline_name: str, props: Mapping[str, Any], activities: list[Mapping[str, Any]],
                      bound: dict[str, Any], run_id: str | None, trigger: Mapping[str, Any] | None,
                      ) -> PipelineRunResult:
        started_at = datetime.now(UTC)
        t0 = time.monotonic()
        state = RunState(
            factory=self.factory,
            pipeline_name=pipeline_name,
            run_id=run_id or str(uuid.uuid4()),
            parameters=bound,
            trigger=dict(trigger or manual_trigger(started_at)),
            resources=self.resources,
            variables={name: (spec or {}).get("defaultValue") for name, spec in (props.get("variables") or {}).items()},
            global_parameters=dict(self.global_parameters),
        )
        self._log_run(state.run_id, pipeline_name, "InProgress", bound, started_at, None, "")
        problems = self.definition_problems(activities)
        if problems:
            # Nothing runs: a run that would stop half way on an unsupported feature helps nobody.
            status = Status.FAILED
            message = "the local executor cannot run this pipeline: " + "; ".join(problems)
        else:
            try:
                outcome = self.run_scope(state, activities, scope="")
            except PipelineDefinitionError as exc:
                status, message = Status.FAILED, f"invalid pipeline definition: {exc}"
            else:
                status = outcome.status
                message = outcome.message() if status is Status.FAILED else ""
        result = PipelineRunResult(
            pipeline_name=pipeline_name,
            run_id=state.run_id,
            status=status,
            parameters=bound,
            activities=state.all_results,
            started_at=started_at,
            duration_s=time.monotonic() - t0,
            message=message,
        )
        self._log_run(state.run_id, pipeline_name, str(status), bound, started_at,
                      started_at + timedelta(seconds=result.duration_s), message)
        return result

    def _log_run(self, run_id: str, pipeline: str, status: str, parameters: Mapping[str, Any],
                 start: datetime, end: datetime | None, message: str) -> None:
        """Record the run in the run history (when there is one), as Data Factory keeps its pipeline runs."""
        if self.run_log is not None:
            self.run_log.record(PipelineRunRecord(run_id, pipeline, status, start, end,
                                                  {k: _text(v) for k, v in parameters.items()}, message))

    def definition_problems(self, activities: list[Mapping[str, Any]]) -> list[str]:
        """Unsupported activity types and expressions that do not parse (unknown functions included)."""
        problems = []
        for found in resources.walk_activities(list(activities)):  # type: ignore[arg-type]
            activity = found.activity
            name, kind = activity.get("name"), activity.get("type")
            if kind not in self.runners:
                problems.append(f"activity '{name}' has type {kind!r}, which the local executor does not support "
                                f"(supported: {', '.join(sorted(self.runners))})")
            nested = {path.split(".", 1)[1].split("[", 1)[0] for path, _ in resources.child_activity_lists(activity)}
            own = {k: v for k, v in activity.items() if k != "typeProperties"}
            own["typeProperties"] = {k: v for k, v in (activity.get("typeProperties") or {}).items()
                                     if k not in nested}
            for path, text in expressions.find_expressions(own, str(name)):
                try:
                    node = expressions.parse(text)
                except expressions.ExpressionError as exc:
                    problems.append(f"activity '{name}' {path}: {exc}")
                    continue
                problems.extend(f"activity '{name}' {path}: {use}" for use in expressions.undocumented_uses(node))
        return problems

    # -- one scope ------------------------------------------------------------------------------------
    def run_scope(self, state: RunState, activities: list[Mapping[str, Any]], *, scope: str,
                  item: Any = _NO_ITEM) -> ScopeOutcome:
        by_name = {str(a["name"]): a for a in activities}
        if len(by_name) != len(activities):
            raise PipelineDefinitionError(f"duplicate activity names in {scope or 'the pipeline'}")
        for activity in activities:
            check_dependencies(activity, by_name, scope)
        previous_item = state.item
        if item is not _NO_ITEM:
            state.item = item
        for name in by_name:  # a scope run again (a ForEach iteration) starts without the last one's results
            state.results.pop(name, None)
        done: dict[str, ActivityResult] = {}
        statuses: dict[str, str] = {}
        try:
            while len(done) < len(by_name):
                progressed = False
                for name, activity in by_name.items():
                    if name in done:
                        continue
                    runs = resources.dependencies_met(activity, statuses)
                    if runs is None:
                        continue  # an upstream activity has not finished yet
                    result = self._start(state, activity, runs, scope)
                    done[name] = state.results[name] = result
                    statuses[name] = str(result.status)
                    state.all_results.append(result)
                    progressed = True
                    if self.listener is not None:
                        self.listener(result)
                if not progressed:
                    pending = sorted(set(by_name) - set(done))
                    raise PipelineDefinitionError(f"dependency cycle among activities {pending}")
        finally:
            state.item = previous_item
        status = Status(resources.run_outcome(list(activities), statuses))  # type: ignore[arg-type]
        failed = [r for r in done.values() if r.status is Status.FAILED] if status is Status.FAILED else []
        return ScopeOutcome(status, list(done.values()), failed)

    def _start(self, state: RunState, activity: Mapping[str, Any], runs: bool, scope: str) -> ActivityResult:
        name, kind = str(activity["name"]), str(activity["type"])
        if str(activity.get("state", "Active")).lower() == "inactive":
            mark = Status(activity.get("onInactiveMarkAs", "Succeeded"))
            return ActivityResult(name=name, type=kind, status=mark, scope=scope)
        if not runs:
            return ActivityResult(name=name, type=kind, status=Status.SKIPPED, scope=scope)
        return self._execute(state, activity, scope)

    def _execute(self, state: RunState, activity: Mapping[str, Any], scope: str) -> ActivityResult:
        name, kind = str(activity["name"]), str(activity["type"])
        t0 = time.monotonic()
        policy = activity.get("policy") or {}
        result = ActivityResult(name=name, type=kind, status=Status.FAILED, started_at=datetime.now(UTC), scope=scope,
                                secure_output=bool(policy.get("secureOutput", False)))
        try:
            retries, interval, timeout = self._policy(state, name, policy)
        except ActivityFailed as exc:
            result.error = ActivityError(exc.message, exc.error_code, name)
            result.duration_s = time.monotonic() - t0
            return result
        runner = self.runners[kind]

        def attempt() -> Any:
            result.attempts += 1
            ctx = ActivityContext(self, state, activity, time.monotonic() + timeout, scope)
            return run_guarded(runner, activity, ctx)

        def before_sleep(retry_state: RetryCallState) -> None:
            exc = retry_state.outcome.exception() if retry_state.outcome else None
            log.info("activity %s attempt %d failed (%s); retrying in %gs", name, retry_state.attempt_number,
                     exc, interval)
            if self.wait_listener is not None:
                self.wait_listener(WaitEvent("retry", name, interval,
                                             f"attempt {retry_state.attempt_number} of {retries + 1} failed: {exc}"))

        retrying = Retrying(
            stop=stop_after_attempt(retries + 1),
            wait=wait_fixed(interval),
            retry=retry_if_exception(lambda e: isinstance(e, ActivityFailed) and e.retryable),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            result.output = retrying(attempt)
            result.status = Status.SUCCEEDED
        except ActivityFailed as exc:
            result.error = ActivityError(exc.message, exc.error_code, name)
        result.duration_s = time.monotonic() - t0
        return result

    def _policy(self, state: RunState, name: str, policy: Mapping[str, Any]) -> tuple[int, float, float]:
        try:
            retries = int(self.evaluate(state, policy.get("retry", 0), f"{name}.policy.retry"))
            interval = float(self.evaluate(state, policy.get("retryIntervalInSeconds", DEFAULT_RETRY_INTERVAL_S),
                                           f"{name}.policy.retryIntervalInSeconds"))
            timeout = resources.parse_timespan(
                self.evaluate(state, policy.get("timeout", DEFAULT_ACTIVITY_TIMEOUT), f"{name}.policy.timeout"),
                f"activity '{name}' policy.timeout",
            ).total_seconds()
        except (TypeError, ValueError, resources.ResourceError) as exc:  # int()/float() of the JSON, a TimeSpan
            raise ActivityFailed(f"activity '{name}': invalid policy: {exc}", "InvalidPolicy",
                                 retryable=False) from None
        if retries < 0 or interval < 0:
            raise ActivityFailed(f"activity '{name}': policy.retry and retryIntervalInSeconds must be >= 0",
                                 "InvalidPolicy", retryable=False)
        if self.retry_interval_s is not None:
            interval = self.retry_interval_s
        return retries, interval, timeout

    # -- expressions ----------------------------------------------------------------------------------
    def evaluate(self, state: RunState, value: Any, what: str, *,
                 dataset_parameters: Mapping[str, Any] | None = None) -> Any:
        ctx = expressions.EvalContext(
            pipeline_name=state.pipeline_name,
            run_id=state.run_id,
            parameters=state.parameters,
            trigger=state.trigger,
            activities=activity_views(state.results),
            dataset_parameters=dict(dataset_parameters) if dataset_parameters is not None else None,
            item=None if state.item is _NO_ITEM else state.item,
            factory_name=self.factory.name,
            global_parameters=state.global_parameters,
            variables=state.variables,
        )
        try:
            return expressions.evaluate(value, ctx)
        except expressions.ExpressionError as exc:
            raise ActivityFailed(f"{what}: {exc}", "ExpressionError", retryable=False) from None


def run_guarded(runner: ActivityRunner, activity: Mapping[str, Any], ctx: ActivityContext) -> Any:
    """Run one attempt; a bug in a runner fails the activity with its message instead of the whole run."""
    try:
        return runner(activity, ctx)
    except ActivityFailed:
        raise
    except Exception as exc:  # the activity fails; the traceback goes to the debug log
        log.debug("activity %s raised", ctx.name, exc_info=True)
        raise ActivityFailed(f"{type(exc).__name__}: {exc}", "LocalExecutorError") from exc


def activity_views(results: Mapping[str, ActivityResult]) -> dict[str, dict[str, Any]]:
    """`activity('X')` as expressions see it: status, output and error (ADF shape). Reading an activity that
    did not run (Skipped) is an expression error (expressions.activity), as is `.error` of one that
    succeeded (its error is null)."""
    return {
        name: {
            "status": str(r.status),
            "output": None if r.status is Status.SKIPPED else (r.output if r.output is not None else {}),
            "error": r.error.as_adf() if r.error else None,
        }
        for name, r in results.items()
    }


def check_dependencies(activity: Mapping[str, Any], scope_activities: Mapping[str, Any], scope: str) -> None:
    """A dependsOn entry must name an activity of the same scope and use known conditions."""
    for entry in activity.get("dependsOn") or []:
        parent = str(entry.get("activity"))
        if parent not in scope_activities:
            raise PipelineDefinitionError(
                f"activity '{activity['name']}' depends on '{parent}', which is not in "
                f"{('the scope of ' + scope) if scope else 'the pipeline'}"
            )
        conditions = entry.get("dependencyConditions") or []
        unknown = [c for c in conditions if c not in resources.DEPENDENCY_CONDITIONS]
        if unknown or not conditions:
            raise PipelineDefinitionError(
                f"activity '{activity['name']}': dependencyConditions on '{parent}' must be a non-empty subset of "
                f"{sorted(resources.DEPENDENCY_CONDITIONS)}, got {conditions}"
            )


def override_global_parameters(factory: Factory, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The factory's global parameter values with local overrides (as a deployment would override them)."""
    values = dict(factory.global_parameters)
    unknown = sorted(set(overrides) - set(values))
    if unknown:
        raise PipelineDefinitionError(f"factory {factory.name!r} has no global parameter(s) {unknown} "
                                      f"(declared: {sorted(values)})")
    values.update(overrides)
    return values


def manual_trigger(at: datetime) -> dict[str, Any]:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"name": "Manual", "type": "Manual", "startTime": stamp, "scheduledTime": stamp}
